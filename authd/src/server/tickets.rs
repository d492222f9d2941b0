//! Mail-access tickets (DESIGN.md invariant 8): issued for a web session (through the
//! auth socket) or the admin command line (through the admin socket), redeemed by
//! imapd when the ticket is presented on its store socket.

use postern_ipc::Secret;
use postern_ipc::web::{IssuedTicket, MAIL_TICKET_LIFETIME_SECS, MailPurpose};

use super::{Shared, new_token, token_hash, unix_now};
use crate::names::normalize_login_name;
use crate::store::TicketRedemption;

/// Why a ticket could not be issued or redeemed, as said to the caller.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// No such account.
    #[error("no account {0:?}")]
    UnknownAccount(String),
    /// The ticket does not open anything (unknown, used, expired, another purpose or
    /// caller; which one is only logged).
    #[error("mail-access ticket refused")]
    Refused,
    /// The database failed.
    #[error("{0}")]
    Database(#[from] super::DatabaseError),
}

/// Issues a ticket for `account` and `purpose`, to be presented by `issuer_uid`.
pub async fn issue(
    shared: &Shared,
    account: &str,
    purpose: MailPurpose,
    issuer_uid: u32,
) -> Result<IssuedTicket, TicketError> {
    let account = normalize_login_name(account);
    if !shared.snapshot().accounts.contains_key(&account) {
        return Err(TicketError::UnknownAccount(account));
    }
    let ticket = new_token();
    let hash = token_hash(&ticket);
    let expires = unix_now() + MAIL_TICKET_LIFETIME_SECS;
    let name = account.clone();
    shared
        .database
        .call(move |store| store.mail_ticket_create(&hash, &name, purpose, issuer_uid, expires))
        .await?;
    tracing::info!(%account, purpose = purpose.name(), issuer_uid, "mail-access ticket issued");
    Ok(IssuedTicket {
        ticket: Secret(ticket),
        account,
        purpose,
        expires,
    })
}

/// Redeems a ticket presented on the store socket by `caller_uid` for `purpose`: the
/// account it opens. The ticket is gone afterwards, whatever the outcome.
pub async fn redeem(
    shared: &Shared,
    ticket: &Secret<String>,
    purpose: MailPurpose,
    caller_uid: u32,
) -> Result<String, TicketError> {
    let hash = token_hash(&ticket.0);
    let now = unix_now();
    let outcome = shared
        .database
        .call(move |store| store.mail_ticket_redeem(&hash, purpose, caller_uid, now))
        .await?;
    match outcome {
        TicketRedemption::Redeemed { account }
            if shared.snapshot().accounts.contains_key(&account) =>
        {
            tracing::info!(%account, purpose = purpose.name(), caller_uid, "mail-access ticket redeemed");
            Ok(account)
        }
        TicketRedemption::Redeemed { account } => {
            tracing::warn!(%account, purpose = purpose.name(), caller_uid, "mail-access ticket refused: account gone");
            Err(TicketError::Refused)
        }
        TicketRedemption::Refused(why) => {
            tracing::warn!(
                purpose = purpose.name(),
                caller_uid,
                why,
                "mail-access ticket refused"
            );
            Err(TicketError::Refused)
        }
    }
}
