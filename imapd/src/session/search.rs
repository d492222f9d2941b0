//! SEARCH keys evaluated against one message, and the ESEARCH result of a search: pure
//! functions, no I/O. The session walks the selected messages, loads a message's content
//! only when [`needs_content`] says the key needs it, keeps those for which [`matches()`]
//! is true, and answers with `* SEARCH` or with [`esearch_data`].
//!
//! Choices where the RFCs leave room:
//! * postern keeps no `\Recent` flag (RFC 9051 removed it; every SELECT reports
//!   `0 RECENT`), so for IMAP4rev1 clients RECENT and NEW (= RECENT UNSEEN) match no
//!   message and OLD (= NOT RECENT) matches every message. This is consistent with
//!   what SELECT and STATUS report.
//! * BEFORE/ON/SINCE compare the INTERNALDATE's date in UTC, SAVEDBEFORE/SAVEDON/
//!   SAVEDSINCE the SAVEDATE's date in UTC (the index keeps unix seconds, no zone).
//! * SENTBEFORE/SENTON/SENTSINCE compare the date of the Date header as written (its own
//!   zone, time ignored, RFC 9051 §6.4.4). A message without a Date header that can be
//!   read falls back to its INTERNALDATE (as RFC 5256 does for the sent date).
//! * String keys match a case-insensitive substring (Unicode lower-casing) of the
//!   decoded text: header values with RFC 2047 words decoded (FROM, TO, CC and BCC also
//!   each address written as `Name <local@domain>`, the name from a phrase or an RFC 822
//!   comment, unquoted); BODY over the text parts
//!   with transfer encoding and charset decoded, plus the headers of encapsulated
//!   messages; TEXT over the message header and that body text.
//! * MODSEQ with a metadata entry (`"/flags/\\seen" priv`) compares the message's modseq:
//!   postern keeps no per-flag modseq, which RFC 7162 §3.1.5 allows.
//! * SAVEDATESUPPORTED matches every message: every mailbox keeps save dates.
//! * A content key of a message whose content was not given matches nothing.

use std::cell::OnceCell;

use crate::store::{Flags, MessageInfo};
use postern_imap_proto::command::{SearchKey, SearchReturn};
use postern_imap_proto::datetime::Date;
use postern_imap_proto::mime::{ParsedMessage, text};
use postern_imap_proto::response::EsearchData;
use postern_imap_proto::types::{SeqNum, SequenceSet};

/// One message as SEARCH sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchMessage<'a> {
    /// Its message sequence number in the session.
    pub seq: u32,
    /// The index entry (flags, sizes, dates, UID, modseq).
    pub info: &'a MessageInfo,
    /// The raw message; `None` when it was not loaded.
    pub content: Option<&'a [u8]>,
}

/// What a search needs to know about the mailbox and the session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchScope<'a> {
    /// The highest message sequence number (what `*` means in a sequence set); 0 when
    /// the mailbox is empty.
    pub max_seq: u32,
    /// The highest UID in the mailbox (what `*` means in a UID set); 0 when empty.
    pub max_uid: u32,
    /// UIDs saved by an earlier `SEARCH RETURN (SAVE)`: what `$` means (RFC 5182).
    pub saved: &'a [u32],
    /// The current time, unix seconds (for OLDER and YOUNGER).
    pub now: i64,
}

/// Whether evaluating `key` needs the message content (headers or body). Keys decided
/// from the index alone (flags, sizes, INTERNALDATE and SAVEDATE dates, UIDs, sequence
/// sets, MODSEQ, OLDER/YOUNGER) do not.
pub(crate) fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Bcc(_)
        | SearchKey::Body(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_)
        | SearchKey::Subject(_)
        | SearchKey::Text(_)
        | SearchKey::To(_) => true,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::And(keys) => keys.iter().any(needs_content),
        SearchKey::All
        | SearchKey::Answered
        | SearchKey::Before(_)
        | SearchKey::Deleted
        | SearchKey::Draft
        | SearchKey::Flagged
        | SearchKey::Keyword(_)
        | SearchKey::Larger(_)
        | SearchKey::New
        | SearchKey::Old
        | SearchKey::On(_)
        | SearchKey::Recent
        | SearchKey::Seen
        | SearchKey::Since(_)
        | SearchKey::Smaller(_)
        | SearchKey::Uid(_)
        | SearchKey::Unanswered
        | SearchKey::Undeleted
        | SearchKey::Undraft
        | SearchKey::Unflagged
        | SearchKey::Unkeyword(_)
        | SearchKey::Unseen
        | SearchKey::SequenceSet(_)
        | SearchKey::ModSeq { .. }
        | SearchKey::SaveDateSupported
        | SearchKey::SavedBefore(_)
        | SearchKey::SavedOn(_)
        | SearchKey::SavedSince(_)
        | SearchKey::Older(_)
        | SearchKey::Younger(_) => false,
    }
}

/// Whether the message header alone (the first `info.header_size` bytes of the message
/// file) is enough to evaluate `key`: true unless it has a BODY or TEXT key. The caller
/// may then pass only the header as [`SearchMessage::content`].
pub(crate) fn header_suffices(key: &SearchKey) -> bool {
    match key {
        SearchKey::Body(_) | SearchKey::Text(_) => false,
        SearchKey::Not(k) => header_suffices(k),
        SearchKey::Or(a, b) => header_suffices(a) && header_suffices(b),
        SearchKey::And(keys) => keys.iter().all(header_suffices),
        _ => true,
    }
}

/// Whether `msg` matches `key`. The message is parsed at most once, and only when a
/// content key is reached.
pub(crate) fn matches(key: &SearchKey, msg: &SearchMessage<'_>, scope: &SearchScope<'_>) -> bool {
    Evaluator {
        msg,
        scope,
        parsed: OnceCell::new(),
        header_text: OnceCell::new(),
        body_text: OnceCell::new(),
    }
    .eval(key)
}

/// The ESEARCH data (RFC 4731) of a search whose matches are `numbers` (sequence numbers,
/// or UIDs for UID SEARCH; any order). `returns` empty means ALL (`RETURN ()`). SAVE adds
/// nothing here; with only SAVE the caller sends no ESEARCH response at all (RFC 5182
/// §2.1). COUNT is always given when asked; MIN, MAX and ALL are left out when nothing
/// matched (RFC 4731 §3.1).
///
/// `highest_modseq` is the MODSEQ to report: the caller passes it only when the search
/// had a MODSEQ key (RFC 7162 §3.1.5), as the highest modseq of the messages
/// [`modseq_basis`] names (RFC 4731 §3.2). It is left out when nothing matched.
pub(crate) fn esearch_data(
    tag: &str,
    uid: bool,
    numbers: &[u32],
    returns: &[SearchReturn],
    highest_modseq: Option<u64>,
) -> EsearchData {
    let wants =
        |r: SearchReturn| returns.contains(&r) || (r == SearchReturn::All && returns.is_empty());
    let sorted = sorted_distinct(numbers);
    EsearchData {
        tag: Some(tag.to_owned()),
        uid,
        min: sorted.first().copied().filter(|_| wants(SearchReturn::Min)),
        max: sorted.last().copied().filter(|_| wants(SearchReturn::Max)),
        all: (wants(SearchReturn::All) && !sorted.is_empty()).then(|| compact_set(&sorted)),
        count: wants(SearchReturn::Count).then(|| u32::try_from(sorted.len()).unwrap_or(u32::MAX)),
        mod_seq: highest_modseq.filter(|_| !sorted.is_empty()),
    }
}

/// `numbers` sorted, without duplicates.
fn sorted_distinct(numbers: &[u32]) -> Vec<u32> {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// The matches whose mod-sequences the ESEARCH MODSEQ must cover (RFC 4731 §3.2): only
/// the MIN and/or MAX message when those are asked without ALL or COUNT, else every
/// match.
pub(crate) fn modseq_basis(numbers: &[u32], returns: &[SearchReturn]) -> Vec<u32> {
    let only_min_max = !returns.is_empty()
        && !returns.contains(&SearchReturn::All)
        && !returns.contains(&SearchReturn::Count)
        && (returns.contains(&SearchReturn::Min) || returns.contains(&SearchReturn::Max));
    if !only_min_max {
        return numbers.to_vec();
    }
    let mut out = Vec::new();
    if returns.contains(&SearchReturn::Min) {
        out.extend(numbers.iter().copied().min());
    }
    if returns.contains(&SearchReturn::Max) {
        out.extend(numbers.iter().copied().max());
    }
    out.dedup();
    out
}

/// What `RETURN (SAVE ...)` saves (RFC 5182 §2.4): with MIN and/or MAX but neither ALL
/// nor COUNT, only those; else every match. Sorted, without duplicates. Pass the UIDs of
/// the matches (also for SEARCH by sequence number: the order is the same), since `$`
/// is kept as UIDs ([`SearchScope::saved`]).
pub(crate) fn saved_result(numbers: &[u32], returns: &[SearchReturn]) -> Vec<u32> {
    sorted_distinct(&modseq_basis(numbers, returns))
}

/// Sorted, distinct `sorted` as a compact sequence set: runs as ranges.
fn compact_set(sorted: &[u32]) -> SequenceSet {
    let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for &n in sorted {
        run = match run {
            Some((start, end)) if end.checked_add(1) == Some(n) => Some((start, n)),
            Some((start, end)) => {
                ranges.push((SeqNum::Value(start), SeqNum::Value(end)));
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some((start, end)) = run {
        ranges.push((SeqNum::Value(start), SeqNum::Value(end)));
    }
    SequenceSet::Ranges(ranges)
}

/// Whether `n` is in `set`, with `*` meaning `max` and `$` the UIDs in `saved` (then
/// `saved_key` is the number to look up: the message's UID).
fn in_set(set: &SequenceSet, n: u32, max: u32, saved: &[u32], saved_key: u32) -> bool {
    match set {
        SequenceSet::Saved => saved.contains(&saved_key),
        SequenceSet::Ranges(ranges) => ranges.iter().any(|&(a, b)| {
            let resolve = |s: SeqNum| match s {
                SeqNum::Value(v) => v,
                SeqNum::Star => max,
            };
            let (a, b) = (resolve(a), resolve(b));
            (a.min(b)..=a.max(b)).contains(&n)
        }),
    }
}

/// The UTC day (days since the epoch) of a unix time.
fn utc_day(unix: i64) -> i64 {
    unix.div_euclid(86_400)
}

/// How a day compares with the date of a BEFORE/ON/SINCE key.
#[derive(Clone, Copy)]
enum DateTest {
    Before,
    On,
    Since,
}

impl DateTest {
    fn holds(self, day: i64, date: Date) -> bool {
        let key = date.days_since_epoch();
        match self {
            DateTest::Before => day < key,
            DateTest::On => day == key,
            DateTest::Since => day >= key,
        }
    }
}

/// The date (as written, zone and time ignored) of an RFC 5322 date-time such as
/// `Tue, 1 Jul 2003 10:52:37 +0200`, read leniently: the day of week is optional,
/// comments are ignored, two-digit years follow RFC 5322 §4.3.
fn parse_sent_date(value: &str) -> Option<Date> {
    let mut tokens = value
        .split(|c: char| c.is_whitespace() || c == ',' || c == '-')
        .filter(|t| !t.is_empty())
        .skip_while(|t| t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
    let day: u8 = tokens.next()?.parse().ok()?;
    let month_name = tokens.next()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| {
        month_name
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case(m))
    })?;
    let year_text = tokens.next()?;
    let year: u16 = year_text.parse().ok()?;
    let year = match (year_text.len(), year) {
        (2, y) if y < 50 => 2000 + y,
        (2 | 3, y) => 1900 + y,
        (_, y) => y,
    };
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(Date {
        year,
        month: u8::try_from(month + 1).ok()?,
        day,
    })
}

/// Whether `needle` is in `haystack`, ignoring case (Unicode lower-casing).
fn contains_ignoring_case(haystack: &str, needle_lower: &str) -> bool {
    needle_lower.is_empty() || haystack.to_lowercase().contains(needle_lower)
}

/// Evaluates keys for one message, parsing it and decoding its text at most once.
struct Evaluator<'e, 'm> {
    msg: &'e SearchMessage<'m>,
    scope: &'e SearchScope<'e>,
    parsed: OnceCell<Option<ParsedMessage<'m>>>,
    /// The message header as text, lower-cased.
    header_text: OnceCell<String>,
    /// The body text, lower-cased.
    body_text: OnceCell<String>,
}

impl<'m> Evaluator<'_, 'm> {
    fn parsed(&self) -> Option<&ParsedMessage<'m>> {
        self.parsed
            .get_or_init(|| self.msg.content.map(ParsedMessage::parse))
            .as_ref()
    }

    fn header_text(&self) -> Option<&str> {
        let parsed = self.parsed()?;
        Some(
            self.header_text
                .get_or_init(|| text::header_text(parsed).to_lowercase()),
        )
    }

    fn body_text(&self) -> Option<&str> {
        let parsed = self.parsed()?;
        Some(
            self.body_text
                .get_or_init(|| text::body_text(parsed).to_lowercase()),
        )
    }

    /// Whether a field `name` of the message's header contains `value`; an empty
    /// `value` matches any message that has the field (RFC 9051 §6.4.4).
    fn header_has(&self, name: &str, value: &str) -> bool {
        let Some(parsed) = self.parsed() else {
            return false;
        };
        let needle = value.to_lowercase();
        text::header_values(parsed, name)
            .iter()
            .any(|v| contains_ignoring_case(v, &needle))
    }

    /// Whether the address field `name` (From, To, Cc, Bcc) contains `value`, in its
    /// decoded text or in one of its addresses as [`text::address_search_values`]
    /// writes them; an empty `value` matches any message that has the field.
    fn address_has(&self, name: &str, value: &str) -> bool {
        let Some(parsed) = self.parsed() else {
            return false;
        };
        let needle = value.to_lowercase();
        text::address_search_values(parsed, name)
            .iter()
            .any(|v| contains_ignoring_case(v, &needle))
    }

    fn body_has(&self, value: &str) -> bool {
        let needle = value.to_lowercase();
        self.body_text().is_some_and(|t| t.contains(&needle))
    }

    fn sent_date(&self, test: DateTest, date: Date) -> bool {
        let Some(parsed) = self.parsed() else {
            return false;
        };
        let day = text::header_values(parsed, "date")
            .first()
            .and_then(|v| parse_sent_date(v))
            .map_or_else(|| utc_day(self.msg.info.received), Date::days_since_epoch);
        test.holds(day, date)
    }

    fn flag(&self, flag: Flags) -> bool {
        self.msg.info.flags.contains(flag)
    }

    /// KEYWORD: keywords are stored lower-cased; a system flag name (`\Seen`) sent as a
    /// keyword tests that flag.
    fn keyword(&self, name: &str) -> bool {
        match Flags::from_name(name) {
            Some(f) => self.flag(f),
            None => {
                let lower = name.to_ascii_lowercase();
                self.msg.info.keywords.contains(&lower)
            }
        }
    }

    fn eval(&self, key: &SearchKey) -> bool {
        let info = self.msg.info;
        let scope = self.scope;
        match key {
            SearchKey::All | SearchKey::SaveDateSupported => true,
            SearchKey::Answered => self.flag(Flags::ANSWERED),
            SearchKey::Deleted => self.flag(Flags::DELETED),
            SearchKey::Draft => self.flag(Flags::DRAFT),
            SearchKey::Flagged => self.flag(Flags::FLAGGED),
            SearchKey::Seen => self.flag(Flags::SEEN),
            SearchKey::Unanswered => !self.flag(Flags::ANSWERED),
            SearchKey::Undeleted => !self.flag(Flags::DELETED),
            SearchKey::Undraft => !self.flag(Flags::DRAFT),
            SearchKey::Unflagged => !self.flag(Flags::FLAGGED),
            SearchKey::Unseen => !self.flag(Flags::SEEN),
            SearchKey::Keyword(k) => self.keyword(k),
            SearchKey::Unkeyword(k) => !self.keyword(k),
            // No \Recent (see the module documentation).
            SearchKey::Recent | SearchKey::New => false,
            SearchKey::Old => true,
            SearchKey::Larger(n) => info.size > *n,
            SearchKey::Smaller(n) => info.size < *n,
            SearchKey::Before(d) => DateTest::Before.holds(utc_day(info.received), *d),
            SearchKey::On(d) => DateTest::On.holds(utc_day(info.received), *d),
            SearchKey::Since(d) => DateTest::Since.holds(utc_day(info.received), *d),
            SearchKey::SavedBefore(d) => DateTest::Before.holds(utc_day(info.save_date), *d),
            SearchKey::SavedOn(d) => DateTest::On.holds(utc_day(info.save_date), *d),
            SearchKey::SavedSince(d) => DateTest::Since.holds(utc_day(info.save_date), *d),
            SearchKey::Older(secs) => info.received <= scope.now.saturating_sub_unsigned(*secs),
            SearchKey::Younger(secs) => info.received > scope.now.saturating_sub_unsigned(*secs),
            SearchKey::ModSeq { mod_seq, .. } => info.modseq >= *mod_seq,
            SearchKey::Uid(set) => in_set(set, info.uid, scope.max_uid, scope.saved, info.uid),
            SearchKey::SequenceSet(set) => {
                in_set(set, self.msg.seq, scope.max_seq, scope.saved, info.uid)
            }
            SearchKey::Bcc(v) => self.address_has("bcc", v),
            SearchKey::Cc(v) => self.address_has("cc", v),
            SearchKey::From(v) => self.address_has("from", v),
            SearchKey::To(v) => self.address_has("to", v),
            SearchKey::Subject(v) => self.header_has("subject", v),
            SearchKey::Header(name, v) => self.header_has(name, v),
            SearchKey::Body(v) => self.body_has(v),
            SearchKey::Text(v) => {
                let needle = v.to_lowercase();
                self.header_text().is_some_and(|t| t.contains(&needle)) || self.body_has(v)
            }
            SearchKey::SentBefore(d) => self.sent_date(DateTest::Before, *d),
            SearchKey::SentOn(d) => self.sent_date(DateTest::On, *d),
            SearchKey::SentSince(d) => self.sent_date(DateTest::Since, *d),
            SearchKey::Not(k) => !self.eval(k),
            SearchKey::Or(a, b) => self.eval(a) || self.eval(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.eval(k)),
        }
    }
}

#[cfg(test)]
mod tests;
