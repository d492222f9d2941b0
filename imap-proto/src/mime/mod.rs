//! MIME parsing for FETCH: the structure of a stored message (BODYSTRUCTURE, BODY,
//! ENVELOPE) and the bytes of a section (`BODY[section]<partial>`, `BINARY[part]`); its
//! decoded text for SEARCH ([`text`]); its summary for SORT, THREAD and PREVIEW
//! ([`summary`]).
//!
//! A small hand-written parser that works on byte offsets into the raw message, so sizes,
//! line counts and section bytes are exact. It never fails: malformed input (missing
//! boundaries, broken headers, 8-bit junk, deep nesting) still yields a best-effort
//! structure. Nesting deeper than [`crate::limits::MAX_MIME_DEPTH`] is described as an
//! opaque part.

mod section;
mod structure;
pub mod summary;
#[cfg(test)]
mod tests;
pub mod text;

pub use section::{BinaryError, SectionError, apply_partial, binary, section};
pub use structure::ParsedMessage;
