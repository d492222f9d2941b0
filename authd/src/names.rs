//! Login names and email addresses: the one canonical form in which authd stores them
//! (Unicode NFC; the domain of an address lowercased), and the one key under which it
//! compares them (the canonical form, with the localpart lowercased unless localparts
//! are configured case-sensitive).

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

/// How the localparts of addresses compare: the `[authd] localpart_case_sensitive`
/// setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalpartCase {
    /// `Bob@example.org` and `bob@example.org` are one address (the default).
    #[default]
    Insensitive,
    /// They are two addresses.
    Sensitive,
}

impl LocalpartCase {
    /// The comparison the config's `localpart_case_sensitive` asks for.
    pub fn from_setting(case_sensitive: bool) -> LocalpartCase {
        if case_sensitive {
            LocalpartCase::Sensitive
        } else {
            LocalpartCase::Insensitive
        }
    }
}

/// An address in canonical form with its localpart case-folded: Unicode lowercase of the
/// NFC localpart, in NFC again (lowercasing can decompose). This is what authd stores
/// beside each address and compares when localparts are case-insensitive.
pub fn folded_address(address: &str) -> Result<String, NameError> {
    let canonical = canonical_address(address)?;
    Ok(match canonical.rsplit_once('@') {
        Some((local, domain)) => {
            let local: String = local.to_lowercase().nfc().collect();
            format!("{local}@{domain}")
        }
        None => canonical,
    })
}

/// The key under which an address is looked up and compared: [`folded_address`], or the
/// canonical address when localparts are case-sensitive. The one home of that rule.
pub fn address_key(address: &str, case: LocalpartCase) -> Result<String, NameError> {
    match case {
        LocalpartCase::Insensitive => folded_address(address),
        LocalpartCase::Sensitive => canonical_address(address),
    }
}

/// The key of a login name as a client typed it: its [`address_key`], or the NFC name
/// when it is no address. Two names with one key are the same login.
pub fn login_key(login_name: &str, case: LocalpartCase) -> String {
    address_key(login_name, case).unwrap_or_else(|_| normalize_login_name(login_name))
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
    fn localparts_fold_unless_case_sensitive() {
        use LocalpartCase::*;
        assert_eq!(
            address_key("Bob@Example.org", Insensitive).unwrap(),
            "bob@example.org"
        );
        assert_eq!(
            address_key("Bob@Example.org", Sensitive).unwrap(),
            "Bob@example.org"
        );
        // Unicode lowercase after NFC: a decomposed capital O with acute folds to \u{f3}.
        assert_eq!(
            address_key("MO\u{301}X@example.org", Insensitive).unwrap(),
            "m\u{f3}x@example.org"
        );
        assert_eq!(
            address_key("\u{d3}scar@x.org", Insensitive),
            address_key("\u{f3}SCAR@x.org", Insensitive)
        );
        assert!(address_key("nobody", Insensitive).is_err());
        assert_eq!(login_key("NoBody", Insensitive), "NoBody");
        assert_eq!(login_key("NoBody@X.org", Insensitive), "nobody@x.org");
        assert_eq!(login_key("NoBody@X.org", Sensitive), "NoBody@x.org");
    }

    #[test]
    fn account_names_are_canonical() {
        assert_eq!(canonical_account_name("mo\u{301}x").unwrap(), "m\u{f3}x");
        assert!(canonical_account_name("../etc").is_err());
        assert!(canonical_account_name("").is_err());
        assert!(canonical_account_name("a\nb").is_err());
    }
}
