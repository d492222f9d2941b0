use super::*;
use crate::body::BodyStructure;
use crate::command::{Section, SectionText};
use crate::encode::EncodeOptions;
use crate::limits::MAX_MIME_DEPTH;
use crate::response::{Data, FetchData, Response};
use proptest::prelude::*;

fn fetch_line(item: FetchData) -> String {
    let r = Response::Data(Data::Fetch {
        seq: 1,
        items: vec![item],
    });
    String::from_utf8_lossy(&r.to_bytes(EncodeOptions::default())).into_owned()
}

fn bodystructure(raw: &[u8]) -> String {
    let m = ParsedMessage::parse(raw);
    fetch_line(FetchData::BodyStructure {
        extensible: true,
        structure: m.body_structure(true),
    })
}

fn body(raw: &[u8]) -> String {
    let m = ParsedMessage::parse(raw);
    fetch_line(FetchData::BodyStructure {
        extensible: false,
        structure: m.body_structure(false),
    })
}

fn envelope(raw: &[u8]) -> String {
    let m = ParsedMessage::parse(raw);
    fetch_line(FetchData::Envelope(Box::new(m.envelope())))
}

fn sec(msg: &[u8], part: &[u32], text: Option<SectionText>) -> Result<Vec<u8>, SectionError> {
    let m = ParsedMessage::parse(msg);
    section(
        &m,
        &Section {
            part: part.to_vec(),
            text,
        },
    )
    .map(|c| c.into_owned())
}

const SIMPLE: &[u8] = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n\
From: Terry Gray <gray@cac.washington.edu>\r\n\
Subject: IMAP4rev2 WG mtg summary and minutes\r\n\
To: imap@cac.washington.edu\r\n\
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n\
Message-Id: <B27397-0100000@cac.washington.edu>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
line one\r\n\
line two\r\n\
line three\r\n";

#[test]
fn rfc_example_envelope() {
    assert_eq!(
        envelope(SIMPLE),
        "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \
         \"IMAP4rev2 WG mtg summary and minutes\" \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) \
         ((NIL NIL \"imap\" \"cac.washington.edu\")) \
         ((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) \
         NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\r\n"
    );
}

#[test]
fn simple_text_structure() {
    assert_eq!(
        bodystructure(SIMPLE),
        "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 32 3 NIL NIL NIL NIL))\r\n"
    );
    assert_eq!(
        body(SIMPLE),
        "* 1 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 32 3))\r\n"
    );
}

#[test]
fn defaults_without_content_type() {
    let msg = b"Subject: hi\r\n\r\nbody";
    assert_eq!(
        body(msg),
        "* 1 FETCH (BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 4 1))\r\n"
    );
    // No header fields at all: envelope is all NIL.
    assert_eq!(
        envelope(msg),
        "* 1 FETCH (ENVELOPE (NIL \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
    );
}

#[test]
fn group_syntax_and_sender_reply_to() {
    let msg = b"From: a@b.example\r\nSender: s@b.example\r\nReply-To: r@b.example\r\n\
To: Undisclosed: ;\r\nCc: Team: \"X Y\" <x@y.example>, z@y.example;\r\n\r\n";
    assert_eq!(
        envelope(msg),
        "* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"s\" \"b.example\")) \
         ((NIL NIL \"r\" \"b.example\")) ((NIL NIL \"Undisclosed\" NIL)(NIL NIL NIL NIL)) \
         ((NIL NIL \"Team\" NIL)(\"X Y\" NIL \"x\" \"y.example\")(NIL NIL \"z\" \"y.example\")(NIL NIL NIL NIL)) \
         NIL NIL NIL))\r\n"
    );
}

const MIXED: &[u8] = b"From: a@b.example\r\n\
Subject: mixed\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 =\r\n\
ok\r\n\
--XX\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
Content-ID: <id1@x>\r\n\
\r\n\
AAEC/w==\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@x.example\r\n\
Subject: inner\r\n\
\r\n\
inner body\r\n\
--XX--\r\n\
epilogue\r\n";

#[test]
fn multipart_structure() {
    assert_eq!(
        bodystructure(MIXED),
        "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 15 2 NIL NIL NIL NIL)\
(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") \"<id1@x>\" NIL \"BASE64\" 8 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.bin\")) NIL NIL)\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 51 \
(NIL \"inner\" ((NIL NIL \"inner\" \"x.example\")) ((NIL NIL \"inner\" \"x.example\")) ((NIL NIL \"inner\" \"x.example\")) NIL NIL NIL NIL NIL) \
(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) \
\"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL))\r\n"
    );
}

#[test]
fn sections() {
    assert_eq!(sec(MIXED, &[], None).unwrap(), MIXED);
    assert_eq!(sec(MIXED, &[1], None).unwrap(), b"caf=C3=A9 =\r\nok");
    assert_eq!(
        sec(MIXED, &[1], Some(SectionText::Mime)).unwrap(),
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    assert_eq!(sec(MIXED, &[3, 1], None).unwrap(), b"inner body");
    assert_eq!(
        sec(MIXED, &[3], Some(SectionText::Header)).unwrap(),
        b"From: inner@x.example\r\nSubject: inner\r\n\r\n"
    );
    assert_eq!(
        sec(MIXED, &[3], Some(SectionText::Text)).unwrap(),
        b"inner body"
    );
    assert_eq!(
        sec(MIXED, &[1], Some(SectionText::Text)),
        Err(SectionError::NoSuchPart)
    );
    assert_eq!(sec(MIXED, &[4], None), Err(SectionError::NoSuchPart));
    assert_eq!(sec(MIXED, &[0], None), Err(SectionError::NoSuchPart));
    assert_eq!(
        sec(
            MIXED,
            &[],
            Some(SectionText::HeaderFields(vec![
                "SUBJECT".into(),
                "from".into()
            ]))
        )
        .unwrap(),
        b"From: a@b.example\r\nSubject: mixed\r\n\r\n"
    );
    assert_eq!(
        sec(
            MIXED,
            &[],
            Some(SectionText::HeaderFieldsNot(vec![
                "Content-Type".into(),
                "from".into()
            ]))
        )
        .unwrap(),
        b"Subject: mixed\r\n\r\n"
    );
    let text = sec(MIXED, &[], Some(SectionText::Text)).unwrap();
    assert!(text.starts_with(b"preamble\r\n--XX\r\n"));
    // Non-multipart message: part 1 is the body.
    assert_eq!(
        sec(SIMPLE, &[1], None).unwrap(),
        sec(SIMPLE, &[], Some(SectionText::Text)).unwrap()
    );
    assert_eq!(sec(SIMPLE, &[2], None), Err(SectionError::NoSuchPart));
}

#[test]
fn partials() {
    let data = b"0123456789";
    assert_eq!(apply_partial(data, None), data);
    assert_eq!(apply_partial(data, Some((2, 3))), b"234");
    assert_eq!(apply_partial(data, Some((8, 100))), b"89");
    assert_eq!(apply_partial(data, Some((10, 1))), b"");
    assert_eq!(apply_partial(data, Some((u32::MAX, u32::MAX))), b"");
    let inner = sec(MIXED, &[3, 1], None).unwrap();
    assert_eq!(apply_partial(&inner, Some((6, 4))), b"body");
}

#[test]
fn binary_decoding() {
    let m = ParsedMessage::parse(MIXED);
    assert_eq!(binary(&m, &[1]).unwrap().as_ref(), "café ok".as_bytes());
    assert_eq!(binary(&m, &[2]).unwrap().as_ref(), &[0, 1, 2, 255]);
    assert_eq!(
        binary(&m, &[3]).unwrap().as_ref(),
        sec(MIXED, &[3], None).unwrap()
    );
    assert_eq!(binary(&m, &[]).unwrap().as_ref(), MIXED);
    assert_eq!(binary(&m, &[9]), Err(BinaryError::NoSuchPart));

    let bad = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n";
    let m = ParsedMessage::parse(bad);
    assert_eq!(binary(&m, &[1]), Err(BinaryError::UnknownCte));
    let bad64 = b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n";
    let m = ParsedMessage::parse(bad64);
    assert_eq!(binary(&m, &[1]), Err(BinaryError::UnknownCte));
}

#[test]
fn malformed_multipart_still_has_structure() {
    // No boundary parameter.
    let msg = b"Content-Type: multipart/mixed\r\n\r\nhello\r\n";
    let s = bodystructure(msg);
    assert!(s.contains("\"MIXED\""), "{s}");
    // Boundary never closed: the last part runs to the end.
    let msg =
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo";
    assert_eq!(sec(msg, &[2], None).unwrap(), b"two");
    assert_eq!(sec(msg, &[1], None).unwrap(), b"one");
    // Header without a blank line and 8-bit junk.
    let msg = b"Subject: \xff\xfe\r\nFrom: <<>>@@\r\nbroken line";
    let _ = bodystructure(msg);
    let _ = envelope(msg);
}

#[test]
fn lf_only_and_deep_nesting() {
    let msg = b"Content-Type: multipart/mixed; boundary=z\n\n--z\n\nA\n--z--\n";
    assert_eq!(sec(msg, &[1], None).unwrap(), b"A");
    let mut deep = Vec::new();
    for i in 0..(MAX_MIME_DEPTH + 50) {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    deep.extend_from_slice(b"\r\nleaf\r\n");
    let m = ParsedMessage::parse(&deep);
    fn depth(b: &BodyStructure) -> usize {
        match b {
            BodyStructure::Single(_) => 0,
            BodyStructure::Multipart(m) => 1 + m.parts.iter().map(depth).max().unwrap_or(0),
        }
    }
    assert!(depth(&m.body_structure(true)) <= MAX_MIME_DEPTH + 1);
}

/// Split an mbox into messages (CRLF line endings), undoing `>From ` escaping.
fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            out.push(Vec::new());
            continue;
        }
        if let Some(cur) = out.last_mut() {
            let line = line
                .strip_prefix(b">")
                .filter(|l| l.starts_with(b"From "))
                .unwrap_or(line);
            cur.extend_from_slice(line);
            cur.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn check_invariants(raw: &[u8], b: &BodyStructure) {
    match b {
        BodyStructure::Single(p) => {
            assert!(p.size <= raw.len() as u64);
            assert!(!p.media_type.is_empty() && !p.subtype.is_empty());
            assert_eq!(p.media_type, p.media_type.to_ascii_uppercase());
            if let crate::body::SingleKind::Message { body, .. } = &p.kind {
                check_invariants(raw, body);
            }
        }
        BodyStructure::Multipart(m) => {
            for part in &m.parts {
                check_invariants(raw, part);
            }
        }
    }
}

#[test]
fn gen_mbox_corpus_parses() {
    use imap_codec::decode::Decoder;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("corpus.mbox");
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py"))
        .arg(&path)
        .arg("300")
        .arg("7")
        .status()
        .expect("run gen-mbox.py");
    assert!(status.success());
    let data = std::fs::read(&path).expect("read mbox");
    let msgs = split_mbox(&data);
    assert_eq!(msgs.len(), 300);
    let mut multiparts = 0;
    for raw in &msgs {
        let m = ParsedMessage::parse(raw);
        let env = m.envelope();
        assert!(env.message_id.is_some() && !env.from.is_empty() && env.date.is_some());
        let bs = m.body_structure(true);
        check_invariants(raw, &bs);
        // What we write for it parses with imap-codec.
        let r = Response::Data(Data::Fetch {
            seq: 1,
            items: vec![
                FetchData::Envelope(Box::new(env.clone())),
                FetchData::BodyStructure {
                    extensible: true,
                    structure: bs.clone(),
                },
            ],
        });
        let bytes = r.to_bytes(EncodeOptions { utf8: true });
        assert!(
            imap_codec::ResponseCodec::default().decode(&bytes).is_ok(),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        if let BodyStructure::Multipart(mp) = &bs {
            multiparts += 1;
            assert!(!mp.parts.is_empty());
            for i in 1..=mp.parts.len() as u32 {
                let s = section(
                    &m,
                    &Section {
                        part: vec![i],
                        text: None,
                    },
                )
                .expect("part");
                let _ = binary(&m, &[i]);
                assert!(s.len() < raw.len());
            }
        }
        // Header + text = whole message.
        let h = section(
            &m,
            &Section {
                part: vec![],
                text: Some(SectionText::Header),
            },
        )
        .expect("header");
        let t = section(
            &m,
            &Section {
                part: vec![],
                text: Some(SectionText::Text),
            },
        )
        .expect("text");
        assert_eq!([h.as_ref(), t.as_ref()].concat(), raw.as_slice());
    }
    assert!(multiparts > 10);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let m = ParsedMessage::parse(&data);
        let _ = m.envelope();
        let _ = m.body_structure(true);
        let _ = fetch_line(FetchData::BodyStructure { extensible: true, structure: m.body_structure(true) });
        for part in [vec![], vec![1], vec![1, 1], vec![2, 3]] {
            for text in [None, Some(SectionText::Header), Some(SectionText::Text), Some(SectionText::Mime)] {
                let _ = section(&m, &Section { part: part.clone(), text });
            }
            let _ = binary(&m, &part);
        }
    }

    #[test]
    fn mime_shaped_input_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("Content-Type: multipart/mixed; boundary=b\r\n".to_string()),
                Just("Content-Type: message/rfc822\r\n".to_string()),
                Just("Content-Transfer-Encoding: base64\r\n".to_string()),
                Just("Content-Transfer-Encoding: quoted-printable\r\n".to_string()),
                Just("\r\n".to_string()),
                Just("--b\r\n".to_string()),
                Just("--b--\r\n".to_string()),
                Just("To: g: a@b, \"q\" <c@d>;\r\n".to_string()),
                Just("=ZZ=\r\n".to_string()),
                "[ -~]{0,20}\r\n",
            ],
            0..60,
        )
    ) {
        let raw = parts.concat().into_bytes();
        let m = ParsedMessage::parse(&raw);
        let _ = m.envelope();
        check_invariants(&raw, &m.body_structure(true));
        for part in [vec![1], vec![1, 1], vec![1, 1, 1], vec![2, 1]] {
            let _ = section(&m, &Section { part: part.clone(), text: Some(SectionText::Header) });
            let _ = section(&m, &Section { part: part.clone(), text: None });
            let _ = binary(&m, &part);
        }
    }
}

#[test]
fn unparsed_message_part_keeps_grammar() {
    // message/rfc822 in base64 is not parsed, but still gets envelope and body fields.
    let msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBiDQoNCmhp\r\n--b--\r\n";
    assert_eq!(
        body(msg),
        "* 1 FETCH (BODY ((\"MESSAGE\" \"RFC822\" NIL NIL NIL \"BASE64\" 20 \
         (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 1) \"MIXED\"))\r\n"
    );
}

/// imap-codec parses every BODYSTRUCTURE, BODY and ENVELOPE we write. (imap-codec itself
/// refuses bodies nested deeper than 7 levels, so the nested samples stay below that.)
#[test]
fn imap_codec_parses_our_structures() {
    use imap_codec::ResponseCodec;
    use imap_codec::decode::Decoder;
    let mut deep = Vec::new();
    for i in 0..6 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    let mut nested_msg = Vec::new();
    for _ in 0..3 {
        nested_msg.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    nested_msg.extend_from_slice(b"\r\nx");
    let samples: Vec<&[u8]> = vec![
        SIMPLE,
        MIXED,
        b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
        b"Subject: \xff junk\r\nTo: g: ;\r\n\r\n",
        b"",
        &deep,
        &nested_msg,
    ];
    let codec = ResponseCodec::default();
    for raw in samples {
        let m = ParsedMessage::parse(raw);
        for item in [
            FetchData::BodyStructure {
                extensible: true,
                structure: m.body_structure(true),
            },
            FetchData::BodyStructure {
                extensible: false,
                structure: m.body_structure(false),
            },
            FetchData::Envelope(Box::new(m.envelope())),
        ] {
            let r = Response::Data(Data::Fetch {
                seq: 1,
                items: vec![item],
            });
            for opts in [EncodeOptions { utf8: false }, EncodeOptions { utf8: true }] {
                let bytes = r.to_bytes(opts);
                match codec.decode(&bytes) {
                    Ok((rest, _)) => {
                        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&bytes))
                    }
                    Err(e) => panic!("{e:?}: {}", String::from_utf8_lossy(&bytes)),
                }
            }
        }
    }
}

#[test]
#[ignore = "prints a few corpus structures for eyeballing"]
fn print_corpus_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.mbox");
    let ok = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py"))
        .arg(&path)
        .arg("12")
        .status()
        .expect("run");
    assert!(ok.success());
    for raw in split_mbox(&std::fs::read(&path).expect("read")) {
        println!("{}", bodystructure(&raw));
        println!("{}", envelope(&raw));
    }
}
