//! The result of a login: the only value that opens the way to the mail store.

use postern_ipc::{Protocol, Verdict};

/// An IMAP session's identity after authd accepted a login. It can only be made from
/// an authd [`Verdict`] for IMAP, inside this crate's session layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    account: String,
    login_address: String,
}

impl Authenticated {
    /// The identity of an authd verdict, if it authorises IMAP.
    pub(crate) fn from_verdict(verdict: Verdict) -> Option<Authenticated> {
        (verdict.protocol == Protocol::Imap).then_some(Authenticated {
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
