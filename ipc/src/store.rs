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
//!
//! Import (webd's upload, `postern import`), opened with a mail-access ticket
//! ([`crate::web`]; imapd redeems it with authd before anything else):
//!
//! 1. [`StoreRequest::ImportBegin`] → [`StoreResponse::ImportStarted`] (the account the
//!    ticket opens), or [`StoreResponse::Refused`] and the connection closes.
//! 2. Any number of [`StoreRequest::ImportMailbox`] (→
//!    [`StoreResponse::ImportMailboxAccepted`]) and [`StoreRequest::ImportMessage`]
//!    (one fd, as for `Deliver`; → [`StoreResponse::ImportAccepted`], or
//!    [`StoreResponse::Failed`] for this one message: permanent failures are problems
//!    of the message, the import goes on). Nothing is visible to IMAP yet.
//! 3. [`StoreRequest::ImportCommit`] → [`StoreResponse::ImportCommitted`] once every
//!    message, the new mailboxes (created and subscribed) and their index entries are
//!    durable, all in one transaction; or [`StoreRequest::ImportAbort`] →
//!    [`StoreResponse::ImportAborted`]. A connection that closes (or an imapd that
//!    dies) before the commit answer leaves the store exactly as before.
//!
//! Export (webd's download, `postern export`), opened with a ticket in the same way:
//! [`StoreRequest::ExportBegin`] → [`StoreResponse::ExportStarted`]; then pages of
//! [`StoreRequest::ExportMailboxes`] and [`StoreRequest::ExportMessages`], and
//! [`StoreRequest::ExportOpen`] → [`StoreResponse::MessageOpened`] carrying the message
//! file as one fd opened read-only. One import or export per connection at a time.
//!
//! A datagram that does not decode, is too large, or carries the wrong number of fds
//! gets [`StoreResponse::Refused`] (when possible) and closes that one connection.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use crate::types::Secret;

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
    /// Open an import into the account a mail-access ticket names. Carries no fd.
    ImportBegin {
        /// The ticket from authd (purpose import).
        ticket: Secret<String>,
    },
    /// Create (and subscribe) a mailbox at the commit, also when no message goes into
    /// it; an existing mailbox is kept. Carries no fd.
    ImportMailbox {
        /// The mailbox name, `/`-separated.
        mailbox: String,
    },
    /// One message of the running import; the datagram carries its file as its one fd.
    ImportMessage(ImportedMessage),
    /// Make the running import visible, all or nothing. Carries no fd.
    ImportCommit,
    /// Drop the running import: nothing of it stays. Carries no fd.
    ImportAbort,
    /// Open an export of the account a mail-access ticket names. Carries no fd.
    ExportBegin {
        /// The ticket from authd (purpose export).
        ticket: Secret<String>,
    },
    /// A page of the account's mailboxes, in name order. Carries no fd.
    ExportMailboxes {
        /// Index of the first mailbox of the page ([`MailboxPage::next`]).
        start: u32,
    },
    /// A page of a mailbox's messages, in UID order. Carries no fd.
    ExportMessages {
        /// The mailbox name.
        mailbox: String,
        /// Only messages with a greater UID (0 for the first page).
        after_uid: u32,
    },
    /// One message's file, answered with an fd opened read-only. Carries no fd.
    ExportOpen {
        /// The mailbox name.
        mailbox: String,
        /// The message's UID.
        uid: u32,
    },
}

/// One message of an import. The message itself is the fd of the datagram.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportedMessage {
    /// The mailbox, `/`-separated (`Inbox` for the inbox); created at the commit when
    /// missing.
    pub mailbox: String,
    /// System flags to set.
    pub flags: Vec<SystemFlag>,
    /// Keywords to set (IMAP atoms; stored lowercased).
    pub keywords: Vec<String>,
    /// The message's received time (IMAP INTERNALDATE), unix seconds.
    pub received: i64,
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

impl SystemFlag {
    /// Every system flag, in a fixed order.
    pub const ALL: [SystemFlag; 5] = [
        SystemFlag::Seen,
        SystemFlag::Answered,
        SystemFlag::Flagged,
        SystemFlag::Deleted,
        SystemFlag::Draft,
    ];
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
    /// Answer to [`StoreRequest::ImportBegin`]: the import into this account runs.
    ImportStarted {
        /// The account the ticket opened.
        account: String,
    },
    /// Answer to [`StoreRequest::ImportMailbox`].
    ImportMailboxAccepted {
        /// The mailbox name as it will be stored.
        mailbox: String,
    },
    /// Answer to [`StoreRequest::ImportMessage`]: the message is part of the import
    /// (read and written; visible only after the commit).
    ImportAccepted {
        /// The message's size in bytes, as imapd read it.
        size: u64,
    },
    /// Answer to [`StoreRequest::ImportCommit`]: everything is durable and visible.
    ImportCommitted(ImportSummary),
    /// Answer to [`StoreRequest::ImportAbort`]: nothing of the import stays.
    ImportAborted,
    /// Answer to [`StoreRequest::ExportBegin`]: the export of this account runs.
    ExportStarted {
        /// The account the ticket opened.
        account: String,
    },
    /// Answer to [`StoreRequest::ExportMailboxes`].
    Mailboxes(MailboxPage),
    /// Answer to [`StoreRequest::ExportMessages`].
    Messages(MessagePage),
    /// Answer to [`StoreRequest::ExportOpen`]; the datagram carries the message file as
    /// its one fd, opened read-only.
    MessageOpened {
        /// The message's size in bytes.
        size: u64,
    },
}

/// What a committed import added.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportSummary {
    /// Messages added.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Per mailbox touched, in name order.
    pub mailboxes: Vec<ImportedMailbox>,
}

/// One mailbox of a committed import.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportedMailbox {
    /// The mailbox name as stored.
    pub mailbox: String,
    /// Messages added to it.
    pub messages: u64,
    /// Whether the import created it.
    pub created: bool,
}

/// A page of an account's mailboxes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailboxPage {
    /// The mailboxes, in name order.
    pub mailboxes: Vec<MailboxListing>,
    /// The `start` of the next page; `None` when this was the last.
    pub next: Option<u32>,
}

/// One mailbox of an export.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailboxListing {
    /// The full name, `/`-separated.
    pub name: String,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// Number of messages.
    pub messages: u64,
    /// Sum of their sizes.
    pub size: u64,
    /// Whether the mailbox is subscribed.
    pub subscribed: bool,
}

/// A page of a mailbox's messages.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessagePage {
    /// The messages, in UID order.
    pub messages: Vec<MessageListing>,
    /// Whether messages with greater UIDs follow (ask again after the last UID).
    pub more: bool,
}

/// One message of an export.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MessageListing {
    /// The UID.
    pub uid: u32,
    /// Its system flags.
    pub flags: Vec<SystemFlag>,
    /// Its keywords (lowercased).
    pub keywords: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub received: i64,
    /// Size in bytes.
    pub size: u64,
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
