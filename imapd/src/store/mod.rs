//! imapd's mail store: one SQLite index per account plus one file per message.
//!
//! Layout under the store root (`<data_dir>/imapd`), directories 0700 and files 0600:
//!
//! ```text
//! tmp/                          temp files of deliveries in progress (same filesystem)
//! accounts/<name>/index.db      the account's index (WAL, synchronous=FULL)
//! accounts/<name>/msg/<dir>/<id> one file per message, named by its decimal ID
//! removing-<nanos>-<name>/      an account directory being removed
//! ```
//!
//! `<dir>` is `id >> 13` written in the alphabet `a-zA-Z0-9-_`, least significant six
//! bits first (see [`fanout_dir_name`]), as mox does.
//!
//! Durability (DESIGN.md invariant 7): a message becomes visible only by the commit of
//! its index row, and that commit happens only after the message file was written to a
//! temp file and fsynced, the fan-out directory (when new) was created and fsynced, the
//! file was hard-linked (or copied and fsynced) into place and the message directory was
//! fsynced. When anything fails, the linked file is removed again, so nothing is
//! visible and nothing is left behind. A crash between link and commit leaves a file
//! without a row; opening the account moves the message-ID sequence past it.
//!
//! API in short: [`MailStore::open`], [`MailStore::account`],
//! [`MailStore::remove_account`]; on an [`Account`]: delivery ([`Account::deliver`],
//! or [`Account::stage`] per message then one [`Account::append_staged`] for
//! APPEND/MULTIAPPEND), mailboxes ([`Account::mailboxes_with_status`],
//! [`Account::create_mailbox`], [`Account::rename_mailbox`],
//! [`Account::delete_mailbox`], subscriptions), messages by UID
//! ([`Account::messages`], [`Account::open_message`]), STORE
//! ([`Account::store_flags`] with UNCHANGEDSINCE), CONDSTORE/QRESYNC
//! ([`Account::changes_since`], tombstones), [`Account::expunge_deleted`],
//! [`Account::copy_messages`], [`Account::move_messages`], imports
//! ([`ImportPlan`] of staged messages, one [`Account::commit_import`]) and
//! [`Account::watch_changes`] for other sessions; sort keys and previews from the
//! message summaries stored with each file ([`Account::sort_entries`],
//! [`Account::previews`], see the `summary` module). Writes block (fsync); call them
//! from a blocking context (`spawn_blocking`) in async code.
//!
//! Expunged message files are erased only once every session that has a mailbox
//! selected has processed the expunge: sessions hold a [`ViewPin`]
//! ([`Account::pin_view`]) and a pending erase waits for the pins below its modseq
//! (see the `pins` module); meanwhile [`Account::retained_messages`] gives the index
//! entries of messages a view still shows.
//!
//! One [`MailStore`] per root per process: opening it deletes leftover temp files and
//! finishes interrupted account removals, and the first [`MailStore::account`] call per
//! account in the process runs the account's start-up repair (pending erases, orphan
//! files). All handles to one account share one connection behind a mutex, so writes
//! to an account are serialised; reading and fsyncing the incoming message
//! ([`Account::stage`]) happens outside that lock.

mod account;
mod import;
mod layout;
mod mailbox;
mod message;
mod pins;
mod schema;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

pub use account::{Account, Delivered, NewMessage, StagedMessage};
pub use import::{ImportOutcome, ImportPlan, ImportedMailboxOutcome};
pub use layout::{MESSAGES_PER_DIR_SHIFT, fanout_dir_name};
pub use mailbox::{
    DEFAULT_MAILBOXES, INBOX, MAX_MAILBOX_NAME_LEN, MailboxId, MailboxInfo, MailboxStatus,
    SpecialUse, normalize_mailbox_name,
};
pub use message::{
    Changes, CopyOutcome, ExpungeOutcome, FlagChange, FlagOp, Flags, MAX_KEYWORD_LEN, MessageId,
    MessageInfo, StoreOutcome, UidRange, normalize_keyword,
};
pub use pins::ViewPin;
pub use summary::SortEntry;

use layout::{io_err, sync_dir};

/// The index database's file name inside an account directory.
pub const INDEX_FILE_NAME: &str = "index.db";
/// Prefix of the name an account directory gets while it is being removed.
pub const REMOVING_PREFIX: &str = "removing-";
/// The longest account name accepted, in bytes.
pub const MAX_ACCOUNT_NAME_LEN: usize = 255;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("mail store {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("mail index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought to the current version.
    #[error("mail index schema migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A row read from the index holds a value it cannot hold.
    #[error("mail index holds a corrupt record: {0}")]
    Corrupt(String),
    /// The account name cannot name a directory of the store.
    #[error("invalid account name {0:?}")]
    InvalidAccountName(String),
    /// The mailbox name is not acceptable (empty part, control character, wildcard, …).
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidMailboxName {
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A keyword is not an IMAP atom, or is too long.
    #[error("invalid keyword {0:?}")]
    InvalidKeyword(String),
    /// No mailbox has this name (or ID).
    #[error("no such mailbox {0:?}")]
    NoSuchMailbox(String),
    /// A mailbox with this name exists already.
    #[error("mailbox {0:?} already exists")]
    MailboxExists(String),
    /// The mailbox has child mailboxes and cannot be deleted.
    #[error("mailbox {0:?} has child mailboxes")]
    HasChildren(String),
    /// The operation is not allowed on this mailbox (e.g. deleting Inbox).
    #[error("{0}")]
    NotAllowed(&'static str),
    /// The mailbox has handed out its last UID; it must be re-created.
    #[error("mailbox {0:?} has no UIDs left")]
    UidsExhausted(String),
    /// The account was removed while this handle was open.
    #[error("account {0:?} has been removed")]
    AccountRemoved(String),
}

/// Result type of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

/// The mail store of all accounts under one root directory.
pub struct MailStore {
    root: PathBuf,
    accounts_dir: PathBuf,
    tmp_dir: PathBuf,
    open: Mutex<HashMap<String, Weak<account::AccountInner>>>,
}

impl std::fmt::Debug for MailStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl MailStore {
    /// Opens the store at `root` (normally `<data_dir>/imapd`), creating `root`,
    /// `root/accounts` and `root/tmp` with mode 0700 when missing. Deletes every file
    /// left in `tmp/` (deliveries a crash interrupted) and finishes every interrupted
    /// account removal (`removing-*` directories).
    pub fn open(root: &Path) -> Result<MailStore> {
        layout::ensure_dir(root)?;
        let accounts_dir = root.join("accounts");
        let tmp_dir = root.join("tmp");
        layout::ensure_dir(&accounts_dir)?;
        layout::ensure_dir(&tmp_dir)?;

        // Leftover temp files: no delivery of this process is in progress yet.
        for entry in std::fs::read_dir(&tmp_dir).map_err(io_err(&tmp_dir))? {
            let entry = entry.map_err(io_err(&tmp_dir))?;
            remove_entry(&entry)?;
        }

        // Interrupted account removals.
        for entry in std::fs::read_dir(root).map_err(io_err(root))? {
            let entry = entry.map_err(io_err(root))?;
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(REMOVING_PREFIX)
            {
                remove_entry(&entry)?;
            }
        }
        sync_dir(root)?;

        Ok(MailStore {
            root: root.to_path_buf(),
            accounts_dir,
            tmp_dir,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens an account, creating its directory, index and default mailboxes (Inbox,
    /// Archive, Drafts, Junk, Sent, Trash, all subscribed) on first use. The first open
    /// in this process runs the start-up repair: pending erases are finished and the
    /// message-ID sequence is moved past any orphan message file. Later calls return a
    /// handle sharing the same connection.
    pub fn account(&self, name: &str) -> Result<Account> {
        validate_account_name(name)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(inner) = open.get(name).and_then(Weak::upgrade) {
            return Ok(Account::from_inner(inner));
        }
        let dir = self.accounts_dir.join(name);
        let inner = account::AccountInner::open(name, &dir, &self.accounts_dir, &self.tmp_dir)?;
        let inner = Arc::new(inner);
        open.retain(|_, w| w.strong_count() > 0);
        open.insert(name.to_string(), Arc::downgrade(&inner));
        Ok(Account::from_inner(inner))
    }

    /// Whether the account has a directory in the store.
    pub fn account_exists(&self, name: &str) -> Result<bool> {
        validate_account_name(name)?;
        let dir = self.accounts_dir.join(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&dir)(e)),
        }
    }

    /// Removes all data of an account, crash-safely: the account directory is first
    /// renamed to `root/removing-<nanos>-<name>` (atomic; the root is fsynced), then
    /// deleted. A removal interrupted after the rename is finished by the next
    /// [`MailStore::open`]. Handles to the account that are still open fail with
    /// [`StoreError::AccountRemoved`] from then on. Removing an account without data
    /// is not an error.
    pub fn remove_account(&self, name: &str) -> Result<()> {
        let Some(moved) = self.begin_account_removal(name)? else {
            return Ok(());
        };
        std::fs::remove_dir_all(&moved).map_err(io_err(&moved))?;
        sync_dir(&self.root)?;
        Ok(())
    }

    /// The first, atomic step of [`MailStore::remove_account`]: marks open handles
    /// removed and renames the account directory. Returns the new path, or `None`
    /// when the account has no directory.
    fn begin_account_removal(&self, name: &str) -> Result<Option<PathBuf>> {
        validate_account_name(name)?;
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let live = open.remove(name).and_then(|w| w.upgrade());
        // Hold the live handle's connection lock so no write is half-way.
        let _guard = live.as_ref().map(|inner| inner.mark_removed());
        let dir = self.accounts_dir.join(name);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let moved = self.root.join(format!("{REMOVING_PREFIX}{nanos}-{name}"));
        match std::fs::rename(&dir, &moved) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&dir)(e)),
        }
        sync_dir(&self.accounts_dir)?;
        sync_dir(&self.root)?;
        Ok(Some(moved))
    }
}

/// Removes a directory entry (recursively for a directory); gone already is fine.
fn remove_entry(entry: &std::fs::DirEntry) -> Result<()> {
    let path = entry.path();
    let is_dir = entry.file_type().map_err(io_err(&path))?.is_dir();
    let res = if is_dir {
        std::fs::remove_dir_all(&path)
    } else {
        std::fs::remove_file(&path)
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Checks that an account name can name a directory: 1 to
/// [`MAX_ACCOUNT_NAME_LEN`] bytes, no `/`, no NUL or other control character, not
/// starting with `.`.
pub fn validate_account_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ACCOUNT_NAME_LEN
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidAccountName(name.to_string()))
    }
}
