//! postern's IMAP wire layer, sans-I/O and without a mail store, so that a process that
//! serves IMAP before login can use it without linking the store (no tokio, no SQLite).
//!
//! - Input: [`reader`] frames client bytes into commands within the limits of
//!   [`limits`]; [`parse`] turns each into a typed [`command::Command`] or a typed
//!   [`parse::SyntaxError`]; [`state`] says which connection state each command needs.
//! - Output: [`response`] holds the typed responses ([`body`] and [`envelope`] their
//!   FETCH structures), [`encode`] writes them; [`capabilities`] lists what is offered.
//! - Values shared by both: [`types`] (flags, mailbox names, sequence sets),
//!   [`datetime`], [`mutf7`].
//! - [`mime`]: a stored message's structure (BODYSTRUCTURE, ENVELOPE), its sections and
//!   its decoded text, for FETCH and SEARCH, and its summary (sort and thread keys,
//!   preview) for SORT, THREAD and PREVIEW; [`collation`] compares those keys.
//!
//! A session feeds socket bytes to a [`reader::CommandReader`], writes what its events
//! ask for (continuations, TOOBIG replies), parses each [`reader::RawCommand`] with
//! [`parse::parse_command`] and answers with [`response::Response::to_bytes`]
//! ([`encode`]):
//!
//! ```
//! use postern_imap_proto::parse::{ParseOptions, parse_command};
//! use postern_imap_proto::reader::{CommandReader, Event};
//! use postern_imap_proto::encode::CONTINUE_LITERAL;
//!
//! let mut reader = CommandReader::default();
//! let mut out = Vec::new();
//! let mut input: &[u8] = b"a1 LOGIN {5}\r\nalice secret\r\na2 LOGIN {999999}\r\n";
//! while !input.is_empty() {
//!     let used = reader.push(input);
//!     input = &input[used..];
//!     while let Some(event) = reader.poll() {
//!         match event {
//!             Event::Continue { .. } => out.extend_from_slice(CONTINUE_LITERAL),
//!             Event::Rejected(r) => out.extend_from_slice(&r.reply), // and close if r.close
//!             Event::Command(raw) => match parse_command(&raw, ParseOptions::default()) {
//!                 Ok(cmd) => assert_eq!(cmd.body.name(), "LOGIN"),
//!                 Err(e) => out.extend_from_slice(&e.reply()),
//!             },
//!             _ => {}
//!         }
//!     }
//! }
//! assert!(String::from_utf8_lossy(&out).ends_with("a2 BAD [TOOBIG] LOGIN unrecognized \
//!     syntax/command: literal too big: max literal size 999999 is larger than allowed 102400\r\n"));
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod body;
pub mod capabilities;
mod chars;
pub mod collation;
pub mod command;
pub mod datetime;
pub mod encode;
pub mod envelope;
pub mod limits;
pub mod mailbox_name;
pub mod mime;
pub mod mutf7;
pub mod parse;
pub mod reader;
pub mod response;
pub mod state;
pub mod types;
