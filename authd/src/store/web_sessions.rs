//! Web sessions, stored by the SHA-256 of their token (the token itself never reaches
//! the database). A session expires after [`WEB_SESSION_IDLE_SECS`] without use.

use rusqlite::{OptionalExtension, params};

use super::accounts::require_account;
use super::{
    MAX_WEB_SESSIONS_PER_ACCOUNT, Store, StoreError, WEB_SESSION_IDLE_SECS, WebSessionRecord,
    blob32,
};
use crate::names::canonical_account_name;

impl Store {
    /// Stores a new session for an existing account. Expired sessions of the account are
    /// dropped, and then the least recently used ones beyond
    /// [`MAX_WEB_SESSIONS_PER_ACCOUNT`].
    pub fn web_session_create(
        &mut self,
        account: &str,
        login_address: &str,
        token_hash: &[u8; 32],
        csrf_hash: &[u8; 32],
        now: i64,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        tx.execute(
            "INSERT INTO web_sessions (token_hash, account, login_address, csrf_hash, \
             created, last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![&token_hash[..], account, login_address, &csrf_hash[..], now],
        )?;
        tx.execute(
            "DELETE FROM web_sessions WHERE account = ?1 AND last_used < ?2",
            params![account, now.saturating_sub(WEB_SESSION_IDLE_SECS)],
        )?;
        let cap = i64::try_from(MAX_WEB_SESSIONS_PER_ACCOUNT).unwrap_or(i64::MAX);
        // Everything of the account but the new session, newest first; past the first
        // cap - 1 of them, delete.
        tx.execute(
            "DELETE FROM web_sessions WHERE token_hash IN (SELECT token_hash FROM web_sessions \
             WHERE account = ?1 AND token_hash != ?2 \
             ORDER BY last_used DESC, created DESC, rowid DESC LIMIT -1 OFFSET ?3)",
            params![account, &token_hash[..], cap - 1],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The session with this token hash. An idle-expired one (`last_used +
    /// WEB_SESSION_IDLE_SECS < now`) is deleted and `None` returned; otherwise its
    /// last use moves to `now`.
    pub fn web_session_check(
        &mut self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<WebSessionRecord>, StoreError> {
        let tx = self.write_tx()?;
        let row: Option<(String, String, Vec<u8>, i64)> = tx
            .query_row(
                "SELECT account, login_address, csrf_hash, last_used FROM web_sessions \
                 WHERE token_hash = ?1",
                [&token_hash[..]],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()?;
        let Some((account, login_address, csrf_hash, last_used)) = row else {
            return Ok(None);
        };
        if last_used.saturating_add(WEB_SESSION_IDLE_SECS) < now {
            tx.execute(
                "DELETE FROM web_sessions WHERE token_hash = ?1",
                [&token_hash[..]],
            )?;
            tx.commit()?;
            return Ok(None);
        }
        let csrf_hash = blob32(csrf_hash, "web session csrf hash")?;
        if now > last_used {
            tx.execute(
                "UPDATE web_sessions SET last_used = ?2 WHERE token_hash = ?1",
                params![&token_hash[..], now],
            )?;
        }
        tx.commit()?;
        Ok(Some(WebSessionRecord {
            account,
            login_address,
            csrf_hash,
        }))
    }

    /// Ends a session (logout); no error when it does not exist.
    pub fn web_session_remove(&mut self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM web_sessions WHERE token_hash = ?1",
            [&token_hash[..]],
        )?;
        Ok(())
    }

    /// Deletes every idle-expired session; returns how many.
    pub fn expire_web_sessions(&mut self, now: i64) -> Result<u64, StoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM web_sessions WHERE last_used < ?1",
            [now.saturating_sub(WEB_SESSION_IDLE_SECS)],
        )?;
        Ok(deleted as u64)
    }
}
