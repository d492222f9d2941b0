//! SEARCH and UID SEARCH: walks the selected messages in batches on a blocking thread,
//! loading content only when a key needs it ([`super::search`] evaluates the keys), and
//! answers with `* SEARCH` (IMAP4rev1) or `* ESEARCH` (RETURN options, IMAP4rev2),
//! saving the result for `$` with RETURN (SAVE).

use super::connection::{End, Session};
use super::content::read_content;
use super::mail_access::blocking;
use super::mail_session::{MailState, Reply, Selected, unix_now};
use super::search::{
    SearchMessage, SearchScope, esearch_data, header_suffices, matches, modseq_basis,
    needs_content, saved_result,
};
use super::view::uid_ranges;
use crate::store::{Account, MailboxId, StoreError};
use postern_imap_proto::command::{SearchCommand, SearchKey, SearchReturn};
use postern_imap_proto::response::{Code, Data, Response};

/// Most messages whose index entries are loaded at once.
const BATCH_MESSAGES: usize = 1024;

/// Whether the search has a MODSEQ key (then the result carries a MODSEQ, RFC 7162).
fn has_modseq_key(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => has_modseq_key(k),
        SearchKey::Or(a, b) => has_modseq_key(a) || has_modseq_key(b),
        SearchKey::And(keys) => keys.iter().any(has_modseq_key),
        _ => false,
    }
}

/// One batch of a search.
struct SearchJob {
    account: Account,
    mailbox: MailboxId,
    /// UIDs by sequence number (the whole view).
    view: std::sync::Arc<Vec<u32>>,
    /// Index range of `view` to search.
    range: std::ops::Range<usize>,
    key: std::sync::Arc<SearchKey>,
    saved: std::sync::Arc<Vec<u32>>,
    now: i64,
}

/// Matches of one batch: (sequence number, UID, modseq).
fn search_batch(job: SearchJob) -> Result<Vec<(u32, u32, u64)>, StoreError> {
    let uids = job.view.get(job.range.clone()).unwrap_or_default();
    let infos = job.account.messages(job.mailbox, &uid_ranges(uids))?;
    let with_content = needs_content(&job.key);
    let header_only = header_suffices(&job.key);
    let scope = SearchScope {
        max_seq: u32::try_from(job.view.len()).unwrap_or(u32::MAX),
        max_uid: job.view.last().copied().unwrap_or(0),
        saved: &job.saved,
        now: job.now,
    };
    let mut out = Vec::new();
    for info in &infos {
        let Ok(index) = job.view.binary_search(&info.uid) else {
            continue;
        };
        let Ok(seq) = u32::try_from(index + 1) else {
            continue;
        };
        let content = if with_content {
            match read_content(&job.account, info, header_only) {
                Some(c) => Some(c),
                None => continue,
            }
        } else {
            None
        };
        let msg = SearchMessage {
            seq,
            info,
            content: content.as_deref(),
        };
        if matches(&job.key, &msg, &scope) {
            out.push((seq, info.uid, info.modseq));
        }
    }
    Ok(out)
}

impl Session {
    /// SEARCH / UID SEARCH.
    pub(super) async fn search(
        &mut self,
        st: &mut MailState,
        sel: &mut Selected,
        tag: &str,
        cmd: SearchCommand,
    ) -> Result<Reply, End> {
        if let Some(charset) = &cmd.charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            return Ok(Reply::no(
                Some(Code::BadCharset(vec!["UTF-8".into()])),
                "unsupported charset",
            ));
        }
        let key = SearchKey::And(cmd.criteria);
        let with_modseq = has_modseq_key(&key);
        if with_modseq {
            self.enable_condstore(st, Some(sel)).await?;
        }
        let enabled = st.enabled;
        let account = st.account.clone();
        let view = std::sync::Arc::new(sel.view.uids().to_vec());
        let key = std::sync::Arc::new(key);
        let saved = std::sync::Arc::new(sel.saved.clone());
        let now = unix_now();
        let mut found: Vec<(u32, u32, u64)> = Vec::new();
        let mut start = 0;
        while start < view.len() {
            let end = (start + BATCH_MESSAGES).min(view.len());
            let job = SearchJob {
                account: account.clone(),
                mailbox: sel.id,
                view: view.clone(),
                range: start..end,
                key: key.clone(),
                saved: saved.clone(),
                now,
            };
            match blocking(move || search_batch(job)).await {
                Ok(m) => found.extend(m),
                Err(e) => return Ok(Reply::failure(&e, Code::NonExistent)),
            }
            start = end;
        }
        let numbers: Vec<u32> = found
            .iter()
            .map(|&(seq, uid, _)| if cmd.uid { uid } else { seq })
            .collect();
        let modseq_of = |basis: &[u32]| {
            let mut basis = basis.to_vec();
            basis.sort_unstable();
            found
                .iter()
                .filter(|&&(seq, uid, _)| {
                    basis
                        .binary_search(if cmd.uid { &uid } else { &seq })
                        .is_ok()
                })
                .map(|f| f.2)
                .max()
        };
        let returns = cmd.returns.clone();
        if let Some(returns) = &returns
            && returns.contains(&SearchReturn::Save)
        {
            let saved_numbers = saved_result(&numbers, returns);
            sel.saved = if cmd.uid {
                saved_numbers
            } else {
                saved_numbers
                    .iter()
                    .filter_map(|&seq| sel.view.uid_at(seq))
                    .collect()
            };
        }
        let data = match returns {
            None if !enabled.rev2 => Some(Data::Search {
                mod_seq: if with_modseq {
                    modseq_of(&numbers)
                } else {
                    None
                },
                ids: numbers,
            }),
            returns => {
                let returns = returns.unwrap_or_default();
                let only_save =
                    !returns.is_empty() && returns.iter().all(|r| *r == SearchReturn::Save);
                if only_save {
                    None
                } else {
                    let modseq = if with_modseq {
                        modseq_of(&modseq_basis(&numbers, &returns))
                    } else {
                        None
                    };
                    Some(Data::Esearch(esearch_data(
                        tag, cmd.uid, &numbers, &returns, modseq,
                    )))
                }
            }
        };
        if let Some(data) = data {
            self.send(&Response::Data(data)).await?;
        }
        Ok(Reply::ok("search done"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modseq_keys_are_found_anywhere() {
        let modseq = SearchKey::ModSeq {
            entry: None,
            mod_seq: 5,
        };
        assert!(has_modseq_key(&SearchKey::And(vec![
            SearchKey::Seen,
            SearchKey::Not(Box::new(modseq.clone()))
        ])));
        assert!(has_modseq_key(&SearchKey::Or(
            Box::new(SearchKey::All),
            Box::new(modseq)
        )));
        assert!(!has_modseq_key(&SearchKey::And(vec![SearchKey::Seen])));
    }
}
