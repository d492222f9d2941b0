//! Decoded text of a message, for SEARCH: header values with RFC 2047 encoded words
//! decoded, and the text of the body with transfer encodings and charsets removed.
//!
//! Everything here is best effort and never fails: an unknown charset is read as UTF-8
//! (invalid bytes replaced), a broken encoded word is kept as written, a part whose
//! transfer encoding cannot be decoded is searched as it is.

use std::borrow::Cow;

use encoding_rs::Encoding;

use super::section::{decode_base64, decode_qp};
use super::structure::{Node, NodeKind, ParsedMessage, addresses, fields};

/// Bytes in `charset` (a MIME charset name, any case) as a string. An unknown charset is
/// read as UTF-8; invalid sequences become U+FFFD. US-ASCII (the default charset, often
/// declared for 8-bit text that is really UTF-8) is read like undeclared text.
pub(crate) fn decode_charset<'b>(bytes: &'b [u8], charset: &str) -> Cow<'b, str> {
    let label = charset.trim();
    // RFC 2231 language suffix (`utf-8*en`).
    let label = label.split_once('*').map_or(label, |(l, _)| l);
    if label.is_empty()
        || label.eq_ignore_ascii_case("us-ascii")
        || label.eq_ignore_ascii_case("ascii")
    {
        return undeclared_text(bytes);
    }
    match Encoding::for_label(label.as_bytes()) {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0,
        None => String::from_utf8_lossy(bytes),
    }
}

/// Unstructured 8-bit text without a declared charset: UTF-8 when it is valid UTF-8
/// (RFC 6532), else windows-1252 (the usual charset of raw 8-bit headers).
fn undeclared_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// One RFC 2047 encoded word at the start of `s` (`=?charset?B|Q?text?=`): the decoded
/// text and the length of the word.
fn encoded_word(s: &[u8]) -> Option<(String, usize)> {
    let rest = s.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(rest.get(..q1)?).ok()?;
    let after_charset = rest.get(q1 + 1..)?;
    let (&encoding, after_encoding) = after_charset.split_first()?;
    let text_and_rest = after_encoding.strip_prefix(b"?")?;
    let end = text_and_rest.windows(2).position(|w| w == b"?=")?;
    let text = text_and_rest.get(..end)?;
    if text.iter().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let bytes = match encoding.to_ascii_uppercase() {
        b'B' => decode_base64(text)?,
        b'Q' => decode_q(text),
        _ => return None,
    };
    // "=?" + charset + "?" + encoding + "?" + text + "?="
    let len = 2 + q1 + 1 + 1 + 1 + end + 2;
    Some((decode_charset(&bytes, charset).into_owned(), len))
}

/// The "Q" encoding of RFC 2047 §4.2: `_` is a space, `=XX` a byte.
fn decode_q(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        match c {
            b'_' => {
                out.push(b' ');
                i += 1;
            }
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// A header value (unfolded) with RFC 2047 encoded words decoded. Whitespace between two
/// encoded words is dropped (RFC 2047 §6.2); other text is read as UTF-8, or
/// windows-1252 when it is not valid UTF-8.
pub(crate) fn decode_header_value(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut plain_start = 0;
    let mut i = 0;
    // Where plain text since the last encoded word is only whitespace, it is dropped if
    // another encoded word follows.
    let mut after_word = false;
    while i < value.len() {
        if value.get(i..i + 2) == Some(b"=?")
            && let Some((decoded, len)) = value.get(i..).and_then(encoded_word)
        {
            let between = value.get(plain_start..i).unwrap_or_default();
            if !(after_word && between.iter().all(|b| b.is_ascii_whitespace())) {
                out.push_str(&undeclared_text(between));
            }
            out.push_str(&decoded);
            i += len;
            plain_start = i;
            after_word = true;
            continue;
        }
        i += 1;
    }
    out.push_str(&undeclared_text(
        value.get(plain_start..).unwrap_or_default(),
    ));
    out
}

/// The decoded values of every field called `name` (case-insensitive) in the message's
/// own header, in order.
pub fn header_values(msg: &ParsedMessage<'_>, name: &str) -> Vec<String> {
    fields(msg.raw, msg.root.header.clone())
        .iter()
        .filter(|f| !f.name.is_empty() && f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| decode_header_value(&f.value))
        .collect()
}

/// What SEARCH FROM, TO, CC and BCC compare with for the address field `name` (RFC
/// 9051 §6.4.4): for every such field of the message's own header, its value with
/// encoded words decoded, and each address in it written as `Display Name
/// <local@domain>` (the name decoded, taken from an RFC 822 comment when there is no
/// phrase, quotes and comments left out) and each group's name, so that a search finds
/// a display name however it was quoted, encoded or commented.
pub fn address_search_values(msg: &ParsedMessage<'_>, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields(msg.raw, msg.root.header.clone()) {
        if f.name.is_empty() || !f.name.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        out.push(decode_header_value(&f.value));
        let raw = String::from_utf8_lossy(&f.value);
        for a in addresses(&raw) {
            let display = a.name.as_deref().map(|n| decode_header_value(n.as_bytes()));
            let written = match (a.mailbox.as_deref(), a.host.as_deref(), display) {
                // The start of a group: its name.
                (Some(group), None, _) => decode_header_value(group.as_bytes()),
                (Some(local), Some(host), name) => {
                    let spec = if host.is_empty() {
                        local.to_owned()
                    } else {
                        format!("{local}@{host}")
                    };
                    match name {
                        Some(name) => format!("{name} <{spec}>"),
                        None => spec,
                    }
                }
                _ => continue,
            };
            out.push(written);
        }
    }
    out
}

/// The header of `node` as text: one `Name: decoded value` line per field.
fn header_text_of(raw: &[u8], node: &Node, out: &mut String) {
    for f in fields(raw, node.header.clone()) {
        if f.name.is_empty() {
            continue;
        }
        out.push_str(&undeclared_text(&f.name));
        out.push_str(": ");
        out.push_str(&decode_header_value(&f.value));
        out.push('\n');
    }
}

/// The message's own header as text: one `Name: decoded value` line per field.
pub fn header_text(msg: &ParsedMessage<'_>) -> String {
    let mut out = String::new();
    header_text_of(msg.raw, &msg.root, &mut out);
    out
}

/// The text of a single part (a leaf of the part tree), with its transfer encoding and
/// charset decoded.
pub(crate) fn leaf_text(raw: &[u8], node: &Node) -> String {
    let body = raw.get(node.body.clone()).unwrap_or_default();
    let cte = fields(raw, node.header.clone())
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(b"content-transfer-encoding"))
        .map(|f| {
            String::from_utf8_lossy(&f.value)
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let decoded: Cow<'_, [u8]> = match cte.as_str() {
        "base64" => decode_base64(body).map_or(Cow::Borrowed(body), Cow::Owned),
        "quoted-printable" => Cow::Owned(decode_qp(body)),
        _ => Cow::Borrowed(body),
    };
    let charset = node
        .ctype
        .params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.as_str());
    match charset {
        Some(cs) => decode_charset(&decoded, cs).into_owned(),
        None => undeclared_text(&decoded).into_owned(),
    }
}

/// The text of the message body, for SEARCH BODY: every `text/*` part with its transfer
/// encoding and charset decoded, and the header of every encapsulated message (which is
/// part of the outer body), in order. Non-text parts (attachments) are left out.
pub fn body_text(msg: &ParsedMessage<'_>) -> String {
    let mut out = String::new();
    body_text_of(msg.raw, &msg.root, &mut out);
    out
}

fn body_text_of(raw: &[u8], node: &Node, out: &mut String) {
    match &node.kind {
        // A multipart whose parts could not be found (no boundary): its body as text.
        NodeKind::Multipart(children) if children.is_empty() => {
            out.push_str(&undeclared_text(
                raw.get(node.body.clone()).unwrap_or_default(),
            ));
            out.push('\n');
        }
        NodeKind::Multipart(children) => {
            for child in children {
                body_text_of(raw, child, out);
            }
        }
        NodeKind::Message(inner) => {
            header_text_of(raw, inner, out);
            body_text_of(raw, inner, out);
        }
        NodeKind::Leaf if node.ctype.media_type == "text" => {
            out.push_str(&leaf_text(raw, node));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        NodeKind::Leaf => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded() {
        assert_eq!(
            decode_header_value(b"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>"),
            "Keld Jørn Simonsen <keld@dkuug.dk>"
        );
        assert_eq!(
            decode_header_value(b"=?UTF-8?B?SGVsbG8gV8O2cmxk?="),
            "Hello Wörld"
        );
        // Whitespace between adjacent encoded words goes; around plain text it stays.
        assert_eq!(
            decode_header_value(b"a =?utf-8?q?b?=  =?utf-8?q?c?= d"),
            "a bc d"
        );
        // Broken words stay as written.
        assert_eq!(
            decode_header_value(b"=?utf-8?x?abc?= =?utf-8?q?unterminated"),
            "=?utf-8?x?abc?= =?utf-8?q?unterminated"
        );
        assert_eq!(decode_header_value(b"=?utf-8?B?###?="), "=?utf-8?B?###?=");
        // Raw 8-bit: UTF-8 when valid, else windows-1252.
        assert_eq!(decode_header_value("Grüße".as_bytes()), "Grüße");
        assert_eq!(decode_header_value(b"Gr\xfc\xdfe"), "Grüße");
        // An unknown charset reads as UTF-8.
        assert_eq!(decode_header_value(b"=?x-unknown?q?=C3=A9?="), "é");
        assert_eq!(
            decode_header_value(b"=?iso-2022-jp?B?GyRCJEskWyRzGyhC?="),
            "にほん"
        );
    }

    #[test]
    fn body_text_decodes_parts_and_skips_attachments() {
        let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n\
--x\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\nS=E9ance soft=\r\nbreak\r\n\
--x\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGlkZGVu\r\n\
--x\r\nContent-Type: message/rfc822\r\n\r\n\
Subject: =?utf-8?q?inner_=C3=BC?=\r\n\r\ninner body\r\n\
--x--\r\n";
        let msg = ParsedMessage::parse(raw);
        let text = body_text(&msg);
        assert!(text.contains("Séance softbreak"), "{text}");
        assert!(text.contains("Subject: inner ü"), "{text}");
        assert!(text.contains("inner body"), "{text}");
        assert!(!text.contains("hidden"), "{text}");
        assert!(!text.contains("aGlkZGVu"), "{text}");
    }
}
