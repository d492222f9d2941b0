//! Import and export on the store socket ([`postern_ipc::store`]), each opened with a
//! mail-access ticket that imapd redeems with authd (DESIGN.md invariant 8) before it
//! touches the account the ticket names.
//!
//! An import stages every message in the store's temp directory (read from the
//! caller's fd, at most [`MAX_DELIVERED_MESSAGE`] bytes, fsynced) and keeps them in an
//! [`ImportPlan`]; only the commit makes them visible, all at once
//! ([`crate::store::Account::commit_import`]). An abort, a closed connection or a
//! failed commit drops the plan, which removes every file written; a crash leaves files
//! that the next start of imapd removes. An export answers pages of mailboxes and
//! messages and hands each message file back as an fd opened read-only.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use postern_ipc::Secret;
use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::client::AuthConnection;
use postern_ipc::frame::encode_payload;
use postern_ipc::seqpacket::SeqpacketConnection;
use postern_ipc::store::{
    DeliveryFailure, ImportSummary, ImportedMailbox, ImportedMessage, MAX_STORE_RESPONSE,
    MailboxListing, MailboxPage, MessageListing, MessagePage, StoreRefusal, StoreResponse,
    SystemFlag,
};
use postern_ipc::web::MailPurpose;

use crate::delivery::{
    BoundedFileReader, DeliveryService, LATEST_RECEIVED, MAX_DELIVERED_MESSAGE, RESPONSE_TIMEOUT,
    classify, permanent, store_flags, temporary,
};
use crate::session::AUTHD_TIMEOUT;
use crate::store::{Account, Flags, ImportPlan, MailboxId, NewMessage};

/// Most messages one import may hold before its commit.
pub const MAX_IMPORT_MESSAGES: usize = 100_000;
/// Most mailboxes one import may name.
pub const MAX_IMPORT_MAILBOXES: usize = 10_000;
/// Most bytes one import may stage before its commit (the temp files' disk space).
pub const MAX_IMPORT_BYTES: u64 = 32 * 1024 * 1024 * 1024;
/// Most messages in one page of an export's message listing.
pub const EXPORT_PAGE_MESSAGES: usize = 500;
/// Most mailboxes in one page of an export's mailbox listing.
pub const EXPORT_PAGE_MAILBOXES: usize = 200;
/// The part of [`MAX_STORE_RESPONSE`] a page may fill; the rest is room for framing.
const PAGE_BUDGET: usize = MAX_STORE_RESPONSE - 1024;

/// What a store connection is doing besides deliveries.
#[derive(Debug, Default)]
pub enum Transfer {
    /// Nothing opened with a ticket.
    #[default]
    None,
    /// An import into this account, not committed yet.
    Import {
        /// The account the ticket opened.
        account: Account,
        /// What the commit will add.
        plan: ImportPlan,
    },
    /// An export of this account.
    Export {
        /// The account the ticket opened.
        account: Account,
    },
}

/// Redeems `ticket` with authd for `purpose`, presented by `caller_uid`: the account it
/// opens, or the answer to send (a refusal that closes the connection, or a temporary
/// failure when authd cannot be asked).
pub async fn redeem_ticket(
    auth_socket: &Path,
    ticket: Secret<String>,
    purpose: MailPurpose,
    caller_uid: u32,
) -> Result<String, StoreResponse> {
    let ask = async {
        let mut authd = AuthConnection::connect(auth_socket).await?;
        authd
            .call(AuthRequest::RedeemMailTicket {
                ticket,
                purpose,
                caller_uid,
            })
            .await
    };
    match tokio::time::timeout(AUTHD_TIMEOUT, ask).await {
        Ok(Ok(AuthResponse::TicketRedeemed { account })) => Ok(account),
        Ok(Ok(AuthResponse::Error(postern_ipc::auth::RequestError::Temporary(e)))) => {
            tracing::warn!(error = %e, "authd cannot redeem a mail-access ticket now");
            Err(StoreResponse::Failed(temporary(
                "authd cannot check the ticket now",
            )))
        }
        Ok(Ok(other)) => {
            tracing::warn!(purpose = purpose.name(), caller_uid, answer = ?other, "mail-access ticket refused");
            Err(StoreResponse::Refused(StoreRefusal::NotPermitted(format!(
                "mail-access ticket refused (unknown, used, expired, or not for {})",
                purpose.name()
            ))))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "authd unreachable for a mail-access ticket");
            Err(StoreResponse::Failed(temporary("authd is unreachable")))
        }
        Err(_) => Err(StoreResponse::Failed(temporary(
            "authd did not answer in time",
        ))),
    }
}

/// Opens `name`'s account for a transfer (blocking work in a thread), unless it is
/// being removed.
pub async fn open_account(
    service: &DeliveryService,
    name: String,
) -> Result<Account, StoreResponse> {
    if service.gate().is_removing(&name) {
        return Err(StoreResponse::Failed(permanent(format!(
            "account {name:?} has been removed"
        ))));
    }
    let store = Arc::clone(service.store());
    tokio::task::spawn_blocking(move || store.account(&name))
        .await
        .map_err(|e| StoreResponse::Failed(temporary(format!("account task failed: {e}"))))?
        .map_err(|e| StoreResponse::Failed(classify(e)))
}

/// Adds a mailbox to a running import.
pub fn import_mailbox(plan: &mut ImportPlan, mailbox: &str) -> StoreResponse {
    if plan.mailboxes() >= MAX_IMPORT_MAILBOXES {
        return StoreResponse::Failed(permanent(format!(
            "an import names at most {MAX_IMPORT_MAILBOXES} mailboxes"
        )));
    }
    match plan.add_mailbox(mailbox) {
        Ok(mailbox) => StoreResponse::ImportMailboxAccepted { mailbox },
        Err(e) => StoreResponse::Failed(classify(e)),
    }
}

/// Stages one message of a running import (read from `fd`) and adds it to the plan.
pub async fn import_message(
    account: &Account,
    plan: &mut ImportPlan,
    meta: ImportedMessage,
    fd: OwnedFd,
) -> StoreResponse {
    if plan.messages() >= MAX_IMPORT_MESSAGES {
        return StoreResponse::Failed(permanent(format!(
            "an import holds at most {MAX_IMPORT_MESSAGES} messages; commit and import the rest separately"
        )));
    }
    if !(0..=LATEST_RECEIVED).contains(&meta.received) {
        return StoreResponse::Failed(permanent(format!(
            "received time {} out of range",
            meta.received
        )));
    }
    let file = File::from(fd);
    let size = match file.metadata() {
        Ok(m) if m.file_type().is_file() => m.len(),
        Ok(_) => return StoreResponse::Failed(permanent("the message fd is not a regular file")),
        Err(e) => {
            return StoreResponse::Failed(permanent(format!("cannot inspect the message fd: {e}")));
        }
    };
    if size > MAX_DELIVERED_MESSAGE {
        return StoreResponse::Failed(permanent(format!(
            "message of {size} bytes exceeds the limit of {MAX_DELIVERED_MESSAGE}"
        )));
    }
    if plan.bytes().saturating_add(size) > MAX_IMPORT_BYTES {
        return StoreResponse::Failed(permanent(format!(
            "an import stages at most {MAX_IMPORT_BYTES} bytes"
        )));
    }
    let staging = account.clone();
    let staged = tokio::task::spawn_blocking(move || {
        let mut reader = BoundedFileReader::new(file, MAX_DELIVERED_MESSAGE);
        let staged = staging.stage(&mut reader);
        (staged, reader.over_limit())
    })
    .await;
    let staged = match staged {
        Ok((Ok(staged), _)) => staged,
        Ok((Err(_), true)) => {
            return StoreResponse::Failed(permanent(format!(
                "message exceeds the limit of {MAX_DELIVERED_MESSAGE} bytes"
            )));
        }
        Ok((Err(e), false)) => return StoreResponse::Failed(classify(e)),
        Err(e) => return StoreResponse::Failed(temporary(format!("staging task failed: {e}"))),
    };
    if staged.size() == 0 {
        return StoreResponse::Failed(permanent("the message is empty"));
    }
    let size = staged.size();
    let new = NewMessage {
        flags: store_flags(&meta.flags),
        keywords: meta.keywords,
        received: meta.received,
    };
    match plan.add_message(&meta.mailbox, new, staged) {
        Ok(_) => StoreResponse::ImportAccepted { size },
        Err(e) => StoreResponse::Failed(classify(e)),
    }
}

/// Commits an import (blocking work in a thread); the plan is used up either way.
pub async fn import_commit(
    service: &DeliveryService,
    account: Account,
    plan: ImportPlan,
) -> StoreResponse {
    let gate = Arc::clone(service.gate());
    let name = account.name().to_string();
    let result = tokio::task::spawn_blocking(move || {
        let Some(_pass) = gate.enter(account.name()) else {
            return Err(permanent(format!(
                "account {:?} has been removed",
                account.name()
            )));
        };
        account.commit_import(plan).map_err(classify)
    })
    .await
    .unwrap_or_else(|e| Err(temporary(format!("commit task failed: {e}"))));
    match result {
        Ok(outcome) => {
            tracing::info!(account = %name, messages = outcome.messages, bytes = outcome.bytes, "import committed");
            StoreResponse::ImportCommitted(ImportSummary {
                messages: outcome.messages,
                bytes: outcome.bytes,
                mailboxes: outcome
                    .mailboxes
                    .into_iter()
                    .map(|m| ImportedMailbox {
                        mailbox: m.name,
                        messages: m.messages,
                        created: m.created,
                    })
                    .collect(),
            })
        }
        Err(failure) => {
            tracing::warn!(account = %name, reason = ?failure.reason, "import commit failed; nothing of it stays");
            StoreResponse::Failed(failure)
        }
    }
}

fn system_flags(flags: Flags) -> Vec<SystemFlag> {
    SystemFlag::ALL
        .into_iter()
        .filter(|f| flags.contains(store_flags(&[*f])))
        .collect()
}

/// A page of the exported account's mailboxes from index `start`.
pub async fn export_mailboxes(account: &Account, start: u32) -> StoreResponse {
    let account = account.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let all = account.mailboxes_with_status()?;
        let subscribed = account.subscriptions()?;
        Ok::<_, crate::store::StoreError>((all, subscribed))
    })
    .await;
    let (all, subscribed) = match listed {
        Ok(Ok(listed)) => listed,
        Ok(Err(e)) => return StoreResponse::Failed(classify(e)),
        Err(e) => return StoreResponse::Failed(temporary(format!("listing task failed: {e}"))),
    };
    let mut page = Vec::new();
    let mut used = 0;
    let mut index = start as usize;
    while let Some(status) = all.get(index) {
        let cost = status.mailbox.name.len() + 64;
        if page.len() >= EXPORT_PAGE_MAILBOXES || (used + cost > PAGE_BUDGET && !page.is_empty()) {
            break;
        }
        used += cost;
        page.push(MailboxListing {
            name: status.mailbox.name.clone(),
            uidvalidity: status.mailbox.uidvalidity,
            messages: status.total,
            size: status.size,
            subscribed: subscribed.binary_search(&status.mailbox.name).is_ok(),
        });
        index += 1;
    }
    let next = (index < all.len()).then(|| u32::try_from(index).unwrap_or(u32::MAX));
    StoreResponse::Mailboxes(MailboxPage {
        mailboxes: page,
        next,
    })
}

/// Looks up a mailbox of an export by name.
fn export_mailbox_id(account: &Account, mailbox: &str) -> Result<MailboxId, DeliveryFailure> {
    account.mailbox(mailbox).map(|m| m.id).map_err(classify)
}

/// A page of `mailbox`'s messages with UIDs above `after_uid`.
pub async fn export_messages(account: &Account, mailbox: String, after_uid: u32) -> StoreResponse {
    let account = account.clone();
    let listed = tokio::task::spawn_blocking(move || {
        let id = export_mailbox_id(&account, &mailbox)?;
        let Some(first) = after_uid.checked_add(1) else {
            return Ok(Vec::new());
        };
        account.messages(id, &[first..=u32::MAX]).map_err(classify)
    })
    .await;
    let messages = match listed {
        Ok(Ok(messages)) => messages,
        Ok(Err(failure)) => return StoreResponse::Failed(failure),
        Err(e) => return StoreResponse::Failed(temporary(format!("listing task failed: {e}"))),
    };
    let mut page = Vec::new();
    let mut used = 0;
    for m in &messages {
        let cost = 64 + m.keywords.iter().map(|k| k.len() + 8).sum::<usize>();
        if page.len() >= EXPORT_PAGE_MESSAGES || (used + cost > PAGE_BUDGET && !page.is_empty()) {
            break;
        }
        used += cost;
        page.push(MessageListing {
            uid: m.uid,
            flags: system_flags(m.flags),
            keywords: m.keywords.clone(),
            received: m.received,
            size: m.size,
        });
    }
    let more = page.len() < messages.len();
    StoreResponse::Messages(MessagePage {
        messages: page,
        more,
    })
}

/// Opens message `uid` of `mailbox` read-only and sends it back as the answer's fd;
/// false when the connection is to be closed.
pub async fn export_open(
    conn: &SeqpacketConnection,
    account: &Account,
    mailbox: String,
    uid: u32,
) -> bool {
    let account = account.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let id = export_mailbox_id(&account, &mailbox)?;
        let found = account.messages(id, &[uid..=uid]).map_err(classify)?;
        let Some(message) = found.first() else {
            return Err(permanent(format!(
                "no message with UID {uid} in {mailbox:?}"
            )));
        };
        let file = account.open_message(message.id).map_err(classify)?;
        Ok((file, message.size))
    })
    .await
    .unwrap_or_else(|e| Err(temporary(format!("open task failed: {e}"))));
    let (response, file) = match opened {
        Ok((file, size)) => (StoreResponse::MessageOpened { size }, Some(file)),
        Err(failure) => (StoreResponse::Failed(failure), None),
    };
    let payload = match encode_payload(&response, MAX_STORE_RESPONSE) {
        Ok(payload) => payload,
        Err(e) => {
            tracing::warn!(error = %e, "store socket: cannot encode an answer");
            return false;
        }
    };
    let fds: Vec<_> = file.iter().map(|f| f.as_fd()).collect();
    match tokio::time::timeout(RESPONSE_TIMEOUT, conn.send(&payload, &fds)).await {
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
