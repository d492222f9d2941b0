//! The queue's files and index: one SQLite database (WAL, `synchronous=FULL`) plus one
//! file per message.
//!
//! Layout under the queue directory (`<data_dir>/submitd/queue`), directories 0700 and
//! files 0600, all owned by submitd's user:
//!
//! ```text
//! index.db      messages and their recipients still to be delivered
//! tmp/          messages being written (deleted at start)
//! msg/<id>      one file per queued message, named by its decimal message ID
//! ```
//!
//! Adding a message (DESIGN.md invariant 7): the bytes go to a temp file, which is
//! fsynced; in one transaction the message row and its recipient rows are inserted, the
//! temp file is renamed to `msg/<id>`, `msg/` is fsynced, and the transaction commits.
//! Only the commit makes the message part of the queue. A crash before the commit
//! leaves a file without a row, which [`QueueStore::open`] deletes; a commit without
//! file cannot happen. Removing a message commits the removal of its rows first and
//! deletes the file afterwards; a crash in between leaves an orphan file, deleted at
//! the next start.
//!
//! A recipient row stays until its delivery succeeded or it bounced. A crash during a
//! delivery attempt leaves the row as it was, so the attempt is made again after
//! restart (at-least-once delivery).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use super::Envelope;

/// Mode of the queue's directories.
const DIR_MODE: u32 = 0o700;
/// Mode of the queue's files.
const FILE_MODE: u32 = 0o600;
/// Copy buffer for incoming messages.
const COPY_BUF: usize = 64 * 1024;
/// Longest error text kept per recipient.
const MAX_ERROR_LEN: usize = 1000;

/// The index's schema.
const SCHEMA_V1: &str = r#"
-- Queued messages. AUTOINCREMENT: an ID (and so a file name) is never reused while
-- the row sequence survives.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The account that submitted it (for a DSN: the account it goes to).
    account TEXT NOT NULL,
    -- Reverse path; '' for <>.
    mail_from TEXT NOT NULL,
    smtputf8 INTEGER NOT NULL CHECK (smtputf8 IN (0, 1)),
    -- Unix seconds when it was received.
    received INTEGER NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    -- 0: submitted by a client; 1: a delivery status notification (never bounced).
    kind INTEGER NOT NULL CHECK (kind IN (0, 1))
) STRICT;

-- Recipients still to be delivered.
CREATE TABLE recipients (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    address TEXT NOT NULL,
    -- Set when the recipient is known to be this local account (DSNs).
    local_account TEXT,
    -- Delivery attempts made so far.
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    -- Unix seconds of the next attempt.
    next_attempt INTEGER NOT NULL,
    -- Unix seconds of the last attempt, and what it gave.
    last_attempt INTEGER,
    last_error TEXT
) STRICT;
CREATE INDEX recipients_by_message ON recipients (message_id);
CREATE INDEX recipients_by_next_attempt ON recipients (next_attempt);
"#;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("queue {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// SQLite failed.
    #[error("queue index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be brought to the current version.
    #[error("queue index migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// A row holds a value it cannot hold.
    #[error("queue index holds a corrupt record: {0}")]
    Corrupt(String),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A queued message's ID (its row and its file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub i64);

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a queued message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A message a client submitted.
    Submitted,
    /// A delivery status notification submitd made; it is never bounced itself.
    Dsn,
}

impl MessageKind {
    fn code(self) -> i64 {
        match self {
            MessageKind::Submitted => 0,
            MessageKind::Dsn => 1,
        }
    }

    fn from_code(code: i64) -> Result<MessageKind> {
        match code {
            0 => Ok(MessageKind::Submitted),
            1 => Ok(MessageKind::Dsn),
            other => Err(StoreError::Corrupt(format!("message kind {other}"))),
        }
    }
}

/// A queued message with the recipients it still has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its ID.
    pub id: QueueId,
    /// The submitting account (for a DSN: the receiving account).
    pub account: String,
    /// The reverse path; empty for `<>`.
    pub mail_from: String,
    /// Whether SMTPUTF8 was requested.
    pub smtputf8: bool,
    /// Unix seconds when it was received.
    pub received: i64,
    /// Size of the message file.
    pub size: u64,
    /// Submitted message or DSN.
    pub kind: MessageKind,
    /// Recipients not yet delivered or bounced.
    pub recipients: Vec<QueuedRecipient>,
}

/// One recipient still to be delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// Row ID.
    pub id: i64,
    /// The address (RCPT TO).
    pub address: String,
    /// A local account to deliver to without looking the address up (DSNs).
    pub local_account: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix seconds of the next attempt.
    pub next_attempt: i64,
    /// What the last attempt gave, if it failed.
    pub last_error: Option<String>,
}

/// A recipient that failed for good, for the DSN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRecipient {
    /// The recipient's row ID.
    pub id: i64,
    /// The address.
    pub address: String,
    /// The SMTP reply code or local equivalent (e.g. 550, 451).
    pub code: u16,
    /// Enhanced status code, e.g. `5.1.1`.
    pub status: String,
    /// Human-readable diagnostic.
    pub diagnostic: String,
    /// The host that answered, if remote.
    pub remote_mta: Option<String>,
}

/// The queue's directory and index. Every method blocks (fsync); call them from a
/// blocking context in async code.
pub struct QueueStore {
    dir: PathBuf,
    msg_dir: PathBuf,
    tmp_dir: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for QueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl QueueStore {
    /// Opens the queue in `dir`, creating it (mode 0700) when missing, and repairs what
    /// a crash may have left: temp files, message files without a row (added but not
    /// committed, or removed but not yet deleted), and message rows without recipients
    /// or without a file.
    pub fn open(dir: &Path) -> Result<QueueStore> {
        ensure_dir(dir)?;
        let msg_dir = dir.join("msg");
        let tmp_dir = dir.join("tmp");
        ensure_dir(&msg_dir)?;
        ensure_dir(&tmp_dir)?;
        let db_path = dir.join("index.db");
        let mut conn = Connection::open(&db_path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Migrations::new(vec![M::up(SCHEMA_V1)]).to_latest(&mut conn)?;
        set_file_mode(&db_path)?;
        let store = QueueStore {
            dir: dir.to_path_buf(),
            msg_dir,
            tmp_dir,
            conn: Mutex::new(conn),
        };
        store.repair()?;
        Ok(store)
    }

    /// The queue directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn message_path(&self, id: QueueId) -> PathBuf {
        self.msg_dir.join(id.0.to_string())
    }

    fn repair(&self) -> Result<()> {
        let mut removed_temp = 0usize;
        for entry in std::fs::read_dir(&self.tmp_dir).map_err(io_err(&self.tmp_dir))? {
            let entry = entry.map_err(io_err(&self.tmp_dir))?;
            remove_file_if_exists(&entry.path())?;
            removed_temp += 1;
        }
        let conn = self.conn();
        // Messages without recipients: their removal was interrupted.
        conn.execute(
            "DELETE FROM messages WHERE id NOT IN (SELECT message_id FROM recipients)",
            [],
        )?;
        let mut known = std::collections::HashSet::new();
        {
            let mut stmt = conn.prepare("SELECT id FROM messages")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            for row in rows {
                known.insert(row?);
            }
        }
        let mut orphans = 0usize;
        let mut present = std::collections::HashSet::new();
        for entry in std::fs::read_dir(&self.msg_dir).map_err(io_err(&self.msg_dir))? {
            let entry = entry.map_err(io_err(&self.msg_dir))?;
            let name = entry.file_name();
            let id = name.to_str().and_then(|n| n.parse::<i64>().ok());
            match id {
                Some(id) if known.contains(&id) => {
                    present.insert(id);
                }
                _ => {
                    remove_file_if_exists(&entry.path())?;
                    orphans += 1;
                }
            }
        }
        let mut missing = 0usize;
        for id in known.difference(&present) {
            tracing::error!(queue_id = id, "queued message has no file; dropping it");
            conn.execute("DELETE FROM recipients WHERE message_id = ?1", [id])?;
            conn.execute("DELETE FROM messages WHERE id = ?1", [id])?;
            missing += 1;
        }
        drop(conn);
        if removed_temp + orphans > 0 {
            sync_dir(&self.tmp_dir)?;
            sync_dir(&self.msg_dir)?;
        }
        if removed_temp + orphans + missing > 0 {
            tracing::warn!(
                temp_files = removed_temp,
                orphan_files = orphans,
                missing_files = missing,
                "queue repaired after an interrupted run"
            );
        }
        Ok(())
    }

    /// Copies `message` (from offset 0 to its end) into the queue for `envelope`'s
    /// recipients, each due at once. Durable when it returns.
    pub fn add(
        &self,
        envelope: &Envelope,
        message: &mut File,
        kind: MessageKind,
    ) -> Result<QueueId> {
        let (temp_path, size) = self.write_temp(message)?;
        let recipients: Vec<(String, Option<String>)> = envelope
            .recipients
            .iter()
            .map(|r| (r.clone(), None))
            .collect();
        let result = self.commit_new(envelope, &recipients, kind, size, &temp_path, &[]);
        if result.is_err() {
            let _ = std::fs::remove_file(&temp_path);
        }
        result
    }

    /// Queues a DSN (bytes in `dsn`) for local delivery to `account`'s Inbox and, in the
    /// same transaction, removes the bounced recipients `bounced` (row IDs) of another
    /// message. Durable when it returns.
    pub fn add_dsn(
        &self,
        account: &str,
        address: &str,
        dsn: &[u8],
        received: i64,
        bounced: &[i64],
    ) -> Result<QueueId> {
        let mut reader = dsn;
        let (temp_path, size) = self.write_temp(&mut reader)?;
        let envelope = Envelope {
            account: account.to_string(),
            mail_from: String::new(),
            recipients: vec![address.to_string()],
            smtputf8: false,
            received,
        };
        let recipients = vec![(address.to_string(), Some(account.to_string()))];
        let result = self.commit_new(
            &envelope,
            &recipients,
            MessageKind::Dsn,
            size,
            &temp_path,
            bounced,
        );
        if result.is_err() {
            let _ = std::fs::remove_file(&temp_path);
        }
        result
    }

    fn write_temp(&self, source: &mut dyn Read) -> Result<(PathBuf, u64)> {
        let pid = std::process::id();
        let (path, mut file) = loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = self.tmp_dir.join(format!("{pid}-{n}"));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path)
            {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(&path)(e)),
            }
        };
        let copied = copy_all(source, &mut file).and_then(|n| file.sync_all().map(|()| n));
        match copied {
            Ok(size) => Ok((path, size)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(io_err(&path)(e))
            }
        }
    }

    fn commit_new(
        &self,
        envelope: &Envelope,
        recipients: &[(String, Option<String>)],
        kind: MessageKind,
        size: u64,
        temp_path: &Path,
        bounced: &[i64],
    ) -> Result<QueueId> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO messages (account, mail_from, smtputf8, received, size, kind) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                envelope.account,
                envelope.mail_from,
                envelope.smtputf8,
                envelope.received,
                i64::try_from(size).unwrap_or(i64::MAX),
                kind.code()
            ],
        )?;
        let id = QueueId(tx.last_insert_rowid());
        let now = unix_now();
        for (address, local_account) in recipients {
            tx.execute(
                "INSERT INTO recipients (message_id, address, local_account, attempts, next_attempt) \
                 VALUES (?1, ?2, ?3, 0, ?4)",
                params![id.0, address, local_account, now],
            )?;
        }
        for rcpt in bounced {
            tx.execute("DELETE FROM recipients WHERE id = ?1", [rcpt])?;
        }
        let final_path = self.message_path(id);
        std::fs::rename(temp_path, &final_path).map_err(io_err(&final_path))?;
        let synced = sync_dir(&self.msg_dir).and_then(|()| sync_dir(&self.tmp_dir));
        let committed = synced.and_then(|()| tx.commit().map_err(StoreError::from));
        if let Err(e) = committed {
            let _ = std::fs::remove_file(&final_path);
            return Err(e);
        }
        Ok(id)
    }

    /// IDs of messages with a recipient due at `now`, oldest first, at most `limit`,
    /// leaving out those in `busy`.
    pub fn due_messages(
        &self,
        now: i64,
        limit: usize,
        busy: &std::collections::HashSet<QueueId>,
    ) -> Result<Vec<QueueId>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT message_id, MIN(next_attempt) AS due FROM recipients \
             WHERE next_attempt <= ?1 GROUP BY message_id ORDER BY due, message_id",
        )?;
        let rows = stmt.query_map([now], |r| r.get::<_, i64>(0))?;
        let mut ids = Vec::new();
        for row in rows {
            let id = QueueId(row?);
            if !busy.contains(&id) {
                ids.push(id);
                if ids.len() >= limit {
                    break;
                }
            }
        }
        Ok(ids)
    }

    /// The earliest next attempt of any recipient, if any is queued.
    pub fn next_due(&self) -> Result<Option<i64>> {
        let conn = self.conn();
        Ok(
            conn.query_row("SELECT MIN(next_attempt) FROM recipients", [], |r| {
                r.get::<_, Option<i64>>(0)
            })?,
        )
    }

    /// Number of recipients still queued.
    pub fn pending_recipients(&self) -> Result<u64> {
        let conn = self.conn();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM recipients", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every queued message with its recipients, oldest first.
    pub fn list(&self) -> Result<Vec<QueuedMessage>> {
        let ids: Vec<i64> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT id FROM messages ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(m) = self.load(QueueId(id))? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// A queued message with all its remaining recipients.
    pub fn load(&self, id: QueueId) -> Result<Option<QueuedMessage>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT account, mail_from, smtputf8, received, size, kind FROM messages WHERE id = ?1",
                [id.0],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((account, mail_from, smtputf8, received, size, kind)) = row else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT id, address, local_account, attempts, next_attempt, last_error \
             FROM recipients WHERE message_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id.0], |r| {
            Ok(QueuedRecipient {
                id: r.get(0)?,
                address: r.get(1)?,
                local_account: r.get(2)?,
                attempts: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
                next_attempt: r.get(4)?,
                last_error: r.get(5)?,
            })
        })?;
        let recipients = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(Some(QueuedMessage {
            id,
            account,
            mail_from,
            smtputf8,
            received,
            size: u64::try_from(size).map_err(|_| StoreError::Corrupt(format!("size {size}")))?,
            kind: MessageKind::from_code(kind)?,
            recipients,
        }))
    }

    /// Opens a queued message's file for reading.
    pub fn open_message(&self, id: QueueId) -> Result<File> {
        let path = self.message_path(id);
        File::open(&path).map_err(io_err(&path))
    }

    /// Removes delivered recipients (row IDs).
    pub fn delivered(&self, recipients: &[i64]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for id in recipients {
            tx.execute("DELETE FROM recipients WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a failed attempt of a recipient that stays queued until `next_attempt`.
    pub fn retry_later(
        &self,
        recipient: i64,
        attempts: u32,
        now: i64,
        next_attempt: i64,
        error: &str,
    ) -> Result<()> {
        let error = truncate(error, MAX_ERROR_LEN);
        self.conn().execute(
            "UPDATE recipients SET attempts = ?2, last_attempt = ?3, next_attempt = ?4, \
             last_error = ?5 WHERE id = ?1",
            params![recipient, attempts, now, next_attempt, error],
        )?;
        Ok(())
    }

    /// Removes recipients that failed for good without a DSN (recipients of a DSN).
    pub fn drop_recipients(&self, recipients: &[i64]) -> Result<()> {
        self.delivered(recipients)
    }

    /// Removes the message when it has no recipients left: its rows first (committed),
    /// then its file. Returns whether it was removed.
    pub fn finish_if_done(&self, id: QueueId) -> Result<bool> {
        let removed = {
            let conn = self.conn();
            conn.execute(
                "DELETE FROM messages WHERE id = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM recipients WHERE message_id = ?1)",
                [id.0],
            )?
        };
        if removed == 0 {
            return Ok(false);
        }
        remove_file_if_exists(&self.message_path(id))?;
        sync_dir(&self.msg_dir)?;
        Ok(true)
    }
}

/// Current unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn copy_all(source: &mut dyn Read, dest: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut total = 0u64;
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dest.write_all(buf.get(..n).unwrap_or_default())?;
        total += n as u64;
    }
}

fn ensure_dir(dir: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(dir).map_err(io_err(dir))?;
            if meta.permissions().mode() & 0o7777 != DIR_MODE {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
                    .map_err(io_err(dir))?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_dir(parent)?;
                return ensure_dir(dir);
            }
            Err(io_err(dir)(e))
        }
        Err(e) => Err(io_err(dir)(e)),
    }
}

fn set_file_mode(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE)).map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(recipients: &[&str]) -> Envelope {
        Envelope {
            account: "mjl".into(),
            mail_from: "mjl@example.org".into(),
            recipients: recipients.iter().map(|s| s.to_string()).collect(),
            smtputf8: false,
            received: 1_700_000_000,
        }
    }

    fn message_file(dir: &Path, bytes: &[u8]) -> File {
        let path = dir.join("incoming");
        std::fs::write(&path, bytes).unwrap();
        File::open(&path).unwrap()
    }

    #[test]
    fn added_messages_survive_reopening_with_their_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let qdir = tmp.path().join("queue");
        let id = {
            let store = QueueStore::open(&qdir).unwrap();
            let mut f = message_file(tmp.path(), b"Subject: hi\r\n\r\nbody\r\n");
            store
                .add(
                    &envelope(&["a@x.example", "b@y.example"]),
                    &mut f,
                    MessageKind::Submitted,
                )
                .unwrap()
        };
        let store = QueueStore::open(&qdir).unwrap();
        let m = store.load(id).unwrap().unwrap();
        assert_eq!(m.recipients.len(), 2);
        assert_eq!(m.size, 21);
        let mut bytes = Vec::new();
        store
            .open_message(id)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, b"Subject: hi\r\n\r\nbody\r\n");
        let mode = std::fs::metadata(qdir.join("msg").join(id.to_string()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn repair_removes_orphans_and_temp_files() {
        let tmp = tempfile::tempdir().unwrap();
        let qdir = tmp.path().join("queue");
        let id = {
            let store = QueueStore::open(&qdir).unwrap();
            let mut f = message_file(tmp.path(), b"x\r\n");
            store
                .add(&envelope(&["a@x.example"]), &mut f, MessageKind::Submitted)
                .unwrap()
        };
        std::fs::write(qdir.join("msg").join("999"), b"orphan").unwrap();
        std::fs::write(qdir.join("tmp").join("1-1"), b"half").unwrap();
        let store = QueueStore::open(&qdir).unwrap();
        assert!(!qdir.join("msg").join("999").exists());
        assert!(!qdir.join("tmp").join("1-1").exists());
        assert!(store.load(id).unwrap().is_some());
    }

    #[test]
    fn a_message_goes_away_with_its_last_recipient() {
        let tmp = tempfile::tempdir().unwrap();
        let store = QueueStore::open(&tmp.path().join("q")).unwrap();
        let mut f = message_file(tmp.path(), b"x\r\n");
        let id = store
            .add(
                &envelope(&["a@x.example", "b@x.example"]),
                &mut f,
                MessageKind::Submitted,
            )
            .unwrap();
        let m = store.load(id).unwrap().unwrap();
        store.delivered(&[m.recipients[0].id]).unwrap();
        assert!(!store.finish_if_done(id).unwrap());
        store
            .retry_later(m.recipients[1].id, 1, 10, 20, "451 try later")
            .unwrap();
        assert_eq!(
            store.due_messages(15, 10, &Default::default()).unwrap(),
            vec![]
        );
        assert_eq!(
            store.due_messages(20, 10, &Default::default()).unwrap(),
            vec![id]
        );
        store.delivered(&[m.recipients[1].id]).unwrap();
        assert!(store.finish_if_done(id).unwrap());
        assert!(store.load(id).unwrap().is_none());
        assert!(!tmp.path().join("q/msg").join(id.to_string()).exists());
    }

    #[test]
    fn a_dsn_replaces_the_bounced_recipients_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let store = QueueStore::open(&tmp.path().join("q")).unwrap();
        let mut f = message_file(tmp.path(), b"x\r\n");
        let id = store
            .add(&envelope(&["a@x.example"]), &mut f, MessageKind::Submitted)
            .unwrap();
        let rcpt = store.load(id).unwrap().unwrap().recipients[0].id;
        let dsn = store
            .add_dsn("mjl", "mjl@example.org", b"dsn\r\n", 5, &[rcpt])
            .unwrap();
        assert!(store.finish_if_done(id).unwrap());
        let d = store.load(dsn).unwrap().unwrap();
        assert_eq!(d.kind, MessageKind::Dsn);
        assert_eq!(d.recipients[0].local_account.as_deref(), Some("mjl"));
    }
}
