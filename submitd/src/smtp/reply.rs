//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463).

use std::fmt;

/// Longest reply line we send, without CRLF (RFC 5321 §4.5.3.1.5 allows 512 with CRLF).
pub const MAX_REPLY_LINE: usize = 510;

/// An enhanced status code `class.subject.detail`, e.g. `5.7.8`. The class is always
/// the first digit of the reply code it goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One reply: a code, an optional enhanced code (repeated on every line) and one or more
/// lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The enhanced status code, absent only for the greeting and EHLO.
    pub enhanced: Option<EnhancedCode>,
    /// The text lines; at least one.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced code whose class is the code's first digit and
    /// whose subject and detail are given.
    pub fn new(code: u16, subject: u16, detail: u16, text: impl Into<String>) -> Reply {
        // Reply codes are 2xx..5xx, so the class fits a u8.
        let class = u8::try_from(code / 100).unwrap_or(5);
        Reply {
            code,
            enhanced: Some(EnhancedCode(class, subject, detail)),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced code (the greeting, EHLO).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines,
        }
    }

    /// Whether this reply is a 4xx or 5xx error.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The reply as sent on the wire: `CODE-text` continuation lines and a final
    /// `CODE text`, each ending in CRLF. Control characters in the text become spaces and
    /// lines are cut at [`MAX_REPLY_LINE`], so no text can break the framing.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let count = self.lines.len().max(1);
        for index in 0..count {
            let text = self.lines.get(index).map(String::as_str).unwrap_or("");
            let separator = if index + 1 == count { ' ' } else { '-' };
            let mut line = format!("{}{}", self.code, separator);
            if let Some(enhanced) = self.enhanced {
                line.push_str(&enhanced.to_string());
                line.push(' ');
            }
            for ch in text.chars() {
                if line.len() + ch.len_utf8() > MAX_REPLY_LINE {
                    break;
                }
                line.push(if ch.is_control() { ' ' } else { ch });
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(String::from_utf8_lossy(&self.to_bytes()).trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_enhanced_code() {
        let reply = Reply::new(535, 7, 8, "bad user/pass");
        assert_eq!(reply.to_bytes(), b"535 5.7.8 bad user/pass\r\n");
        assert!(reply.is_error());
    }

    #[test]
    fn multiline_and_control_characters() {
        let reply = Reply::plain(250, vec!["host".into(), "SIZE 10\r\nX".into()]);
        assert_eq!(reply.to_bytes(), b"250-host\r\n250 SIZE 10  X\r\n");
    }

    #[test]
    fn long_text_is_cut() {
        let reply = Reply::new(250, 0, 0, "x".repeat(2000));
        let bytes = reply.to_bytes();
        assert_eq!(bytes.len(), MAX_REPLY_LINE + 2);
    }
}
