//! The delivery worker: picks queued recipients that are due, delivers each locally
//! (through imapd's store socket, when authd knows the address) or remotely (through
//! the transport the routes choose, DKIM-signed), and records the outcome: delivered
//! recipients leave the queue, temporary failures are retried later, permanent
//! failures and expired retries bounce with a DSN into the sender's Inbox.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::client::AuthConnection;
use postern_ipc::store::Delivery;
use postern_ipc::store_client::{DEFAULT_STORE_TIMEOUT, StoreClient};
use tokio::sync::{Notify, Semaphore};

use super::dsn::{self, DsnInput};
use super::localserve::{ProvokedFailure, provoked_failure};
use super::schedule::RetrySchedule;
use super::store::{
    FailedRecipient, MessageKind, QueueId, QueueStore, QueuedMessage, QueuedRecipient, unix_now,
};
use crate::dkim::{DkimSigners, signing_domain};
use crate::transport::{Outgoing, RecipientOutcome, Transports};

/// The longest the worker sleeps without looking at the queue.
const MAX_IDLE: Duration = Duration::from_secs(600);

/// Everything delivery needs, prepared at start from the config.
pub struct DeliverySetup {
    transports: Transports,
    dkim: DkimSigners,
    schedule: RetrySchedule,
    localserve: bool,
    hostname: String,
    max_concurrent: usize,
    command_timeout: Duration,
    auth_socket: PathBuf,
    store_socket: PathBuf,
}

impl std::fmt::Debug for DeliverySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliverySetup")
            .field("transports", &self.transports)
            .field("dkim", &self.dkim)
            .field("localserve", &self.localserve)
            .finish_non_exhaustive()
    }
}

impl DeliverySetup {
    /// Checks `[submitd.delivery]`, reads password and DKIM key files and prepares TLS.
    pub fn load(config: &postern_config::Config) -> Result<DeliverySetup, String> {
        let delivery = &config.submitd.delivery;
        let transports = Transports::load(delivery, &config.hostname)?;
        let dkim = DkimSigners::load(&delivery.dkim, &config.submitd_dir())?;
        Ok(DeliverySetup {
            transports,
            dkim,
            schedule: RetrySchedule::from_config(delivery),
            localserve: config.localserve,
            hostname: config.hostname.clone(),
            max_concurrent: delivery.max_concurrent_deliveries.max(1),
            command_timeout: Duration::from_secs(delivery.command_timeout_seconds.max(1)),
            auth_socket: config.auth_socket(),
            store_socket: config.store_socket(),
        })
    }
}

/// The delivery loop of one queue.
pub struct Worker {
    store: Arc<QueueStore>,
    setup: Arc<DeliverySetup>,
    wake: Arc<Notify>,
    busy: Arc<Mutex<HashSet<QueueId>>>,
    permits: Arc<Semaphore>,
}

impl Worker {
    /// A worker for `store`; `wake` is notified when a message was queued.
    pub fn new(store: Arc<QueueStore>, setup: Arc<DeliverySetup>, wake: Arc<Notify>) -> Worker {
        let permits = Arc::new(Semaphore::new(setup.max_concurrent));
        Worker {
            store,
            setup,
            wake,
            busy: Arc::new(Mutex::new(HashSet::new())),
            permits,
        }
    }

    fn busy(&self) -> std::sync::MutexGuard<'_, HashSet<QueueId>> {
        self.busy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs until the runtime shuts down: delivers what is due, then sleeps until the
    /// next recipient is due, a message is queued or a delivery finished.
    pub async fn run(self) {
        match self.blocking(|store| store.pending_recipients()).await {
            Ok(n) if n > 0 => tracing::info!(recipients = n, "queue has pending deliveries"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reading the queue"),
        }
        loop {
            let now = unix_now();
            let free = self.permits.available_permits();
            let busy = self.busy().clone();
            let due = if free > 0 {
                self.blocking(move |store| store.due_messages(now, free, &busy))
                    .await
            } else {
                Ok(Vec::new())
            };
            let due = match due {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "reading the queue; trying again soon");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            for id in due {
                let Ok(permit) = self.permits.clone().acquire_owned().await else {
                    return;
                };
                self.busy().insert(id);
                let store = self.store.clone();
                let setup = self.setup.clone();
                let busy = self.busy.clone();
                let wake = self.wake.clone();
                tokio::spawn(async move {
                    let queued_dsn = deliver_message(&store, &setup, id).await;
                    busy.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                    drop(permit);
                    if queued_dsn {
                        tracing::debug!(queue_id = %id, "DSN queued");
                    }
                    wake.notify_one();
                });
            }
            let wait = match self.blocking(|store| store.next_due()).await {
                Ok(Some(next)) => {
                    let secs = u64::try_from(next.saturating_sub(unix_now())).unwrap_or(0);
                    Duration::from_secs(secs.max(1)).min(MAX_IDLE)
                }
                Ok(None) => MAX_IDLE,
                Err(_) => Duration::from_secs(5),
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&QueueStore) -> Result<T, super::store::StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("queue task failed: {e}")),
        }
    }
}

async fn blocking<T: Send + 'static>(
    store: &Arc<QueueStore>,
    f: impl FnOnce(&QueueStore) -> Result<T, super::store::StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("queue task failed: {e}")),
    }
}

/// Where one recipient goes in this attempt.
#[derive(Debug)]
enum Destination {
    /// Into this local account's Inbox.
    Local(String),
    /// To a remote server.
    Remote,
    /// Decided already (localserve's provoked failures, authd unreachable).
    Outcome(RecipientOutcome),
}

/// One attempt for the due recipients of message `id`. Returns whether a DSN was
/// queued.
async fn deliver_message(store: &Arc<QueueStore>, setup: &DeliverySetup, id: QueueId) -> bool {
    let message = match blocking(store, move |s| s.load(id)).await {
        Ok(Some(m)) => m,
        Ok(None) => return false,
        Err(e) => {
            tracing::error!(queue_id = %id, error = %e, "loading queued message");
            return false;
        }
    };
    let now = unix_now();
    let due: Vec<QueuedRecipient> = message
        .recipients
        .iter()
        .filter(|r| r.next_attempt <= now)
        .cloned()
        .collect();
    if due.is_empty() {
        return false;
    }
    let file = match blocking(store, move |s| s.open_message(id)).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(queue_id = %id, error = %e, "opening queued message");
            return false;
        }
    };

    let destinations = classify(setup, &message, &due).await;
    let mut outcomes: BTreeMap<i64, RecipientOutcome> = BTreeMap::new();

    // Local recipients: once per account.
    let mut local_accounts: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut remote: Vec<&QueuedRecipient> = Vec::new();
    for (rcpt, destination) in due.iter().zip(destinations) {
        match destination {
            Destination::Local(account) => local_accounts.entry(account).or_default().push(rcpt.id),
            Destination::Remote => remote.push(rcpt),
            Destination::Outcome(outcome) => {
                outcomes.insert(rcpt.id, outcome);
            }
        }
    }
    if !local_accounts.is_empty() {
        deliver_local(setup, &message, &file, &local_accounts, &mut outcomes).await;
    }
    if !remote.is_empty() {
        deliver_remote(setup, &message, file, &remote, &mut outcomes).await;
    }
    record(store, setup, &message, &due, outcomes).await
}

async fn classify(
    setup: &DeliverySetup,
    message: &QueuedMessage,
    due: &[QueuedRecipient],
) -> Vec<Destination> {
    let mut auth: Option<AuthConnection> = None;
    let mut out = Vec::with_capacity(due.len());
    for rcpt in due {
        if let Some(account) = &rcpt.local_account {
            out.push(Destination::Local(account.clone()));
            continue;
        }
        if setup.localserve {
            out.push(match provoked_failure(&rcpt.address) {
                None => Destination::Local(message.account.clone()),
                Some(ProvokedFailure::Temporary) => Destination::Outcome(RecipientOutcome::Temporary {
                    error: "451 4.0.0 localserve: temporary error requested by the recipient's localpart".into(),
                }),
                Some(ProvokedFailure::Permanent) => Destination::Outcome(RecipientOutcome::Permanent {
                    code: 550,
                    status: "5.0.0".into(),
                    diagnostic: "550 5.0.0 localserve: permanent error requested by the recipient's localpart".into(),
                    remote: None,
                }),
                Some(ProvokedFailure::Timeout) => {
                    tokio::time::sleep(setup.command_timeout).await;
                    Destination::Outcome(RecipientOutcome::Temporary {
                        error: "localserve: timeout requested by the recipient's localpart".into(),
                    })
                }
            });
            continue;
        }
        out.push(
            match resolve(&setup.auth_socket, &mut auth, &rcpt.address).await {
                Ok(Some(account)) => Destination::Local(account),
                Ok(None) => Destination::Remote,
                Err(e) => {
                    tracing::warn!(error = %e, "authd unavailable for address lookup");
                    Destination::Outcome(RecipientOutcome::Temporary {
                        error: format!("cannot look the address up: {e}"),
                    })
                }
            },
        );
    }
    out
}

/// The local account owning `address`, asking authd (one connection per message).
async fn resolve(
    socket: &std::path::Path,
    conn: &mut Option<AuthConnection>,
    address: &str,
) -> Result<Option<String>, String> {
    if conn.is_none() {
        *conn = Some(
            AuthConnection::connect(socket)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let Some(connection) = conn.as_mut() else {
        return Err("no connection".into());
    };
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        connection.call(AuthRequest::ResolveAddress {
            address: address.to_string(),
        }),
    )
    .await;
    match answer {
        Ok(Ok(AuthResponse::Address(owner))) => Ok(owner.map(|o| o.account)),
        Ok(Ok(other)) => {
            *conn = None;
            Err(format!("authd answered {other:?}"))
        }
        Ok(Err(e)) => {
            *conn = None;
            Err(e.to_string())
        }
        Err(_) => {
            *conn = None;
            Err("authd did not answer in time".into())
        }
    }
}

async fn deliver_local(
    setup: &DeliverySetup,
    message: &QueuedMessage,
    file: &std::fs::File,
    accounts: &BTreeMap<String, Vec<i64>>,
    outcomes: &mut BTreeMap<i64, RecipientOutcome>,
) {
    let mut client: Option<StoreClient> = None;
    for (account, recipients) in accounts {
        if client.is_none() {
            match StoreClient::connect(&setup.store_socket, DEFAULT_STORE_TIMEOUT).await {
                Ok(c) => client = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "imapd's store socket unavailable");
                    for id in recipients {
                        outcomes.insert(
                            *id,
                            RecipientOutcome::Temporary {
                                error: format!("local delivery: {e}"),
                            },
                        );
                    }
                    continue;
                }
            }
        }
        let Some(store) = client.as_mut() else {
            continue;
        };
        let delivery = Delivery {
            account: account.clone(),
            mailbox: None,
            flags: Vec::new(),
            keywords: Vec::new(),
            received: message.received,
        };
        let outcome = match store.deliver(file, &delivery, DEFAULT_STORE_TIMEOUT).await {
            Ok(delivered) => {
                tracing::info!(
                    queue_id = %message.id,
                    %account,
                    mailbox = ?delivered.mailbox,
                    uid = delivered.uid,
                    "delivered locally"
                );
                RecipientOutcome::Delivered {
                    remote: "local".into(),
                }
            }
            Err(e) if e.is_permanent() => RecipientOutcome::Permanent {
                code: 550,
                status: "5.2.0".into(),
                diagnostic: format!("550 5.2.0 local delivery failed: {e}"),
                remote: None,
            },
            Err(e) => {
                if !matches!(e, postern_ipc::store_client::StoreClientError::Failed(_)) {
                    client = None;
                }
                RecipientOutcome::Temporary {
                    error: format!("local delivery: {e}"),
                }
            }
        };
        for id in recipients {
            outcomes.insert(*id, outcome.clone());
        }
    }
}

async fn deliver_remote(
    setup: &DeliverySetup,
    message: &QueuedMessage,
    file: std::fs::File,
    recipients: &[&QueuedRecipient],
    outcomes: &mut BTreeMap<i64, RecipientOutcome>,
) {
    let fail_all = |outcomes: &mut BTreeMap<i64, RecipientOutcome>, error: String| {
        for r in recipients {
            outcomes.insert(
                r.id,
                RecipientOutcome::Temporary {
                    error: error.clone(),
                },
            );
        }
    };
    let size = message.size;
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 27));
        let mut file = file;
        file.read_to_end(&mut bytes).map(|_| bytes)
    })
    .await;
    let original = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return fail_all(outcomes, format!("reading queued message: {e}")),
        Err(e) => return fail_all(outcomes, format!("reading queued message: {e}")),
    };
    let dkim_headers = match signing_domain(&original, &message.mail_from) {
        Some(domain) if setup.dkim.has_domain(&domain) => setup.dkim.sign(&domain, &original),
        _ => Vec::new(),
    };
    let from_domain = message
        .mail_from
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();

    // Batches: recipients of one domain with the same attempt count share a transport
    // and a transaction.
    let mut batches: BTreeMap<(String, u32), Vec<&QueuedRecipient>> = BTreeMap::new();
    for r in recipients {
        let domain = r
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        batches.entry((domain, r.attempts)).or_default().push(r);
    }
    for ((domain, attempts), batch) in batches {
        if domain.is_empty() {
            for r in batch {
                outcomes.insert(
                    r.id,
                    RecipientOutcome::Permanent {
                        code: 550,
                        status: "5.1.3".into(),
                        diagnostic: format!("550 5.1.3 {} is not a valid address", r.address),
                        remote: None,
                    },
                );
            }
            continue;
        }
        let transport = setup
            .transports
            .choose(&message.account, &from_domain, &domain, attempts);
        let addresses: Vec<String> = batch.iter().map(|r| r.address.clone()).collect();
        let outgoing = Outgoing {
            mail_from: &message.mail_from,
            smtputf8: message.smtputf8,
            recipients: &addresses,
            domain: &domain,
            dkim_headers: &dkim_headers,
            message: &original,
        };
        let results = setup.transports.deliver(transport, &outgoing).await;
        for (r, outcome) in batch.iter().zip(results) {
            match &outcome {
                RecipientOutcome::Delivered { remote } => tracing::info!(
                    queue_id = %message.id,
                    recipient = ?r.address,
                    transport = transport.unwrap_or("direct"),
                    ?remote,
                    "delivered"
                ),
                RecipientOutcome::Temporary { error } => tracing::info!(
                    queue_id = %message.id,
                    recipient = ?r.address,
                    transport = transport.unwrap_or("direct"),
                    ?error,
                    "delivery failed temporarily"
                ),
                RecipientOutcome::Permanent { diagnostic, .. } => tracing::info!(
                    queue_id = %message.id,
                    recipient = ?r.address,
                    transport = transport.unwrap_or("direct"),
                    ?diagnostic,
                    "delivery failed permanently"
                ),
            }
            outcomes.insert(r.id, outcome);
        }
    }
}

/// Writes the attempt's outcomes to the queue; bounces what failed for good. Returns
/// whether a DSN was queued.
async fn record(
    store: &Arc<QueueStore>,
    setup: &DeliverySetup,
    message: &QueuedMessage,
    due: &[QueuedRecipient],
    outcomes: BTreeMap<i64, RecipientOutcome>,
) -> bool {
    let now = unix_now();
    let mut delivered = Vec::new();
    let mut retries = Vec::new();
    let mut failed = Vec::new();
    for rcpt in due {
        let Some(outcome) = outcomes.get(&rcpt.id) else {
            continue;
        };
        match outcome {
            RecipientOutcome::Delivered { .. } => delivered.push(rcpt.id),
            RecipientOutcome::Temporary { error } => {
                let attempts = rcpt.attempts.saturating_add(1);
                if setup.schedule.expired(message.received, now) {
                    failed.push(FailedRecipient {
                        id: rcpt.id,
                        address: rcpt.address.clone(),
                        code: 450,
                        status: "4.4.7".into(),
                        diagnostic: format!(
                            "gave up after {attempts} attempts; last error: {error}"
                        ),
                        remote_mta: None,
                    });
                } else {
                    let seed = u64::try_from(rcpt.id)
                        .unwrap_or(0)
                        .wrapping_mul(2_654_435_761);
                    let wait = setup.schedule.interval(attempts, seed);
                    let next = now.saturating_add(i64::try_from(wait).unwrap_or(i64::MAX));
                    retries.push((rcpt.id, attempts, next, error.clone()));
                }
            }
            RecipientOutcome::Permanent {
                code,
                status,
                diagnostic,
                remote,
            } => failed.push(FailedRecipient {
                id: rcpt.id,
                address: rcpt.address.clone(),
                code: *code,
                status: status.clone(),
                diagnostic: diagnostic.clone(),
                remote_mta: remote.clone(),
            }),
        }
    }
    let id = message.id;
    let result = blocking(store, move |s| {
        s.delivered(&delivered)?;
        for (rcpt, attempts, next, error) in &retries {
            s.retry_later(*rcpt, *attempts, now, *next, error)?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::error!(queue_id = %id, error = %e, "recording delivery results");
    }
    let mut queued_dsn = false;
    if !failed.is_empty() {
        queued_dsn = bounce(store, setup, message, failed, now).await;
    }
    if let Err(e) = blocking(store, move |s| s.finish_if_done(id)).await {
        tracing::error!(queue_id = %id, error = %e, "removing finished message");
    }
    queued_dsn
}

async fn bounce(
    store: &Arc<QueueStore>,
    setup: &DeliverySetup,
    message: &QueuedMessage,
    failed: Vec<FailedRecipient>,
    now: i64,
) -> bool {
    let ids: Vec<i64> = failed.iter().map(|f| f.id).collect();
    if message.kind == MessageKind::Dsn || message.mail_from.is_empty() {
        tracing::warn!(
            queue_id = %message.id,
            recipients = ?failed.iter().map(|f| &f.address).collect::<Vec<_>>(),
            "undeliverable message without a bounce address dropped"
        );
        if let Err(e) = blocking(store, move |s| s.drop_recipients(&ids)).await {
            tracing::error!(queue_id = %message.id, error = %e, "dropping failed recipients");
        }
        return false;
    }
    let id = message.id;
    let original = match blocking(store, move |s| {
        let mut f = s.open_message(id)?;
        let mut head = Vec::new();
        (&mut f)
            .take(64 * 1024)
            .read_to_end(&mut head)
            .map_err(|source| super::store::StoreError::Io {
                path: PathBuf::from(id.to_string()),
                source,
            })?;
        Ok(head)
    })
    .await
    {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(queue_id = %id, error = %e, "reading message for its DSN");
            Vec::new()
        }
    };
    let dsn = dsn::build(&DsnInput {
        hostname: &setup.hostname,
        sender: &message.mail_from,
        arrival: message.received,
        now,
        failed: &failed,
        original: &original,
    });
    let account = message.account.clone();
    let sender = message.mail_from.clone();
    match blocking(store, move |s| {
        s.add_dsn(&account, &sender, &dsn, now, &ids)
    })
    .await
    {
        Ok(dsn_id) => {
            tracing::info!(
                queue_id = %message.id,
                dsn_queue_id = %dsn_id,
                recipients = failed.len(),
                "bounced; DSN queued for the sender"
            );
            true
        }
        Err(e) => {
            tracing::error!(queue_id = %message.id, error = %e, "queueing DSN; will retry");
            let retries: Vec<(i64, u32)> = failed
                .iter()
                .map(|f| {
                    let attempts = message
                        .recipients
                        .iter()
                        .find(|r| r.id == f.id)
                        .map_or(0, |r| r.attempts.saturating_add(1));
                    (f.id, attempts)
                })
                .collect();
            let retry = blocking(store, move |s| {
                for (rcpt, attempts) in &retries {
                    s.retry_later(
                        *rcpt,
                        *attempts,
                        now,
                        now + 60,
                        "bounce pending: queueing the DSN failed",
                    )?;
                }
                Ok(())
            })
            .await;
            if let Err(e) = retry {
                tracing::error!(queue_id = %message.id, error = %e, "recording the failed bounce");
            }
            false
        }
    }
}
