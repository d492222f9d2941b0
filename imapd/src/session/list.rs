//! LIST (with LIST-EXTENDED selection and return options, LIST-STATUS and SPECIAL-USE)
//! and LSUB, and the matching of mailbox name patterns (`*` and `%`).

use std::collections::BTreeSet;

use super::connection::{End, Session};
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply};
use super::mailboxes::{DELIMITER, display_name, status_values};
use crate::store::{MailboxStatus, SpecialUse};
use postern_imap_proto::command::{ListCommand, ListReturn, ListSelect};
use postern_imap_proto::response::{Code, Data, ListData, Response};

/// Whether `name` matches `pattern`: `*` matches anything, `%` anything but the
/// delimiter. Linear in the product of the lengths (no backtracking blow-up).
pub(super) fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // reach[j]: the pattern prefix so far can match name[..j].
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut on = false;
                for j in 0..=n.len() {
                    if reach[j] {
                        on = true;
                    }
                    next[j] = on;
                    if pc == '%' && n.get(j) == Some(&DELIMITER) {
                        on = false;
                    }
                }
            }
            c => {
                for j in 0..n.len() {
                    if reach[j] && n[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[n.len()]
}

/// The full pattern of a reference and a pattern, with a leading `inbox` in any case
/// written `INBOX` (names are shown that way).
pub(super) fn full_pattern(reference: &str, pattern: &str) -> String {
    let full = format!("{reference}{pattern}");
    match full.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => {
            let rest = &full[5..];
            if rest.is_empty() || rest.starts_with(DELIMITER) {
                format!("INBOX{rest}")
            } else {
                full
            }
        }
        _ => full,
    }
}

/// One mailbox (or subscribed name) to list.
struct Entry {
    name: String,
    status: Option<MailboxStatus>,
    special_use: Option<SpecialUse>,
    exists: bool,
}

impl Session {
    /// LIST.
    pub(super) async fn list(
        &mut self,
        st: &mut MailState,
        cmd: &ListCommand,
    ) -> Result<Reply, End> {
        let patterns: Vec<String> = cmd
            .patterns
            .iter()
            .map(|p| full_pattern(&cmd.reference, p))
            .collect();
        if cmd.selection.is_empty() && patterns.iter().all(String::is_empty) {
            let data = Data::List(ListData {
                attributes: vec!["\\Noselect".into()],
                delimiter: Some(DELIMITER),
                mailbox: String::new(),
                old_name: None,
                child_info_subscribed: false,
            });
            self.send(&Response::Data(data)).await?;
            return Ok(Reply::ok("list done"));
        }
        let status_items = cmd.returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let sel_subscribed = cmd.selection.contains(&ListSelect::Subscribed);
        // RFC 5258 §3: RECURSIVEMATCH only qualifies another selection option.
        if cmd.selection.contains(&ListSelect::RecursiveMatch)
            && !cmd
                .selection
                .iter()
                .any(|o| matches!(o, ListSelect::Subscribed | ListSelect::SpecialUse))
        {
            return Ok(Reply::bad("RECURSIVEMATCH needs another selection option"));
        }
        let sel_special = cmd.selection.contains(&ListSelect::SpecialUse);
        let recursive = cmd.selection.contains(&ListSelect::RecursiveMatch);
        let ret_subscribed = sel_subscribed || cmd.returns.contains(&ListReturn::Subscribed);
        let want_status = status_items.is_some();
        let account = st.account.clone();
        let loaded = blocking(move || {
            let entries: Vec<Entry> = if want_status {
                account
                    .mailboxes_with_status()?
                    .into_iter()
                    .map(|s| Entry {
                        name: display_name(&s.mailbox.name),
                        special_use: s.mailbox.special_use,
                        status: Some(s),
                        exists: true,
                    })
                    .collect()
            } else {
                account
                    .mailboxes()?
                    .into_iter()
                    .map(|m| Entry {
                        name: display_name(&m.name),
                        special_use: m.special_use,
                        status: None,
                        exists: true,
                    })
                    .collect()
            };
            let subscribed: BTreeSet<String> = account
                .subscriptions()?
                .iter()
                .map(|s| display_name(s))
                .collect();
            Ok((entries, subscribed))
        })
        .await;
        let (mut entries, subscribed) = match loaded {
            Ok(v) => v,
            Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
        };
        if sel_subscribed {
            let mut names: BTreeSet<String> = entries.iter().map(|e| e.name.clone()).collect();
            // Subscribed names that are not mailboxes; with RECURSIVEMATCH also the
            // levels above a subscribed name that are neither (RFC 5258 §3.5).
            let mut extra: Vec<String> = subscribed.iter().cloned().collect();
            if recursive {
                for s in &subscribed {
                    extra.extend(
                        s.match_indices(DELIMITER)
                            .map(|(i, _)| s[..i].to_owned())
                            .filter(|p| !p.is_empty()),
                    );
                }
            }
            for name in extra {
                if names.insert(name.clone()) {
                    entries.push(Entry {
                        name,
                        status: None,
                        special_use: None,
                        exists: false,
                    });
                }
            }
        }
        entries.sort_by(|a, b| (a.name != "INBOX", &a.name).cmp(&(b.name != "INBOX", &b.name)));
        let all_names: BTreeSet<&str> = entries
            .iter()
            .filter(|e| e.exists)
            .map(|e| e.name.as_str())
            .collect();
        let matches = |name: &str| patterns.iter().any(|p| pattern_matches(p, name));
        let opts = self.encode_options();
        let mut out = Vec::new();
        for entry in &entries {
            if !matches(&entry.name) {
                continue;
            }
            let is_subscribed = subscribed.contains(&entry.name);
            let prefix = format!("{}{DELIMITER}", entry.name);
            // CHILDINFO (RFC 5258 §3.5): a subscribed descendant that the patterns do not
            // list itself.
            let subscribed_child = recursive
                && subscribed
                    .iter()
                    .any(|s| s.starts_with(&prefix) && !matches(s));
            if sel_subscribed && !is_subscribed && !subscribed_child {
                continue;
            }
            if sel_special && entry.special_use.is_none() {
                continue;
            }
            let mut attributes = Vec::new();
            if entry.exists {
                let children = all_names
                    .range::<str, _>((
                        std::ops::Bound::Excluded(entry.name.as_str()),
                        std::ops::Bound::Unbounded,
                    ))
                    .next()
                    .is_some_and(|n| n.starts_with(&prefix));
                attributes.push(
                    if children {
                        "\\HasChildren"
                    } else {
                        "\\HasNoChildren"
                    }
                    .to_owned(),
                );
            } else {
                attributes.push("\\NonExistent".to_owned());
            }
            if ret_subscribed && is_subscribed {
                attributes.push("\\Subscribed".to_owned());
            }
            if let Some(u) = entry.special_use {
                attributes.push(u.attribute().to_owned());
            }
            let data = Data::List(ListData {
                attributes,
                delimiter: Some(DELIMITER),
                mailbox: entry.name.clone(),
                old_name: None,
                child_info_subscribed: sel_subscribed && subscribed_child,
            });
            out.extend_from_slice(&Response::Data(data).to_bytes(opts));
            if let (Some(items), Some(status)) = (&status_items, &entry.status) {
                let data = Data::Status {
                    mailbox: entry.name.clone(),
                    items: status_values(status, items),
                };
                out.extend_from_slice(&Response::Data(data).to_bytes(opts));
            }
        }
        self.send_bytes(&out).await?;
        Ok(Reply::ok("list done"))
    }

    /// LSUB (IMAP4rev1): the subscribed names that match.
    pub(super) async fn lsub(
        &mut self,
        st: &mut MailState,
        reference: &str,
        pattern: &str,
    ) -> Result<Reply, End> {
        let pattern = full_pattern(reference, pattern);
        let account = st.account.clone();
        let loaded = blocking(move || {
            let names: BTreeSet<String> = account
                .mailboxes()?
                .iter()
                .map(|m| display_name(&m.name))
                .collect();
            Ok((account.subscriptions()?, names))
        })
        .await;
        let (subscribed, existing) = match loaded {
            Ok(v) => v,
            Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
        };
        let subscribed: BTreeSet<String> = subscribed.iter().map(|s| display_name(s)).collect();
        // What LSUB lists: the subscribed names that match, and each level above a
        // subscribed name that does not match when the level does (RFC 3501 §6.3.9:
        // `foo/bar` subscribed, LSUB "" % lists `foo`), as \Noselect unless subscribed.
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for name in &subscribed {
            if pattern_matches(&pattern, name) {
                listed.insert(name.clone());
                continue;
            }
            for (i, _) in name.match_indices(DELIMITER) {
                let level = &name[..i];
                if !level.is_empty() && pattern_matches(&pattern, level) {
                    listed.insert(level.to_owned());
                }
            }
        }
        let opts = self.encode_options();
        let mut out = Vec::new();
        for name in listed {
            let attributes = if existing.contains(&name) && subscribed.contains(&name) {
                Vec::new()
            } else {
                vec!["\\Noselect".to_owned()]
            };
            let data = Data::Lsub(ListData {
                attributes,
                delimiter: Some(DELIMITER),
                mailbox: name,
                old_name: None,
                child_info_subscribed: false,
            });
            out.extend_from_slice(&Response::Data(data).to_bytes(opts));
        }
        self.send_bytes(&out).await?;
        Ok(Reply::ok("lsub done"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(pattern_matches("*", "a/b/c"));
        assert!(pattern_matches("%", "Archive"));
        assert!(!pattern_matches("%", "a/b"));
        assert!(pattern_matches("a/%", "a/b"));
        assert!(!pattern_matches("a/%", "a/b/c"));
        assert!(pattern_matches("a*c", "a/b/c"));
        assert!(pattern_matches("INBOX", "INBOX"));
        assert!(!pattern_matches("INBOX", "INBOX/x"));
        assert!(pattern_matches("", ""));
        assert!(!pattern_matches("", "a"));
        assert!(pattern_matches("%/%", "a/b"));
        assert!(pattern_matches("*%*%*", &"x".repeat(2000)));
    }

    #[test]
    fn reference_and_inbox_case() {
        assert_eq!(full_pattern("", "inbox"), "INBOX");
        assert_eq!(full_pattern("Inbox/", "%"), "INBOX/%");
        assert_eq!(full_pattern("", "inboxes"), "inboxes");
        assert_eq!(full_pattern("Archive/", "*"), "Archive/*");
    }
}
