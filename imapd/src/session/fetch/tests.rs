use super::*;
use crate::store::{Flags, MessageId};
use postern_imap_proto::encode::EncodeOptions;
use postern_imap_proto::response::{Data, Response};
use proptest::prelude::*;

/// A multipart message with a quoted-printable Latin-1 text part, a base64 HTML part, a
/// base64 binary attachment holding NUL bytes, an encapsulated message/rfc822 that is
/// itself multipart, and a part in an unknown transfer encoding.
const MIXED: &[u8] = b"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\n\
To: Ann <ann@example.com>\r\n\
Subject: Report\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <m1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble\r\n\
--outer\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=FC=DFe, soft=\r\n\
break\r\n\
--outer\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwD/\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@example.net\r\n\
Subject: Inner\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
inner plain\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PHA+aW5uZXI8L3A+\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/x-thing\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
--outer\r\n\
Content-Type: text/plain\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
not base64 at all!\r\n\
--outer--\r\n\
epilogue\r\n";

const HEADER_END: &str = "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n";

fn info(size: u64) -> MessageInfo {
    MessageInfo {
        id: MessageId::new(7),
        uid: 42,
        modseq: 9001,
        flags: Flags::SEEN | Flags::FLAGGED,
        keywords: vec!["$forwarded".into(), "work".into()],
        size,
        header_size: 0,
        received: 1_057_049_557, // 2003-07-01T08:52:37Z
        save_date: 1_700_000_000,
    }
}

fn fetch(raw: &[u8], items: &[FetchItem]) -> Result<Vec<FetchData>, FetchError> {
    let info = info(raw.len() as u64);
    fetch_data(
        &FetchMessage {
            info: &info,
            content: Some(raw),
        },
        items,
    )
}

fn fetch_one(raw: &[u8], item: FetchItem) -> FetchData {
    let mut data = fetch(raw, &[item]).expect("fetch");
    assert_eq!(data.len(), 1);
    data.remove(0)
}

/// The FETCH response line for `items`, as a client sees it.
fn wire_bytes(raw: &[u8], items: &[FetchItem]) -> Vec<u8> {
    let r = Response::Data(Data::Fetch {
        seq: 1,
        items: fetch(raw, items).expect("fetch"),
    });
    r.to_bytes(EncodeOptions::default())
}

/// [`wire_bytes`] as text (invalid UTF-8 replaced).
fn wire(raw: &[u8], items: &[FetchItem]) -> String {
    String::from_utf8_lossy(&wire_bytes(raw, items)).into_owned()
}

fn body(part: &[u32], text: Option<SectionText>, partial: Option<(u32, u32)>) -> FetchItem {
    FetchItem::BodySection {
        peek: true,
        section: Section {
            part: part.to_vec(),
            text,
        },
        partial,
    }
}

/// The bytes of a BODY[...] (or RFC822...) answer.
fn bytes_of(d: FetchData) -> Vec<u8> {
    match d {
        FetchData::BodySection {
            data: Some(data), ..
        }
        | FetchData::Rfc822 {
            data: Some(data), ..
        } => data,
        other => panic!("not section data: {other:?}"),
    }
}

fn section_text(part: &[u32], text: Option<SectionText>) -> String {
    String::from_utf8_lossy(&bytes_of(fetch_one(MIXED, body(part, text, None)))).into_owned()
}

#[test]
fn index_items_need_no_content() {
    let info = info(1234);
    let items = [
        FetchItem::Uid,
        FetchItem::Flags,
        FetchItem::InternalDate,
        FetchItem::Rfc822Size,
        FetchItem::ModSeq,
        FetchItem::SaveDate,
    ];
    assert!(!needs_content(&items));
    let data = fetch_data(
        &FetchMessage {
            info: &info,
            content: None,
        },
        &items,
    )
    .expect("fetch without content");
    let line = Response::Data(Data::Fetch {
        seq: 3,
        items: data,
    })
    .to_bytes(EncodeOptions::default());
    assert_eq!(
        String::from_utf8_lossy(&line),
        "* 3 FETCH (UID 42 FLAGS (\\Seen \\Flagged $forwarded work) \
         INTERNALDATE \"01-Jul-2003 08:52:37 +0000\" RFC822.SIZE 1234 MODSEQ (9001) \
         SAVEDATE \"14-Nov-2023 22:13:20 +0000\")\r\n"
    );
}

#[test]
fn content_items_need_content() {
    for item in [
        FetchItem::Envelope,
        FetchItem::Body,
        FetchItem::BodyStructure,
        FetchItem::Rfc822,
        FetchItem::Rfc822Header,
        FetchItem::Rfc822Text,
        body(&[], None, None),
        FetchItem::Binary {
            peek: true,
            part: vec![1],
            partial: None,
        },
        FetchItem::BinarySize { part: vec![1] },
    ] {
        assert!(needs_content(&[FetchItem::Uid, item.clone()]), "{item:?}");
        let info = info(10);
        assert_eq!(
            fetch_data(
                &FetchMessage {
                    info: &info,
                    content: None
                },
                &[FetchItem::Flags, item.clone()]
            ),
            Err(FetchError::MissingContent),
            "{item:?}"
        );
    }
}

#[test]
fn which_items_mark_seen() {
    let binary = |peek| FetchItem::Binary {
        peek,
        part: vec![1],
        partial: None,
    };
    let section = |peek| FetchItem::BodySection {
        peek,
        section: Section::default(),
        partial: None,
    };
    for (items, seen) in [
        (vec![section(false)], true),
        (vec![section(true)], false),
        (vec![binary(false)], true),
        (vec![binary(true)], false),
        (vec![FetchItem::Rfc822], true),
        (vec![FetchItem::Rfc822Text], true),
        (vec![FetchItem::Rfc822Header], false),
        (vec![FetchItem::BinarySize { part: vec![1] }], false),
        (
            vec![
                FetchItem::Envelope,
                FetchItem::BodyStructure,
                FetchItem::Flags,
                FetchItem::Rfc822Size,
            ],
            false,
        ),
        (vec![section(true), FetchItem::Rfc822], true),
        (vec![], false),
    ] {
        assert_eq!(marks_seen(&items), seen, "{items:?}");
    }
}

#[test]
fn items_come_back_in_order() {
    let items = [
        FetchItem::ModSeq,
        FetchItem::Envelope,
        FetchItem::Uid,
        body(&[1], None, None),
        FetchItem::Flags,
    ];
    let data = fetch(MIXED, &items).expect("fetch");
    assert!(matches!(
        data.as_slice(),
        [
            FetchData::ModSeq(9001),
            FetchData::Envelope(_),
            FetchData::Uid(42),
            FetchData::BodySection { .. },
            FetchData::Flags(_)
        ]
    ));
}

#[test]
fn envelope_and_structure() {
    let line = wire(MIXED, &[FetchItem::Envelope]);
    assert_eq!(
        line,
        "* 1 FETCH (ENVELOPE (\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Report\" \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.org\")) \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.org\")) \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"joerg\" \"example.org\")) \
         ((\"Ann\" NIL \"ann\" \"example.com\")) NIL NIL NIL \"<m1@example.org>\"))\r\n"
    );
    let body = wire(MIXED, &[FetchItem::Body]);
    let structure = wire(MIXED, &[FetchItem::BodyStructure]);
    assert!(
        body.starts_with("* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\""),
        "{body}"
    );
    assert!(
        structure.starts_with("* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\""),
        "{structure}"
    );
    // BODYSTRUCTURE has the multipart parameters (extension data), BODY does not.
    assert!(
        structure.contains("\"MIXED\" (\"BOUNDARY\" \"outer\")"),
        "{structure}"
    );
    assert!(body.ends_with("\"MIXED\"))\r\n"), "{body}");
    // The nested message is described with its own envelope and multipart structure.
    assert!(
        structure.contains("\"MESSAGE\" \"RFC822\"")
            && structure.contains("\"Inner\"")
            && structure.contains("\"ALTERNATIVE\""),
        "{structure}"
    );
}

#[test]
fn header_text_and_parts() {
    let header = section_text(&[], Some(SectionText::Header));
    assert!(
        header.starts_with("From: ") && header.ends_with(HEADER_END),
        "{header}"
    );
    let text = section_text(&[], Some(SectionText::Text));
    assert!(text.starts_with("preamble\r\n--outer\r\n") && text.ends_with("epilogue\r\n"));
    assert_eq!(header.len() + text.len(), MIXED.len());
    assert_eq!(section_text(&[], None).as_bytes(), MIXED);

    assert_eq!(section_text(&[1], None), "Gr=FC=DFe, soft=\r\nbreak");
    assert_eq!(
        section_text(&[1], Some(SectionText::Mime)),
        "Content-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    assert_eq!(section_text(&[2], None), "AAECAwD/");
    // Part 3 is a message/rfc822: HEADER and TEXT address the encapsulated message,
    // and its parts are numbered below it.
    assert!(
        section_text(&[3], Some(SectionText::Header)).starts_with("From: inner@example.net\r\n")
    );
    assert!(section_text(&[3], Some(SectionText::Text)).starts_with("--inner\r\n"));
    assert_eq!(section_text(&[3, 1], None), "inner plain");
    assert_eq!(
        section_text(&[3, 2,], Some(SectionText::Mime)),
        "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    assert!(section_text(&[3], None).starts_with("From: inner@example.net\r\n"));
}

#[test]
fn header_fields_and_not() {
    let fields = section_text(
        &[],
        Some(SectionText::HeaderFields(vec![
            "subject".into(),
            "MESSAGE-ID".into(),
            "X-Absent".into(),
        ])),
    );
    assert_eq!(
        fields,
        "Subject: Report\r\nMessage-ID: <m1@example.org>\r\n\r\n"
    );
    let not = section_text(
        &[],
        Some(SectionText::HeaderFieldsNot(vec![
            "From".into(),
            "to".into(),
            "content-type".into(),
            "mime-version".into(),
            "message-id".into(),
        ])),
    );
    assert_eq!(
        not,
        "Subject: Report\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\n"
    );
    let inner = section_text(
        &[3],
        Some(SectionText::HeaderFields(vec!["subject".into()])),
    );
    assert_eq!(inner, "Subject: Inner\r\n\r\n");
    // The wire form repeats the field names as asked.
    let line = wire(
        MIXED,
        &[body(
            &[],
            Some(SectionText::HeaderFields(vec!["Subject".into()])),
            None,
        )],
    );
    assert_eq!(
        line,
        "* 1 FETCH (BODY[HEADER.FIELDS (\"Subject\")] {19}\r\nSubject: Report\r\n\r\n)\r\n"
    );
}

#[test]
fn missing_sections_are_empty() {
    for (part, text) in [
        (vec![9], None),
        (vec![1, 2, 3], None),
        (vec![0], None),
        (vec![1], Some(SectionText::Header)), // part 1 is not a message
        (vec![2], Some(SectionText::Text)),
        (vec![], Some(SectionText::Mime)), // MIME needs a part
    ] {
        assert_eq!(section_text(&part, text.clone()), "", "{part:?} {text:?}");
    }
    assert_eq!(
        wire(MIXED, &[body(&[9], None, None)]),
        "* 1 FETCH (BODY[9] {0}\r\n)\r\n"
    );
}

#[test]
fn partial_ranges() {
    let partial = |p| bytes_of(fetch_one(MIXED, body(&[], None, Some(p))));
    assert_eq!(partial((0, 4)), b"From");
    assert_eq!(partial((6, 2)), b"=?");
    // Past the end: what there is, then nothing.
    let len = MIXED.len() as u32;
    assert_eq!(partial((len - 4, 100)), b"ue\r\n");
    assert_eq!(partial((len, 10)), b"");
    assert_eq!(partial((u32::MAX, u32::MAX)), b"");
    assert_eq!(partial((0, 0)), b"");
    // The response names the origin.
    assert_eq!(
        wire(MIXED, &[body(&[1], None, Some((3, 5)))]),
        "* 1 FETCH (BODY[1]<3> {5}\r\nFC=DF)\r\n"
    );
    assert_eq!(
        wire(MIXED, &[body(&[1], None, Some((1000, 5)))]),
        "* 1 FETCH (BODY[1]<1000> {0}\r\n)\r\n"
    );
}

#[test]
fn rfc822_items() {
    let line = wire(SIMPLE, &[FetchItem::Rfc822Header, FetchItem::Rfc822Text]);
    assert_eq!(
        line,
        "* 1 FETCH (RFC822.HEADER {33}\r\nSubject: simple\r\nX-Tag: été\r\n\r\n \
         RFC822.TEXT {17}\r\nhello\r\n8bit: é\r\n)\r\n"
    );
    assert_eq!(
        bytes_of(fetch_one(SIMPLE, FetchItem::Rfc822)),
        SIMPLE.to_vec()
    );
}

const SIMPLE: &[u8] =
    b"Subject: simple\r\nX-Tag: \xc3\xa9t\xc3\xa9\r\n\r\nhello\r\n8bit: \xc3\xa9\r\n";

fn binary(part: &[u32], partial: Option<(u32, u32)>) -> FetchItem {
    FetchItem::Binary {
        peek: true,
        part: part.to_vec(),
        partial,
    }
}

fn binary_data(raw: &[u8], part: &[u32]) -> Option<Vec<u8>> {
    match fetch_one(raw, binary(part, None)) {
        FetchData::Binary { data, origin, .. } => {
            assert_eq!(origin, None);
            data
        }
        other => panic!("{other:?}"),
    }
}

fn binary_size(raw: &[u8], part: &[u32]) -> u64 {
    match fetch_one(
        raw,
        FetchItem::BinarySize {
            part: part.to_vec(),
        },
    ) {
        FetchData::BinarySize { size, .. } => size,
        other => panic!("{other:?}"),
    }
}

#[test]
fn binary_decodes_transfer_encodings() {
    // Quoted-printable: soft line break removed, bytes as sent (Latin-1).
    assert_eq!(
        binary_data(MIXED, &[1]).as_deref(),
        Some(b"Gr\xfc\xdfe, softbreak".as_slice())
    );
    assert_eq!(binary_size(MIXED, &[1]), 16);
    // Base64 with NUL bytes: a literal8 on the wire.
    assert_eq!(
        binary_data(MIXED, &[2]).as_deref(),
        Some(b"\x00\x01\x02\x03\x00\xff".as_slice())
    );
    assert_eq!(binary_size(MIXED, &[2]), 6);
    let line = wire_bytes(MIXED, &[binary(&[2], None)]);
    assert_eq!(
        line,
        b"* 1 FETCH (BINARY[2] ~{6}\r\n\x00\x01\x02\x03\x00\xff)\r\n"
    );
    // Inside the encapsulated message.
    assert_eq!(
        binary_data(MIXED, &[3, 2]).as_deref(),
        Some(b"<p>inner</p>".as_slice())
    );
    assert_eq!(
        binary_data(MIXED, &[3, 1]).as_deref(),
        Some(b"inner plain".as_slice())
    );
    // BINARY[] is the whole message.
    assert_eq!(binary_data(MIXED, &[]).as_deref(), Some(MIXED));
    assert_eq!(binary_size(MIXED, &[]), MIXED.len() as u64);
    // Partial applies to the decoded data; the response names the origin (RFC 9051
    // §7.5.2, RFC 3516 §4.2).
    match fetch_one(MIXED, binary(&[2], Some((4, 10)))) {
        FetchData::Binary { data, origin, .. } => {
            assert_eq!(data.as_deref(), Some(b"\x00\xff".as_slice()));
            assert_eq!(origin, Some(4));
        }
        other => panic!("{other:?}"),
    }
    // A part that does not exist: NIL, size 0.
    assert_eq!(binary_data(MIXED, &[42]), None);
    assert_eq!(binary_size(MIXED, &[42]), 0);
    assert_eq!(
        wire(MIXED, &[binary(&[42], None)]),
        "* 1 FETCH (BINARY[42] NIL)\r\n"
    );
}

#[test]
fn binary_of_unknown_encoding_is_an_error() {
    for part in [[4u32], [5]] {
        let want = Err(FetchError::UnknownCte {
            part: part[0].to_string(),
        });
        assert_eq!(fetch(MIXED, &[FetchItem::Uid, binary(&part, None)]), want);
        assert_eq!(
            fetch(
                MIXED,
                &[FetchItem::BinarySize {
                    part: part.to_vec()
                }]
            ),
            want
        );
    }
    // BODY[] of the same part is fine: it is not decoded.
    assert_eq!(section_text(&[4], None), "begin 644 x");
    assert_eq!(
        FetchError::UnknownCte { part: "3.2".into() }.to_string(),
        "unknown or invalid content-transfer-encoding in part 3.2"
    );
}

/// Malformed messages: no blank line after the header, a multipart without its
/// boundary, broken base64, bare LF line ends, 8-bit junk, an empty message.
#[test]
fn malformed_messages_get_answers() {
    let all_items = || {
        vec![
            FetchItem::Envelope,
            FetchItem::Body,
            FetchItem::BodyStructure,
            FetchItem::Rfc822,
            FetchItem::Rfc822Header,
            FetchItem::Rfc822Text,
            body(&[], None, None),
            body(&[1], None, Some((2, 3))),
            body(&[1], Some(SectionText::Mime), None),
            body(&[2, 1], Some(SectionText::Header), None),
            body(
                &[],
                Some(SectionText::HeaderFields(vec!["subject".into()])),
                None,
            ),
            FetchItem::BinarySize { part: vec![1] },
        ]
    };
    let samples: [&[u8]; 6] = [
        b"Subject: no body separator\r\nFrom: x@y",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nunterminated part",
        b"Subject: lf only\nContent-Type: text/plain\n\nbody\n",
        b"\xff\xfe\x00junk: \x80\x81\r\n\r\n\x00\x00",
        b"",
    ];
    for raw in samples {
        let data = fetch(raw, &all_items()).expect("answer");
        assert_eq!(data.len(), all_items().len());
        // The wire form of every answer parses as a FETCH response.
        let line = Response::Data(Data::Fetch {
            seq: 1,
            items: data,
        })
        .to_bytes(EncodeOptions::default());
        use imap_codec::decode::Decoder;
        assert!(
            imap_codec::ResponseCodec::default().decode(&line).is_ok(),
            "{}",
            String::from_utf8_lossy(&line)
        );
    }
    // NUL bytes cannot go into a literal: they are sent as 0x80, same length.
    let raw = samples[4];
    let sent = bytes_of(fetch_one(raw, FetchItem::Rfc822));
    assert_eq!(sent.len(), raw.len());
    assert!(!sent.contains(&0));
    assert_eq!(sent.first(), Some(&0xff));
    assert_eq!(sent.get(2), Some(&0x80));
    // Header without a body: TEXT is empty, HEADER the whole message.
    let raw = samples[0];
    assert_eq!(bytes_of(fetch_one(raw, FetchItem::Rfc822Text)), b"");
    assert_eq!(bytes_of(fetch_one(raw, FetchItem::Rfc822Header)), raw);
}

proptest! {
    #[test]
    fn random_messages_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..1500),
        part in proptest::collection::vec(0u32..4, 0..3),
        offset in any::<u32>(),
        length in any::<u32>(),
    ) {
        let items = vec![
            FetchItem::Envelope,
            FetchItem::BodyStructure,
            body(&part, None, Some((offset, length))),
            body(&part, Some(SectionText::Text), None),
            body(&part, Some(SectionText::Mime), None),
            FetchItem::Binary { peek: false, part: part.clone(), partial: Some((offset, length)) },
            FetchItem::BinarySize { part: part.clone() },
        ];
        match fetch(&raw, &items) {
            Ok(data) => prop_assert_eq!(data.len(), items.len()),
            Err(e) => {
                let unknown_cte = matches!(e, FetchError::UnknownCte { .. });
                prop_assert!(unknown_cte, "{:?}", e);
            }
        }
    }
}

#[test]
fn header_only_content_answers_header_items() {
    let header_items = vec![
        FetchItem::Uid,
        FetchItem::Envelope,
        FetchItem::Rfc822Header,
        FetchItem::Rfc822Size,
        body(&[], Some(SectionText::Header), Some((5, 30))),
        body(
            &[],
            Some(SectionText::HeaderFields(vec![
                "subject".into(),
                "to".into(),
            ])),
            None,
        ),
        body(
            &[],
            Some(SectionText::HeaderFieldsNot(vec!["subject".into()])),
            None,
        ),
    ];
    assert!(header_suffices(&header_items));
    let header_len = HEADER_END.len()
        + MIXED
            .windows(HEADER_END.len())
            .position(|w| w == HEADER_END.as_bytes())
            .expect("header end");
    let info = info(MIXED.len() as u64);
    let from_header = fetch_data(
        &FetchMessage {
            info: &info,
            content: MIXED.get(..header_len),
        },
        &header_items,
    );
    assert_eq!(from_header, fetch(MIXED, &header_items));
    for item in [
        FetchItem::Body,
        FetchItem::BodyStructure,
        FetchItem::Rfc822,
        FetchItem::Rfc822Text,
        body(&[], None, None),
        body(&[], Some(SectionText::Text), None),
        body(&[1], Some(SectionText::Mime), None),
        body(&[3], Some(SectionText::Header), None),
        binary(&[], None),
        FetchItem::BinarySize { part: vec![] },
    ] {
        assert!(
            !header_suffices(&[FetchItem::Envelope, item.clone()]),
            "{item:?}"
        );
    }
    assert!(header_suffices(&[FetchItem::Flags, FetchItem::ModSeq]));
}
