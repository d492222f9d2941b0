//! One client connection: greeting, TLS (implicit or STARTTLS), reading command lines
//! with bounded buffers, buffered replies (flushed before every read, which is what
//! PIPELINING needs), and the command dispatch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::client::AuthConnection;
use postern_ipc::{ConnectionInfo, KeyFingerprint, Protocol, TlsInfo};
use smtp_proto::Request;
use tokio::net::TcpStream;

use super::transaction::Transaction;
use super::{Authenticated, Listener, Shared};
use crate::smtp::Reply;
use crate::smtp::ehlo::{EhloContext, ehlo_reply};
use crate::smtp::input::{parse_command, take_line};
use crate::smtp::limits::{
    AUTHD_TIMEOUT, COMMAND_TIMEOUT, FAREWELL_WRITE_TIMEOUT, MAX_ERRORS, PREAUTH_COMMAND_TIMEOUT,
    READ_CHUNK, TLS_HANDSHAKE_TIMEOUT, WRITE_TIMEOUT,
};
use postern_tls::stream::ClientStream;

/// Why a session ends.
#[derive(Debug)]
pub(super) enum End {
    /// The client or the network closed, or a write failed.
    Closed,
    /// We said goodbye (`221` or `421`) and close.
    Quit,
}

/// How the client greeted.
pub(super) struct Hello {
    /// EHLO (not HELO).
    pub(super) extended: bool,
}

/// A connection's state.
pub(super) struct Session {
    pub(super) stream: ClientStream,
    /// Bytes read from the client and not yet consumed.
    pub(super) input: Vec<u8>,
    /// Replies not yet written (PIPELINING: written before the next read).
    output: Vec<u8>,
    pub(super) shared: Shared,
    pub(super) listener: Listener,
    pub(super) remote: SocketAddr,
    pub(super) local: SocketAddr,
    /// Random id of this connection, in logs and in the Received header.
    pub(super) id: String,
    /// Facts of the TLS handshake, once on TLS.
    pub(super) tls: Option<TlsInfo>,
    /// The key of the client certificate presented in the handshake, registered or not.
    pub(super) client_key: Option<KeyFingerprint>,
    /// The identity a registered client certificate gave.
    pub(super) certificate: Option<Authenticated>,
    /// authd could not be asked about the client certificate: MAIL without a login then
    /// gets a temporary failure instead of "authentication required".
    pub(super) certificate_unavailable: bool,
    /// Who the session acts for, once authenticated.
    pub(super) user: Option<Authenticated>,
    /// Removed and disabled accounts: the session ends with its account.
    ends: tokio::sync::broadcast::Receiver<postern_ipc::auth::AccountEnd>,
    /// A SASL login happened (AUTH is allowed once).
    pub(super) sasl_done: bool,
    pub(super) hello: Option<Hello>,
    pub(super) transaction: Option<Transaction>,
    /// Error replies sent so far.
    errors: u32,
    /// Failed AUTH attempts so far.
    pub(super) auth_failures: u32,
    commands_seen: u64,
    /// Transactions completed on this connection (for the Received id).
    pub(super) messages: u64,
    /// When the connection must have logged in (it applies while `user` is `None`).
    login_deadline: Instant,
}

/// Serves one client connection to its end.
pub async fn serve(tcp: TcpStream, listener: Listener, shared: Shared) {
    let (Ok(remote), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let ends = shared.account_ends.subscribe();
    let mut session = Session {
        stream: ClientStream::Plain(tcp),
        input: Vec::new(),
        output: Vec::new(),
        shared,
        listener,
        remote,
        local,
        id: connection_id(),
        tls: None,
        client_key: None,
        certificate: None,
        certificate_unavailable: false,
        user: None,
        ends,
        sasl_done: false,
        hello: None,
        transaction: None,
        errors: 0,
        auth_failures: 0,
        commands_seen: 0,
        messages: 0,
        login_deadline: Instant::now(),
    };
    session.login_deadline += session.shared.login_deadline;
    let span = tracing::info_span!("connection", daemon = "submitd", id = %session.id, %remote);
    let work = async {
        tracing::debug!(?listener, "connection");
        let result = session.run().await;
        if let Err(End::Quit) = result {
            let _ = session.flush().await;
        }
        session.stream.shutdown().await;
        tracing::debug!("connection closed");
    };
    tracing::Instrument::instrument(work, span).await;
}

/// A random id for a connection: 12 random bytes, base64url.
fn connection_id() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness the id only loses uniqueness; nothing secret depends on it.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Session {
    /// Greeting and command loop.
    async fn run(&mut self) -> Result<(), End> {
        if self.listener == Listener::Submissions {
            self.start_tls().await?;
        }
        let greeting = Reply::plain(
            220,
            vec![format!("{} ESMTP postern submission", self.shared.hostname)],
        );
        self.reply(greeting);
        loop {
            if self.errors >= MAX_ERRORS {
                self.reply(Reply::new(421, 7, 0, "too many errors, closing connection"));
                return Err(End::Quit);
            }
            let line = self.read_line(self.command_timeout()).await?;
            if let Some(user) = &self.user
                && let Some(end) =
                    postern_ipc::account_ends::ended_now(&mut self.ends, user.account())
            {
                tracing::info!(account = %end.account, "account removed or disabled; ending the session");
                self.reply(Reply::new(
                    421,
                    7,
                    0,
                    format!("{}, closing connection", end.message),
                ));
                return Err(End::Quit);
            }
            self.command_line(&line).await?;
        }
    }

    /// How long the client may stay silent now: shorter before login.
    pub(super) fn command_timeout(&self) -> Duration {
        if self.user.is_some() {
            COMMAND_TIMEOUT
        } else {
            PREAUTH_COMMAND_TIMEOUT
        }
    }

    /// `wait`, or less when the login deadline comes sooner (before login).
    fn before_login_deadline(&self, wait: Duration) -> Duration {
        if self.user.is_some() {
            return wait;
        }
        wait.min(
            self.login_deadline
                .saturating_duration_since(Instant::now()),
        )
    }

    /// Whether the connection is still not logged in at its login deadline.
    fn login_deadline_passed(&self) -> bool {
        self.user.is_none() && Instant::now() >= self.login_deadline
    }

    /// Parses and runs one command line.
    async fn command_line(&mut self, line: &[u8]) -> Result<(), End> {
        let first = self.commands_seen == 0;
        self.commands_seen += 1;
        let request = match parse_command(line) {
            Ok(request) => request,
            Err(smtp_proto::Error::UnknownCommand) if first => {
                self.reply(Reply::new(500, 5, 2, "please try again speaking smtp"));
                return Err(End::Quit);
            }
            Err(e) => {
                self.reply(parse_error_reply(e));
                return Ok(());
            }
        };
        tracing::trace!(command = request.name(), "command");
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::StartTls => self.starttls().await?,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response).await?,
            Request::Mail { from } => self.mail(from).await?,
            Request::Rcpt { to } => self.rcpt(to),
            Request::Data => self.data().await?,
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last).await?,
            Request::Rset => {
                self.transaction = None;
                self.reply(Reply::new(250, 0, 0, "ok"));
            }
            Request::Noop { .. } => self.reply(Reply::new(250, 0, 0, "ok")),
            Request::Quit => {
                self.reply(Reply::new(221, 0, 0, "bye"));
                return Err(End::Quit);
            }
            Request::Help { .. } => self.reply(Reply::new(
                214,
                0,
                0,
                "see RFC 5321 and RFC 6409; postern takes mail from logged-in users",
            )),
            other => self.reply(Reply::new(
                502,
                5,
                1,
                format!("{} not implemented", other.name()),
            )),
        }
        Ok(())
    }

    /// EHLO and HELO: a new greeting ends any transaction.
    fn hello(&mut self, name: String, extended: bool) {
        self.transaction = None;
        let reply = if extended {
            ehlo_reply(&EhloContext {
                hostname: &self.shared.hostname,
                client_name: &name,
                tls: self.stream.is_tls(),
                channel_binding: self
                    .tls
                    .as_ref()
                    .is_some_and(|t| t.channel_binding.is_some()),
                certificate: self.certificate.is_some(),
                auth_allowed: !self.sasl_done,
                max_message_size: self.shared.max_message_size,
                max_recipients: self.shared.max_recipients,
            })
        } else {
            Reply::plain(250, vec![self.shared.hostname.clone()])
        };
        tracing::debug!(client_name = ?name, extended, "hello");
        self.hello = Some(Hello { extended });
        self.reply(reply);
    }

    /// STARTTLS (RFC 3207): only on the plain listener, before authentication.
    async fn starttls(&mut self) -> Result<(), End> {
        if self.stream.is_tls() {
            self.reply(Reply::new(503, 5, 1, "tls already active"));
            return Ok(());
        }
        if self.user.is_some() {
            self.reply(Reply::new(
                503,
                5,
                1,
                "cannot starttls after authentication",
            ));
            return Ok(());
        }
        self.reply(Reply::new(220, 0, 0, "ready to start tls"));
        self.flush().await?;
        // No command injection: whatever came after STARTTLS in the clear is dropped.
        self.input.clear();
        self.start_tls().await?;
        // The client must greet again (RFC 3207 §4.2).
        self.hello = None;
        self.transaction = None;
        Ok(())
    }

    /// Runs the TLS handshake on the plain stream, then asks authd about a client
    /// certificate. `Err` when the connection is over.
    async fn start_tls(&mut self) -> Result<(), End> {
        let handshake = self.before_login_deadline(TLS_HANDSHAKE_TIMEOUT);
        let facts = match self.stream.start_tls(&self.shared.tls, handshake).await {
            Ok(facts) => facts,
            Err(e) => {
                tracing::debug!("tls handshake failed: {e}");
                return Err(End::Closed);
            }
        };
        tracing::debug!(
            version = %facts.info.version,
            cipher = %facts.info.cipher,
            "tls established"
        );
        self.tls = Some(facts.info);
        self.client_key = facts.client_key;
        if let Some(key) = facts.client_key {
            self.certificate_login(key).await?;
        }
        Ok(())
    }

    /// Facts about this connection for authd's decision and login history.
    pub(super) fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            protocol: Protocol::Submission,
            remote_ip: self.remote.ip(),
            local_ip: self.local.ip(),
            tls: self.tls.clone(),
            client_key: self.client_key,
            user_agent: None,
        }
    }

    /// Connects to authd; `None` (and a log line) when it cannot be reached in time.
    pub(super) async fn connect_authd(&self) -> Option<AuthConnection> {
        match tokio::time::timeout(
            AUTHD_TIMEOUT,
            AuthConnection::connect(&self.shared.auth_socket),
        )
        .await
        {
            Ok(Ok(conn)) => Some(conn),
            Ok(Err(e)) => {
                tracing::warn!("cannot reach authd: {e}");
                None
            }
            Err(_) => {
                tracing::warn!("authd did not answer the greeting in time");
                None
            }
        }
    }

    /// One request on a fresh connection to authd; `None` when authd cannot be reached
    /// or does not answer in time.
    pub(super) async fn authd_call_once(&self, request: AuthRequest) -> Option<AuthResponse> {
        let mut conn = self.connect_authd().await?;
        match tokio::time::timeout(AUTHD_TIMEOUT, conn.call(request)).await {
            Ok(Ok(response)) => Some(response),
            Ok(Err(e)) => {
                tracing::warn!("authd: {e}");
                None
            }
            Err(_) => {
                tracing::warn!("authd did not answer in time");
                None
            }
        }
    }

    /// Queues a reply; errors count towards [`MAX_ERRORS`].
    pub(super) fn reply(&mut self, reply: Reply) {
        if reply.is_error() {
            self.errors += 1;
            tracing::debug!(reply = ?reply.to_string(), "error reply");
        }
        self.output.extend_from_slice(&reply.to_bytes());
    }

    /// Writes the queued replies.
    pub(super) async fn flush(&mut self) -> Result<(), End> {
        if self.output.is_empty() {
            return Ok(());
        }
        let output = std::mem::take(&mut self.output);
        // Before login, a write may not outlast the login deadline (plus the time the
        // farewell gets).
        let limit = if self.user.is_some() {
            WRITE_TIMEOUT
        } else {
            WRITE_TIMEOUT.min(
                self.login_deadline
                    .saturating_duration_since(Instant::now())
                    + FAREWELL_WRITE_TIMEOUT,
            )
        };
        match tokio::time::timeout(limit, self.stream.write_all(&output)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Closed),
        }
    }

    /// Writes pending replies, then reads more input (at most [`READ_CHUNK`] bytes).
    /// `421` and the end after `timeout` without input, and at the login deadline
    /// before login.
    pub(super) async fn fill(&mut self, timeout: Duration) -> Result<(), End> {
        self.flush().await?;
        if self.login_deadline_passed() {
            return Err(self.login_deadline_goodbye());
        }
        let timeout = self.before_login_deadline(timeout);
        // Read straight into the input buffer's spare room.
        let start = self.input.len();
        self.input.resize(start + READ_CHUNK, 0);
        let spare = self.input.get_mut(start..).unwrap_or_default();
        let read = tokio::time::timeout(timeout, self.stream.read(spare)).await;
        let n = match &read {
            Ok(Ok(n)) => *n,
            _ => 0,
        };
        self.input.truncate(start + n);
        match read {
            Err(_) if self.login_deadline_passed() => Err(self.login_deadline_goodbye()),
            Err(_) => {
                self.reply(Reply::new(421, 4, 2, "timeout, closing connection"));
                Err(End::Quit)
            }
            Ok(Ok(0)) | Ok(Err(_)) => Err(End::Closed),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// Queues the `421` for the login deadline; the session ends.
    fn login_deadline_goodbye(&mut self) -> End {
        tracing::info!("login deadline passed, closing");
        self.reply(Reply::new(
            421,
            4,
            2,
            "login took too long, closing connection",
        ));
        End::Quit
    }

    /// The next line from the client, with its line ending. A line longer than
    /// [`crate::smtp::limits::MAX_LINE_LENGTH`] is answered `500 5.5.0` and ends the connection.
    pub(super) async fn read_line(&mut self, timeout: Duration) -> Result<Vec<u8>, End> {
        loop {
            match take_line(&mut self.input) {
                Ok(Some(line)) => return Ok(line),
                Ok(None) => self.fill(timeout).await?,
                Err(too_long) => {
                    self.reply(Reply::new(500, 5, 0, too_long.to_string()));
                    return Err(End::Quit);
                }
            }
        }
    }
}

/// The reply for a command line smtp-proto could not parse.
fn parse_error_reply(error: smtp_proto::Error) -> Reply {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand => Reply::new(500, 5, 1, "unknown command"),
        Error::InvalidSenderAddress => Reply::new(501, 1, 7, "bad sender address syntax"),
        Error::InvalidRecipientAddress => Reply::new(501, 1, 3, "bad recipient address syntax"),
        Error::SyntaxError { syntax } => Reply::new(501, 5, 4, format!("syntax: {syntax}")),
        Error::InvalidParameter { param } => {
            Reply::new(501, 5, 4, format!("invalid parameter {param}"))
        }
        Error::UnsupportedParameter { param } => {
            Reply::new(555, 5, 4, format!("unsupported parameter {param}"))
        }
        Error::ResponseTooLong => Reply::new(500, 5, 0, "line too long"),
        Error::NeedsMoreData { .. } | Error::InvalidResponse { .. } => {
            Reply::new(500, 5, 2, "syntax error")
        }
    }
}
