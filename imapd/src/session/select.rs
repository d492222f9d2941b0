//! SELECT and EXAMINE (with CONDSTORE and QRESYNC), CLOSE and EXPUNGE / UID EXPUNGE.

use super::connection::{End, Session};
use super::flags::flags_responses;
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply, Selected};
use super::view::{MailboxView, ViewUpdate, compact_set, uid_ranges};
use crate::store::{Changes, Flags, MailboxStatus};
use postern_imap_proto::command::SelectParams;
use postern_imap_proto::response::{Code, Data, FetchData, Response, StatusKind, StatusResponse};
use postern_imap_proto::types::{Mailbox, SequenceSet};

/// What SELECT reads from the store in one go.
struct Opened {
    status: MailboxStatus,
    uids: Vec<u32>,
    first_unseen: Option<u32>,
    /// QRESYNC: changes since the client's modseq, when its UIDVALIDITY matches.
    qresync: Option<Changes>,
}

impl Session {
    /// SELECT (`read_only` false) or EXAMINE.
    pub(super) async fn select(
        &mut self,
        st: &mut MailState,
        mailbox: &Mailbox,
        params: SelectParams,
        read_only: bool,
    ) -> Result<Reply, End> {
        if st.selected.take().is_some() {
            let closed = StatusResponse::untagged(
                StatusKind::Ok,
                Some(Code::Closed),
                "previous mailbox closed",
            );
            self.send(&Response::Status(closed)).await?;
        }
        if params.qresync.is_some() && !st.enabled.qresync {
            return Ok(Reply::bad("QRESYNC must be enabled first"));
        }
        if params.condstore {
            // Nothing is selected now: SELECT announces HIGHESTMODSEQ itself.
            self.enable_condstore(st, None).await?;
        }
        let seen_modseq = *st.changes.borrow_and_update();
        // Pinned before the view is read: no file of a message in it is erased until
        // the session has processed its expunge.
        let pin = st.account.pin_view(seen_modseq);
        let account = st.account.clone();
        let name = mailbox.as_str().to_owned();
        let qresync = params.qresync.clone();
        let opened = blocking(move || {
            let mb = account.mailbox(&name)?;
            let status = account.mailbox_status(mb.id)?;
            let messages = account.messages(mb.id, &[1..=u32::MAX])?;
            let first_unseen = messages
                .iter()
                .position(|m| !m.flags.contains(Flags::SEEN))
                .and_then(|i| u32::try_from(i + 1).ok());
            let uids = messages.iter().map(|m| m.uid).collect();
            drop(messages);
            let qresync = match qresync {
                Some(q) if q.uid_validity == status.mailbox.uidvalidity => {
                    Some(account.changes_since(mb.id, q.mod_seq)?)
                }
                _ => None,
            };
            Ok(Opened {
                status,
                uids,
                first_unseen,
                qresync,
            })
        })
        .await;
        let opened = match opened {
            Ok(o) => o,
            Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
        };
        let status = opened.status;
        let view = MailboxView::new(opened.uids, status.highest_modseq);
        let mut out: Vec<Response> = flags_responses(&status.keywords, read_only).into();
        out.push(Response::Data(Data::Exists(view.len())));
        if !st.enabled.rev2 {
            out.push(Response::Data(Data::Recent(0)));
            if let Some(seq) = opened.first_unseen {
                out.push(ok_code(Code::Unseen(seq), "first unseen"));
            }
        }
        out.push(ok_code(
            Code::UidValidity(status.mailbox.uidvalidity),
            "uidvalidity",
        ));
        out.push(ok_code(Code::UidNext(status.mailbox.uidnext), "uidnext"));
        out.push(ok_code(
            Code::HighestModSeq(status.highest_modseq),
            "highest modseq",
        ));
        if let (Some(changes), Some(q)) = (opened.qresync, params.qresync.as_ref()) {
            let vanished: Vec<u32> = changes
                .expunged
                .iter()
                .copied()
                .filter(|&u| q.known_uids.as_ref().is_none_or(|set| set.contains_uid(u)))
                .collect();
            if !vanished.is_empty() {
                out.push(Response::Data(Data::Vanished {
                    earlier: true,
                    uids: compact_set(&vanished),
                }));
            }
            for info in &changes.changed {
                if let Some(seq) = view.seq_of(info.uid) {
                    out.push(Response::Data(Data::Fetch {
                        seq,
                        items: vec![
                            FetchData::Uid(info.uid),
                            FetchData::Flags(super::fetch::flags_of(info)),
                            FetchData::ModSeq(info.modseq),
                        ],
                    }));
                }
            }
        }
        let opts = self.encode_options();
        let mut bytes = Vec::new();
        for r in &out {
            bytes.extend_from_slice(&r.to_bytes(opts));
        }
        self.send_bytes(&bytes).await?;
        st.seen_modseq = seen_modseq;
        st.selected = Some(Selected {
            id: status.mailbox.id,
            read_only,
            view,
            saved: Vec::new(),
            pin,
            keywords: status.keywords.clone(),
        });
        tracing::debug!(account = st.account.name(), mailbox = ?status.mailbox.name, read_only, "selected");
        Ok(if read_only {
            Reply::ok_code(Code::ReadOnly, "examine done")
        } else {
            Reply::ok_code(Code::ReadWrite, "select done")
        })
    }

    /// CLOSE of `sel` (the caller deselects it): expunges `\Deleted` messages silently
    /// when read-write.
    pub(super) async fn close(&mut self, st: &mut MailState, sel: &Selected) -> Reply {
        if !sel.read_only {
            let account = st.account.clone();
            let ranges = uid_ranges(sel.view.uids());
            let id = sel.id;
            if let Err(e) = blocking(move || account.expunge_deleted(id, Some(&ranges))).await {
                return Reply::failure(&e, Code::NonExistent);
            }
        }
        Reply::ok("close done")
    }

    /// EXPUNGE, or UID EXPUNGE of `set`.
    pub(super) async fn expunge(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        set: Option<SequenceSet>,
    ) -> Result<Reply, End> {
        let enabled = st.enabled;
        let account = st.account.clone();
        let uids = match &set {
            Some(set) => sel.view.resolve_uids(set, &sel.saved),
            None => sel.view.uids().to_vec(),
        };
        let id = sel.id;
        let ranges = uid_ranges(&uids);
        let outcome = match blocking(move || account.expunge_deleted(id, Some(&ranges))).await {
            Ok(o) => o,
            Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
        };
        let updates: Vec<ViewUpdate> = sel.view.remove(&outcome.uids, enabled.qresync);
        self.send_updates(enabled, &updates).await?;
        Ok(match outcome.modseq {
            Some(m) if enabled.condstore => Reply::ok_code(Code::HighestModSeq(m), "expunge done"),
            _ => Reply::ok("expunge done"),
        })
    }
}

fn ok_code(code: Code, text: &str) -> Response {
    Response::Status(StatusResponse::untagged(StatusKind::Ok, Some(code), text))
}
