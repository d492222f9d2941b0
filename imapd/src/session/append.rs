//! APPEND (with MULTIAPPEND and UIDPLUS's APPENDUID): each message literal is streamed
//! from the reader's [`Event::MessageData`](postern_imap_proto::reader::Event) chunks into
//! a store temp file ([`Account::stage`]) on a blocking thread while it arrives, so a
//! message is never held in memory; the finished command then adds all staged
//! messages in one transaction ([`Account::append_staged`]).

use std::io::Read;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connection::Session;
use super::flags::split_flags;
use super::mail_access::{MailError, blocking};
use super::mail_session::{MailState, Reply};
use super::view::compact_set;
use crate::store::{Account, NewMessage, StagedMessage, StoreError};
use postern_imap_proto::command::AppendMessage;
use postern_imap_proto::response::Code;
use postern_imap_proto::types::Mailbox;

/// Chunks in flight between the connection and a staging thread.
const STAGING_QUEUE: usize = 2;

/// The message literals of the command being read, each streaming into a temp file.
pub(super) struct AppendStaging {
    account: Account,
    current: Option<mpsc::Sender<Vec<u8>>>,
    tasks: Vec<JoinHandle<Result<StagedMessage, StoreError>>>,
}

/// A [`Read`] over the chunks of one message literal; ends when the sender is dropped.
struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => return Ok(0),
            }
        }
        let rest = self.chunk.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl AppendStaging {
    /// Nothing staged yet.
    pub(super) fn new(account: Account) -> AppendStaging {
        AppendStaging {
            account,
            current: None,
            tasks: Vec::new(),
        }
    }

    /// A message literal starts: ends the previous one and starts staging this one.
    /// Whether no message literal of the command has started yet.
    pub(super) fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    pub(super) fn start(&mut self) {
        let (tx, rx) = mpsc::channel(STAGING_QUEUE);
        self.current = Some(tx);
        let account = self.account.clone();
        self.tasks.push(tokio::task::spawn_blocking(move || {
            let mut reader = ChunkReader {
                rx,
                chunk: Vec::new(),
                pos: 0,
            };
            account.stage(&mut reader)
        }));
    }

    /// A chunk of the current message literal (waits while the staging thread is
    /// behind, so input is read no faster than it is written).
    pub(super) async fn data(&mut self, chunk: Vec<u8>) {
        if let Some(tx) = &self.current {
            // A failed stage has dropped its receiver; its error is reported at the end.
            let _ = tx.send(chunk).await;
        }
    }

    /// Ends the last literal and waits for every message to be on disk.
    async fn finish(mut self) -> Vec<Result<StagedMessage, MailError>> {
        self.current = None;
        let mut out = Vec::with_capacity(self.tasks.len());
        for task in self.tasks.drain(..) {
            out.push(match task.await {
                Ok(res) => res.map_err(MailError::Store),
                Err(e) => Err(MailError::Task(e.to_string())),
            });
        }
        out
    }
}

impl Session {
    /// APPEND of `messages`, whose data `staging` holds.
    pub(super) async fn append(
        &mut self,
        st: &mut MailState,
        mailbox: &Mailbox,
        messages: Vec<AppendMessage>,
        staging: AppendStaging,
    ) -> Reply {
        let staged = staging.finish().await;
        if staged.len() != messages.len() {
            return Reply::no(
                Some(Code::ServerBug),
                "message data does not match the command",
            );
        }
        let now = super::mail_session::unix_now();
        let mut batch = Vec::with_capacity(messages.len());
        for (meta, staged) in messages.iter().zip(staged) {
            let staged = match staged {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(account = st.account.name(), error = %e, "staging an appended message failed");
                    return Reply::failure(&e, Code::TryCreate);
                }
            };
            if staged.size() != meta.size {
                return Reply::no(None, "message data is incomplete, cancelling append");
            }
            if staged.size() == 0 {
                return Reply::no(None, "empty message, cancelling append");
            }
            let (flags, keywords) = match split_flags(&meta.flags) {
                Ok(v) => v,
                Err(e) => return Reply::bad(&e.to_string()),
            };
            let new = NewMessage {
                flags,
                keywords,
                received: meta.date.map_or(now, |d| d.unix),
            };
            batch.push((new, staged));
        }
        let account = st.account.clone();
        let name = mailbox.as_str().to_owned();
        match blocking(move || account.append_staged(&name, batch)).await {
            Ok(delivered) => {
                let Some(first) = delivered.first() else {
                    return Reply::ok("append done");
                };
                let uids: Vec<u32> = delivered.iter().map(|d| d.uid).collect();
                tracing::debug!(account = st.account.name(), count = uids.len(), "appended");
                Reply::ok_code(
                    Code::AppendUid {
                        uid_validity: first.uidvalidity,
                        uids: compact_set(&uids),
                    },
                    "append done",
                )
            }
            Err(e) => Reply::failure(&e, Code::TryCreate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MailStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn literals_stream_into_staged_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let account = store.account("alice").unwrap();
        let mut staging = AppendStaging::new(account.clone());
        let first: Vec<u8> = b"Subject: big\r\n\r\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 300_000))
            .collect();
        staging.start();
        for chunk in first.chunks(65_536) {
            staging.data(chunk.to_vec()).await;
        }
        staging.start();
        staging.data(b"Subject: small\r\n\r\nhi\r\n".to_vec()).await;
        let staged: Vec<StagedMessage> = staging
            .finish()
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(staged.len(), 2);
        assert_eq!(staged[0].size(), first.len() as u64);
        assert_eq!(staged[0].header_size(), 16);
        assert_eq!(staged[1].size(), 22);
        let batch = staged
            .into_iter()
            .map(|s| (NewMessage::default(), s))
            .collect();
        let delivered = account.append_staged("INBOX", batch).unwrap();
        let mut content = Vec::new();
        account
            .open_message(delivered[0].id)
            .unwrap()
            .read_to_end(&mut content)
            .unwrap();
        assert!(content == first, "staged content differs");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropped_staging_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = MailStore::open(dir.path()).unwrap();
        let account = store.account("alice").unwrap();
        let mut staging = AppendStaging::new(account);
        staging.start();
        staging.data(b"Subject: half".to_vec()).await;
        let results = staging.finish().await;
        drop(results);
        let left = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        assert_eq!(left, 0);
    }
}
