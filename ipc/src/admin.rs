//! The admin socket: what the admin command line (uid 0) may ask authd.
#![forbid(unsafe_code)]

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::types::{AccountSummary, LoginAttempt, RateLimitBlock, Secret, TlsPublicKeyInfo};
use crate::web::{IssuedTicket, MailPurpose};

/// Version of this vocabulary, exchanged in the first frame.
pub const ADMIN_PROTOCOL_VERSION: u32 = 1;

/// Largest frame the admin CLI may send (a certificate is the largest payload).
pub const MAX_ADMIN_REQUEST_FRAME: usize = 1024 * 1024;
/// Largest frame authd sends back on the admin socket (a full login history).
pub const MAX_ADMIN_RESPONSE_FRAME: usize = 64 * 1024 * 1024;

/// A request on the admin socket. Variants are only ever appended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AdminRequest {
    /// First frame on a connection.
    Hello {
        /// [`ADMIN_PROTOCOL_VERSION`] of the caller.
        version: u32,
    },
    /// Create an account with its first address.
    AccountAdd {
        /// New account name.
        account: String,
        /// Its first address.
        address: String,
    },
    /// Remove an account: logins stop at once, its data goes.
    AccountRemove {
        /// Account name.
        account: String,
    },
    /// All accounts.
    AccountList,
    /// Set an account's password (replaces all verifiers, ends its web sessions).
    AccountSetPassword {
        /// Account name.
        account: String,
        /// The new password as typed.
        password: Secret<String>,
    },
    /// Disable logins for an account (with a reason), or enable them (`None`).
    AccountSetDisabled {
        /// Account name.
        account: String,
        /// Reason shown to the user; `None` enables logins.
        disabled: Option<String>,
    },
    /// Add an address to an account.
    AddressAdd {
        /// The new address.
        address: String,
        /// Account name.
        account: String,
    },
    /// Remove an address.
    AddressRemove {
        /// The address.
        address: String,
    },
    /// Register a TLS client certificate's public key.
    TlsPublicKeyAdd {
        /// Account the key logs in to.
        account: String,
        /// Address it logs in as; must belong to the account.
        login_address: String,
        /// The certificate, DER.
        certificate_der: Vec<u8>,
        /// Name; default the certificate's common name.
        name: Option<String>,
        /// Whether IMAP must not greet with PREAUTH.
        no_imap_preauth: bool,
    },
    /// Registered keys, of one account or all.
    TlsPublicKeyList {
        /// Account, or all.
        account: Option<String>,
    },
    /// Remove a key by fingerprint.
    TlsPublicKeyRemove {
        /// base64url fingerprint.
        fingerprint: String,
    },
    /// The login history, newest first.
    LoginAttempts {
        /// One account, or all.
        account: Option<String>,
        /// At most this many groups; `None` for all.
        limit: Option<u32>,
    },
    /// Networks the brute-force limiter refuses now.
    RateLimitList,
    /// Lift blocks: of one address (all its prefixes), or all.
    RateLimitClear {
        /// The address whose counters go, or all.
        address: Option<IpAddr>,
    },
    /// Set the admin password of the admin web pages (authd keeps only its verifier);
    /// every admin web session ends. Admin socket only: refused through the web.
    AdminPasswordSet {
        /// The new password as typed.
        password: Secret<String>,
    },
    /// A mail-access ticket for any account (for `postern import` / `postern export`,
    /// and for the admin pages through [`crate::auth::AuthRequest::Admin`]), issued to
    /// the caller's uid.
    MailTicket {
        /// The account.
        account: String,
        /// Import or export.
        purpose: MailPurpose,
    },
}

impl AdminRequest {
    /// Whether the request changes state (through the web: needs the CSRF token).
    pub fn changes_state(&self) -> bool {
        match self {
            AdminRequest::Hello { .. }
            | AdminRequest::AccountList
            | AdminRequest::TlsPublicKeyList { .. }
            | AdminRequest::LoginAttempts { .. }
            | AdminRequest::RateLimitList => false,
            AdminRequest::AccountAdd { .. }
            | AdminRequest::AccountRemove { .. }
            | AdminRequest::AccountSetPassword { .. }
            | AdminRequest::AccountSetDisabled { .. }
            | AdminRequest::AddressAdd { .. }
            | AdminRequest::AddressRemove { .. }
            | AdminRequest::TlsPublicKeyAdd { .. }
            | AdminRequest::TlsPublicKeyRemove { .. }
            | AdminRequest::RateLimitClear { .. }
            | AdminRequest::AdminPasswordSet { .. }
            | AdminRequest::MailTicket { .. } => true,
        }
    }
}

/// authd's answer on the admin socket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AdminResponse {
    /// Answer to [`AdminRequest::Hello`].
    Hello {
        /// authd's [`ADMIN_PROTOCOL_VERSION`].
        version: u32,
    },
    /// Done, nothing to return.
    Done,
    /// Account listing.
    Accounts(Vec<AccountSummary>),
    /// Key listing.
    TlsPublicKeys(Vec<TlsPublicKeyInfo>),
    /// The key just added.
    TlsPublicKeyAdded(TlsPublicKeyInfo),
    /// Login history.
    LoginAttempts(Vec<LoginAttempt>),
    /// Current blocks.
    RateLimits(Vec<RateLimitBlock>),
    /// The request failed; the message is for the admin.
    Error(String),
    /// Answer to [`AdminRequest::MailTicket`].
    MailTicket(IssuedTicket),
}
