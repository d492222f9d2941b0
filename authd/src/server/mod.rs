//! authd's service: the shared state, the accept loops of the auth and admin sockets,
//! and the periodic clean-up.

mod admin_socket;
mod auth_socket;
pub mod database;
pub mod password_check;
pub mod tickets;
mod web;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postern_config::Config;
use postern_ipc::peer::PeerCredentials;
use postern_ipc::{ConnectionInfo, KeyFingerprint, LoginAttempt, LoginResult, Protocol};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::names::LocalpartCase;
use crate::password::Argon2Cost;
use crate::ratelimit::{FailureLimiter, LoginTarget};
use crate::sasl::{Credentials, LoginAccount, ServerContext};
use crate::store::{CredentialSnapshot, Store};
use database::{Database, DatabaseError};
use password_check::PasswordChecker;

/// How often expired login attempts and web sessions are deleted.
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(3600);
/// Connections served at once; more are closed.
pub const MAX_CONNECTIONS: usize = 1024;

/// Why authd could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A config value is unusable.
    #[error("config: {0}")]
    Config(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DatabaseError),
}

/// Random bytes in a web session token, a CSRF token and a mail-access ticket.
pub const WEB_TOKEN_BYTES: usize = 32;

/// The SHA-256 under which a token is stored (the token itself never is).
fn token_hash(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A new random token (session, CSRF, ticket), base64url.
fn new_token() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(crate::password::random_bytes(WEB_TOKEN_BYTES))
}

/// Now, in unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

impl Credentials for CredentialSnapshot {
    fn account_by_address(&self, address: &str) -> Option<(&str, LoginAccount<'_>)> {
        let registered = self.address(address)?;
        let credentials = self.accounts.get(&registered.account)?;
        Some((
            &registered.address,
            LoginAccount {
                account: &credentials.name,
                disabled: credentials.disabled.as_deref(),
                verifiers: credentials.verifiers.as_ref(),
            },
        ))
    }

    fn tls_key(&self, fingerprint: &KeyFingerprint) -> Option<(LoginAccount<'_>, &str)> {
        let key = self.tls_keys.get(fingerprint)?;
        let credentials = self.accounts.get(&key.account)?;
        // The key's login address must still belong to the key's account.
        if self.address(&key.login_address).map(|a| &a.account) != Some(&key.account) {
            return None;
        }
        Some((
            LoginAccount {
                account: &credentials.name,
                disabled: credentials.disabled.as_deref(),
                verifiers: credentials.verifiers.as_ref(),
            },
            &key.login_address,
        ))
    }

    fn localpart_case(&self) -> LocalpartCase {
        self.localpart_case
    }
}

/// The credentials as one login attempt sees them: the snapshot, and the limiter's
/// view of guesses from the client's address.
struct AttemptCredentials<'a> {
    snapshot: &'a CredentialSnapshot,
    limiter: &'a FailureLimiter,
    remote_ip: IpAddr,
    now: i64,
}

impl Credentials for AttemptCredentials<'_> {
    fn account_by_address(&self, address: &str) -> Option<(&str, LoginAccount<'_>)> {
        self.snapshot.account_by_address(address)
    }

    fn localpart_case(&self) -> LocalpartCase {
        self.snapshot.localpart_case
    }

    fn tls_key(&self, fingerprint: &KeyFingerprint) -> Option<(LoginAccount<'_>, &str)> {
        self.snapshot.tls_key(fingerprint)
    }

    fn guessing_limited(&self, target: &LoginTarget) -> bool {
        self.limiter
            .is_guessing_limited(self.remote_ip, target, self.now)
    }
}

/// State shared by every connection.
pub struct Shared {
    config: Config,
    database: Database,
    snapshot: RwLock<Arc<CredentialSnapshot>>,
    limiter: FailureLimiter,
    passwords: Arc<PasswordChecker>,
    context: ServerContext,
    callers: HashMap<u32, HashSet<Protocol>>,
    admins: HashSet<u32>,
    /// Removed and disabled accounts, for the daemons watching them.
    account_ends: postern_ipc::account_ends::AccountEnds,
}

impl Shared {
    /// The credentials as of the last change.
    fn snapshot(&self) -> Arc<CredentialSnapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The credentials of `snapshot` as a login attempt from `remote_ip` sees them now.
    fn attempt_credentials<'a>(
        &'a self,
        snapshot: &'a CredentialSnapshot,
        remote_ip: IpAddr,
    ) -> AttemptCredentials<'a> {
        AttemptCredentials {
            snapshot,
            limiter: &self.limiter,
            remote_ip,
            now: unix_now(),
        }
    }

    /// Reloads the credentials after an admin change.
    async fn reload(&self) -> Result<(), DatabaseError> {
        let snapshot = self.database.call(|store| store.snapshot()).await?;
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(())
    }

    fn argon2_cost(&self) -> Argon2Cost {
        Argon2Cost {
            memory_kib: self.config.authd.argon2_memory_kib,
            iterations: self.config.authd.argon2_iterations,
        }
    }

    /// Writes one login attempt to the history (batched) and the log.
    async fn record_attempt(
        &self,
        connection: &ConnectionInfo,
        mechanism: &str,
        login_name: &str,
        account: Option<&str>,
        result: LoginResult,
    ) {
        let now = unix_now();
        let tls = connection.tls.as_ref();
        let attempt = LoginAttempt {
            account: account.unwrap_or("-").to_string(),
            login_name: login_name.chars().take(256).collect(),
            result,
            protocol: connection.protocol.name().to_string(),
            mechanism: mechanism.to_string(),
            remote_ip: connection.remote_ip.to_canonical().to_string(),
            local_ip: connection.local_ip.to_canonical().to_string(),
            tls_version: tls.map(|t| t.version.clone()).unwrap_or_default(),
            tls_cipher: tls.map(|t| t.cipher.clone()).unwrap_or_default(),
            client_key: connection
                .client_key
                .map(|k| k.to_base64url())
                .unwrap_or_default(),
            user_agent: connection
                .user_agent
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(256)
                .collect(),
            first_seen: now,
            last_seen: now,
            count: 1,
        };
        tracing::info!(
            account = ?attempt.account,
            login_name = ?attempt.login_name,
            protocol = %attempt.protocol,
            mechanism = %attempt.mechanism,
            result = %result,
            remote_ip = %attempt.remote_ip,
            "login attempt"
        );
        self.database.record(attempt).await;
    }
}

/// The listening sockets authd serves.
pub struct Listeners {
    /// For imapd, submitd and webd.
    pub auth: UnixListener,
    /// For the admin command line.
    pub admin: UnixListener,
}

fn resolve_uids(what: &str, users: &[postern_config::UserRef]) -> Result<Vec<u32>, StartError> {
    users
        .iter()
        .map(|u| {
            u.resolve()
                .map_err(|e| StartError::Config(format!("{what}: {e}")))
        })
        .collect()
}

/// Builds the shared state: resolves caller uids, loads credentials.
pub async fn prepare(
    config: Config,
    store: Store,
) -> Result<(Arc<Shared>, std::thread::JoinHandle<()>), StartError> {
    let mut callers: HashMap<u32, HashSet<Protocol>> = HashMap::new();
    for (protocol, users) in [
        (Protocol::Imap, &config.authd.imap_callers),
        (Protocol::Submission, &config.authd.submission_callers),
        (Protocol::Web, &config.authd.web_callers),
    ] {
        for uid in resolve_uids(protocol.name(), users)? {
            callers.entry(uid).or_default().insert(protocol);
        }
    }
    let mut admins: HashSet<u32> = resolve_uids("admin_users", &config.authd.admin_users)?
        .into_iter()
        .collect();
    if !config.localserve {
        admins.insert(0);
    }
    let limiter = FailureLimiter::new(&config.ratelimit).map_err(StartError::Config)?;
    let secret = store.server_secret();
    let cost = Argon2Cost {
        memory_kib: config.authd.argon2_memory_kib,
        iterations: config.authd.argon2_iterations,
    };
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let passwords = PasswordChecker::new(secret, cost, parallel).map_err(StartError::Config)?;
    let (database, thread) = Database::start(store);
    let snapshot = database.call(|store| store.snapshot()).await?;
    let context = ServerContext {
        hostname: config.hostname.clone(),
        server_secret: secret,
    };
    let shared = Arc::new(Shared {
        config,
        database,
        snapshot: RwLock::new(Arc::new(snapshot)),
        limiter,
        passwords: Arc::new(passwords),
        context,
        callers,
        admins,
        account_ends: postern_ipc::account_ends::account_ends(),
    });
    Ok((shared, thread))
}

async fn cleanup(shared: &Shared) {
    let now = unix_now();
    match shared
        .database
        .call(move |store| {
            Ok((
                store.expire_login_attempts(now)?,
                store.expire_web_sessions(now)?,
                store.expire_mail_tickets(now)?,
            ))
        })
        .await
    {
        Ok((attempts, sessions, tickets)) => {
            tracing::info!(
                attempts,
                sessions,
                tickets,
                "expired login attempts, web sessions and mail-access tickets"
            )
        }
        Err(e) => tracing::error!(error = %e, "cleanup failed"),
    }
}

/// Something that answers one socket's requests, one at a time.
trait RequestHandler {
    /// What the peer sends.
    type Request: serde::de::DeserializeOwned;
    /// What authd answers.
    type Response: serde::Serialize;
    /// Answers one request.
    async fn handle(&mut self, request: Self::Request) -> Self::Response;
    /// The next message to send unasked (a subscription's); pending for ever when there
    /// is none.
    async fn event(&mut self) -> Self::Response {
        std::future::pending().await
    }
}

/// Reads requests and writes answers until the peer closes; a bad frame closes this
/// connection only (invariant 5).
async fn answer_requests<H: RequestHandler>(
    framed: &mut tokio_util::codec::Framed<
        UnixStream,
        postern_ipc::FrameCodec<H::Request, H::Response>,
    >,
    handler: &mut H,
) {
    use futures_util::{SinkExt as _, StreamExt as _};
    loop {
        let response = tokio::select! {
            frame = framed.next() => {
                let request = match frame {
                    None => return,
                    Some(Ok(request)) => request,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "bad frame; closing this connection");
                        return;
                    }
                };
                handler.handle(request).await
            }
            event = handler.event() => event,
        };
        if let Err(e) = framed.send(response).await {
            tracing::warn!(error = %e, "cannot answer; closing this connection");
            return;
        }
    }
}

/// Starts serving one accepted connection, in a span naming the socket and the peer.
/// Returns false when accepting failed (then the caller pauses).
fn accept<F, Fut>(
    connections: &mut JoinSet<()>,
    shared: &Arc<Shared>,
    accepted: std::io::Result<(UnixStream, tokio::net::unix::SocketAddr)>,
    socket: &'static str,
    serve: F,
) -> bool
where
    F: FnOnce(Arc<Shared>, UnixStream, PeerCredentials) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stream = match accepted {
        Ok((stream, _)) => stream,
        Err(e) => {
            // Out of fds and the like: the connection stays in the backlog.
            tracing::error!(error = %e, socket, "accept failed");
            return false;
        }
    };
    if connections.len() >= MAX_CONNECTIONS {
        tracing::warn!(socket, "too many connections; closing a new one");
        return true;
    }
    let peer = match PeerCredentials::of(&stream) {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(error = %e, socket, "cannot read peer credentials; closing");
            return true;
        }
    };
    let span = tracing::info_span!(
        "connection",
        daemon = "authd",
        socket,
        peer_uid = peer.uid,
        peer_pid = peer.pid
    );
    connections.spawn(serve(shared.clone(), stream, peer).instrument(span));
    true
}

/// Serves both sockets until `shutdown` completes, then lets running connections finish
/// their current request.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Listeners,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    let mut cleanup_timer = tokio::time::interval(CLEANUP_INTERVAL);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = cleanup_timer.tick() => cleanup(&shared).await,
            accepted = listeners.auth.accept() => {
                if !accept(&mut connections, &shared, accepted, "auth", auth_socket::serve_connection) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            accepted = listeners.admin.accept() => {
                if !accept(&mut connections, &shared, accepted, "admin", admin_socket::serve_connection) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!(connections = connections.len(), "shutting down");
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
