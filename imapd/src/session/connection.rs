//! One client connection: greeting, TLS, the command loop of the not-authenticated state;
//! after login the session goes on in [`super::mail_session`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use postern_ipc::auth::{AuthRequest, AuthResponse, CertificateVerdict};
use postern_ipc::client::AuthConnection;
use postern_ipc::{ConnectionInfo, KeyFingerprint, Protocol, TlsInfo, Verdict};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::mail_access::MailAccess;
use super::{
    AUTHD_TIMEOUT, Authenticated, FAREWELL_WRITE_TIMEOUT, PREAUTH_IDLE_TIMEOUT,
    TLS_HANDSHAKE_TIMEOUT, WRITE_TIMEOUT,
};
use postern_imap_proto::capabilities::{CapabilityContext, capabilities};
use postern_imap_proto::command::CommandBody;
use postern_imap_proto::encode::{CONTINUE_LITERAL, EncodeOptions};
use postern_imap_proto::parse::{ParseErrorKind, ParseOptions, parse_command};
use postern_imap_proto::reader::{CommandReader, Event};
use postern_imap_proto::response::{Code, Data, Response, StatusKind, StatusResponse};
use postern_imap_proto::state::ConnectionState;
use postern_tls::stream::ClientStream;

/// The SASL mechanisms always advertised, in mox's order (§2.1); PLAIN and EXTERNAL are
/// added per connection.
const ADVERTISED_MECHANISMS: [&str; 5] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
];

/// Read buffer size per connection while data streams in.
const READ_CHUNK: usize = 16 * 1024;
/// Read buffer size while waiting for a client that last sent little (an idle session
/// then holds only this much).
const READ_CHUNK_IDLE: usize = 1024;

/// Which kind of listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// Plain IMAP with STARTTLS (143).
    Imap,
    /// Implicit TLS (993).
    Imaps,
}

/// What every session shares: authd's socket, the TLS acceptor and the gated way into
/// the mail store (usable only with an [`Authenticated`]).
#[derive(Clone)]
pub struct Shared {
    /// authd's auth socket.
    pub auth_socket: PathBuf,
    /// The TLS configuration.
    pub tls: TlsAcceptor,
    /// The mail store, opened per account after login.
    pub mail: MailAccess,
    /// How long a connection may take to log in ([`super::LOGIN_DEADLINE`] unless
    /// configured).
    pub login_deadline: Duration,
    /// Removed and disabled accounts, from authd: their sessions end.
    pub account_ends: postern_ipc::account_ends::AccountEnds,
}

/// Why the session ends.
pub(super) enum End {
    /// The client or the network closed, or a write failed.
    Closed,
    /// The session said BYE (or must close without a word).
    Bye,
}

/// A connection's state before and after login.
pub(super) struct Session {
    pub(super) stream: ClientStream,
    pub(super) reader: CommandReader,
    pending: Vec<u8>,
    /// The last read filled its buffer: more is probably coming.
    streaming: bool,
    /// The client enabled IMAP4rev2 or UTF8=ACCEPT.
    pub(super) utf8: bool,
    pub(super) shared: Shared,
    pub(super) remote: SocketAddr,
    pub(super) local: SocketAddr,
    /// Facts of the TLS handshake, once on TLS.
    pub(super) tls: Option<TlsInfo>,
    /// A registered client key presented in the handshake, and its verdict.
    pub(super) certificate: Option<(KeyFingerprint, Verdict)>,
    /// `name/version` from ID.
    pub(super) user_agent: Option<String>,
    commands_seen: u64,
    /// When the connection must have logged in; `None` once it has.
    login_deadline: Option<Instant>,
    /// Failed logins on this connection so far.
    pub(super) auth_failures: u32,
}

/// Serves one client connection to its end.
pub async fn serve(tcp: TcpStream, listener: Listener, shared: Shared) {
    let (Ok(remote), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let mut session = Session {
        stream: ClientStream::Plain(tcp),
        reader: CommandReader::default(),
        pending: Vec::new(),
        streaming: false,
        utf8: false,
        shared,
        remote,
        local,
        tls: None,
        certificate: None,
        user_agent: None,
        commands_seen: 0,
        login_deadline: None,
        auth_failures: 0,
    };
    session.login_deadline = Some(Instant::now() + session.shared.login_deadline);
    tracing::debug!(%remote, ?listener, "connection");
    let mut preauth = None;
    if listener == Listener::Imaps {
        match session.start_tls().await {
            Ok(Some((verdict, no_preauth))) if !no_preauth => {
                preauth = Authenticated::from_verdict(verdict);
            }
            Ok(_) => {}
            Err(()) => return,
        }
    }
    let user = match preauth {
        Some(user) => {
            let greeting = StatusResponse::untagged(
                StatusKind::PreAuth,
                Some(Code::Capability(session.capabilities())),
                &format!("postern imap welcomes {}", user.login_address()),
            );
            if session.send(&Response::Status(greeting)).await.is_err() {
                return;
            }
            user
        }
        None => {
            let greeting = StatusResponse::untagged(
                StatusKind::Ok,
                Some(Code::Capability(session.capabilities())),
                "postern imap",
            );
            if session.send(&Response::Status(greeting)).await.is_err() {
                return;
            }
            match session.not_authenticated().await {
                Ok(user) => user,
                Err(_) => {
                    session.stream.shutdown().await;
                    return;
                }
            }
        }
    };
    session.login_deadline = None;
    tracing::info!(%remote, account = user.account(), "logged in");
    let _ = session.authenticated(&user).await;
    session.stream.shutdown().await;
}

/// What a command loop step produced.
pub(super) enum Next {
    /// A parsed command.
    Command(postern_imap_proto::command::Command),
    /// Nothing to do (an error was answered).
    Nothing,
}

impl Session {
    /// The capabilities for the connection as it is now.
    pub(super) fn capabilities(&self) -> Vec<String> {
        let on_tls = self.stream.is_tls();
        capabilities(&CapabilityContext {
            mechanisms: ADVERTISED_MECHANISMS
                .iter()
                .map(|m| m.to_string())
                .collect(),
            starttls: !on_tls,
            plain_allowed: on_tls,
            external: on_tls && self.certificate.is_some(),
        })
    }

    /// Writes one response.
    pub(super) async fn send(&mut self, response: &Response) -> Result<(), End> {
        self.send_bytes(&response.to_bytes(EncodeOptions { utf8: self.utf8 }))
            .await
    }

    pub(super) async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), End> {
        // Before login, a write may not outlast the login deadline (plus the time the
        // farewell gets).
        let limit = match self.login_deadline {
            Some(deadline) => WRITE_TIMEOUT
                .min(deadline.saturating_duration_since(Instant::now()) + FAREWELL_WRITE_TIMEOUT),
            None => WRITE_TIMEOUT,
        };
        match tokio::time::timeout(limit, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Closed),
        }
    }

    /// Writes a tagged status response.
    pub(super) async fn reply(
        &mut self,
        tag: &str,
        kind: StatusKind,
        code: Option<Code>,
        text: &str,
    ) -> Result<(), End> {
        self.send(&Response::Status(StatusResponse::tagged(
            tag, kind, code, text,
        )))
        .await
    }

    /// `wait`, or less when the login deadline comes sooner.
    fn before_login_deadline(&self, wait: Duration) -> Duration {
        match self.login_deadline {
            Some(deadline) => wait.min(deadline.saturating_duration_since(Instant::now())),
            None => wait,
        }
    }

    /// Whether the connection is still not logged in at its login deadline.
    fn login_deadline_passed(&self) -> bool {
        self.login_deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Says `* BYE` for the login deadline; the session ends.
    async fn login_deadline_bye(&mut self) -> End {
        tracing::info!(remote = %self.remote, "login deadline passed, closing");
        let bye = StatusResponse::untagged(StatusKind::Bye, None, "login took too long");
        let _ = self.send(&Response::Status(bye)).await;
        End::Bye
    }

    /// The next reader event, reading from the client as needed. `* BYE inactive` and
    /// the end of the session after `idle` without input, and `* BYE` at the login
    /// deadline before login.
    pub(super) async fn next_event(&mut self, idle: Duration) -> Result<Event, End> {
        loop {
            if self.login_deadline_passed() {
                return Err(self.login_deadline_bye().await);
            }
            if let Some(event) = self.reader.poll() {
                return Ok(event);
            }
            if !self.pending.is_empty() {
                let used = self.reader.push(&self.pending);
                self.pending.drain(..used);
                if used > 0 {
                    continue;
                }
            }
            let size = if self.streaming {
                READ_CHUNK
            } else {
                READ_CHUNK_IDLE
            };
            let mut buf = vec![0u8; size];
            let wait = self.before_login_deadline(idle);
            match tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
                Err(_) if self.login_deadline_passed() => {
                    return Err(self.login_deadline_bye().await);
                }
                Err(_) => {
                    let bye = StatusResponse::untagged(StatusKind::Bye, None, "inactive");
                    let _ = self.send(&Response::Status(bye)).await;
                    return Err(End::Bye);
                }
                Ok(Ok(0)) | Ok(Err(_)) => return Err(End::Closed),
                Ok(Ok(n)) => {
                    self.streaming = n == size;
                    let used = self.reader.push(&buf[..n]);
                    self.pending.extend_from_slice(&buf[used..n]);
                }
            }
        }
    }

    /// Drops buffer capacity left over from a big command.
    pub(super) fn trim_buffers(&mut self) {
        if self.pending.is_empty() && self.pending.capacity() > 0 {
            self.pending = Vec::new();
        }
    }

    /// Reads one line (a SASL response) in line mode.
    pub(super) async fn read_line(&mut self) -> Result<Vec<u8>, End> {
        self.reader.expect_line();
        loop {
            match self.next_event(PREAUTH_IDLE_TIMEOUT).await? {
                Event::Line(line) => return Ok(line),
                Event::Rejected(r) => {
                    self.send_bytes(&r.reply).await?;
                    if r.close {
                        return Err(End::Bye);
                    }
                }
                Event::Close => return Err(End::Bye),
                _ => {}
            }
        }
    }

    /// Reads and parses the next command, answering framing and syntax errors.
    async fn next_command(&mut self, idle: Duration) -> Result<Next, End> {
        match self.next_event(idle).await? {
            Event::Continue { .. } => {
                self.send_bytes(CONTINUE_LITERAL).await?;
                Ok(Next::Nothing)
            }
            Event::Rejected(r) => {
                self.send_bytes(&r.reply).await?;
                if r.close {
                    Err(End::Bye)
                } else {
                    Ok(Next::Nothing)
                }
            }
            Event::Close => Err(End::Bye),
            Event::Command(raw) => {
                let first = self.commands_seen == 0;
                self.commands_seen += 1;
                match parse_command(&raw, ParseOptions::default()) {
                    Ok(cmd) => Ok(Next::Command(cmd)),
                    // A first line that is not IMAP at all (no tag, no command we
                    // know) ends the connection, as mox does; a known command with bad
                    // arguments is answered BAD like any later one.
                    Err(e) if first && e.kind() != ParseErrorKind::Syntax => {
                        let bye = StatusResponse::untagged(
                            StatusKind::Bye,
                            None,
                            "please try again speaking imap",
                        );
                        let _ = self.send(&Response::Status(bye)).await;
                        Err(End::Bye)
                    }
                    Err(e) => {
                        self.send_bytes(&e.reply()).await?;
                        Ok(Next::Nothing)
                    }
                }
            }
            // No APPEND before login: the reader hands out message data only for
            // APPEND, which is answered after the command completes.
            Event::MessageStart { .. } | Event::MessageData(_) | Event::Line(_) => {
                Ok(Next::Nothing)
            }
        }
    }

    /// Answers CAPABILITY, NOOP, LOGOUT and ID, which every state has. Returns whether
    /// the command was one of them; `Err(End::Bye)` after LOGOUT.
    pub(super) async fn common_command(
        &mut self,
        tag: &str,
        body: &CommandBody,
    ) -> Result<bool, End> {
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.send(&Response::Data(Data::Capability(caps))).await?;
                self.reply(tag, StatusKind::Ok, None, "capability done")
                    .await?;
            }
            CommandBody::Noop => {
                self.reply(tag, StatusKind::Ok, None, "noop done").await?;
            }
            CommandBody::Logout => {
                let bye = StatusResponse::untagged(StatusKind::Bye, None, "thanks");
                self.send(&Response::Status(bye)).await?;
                self.reply(tag, StatusKind::Ok, None, "logout done").await?;
                return Err(End::Bye);
            }
            CommandBody::Id { parameters } => {
                if let Some(params) = parameters {
                    let get = |key: &str| {
                        params
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(key))
                            .and_then(|(_, v)| v.clone())
                    };
                    let agent = match (get("name"), get("version")) {
                        (Some(name), Some(version)) => Some(format!("{name}/{version}")),
                        (Some(name), None) => Some(name),
                        _ => None,
                    };
                    if agent.is_some() {
                        self.user_agent = agent;
                    }
                }
                let id = Data::Id(Some(vec![("name".into(), Some("postern".into()))]));
                self.send(&Response::Data(id)).await?;
                self.reply(tag, StatusKind::Ok, None, "id done").await?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The not-authenticated state, until a login succeeds.
    async fn not_authenticated(&mut self) -> Result<Authenticated, End> {
        loop {
            let Next::Command(cmd) = self.next_command(PREAUTH_IDLE_TIMEOUT).await? else {
                continue;
            };
            let tag = cmd.tag.as_str();
            // The state gate: only commands of this state and of any state pass.
            let name = cmd.body.name();
            if let Err(refusal) = cmd
                .body
                .required_state()
                .check(ConnectionState::NotAuthenticated)
            {
                let text = refusal.text(name);
                self.reply(tag, refusal.kind(), refusal.code(), &text)
                    .await?;
                continue;
            }
            if self.common_command(tag, &cmd.body).await? {
                continue;
            }
            match cmd.body {
                CommandBody::StartTls => {
                    if self.stream.is_tls() {
                        self.reply(tag, StatusKind::Bad, None, "starttls tls already active")
                            .await?;
                        continue;
                    }
                    self.reply(tag, StatusKind::Ok, None, "starttls ok").await?;
                    // No plaintext command injection: whatever came after STARTTLS
                    // in the clear is dropped.
                    self.pending.clear();
                    self.reader = CommandReader::default();
                    if self.start_tls().await.is_err() {
                        return Err(End::Closed);
                    }
                }
                CommandBody::Login { username, password } => {
                    if let Some(user) = self.login(tag, username, password).await? {
                        return Ok(user);
                    }
                }
                CommandBody::Authenticate {
                    mechanism,
                    initial_response,
                } => {
                    if let Some(user) = self.authenticate(tag, &mechanism, initial_response).await?
                    {
                        return Ok(user);
                    }
                }
                // The gate let nothing else through.
                _ => {}
            }
        }
    }

    /// The authenticated state: see [`super::mail_session`].
    async fn authenticated(&mut self, user: &Authenticated) -> Result<(), End> {
        self.mail_session(user).await
    }

    /// Runs the TLS handshake on the plain stream and asks authd about a client
    /// certificate. Returns the certificate's verdict and its no-preauth flag when the
    /// key is registered. `Err` when the handshake failed (the connection is gone).
    async fn start_tls(&mut self) -> Result<Option<(Verdict, bool)>, ()> {
        let handshake = self.before_login_deadline(TLS_HANDSHAKE_TIMEOUT);
        let facts = match self.stream.start_tls(&self.shared.tls, handshake).await {
            Ok(facts) => facts,
            Err(e) => {
                tracing::debug!(remote = %self.remote, "tls handshake failed: {e}");
                return Err(());
            }
        };
        self.tls = Some(facts.info);
        let Some(key) = facts.client_key else {
            return Ok(None);
        };
        let request = AuthRequest::CertificateLogin {
            connection: self.connection_info(Some(key)),
        };
        match self.authd_call_once(request).await {
            Some(AuthResponse::Certificate(CertificateVerdict::Known {
                verdict,
                no_imap_preauth,
            })) if verdict.protocol == Protocol::Imap => {
                self.certificate = Some((key, verdict.clone()));
                Ok(Some((verdict, no_imap_preauth)))
            }
            Some(AuthResponse::Certificate(CertificateVerdict::Unknown)) => {
                tracing::info!(
                    remote = %self.remote,
                    key = key.to_base64url(),
                    "unknown tls client certificate, ignored"
                );
                Ok(None)
            }
            other => {
                tracing::info!(
                    remote = %self.remote,
                    key = key.to_base64url(),
                    "tls client certificate not used: {other:?}"
                );
                Ok(None)
            }
        }
    }

    /// Facts about this connection for authd.
    pub(super) fn connection_info(&self, client_key: Option<KeyFingerprint>) -> ConnectionInfo {
        ConnectionInfo {
            protocol: Protocol::Imap,
            remote_ip: self.remote.ip(),
            local_ip: self.local.ip(),
            tls: self.tls.clone(),
            client_key,
            user_agent: self.user_agent.clone(),
        }
    }

    /// One request on a fresh connection to authd; `None` when authd cannot be reached.
    async fn authd_call_once(&self, request: AuthRequest) -> Option<AuthResponse> {
        let work = async {
            let mut conn = AuthConnection::connect(&self.shared.auth_socket)
                .await
                .ok()?;
            conn.call(request).await.ok()
        };
        tokio::time::timeout(AUTHD_TIMEOUT, work)
            .await
            .ok()
            .flatten()
    }
}
