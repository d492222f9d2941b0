//! Maildir names: mailboxes from directory paths (plain hierarchies and Maildir++ dot
//! folders), flags and received times from file names, `dovecot-keywords`.

use crate::flags::Flag;
use crate::limits::MAX_MAILBOX_NAME_BYTES;
use postern_imap_proto::mutf7::decode_mutf7;

/// Whether a directory name is one of a maildir's `new`, `cur`, `tmp`.
pub(crate) fn is_maildir_subdir(name: &str) -> bool {
    matches!(name, "new" | "cur" | "tmp")
}

/// Files of mail programs that carry no mail and are skipped without a problem.
pub(crate) fn is_ignored_file(name: &str) -> bool {
    name.starts_with("dovecot")
        || name.starts_with("courierimap")
        || matches!(name, "maildirfolder" | "subscriptions" | "maildirsize")
}

/// The mailbox of a maildir directory (the parts above `new`/`cur`/`tmp`): none is
/// the inbox; a last part `.A.B` is the Maildir++ folder `A/B` (modified UTF-7);
/// otherwise the parts are the hierarchy.
pub(crate) fn mailbox_of(dir: &[&str]) -> Result<String, String> {
    let Some(last) = dir.last() else {
        return Ok("Inbox".into());
    };
    if let Some(folder) = last.strip_prefix('.').filter(|f| !f.is_empty()) {
        // Folders of servers that keep names in UTF-8 are taken as they are.
        let decoded = if folder.is_ascii() {
            decode_mutf7(folder.as_bytes())
                .ok_or_else(|| format!("Maildir++ folder {last:?} is not modified UTF-7"))?
        } else {
            folder.to_string()
        };
        return checked_name(&decoded.replace('.', "/"));
    }
    checked_name(&dir.join("/"))
}

/// A mailbox name as imported: parts non-empty, no control characters, not too long;
/// a first part of "inbox" in any case is `Inbox`.
pub(crate) fn checked_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Ok("Inbox".into());
    }
    if name.len() > MAX_MAILBOX_NAME_BYTES {
        return Err("mailbox name too long".into());
    }
    if name.split('/').any(str::is_empty) {
        return Err(format!("mailbox name {name:?} has an empty part"));
    }
    if name.chars().any(|c| c.is_control() || c == '*' || c == '%') {
        return Err(format!(
            "mailbox name {name:?} has a control or wildcard character"
        ));
    }
    Ok(match name.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("inbox") => format!("Inbox/{rest}"),
        None if name.eq_ignore_ascii_case("inbox") => "Inbox".into(),
        _ => name.to_string(),
    })
}

/// What a maildir file name says about its message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MaildirName {
    /// Flags from the `:2,` info.
    pub(crate) flags: Vec<Flag>,
    /// Keyword letters `a`–`z` from the info.
    pub(crate) letters: Vec<char>,
    /// The leading unix seconds of the name.
    pub(crate) received: Option<i64>,
}

/// Parses `<seconds>.<unique>[:2,<info>]` (also `!2,`, as on file systems without `:`).
pub(crate) fn parse_name(name: &str) -> MaildirName {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    let received = (!digits.is_empty() && name[digits.len()..].starts_with('.'))
        .then(|| digits.parse::<i64>().ok())
        .flatten()
        .filter(|t| (0..=253_402_300_799).contains(t));
    let info = name
        .rfind(":2,")
        .or_else(|| name.rfind("!2,"))
        .map(|i| &name[i + 3..])
        .unwrap_or_default();
    let mut flags = Vec::new();
    let mut letters = Vec::new();
    for c in info.chars() {
        if let Some(flag) = Flag::from_maildir_letter(c) {
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        } else if c.is_ascii_lowercase() && !letters.contains(&c) {
            letters.push(c);
        }
    }
    MaildirName {
        flags,
        letters,
        received,
    }
}

/// The keyword of each letter (`0 $Forwarded` → `a`), and the lines that did not
/// parse.
pub(crate) fn parse_keywords_file(text: &str) -> (Vec<Option<String>>, Vec<String>) {
    let mut letters = vec![None; 26];
    let mut bad = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let parsed = line.split_once(' ').and_then(|(n, k)| {
            let n: usize = n.parse().ok().filter(|n| *n < 26)?;
            let k = crate::flags::keyword_of(k)?;
            Some((n, k))
        });
        match parsed {
            Some((n, k)) => letters[n] = Some(k),
            None => bad.push(line.chars().take(100).collect()),
        }
    }
    (letters, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_of_paths() {
        assert_eq!(mailbox_of(&[]).unwrap(), "Inbox");
        assert_eq!(mailbox_of(&["Lists", "Rust"]).unwrap(), "Lists/Rust");
        assert_eq!(mailbox_of(&["Maildir", ".Sent"]).unwrap(), "Sent");
        assert_eq!(mailbox_of(&[".Entw&APw-rfe.Alt"]).unwrap(), "Entwürfe/Alt");
        assert_eq!(mailbox_of(&[".Entwürfe.Alt"]).unwrap(), "Entwürfe/Alt");
        assert_eq!(mailbox_of(&["INBOX", "x"]).unwrap(), "Inbox/x");
        assert!(mailbox_of(&[".&bad"]).is_err());
        assert!(mailbox_of(&["a*"]).is_err());
    }

    #[test]
    fn names_give_flags_letters_and_time() {
        let n = parse_name("1700000000.M1P2.host:2,FRSab");
        assert_eq!(n.received, Some(1_700_000_000));
        assert_eq!(n.flags, [Flag::Flagged, Flag::Answered, Flag::Seen]);
        assert_eq!(n.letters, ['a', 'b']);
        let n = parse_name("nonsense");
        assert_eq!(n, MaildirName::default());
        assert_eq!(parse_name("12.x!2,T").flags, [Flag::Deleted]);
    }

    #[test]
    fn keywords_files() {
        let (letters, bad) = parse_keywords_file("0 $Forwarded\n1 Project\nbogus\n30 x\n");
        assert_eq!(letters[0].as_deref(), Some("$Forwarded"));
        assert_eq!(letters[1].as_deref(), Some("project"));
        assert_eq!(bad, ["bogus", "30 x"]);
    }
}
