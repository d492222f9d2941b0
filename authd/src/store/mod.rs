//! The credentials database (`auth.db`, SQLite): accounts and their addresses, password
//! verifiers, TLS client public keys, web sessions, the login history, pending account
//! removals and the server secret.
//!
//! Only authd opens it. Every change that must be all-or-nothing runs in one
//! transaction. All times are unix seconds passed in by the caller, so that tests can
//! move time.

mod accounts;
mod login_attempts;
mod mail_tickets;
mod schema;
mod tls_keys;
mod web_sessions;

pub use mail_tickets::TicketRedemption;
pub use web_sessions::{AdminSessionRecord, MAX_SESSION_CLIENT_CHARS, NewSession};

use std::collections::HashMap;
use std::fmt;
use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use postern_ipc::{KeyFingerprint, TlsPublicKeyInfo};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use zeroize::Zeroize;

use crate::names::{LocalpartCase, NameError};
use crate::password::PasswordVerifiers;

/// The database file's name inside the store directory.
pub const DB_FILE_NAME: &str = "auth.db";
/// Login attempts whose latest occurrence is older than this are deleted.
pub const LOGIN_ATTEMPT_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// At most this many failed login-attempt rows are kept per account (and for `-`, the
/// unknown users); the oldest go first.
pub const MAX_FAILED_LOGIN_ATTEMPTS_PER_ACCOUNT: u64 = 10_000;
/// A web session unused for longer than this is expired.
pub const WEB_SESSION_IDLE_SECS: i64 = 24 * 3600;
/// At most this many web sessions per account; the least recently used goes first.
pub const MAX_WEB_SESSIONS_PER_ACCOUNT: usize = 100;
/// The message stored when an account is disabled without one.
pub const DEFAULT_DISABLED_MESSAGE: &str = "login disabled by the administrator";

const DIR_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request was refused; the message is for the admin, e.g.
    /// `account "x" already exists`.
    #[error("{0}")]
    Refused(String),
    /// An account name or address is not acceptable.
    #[error(transparent)]
    Name(#[from] NameError),
    /// SQLite failed.
    #[error("credentials database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought to the current version.
    #[error("credentials database schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A file or directory of the store could not be created or fixed.
    #[error("credentials database {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A row that cannot be decoded (wrong blob length, unknown enum name, ...).
    #[error("credentials database holds a corrupt record: {0}")]
    Corrupt(String),
    /// The operating system's random number generator failed.
    #[error("cannot get random bytes for the server secret: {0}")]
    Random(#[from] getrandom::Error),
    /// Two registered addresses differ only by the case of their localparts, while
    /// localparts are case-insensitive: they would be one address.
    #[error(
        "addresses {first:?} (account {first_account:?}) and {second:?} (account \
         {second_account:?}) differ only by case, but localparts are case-insensitive; \
         start authd once with `localpart_case_sensitive = true` in [authd], remove one of \
         them (`postern address rm`, or its account), then remove the setting again"
    )]
    CaseCollision {
        /// One of the addresses, as registered.
        first: String,
        /// Its account.
        first_account: String,
        /// The other address, as registered.
        second: String,
        /// Its account.
        second_account: String,
    },
}

fn refused(message: impl Into<String>) -> StoreError {
    StoreError::Refused(message.into())
}

/// The credentials database. Writes take `&mut self`; one `Store` per process.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    secret: [u8; 32],
    case: LocalpartCase,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// Everything needed to authenticate, loaded at once. authd keeps it in memory and
/// reloads it after each admin change.
#[derive(Clone, Debug, Default)]
pub struct CredentialSnapshot {
    /// Account name -> its credentials.
    pub accounts: HashMap<String, AccountCredentials>,
    /// Address key ([`crate::names::address_key`]) -> the address as registered.
    pub addresses: HashMap<String, RegisteredAddress>,
    /// Registered TLS client keys by fingerprint.
    pub tls_keys: HashMap<KeyFingerprint, TlsKeyRecord>,
    /// How localparts compare; the keys of `addresses` are made with it.
    pub localpart_case: LocalpartCase,
}

impl CredentialSnapshot {
    /// The registered address that `address` (as a client or admin typed it) names.
    pub fn address(&self, address: &str) -> Option<&RegisteredAddress> {
        let key = crate::names::address_key(address, self.localpart_case).ok()?;
        self.addresses.get(&key)
    }
}

/// An address with the spelling it was registered with (shown and put in headers) and
/// the account that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredAddress {
    /// The canonical address as registered.
    pub address: String,
    /// The owning account.
    pub account: String,
}

/// One account's login credentials. `Debug` does not print the verifiers.
#[derive(Clone)]
pub struct AccountCredentials {
    /// Account name (canonical).
    pub name: String,
    /// The reason logins are refused, when the account is disabled.
    pub disabled: Option<String>,
    /// The password verifiers; `None` when no password is set.
    pub verifiers: Option<PasswordVerifiers>,
}

impl fmt::Debug for AccountCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountCredentials")
            .field("name", &self.name)
            .field("disabled", &self.disabled)
            .field(
                "verifiers",
                &self.verifiers.as_ref().map(|_| format_args!("<redacted>")),
            )
            .finish()
    }
}

/// A registered TLS client public key with its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsKeyRecord {
    /// SHA-256 over the certificate's DER SubjectPublicKeyInfo.
    pub fingerprint: KeyFingerprint,
    /// Unix seconds when it was added.
    pub created: i64,
    /// Descriptive name (device).
    pub name: String,
    /// e.g. `ecdsa-p256`, `rsa-2048`, `ed25519` (see [`crate::tls_key`]).
    pub key_type: String,
    /// The account it logs in to.
    pub account: String,
    /// The address it logs in as; must be one of the account's addresses.
    pub login_address: String,
    /// When set, IMAP does not greet with PREAUTH for this key.
    pub no_imap_preauth: bool,
    /// The certificate as uploaded (DER).
    pub certificate_der: Vec<u8>,
}

impl TlsKeyRecord {
    /// The key as listed to the admin (without the certificate).
    pub fn info(&self) -> TlsPublicKeyInfo {
        TlsPublicKeyInfo {
            fingerprint: self.fingerprint.to_base64url(),
            created: self.created,
            name: self.name.clone(),
            key_type: self.key_type.clone(),
            account: self.account.clone(),
            login_address: self.login_address.clone(),
            no_imap_preauth: self.no_imap_preauth,
        }
    }
}

/// A live web session, found by the hash of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSessionRecord {
    /// The session's identifier (its row), as listed to the account.
    pub id: i64,
    /// The account the session acts for.
    pub account: String,
    /// The address used to log in.
    pub login_address: String,
    /// SHA-256 of the session's CSRF token.
    pub csrf_hash: [u8; 32],
}

impl Store {
    /// Opens (creating) `dir/auth.db`.
    ///
    /// `dir` is created with mode 0700 (its parent must exist) or chmodded to 0700; the
    /// database file is created with mode 0600 whatever the umask, or chmodded to 0600
    /// (SQLite gives its `-wal` and `-shm` files the database file's mode). The database
    /// runs in WAL mode with `synchronous=FULL` and foreign keys on; the schema is
    /// migrated to the current version, and a random 32-byte server secret is created
    /// on first open. Every address's folded form is brought up to date; with
    /// case-insensitive localparts, two addresses that differ only by case refuse the
    /// open ([`StoreError::CaseCollision`]).
    pub fn open(dir: &Path, case: LocalpartCase) -> Result<Store, StoreError> {
        prepare_dir(dir)?;
        let path = dir.join(DB_FILE_NAME);
        prepare_db_file(&path)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = path.clone().into_os_string();
            name.push(suffix);
            fix_mode_if_exists(Path::new(&name))?;
        }

        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let journal_mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                path = %path.display(),
                journal_mode,
                "credentials database cannot use WAL journal mode"
            );
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted verifiers and sessions are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        schema::migrations().to_latest(&mut conn)?;
        accounts::update_folded_addresses(&mut conn)?;
        if case == LocalpartCase::Insensitive {
            accounts::refuse_case_collisions(&conn)?;
        }

        let secret = load_or_create_secret(&mut conn)?;
        Ok(Store {
            conn,
            path,
            secret,
            case,
        })
    }

    /// How this store compares localparts.
    pub fn localpart_case(&self) -> LocalpartCase {
        self.case
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The random 32-byte secret created on first open (for keys derived by authd, e.g.
    /// SCRAM proofs for unknown users).
    pub fn server_secret(&self) -> [u8; 32] {
        self.secret
    }

    fn write_tx(&mut self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error(dir)(e)),
    }
    let meta = std::fs::metadata(dir).map_err(io_error(dir))?;
    if !meta.is_dir() {
        return Err(io_error(dir)(std::io::Error::other("not a directory")));
    }
    // Also when just created: the umask may have taken bits away.
    if meta.permissions().mode() & 0o7777 != DIR_MODE {
        std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(io_error(dir))?;
    }
    Ok(())
}

fn prepare_db_file(path: &Path) -> Result<(), StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
        .map_err(io_error(path))?;
    let meta = file.metadata().map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(io_error(path)(std::io::Error::other("not a regular file")));
    }
    if meta.permissions().mode() & 0o7777 != FILE_MODE {
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(io_error(path))?;
    }
    Ok(())
}

fn fix_mode_if_exists(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(path)(e)),
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o7777 != FILE_MODE => {
            std::fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
                .map_err(io_error(path))
        }
        Ok(_) => Ok(()),
    }
}

fn load_or_create_secret(conn: &mut Connection) -> Result<[u8; 32], StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let existing: Option<Vec<u8>> = tx
        .query_row("SELECT server_secret FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()?;
    let secret = match existing {
        Some(bytes) => blob32(bytes, "server secret")?,
        None => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)?;
            tx.execute(
                "INSERT INTO meta (id, server_secret) VALUES (1, ?1)",
                [&secret[..]],
            )?;
            secret
        }
    };
    tx.commit()?;
    Ok(secret)
}

/// A 32-byte blob read from the database, or `Corrupt` naming `what`.
fn blob32(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is {len} bytes, not 32")))
}

#[cfg(test)]
mod tests;
