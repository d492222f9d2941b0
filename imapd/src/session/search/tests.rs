use super::*;
use crate::store::MessageId;
use postern_imap_proto::encode::EncodeOptions;
use postern_imap_proto::response::{Data, Response};
use proptest::prelude::*;

/// A multipart message: RFC 2047 headers, a quoted-printable Latin-1 text part, a
/// base64 UTF-8 HTML part, a base64 attachment, and an encapsulated message.
const MIXED: &[u8] = b"From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@example.org>\r\n\
To: Ann <ann@example.com>, bob@example.net\r\n\
Cc: =?utf-8?b?w4lsb8Ovc2U=?= <eloise@example.com>\r\n\
Bcc: hidden@example.com\r\n\
Subject: =?utf-8?q?Quarterly_r=C3=A9port?= =?utf-8?q?_2003?=\r\n\
Date: Tue, 1 Jul 2003 23:52:37 -0700\r\n\
X-Priority: 1 (Highest)\r\n\
X-Empty:\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Die Stra=DFe ist lang, sehr =\r\n\
lang.\r\n\
--b1\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PHA+w6dhIHZhIGJpZW48L3A+\r\n\
--b1\r\n\
Content-Type: application/pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
c2VjcmV0IGF0dGFjaG1lbnQ=\r\n\
--b1\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: forwarded@example.net\r\n\
Subject: Forwarded thing\r\n\
\r\n\
nested words here\r\n\
--b1--\r\n";

/// A single-part 8-bit message without a Date header.
const PLAIN: &[u8] = "Subject: Grüße aus Köln\r\nFrom: k@example.de\r\n\r\nKölsch \
und Brötchen\r\n"
    .as_bytes();

const DAY: i64 = 86_400;
/// 2003-07-02T00:00:00Z.
const JUL2: i64 = 1_057_104_000;

fn info(uid: u32) -> MessageInfo {
    MessageInfo {
        id: MessageId::new(u64::from(uid)),
        uid,
        modseq: 50,
        flags: Flags::SEEN | Flags::ANSWERED,
        keywords: vec!["$junk".into(), "work".into()],
        size: 2000,
        header_size: 100,
        received: JUL2 + 3600, // 2003-07-02T01:00:00Z
        save_date: JUL2 + 10 * DAY + 5,
    }
}

fn scope() -> SearchScope<'static> {
    SearchScope {
        max_seq: 10,
        max_uid: 100,
        saved: &[],
        now: JUL2 + 3600 + 1000,
    }
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

/// Whether the message (seq 4, UID 40, `info(40)`, content `raw`) matches `key`.
fn hit(key: SearchKey, raw: Option<&[u8]>) -> bool {
    hit_with(key, &info(40), raw, &scope())
}

fn hit_with(
    key: SearchKey,
    info: &MessageInfo,
    raw: Option<&[u8]>,
    scope: &SearchScope<'_>,
) -> bool {
    matches(
        &key,
        &SearchMessage {
            seq: 4,
            info,
            content: raw,
        },
        scope,
    )
}

fn index(key: SearchKey) -> bool {
    assert!(!needs_content(&key), "{key:?} should not need content");
    hit(key, None)
}

fn content(key: SearchKey) -> bool {
    assert!(needs_content(&key), "{key:?} should need content");
    hit(key, Some(MIXED))
}

fn not(key: SearchKey) -> SearchKey {
    SearchKey::Not(Box::new(key))
}

fn or(a: SearchKey, b: SearchKey) -> SearchKey {
    SearchKey::Or(Box::new(a), Box::new(b))
}

fn set(ranges: &[(SeqNum, SeqNum)]) -> SequenceSet {
    SequenceSet::Ranges(ranges.to_vec())
}

fn v(n: u32) -> SeqNum {
    SeqNum::Value(n)
}

#[test]
fn flags() {
    assert!(index(SearchKey::All));
    assert!(index(SearchKey::Seen) && !index(SearchKey::Unseen));
    assert!(index(SearchKey::Answered) && !index(SearchKey::Unanswered));
    assert!(!index(SearchKey::Flagged) && index(SearchKey::Unflagged));
    assert!(!index(SearchKey::Deleted) && index(SearchKey::Undeleted));
    assert!(!index(SearchKey::Draft) && index(SearchKey::Undraft));
    let mut deleted = info(1);
    deleted.flags = Flags::DELETED | Flags::DRAFT | Flags::FLAGGED;
    for (key, want) in [
        (SearchKey::Deleted, true),
        (SearchKey::Draft, true),
        (SearchKey::Flagged, true),
        (SearchKey::Seen, false),
        (SearchKey::Unseen, true),
    ] {
        assert_eq!(
            hit_with(key.clone(), &deleted, None, &scope()),
            want,
            "{key:?}"
        );
    }
}

#[test]
fn keywords() {
    assert!(index(SearchKey::Keyword("work".into())));
    // Keywords are case-insensitive (stored lower-cased).
    assert!(index(SearchKey::Keyword("$Junk".into())));
    assert!(!index(SearchKey::Keyword("$NotJunk".into())));
    assert!(index(SearchKey::Unkeyword("$NotJunk".into())));
    assert!(!index(SearchKey::Unkeyword("WORK".into())));
    // A system flag written as a keyword tests the flag.
    assert!(index(SearchKey::Keyword("\\Seen".into())));
    assert!(!index(SearchKey::Keyword("\\Flagged".into())));
    assert!(index(SearchKey::Unkeyword("\\Deleted".into())));
}

/// No \Recent in postern: RECENT and NEW match nothing, OLD everything.
#[test]
fn recent_new_old() {
    assert!(!index(SearchKey::Recent));
    assert!(!index(SearchKey::New));
    assert!(index(SearchKey::Old));
    let mut unseen = info(2);
    unseen.flags = Flags::EMPTY;
    assert!(!hit_with(SearchKey::New, &unseen, None, &scope()));
    assert!(hit_with(SearchKey::Old, &unseen, None, &scope()));
}

#[test]
fn sizes() {
    assert!(index(SearchKey::Larger(1999)));
    assert!(!index(SearchKey::Larger(2000)));
    assert!(index(SearchKey::Smaller(2001)));
    assert!(!index(SearchKey::Smaller(2000)));
    assert!(!index(SearchKey::Smaller(0)));
    assert!(!index(SearchKey::Larger(u64::MAX)));
}

#[test]
fn internal_date_in_utc() {
    // Received 2003-07-02T01:00:00Z (still July 1st in America).
    assert!(index(SearchKey::On(date(2003, 7, 2))));
    assert!(!index(SearchKey::On(date(2003, 7, 1))));
    assert!(index(SearchKey::Since(date(2003, 7, 2))));
    assert!(index(SearchKey::Since(date(2003, 6, 30))));
    assert!(!index(SearchKey::Since(date(2003, 7, 3))));
    assert!(index(SearchKey::Before(date(2003, 7, 3))));
    assert!(!index(SearchKey::Before(date(2003, 7, 2))));
    assert!(index(SearchKey::Before(date(2004, 1, 1))));
    assert!(!index(SearchKey::Before(date(1970, 1, 1))));
    // Exactly midnight belongs to the new day; a second earlier to the previous one.
    let mut midnight = info(3);
    midnight.received = JUL2;
    assert!(hit_with(
        SearchKey::On(date(2003, 7, 2)),
        &midnight,
        None,
        &scope()
    ));
    midnight.received = JUL2 - 1;
    assert!(hit_with(
        SearchKey::On(date(2003, 7, 1)),
        &midnight,
        None,
        &scope()
    ));
    // Dates before 1970 and far future ones compute.
    midnight.received = -DAY;
    assert!(hit_with(
        SearchKey::On(date(1969, 12, 31)),
        &midnight,
        None,
        &scope()
    ));
    midnight.received = 253_402_300_799; // 9999-12-31T23:59:59Z
    assert!(hit_with(
        SearchKey::On(date(9999, 12, 31)),
        &midnight,
        None,
        &scope()
    ));
}

#[test]
fn save_dates() {
    // Saved 2003-07-12T00:00:05Z.
    assert!(index(SearchKey::SavedOn(date(2003, 7, 12))));
    assert!(!index(SearchKey::SavedOn(date(2003, 7, 2))));
    assert!(index(SearchKey::SavedSince(date(2003, 7, 12))));
    assert!(!index(SearchKey::SavedSince(date(2003, 7, 13))));
    assert!(index(SearchKey::SavedBefore(date(2003, 7, 13))));
    assert!(!index(SearchKey::SavedBefore(date(2003, 7, 12))));
    assert!(index(SearchKey::SaveDateSupported));
}

#[test]
fn older_and_younger() {
    // Received 1000 seconds before `now`.
    assert!(index(SearchKey::Older(999)));
    assert!(index(SearchKey::Older(1000)));
    assert!(!index(SearchKey::Older(1001)));
    assert!(!index(SearchKey::Younger(1000)));
    assert!(index(SearchKey::Younger(1001)));
    assert!(index(SearchKey::Younger(u64::MAX)));
    assert!(!index(SearchKey::Older(u64::MAX)));
    // OLDER n and YOUNGER n split the messages between them.
    for n in [0, 1, 999, 1000, 1001, 5000] {
        assert_ne!(
            index(SearchKey::Older(n)),
            index(SearchKey::Younger(n)),
            "{n}"
        );
    }
}

#[test]
fn modseq() {
    let key = |mod_seq, entry: Option<(&str, &str)>| SearchKey::ModSeq {
        entry: entry.map(|(a, b)| (a.to_string(), b.to_string())),
        mod_seq,
    };
    assert!(index(key(1, None)));
    assert!(index(key(50, None)));
    assert!(!index(key(51, None)));
    assert!(index(key(50, Some(("/flags/\\seen", "all")))));
    assert!(!index(key(u64::MAX, Some(("/flags/\\seen", "priv")))));
}

#[test]
fn sequence_sets() {
    // Message 4 of 10.
    assert!(index(SearchKey::SequenceSet(set(&[(v(4), v(4))]))));
    assert!(index(SearchKey::SequenceSet(set(&[
        (v(1), v(2)),
        (v(6), v(3))
    ]))));
    assert!(!index(SearchKey::SequenceSet(set(&[
        (v(1), v(3)),
        (v(5), SeqNum::Star)
    ]))));
    assert!(index(SearchKey::SequenceSet(set(&[(SeqNum::Star, v(4))]))));
    assert!(!index(SearchKey::SequenceSet(set(&[(
        SeqNum::Star,
        SeqNum::Star
    )]))));
    // `*` is the last message.
    let last = SearchScope {
        max_seq: 4,
        ..scope()
    };
    assert!(hit_with(
        SearchKey::SequenceSet(set(&[(SeqNum::Star, SeqNum::Star)])),
        &info(40),
        None,
        &last
    ));
    // UIDs: UID 40, highest 100.
    assert!(index(SearchKey::Uid(set(&[(v(40), v(40))]))));
    assert!(!index(SearchKey::Uid(set(&[(v(4), v(4))]))));
    assert!(index(SearchKey::Uid(set(&[(v(30), SeqNum::Star)]))));
    assert!(!index(SearchKey::Uid(set(&[(v(41), SeqNum::Star)]))));
    // `n:*` with n above the highest UID still includes the highest UID (RFC 9051
    // §6.4.8): the range is 100:200.
    let mut top = info(100);
    top.uid = 100;
    assert!(hit_with(
        SearchKey::Uid(set(&[(v(200), SeqNum::Star)])),
        &top,
        None,
        &scope()
    ));
}

#[test]
fn star_on_empty_mailbox() {
    let empty = SearchScope {
        max_seq: 0,
        max_uid: 0,
        saved: &[],
        now: 0,
    };
    // Nothing to match; a message passed anyway is not matched by `*` = 0.
    for key in [
        SearchKey::SequenceSet(set(&[(SeqNum::Star, SeqNum::Star)])),
        SearchKey::Uid(set(&[(SeqNum::Star, SeqNum::Star)])),
    ] {
        assert!(!hit_with(key, &info(40), None, &empty));
    }
}

#[test]
fn saved_result_dollar() {
    let saved = [7, 40, 99];
    let with_saved = SearchScope {
        saved: &saved,
        ..scope()
    };
    // `$` holds UIDs, as a sequence set and as a UID set.
    for key in [
        SearchKey::SequenceSet(SequenceSet::Saved),
        SearchKey::Uid(SequenceSet::Saved),
    ] {
        assert!(hit_with(key.clone(), &info(40), None, &with_saved));
        assert!(!hit_with(key.clone(), &info(41), None, &with_saved));
        // An empty saved result matches nothing.
        assert!(!hit_with(key, &info(40), None, &scope()));
    }
    assert!(hit_with(
        not(SearchKey::SequenceSet(SequenceSet::Saved)),
        &info(40),
        None,
        &scope()
    ));
}

#[test]
fn address_and_subject_headers() {
    // RFC 2047 words are decoded; matching is case-insensitive, Unicode included.
    assert!(content(SearchKey::From("jörg müller".into())));
    assert!(content(SearchKey::From("JÖRG".into())));
    assert!(content(SearchKey::From("joerg@EXAMPLE.org".into())));
    assert!(!content(SearchKey::From("ann".into())));
    assert!(content(SearchKey::To("bob@example.net".into())));
    assert!(content(SearchKey::To("Ann <ann@".into())));
    assert!(content(SearchKey::Cc("Éloïse".into())));
    assert!(content(SearchKey::Cc("éloïse".into())));
    assert!(content(SearchKey::Bcc("hidden".into())));
    assert!(!content(SearchKey::Bcc("ann".into())));
    // Adjacent encoded words join without the space between them.
    assert!(content(SearchKey::Subject("quarterly réport 2003".into())));
    assert!(!content(SearchKey::Subject("=?utf-8?".into())));
    // Raw UTF-8 headers (RFC 6532).
    assert!(!hit(SearchKey::Subject("GRÜSSE".into()), Some(PLAIN)));
    assert!(hit(
        SearchKey::Subject("grüße aus köln".into()),
        Some(PLAIN)
    ));
}

#[test]
fn header_key() {
    assert!(content(SearchKey::Header(
        "x-priority".into(),
        "highest".into()
    )));
    assert!(!content(SearchKey::Header(
        "X-Priority".into(),
        "lowest".into()
    )));
    // An empty value matches any message that has the field, even empty.
    assert!(content(SearchKey::Header(
        "X-Priority".into(),
        String::new()
    )));
    assert!(content(SearchKey::Header("x-empty".into(), String::new())));
    assert!(!content(SearchKey::Header(
        "X-Absent".into(),
        String::new()
    )));
    // Only the message's own header, not that of the encapsulated message.
    assert!(!content(SearchKey::Header(
        "subject".into(),
        "forwarded".into()
    )));
    assert!(content(SearchKey::Header(
        "Content-Type".into(),
        "MULTIPART/MIXED".into()
    )));
}

#[test]
fn body_key_over_decoded_text() {
    // Quoted-printable, Latin-1, soft line break.
    assert!(content(SearchKey::Body(
        "straße ist lang, sehr lang".into()
    )));
    // Base64 UTF-8 HTML.
    assert!(content(SearchKey::Body("ça va bien".into())));
    // The encapsulated message's header and body are part of the body.
    assert!(content(SearchKey::Body("forwarded thing".into())));
    assert!(content(SearchKey::Body("NESTED words".into())));
    // Attachments are not searched, decoded or not; nor is the encoded form.
    assert!(!content(SearchKey::Body("secret attachment".into())));
    assert!(!content(SearchKey::Body("c2VjcmV0".into())));
    assert!(!content(SearchKey::Body("Stra=DFe".into())));
    // The top-level header is not body.
    assert!(!content(SearchKey::Body("quarterly".into())));
    // 8-bit single part without charset.
    assert!(hit(
        SearchKey::Body("kölsch und brötchen".into()),
        Some(PLAIN)
    ));
}

#[test]
fn text_key_over_header_and_body() {
    assert!(content(SearchKey::Text("quarterly réport".into())));
    assert!(content(SearchKey::Text("x-priority: 1".into())));
    assert!(content(SearchKey::Text("ça va".into())));
    assert!(content(SearchKey::Text("eloise@example.com".into())));
    assert!(!content(SearchKey::Text("secret attachment".into())));
    assert!(!content(SearchKey::Text("nowhere to be found".into())));
    assert!(content(SearchKey::Text(String::new())));
}

#[test]
fn sent_dates_from_the_date_header() {
    // Date: Tue, 1 Jul 2003 23:52:37 -0700: July 1st as written (July 2nd in UTC).
    assert!(content(SearchKey::SentOn(date(2003, 7, 1))));
    assert!(!content(SearchKey::SentOn(date(2003, 7, 2))));
    assert!(content(SearchKey::SentSince(date(2003, 7, 1))));
    assert!(!content(SearchKey::SentSince(date(2003, 7, 2))));
    assert!(content(SearchKey::SentBefore(date(2003, 7, 2))));
    assert!(!content(SearchKey::SentBefore(date(2003, 7, 1))));
    // Without a Date header: the INTERNALDATE (2003-07-02 UTC).
    assert!(hit(SearchKey::SentOn(date(2003, 7, 2)), Some(PLAIN)));
    // Other spellings.
    for (header, want) in [
        ("1 Jul 2003 10:52:37 +0200", date(2003, 7, 1)),
        (
            "Thu, 13 Feb 1969 23:32:54 -0330 (Newfoundland Time)",
            date(1969, 2, 13),
        ),
        ("Fri, 21 Nov 97 09:55:06 GMT", date(1997, 11, 21)),
        ("Fri, 21 Nov 03 09:55:06 GMT", date(2003, 11, 21)),
        ("Mon,  5 january 2026 01:02 +0000", date(2026, 1, 5)),
        ("5-Mar-2024 10:00:00 +0100", date(2024, 3, 5)),
    ] {
        assert_eq!(parse_sent_date(header), Some(want), "{header}");
    }
    for broken in [
        "",
        "yesterday",
        "Tue, 99 Jul 2003",
        "1 Foo 2003",
        "1 Jul",
        "Tue,",
    ] {
        assert_eq!(parse_sent_date(broken), None, "{broken}");
    }
    // An unreadable Date header falls back to INTERNALDATE too.
    let raw = b"Date: someday\r\nSubject: x\r\n\r\nbody\r\n";
    assert!(hit(SearchKey::SentOn(date(2003, 7, 2)), Some(raw)));
}

#[test]
fn boolean_combinations() {
    assert!(content(SearchKey::And(vec![
        SearchKey::Seen,
        SearchKey::From("jörg".into()),
        SearchKey::Body("ça va".into()),
    ])));
    assert!(!content(SearchKey::And(vec![
        SearchKey::Seen,
        SearchKey::From("nobody".into()),
    ])));
    assert!(hit(SearchKey::And(Vec::new()), None));
    assert!(content(or(
        SearchKey::Deleted,
        SearchKey::Subject("quarterly".into())
    )));
    assert!(!content(or(
        SearchKey::Deleted,
        SearchKey::Subject("nope".into())
    )));
    assert!(content(not(SearchKey::Subject("nope".into()))));
    assert!(!index(not(not(SearchKey::Deleted))));
    assert!(index(not(or(SearchKey::Deleted, SearchKey::Flagged))));
    assert!(!needs_content(&or(
        SearchKey::Seen,
        not(SearchKey::Uid(set(&[(v(1), v(1))])))
    )));
    assert!(needs_content(&or(
        SearchKey::Seen,
        not(SearchKey::Text("x".into()))
    )));
    assert!(needs_content(&SearchKey::And(vec![
        SearchKey::All,
        SearchKey::SentOn(date(2000, 1, 1))
    ])));
}

#[test]
fn content_keys_without_content_do_not_match() {
    for key in [
        SearchKey::From(String::new()),
        SearchKey::Body(String::new()),
        SearchKey::Text(String::new()),
        SearchKey::Header("subject".into(), String::new()),
        SearchKey::SentSince(date(1970, 1, 1)),
    ] {
        assert!(needs_content(&key));
        assert!(!hit(key, None));
    }
}

#[test]
fn malformed_messages_are_searched() {
    // No blank line, no boundary, unterminated encoded word, bad base64, junk bytes.
    let samples: [&[u8]; 5] = [
        b"Subject: no body at all",
        b"Subject: =?utf-8?q?unterminated\r\nContent-Type: multipart/mixed\r\n\r\nloose text\r\n",
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n",
        b"Subject: \xff\xfe\r\n\r\n\x00\x80body\r\n",
        b"",
    ];
    assert!(hit(SearchKey::Subject("no body".into()), Some(samples[0])));
    assert!(hit(
        SearchKey::Subject("=?utf-8?q?unterminated".into()),
        Some(samples[1])
    ));
    // A multipart without a boundary is searched as text.
    assert!(hit(SearchKey::Body("loose".into()), Some(samples[1])));
    // Undecodable base64 is searched as it is.
    assert!(hit(
        SearchKey::Body("!!not base64!!".into()),
        Some(samples[2])
    ));
    // Invalid UTF-8 in a header reads as windows-1252.
    assert!(hit(SearchKey::Subject("ÿþ".into()), Some(samples[3])));
    assert!(hit(SearchKey::Body("body".into()), Some(samples[3])));
    assert!(!hit(SearchKey::Subject(String::new()), Some(samples[4])));
    assert!(hit(SearchKey::Text(String::new()), Some(samples[4])));
}

#[test]
fn charsets_of_body_parts() {
    let raw = b"Content-Type: text/plain; charset=\"KOI8-R\"\r\n\r\n\xd0\xd2\xc9\xd7\xc5\xd4\r\n";
    assert!(hit(SearchKey::Body("привет".into()), Some(raw)));
    assert!(hit(SearchKey::Body("ПРИВЕТ".into()), Some(raw)));
    let raw = b"Content-Type: text/plain; charset=shift_jis\r\n\
Content-Transfer-Encoding: base64\r\n\r\ng0+DiYOTg2g=\r\n";
    assert!(hit(SearchKey::Body("グランド".into()), Some(raw)));
    let raw = b"Content-Type: text/plain; charset=x-unknown\r\n\r\nplain \xc3\xa9\r\n";
    assert!(hit(SearchKey::Body("plain é".into()), Some(raw)));
}

fn esearch_line(data: EsearchData) -> String {
    String::from_utf8_lossy(&Response::Data(Data::Esearch(data)).to_bytes(EncodeOptions::default()))
        .into_owned()
}

#[test]
fn esearch_results() {
    use SearchReturn::*;
    let numbers = [8, 2, 3, 1, 5, 7, 3];
    assert_eq!(
        esearch_line(esearch_data("A1", false, &numbers, &[], None)),
        "* ESEARCH (TAG \"A1\") ALL 1:3,5,7:8\r\n"
    );
    assert_eq!(
        esearch_line(esearch_data("A2", true, &numbers, &[Min, Max, Count], None)),
        "* ESEARCH (TAG \"A2\") UID MIN 1 MAX 8 COUNT 6\r\n"
    );
    assert_eq!(
        esearch_line(esearch_data(
            "A3",
            true,
            &numbers,
            &[All, Count, Save],
            Some(77)
        )),
        "* ESEARCH (TAG \"A3\") UID ALL 1:3,5,7:8 COUNT 6 MODSEQ 77\r\n"
    );
    // Nothing matched: COUNT 0, no MIN/MAX/ALL, no MODSEQ.
    assert_eq!(
        esearch_line(esearch_data(
            "A4",
            false,
            &[],
            &[Min, Max, All, Count],
            Some(77)
        )),
        "* ESEARCH (TAG \"A4\") COUNT 0\r\n"
    );
    assert_eq!(
        esearch_line(esearch_data("A5", false, &[], &[], None)),
        "* ESEARCH (TAG \"A5\")\r\n"
    );
    // Only SAVE: no data (the caller sends no ESEARCH at all).
    let only_save = esearch_data("A6", false, &numbers, &[Save], None);
    assert_eq!(
        (only_save.min, only_save.max, only_save.all, only_save.count),
        (None, None, None, None)
    );
    // A single number and the largest ones.
    assert_eq!(
        esearch_line(esearch_data(
            "A7",
            false,
            &[u32::MAX, u32::MAX - 1, 4],
            &[All],
            None
        )),
        "* ESEARCH (TAG \"A7\") ALL 4,4294967294:4294967295\r\n"
    );
}

#[test]
fn modseq_and_saved_subsets() {
    use SearchReturn::*;
    let numbers = [9, 2, 5];
    assert_eq!(modseq_basis(&numbers, &[Min]), vec![2]);
    assert_eq!(modseq_basis(&numbers, &[Max, Save]), vec![9]);
    assert_eq!(modseq_basis(&numbers, &[Min, Max]), vec![2, 9]);
    assert_eq!(modseq_basis(&numbers, &[Min, Count]), vec![9, 2, 5]);
    assert_eq!(modseq_basis(&numbers, &[]), vec![9, 2, 5]);
    assert_eq!(modseq_basis(&[4], &[Min, Max]), vec![4]);
    assert_eq!(modseq_basis(&[], &[Min, Max]), Vec::<u32>::new());
    assert_eq!(saved_result(&numbers, &[Save]), vec![2, 5, 9]);
    assert_eq!(saved_result(&numbers, &[Save, Min, Max]), vec![2, 9]);
    assert_eq!(saved_result(&numbers, &[Save, Max, All]), vec![2, 5, 9]);
}

/// Every key over messages of the gen-mbox corpus (varied real-world shapes): no panic,
/// and the index-only keys agree with and without content.
#[test]
fn corpus_messages_are_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corpus.mbox");
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py"))
        .arg(&path)
        .arg("60")
        .arg("11")
        .status()
        .expect("run gen-mbox.py");
    assert!(status.success());
    let data = std::fs::read(&path).expect("read mbox");
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            messages.push(Vec::new());
        } else if let Some(m) = messages.last_mut() {
            m.extend_from_slice(line);
        }
    }
    assert_eq!(messages.len(), 60);
    let keys = [
        SearchKey::Text("the".into()),
        SearchKey::Body("e".into()),
        SearchKey::From("@".into()),
        SearchKey::Subject(String::new()),
        SearchKey::SentSince(date(1990, 1, 1)),
        SearchKey::Header("message-id".into(), "@".into()),
    ];
    let mut from_hits = 0;
    for raw in &messages {
        for key in &keys {
            let _ = hit(key.clone(), Some(raw));
        }
        if hit(SearchKey::From("@".into()), Some(raw)) {
            from_hits += 1;
        }
        assert!(hit(
            SearchKey::Header("message-id".into(), String::new()),
            Some(raw)
        ));
        assert_eq!(hit(SearchKey::Seen, Some(raw)), hit(SearchKey::Seen, None));
    }
    assert_eq!(from_hits, messages.len());
}

proptest! {
    #[test]
    fn random_messages_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..1500),
        needle in "\\PC{0,6}",
    ) {
        for key in [
            SearchKey::Text(needle.clone()),
            SearchKey::Header(needle.clone(), needle.clone()),
            SearchKey::SentOn(date(2000, 1, 1)),
            SearchKey::Cc(needle.clone()),
        ] {
            let _ = hit(key, Some(&raw));
        }
        let _ = parse_sent_date(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn compact_set_round_trips(numbers in proptest::collection::vec(1u32..200, 0..60)) {
        let data = esearch_data("t", false, &numbers, &[SearchReturn::All], None);
        let mut want = numbers.clone();
        want.sort_unstable();
        want.dedup();
        let mut got = Vec::new();
        if let Some(SequenceSet::Ranges(ranges)) = data.all {
            for (a, b) in ranges {
                match (a, b) {
                    (SeqNum::Value(a), SeqNum::Value(b)) => {
                        prop_assert!(a <= b);
                        got.extend(a..=b);
                    }
                    _ => prop_assert!(false, "star in a result"),
                }
            }
        }
        prop_assert_eq!(got, want);
    }
}

#[test]
fn header_only_content_answers_header_keys() {
    let header_len = MIXED
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end")
        + 4;
    let header = MIXED.get(..header_len);
    for key in [
        SearchKey::From("jörg".into()),
        SearchKey::Subject("quarterly".into()),
        SearchKey::Header("x-priority".into(), "highest".into()),
        SearchKey::Header("x-absent".into(), String::new()),
        SearchKey::SentOn(date(2003, 7, 1)),
        not(SearchKey::Cc("nobody".into())),
        or(SearchKey::Seen, SearchKey::To("ann".into())),
    ] {
        assert!(header_suffices(&key), "{key:?}");
        assert_eq!(
            hit(key.clone(), header),
            hit(key.clone(), Some(MIXED)),
            "{key:?}"
        );
    }
    for key in [
        SearchKey::Body("x".into()),
        SearchKey::Text("x".into()),
        not(SearchKey::Body("x".into())),
        or(SearchKey::From("x".into()), SearchKey::Text("x".into())),
        SearchKey::And(vec![SearchKey::All, SearchKey::Body("x".into())]),
    ] {
        assert!(!header_suffices(&key), "{key:?}");
    }
    // The empty field name is never a field.
    assert!(!hit(
        SearchKey::Header(String::new(), String::new()),
        Some(b"junk line without colon\r\nSubject: x\r\n\r\n")
    ));
}
