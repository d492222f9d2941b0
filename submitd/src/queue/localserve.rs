//! localserve's error-provoking recipients: a localpart ending in `temperror`,
//! `permerror` or `timeout` fails the delivery in that way (as mox's localserve does),
//! so people can test how their mail code handles failures.

/// The failure a localserve recipient asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvokedFailure {
    /// A temporary failure (451): the recipient stays queued and is retried.
    Temporary,
    /// A permanent failure (550): the sender gets a DSN at once.
    Permanent,
    /// The remote side does not answer: a temporary failure after the command timeout.
    Timeout,
}

/// The failure `address`'s localpart asks for, if any.
pub fn provoked_failure(address: &str) -> Option<ProvokedFailure> {
    let localpart = address.rsplit_once('@').map_or(address, |(l, _)| l);
    let localpart = localpart.to_ascii_lowercase();
    if localpart.ends_with("temperror") {
        Some(ProvokedFailure::Temporary)
    } else if localpart.ends_with("permerror") {
        Some(ProvokedFailure::Permanent)
    } else if localpart.ends_with("timeout") {
        Some(ProvokedFailure::Timeout)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_pick_the_failure() {
        assert_eq!(
            provoked_failure("x-temperror@localhost"),
            Some(ProvokedFailure::Temporary)
        );
        assert_eq!(
            provoked_failure("PermError@example.com"),
            Some(ProvokedFailure::Permanent)
        );
        assert_eq!(
            provoked_failure("slow.timeout@example.com"),
            Some(ProvokedFailure::Timeout)
        );
        assert_eq!(provoked_failure("temperror.not@example.com"), None);
        assert_eq!(provoked_failure("postern@localhost"), None);
    }
}
