//! Messages: flags and keywords, modseqs, listing by UID, changes since a modseq,
//! expunge with tombstones, copy and move.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use rusqlite::{Connection, Transaction, params};

use super::account::{
    Account, MessageRowInsert, add_disk_usage, insert_message, next_modseq, place_files, unix_now,
};
use super::mailbox::{self, MailboxId, MailboxInfo};
use super::summary;
use super::{Result, StoreError, corrupt};

/// The longest keyword accepted, in bytes.
pub const MAX_KEYWORD_LEN: usize = 200;

/// An inclusive range of UIDs (`1:*` is `1..=u32::MAX`).
pub type UidRange = RangeInclusive<u32>;

/// A message's ID: names its file, unique in the account, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(u64);

impl MessageId {
    pub(crate) fn new(v: u64) -> MessageId {
        MessageId(v)
    }

    /// The raw value.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The IMAP system flags of a message, as a bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No flag.
    pub const EMPTY: Flags = Flags(0);
    /// `\Seen`
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`
    pub const DRAFT: Flags = Flags(16);
    const ALL: u8 = 31;
    const NAMES: [(Flags, &'static str); 5] = [
        (Flags::SEEN, "\\Seen"),
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::DRAFT, "\\Draft"),
    ];

    /// The raw bits.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set for `bits`, or `None` when an unknown bit is set.
    pub fn from_bits(bits: u8) -> Option<Flags> {
        (bits & !Flags::ALL == 0).then_some(Flags(bits))
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` without `other`.
    pub fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Parses one system flag name such as `\Seen` (case-insensitive). `\Recent` and
    /// keywords give `None`.
    pub fn from_name(name: &str) -> Option<Flags> {
        Flags::NAMES
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(f, _)| *f)
    }

    /// The IMAP names of the set flags, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        Flags::NAMES
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

/// Normalises a keyword: lowercased ASCII; must be an IMAP atom (no space, control,
/// `(){%*"\]`), not start with `\`, and be at most [`MAX_KEYWORD_LEN`] bytes.
pub fn normalize_keyword(keyword: &str) -> Result<String> {
    let ok = !keyword.is_empty()
        && keyword.len() <= MAX_KEYWORD_LEN
        && keyword
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    if ok {
        Ok(keyword.to_ascii_lowercase())
    } else {
        Err(StoreError::InvalidKeyword(keyword.to_string()))
    }
}

pub(super) fn normalize_keywords(keywords: &[String]) -> Result<Vec<String>> {
    let set: BTreeSet<String> = keywords
        .iter()
        .map(|k| normalize_keyword(k))
        .collect::<Result<_>>()?;
    Ok(set.into_iter().collect())
}

pub(super) fn keywords_to_db(keywords: &[String]) -> String {
    keywords.join(" ")
}

pub(super) fn keywords_from_db(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// A live message as the index knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// Its ID (file name).
    pub id: MessageId,
    /// Its UID in the mailbox.
    pub uid: u32,
    /// The modseq of its last change.
    pub modseq: u64,
    /// System flags.
    pub flags: Flags,
    /// Keywords, lowercase, sorted.
    pub keywords: Vec<String>,
    /// Size in bytes (RFC822.SIZE).
    pub size: u64,
    /// Length of the header including the empty line; the body starts here.
    pub header_size: u64,
    /// INTERNALDATE, unix seconds.
    pub received: i64,
    /// SAVEDATE: when it was put into this mailbox, unix seconds.
    pub save_date: i64,
}

const MESSAGE_COLUMNS: &str =
    "id, uid, modseq, flags, keywords, size, header_size, received, save_date";

/// [`MESSAGE_COLUMNS`] of a live message under the UID of a tombstone `e`.
const RETAINED_COLUMNS: &str = "m.id, e.uid, m.modseq, m.flags, m.keywords, m.size, \
     m.header_size, m.received, m.save_date";
/// [`MESSAGE_COLUMNS`] of a pending erase `p` under the UID of a tombstone `e`.
const RETAINED_ERASE_COLUMNS: &str = "p.message_id, e.uid, coalesce(p.message_modseq, 0), \
     coalesce(p.flags, 0), coalesce(p.keywords, ''), p.size, coalesce(p.header_size, 0), \
     coalesce(p.received, 0), coalesce(p.save_date, 0)";

type RawMessage = (i64, i64, i64, i64, String, i64, i64, i64, i64);

fn raw_message(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMessage> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    ))
}

fn decode_message(raw: RawMessage) -> Result<MessageInfo> {
    let (id, uid, modseq, flags, keywords, size, header_size, received, save_date) = raw;
    let bad = |what: &str, v: i64| corrupt(format!("message {id}: {what} {v}"));
    Ok(MessageInfo {
        id: MessageId(u64::try_from(id).map_err(|_| bad("id", id))?),
        uid: u32::try_from(uid)
            .ok()
            .filter(|u| *u > 0)
            .ok_or_else(|| bad("uid", uid))?,
        modseq: u64::try_from(modseq).map_err(|_| bad("modseq", modseq))?,
        flags: u8::try_from(flags)
            .ok()
            .and_then(Flags::from_bits)
            .ok_or_else(|| bad("flags", flags))?,
        keywords: keywords_from_db(&keywords),
        size: u64::try_from(size).map_err(|_| bad("size", size))?,
        header_size: u64::try_from(header_size).map_err(|_| bad("header_size", header_size))?,
        received,
        save_date,
    })
}

/// Records pending erases of the `messages` rows a `FROM messages WHERE …` clause
/// appended to it selects, with the index entry as it is and the expunge's modseq as
/// parameter `?2`.
pub(super) const PENDING_ERASE_INSERT: &str = "INSERT INTO pending_erase
        (message_id, modseq, message_modseq, flags, keywords, size, header_size, received,
         save_date)
     SELECT id, ?2, modseq, flags, keywords, size, header_size, received, save_date";

/// Sorted, merged, non-empty ranges.
pub(super) fn merge_ranges(ranges: &[UidRange]) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = ranges
        .iter()
        .filter(|r| r.start() <= r.end())
        .map(|r| (*r.start(), *r.end()))
        .collect();
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The live messages of `mailbox` with a UID in `ranges`, by UID.
fn select_messages(
    conn: &Connection,
    mailbox: MailboxId,
    ranges: &[UidRange],
) -> Result<Vec<MessageInfo>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE mailbox_id = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
    ))?;
    let mut out = Vec::new();
    for (a, b) in merge_ranges(ranges) {
        let raws = stmt
            .query_map(params![mailbox.get(), a, b], raw_message)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for raw in raws {
            out.push(decode_message(raw)?);
        }
    }
    Ok(out)
}

/// How a STORE changes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

/// A STORE: an operation with the system flags and keywords it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagChange {
    /// Add, remove or replace.
    pub op: FlagOp,
    /// System flags named.
    pub flags: Flags,
    /// Keywords named (normalised by the store).
    pub keywords: Vec<String>,
}

/// What a STORE did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// The modseq given to the changed messages; `None` when nothing changed.
    pub modseq: Option<u64>,
    /// The messages that changed, in their new state, by UID.
    pub changed: Vec<MessageInfo>,
    /// UIDs not changed because their modseq exceeded UNCHANGEDSINCE (the `MODIFIED`
    /// response code).
    pub modified: Vec<u32>,
}

/// Changes in a mailbox since a modseq (CONDSTORE `CHANGEDSINCE`, QRESYNC).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Live messages changed (or added) after the modseq, by UID.
    pub changed: Vec<MessageInfo>,
    /// UIDs expunged (or moved away) after the modseq, ascending.
    pub expunged: Vec<u32>,
    /// The mailbox's HIGHESTMODSEQ now.
    pub highest_modseq: u64,
}

/// What an EXPUNGE removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpungeOutcome {
    /// The expunged UIDs, ascending.
    pub uids: Vec<u32>,
    /// The modseq of the expunge; `None` when nothing was expunged.
    pub modseq: Option<u64>,
}

/// What a COPY or MOVE did (UIDPLUS `COPYUID`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The destination's UIDVALIDITY.
    pub uidvalidity: u32,
    /// (source UID, destination UID) pairs, by source UID.
    pub uids: Vec<(u32, u32)>,
    /// The modseq of the change; `None` when no message matched.
    pub modseq: Option<u64>,
}

fn db_i64(v: u64, what: &str) -> Result<i64> {
    i64::try_from(v).map_err(|_| corrupt(format!("{what} {v}")))
}

/// Moves `rows` (live messages of `src`) to `dst` with new UIDs at `modseq`, leaving
/// tombstones in `src`. Returns (old UID, new UID) pairs.
fn move_in_tx(
    tx: &Transaction<'_>,
    src: MailboxId,
    rows: &[MessageInfo],
    dst: &MailboxInfo,
    modseq: u64,
) -> Result<Vec<(u32, u32)>> {
    let modseq = db_i64(modseq, "modseq")?;
    let now = unix_now();
    let mut uid_next = dst.uidnext;
    let mut pairs = Vec::with_capacity(rows.len());
    let mut keywords = BTreeSet::new();
    for row in rows {
        if uid_next == u32::MAX {
            return Err(StoreError::UidsExhausted(dst.name.clone()));
        }
        let id = db_i64(row.id.get(), "message id")?;
        tx.prepare_cached(
            "UPDATE messages SET mailbox_id = ?2, uid = ?3, modseq = ?4, save_date = ?5
             WHERE id = ?1",
        )?
        .execute(params![id, dst.id.get(), uid_next, modseq, now])?;
        tx.prepare_cached(
            "INSERT INTO expunged (mailbox_id, uid, modseq, message_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![src.get(), row.uid, modseq, id])?;
        keywords.extend(row.keywords.iter().cloned());
        pairs.push((row.uid, uid_next));
        uid_next += 1;
    }
    mailbox::set_uidnext(tx, dst.id, uid_next)?;
    mailbox::add_keywords(tx, dst.id, keywords.iter())?;
    Ok(pairs)
}

/// Moves every message of `src` to `dst` (used by RENAME of Inbox).
pub(super) fn move_all_in_tx(
    tx: &Transaction<'_>,
    src: MailboxId,
    dst: MailboxId,
    modseq: u64,
) -> Result<()> {
    let rows = select_messages(tx, src, &[1..=u32::MAX])?;
    let dst = mailbox::lookup_by_id(tx, dst)?;
    move_in_tx(tx, src, &rows, &dst, modseq)?;
    Ok(())
}

impl Account {
    /// The live messages of `mailbox` whose UID is in `uids`, ascending by UID.
    pub fn messages(&self, mailbox: MailboxId, uids: &[UidRange]) -> Result<Vec<MessageInfo>> {
        self.read(|conn| {
            mailbox::lookup_by_id(conn, mailbox)?;
            select_messages(conn, mailbox, uids)
        })
    }

    /// The messages a session's view of `mailbox` may still show under `uids` although
    /// they are gone from it (expunged, or moved away, by another session) and whose
    /// files are kept for that view (see [`Account::pin_view`]): their index entries as
    /// they were (expunged) or are (moved), under the UID given, ascending by UID. UIDs
    /// with no such message are left out.
    pub fn retained_messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<MessageInfo>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RETAINED_COLUMNS} FROM expunged e JOIN messages m ON m.id = e.message_id
                 WHERE e.mailbox_id = ?1 AND e.uid = ?2
                 UNION ALL
                 SELECT {RETAINED_ERASE_COLUMNS}
                 FROM expunged e JOIN pending_erase p ON p.message_id = e.message_id
                 WHERE e.mailbox_id = ?1 AND e.uid = ?2 AND p.size IS NOT NULL
                 LIMIT 1"
            ))?;
            let mut sorted = uids.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let mut out = Vec::new();
            for uid in sorted {
                let raws = stmt
                    .query_map(params![mailbox.get(), uid], raw_message)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                for raw in raws {
                    out.push(decode_message(raw)?);
                }
            }
            Ok(out)
        })
    }

    /// Changes flags and keywords of the messages of `mailbox` in `uids` (STORE). Only
    /// messages that actually change get the new modseq; with `unchanged_since`
    /// (CONDSTORE), a message whose modseq is higher is left alone and reported in
    /// [`StoreOutcome::modified`].
    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[UidRange],
        change: &FlagChange,
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        let keywords = normalize_keywords(&change.keywords)?;
        self.write(|tx| {
            mailbox::lookup_by_id(tx, mailbox)?;
            let rows = select_messages(tx, mailbox, uids)?;
            let mut out = StoreOutcome::default();
            for mut row in rows {
                if unchanged_since.is_some_and(|u| row.modseq > u) {
                    out.modified.push(row.uid);
                    continue;
                }
                let (flags, kws) = match change.op {
                    FlagOp::Add => {
                        let set: BTreeSet<String> =
                            row.keywords.iter().chain(&keywords).cloned().collect();
                        (row.flags.union(change.flags), set.into_iter().collect())
                    }
                    FlagOp::Remove => (
                        row.flags.difference(change.flags),
                        row.keywords
                            .iter()
                            .filter(|k| !keywords.contains(k))
                            .cloned()
                            .collect(),
                    ),
                    FlagOp::Replace => (change.flags, keywords.clone()),
                };
                if flags == row.flags && kws == row.keywords {
                    continue;
                }
                let modseq = match out.modseq {
                    Some(m) => m,
                    None => {
                        let m = next_modseq(tx)?;
                        out.modseq = Some(m);
                        m
                    }
                };
                tx.prepare_cached(
                    "UPDATE messages SET flags = ?2, keywords = ?3, modseq = ?4 WHERE id = ?1",
                )?
                .execute(params![
                    db_i64(row.id.get(), "message id")?,
                    flags.bits(),
                    keywords_to_db(&kws),
                    db_i64(modseq, "modseq")?
                ])?;
                row.flags = flags;
                row.keywords = kws;
                row.modseq = modseq;
                out.changed.push(row);
            }
            if out.modseq.is_some() && change.op != FlagOp::Remove {
                mailbox::add_keywords(tx, mailbox, keywords.iter())?;
            }
            Ok(out)
        })
    }

    /// What changed in `mailbox` after `modseq`: live messages with a higher modseq
    /// and the UIDs of tombstones with a higher modseq.
    pub fn changes_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Changes> {
        let since = db_i64(modseq, "modseq")?;
        self.read(|conn| {
            mailbox::lookup_by_id(conn, mailbox)?;
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid"
                ))?
                .query_map(params![mailbox.get(), since], raw_message)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let changed = raws
                .into_iter()
                .map(decode_message)
                .collect::<Result<Vec<_>>>()?;
            let expunged = conn
                .prepare_cached(
                    "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
                )?
                .query_map(params![mailbox.get(), since], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .map(|u| u32::try_from(u).map_err(|_| corrupt(format!("tombstone uid {u}"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(Changes {
                changed,
                expunged,
                highest_modseq: mailbox::highest_modseq(conn, mailbox)?,
            })
        })
    }

    /// Expunges the messages of `mailbox` that have `\Deleted` (EXPUNGE), limited to
    /// `uids` when given (UID EXPUNGE). Their rows become tombstones with a new
    /// modseq; their files are recorded as pending erases in the same transaction and
    /// deleted once no session's view pin is below that modseq (at once when none is),
    /// or at the next open after a crash.
    pub fn expunge_deleted(
        &self,
        mailbox: MailboxId,
        uids: Option<&[UidRange]>,
    ) -> Result<ExpungeOutcome> {
        let all = [1..=u32::MAX];
        let ranges = uids.unwrap_or(&all);
        let out = self.write(|tx| {
            mailbox::lookup_by_id(tx, mailbox)?;
            let rows: Vec<MessageInfo> = select_messages(tx, mailbox, ranges)?
                .into_iter()
                .filter(|m| m.flags.contains(Flags::DELETED))
                .collect();
            if rows.is_empty() {
                return Ok(ExpungeOutcome::default());
            }
            let modseq = next_modseq(tx)?;
            let modseq_db = db_i64(modseq, "modseq")?;
            let mut size = 0i64;
            for row in &rows {
                let id = db_i64(row.id.get(), "message id")?;
                tx.prepare_cached(&format!(
                    "{PENDING_ERASE_INSERT} FROM messages WHERE id = ?1"
                ))?
                .execute(params![id, modseq_db])?;
                tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
                    .execute(params![id])?;
                tx.prepare_cached(
                    "INSERT INTO expunged (mailbox_id, uid, modseq, message_id)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![mailbox.get(), row.uid, modseq_db, id])?;
                size += db_i64(row.size, "size")?;
            }
            add_disk_usage(tx, -size)?;
            Ok(ExpungeOutcome {
                uids: rows.iter().map(|r| r.uid).collect(),
                modseq: Some(modseq),
            })
        })?;
        if let Some(modseq) = out.modseq {
            self.erase_after_commit(modseq);
        }
        Ok(out)
    }

    /// Copies the messages of `src` in `uids` to `dst` with new UIDs (COPY). Each copy
    /// is a new file (hard link of the durable source, or a synced copy); the touched
    /// directories are fsynced once before the single commit.
    pub fn copy_messages(
        &self,
        src: MailboxId,
        uids: &[UidRange],
        dst: MailboxId,
    ) -> Result<CopyOutcome> {
        let save_date = unix_now();
        self.write_placing(|tx, placed| {
            mailbox::lookup_by_id(tx, src)?;
            let dst = mailbox::lookup_by_id(tx, dst)?;
            let rows = select_messages(tx, src, uids)?;
            if rows.is_empty() {
                return Ok(CopyOutcome {
                    uidvalidity: dst.uidvalidity,
                    ..CopyOutcome::default()
                });
            }
            let paths: Vec<_> = rows.iter().map(|r| self.message_path(r.id)).collect();
            let sources: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
            let ids = place_files(tx, &self.inner.msg_dir, &sources, placed)?;
            let modseq = next_modseq(tx)?;
            let mut uid_next = dst.uidnext;
            let mut pairs = Vec::with_capacity(rows.len());
            let mut keywords = BTreeSet::new();
            let mut total = 0i64;
            for (row, id) in rows.iter().zip(ids) {
                if uid_next == u32::MAX {
                    return Err(StoreError::UidsExhausted(dst.name.clone()));
                }
                let size = db_i64(row.size, "size")?;
                insert_message(
                    tx,
                    &MessageRowInsert {
                        id,
                        mailbox: dst.id.get(),
                        uid: uid_next,
                        modseq,
                        flags: row.flags,
                        keywords: &keywords_to_db(&row.keywords),
                        size,
                        header_size: db_i64(row.header_size, "header_size")?,
                        received: row.received,
                        save_date,
                    },
                )?;
                summary::copy(tx, row.id, id)?;
                total += size;
                keywords.extend(row.keywords.iter().cloned());
                pairs.push((row.uid, uid_next));
                uid_next += 1;
            }
            mailbox::set_uidnext(tx, dst.id, uid_next)?;
            mailbox::add_keywords(tx, dst.id, keywords.iter())?;
            add_disk_usage(tx, total)?;
            Ok(CopyOutcome {
                uidvalidity: dst.uidvalidity,
                uids: pairs,
                modseq: Some(modseq),
            })
        })
    }

    /// Moves the messages of `src` in `uids` to `dst` (MOVE): the rows get new UIDs
    /// in `dst` and a new modseq, `src` keeps tombstones of the old UIDs. No file is
    /// touched, so this is one transaction.
    pub fn move_messages(
        &self,
        src: MailboxId,
        uids: &[UidRange],
        dst: MailboxId,
    ) -> Result<CopyOutcome> {
        self.write(|tx| {
            mailbox::lookup_by_id(tx, src)?;
            let dst = mailbox::lookup_by_id(tx, dst)?;
            let rows = select_messages(tx, src, uids)?;
            if rows.is_empty() {
                return Ok(CopyOutcome {
                    uidvalidity: dst.uidvalidity,
                    ..CopyOutcome::default()
                });
            }
            let modseq = next_modseq(tx)?;
            let pairs = move_in_tx(tx, src, &rows, &dst, modseq)?;
            Ok(CopyOutcome {
                uidvalidity: dst.uidvalidity,
                uids: pairs,
                modseq: Some(modseq),
            })
        })
    }
}
