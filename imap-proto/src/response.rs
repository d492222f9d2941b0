//! The response encoder: typed server responses into bytes.
//!
//! Strings are written as quoted strings when they can be (printable, no CR/LF/NUL, and
//! no 8-bit bytes unless the client uses UTF-8), else as literals `{n}\r\n...`.
//! Message content (BODY[], RFC822, BINARY[]) is always a literal; BINARY content that
//! holds a NUL byte is a literal8 `~{n}` (RFC 9051 §7.5.2). Mailbox names are encoded as
//! modified UTF-7 for IMAP4rev1 clients and sent as UTF-8 to IMAP4rev2 ones.

use std::fmt::Write as _;

use crate::body::{BodyStructure, Params, PartExtension, SingleKind, SinglePart};
use crate::command::{DateTime, Section, SectionText, StatusItem};
use crate::types::{Flag, SequenceSet, encode_mutf7};

/// How to encode for this client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The client enabled IMAP4rev2 or UTF8=ACCEPT: mailbox names and strings may be
    /// UTF-8 in quoted strings.
    pub utf8: bool,
}

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

/// An address of an envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Display name.
    pub name: Option<String>,
    /// Source route (obsolete, normally `None`).
    pub adl: Option<String>,
    /// Local part.
    pub mailbox: Option<String>,
    /// Domain.
    pub host: Option<String>,
}

/// ENVELOPE data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Date header.
    pub date: Option<String>,
    /// Subject header.
    pub subject: Option<String>,
    /// From.
    pub from: Vec<Address>,
    /// Sender.
    pub sender: Vec<Address>,
    /// Reply-To.
    pub reply_to: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// Message-ID.
    pub message_id: Option<String>,
}

/// The text of the continuation request sent for a synchronising literal.
pub const CONTINUE_LITERAL: &[u8] = b"+ Ready for literal data\r\n";

impl Response {
    /// Encode, CRLF included.
    pub fn to_bytes(&self, opts: EncodeOptions) -> Vec<u8> {
        let mut w = Writer {
            out: Vec::new(),
            opts,
        };
        match self {
            Response::Status(s) => w.status(s),
            Response::Data(d) => w.data(d),
            Response::Continue(t) => {
                w.raw("+ ");
                w.text(t);
            }
        }
        w.raw("\r\n");
        w.out
    }
}

struct Writer {
    out: Vec<u8>,
    opts: EncodeOptions,
}

fn status_name(i: StatusItem) -> &'static str {
    match i {
        StatusItem::Messages => "MESSAGES",
        StatusItem::UidNext => "UIDNEXT",
        StatusItem::UidValidity => "UIDVALIDITY",
        StatusItem::Unseen => "UNSEEN",
        StatusItem::Deleted => "DELETED",
        StatusItem::Size => "SIZE",
        StatusItem::Recent => "RECENT",
        StatusItem::HighestModSeq => "HIGHESTMODSEQ",
        StatusItem::AppendLimit => "APPENDLIMIT",
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Format a date-time as IMAP `"dd-Mon-yyyy hh:mm:ss +zzzz"` (without quotes).
pub fn format_date_time(dt: DateTime) -> String {
    let local = dt.unix.saturating_add(i64::from(dt.offset_minutes) * 60);
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let off = dt.offset_minutes.unsigned_abs();
    let sign = if dt.offset_minutes < 0 { '-' } else { '+' };
    format!(
        "{d:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Writer {
    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn num(&mut self, n: impl std::fmt::Display) {
        let _ = write!(Str(&mut self.out), "{n}");
    }

    /// Free text: CR, LF and other controls become spaces; for IMAP4rev1 clients
    /// (7-bit `text`) non-ASCII characters become `?`.
    fn text(&mut self, t: &str) {
        for c in t.chars() {
            let c = if c.is_control() {
                ' '
            } else if !c.is_ascii() && !self.opts.utf8 {
                '?'
            } else {
                c
            };
            let mut b = [0u8; 4];
            self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }

    fn literal(&mut self, data: &[u8]) {
        self.num(format_args!("{{{}}}\r\n", data.len()));
        self.out.extend_from_slice(data);
    }

    /// Strings separated by spaces.
    fn strings<'s>(&mut self, items: impl IntoIterator<Item = &'s [u8]>) {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.string(item);
        }
    }

    /// A string (quoted or literal). NUL cannot be sent in either form (only in
    /// literal8), so NUL bytes are dropped from strings; message content is written
    /// with [`Writer::content`] instead.
    fn string(&mut self, s: &[u8]) {
        let owned;
        let s = if s.contains(&0) {
            owned = s.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>();
            &owned[..]
        } else {
            s
        };
        let quotable = s.len() <= 1024
            && s.iter()
                .all(|&b| !matches!(b, 0 | b'\r' | b'\n') && (b < 0x80 || self.opts.utf8))
            && (!self.opts.utf8 || std::str::from_utf8(s).is_ok());
        if quotable {
            self.out.push(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    self.out.push(b'\\');
                }
                self.out.push(b);
            }
            self.out.push(b'"');
        } else {
            self.literal(s);
        }
    }

    fn nstring(&mut self, s: Option<&[u8]>) {
        match s {
            Some(s) => self.string(s),
            None => self.raw("NIL"),
        }
    }

    fn mailbox(&mut self, name: &str) {
        if self.opts.utf8 {
            self.string(name.as_bytes());
        } else {
            self.string(encode_mutf7(name).as_bytes());
        }
    }

    fn flags(&mut self, flags: &[Flag], star: bool) {
        self.raw("(");
        let mut first = true;
        for f in flags {
            if !first {
                self.raw(" ");
            }
            first = false;
            self.raw(&f.to_string());
        }
        if star {
            if !first {
                self.raw(" ");
            }
            self.raw("\\*");
        }
        self.raw(")");
    }

    fn atoms(&mut self, v: &[String]) {
        for a in v {
            self.raw(" ");
            self.raw(a);
        }
    }

    fn status(&mut self, s: &StatusResponse) {
        match &s.tag {
            Some(t) => self.raw(t),
            None => self.raw("*"),
        }
        self.raw(match s.kind {
            StatusKind::Ok => " OK ",
            StatusKind::No => " NO ",
            StatusKind::Bad => " BAD ",
            StatusKind::PreAuth => " PREAUTH ",
            StatusKind::Bye => " BYE ",
        });
        if let Some(c) = &s.code {
            self.raw("[");
            self.code(c);
            self.raw("] ");
        }
        // A text starting with `[` would read as a response code: start it with a
        // space instead (SP is a TEXT-CHAR).
        if s.code.is_none() && s.text.starts_with('[') {
            self.raw(" ");
        }
        // resp-text needs at least one character.
        self.text(if s.text.is_empty() { "done" } else { &s.text });
    }

    fn code(&mut self, c: &Code) {
        let simple = match c {
            Code::Alert => "ALERT",
            Code::AlreadyExists => "ALREADYEXISTS",
            Code::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Code::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Code::Cannot => "CANNOT",
            Code::ClientBug => "CLIENTBUG",
            Code::Closed => "CLOSED",
            Code::ContactAdmin => "CONTACTADMIN",
            Code::Corruption => "CORRUPTION",
            Code::Expired => "EXPIRED",
            Code::ExpungeIssued => "EXPUNGEISSUED",
            Code::HasChildren => "HASCHILDREN",
            Code::InUse => "INUSE",
            Code::Limit => "LIMIT",
            Code::NoModSeq => "NOMODSEQ",
            Code::NonExistent => "NONEXISTENT",
            Code::NoPerm => "NOPERM",
            Code::OverQuota => "OVERQUOTA",
            Code::Parse => "PARSE",
            Code::PrivacyRequired => "PRIVACYREQUIRED",
            Code::ReadOnly => "READ-ONLY",
            Code::ReadWrite => "READ-WRITE",
            Code::ServerBug => "SERVERBUG",
            Code::TooBig => "TOOBIG",
            Code::TryCreate => "TRYCREATE",
            Code::Unavailable => "UNAVAILABLE",
            Code::UnknownCte => "UNKNOWN-CTE",
            Code::UidNotSticky => "UIDNOTSTICKY",
            Code::UseAttr => "USEATTR",
            Code::NotSaved => "NOTSAVED",
            _ => "",
        };
        if !simple.is_empty() {
            self.raw(simple);
            return;
        }
        match c {
            Code::AppendUid { uid_validity, uids } => {
                self.num(format_args!("APPENDUID {uid_validity} {uids}"));
            }
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => self.num(format_args!("COPYUID {uid_validity} {source} {dest}")),
            Code::BadCharset(cs) => {
                self.raw("BADCHARSET");
                if !cs.is_empty() {
                    self.raw(" (");
                    for (i, c) in cs.iter().enumerate() {
                        if i > 0 {
                            self.raw(" ");
                        }
                        self.string(c.as_bytes());
                    }
                    self.raw(")");
                }
            }
            Code::Capability(caps) => {
                self.raw("CAPABILITY");
                self.atoms(caps);
            }
            Code::HighestModSeq(n) => self.num(format_args!("HIGHESTMODSEQ {n}")),
            Code::Modified(s) => self.num(format_args!("MODIFIED {s}")),
            Code::PermanentFlags {
                flags,
                new_keywords,
            } => {
                self.raw("PERMANENTFLAGS ");
                self.flags(flags, *new_keywords);
            }
            Code::UidNext(n) => self.num(format_args!("UIDNEXT {n}")),
            Code::UidValidity(n) => self.num(format_args!("UIDVALIDITY {n}")),
            Code::Unseen(n) => self.num(format_args!("UNSEEN {n}")),
            _ => {}
        }
    }

    fn data(&mut self, d: &Data) {
        self.raw("* ");
        match d {
            Data::Capability(caps) => {
                self.raw("CAPABILITY");
                self.atoms(caps);
            }
            Data::Enabled(caps) => {
                self.raw("ENABLED");
                self.atoms(caps);
            }
            Data::Flags(f) => {
                self.raw("FLAGS ");
                self.flags(f, false);
            }
            Data::Exists(n) => self.num(format_args!("{n} EXISTS")),
            Data::Recent(n) => self.num(format_args!("{n} RECENT")),
            Data::Expunge(n) => self.num(format_args!("{n} EXPUNGE")),
            Data::Vanished { earlier, uids } => {
                self.raw("VANISHED ");
                if *earlier {
                    self.raw("(EARLIER) ");
                }
                self.num(uids);
            }
            Data::List(l) => {
                self.raw("LIST ");
                self.list(l);
            }
            Data::Lsub(l) => {
                self.raw("LSUB ");
                self.list(l);
            }
            Data::Status { mailbox, items } => {
                self.raw("STATUS ");
                self.mailbox(mailbox);
                self.raw(" (");
                for (i, (item, v)) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(" ");
                    }
                    self.raw(status_name(*item));
                    self.num(format_args!(" {v}"));
                }
                self.raw(")");
            }
            Data::Search { ids, mod_seq } => {
                self.raw("SEARCH");
                for id in ids {
                    self.num(format_args!(" {id}"));
                }
                if let Some(m) = mod_seq {
                    self.num(format_args!(" (MODSEQ {m})"));
                }
            }
            Data::Esearch(e) => {
                self.raw("ESEARCH");
                if let Some(t) = &e.tag {
                    self.raw(" (TAG ");
                    self.string(t.as_bytes());
                    self.raw(")");
                }
                if e.uid {
                    self.raw(" UID");
                }
                if let Some(n) = e.min {
                    self.num(format_args!(" MIN {n}"));
                }
                if let Some(n) = e.max {
                    self.num(format_args!(" MAX {n}"));
                }
                if let Some(s) = &e.all {
                    self.num(format_args!(" ALL {s}"));
                }
                if let Some(n) = e.count {
                    self.num(format_args!(" COUNT {n}"));
                }
                if let Some(n) = e.mod_seq {
                    self.num(format_args!(" MODSEQ {n}"));
                }
            }
            Data::Fetch { seq, items } => {
                self.num(format_args!("{seq} FETCH ("));
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(" ");
                    }
                    self.fetch_data(item);
                }
                self.raw(")");
            }
            Data::Id(params) => {
                self.raw("ID ");
                match params {
                    None => self.raw("NIL"),
                    Some(p) => {
                        self.raw("(");
                        for (i, (k, v)) in p.iter().enumerate() {
                            if i > 0 {
                                self.raw(" ");
                            }
                            self.string(k.as_bytes());
                            self.raw(" ");
                            self.nstring(v.as_deref().map(str::as_bytes));
                        }
                        self.raw(")");
                    }
                }
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                self.raw("NAMESPACE");
                for ns in [personal, other, shared] {
                    self.raw(" ");
                    match ns {
                        None => self.raw("NIL"),
                        Some(list) => {
                            self.raw("(");
                            for (prefix, delim) in list {
                                self.raw("(");
                                self.mailbox(prefix);
                                self.raw(" ");
                                self.delimiter(*delim);
                                self.raw(")");
                            }
                            self.raw(")");
                        }
                    }
                }
            }
        }
    }

    fn delimiter(&mut self, d: Option<char>) {
        match d {
            None => self.raw("NIL"),
            Some(c) => {
                let mut b = [0u8; 4];
                self.string(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }

    fn list(&mut self, l: &ListData) {
        self.raw("(");
        for (i, a) in l.attributes.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.raw(a);
        }
        self.raw(") ");
        self.delimiter(l.delimiter);
        self.raw(" ");
        self.mailbox(&l.mailbox);
        if l.old_name.is_some() || l.child_info_subscribed {
            self.raw(" (");
            if l.child_info_subscribed {
                self.raw("\"CHILDINFO\" (\"SUBSCRIBED\")");
            }
            if let Some(old) = &l.old_name {
                if l.child_info_subscribed {
                    self.raw(" ");
                }
                self.raw("\"OLDNAME\" (");
                self.mailbox(old);
                self.raw(")");
            }
            self.raw(")");
        }
    }

    fn section(&mut self, s: &Section) {
        self.raw("[");
        let part: Vec<String> = s.part.iter().map(u32::to_string).collect();
        self.raw(&part.join("."));
        if let Some(t) = &s.text {
            if !s.part.is_empty() {
                self.raw(".");
            }
            match t {
                SectionText::Header => self.raw("HEADER"),
                SectionText::Text => self.raw("TEXT"),
                SectionText::Mime => self.raw("MIME"),
                SectionText::HeaderFields(f) | SectionText::HeaderFieldsNot(f) => {
                    self.raw(if matches!(t, SectionText::HeaderFields(_)) {
                        "HEADER.FIELDS ("
                    } else {
                        "HEADER.FIELDS.NOT ("
                    });
                    self.strings(f.iter().map(|name| name.as_bytes()));
                    self.raw(")");
                }
            }
        }
        self.raw("]");
    }

    fn content(&mut self, data: Option<&[u8]>, allow_literal8: bool) {
        match data {
            None => self.raw("NIL"),
            Some(d) if allow_literal8 && d.contains(&0) => {
                self.raw("~");
                self.literal(d);
            }
            Some(d) => self.literal(d),
        }
    }

    fn address_list(&mut self, list: &[Address]) {
        if list.is_empty() {
            self.raw("NIL");
            return;
        }
        self.raw("(");
        for a in list {
            self.raw("(");
            self.nstring(a.name.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.adl.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.mailbox.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.host.as_deref().map(str::as_bytes));
            self.raw(")");
        }
        self.raw(")");
    }

    fn envelope(&mut self, e: &Envelope) {
        self.raw("(");
        self.nstring(e.date.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(e.subject.as_deref().map(str::as_bytes));
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            self.raw(" ");
            self.address_list(list);
        }
        self.raw(" ");
        self.nstring(e.in_reply_to.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(e.message_id.as_deref().map(str::as_bytes));
        self.raw(")");
    }

    fn params(&mut self, p: &Params) {
        if p.is_empty() {
            self.raw("NIL");
            return;
        }
        self.raw("(");
        for (i, (k, v)) in p.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.string(k.as_bytes());
            self.raw(" ");
            self.string(v.as_bytes());
        }
        self.raw(")");
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc.
    fn extension_tail(&mut self, e: &PartExtension) {
        self.raw(" ");
        match &e.disposition {
            None => self.raw("NIL"),
            Some((v, p)) => {
                self.raw("(");
                self.string(v.as_bytes());
                self.raw(" ");
                self.params(p);
                self.raw(")");
            }
        }
        self.raw(" ");
        match e.language.as_slice() {
            [] => self.raw("NIL"),
            [one] => self.string(one.as_bytes()),
            many => {
                self.raw("(");
                self.strings(many.iter().map(|l| l.as_bytes()));
                self.raw(")");
            }
        }
        self.raw(" ");
        self.nstring(e.location.as_deref().map(str::as_bytes));
    }

    fn single(&mut self, p: &SinglePart, extensible: bool) {
        self.raw("(");
        self.string(p.media_type.as_bytes());
        self.raw(" ");
        self.string(p.subtype.as_bytes());
        self.raw(" ");
        self.params(&p.params);
        self.raw(" ");
        self.nstring(p.id.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(p.description.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.string(p.encoding.as_bytes());
        self.num(format_args!(" {}", p.size));
        match &p.kind {
            SingleKind::Basic => {}
            SingleKind::Text { lines } => self.num(format_args!(" {lines}")),
            SingleKind::Message {
                envelope,
                body,
                lines,
            } => {
                self.raw(" ");
                self.envelope(envelope);
                self.raw(" ");
                self.body(body, extensible);
                self.num(format_args!(" {lines}"));
            }
        }
        if extensible {
            self.raw(" ");
            self.nstring(p.ext.md5.as_deref().map(str::as_bytes));
            self.extension_tail(&p.ext);
        }
        self.raw(")");
    }

    fn body(&mut self, b: &BodyStructure, extensible: bool) {
        match b {
            BodyStructure::Single(p) => self.single(p, extensible),
            BodyStructure::Multipart(m) => {
                self.raw("(");
                if m.parts.is_empty() {
                    self.single(
                        &SinglePart {
                            media_type: "text".into(),
                            subtype: "plain".into(),
                            params: Vec::new(),
                            id: None,
                            description: None,
                            encoding: "7bit".into(),
                            size: 0,
                            kind: SingleKind::Text { lines: 0 },
                            ext: PartExtension::default(),
                        },
                        extensible,
                    );
                }
                for part in &m.parts {
                    self.body(part, extensible);
                }
                self.raw(" ");
                self.string(m.subtype.as_bytes());
                if extensible {
                    self.raw(" ");
                    self.params(&m.params);
                    self.extension_tail(&m.ext);
                }
                self.raw(")");
            }
        }
    }

    fn fetch_data(&mut self, item: &FetchData) {
        match item {
            FetchData::Flags(f) => {
                self.raw("FLAGS ");
                self.flags(f, false);
            }
            FetchData::Uid(n) => self.num(format_args!("UID {n}")),
            FetchData::Rfc822Size(n) => self.num(format_args!("RFC822.SIZE {n}")),
            FetchData::InternalDate(dt) => {
                self.raw("INTERNALDATE \"");
                self.raw(&format_date_time(*dt));
                self.raw("\"");
            }
            FetchData::ModSeq(n) => self.num(format_args!("MODSEQ ({n})")),
            FetchData::SaveDate(dt) => match dt {
                Some(dt) => {
                    self.raw("SAVEDATE \"");
                    self.raw(&format_date_time(*dt));
                    self.raw("\"");
                }
                None => self.raw("SAVEDATE NIL"),
            },
            FetchData::Envelope(e) => {
                self.raw("ENVELOPE ");
                self.envelope(e);
            }
            FetchData::BodySection {
                section,
                origin,
                data,
            } => {
                self.raw("BODY");
                self.section(section);
                if let Some(o) = origin {
                    self.num(format_args!("<{o}>"));
                }
                self.raw(" ");
                self.content(data.as_deref(), false);
            }
            FetchData::Rfc822 { which, data } => {
                self.raw(match which {
                    Rfc822Part::Whole => "RFC822 ",
                    Rfc822Part::Header => "RFC822.HEADER ",
                    Rfc822Part::Text => "RFC822.TEXT ",
                });
                self.content(data.as_deref(), false);
            }
            FetchData::Binary { part, origin, data } => {
                self.raw("BINARY");
                self.section(&Section {
                    part: part.clone(),
                    text: None,
                });
                if let Some(o) = origin {
                    self.num(format_args!("<{o}>"));
                }
                self.raw(" ");
                self.content(data.as_deref(), true);
            }
            FetchData::BinarySize { part, size } => {
                self.raw("BINARY.SIZE");
                self.section(&Section {
                    part: part.clone(),
                    text: None,
                });
                self.num(format_args!(" {size}"));
            }
            FetchData::BodyStructure {
                extensible,
                structure,
            } => {
                self.raw(if *extensible {
                    "BODYSTRUCTURE "
                } else {
                    "BODY "
                });
                self.body(structure, *extensible);
            }
        }
    }
}

/// `fmt::Write` into a byte vector.
struct Str<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Str<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
