//! Login names and email addresses: the one canonical form in which authd stores and
//! compares them (Unicode NFC; the domain of an address lowercased).

use unicode_normalization::UnicodeNormalization;

/// Longest account name or address authd accepts (RFC 5321's path limit).
pub const MAX_NAME_LEN: usize = 254;

/// Why a name or address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty, too long, or containing control characters or spaces.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// "account name" or "address".
        what: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A login name as typed by a client, in NFC: the form looked up in the store.
pub fn normalize_login_name(name: &str) -> String {
    name.nfc().collect()
}

fn check_chars(what: &'static str, value: &str) -> Result<(), NameError> {
    let invalid = |reason| NameError::Invalid {
        what,
        value: value.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(invalid("too long"));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("contains spaces or control characters"));
    }
    Ok(())
}

/// An account name in canonical form (NFC, no spaces or control characters).
pub fn canonical_account_name(name: &str) -> Result<String, NameError> {
    let name = normalize_login_name(name);
    check_chars("account name", &name)?;
    if name.contains('/') || name.starts_with('.') {
        return Err(NameError::Invalid {
            what: "account name",
            value: name,
            reason: "must not contain '/' or start with '.'",
        });
    }
    Ok(name)
}

/// An email address in canonical form: localpart NFC, domain NFC and lowercased.
pub fn canonical_address(address: &str) -> Result<String, NameError> {
    let address = normalize_login_name(address);
    check_chars("address", &address)?;
    let invalid = |reason| NameError::Invalid {
        what: "address",
        value: address.clone(),
        reason,
    };
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(invalid("missing '@'"));
    };
    if local.is_empty() {
        return Err(invalid("empty localpart"));
    }
    if domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(invalid("invalid domain"));
    }
    Ok(format!("{local}@{}", domain.to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(
            canonical_address("Mo\u{301}x@Example.ORG").unwrap(),
            "M\u{f3}x@example.org"
        );
        assert!(canonical_address("nobody").is_err());
        assert!(canonical_address("a b@x.org").is_err());
        assert!(canonical_address("@x.org").is_err());
        assert!(canonical_address("a@").is_err());
        assert!(canonical_address("a@x..org").is_err());
    }

    #[test]
    fn account_names_are_canonical() {
        assert_eq!(canonical_account_name("mo\u{301}x").unwrap(), "m\u{f3}x");
        assert!(canonical_account_name("../etc").is_err());
        assert!(canonical_account_name("").is_err());
        assert!(canonical_account_name("a\nb").is_err());
    }
}
