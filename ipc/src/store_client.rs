//! The client side of imapd's store socket ([`crate::store`]), for submitd, webd and
//! the admin command line: hand a message file to the mail store, run an import or an
//! export opened with a mail-access ticket.
//!
//! ```no_run
//! # async fn example(file: std::fs::File) -> Result<(), postern_ipc::store_client::StoreClientError> {
//! use postern_ipc::store::Delivery;
//! use postern_ipc::store_client::{StoreClient, DEFAULT_STORE_TIMEOUT};
//! let mut store = StoreClient::connect("/run/postern/store.sock".as_ref(), DEFAULT_STORE_TIMEOUT).await?;
//! let delivery = Delivery {
//!     account: "mjl".into(),
//!     mailbox: None,
//!     flags: Vec::new(),
//!     keywords: Vec::new(),
//!     received: 1_700_000_000,
//! };
//! match store.deliver(&file, &delivery, DEFAULT_STORE_TIMEOUT).await {
//!     Ok(delivered) => println!("uid {} in {}", delivered.uid, delivered.mailbox),
//!     Err(e) if e.is_permanent() => println!("bounce: {e}"),
//!     Err(e) => println!("try again later: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! An import: [`StoreClient::import_begin`] with the ticket, then
//! [`StoreClient::import_mailbox`] / [`StoreClient::import_message`] per item, then
//! [`StoreClient::import_commit`] (or [`StoreClient::import_abort`], or just dropping
//! the client: imapd keeps nothing of an import whose connection closes). An export:
//! [`StoreClient::export_begin`], then [`StoreClient::export_mailboxes`],
//! [`StoreClient::export_messages`] and [`StoreClient::export_open`].
#![forbid(unsafe_code)]

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use crate::frame::{FrameError, decode_payload, encode_payload};
use crate::seqpacket::{SeqpacketConnection, SeqpacketError};
use crate::store::{
    DeliveredMessage, Delivery, DeliveryFailure, FailureKind, ImportSummary, ImportedMessage,
    MAX_STORE_REQUEST, MAX_STORE_RESPONSE, MailboxListing, MailboxPage, MessageListing,
    MessagePage, STORE_PROTOCOL_VERSION, StoreRefusal, StoreRequest, StoreResponse,
};
use crate::types::Secret;

/// A generous bound for connecting or for one delivery: imapd copies and fsyncs up to
/// 100 MiB before it answers.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(120);
/// A bound for committing an import: imapd links and syncs every message file of the
/// import and writes all index entries before it answers.
pub const IMPORT_COMMIT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Why a call on the store socket did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum StoreClientError {
    /// imapd answered that it did not store the message (or could not do the request).
    #[error(transparent)]
    Failed(#[from] DeliveryFailure),
    /// imapd refused the connection or the request (and closed the connection).
    #[error("imapd refused: {0}")]
    Refused(#[from] StoreRefusal),
    /// The socket failed, or imapd closed the connection.
    #[error("store socket: {0}")]
    Socket(#[from] SeqpacketError),
    /// A datagram could not be encoded or decoded.
    #[error("store socket: {0}")]
    Frame(#[from] FrameError),
    /// imapd answered with something that does not fit the request.
    #[error("store socket: unexpected answer {0}")]
    Unexpected(String),
    /// No answer in time.
    #[error("store socket: no answer within {0:?}")]
    Timeout(Duration),
    /// An earlier call on this connection failed midway; connect again.
    #[error("store socket: the connection is unusable after an earlier failure")]
    Broken,
}

impl StoreClientError {
    /// Whether the same delivery can never succeed (bounce it). Everything else —
    /// timeouts, imapd unreachable, refusals that a config change fixes — is
    /// temporary: keep the message and try again later.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StoreClientError::Failed(DeliveryFailure {
                kind: FailureKind::Permanent,
                ..
            })
        )
    }
}

/// A connection to imapd's store socket, one request at a time.
#[derive(Debug)]
pub struct StoreClient {
    socket: SeqpacketConnection,
    broken: bool,
}

/// An answer with the fds that came with it.
struct Answer {
    response: StoreResponse,
    fds: Vec<OwnedFd>,
}

fn unexpected(response: &StoreResponse) -> StoreClientError {
    StoreClientError::Unexpected(format!("{response:?}"))
}

impl StoreClient {
    /// Connects to the store socket at `path` and exchanges greetings, all within
    /// `timeout`.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<StoreClient, StoreClientError> {
        let greet = async {
            let socket = SeqpacketConnection::connect(path).await?;
            let mut client = StoreClient {
                socket,
                broken: false,
            };
            let hello = StoreRequest::Hello {
                version: STORE_PROTOCOL_VERSION,
            };
            match client
                .round_trip(&hello, None, timeout)
                .await
                .map(|a| a.response)
            {
                Ok(StoreResponse::Hello { version }) if version == STORE_PROTOCOL_VERSION => {
                    Ok(client)
                }
                Ok(other) => Err(unexpected(&other)),
                Err(e) => Err(e),
            }
        };
        tokio::time::timeout(timeout, greet)
            .await
            .map_err(|_| StoreClientError::Timeout(timeout))?
    }

    /// Hands the message in `message` (a regular file, readable; read from offset 0 to
    /// its end) to the mail store, and waits up to `timeout` for imapd to say it is
    /// durable. After any error but [`StoreClientError::Failed`] the connection is not
    /// used again: connect anew.
    pub async fn deliver(
        &mut self,
        message: &impl AsFd,
        delivery: &Delivery,
        timeout: Duration,
    ) -> Result<DeliveredMessage, StoreClientError> {
        let request = StoreRequest::Deliver(delivery.clone());
        match self.call(&request, Some(message.as_fd()), timeout).await? {
            StoreResponse::Delivered(delivered) => Ok(delivered),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Opens an import into the account `ticket` names; returns that account.
    pub async fn import_begin(
        &mut self,
        ticket: &Secret<String>,
        timeout: Duration,
    ) -> Result<String, StoreClientError> {
        let request = StoreRequest::ImportBegin {
            ticket: ticket.clone(),
        };
        match self.call(&request, None, timeout).await? {
            StoreResponse::ImportStarted { account } => Ok(account),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Adds a mailbox to the running import; returns its name as it will be stored.
    pub async fn import_mailbox(
        &mut self,
        mailbox: &str,
        timeout: Duration,
    ) -> Result<String, StoreClientError> {
        let request = StoreRequest::ImportMailbox {
            mailbox: mailbox.to_string(),
        };
        match self.call(&request, None, timeout).await? {
            StoreResponse::ImportMailboxAccepted { mailbox } => Ok(mailbox),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Adds the message in `message` (read from offset 0 to its end) to the running
    /// import; returns its size. A [`StoreClientError::Failed`] refuses this one
    /// message and leaves the import running.
    pub async fn import_message(
        &mut self,
        message: &impl AsFd,
        meta: &ImportedMessage,
        timeout: Duration,
    ) -> Result<u64, StoreClientError> {
        let request = StoreRequest::ImportMessage(meta.clone());
        match self.call(&request, Some(message.as_fd()), timeout).await? {
            StoreResponse::ImportAccepted { size } => Ok(size),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Commits the running import (see [`IMPORT_COMMIT_TIMEOUT`] for `timeout`).
    pub async fn import_commit(
        &mut self,
        timeout: Duration,
    ) -> Result<ImportSummary, StoreClientError> {
        match self
            .call(&StoreRequest::ImportCommit, None, timeout)
            .await?
        {
            StoreResponse::ImportCommitted(summary) => Ok(summary),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Drops the running import.
    pub async fn import_abort(&mut self, timeout: Duration) -> Result<(), StoreClientError> {
        match self.call(&StoreRequest::ImportAbort, None, timeout).await? {
            StoreResponse::ImportAborted => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Opens an export of the account `ticket` names; returns that account.
    pub async fn export_begin(
        &mut self,
        ticket: &Secret<String>,
        timeout: Duration,
    ) -> Result<String, StoreClientError> {
        let request = StoreRequest::ExportBegin {
            ticket: ticket.clone(),
        };
        match self.call(&request, None, timeout).await? {
            StoreResponse::ExportStarted { account } => Ok(account),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Every mailbox of the exported account, in name order (all pages).
    pub async fn export_mailboxes(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<MailboxListing>, StoreClientError> {
        let mut all = Vec::new();
        let mut start = 0;
        loop {
            let request = StoreRequest::ExportMailboxes { start };
            let MailboxPage { mailboxes, next } = match self.call(&request, None, timeout).await? {
                StoreResponse::Mailboxes(page) => page,
                other => return Err(self.unexpected(&other)),
            };
            all.extend(mailboxes);
            match next {
                Some(next) if next > start => start = next,
                Some(_) => {
                    return Err(StoreClientError::Unexpected(
                        "a page that does not advance".into(),
                    ));
                }
                None => return Ok(all),
            }
        }
    }

    /// One page of `mailbox`'s messages with UIDs greater than `after_uid`.
    pub async fn export_messages(
        &mut self,
        mailbox: &str,
        after_uid: u32,
        timeout: Duration,
    ) -> Result<MessagePage, StoreClientError> {
        let request = StoreRequest::ExportMessages {
            mailbox: mailbox.to_string(),
            after_uid,
        };
        match self.call(&request, None, timeout).await? {
            StoreResponse::Messages(page) => Ok(page),
            other => Err(self.unexpected(&other)),
        }
    }

    /// Every message of `mailbox`, in UID order (all pages).
    pub async fn export_all_messages(
        &mut self,
        mailbox: &str,
        timeout: Duration,
    ) -> Result<Vec<MessageListing>, StoreClientError> {
        let mut all: Vec<MessageListing> = Vec::new();
        let mut after = 0;
        loop {
            let page = self.export_messages(mailbox, after, timeout).await?;
            let last = page.messages.last().map(|m| m.uid);
            all.extend(page.messages);
            match (page.more, last) {
                (true, Some(last)) if last > after => after = last,
                (true, _) => {
                    return Err(StoreClientError::Unexpected(
                        "a page that does not advance".into(),
                    ));
                }
                (false, _) => return Ok(all),
            }
        }
    }

    /// Opens message `uid` of `mailbox`: its file (read-only) and its size. A
    /// [`StoreClientError::Failed`] (e.g. the message was expunged meanwhile) leaves the
    /// export running.
    pub async fn export_open(
        &mut self,
        mailbox: &str,
        uid: u32,
        timeout: Duration,
    ) -> Result<(File, u64), StoreClientError> {
        let request = StoreRequest::ExportOpen {
            mailbox: mailbox.to_string(),
            uid,
        };
        let Answer { response, mut fds } = self.round_trip(&request, None, timeout).await?;
        match (response, fds.pop(), fds.is_empty()) {
            (StoreResponse::MessageOpened { size }, Some(fd), true) => Ok((File::from(fd), size)),
            (other, _, _) => Err(self.unexpected(&other)),
        }
    }

    /// An error for an answer that does not fit the request; the connection is not
    /// trusted after it.
    fn unexpected(&mut self, response: &StoreResponse) -> StoreClientError {
        self.broken = true;
        unexpected(response)
    }

    /// Sends one request (with at most one fd) and returns the answer, which must carry
    /// no fd.
    async fn call(
        &mut self,
        request: &StoreRequest,
        fd: Option<BorrowedFd<'_>>,
        timeout: Duration,
    ) -> Result<StoreResponse, StoreClientError> {
        let Answer { response, fds } = self.round_trip(request, fd, timeout).await?;
        if !fds.is_empty() {
            self.broken = true;
            return Err(StoreClientError::Unexpected(
                "imapd sent file descriptors".into(),
            ));
        }
        Ok(response)
    }

    /// One request and its answer within `timeout`. [`StoreResponse::Failed`] and
    /// [`StoreResponse::Refused`] become errors. The connection counts as broken until
    /// a complete answer arrived (a timeout, or the caller dropping this future, leaves
    /// one in flight that would be taken for the next request's), and after a refusal
    /// (imapd closes the connection).
    async fn round_trip(
        &mut self,
        request: &StoreRequest,
        fd: Option<BorrowedFd<'_>>,
        timeout: Duration,
    ) -> Result<Answer, StoreClientError> {
        if self.broken {
            return Err(StoreClientError::Broken);
        }
        self.broken = true;
        let answer = tokio::time::timeout(timeout, self.exchange(request, fd))
            .await
            .map_err(|_| StoreClientError::Timeout(timeout))??;
        match answer.response {
            StoreResponse::Refused(refusal) => Err(refusal.into()),
            StoreResponse::Failed(failure) => {
                self.broken = false;
                Err(failure.into())
            }
            response => {
                self.broken = false;
                Ok(Answer {
                    response,
                    fds: answer.fds,
                })
            }
        }
    }

    async fn exchange(
        &mut self,
        request: &StoreRequest,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<Answer, StoreClientError> {
        let payload = encode_payload(request, MAX_STORE_REQUEST)?;
        let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
        self.socket.send(&payload, &fds).await?;
        let datagram = self.socket.recv(MAX_STORE_RESPONSE).await?;
        Ok(Answer {
            response: decode_payload(&datagram.payload, MAX_STORE_RESPONSE)?,
            fds: datagram.fds,
        })
    }
}

/// Connects, delivers one message and closes: [`StoreClient::connect`] then
/// [`StoreClient::deliver`], each bounded by `timeout`.
pub async fn deliver_once(
    path: &Path,
    message: &impl AsFd,
    delivery: &Delivery,
    timeout: Duration,
) -> Result<DeliveredMessage, StoreClientError> {
    let mut client = StoreClient::connect(path, timeout).await?;
    client.deliver(message, delivery, timeout).await
}
