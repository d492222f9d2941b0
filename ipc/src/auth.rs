//! The auth socket: what protocol daemons (imapd, submitd, webd) may ask authd.
//!
//! One connection runs at most one SASL exchange at a time; a protocol daemon keeps a
//! connection for the length of an exchange. Which requests a caller may make, and for
//! which [`Protocol`](crate::Protocol), authd decides by the caller's uid.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::admin::{AdminRequest, AdminResponse};
use crate::types::{AuthFailure, ConnectionInfo, Mechanism, Secret, Verdict};
use crate::web::{
    AccountRequest, AccountResponse, AdminSession, IssuedTicket, MailPurpose, WebAuth, WebRefusal,
};

/// Version of this vocabulary, exchanged in the first frame.
pub const AUTH_PROTOCOL_VERSION: u32 = 1;

/// Largest frame a protocol daemon may send to authd.
pub const MAX_AUTH_REQUEST_FRAME: usize = 64 * 1024;
/// Largest frame authd sends back on the auth socket (an admin page's full login
/// history is the largest answer; the same bound as the admin socket's).
pub const MAX_AUTH_RESPONSE_FRAME: usize = crate::admin::MAX_ADMIN_RESPONSE_FRAME;

/// A request on the auth socket. Variants are only ever appended (bincode encodes the
/// variant index).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AuthRequest {
    /// First frame on a connection: the caller's vocabulary version.
    Hello {
        /// [`AUTH_PROTOCOL_VERSION`] of the caller.
        version: u32,
    },
    /// Start a SASL exchange, replacing any unfinished one on this connection.
    SaslStart {
        /// The mechanism the client chose.
        mechanism: Mechanism,
        /// The client's initial response, already base64-decoded (`Some(empty)` for `=`).
        initial_response: Option<Secret<Vec<u8>>>,
        /// Facts about the client connection.
        connection: ConnectionInfo,
    },
    /// The client's next response in the running exchange, base64-decoded.
    SaslStep {
        /// The decoded response.
        response: Secret<Vec<u8>>,
    },
    /// The client cancelled the running exchange (`*`).
    SaslAbort,
    /// A client presented a certificate during the TLS handshake: whose key is it?
    /// Recorded in the login history as mechanism `tls-client-certificate`.
    CertificateLogin {
        /// Facts about the connection, `client_key` set.
        connection: ConnectionInfo,
    },
    /// Which account does this address belong to (for delivery)?
    ResolveAddress {
        /// An email address.
        address: String,
    },
    /// A web login with name and password; on success a new web session.
    WebLogin {
        /// Login address.
        username: String,
        /// The password as typed.
        password: Secret<String>,
        /// Facts about the HTTP connection.
        connection: ConnectionInfo,
    },
    /// Check a web session token (and, for state-changing requests, its CSRF token).
    WebSessionCheck {
        /// Session token from the cookie.
        token: Secret<String>,
        /// CSRF token from the request, when the request changes state.
        csrf: Option<Secret<String>>,
        /// Facts about the HTTP connection.
        connection: ConnectionInfo,
    },
    /// End a web session.
    WebLogout {
        /// Session token from the cookie.
        token: Secret<String>,
    },
    /// Accounts whose removal waits for the mail store to delete their data (imapd).
    PendingAccountRemovals,
    /// The mail store has deleted an account's data (imapd).
    AccountDataRemoved {
        /// The removed account.
        account: String,
    },
    /// An account page asks about its own account (webd); answered with
    /// [`AuthResponse::Account`] or [`AuthResponse::WebRefused`].
    Account {
        /// The account session.
        auth: WebAuth,
        /// What it asks.
        request: AccountRequest,
    },
    /// A login to the admin pages with the admin password (webd); on success a new
    /// admin session ([`AuthResponse::AdminSession`] with both tokens). Counts in the
    /// login history (account `-`, mechanism `web-admin-password`) and the limiter.
    AdminLogin {
        /// The admin password as typed.
        password: Secret<String>,
        /// Facts about the HTTP connection.
        connection: ConnectionInfo,
    },
    /// Check an admin session (and its CSRF token when given); answered with
    /// [`AuthResponse::AdminSession`] without tokens or [`AuthResponse::WebRefused`].
    AdminSessionCheck {
        /// The admin session.
        auth: WebAuth,
    },
    /// End an admin session; [`AuthResponse::Done`] also when there was none.
    AdminLogout {
        /// Session token from the cookie.
        token: Secret<String>,
    },
    /// An admin page's request (webd), answered by the same handlers as the admin
    /// socket ([`AuthResponse::Admin`]), or [`AuthResponse::WebRefused`]. Needs an admin
    /// session, and its CSRF token for every request that changes state.
    Admin {
        /// The admin session.
        auth: WebAuth,
        /// The admin request ([`AdminRequest::Hello`] and
        /// [`AdminRequest::AdminPasswordSet`] are refused here).
        request: AdminRequest,
    },
    /// A mail-access ticket (DESIGN.md invariant 8), answered with
    /// [`AuthResponse::MailTicket`] or [`AuthResponse::WebRefused`]. Needs the CSRF
    /// token. An account session gets tickets for its own account only, an admin
    /// session for any account.
    MailTicket {
        /// The account or admin session.
        auth: WebAuth,
        /// Import or export.
        purpose: MailPurpose,
        /// The account; `None` for the account session's own (required for an admin
        /// session).
        account: Option<String>,
    },
    /// imapd redeems a ticket presented on its store socket (only imapd's uid may):
    /// [`AuthResponse::TicketRedeemed`] once, for the purpose and the caller it was
    /// issued for, within its lifetime; otherwise [`AuthResponse::Error`] with
    /// [`RequestError::NotPermitted`]. A redeemed or refused ticket is gone.
    RedeemMailTicket {
        /// The ticket as presented.
        ticket: Secret<String>,
        /// What the store socket is asked to do with it.
        purpose: MailPurpose,
        /// The uid of the process that presented it on the store socket
        /// (`SO_PEERCRED`); must be the uid the ticket was issued to.
        caller_uid: u32,
    },
    /// imapd or submitd subscribe to the end of accounts: authd answers
    /// [`AuthResponse::Done`], then sends one [`AuthResponse::AccountEnded`] each time
    /// an account is removed or disabled, until the connection closes. The connection
    /// takes no further requests.
    WatchAccountEnds,
}

/// authd's answer on the auth socket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AuthResponse {
    /// Answer to [`AuthRequest::Hello`].
    Hello {
        /// authd's [`AUTH_PROTOCOL_VERSION`].
        version: u32,
    },
    /// The next state of a SASL exchange.
    Sasl(SaslReply),
    /// Answer to [`AuthRequest::CertificateLogin`].
    Certificate(CertificateVerdict),
    /// Answer to [`AuthRequest::ResolveAddress`]: the owner, if any.
    Address(Option<AddressOwner>),
    /// A new or checked web session.
    WebSession(WebSessionReply),
    /// Answer to [`AuthRequest::PendingAccountRemovals`].
    PendingRemovals(Vec<String>),
    /// A request without other result succeeded.
    Done,
    /// The request was refused or failed as a whole.
    Error(RequestError),
    /// Answer to [`AuthRequest::Account`].
    Account(AccountResponse),
    /// A new (with tokens) or checked (without) admin session.
    AdminSession(AdminSession),
    /// Answer to [`AuthRequest::Admin`]: what the admin socket would answer.
    Admin(AdminResponse),
    /// Answer to [`AuthRequest::MailTicket`].
    MailTicket(IssuedTicket),
    /// Answer to [`AuthRequest::RedeemMailTicket`]: the ticket opens this account.
    TicketRedeemed {
        /// The account the ticket was issued for.
        account: String,
    },
    /// A web request was refused as a whole (session, CSRF, permission, rate limit).
    WebRefused(WebRefusal),
    /// After [`AuthRequest::WatchAccountEnds`]: an account was removed or disabled, and
    /// its open sessions end.
    AccountEnded(AccountEnd),
}

/// An account that was removed or disabled: the sessions of its daemons end.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountEnd {
    /// The account's name.
    pub account: String,
    /// What its sessions are told: the admin's disable message, or that the account was
    /// removed.
    pub message: String,
}

/// The message of an [`AccountEnd`] for a removed account.
pub const ACCOUNT_REMOVED_MESSAGE: &str = "account removed by the administrator";

/// One step of a SASL exchange as seen by the protocol daemon, which relays it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum SaslReply {
    /// Send this (to be base64-encoded) to the client and relay its answer with
    /// [`AuthRequest::SaslStep`].
    Challenge(Vec<u8>),
    /// Authenticated.
    Success(Verdict),
    /// Not authenticated; the exchange is over.
    Failure(AuthFailure),
}

/// What a client certificate presented during the handshake means.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CertificateVerdict {
    /// The key is registered to an account that may log in.
    Known {
        /// The account and login address.
        verdict: Verdict,
        /// Whether IMAP must not greet with PREAUTH.
        no_imap_preauth: bool,
    },
    /// No such key: go on as if no certificate was sent.
    Unknown,
    /// The key's account may not log in.
    LoginDisabled {
        /// The admin's reason.
        message: String,
    },
    /// Too many failures from this network; the certificate was not looked at.
    RateLimited,
}

/// The account an address delivers to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AddressOwner {
    /// Account name.
    pub account: String,
    /// The address in canonical form.
    pub address: String,
}

/// The result of a web login or session check.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum WebSessionReply {
    /// A session exists (new or checked).
    Valid {
        /// The account.
        account: String,
        /// The address used to log in.
        login_address: String,
        /// Session token for the cookie (only on a new login).
        token: Option<Secret<String>>,
        /// CSRF token for the page (only on a new login: authd keeps only its hash).
        csrf: Option<Secret<String>>,
    },
    /// No valid session, or the login failed.
    Invalid(AuthFailure),
}

/// Why a request as a whole was refused.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The caller's uid may not make this request, or not for this protocol.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// A step came without a running exchange, or similar misuse.
    #[error("protocol misuse: {0}")]
    Misuse(String),
    /// authd failed internally; try again later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// The vocabulary versions differ.
    #[error("version mismatch: authd speaks {0}")]
    Version(u32),
}
