//! The IMAP protocol layer, sans-I/O: input framing with limits ([`reader`]), the
//! command parser ([`parse`]) into typed commands ([`command`]), and the response
//! encoder ([`response`], [`body`]). Every limit is a named constant in [`limits`].
//!
//! A session feeds socket bytes to a [`reader::CommandReader`], writes what its events
//! ask for (continuations, TOOBIG replies), parses each [`reader::RawCommand`] with
//! [`parse::parse_command`] and answers with [`response::Response::to_bytes`]:
//!
//! ```
//! use postern_imapd::protocol::parse::{ParseOptions, parse_command};
//! use postern_imapd::protocol::reader::{CommandReader, Event};
//! use postern_imapd::protocol::response::CONTINUE_LITERAL;
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

pub mod body;
pub mod capabilities;
pub mod command;
pub mod limits;
pub mod parse;
pub mod reader;
pub mod response;
pub mod types;
