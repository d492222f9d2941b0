//! One connection on the admin socket: the admin command line, allowed to the admin
//! uids only (uid 0; in localserve, the user running it).

use std::sync::Arc;

use futures_util::SinkExt as _;
use postern_ipc::FrameCodec;
use postern_ipc::admin::{
    ADMIN_PROTOCOL_VERSION, AdminRequest, AdminResponse, MAX_ADMIN_REQUEST_FRAME,
    MAX_ADMIN_RESPONSE_FRAME,
};
use postern_ipc::peer::PeerCredentials;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use super::{Shared, unix_now};
use crate::password::{PasswordVerifiers, hash_argon2id, prepare_new_password};
use crate::tls_key::{key_record, parse_fingerprint};

/// Serves the admin command line until it closes.
pub async fn serve_connection(shared: Arc<Shared>, stream: UnixStream, peer: PeerCredentials) {
    let mut framed = Framed::new(
        stream,
        FrameCodec::<AdminRequest, AdminResponse>::new(
            MAX_ADMIN_REQUEST_FRAME,
            MAX_ADMIN_RESPONSE_FRAME,
        ),
    );
    if !shared.admins.contains(&peer.uid) {
        tracing::warn!("uid may not use the admin socket; refusing");
        let _ = framed
            .send(AdminResponse::Error(format!(
                "permission denied: uid {} may not use the admin socket",
                peer.uid
            )))
            .await;
        return;
    }
    let mut handler = AdminHandler {
        shared: &shared,
        caller_uid: peer.uid,
    };
    super::answer_requests(&mut framed, &mut handler).await;
}

/// Answers the admin command line.
struct AdminHandler<'a> {
    shared: &'a Shared,
    caller_uid: u32,
}

impl super::RequestHandler for AdminHandler<'_> {
    type Request = AdminRequest;
    type Response = AdminResponse;

    async fn handle(&mut self, request: AdminRequest) -> AdminResponse {
        handle(self.shared, request, self.caller_uid).await
    }
}

/// Answers one admin request, from the admin socket or from an admin web session
/// (the same rules for both); `caller_uid` is the uid of the socket's peer (tickets are
/// issued to it).
pub(super) async fn handle(
    shared: &Shared,
    request: AdminRequest,
    caller_uid: u32,
) -> AdminResponse {
    // Changes to what the credential snapshot holds: reloaded after them.
    let changes = request.changes_state()
        && !matches!(
            request,
            AdminRequest::RateLimitClear { .. }
                | AdminRequest::AdminPasswordSet { .. }
                | AdminRequest::MailTicket { .. }
        );
    let ending = match &request {
        AdminRequest::AccountRemove { account } => Some((account.clone(), true)),
        AdminRequest::AccountSetDisabled {
            account,
            disabled: Some(_),
        } => Some((account.clone(), false)),
        _ => None,
    };
    let response = match run(shared, request, caller_uid).await {
        Ok(response) => response,
        Err(message) => return AdminResponse::Error(message),
    };
    if changes {
        if let Err(e) = shared.reload().await {
            tracing::error!(error = %e, "cannot reload credentials after a change");
            return AdminResponse::Error(format!("change saved, but reloading failed: {e}"));
        }
        tracing::info!(?response, "admin change");
    }
    if let Some((account, removed)) = ending {
        end_sessions(shared, &account, removed);
    }
    response
}

/// Tells the daemons watching account ends that `account`'s sessions end: removed, or
/// disabled with the message now stored.
fn end_sessions(shared: &Shared, account: &str, removed: bool) {
    let account = crate::names::normalize_login_name(account);
    let message = if removed {
        postern_ipc::auth::ACCOUNT_REMOVED_MESSAGE.to_string()
    } else {
        let snapshot = shared.snapshot();
        match snapshot
            .accounts
            .get(&account)
            .and_then(|a| a.disabled.clone())
        {
            Some(message) => message,
            None => return,
        }
    };
    tracing::info!(%account, removed, "ending the account's sessions");
    // No receivers: no daemon watches now.
    let _ = shared
        .account_ends
        .send(postern_ipc::auth::AccountEnd { account, message });
}

async fn run(
    shared: &Shared,
    request: AdminRequest,
    caller_uid: u32,
) -> Result<AdminResponse, String> {
    let db = &shared.database;
    let done = |r: Result<(), super::DatabaseError>| {
        r.map(|()| AdminResponse::Done).map_err(|e| e.to_string())
    };
    match request {
        AdminRequest::Hello { version } if version == ADMIN_PROTOCOL_VERSION => {
            Ok(AdminResponse::Hello {
                version: ADMIN_PROTOCOL_VERSION,
            })
        }
        AdminRequest::Hello { version } => Err(format!(
            "admin protocol version {version} not supported; authd speaks {ADMIN_PROTOCOL_VERSION}"
        )),
        AdminRequest::AccountAdd { account, address } => {
            let now = unix_now();
            done(
                db.call(move |s| s.account_add(&account, &address, now))
                    .await,
            )
        }
        AdminRequest::AccountRemove { account } => {
            let await_mail = shared.config.authd.mail_store;
            done(
                db.call(move |s| s.account_remove(&account, await_mail))
                    .await,
            )
        }
        AdminRequest::AccountList => db
            .call(|s| s.account_list())
            .await
            .map(AdminResponse::Accounts)
            .map_err(|e| e.to_string()),
        AdminRequest::AccountSetPassword { account, password } => {
            let prepared = prepare_new_password(&password.0).map_err(|e| e.to_string())?;
            if !shared
                .snapshot()
                .accounts
                .contains_key(&crate::names::normalize_login_name(&account))
            {
                return Err(format!("no account {account:?}"));
            }
            let cost = shared.argon2_cost();
            let verifiers =
                tokio::task::spawn_blocking(move || PasswordVerifiers::derive(&prepared, cost))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            done(db.call(move |s| s.set_password(&account, &verifiers)).await)
        }
        AdminRequest::AccountSetDisabled { account, disabled } => done(
            db.call(move |s| s.set_disabled(&account, disabled.as_deref()))
                .await,
        ),
        AdminRequest::AddressAdd { address, account } => {
            done(db.call(move |s| s.address_add(&address, &account)).await)
        }
        AdminRequest::AddressRemove { address } => {
            done(db.call(move |s| s.address_remove(&address)).await)
        }
        AdminRequest::TlsPublicKeyAdd {
            account,
            login_address,
            certificate_der,
            name,
            no_imap_preauth,
        } => {
            let record = key_record(
                certificate_der,
                &account,
                &login_address,
                name,
                no_imap_preauth,
                unix_now(),
            )?;
            let info = record.info();
            db.call(move |s| s.tls_key_add(&record))
                .await
                .map_err(|e| e.to_string())?;
            Ok(AdminResponse::TlsPublicKeyAdded(info))
        }
        AdminRequest::TlsPublicKeyList { account } => db
            .call(move |s| s.tls_key_list(account.as_deref()))
            .await
            .map(AdminResponse::TlsPublicKeys)
            .map_err(|e| e.to_string()),
        AdminRequest::TlsPublicKeyRemove { fingerprint } => {
            let fingerprint = parse_fingerprint(&fingerprint)?;
            done(db.call(move |s| s.tls_key_remove(&fingerprint, None)).await)
        }
        AdminRequest::LoginAttempts { account, limit } => db
            .call(move |s| s.login_attempts(account.as_deref(), limit))
            .await
            .map(AdminResponse::LoginAttempts)
            .map_err(|e| e.to_string()),
        AdminRequest::RateLimitList => {
            Ok(AdminResponse::RateLimits(shared.limiter.blocks(unix_now())))
        }
        AdminRequest::RateLimitClear { address } => {
            shared.limiter.clear(address, unix_now());
            tracing::info!(?address, "rate limit blocks lifted");
            Ok(AdminResponse::Done)
        }
        AdminRequest::AdminPasswordSet { password } => {
            let prepared = prepare_new_password(&password.0).map_err(|e| e.to_string())?;
            let cost = shared.argon2_cost();
            let phc = tokio::task::spawn_blocking(move || hash_argon2id(&prepared, cost))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            done(db.call(move |s| s.set_admin_password(&phc)).await)?;
            tracing::info!("admin password set; admin web sessions ended");
            Ok(AdminResponse::Done)
        }
        AdminRequest::MailTicket { account, purpose } => {
            super::tickets::issue(shared, &account, purpose, caller_uid)
                .await
                .map(AdminResponse::MailTicket)
                .map_err(|e| e.to_string())
        }
    }
}
