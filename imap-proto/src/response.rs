//! Typed server responses: status responses with their codes, untagged data, FETCH
//! items. [`crate::encode`] writes them as bytes.

use crate::body::BodyStructure;
use crate::command::{Section, StatusItem};
use crate::datetime::DateTime;
use crate::envelope::Envelope;
use crate::types::{Flag, SequenceSet};

/// A server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A status response, tagged or untagged.
    Status(StatusResponse),
    /// Untagged data (`* ...`).
    Data(Data),
    /// A continuation request: `+ text`, or `+ base64` for a SASL challenge. An empty
    /// string gives `+ ` (an empty SASL challenge).
    Continue(String),
}

/// The kind of status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// OK.
    Ok,
    /// NO.
    No,
    /// BAD.
    Bad,
    /// PREAUTH (greeting only).
    PreAuth,
    /// BYE.
    Bye,
}

/// `[tag|*] OK|NO|BAD|PREAUTH|BYE [code] text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// The tag; `None` for untagged.
    pub tag: Option<String>,
    /// Kind.
    pub kind: StatusKind,
    /// Response code.
    pub code: Option<Code>,
    /// Human-readable text (CR and LF are replaced by spaces).
    pub text: String,
}

impl StatusResponse {
    /// A tagged response.
    pub fn tagged(tag: &str, kind: StatusKind, code: Option<Code>, text: &str) -> Self {
        StatusResponse {
            tag: Some(tag.to_owned()),
            kind,
            code,
            text: text.to_owned(),
        }
    }

    /// An untagged response.
    pub fn untagged(kind: StatusKind, code: Option<Code>, text: &str) -> Self {
        StatusResponse {
            tag: None,
            kind,
            code,
            text: text.to_owned(),
        }
    }
}

/// A response code (RFC 9051 §7.1 and extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// ALERT.
    Alert,
    /// ALREADYEXISTS.
    AlreadyExists,
    /// APPENDUID uidvalidity uid-set (UIDPLUS).
    AppendUid {
        /// UIDVALIDITY of the target.
        uid_validity: u32,
        /// UIDs given.
        uids: SequenceSet,
    },
    /// AUTHENTICATIONFAILED.
    AuthenticationFailed,
    /// AUTHORIZATIONFAILED.
    AuthorizationFailed,
    /// BADCHARSET (charsets).
    BadCharset(Vec<String>),
    /// CANNOT.
    Cannot,
    /// CAPABILITY caps.
    Capability(Vec<String>),
    /// CLIENTBUG.
    ClientBug,
    /// CLOSED (QRESYNC).
    Closed,
    /// CONTACTADMIN.
    ContactAdmin,
    /// COPYUID uidvalidity source-uids dest-uids (UIDPLUS).
    CopyUid {
        /// UIDVALIDITY of the target.
        uid_validity: u32,
        /// Source UIDs.
        source: SequenceSet,
        /// Target UIDs.
        dest: SequenceSet,
    },
    /// CORRUPTION.
    Corruption,
    /// EXPIRED.
    Expired,
    /// EXPUNGEISSUED.
    ExpungeIssued,
    /// HASCHILDREN.
    HasChildren,
    /// HIGHESTMODSEQ n (CONDSTORE).
    HighestModSeq(u64),
    /// INUSE.
    InUse,
    /// LIMIT.
    Limit,
    /// MODIFIED set (CONDSTORE).
    Modified(SequenceSet),
    /// NOMODSEQ (CONDSTORE).
    NoModSeq,
    /// NONEXISTENT.
    NonExistent,
    /// NOPERM.
    NoPerm,
    /// OVERQUOTA.
    OverQuota,
    /// PARSE.
    Parse,
    /// PERMANENTFLAGS (flags), `\*` included when `new_keywords`.
    PermanentFlags {
        /// Flags that can be changed permanently.
        flags: Vec<Flag>,
        /// New keywords may be created (`\*`).
        new_keywords: bool,
    },
    /// PRIVACYREQUIRED.
    PrivacyRequired,
    /// READ-ONLY.
    ReadOnly,
    /// READ-WRITE.
    ReadWrite,
    /// SERVERBUG.
    ServerBug,
    /// TOOBIG (RFC 4469, RFC 7889).
    TooBig,
    /// TRYCREATE.
    TryCreate,
    /// UIDNEXT n.
    UidNext(u32),
    /// UIDVALIDITY n.
    UidValidity(u32),
    /// UNAVAILABLE.
    Unavailable,
    /// UNKNOWN-CTE.
    UnknownCte,
    /// UNSEEN n (rev1 SELECT).
    Unseen(u32),
    /// UIDNOTSTICKY (UIDPLUS).
    UidNotSticky,
    /// USEATTR (CREATE-SPECIAL-USE).
    UseAttr,
    /// NOTSAVED (SEARCHRES).
    NotSaved,
}

/// A namespace description: (prefix delimiter) pairs.
pub type Namespace = Vec<(String, Option<char>)>;

/// Untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `* CAPABILITY ...`.
    Capability(Vec<String>),
    /// `* ENABLED ...`.
    Enabled(Vec<String>),
    /// `* FLAGS (...)`.
    Flags(Vec<Flag>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT` (rev1).
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uids` (QRESYNC).
    Vanished {
        /// `(EARLIER)`.
        earlier: bool,
        /// UIDs.
        uids: SequenceSet,
    },
    /// `* LIST (attrs) delim name [(extended)]`.
    List(ListData),
    /// `* LSUB (attrs) delim name` (rev1).
    Lsub(ListData),
    /// `* STATUS name (items)`.
    Status {
        /// Mailbox name (UTF-8).
        mailbox: String,
        /// Attribute values.
        items: Vec<(StatusItem, u64)>,
    },
    /// `* SEARCH n...` (rev1), with `(MODSEQ n)` for CONDSTORE.
    Search {
        /// Matches.
        ids: Vec<u32>,
        /// Highest mod-sequence of the matches.
        mod_seq: Option<u64>,
    },
    /// `* ESEARCH ...` (RFC 4731).
    Esearch(EsearchData),
    /// `* n FETCH (...)`.
    Fetch {
        /// Message sequence number.
        seq: u32,
        /// Data items.
        items: Vec<FetchData>,
    },
    /// `* ID (...)` or `* ID NIL`.
    Id(Option<Vec<(String, Option<String>)>>),
    /// `* NAMESPACE personal other shared`.
    Namespace {
        /// Personal namespaces.
        personal: Option<Namespace>,
        /// Other users'.
        other: Option<Namespace>,
        /// Shared.
        shared: Option<Namespace>,
    },
}

/// LIST / LSUB data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListData {
    /// Attributes such as `\HasNoChildren`, `\Subscribed`, `\Drafts`.
    pub attributes: Vec<String>,
    /// Hierarchy delimiter.
    pub delimiter: Option<char>,
    /// Mailbox name (UTF-8).
    pub mailbox: String,
    /// `OLDNAME` extended item (rev2, after RENAME of a client's name).
    pub old_name: Option<String>,
    /// `CHILDINFO ("SUBSCRIBED")` extended item (LIST-EXTENDED RECURSIVEMATCH).
    pub child_info_subscribed: bool,
}

/// ESEARCH response data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EsearchData {
    /// The tag of the SEARCH this answers.
    pub tag: Option<String>,
    /// The search was UID SEARCH.
    pub uid: bool,
    /// MIN.
    pub min: Option<u32>,
    /// MAX.
    pub max: Option<u32>,
    /// ALL (omitted when empty, as RFC 4731 asks).
    pub all: Option<SequenceSet>,
    /// COUNT.
    pub count: Option<u32>,
    /// MODSEQ (CONDSTORE).
    pub mod_seq: Option<u64>,
}

/// A FETCH response data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchData {
    /// FLAGS (...).
    Flags(Vec<Flag>),
    /// UID n.
    Uid(u32),
    /// RFC822.SIZE n.
    Rfc822Size(u64),
    /// INTERNALDATE "...".
    InternalDate(DateTime),
    /// MODSEQ (n).
    ModSeq(u64),
    /// SAVEDATE "..." or NIL.
    SaveDate(Option<DateTime>),
    /// ENVELOPE (...).
    Envelope(Box<Envelope>),
    /// `BODY[section]<origin>` data (also used for RFC822, RFC822.HEADER/TEXT by
    /// [`FetchData::Rfc822`]).
    BodySection {
        /// Section as requested.
        section: Section,
        /// Origin octet of a partial fetch.
        origin: Option<u32>,
        /// Content; `None` is NIL.
        data: Option<Vec<u8>>,
    },
    /// RFC822 / RFC822.HEADER / RFC822.TEXT data (rev1).
    Rfc822 {
        /// `""`, `.HEADER` or `.TEXT`.
        which: Rfc822Part,
        /// Content.
        data: Option<Vec<u8>>,
    },
    /// `BINARY[part]<origin>` data.
    Binary {
        /// Part numbers.
        part: Vec<u32>,
        /// Origin octet of a partial fetch.
        origin: Option<u32>,
        /// Decoded content; `None` is NIL.
        data: Option<Vec<u8>>,
    },
    /// `BINARY.SIZE[part]` n.
    BinarySize {
        /// Part numbers.
        part: Vec<u32>,
        /// Decoded size.
        size: u64,
    },
    /// BODY (without extension data) or BODYSTRUCTURE (with it).
    BodyStructure {
        /// BODYSTRUCTURE (extensible) rather than BODY.
        extensible: bool,
        /// The structure.
        structure: BodyStructure,
    },
}

/// Which RFC822 item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc822Part {
    /// RFC822.
    Whole,
    /// RFC822.HEADER.
    Header,
    /// RFC822.TEXT.
    Text,
}
