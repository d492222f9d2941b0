//! The response encoder: typed server responses ([`crate::response`]) into bytes.
//!
//! Strings are written as quoted strings when they can be (printable, no CR/LF/NUL, and
//! no 8-bit bytes unless the client uses UTF-8), else as literals `{n}\r\n...`.
//! Message content (BODY[], RFC822, BINARY[]) is always a literal; BINARY content that
//! holds a NUL byte is a literal8 `~{n}` (RFC 9051 §7.5.2). Mailbox names are encoded as
//! modified UTF-7 for IMAP4rev1 clients and sent as UTF-8 to IMAP4rev2 ones.
//!
//! One module per part of the grammar: status responses and codes ([`status`]),
//! untagged data ([`data`]), FETCH data with envelopes and body structures
//! ([`fetch`]); this module holds the writer's primitives (strings, literals, mailbox
//! names, flags).

mod data;
mod fetch;
mod status;
#[cfg(test)]
mod tests;

pub use fetch::format_date_time;

use std::fmt::Write as _;

use crate::mutf7::encode_mutf7;
use crate::response::Response;
use crate::types::Flag;

/// How to encode for this client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// The client enabled IMAP4rev2 or UTF8=ACCEPT: mailbox names and strings may be
    /// UTF-8 in quoted strings.
    pub utf8: bool,
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

/// Writes one response into a byte buffer.
struct Writer {
    out: Vec<u8>,
    opts: EncodeOptions,
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

    fn delimiter(&mut self, d: Option<char>) {
        match d {
            None => self.raw("NIL"),
            Some(c) => {
                let mut b = [0u8; 4];
                self.string(c.encode_utf8(&mut b).as_bytes());
            }
        }
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
}

/// `fmt::Write` into a byte vector.
struct Str<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Str<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
