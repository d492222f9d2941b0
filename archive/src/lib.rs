//! postern's mail archives: what `postern import` (and webd's import page) reads and
//! what `postern export` (and webd's export download) writes.
//!
//! Reading ([`read_upload`]): a zip, tar or tgz of maildir trees (mailbox directories
//! with `new/`, `cur/`, `tmp/`; Maildir++ dot folders with modified-UTF-7 names;
//! `dovecot-keywords`; flags from `:2,` names; the received time from the file name)
//! and of `.mbox` files (mboxrd unquoting; `Status`, `X-Status`, `X-Keywords`), a bare
//! mbox, or a single .eml. Uploads are untrusted: nothing is ever extracted to the
//! file system (each message is copied, with bare LF made CRLF, into one reused
//! unlinked temp file that the [`ImportSink`] hands on), every size and count is
//! bounded ([`limits`]), a limit crossed is a typed [`ArchiveError`], and a bad
//! message or an odd file is a listed [`Problem`], not a failure.
//!
//! Writing ([`ExportWriter`]): maildir or mbox, as zip, tar or tgz, streamed to any
//! `Write` (mbox files are put together in an unlinked temp file first, since tar
//! needs each entry's size up front); messages that cannot be read are listed in an
//! `errors.txt` inside the archive.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod date;
mod error;
mod flags;
pub mod limits;
mod lines;
mod maildir;
mod mbox;
mod reader;
mod tar_guard;
mod writer;

pub use error::{ArchiveError, Problem, ProblemKind, SinkError};
pub use flags::Flag;
pub use reader::{
    Accepted, ImportSink, Message, ReadOptions, ReadSummary, UploadKind, detect, read_upload,
};
pub use writer::{ArchiveKind, ExportError, ExportWriter, ExportedMessage, MailFormat};
