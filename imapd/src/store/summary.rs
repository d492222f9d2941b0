//! Message summaries in the index: the sort and thread keys and the preview of each
//! message file ([`MessageSummary`], computed by the wire layer), so that SORT, THREAD
//! and FETCH PREVIEW never read message files.
//!
//! A summary belongs to a message file, not to a mailbox: it is written in the
//! transaction that adds the file's row ([`Account::append_staged`], which takes it from
//! [`super::StagedMessage`], so every path that stores a message through
//! [`Account::stage`] has one), copied with the file by COPY, kept by MOVE (same file),
//! and deleted when the file is erased. Index schema version 3 added the table; the
//! messages stored before it get theirs at the first open of the account
//! ([`fill_missing`]), in batches that each commit, so an interrupted fill goes on where
//! it stopped.

use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, Transaction, params};

use super::account::Account;
use super::layout::fanout_dir_name;
use super::mailbox::{self, MailboxId};
use super::message::{MessageId, UidRange};
use super::{Result, corrupt};
use postern_imap_proto::mime::summary::{MAX_SUMMARY_SCAN, MessageSummary};

/// Messages whose summaries one transaction of [`fill_missing`] fills in.
const FILL_BATCH: usize = 256;

/// What SORT and THREAD know of a message: its index entry's sort keys and its summary
/// (without the preview, which they do not use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortEntry {
    /// Its UID in the mailbox.
    pub uid: u32,
    /// Size in bytes (SORT SIZE).
    pub size: u64,
    /// INTERNALDATE, unix seconds (SORT ARRIVAL, and the sent date's fallback).
    pub received: i64,
    /// The keys from its content; `preview` is left empty.
    pub summary: MessageSummary,
}

/// The columns of `message_summaries` after `message_id`, in [`insert`]'s order.
const SUMMARY_COLUMNS: &str = "base_subject, subject_is_reply, sent_date, from_mailbox, \
     to_mailbox, cc_mailbox, display_from, display_to, msgid, refs, in_reply_to, preview";

/// The separator of the msg-ids in the `refs` column (never part of a normalised msg-id:
/// header values are unfolded).
const REFERENCES_SEPARATOR: char = '\n';

fn db_id(id: MessageId) -> Result<i64> {
    i64::try_from(id.get()).map_err(|_| corrupt(format!("message id {}", id.get())))
}

/// Records the summary of message file `id`.
pub(super) fn insert(tx: &Transaction<'_>, id: MessageId, s: &MessageSummary) -> Result<()> {
    let refs = s.references.join(&REFERENCES_SEPARATOR.to_string());
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO message_summaries (message_id, {SUMMARY_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        db_id(id)?,
        s.base_subject,
        s.subject_is_reply,
        s.sent_date,
        s.from,
        s.to,
        s.cc,
        s.display_from,
        s.display_to,
        s.message_id,
        refs,
        s.in_reply_to,
        s.preview,
    ])?;
    Ok(())
}

/// Gives message file `to` (a copy of `from`) the summary of `from`.
pub(super) fn copy(tx: &Transaction<'_>, from: MessageId, to: MessageId) -> Result<()> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO message_summaries (message_id, {SUMMARY_COLUMNS})
         SELECT ?2, {SUMMARY_COLUMNS} FROM message_summaries WHERE message_id = ?1"
    ))?
    .execute(params![db_id(from)?, db_id(to)?])?;
    Ok(())
}

/// Forgets the summaries of erased message files.
pub(super) fn delete(tx: &Transaction<'_>, ids: &[i64]) -> Result<()> {
    let mut stmt = tx.prepare_cached("DELETE FROM message_summaries WHERE message_id = ?1")?;
    for id in ids {
        stmt.execute(params![id])?;
    }
    Ok(())
}

/// The summary of the message file at `path`, from its first [`MAX_SUMMARY_SCAN`] bytes.
fn summary_of_file(path: &Path) -> std::io::Result<MessageSummary> {
    let file = std::fs::File::open(path)?;
    let mut prefix = Vec::new();
    file.take(MAX_SUMMARY_SCAN as u64)
        .read_to_end(&mut prefix)?;
    Ok(MessageSummary::of(&prefix))
}

/// Gives every live message without a summary one, read from its file (index schema
/// version 3 for messages stored before it): [`FILL_BATCH`] messages per committed
/// transaction, so an interrupted fill goes on where it stopped. A message whose file
/// cannot be read gets an empty summary (and a warning), so the fill always ends.
/// Returns how many summaries were written.
pub(super) fn fill_missing(conn: &mut Connection, msg_dir: &Path) -> Result<usize> {
    let mut filled = 0;
    loop {
        let ids: Vec<i64> = conn
            .prepare_cached(
                "SELECT m.id FROM messages m
                 LEFT JOIN message_summaries s ON s.message_id = m.id
                 WHERE s.message_id IS NULL ORDER BY m.id LIMIT ?1",
            )?
            .query_map(params![FILL_BATCH as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if ids.is_empty() {
            break;
        }
        let mut computed = Vec::with_capacity(ids.len());
        for id in &ids {
            let id = MessageId::new(
                u64::try_from(*id).map_err(|_| corrupt(format!("message id {id}")))?,
            );
            let path = msg_dir
                .join(fanout_dir_name(id.get()))
                .join(id.get().to_string());
            let summary = summary_of_file(&path).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e,
                    "cannot read a message file for its summary; it sorts as empty");
                MessageSummary::default()
            });
            computed.push((id, summary));
        }
        let tx = conn.transaction()?;
        for (id, summary) in &computed {
            insert(&tx, *id, summary)?;
        }
        tx.commit()?;
        filled += computed.len();
        if filled.is_multiple_of(FILL_BATCH * 16) {
            tracing::info!(dir = %msg_dir.display(), filled, "filling in message summaries");
        }
    }
    if filled > 0 {
        tracing::info!(dir = %msg_dir.display(), filled, "message summaries filled in");
    }
    Ok(filled)
}

type RawEntry = (
    i64,
    i64,
    i64,
    Option<String>,
    Option<bool>,
    Option<i64>,
    [Option<String>; 5],
    [Option<String>; 3],
);

fn raw_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        [r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?],
        [r.get(11)?, r.get(12)?, r.get(13)?],
    ))
}

fn decode_entry(raw: RawEntry) -> Result<SortEntry> {
    let (uid, size, received, subject, reply, sent_date, addresses, ids) = raw;
    let [from, to, cc, display_from, display_to] = addresses.map(Option::unwrap_or_default);
    let [message_id, refs, in_reply_to] = ids;
    Ok(SortEntry {
        uid: u32::try_from(uid).map_err(|_| corrupt(format!("uid {uid}")))?,
        size: u64::try_from(size).map_err(|_| corrupt(format!("size {size}")))?,
        received,
        summary: MessageSummary {
            base_subject: subject.unwrap_or_default(),
            subject_is_reply: reply.unwrap_or(false),
            sent_date,
            from,
            to,
            cc,
            display_from,
            display_to,
            message_id,
            references: refs
                .map(|r| {
                    r.split(REFERENCES_SEPARATOR)
                        .filter(|id| !id.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            in_reply_to,
            preview: String::new(),
        },
    })
}

impl Account {
    /// The sort entries of the live messages of `mailbox` with a UID in `uids`,
    /// ascending by UID. A message without a summary (none is expected) sorts with
    /// empty keys.
    pub fn sort_entries(&self, mailbox: MailboxId, uids: &[UidRange]) -> Result<Vec<SortEntry>> {
        self.read(|conn| {
            mailbox::lookup_by_id(conn, mailbox)?;
            let mut stmt = conn.prepare_cached(
                "SELECT m.uid, m.size, m.received, s.base_subject, s.subject_is_reply,
                        s.sent_date, s.from_mailbox, s.to_mailbox, s.cc_mailbox,
                        s.display_from, s.display_to, s.msgid, s.refs, s.in_reply_to
                 FROM messages m LEFT JOIN message_summaries s ON s.message_id = m.id
                 WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid",
            )?;
            let mut out = Vec::new();
            for range in super::message::merge_ranges(uids) {
                let raws = stmt
                    .query_map(params![mailbox.get(), range.0, range.1], raw_entry)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                for raw in raws {
                    out.push(decode_entry(raw)?);
                }
            }
            Ok(out)
        })
    }

    /// The previews (RFC 8970) of message files `ids`, in the order given; a file
    /// without a summary has an empty one.
    pub fn previews(&self, ids: &[MessageId]) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT preview FROM message_summaries WHERE message_id = ?1")?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                let preview: Option<String> = stmt
                    .query_row(params![db_id(*id)?], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })?;
                out.push(preview.unwrap_or_default());
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests;
