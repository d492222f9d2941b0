//! Mail-access tickets (DESIGN.md invariant 8), stored by the SHA-256 of the ticket:
//! one account, one purpose, one issuing uid, a deadline, used once.

use postern_ipc::web::MailPurpose;
use rusqlite::{OptionalExtension, params};

use super::accounts::require_account;
use super::{Store, StoreError};
use crate::names::canonical_account_name;

/// The outcome of presenting a ticket. The reasons are for authd's log only: the
/// caller learns nothing but "refused".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketRedemption {
    /// The ticket opens this account.
    Redeemed {
        /// The account it was issued for.
        account: String,
    },
    /// The ticket does not open anything.
    Refused(&'static str),
}

impl Store {
    /// Stores a new ticket for an existing account.
    pub fn mail_ticket_create(
        &mut self,
        ticket_hash: &[u8; 32],
        account: &str,
        purpose: MailPurpose,
        issuer_uid: u32,
        expires: i64,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        tx.execute(
            "INSERT INTO mail_tickets (ticket_hash, account, purpose, issuer_uid, expires) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                &ticket_hash[..],
                account,
                purpose.name(),
                issuer_uid,
                expires
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Presents a ticket: it is deleted whatever the outcome (a ticket is good for one
    /// try), and opens its account only before its deadline, for its purpose, for the
    /// uid it was issued to.
    pub fn mail_ticket_redeem(
        &mut self,
        ticket_hash: &[u8; 32],
        purpose: MailPurpose,
        caller_uid: u32,
        now: i64,
    ) -> Result<TicketRedemption, StoreError> {
        let tx = self.write_tx()?;
        let row: Option<(String, String, i64, i64)> = tx
            .query_row(
                "DELETE FROM mail_tickets WHERE ticket_hash = ?1 \
                 RETURNING account, purpose, issuer_uid, expires",
                [&ticket_hash[..]],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        tx.commit()?;
        let Some((account, issued_purpose, issuer_uid, expires)) = row else {
            return Ok(TicketRedemption::Refused("unknown or already used"));
        };
        Ok(if expires < now {
            TicketRedemption::Refused("expired")
        } else if issued_purpose != purpose.name() {
            TicketRedemption::Refused("issued for another purpose")
        } else if issuer_uid != i64::from(caller_uid) {
            TicketRedemption::Refused("presented by another uid than it was issued to")
        } else {
            TicketRedemption::Redeemed { account }
        })
    }

    /// Deletes every ticket past its deadline; returns how many.
    pub fn expire_mail_tickets(&mut self, now: i64) -> Result<u64, StoreError> {
        let deleted = self
            .conn
            .execute("DELETE FROM mail_tickets WHERE expires < ?1", [now])?;
        Ok(deleted as u64)
    }
}
