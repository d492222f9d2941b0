//! Message → tree of parts (byte ranges), and from it BODYSTRUCTURE and ENVELOPE.

use std::ops::Range;

use crate::body::{BodyStructure, Multipart, Params, PartExtension, SingleKind, SinglePart};
use crate::envelope::{Address, Envelope};
use crate::limits::{MAX_MIME_DEPTH, MAX_MIME_PARTS};

/// One parsed header field.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// Field name as written.
    pub(crate) name: Vec<u8>,
    /// The whole field, line ending(s) included.
    pub(crate) raw: Range<usize>,
    /// The value, unfolded (line breaks removed), trimmed.
    pub(crate) value: Vec<u8>,
}

/// Content-Type of a part, lower-cased type and subtype.
#[derive(Debug, Clone)]
pub(crate) struct ContentType {
    pub(crate) media_type: String,
    pub(crate) subtype: String,
    pub(crate) params: Params,
}

/// What a part contains.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    /// Not multipart, not an encapsulated message (or too deep).
    Leaf,
    /// Multipart children.
    Multipart(Vec<Node>),
    /// An encapsulated message (message/rfc822, message/global).
    Message(Box<Node>),
}

/// A part of a message: its header and body ranges in the raw message.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The header, including the blank line that ends it (if any).
    pub(crate) header: Range<usize>,
    /// The body.
    pub(crate) body: Range<usize>,
    pub(crate) ctype: ContentType,
    pub(crate) kind: NodeKind,
}

/// A message parsed for FETCH. Borrows the raw bytes; building never fails.
#[derive(Debug, Clone)]
pub struct ParsedMessage<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) root: Node,
}

impl<'a> ParsedMessage<'a> {
    /// Parse `raw` (the message as stored). Never fails and never panics.
    pub fn parse(raw: &'a [u8]) -> Self {
        let mut budget = MAX_MIME_PARTS;
        let root = parse_node(raw, 0..raw.len(), 0, false, &mut budget);
        ParsedMessage { raw, root }
    }

    /// The raw message.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The ENVELOPE of the message (from its top-level header).
    pub fn envelope(&self) -> Envelope {
        envelope(self.raw, &self.root)
    }

    /// BODYSTRUCTURE (`extensible = true`) or BODY (`false`) of the message.
    pub fn body_structure(&self, extensible: bool) -> BodyStructure {
        structure(self.raw, &self.root, extensible)
    }
}

/// Iterate lines of `raw[range]`: (start, end without line ending, start of next line).
pub(crate) fn lines(
    raw: &[u8],
    range: Range<usize>,
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let end = range.end.min(raw.len());
    let mut pos = range.start.min(end);
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let start = pos;
        let (content_end, next) = match raw[start..end].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let nl = start + i;
                let ce = if nl > start && raw[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (ce, nl + 1)
            }
            None => (end, end),
        };
        pos = next;
        Some((start, content_end, next))
    })
}

/// Split a part into header and body: the header ends after the first empty line.
fn split_header(raw: &[u8], range: Range<usize>) -> (Range<usize>, Range<usize>) {
    for (start, content_end, next) in lines(raw, range.clone()) {
        if start == content_end {
            return (range.start..next, next..range.end);
        }
    }
    // No blank line: all header, empty body.
    (range.clone(), range.end..range.end)
}

/// The fields of a header.
pub(crate) fn fields(raw: &[u8], header: Range<usize>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for (start, content_end, next) in lines(raw, header) {
        let line = &raw[start..content_end];
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = out.last_mut() {
                last.raw.end = next;
                last.value.extend_from_slice(line);
            }
            continue;
        }
        match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let name = trim(&line[..colon]).to_vec();
                out.push(Field {
                    name,
                    raw: start..next,
                    value: line[colon + 1..].to_vec(),
                });
            }
            // Not a field: keep it so its bytes are not lost, under no name.
            None => out.push(Field {
                name: Vec::new(),
                raw: start..next,
                value: Vec::new(),
            }),
        }
    }
    for f in &mut out {
        f.value = trim(&f.value).to_vec();
    }
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// The first value of field `name` (case-insensitive).
fn field<'f>(fields: &'f [Field], name: &str) -> Option<&'f [u8]> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value.as_slice())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn field_string(fields: &[Field], name: &str) -> Option<String> {
    field(fields, name).map(text)
}

/// Where a left-to-right scan of a header value stands with respect to a quoted
/// string (RFC 5322 `quoted-string`, with `\` escapes).
#[derive(Default)]
struct QuotedString {
    inside: bool,
    escaped: bool,
}

impl QuotedString {
    /// A `"` outside a quoted string was seen: one starts.
    fn open(&mut self) {
        self.inside = true;
    }

    /// Whether `c` belongs to the quoted string the scan is in (its closing quote
    /// included); false outside one.
    fn take(&mut self, c: char) -> bool {
        if !self.inside {
            return false;
        }
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' {
            self.escaped = true;
        } else if c == '"' {
            self.inside = false;
        }
        true
    }
}

/// Split `v` at top-level `;` (outside quotes and comments).
fn split_params(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = QuotedString::default();
    let mut comment = 0usize;
    for c in v.chars() {
        if quote.take(c) {
            cur.push(c);
            continue;
        }
        match c {
            '"' if comment == 0 => {
                quote.open();
                cur.push(c);
            }
            '(' => comment += 1,
            ')' if comment > 0 => comment -= 1,
            _ if comment > 0 => {}
            ';' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let mut out = String::new();
        let mut esc = false;
        for c in s[1..s.len() - 1].chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        s.to_string()
    }
}

/// Parse `value; a=b; c="d"`: the value (trimmed) and its parameters (attribute
/// upper-cased, value unquoted). Malformed parameters are skipped.
fn value_and_params(v: &[u8]) -> (String, Params) {
    let v = text(v);
    let mut pieces = split_params(&v).into_iter();
    let first = pieces.next().unwrap_or_default().trim().to_string();
    let mut params = Params::new();
    for p in pieces {
        if let Some((k, val)) = p.split_once('=') {
            let k = k.trim();
            if !k.is_empty() {
                params.push((k.to_ascii_uppercase(), unquote(val)));
            }
        }
    }
    (first, params)
}

fn content_type(fields: &[Field], in_digest: bool) -> ContentType {
    let default = || {
        if in_digest {
            ContentType {
                media_type: "message".into(),
                subtype: "rfc822".into(),
                params: Params::new(),
            }
        } else {
            ContentType {
                media_type: "text".into(),
                subtype: "plain".into(),
                params: vec![("CHARSET".into(), "US-ASCII".into())],
            }
        }
    };
    let Some(v) = field(fields, "content-type") else {
        return default();
    };
    let (value, params) = value_and_params(v);
    let Some((t, s)) = value.split_once('/') else {
        return default();
    };
    let (t, s) = (t.trim(), s.trim());
    let token = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_graphic());
    if !token(t) || !token(s) {
        return default();
    }
    ContentType {
        media_type: t.to_ascii_lowercase(),
        subtype: s.to_ascii_lowercase(),
        params,
    }
}

fn param<'p>(params: &'p Params, name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn is_message(ct: &ContentType) -> bool {
    ct.media_type == "message" && (ct.subtype == "rfc822" || ct.subtype == "global")
}

/// Parse the part in `range` (header and body) at `depth`.
fn parse_node(
    raw: &[u8],
    range: Range<usize>,
    depth: usize,
    in_digest: bool,
    budget: &mut usize,
) -> Node {
    let (header, body) = split_header(raw, range);
    let fs = fields(raw, header.clone());
    let ctype = content_type(&fs, in_digest);
    let mut node = Node {
        header,
        body: body.clone(),
        ctype,
        kind: NodeKind::Leaf,
    };
    if depth >= MAX_MIME_DEPTH || *budget == 0 {
        return node;
    }
    if node.ctype.media_type == "multipart" {
        let boundary = param(&node.ctype.params, "boundary").map(|b| b.as_bytes().to_vec());
        let digest = node.ctype.subtype == "digest";
        if let Some(boundary) = boundary.filter(|b| !b.is_empty()) {
            let ranges = split_multipart(raw, body, &boundary);
            let mut children = Vec::new();
            for r in ranges {
                if *budget == 0 {
                    break;
                }
                *budget -= 1;
                children.push(parse_node(raw, r, depth + 1, digest, budget));
            }
            node.kind = NodeKind::Multipart(children);
        } else {
            node.kind = NodeKind::Multipart(Vec::new());
        }
    } else if is_message(&node.ctype) {
        // Only an identity encoding can hold a parsable message.
        let enc = field(&fs, "content-transfer-encoding")
            .map(|e| text(e).to_ascii_lowercase())
            .unwrap_or_default();
        if matches!(enc.as_str(), "" | "7bit" | "8bit" | "binary") {
            *budget -= 1;
            node.kind =
                NodeKind::Message(Box::new(parse_node(raw, body, depth + 1, false, budget)));
        }
    }
    node
}

/// The body ranges of the parts of a multipart body. The line break before a delimiter
/// belongs to the delimiter. Without a closing delimiter the last part runs to the end.
fn split_multipart(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<usize> = None;
    let mut prev_line_end_break = body.start; // where the line break before this line starts
    for (start, content_end, next) in lines(raw, body.clone()) {
        let line = &raw[start..content_end];
        if let Some(rest) = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
        {
            let closing = rest.starts_with(b"--");
            let tail = if closing { &rest[2..] } else { rest };
            if tail.iter().all(|b| matches!(b, b' ' | b'\t')) {
                if let Some(s) = current.take() {
                    out.push(s..prev_line_end_break.max(s));
                }
                if closing {
                    return out;
                }
                current = Some(next);
                prev_line_end_break = content_end;
                continue;
            }
        }
        prev_line_end_break = content_end;
    }
    if let Some(s) = current {
        out.push(s..body.end.max(s));
    }
    out
}

/// Number of lines of a body: line breaks, plus one for a last line without one.
fn count_lines(b: &[u8]) -> u64 {
    let n = b.iter().filter(|&&c| c == b'\n').count() as u64;
    if b.last().is_some_and(|&c| c != b'\n') {
        n + 1
    } else {
        n
    }
}

fn extension(fs: &[Field], single: bool) -> PartExtension {
    let disposition = field(fs, "content-disposition").and_then(|v| {
        let (value, params) = value_and_params(v);
        (!value.is_empty()).then(|| (value.to_ascii_uppercase(), params))
    });
    let language = field(fs, "content-language")
        .map(|v| {
            text(v)
                .split(',')
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    PartExtension {
        md5: if single {
            field_string(fs, "content-md5")
        } else {
            None
        },
        disposition,
        language,
        location: field_string(fs, "content-location"),
    }
}

fn structure(raw: &[u8], node: &Node, extensible: bool) -> BodyStructure {
    let fs = fields(raw, node.header.clone());
    let ext = if extensible {
        extension(&fs, !matches!(node.kind, NodeKind::Multipart(_)))
    } else {
        PartExtension::default()
    };
    // A multipart too deep to parse is still described as a multipart (with no parts;
    // the encoder writes one empty text part), never as a single part of type multipart.
    let no_children = Vec::new();
    let children = match &node.kind {
        NodeKind::Multipart(children) => Some(children),
        NodeKind::Leaf if node.ctype.media_type == "multipart" => Some(&no_children),
        _ => None,
    };
    if let Some(children) = children {
        return BodyStructure::Multipart(Multipart {
            parts: children
                .iter()
                .map(|c| structure(raw, c, extensible))
                .collect(),
            subtype: node.ctype.subtype.to_ascii_uppercase(),
            params: node.ctype.params.clone(),
            ext,
        });
    }
    let body = raw.get(node.body.clone()).unwrap_or_default();
    let lines = count_lines(body);
    let kind = match &node.kind {
        NodeKind::Message(inner) => SingleKind::Message {
            envelope: Box::new(envelope(raw, inner)),
            body: Box::new(structure(raw, inner, extensible)),
            lines,
        },
        // message/rfc822 that was not parsed (too deep, or in base64): the grammar still
        // wants an envelope and a body, so give empty ones.
        _ if is_message(&node.ctype) => SingleKind::Message {
            envelope: Box::default(),
            body: Box::new(empty_text()),
            lines,
        },
        _ if node.ctype.media_type == "text" => SingleKind::Text { lines },
        _ => SingleKind::Basic,
    };
    BodyStructure::Single(Box::new(SinglePart {
        media_type: node.ctype.media_type.to_ascii_uppercase(),
        subtype: node.ctype.subtype.to_ascii_uppercase(),
        params: node.ctype.params.clone(),
        id: field_string(&fs, "content-id"),
        description: field_string(&fs, "content-description"),
        encoding: field(&fs, "content-transfer-encoding")
            .map(|e| text(e).to_ascii_uppercase())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "7BIT".into()),
        size: body.len() as u64,
        kind,
        ext,
    }))
}

/// An empty text/plain part.
fn empty_text() -> BodyStructure {
    BodyStructure::Single(Box::new(SinglePart {
        media_type: "TEXT".into(),
        subtype: "PLAIN".into(),
        params: vec![("CHARSET".into(), "US-ASCII".into())],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: 0,
        kind: SingleKind::Text { lines: 0 },
        ext: PartExtension::default(),
    }))
}

fn envelope(raw: &[u8], node: &Node) -> Envelope {
    let fs = fields(raw, node.header.clone());
    let list = |name: &str| {
        field(&fs, name)
            .map(|v| addresses(&text(v)))
            .unwrap_or_default()
    };
    let from = list("from");
    let mut sender = list("sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = list("reply-to");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    Envelope {
        date: field_string(&fs, "date").filter(|s| !s.is_empty()),
        subject: field_string(&fs, "subject"),
        from,
        sender,
        reply_to,
        to: list("to"),
        cc: list("cc"),
        bcc: list("bcc"),
        in_reply_to: field_string(&fs, "in-reply-to").filter(|s| !s.is_empty()),
        message_id: field_string(&fs, "message-id").filter(|s| !s.is_empty()),
    }
}

/// Parse an address list (RFC 5322 §3.4), groups included, best effort.
pub(crate) fn addresses(v: &str) -> Vec<Address> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = QuotedString::default();
    let (mut comment, mut angle, mut group) = (0usize, false, false);
    // A backslash in a comment quotes the next character (RFC 5322 §3.2.2).
    let mut escaped = false;
    for c in v.chars() {
        if quote.take(c) {
            cur.push(c);
            continue;
        }
        if comment > 0 {
            cur.push(c);
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '(' => comment += 1,
                ')' => comment -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                quote.open();
                cur.push(c);
            }
            '(' => {
                comment = 1;
                cur.push(c);
            }
            '<' => {
                angle = true;
                cur.push(c);
            }
            '>' => {
                angle = false;
                cur.push(c);
            }
            ':' if !angle && !group => {
                let name = unquote(&strip_comments(&cur));
                out.push(Address {
                    mailbox: Some(name),
                    ..Address::default()
                });
                group = true;
                cur.clear();
            }
            ',' if !angle => flush_mailbox(&mut out, &mut cur),
            ';' if !angle && group => {
                flush_mailbox(&mut out, &mut cur);
                out.push(Address::default());
                group = false;
            }
            _ => cur.push(c),
        }
    }
    flush_mailbox(&mut out, &mut cur);
    if group {
        out.push(Address::default());
    }
    out
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut quote = QuotedString::default();
    let mut comment = 0usize;
    let mut escaped = false;
    for c in s.chars() {
        if quote.take(c) {
            out.push(c);
        } else if comment > 0 {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '(' => comment += 1,
                ')' => comment -= 1,
                _ => {}
            }
        } else if c == '(' {
            comment = 1;
        } else {
            if c == '"' {
                quote.open();
            }
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The text of the last top-level comment of `s` (nested comments kept, quoted pairs
/// resolved), trimmed; `None` when there is no comment with text.
fn last_comment(s: &str) -> Option<String> {
    let mut quote = QuotedString::default();
    let mut depth = 0usize;
    let mut escaped = false;
    let mut current = String::new();
    let mut last = None;
    for c in s.chars() {
        if depth == 0 {
            if quote.take(c) {
                continue;
            }
            match c {
                '"' => quote.open(),
                '(' => {
                    depth = 1;
                    current.clear();
                }
                _ => {}
            }
            continue;
        }
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        last = Some(text);
                    }
                } else {
                    current.push(c);
                }
            }
            _ => current.push(c),
        }
    }
    last
}

fn flush_mailbox(out: &mut Vec<Address>, cur: &mut String) {
    let raw = std::mem::take(cur);
    let s = strip_comments(&raw);
    if s.is_empty() {
        return;
    }
    let (name, spec) = match (s.find('<'), s.rfind('>')) {
        (Some(l), r) => {
            let end = r.filter(|&r| r > l).unwrap_or(s.len());
            let name = unquote(&s[..l]);
            (
                Some(name).filter(|n| !n.is_empty()),
                s[l + 1..end].trim().to_string(),
            )
        }
        // A bare addr-spec: its comment, if any, is the display name (RFC 822's
        // `user@domain (Real Name)`, as Dovecot and Cyrus show it).
        (None, _) => (last_comment(&raw), s.clone()),
    };
    let (adl, spec) = match spec
        .starts_with('@')
        .then(|| spec.split_once(':'))
        .flatten()
    {
        Some((route, rest)) => (Some(route.to_string()), rest.trim().to_string()),
        None => (None, spec),
    };
    let (mailbox, host) = match spec.rsplit_once('@') {
        Some((m, h)) => (unquote(m), h.trim().to_string()),
        None => (unquote(&spec), String::new()),
    };
    if mailbox.is_empty() && host.is_empty() && name.is_none() {
        return;
    }
    out.push(Address {
        name,
        adl,
        mailbox: Some(mailbox),
        host: Some(host),
    });
}
