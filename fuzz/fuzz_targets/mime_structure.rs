//! MIME structure of arbitrary bytes taken as a stored message: BODYSTRUCTURE, BODY,
//! ENVELOPE, every section and BINARY part, and the decoded text for SEARCH never
//! panic; sizes stay within the message; and imap-codec parses the FETCH responses
//! the encoder writes from them.
#![no_main]

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use libfuzzer_sys::fuzz_target;
use postern_imap_proto::body::{BodyStructure, SingleKind};
use postern_imap_proto::command::{Section, SectionText};
use postern_imap_proto::encode::EncodeOptions;
use postern_imap_proto::mime::{ParsedMessage, apply_partial, binary, section, text};
use postern_imap_proto::response::{Data, FetchData, Response};

/// Part numbers tried: the message itself, near parts, nested ones, and impossible ones.
const PARTS: &[&[u32]] = &[
    &[],
    &[1],
    &[2],
    &[3],
    &[1, 1],
    &[1, 2],
    &[2, 1],
    &[1, 1, 1],
    &[2, 2, 2, 2],
    &[0],
    &[u32::MAX],
];

/// imap-codec refuses bodies nested deeper than this.
const IMAP_CODEC_MAX_NESTING: usize = 7;

fuzz_target!(|data: &[u8]| {
    let msg = ParsedMessage::parse(data);
    let envelope = msg.envelope();
    let mut items = vec![FetchData::Envelope(Box::new(envelope))];
    for extensible in [false, true] {
        let structure = msg.body_structure(extensible);
        check_sizes(data, &structure);
        if depth(&structure) <= IMAP_CODEC_MAX_NESTING {
            items.push(FetchData::BodyStructure {
                extensible,
                structure,
            });
        }
    }
    let texts = [
        None,
        Some(SectionText::Header),
        Some(SectionText::Text),
        Some(SectionText::Mime),
        Some(SectionText::HeaderFields(vec![
            "From".into(),
            "subject".into(),
        ])),
        Some(SectionText::HeaderFieldsNot(vec!["Received".into()])),
    ];
    for part in PARTS {
        for text in &texts {
            let wanted = Section {
                part: part.to_vec(),
                text: text.clone(),
            };
            if let Ok(bytes) = section(&msg, &wanted) {
                let _ = apply_partial(&bytes, Some((3, 17)));
                let _ = apply_partial(&bytes, Some((u32::MAX, u32::MAX)));
            }
        }
        if let Ok(decoded) = binary(&msg, part) {
            let _ = apply_partial(&decoded, Some((0, 1)));
        }
    }
    let _ = text::header_text(&msg);
    let _ = text::body_text(&msg);
    let _ = text::header_values(&msg, "from");
    let codec = ResponseCodec::default();
    for item in items {
        let response = Response::Data(Data::Fetch {
            seq: 1,
            items: vec![item],
        });
        for utf8 in [false, true] {
            let bytes = response.to_bytes(EncodeOptions { utf8 });
            match codec.decode(&bytes) {
                Ok((rest, _)) => assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&bytes)),
                Err(e) => panic!("{e:?}: {}", String::from_utf8_lossy(&bytes)),
            }
        }
    }
});

fn check_sizes(raw: &[u8], structure: &BodyStructure) {
    match structure {
        BodyStructure::Single(part) => {
            assert!(part.size <= raw.len() as u64);
            if let SingleKind::Message { body, .. } = &part.kind {
                check_sizes(raw, body);
            }
        }
        BodyStructure::Multipart(multi) => {
            for part in &multi.parts {
                check_sizes(raw, part);
            }
        }
    }
}

fn depth(structure: &BodyStructure) -> usize {
    match structure {
        BodyStructure::Single(part) => match &part.kind {
            SingleKind::Message { body, .. } => 1 + depth(body),
            _ => 1,
        },
        BodyStructure::Multipart(multi) => 1 + multi.parts.iter().map(depth).max().unwrap_or(1),
    }
}
