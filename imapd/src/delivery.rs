//! The local store socket ([`postern_ipc::store`]): submitd and webd hand imapd a
//! message as the fd of a file, and imapd answers once it is durable in the mail store
//! (DESIGN.md invariant 7).
//!
//! Only callers whose uid (`SO_PEERCRED`) is in `[imapd] store_callers` are served
//! (in localserve also imapd's own user); root may open imports and exports (with a
//! ticket, see [`crate::mail_transfer`]). imapd reads the message from the fd itself,
//! from offset 0, at most [`MAX_DELIVERED_MESSAGE`] bytes, and trusts nothing the
//! caller says about it. A malformed, oversized or out-of-order datagram closes that
//! one connection (invariant 5). Store calls block, so each delivery runs in a
//! blocking thread.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use postern_config::Config;
use postern_ipc::fdpass::FdPassError;
use postern_ipc::frame::{decode_payload, encode_payload};
use postern_ipc::seqpacket::{
    SeqpacketConnection, SeqpacketError, SeqpacketListener, is_listening,
};
use postern_ipc::store::{
    DeliveredMessage, Delivery, DeliveryFailure, FailureKind, MAX_STORE_REQUEST,
    MAX_STORE_RESPONSE, STORE_PROTOCOL_VERSION, StoreRefusal, StoreRequest, StoreResponse,
    SystemFlag,
};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::account_removal::RemovalGate;
use crate::mail_transfer::{self, Transfer};
use crate::store::ImportPlan;
use crate::store::{Flags, INBOX, MailStore, NewMessage, StoreError, validate_account_name};
use postern_imap_proto::limits::APPEND_LIMIT;
use postern_ipc::web::MailPurpose;

/// The largest message accepted through the store socket: the store's limit, the same
/// as APPEND's (submitd's SIZE is derived from it).
pub const MAX_DELIVERED_MESSAGE: u64 = postern_config::MAX_STORED_MESSAGE;
const _: () = assert!(APPEND_LIMIT == postern_config::MAX_STORED_MESSAGE);
/// Mode of the store socket imapd binds itself: anyone may connect, imapd decides by
/// the caller's uid (as authd's auth socket).
pub const STORE_SOCKET_MODE: u32 = 0o666;
/// Mode of the store socket in localserve, where every daemon runs as one user.
pub const LOCALSERVE_STORE_SOCKET_MODE: u32 = 0o600;
/// Backlog of the store socket imapd binds itself.
pub const STORE_SOCKET_BACKLOG: i32 = 64;
/// Most store connections served at once; more wait in the backlog.
pub const MAX_STORE_CONNECTIONS: usize = 128;
/// How long a new connection may take to send its first datagram.
pub const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may stay silent between requests.
pub const STORE_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long sending one answer may take.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The latest received time accepted: 9999-12-31T23:59:59Z (IMAP dates have four-digit
/// years).
pub const LATEST_RECEIVED: i64 = 253_402_300_799;

/// Why the store socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreSocketError {
    /// More than one socket was passed under the name `store`.
    #[error("{0} sockets passed under the name \"store\"; expected one")]
    TooManyPassed(usize),
    /// The passed socket is unusable, or binding failed.
    #[error("store socket {path}: {source}")]
    Socket {
        /// The path, or `(passed)`.
        path: String,
        /// What went wrong.
        source: SeqpacketError,
    },
    /// Preparing the socket's path failed.
    #[error("store socket {path}: {source}")]
    Path {
        /// The path.
        path: String,
        /// What went wrong.
        source: io::Error,
    },
}

/// The uids allowed to use the store socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreCallers {
    uids: HashSet<u32>,
}

impl StoreCallers {
    /// Exactly these uids.
    pub fn new(uids: impl IntoIterator<Item = u32>) -> StoreCallers {
        StoreCallers {
            uids: uids.into_iter().collect(),
        }
    }

    /// The users of `[imapd] store_callers`, plus, in localserve, imapd's own user
    /// (`[imapd] user`: every daemon runs as the invoking user there). A user name that
    /// does not exist is skipped with a warning (outside localserve): webd or submitd
    /// may not be installed.
    pub fn from_config(config: &Config) -> StoreCallers {
        let mut users: Vec<&postern_config::UserRef> = config.imapd.store_callers.iter().collect();
        if config.localserve {
            users.push(&config.imapd.user);
        }
        let mut uids = HashSet::new();
        for user in users {
            match user.resolve() {
                Ok(uid) => {
                    uids.insert(uid);
                }
                // localserve keeps the default names, which rarely exist there.
                Err(e) if config.localserve => {
                    tracing::debug!("[imapd] store_callers: {e}; skipped");
                }
                Err(e) => tracing::warn!("[imapd] store_callers: {e}; skipped"),
            }
        }
        StoreCallers { uids }
    }

    /// Whether `uid` may deliver.
    pub fn allows(&self, uid: u32) -> bool {
        self.uids.contains(&uid)
    }
}

/// Everything the store socket's connections share.
#[derive(Debug)]
pub struct DeliveryService {
    store: Arc<MailStore>,
    auth_socket: PathBuf,
    gate: Arc<RemovalGate>,
    callers: StoreCallers,
    connections: Arc<Semaphore>,
    next_id: AtomicU64,
}

impl DeliveryService {
    /// A service delivering into `store` for `callers`, respecting `gate`, redeeming
    /// the tickets of imports and exports with the authd at `auth_socket`.
    pub fn new(
        store: Arc<MailStore>,
        gate: Arc<RemovalGate>,
        callers: StoreCallers,
        auth_socket: PathBuf,
    ) -> Arc<DeliveryService> {
        Arc::new(DeliveryService {
            store,
            auth_socket,
            gate,
            callers,
            connections: Arc::new(Semaphore::new(MAX_STORE_CONNECTIONS)),
            next_id: AtomicU64::new(1),
        })
    }
}

impl DeliveryService {
    /// The mail store.
    pub fn store(&self) -> &Arc<MailStore> {
        &self.store
    }

    /// The gate that keeps writes away from accounts being removed.
    pub fn gate(&self) -> &Arc<RemovalGate> {
        &self.gate
    }
}

/// The listening store socket: the one passed by socket activation under
/// [`postern_ipc::store::STORE_SOCKET_FD_NAME`], or else one bound at
/// `config.store_socket()` (a stale socket file there is replaced). Needs a tokio
/// runtime.
pub fn open_store_socket(
    passed: Vec<OwnedFd>,
    config: &Config,
) -> Result<SeqpacketListener, StoreSocketError> {
    let mut passed = passed;
    if passed.len() > 1 {
        return Err(StoreSocketError::TooManyPassed(passed.len()));
    }
    if let Some(fd) = passed.pop() {
        return SeqpacketListener::from_fd(fd).map_err(|source| StoreSocketError::Socket {
            path: "(passed)".into(),
            source,
        });
    }
    let mode = if config.localserve {
        LOCALSERVE_STORE_SOCKET_MODE
    } else {
        STORE_SOCKET_MODE
    };
    bind_store_socket(&config.store_socket(), mode)
}

/// Binds a store socket at `path` with `mode`, replacing a stale socket file (but
/// nothing else, and no socket another process still listens on) there.
pub fn bind_store_socket(path: &Path, mode: u32) -> Result<SeqpacketListener, StoreSocketError> {
    let path_err = |source| StoreSocketError::Path {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(path_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if is_listening(path) {
                return Err(path_err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another process listens on it (a second imapd, or systemd's socket unit?)",
                )));
            }
            std::fs::remove_file(path).map_err(path_err)?
        }
        Ok(_) => {
            return Err(path_err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(path_err(e)),
    }
    let listener = SeqpacketListener::bind(path, STORE_SOCKET_BACKLOG).map_err(|source| {
        StoreSocketError::Socket {
            path: path.display().to_string(),
            source,
        }
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(path_err)?;
    Ok(listener)
}

/// Accepts store connections for ever, each served in its own task; at most
/// [`MAX_STORE_CONNECTIONS`] at once.
pub async fn serve_store_socket(listener: SeqpacketListener, service: Arc<DeliveryService>) {
    loop {
        let Ok(permit) = Arc::clone(&service.connections).acquire_owned().await else {
            return;
        };
        match listener.accept().await {
            Ok(conn) => {
                let id = service.next_id.fetch_add(1, Ordering::Relaxed);
                let service = Arc::clone(&service);
                let span = tracing::info_span!("store", conn = id);
                tokio::spawn(
                    async move {
                        serve_connection(conn, &service).await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
            Err(e) => {
                tracing::warn!(error = %e, "store socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Sends one answer, bounded by [`RESPONSE_TIMEOUT`]; false when it could not be sent.
async fn answer(conn: &SeqpacketConnection, response: &StoreResponse) -> bool {
    let payload = match encode_payload(response, MAX_STORE_RESPONSE) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::warn!(error = %e, "store socket: cannot encode an answer");
            return false;
        }
    };
    match tokio::time::timeout(RESPONSE_TIMEOUT, conn.send(&payload, &[])).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "store socket: cannot send an answer");
            false
        }
        Err(_) => {
            tracing::warn!("store socket: caller does not read its answers; closing");
            false
        }
    }
}

/// Answers a refusal (best effort) and ends the connection.
async fn refuse(conn: &SeqpacketConnection, refusal: StoreRefusal) {
    tracing::warn!(%refusal, "store socket: closing connection");
    answer(conn, &StoreResponse::Refused(refusal)).await;
}

async fn serve_connection(conn: SeqpacketConnection, service: &DeliveryService) {
    let peer = match conn.peer_credentials() {
        Ok(peer) => peer,
        Err(e) => {
            tracing::warn!(error = %e, "store socket: no peer credentials; closing");
            return;
        }
    };
    let uid = peer.uid;
    let may_deliver = service.callers.allows(uid);
    // root (the admin command line) may open imports and exports with a ticket: it can
    // read the store anyway, and the ticket still names the one account.
    let allowed = may_deliver || uid == 0;
    tracing::debug!(uid, pid = ?peer.pid, allowed, "store socket: connection");
    let mut greeted = false;
    let mut transfer = Transfer::None;
    loop {
        let wait = if greeted {
            STORE_IDLE_TIMEOUT
        } else {
            FIRST_REQUEST_TIMEOUT
        };
        let datagram = match tokio::time::timeout(wait, conn.recv(MAX_STORE_REQUEST)).await {
            Err(_) => {
                tracing::debug!(uid, "store socket: idle timeout; closing");
                return;
            }
            Ok(Err(SeqpacketError::Pass(FdPassError::Closed))) => return,
            Ok(Err(e)) => {
                refuse(&conn, StoreRefusal::Misuse(format!("bad datagram: {e}"))).await;
                return;
            }
            Ok(Ok(datagram)) => datagram,
        };
        let request: StoreRequest = match decode_payload(&datagram.payload, MAX_STORE_REQUEST) {
            Ok(request) => request,
            Err(e) => {
                refuse(&conn, StoreRefusal::Misuse(format!("bad request: {e}"))).await;
                return;
            }
        };
        if !allowed {
            refuse(
                &conn,
                StoreRefusal::NotPermitted(format!("uid {uid} may not use the store socket")),
            )
            .await;
            return;
        }
        let mut fds = datagram.fds;
        let carries_fd = matches!(
            request,
            StoreRequest::Deliver(_) | StoreRequest::ImportMessage(_)
        );
        if carries_fd {
            if fds.len() != 1 {
                let what = "Deliver and ImportMessage must carry exactly one fd";
                refuse(&conn, StoreRefusal::Misuse(what.into())).await;
                return;
            }
        } else if !fds.is_empty() {
            let what = "only Deliver and ImportMessage carry an fd";
            refuse(&conn, StoreRefusal::Misuse(what.into())).await;
            return;
        }
        if !greeted && !matches!(request, StoreRequest::Hello { .. }) {
            refuse(&conn, StoreRefusal::Misuse("Hello must come first".into())).await;
            return;
        }
        let response = match (request, &mut transfer) {
            (StoreRequest::Hello { version }, _) => {
                if greeted {
                    let what = "Hello must come first, once, without fds";
                    refuse(&conn, StoreRefusal::Misuse(what.into())).await;
                    return;
                }
                if version != STORE_PROTOCOL_VERSION {
                    refuse(&conn, StoreRefusal::Version(STORE_PROTOCOL_VERSION)).await;
                    return;
                }
                greeted = true;
                StoreResponse::Hello {
                    version: STORE_PROTOCOL_VERSION,
                }
            }
            (StoreRequest::Deliver(delivery), Transfer::None) if may_deliver => {
                let Some(fd) = fds.pop() else { return };
                deliver_in_thread(service, delivery, File::from(fd)).await
            }
            (StoreRequest::Deliver(_), Transfer::None) => {
                let what = format!("uid {uid} may not deliver");
                refuse(&conn, StoreRefusal::NotPermitted(what)).await;
                return;
            }
            (StoreRequest::ImportBegin { ticket }, Transfer::None) => {
                match open_transfer(service, ticket, MailPurpose::Import, uid).await {
                    Ok(account) => {
                        let name = account.name().to_string();
                        tracing::info!(account = %name, uid, "import begun");
                        transfer = Transfer::Import {
                            account,
                            plan: ImportPlan::new(),
                        };
                        StoreResponse::ImportStarted { account: name }
                    }
                    Err(response) => response,
                }
            }
            (StoreRequest::ExportBegin { ticket }, Transfer::None) => {
                match open_transfer(service, ticket, MailPurpose::Export, uid).await {
                    Ok(account) => {
                        let name = account.name().to_string();
                        tracing::info!(account = %name, uid, "export begun");
                        transfer = Transfer::Export { account };
                        StoreResponse::ExportStarted { account: name }
                    }
                    Err(response) => response,
                }
            }
            (StoreRequest::ImportMailbox { mailbox }, Transfer::Import { plan, .. }) => {
                mail_transfer::import_mailbox(plan, &mailbox)
            }
            (StoreRequest::ImportMessage(meta), Transfer::Import { account, plan }) => {
                let Some(fd) = fds.pop() else { return };
                mail_transfer::import_message(account, plan, meta, fd).await
            }
            (StoreRequest::ImportCommit, Transfer::Import { .. }) => {
                let Transfer::Import { account, plan } = std::mem::take(&mut transfer) else {
                    return;
                };
                mail_transfer::import_commit(service, account, plan).await
            }
            (StoreRequest::ImportAbort, Transfer::Import { account, plan }) => {
                tracing::info!(account = %account.name(), messages = plan.messages(), "import aborted");
                transfer = Transfer::None;
                StoreResponse::ImportAborted
            }
            (StoreRequest::ExportMailboxes { start }, Transfer::Export { account }) => {
                mail_transfer::export_mailboxes(account, start).await
            }
            (StoreRequest::ExportMessages { mailbox, after_uid }, Transfer::Export { account }) => {
                mail_transfer::export_messages(account, mailbox, after_uid).await
            }
            (StoreRequest::ExportOpen { mailbox, uid }, Transfer::Export { account }) => {
                if !mail_transfer::export_open(&conn, account, mailbox, uid).await {
                    return;
                }
                continue;
            }
            (other, _) => {
                let what = format!(
                    "{} does not fit this point of the connection",
                    request_name(&other)
                );
                refuse(&conn, StoreRefusal::Misuse(what)).await;
                return;
            }
        };
        if !answer(&conn, &response).await {
            return;
        }
    }
}

/// Redeems a ticket and opens the account it names.
async fn open_transfer(
    service: &DeliveryService,
    ticket: postern_ipc::Secret<String>,
    purpose: MailPurpose,
    uid: u32,
) -> Result<crate::store::Account, StoreResponse> {
    let account = mail_transfer::redeem_ticket(&service.auth_socket, ticket, purpose, uid).await?;
    mail_transfer::open_account(service, account).await
}

/// A request's name for logs and refusals (never its contents: a ticket is secret).
fn request_name(request: &StoreRequest) -> &'static str {
    match request {
        StoreRequest::Hello { .. } => "Hello",
        StoreRequest::Deliver(_) => "Deliver",
        StoreRequest::ImportBegin { .. } => "ImportBegin",
        StoreRequest::ImportMailbox { .. } => "ImportMailbox",
        StoreRequest::ImportMessage(_) => "ImportMessage",
        StoreRequest::ImportCommit => "ImportCommit",
        StoreRequest::ImportAbort => "ImportAbort",
        StoreRequest::ExportBegin { .. } => "ExportBegin",
        StoreRequest::ExportMailboxes { .. } => "ExportMailboxes",
        StoreRequest::ExportMessages { .. } => "ExportMessages",
        StoreRequest::ExportOpen { .. } => "ExportOpen",
    }
}

/// Runs [`deliver`] in a blocking thread and logs its outcome.
async fn deliver_in_thread(
    service: &DeliveryService,
    delivery: Delivery,
    message: File,
) -> StoreResponse {
    let store = Arc::clone(&service.store);
    let gate = Arc::clone(&service.gate);
    let account = delivery.account.clone();
    let result = tokio::task::spawn_blocking(move || deliver(&store, &gate, &delivery, message))
        .await
        .unwrap_or_else(|e| Err(temporary(format!("delivery task failed: {e}"))));
    match result {
        Ok(delivered) => {
            tracing::info!(
                %account,
                mailbox = %delivered.mailbox,
                uid = delivered.uid,
                size = delivered.size,
                "message delivered through the store socket"
            );
            StoreResponse::Delivered(delivered)
        }
        Err(failure) => {
            tracing::warn!(?account, kind = ?failure.kind, reason = ?failure.reason, "delivery through the store socket failed");
            StoreResponse::Failed(failure)
        }
    }
}

pub(crate) fn permanent(reason: impl Into<String>) -> DeliveryFailure {
    DeliveryFailure {
        kind: FailureKind::Permanent,
        reason: reason.into(),
    }
}

pub(crate) fn temporary(reason: impl Into<String>) -> DeliveryFailure {
    DeliveryFailure {
        kind: FailureKind::Temporary,
        reason: reason.into(),
    }
}

/// Whether a store error can go away by itself.
pub(crate) fn classify(error: StoreError) -> DeliveryFailure {
    match error {
        StoreError::Io { .. }
        | StoreError::Sqlite(_)
        | StoreError::Migration(_)
        | StoreError::Corrupt(_) => temporary(error.to_string()),
        StoreError::InvalidAccountName(_)
        | StoreError::InvalidMailboxName { .. }
        | StoreError::InvalidKeyword(_)
        | StoreError::NoSuchMailbox(_)
        | StoreError::MailboxExists(_)
        | StoreError::HasChildren(_)
        | StoreError::NotAllowed(_)
        | StoreError::UidsExhausted(_)
        | StoreError::AccountRemoved(_) => permanent(error.to_string()),
    }
}

pub(crate) fn store_flags(flags: &[SystemFlag]) -> Flags {
    flags.iter().fold(Flags::EMPTY, |set, flag| {
        set | match flag {
            SystemFlag::Seen => Flags::SEEN,
            SystemFlag::Answered => Flags::ANSWERED,
            SystemFlag::Flagged => Flags::FLAGGED,
            SystemFlag::Deleted => Flags::DELETED,
            SystemFlag::Draft => Flags::DRAFT,
        }
    })
}

/// Reads a file from offset 0 with positional reads (never moving the file offset the
/// caller may share), refusing to go past a limit.
pub(crate) struct BoundedFileReader {
    file: File,
    offset: u64,
    limit: u64,
    over_limit: bool,
}

impl BoundedFileReader {
    /// Reads `file` from offset 0, at most `limit` bytes.
    pub(crate) fn new(file: File, limit: u64) -> BoundedFileReader {
        BoundedFileReader {
            file,
            offset: 0,
            limit,
            over_limit: false,
        }
    }

    /// Whether the file turned out longer than the limit.
    pub(crate) fn over_limit(&self) -> bool {
        self.over_limit
    }
}

impl Read for BoundedFileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read one byte past the limit, so a longer file shows.
        let room = (self.limit + 1).saturating_sub(self.offset);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let Some(window) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.file.read_at(window, self.offset)?;
        self.offset += n as u64;
        if self.offset > self.limit {
            self.over_limit = true;
            return Err(io::Error::other("message larger than the limit"));
        }
        Ok(n)
    }
}

/// Stores one message durably and says where (blocking).
pub fn deliver(
    store: &MailStore,
    gate: &RemovalGate,
    delivery: &Delivery,
    message: File,
) -> Result<DeliveredMessage, DeliveryFailure> {
    let account_name = delivery.account.as_str();
    validate_account_name(account_name).map_err(classify)?;
    if !(0..=LATEST_RECEIVED).contains(&delivery.received) {
        return Err(permanent(format!(
            "received time {} out of range",
            delivery.received
        )));
    }
    let meta = message
        .metadata()
        .map_err(|e| permanent(format!("cannot inspect the message fd: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(permanent("the message fd is not a regular file"));
    }
    if meta.len() > MAX_DELIVERED_MESSAGE {
        return Err(permanent(format!(
            "message of {} bytes exceeds the limit of {MAX_DELIVERED_MESSAGE}",
            meta.len()
        )));
    }
    let Some(_pass) = gate.enter(account_name) else {
        return Err(permanent(format!(
            "account {account_name:?} has been removed"
        )));
    };
    let account = store.account(account_name).map_err(classify)?;
    let mailbox = account
        .mailbox(delivery.mailbox.as_deref().unwrap_or(INBOX))
        .map_err(classify)?;
    let mut reader = BoundedFileReader {
        file: message,
        offset: 0,
        limit: MAX_DELIVERED_MESSAGE,
        over_limit: false,
    };
    let staged = match account.stage(&mut reader) {
        Ok(staged) => staged,
        Err(_) if reader.over_limit => {
            return Err(permanent(format!(
                "message exceeds the limit of {MAX_DELIVERED_MESSAGE} bytes"
            )));
        }
        Err(e) => return Err(classify(e)),
    };
    if staged.size() == 0 {
        return Err(permanent("the message is empty"));
    }
    let new = NewMessage {
        flags: store_flags(&delivery.flags),
        keywords: delivery.keywords.clone(),
        received: delivery.received,
    };
    let stored = account
        .append_staged(&mailbox.name, vec![(new, staged)])
        .map_err(classify)?;
    let delivered = stored
        .first()
        .ok_or_else(|| temporary("the store reported no stored message"))?;
    Ok(DeliveredMessage {
        mailbox: mailbox.name,
        uidvalidity: delivered.uidvalidity,
        uid: delivered.uid,
        size: delivered.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    fn delivery(account: &str) -> Delivery {
        Delivery {
            account: account.into(),
            mailbox: None,
            flags: vec![SystemFlag::Seen, SystemFlag::Flagged],
            keywords: vec!["$Forwarded".into()],
            received: 1_700_000_000,
        }
    }

    fn file_with(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    #[test]
    fn a_message_lands_in_the_inbox_with_its_flags_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let gate = RemovalGate::new();
        let body = b"Subject: hi\r\n\r\nhello\r\n";
        let mut file = file_with(body);
        // The file offset is at the end: imapd must not depend on it.
        file.seek(io::SeekFrom::End(0)).unwrap();
        let done = deliver(&store, &gate, &delivery("mjl"), file).unwrap();
        assert_eq!(done.mailbox, INBOX);
        assert_eq!(done.uid, 1);
        assert_eq!(done.size, body.len() as u64);
        let account = store.account("mjl").unwrap();
        let inbox = account.mailbox(INBOX).unwrap();
        assert_eq!(inbox.uidvalidity, done.uidvalidity);
        let messages = account.messages(inbox.id, &[1..=u32::MAX]).unwrap();
        assert_eq!(messages.len(), 1);
        assert!(messages[0].flags.contains(Flags::SEEN | Flags::FLAGGED));
        assert_eq!(messages[0].keywords, ["$forwarded"]);
        assert_eq!(messages[0].received, 1_700_000_000);
        let mut stored = Vec::new();
        account
            .open_message(messages[0].id)
            .unwrap()
            .read_to_end(&mut stored)
            .unwrap();
        assert_eq!(stored, body);
    }

    #[test]
    fn bad_requests_fail_permanently() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let gate = RemovalGate::new();
        let msg = || file_with(b"Subject: x\r\n\r\nx\r\n");
        let failure = |d: &Delivery, f: File| deliver(&store, &gate, d, f).unwrap_err();

        for name in ["", "../etc", ".hidden", "a/b"] {
            let f = failure(&delivery(name), msg());
            assert_eq!(f.kind, FailureKind::Permanent, "{name:?}: {f:?}");
        }
        let mut d = delivery("mjl");
        d.mailbox = Some("Nonexistent".into());
        assert_eq!(failure(&d, msg()).kind, FailureKind::Permanent);
        let mut d = delivery("mjl");
        d.keywords = vec!["bad keyword".into()];
        assert_eq!(failure(&d, msg()).kind, FailureKind::Permanent);
        let mut d = delivery("mjl");
        d.received = -1;
        assert_eq!(failure(&d, msg()).kind, FailureKind::Permanent);
        assert_eq!(
            failure(&delivery("mjl"), file_with(b"")).kind,
            FailureKind::Permanent
        );
        // A directory is not a message file.
        let dir_fd = File::open(dir.path()).unwrap();
        assert_eq!(
            failure(&delivery("mjl"), dir_fd).kind,
            FailureKind::Permanent
        );
        // Nothing of that reached the Inbox.
        let account = store.account("mjl").unwrap();
        let inbox = account.mailbox(INBOX).unwrap();
        assert!(
            account
                .messages(inbox.id, &[1..=u32::MAX])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_message_over_the_limit_is_refused_without_reading_it_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let gate = RemovalGate::new();
        let file = tempfile::tempfile().unwrap();
        // Sparse: no disk space used.
        file.set_len(MAX_DELIVERED_MESSAGE + 1).unwrap();
        let f = deliver(&store, &gate, &delivery("mjl"), file).unwrap_err();
        assert_eq!(f.kind, FailureKind::Permanent);
        assert!(f.reason.contains("exceeds the limit"), "{f:?}");
    }

    #[test]
    fn a_file_growing_past_the_limit_while_read_is_stopped() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(100).unwrap();
        let mut reader = BoundedFileReader {
            file,
            offset: 0,
            limit: 10,
            over_limit: false,
        };
        let mut out = Vec::new();
        assert!(reader.read_to_end(&mut out).is_err());
        assert!(reader.over_limit);
        assert!(out.len() <= 11);
    }

    #[test]
    fn accounts_being_removed_get_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let gate = RemovalGate::new();
        let msg = || file_with(b"a: b\r\n\r\n");
        // What the removal does first.
        gate.begin("mjl");
        let f = deliver(&store, &gate, &delivery("mjl"), msg()).unwrap_err();
        assert_eq!(f.kind, FailureKind::Permanent);
        assert!(f.reason.contains("removed"), "{f:?}");
        assert!(!store.account_exists("mjl").unwrap());
        deliver(&store, &gate, &delivery("other"), msg()).unwrap();
        // authd has the confirmation: the name may come back.
        gate.end("mjl");
        deliver(&store, &gate, &delivery("mjl"), msg()).unwrap();
    }

    #[tokio::test]
    async fn binding_replaces_only_stale_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run").join("store.sock");
        let live = bind_store_socket(&path, 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Someone listens: not taken over.
        assert!(bind_store_socket(&path, 0o666).is_err());
        drop(live);
        // Stale: replaced, with the new mode.
        let _again = bind_store_socket(&path, 0o666).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        // Not a socket: left alone.
        let file = dir.path().join("file");
        std::fs::write(&file, b"keep").unwrap();
        assert!(bind_store_socket(&file, 0o666).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    }

    #[test]
    fn store_callers_from_config() {
        let mut config = Config::new("h", Path::new("/d"), Path::new("/r"));
        config.imapd.store_callers = vec![
            postern_config::UserRef::Uid(4242),
            postern_config::UserRef::Name("no-such-user-postern-test".into()),
        ];
        config.imapd.user = postern_config::UserRef::Uid(4343);
        let callers = StoreCallers::from_config(&config);
        assert!(callers.allows(4242));
        assert!(!callers.allows(4343));
        // In localserve imapd's own user delivers for the other daemons.
        config.localserve = true;
        let callers = StoreCallers::from_config(&config);
        assert!(callers.allows(4242));
        assert!(callers.allows(4343));
    }
}
