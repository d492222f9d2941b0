//! The parser's cursor over one command's text: single tokens (characters, keywords,
//! atoms, numbers) and parenthesised lists, the building blocks of every grammar area.

use super::error::SyntaxError;
use crate::chars::is_atom_char;
use crate::reader::MessageLiteral;

/// How to interpret client strings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// The client enabled IMAP4rev2 or UTF8=ACCEPT: mailbox names are UTF-8. Otherwise
    /// they are modified UTF-7 (raw UTF-8 is still accepted).
    pub utf8: bool,
}

/// The result of one grammar rule.
pub(super) type R<T> = Result<T, SyntaxError>;

/// A recursive-descent parser over one command.
pub(super) struct Parser<'a> {
    /// The command text.
    pub(super) s: &'a [u8],
    /// The next byte to read.
    pub(super) pos: usize,
    /// APPEND message literals the reader streamed, in order.
    pub(super) messages: &'a [MessageLiteral],
    /// How many of `messages` the command has used.
    pub(super) next_message: usize,
    /// How to read mailbox names.
    pub(super) opts: ParseOptions,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `s`.
    pub(super) fn new(s: &'a [u8], messages: &'a [MessageLiteral], opts: ParseOptions) -> Self {
        Parser {
            s,
            pos: 0,
            messages,
            next_message: 0,
            opts,
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(super) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, b: u8) -> R<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(SyntaxError::Expected {
                expected: char::from(b),
                position: self.pos,
            })
        }
    }

    pub(super) fn sp(&mut self) -> R<()> {
        self.expect(b' ')
    }

    pub(super) fn end(&self) -> R<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(SyntaxError::TrailingData(self.pos))
        }
    }

    /// Case-insensitive keyword, not followed by an atom character.
    pub(super) fn eat_word(&mut self, w: &str) -> bool {
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

    pub(super) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    pub(super) fn atom(&mut self) -> R<&'a str> {
        let start = self.pos;
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(SyntaxError::ExpectedAtom(start));
        }
        // Atom characters are ASCII, so this never fails.
        std::str::from_utf8(a).map_err(|_| SyntaxError::ExpectedAtom(start))
    }

    pub(super) fn upper_atom(&mut self) -> R<String> {
        Ok(self.atom()?.to_ascii_uppercase())
    }

    pub(super) fn number(&mut self) -> R<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err(SyntaxError::ExpectedNumber(self.pos));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(SyntaxError::NumberTooLarge)
    }

    pub(super) fn nz_number(&mut self) -> R<u32> {
        match self.number()? {
            0 => Err(SyntaxError::ZeroNumber),
            n => Ok(n),
        }
    }

    pub(super) fn number64(&mut self) -> R<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return Err(SyntaxError::ExpectedNumber(self.pos));
        }
        std::str::from_utf8(d)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or(SyntaxError::NumberTooLarge)
    }

    /// A parenthesised, space-separated list of at least `min` items.
    pub(super) fn paren_list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
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
            return Err(SyntaxError::EmptyList);
        }
        Ok(v)
    }
}
