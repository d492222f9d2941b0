//! FETCH data items of one message, evaluated from its index entry and (when an item
//! needs it) its content: a pure function, no I/O. The session decides which messages,
//! loads the content when [`needs_content`] says so, sets `\Seen` when [`marks_seen`]
//! says so, and sends the items [`fetch_data`] returns.
//!
//! Choices where the RFCs leave room:
//! * `BODY[section]` of a part that does not exist is an empty string (RFC 9051 §6.4.5
//!   allows it; clients expecting a literal are not surprised by NIL). `BINARY[part]` of
//!   a part that does not exist is NIL.
//! * A `BINARY[part]<origin.count>` response names its origin (`BINARY[1]<0>`) like
//!   `BODY[...]<origin>` does: RFC 9051 §7.5.2 and RFC 3516 §4.2 say so in prose, though
//!   the ABNF of both leaves it out. The origin is an offset into the decoded data.
//! * INTERNALDATE and SAVEDATE are sent in UTC (`+0000`): the index keeps unix seconds.
//! * A NUL byte cannot be sent in a literal (only in BINARY's literal8), so NUL bytes in
//!   `BODY[...]` and `RFC822*` data are replaced by 0x80, as Dovecot does; sizes and
//!   offsets stay the same.

use std::borrow::Cow;

use crate::store::MessageInfo;
use postern_imap_proto::command::{FetchItem, Section, SectionText};
use postern_imap_proto::datetime::DateTime;
use postern_imap_proto::mime::{self, BinaryError, ParsedMessage};
use postern_imap_proto::response::{FetchData, Rfc822Part};
use postern_imap_proto::types::Flag;

/// One message as FETCH sees it: its index entry and, when [`needs_content`] asked for
/// it, the whole message file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchMessage<'a> {
    /// The index entry (flags, sizes, dates, UID, modseq).
    pub info: &'a MessageInfo,
    /// The raw message; `None` when it was not loaded.
    pub content: Option<&'a [u8]>,
}

/// Why FETCH cannot answer for a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    /// `BINARY` of a part whose Content-Transfer-Encoding is unknown or whose body is not
    /// valid in it: the caller answers `NO [UNKNOWN-CTE]` (RFC 9051 §7.1).
    #[error("unknown or invalid content-transfer-encoding in part {part}")]
    UnknownCte {
        /// The part, as dotted part numbers.
        part: String,
    },
    /// An item needs the message content but none was given (a caller bug, or the file
    /// could not be read).
    #[error("message content not loaded")]
    MissingContent,
}

/// Whether any of `items` needs the message content (anything beyond FLAGS, UID,
/// INTERNALDATE, SAVEDATE, RFC822.SIZE and MODSEQ).
pub(crate) fn needs_content(items: &[FetchItem]) -> bool {
    items.iter().any(|item| match item {
        FetchItem::Flags
        | FetchItem::InternalDate
        | FetchItem::Rfc822Size
        | FetchItem::Uid
        | FetchItem::ModSeq
        | FetchItem::SaveDate => false,
        FetchItem::Envelope
        | FetchItem::Rfc822
        | FetchItem::Rfc822Header
        | FetchItem::Rfc822Text
        | FetchItem::Body
        | FetchItem::BodyStructure
        | FetchItem::BodySection { .. }
        | FetchItem::Binary { .. }
        | FetchItem::BinarySize { .. } => true,
    })
}

/// Whether the message header alone (the first `info.header_size` bytes of the message
/// file) answers every item of `items` that needs content: ENVELOPE, RFC822.HEADER and
/// `BODY[HEADER]`, `BODY[HEADER.FIELDS (...)]`, `BODY[HEADER.FIELDS.NOT (...)]` of the
/// message itself. The caller may then pass only the header as
/// [`FetchMessage::content`], which spares reading large bodies for the common
/// "list the headers" FETCH.
pub(crate) fn header_suffices(items: &[FetchItem]) -> bool {
    items.iter().all(|item| match item {
        FetchItem::Envelope | FetchItem::Rfc822Header => true,
        FetchItem::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    Some(
                        SectionText::Header
                            | SectionText::HeaderFields(_)
                            | SectionText::HeaderFieldsNot(_)
                    )
                )
        }
        other => !needs_content(std::slice::from_ref(other)),
    })
}

/// Whether fetching `items` sets `\Seen` (in a read-write mailbox): `BODY[...]` and
/// `BINARY[...]` without `.PEEK`, `RFC822` and `RFC822.TEXT` (RFC 9051 §6.4.5, RFC 3501).
/// RFC822.HEADER does not (it is `BODY.PEEK[HEADER]`).
pub(crate) fn marks_seen(items: &[FetchItem]) -> bool {
    items.iter().any(|item| match item {
        FetchItem::BodySection { peek, .. } | FetchItem::Binary { peek, .. } => !peek,
        FetchItem::Rfc822 | FetchItem::Rfc822Text => true,
        _ => false,
    })
}

/// The FLAGS of a message: system flags, then keywords.
pub(crate) fn flags_of(info: &MessageInfo) -> Vec<Flag> {
    info.flags
        .names()
        .into_iter()
        .map(Flag::from_wire)
        .chain(info.keywords.iter().map(|k| Flag::Keyword(k.clone())))
        .collect()
}

/// A unix time as an IMAP date-time in UTC.
fn utc(unix: i64) -> DateTime {
    DateTime {
        unix,
        offset_minutes: 0,
    }
}

/// Dotted part numbers, for messages.
fn dotted(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The data of `items` for `msg`, one [`FetchData`] per item, in order. The message is
/// parsed at most once, and only when an item needs it.
pub(crate) fn fetch_data(
    msg: &FetchMessage<'_>,
    items: &[FetchItem],
) -> Result<Vec<FetchData>, FetchError> {
    let parsed = if needs_content(items) {
        Some(ParsedMessage::parse(
            msg.content.ok_or(FetchError::MissingContent)?,
        ))
    } else {
        None
    };
    let parsed = parsed.as_ref();
    let content = || parsed.ok_or(FetchError::MissingContent);
    let info = msg.info;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let data = match item {
            FetchItem::Flags => FetchData::Flags(flags_of(info)),
            FetchItem::Uid => FetchData::Uid(info.uid),
            FetchItem::InternalDate => FetchData::InternalDate(utc(info.received)),
            FetchItem::SaveDate => FetchData::SaveDate(Some(utc(info.save_date))),
            FetchItem::Rfc822Size => FetchData::Rfc822Size(info.size),
            FetchItem::ModSeq => FetchData::ModSeq(info.modseq),
            FetchItem::Envelope => FetchData::Envelope(Box::new(content()?.envelope())),
            FetchItem::Body => FetchData::BodyStructure {
                extensible: false,
                structure: content()?.body_structure(false),
            },
            FetchItem::BodyStructure => FetchData::BodyStructure {
                extensible: true,
                structure: content()?.body_structure(true),
            },
            FetchItem::Rfc822 => FetchData::Rfc822 {
                which: Rfc822Part::Whole,
                data: Some(without_nul(content()?.raw().to_vec())),
            },
            FetchItem::Rfc822Header => FetchData::Rfc822 {
                which: Rfc822Part::Header,
                data: Some(without_nul(section_bytes(
                    content()?,
                    &top_level(SectionText::Header),
                ))),
            },
            FetchItem::Rfc822Text => FetchData::Rfc822 {
                which: Rfc822Part::Text,
                data: Some(without_nul(section_bytes(
                    content()?,
                    &top_level(SectionText::Text),
                ))),
            },
            FetchItem::BodySection {
                section, partial, ..
            } => {
                let bytes = section_bytes(content()?, section);
                FetchData::BodySection {
                    section: section.clone(),
                    origin: partial.map(|(offset, _)| offset),
                    data: Some(without_nul(mime::apply_partial(&bytes, *partial).to_vec())),
                }
            }
            FetchItem::Binary { part, partial, .. } => FetchData::Binary {
                part: part.clone(),
                origin: partial.map(|(offset, _)| offset),
                data: binary_bytes(content()?, part)?
                    .map(|bytes| mime::apply_partial(&bytes, *partial).to_vec()),
            },
            FetchItem::BinarySize { part } => FetchData::BinarySize {
                part: part.clone(),
                size: binary_bytes(content()?, part)?.map_or(0, |b| b.len() as u64),
            },
        };
        out.push(data);
    }
    Ok(out)
}

/// `data` with every NUL byte replaced by 0x80, so it can be sent as a literal.
fn without_nul(mut data: Vec<u8>) -> Vec<u8> {
    for b in &mut data {
        if *b == 0 {
            *b = 0x80;
        }
    }
    data
}

/// A section of the message itself (no part numbers).
fn top_level(text: SectionText) -> Section {
    Section {
        part: Vec::new(),
        text: Some(text),
    }
}

/// The bytes of `section`; empty when the section does not exist.
fn section_bytes(parsed: &ParsedMessage<'_>, section: &Section) -> Vec<u8> {
    mime::section(parsed, section)
        .map(Cow::into_owned)
        .unwrap_or_default()
}

/// The decoded bytes of `part`; `None` when the part does not exist.
fn binary_bytes<'a>(
    parsed: &ParsedMessage<'a>,
    part: &[u32],
) -> Result<Option<Cow<'a, [u8]>>, FetchError> {
    match mime::binary(parsed, part) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(BinaryError::UnknownCte) => Err(FetchError::UnknownCte { part: dotted(part) }),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
