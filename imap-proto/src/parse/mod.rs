//! The command parser: a [`RawCommand`] from the reader into a typed [`Command`].
//!
//! Hand-written recursive descent over RFC 9051 / RFC 3501 grammar plus the extensions
//! postern serves, one module per grammar area: tokens and lists ([`cursor`]), strings,
//! mailbox names and flags ([`strings`]), sequence sets ([`sequence`]), dates
//! ([`dates`]), search keys ([`search`]), fetch items ([`fetch`]) and the command
//! dispatcher with the remaining commands' arguments ([`commands`]). It never panics;
//! every failure is a [`ParseError`] carrying a typed [`SyntaxError`] whose text fits
//! `<tag> BAD <text>`.

mod commands;
mod cursor;
mod dates;
mod error;
mod fetch;
mod lines;
mod search;
mod sequence;
mod strings;
#[cfg(test)]
mod tests;

pub use cursor::ParseOptions;
pub use error::{ParseError, ParseErrorKind, SyntaxError};
pub use lines::{SaslLine, is_idle_done, parse_sasl_line};

use crate::command::Command;
use crate::reader::RawCommand;
use crate::types::Mailbox;
use cursor::Parser;

/// Parse one command.
pub fn parse_command(raw: &RawCommand, opts: ParseOptions) -> Result<Command, ParseError> {
    let mut p = Parser::new(&raw.bytes, &raw.messages, opts);
    let tag = p.tag().map_err(|error| ParseError { tag: None, error })?;
    match p.command_body() {
        Ok(body) => Ok(Command { tag, body }),
        Err(error) => Err(ParseError {
            tag: Some(tag),
            error,
        }),
    }
}

/// The mailbox of an APPEND command from its text up to its first message literal
/// ([`crate::reader::CommandReader::command_so_far`]), or `None` when that text is not
/// the start of an APPEND.
pub fn append_mailbox(partial: &[u8], opts: ParseOptions) -> Option<Mailbox> {
    let mut p = Parser::new(partial, &[], opts);
    if p.tag().is_err() || p.sp().is_err() || !p.eat_word("APPEND") || p.sp().is_err() {
        return None;
    }
    p.mailbox().ok()
}
