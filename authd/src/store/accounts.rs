//! Accounts, addresses, password verifiers, pending removals, and the credential
//! snapshot.

use std::collections::HashMap;

use postern_ipc::AccountSummary;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{
    AccountCredentials, CredentialSnapshot, DEFAULT_DISABLED_MESSAGE, RegisteredAddress, Store,
    StoreError, refused, tls_keys,
};
use crate::names::{
    LocalpartCase, address_key, canonical_account_name, canonical_address, folded_address,
    normalize_login_name,
};
use crate::password::{CramMd5Verifier, PasswordVerifiers, ScramVerifier};

/// Longest message accepted for a disabled account, in characters.
pub const MAX_DISABLED_MESSAGE_CHARS: usize = 500;

/// SHA-1 and SHA-256 output sizes: SCRAM keys have exactly these lengths.
const SHA1_LEN: usize = 20;
const SHA256_LEN: usize = 32;
/// An MD5 state (four 32-bit words).
const MD5_STATE_LEN: usize = crate::password::CRAM_MD5_STATE_LEN;

fn account_exists(tx: &Transaction<'_>, account: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row("SELECT 1 FROM accounts WHERE name = ?1", [account], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

pub(super) fn require_account(tx: &Transaction<'_>, account: &str) -> Result<(), StoreError> {
    if account_exists(tx, account)? {
        Ok(())
    } else {
        Err(refused(format!("unknown account {account:?}")))
    }
}

/// The registered address that `address` (canonical) names under `case`, if any.
pub(super) fn registered_address(
    conn: &Connection,
    address: &str,
    case: LocalpartCase,
) -> Result<Option<RegisteredAddress>, StoreError> {
    let key = address_key(address, case)?;
    let sql = match case {
        LocalpartCase::Insensitive => "SELECT address, account FROM addresses WHERE folded = ?1",
        LocalpartCase::Sensitive => "SELECT address, account FROM addresses WHERE address = ?1",
    };
    Ok(conn
        .query_row(sql, [&key], |row| {
            Ok(RegisteredAddress {
                address: row.get(0)?,
                account: row.get(1)?,
            })
        })
        .optional()?)
}

fn refuse_address_in_use(
    tx: &Transaction<'_>,
    address: &str,
    case: LocalpartCase,
) -> Result<(), StoreError> {
    match registered_address(tx, address, case)? {
        Some(existing) if existing.address == address => Err(refused(format!(
            "address {address:?} is already in use by account {:?}",
            existing.account
        ))),
        Some(existing) => Err(refused(format!(
            "address {address:?} differs only by case from address {:?} of account {:?} \
             (localparts are case-insensitive; see localpart_case_sensitive in [authd])",
            existing.address, existing.account
        ))),
        None => Ok(()),
    }
}

fn insert_address(tx: &Transaction<'_>, address: &str, account: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO addresses (address, account, folded) VALUES (?1, ?2, ?3)",
        params![address, account, folded_address(address)?],
    )?;
    Ok(())
}

/// Brings every address's folded form up to date (rows from before schema version 3 have
/// none), in one transaction.
pub(super) fn update_folded_addresses(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows: Vec<(String, Option<String>)> = {
        let mut stmt = tx.prepare("SELECT address, folded FROM addresses")?;
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut updated = 0usize;
    for (address, stored) in rows {
        let folded = folded_address(&address)
            .map_err(|e| StoreError::Corrupt(format!("registered address: {e}")))?;
        if stored.as_deref() != Some(folded.as_str()) {
            tx.execute(
                "UPDATE addresses SET folded = ?2 WHERE address = ?1",
                params![address, folded],
            )?;
            updated += 1;
        }
    }
    tx.commit()?;
    if updated > 0 {
        tracing::info!(updated, "stored the case-folded form of addresses");
    }
    Ok(())
}

/// Refuses when two addresses have one folded form (they differ only by case).
pub(super) fn refuse_case_collisions(conn: &Connection) -> Result<(), StoreError> {
    let collision = conn
        .query_row(
            "SELECT a.address, a.account, b.address, b.account FROM addresses a \
             JOIN addresses b ON b.folded = a.folded AND b.address > a.address \
             ORDER BY a.address, b.address LIMIT 1",
            [],
            |row| {
                Ok(StoreError::CaseCollision {
                    first: row.get(0)?,
                    first_account: row.get(1)?,
                    second: row.get(2)?,
                    second_account: row.get(3)?,
                })
            },
        )
        .optional()?;
    match collision {
        Some(collision) => Err(collision),
        None => Ok(()),
    }
}

fn check_scram(what: &str, v: &ScramVerifier, key_len: usize) -> Result<(), String> {
    if v.salt.is_empty() {
        return Err(format!("{what} salt is empty"));
    }
    if v.iterations == 0 {
        return Err(format!("{what} iteration count is 0"));
    }
    if v.stored_key.len() != key_len || v.server_key.len() != key_len {
        return Err(format!("{what} keys are not {key_len} bytes"));
    }
    Ok(())
}

/// The shape every stored verifier must have (checked on write and on read).
fn check_verifiers(v: &PasswordVerifiers) -> Result<(), String> {
    if !v.argon2id.starts_with("$argon2id$") {
        return Err("argon2id verifier is not an argon2id PHC string".to_string());
    }
    check_scram("scram-sha-1 verifier", &v.scram_sha1, SHA1_LEN)?;
    check_scram("scram-sha-256 verifier", &v.scram_sha256, SHA256_LEN)?;
    if v.cram_md5.inner.len() != MD5_STATE_LEN || v.cram_md5.outer.len() != MD5_STATE_LEN {
        return Err(format!(
            "cram-md5 verifier states are not {MD5_STATE_LEN} bytes"
        ));
    }
    Ok(())
}

fn scram_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<(ScramVerifier, i64)> {
    let iterations: i64 = row.get(first + 1)?;
    Ok((
        ScramVerifier {
            salt: row.get(first)?,
            iterations: 0,
            stored_key: row.get(first + 2)?,
            server_key: row.get(first + 3)?,
        },
        iterations,
    ))
}

fn set_iterations(v: &mut ScramVerifier, raw: i64, account: &str) -> Result<(), StoreError> {
    v.iterations = u32::try_from(raw).map_err(|_| {
        StoreError::Corrupt(format!(
            "account {account:?}: scram iteration count {raw} out of range"
        ))
    })?;
    Ok(())
}

/// Columns of `password_verifiers` in the order [`verifiers_from_row`] reads them.
const VERIFIER_COLUMNS: &str = "v.argon2id, \
     v.scram_sha1_salt, v.scram_sha1_iterations, v.scram_sha1_stored_key, v.scram_sha1_server_key, \
     v.scram_sha256_salt, v.scram_sha256_iterations, v.scram_sha256_stored_key, v.scram_sha256_server_key, \
     v.cram_md5_inner, v.cram_md5_outer";

/// The verifiers starting at column `first` (from a LEFT JOIN: absent when argon2id is
/// NULL), with the raw iteration counts still to be range-checked.
type RawVerifiers = (PasswordVerifiers, i64, i64);

fn verifiers_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<RawVerifiers>> {
    let Some(argon2id) = row.get::<_, Option<String>>(first)? else {
        return Ok(None);
    };
    let (scram_sha1, it1) = scram_from_row(row, first + 1)?;
    let (scram_sha256, it256) = scram_from_row(row, first + 5)?;
    let cram_md5 = CramMd5Verifier {
        inner: row.get(first + 9)?,
        outer: row.get(first + 10)?,
    };
    Ok(Some((
        PasswordVerifiers {
            argon2id,
            scram_sha1,
            scram_sha256,
            cram_md5,
        },
        it1,
        it256,
    )))
}

fn finish_verifiers(raw: RawVerifiers, account: &str) -> Result<PasswordVerifiers, StoreError> {
    let (mut v, it1, it256) = raw;
    set_iterations(&mut v.scram_sha1, it1, account)?;
    set_iterations(&mut v.scram_sha256, it256, account)?;
    check_verifiers(&v)
        .map_err(|why| StoreError::Corrupt(format!("account {account:?}: {why}")))?;
    Ok(v)
}

/// The disabled message as stored: `None` enabled; empty becomes the default text.
fn disabled_message(message: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(message) = message else {
        return Ok(None);
    };
    let message = message.trim();
    if message.is_empty() {
        return Ok(Some(DEFAULT_DISABLED_MESSAGE.to_string()));
    }
    // Shown to users inside protocol lines: no line breaks or other controls.
    if message.chars().any(char::is_control) {
        return Err(refused(
            "the disabled message must not contain control characters or line breaks",
        ));
    }
    if message.chars().count() > MAX_DISABLED_MESSAGE_CHARS {
        return Err(refused(format!(
            "the disabled message must not be longer than {MAX_DISABLED_MESSAGE_CHARS} characters"
        )));
    }
    Ok(Some(message.to_string()))
}

impl Store {
    /// Everything needed to authenticate, read in one transaction.
    pub fn snapshot(&self) -> Result<CredentialSnapshot, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut snapshot = CredentialSnapshot {
            localpart_case: self.case,
            ..CredentialSnapshot::default()
        };
        {
            let mut stmt = tx.prepare(&format!(
                "SELECT a.name, a.disabled, {VERIFIER_COLUMNS} FROM accounts a \
                 LEFT JOIN password_verifiers v ON v.account = a.name"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let disabled: Option<String> = row.get(1)?;
                let verifiers = match verifiers_from_row(row, 2)? {
                    Some(raw) => Some(finish_verifiers(raw, &name)?),
                    None => None,
                };
                snapshot.accounts.insert(
                    name.clone(),
                    AccountCredentials {
                        name,
                        disabled,
                        verifiers,
                    },
                );
            }
        }
        {
            let mut stmt = tx.prepare("SELECT address, account FROM addresses")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let address: String = row.get(0)?;
                let key = address_key(&address, self.case)
                    .map_err(|e| StoreError::Corrupt(format!("registered address: {e}")))?;
                snapshot.addresses.insert(
                    key,
                    RegisteredAddress {
                        address,
                        account: row.get(1)?,
                    },
                );
            }
        }
        for key in tls_keys::all_records(&tx, None)? {
            snapshot.tls_keys.insert(key.fingerprint, key);
        }
        tx.finish()?;
        Ok(snapshot)
    }

    /// Adds an account with its first address (both canonicalised). Refused when the
    /// account exists, the address is in use, or an account of that name is still being
    /// removed.
    pub fn account_add(
        &mut self,
        account: &str,
        address: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let address = canonical_address(address)?;
        let case = self.case;
        let tx = self.write_tx()?;
        let pending = tx
            .query_row(
                "SELECT 1 FROM pending_removals WHERE name = ?1",
                [&account],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if pending {
            return Err(refused(format!(
                "account {account:?} is still being removed: its mail has not been deleted yet"
            )));
        }
        if account_exists(&tx, &account)? {
            return Err(refused(format!("account {account:?} already exists")));
        }
        refuse_address_in_use(&tx, &address, case)?;
        tx.execute(
            "INSERT INTO accounts (name, created, disabled) VALUES (?1, ?2, NULL)",
            params![account, now],
        )?;
        insert_address(&tx, &address, &account)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes an account with its addresses, verifiers, TLS keys, web sessions and login
    /// history, in one transaction. With `await_mail_removal`, the name stays reserved
    /// (see [`Store::pending_removals`]) until [`Store::removal_done`].
    pub fn account_remove(
        &mut self,
        account: &str,
        await_mail_removal: bool,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        for sql in [
            "DELETE FROM web_sessions WHERE account = ?1",
            "DELETE FROM mail_tickets WHERE account = ?1",
            "DELETE FROM tls_keys WHERE account = ?1",
            "DELETE FROM password_verifiers WHERE account = ?1",
            "DELETE FROM addresses WHERE account = ?1",
            "DELETE FROM login_attempts WHERE account = ?1",
            "DELETE FROM login_attempt_failed_counts WHERE account = ?1",
            "DELETE FROM accounts WHERE name = ?1",
        ] {
            tx.execute(sql, [&account])?;
        }
        if await_mail_removal {
            tx.execute(
                "INSERT OR IGNORE INTO pending_removals (name) VALUES (?1)",
                [&account],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Accounts removed whose mail has not been deleted yet, sorted.
    pub fn pending_removals(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM pending_removals ORDER BY name")?;
        let names = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// Releases the name of a removed account once its mail is gone (no error when it is
    /// not pending).
    pub fn removal_done(&mut self, account: &str) -> Result<(), StoreError> {
        let account = normalize_login_name(account);
        self.conn
            .execute("DELETE FROM pending_removals WHERE name = ?1", [&account])?;
        Ok(())
    }

    /// All accounts, sorted by name, each with its addresses sorted.
    pub fn account_list(&self) -> Result<Vec<AccountSummary>, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let mut addresses: HashMap<String, Vec<String>> = HashMap::new();
        {
            let mut stmt =
                tx.prepare("SELECT account, address FROM addresses ORDER BY account, address")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                addresses.entry(row.get(0)?).or_default().push(row.get(1)?);
            }
        }
        let mut list = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT a.name, a.created, a.disabled, \
                 EXISTS (SELECT 1 FROM password_verifiers v WHERE v.account = a.name) \
                 FROM accounts a ORDER BY a.name",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                list.push(AccountSummary {
                    addresses: addresses.remove(&name).unwrap_or_default(),
                    name,
                    created: row.get(1)?,
                    disabled: row.get(2)?,
                    has_password: row.get(3)?,
                });
            }
        }
        tx.finish()?;
        Ok(list)
    }

    /// Replaces the account's password verifiers and ends all its web sessions, in one
    /// transaction.
    pub fn set_password(
        &mut self,
        account: &str,
        verifiers: &PasswordVerifiers,
    ) -> Result<(), StoreError> {
        self.set_password_keeping(account, verifiers, None)
    }

    /// [`Store::set_password`], but the web session with this token hash (the one that
    /// changed its own password) stays.
    pub fn set_password_keeping(
        &mut self,
        account: &str,
        verifiers: &PasswordVerifiers,
        keep_session: Option<&[u8; 32]>,
    ) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        check_verifiers(verifiers)
            .map_err(|why| refused(format!("invalid password verifiers: {why}")))?;
        let v = verifiers;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        tx.execute(
            "INSERT OR REPLACE INTO password_verifiers (account, argon2id, \
             scram_sha1_salt, scram_sha1_iterations, scram_sha1_stored_key, scram_sha1_server_key, \
             scram_sha256_salt, scram_sha256_iterations, scram_sha256_stored_key, scram_sha256_server_key, \
             cram_md5_inner, cram_md5_outer) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                account,
                v.argon2id,
                v.scram_sha1.salt,
                i64::from(v.scram_sha1.iterations),
                v.scram_sha1.stored_key,
                v.scram_sha1.server_key,
                v.scram_sha256.salt,
                i64::from(v.scram_sha256.iterations),
                v.scram_sha256.stored_key,
                v.scram_sha256.server_key,
                v.cram_md5.inner,
                v.cram_md5.outer,
            ],
        )?;
        let keep: &[u8] = keep_session.map_or(&[], |hash| &hash[..]);
        tx.execute(
            "DELETE FROM web_sessions WHERE account = ?1 AND token_hash != ?2",
            params![account, keep],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Disables logins with a message for the user (`Some("")` stores
    /// [`DEFAULT_DISABLED_MESSAGE`]) and ends the account's web sessions, or enables
    /// logins (`None`).
    pub fn set_disabled(&mut self, account: &str, message: Option<&str>) -> Result<(), StoreError> {
        let account = canonical_account_name(account)?;
        let message = disabled_message(message)?;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        tx.execute(
            "UPDATE accounts SET disabled = ?2 WHERE name = ?1",
            params![account, message],
        )?;
        if message.is_some() {
            tx.execute("DELETE FROM web_sessions WHERE account = ?1", [&account])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds an address (canonicalised) to an existing account. Refused when it is in
    /// use, or, with case-insensitive localparts, when an address differing only by case
    /// is.
    pub fn address_add(&mut self, address: &str, account: &str) -> Result<(), StoreError> {
        let address = canonical_address(address)?;
        let account = canonical_account_name(account)?;
        let case = self.case;
        let tx = self.write_tx()?;
        require_account(&tx, &account)?;
        refuse_address_in_use(&tx, &address, case)?;
        insert_address(&tx, &address, &account)?;
        tx.commit()?;
        Ok(())
    }

    /// Removes an address (as localparts compare). Refused for an unknown address, for
    /// the last address of its account, and for the login address of a TLS key.
    pub fn address_remove(&mut self, address: &str) -> Result<(), StoreError> {
        let address = canonical_address(address)?;
        let case = self.case;
        let tx = self.write_tx()?;
        let Some(RegisteredAddress { address, account }) = registered_address(&tx, &address, case)?
        else {
            return Err(refused(format!("unknown address {address:?}")));
        };
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM addresses WHERE account = ?1",
            [&account],
            |row| row.get(0),
        )?;
        if count <= 1 {
            return Err(refused(format!(
                "cannot remove the last address of account {account:?}; remove the account instead"
            )));
        }
        let key: Option<(String, Vec<u8>)> = tx
            .query_row(
                "SELECT name, fingerprint FROM tls_keys WHERE login_address = ?1 \
                 ORDER BY created LIMIT 1",
                [&address],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        if let Some((name, fingerprint)) = key {
            let fingerprint = super::blob32(fingerprint, "tls key fingerprint")?;
            return Err(refused(format!(
                "address {address:?} is the login address of tls public key {name:?} ({}); \
                 remove the tls public key first",
                postern_ipc::KeyFingerprint(fingerprint)
            )));
        }
        tx.execute("DELETE FROM addresses WHERE address = ?1", [&address])?;
        tx.commit()?;
        Ok(())
    }
}
