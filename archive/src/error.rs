//! What can go wrong while reading an upload: fatal errors end the import, problems
//! are listed and the import goes on.

use std::fmt;

use crate::limits::{
    MAX_ARCHIVE_ENTRIES, MAX_MESSAGE_BYTES, MAX_PROBLEMS, MAX_TOTAL_UNCOMPRESSED, MAX_UPLOAD_BYTES,
};

/// An error of the sink (the code storing the messages), carried through the reader.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Why an upload cannot be imported at all. Nothing of it should be kept.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The upload is none of zip, tar, tgz, mbox, .eml.
    #[error("not a zip, tar, tgz, mbox or .eml file")]
    NotRecognised,
    /// The upload is larger than [`MAX_UPLOAD_BYTES`].
    #[error("the upload of {size} bytes is larger than the limit of {MAX_UPLOAD_BYTES} bytes")]
    UploadTooLarge {
        /// Its size.
        size: u64,
    },
    /// The archive has more than [`MAX_ARCHIVE_ENTRIES`] entries.
    #[error("the archive has more than {MAX_ARCHIVE_ENTRIES} entries")]
    TooManyEntries,
    /// An entry declares or inflates to more than [`MAX_MESSAGE_BYTES`] where one
    /// message is expected.
    #[error("entry {name:?} is larger than the message limit of {MAX_MESSAGE_BYTES} bytes")]
    EntryTooLarge {
        /// The entry's name.
        name: String,
    },
    /// The entries declare or inflate to more than [`MAX_TOTAL_UNCOMPRESSED`] bytes
    /// together (a zip bomb, or simply too much).
    #[error("the archive holds more than {MAX_TOTAL_UNCOMPRESSED} uncompressed bytes")]
    TotalTooLarge,
    /// An entry name is absolute, has a `..` or `.` part, a backslash or a NUL.
    #[error(
        "unsafe entry name {name:?} (absolute, `..`, backslash or NUL); the archive is refused"
    )]
    UnsafeEntryName {
        /// The name, lossily decoded.
        name: String,
    },
    /// More than [`MAX_PROBLEMS`] problems: this is not a mail archive worth trying.
    #[error("more than {MAX_PROBLEMS} problems; the import is given up")]
    TooManyProblems,
    /// The archive's structure is broken (truncated, bad checksum, bad compression).
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
    /// Reading the upload or writing a spool file failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The sink failed or asked to stop.
    #[error("{0}")]
    Sink(SinkError),
    /// The import was cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// Something in the upload that was skipped; the import goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where: the entry name (and message number in an mbox).
    pub source: String,
    /// What.
    pub kind: ProblemKind,
}

/// The kinds of [`Problem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A file that is neither a maildir message, a `dovecot-keywords` file nor an mbox.
    UnrecognisedFile,
    /// Not a directory or a regular file (symlink, device, …).
    NotARegularFile,
    /// The name is not UTF-8, or cannot name a mailbox.
    BadName(String),
    /// The bytes do not start with a header field.
    NotAMessage,
    /// An empty message.
    EmptyMessage,
    /// An mbox message larger than [`MAX_MESSAGE_BYTES`].
    MessageTooLarge,
    /// A maildir keyword letter without a `dovecot-keywords` line for it.
    UnknownKeywordLetter(char),
    /// Text before the first `From ` line of an mbox.
    TextBeforeFirstMessage,
    /// A line of `dovecot-keywords` that does not parse.
    BadKeywordsLine(String),
    /// The sink refused the message (its reason).
    Refused(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ProblemKind::UnrecognisedFile => "unrecognised file (skipping)".to_string(),
            ProblemKind::NotARegularFile => "not a regular file (skipping)".to_string(),
            ProblemKind::BadName(why) => format!("bad name: {why} (skipping)"),
            ProblemKind::NotAMessage => "does not start with a header field (skipping)".into(),
            ProblemKind::EmptyMessage => "empty message (skipping)".into(),
            ProblemKind::MessageTooLarge => {
                format!("message larger than {MAX_MESSAGE_BYTES} bytes (skipping)")
            }
            ProblemKind::UnknownKeywordLetter(c) => {
                format!("keyword letter {c:?} not in dovecot-keywords (ignored)")
            }
            ProblemKind::TextBeforeFirstMessage => {
                "text before the first From line (skipping)".into()
            }
            ProblemKind::BadKeywordsLine(line) => {
                format!("dovecot-keywords line {line:?} does not parse (ignored)")
            }
            ProblemKind::Refused(why) => format!("refused: {why}"),
        };
        write!(f, "{}: {what}", self.source)
    }
}
