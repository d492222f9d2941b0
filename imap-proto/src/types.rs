//! Values shared by commands and responses: flags, secrets, mailbox names, sequence
//! sets.

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

#[cfg(test)]
mod tests {
    use super::*;

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
