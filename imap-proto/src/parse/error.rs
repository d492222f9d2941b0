//! Why a command could not be parsed: the typed [`SyntaxError`], and the
//! [`ParseError`] that carries it with the command's tag to the `BAD` reply.
//!
//! The `Display` texts are the answer texts clients see (`<tag> BAD <text>`); tests pin
//! them, so change them only on purpose.

/// What is wrong with a command's syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// No tag at the start of the line (answered `* BAD`).
    #[error("missing tag")]
    MissingTag,
    /// The command name is not one postern knows.
    #[error("unrecognized command")]
    UnknownCommand,
    /// `UID` followed by a command that has no UID form.
    #[error("unknown UID command {0}")]
    UnknownUidCommand(String),
    /// A specific character was due.
    #[error("expected {expected:?} at position {position}")]
    Expected {
        /// The character the grammar wants.
        expected: char,
        /// Offset in the command text.
        position: usize,
    },
    /// The command goes on after its last argument.
    #[error("unexpected data at position {0}")]
    TrailingData(usize),
    /// An atom was due.
    #[error("expected atom at position {0}")]
    ExpectedAtom(usize),
    /// A number was due.
    #[error("expected number at position {0}")]
    ExpectedNumber(usize),
    /// A number does not fit its type (`number` 32 bits, `number64` 63 bits).
    #[error("number too large")]
    NumberTooLarge,
    /// `0` where the grammar wants `nz-number`.
    #[error("expected non-zero number")]
    ZeroNumber,
    /// A quoted string without its closing quote on the line.
    #[error("unterminated quoted string")]
    UnterminatedQuoted,
    /// A backslash in a quoted string not before `"` or `\`.
    #[error("invalid escape in quoted string")]
    InvalidEscape,
    /// A literal larger than memory can address.
    #[error("literal too big")]
    LiteralTooBig,
    /// A literal with fewer bytes than it announced.
    #[error("truncated literal")]
    TruncatedLiteral,
    /// A string (quoted, literal or atom) was due.
    #[error("expected string at position {0}")]
    ExpectedString(usize),
    /// A string that must be text is not UTF-8.
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    /// A mailbox name of an IMAP4rev1 client that is not valid modified UTF-7.
    #[error("invalid modified UTF-7 mailbox name")]
    InvalidMutf7,
    /// A mailbox name that is not UTF-8.
    #[error("invalid UTF-8 in mailbox name")]
    InvalidUtf8MailboxName,
    /// A LIST/LSUB pattern was due.
    #[error("expected mailbox pattern at position {0}")]
    ExpectedPattern(usize),
    /// `()` where at least one item is needed.
    #[error("empty list")]
    EmptyList,
    /// A month name that is not one of `Jan` … `Dec`.
    #[error("invalid month")]
    InvalidMonth,
    /// Digits of a date or time were due.
    #[error("expected digits at position {0}")]
    ExpectedDigits(usize),
    /// A day of month outside 1..=31.
    #[error("invalid day")]
    InvalidDay,
    /// A date-time zone without its sign.
    #[error("invalid zone")]
    InvalidZone,
    /// A date-time with an hour, minute, second or zone out of range.
    #[error("invalid date-time")]
    InvalidDateTime,
    /// AUTHENTICATE's initial response is not base64 (or `=`).
    #[error("invalid initial response")]
    InvalidInitialResponse,
    /// A line during AUTHENTICATE is neither base64 nor `*`.
    #[error("invalid base64 in authentication response")]
    InvalidSaslResponse,
    /// ENABLE without a capability.
    #[error("ENABLE needs a capability")]
    EnableWithoutCapability,
    /// A CREATE parameter other than USE.
    #[error("unknown CREATE parameter")]
    UnknownCreateParameter,
    /// A SELECT/EXAMINE parameter other than CONDSTORE and QRESYNC.
    #[error("unknown SELECT parameter")]
    UnknownSelectParameter,
    /// A STATUS attribute postern does not know.
    #[error("unknown STATUS attribute {0}")]
    UnknownStatusAttribute(String),
    /// A LIST selection option postern does not know.
    #[error("unknown LIST selection option {0}")]
    UnknownListSelection(String),
    /// LIST arguments go on with something other than RETURN.
    #[error("expected RETURN")]
    ExpectedReturn,
    /// A LIST return option postern does not know.
    #[error("unknown LIST return option {0}")]
    UnknownListReturn(String),
    /// An APPEND message literal the reader did not stream.
    #[error("message literal missing")]
    MessageLiteralMissing,
    /// An APPEND message literal that differs from the one the reader streamed.
    #[error("message literal mismatch")]
    MessageLiteralMismatch,
    /// The reader streamed more message literals than the command has.
    #[error("message literals do not match")]
    MessageLiteralsLeftOver,
    /// `UTF8 (…)` around a literal that is not a literal8.
    #[error("UTF8 APPEND needs literal8")]
    Utf8AppendNeedsLiteral8,
    /// APPEND without a message.
    #[error("APPEND needs a message")]
    AppendWithoutMessage,
    /// A SEARCH return option postern does not know.
    #[error("unknown SEARCH return option {0}")]
    UnknownSearchReturn(String),
    /// Search keys nested deeper than [`crate::limits::MAX_SEARCH_DEPTH`].
    #[error("search keys nested too deeply")]
    SearchTooDeep,
    /// A MODSEQ search entry type other than `priv`, `shared` and `all`.
    #[error("invalid MODSEQ entry type")]
    InvalidModSeqEntryType,
    /// A search key postern does not know.
    #[error("unknown search key {0}")]
    UnknownSearchKey(String),
    /// A FETCH modifier other than CHANGEDSINCE and VANISHED.
    #[error("unknown FETCH modifier")]
    UnknownFetchModifier,
    /// VANISHED without UID FETCH and CHANGEDSINCE (RFC 7162 §3.2.6).
    #[error("VANISHED needs UID FETCH and CHANGEDSINCE")]
    VanishedWithoutChangedSince,
    /// A FETCH item postern does not know.
    #[error("unknown FETCH item {0}")]
    UnknownFetchItem(String),
    /// A section text other than HEADER, HEADER.FIELDS[.NOT], TEXT and MIME.
    #[error("invalid section {0}")]
    InvalidSection(String),
    /// A STORE modifier other than UNCHANGEDSINCE.
    #[error("unknown STORE modifier")]
    UnknownStoreModifier,
    /// STORE without FLAGS or FLAGS.SILENT.
    #[error("expected FLAGS or FLAGS.SILENT")]
    ExpectedStoreFlags,
    /// An ID field name longer than [`crate::limits::MAX_ID_FIELD`].
    #[error("ID field name too long")]
    IdFieldTooLong,
    /// An ID value longer than [`crate::limits::MAX_ID_VALUE`].
    #[error("ID value too long")]
    IdValueTooLong,
    /// More ID field-value pairs than [`crate::limits::MAX_ID_PAIRS`].
    #[error("too many ID fields")]
    TooManyIdFields,
    /// An ID field given twice.
    #[error("duplicate ID field {0}")]
    DuplicateIdField(String),
}

/// What kind of failure a [`ParseError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// No tag could be read (answer `* BAD`).
    MissingTag,
    /// The command name is not one postern knows.
    UnknownCommand,
    /// The command is known but its arguments are malformed.
    Syntax,
}

/// A command that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ParseError {
    /// The command's tag, when one could be read (else answer with `*`).
    pub tag: Option<String>,
    /// What went wrong.
    pub error: SyntaxError,
}

impl ParseError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ParseErrorKind {
        match (&self.tag, &self.error) {
            (None, _) => ParseErrorKind::MissingTag,
            (Some(_), SyntaxError::UnknownCommand | SyntaxError::UnknownUidCommand(_)) => {
                ParseErrorKind::UnknownCommand
            }
            (Some(_), _) => ParseErrorKind::Syntax,
        }
    }

    /// The reply for this error: `<tag> BAD <message>` (or `* BAD` without a tag); a
    /// mailbox name that is well-formed but not valid modified UTF-7 is a name the
    /// server cannot use, not bad syntax: `<tag> NO [CANNOT] <message>`.
    pub fn reply(&self) -> Vec<u8> {
        let text: String = self
            .error
            .to_string()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        match (&self.tag, &self.error) {
            (Some(tag), SyntaxError::InvalidMutf7) => {
                format!("{tag} NO [CANNOT] {text}\r\n").into_bytes()
            }
            (tag, _) => format!("{} BAD {text}\r\n", tag.as_deref().unwrap_or("*")).into_bytes(),
        }
    }
}
