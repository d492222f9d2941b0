use super::*;
use crate::body::{BodyStructure, Multipart, PartExtension, SingleKind, SinglePart};
use crate::command::{Section, SectionText, StatusItem};
use crate::datetime::DateTime;
use crate::envelope::{Address, Envelope};
use crate::response::{
    Code, Data, EsearchData, FetchData, ListData, Rfc822Part, StatusKind, StatusResponse,
};
use crate::types::{Flag, SeqNum, SequenceSet};
use imap_codec::decode::Decoder;
use imap_codec::{GreetingCodec, ResponseCodec};

const REV1: EncodeOptions = EncodeOptions { utf8: false };
const REV2: EncodeOptions = EncodeOptions { utf8: true };

fn enc(r: &Response, o: EncodeOptions) -> String {
    String::from_utf8_lossy(&r.to_bytes(o)).into_owned()
}

fn data(d: Data) -> Response {
    Response::Data(d)
}

fn range(a: u32, b: u32) -> SequenceSet {
    SequenceSet::Ranges(vec![(SeqNum::Value(a), SeqNum::Value(b))])
}

fn dt() -> DateTime {
    DateTime {
        unix: 1_704_445_872,
        offset_minutes: 60,
    }
}

/// Responses imap-codec can parse (it lacks ESEARCH, VANISHED, SAVEDATE and LIST's
/// extended items CHILDINFO/OLDNAME; those are checked byte for byte in `exact_bytes`).
fn oracle_set() -> Vec<Response> {
    let mut v = vec![
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::Capability(vec![
                "IMAP4rev2".into(),
                "IMAP4rev1".into(),
                "LITERAL+".into(),
            ])),
            "postern ready",
        )),
        Response::Status(StatusResponse::tagged("a1", StatusKind::Ok, None, "done")),
        Response::Status(StatusResponse::tagged("a1", StatusKind::Ok, None, "")),
        Response::Status(StatusResponse::tagged(
            "a2",
            StatusKind::No,
            Some(Code::TryCreate),
            "no such mailbox",
        )),
        Response::Status(StatusResponse::tagged(
            "a3",
            StatusKind::Bad,
            Some(Code::TooBig),
            "literal\r\ntoo big",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Bye,
            Some(Code::Alert),
            "bye",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::PreAuth,
            None,
            "hi alice@example.org",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::PermanentFlags {
                flags: vec![Flag::Seen, Flag::Deleted, Flag::Keyword("$Junk".into())],
                new_keywords: true,
            }),
            "x",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::UidNext(5)),
            "x",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::UidValidity(7)),
            "x",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::Unseen(3)),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::ReadWrite),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::ReadOnly),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::AppendUid {
                uid_validity: 1,
                uids: range(4, 6),
            }),
            "appended",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::CopyUid {
                uid_validity: 1,
                source: range(1, 2),
                dest: range(7, 8),
            }),
            "copied",
        )),
        Response::Status(StatusResponse::untagged(
            StatusKind::Ok,
            Some(Code::HighestModSeq(99)),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::Closed),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::Unavailable),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::AuthenticationFailed),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::OverQuota),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::BadCharset(vec!["UTF-8".into()])),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::UidNotSticky),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::UseAttr),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::NotSaved),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::Ok,
            Some(Code::Modified(range(1, 3))),
            "x",
        )),
        Response::Status(StatusResponse::tagged(
            "a",
            StatusKind::No,
            Some(Code::NoModSeq),
            "x",
        )),
        Response::Continue(String::new()),
        Response::Continue("waiting".into()),
        Response::Continue("dGVzdA==".into()),
        data(Data::Capability(vec![
            "IMAP4rev1".into(),
            "IDLE".into(),
            "AUTH=PLAIN".into(),
        ])),
        data(Data::Enabled(vec!["CONDSTORE".into()])),
        data(Data::Flags(vec![
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Draft,
        ])),
        data(Data::Exists(23)),
        data(Data::Recent(1)),
        data(Data::Expunge(3)),
        data(Data::List(ListData {
            attributes: vec!["\\HasNoChildren".into(), "\\Drafts".into()],
            delimiter: Some('/'),
            mailbox: "Entwürfe".into(),
            old_name: None,
            child_info_subscribed: false,
        })),
        data(Data::List(ListData {
            attributes: vec![],
            delimiter: None,
            mailbox: "INBOX".into(),
            old_name: None,
            child_info_subscribed: false,
        })),
        data(Data::Lsub(ListData {
            attributes: vec!["\\Noselect".into()],
            delimiter: Some('/'),
            mailbox: "a \"q\"".into(),
            old_name: None,
            child_info_subscribed: false,
        })),
        data(Data::Status {
            mailbox: "INBOX".into(),
            items: vec![
                (StatusItem::Messages, 3),
                (StatusItem::UidNext, 4),
                (StatusItem::Unseen, 0),
            ],
        }),
        data(Data::Search {
            ids: vec![1, 5, 9],
            mod_seq: None,
        }),
        data(Data::Search {
            ids: vec![],
            mod_seq: None,
        }),
        data(Data::Search {
            ids: vec![2],
            mod_seq: Some(917_162_500),
        }),
        data(Data::Id(None)),
        data(Data::Id(Some(vec![
            ("name".into(), Some("postern".into())),
            ("version".into(), None),
        ]))),
        data(Data::Namespace {
            personal: Some(vec![(String::new(), Some('/'))]),
            other: None,
            shared: None,
        }),
    ];
    let full = Envelope {
        date: Some("Fri, 5 Jan 2024 10:11:12 +0100".into()),
        subject: Some("multi\r\nline".into()),
        from: vec![Address {
            name: Some("Alice".into()),
            adl: None,
            mailbox: Some("alice".into()),
            host: Some("example.org".into()),
        }],
        message_id: Some("<x@y>".into()),
        ..Envelope::default()
    };
    v.push(data(Data::Fetch {
        seq: 1,
        items: vec![
            FetchData::Uid(7),
            FetchData::Flags(vec![Flag::Seen, Flag::Keyword("$Forwarded".into())]),
            FetchData::Rfc822Size(1234),
            FetchData::InternalDate(dt()),
            FetchData::ModSeq(12),
            FetchData::Envelope(Box::new(full)),
        ],
    }));
    v.push(data(Data::Fetch {
        seq: 2,
        items: vec![
            FetchData::BodySection {
                section: Section::default(),
                origin: None,
                data: Some(b"Subject: x\r\n\r\nbody\r\n".to_vec()),
            },
            FetchData::BodySection {
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::HeaderFields(vec!["From".into(), "To".into()])),
                },
                origin: Some(10),
                data: None,
            },
            FetchData::BodySection {
                section: Section {
                    part: vec![1],
                    text: Some(SectionText::Mime),
                },
                origin: None,
                data: Some(vec![]),
            },
            FetchData::Rfc822 {
                which: Rfc822Part::Header,
                data: Some(b"A: b\r\n\r\n".to_vec()),
            },
            FetchData::Binary {
                part: vec![1],
                origin: None,
                data: Some(b"abc".to_vec()),
            },
            FetchData::Binary {
                part: vec![2],
                origin: None,
                data: Some(b"a\0c".to_vec()),
            },
            FetchData::BinarySize {
                part: vec![1],
                size: 3,
            },
        ],
    }));
    for extensible in [false, true] {
        v.push(data(Data::Fetch {
            seq: 3,
            items: vec![FetchData::BodyStructure {
                extensible,
                structure: sample_structure(),
            }],
        }));
        v.push(data(Data::Fetch {
            seq: 4,
            items: vec![FetchData::BodyStructure {
                extensible,
                structure: BodyStructure::Multipart(Multipart {
                    parts: vec![],
                    subtype: "mixed".into(),
                    params: vec![],
                    ext: PartExtension::default(),
                }),
            }],
        }));
    }
    v
}

fn text_part(subtype: &str) -> BodyStructure {
    BodyStructure::Single(Box::new(SinglePart {
        media_type: "text".into(),
        subtype: subtype.into(),
        params: vec![("charset".into(), "utf-8".into())],
        id: None,
        description: None,
        encoding: "quoted-printable".into(),
        size: 120,
        kind: SingleKind::Text { lines: 4 },
        ext: PartExtension::default(),
    }))
}

fn sample_structure() -> BodyStructure {
    let attachment = BodyStructure::Single(Box::new(SinglePart {
        media_type: "application".into(),
        subtype: "pdf".into(),
        params: vec![("name".into(), "a b.pdf".into())],
        id: Some("<id@x>".into()),
        description: Some("Bericht für ü".into()),
        encoding: "base64".into(),
        size: 4096,
        kind: SingleKind::Basic,
        ext: PartExtension {
            md5: Some("abc".into()),
            disposition: Some((
                "attachment".into(),
                vec![("filename".into(), "a b.pdf".into())],
            )),
            language: vec!["de".into(), "en".into()],
            location: Some("http://x/".into()),
        },
    }));
    let inner = BodyStructure::Single(Box::new(SinglePart {
        media_type: "message".into(),
        subtype: "rfc822".into(),
        params: vec![],
        id: None,
        description: None,
        encoding: "7bit".into(),
        size: 300,
        kind: SingleKind::Message {
            envelope: Box::new(Envelope {
                subject: Some("fwd".into()),
                ..Envelope::default()
            }),
            body: Box::new(text_part("plain")),
            lines: 10,
        },
        ext: PartExtension {
            language: vec!["en".into()],
            ..PartExtension::default()
        },
    }));
    BodyStructure::Multipart(Multipart {
        parts: vec![
            BodyStructure::Multipart(Multipart {
                parts: vec![text_part("plain"), text_part("html")],
                subtype: "alternative".into(),
                params: vec![("boundary".into(), "b2".into())],
                ext: PartExtension::default(),
            }),
            attachment,
            inner,
        ],
        subtype: "mixed".into(),
        params: vec![("boundary".into(), "b1".into())],
        ext: PartExtension::default(),
    })
}

#[test]
fn body_structure_bytes() {
    let r = data(Data::Fetch {
        seq: 1,
        items: vec![FetchData::BodyStructure {
            extensible: true,
            structure: text_part("plain"),
        }],
    });
    assert_eq!(
        enc(&r, REV1),
        "* 1 FETCH (BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 120 4 NIL NIL NIL NIL))\r\n"
    );
    let r = data(Data::Fetch {
        seq: 1,
        items: vec![FetchData::BodyStructure {
            extensible: false,
            structure: BodyStructure::Multipart(Multipart {
                parts: vec![text_part("plain")],
                subtype: "mixed".into(),
                params: vec![("boundary".into(), "x".into())],
                ext: PartExtension::default(),
            }),
        }],
    });
    assert_eq!(
        enc(&r, REV1),
        "* 1 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" 120 4) \"mixed\"))\r\n"
    );
}

#[test]
fn imap_codec_parses_what_we_encode() {
    let codec = ResponseCodec::default();
    for opts in [REV1, REV2] {
        for r in oracle_set() {
            let bytes = r.to_bytes(opts);
            // PREAUTH exists only as a greeting.
            let greeting = matches!(&r, Response::Status(s) if s.kind == StatusKind::PreAuth);
            let result = if greeting {
                GreetingCodec::default()
                    .decode(&bytes)
                    .map(|(rest, _)| rest)
                    .map_err(|e| format!("{e:?}"))
            } else {
                codec
                    .decode(&bytes)
                    .map(|(rest, _)| rest)
                    .map_err(|e| format!("{e:?}"))
            };
            match result {
                Ok(rest) => assert!(rest.is_empty(), "{}: left {:?}", enc(&r, opts), rest),
                Err(e) => panic!(
                    "imap-codec rejects {:?}: {e}",
                    String::from_utf8_lossy(&bytes)
                ),
            }
        }
    }
}

/// imap-codec follows the ABNF of RFC 3516/9051, which leaves the origin out of a
/// partial `BINARY[...]` response although both RFCs' prose (RFC 9051 §7.5.2) has it;
/// everything else of such a response must parse there.
#[test]
fn imap_codec_parses_binary_partials_but_for_the_origin() {
    let r = data(Data::Fetch {
        seq: 1,
        items: vec![
            FetchData::Binary {
                part: vec![5],
                origin: Some(0),
                data: Some(b"a\r\nb\0".to_vec()),
            },
            FetchData::Uid(4),
        ],
    });
    let bytes = r.to_bytes(REV2);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "* 1 FETCH (BINARY[5]<0> ~{5}\r\na\r\nb\0 UID 4)\r\n"
    );
    let without_origin = String::from_utf8_lossy(&bytes).replacen("<0>", "", 1);
    let decoded = ResponseCodec::default().decode(without_origin.as_bytes());
    assert!(
        matches!(decoded, Ok((rest, _)) if rest.is_empty()),
        "{decoded:?}"
    );
}

#[test]
fn exact_bytes() {
    let cases: Vec<(Response, EncodeOptions, &str)> = vec![
        (
            Response::Status(StatusResponse::tagged(
                "a3",
                StatusKind::Bad,
                Some(Code::TooBig),
                "x\r\ny",
            )),
            REV1,
            "a3 BAD [TOOBIG] x  y\r\n",
        ),
        (
            data(Data::List(ListData {
                attributes: vec!["\\HasNoChildren".into()],
                delimiter: Some('/'),
                mailbox: "Entwürfe".into(),
                old_name: None,
                child_info_subscribed: false,
            })),
            REV1,
            "* LIST (\\HasNoChildren) \"/\" \"Entw&APw-rfe\"\r\n",
        ),
        (
            data(Data::List(ListData {
                attributes: vec!["\\HasNoChildren".into()],
                delimiter: Some('/'),
                mailbox: "Entwürfe".into(),
                old_name: Some("Old".into()),
                child_info_subscribed: true,
            })),
            REV2,
            "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\" (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (\"Old\"))\r\n",
        ),
        (
            data(Data::Esearch(EsearchData {
                tag: Some("a5".into()),
                uid: true,
                min: Some(1),
                max: Some(9),
                all: Some(SequenceSet::Ranges(vec![
                    (SeqNum::Value(1), SeqNum::Value(3)),
                    (SeqNum::Value(9), SeqNum::Value(9)),
                ])),
                count: Some(4),
                mod_seq: Some(17),
            })),
            REV2,
            "* ESEARCH (TAG \"a5\") UID MIN 1 MAX 9 ALL 1:3,9 COUNT 4 MODSEQ 17\r\n",
        ),
        (
            data(Data::Esearch(EsearchData {
                tag: Some("t".into()),
                ..EsearchData::default()
            })),
            REV2,
            "* ESEARCH (TAG \"t\")\r\n",
        ),
        (
            data(Data::Vanished {
                earlier: true,
                uids: range(300, 310),
            }),
            REV2,
            "* VANISHED (EARLIER) 300:310\r\n",
        ),
        (
            data(Data::Fetch {
                seq: 3,
                items: vec![
                    FetchData::SaveDate(Some(dt())),
                    FetchData::SaveDate(None),
                    FetchData::InternalDate(DateTime {
                        unix: 0,
                        offset_minutes: -330,
                    }),
                ],
            }),
            REV2,
            "* 3 FETCH (SAVEDATE \"05-Jan-2024 10:11:12 +0100\" SAVEDATE NIL INTERNALDATE \"31-Dec-1969 18:30:00 -0530\")\r\n",
        ),
        (
            data(Data::Fetch {
                seq: 1,
                items: vec![
                    FetchData::Binary {
                        part: vec![1],
                        origin: Some(2),
                        data: Some(b"a\0b".to_vec()),
                    },
                    FetchData::BodySection {
                        section: Section::default(),
                        origin: None,
                        data: Some(b"hi".to_vec()),
                    },
                ],
            }),
            REV2,
            "* 1 FETCH (BINARY[1]<2> ~{3}\r\na\0b BODY[] {2}\r\nhi)\r\n",
        ),
        (
            data(Data::Status {
                mailbox: "ü".into(),
                items: vec![
                    (StatusItem::Size, 10),
                    (StatusItem::Deleted, 1),
                    (StatusItem::HighestModSeq, 5),
                ],
            }),
            REV1,
            "* STATUS \"&APw-\" (SIZE 10 DELETED 1 HIGHESTMODSEQ 5)\r\n",
        ),
        (
            data(Data::Id(Some(vec![("name".into(), Some("a\r\nb".into()))]))),
            REV1,
            "* ID (\"name\" {4}\r\na\r\nb)\r\n",
        ),
        (
            Response::Status(StatusResponse::untagged(
                StatusKind::Ok,
                Some(Code::PermanentFlags {
                    flags: vec![],
                    new_keywords: true,
                }),
                "x",
            )),
            REV1,
            "* OK [PERMANENTFLAGS (\\*)] x\r\n",
        ),
        (Response::Continue(String::new()), REV1, "+ \r\n"),
        (
            Response::Status(StatusResponse::tagged("a", StatusKind::No, None, "[x")),
            REV1,
            "a NO  [x\r\n",
        ),
    ];
    for (r, o, want) in cases {
        assert_eq!(enc(&r, o), want);
    }
}

#[test]
fn eight_bit_strings() {
    // 8-bit data becomes a literal for IMAP4rev1 clients, a quoted UTF-8 string for rev2.
    let r = data(Data::Id(Some(vec![("name".into(), Some("ü".into()))])));
    assert_eq!(enc(&r, REV1), "* ID (\"name\" {2}\r\nü)\r\n");
    assert_eq!(enc(&r, REV2), "* ID (\"name\" \"ü\")\r\n");
}

#[test]
fn date_time_round_trip() {
    for (unix, off) in [
        (0i64, 0i32),
        (1_704_445_872, 60),
        (951_782_400, -480),
        (4_102_444_800, 840),
    ] {
        let s = format_date_time(DateTime {
            unix,
            offset_minutes: off,
        });
        let raw = crate::reader::RawCommand {
            bytes: format!("a APPEND x \"{s}\" {{1}}\r\n").into_bytes(),
            messages: vec![crate::reader::MessageLiteral {
                size: 1,
                binary: false,
            }],
        };
        let c = crate::parse::parse_command(&raw, Default::default()).unwrap();
        let crate::command::CommandBody::Append { messages, .. } = c.body else {
            panic!()
        };
        assert_eq!(
            messages[0].date,
            Some(DateTime {
                unix,
                offset_minutes: off
            }),
            "{s}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
    #[test]
    fn any_string_encodes_parseably(
        a in ".{0,40}",
        b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        name in ".{1,30}",
        text in ".{0,40}",
        utf8 in proptest::prelude::any::<bool>(),
    ) {
        let opts = EncodeOptions { utf8 };
        let b = String::from_utf8_lossy(&b).into_owned();
        let responses = [
            data(Data::Id(Some(vec![(a.clone(), Some(b.clone())), (b, None)]))),
            data(Data::List(ListData { attributes: vec![], delimiter: Some('/'), mailbox: name.clone(), old_name: None, child_info_subscribed: false })),
            data(Data::Status { mailbox: name, items: vec![(StatusItem::Messages, 1)] }),
            Response::Status(StatusResponse::tagged("a", StatusKind::No, None, &text)),
            Response::Status(StatusResponse::tagged("a", StatusKind::No, Some(Code::Alert), &a)),
        ];
        let rev1 = Response::Status(StatusResponse::tagged("a", StatusKind::No, None, &a)).to_bytes(REV1);
        proptest::prop_assert!(rev1.is_ascii());
        for r in responses {
            // imap-codec knows only IMAP4rev1's 7-bit `text`.
            if utf8 && matches!(&r, Response::Status(s) if !s.text.is_ascii()) {
                continue;
            }
            let bytes = r.to_bytes(opts);
            let res = ResponseCodec::default().decode(&bytes).map(|(rest, _)| rest.len());
            proptest::prop_assert_eq!(res, Ok(0), "{:?}", String::from_utf8_lossy(&bytes));
        }
    }
}
