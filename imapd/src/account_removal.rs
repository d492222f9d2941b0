//! Removing the mail of accounts authd has removed.
//!
//! authd keeps a removed account's name reserved as a pending removal until the mail
//! store confirms the data is gone (mox §6). imapd asks for the pending removals at
//! start and every [`ACCOUNT_REMOVAL_INTERVAL`], removes each account's data with
//! [`MailStore::remove_account`] (crash-safe: an interrupted removal completes when
//! the store is next opened) and then confirms it to authd, which frees the name.
//!
//! While an account's removal runs, and until authd has the confirmation, the
//! [`RemovalGate`] keeps deliveries through the store socket away from it, so a late
//! delivery cannot create the account's directory again behind the removal.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::client::{AuthConnection, ClientError};

use crate::session::AUTHD_TIMEOUT;
use crate::store::{MailStore, StoreError, validate_account_name};

/// How often imapd asks authd for accounts whose data waits to be removed.
pub const ACCOUNT_REMOVAL_INTERVAL: Duration = Duration::from_secs(60);

/// Why a round of removals could not ask authd.
#[derive(Debug, thiserror::Error)]
pub enum RemovalError {
    /// authd could not be reached or broke the connection.
    #[error("authd: {0}")]
    Authd(#[from] ClientError),
    /// authd did not answer in time.
    #[error("authd did not answer within {0:?}")]
    Timeout(Duration),
    /// authd refused or answered something else.
    #[error("authd answered {0}")]
    Unexpected(String),
}

/// Which accounts are being removed, and the lock that keeps deliveries and removals
/// apart: a delivery holds [`RemovalGate::enter`]'s guard while it opens the account
/// and stores the message; a removal first marks the account (waiting for deliveries
/// in progress), after which every new delivery to it is refused.
#[derive(Debug, Default)]
pub struct RemovalGate {
    removing: RwLock<HashSet<String>>,
}

/// Held by a delivery while it writes to an account; blocks the start of any removal.
#[derive(Debug)]
pub struct DeliveryPass<'a> {
    _guard: RwLockReadGuard<'a, HashSet<String>>,
}

impl RemovalGate {
    /// A gate with no account being removed.
    pub fn new() -> RemovalGate {
        RemovalGate::default()
    }

    /// Lets a delivery to `account` proceed while the returned pass lives; `None`
    /// when the account is being removed.
    pub fn enter(&self, account: &str) -> Option<DeliveryPass<'_>> {
        let guard = self.removing.read().unwrap_or_else(|p| p.into_inner());
        (!guard.contains(account)).then_some(DeliveryPass { _guard: guard })
    }

    /// Whether `account` is being removed.
    pub fn is_removing(&self, account: &str) -> bool {
        self.removing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(account)
    }

    /// Marks `account` as being removed, once no delivery is in progress (blocks).
    pub(crate) fn begin(&self, account: &str) {
        self.removing
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account.to_string());
    }

    /// authd has the confirmation: the name may be used again.
    pub(crate) fn end(&self, account: &str) {
        self.removing
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }
}

/// Asks authd for pending account removals, removes each account's data and confirms
/// it to authd. Returns the accounts confirmed. An account whose data cannot be
/// removed is logged and left pending (tried again next round); the others go on.
pub async fn remove_pending_accounts(
    auth_socket: &Path,
    store: &Arc<MailStore>,
    gate: &Arc<RemovalGate>,
) -> Result<Vec<String>, RemovalError> {
    let mut authd = tokio::time::timeout(AUTHD_TIMEOUT, AuthConnection::connect(auth_socket))
        .await
        .map_err(|_| RemovalError::Timeout(AUTHD_TIMEOUT))??;
    let pending = match call(&mut authd, AuthRequest::PendingAccountRemovals).await? {
        AuthResponse::PendingRemovals(names) => names,
        other => return Err(RemovalError::Unexpected(format!("{other:?}"))),
    };
    let mut confirmed = Vec::new();
    for account in pending {
        if let Err(e) = remove_account_data(store, gate, &account).await {
            tracing::warn!(%account, error = %e, "cannot remove the data of a removed account; trying again later");
            continue;
        }
        let confirm = AuthRequest::AccountDataRemoved {
            account: account.clone(),
        };
        match call(&mut authd, confirm).await? {
            AuthResponse::Done => {
                gate.end(&account);
                tracing::info!(%account, "removed account's mail deleted and confirmed to authd");
                confirmed.push(account);
            }
            other => return Err(RemovalError::Unexpected(format!("{other:?}"))),
        }
    }
    Ok(confirmed)
}

async fn call(
    authd: &mut AuthConnection,
    request: AuthRequest,
) -> Result<AuthResponse, RemovalError> {
    tokio::time::timeout(AUTHD_TIMEOUT, authd.call(request))
        .await
        .map_err(|_| RemovalError::Timeout(AUTHD_TIMEOUT))?
        .map_err(RemovalError::from)
}

/// Marks the account as being removed and deletes its data (in a blocking thread).
async fn remove_account_data(
    store: &Arc<MailStore>,
    gate: &Arc<RemovalGate>,
    account: &str,
) -> Result<(), StoreError> {
    if validate_account_name(account).is_err() {
        // No directory of the store can have this name: nothing to delete.
        tracing::info!(%account, "removed account's name cannot name store data; nothing to delete");
        return Ok(());
    }
    let (store, gate, name) = (Arc::clone(store), Arc::clone(gate), account.to_string());
    tokio::task::spawn_blocking(move || {
        gate.begin(&name);
        store.remove_account(&name)
    })
    .await
    .unwrap_or_else(|e| {
        Err(StoreError::Io {
            path: PathBuf::from(account),
            source: std::io::Error::other(format!("removal task failed: {e}")),
        })
    })
}

/// Runs [`remove_pending_accounts`] now and then every `interval`, for ever; failures
/// are logged and retried at the next round.
pub async fn run_account_removals(
    auth_socket: PathBuf,
    store: Arc<MailStore>,
    gate: Arc<RemovalGate>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match remove_pending_accounts(&auth_socket, &store, &gate).await {
            Ok(done) if !done.is_empty() => {
                tracing::info!(accounts = ?done, "account removals finished");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot process pending account removals"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_accounts_being_removed_only() {
        let gate = RemovalGate::new();
        assert!(gate.enter("mjl").is_some());
        gate.begin("mjl");
        assert!(gate.enter("mjl").is_none());
        assert!(gate.is_removing("mjl"));
        assert!(gate.enter("other").is_some());
        gate.end("mjl");
        assert!(gate.enter("mjl").is_some());
    }

    #[test]
    fn a_removal_waits_for_a_delivery_in_progress() {
        let gate = Arc::new(RemovalGate::new());
        let pass = gate.enter("mjl").unwrap();
        let remover = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.begin("mjl"))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!remover.is_finished(), "removal started during a delivery");
        drop(pass);
        remover.join().unwrap();
        assert!(gate.is_removing("mjl"));
    }
}
