//! What SORT, THREAD and PREVIEW need of a message, read once when the message is
//! stored so that those commands never read message files:
//!
//! - the base subject of RFC 5256 §2.1 and whether extracting it removed a reply or
//!   forward marker (THREAD=REFERENCES step 5);
//! - the sent date of RFC 5256 §2.2 (the Date header in UTC; `None` when there is none
//!   that can be read, and the caller falls back to the INTERNALDATE);
//! - the addr-mailbox of the first From, To and Cc address (SORT FROM, TO, CC) and the
//!   display value of the first From and To address (RFC 5957 §3: DISPLAYFROM,
//!   DISPLAYTO);
//! - the normalised Message-ID, References and In-Reply-To (RFC 5256 §3);
//! - the preview of RFC 8970: the first text part, decoded, whitespace folded, at most
//!   [`MAX_PREVIEW_CHARS`] characters.
//!
//! Only the first [`MAX_SUMMARY_SCAN`] bytes of a message are looked at; every string
//! kept is bounded (see the constants).

use super::structure::{Node, NodeKind, ParsedMessage, fields};
use super::text::{decode_header_value, header_values, leaf_text};
use crate::datetime::days_from_civil;
use crate::envelope::Address;
pub use crate::limits::MAX_SUMMARY_SCAN;

/// The longest preview, in characters (RFC 8970 §3).
pub const MAX_PREVIEW_CHARS: usize = 256;
/// The longest base subject or address key kept, in characters; longer ones are cut
/// (sorting on the first 1,000 characters orders every real mailbox the same).
pub const MAX_KEY_CHARS: usize = 1000;
/// The most References kept (the last ones, nearest the message's parent).
pub const MAX_REFERENCES: usize = 128;
/// The longest Message-ID kept, in bytes; a longer one is treated as invalid.
pub const MAX_MESSAGE_ID_LEN: usize = 998;

/// The sort, thread and preview keys of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageSummary {
    /// The base subject (RFC 5256 §2.1), not case-mapped.
    pub base_subject: String,
    /// Extracting the base subject removed a `Re:`/`Fwd:`, a `(fwd)` trailer or a
    /// `[fwd: …]` wrapper: the message is a reply or forward (RFC 5256 §3).
    pub subject_is_reply: bool,
    /// The sent date in unix seconds (UTC), from the Date header; `None` when the
    /// message has no Date header that can be read.
    pub sent_date: Option<i64>,
    /// The addr-mailbox of the first From address (SORT FROM); empty without one.
    pub from: String,
    /// The addr-mailbox of the first To address (SORT TO).
    pub to: String,
    /// The addr-mailbox of the first Cc address (SORT CC).
    pub cc: String,
    /// The display value of the first From address (SORT DISPLAYFROM, RFC 5957 §3).
    pub display_from: String,
    /// The display value of the first To address (SORT DISPLAYTO).
    pub display_to: String,
    /// The normalised Message-ID (`left@right`, no angle brackets, quotes removed);
    /// `None` when the header is missing or holds no valid msg-id.
    pub message_id: Option<String>,
    /// The valid msg-ids of the References header, normalised, in order (at most the
    /// last [`MAX_REFERENCES`]).
    pub references: Vec<String>,
    /// The first valid msg-id of the In-Reply-To header, normalised.
    pub in_reply_to: Option<String>,
    /// The preview text (RFC 8970); empty when the message has no text.
    pub preview: String,
}

impl MessageSummary {
    /// The summary of `raw` (a message as stored, or its first [`MAX_SUMMARY_SCAN`]
    /// bytes; more is ignored). Never fails: what cannot be read is left empty.
    pub fn of(raw: &[u8]) -> MessageSummary {
        let raw = raw.get(..MAX_SUMMARY_SCAN).unwrap_or(raw);
        let msg = ParsedMessage::parse(raw);
        let first = |name: &str| header_values(&msg, name).into_iter().next();
        let (base_subject, subject_is_reply) = first("subject")
            .map(|s| base_subject(&s))
            .unwrap_or_default();
        let envelope = msg.envelope();
        let mailbox = |list: &[Address]| {
            list.first()
                .and_then(|a| a.mailbox.as_deref())
                .map(bounded_key)
                .unwrap_or_default()
        };
        let display = |list: &[Address]| list.first().map(display_value).unwrap_or_default();
        let mut references = first("references").map(|v| msg_ids(&v)).unwrap_or_default();
        if references.len() > MAX_REFERENCES {
            references.drain(..references.len() - MAX_REFERENCES);
        }
        MessageSummary {
            base_subject: bounded_key(&base_subject),
            subject_is_reply,
            sent_date: first("date").and_then(|d| parse_sent_date(&d)),
            from: mailbox(&envelope.from),
            to: mailbox(&envelope.to),
            cc: mailbox(&envelope.cc),
            display_from: display(&envelope.from),
            display_to: display(&envelope.to),
            message_id: first("message-id").and_then(|v| msg_ids(&v).into_iter().next()),
            references,
            in_reply_to: first("in-reply-to").and_then(|v| msg_ids(&v).into_iter().next()),
            preview: preview(&msg),
        }
    }

    /// The references THREAD=REFERENCES links the message under (RFC 5256 §3): the
    /// References, or when it names no valid msg-id, the first one of In-Reply-To.
    pub fn thread_references(&self) -> Vec<&str> {
        if self.references.is_empty() {
            self.in_reply_to.iter().map(String::as_str).collect()
        } else {
            self.references.iter().map(String::as_str).collect()
        }
    }
}

/// `s` cut to [`MAX_KEY_CHARS`] characters.
fn bounded_key(s: &str) -> String {
    s.chars().take(MAX_KEY_CHARS).collect()
}

/// The DISPLAY sort value of an address (RFC 5957 §3): the decoded addr-name when it is
/// not empty, else `mailbox@host`, else the addr-mailbox, else empty.
fn display_value(a: &Address) -> String {
    if let Some(name) = &a.name {
        let decoded = decode_header_value(name.as_bytes());
        if !decoded.is_empty() {
            return bounded_key(&decoded);
        }
    }
    match (&a.mailbox, &a.host) {
        (Some(m), Some(h)) => bounded_key(&format!("{m}@{h}")),
        (Some(m), None) => bounded_key(m),
        _ => String::new(),
    }
}

/// The base subject of a decoded subject (RFC 5256 §2.1, steps 1 to 7), and whether a
/// subj-refwd, a `(fwd)` subj-trailer or a subj-fwd-hdr/subj-fwd-trl pair was removed
/// (the message is a reply or forward, RFC 5256 §3).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Tabs and continuations to spaces, runs of spaces to one.
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if !(c == ' ' && s.ends_with(' ')) {
            s.push(c);
        }
    }
    let mut reply = false;
    let mut s = s.as_str();
    loop {
        // (2) Trailing subj-trailer ("(fwd)" / WSP), repeatedly.
        loop {
            if let Some(rest) = s.strip_suffix(' ') {
                s = rest;
            } else if let Some(rest) = strip_suffix_ignore_case(s, "(fwd)") {
                s = rest;
                reply = true;
            } else {
                break;
            }
        }
        // (3), (4) and (5): leaders, then a blob unless it is all that is left.
        loop {
            if let Some((rest, refwd)) = subj_leader(s) {
                reply |= refwd;
                s = rest;
                continue;
            }
            if let Some(rest) = subj_blob(s)
                && !rest.is_empty()
            {
                s = rest;
                continue;
            }
            break;
        }
        // (6) A "[fwd:" … "]" wrapper: remove it and start over at (2).
        if let Some(inner) = strip_prefix_ignore_case(s, "[fwd:").and_then(|r| r.strip_suffix(']'))
        {
            s = inner;
            reply = true;
            continue;
        }
        // (7)
        return (s.to_owned(), reply);
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ignore_case<'s>(s: &'s str, suffix: &str) -> Option<&'s str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start of `s`: what follows it.
fn subj_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find([']', '['])?;
    if rest.as_bytes().get(close) != Some(&b']') {
        return None;
    }
    Some(rest[close + 1..].trim_start_matches(' '))
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"` at the start of `s`:
/// what follows it.
fn subj_refwd(s: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(s, "re")
        .or_else(|| strip_prefix_ignore_case(s, "fwd"))
        .or_else(|| strip_prefix_ignore_case(s, "fw"))?;
    let rest = rest.trim_start_matches(' ');
    let rest = subj_blob(rest).unwrap_or(rest);
    rest.strip_prefix(':')
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP` at the start of `s`: what follows it,
/// and whether it was a subj-refwd.
fn subj_leader(s: &str) -> Option<(&str, bool)> {
    if let Some(rest) = s.strip_prefix(' ') {
        return Some((rest, false));
    }
    let mut at = s;
    loop {
        if let Some(rest) = subj_refwd(at) {
            return Some((rest, true));
        }
        at = subj_blob(at)?;
    }
}

/// Every valid msg-id in a header value (`<left@right>`, with comments and folding
/// whitespace around it), normalised: quoted parts unquoted, whitespace and comments
/// inside removed, no angle brackets. Text between msg-ids that is not one is skipped.
pub fn msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => skip_comment(&mut chars),
            // A quoted phrase (In-Reply-To: `"your message of …" <id>`) may hold `<`.
            '"' => skip_quoted(&mut chars),
            '<' => {
                if let Some(id) = msg_id_body(&mut chars) {
                    out.push(id);
                }
            }
            _ => {}
        }
    }
    out
}

/// Skips a comment whose `(` was read, nested comments and quoted pairs included.
fn skip_comment(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let mut depth = 1usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Skips a quoted string whose `"` was read.
fn skip_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return,
            _ => {}
        }
    }
}

/// The normalised body of a msg-id whose `<` was read, up to its `>`; `None` when it
/// is not a valid msg-id (no `>`, no `@`, an empty side, a space inside an atom).
fn msg_id_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    let mut id = String::new();
    let mut valid = true;
    // The last character taken belonged to an atom; whitespace after it ends the atom.
    let mut after_atom = false;
    let mut gap = false;
    loop {
        let c = chars.next()?;
        match c {
            '>' => break,
            '<' => return None,
            '"' => {
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => id.push(chars.next()?),
                        q => id.push(q),
                    }
                }
                after_atom = false;
            }
            '(' => skip_comment(chars),
            ' ' | '\t' => gap = after_atom,
            '@' | '.' => {
                id.push(c);
                after_atom = false;
                gap = false;
            }
            _ => {
                // Two atoms separated only by whitespace are not one id-left.
                if gap {
                    valid = false;
                }
                id.push(c);
                after_atom = true;
                gap = false;
            }
        }
    }
    let (left, right) = id.rsplit_once('@')?;
    (valid && !left.is_empty() && !right.is_empty() && id.len() <= MAX_MESSAGE_ID_LEN).then_some(id)
}

/// The sent date (RFC 5256 §2.2) of a Date header value, in unix seconds (UTC):
/// `[day-of-week ","] day month year time zone` read leniently (comments ignored,
/// two- and three-digit years as RFC 5322 §4.3 says, obsolete zone names). An invalid
/// zone counts as UTC and an invalid time as 00:00:00; `None` without a valid date.
pub fn parse_sent_date(value: &str) -> Option<i64> {
    let mut clean = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '(' {
            skip_comment(&mut chars);
            clean.push(' ');
        } else {
            clean.push(c);
        }
    }
    let mut tokens = clean
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .peekable();
    if tokens
        .peek()
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        tokens.next();
    }
    let day: u32 = tokens.next()?.parse().ok()?;
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
    if !year_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = year_text.parse().ok()?;
    let year = match year_text.len() {
        2 if year < 50 => 2000 + year,
        2 | 3 => 1900 + year,
        _ => year,
    };
    if !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    let seconds = tokens.next().and_then(parse_time).unwrap_or(0);
    let zone = tokens.next().and_then(parse_zone).unwrap_or(0);
    let month = u32::try_from(month + 1).ok()?;
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + seconds - zone)
}

/// `hh:mm[:ss]` as seconds after midnight; `None` when out of range.
fn parse_time(t: &str) -> Option<i64> {
    let mut parts = t.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + s)
}

/// A zone (`+hhmm`, `-hhmm` or an obsolete name) as seconds east of UTC.
fn parse_zone(z: &str) -> Option<i64> {
    if let Some(digits) = z.strip_prefix(['+', '-'])
        && digits.len() == 4
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        let n: i64 = digits.parse().ok()?;
        let (h, m) = (n / 100, n % 100);
        if m > 59 {
            return None;
        }
        let east = h * 3600 + m * 60;
        return Some(if z.starts_with('-') { -east } else { east });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones are unreliable; RFC 5322 §4.3 says to read them as -0000.
        m if m.len() == 1 && m.bytes().all(|b| b.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 3600)
}

/// The preview (RFC 8970) of a parsed message: its first text part (text/plain before
/// text/html in a multipart/alternative, attachments skipped), decoded, HTML markup
/// removed, whitespace folded, cut to [`MAX_PREVIEW_CHARS`] characters.
fn preview(msg: &ParsedMessage<'_>) -> String {
    let Some(node) = first_text_part(msg.raw, &msg.root) else {
        return String::new();
    };
    let text = leaf_text(msg.raw, node);
    let text = if matches!(node.ctype.subtype.as_str(), "html" | "xhtml+xml") {
        html_text(&text)
    } else {
        text
    };
    fold_whitespace(&text, MAX_PREVIEW_CHARS)
}

/// Whether `node` is declared an attachment (`Content-Disposition: attachment`).
fn is_attachment(raw: &[u8], node: &Node) -> bool {
    fields(raw, node.header.clone())
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(b"content-disposition"))
        .is_some_and(|f| {
            let v = String::from_utf8_lossy(&f.value);
            v.split(';')
                .next()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case("attachment"))
        })
}

/// The part the preview is made of: the first text leaf in document order that is not
/// an attachment, where a multipart/alternative offers its text/plain part first.
fn first_text_part<'n>(raw: &[u8], node: &'n Node) -> Option<&'n Node> {
    if is_attachment(raw, node) {
        return None;
    }
    match &node.kind {
        NodeKind::Leaf => (node.ctype.media_type == "text").then_some(node),
        NodeKind::Message(inner) => first_text_part(raw, inner),
        NodeKind::Multipart(children) => {
            if node.ctype.subtype == "alternative"
                && let Some(plain) = children.iter().find(|c| {
                    matches!(c.kind, NodeKind::Leaf)
                        && c.ctype.media_type == "text"
                        && c.ctype.subtype == "plain"
                        && !is_attachment(raw, c)
                })
            {
                return Some(plain);
            }
            children.iter().find_map(|c| first_text_part(raw, c))
        }
    }
}

/// The text of an HTML document: tags, comments, `<head>`, `<style>` and `<script>`
/// removed, block-level tags read as spaces, the common character references decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    // The element whose content is skipped (head, style, script), until its end tag.
    let mut skipping: Option<&'static str> = None;
    while let Some(lt) = rest.find(['<', '&']) {
        if skipping.is_none() {
            out.push_str(&rest[..lt]);
        }
        let at = &rest[lt..];
        if at.starts_with('&') {
            let (decoded, used) = char_reference(at);
            if skipping.is_none() {
                out.push_str(&decoded);
            }
            rest = &at[used..];
            continue;
        }
        if let Some(comment) = at.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |e| &comment[e + 3..]);
            continue;
        }
        let (tag, end) = match at.find('>') {
            Some(e) => (&at[1..e], e + 1),
            None => (&at[1..], at.len()),
        };
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match skipping {
            Some(el) if closing && name == el => skipping = None,
            Some(_) => {}
            None => {
                if let Some(el) = ["head", "style", "script"]
                    .into_iter()
                    .find(|el| *el == name)
                    && !closing
                    && !tag.ends_with('/')
                {
                    skipping = Some(el);
                }
                if matches!(
                    name.as_str(),
                    "br" | "p"
                        | "div"
                        | "li"
                        | "tr"
                        | "td"
                        | "th"
                        | "h1"
                        | "h2"
                        | "h3"
                        | "h4"
                        | "h5"
                        | "h6"
                        | "table"
                        | "ul"
                        | "ol"
                        | "blockquote"
                        | "hr"
                        | "title"
                ) {
                    out.push(' ');
                }
            }
        }
        rest = &at[end..];
    }
    if skipping.is_none() {
        out.push_str(rest);
    }
    out
}

/// A character reference at the start of `s` (which starts with `&`): the text it
/// stands for and its length; an unknown one stands for itself.
fn char_reference(s: &str) -> (String, usize) {
    let end = s
        .char_indices()
        .take(12)
        .find(|&(_, c)| c == ';')
        .map(|(i, _)| i);
    let Some(end) = end else {
        return ("&".to_owned(), 1);
    };
    let name = &s[1..end];
    let named = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => None,
    };
    let numeric = || {
        let n = name.strip_prefix('#')?;
        let code = match n.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => n.parse().ok()?,
        };
        char::from_u32(code)
    };
    match named.or_else(numeric) {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".to_owned(), 1),
    }
}

/// `text` with every run of whitespace and control characters made one space, trimmed,
/// cut to `max` characters (at the last space before the cut, when there is one).
fn fold_whitespace(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if count + needed > max {
            if !pending_space && let Some(space) = out.rfind(' ') {
                out.truncate(space);
            }
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests;
