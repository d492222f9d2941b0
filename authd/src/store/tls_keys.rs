//! Registered TLS client public keys.

use postern_ipc::{KeyFingerprint, TlsPublicKeyInfo};
use rusqlite::{Connection, OptionalExtension, params};

use super::accounts::require_account;
use super::{Store, StoreError, TlsKeyRecord, blob32, refused};
use crate::names::{canonical_account_name, canonical_address, normalize_login_name};

/// Longest name of a TLS key, in characters.
pub const MAX_TLS_KEY_NAME_CHARS: usize = 200;

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(refused("the tls public key needs a name"));
    }
    if name.chars().any(char::is_control) {
        return Err(refused(
            "the name of a tls public key must not contain control characters",
        ));
    }
    if name.chars().count() > MAX_TLS_KEY_NAME_CHARS {
        return Err(refused(format!(
            "the name of a tls public key must not be longer than {MAX_TLS_KEY_NAME_CHARS} characters"
        )));
    }
    Ok(())
}

/// All keys (or one account's), ordered by account, then creation.
pub(super) fn all_records(
    conn: &Connection,
    account: Option<&str>,
) -> Result<Vec<TlsKeyRecord>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, created, name, key_type, account, login_address, \
         no_imap_preauth, certificate_der FROM tls_keys \
         WHERE ?1 IS NULL OR account = ?1 \
         ORDER BY account, created, fingerprint",
    )?;
    let mut rows = stmt.query([account])?;
    let mut keys = Vec::new();
    while let Some(row) = rows.next()? {
        keys.push(TlsKeyRecord {
            fingerprint: KeyFingerprint(blob32(row.get(0)?, "tls key fingerprint")?),
            created: row.get(1)?,
            name: row.get(2)?,
            key_type: row.get(3)?,
            account: row.get(4)?,
            login_address: row.get(5)?,
            no_imap_preauth: row.get(6)?,
            certificate_der: row.get(7)?,
        });
    }
    Ok(keys)
}

/// The spelling `login_address` (canonical) was registered with, when it is an address
/// of `account`.
fn account_address(
    tx: &rusqlite::Transaction<'_>,
    account: &str,
    login_address: &str,
    case: crate::names::LocalpartCase,
) -> Result<String, StoreError> {
    match super::accounts::registered_address(tx, login_address, case)? {
        Some(registered) if registered.account == account => Ok(registered.address),
        _ => Err(refused(format!(
            "login address {login_address:?} is not an address of account {account:?}"
        ))),
    }
}

impl Store {
    /// Registers a TLS client key. The account must exist and the login address
    /// (canonicalised) must be one of its addresses; a fingerprint can be registered once.
    pub fn tls_key_add(&mut self, key: &TlsKeyRecord) -> Result<(), StoreError> {
        let account = canonical_account_name(&key.account)?;
        let login_address = canonical_address(&key.login_address)?;
        check_name(&key.name)?;
        if key.certificate_der.is_empty() {
            return Err(refused("the tls public key has no certificate"));
        }
        let case = self.case;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        let login_address = account_address(&tx, &account, &login_address, case)?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT account FROM tls_keys WHERE fingerprint = ?1",
                [&key.fingerprint.0[..]],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(existing) = existing {
            return Err(refused(format!(
                "tls public key already registered (fingerprint {}, account {existing:?})",
                key.fingerprint
            )));
        }
        tx.execute(
            "INSERT INTO tls_keys (fingerprint, created, name, key_type, account, \
             login_address, no_imap_preauth, certificate_der) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                &key.fingerprint.0[..],
                key.created,
                key.name,
                key.key_type,
                account,
                login_address,
                key.no_imap_preauth,
                key.certificate_der,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The registered keys, of one account or all, ordered by account, then creation.
    pub fn tls_key_list(&self, account: Option<&str>) -> Result<Vec<TlsPublicKeyInfo>, StoreError> {
        let account = account.map(normalize_login_name);
        Ok(all_records(&self.conn, account.as_deref())?
            .iter()
            .map(TlsKeyRecord::info)
            .collect())
    }

    /// Removes a registered key (of `account`, when given); refused when it is not
    /// registered (to that account).
    pub fn tls_key_remove(
        &mut self,
        fingerprint: &KeyFingerprint,
        account: Option<&str>,
    ) -> Result<(), StoreError> {
        let account = account.map(normalize_login_name);
        let removed = self.conn.execute(
            "DELETE FROM tls_keys WHERE fingerprint = ?1 AND (?2 IS NULL OR account = ?2)",
            params![&fingerprint.0[..], account],
        )?;
        if removed == 0 {
            return Err(refused(format!("unknown tls public key {fingerprint}")));
        }
        Ok(())
    }

    /// Changes the name, login address (canonicalised; one of the account's addresses)
    /// and PREAUTH choice of one of `account`'s keys; refused for a key the account does
    /// not have.
    pub fn tls_key_update(
        &mut self,
        account: &str,
        fingerprint: &KeyFingerprint,
        name: &str,
        login_address: &str,
        no_imap_preauth: bool,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let login_address = canonical_address(login_address)?;
        check_name(name)?;
        let case = self.case;
        let tx = self.write_tx()?;
        let login_address = account_address(&tx, &account, &login_address, case)?;
        let updated = tx.execute(
            "UPDATE tls_keys SET name = ?3, login_address = ?4, no_imap_preauth = ?5              WHERE fingerprint = ?1 AND account = ?2",
            params![
                &fingerprint.0[..],
                account,
                name.trim(),
                login_address,
                no_imap_preauth
            ],
        )?;
        if updated == 0 {
            return Err(refused(format!("unknown tls public key {fingerprint}")));
        }
        tx.commit()?;
        Ok(())
    }
}
