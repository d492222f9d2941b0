//! SEARCH / UID SEARCH: return options, charset and search keys.

use super::cursor::{Parser, R};
use super::error::SyntaxError;
use crate::command::{SearchCommand, SearchKey, SearchReturn};
use crate::limits::MAX_SEARCH_DEPTH;

impl Parser<'_> {
    pub(super) fn search(&mut self, uid: bool) -> R<SearchCommand> {
        self.sp()?;
        let mut returns = None;
        if self.eat_word("RETURN") {
            self.sp()?;
            returns = Some(self.paren_list(0, |p| {
                Ok(match p.upper_atom()?.as_str() {
                    "MIN" => SearchReturn::Min,
                    "MAX" => SearchReturn::Max,
                    "ALL" => SearchReturn::All,
                    "COUNT" => SearchReturn::Count,
                    "SAVE" => SearchReturn::Save,
                    o => return Err(SyntaxError::UnknownSearchReturn(o.to_owned())),
                })
            })?);
            self.sp()?;
        }
        let mut charset = None;
        if self.eat_word("CHARSET") {
            self.sp()?;
            charset = Some(self.astring_utf8()?);
            self.sp()?;
        }
        let mut criteria = vec![self.search_key(0)?];
        while self.eat(b' ') {
            criteria.push(self.search_key(0)?);
        }
        Ok(SearchCommand {
            uid,
            returns,
            charset,
            criteria,
        })
    }

    fn search_key(&mut self, depth: usize) -> R<SearchKey> {
        if depth > MAX_SEARCH_DEPTH {
            return Err(SyntaxError::SearchTooDeep);
        }
        match self.peek() {
            Some(b'(') => {
                return Ok(SearchKey::And(
                    self.paren_list(1, |p| p.search_key(depth + 1))?,
                ));
            }
            Some(b'0'..=b'9' | b'*' | b'$') => {
                return Ok(SearchKey::SequenceSet(self.sequence_set()?));
            }
            _ => {}
        }
        let key = self.upper_atom()?;
        macro_rules! arg {
            ($f:ident) => {{
                self.sp()?;
                self.$f()?
            }};
        }
        Ok(match key.as_str() {
            "ALL" => SearchKey::All,
            "ANSWERED" => SearchKey::Answered,
            "BCC" => SearchKey::Bcc(arg!(astring_utf8)),
            "BEFORE" => SearchKey::Before(arg!(date)),
            "BODY" => SearchKey::Body(arg!(astring_utf8)),
            "CC" => SearchKey::Cc(arg!(astring_utf8)),
            "DELETED" => SearchKey::Deleted,
            "DRAFT" => SearchKey::Draft,
            "FLAGGED" => SearchKey::Flagged,
            "FROM" => SearchKey::From(arg!(astring_utf8)),
            "HEADER" => {
                let f = arg!(astring_utf8);
                SearchKey::Header(f, arg!(astring_utf8))
            }
            "KEYWORD" => SearchKey::Keyword(arg!(atom).to_owned()),
            "LARGER" => SearchKey::Larger(arg!(number64)),
            "NEW" => SearchKey::New,
            "NOT" => {
                self.sp()?;
                SearchKey::Not(Box::new(self.search_key(depth + 1)?))
            }
            "OLD" => SearchKey::Old,
            "ON" => SearchKey::On(arg!(date)),
            "OR" => {
                self.sp()?;
                let a = self.search_key(depth + 1)?;
                self.sp()?;
                let b = self.search_key(depth + 1)?;
                SearchKey::Or(Box::new(a), Box::new(b))
            }
            "RECENT" => SearchKey::Recent,
            "SEEN" => SearchKey::Seen,
            "SENTBEFORE" => SearchKey::SentBefore(arg!(date)),
            "SENTON" => SearchKey::SentOn(arg!(date)),
            "SENTSINCE" => SearchKey::SentSince(arg!(date)),
            "SINCE" => SearchKey::Since(arg!(date)),
            "SMALLER" => SearchKey::Smaller(arg!(number64)),
            "SUBJECT" => SearchKey::Subject(arg!(astring_utf8)),
            "TEXT" => SearchKey::Text(arg!(astring_utf8)),
            "TO" => SearchKey::To(arg!(astring_utf8)),
            "UID" => SearchKey::Uid(arg!(sequence_set)),
            "UNANSWERED" => SearchKey::Unanswered,
            "UNDELETED" => SearchKey::Undeleted,
            "UNDRAFT" => SearchKey::Undraft,
            "UNFLAGGED" => SearchKey::Unflagged,
            "UNKEYWORD" => SearchKey::Unkeyword(arg!(atom).to_owned()),
            "UNSEEN" => SearchKey::Unseen,
            "MODSEQ" => {
                self.sp()?;
                let entry = if self.peek() == Some(b'"') {
                    let name = Self::utf8(self.quoted()?)?;
                    self.sp()?;
                    let kind = self.upper_atom()?.to_ascii_lowercase();
                    if !matches!(kind.as_str(), "priv" | "shared" | "all") {
                        return Err(SyntaxError::InvalidModSeqEntryType);
                    }
                    self.sp()?;
                    Some((name, kind))
                } else {
                    None
                };
                SearchKey::ModSeq {
                    entry,
                    mod_seq: self.number64()?,
                }
            }
            "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
            "SAVEDBEFORE" => SearchKey::SavedBefore(arg!(date)),
            "SAVEDON" => SearchKey::SavedOn(arg!(date)),
            "SAVEDSINCE" => SearchKey::SavedSince(arg!(date)),
            "OLDER" => SearchKey::Older(u64::from(arg!(nz_number))),
            "YOUNGER" => SearchKey::Younger(u64::from(arg!(nz_number))),
            k => return Err(SyntaxError::UnknownSearchKey(k.to_owned())),
        })
    }
}
