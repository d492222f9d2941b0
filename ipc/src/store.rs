//! imapd's local store socket: how submitd and webd hand a message to the mail store.
//!
//! The socket is a Unix `SOCK_SEQPACKET` socket (`store.sock` in the runtime directory,
//! or passed to imapd by socket activation under [`STORE_SOCKET_FD_NAME`]). Every
//! datagram carries exactly one bincode-encoded value ([`crate::frame::encode_payload`];
//! no length prefix, the datagram is the frame), at most [`MAX_STORE_REQUEST`] bytes
//! towards imapd and [`MAX_STORE_RESPONSE`] bytes back.
//!
//! A connection:
//!
//! 1. The caller sends [`StoreRequest::Hello`]; imapd answers [`StoreResponse::Hello`],
//!    or [`StoreResponse::Refused`] and closes (caller's uid not in `[imapd]
//!    store_callers`, or another protocol version).
//! 2. Any number of [`StoreRequest::Deliver`], one at a time. Each datagram carries the
//!    message as exactly one fd (`SCM_RIGHTS`) of a regular file opened for reading;
//!    imapd reads it from offset 0 to its end, never through the file offset the
//!    caller may share, so the caller may reuse the file afterwards. The message
//!    bytes never travel in a frame. imapd answers [`StoreResponse::Delivered`] only
//!    once the message and its index entry are durable (DESIGN.md invariant 7), else
//!    [`StoreResponse::Failed`].
//!
//! A datagram that does not decode, is too large, or carries the wrong number of fds
//! gets [`StoreResponse::Refused`] (when possible) and closes that one connection.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// Version of this vocabulary, exchanged in the first datagram.
pub const STORE_PROTOCOL_VERSION: u32 = 1;

/// Largest datagram a caller may send to imapd's store socket.
pub const MAX_STORE_REQUEST: usize = 64 * 1024;
/// Largest datagram imapd sends back on the store socket.
pub const MAX_STORE_RESPONSE: usize = 64 * 1024;

/// The name under which imapd receives its listening store socket by socket activation
/// (`LISTEN_FDNAMES`, systemd's `FileDescriptorName=`).
pub const STORE_SOCKET_FD_NAME: &str = "store";

/// A request on the store socket. Variants are only ever appended (bincode encodes the
/// variant index).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum StoreRequest {
    /// First datagram on a connection: the caller's vocabulary version. Carries no fd.
    Hello {
        /// [`STORE_PROTOCOL_VERSION`] of the caller.
        version: u32,
    },
    /// Store one message; the datagram carries the message file as its one fd.
    Deliver(Delivery),
}

/// Where and how to store a message. The message itself is the fd of the datagram.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delivery {
    /// The account (as authd names it). The caller makes sure authd knows it; imapd
    /// refuses names that cannot be account names.
    pub account: String,
    /// The mailbox, e.g. `Sent`; `None` for the Inbox.
    pub mailbox: Option<String>,
    /// System flags to set on the message.
    pub flags: Vec<SystemFlag>,
    /// Keywords to set (IMAP atoms; stored lowercased).
    pub keywords: Vec<String>,
    /// The message's received time (IMAP INTERNALDATE), unix seconds.
    pub received: i64,
}

/// An IMAP system flag a delivered message may carry.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum SystemFlag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
}

/// imapd's answer on the store socket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum StoreResponse {
    /// Answer to [`StoreRequest::Hello`].
    Hello {
        /// imapd's [`STORE_PROTOCOL_VERSION`].
        version: u32,
    },
    /// The message is durable in the mail store.
    Delivered(DeliveredMessage),
    /// The message was not stored.
    Failed(DeliveryFailure),
    /// The connection is refused or misused; imapd closes it after this answer.
    Refused(StoreRefusal),
}

/// Where a delivered message now is.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveredMessage {
    /// The mailbox's name as stored (e.g. `Inbox`).
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The message's UID in that mailbox.
    pub uid: u32,
    /// The message's size in bytes, as imapd read it.
    pub size: u64,
}

/// Why a message was not stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} delivery failure: {reason}")]
pub struct DeliveryFailure {
    /// Whether trying again later can help.
    pub kind: FailureKind,
    /// What went wrong, for logs and bounce messages.
    pub reason: String,
}

/// Whether a failed delivery may succeed later.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum FailureKind {
    /// Trying again later may work (disk full, I/O error, the store is busy).
    Temporary,
    /// The same request will never work (no such mailbox, invalid account name,
    /// message too large, not a readable file).
    Permanent,
}

/// Why imapd refuses a connection or request as a whole.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, thiserror::Error)]
pub enum StoreRefusal {
    /// The caller's uid is not among `[imapd] store_callers`.
    #[error("not permitted: {0}")]
    NotPermitted(String),
    /// The versions differ.
    #[error("version mismatch: imapd speaks {0}")]
    Version(u32),
    /// A datagram was malformed, oversized, had the wrong fds, or came out of order.
    #[error("protocol misuse: {0}")]
    Misuse(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_payload, encode_payload};

    #[test]
    fn requests_round_trip_within_the_limit() {
        let request = StoreRequest::Deliver(Delivery {
            account: "mjl".into(),
            mailbox: Some("Sent".into()),
            flags: vec![SystemFlag::Seen, SystemFlag::Draft],
            keywords: vec!["$Forwarded".into()],
            received: 1_700_000_000,
        });
        let bytes = encode_payload(&request, MAX_STORE_REQUEST).unwrap();
        let back: StoreRequest = decode_payload(&bytes, MAX_STORE_REQUEST).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn an_oversized_request_cannot_be_encoded() {
        let request = StoreRequest::Deliver(Delivery {
            account: "a".repeat(MAX_STORE_REQUEST),
            mailbox: None,
            flags: Vec::new(),
            keywords: Vec::new(),
            received: 0,
        });
        assert!(encode_payload(&request, MAX_STORE_REQUEST).is_err());
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(
            decode_payload::<StoreRequest>(&[0xff, 0xff, 0xff, 0x01], MAX_STORE_REQUEST).is_err()
        );
        assert!(decode_payload::<StoreRequest>(&[], MAX_STORE_REQUEST).is_err());
    }
}
