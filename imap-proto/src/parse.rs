//! The command parser: a [`RawCommand`] from the reader into a typed [`Command`].
//!
//! Hand-written recursive descent over RFC 9051 / RFC 3501 grammar plus the extensions
//! postern serves. It never panics; every failure is a [`ParseError`] whose message fits
//! `<tag> BAD <message>`.

use crate::command::{
    AppendMessage, Command, CommandBody, Date, DateTime, FetchCommand, FetchItem, ListCommand,
    ListReturn, ListSelect, QresyncParams, SearchCommand, SearchKey, SearchReturn, Section,
    SectionText, SelectParams, StatusItem, StoreAction, StoreCommand,
};
use crate::reader::{MessageLiteral, RawCommand};
use crate::types::{Flag, Mailbox, Secret, SeqNum, SequenceSet, decode_mutf7};

/// Deepest nesting of search keys (`NOT`, `OR`, parentheses) accepted.
pub const MAX_SEARCH_DEPTH: usize = 64;

/// How to interpret client strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The client enabled IMAP4rev2 or UTF8=ACCEPT: mailbox names are UTF-8. Otherwise
    /// they are modified UTF-7 (raw UTF-8 is still accepted).
    pub utf8: bool,
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
#[error("{message}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// The command's tag, when one could be read (else answer with `*`).
    pub tag: Option<String>,
    /// A message for `<tag> BAD <message>`.
    pub message: String,
}

impl ParseError {
    /// The reply for this error: `<tag> BAD <message>` (or `* BAD` without a tag).
    pub fn reply(&self) -> Vec<u8> {
        let text: String = self
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("{} BAD {text}\r\n", self.tag.as_deref().unwrap_or("*")).into_bytes()
    }
}

/// Whether `b` may appear in a tag (ASTRING-CHAR except `+`).
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
        && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

fn is_list_char(b: u8) -> bool {
    is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
}

/// A client line during AUTHENTICATE (read with
/// [`crate::reader::CommandReader::expect_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslLine {
    /// `*`: the client cancels the exchange (answer `BAD`).
    Cancel,
    /// A base64 response, as sent (possibly empty).
    Response(Secret),
}

/// Parse a line the client sent during AUTHENTICATE.
pub fn parse_sasl_line(line: &[u8]) -> Result<SaslLine, ParseError> {
    if line == b"*" {
        return Ok(SaslLine::Cancel);
    }
    if line
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        Ok(SaslLine::Response(Secret(line.to_vec())))
    } else {
        Err(ParseError {
            kind: ParseErrorKind::Syntax,
            tag: None,
            message: "invalid base64 in authentication response".into(),
        })
    }
}

/// The mailbox of an APPEND command from its text up to its first message literal
/// ([`crate::reader::CommandReader::command_so_far`]), or `None` when that text is not
/// the start of an APPEND.
pub fn append_mailbox(partial: &[u8], opts: ParseOptions) -> Option<Mailbox> {
    let mut p = Parser {
        s: partial,
        pos: 0,
        messages: &[],
        next_message: 0,
        opts,
        tag: None,
        unknown: false,
    };
    let tag = p.take_while(is_tag_char);
    if tag.is_empty() || p.sp().is_err() || !p.eat_word("APPEND") || p.sp().is_err() {
        return None;
    }
    p.mailbox().ok()
}

/// Whether a line read during IDLE is `DONE` (any case). Anything else ends the
/// connection (mox §7.2).
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}

/// Parse one command.
pub fn parse_command(raw: &RawCommand, opts: ParseOptions) -> Result<Command, ParseError> {
    let mut p = Parser {
        s: &raw.bytes,
        pos: 0,
        messages: &raw.messages,
        next_message: 0,
        opts,
        tag: None,
        unknown: false,
    };
    let r = p.command();
    r.map_err(|message| ParseError {
        kind: match (&p.tag, p.unknown) {
            (None, _) => ParseErrorKind::MissingTag,
            (Some(_), true) => ParseErrorKind::UnknownCommand,
            (Some(_), false) => ParseErrorKind::Syntax,
        },
        tag: p.tag.clone(),
        message,
    })
}

type R<T> = Result<T, String>;

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    messages: &'a [MessageLiteral],
    next_message: usize,
    opts: ParseOptions,
    tag: Option<String>,
    /// The command name was not recognised.
    unknown: bool,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> R<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at position {}",
                char::from(b),
                self.pos
            ))
        }
    }

    fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    fn end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(format!("unexpected data at position {}", self.pos))
        }
    }

    /// Case-insensitive keyword, not followed by an atom character.
    fn eat_word(&mut self, w: &str) -> bool {
        let w = w.as_bytes();
        let end = self.pos + w.len();
        if end <= self.s.len()
            && self.s[self.pos..end].eq_ignore_ascii_case(w)
            && !self.s.get(end).is_some_and(|&b| is_atom_char(b))
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn atom(&mut self) -> R<&'a str> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(format!("expected atom at position {}", self.pos));
        }
        // Atom characters are ASCII.
        std::str::from_utf8(a).map_err(|_| "invalid atom".to_owned())
    }

    fn upper_atom(&mut self) -> R<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    fn number(&mut self) -> R<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err(format!("expected number at position {}", self.pos));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| "number too large".to_owned())
    }

    fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => Err("expected non-zero number".to_owned()),
            n => Ok(n),
        }
    }

    fn number64(&mut self) -> R<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err(format!("expected number at position {}", self.pos));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| "number too large".to_owned())
    }

    fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => return Err("unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("invalid escape in quoted string".into()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}` / `{n+}` header with CRLF; returns (size, binary).
    fn literal_header(&mut self, allow_binary: bool) -> R<(u64, bool)> {
        let binary = allow_binary && self.eat(b'~');
        self.expect(b'{')?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}')?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        Ok((n, binary))
    }

    fn literal(&mut self) -> R<Vec<u8>> {
        let (n, _) = self.literal_header(false)?;
        let n = usize::try_from(n).map_err(|_| "literal too big".to_owned())?;
        if self.s.len() - self.pos < n {
            return Err("truncated literal".into());
        }
        let data = self.s[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(data)
    }

    fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(format!("expected string at position {}", self.pos)),
        }
    }

    fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err(format!("expected string at position {}", self.pos))
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    fn utf8(b: Vec<u8>) -> R<String> {
        String::from_utf8(b).map_err(|_| "invalid UTF-8 in string".to_owned())
    }

    fn astring_utf8(&mut self) -> R<String> {
        let b = self.astring()?;
        Self::utf8(b)
    }

    fn decode_name(&self, b: Vec<u8>) -> R<String> {
        if !self.opts.utf8 && b.contains(&b'&') {
            decode_mutf7(&b).ok_or_else(|| "invalid modified UTF-7 mailbox name".to_owned())
        } else {
            String::from_utf8(b).map_err(|_| "invalid UTF-8 in mailbox name".to_owned())
        }
    }

    fn mailbox(&mut self) -> R<Mailbox> {
        let b = self.astring()?;
        Ok(Mailbox::new(&self.decode_name(b)?))
    }

    fn list_mailbox(&mut self) -> R<String> {
        let b = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(format!("expected mailbox pattern at position {}", self.pos));
                }
                a.to_vec()
            }
        };
        self.decode_name(b)
    }

    /// A parenthesised, space-separated list of at least `min` items.
    fn paren_list<T>(&mut self, min: usize, mut item: impl FnMut(&mut Self) -> R<T>) -> R<Vec<T>> {
        self.expect(b'(')?;
        let mut v = Vec::new();
        if !self.eat(b')') {
            loop {
                v.push(item(self)?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        if v.len() < min {
            return Err("empty list".into());
        }
        Ok(v)
    }

    fn flag(&mut self) -> R<Flag> {
        if self.eat(b'\\') {
            let a = self.atom()?;
            Ok(Flag::from_wire(&format!("\\{a}")))
        } else {
            Ok(Flag::Keyword(self.atom()?.to_owned()))
        }
    }

    fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.paren_list(0, Self::flag)
    }

    fn seq_num(&mut self) -> R<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    fn sequence_set(&mut self) -> R<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            v.push((a, b));
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet::Ranges(v))
    }

    fn month(&mut self) -> R<u8> {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        for (i, m) in MONTHS.iter().enumerate() {
            let end = self.pos + 3;
            if end <= self.s.len() && self.s[self.pos..end].eq_ignore_ascii_case(m.as_bytes()) {
                self.pos = end;
                return Ok(i as u8 + 1);
            }
        }
        Err("invalid month".into())
    }

    fn digits(&mut self, min: usize, max: usize) -> R<u32> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let d = &self.s[start..self.pos];
        if d.len() < min {
            return Err(format!("expected digits at position {start}"));
        }
        Ok(d.iter().fold(0, |acc, &b| acc * 10 + u32::from(b - b'0')))
    }

    fn date_text(&mut self) -> R<Date> {
        let day = self.digits(1, 2)?;
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        if !(1..=31).contains(&day) {
            return Err("invalid day".into());
        }
        Ok(Date {
            year: year as u16,
            month,
            day: day as u8,
        })
    }

    fn date(&mut self) -> R<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"')?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    fn date_time(&mut self) -> R<DateTime> {
        self.expect(b'"')?;
        let day = if self.eat(b' ') {
            self.digits(1, 1)?
        } else {
            self.digits(1, 2)?
        };
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        self.sp()?;
        let h = self.digits(2, 2)?;
        self.expect(b':')?;
        let mi = self.digits(2, 2)?;
        self.expect(b':')?;
        let sec = self.digits(2, 2)?;
        self.sp()?;
        let sign: i64 = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err("invalid zone".into());
        };
        let zone = self.digits(4, 4)?;
        self.expect(b'"')?;
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 || zone % 100 > 59 {
            return Err("invalid date-time".into());
        }
        let offset = sign * i64::from(zone / 100 * 60 + zone % 100);
        let days = days_from_civil(i64::from(year), u32::from(month), day);
        let unix = days * 86400 + i64::from(h * 3600 + mi * 60 + sec) - offset * 60;
        Ok(DateTime {
            unix,
            offset_minutes: offset as i32,
        })
    }

    fn command(&mut self) -> R<Command> {
        let tag = self.take_while(is_tag_char);
        if tag.is_empty() {
            return Err("missing tag".into());
        }
        let tag = String::from_utf8_lossy(tag).into_owned();
        self.tag = Some(tag.clone());
        self.sp()?;
        let name = self.upper_atom()?;
        let body = self.body(&name)?;
        self.end()?;
        if self.next_message != self.messages.len() {
            return Err("message literals do not match".into());
        }
        Ok(Command { tag, body })
    }

    fn body(&mut self, name: &str) -> R<CommandBody> {
        Ok(match name {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "NAMESPACE" => CommandBody::Namespace,
            "IDLE" => CommandBody::Idle,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "EXPUNGE" => CommandBody::Expunge,
            "AUTHENTICATE" => {
                self.sp()?;
                let mechanism = self.upper_atom()?;
                let initial_response = if self.eat(b' ') {
                    if self.eat(b'=') {
                        Some(Secret::default())
                    } else {
                        let b = self.take_while(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                        });
                        if b.is_empty() {
                            return Err("invalid initial response".into());
                        }
                        Some(Secret(b.to_vec()))
                    }
                } else {
                    None
                };
                CommandBody::Authenticate {
                    mechanism,
                    initial_response,
                }
            }
            "LOGIN" => {
                self.sp()?;
                let username = self.astring()?;
                self.sp()?;
                let password = Secret(self.astring()?);
                CommandBody::Login { username, password }
            }
            "ENABLE" => {
                let mut capabilities = Vec::new();
                while self.eat(b' ') {
                    capabilities.push(self.upper_atom()?);
                }
                if capabilities.is_empty() {
                    return Err("ENABLE needs a capability".into());
                }
                CommandBody::Enable { capabilities }
            }
            "ID" => {
                self.sp()?;
                let parameters = if self.eat_word("NIL") {
                    None
                } else {
                    Some(self.paren_list(0, |p| {
                        let k = Self::utf8(p.string()?)?;
                        p.sp()?;
                        let v = p.nstring()?.map(Self::utf8).transpose()?;
                        Ok((k, v))
                    })?)
                };
                CommandBody::Id { parameters }
            }
            "SELECT" | "EXAMINE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let params = self.select_params()?;
                if name == "SELECT" {
                    CommandBody::Select { mailbox, params }
                } else {
                    CommandBody::Examine { mailbox, params }
                }
            }
            "CREATE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                let mut special_use = Vec::new();
                if self.eat(b' ') {
                    self.expect(b'(')?;
                    if !self.eat_word("USE") {
                        return Err("unknown CREATE parameter".into());
                    }
                    self.sp()?;
                    special_use = self.paren_list(0, |p| {
                        p.expect(b'\\')?;
                        Ok(format!("\\{}", p.atom()?))
                    })?;
                    self.expect(b')')?;
                }
                CommandBody::Create {
                    mailbox,
                    special_use,
                }
            }
            "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                match name {
                    "DELETE" => CommandBody::Delete { mailbox },
                    "SUBSCRIBE" => CommandBody::Subscribe { mailbox },
                    _ => CommandBody::Unsubscribe { mailbox },
                }
            }
            "RENAME" => {
                self.sp()?;
                let from = self.mailbox()?;
                self.sp()?;
                let to = self.mailbox()?;
                CommandBody::Rename { from, to }
            }
            "LIST" => CommandBody::List(self.list()?),
            "LSUB" => {
                self.sp()?;
                let reference = self.astring()?;
                let reference = self.decode_name(reference)?;
                self.sp()?;
                let pattern = self.list_mailbox()?;
                CommandBody::Lsub { reference, pattern }
            }
            "STATUS" => {
                self.sp()?;
                let mailbox = self.mailbox()?;
                self.sp()?;
                let items = self.paren_list(1, Self::status_item)?;
                CommandBody::Status { mailbox, items }
            }
            "APPEND" => self.append()?,
            "SEARCH" => CommandBody::Search(self.search(false)?),
            "FETCH" => CommandBody::Fetch(self.fetch(false)?),
            "STORE" => CommandBody::Store(self.store(false)?),
            "COPY" | "MOVE" => {
                self.sp()?;
                let set = self.sequence_set()?;
                self.sp()?;
                let mailbox = self.mailbox()?;
                if name == "COPY" {
                    CommandBody::Copy {
                        uid: false,
                        set,
                        mailbox,
                    }
                } else {
                    CommandBody::Move {
                        uid: false,
                        set,
                        mailbox,
                    }
                }
            }
            "UID" => {
                self.sp()?;
                let sub = self.upper_atom()?;
                match sub.as_str() {
                    "SEARCH" => CommandBody::Search(self.search(true)?),
                    "FETCH" => CommandBody::Fetch(self.fetch(true)?),
                    "STORE" => CommandBody::Store(self.store(true)?),
                    "EXPUNGE" => {
                        self.sp()?;
                        CommandBody::UidExpunge {
                            set: self.sequence_set()?,
                        }
                    }
                    "COPY" | "MOVE" => {
                        self.sp()?;
                        let set = self.sequence_set()?;
                        self.sp()?;
                        let mailbox = self.mailbox()?;
                        if sub == "COPY" {
                            CommandBody::Copy {
                                uid: true,
                                set,
                                mailbox,
                            }
                        } else {
                            CommandBody::Move {
                                uid: true,
                                set,
                                mailbox,
                            }
                        }
                    }
                    _ => {
                        self.unknown = true;
                        return Err(format!("unknown UID command {sub}"));
                    }
                }
            }
            _ => {
                self.unknown = true;
                return Err("unrecognized command".into());
            }
        })
    }

    fn select_params(&mut self) -> R<SelectParams> {
        let mut params = SelectParams::default();
        if !self.eat(b' ') {
            return Ok(params);
        }
        self.paren_list(1, |p| {
            if p.eat_word("CONDSTORE") {
                params.condstore = true;
            } else if p.eat_word("QRESYNC") {
                p.sp()?;
                p.expect(b'(')?;
                let uid_validity = p.nz_number()?;
                p.sp()?;
                let mod_seq = p.number64()?;
                let mut known_uids = None;
                let mut seq_match = None;
                if p.eat(b' ') {
                    if p.peek() != Some(b'(') {
                        known_uids = Some(p.sequence_set()?);
                        if p.eat(b' ') {
                            seq_match = Some(p.seq_match()?);
                        }
                    } else {
                        seq_match = Some(p.seq_match()?);
                    }
                }
                p.expect(b')')?;
                params.qresync = Some(QresyncParams {
                    uid_validity,
                    mod_seq,
                    known_uids,
                    seq_match,
                });
            } else {
                return Err("unknown SELECT parameter".into());
            }
            Ok(())
        })?;
        Ok(params)
    }

    fn seq_match(&mut self) -> R<(SequenceSet, SequenceSet)> {
        self.expect(b'(')?;
        let a = self.sequence_set()?;
        self.sp()?;
        let b = self.sequence_set()?;
        self.expect(b')')?;
        Ok((a, b))
    }

    fn status_item(&mut self) -> R<StatusItem> {
        Ok(match self.upper_atom()?.as_str() {
            "MESSAGES" => StatusItem::Messages,
            "UIDNEXT" => StatusItem::UidNext,
            "UIDVALIDITY" => StatusItem::UidValidity,
            "UNSEEN" => StatusItem::Unseen,
            "DELETED" => StatusItem::Deleted,
            "SIZE" => StatusItem::Size,
            "RECENT" => StatusItem::Recent,
            "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
            "APPENDLIMIT" => StatusItem::AppendLimit,
            a => return Err(format!("unknown STATUS attribute {a}")),
        })
    }

    fn list(&mut self) -> R<ListCommand> {
        self.sp()?;
        let mut selection = Vec::new();
        if self.peek() == Some(b'(') {
            selection = self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "SUBSCRIBED" => ListSelect::Subscribed,
                    "REMOTE" => ListSelect::Remote,
                    "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                    "SPECIAL-USE" => ListSelect::SpecialUse,
                    o => return Err(format!("unknown LIST selection option {o}")),
                })
            })?;
            self.sp()?;
        }
        let reference = self.astring()?;
        let reference = self.decode_name(reference)?;
        self.sp()?;
        let patterns = if self.peek() == Some(b'(') {
            self.paren_list(1, Self::list_mailbox)?
        } else {
            vec![self.list_mailbox()?]
        };
        let mut returns = Vec::new();
        if self.eat(b' ') {
            if !self.eat_word("RETURN") {
                return Err("expected RETURN".into());
            }
            self.sp()?;
            returns = self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "SUBSCRIBED" => ListReturn::Subscribed,
                    "CHILDREN" => ListReturn::Children,
                    "SPECIAL-USE" => ListReturn::SpecialUse,
                    "STATUS" => {
                        p.sp()?;
                        ListReturn::Status(p.paren_list(1, Self::status_item)?)
                    }
                    o => return Err(format!("unknown LIST return option {o}")),
                })
            })?;
        }
        Ok(ListCommand {
            selection,
            reference,
            patterns,
            returns,
        })
    }

    fn message_literal(&mut self, utf8: bool) -> R<AppendMessage> {
        let (size, binary) = self.literal_header(true)?;
        let m = self
            .messages
            .get(self.next_message)
            .ok_or_else(|| "message literal missing".to_owned())?;
        if m.size != size || m.binary != binary {
            return Err("message literal mismatch".into());
        }
        self.next_message += 1;
        Ok(AppendMessage {
            flags: Vec::new(),
            date: None,
            size,
            binary,
            utf8,
        })
    }

    fn append(&mut self) -> R<CommandBody> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        let mut messages = Vec::new();
        while self.eat(b' ') {
            let mut flags = Vec::new();
            let mut date = None;
            if self.peek() == Some(b'(') {
                flags = self.flag_list()?;
                self.sp()?;
            }
            if self.peek() == Some(b'"') {
                date = Some(self.date_time()?);
                self.sp()?;
            }
            let mut m = if self.eat_word("UTF8") {
                self.sp()?;
                self.expect(b'(')?;
                let m = self.message_literal(true)?;
                if !m.binary {
                    return Err("UTF8 APPEND needs literal8".into());
                }
                self.expect(b')')?;
                m
            } else {
                self.message_literal(false)?
            };
            m.flags = flags;
            m.date = date;
            messages.push(m);
        }
        if messages.is_empty() {
            return Err("APPEND needs a message".into());
        }
        Ok(CommandBody::Append { mailbox, messages })
    }

    fn search(&mut self, uid: bool) -> R<SearchCommand> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word("RETURN") {
            self.sp()?;
            returns = Some(self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "MIN" => SearchReturn::Min,
                    "MAX" => SearchReturn::Max,
                    "ALL" => SearchReturn::All,
                    "COUNT" => SearchReturn::Count,
                    "SAVE" => SearchReturn::Save,
                    o => return Err(format!("unknown SEARCH return option {o}")),
                })
            })?);
            self.sp()?;
        }
        let mut charset = None;
        if self.eat_word("CHARSET") {
            self.sp()?;
            charset = Some(self.astring_utf8()?);
            self.sp()?;
        }
        let mut criteria = vec![self.search_key(0)?];
        while self.eat(b' ') {
            criteria.push(self.search_key(0)?);
        }
        Ok(SearchCommand {
            uid,
            returns,
            charset,
            criteria,
        })
    }

    fn search_key(&mut self, depth: usize) -> R<SearchKey> {
        if depth > MAX_SEARCH_DEPTH {
            return Err("search keys nested too deeply".into());
        }
        match self.peek() {
            Some(b'(') => {
                return Ok(SearchKey::And(
                    self.paren_list(1, |p| p.search_key(depth + 1))?,
                ));
            }
            Some(b'0'..=b'9' | b'*' | b'$') => {
                return Ok(SearchKey::SequenceSet(self.sequence_set()?));
            }
            _ => {}
        }
        let key = self.upper_atom()?;
        macro_rules! arg {
            ($f:ident) => {{
                self.sp()?;
                self.$f()?
            }};
        }
        Ok(match key.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Answered,
            "BCC" => SearchKey::Bcc(arg!(astring_utf8)),
            "BEFORE" => SearchKey::Before(arg!(date)),
            "BODY" => SearchKey::Body(arg!(astring_utf8)),
            "CC" => SearchKey::Cc(arg!(astring_utf8)),
            "DELETED" => SearchKey::Deleted,
            "DRAFT" => SearchKey::Draft,
            "FLAGGED" => SearchKey::Flagged,
            "FROM" => SearchKey::From(arg!(astring_utf8)),
            "HEADER" => {
                let f = arg!(astring_utf8);
                SearchKey::Header(f, arg!(astring_utf8))
            }
            "KEYWORD" => SearchKey::Keyword(arg!(atom).to_owned()),
            "LARGER" => SearchKey::Larger(arg!(number64)),
            "NEW" => SearchKey::New,
            "NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            "OLD" => SearchKey::Old,
            "ON" => SearchKey::On(arg!(date)),
            "OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            "RECENT" => SearchKey::Recent,
            "SEEN" => SearchKey::Seen,
            "SENTBEFORE" => SearchKey::SentBefore(arg!(date)),
            "SENTON" => SearchKey::SentOn(arg!(date)),
            "SENTSINCE" => SearchKey::SentSince(arg!(date)),
            "SINCE" => SearchKey::Since(arg!(date)),
            "SMALLER" => SearchKey::Smaller(arg!(number64)),
            "SUBJECT" => SearchKey::Subject(arg!(astring_utf8)),
            "TEXT" => SearchKey::Text(arg!(astring_utf8)),
            "TO" => SearchKey::To(arg!(astring_utf8)),
            "UID" => SearchKey::Uid(arg!(sequence_set)),
            "UNANSWERED" => SearchKey::Unanswered,
            "UNDELETED" => SearchKey::Undeleted,
            "UNDRAFT" => SearchKey::Undraft,
            "UNFLAGGED" => SearchKey::Unflagged,
            "UNKEYWORD" => SearchKey::Unkeyword(arg!(atom).to_owned()),
            "UNSEEN" => SearchKey::Unseen,
            "MODSEQ" => {
                self.sp()?;
                let entry = if self.peek() == Some(b'"') {
                    let name = Self::utf8(self.quoted()?)?;
                    self.sp()?;
                    let kind = self.upper_atom()?.to_ascii_lowercase();
                    if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                        return Err("invalid MODSEQ entry type".into());
                    }
                    self.sp()?;
                    Some((name, kind))
                } else {
                    None
                };
                SearchKey::ModSeq {
                    entry,
                    mod_seq: self.number64()?,
                }
            }
            "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
            "SAVEDBEFORE" => SearchKey::SavedBefore(arg!(date)),
            "SAVEDON" => SearchKey::SavedOn(arg!(date)),
            "SAVEDSINCE" => SearchKey::SavedSince(arg!(date)),
            "OLDER" => SearchKey::Older(u64::from(arg!(nz_number))),
            "YOUNGER" => SearchKey::Younger(u64::from(arg!(nz_number))),
            k => return Err(format!("unknown search key {k}")),
        })
    }

    fn fetch(&mut self, uid: bool) -> R<FetchCommand> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let items = if self.eat_word("ALL") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
                FetchItem::Envelope,
            ]
        } else if self.eat_word("FAST") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
            ]
        } else if self.eat_word("FULL") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
                FetchItem::Envelope,
                FetchItem::Body,
            ]
        } else if self.peek() == Some(b'(') {
            self.paren_list(1, Self::fetch_item)?
        } else {
            vec![self.fetch_item()?]
        };
        let mut changed_since = None;
        let mut vanished = false;
        if self.eat(b' ') {
            self.paren_list(1, |p| {
                if p.eat_word("CHANGEDSINCE") {
                    p.sp()?;
                    changed_since = Some(p.number64()?);
                } else if p.eat_word("VANISHED") {
                    vanished = true;
                } else {
                    return Err("unknown FETCH modifier".into());
                }
                Ok(())
            })?;
        }
        if vanished && (!uid || changed_since.is_none()) {
            return Err("VANISHED needs UID FETCH and CHANGEDSINCE".into());
        }
        Ok(FetchCommand {
            uid,
            set,
            items,
            changed_since,
            vanished,
        })
    }

    fn fetch_item(&mut self) -> R<FetchItem> {
        let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let bracket = self.peek() == Some(b'[');
        Ok(match (name.as_str(), bracket) {
            ("ENVELOPE", false) => FetchItem::Envelope,
            ("FLAGS", false) => FetchItem::Flags,
            ("INTERNALDATE", false) => FetchItem::InternalDate,
            ("RFC822", false) => FetchItem::Rfc822,
            ("RFC822.HEADER", false) => FetchItem::Rfc822Header,
            ("RFC822.TEXT", false) => FetchItem::Rfc822Text,
            ("RFC822.SIZE", false) => FetchItem::Rfc822Size,
            ("BODY", false) => FetchItem::Body,
            ("BODYSTRUCTURE", false) => FetchItem::BodyStructure,
            ("UID", false) => FetchItem::Uid,
            ("MODSEQ", false) => FetchItem::ModSeq,
            ("SAVEDATE", false) => FetchItem::SaveDate,
            ("BODY" | "BODY.PEEK", true) => {
                let section = self.section()?;
                let partial = self.partial()?;
                FetchItem::BodySection {
                    peek: name == "BODY.PEEK",
                    section,
                    partial,
                }
            }
            ("BINARY" | "BINARY.PEEK", true) => {
                let part = self.binary_section()?;
                let partial = self.partial()?;
                FetchItem::Binary {
                    peek: name == "BINARY.PEEK",
                    part,
                    partial,
                }
            }
            ("BINARY.SIZE", true) => FetchItem::BinarySize {
                part: self.binary_section()?,
            },
            _ => return Err(format!("unknown FETCH item {name}")),
        })
    }

    fn section_part(&mut self) -> R<Vec<u32>> {
        let mut part = Vec::new();
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            part.push(self.nz_number()?);
            while self.peek() == Some(b'.')
                && self.s.get(self.pos + 1).is_some_and(u8::is_ascii_digit)
            {
                self.pos += 1;
                part.push(self.nz_number()?);
            }
        }
        Ok(part)
    }

    fn binary_section(&mut self) -> R<Vec<u32>> {
        self.expect(b'[')?;
        let part = self.section_part()?;
        self.expect(b']')?;
        Ok(part)
    }

    fn section(&mut self) -> R<Section> {
        self.expect(b'[')?;
        let part = self.section_part()?;
        let mut text = None;
        if self.peek() != Some(b']') {
            if !part.is_empty() {
                self.expect(b'.')?;
            }
            let t = self.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
            let t = String::from_utf8_lossy(t).to_ascii_uppercase();
            text = Some(match t.as_str() {
                "HEADER" => SectionText::Header,
                "TEXT" => SectionText::Text,
                "MIME" if !part.is_empty() => SectionText::Mime,
                "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                    self.sp()?;
                    let names = self.paren_list(1, Self::astring_utf8)?;
                    if t == "HEADER.FIELDS" {
                        SectionText::HeaderFields(names)
                    } else {
                        SectionText::HeaderFieldsNot(names)
                    }
                }
                _ => return Err(format!("invalid section {t}")),
            });
        }
        self.expect(b']')?;
        Ok(Section { part, text })
    }

    fn partial(&mut self) -> R<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let offset = self.number()?;
        self.expect(b'.')?;
        let len = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some((offset, len)))
    }

    fn store(&mut self, uid: bool) -> R<StoreCommand> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let mut unchanged_since = None;
        if self.peek() == Some(b'(') {
            self.paren_list(1, |p| {
                if !p.eat_word("UNCHANGEDSINCE") {
                    return Err("unknown STORE modifier".into());
                }
                p.sp()?;
                unchanged_since = Some(p.number64()?);
                Ok(())
            })?;
            self.sp()?;
        }
        let action = if self.eat(b'+') {
            StoreAction::Add
        } else if self.eat(b'-') {
            StoreAction::Remove
        } else {
            StoreAction::Replace
        };
        let silent = if self.eat_word("FLAGS") {
            false
        } else if self.eat_word("FLAGS.SILENT") {
            true
        } else {
            return Err("expected FLAGS or FLAGS.SILENT".into());
        };
        self.sp()?;
        let flags = if self.peek() == Some(b'(') {
            self.flag_list()?
        } else {
            let mut v = vec![self.flag()?];
            while self.eat(b' ') {
                v.push(self.flag()?);
            }
            v
        };
        Ok(StoreCommand {
            uid,
            set,
            unchanged_since,
            action,
            silent,
            flags,
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
