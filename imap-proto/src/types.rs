//! Values shared by commands and responses: flags, mailbox names, sequence sets.

use std::fmt;

/// A message flag or keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Draft`.
    Draft,
    /// `\Recent` (rev1, only in responses).
    Recent,
    /// Any other `\Name` flag.
    Extension(String),
    /// A keyword (atom), as sent.
    Keyword(String),
}

impl Flag {
    /// Interpret a flag as written on the wire (`\Seen`, `$Forwarded`, ...).
    pub fn from_wire(s: &str) -> Flag {
        if let Some(name) = s.strip_prefix('\\') {
            match name.to_ascii_lowercase().as_str() {
                "seen" => Flag::Seen,
                "answered" => Flag::Answered,
                "flagged" => Flag::Flagged,
                "deleted" => Flag::Deleted,
                "draft" => Flag::Draft,
                "recent" => Flag::Recent,
                _ => Flag::Extension(name.to_owned()),
            }
        } else {
            Flag::Keyword(s.to_owned())
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Extension(n) => write!(f, "\\{n}"),
            Flag::Keyword(k) => f.write_str(k),
        }
    }
}

/// Bytes that must not appear in logs (passwords, SASL responses): `Debug` prints
/// only their length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub Vec<u8>);

impl Secret {
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes>)", self.0.len())
    }
}

/// A mailbox name, decoded to UTF-8 (from modified UTF-7 for IMAP4rev1 clients).
/// `INBOX` in any case is normalised to `INBOX`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(String);

impl Mailbox {
    /// A mailbox from a decoded UTF-8 name; `inbox` in any case becomes `INBOX`.
    pub fn new(name: &str) -> Mailbox {
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox("INBOX".to_owned())
        } else {
            Mailbox(name.to_owned())
        }
    }

    /// The UTF-8 name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the INBOX.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

/// One end of a sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A number (non-zero).
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

/// A sequence set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSet {
    /// Ranges (a single number is a range with equal ends).
    Ranges(Vec<(SeqNum, SeqNum)>),
    /// `$`: the saved search result (SEARCHRES, RFC 5182).
    Saved,
}

impl SequenceSet {
    /// Whether `uid` is in the set taken as UIDs, with `*` as any UID up to the largest
    /// (`$`, whose UIDs the session holds, contains nothing here).
    pub fn contains_uid(&self, uid: u32) -> bool {
        match self {
            SequenceSet::Saved => false,
            SequenceSet::Ranges(ranges) => ranges.iter().any(|&(a, b)| {
                let value = |n| match n {
                    SeqNum::Value(v) => v,
                    SeqNum::Star => u32::MAX,
                };
                let (a, b) = (value(a), value(b));
                (a.min(b)..=a.max(b)).contains(&uid)
            }),
        }
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, n: SeqNum) -> fmt::Result {
    match n {
        SeqNum::Value(v) => write!(f, "{v}"),
        SeqNum::Star => f.write_str("*"),
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceSet::Saved => f.write_str("$"),
            SequenceSet::Ranges(r) => {
                for (i, &(a, b)) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_seq(f, a)?;
                    if a != b {
                        f.write_str(":")?;
                        write_seq(f, b)?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Decode a modified UTF-7 mailbox name (RFC 3501 §5.1.3). `None` when invalid.
pub fn decode_mutf7(s: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let end = i + 1 + s[i + 1..].iter().position(|&c| c == b'-')?;
        let enc = &s[i + 1..end];
        i = end + 1;
        if enc.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        for &c in enc {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b',' => 63,
                _ => return None,
            };
            bits = (bits << 6) | u32::from(v);
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
            }
        }
        // Leftover bits must be zero padding of less than 6 bits.
        if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 {
            return None;
        }
        let decoded = String::from_utf16(&units).ok()?;
        // Printable ASCII must not be encoded.
        if decoded.is_empty() || decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return None;
        }
        out.push_str(&decoded);
    }
    Some(out)
}

/// Encode a UTF-8 mailbox name as modified UTF-7 (for IMAP4rev1 clients).
pub fn encode_mutf7(s: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let mut bits: u32 = 0;
        let mut nbits = 0;
        for &u in pending.iter() {
            bits = (bits << 16) | u32::from(u);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(char::from(B64[((bits >> nbits) & 63) as usize]));
            }
        }
        if nbits > 0 {
            out.push(char::from(B64[((bits << (6 - nbits)) & 63) as usize]));
        }
        out.push('-');
        pending.clear();
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_round_trip() {
        for (enc, dec) in [
            ("INBOX", "INBOX"),
            ("&-", "&"),
            ("Entw&APw-rfe", "Entwürfe"),
            ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        ] {
            assert_eq!(decode_mutf7(enc.as_bytes()).as_deref(), Some(dec));
            assert_eq!(encode_mutf7(dec), enc);
        }
        assert_eq!(decode_mutf7(b"&AGE-"), None, "encoded ASCII");
        assert_eq!(decode_mutf7(b"&U,BTFw"), None, "unterminated");
        assert_eq!(decode_mutf7(b"&*-"), None);
    }

    #[test]
    fn uid_sets() {
        let set = SequenceSet::Ranges(vec![
            (SeqNum::Value(1), SeqNum::Value(3)),
            (SeqNum::Value(10), SeqNum::Star),
        ]);
        assert!(set.contains_uid(2));
        assert!(!set.contains_uid(5));
        assert!(set.contains_uid(4_000_000));
        assert!(!SequenceSet::Saved.contains_uid(1));
    }
}
