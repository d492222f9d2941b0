//! The session's only way into the mail store: a [`MailAccess`] opens an account for an
//! [`Authenticated`] identity and nothing else, so code that runs before login holds no
//! usable store handle (DESIGN.md, "Known costs"). Store calls block (fsync), so they
//! run on tokio's blocking threads through [`blocking`].

use std::sync::Arc;

use super::Authenticated;
use crate::store::{Account, MailStore, StoreError};

/// Why a store call made from a session failed.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task did not finish (it panicked or the runtime is shutting down).
    #[error("store task failed: {0}")]
    Task(String),
}

/// A gated handle to the mail store: the only method gives an account for an
/// authenticated identity.
#[derive(Clone)]
pub struct MailAccess {
    store: Arc<MailStore>,
}

impl std::fmt::Debug for MailAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailAccess").finish_non_exhaustive()
    }
}

impl MailAccess {
    /// Gates `store` (the process's one [`MailStore`], opened at `Config::imapd_dir()`).
    pub fn new(store: Arc<MailStore>) -> MailAccess {
        MailAccess { store }
    }

    /// The account of `user`, created with its default mailboxes on first use.
    pub async fn open(&self, user: &Authenticated) -> Result<Account, MailError> {
        let store = Arc::clone(&self.store);
        let name = user.account().to_owned();
        blocking(move || store.account(&name)).await
    }
}

/// Runs a blocking store call on tokio's blocking threads.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, MailError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(res) => res.map_err(MailError::Store),
        Err(e) => Err(MailError::Task(e.to_string())),
    }
}
