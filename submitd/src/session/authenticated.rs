//! The result of a login: the only value that lets a session start a mail transaction.

use postern_ipc::{Protocol, Verdict};

/// A submission session's identity after authd accepted a login (SASL or a registered
/// client certificate). It can only be made from an authd [`Verdict`] for submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    account: String,
    login_address: String,
}

impl Authenticated {
    /// The identity of an authd verdict, if it authorises submission.
    pub(crate) fn from_verdict(verdict: Verdict) -> Option<Authenticated> {
        (verdict.protocol == Protocol::Submission).then_some(Authenticated {
            account: verdict.account,
            login_address: verdict.login_address,
        })
    }

    /// The account the session acts for.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The address the client logged in with.
    pub fn login_address(&self) -> &str {
        &self.login_address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_submission_verdicts() {
        let verdict = |protocol| Verdict {
            account: "mjl".into(),
            login_address: "mjl@example.org".into(),
            protocol,
        };
        assert!(Authenticated::from_verdict(verdict(Protocol::Imap)).is_none());
        let user = Authenticated::from_verdict(verdict(Protocol::Submission)).unwrap();
        assert_eq!(user.account(), "mjl");
        assert_eq!(user.login_address(), "mjl@example.org");
    }
}
