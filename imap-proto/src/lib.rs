//! postern's IMAP wire layer, sans-I/O and without a mail store: input framing with
//! limits ([`reader`]), the command parser ([`parse`]) into typed commands
//! ([`command`]), the response encoder ([`response`], [`body`]) and the MIME structure
//! of messages for FETCH and SEARCH ([`mime`]). Every limit is a named constant in
//! [`limits`]. It links no store, no async runtime and no database, so that a process
//! that serves IMAP before login can use it.
//!
//! A session feeds socket bytes to a [`reader::CommandReader`], writes what its events
//! ask for (continuations, TOOBIG replies), parses each [`reader::RawCommand`] with
//! [`parse::parse_command`] and answers with [`response::Response::to_bytes`]:
//!
//! ```
//! use postern_imap_proto::parse::{ParseOptions, parse_command};
//! use postern_imap_proto::reader::{CommandReader, Event};
//! use postern_imap_proto::response::CONTINUE_LITERAL;
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
pub mod command;
pub mod limits;
pub mod mime;
pub mod parse;
pub mod reader;
pub mod response;
pub mod types;
