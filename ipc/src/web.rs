//! The web vocabulary of the auth socket: what webd asks authd for the account pages,
//! the admin pages and mail-access tickets (DESIGN.md invariants 4 and 8).
//!
//! Every request of a logged-in page carries a [`WebAuth`]: the session token from the
//! browser's cookie, the CSRF token when the request changes state, and the facts of the
//! HTTP connection. authd decides what the session may do: an account session reaches
//! only its own account ([`AccountRequest`]), an admin session the admin vocabulary
//! ([`crate::admin::AdminRequest`], the same handlers as the admin socket). A session,
//! CSRF or permission problem is answered with [`WebRefusal`], never with data.
//!
//! Mail-access tickets: webd asks for one ([`crate::auth::AuthRequest::MailTicket`]) for
//! one account and one [`MailPurpose`], hands it to imapd's store socket
//! ([`crate::store::StoreRequest::ImportBegin`] / `ExportBegin`), and imapd redeems it
//! with authd ([`crate::auth::AuthRequest::RedeemMailTicket`]) before it serves anything.
//! A ticket is random, lives at most [`MAIL_TICKET_LIFETIME_SECS`], and is used once.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::types::{ConnectionInfo, LoginAttempt, Secret, TlsPublicKeyInfo};

/// How long a mail-access ticket may wait for imapd to redeem it, in seconds.
pub const MAIL_TICKET_LIFETIME_SECS: i64 = 60;
/// An admin web session unused for longer than this is expired, in seconds (12 h).
pub const ADMIN_SESSION_IDLE_SECS: i64 = 12 * 3600;
/// At most this many admin web sessions exist; a new one drops the least recently used.
pub const MAX_ADMIN_SESSIONS: usize = 10;
/// The login-attempts listing of the account overview page shows this many groups.
pub const RECENT_LOGIN_ATTEMPTS: u32 = 10;

/// The session of a page request, as webd got it from the browser.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebAuth {
    /// The session token from the cookie.
    pub token: Secret<String>,
    /// The CSRF token the page sent back; required (and checked against the session's)
    /// for every request that changes state, checked when given otherwise.
    pub csrf: Option<Secret<String>>,
    /// Facts about the HTTP connection (protocol [`crate::Protocol::Web`]).
    pub connection: ConnectionInfo,
}

/// What an account's own session may ask about its account. Variants are only ever
/// appended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AccountRequest {
    /// The account, its login address and its addresses.
    Overview,
    /// Change the own password. The current password is checked first (a wrong one
    /// counts as a failed login); the account's other web sessions end, this one stays;
    /// the old password stops working for every protocol at once.
    ChangePassword {
        /// The current password as typed.
        current: Secret<String>,
        /// The new password as typed.
        new: Secret<String>,
    },
    /// The account's registered TLS public keys.
    TlsPublicKeys,
    /// Register a TLS client certificate's public key for this account.
    TlsPublicKeyAdd {
        /// The certificate in PEM; exactly one `CERTIFICATE` block.
        certificate_pem: String,
        /// The address the key logs in as; default the session's login address.
        login_address: Option<String>,
        /// Name of the key; default the certificate's common name.
        name: Option<String>,
        /// Whether IMAP must not greet with PREAUTH for this key.
        no_imap_preauth: bool,
    },
    /// Change a key of this account.
    TlsPublicKeyUpdate {
        /// base64url fingerprint of the key.
        fingerprint: String,
        /// New name.
        name: String,
        /// New login address (one of the account's).
        login_address: String,
        /// Whether IMAP must not greet with PREAUTH for this key.
        no_imap_preauth: bool,
    },
    /// Remove a key of this account.
    TlsPublicKeyRemove {
        /// base64url fingerprint of the key.
        fingerprint: String,
    },
    /// The account's login history, newest first.
    LoginAttempts {
        /// At most this many groups ([`RECENT_LOGIN_ATTEMPTS`] on the overview);
        /// `None` for all.
        limit: Option<u32>,
    },
    /// The account's web sessions, most recently used first.
    WebSessions,
    /// End one of the account's web sessions (the current one included).
    WebSessionRevoke {
        /// [`WebSessionInfo::id`] of the session.
        id: i64,
    },
}

impl AccountRequest {
    /// Whether the request changes state (and so needs the CSRF token).
    pub fn changes_state(&self) -> bool {
        match self {
            AccountRequest::Overview
            | AccountRequest::TlsPublicKeys
            | AccountRequest::LoginAttempts { .. }
            | AccountRequest::WebSessions => false,
            AccountRequest::ChangePassword { .. }
            | AccountRequest::TlsPublicKeyAdd { .. }
            | AccountRequest::TlsPublicKeyUpdate { .. }
            | AccountRequest::TlsPublicKeyRemove { .. }
            | AccountRequest::WebSessionRevoke { .. } => true,
        }
    }
}

/// authd's answer to an [`AccountRequest`]. Variants are only ever appended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AccountResponse {
    /// Answer to [`AccountRequest::Overview`].
    Overview(AccountOverview),
    /// The change is made.
    Done,
    /// Answer to [`AccountRequest::TlsPublicKeys`].
    TlsPublicKeys(Vec<TlsPublicKeyInfo>),
    /// Answer to [`AccountRequest::TlsPublicKeyAdd`]: the key as registered.
    TlsPublicKeyAdded(TlsPublicKeyInfo),
    /// Answer to [`AccountRequest::LoginAttempts`].
    LoginAttempts(Vec<LoginAttempt>),
    /// Answer to [`AccountRequest::WebSessions`].
    WebSessions(Vec<WebSessionInfo>),
}

/// The account as its own overview page shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountOverview {
    /// Account name.
    pub account: String,
    /// The address this session logged in with.
    pub login_address: String,
    /// The account's addresses, sorted.
    pub addresses: Vec<String>,
}

/// One web session of an account, as listed to its owner. Never the token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebSessionInfo {
    /// The session's identifier for [`AccountRequest::WebSessionRevoke`].
    pub id: i64,
    /// Unix seconds of the login.
    pub created: i64,
    /// Unix seconds of the latest request.
    pub last_used: i64,
    /// The address used to log in.
    pub login_address: String,
    /// The browser's `User-Agent` at login, empty when unknown.
    pub user_agent: String,
    /// The client's address at login.
    pub remote_ip: String,
    /// Whether this is the session asking.
    pub current: bool,
}

/// What a mail-access ticket is for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum MailPurpose {
    /// An import into the account (store socket `ImportBegin`).
    Import,
    /// An export of the account's mail (store socket `ExportBegin`).
    Export,
}

impl MailPurpose {
    /// The lower-case name used in the database and in logs.
    pub fn name(self) -> &'static str {
        match self {
            MailPurpose::Import => "import",
            MailPurpose::Export => "export",
        }
    }
}

/// A mail-access ticket authd issued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssuedTicket {
    /// The ticket, to hand to imapd's store socket (authd keeps only its hash).
    pub ticket: Secret<String>,
    /// The one account it opens.
    pub account: String,
    /// The one purpose it is good for.
    pub purpose: MailPurpose,
    /// Unix seconds after which imapd can no longer redeem it.
    pub expires: i64,
}

/// A new admin web session, or a checked one.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdminSession {
    /// Session token for the cookie (only on a new login).
    pub token: Option<Secret<String>>,
    /// CSRF token for the pages (only on a new login: authd keeps only its hash).
    pub csrf: Option<Secret<String>>,
}

/// Why authd refused a web request as a whole. webd answers each kind in one way:
/// [`WebRefusal::NoSession`] with the login page, [`WebRefusal::RateLimited`] with
/// HTTP 429, [`WebRefusal::Temporary`] with 503, the others with their message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
pub enum WebRefusal {
    /// No live session of the needed kind for this token (never issued, logged out,
    /// expired, revoked, ended by a password change).
    #[error("not logged in")]
    NoSession,
    /// The request changes state and its CSRF token is missing or not this session's.
    #[error("the form is out of date (CSRF token missing or wrong); reload the page")]
    Csrf,
    /// Too many failed logins from the client's network; nothing was checked.
    #[error("too many failed logins from your network; try again later")]
    RateLimited,
    /// The account may not log in.
    #[error("login disabled: {message}")]
    LoginDisabled {
        /// The admin's reason, shown to the user.
        message: String,
    },
    /// The session may not make this request (an account session asking for admin
    /// requests or for another account's data).
    #[error("not permitted")]
    NotPermitted,
    /// The password (login, admin login, or the current password of a change) is wrong.
    #[error("wrong password")]
    BadCredentials,
    /// The request was understood and refused; the message is for the user.
    #[error("{0}")]
    Rejected(String),
    /// authd could not decide; try again later.
    #[error("temporary failure; try again later")]
    Temporary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_no_csrf_changes_do() {
        assert!(!AccountRequest::Overview.changes_state());
        assert!(!AccountRequest::LoginAttempts { limit: None }.changes_state());
        assert!(AccountRequest::WebSessionRevoke { id: 1 }.changes_state());
        assert!(
            AccountRequest::ChangePassword {
                current: Secret(String::new()),
                new: Secret(String::new()),
            }
            .changes_state()
        );
    }
}
