//! Mailboxes: names, UIDVALIDITY/UIDNEXT, special use, create/rename/delete, counts,
//! subscriptions.

use postern_imap_proto::mailbox_name::check_mailbox_name;
use rusqlite::{Connection, Transaction, params};

use super::account::{Account, add_disk_usage, next_modseq, optional};
use super::message;
use super::{Result, StoreError, corrupt};

/// The name of the inbox, in its fixed case.
pub const INBOX: &str = "Inbox";
/// The longest mailbox name accepted, in bytes.
pub const MAX_MAILBOX_NAME_LEN: usize = 1000;
/// The mailboxes every new account starts with.
pub const DEFAULT_MAILBOXES: &[(&str, Option<SpecialUse>)] = &[
    (INBOX, None),
    ("Archive", Some(SpecialUse::Archive)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Sent", Some(SpecialUse::Sent)),
    ("Trash", Some(SpecialUse::Trash)),
];

/// A mailbox's ID in the index (stable across renames, never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(i64);

impl MailboxId {
    /// The raw value.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// RFC 6154 special-use attributes the store knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl SpecialUse {
    /// The IMAP attribute, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Parses an IMAP attribute (case-insensitive), e.g. `\sent`.
    pub fn from_attribute(s: &str) -> Option<SpecialUse> {
        [
            SpecialUse::Archive,
            SpecialUse::Drafts,
            SpecialUse::Junk,
            SpecialUse::Sent,
            SpecialUse::Trash,
        ]
        .into_iter()
        .find(|u| u.attribute().eq_ignore_ascii_case(s))
    }

    fn db(self) -> &'static str {
        &self.attribute()[1..]
    }

    fn from_db(s: &str) -> Result<SpecialUse> {
        SpecialUse::from_attribute(&format!("\\{s}"))
            .ok_or_else(|| corrupt(format!("special use {s:?}")))
    }
}

/// A mailbox's identity and UID state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxInfo {
    /// The ID.
    pub id: MailboxId,
    /// The full name, `/`-separated.
    pub name: String,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT: the UID the next message gets.
    pub uidnext: u32,
    /// The special-use attribute, if any.
    pub special_use: Option<SpecialUse>,
}

/// A mailbox with its counts, for LIST-STATUS/STATUS/SELECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxStatus {
    /// Identity and UIDs.
    pub mailbox: MailboxInfo,
    /// Number of messages.
    pub total: u64,
    /// Number of messages without `\Seen`.
    pub unseen: u64,
    /// Number of messages with `\Deleted`.
    pub deleted: u64,
    /// Sum of the message sizes (STATUS SIZE).
    pub size: u64,
    /// HIGHESTMODSEQ: the largest modseq of the mailbox's creation, its messages and its
    /// expunges.
    pub highest_modseq: u64,
    /// The keywords ever set in the mailbox (for FLAGS), sorted.
    pub keywords: Vec<String>,
}

/// Normalises a mailbox name: in NFC, without bidirectional controls and not looking
/// like INBOX without being it ([`check_mailbox_name`]); `/`-separated parts, none
/// empty; no control characters, no `*` or `%`; at most [`MAX_MAILBOX_NAME_LEN`] bytes.
/// A first part equal to "inbox" in any case becomes `Inbox`.
pub fn normalize_mailbox_name(name: &str) -> Result<String> {
    let bad = |reason| StoreError::InvalidMailboxName {
        name: name.to_string(),
        reason,
    };
    let name = check_mailbox_name(name).map_err(|problem| bad(problem.reason()))?;
    let name = name.as_str();
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > MAX_MAILBOX_NAME_LEN {
        return Err(bad("too long"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("control character"));
    }
    if name.contains(['*', '%']) {
        return Err(bad("wildcard character"));
    }
    if name.split('/').any(str::is_empty) {
        return Err(bad("empty hierarchy level"));
    }
    match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case(INBOX) => Ok(format!("{INBOX}/{rest}")),
        None if name.eq_ignore_ascii_case(INBOX) => Ok(INBOX.to_string()),
        _ => Ok(name.to_string()),
    }
}

const MAILBOX_COLUMNS: &str = "id, name, uidvalidity, uidnext, special_use";

type RawMailbox = (i64, String, i64, i64, Option<String>);

fn raw_mailbox(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawMailbox> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn decode_mailbox(
    (id, name, uidvalidity, uidnext, special_use): RawMailbox,
) -> Result<MailboxInfo> {
    let uidvalidity = u32::try_from(uidvalidity)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupt(format!("mailbox {name:?} uidvalidity {uidvalidity}")))?;
    let uidnext = u32::try_from(uidnext)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| corrupt(format!("mailbox {name:?} uidnext {uidnext}")))?;
    let special_use = special_use
        .as_deref()
        .map(SpecialUse::from_db)
        .transpose()?;
    Ok(MailboxInfo {
        id: MailboxId(id),
        name,
        uidvalidity,
        uidnext,
        special_use,
    })
}

pub(super) fn lookup_by_name(conn: &Connection, name: &str) -> Result<MailboxInfo> {
    let raw = optional(conn.query_row(
        &format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE name = ?1"),
        params![name],
        raw_mailbox,
    ))?;
    match raw {
        Some(raw) => decode_mailbox(raw),
        None => Err(StoreError::NoSuchMailbox(name.to_string())),
    }
}

pub(super) fn lookup_by_id(conn: &Connection, id: MailboxId) -> Result<MailboxInfo> {
    let raw = optional(conn.query_row(
        &format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1"),
        params![id.0],
        raw_mailbox,
    ))?;
    match raw {
        Some(raw) => decode_mailbox(raw),
        None => Err(StoreError::NoSuchMailbox(format!("#{}", id.0))),
    }
}

fn exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE name = ?1)",
        params![name],
        |r| r.get(0),
    )?)
}

pub(super) fn insert_mailbox(
    tx: &Transaction<'_>,
    name: &str,
    uidvalidity: i64,
    special_use: Option<SpecialUse>,
    modseq: u64,
) -> Result<MailboxId> {
    let modseq = i64::try_from(modseq).map_err(|_| corrupt("modseq"))?;
    tx.execute(
        "INSERT INTO mailboxes (name, uidvalidity, uidnext, special_use, create_modseq, modseq)
         VALUES (?1, ?2, 1, ?3, ?4, ?4)",
        params![name, uidvalidity, special_use.map(SpecialUse::db), modseq],
    )?;
    Ok(MailboxId(tx.last_insert_rowid()))
}

fn next_uidvalidity(tx: &Transaction<'_>) -> Result<i64> {
    let v: i64 = tx.query_row(
        "UPDATE meta SET next_uidvalidity = next_uidvalidity + 1 WHERE id = 1
         RETURNING next_uidvalidity - 1",
        [],
        |r| r.get(0),
    )?;
    if !(1..=i64::from(u32::MAX)).contains(&v) {
        return Err(corrupt(format!("next_uidvalidity {v}")));
    }
    Ok(v)
}

pub(super) fn set_uidnext(tx: &Transaction<'_>, id: MailboxId, uidnext: u32) -> Result<()> {
    tx.execute(
        "UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1",
        params![id.0, uidnext],
    )?;
    Ok(())
}

pub(super) fn add_keywords<'a>(
    tx: &Transaction<'_>,
    id: MailboxId,
    keywords: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO mailbox_keywords (mailbox_id, keyword) VALUES (?1, ?2)",
    )?;
    for k in keywords {
        stmt.execute(params![id.0, k])?;
    }
    Ok(())
}

/// Creates `name` (normalised) and any missing parent, each with its own new
/// UIDVALIDITY. Fails when `name` exists.
pub(super) fn create_in_tx(
    tx: &Transaction<'_>,
    name: &str,
    special_use: Option<SpecialUse>,
    modseq: u64,
) -> Result<MailboxId> {
    if exists(tx, name)? {
        return Err(StoreError::MailboxExists(name.to_string()));
    }
    create_parents(tx, name, modseq)?;
    let uidvalidity = next_uidvalidity(tx)?;
    insert_mailbox(tx, name, uidvalidity, special_use, modseq)
}

fn create_parents(tx: &Transaction<'_>, name: &str, modseq: u64) -> Result<()> {
    for (i, _) in name.match_indices('/') {
        let parent = &name[..i];
        if !exists(tx, parent)? {
            let uidvalidity = next_uidvalidity(tx)?;
            insert_mailbox(tx, parent, uidvalidity, None, modseq)?;
        }
    }
    Ok(())
}

fn children(conn: &Connection, name: &str) -> Result<Vec<(i64, String)>> {
    let prefix = format!("{name}/");
    let mut stmt = conn.prepare_cached(
        "SELECT id, name FROM mailboxes WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
    )?;
    let rows = stmt
        .query_map(params![prefix], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn status(conn: &Connection, mailbox: MailboxInfo) -> Result<MailboxStatus> {
    let (total, unseen, deleted, size): (i64, i64, i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum((flags & ?2) = 0), 0),
                    coalesce(sum((flags & ?3) != 0), 0), coalesce(sum(size), 0)
             FROM messages WHERE mailbox_id = ?1",
        )?
        .query_row(
            params![
                mailbox.id.0,
                message::Flags::SEEN.bits(),
                message::Flags::DELETED.bits()
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let highest_modseq = highest_modseq(conn, mailbox.id)?;
    let keywords: Vec<String> = conn
        .prepare_cached(
            "SELECT keyword FROM mailbox_keywords WHERE mailbox_id = ?1 ORDER BY keyword",
        )?
        .query_map(params![mailbox.id.0], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let count = |v: i64| u64::try_from(v).map_err(|_| corrupt(format!("count {v}")));
    Ok(MailboxStatus {
        total: count(total)?,
        unseen: count(unseen)?,
        deleted: count(deleted)?,
        size: count(size)?,
        highest_modseq,
        keywords,
        mailbox,
    })
}

pub(super) fn highest_modseq(conn: &Connection, id: MailboxId) -> Result<u64> {
    let v: i64 = conn
        .prepare_cached(
            "SELECT max(create_modseq,
                        coalesce((SELECT max(modseq) FROM messages WHERE mailbox_id = ?1), 0),
                        coalesce((SELECT max(modseq) FROM expunged WHERE mailbox_id = ?1), 0))
             FROM mailboxes WHERE id = ?1",
        )?
        .query_row(params![id.0], |r| r.get(0))?;
    u64::try_from(v).map_err(|_| corrupt(format!("modseq {v}")))
}

impl Account {
    /// Looks a mailbox up by name (normalised first, so `INBOX` finds `Inbox`).
    pub fn mailbox(&self, name: &str) -> Result<MailboxInfo> {
        let name = normalize_mailbox_name(name)?;
        self.read(|conn| lookup_by_name(conn, &name))
    }

    /// Looks a mailbox up by ID.
    pub fn mailbox_by_id(&self, id: MailboxId) -> Result<MailboxInfo> {
        self.read(|conn| lookup_by_id(conn, id))
    }

    /// All mailboxes, sorted by name.
    pub fn mailboxes(&self) -> Result<Vec<MailboxInfo>> {
        self.read(|conn| {
            let raws = conn
                .prepare_cached(&format!(
                    "SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY name"
                ))?
                .query_map([], raw_mailbox)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            raws.into_iter().map(decode_mailbox).collect()
        })
    }

    /// One mailbox with its counts.
    pub fn mailbox_status(&self, id: MailboxId) -> Result<MailboxStatus> {
        self.read(|conn| {
            let mb = lookup_by_id(conn, id)?;
            status(conn, mb)
        })
    }

    /// All mailboxes with their counts, sorted by name (LIST-STATUS).
    pub fn mailboxes_with_status(&self) -> Result<Vec<MailboxStatus>> {
        let mailboxes = self.mailboxes()?;
        self.read(|conn| mailboxes.into_iter().map(|mb| status(conn, mb)).collect())
    }

    /// Creates a mailbox (and any missing parent) with a new UIDVALIDITY
    /// (CREATE, with CREATE-SPECIAL-USE's `USE`).
    pub fn create_mailbox(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        let name = normalize_mailbox_name(name)?;
        self.write(|tx| {
            let modseq = next_modseq(tx)?;
            let id = create_in_tx(tx, &name, special_use, modseq)?;
            lookup_by_id(tx, id)
        })
    }

    /// Renames a mailbox and its children (RENAME). The renamed mailboxes get new
    /// UIDVALIDITY values, so a client's cache for a name never matches other content.
    /// Missing parents of the new name are created. Renaming Inbox creates the new
    /// mailbox and moves Inbox's messages into it, leaving Inbox empty (RFC 9051).
    /// Returns the mailbox under its new name.
    pub fn rename_mailbox(&self, from: &str, to: &str) -> Result<MailboxInfo> {
        let from = normalize_mailbox_name(from)?;
        let to = normalize_mailbox_name(to)?;
        self.write(|tx| {
            let src = lookup_by_name(tx, &from)?;
            if exists(tx, &to)? {
                return Err(StoreError::MailboxExists(to.clone()));
            }
            let modseq = next_modseq(tx)?;
            if from == INBOX {
                let dst = create_in_tx(tx, &to, None, modseq)?;
                message::move_all_in_tx(tx, src.id, dst, modseq)?;
                return lookup_by_id(tx, dst);
            }
            if to.starts_with(&format!("{from}/")) {
                return Err(StoreError::NotAllowed(
                    "a mailbox cannot be renamed into its own hierarchy",
                ));
            }
            let mut moves = vec![(src.id.0, from.clone())];
            moves.extend(children(tx, &from)?);
            let mut renamed = Vec::with_capacity(moves.len());
            for (id, old) in moves {
                let suffix = old
                    .strip_prefix(from.as_str())
                    .ok_or_else(|| corrupt(format!("child mailbox {old:?} of {from:?}")))?;
                let new = format!("{to}{suffix}");
                if exists(tx, &new)? {
                    return Err(StoreError::MailboxExists(new));
                }
                renamed.push((id, new));
            }
            create_parents(tx, &to, modseq)?;
            let modseq_db = i64::try_from(modseq).map_err(|_| corrupt("modseq"))?;
            for (id, new) in renamed {
                let uidvalidity = next_uidvalidity(tx)?;
                tx.execute(
                    "UPDATE mailboxes SET name = ?2, uidvalidity = ?3, modseq = ?4 WHERE id = ?1",
                    params![id, new, uidvalidity, modseq_db],
                )?;
            }
            lookup_by_id(tx, src.id)
        })
    }

    /// Deletes a mailbox with its messages (DELETE). Inbox cannot be deleted, nor a
    /// mailbox with children. The message files are erased after the commit once no
    /// session's view pin holds them back (see [`Account::pin_view`]). Subscriptions
    /// are kept.
    pub fn delete_mailbox(&self, name: &str) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        if name == INBOX {
            return Err(StoreError::NotAllowed("Inbox cannot be deleted"));
        }
        let (modseq, erased) = self.write(|tx| {
            let mb = lookup_by_name(tx, &name)?;
            if !children(tx, &name)?.is_empty() {
                return Err(StoreError::HasChildren(name.clone()));
            }
            // Takes a modseq so that watchers hear of it.
            let modseq = next_modseq(tx)?;
            let modseq_db = i64::try_from(modseq).map_err(|_| corrupt("modseq"))?;
            let size: i64 = tx.query_row(
                "SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox_id = ?1",
                params![mb.id.0],
                |r| r.get(0),
            )?;
            let erased = tx.execute(
                &format!(
                    "{} FROM messages WHERE mailbox_id = ?1",
                    message::PENDING_ERASE_INSERT
                ),
                params![mb.id.0, modseq_db],
            )?;
            tx.execute(
                "DELETE FROM messages WHERE mailbox_id = ?1",
                params![mb.id.0],
            )?;
            tx.execute("DELETE FROM mailboxes WHERE id = ?1", params![mb.id.0])?;
            add_disk_usage(tx, -size)?;
            Ok((modseq, erased))
        })?;
        if erased > 0 {
            self.erase_after_commit(modseq);
        }
        Ok(())
    }

    /// Subscribes to a name (which need not exist).
    pub fn subscribe(&self, name: &str) -> Result<()> {
        let name = normalize_mailbox_name(name)?;
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (name) VALUES (?1)",
                params![name],
            )?;
            Ok(())
        })
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&self, name: &str) -> Result<bool> {
        let name = normalize_mailbox_name(name)?;
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM subscriptions WHERE name = ?1", params![name])? > 0)
        })
    }

    /// The subscribed names, sorted.
    pub fn subscriptions(&self) -> Result<Vec<String>> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT name FROM subscriptions ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Keywords ever used in the mailbox, as stored (lowercase), sorted.
    pub fn mailbox_keywords(&self, id: MailboxId) -> Result<Vec<String>> {
        self.mailbox_status(id).map(|s| s.keywords)
    }
}
