//! Sans-I/O framing of client input: command lines, literals and their limits.
//!
//! Feed bytes with [`CommandReader::push`], which consumes only what it can hold, and take
//! the resulting [`Event`]s with [`CommandReader::poll`]. The reader never holds more
//! than one command's worth of bytes within the limits of [`crate::limits`]:
//! [`MAX_LINE`] per line segment, [`MAX_COMMAND_TEXT`] of line text per command and
//! [`MAX_LITERAL_TOTAL`] of literal data.
//!
//! APPEND message literals are the exception to buffering: their data is never kept,
//! but handed out as [`Event::MessageStart`] followed by [`Event::MessageData`] chunks of
//! at most [`MESSAGE_CHUNK`] bytes, so the caller can stream each message to a file.
//! The finished [`Event::Command`] then carries the literal headers (`{n}`) of the
//! messages without their data, and [`RawCommand::messages`] lists them in order.

use std::collections::VecDeque;

use crate::chars::is_tag_char;

use crate::limits::{
    APPEND_LIMIT, MAX_COMMAND_TEXT, MAX_LINE, MAX_LITERAL, MAX_LITERAL_MINUS, MAX_LITERAL_TOTAL,
    MAX_LITERALS, MESSAGE_CHUNK,
};

/// Which non-synchronising literal extension the server advertises (RFC 7888).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonSyncLiterals {
    /// LITERAL+: non-synchronising literals of any size within the other limits.
    Plus,
    /// LITERAL-: non-synchronising literals up to [`MAX_LITERAL_MINUS`] bytes.
    Minus,
}

/// Settings of a [`CommandReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    /// LITERAL+ or LITERAL-.
    pub non_sync: NonSyncLiterals,
    /// Largest APPEND message accepted; normally [`APPEND_LIMIT`].
    pub append_limit: u64,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            non_sync: NonSyncLiterals::Plus,
            append_limit: APPEND_LIMIT,
        }
    }
}

/// One APPEND message literal whose data was handed out as [`Event::MessageData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLiteral {
    /// Size in bytes, as announced.
    pub size: u64,
    /// Literal8 (`~{n}`), allowed to hold NUL bytes.
    pub binary: bool,
}

/// A complete command as read from the wire, ready for [`crate::parse::parse_command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCommand {
    /// The command text: lines without their final CRLF, literal headers with their CRLF
    /// and literal data (except APPEND message data, which was streamed).
    pub bytes: Vec<u8>,
    /// APPEND message literals, in order; their data was handed out in events.
    pub messages: Vec<MessageLiteral>,
}

/// A literal limit a command went over. The `Display` text is the detail of the
/// TOOBIG reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// An APPEND message larger than [`ReaderConfig::append_limit`].
    #[error("message size {size} is larger than allowed {limit}")]
    MessageSize {
        /// The announced size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A literal outside APPEND message data larger than [`MAX_LITERAL`].
    #[error("max literal size {0} is larger than allowed {MAX_LITERAL}")]
    LiteralSize(u64),
    /// The command's literals together larger than [`MAX_LITERAL_TOTAL`].
    #[error("max total literal size for command {0} is larger than allowed {MAX_LITERAL_TOTAL}")]
    LiteralTotal(u64),
    /// More literals in the command than [`MAX_LITERALS`].
    #[error("max literals for command {0} is larger than allowed {MAX_LITERALS}")]
    LiteralCount(usize),
    /// A non-synchronising literal larger than [`MAX_LITERAL_MINUS`] under LITERAL-.
    #[error("non-synchronizing literal size {0} is larger than allowed {MAX_LITERAL_MINUS}")]
    NonSyncLiteralSize(u64),
}

/// A refusal of the reader: the bytes to send, and whether to close afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The command's tag (`*` when none could be read).
    pub tag: String,
    /// The limit the command went over.
    pub limit: LimitExceeded,
    /// The complete reply, CRLF-terminated lines.
    pub reply: Vec<u8>,
    /// Close the connection after writing `reply`.
    pub close: bool,
}

/// What the reader has found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command.
    Command(RawCommand),
    /// A complete line read in line mode (see [`CommandReader::expect_line`]), without
    /// its CRLF: `DONE` after IDLE, or a SASL response.
    Line(Vec<u8>),
    /// The client announced a synchronising literal of `size` bytes that is within the
    /// limits: send a continuation request (`+ ...`) now.
    Continue {
        /// Announced literal size.
        size: u64,
    },
    /// An APPEND message literal starts; its data follows as [`Event::MessageData`].
    /// For a synchronising literal a [`Event::Continue`] follows this event, unless the
    /// caller refuses it with [`CommandReader::refuse_literal`].
    MessageStart {
        /// The command's tag.
        tag: String,
        /// The announced size.
        size: u64,
        /// Literal8.
        binary: bool,
        /// Synchronising (`{n}`) rather than non-synchronising (`{n+}`).
        sync: bool,
    },
    /// A chunk of APPEND message data, at most [`MESSAGE_CHUNK`] bytes.
    MessageData(Vec<u8>),
    /// A limit was violated: write the reply; the current command is dropped.
    Rejected(Rejection),
    /// A line was longer than [`MAX_LINE`] (or a command's text longer than
    /// [`MAX_COMMAND_TEXT`]): close the connection without a response (mox §7.2).
    /// All later input is discarded.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line segment.
    Line,
    /// Reading literal data into the command buffer.
    Literal { remaining: u64 },
    /// Reading APPEND message data, handed out in chunks.
    Message { remaining: u64 },
    /// A synchronising APPEND literal was announced and `Continue` is queued.
    AwaitContinue { size: u64 },
    /// Closed: everything is discarded.
    Closed,
}

/// The sans-I/O command reader. See the module documentation.
#[derive(Debug)]
pub struct CommandReader {
    config: ReaderConfig,
    state: State,
    /// The current command's bytes.
    buf: Vec<u8>,
    /// Where the current line segment starts in `buf`.
    seg_start: usize,
    /// Non-literal text bytes of the current command.
    text_len: usize,
    literals: usize,
    literal_total: u64,
    messages: Vec<MessageLiteral>,
    /// The next complete line is a plain line, not a command.
    line_mode: bool,
    events: VecDeque<Event>,
}

impl Default for CommandReader {
    fn default() -> Self {
        Self::new(ReaderConfig::default())
    }
}

impl CommandReader {
    /// A reader with the given settings.
    pub fn new(config: ReaderConfig) -> Self {
        CommandReader {
            config,
            state: State::Line,
            buf: Vec::new(),
            seg_start: 0,
            text_len: 0,
            literals: 0,
            literal_total: 0,
            messages: Vec::new(),
            line_mode: false,
            events: VecDeque::new(),
        }
    }

    /// Read the next complete line as [`Event::Line`], without looking for literals
    /// (after IDLE, and for AUTHENTICATE responses).
    pub fn expect_line(&mut self) {
        self.line_mode = true;
    }

    /// Bytes of memory held for the current command (the buffer's capacity). Never
    /// more than [`MAX_COMMAND_TEXT`] + [`MAX_LITERAL_TOTAL`].
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Make room for `extra` more bytes, doubling as usual but never past `cap`.
    fn grow(&mut self, extra: usize, cap: usize) {
        let need = self.buf.len() + extra;
        if need > self.buf.capacity() {
            let target = need.max(self.buf.capacity() * 2).min(cap.max(need));
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// Whether the reader has closed (after [`Event::Close`] or a closing rejection).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The current command's text read so far (its line segments and literals, without
    /// streamed message data): for a look at an APPEND's mailbox before its first
    /// message literal is accepted.
    pub fn command_so_far(&self) -> &[u8] {
        &self.buf
    }

    /// Refuse the synchronising APPEND literal just announced by
    /// [`Event::MessageStart`] (for example over quota): the queued
    /// [`Event::Continue`] is dropped and the command discarded; the caller answers the
    /// tag itself. Returns false (and does nothing) when there is no such literal.
    pub fn refuse_literal(&mut self) -> bool {
        if let State::AwaitContinue { .. } = self.state {
            self.events.retain(|e| !matches!(e, Event::Continue { .. }));
            self.reset_command();
            true
        } else {
            false
        }
    }

    /// The next event, if any.
    pub fn poll(&mut self) -> Option<Event> {
        let ev = self.events.pop_front();
        if let (Some(Event::Continue { .. }), State::AwaitContinue { size }) = (&ev, self.state) {
            self.state = if size == 0 {
                self.seg_start = self.buf.len();
                State::Line
            } else {
                State::Message { remaining: size }
            };
        }
        ev
    }

    /// Offer input bytes; returns how many were consumed. The reader stops consuming
    /// while an event is waiting to be polled, so call [`CommandReader::poll`] until it
    /// returns `None` and offer the rest again. After closing it consumes everything.
    pub fn push(&mut self, input: &[u8]) -> usize {
        let mut pos = 0;
        while pos < input.len() {
            if self.state == State::Closed {
                return input.len();
            }
            if !self.events.is_empty() {
                break;
            }
            let rest = &input[pos..];
            match self.state {
                State::Closed | State::AwaitContinue { .. } => break,
                State::Line => {
                    let lf = rest.iter().position(|&b| b == b'\n');
                    let take = lf.map_or(rest.len(), |i| i + 1);
                    let seg_len = self.buf.len() - self.seg_start;
                    if seg_len + take > MAX_LINE || self.text_len + take > MAX_COMMAND_TEXT {
                        self.close();
                        return input.len();
                    }
                    self.grow(take, self.seg_start + MAX_LINE);
                    self.buf.extend_from_slice(&rest[..take]);
                    self.text_len += take;
                    pos += take;
                    if lf.is_some() {
                        self.line_end();
                    }
                }
                State::Literal { remaining } => {
                    let take = usize::try_from(remaining).map_or(rest.len(), |r| r.min(rest.len()));
                    let end = usize::try_from(remaining).map_or(usize::MAX, |r| self.buf.len() + r);
                    self.grow(take, end);
                    self.buf.extend_from_slice(&rest[..take]);
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        self.seg_start = self.buf.len();
                        State::Line
                    } else {
                        State::Literal { remaining }
                    };
                }
                State::Message { remaining } => {
                    let take = usize::try_from(remaining)
                        .map_or(rest.len(), |r| r.min(rest.len()))
                        .min(MESSAGE_CHUNK);
                    self.events
                        .push_back(Event::MessageData(rest[..take].to_vec()));
                    pos += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        self.seg_start = self.buf.len();
                        State::Line
                    } else {
                        State::Message { remaining }
                    };
                }
            }
        }
        pos
    }

    fn close(&mut self) {
        self.reset_command();
        self.state = State::Closed;
        self.events.push_back(Event::Close);
    }

    fn reset_command(&mut self) {
        self.buf = Vec::new();
        self.seg_start = 0;
        self.text_len = 0;
        self.literals = 0;
        self.literal_total = 0;
        self.messages = Vec::new();
        self.state = State::Line;
    }

    /// A line segment ending in LF is in `buf[seg_start..]`.
    fn line_end(&mut self) {
        // Strip CRLF or bare LF.
        self.buf.pop();
        if self.buf.len() > self.seg_start && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        if self.line_mode {
            self.line_mode = false;
            let line = std::mem::take(&mut self.buf);
            self.reset_command();
            self.events.push_back(Event::Line(line));
            return;
        }
        let seg = &self.buf[self.seg_start..];
        let Some(lit) = literal_at_end(seg) else {
            let bytes = std::mem::take(&mut self.buf);
            let messages = std::mem::take(&mut self.messages);
            self.reset_command();
            self.events
                .push_back(Event::Command(RawCommand { bytes, messages }));
            return;
        };
        let (tag, name) = tag_and_name(&self.buf);
        let is_message = name.eq_ignore_ascii_case("APPEND") && !self.is_append_mailbox(lit.start);
        self.literals += 1;
        if is_message {
            if lit.size > self.config.append_limit {
                let over = LimitExceeded::MessageSize {
                    size: lit.size,
                    limit: self.config.append_limit,
                };
                let tagged = format!("{tag} NO [TOOBIG] {over}\r\n");
                self.reject(tag, tagged, over, lit.sync);
                return;
            }
        } else {
            self.literal_total = self.literal_total.saturating_add(lit.size);
        }
        let over = if !is_message && lit.size > MAX_LITERAL {
            Some(LimitExceeded::LiteralSize(lit.size))
        } else if self.literal_total > MAX_LITERAL_TOTAL {
            Some(LimitExceeded::LiteralTotal(self.literal_total))
        } else if self.literals > MAX_LITERALS {
            Some(LimitExceeded::LiteralCount(self.literals))
        } else if !lit.sync
            && self.config.non_sync == NonSyncLiterals::Minus
            && lit.size > MAX_LITERAL_MINUS
        {
            Some(LimitExceeded::NonSyncLiteralSize(lit.size))
        } else {
            None
        };
        if let Some(over) = over {
            let tagged = format!(
                "{tag} BAD [TOOBIG] {name} unrecognized syntax/command: literal too big: {over}\r\n"
            );
            self.reject(tag, tagged, over, lit.sync);
            return;
        }
        // Accepted: keep the literal header followed by CRLF.
        self.buf.extend_from_slice(b"\r\n");
        self.text_len += 2;
        if is_message {
            self.messages.push(MessageLiteral {
                size: lit.size,
                binary: lit.binary,
            });
            self.events.push_back(Event::MessageStart {
                tag,
                size: lit.size,
                binary: lit.binary,
                sync: lit.sync,
            });
            if lit.sync {
                self.events.push_back(Event::Continue { size: lit.size });
                self.state = State::AwaitContinue { size: lit.size };
            } else {
                self.state = State::Message {
                    remaining: lit.size,
                };
            }
        } else {
            if lit.sync {
                self.events.push_back(Event::Continue { size: lit.size });
            }
            self.state = State::Literal {
                remaining: lit.size,
            };
        }
        // An empty literal has no data: go on with the line, except that a
        // synchronising APPEND literal waits for its `Continue` to be polled.
        if lit.size == 0 && !(is_message && lit.sync) {
            self.seg_start = self.buf.len();
            self.state = State::Line;
        }
    }

    /// Whether the literal starting at `buf[start]` is APPEND's mailbox argument: the
    /// first segment is exactly `tag SP APPEND SP` before it.
    fn is_append_mailbox(&self, start: usize) -> bool {
        if self.seg_start != 0 {
            return false;
        }
        let before = &self.buf[..self.seg_start + start];
        let mut words = before.split(|&b| b == b' ');
        matches!(
            (words.next(), words.next(), words.next(), words.next()),
            (Some(t), Some(c), Some(b""), None) if !t.is_empty() && c.eq_ignore_ascii_case(b"APPEND")
        )
    }

    fn reject(&mut self, tag: String, tagged: String, over: LimitExceeded, sync: bool) {
        if sync {
            // No `+` was sent, so the client sends no data: the line is done and the
            // connection stays usable.
            self.reset_command();
            self.events.push_back(Event::Rejected(Rejection {
                tag,
                limit: over,
                reply: tagged.into_bytes(),
                close: false,
            }));
        } else {
            let mut reply = format!("* BYE [ALERT] {over}\r\n").into_bytes();
            reply.extend_from_slice(tagged.as_bytes());
            self.events.push_back(Event::Rejected(Rejection {
                tag,
                limit: over,
                reply,
                close: true,
            }));
            self.reset_command();
            self.state = State::Closed;
        }
    }
}

/// A literal announcement found at the end of a line segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LiteralHeader {
    /// Offset of `{` (or `~`) in the segment.
    start: usize,
    size: u64,
    sync: bool,
    binary: bool,
}

/// Find `{n}`, `{n+}`, `~{n}` or `~{n+}` at the end of a line segment (CRLF stripped),
/// outside a quoted string. Sizes too large for u64 become `u64::MAX`.
fn literal_at_end(seg: &[u8]) -> Option<LiteralHeader> {
    let body = seg.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Inside a quoted string the braces are text.
    let mut quoted = false;
    let mut escaped = false;
    for &b in &seg[..open] {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        }
    }
    if quoted {
        return None;
    }
    let size = digits.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let binary = open > 0 && seg[open - 1] == b'~';
    Some(LiteralHeader {
        start: if binary { open - 1 } else { open },
        size,
        sync,
        binary,
    })
}

/// The tag and command name from the start of a command, sanitised for replies.
fn tag_and_name(buf: &[u8]) -> (String, String) {
    let mut words = buf.splitn(3, |&b| b == b' ');
    let tag = words.next().unwrap_or_default();
    let tag = if !tag.is_empty() && tag.iter().all(|&b| is_tag_char(b)) {
        String::from_utf8_lossy(tag).into_owned()
    } else {
        "*".to_owned()
    };
    let name = words.next().unwrap_or_default();
    let name: String = name
        .iter()
        .take(32)
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|&b| char::from(b))
        .collect();
    (tag, name)
}

#[cfg(test)]
mod tests;
