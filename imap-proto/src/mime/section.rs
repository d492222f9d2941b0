//! The bytes of a FETCH section: `BODY[section]<partial>` and `BINARY[part]<partial>`.

use std::borrow::Cow;

use super::structure::{Node, NodeKind, ParsedMessage, fields};
use crate::command::{Section, SectionText};

/// A section that cannot be returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SectionError {
    /// The part number does not exist, or HEADER/TEXT names a part that is not a message.
    /// RFC 9051 lets the server return an empty string; the caller decides.
    #[error("no such section")]
    NoSuchPart,
}

/// Why BINARY cannot decode a part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryError {
    /// The part number does not exist.
    #[error("no such section")]
    NoSuchPart,
    /// The Content-Transfer-Encoding is unknown, or the body is not valid in it; the
    /// caller answers `NO [UNKNOWN-CTE]`.
    #[error("unknown or invalid content-transfer-encoding")]
    UnknownCte,
}

/// Part `n` of the message `message` (the message itself or one encapsulated in a
/// `message/rfc822` part): a child of its body when that is multipart, else (`n` = 1)
/// the message's single body part, which is the message node itself, whatever its type
/// (RFC 3501 §6.4.5).
fn part_of_message(message: &Node, n: u32) -> Option<&Node> {
    match &message.kind {
        NodeKind::Multipart(children) => {
            let i = usize::try_from(n).ok()?.checked_sub(1)?;
            children.get(i)
        }
        NodeKind::Message(_) | NodeKind::Leaf => (n == 1).then_some(message),
    }
}

/// Part `n` inside the part `node`: a child of a multipart, a part of the message a
/// `message/rfc822` part holds; a leaf has no parts.
fn step(node: &Node, n: u32) -> Option<&Node> {
    match &node.kind {
        NodeKind::Multipart(children) => {
            let i = usize::try_from(n).ok()?.checked_sub(1)?;
            children.get(i)
        }
        NodeKind::Message(inner) => part_of_message(inner, n),
        NodeKind::Leaf => None,
    }
}

/// The node that the part numbers `part` name in the message `root`.
fn resolve<'n>(root: &'n Node, part: &[u32]) -> Option<&'n Node> {
    let Some((&first, rest)) = part.split_first() else {
        return Some(root);
    };
    let start = part_of_message(root, first)?;
    rest.iter().try_fold(start, |node, &n| step(node, n))
}

/// The bytes of `section` of `msg` (before any partial range).
pub fn section<'a>(
    msg: &ParsedMessage<'a>,
    section: &Section,
) -> Result<Cow<'a, [u8]>, SectionError> {
    let raw = msg.raw;
    let node = resolve(&msg.root, &section.part).ok_or(SectionError::NoSuchPart)?;
    let slice = |r: std::ops::Range<usize>| Cow::Borrowed(raw.get(r).unwrap_or_default());
    // HEADER, HEADER.FIELDS and TEXT of a part address its encapsulated message.
    let message = || -> Result<&Node, SectionError> {
        if section.part.is_empty() {
            Ok(&msg.root)
        } else {
            match &node.kind {
                NodeKind::Message(inner) => Ok(inner),
                _ => Err(SectionError::NoSuchPart),
            }
        }
    };
    Ok(match &section.text {
        None if section.part.is_empty() => Cow::Borrowed(raw),
        None => slice(node.body.clone()),
        Some(SectionText::Mime) => {
            if section.part.is_empty() {
                return Err(SectionError::NoSuchPart);
            }
            slice(node.header.clone())
        }
        Some(SectionText::Header) => slice(message()?.header.clone()),
        Some(SectionText::Text) => slice(message()?.body.clone()),
        Some(SectionText::HeaderFields(names)) => {
            Cow::Owned(header_fields(raw, message()?, names, false))
        }
        Some(SectionText::HeaderFieldsNot(names)) => {
            Cow::Owned(header_fields(raw, message()?, names, true))
        }
    })
}

/// The fields of `node`'s header named (or, with `not`, not named) in `names`, in order,
/// followed by the blank line.
fn header_fields(raw: &[u8], node: &Node, names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields(raw, node.header.clone()) {
        if f.name.is_empty() {
            continue;
        }
        let named = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(&f.name));
        if named != not {
            let bytes = raw.get(f.raw.clone()).unwrap_or_default();
            out.extend_from_slice(bytes);
            if !bytes.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Apply `<offset.length>`: the bytes from `offset`, at most `length` of them; empty when
/// `offset` is past the end.
pub fn apply_partial(data: &[u8], partial: Option<(u32, u32)>) -> &[u8] {
    match partial {
        None => data,
        Some((offset, length)) => {
            let start = (offset as usize).min(data.len());
            let end = start.saturating_add(length as usize).min(data.len());
            &data[start..end]
        }
    }
}

/// The decoded content of `part` for `BINARY[part]` (and `BINARY.SIZE`): base64 and
/// quoted-printable are decoded, identity encodings returned as they are. An empty
/// `part` is the whole message, unchanged.
pub fn binary<'a>(msg: &ParsedMessage<'a>, part: &[u32]) -> Result<Cow<'a, [u8]>, BinaryError> {
    let raw = msg.raw;
    if part.is_empty() {
        return Ok(Cow::Borrowed(raw));
    }
    let node = resolve(&msg.root, part).ok_or(BinaryError::NoSuchPart)?;
    let body = raw.get(node.body.clone()).unwrap_or_default();
    if matches!(node.kind, NodeKind::Multipart(_)) {
        return Ok(Cow::Borrowed(body));
    }
    let fs = fields(raw, node.header.clone());
    let cte = fs
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(b"content-transfer-encoding"))
        .map(|f| String::from_utf8_lossy(&f.value).to_ascii_lowercase())
        .unwrap_or_default();
    match cte.as_str() {
        "" | "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(body)),
        "base64" => decode_base64(body)
            .map(Cow::Owned)
            .ok_or(BinaryError::UnknownCte),
        "quoted-printable" => Ok(Cow::Owned(decode_qp(body))),
        _ => Err(BinaryError::UnknownCte),
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode base64, skipping whitespace; `None` on any other non-alphabet byte or bad
/// padding.
pub(crate) fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc = 0u32;
    let mut n = 0u32;
    let mut pad = 0u32;
    for &c in input {
        if c.is_ascii_whitespace() {
            continue;
        }
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return None; // data after padding
        }
        acc = (acc << 6) | b64_value(c)?;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    if pad > 2 {
        return None;
    }
    Some(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decode quoted-printable (RFC 2045 §6.7), leniently: soft line breaks removed, a
/// malformed `=` kept as it is, trailing whitespace before a line break dropped.
pub(crate) fn decode_qp(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        if c == b'=' {
            let rest = &input[i + 1..];
            // Soft line break: "=" [whitespace] CRLF / LF / end.
            let ws = rest
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            match rest.get(ws..) {
                Some([b'\r', b'\n', ..]) => {
                    i += 1 + ws + 2;
                    continue;
                }
                Some([b'\n', ..]) => {
                    i += 1 + ws + 1;
                    continue;
                }
                Some([]) => break,
                _ => {}
            }
            if let (Some(&h), Some(&l)) = (rest.first(), rest.get(1))
                && let (Some(h), Some(l)) = (hex(h), hex(l))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(c);
            i += 1;
        } else if matches!(c, b' ' | b'\t') {
            // Drop whitespace at the end of a line.
            let ws = input[i..]
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            let after = &input[i + ws..];
            if !(after.is_empty() || after.starts_with(b"\r\n") || after.starts_with(b"\n")) {
                out.extend_from_slice(&input[i..i + ws]);
            }
            i += ws;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}
