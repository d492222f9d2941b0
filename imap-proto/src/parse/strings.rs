//! Strings of every form (quoted, literal, atom), mailbox names and patterns, flags.

use super::cursor::{Parser, R};
use super::error::SyntaxError;
use crate::chars::{is_astring_char, is_list_char};
use crate::mailbox_name::nfc;
use crate::mutf7::decode_mutf7;
use crate::types::{Flag, Mailbox};

impl Parser<'_> {
    pub(super) fn quoted(&mut self) -> R<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => return Err(SyntaxError::UnterminatedQuoted),
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
                        _ => return Err(SyntaxError::InvalidEscape),
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
    pub(super) fn literal_header(&mut self, allow_binary: bool) -> R<(u64, bool)> {
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
        let n = usize::try_from(n).map_err(|_| SyntaxError::LiteralTooBig)?;
        if self.s.len() - self.pos < n {
            return Err(SyntaxError::TruncatedLiteral);
        }
        let data = self.s[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(data)
    }

    pub(super) fn string(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => Err(SyntaxError::ExpectedString(self.pos)),
        }
    }

    pub(super) fn astring(&mut self) -> R<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    Err(SyntaxError::ExpectedString(self.pos))
                } else {
                    Ok(a.to_vec())
                }
            }
        }
    }

    pub(super) fn nstring(&mut self) -> R<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    pub(super) fn utf8(b: Vec<u8>) -> R<String> {
        String::from_utf8(b).map_err(|_| SyntaxError::InvalidUtf8)
    }

    pub(super) fn astring_utf8(&mut self) -> R<String> {
        let b = self.astring()?;
        Self::utf8(b)
    }

    /// A mailbox name or pattern as sent (modified UTF-7 or UTF-8), in NFC
    /// ([`crate::mailbox_name`]).
    pub(super) fn decode_name(&self, b: Vec<u8>) -> R<String> {
        let name = if !self.opts.utf8 && b.contains(&b'&') {
            decode_mutf7(&b).ok_or(SyntaxError::InvalidMutf7)?
        } else {
            String::from_utf8(b).map_err(|_| SyntaxError::InvalidUtf8MailboxName)?
        };
        Ok(nfc(&name))
    }

    pub(super) fn mailbox(&mut self) -> R<Mailbox> {
        let b = self.astring()?;
        Ok(Mailbox::new(&self.decode_name(b)?))
    }

    pub(super) fn list_mailbox(&mut self) -> R<String> {
        let b = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(SyntaxError::ExpectedPattern(self.pos));
                }
                a.to_vec()
            }
        };
        // A pattern that is not valid modified UTF-7 is taken as it is (like Dovecot):
        // it then matches only names that are spelled that way.
        match self.decode_name(b.clone()) {
            Err(SyntaxError::InvalidMutf7) => Self::utf8(b).map(|p| nfc(&p)),
            other => other,
        }
    }

    pub(super) fn flag(&mut self) -> R<Flag> {
        if self.eat(b'\\') {
            let a = self.atom()?;
            Ok(Flag::from_wire(&format!("\\{a}")))
        } else {
            Ok(Flag::Keyword(self.atom()?.to_owned()))
        }
    }

    pub(super) fn flag_list(&mut self) -> R<Vec<Flag>> {
        self.paren_list(0, Self::flag)
    }
}
