//! The client side of imapd's store socket ([`crate::store`]), for submitd and webd:
//! hand a message file to the mail store and learn where it landed.
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
#![forbid(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use crate::frame::{FrameError, decode_payload, encode_payload};
use crate::seqpacket::{SeqpacketConnection, SeqpacketError};
use crate::store::{
    DeliveredMessage, Delivery, DeliveryFailure, FailureKind, MAX_STORE_REQUEST,
    MAX_STORE_RESPONSE, STORE_PROTOCOL_VERSION, StoreRefusal, StoreRequest, StoreResponse,
};

/// A generous bound for connecting or for one delivery: imapd copies and fsyncs up to
/// 100 MiB before it answers.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call on the store socket did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum StoreClientError {
    /// imapd answered that it did not store the message.
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

/// A connection to imapd's store socket, one delivery at a time.
#[derive(Debug)]
pub struct StoreClient {
    socket: SeqpacketConnection,
    broken: bool,
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
            match client.call(&hello, None).await? {
                StoreResponse::Hello { version } if version == STORE_PROTOCOL_VERSION => Ok(client),
                StoreResponse::Refused(refusal) => Err(refusal.into()),
                other => Err(StoreClientError::Unexpected(format!("{other:?}"))),
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
        if self.broken {
            return Err(StoreClientError::Broken);
        }
        // Until a complete answer arrives (a timeout, or the caller dropping this
        // future, leaves one in flight that would be taken for the next request's).
        self.broken = true;
        let request = StoreRequest::Deliver(delivery.clone());
        let answer = tokio::time::timeout(timeout, self.call(&request, Some(message.as_fd())))
            .await
            .map_err(|_| StoreClientError::Timeout(timeout));
        match answer {
            Ok(Ok(StoreResponse::Delivered(delivered))) => {
                self.broken = false;
                Ok(delivered)
            }
            Ok(Ok(StoreResponse::Failed(failure))) => {
                self.broken = false;
                Err(failure.into())
            }
            Ok(Ok(StoreResponse::Refused(refusal))) => Err(refusal.into()),
            Ok(Ok(other)) => Err(StoreClientError::Unexpected(format!("{other:?}"))),
            Ok(Err(e)) | Err(e) => Err(e),
        }
    }

    async fn call(
        &mut self,
        request: &StoreRequest,
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<StoreResponse, StoreClientError> {
        let payload = encode_payload(request, MAX_STORE_REQUEST)?;
        let fds: Vec<BorrowedFd<'_>> = fd.into_iter().collect();
        self.socket.send(&payload, &fds).await?;
        let datagram = self.socket.recv(MAX_STORE_RESPONSE).await?;
        if !datagram.fds.is_empty() {
            return Err(StoreClientError::Unexpected(
                "imapd sent file descriptors".into(),
            ));
        }
        Ok(decode_payload(&datagram.payload, MAX_STORE_RESPONSE)?)
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
