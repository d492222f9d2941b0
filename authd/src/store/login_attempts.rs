//! The login history: identical attempts collapse into one counted row; failed rows are
//! capped per account and everything expires after [`LOGIN_ATTEMPT_RETENTION_SECS`].

use std::collections::BTreeSet;

use postern_ipc::{LoginAttempt, LoginResult};
use rusqlite::{Transaction, params};
use sha2::{Digest, Sha256};

use super::{
    LOGIN_ATTEMPT_RETENTION_SECS, MAX_FAILED_LOGIN_ATTEMPTS_PER_ACCOUNT, Store, StoreError,
};
use crate::names::normalize_login_name;

/// The grouping key: SHA-256 over every descriptive field, each prefixed by its length
/// so that fields cannot run into each other.
pub(super) fn attempt_key(a: &LoginAttempt) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"postern login attempt v1");
    for field in [
        a.account.as_str(),
        a.login_name.as_str(),
        a.result.name(),
        a.protocol.as_str(),
        a.mechanism.as_str(),
        a.remote_ip.as_str(),
        a.local_ip.as_str(),
        a.tls_version.as_str(),
        a.tls_cipher.as_str(),
        a.client_key.as_str(),
        a.user_agent.as_str(),
    ] {
        hash.update((field.len() as u64).to_be_bytes());
        hash.update(field.as_bytes());
    }
    hash.finalize().into()
}

/// Decrements an account's failed-row counter by `n`, dropping it at zero.
fn decrement_failed(tx: &Transaction<'_>, account: &str, n: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE login_attempt_failed_counts SET failed = MAX(failed - ?2, 0) WHERE account = ?1",
    )?
    .execute(params![account, n])?;
    tx.prepare_cached("DELETE FROM login_attempt_failed_counts WHERE account = ?1 AND failed = 0")?
        .execute([account])?;
    Ok(())
}

/// Deletes the account's oldest failed rows beyond the cap.
fn enforce_cap(tx: &Transaction<'_>, account: &str) -> Result<(), StoreError> {
    let failed: i64 = tx
        .prepare_cached("SELECT failed FROM login_attempt_failed_counts WHERE account = ?1")?
        .query_row([account], |row| row.get(0))?;
    let cap = i64::try_from(MAX_FAILED_LOGIN_ATTEMPTS_PER_ACCOUNT).unwrap_or(i64::MAX);
    let excess = failed - cap;
    if excess <= 0 {
        return Ok(());
    }
    let deleted = tx
        .prepare_cached(
            "DELETE FROM login_attempts WHERE id IN (SELECT id FROM login_attempts \
             WHERE account = ?1 AND failed = 1 ORDER BY last_seen, id LIMIT ?2)",
        )?
        .execute(params![account, excess])?;
    decrement_failed(tx, account, i64::try_from(deleted).unwrap_or(i64::MAX))
}

impl Store {
    /// Writes a batch of attempts in one transaction. Each attempt carries its count (0
    /// is taken as 1) and the first and last time it was seen. An attempt with the same
    /// descriptive fields as a stored row adds to that row (count summed, first_seen the
    /// earlier, last_seen the later); otherwise it is a new row. Failed rows are capped
    /// at [`MAX_FAILED_LOGIN_ATTEMPTS_PER_ACCOUNT`] per account (`-` included), dropping
    /// the oldest by last_seen; successful rows never count.
    pub fn record_login_attempts(&mut self, attempts: &[LoginAttempt]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let tx = self.write_tx()?;
        let mut grown = BTreeSet::new();
        {
            let mut update = tx.prepare_cached(
                "UPDATE login_attempts SET \
                 count = CASE WHEN count > 9223372036854775807 - ?2 \
                         THEN 9223372036854775807 ELSE count + ?2 END, \
                 first_seen = MIN(first_seen, ?3), last_seen = MAX(last_seen, ?4) \
                 WHERE key = ?1",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO login_attempts (key, account, login_name, result, failed, \
                 protocol, mechanism, remote_ip, local_ip, tls_version, tls_cipher, \
                 client_key, user_agent, first_seen, last_seen, count) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?;
            let mut count_failed = tx.prepare_cached(
                "INSERT INTO login_attempt_failed_counts (account, failed) VALUES (?1, 1) \
                 ON CONFLICT (account) DO UPDATE SET failed = failed + 1",
            )?;
            for a in attempts {
                let key = attempt_key(a);
                let count = i64::try_from(a.count.max(1)).unwrap_or(i64::MAX);
                let first_seen = a.first_seen.min(a.last_seen);
                let last_seen = a.first_seen.max(a.last_seen);
                if update.execute(params![&key[..], count, first_seen, last_seen])? > 0 {
                    continue;
                }
                let failed = a.result != LoginResult::Ok;
                insert.execute(params![
                    &key[..],
                    a.account,
                    a.login_name,
                    a.result.name(),
                    failed,
                    a.protocol,
                    a.mechanism,
                    a.remote_ip,
                    a.local_ip,
                    a.tls_version,
                    a.tls_cipher,
                    a.client_key,
                    a.user_agent,
                    first_seen,
                    last_seen,
                    count,
                ])?;
                if failed {
                    count_failed.execute([&a.account])?;
                    grown.insert(a.account.as_str());
                }
            }
        }
        for account in grown {
            enforce_cap(&tx, account)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stored attempts, newest (by last_seen) first; `account` None means all accounts,
    /// `limit` None means no limit.
    pub fn login_attempts(
        &self,
        account: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<LoginAttempt>, StoreError> {
        let account = account.map(normalize_login_name);
        let limit = limit.map_or(-1, i64::from);
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, login_name, result, protocol, mechanism, remote_ip, local_ip, \
             tls_version, tls_cipher, client_key, user_agent, first_seen, last_seen, count \
             FROM login_attempts WHERE ?1 IS NULL OR account = ?1 \
             ORDER BY last_seen DESC, id DESC LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![account, limit])?;
        let mut attempts = Vec::new();
        while let Some(row) = rows.next()? {
            let result: String = row.get(2)?;
            let result = LoginResult::from_name(&result).ok_or_else(|| {
                StoreError::Corrupt(format!("login attempt with unknown result {result:?}"))
            })?;
            let count: i64 = row.get(13)?;
            let count = u64::try_from(count)
                .map_err(|_| StoreError::Corrupt(format!("login attempt with count {count}")))?;
            attempts.push(LoginAttempt {
                account: row.get(0)?,
                login_name: row.get(1)?,
                result,
                protocol: row.get(3)?,
                mechanism: row.get(4)?,
                remote_ip: row.get(5)?,
                local_ip: row.get(6)?,
                tls_version: row.get(7)?,
                tls_cipher: row.get(8)?,
                client_key: row.get(9)?,
                user_agent: row.get(10)?,
                first_seen: row.get(11)?,
                last_seen: row.get(12)?,
                count,
            });
        }
        Ok(attempts)
    }

    /// Deletes attempts last seen before `now - LOGIN_ATTEMPT_RETENTION_SECS` (an attempt
    /// exactly at the boundary stays) and adjusts the failed-row counters; returns the
    /// number of rows deleted.
    pub fn expire_login_attempts(&mut self, now: i64) -> Result<u64, StoreError> {
        let cutoff = now.saturating_sub(LOGIN_ATTEMPT_RETENTION_SECS);
        let tx = self.write_tx()?;
        let per_account: Vec<(String, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT account, COUNT(*) FROM login_attempts \
                 WHERE last_seen < ?1 AND failed = 1 GROUP BY account",
            )?;
            stmt.query_map([cutoff], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        for (account, n) in &per_account {
            decrement_failed(&tx, account, *n)?;
        }
        let deleted = tx.execute("DELETE FROM login_attempts WHERE last_seen < ?1", [cutoff])?;
        tx.commit()?;
        Ok(deleted as u64)
    }
}
