//! SMTP submission sessions (RFC 6409) over TCP and TLS: the greeting, STARTTLS or
//! implicit TLS, every login relayed to authd, and mail transactions whose messages are
//! handed to the queue through [`Accept`].
//!
//! Nothing before authentication reaches the queue: a transaction needs an
//! [`Authenticated`], which only an authd verdict for submission produces.

mod auth;
mod authenticated;
mod connection;
mod message;
mod sink;
mod transaction;

pub use authenticated::Authenticated;
pub use connection::serve;
pub use sink::{Accept, AcceptFuture, Refusal, Submission};

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// Which kind of listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Submission with STARTTLS (587).
    Submission,
    /// Submission over implicit TLS (465, RFC 8314).
    Submissions,
}

/// What every session shares.
#[derive(Clone)]
pub struct Shared {
    /// authd's auth socket.
    pub auth_socket: PathBuf,
    /// The TLS configuration (its certificate can be replaced while running).
    pub tls: TlsAcceptor,
    /// Our host name, for the greeting, EHLO, Received and Message-ID.
    pub hostname: String,
    /// Largest message accepted (SIZE), in bytes.
    pub max_message_size: u64,
    /// Most recipients per transaction.
    pub max_recipients: usize,
    /// Directory for the unlinked files that hold messages until they are queued.
    pub temp_dir: PathBuf,
    /// Where accepted messages go (the durable queue).
    pub sink: Arc<dyn Accept>,
    /// How long a connection may take to log in
    /// ([`crate::smtp::limits::LOGIN_DEADLINE`] unless configured).
    pub login_deadline: std::time::Duration,
    /// Removed and disabled accounts, from authd: their sessions end.
    pub account_ends: postern_ipc::account_ends::AccountEnds,
}
