//! Lines the client sends outside a command: SASL responses during AUTHENTICATE and
//! the `DONE` that ends IDLE.

use super::error::SyntaxError;
use crate::types::Secret;

/// A client line during AUTHENTICATE (read with
/// [`crate::reader::CommandReader::expect_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslLine {
    /// `*`: the client cancels the exchange (answer `BAD`).
    Cancel,
    /// A base64 response, as sent (possibly empty).
    Response(Secret),
}

/// Parse a line the client sent during AUTHENTICATE.
pub fn parse_sasl_line(line: &[u8]) -> Result<SaslLine, SyntaxError> {
    if line == b"*" {
        return Ok(SaslLine::Cancel);
    }
    if line
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        Ok(SaslLine::Response(Secret(line.to_vec())))
    } else {
        Err(SyntaxError::InvalidSaslResponse)
    }
}

/// Whether a line read during IDLE is `DONE` (any case). Anything else ends the
/// connection (mox §7.2).
pub fn is_idle_done(line: &[u8]) -> bool {
    line.eq_ignore_ascii_case(b"DONE")
}
