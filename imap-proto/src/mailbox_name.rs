//! The Unicode rule for mailbox names, in one place: a name is taken in Unicode
//! normalisation form C (as login names are), so that `café` typed as `e` + U+0301 and
//! as U+00E9 is one mailbox; a name holding a bidirectional control character, or whose
//! first level only looks like INBOX (fullwidth `ＩＮＢＯＸ`, dotted `İNBOX`, Cyrillic or
//! Greek letters), is refused, since a reader could not tell it from what it imitates.
//!
//! The parser puts every decoded mailbox name and LIST pattern through [`nfc`]; the mail
//! store checks every name it is given with [`check_mailbox_name`].

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Why a mailbox name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MailboxNameProblem {
    /// The name holds a bidirectional control character (U+061C, U+200E, U+200F,
    /// U+202A to U+202E, U+2066 to U+2069).
    #[error("bidirectional control character")]
    BidiControl,
    /// The name's first level looks like INBOX but is not INBOX.
    #[error("looks like INBOX but is not INBOX")]
    InboxLookalike,
}

impl MailboxNameProblem {
    /// A short text for the refusal.
    pub fn reason(self) -> &'static str {
        match self {
            MailboxNameProblem::BidiControl => "bidirectional control character",
            MailboxNameProblem::InboxLookalike => "looks like INBOX but is not INBOX",
        }
    }
}

/// `name` in normalisation form C.
pub fn nfc(name: &str) -> String {
    name.nfc().collect()
}

/// `name` in normalisation form C, or why it is refused.
pub fn check_mailbox_name(name: &str) -> Result<String, MailboxNameProblem> {
    if name.chars().any(is_bidi_control) {
        return Err(MailboxNameProblem::BidiControl);
    }
    let name = nfc(name);
    let first = name.split('/').next().unwrap_or_default();
    if !first.eq_ignore_ascii_case("INBOX") && skeleton(first) == "inbox" {
        return Err(MailboxNameProblem::InboxLookalike);
    }
    Ok(name)
}

/// The bidirectional formatting characters (Unicode's `Bidi_Control` property).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// What `text` looks like: compatibility-decomposed (fullwidth letters become ASCII),
/// without combining marks (dotted İ becomes I), with the Cyrillic and Greek letters that
/// look like Latin ones in INBOX replaced by them, lower case.
fn skeleton(text: &str) -> String {
    text.nfkd()
        .filter(|&c| !is_combining_mark(c))
        .map(|c| match c {
            'ı' | 'І' | 'і' | 'Ι' | 'ι' | 'Ӏ' => 'i',
            'Ν' | 'ո' => 'n',
            'В' | 'Β' | 'Ь' => 'b',
            'О' | 'о' | 'Ο' | 'ο' | 'Օ' | 'օ' => 'o',
            'Х' | 'х' | 'Χ' | 'χ' => 'x',
            other => other,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_taken_in_nfc() {
        assert_eq!(
            check_mailbox_name("cafe\u{301}"),
            Ok("caf\u{e9}".to_string())
        );
        assert_eq!(
            check_mailbox_name("caf\u{e9}/x"),
            Ok("caf\u{e9}/x".to_string())
        );
        assert_eq!(nfc("A\u{30a}"), "\u{c5}");
    }

    #[test]
    fn inbox_lookalikes_are_refused() {
        for name in [
            "\u{ff29}\u{ff2e}\u{ff22}\u{ff2f}\u{ff38}",
            "\u{130}NBOX",
            "I\u{307}NBOX/Sub",
            "\u{406}NBOX",
            "INB\u{41e}X",
            "\u{131}nbox",
        ] {
            assert_eq!(
                check_mailbox_name(name),
                Err(MailboxNameProblem::InboxLookalike),
                "{name}"
            );
        }
        for name in ["INBOX", "inbox/Sub", "Inboxes", "Archive/INBOX"] {
            assert!(check_mailbox_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn bidi_controls_are_refused() {
        for name in ["evil\u{202e}txt", "\u{2066}x", "a\u{200f}"] {
            assert_eq!(
                check_mailbox_name(name),
                Err(MailboxNameProblem::BidiControl)
            );
        }
        // Right-to-left letters themselves are fine.
        assert!(check_mailbox_name("\u{5d0}\u{5d1}").is_ok());
    }
}
