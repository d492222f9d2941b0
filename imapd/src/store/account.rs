//! One account: opening its index, start-up repair, durable delivery.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

use super::layout::{
    self, FILE_MODE, MESSAGES_PER_DIR_SHIFT, create_dir, fanout_dir_name, io_err, sync_dir,
};
use super::mailbox::{self, DEFAULT_MAILBOXES};
use super::message::{Flags, MessageId, keywords_to_db, normalize_keywords};
use super::pins::PinTable;
use super::{INDEX_FILE_NAME, Result, StoreError, corrupt, schema, summary};
use postern_imap_proto::mime::summary::{MAX_SUMMARY_SCAN, MessageSummary};

const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many existing (orphan) files a delivery steps over before giving up.
const MAX_ID_SKIPS: u32 = 10_000;

/// The shared state behind every [`Account`] handle of one account.
pub(crate) struct AccountInner {
    pub(super) name: String,
    pub(super) msg_dir: PathBuf,
    pub(super) tmp_dir: PathBuf,
    conn: Mutex<Connection>,
    removed: AtomicBool,
    /// The highest modseq, published after every commit that took one.
    changes: tokio::sync::watch::Sender<u64>,
    /// The sessions' view pins, which hold back erasing expunged message files.
    pins: Mutex<PinTable>,
}

/// A handle to one account's mailboxes and messages. Cheap to clone; all clones (and
/// all handles from [`super::MailStore::account`] for the same name) share one index
/// connection, so their writes are serialised.
#[derive(Clone)]
pub struct Account {
    pub(super) inner: Arc<AccountInner>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

/// What is known about a message before it is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// System flags to set.
    pub flags: Flags,
    /// Keywords to set (normalised: lowercased, sorted, deduplicated).
    pub keywords: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub received: i64,
}

/// A stored message, as reported to the deliverer (UIDPLUS `APPENDUID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The message's ID (names its file).
    pub id: MessageId,
    /// Its UID in the mailbox.
    pub uid: u32,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The modseq of the delivery.
    pub modseq: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A message written to a temp file of the store and fsynced, not yet in any mailbox.
/// Dropping it deletes the temp file.
#[derive(Debug)]
pub struct StagedMessage {
    path: PathBuf,
    size: u64,
    header_size: u64,
    summary: MessageSummary,
}

impl StagedMessage {
    /// The message's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The length of its header, including the empty line that ends it.
    pub fn header_size(&self) -> u64 {
        self.header_size
    }

    /// Its sort and thread keys and preview, stored with it.
    pub fn summary(&self) -> &MessageSummary {
        &self.summary
    }
}

impl Drop for StagedMessage {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove temp file");
        }
    }
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl AccountInner {
    /// Opens (creating) the account at `dir` and runs the start-up repair.
    pub(crate) fn open(
        name: &str,
        dir: &Path,
        accounts_dir: &Path,
        tmp_dir: &Path,
    ) -> Result<AccountInner> {
        if layout::create_dir(dir)? {
            sync_dir(accounts_dir)?;
        } else {
            layout::ensure_dir(dir)?;
        }
        let msg_dir = dir.join("msg");
        layout::ensure_dir(&msg_dir)?;
        let path = dir.join(INDEX_FILE_NAME);
        prepare_db_file(&path)?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            fix_mode_if_exists(Path::new(&p))?;
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "mail index cannot use WAL journal mode");
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "trusted_schema", "OFF")?;
        schema::migrations().to_latest(&mut conn)?;
        init_account(&mut conn)?;
        repair(&mut conn, &msg_dir)?;
        summary::fill_missing(&mut conn, &msg_dir)?;
        let (changes, _) = tokio::sync::watch::channel(read_highest_modseq(&conn)?);
        let mut pins = PinTable::default();
        // Erases the repair could not finish are retried by the next trigger.
        pins.set_lowest_pending(lowest_pending_erase(&conn)?);
        Ok(AccountInner {
            name: name.to_string(),
            msg_dir,
            tmp_dir: tmp_dir.to_path_buf(),
            conn: Mutex::new(conn),
            removed: AtomicBool::new(false),
            changes,
            pins: Mutex::new(pins),
        })
    }

    /// Marks the account removed; returns the connection lock so that the caller can
    /// move the directory while no write is in progress.
    pub(crate) fn mark_removed(&self) -> MutexGuard<'_, Connection> {
        let guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        self.removed.store(true, Ordering::SeqCst);
        guard
    }
}

fn prepare_db_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_err(path))?;
    fix_mode_if_exists(path)
}

fn fix_mode_if_exists(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o7777 != FILE_MODE => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err(path))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// First open: the sequences and the default mailboxes, all with one UIDVALIDITY
/// (unix time >> 1), created at modseq 2.
fn init_account(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM meta)", [], |r| r.get(0))?;
    if !exists {
        let uidvalidity = (unix_now() >> 1).clamp(1, i64::from(u32::MAX) - 1);
        tx.execute(
            "INSERT INTO meta (id, next_message_id, next_uidvalidity, highest_modseq, disk_usage)
             VALUES (1, 1, ?1, 1, 0)",
            params![uidvalidity + 1],
        )?;
        let modseq = next_modseq(&tx)?;
        for (name, special_use) in DEFAULT_MAILBOXES {
            mailbox::insert_mailbox(&tx, name, uidvalidity, *special_use, modseq)?;
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                params![name],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The lowest modseq of the pending erases, `None` when there is none.
fn lowest_pending_erase(conn: &Connection) -> Result<Option<u64>> {
    let v: Option<i64> =
        conn.query_row("SELECT min(modseq) FROM pending_erase", [], |r| r.get(0))?;
    v.map(|m| u64::try_from(m).map_err(|_| corrupt(format!("pending erase modseq {m}"))))
        .transpose()
}

/// Start-up repair: finish pending erases (no session exists yet), then remove every
/// file a crash left between link and commit (an APPEND's, a delivery's, an import's)
/// and move the message-ID sequence past them.
fn repair(conn: &mut Connection, msg_dir: &Path) -> Result<()> {
    let pending: Vec<i64> = {
        let mut stmt = conn.prepare("SELECT message_id FROM pending_erase ORDER BY message_id")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    if !pending.is_empty() {
        erase_files(conn, msg_dir, &pending)?;
    }

    let next = read_next_message_id(conn)?;
    let first_dir = next >> MESSAGES_PER_DIR_SHIFT;
    let mut max_orphan: Option<u64> = None;
    let mut orphan_dirs = BTreeSet::new();
    for entry in std::fs::read_dir(msg_dir).map_err(io_err(msg_dir))? {
        let entry = entry.map_err(io_err(msg_dir))?;
        let dir_name = entry.file_name();
        let Some(dir_num) = dir_name.to_str().and_then(decode_fanout_dir) else {
            continue;
        };
        if dir_num < first_dir {
            continue;
        }
        let dir = entry.path();
        if !entry.file_type().map_err(io_err(&dir))?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let file = file.map_err(io_err(&dir))?;
            let Some(id) = file
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if id >= next && id < (1 << 62) {
                max_orphan = Some(max_orphan.map_or(id, |m| m.max(id)));
                // Placed by a transaction that never committed (the sequence moves
                // inside it): no row names it, no session has seen it.
                let path = file.path();
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        orphan_dirs.insert(dir.clone());
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot remove an orphan message file");
                    }
                }
            }
        }
    }
    for dir in &orphan_dirs {
        sync_dir(dir)?;
    }
    if let Some(max) = max_orphan {
        tracing::warn!(
            dir = %msg_dir.display(),
            orphan = max,
            "message files without index rows (a crash before a commit) removed; moving the message ID sequence past them"
        );
        let new_next = i64::try_from(max + 1).map_err(|_| corrupt("message ID overflow"))?;
        conn.execute(
            "UPDATE meta SET next_message_id = ?1 WHERE id = 1",
            params![new_next],
        )?;
    }
    Ok(())
}

/// Deletes the files of pending erases `ids` (skipping IDs that still have a live row),
/// fsyncs their directories and clears the pending records of those that are gone.
pub(super) fn erase_files(conn: &Connection, msg_dir: &Path, ids: &[i64]) -> Result<()> {
    let mut done = Vec::new();
    // Files gone (not live ones whose pending erase was a mistake): their summaries go.
    let mut erased = Vec::new();
    let mut dirs = BTreeSet::new();
    for &id in ids {
        let live: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE id = ?1)",
            params![id],
            |r| r.get(0),
        )?;
        if live {
            tracing::warn!(id, "pending erase of a live message ignored");
            done.push(id);
            continue;
        }
        let Ok(uid) = u64::try_from(id) else {
            done.push(id);
            continue;
        };
        let dir = msg_dir.join(fanout_dir_name(uid));
        let path = dir.join(uid.to_string());
        match std::fs::remove_file(&path) {
            Ok(()) => {
                dirs.insert(dir);
                done.push(id);
                erased.push(id);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                done.push(id);
                erased.push(id);
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot erase message file");
            }
        }
    }
    for dir in dirs {
        sync_dir(&dir)?;
    }
    // One transaction for all records (each commit is an fsync).
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached("DELETE FROM pending_erase WHERE message_id = ?1")?;
        for id in done {
            stmt.execute(params![id])?;
        }
    }
    summary::delete(&tx, &erased)?;
    tx.commit()?;
    Ok(())
}

/// Reverses [`fanout_dir_name`]; `None` for names it cannot produce.
pub(super) fn decode_fanout_dir(name: &str) -> Option<u64> {
    if name.is_empty() || name.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for (i, b) in name.bytes().enumerate() {
        let digit = match b {
            b'a'..=b'z' => b - b'a',
            b'A'..=b'Z' => b - b'A' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        v |= u64::from(digit) << (6 * i);
    }
    Some(v)
}

fn read_next_message_id(conn: &Connection) -> Result<u64> {
    let next: i64 = conn.query_row("SELECT next_message_id FROM meta WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    u64::try_from(next).map_err(|_| corrupt(format!("next_message_id {next}")))
}

fn read_highest_modseq(conn: &Connection) -> Result<u64> {
    let v: i64 = conn.query_row("SELECT highest_modseq FROM meta WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    u64::try_from(v).map_err(|_| corrupt(format!("highest_modseq {v}")))
}

/// Hands out the next modseq of the account (the first is 2).
pub(super) fn next_modseq(tx: &Transaction<'_>) -> Result<u64> {
    let m: i64 = tx.query_row(
        "UPDATE meta SET highest_modseq = highest_modseq + 1 WHERE id = 1
         RETURNING highest_modseq",
        [],
        |r| r.get(0),
    )?;
    u64::try_from(m).map_err(|_| corrupt(format!("modseq {m}")))
}

/// Adds `delta` (may be negative) to the account's disk usage.
pub(super) fn add_disk_usage(tx: &Transaction<'_>, delta: i64) -> Result<()> {
    tx.execute(
        "UPDATE meta SET disk_usage = max(0, disk_usage + ?1) WHERE id = 1",
        params![delta],
    )?;
    Ok(())
}

impl Account {
    pub(super) fn from_inner(inner: Arc<AccountInner>) -> Account {
        Account { inner }
    }

    /// The account's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Where message `id`'s file is.
    pub fn message_path(&self, id: MessageId) -> PathBuf {
        self.inner
            .msg_dir
            .join(fanout_dir_name(id.get()))
            .join(id.get().to_string())
    }

    /// Opens message `id`'s file for reading.
    pub fn open_message(&self, id: MessageId) -> Result<File> {
        let path = self.message_path(id);
        File::open(&path).map_err(io_err(&path))
    }

    /// The total size of the account's message files, in bytes.
    pub fn disk_usage(&self) -> Result<u64> {
        self.read(|conn| {
            let v: i64 =
                conn.query_row("SELECT disk_usage FROM meta WHERE id = 1", [], |r| r.get(0))?;
            u64::try_from(v).map_err(|_| corrupt(format!("disk_usage {v}")))
        })
    }

    /// The account's highest modseq so far.
    pub fn highest_modseq(&self) -> Result<u64> {
        self.read(read_highest_modseq)
    }

    /// A receiver of the account's highest modseq. It changes after every committed
    /// change that took a modseq (delivery, flags, expunge, copy, move, mailbox create,
    /// rename and delete), whichever handle made it; a session (in IDLE at once,
    /// otherwise at its next command) then asks [`Account::changes_since`] for what
    /// changed in its mailbox.
    pub fn watch_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub(super) fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        let guard = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        if self.inner.removed.load(Ordering::SeqCst) {
            return Err(StoreError::AccountRemoved(self.inner.name.clone()));
        }
        Ok(guard)
    }

    /// Runs `f` on the connection (for reads).
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock()?;
        f(&conn)
    }

    /// Runs `f` in a write transaction and commits when it returns `Ok`.
    pub(super) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        layout::trace(|| "commit".to_string());
        match read_highest_modseq(&conn) {
            Ok(m) => {
                self.inner.changes.send_if_modified(|v| {
                    let changed = *v != m;
                    *v = m;
                    changed
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the highest modseq"),
        }
        Ok(value)
    }

    /// Like [`Account::write`] for changes that place message files: the paths `f`
    /// pushes to its `placed` list are deleted again when `f` or the commit fails.
    pub(super) fn write_placing<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &mut Vec<PathBuf>) -> Result<T>,
    ) -> Result<T> {
        let mut placed = Vec::new();
        let res = self.write(|tx| f(tx, &mut placed));
        if res.is_err() {
            for path in &placed {
                if let Err(e) = std::fs::remove_file(path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), error = %e,
                        "cannot remove message file of a failed delivery");
                }
            }
        }
        res
    }

    /// The account's view pins (see [`super::pins`]). Lock order: the connection
    /// first, then the pins.
    pub(super) fn pins(&self) -> MutexGuard<'_, PinTable> {
        self.inner.pins.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes the files of the pending erases that no session's view pin holds back
    /// (all of them when no session has a mailbox selected). They are otherwise
    /// deleted after the expunge commits, when the last pin below them moves on, or
    /// at the next open.
    pub fn process_pending_erases(&self) -> Result<()> {
        self.read(|conn| {
            let limit = i64::try_from(self.pins().erase_limit()).unwrap_or(i64::MAX);
            let due: Vec<i64> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT message_id FROM pending_erase WHERE modseq <= ?1 ORDER BY message_id",
                )?;
                stmt.query_map(params![limit], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            if !due.is_empty() {
                erase_files(conn, &self.inner.msg_dir, &due)?;
            }
            let lowest = lowest_pending_erase(conn)?;
            self.pins().set_lowest_pending(lowest);
            Ok(())
        })
    }

    /// Writes `source` to a temp file of the store and fsyncs it; the first step of a
    /// delivery. Also computes the message's summary (sort and thread keys, preview) from
    /// its first bytes, which [`Account::append_staged`] stores with it. Does not take
    /// the account's lock, so an APPEND literal can stream in while other sessions
    /// write.
    pub fn stage(&self, source: &mut dyn Read) -> Result<StagedMessage> {
        let (path, mut file) = layout::create_temp(&self.inner.tmp_dir)?;
        // From here on, dropping `staged` removes the temp file.
        let mut staged = StagedMessage {
            path,
            size: 0,
            header_size: 0,
            summary: MessageSummary::default(),
        };
        let copied = layout::copy_counting(source, &mut file, MAX_SUMMARY_SCAN)
            .map_err(io_err(&staged.path))?;
        file.sync_all().map_err(io_err(&staged.path))?;
        layout::trace(|| "fsync temp".to_string());
        staged.size = copied.size;
        staged.header_size = copied.header_size;
        staged.summary = MessageSummary::of(&copied.prefix);
        Ok(staged)
    }

    /// Delivers one message durably into `mailbox`: [`Account::stage`] then
    /// [`Account::append_staged`]. When it returns `Ok`, the file and its index row are
    /// on disk (file, directory and transaction all synced); on `Err` nothing is
    /// visible and no file is left.
    pub fn deliver(
        &self,
        mailbox: &str,
        message: &NewMessage,
        source: &mut dyn Read,
    ) -> Result<Delivered> {
        let staged = self.stage(source)?;
        let mut out = self.append_staged(mailbox, vec![(message.clone(), staged)])?;
        out.pop()
            .ok_or_else(|| corrupt("append of one message returned none"))
    }

    /// Adds staged messages to `mailbox` in one transaction (APPEND, MULTIAPPEND, local
    /// delivery): each file is hard-linked into `msg/<dir>/<id>` (new fan-out
    /// directories are created and fsynced), every touched directory is fsynced once,
    /// then the rows are inserted and committed. All or nothing; returns the results
    /// in input order.
    pub fn append_staged(
        &self,
        mailbox: &str,
        messages: Vec<(NewMessage, StagedMessage)>,
    ) -> Result<Vec<Delivered>> {
        let name = mailbox::normalize_mailbox_name(mailbox)?;
        let mut prepared = Vec::with_capacity(messages.len());
        for (meta, staged) in messages {
            let keywords = normalize_keywords(&meta.keywords)?;
            prepared.push((meta, keywords, staged));
        }
        let save_date = unix_now();
        self.write_placing(|tx, placed| {
            let mb = mailbox::lookup_by_name(tx, &name)?;
            let modseq = next_modseq(tx)?;
            insert_staged(
                tx,
                &self.inner.msg_dir,
                &mb,
                modseq,
                save_date,
                &prepared,
                placed,
            )
        })
    }

    #[cfg(test)]
    pub(super) fn with_conn_for_test<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        let conn = self.inner.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

/// A staged message with its normalised keywords, ready for [`insert_staged`].
pub(super) type PreparedMessage = (NewMessage, Vec<String>, StagedMessage);

/// Places the files of `prepared` (see [`place_files`]) and inserts their rows into
/// `mb` at `modseq`, moving its UIDNEXT, its keywords and the disk usage along; the
/// results in input order.
pub(super) fn insert_staged(
    tx: &Transaction<'_>,
    msg_dir: &Path,
    mb: &mailbox::MailboxInfo,
    modseq: u64,
    save_date: i64,
    prepared: &[PreparedMessage],
    placed: &mut Vec<PathBuf>,
) -> Result<Vec<Delivered>> {
    let sources: Vec<&Path> = prepared.iter().map(|(_, _, s)| s.path.as_path()).collect();
    let ids = place_files(tx, msg_dir, &sources, placed)?;
    let mut uid_next = mb.uidnext;
    let mut out = Vec::with_capacity(prepared.len());
    let mut total: i64 = 0;
    let mut all_keywords = BTreeSet::new();
    for ((meta, keywords, staged), id) in prepared.iter().zip(ids) {
        let uid = uid_next;
        if uid == u32::MAX {
            return Err(StoreError::UidsExhausted(mb.name.clone()));
        }
        uid_next += 1;
        let size = i64::try_from(staged.size).map_err(|_| corrupt("size"))?;
        let header_size = i64::try_from(staged.header_size).map_err(|_| corrupt("size"))?;
        insert_message(
            tx,
            &MessageRowInsert {
                id,
                mailbox: mb.id.get(),
                uid,
                modseq,
                flags: meta.flags,
                keywords: &keywords_to_db(keywords),
                size,
                header_size,
                received: meta.received,
                save_date,
            },
        )?;
        summary::insert(tx, id, &staged.summary)?;
        all_keywords.extend(keywords.iter().cloned());
        total += size;
        out.push(Delivered {
            id,
            uid,
            uidvalidity: mb.uidvalidity,
            modseq,
            size: staged.size,
        });
    }
    mailbox::set_uidnext(tx, mb.id, uid_next)?;
    mailbox::add_keywords(tx, mb.id, all_keywords.iter())?;
    add_disk_usage(tx, total)?;
    Ok(out)
}

/// The columns of a new `messages` row.
pub(super) struct MessageRowInsert<'a> {
    pub(super) id: MessageId,
    pub(super) mailbox: i64,
    pub(super) uid: u32,
    pub(super) modseq: u64,
    pub(super) flags: Flags,
    pub(super) keywords: &'a str,
    pub(super) size: i64,
    pub(super) header_size: i64,
    pub(super) received: i64,
    pub(super) save_date: i64,
}

pub(super) fn insert_message(tx: &Transaction<'_>, row: &MessageRowInsert<'_>) -> Result<()> {
    let id = i64::try_from(row.id.get()).map_err(|_| corrupt("message id"))?;
    let modseq = i64::try_from(row.modseq).map_err(|_| corrupt("modseq"))?;
    tx.prepare_cached(
        "INSERT INTO messages (id, mailbox_id, uid, modseq, create_modseq, flags, keywords,
                               size, header_size, received, save_date)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        row.mailbox,
        row.uid,
        modseq,
        row.flags.bits(),
        row.keywords,
        row.size,
        row.header_size,
        row.received,
        row.save_date,
    ])?;
    layout::trace(|| format!("insert {id}"));
    Ok(())
}

/// Links each durable `sources` file to a new message ID's path, in order: a new
/// fan-out directory is created and fsynced (with `msg/`) first, then the link (or
/// copy and fsync) is made, and at the end every touched directory is fsynced once.
/// Paths made are pushed to `placed` (for removal on failure). Advances the ID
/// sequence inside `tx`.
pub(super) fn place_files(
    tx: &Transaction<'_>,
    msg_dir: &Path,
    sources: &[&Path],
    placed: &mut Vec<PathBuf>,
) -> Result<Vec<MessageId>> {
    let mut next = read_next_message_id(tx)?;
    let mut touched = BTreeSet::new();
    let mut ids = Vec::with_capacity(sources.len());
    for src in sources {
        let mut skips = 0;
        loop {
            let dir = msg_dir.join(fanout_dir_name(next));
            if create_dir(&dir)? {
                sync_dir(&dir)?;
                sync_dir(msg_dir)?;
            }
            let dst = dir.join(next.to_string());
            match layout::link_or_copy(src, &dst) {
                Ok(()) => {
                    placed.push(dst);
                    touched.insert(dir);
                    ids.push(MessageId::new(next));
                    next += 1;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && skips < MAX_ID_SKIPS => {
                    tracing::warn!(path = %dst.display(), "orphan message file; skipping its ID");
                    skips += 1;
                    next += 1;
                }
                Err(e) => return Err(io_err(&dst)(e)),
            }
        }
    }
    for dir in &touched {
        sync_dir(dir)?;
    }
    let next = i64::try_from(next).map_err(|_| corrupt("message ID overflow"))?;
    tx.execute(
        "UPDATE meta SET next_message_id = ?1 WHERE id = 1",
        params![next],
    )?;
    Ok(ids)
}

/// Reads an optional single value, for lookups.
pub(super) fn optional<T>(r: rusqlite::Result<T>) -> Result<Option<T>> {
    Ok(r.optional()?)
}
