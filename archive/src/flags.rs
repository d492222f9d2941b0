//! IMAP system flags, and how maildir names and mbox headers spell them.

/// An IMAP system flag an imported or exported message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
}

impl Flag {
    /// The maildir info letter (`:2,` suffix).
    pub fn maildir_letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The flag of a maildir info letter; `None` for `P` (passed) and the others.
    pub fn from_maildir_letter(c: char) -> Option<Flag> {
        Some(match c {
            'D' => Flag::Draft,
            'F' => Flag::Flagged,
            'R' => Flag::Answered,
            'S' => Flag::Seen,
            'T' => Flag::Deleted,
            _ => return None,
        })
    }

    /// The mbox `X-Status` letter (`\Seen` goes in `Status` as `R` instead).
    pub fn x_status_letter(self) -> Option<char> {
        match self {
            Flag::Answered => Some('A'),
            Flag::Flagged => Some('F'),
            Flag::Draft => Some('T'),
            Flag::Deleted => Some('D'),
            Flag::Seen => None,
        }
    }
}

/// The keyword an mbox `X-Keywords` item means: known names without `$` get it
/// (`forwarded` → `$Forwarded`), others are lowercased; `None` for what is not an IMAP
/// atom.
pub(crate) fn keyword_of(item: &str) -> Option<String> {
    let item = item.trim();
    if item.is_empty()
        || item.len() > 200
        || item
            .bytes()
            .any(|b| b <= b' ' || b >= 0x7f || b"(){%*\"\\]".contains(&b))
    {
        return None;
    }
    let lower = item.to_ascii_lowercase();
    let known = match lower.trim_start_matches('$') {
        "forwarded" => "$Forwarded",
        "junk" => "$Junk",
        "notjunk" | "nonjunk" => "$NotJunk",
        "phishing" => "$Phishing",
        "mdnsent" => "$MDNSent",
        _ => return Some(lower),
    };
    Some(known.to_string())
}
