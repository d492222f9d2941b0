//! Web sessions of accounts and of the admin, stored by the SHA-256 of their token (the
//! token itself never reaches the database). An account session expires after
//! [`WEB_SESSION_IDLE_SECS`] without use, an admin session after
//! [`ADMIN_SESSION_IDLE_SECS`]; each kind is capped ([`MAX_WEB_SESSIONS_PER_ACCOUNT`]
//! per account, [`MAX_ADMIN_SESSIONS`] in all), the least recently used going first.

use postern_ipc::web::{ADMIN_SESSION_IDLE_SECS, MAX_ADMIN_SESSIONS, WebSessionInfo};
use rusqlite::{OptionalExtension, Transaction, params};

use super::accounts::require_account;
use super::{
    MAX_WEB_SESSIONS_PER_ACCOUNT, Store, StoreError, WEB_SESSION_IDLE_SECS, WebSessionRecord,
    blob32, refused,
};
use crate::names::canonical_account_name;

/// Longest user agent and address kept with a session, in characters.
pub const MAX_SESSION_CLIENT_CHARS: usize = 256;

/// What a new session (of either kind) is stored with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession<'a> {
    /// SHA-256 of the session token.
    pub token_hash: &'a [u8; 32],
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: &'a [u8; 32],
    /// The browser's `User-Agent`, empty when unknown.
    pub user_agent: &'a str,
    /// The client's address.
    pub remote_ip: &'a str,
}

/// A live admin session, found by the hash of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSessionRecord {
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: [u8; 32],
}

/// One kind of session: its table and its idle lifetime.
struct SessionKind {
    table: &'static str,
    idle_secs: i64,
}

const ACCOUNT_SESSIONS: SessionKind = SessionKind {
    table: "web_sessions",
    idle_secs: WEB_SESSION_IDLE_SECS,
};

const ADMIN_SESSIONS: SessionKind = SessionKind {
    table: "admin_sessions",
    idle_secs: ADMIN_SESSION_IDLE_SECS,
};

fn clipped(text: &str) -> String {
    text.chars().take(MAX_SESSION_CLIENT_CHARS).collect()
}

impl SessionKind {
    /// The session's rowid and CSRF hash. An idle-expired one (`last_used + idle <
    /// now`) is deleted and `None` returned; otherwise its last use moves to `now`.
    fn check(
        &self,
        tx: &Transaction<'_>,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<(i64, [u8; 32])>, StoreError> {
        let table = self.table;
        let row: Option<(i64, Vec<u8>, i64)> = tx
            .query_row(
                &format!("SELECT rowid, csrf_hash, last_used FROM {table} WHERE token_hash = ?1"),
                [&token_hash[..]],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((id, csrf_hash, last_used)) = row else {
            return Ok(None);
        };
        if last_used.saturating_add(self.idle_secs) < now {
            tx.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), [id])?;
            return Ok(None);
        }
        let csrf_hash = blob32(csrf_hash, "session csrf hash")?;
        if now > last_used {
            tx.execute(
                &format!("UPDATE {table} SET last_used = ?2 WHERE rowid = ?1"),
                params![id, now],
            )?;
        }
        Ok(Some((id, csrf_hash)))
    }

    /// Deletes the sessions (of `scope`'s rows) idle since before `now`, then the least
    /// recently used beyond `cap` other than `keep`.
    fn trim(
        &self,
        tx: &Transaction<'_>,
        scope: &str,
        scope_value: &str,
        keep: &[u8; 32],
        cap: usize,
        now: i64,
    ) -> Result<(), StoreError> {
        let table = self.table;
        tx.execute(
            &format!("DELETE FROM {table} WHERE {scope} = ?1 AND last_used < ?2"),
            params![scope_value, now.saturating_sub(self.idle_secs)],
        )?;
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        // Everything in scope but the new session, newest first; past the first cap - 1
        // of them, delete.
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} \
                 WHERE {scope} = ?1 AND token_hash != ?2 \
                 ORDER BY last_used DESC, created DESC, rowid DESC LIMIT -1 OFFSET ?3)"
            ),
            params![scope_value, &keep[..], cap - 1],
        )?;
        Ok(())
    }

    fn remove(&self, store: &mut Store, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        store.conn.execute(
            &format!("DELETE FROM {} WHERE token_hash = ?1", self.table),
            [&token_hash[..]],
        )?;
        Ok(())
    }

    fn expire(&self, store: &mut Store, now: i64) -> Result<u64, StoreError> {
        let deleted = store.conn.execute(
            &format!("DELETE FROM {} WHERE last_used < ?1", self.table),
            [now.saturating_sub(self.idle_secs)],
        )?;
        Ok(deleted as u64)
    }
}

impl Store {
    /// Stores a new session for an existing account. Expired sessions of the account are
    /// dropped, and then the least recently used ones beyond
    /// [`MAX_WEB_SESSIONS_PER_ACCOUNT`].
    pub fn web_session_create(
        &mut self,
        account: &str,
        login_address: &str,
        session: &NewSession<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        tx.execute(
            "INSERT INTO web_sessions (token_hash, account, login_address, csrf_hash, \
             created, last_used, user_agent, remote_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
            params![
                &session.token_hash[..],
                account,
                login_address,
                &session.csrf_hash[..],
                now,
                clipped(session.user_agent),
                clipped(session.remote_ip),
            ],
        )?;
        ACCOUNT_SESSIONS.trim(
            &tx,
            "account",
            &account,
            session.token_hash,
            MAX_WEB_SESSIONS_PER_ACCOUNT,
            now,
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
        let Some((id, csrf_hash)) = ACCOUNT_SESSIONS.check(&tx, token_hash, now)? else {
            tx.commit()?;
            return Ok(None);
        };
        let (account, login_address) = tx.query_row(
            "SELECT account, login_address FROM web_sessions WHERE rowid = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        tx.commit()?;
        Ok(Some(WebSessionRecord {
            id,
            account,
            login_address,
            csrf_hash,
        }))
    }

    /// The account's sessions, most recently used first; `current` marks the one with
    /// this rowid.
    pub fn web_session_list(
        &self,
        account: &str,
        current: i64,
    ) -> Result<Vec<WebSessionInfo>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT rowid, created, last_used, login_address, user_agent, remote_ip \
             FROM web_sessions WHERE account = ?1 ORDER BY last_used DESC, rowid DESC",
        )?;
        let sessions = stmt
            .query_map([account], |row| {
                let id: i64 = row.get(0)?;
                Ok(WebSessionInfo {
                    id,
                    created: row.get(1)?,
                    last_used: row.get(2)?,
                    login_address: row.get(3)?,
                    user_agent: row.get(4)?,
                    remote_ip: row.get(5)?,
                    current: id == current,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(sessions)
    }

    /// Ends the account's session with this rowid; refused when the account has none
    /// such.
    pub fn web_session_revoke(&mut self, account: &str, id: i64) -> Result<(), StoreError> {
        let removed = self.conn.execute(
            "DELETE FROM web_sessions WHERE rowid = ?1 AND account = ?2",
            params![id, account],
        )?;
        if removed == 0 {
            return Err(refused("no such session"));
        }
        Ok(())
    }

    /// Ends a session (logout); no error when it does not exist.
    pub fn web_session_remove(&mut self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        ACCOUNT_SESSIONS.remove(self, token_hash)
    }

    /// Deletes every idle-expired account and admin session; returns how many.
    pub fn expire_web_sessions(&mut self, now: i64) -> Result<u64, StoreError> {
        Ok(ACCOUNT_SESSIONS.expire(self, now)? + ADMIN_SESSIONS.expire(self, now)?)
    }

    /// Stores a new admin session. Expired admin sessions are dropped, and then the
    /// least recently used ones beyond [`MAX_ADMIN_SESSIONS`].
    pub fn admin_session_create(
        &mut self,
        session: &NewSession<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT INTO admin_sessions (token_hash, csrf_hash, created, last_used, \
             user_agent, remote_ip) VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            params![
                &session.token_hash[..],
                &session.csrf_hash[..],
                now,
                clipped(session.user_agent),
                clipped(session.remote_ip),
            ],
        )?;
        // Every admin session is in one scope: compare a constant with itself.
        ADMIN_SESSIONS.trim(
            &tx,
            "'admin'",
            "admin",
            session.token_hash,
            MAX_ADMIN_SESSIONS,
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The admin session with this token hash, expiring and touching it as
    /// [`Store::web_session_check`] does.
    pub fn admin_session_check(
        &mut self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<AdminSessionRecord>, StoreError> {
        let tx = self.write_tx()?;
        let found = ADMIN_SESSIONS.check(&tx, token_hash, now)?;
        tx.commit()?;
        Ok(found.map(|(_, csrf_hash)| AdminSessionRecord { csrf_hash }))
    }

    /// Ends an admin session (logout); no error when it does not exist.
    pub fn admin_session_remove(&mut self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        ADMIN_SESSIONS.remove(self, token_hash)
    }

    /// The admin password's argon2id verifier, when one is set.
    pub fn admin_password(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT argon2id FROM admin_password WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Sets the admin password's argon2id verifier and ends every admin session, in one
    /// transaction.
    pub fn set_admin_password(&mut self, argon2id: &str) -> Result<(), StoreError> {
        if !argon2id.starts_with("$argon2id$") {
            return Err(refused(
                "the admin password verifier is not an argon2id PHC string",
            ));
        }
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT OR REPLACE INTO admin_password (id, argon2id) VALUES (1, ?1)",
            [argon2id],
        )?;
        tx.execute("DELETE FROM admin_sessions", [])?;
        tx.commit()?;
        Ok(())
    }
}
