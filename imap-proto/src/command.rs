//! Typed IMAP commands, as produced by [`crate::parse::parse_command`].

use crate::datetime::{Date, DateTime};
use crate::types::{Flag, Mailbox, Secret, SequenceSet};

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag.
    pub tag: String,
    /// What the client asks.
    pub body: CommandBody,
}

/// Every command the server understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// CAPABILITY.
    Capability,
    /// NOOP.
    Noop,
    /// LOGOUT.
    Logout,
    /// STARTTLS.
    StartTls,
    /// AUTHENTICATE mechanism [initial-response] (SASL-IR).
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// Initial response: `None` when absent; `Some(empty)` for `=`; else the
        /// base64 text as sent (decoding is the SASL layer's job).
        initial_response: Option<Secret>,
    },
    /// LOGIN user password.
    Login {
        /// User name.
        username: Vec<u8>,
        /// Password.
        password: Secret,
    },
    /// ENABLE capability...
    Enable {
        /// Capabilities asked for, upper-cased.
        capabilities: Vec<String>,
    },
    /// ID (RFC 2971): `None` for `ID NIL`.
    Id {
        /// Field/value pairs.
        parameters: Option<Vec<(String, Option<String>)>>,
    },
    /// SELECT mailbox [(CONDSTORE) | (QRESYNC (...))].
    Select {
        /// Mailbox.
        mailbox: Mailbox,
        /// Parameters.
        params: SelectParams,
    },
    /// EXAMINE, like SELECT but read-only.
    Examine {
        /// Mailbox.
        mailbox: Mailbox,
        /// Parameters.
        params: SelectParams,
    },
    /// CREATE mailbox [(USE (special-use...))].
    Create {
        /// Mailbox.
        mailbox: Mailbox,
        /// CREATE-SPECIAL-USE attributes (e.g. `\Drafts`).
        special_use: Vec<String>,
    },
    /// DELETE mailbox.
    Delete {
        /// Mailbox.
        mailbox: Mailbox,
    },
    /// RENAME from to.
    Rename {
        /// Existing name.
        from: Mailbox,
        /// New name.
        to: Mailbox,
    },
    /// SUBSCRIBE mailbox.
    Subscribe {
        /// Mailbox.
        mailbox: Mailbox,
    },
    /// UNSUBSCRIBE mailbox.
    Unsubscribe {
        /// Mailbox.
        mailbox: Mailbox,
    },
    /// LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE).
    List(ListCommand),
    /// LSUB reference pattern.
    Lsub {
        /// Reference name.
        reference: String,
        /// Pattern.
        pattern: String,
    },
    /// NAMESPACE.
    Namespace,
    /// STATUS mailbox (items).
    Status {
        /// Mailbox.
        mailbox: Mailbox,
        /// Requested attributes.
        items: Vec<StatusItem>,
    },
    /// APPEND mailbox message... (MULTIAPPEND). The message data was streamed by the
    /// reader; each entry matches one [`crate::reader::MessageLiteral`].
    Append {
        /// Target mailbox.
        mailbox: Mailbox,
        /// Messages, in order.
        messages: Vec<AppendMessage>,
    },
    /// IDLE (the client ends it with `DONE`, read as a line).
    Idle,
    /// CHECK (IMAP4rev1).
    Check,
    /// CLOSE.
    Close,
    /// UNSELECT.
    Unselect,
    /// EXPUNGE.
    Expunge,
    /// UID EXPUNGE set.
    UidExpunge {
        /// UIDs.
        set: SequenceSet,
    },
    /// SEARCH / UID SEARCH.
    Search(SearchCommand),
    /// FETCH / UID FETCH.
    Fetch(FetchCommand),
    /// STORE / UID STORE.
    Store(StoreCommand),
    /// COPY / UID COPY.
    Copy {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target.
        mailbox: Mailbox,
    },
    /// MOVE / UID MOVE.
    Move {
        /// UID variant.
        uid: bool,
        /// Messages.
        set: SequenceSet,
        /// Target.
        mailbox: Mailbox,
    },
}

impl CommandBody {
    /// The command's name as the RFCs spell it (for logs and replies).
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Enable { .. } => "ENABLE",
            CommandBody::Id { .. } => "ID",
            CommandBody::Select { .. } => "SELECT",
            CommandBody::Examine { .. } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete { .. } => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe { .. } => "SUBSCRIBE",
            CommandBody::Unsubscribe { .. } => "UNSUBSCRIBE",
            CommandBody::List(_) => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Idle => "IDLE",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge => "EXPUNGE",
            CommandBody::UidExpunge { .. } => "UID EXPUNGE",
            CommandBody::Search(c) if c.uid => "UID SEARCH",
            CommandBody::Search(_) => "SEARCH",
            CommandBody::Fetch(c) if c.uid => "UID FETCH",
            CommandBody::Fetch(_) => "FETCH",
            CommandBody::Store(c) if c.uid => "UID STORE",
            CommandBody::Store(_) => "STORE",
            CommandBody::Copy { uid: true, .. } => "UID COPY",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { uid: true, .. } => "UID MOVE",
            CommandBody::Move { .. } => "MOVE",
        }
    }
}

/// SELECT/EXAMINE parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `(CONDSTORE)`.
    pub condstore: bool,
    /// `(QRESYNC (...))`.
    pub qresync: Option<QresyncParams>,
}

/// QRESYNC parameters of SELECT (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QresyncParams {
    /// The client's last known UIDVALIDITY.
    pub uid_validity: u32,
    /// The client's last known HIGHESTMODSEQ.
    pub mod_seq: u64,
    /// Known UIDs.
    pub known_uids: Option<SequenceSet>,
    /// Sequence-number/UID match data.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST with its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    /// Selection options (LIST-EXTENDED).
    pub selection: Vec<ListSelect>,
    /// Reference name (decoded like a mailbox name).
    pub reference: String,
    /// Patterns (one, or several in parentheses).
    pub patterns: Vec<String>,
    /// Return options.
    pub returns: Vec<ListReturn>,
}

/// LIST selection option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSelect {
    /// SUBSCRIBED.
    Subscribed,
    /// REMOTE.
    Remote,
    /// RECURSIVEMATCH.
    RecursiveMatch,
    /// SPECIAL-USE.
    SpecialUse,
}

/// LIST return option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    /// SUBSCRIBED.
    Subscribed,
    /// CHILDREN.
    Children,
    /// SPECIAL-USE.
    SpecialUse,
    /// STATUS (items) (LIST-STATUS).
    Status(Vec<StatusItem>),
}

/// STATUS attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// MESSAGES.
    Messages,
    /// UIDNEXT.
    UidNext,
    /// UIDVALIDITY.
    UidValidity,
    /// UNSEEN.
    Unseen,
    /// DELETED.
    Deleted,
    /// SIZE.
    Size,
    /// RECENT (IMAP4rev1).
    Recent,
    /// HIGHESTMODSEQ (CONDSTORE).
    HighestModSeq,
    /// APPENDLIMIT (RFC 7889).
    AppendLimit,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set.
    pub flags: Vec<Flag>,
    /// Internal date, as seconds since the epoch and the zone offset in minutes.
    pub date: Option<DateTime>,
    /// Size of the message literal.
    pub size: u64,
    /// Literal8 (BINARY or UTF8 APPEND).
    pub binary: bool,
    /// Sent as `UTF8 (~{n})` (RFC 6855).
    pub utf8: bool,
}

/// SEARCH / UID SEARCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCommand {
    /// UID variant.
    pub uid: bool,
    /// `RETURN (...)` options: `None` without RETURN (plain SEARCH response).
    /// `Some(empty)` means `RETURN ()`, i.e. ALL.
    pub returns: Option<Vec<SearchReturn>>,
    /// CHARSET.
    pub charset: Option<String>,
    /// Criteria, all of which must match.
    pub criteria: Vec<SearchKey>,
}

/// ESEARCH result option (RFC 4731, RFC 5182).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchReturn {
    /// MIN.
    Min,
    /// MAX.
    Max,
    /// ALL.
    All,
    /// COUNT.
    Count,
    /// SAVE (SEARCHRES).
    Save,
}

/// A search key (RFC 9051 §6.4.4, RFC 3501, CONDSTORE, SAVEDATE, WITHIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// ALL.
    All,
    /// ANSWERED.
    Answered,
    /// BCC string.
    Bcc(String),
    /// BEFORE date.
    Before(Date),
    /// BODY string.
    Body(String),
    /// CC string.
    Cc(String),
    /// DELETED.
    Deleted,
    /// DRAFT.
    Draft,
    /// FLAGGED.
    Flagged,
    /// FROM string.
    From(String),
    /// HEADER field value.
    Header(String, String),
    /// KEYWORD flag.
    Keyword(String),
    /// LARGER n.
    Larger(u64),
    /// NEW (rev1).
    New,
    /// NOT key.
    Not(Box<SearchKey>),
    /// OLD (rev1).
    Old,
    /// ON date.
    On(Date),
    /// OR key key.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// RECENT (rev1).
    Recent,
    /// SEEN.
    Seen,
    /// SENTBEFORE date.
    SentBefore(Date),
    /// SENTON date.
    SentOn(Date),
    /// SENTSINCE date.
    SentSince(Date),
    /// SINCE date.
    Since(Date),
    /// SMALLER n.
    Smaller(u64),
    /// SUBJECT string.
    Subject(String),
    /// TEXT string.
    Text(String),
    /// TO string.
    To(String),
    /// UID set.
    Uid(SequenceSet),
    /// UNANSWERED.
    Unanswered,
    /// UNDELETED.
    Undeleted,
    /// UNDRAFT.
    Undraft,
    /// UNFLAGGED.
    Unflagged,
    /// UNKEYWORD flag.
    Unkeyword(String),
    /// UNSEEN.
    Unseen,
    /// A message sequence set (or `$`).
    SequenceSet(SequenceSet),
    /// `( key... )`.
    And(Vec<SearchKey>),
    /// MODSEQ [entry-name entry-type] n (CONDSTORE).
    ModSeq {
        /// Optional metadata entry name and type (`priv`, `shared`, `all`).
        entry: Option<(String, String)>,
        /// Mod-sequence value.
        mod_seq: u64,
    },
    /// SAVEDATESUPPORTED.
    SaveDateSupported,
    /// SAVEDBEFORE date.
    SavedBefore(Date),
    /// SAVEDON date.
    SavedOn(Date),
    /// SAVEDSINCE date.
    SavedSince(Date),
    /// OLDER seconds (WITHIN).
    Older(u64),
    /// YOUNGER seconds (WITHIN).
    Younger(u64),
}

/// FETCH / UID FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchCommand {
    /// UID variant.
    pub uid: bool,
    /// Messages.
    pub set: SequenceSet,
    /// Items, macros expanded (ALL, FAST, FULL).
    pub items: Vec<FetchItem>,
    /// `(CHANGEDSINCE n)`.
    pub changed_since: Option<u64>,
    /// `(VANISHED)` (QRESYNC, UID FETCH only).
    pub vanished: bool,
}

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// ENVELOPE.
    Envelope,
    /// FLAGS.
    Flags,
    /// INTERNALDATE.
    InternalDate,
    /// RFC822 (rev1).
    Rfc822,
    /// RFC822.HEADER (rev1).
    Rfc822Header,
    /// RFC822.TEXT (rev1).
    Rfc822Text,
    /// RFC822.SIZE.
    Rfc822Size,
    /// BODY (non-extensible structure).
    Body,
    /// BODYSTRUCTURE.
    BodyStructure,
    /// UID.
    Uid,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// BODY.PEEK: don't set \Seen.
        peek: bool,
        /// Section.
        section: Section,
        /// `<offset.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]`.
    Binary {
        /// BINARY.PEEK.
        peek: bool,
        /// Part numbers.
        part: Vec<u32>,
        /// `<offset.length>`.
        partial: Option<(u32, u32)>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        /// Part numbers.
        part: Vec<u32>,
    },
    /// MODSEQ (CONDSTORE).
    ModSeq,
    /// SAVEDATE.
    SaveDate,
}

/// A body section specification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of the part.
    pub text: Option<SectionText>,
}

/// The text part of a section specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// HEADER.
    Header,
    /// HEADER.FIELDS (names).
    HeaderFields(Vec<String>),
    /// HEADER.FIELDS.NOT (names).
    HeaderFieldsNot(Vec<String>),
    /// TEXT.
    Text,
    /// MIME (only with a part number).
    Mime,
}

/// STORE / UID STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    /// UID variant.
    pub uid: bool,
    /// Messages.
    pub set: SequenceSet,
    /// `(UNCHANGEDSINCE n)`.
    pub unchanged_since: Option<u64>,
    /// Replace, add or remove.
    pub action: StoreAction,
    /// `.SILENT`.
    pub silent: bool,
    /// Flags.
    pub flags: Vec<Flag>,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    /// FLAGS.
    Replace,
    /// +FLAGS.
    Add,
    /// -FLAGS.
    Remove,
}
