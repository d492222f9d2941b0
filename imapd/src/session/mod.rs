//! IMAP sessions over a TCP (and TLS) connection: greeting, the not-authenticated state
//! with every login path relayed to authd, and the [`Authenticated`] value that is the
//! only way past login.
//!
//! Code in this module before login has no handle to the mail store (DESIGN.md, "Known
//! costs"): the store is reached only through an [`Authenticated`], which only authd's
//! verdict produces, handed to [`MailAccess::open`]. After login the session goes on in
//! `mail_session` (the authenticated and selected states) with one module per command
//! group and `view` for the selected mailbox's sequence numbers.

mod append;
mod authenticated;
mod connection;
mod content;
mod copy_move;
mod fetch;
mod fetch_command;
mod flags;
mod idle;
mod list;
mod login;
mod mail_access;
mod mail_session;
mod mailboxes;
mod search;
mod search_command;
mod select;
mod store_command;
mod view;

pub use authenticated::Authenticated;
pub use connection::{Listener, Shared, serve};
pub use mail_access::{MailAccess, MailError};

use std::time::Duration;

/// How long a client that has not logged in may stay silent (mox §7.2).
pub const PREAUTH_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take from its start (TCP accept) to a successful login,
/// however it trickles its input: 60 s, like OpenSSH's `LoginGraceTime` idea. At the
/// deadline the client gets `* BYE` and the connection closes. `[imapd]
/// login_deadline_seconds` overrides it.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(60);
/// How long the `* BYE` at the login deadline may take to write.
pub const FAREWELL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Failed LOGIN and AUTHENTICATE attempts a connection may make: the last one's `NO`
/// is followed by `* BYE` and the close, as submitd does after its third failed AUTH;
/// authd's limiter counts across connections as well. Temporary failures (authd
/// unavailable, rate limited) do not count.
pub const MAX_AUTH_FAILURES: u32 = 3;
/// How long a logged-in client may stay silent outside IDLE (mox §7.2).
pub const AUTHENTICATED_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a TLS handshake may take (mox §1.3).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long imapd waits for authd to connect or answer before it answers
/// `NO [UNAVAILABLE]`.
pub const AUTHD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long writing one response may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
