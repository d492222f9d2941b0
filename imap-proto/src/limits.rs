//! Every input limit of the IMAP wire layer, as named constants: what the reader
//! buffers of a command, how deep the parser follows search keys, how much of a
//! message's MIME structure is parsed.
//!
//! The reader's numbers follow mox (see `shared/reference/mox-behaviour.md` §7).

/// Longest command line segment (the bytes between two literals, or a whole command
/// without literals), including its CRLF: 16 KiB, as mox. A longer line closes the
/// connection without a response (mox §7.2).
pub const MAX_LINE: usize = 16 * 1024;

/// Largest literal outside APPEND message data: 100 KiB (102,400 bytes).
pub const MAX_LITERAL: u64 = 100 * 1024;

/// Largest total of all literals (outside APPEND message data) in one command:
/// 1,024,000 bytes (10 × 100 KiB), as mox.
pub const MAX_LITERAL_TOTAL: u64 = 1_024_000;

/// Most literals in one command (APPEND message literals included): 1000.
pub const MAX_LITERALS: usize = 1000;

/// Largest total of the non-literal text of one command (all its line segments).
///
/// Not a mox limit: it bounds the buffer of a command with many literals, which could
/// otherwise hold `MAX_LITERALS` lines of `MAX_LINE` bytes. Going over it is treated
/// like an over-long line.
pub const MAX_COMMAND_TEXT: usize = 64 * 1024;

/// Largest non-synchronising literal a LITERAL- server accepts (RFC 7888 §4).
pub const MAX_LITERAL_MINUS: u64 = 4096;

/// Largest APPEND message (advertised as `APPENDLIMIT=`): 100 MiB. APPEND message data
/// is never buffered whole: it is handed to the caller in chunks.
pub const APPEND_LIMIT: u64 = 100 * 1024 * 1024;

/// Largest chunk of APPEND message data handed out in one event.
pub const MESSAGE_CHUNK: usize = 64 * 1024;

/// Deepest nesting of search keys (`NOT`, `OR`, parentheses) accepted.
pub const MAX_SEARCH_DEPTH: usize = 64;

/// Deepest nesting of multiparts and message/rfc822 parts that is parsed; a part below
/// this depth is described as an opaque single part.
pub const MAX_MIME_DEPTH: usize = 20;

/// Most parts parsed in one message; further parts of a multipart are ignored.
pub const MAX_MIME_PARTS: usize = 10_000;

/// The bytes at the start of a message that its summary (sort and thread keys, preview;
/// [`crate::mime::summary`]) is computed from: its header and its first text part are
/// there in every message that matters, and computing it never holds more.
pub const MAX_SUMMARY_SCAN: usize = 256 * 1024;

/// Longest ID field name (RFC 2971 §3.3: 30 octets).
pub const MAX_ID_FIELD: usize = 30;

/// Longest ID value (RFC 2971 §3.3: 1024 octets).
pub const MAX_ID_VALUE: usize = 1024;

/// Most field-value pairs in one ID command (RFC 2971 §3.3: 30).
pub const MAX_ID_PAIRS: usize = 30;
