//! IDLE (RFC 2177, RFC 9051 §6.3.13): changes by other sessions are sent at once until
//! the client says DONE.

use super::AUTHENTICATED_IDLE_TIMEOUT;
use super::connection::{End, Session};
use super::mail_session::{MailState, Reply};
use postern_imap_proto::parse::is_idle_done;
use postern_imap_proto::reader::Event;
use postern_imap_proto::response::Response;
use postern_ipc::account_ends::ended;
use postern_ipc::auth::AccountEnd;

/// What woke an idling session.
enum Wake {
    /// Input from the client.
    Input(Result<Event, End>),
    /// The account changed (`false`: the store will send no more changes).
    Changed(bool),
    /// The account was removed or disabled.
    Ended(AccountEnd),
}

impl Session {
    /// IDLE until DONE. Any other line ends the connection (mox §7.2).
    pub(super) async fn idle(&mut self, st: &mut MailState) -> Result<Reply, End> {
        self.send(&Response::Continue("idling".into())).await?;
        // Expunges held back during an earlier FETCH, STORE or SEARCH go out now.
        self.report_changes(st, true).await?;
        self.reader.expect_line();
        let mut watching = true;
        let account = st.account.name().to_owned();
        loop {
            let wake = if watching {
                tokio::select! {
                    ev = self.next_event(AUTHENTICATED_IDLE_TIMEOUT) => Wake::Input(ev),
                    res = st.changes.changed() => Wake::Changed(res.is_ok()),
                    end = ended(&mut st.ends, &account) => Wake::Ended(end),
                }
            } else {
                tokio::select! {
                    ev = self.next_event(AUTHENTICATED_IDLE_TIMEOUT) => Wake::Input(ev),
                    end = ended(&mut st.ends, &account) => Wake::Ended(end),
                }
            };
            match wake {
                Wake::Ended(end) => return Err(self.account_ended(&end).await),
                Wake::Changed(true) => self.report_changes(st, true).await?,
                Wake::Changed(false) => watching = false,
                Wake::Input(ev) => match ev? {
                    Event::Line(line) if is_idle_done(&line) => return Ok(Reply::ok("idle done")),
                    Event::Line(_) | Event::Close => return Err(End::Bye),
                    Event::Rejected(r) => {
                        self.send_bytes(&r.reply).await?;
                        return Err(End::Bye);
                    }
                    _ => {}
                },
            }
        }
    }
}
