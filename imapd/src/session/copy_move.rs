//! COPY and MOVE (and their UID variants) with UIDPLUS's COPYUID; MOVE reports the
//! moved messages as expunged (or VANISHED with QRESYNC).

use super::connection::{End, Session};
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply, Selected};
use super::view::{ordered_set, uid_ranges};
use postern_imap_proto::response::{Code, Response, StatusKind, StatusResponse};
use postern_imap_proto::types::{Mailbox, SequenceSet};

impl Session {
    /// COPY / MOVE (`is_move`), by UID or by sequence number.
    pub(super) async fn copy_or_move(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        uid: bool,
        set: &SequenceSet,
        target: &Mailbox,
        is_move: bool,
    ) -> Result<Reply, End> {
        let enabled = st.enabled;
        let account = st.account.clone();
        let uids = if uid {
            sel.view.resolve_uids(set, &sel.saved)
        } else {
            match sel.view.resolve_seqs(set, &sel.saved) {
                Ok(u) => u,
                Err(e) => return Ok(Reply::bad(&e.to_string())),
            }
        };
        let src = sel.id;
        let ranges = uid_ranges(&uids);
        let name = target.as_str().to_owned();
        let outcome = blocking(move || {
            let dst = account.mailbox(&name)?;
            if is_move {
                account.move_messages(src, &ranges, dst.id)
            } else {
                account.copy_messages(src, &ranges, dst.id)
            }
        })
        .await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return Ok(Reply::failure(&e, Code::TryCreate)),
        };
        let what = if is_move { "move" } else { "copy" };
        if outcome.uids.is_empty() {
            return Ok(Reply::ok(&format!("{what} done, no messages")));
        }
        let source: Vec<u32> = outcome.uids.iter().map(|p| p.0).collect();
        let dest: Vec<u32> = outcome.uids.iter().map(|p| p.1).collect();
        let code = Code::CopyUid {
            uid_validity: outcome.uidvalidity,
            source: ordered_set(&source),
            dest: ordered_set(&dest),
        };
        if !is_move {
            return Ok(Reply::ok_code(code, "copy done"));
        }
        let untagged = StatusResponse::untagged(StatusKind::Ok, Some(code), "moved");
        self.send(&Response::Status(untagged)).await?;
        let updates = sel.view.remove(&source, enabled.qresync);
        self.send_updates(enabled, &updates).await?;
        Ok(Reply::ok("move done"))
    }
}
