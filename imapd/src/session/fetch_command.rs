//! FETCH and UID FETCH: which messages (sequence set, CHANGEDSINCE, VANISHED), loading
//! index entries and content in bounded batches on a blocking thread, setting `\Seen`
//! for non-PEEK body fetches in a read-write mailbox, and sending the data items that
//! [`super::fetch`] evaluates.

use super::connection::{End, Session};
use super::content::read_content;
use super::fetch::{
    FetchError, FetchMessage, fetch_data, header_suffices, marks_seen, needs_content,
};
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply, Selected};
use super::view::{compact_set, uid_ranges};
use crate::store::{Account, FlagChange, FlagOp, Flags, MailboxId, StoreError};
use postern_imap_proto::command::{FetchCommand, FetchItem};
use postern_imap_proto::encode::EncodeOptions;
use postern_imap_proto::response::{Code, Data, Response};

/// Most messages whose index entries are loaded at once.
const BATCH_MESSAGES: usize = 256;
/// Message bytes after which a batch stops early (bounds the encoded output held).
const BATCH_BYTES: u64 = 4 * 1024 * 1024;

/// What one batch does.
struct BatchJob {
    account: Account,
    mailbox: MailboxId,
    /// (UID, sequence number) of the messages, ascending.
    targets: Vec<(u32, u32)>,
    items: Vec<FetchItem>,
    changed_since: Option<u64>,
    mark_seen: bool,
    opts: EncodeOptions,
}

/// What one batch produced.
#[derive(Default)]
struct BatchResult {
    /// How many of the targets were handled.
    done: usize,
    /// Encoded FETCH responses.
    bytes: Vec<u8>,
    /// (UID, modseq) of messages whose `\Seen` this batch set.
    seen_set: Vec<(u32, u64)>,
    /// Messages that are gone (expunged by another session).
    missing: usize,
    /// A BINARY fetch hit an unknown transfer encoding.
    unknown_cte: bool,
}

fn run_batch(job: BatchJob) -> Result<BatchResult, StoreError> {
    let uids: Vec<u32> = job.targets.iter().map(|t| t.0).collect();
    let mut infos = job.account.messages(job.mailbox, &uid_ranges(&uids))?;
    // Messages the view still shows that another session expunged or moved away: their
    // files are kept until this session has processed that (its view pin), so they are
    // still served, as they were. Their flags are not changed.
    let gone: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| infos.binary_search_by_key(u, |i| i.uid).is_err())
        .collect();
    let mut retained: Vec<u32> = Vec::new();
    if !gone.is_empty() {
        let kept = job.account.retained_messages(job.mailbox, &gone)?;
        retained = kept.iter().map(|i| i.uid).collect();
        infos.extend(kept);
        infos.sort_unstable_by_key(|i| i.uid);
    }
    let mut out = BatchResult::default();
    // Decide how many messages fit the byte budget before changing any flag.
    let with_content = needs_content(&job.items);
    let header_only = header_suffices(&job.items);
    let mut budget = 0u64;
    let mut done = 0;
    for (uid, _) in &job.targets {
        if done > 0 && budget > BATCH_BYTES {
            break;
        }
        if with_content && let Some(info) = infos.iter().find(|i| i.uid == *uid) {
            budget += if header_only {
                info.header_size
            } else {
                info.size
            };
        }
        done += 1;
    }
    out.done = done;
    let last_uid = job.targets.get(done.saturating_sub(1)).map_or(0, |t| t.0);
    infos.retain(|i| i.uid <= last_uid);
    out.missing = done.saturating_sub(infos.len());
    if let Some(since) = job.changed_since {
        infos.retain(|i| i.modseq > since);
    }
    if job.mark_seen {
        let unseen: Vec<u32> = infos
            .iter()
            .filter(|i| !i.flags.contains(Flags::SEEN) && retained.binary_search(&i.uid).is_err())
            .map(|i| i.uid)
            .collect();
        if !unseen.is_empty() {
            let change = FlagChange {
                op: FlagOp::Add,
                flags: Flags::SEEN,
                keywords: Vec::new(),
            };
            let stored =
                job.account
                    .store_flags(job.mailbox, &uid_ranges(&unseen), &change, None)?;
            for changed in stored.changed {
                out.seen_set.push((changed.uid, changed.modseq));
                if let Some(slot) = infos.iter_mut().find(|i| i.uid == changed.uid) {
                    *slot = changed;
                }
            }
        }
    }
    let mut with_flags = job.items.clone();
    if !with_flags.contains(&FetchItem::Flags) {
        with_flags.push(FetchItem::Flags);
    }
    for info in &infos {
        let Some(seq) = job.targets.iter().find(|t| t.0 == info.uid).map(|t| t.1) else {
            continue;
        };
        let content = if with_content {
            match read_content(&job.account, info, header_only) {
                Some(c) => Some(c),
                None => {
                    out.missing += 1;
                    continue;
                }
            }
        } else {
            None
        };
        let seen_now = out.seen_set.iter().any(|s| s.0 == info.uid);
        let items = if seen_now { &with_flags } else { &job.items };
        let msg = FetchMessage {
            info,
            content: content.as_deref(),
        };
        match fetch_data(&msg, items) {
            Ok(data) => {
                let response = Response::Data(Data::Fetch { seq, items: data });
                out.bytes.extend_from_slice(&response.to_bytes(job.opts));
            }
            Err(FetchError::UnknownCte { .. }) => out.unknown_cte = true,
            Err(FetchError::MissingContent) => out.missing += 1,
        }
    }
    Ok(out)
}

impl Session {
    /// FETCH / UID FETCH.
    pub(super) async fn fetch(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        cmd: FetchCommand,
    ) -> Result<Reply, End> {
        if cmd.vanished && (!cmd.uid || !st.enabled.qresync || cmd.changed_since.is_none()) {
            return Ok(Reply::bad(
                "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled",
            ));
        }
        if cmd.changed_since.is_some() || cmd.items.contains(&FetchItem::ModSeq) {
            self.enable_condstore(st, Some(sel)).await?;
        }
        let enabled = st.enabled;
        let account = st.account.clone();
        let uids = if cmd.uid {
            sel.view.resolve_uids(&cmd.set, &sel.saved)
        } else {
            match sel.view.resolve_seqs(&cmd.set, &sel.saved) {
                Ok(u) => u,
                Err(e) => return Ok(Reply::bad(&e.to_string())),
            }
        };
        let mut items = cmd.items.clone();
        // UID FETCH always answers with UIDs; so does every FETCH once QRESYNC is on
        // (RFC 7162 §3.2.4 has the client match responses by UID).
        if (cmd.uid || enabled.qresync) && !items.contains(&FetchItem::Uid) {
            items.insert(0, FetchItem::Uid);
        }
        if enabled.condstore && !items.contains(&FetchItem::ModSeq) {
            items.push(FetchItem::ModSeq);
        }
        let mark_seen = !sel.read_only && marks_seen(&items);
        let mailbox = sel.id;
        if let (true, Some(since)) = (cmd.vanished, cmd.changed_since) {
            let acc = account.clone();
            match blocking(move || acc.changes_since(mailbox, since)).await {
                Ok(changes) => {
                    let gone: Vec<u32> = changes
                        .expunged
                        .into_iter()
                        .filter(|&u| cmd.set.contains_uid(u))
                        .collect();
                    if !gone.is_empty() {
                        let data = Data::Vanished {
                            earlier: true,
                            uids: compact_set(&gone),
                        };
                        self.send(&Response::Data(data)).await?;
                    }
                }
                Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
            }
        }
        let targets: Vec<(u32, u32)> = uids
            .iter()
            .filter_map(|&u| sel.view.seq_of(u).map(|s| (u, s)))
            .collect();
        let opts = self.encode_options();
        let mut pos = 0;
        let mut missing = 0;
        let mut unknown_cte = false;
        while pos < targets.len() {
            let end = (pos + BATCH_MESSAGES).min(targets.len());
            let job = BatchJob {
                account: account.clone(),
                mailbox,
                targets: targets.get(pos..end).unwrap_or_default().to_vec(),
                items: items.clone(),
                changed_since: cmd.changed_since,
                mark_seen,
                opts,
            };
            let result = match blocking(move || run_batch(job)).await {
                Ok(r) => r,
                Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
            };
            pos += result.done.max(1);
            missing += result.missing;
            unknown_cte |= result.unknown_cte;
            st.reported.extend_from_slice(&result.seen_set);
            self.send_bytes(&result.bytes).await?;
        }
        Ok(if unknown_cte {
            Reply::no(
                Some(Code::UnknownCte),
                "cannot decode the content-transfer-encoding",
            )
        } else if missing > 0 {
            Reply::ok_code(Code::ExpungeIssued, "some messages were expunged meanwhile")
        } else {
            Reply::ok("fetch done")
        })
    }
}
