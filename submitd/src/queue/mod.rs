//! submitd's durable outbound queue: what the SMTP session hands over after DATA, kept
//! on disk until every recipient got it (locally through imapd's store socket, or
//! remotely through a transport), or until it bounced with a DSN to the sender.
//!
//! The queue lives under `<data_dir>/submitd/queue` (see [`store`] for the layout and
//! the crash discipline). [`Queue::submit`] returns only once the message file and its
//! index rows are durable (DESIGN.md invariant 7): then the session may answer `250`.
//! [`Queue::start`] runs the delivery worker ([`worker`]) in the current tokio runtime.

pub mod dsn;
pub mod localserve;
pub mod schedule;
pub mod store;
pub mod worker;

use std::sync::Arc;

use tokio::sync::Notify;

pub use store::{QueueId, QueueStore};

/// The envelope of a submitted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The authenticated account that submitted the message.
    pub account: String,
    /// The reverse path (MAIL FROM); empty for `<>`.
    pub mail_from: String,
    /// The forward paths (RCPT TO), in the order given.
    pub recipients: Vec<String>,
    /// Whether the client asked for SMTPUTF8.
    pub smtputf8: bool,
    /// When the message was received, unix seconds.
    pub received: i64,
}

/// Why a submission was not accepted; the session maps it to a 4xx or 5xx reply.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Trying again later may work (disk full, I/O error): answer 4xx.
    #[error("temporary queue failure: {0}")]
    Temporary(String),
    /// The same submission will never be accepted: answer 5xx.
    #[error("message refused by the queue: {0}")]
    Permanent(String),
}

/// Why the queue could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's files or index failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The delivery settings are unusable (unknown transport, unreadable DKIM key, …).
    #[error("delivery settings: {0}")]
    Config(String),
}

/// The outbound queue: a cheap handle, clone it freely.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<QueueInner>,
}

struct QueueInner {
    store: Arc<QueueStore>,
    wake: Arc<Notify>,
    delivery: Arc<worker::DeliverySetup>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("dir", &self.inner.store.dir())
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Opens (creating when missing) the queue under `config.submitd_dir()/queue`,
    /// runs the start-up repair (leftover temp files, message files without index
    /// rows, rows without files) and loads the delivery settings (transports, routes,
    /// DKIM keys). Blocks on file-system work: call it before serving, or from a
    /// blocking context.
    pub fn open(config: &postern_config::Config) -> Result<Queue, QueueError> {
        let store = QueueStore::open(&config.submitd_dir().join("queue"))?;
        let delivery = worker::DeliverySetup::load(config).map_err(QueueError::Config)?;
        Ok(Queue {
            inner: Arc::new(QueueInner {
                store: Arc::new(store),
                wake: Arc::new(Notify::new()),
                delivery: Arc::new(delivery),
            }),
        })
    }

    /// Starts the delivery worker in the current tokio runtime. It runs until the
    /// runtime shuts down; a queue that is never started only accepts messages.
    pub fn start(&self) {
        let worker = worker::Worker::new(
            self.inner.store.clone(),
            self.inner.delivery.clone(),
            self.inner.wake.clone(),
        );
        tokio::spawn(worker.run());
    }

    /// Queues `message` (the final bytes, read from offset 0 to its end) for
    /// `envelope`'s recipients. Returns once the message file and its index rows are
    /// durable (file fsync, directory fsync, committed transaction); then the session
    /// answers `250`.
    pub async fn submit(
        &self,
        envelope: Envelope,
        message: std::fs::File,
    ) -> Result<QueueId, SubmitError> {
        if envelope.recipients.is_empty() {
            return Err(SubmitError::Permanent("no recipients".into()));
        }
        let store = self.inner.store.clone();
        let account = envelope.account.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut message = message;
            store.add(&envelope, &mut message, store::MessageKind::Submitted)
        })
        .await
        .map_err(|e| SubmitError::Temporary(format!("queue task failed: {e}")))?;
        match result {
            Ok(id) => {
                tracing::info!(%account, queue_id = %id, "message queued");
                self.inner.wake.notify_one();
                Ok(id)
            }
            Err(e) => {
                tracing::error!(%account, error = %e, "queueing failed");
                Err(SubmitError::Temporary(e.to_string()))
            }
        }
    }

    /// The queue's store, for inspection (tests, admin tools).
    pub fn store(&self) -> &QueueStore {
        &self.inner.store
    }
}
