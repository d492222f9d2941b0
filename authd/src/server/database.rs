//! The one thread that owns the SQLite connection. Async code sends it closures; login
//! attempts arrive on the same queue and are written in batches, one transaction each.

use std::thread;

use postern_ipc::LoginAttempt;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, StoreError};

/// Jobs waiting for the database thread, at most.
pub const QUEUE_LENGTH: usize = 10_000;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

enum Message {
    Call(Job),
    Attempt(Box<LoginAttempt>),
}

/// Why a database call did not run.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The database thread has stopped.
    #[error("the database thread has stopped")]
    Stopped,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A handle to the database thread.
#[derive(Clone)]
pub struct Database {
    queue: mpsc::Sender<Message>,
}

fn write_batch(store: &mut Store, batch: &mut Vec<LoginAttempt>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = store.record_login_attempts(batch) {
        tracing::error!(error = %e, attempts = batch.len(), "cannot record login attempts");
    }
    batch.clear();
}

impl Database {
    /// Starts the thread owning `store`. It ends when every handle is dropped, after
    /// writing what is queued.
    pub fn start(mut store: Store) -> (Database, thread::JoinHandle<()>) {
        let (queue, mut receiver) = mpsc::channel::<Message>(QUEUE_LENGTH);
        let handle = thread::Builder::new()
            .name("authd-database".into())
            .spawn(move || {
                let mut batch = Vec::new();
                while let Some(message) = receiver.blocking_recv() {
                    let mut next = Some(message);
                    while let Some(message) = next.take() {
                        match message {
                            Message::Attempt(attempt) => batch.push(*attempt),
                            Message::Call(job) => {
                                // Attempts first, so that a query sees them.
                                write_batch(&mut store, &mut batch);
                                job(&mut store);
                            }
                        }
                        next = receiver.try_recv().ok();
                    }
                    write_batch(&mut store, &mut batch);
                }
            })
            .expect("cannot start the database thread");
        (Database { queue }, handle)
    }

    /// Runs `f` on the database thread and returns its result.
    pub async fn call<R, F>(&self, f: F) -> Result<R, DatabaseError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> Result<R, StoreError> + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.queue
            .send(Message::Call(job))
            .await
            .map_err(|_| DatabaseError::Stopped)?;
        Ok(result.await.map_err(|_| DatabaseError::Stopped)??)
    }

    /// Queues a login attempt for the next batch; waits only when the queue is full.
    pub async fn record(&self, attempt: LoginAttempt) {
        if self
            .queue
            .send(Message::Attempt(Box::new(attempt)))
            .await
            .is_err()
        {
            tracing::error!("login attempt lost: the database thread has stopped");
        }
    }
}
