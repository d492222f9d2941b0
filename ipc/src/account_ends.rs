//! The protocol daemons' side of [`AuthRequest::WatchAccountEnds`]: one task per daemon
//! keeps a subscription with authd and passes each [`AccountEnd`] to the daemon's
//! sessions over a broadcast channel, so that a removed or disabled account's open
//! sessions end.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::auth::{AccountEnd, AuthRequest, AuthResponse};
use crate::client::{AuthConnection, ClientError};

/// Account ends buffered per session before it misses some (it then checks nothing
/// older; removals and disables are rare).
pub const ACCOUNT_END_CAPACITY: usize = 256;
/// The first wait before subscribing again after authd went away; it doubles up to
/// [`MAX_RESUBSCRIBE_DELAY`].
pub const FIRST_RESUBSCRIBE_DELAY: Duration = Duration::from_millis(200);
/// The longest wait between attempts to subscribe.
pub const MAX_RESUBSCRIBE_DELAY: Duration = Duration::from_secs(10);

/// Where the sessions of one daemon learn of account ends.
pub type AccountEnds = broadcast::Sender<AccountEnd>;

/// A new channel of account ends.
pub fn account_ends() -> AccountEnds {
    broadcast::channel(ACCOUNT_END_CAPACITY).0
}

/// The next end of `account` that `ends` brings (pending for ever once the channel is
/// closed). A session awaits it beside its input, or polls it with
/// [`ended_now`].
pub async fn ended(ends: &mut broadcast::Receiver<AccountEnd>, account: &str) -> AccountEnd {
    loop {
        match ends.recv().await {
            Ok(end) if end.account == account => return end,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(account, missed, "missed account ends");
            }
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// An end of `account` already received by `ends`, without waiting.
pub fn ended_now(ends: &mut broadcast::Receiver<AccountEnd>, account: &str) -> Option<AccountEnd> {
    loop {
        match ends.try_recv() {
            Ok(end) if end.account == account => return Some(end),
            Ok(_) => {}
            Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                tracing::warn!(account, missed, "missed account ends");
            }
            Err(_) => return None,
        }
    }
}

/// Keeps a subscription with authd at `auth_socket` for ever, sending what it brings
/// into `ends`; subscribes again (with back-off) whenever authd goes away.
pub async fn watch_account_ends(auth_socket: PathBuf, ends: AccountEnds) {
    let mut delay = FIRST_RESUBSCRIBE_DELAY;
    loop {
        match subscribe(&auth_socket, &ends, &mut delay).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "account-end subscription ended"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_RESUBSCRIBE_DELAY);
    }
}

async fn subscribe(
    auth_socket: &std::path::Path,
    ends: &AccountEnds,
    delay: &mut Duration,
) -> Result<(), ClientError> {
    let mut authd = AuthConnection::connect(auth_socket).await?;
    match authd.call(AuthRequest::WatchAccountEnds).await? {
        AuthResponse::Done => {}
        other => {
            tracing::warn!(answer = ?other, "authd refused the account-end subscription");
            return Ok(());
        }
    }
    tracing::info!("watching for removed and disabled accounts");
    *delay = FIRST_RESUBSCRIBE_DELAY;
    loop {
        match authd.next_message().await? {
            AuthResponse::AccountEnded(end) => {
                tracing::info!(account = %end.account, "account ended; closing its sessions");
                // No receivers: no session is open.
                let _ = ends.send(end);
            }
            other => {
                tracing::warn!(answer = ?other, "unexpected message on the account-end subscription")
            }
        }
    }
}
