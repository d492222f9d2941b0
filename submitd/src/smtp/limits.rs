//! The limits of an SMTP submission session: every line, buffer, count and wait is
//! bounded by one of these.

use std::time::Duration;

/// Longest command line, CRLF included (smtp-proto's own limit; mox reads 2048 bytes).
/// A longer line is answered `500 5.5.0` and the connection closes, since the rest of
/// the line cannot be told apart from a next command.
pub const MAX_LINE_LENGTH: usize = smtp_proto::request::receiver::MAX_LINE_LENGTH;

/// Errors (4xx/5xx replies) a connection may collect before it is closed with `421`.
pub const MAX_ERRORS: u32 = 20;

/// Failed AUTH attempts a connection may make before it is closed with `421`; authd's
/// limiter counts across connections as well.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// Largest header section of a submitted message that is kept in memory to check the
/// From header and add Date and Message-ID. A larger header section is refused.
pub const MAX_HEADER_SECTION: usize = 512 * 1024;

/// How long a logged-in client may stay silent between commands (RFC 5321
/// §4.5.3.2.7: 5 minutes).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long a client that has not logged in may stay silent (mox allows 30 seconds per
/// read; imapd 30 seconds before login).
pub const PREAUTH_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connection may take from its start (TCP accept) to a successful login,
/// however it trickles its input: 60 s, like OpenSSH's `LoginGraceTime` idea. At the
/// deadline the client gets `421 4.4.2` and the connection closes. `[submitd]
/// login_deadline_seconds` overrides it.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(60);

/// How long the `421` at the login deadline may take to write.
pub const FAREWELL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a whole DATA or BDAT transfer may take (mox: 30 minutes).
pub const DATA_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long a single read of message data may wait.
pub const DATA_READ_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How long a TLS handshake may take (mox: 1 minute).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long writing replies may take.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long submitd waits for authd to connect or answer before it answers with a
/// temporary failure.
pub const AUTHD_TIMEOUT: Duration = Duration::from_secs(15);

/// Bytes read from the client at once.
pub const READ_CHUNK: usize = 16 * 1024;

/// Bytes of message data collected in memory before they are written to the file.
pub const WRITE_CHUNK: usize = 64 * 1024;
