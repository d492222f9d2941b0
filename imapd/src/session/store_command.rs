//! STORE and UID STORE: flag changes with `.SILENT` and CONDSTORE's UNCHANGEDSINCE
//! (messages changed since are left alone and named in `MODIFIED`).

use super::connection::{End, Session};
use super::flags::split_flags;
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply, Selected};
use super::view::{compact_set, uid_ranges};
use crate::store::{FlagChange, FlagOp};
use postern_imap_proto::command::{StoreAction, StoreCommand};
use postern_imap_proto::response::{Code, Data, FetchData, Response};

impl Session {
    /// STORE / UID STORE.
    pub(super) async fn store(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        cmd: StoreCommand,
    ) -> Result<Reply, End> {
        if cmd.unchanged_since.is_some() {
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
        let (flags, keywords) = match split_flags(&cmd.flags) {
            Ok(v) => v,
            Err(e) => return Ok(Reply::bad(&e.to_string())),
        };
        let change = FlagChange {
            op: match cmd.action {
                StoreAction::Add => FlagOp::Add,
                StoreAction::Remove => FlagOp::Remove,
                StoreAction::Replace => FlagOp::Replace,
            },
            flags,
            keywords,
        };
        let mailbox = sel.id;
        let ranges = uid_ranges(&uids);
        let unchanged_since = cmd.unchanged_since;
        let outcome =
            match blocking(move || account.store_flags(mailbox, &ranges, &change, unchanged_since))
                .await
            {
                Ok(o) => o,
                Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
            };
        let opts = self.encode_options();
        let mut out: Vec<u8> = sel
            .announce_keywords(&outcome.changed)
            .iter()
            .flat_map(|r| r.to_bytes(opts))
            .collect();
        for info in &outcome.changed {
            st.reported.push((info.uid, info.modseq));
            let Some(seq) = sel.view.seq_of(info.uid) else {
                continue;
            };
            let mut items = Vec::new();
            if cmd.uid || enabled.qresync {
                items.push(FetchData::Uid(info.uid));
            }
            if !cmd.silent {
                items.push(FetchData::Flags(super::fetch::flags_of(info)));
            }
            if enabled.condstore {
                items.push(FetchData::ModSeq(info.modseq));
            }
            // .SILENT sends nothing, except the new MODSEQ under UNCHANGEDSINCE
            // (RFC 7162 §3.1.3).
            if !cmd.silent || unchanged_since.is_some() {
                out.extend_from_slice(&Response::Data(Data::Fetch { seq, items }).to_bytes(opts));
            }
        }
        self.send_bytes(&out).await?;
        if outcome.modified.is_empty() {
            return Ok(Reply::ok("store done"));
        }
        let numbers: Vec<u32> = if cmd.uid {
            outcome.modified.clone()
        } else {
            outcome
                .modified
                .iter()
                .filter_map(|&u| sel.view.seq_of(u))
                .collect()
        };
        Ok(Reply::ok_code(
            Code::Modified(compact_set(&numbers)),
            "conditional store failed for some messages",
        ))
    }
}
