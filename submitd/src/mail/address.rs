//! Strict parsing of RFC 5322 address header fields (§3.4, with RFC 6532's UTF-8 and the
//! common obsolete phrase with dots): a mailbox, a mailbox list, an address list. What
//! does not parse is refused rather than guessed at, so that no reader of a message can
//! see another address than the one submitd checked (`victim@example.org <me@example.org>`
//! is not a display name followed by an address: it does not parse).

/// Deepest nesting of comments accepted.
pub const MAX_COMMENT_DEPTH: usize = 16;

/// Why a header field value is not an address list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The value is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The value holds no address.
    #[error("no address")]
    Empty,
    /// A character the grammar does not allow where it stands.
    #[error("unexpected character U+{:04X} at byte {at}", u32::from(*.found))]
    Unexpected {
        /// Byte offset in the value.
        at: usize,
        /// The character.
        found: char,
    },
    /// The value ends inside an address, a quoted string or a comment.
    #[error("ends in the middle of an address")]
    UnexpectedEnd,
    /// A line break that is not folding white space.
    #[error("line break not followed by white space at byte {at}")]
    BareLineBreak {
        /// Byte offset in the value.
        at: usize,
    },
    /// Comments nested deeper than [`MAX_COMMENT_DEPTH`].
    #[error("comments nested deeper than {MAX_COMMENT_DEPTH}")]
    CommentsTooDeep,
    /// A group (`name: a@b;`) where only mailboxes are allowed (From, Sender).
    #[error("a group where only mailboxes are allowed")]
    GroupNotAllowed,
    /// More than one mailbox where exactly one is allowed (Sender).
    #[error("more than one mailbox where one is allowed")]
    NotOneMailbox,
}

/// The addresses of a mailbox list (From, Resent-From): each `local@domain`.
pub fn parse_mailbox_list(value: &[u8]) -> Result<Vec<String>, AddressError> {
    let addresses = Parser::new(value)?.address_list()?;
    addresses
        .into_iter()
        .map(|address| match address {
            Address::Mailbox(mailbox) => Ok(mailbox),
            Address::Group(_) => Err(AddressError::GroupNotAllowed),
        })
        .collect()
}

/// The address of a single mailbox (Sender, Resent-Sender).
pub fn parse_mailbox(value: &[u8]) -> Result<String, AddressError> {
    let mut mailboxes = parse_mailbox_list(value)?;
    match mailboxes.len() {
        1 => Ok(mailboxes.remove(0)),
        _ => Err(AddressError::NotOneMailbox),
    }
}

/// The addresses of an address list (Reply-To), group members included.
pub fn parse_address_list(value: &[u8]) -> Result<Vec<String>, AddressError> {
    let addresses = Parser::new(value)?.address_list()?;
    Ok(addresses
        .into_iter()
        .flat_map(|address| match address {
            Address::Mailbox(mailbox) => vec![mailbox],
            Address::Group(members) => members,
        })
        .collect())
}

enum Address {
    Mailbox(String),
    Group(Vec<String>),
}

/// atext (RFC 5322 §3.2.3) and UTF8-non-ascii (RFC 6532 §3.2).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// qtext (§3.2.4), UTF-8 included.
fn is_qtext(c: char) -> bool {
    matches!(c, '!' | '#'..='[' | ']'..='~') || !c.is_ascii()
}

/// ctext (§3.2.2), UTF-8 included.
fn is_ctext(c: char) -> bool {
    matches!(c, '!'..='\'' | '*'..='[' | ']'..='~') || !c.is_ascii()
}

/// dtext (§3.4.1).
fn is_dtext(c: char) -> bool {
    matches!(c, '!'..='Z' | '^'..='~')
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A word of a local part or a phrase.
enum Word {
    Atom(String),
    Quoted(String),
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(value: &'a [u8]) -> Result<Parser<'a>, AddressError> {
        let text = std::str::from_utf8(value).map_err(|_| AddressError::NotUtf8)?;
        // The field's own line ending is not part of its value.
        let text = text.strip_suffix("\r\n").unwrap_or(text);
        Ok(Parser { text, at: 0 })
    }

    fn peek(&self) -> Option<char> {
        self.text.get(self.at..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn unexpected(&self) -> AddressError {
        match self.peek() {
            Some(found) => AddressError::Unexpected { at: self.at, found },
            None => AddressError::UnexpectedEnd,
        }
    }

    fn expect(&mut self, want: char) -> Result<(), AddressError> {
        if self.peek() == Some(want) {
            self.at += want.len_utf8();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// FWS (§3.2.2): white space, with CRLF only as folding before more white space.
    fn fws(&mut self) -> Result<bool, AddressError> {
        let start = self.at;
        loop {
            match self.peek() {
                Some(c) if is_wsp(c) => self.at += 1,
                Some('\r') => {
                    let rest = self.text.get(self.at..).unwrap_or_default().as_bytes();
                    if rest.get(1) == Some(&b'\n')
                        && rest.get(2).is_some_and(|b| *b == b' ' || *b == b'\t')
                    {
                        self.at += 2;
                    } else {
                        return Err(AddressError::BareLineBreak { at: self.at });
                    }
                }
                Some('\n') => return Err(AddressError::BareLineBreak { at: self.at }),
                _ => return Ok(self.at > start),
            }
        }
    }

    /// A comment, the opening parenthesis next (§3.2.2).
    fn comment(&mut self, depth: usize) -> Result<(), AddressError> {
        if depth >= MAX_COMMENT_DEPTH {
            return Err(AddressError::CommentsTooDeep);
        }
        self.expect('(')?;
        loop {
            self.fws()?;
            match self.peek() {
                Some(')') => {
                    self.at += 1;
                    return Ok(());
                }
                Some('(') => self.comment(depth + 1)?,
                Some('\\') => self.quoted_pair().map(drop)?,
                Some(c) if is_ctext(c) => self.at += c.len_utf8(),
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// CFWS, possibly empty.
    fn cfws(&mut self) -> Result<(), AddressError> {
        loop {
            self.fws()?;
            if self.peek() == Some('(') {
                self.comment(0)?;
            } else {
                return Ok(());
            }
        }
    }

    /// quoted-pair (§3.2.1), the backslash next: the quoted character.
    fn quoted_pair(&mut self) -> Result<char, AddressError> {
        self.expect('\\')?;
        match self.peek() {
            Some(c) if c.is_ascii_graphic() || is_wsp(c) || !c.is_ascii() => {
                self.at += c.len_utf8();
                Ok(c)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// 1*atext, or `None` when none is next.
    fn atext_run(&mut self) -> Option<String> {
        let start = self.at;
        while self.peek().is_some_and(is_atext) {
            self.bump();
        }
        (self.at > start).then(|| self.text[start..self.at].to_string())
    }

    /// A quoted string's content, the opening quote next (§3.2.4).
    fn quoted_string(&mut self) -> Result<String, AddressError> {
        self.expect('"')?;
        let mut content = String::new();
        loop {
            let before = self.at;
            if self.fws()? {
                // Folding is removed; the white space stays.
                content.extend(self.text[before..self.at].chars().filter(|c| is_wsp(*c)));
            }
            match self.peek() {
                Some('"') => {
                    self.at += 1;
                    return Ok(content);
                }
                Some('\\') => content.push(self.quoted_pair()?),
                Some(c) if is_qtext(c) => {
                    self.at += c.len_utf8();
                    content.push(c);
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    /// A word (atom or quoted string) with its surrounding CFWS, or `None` (nothing
    /// consumed but CFWS) when none is next.
    fn word(&mut self) -> Result<Option<Word>, AddressError> {
        self.cfws()?;
        let word = match self.peek() {
            Some('"') => Some(Word::Quoted(self.quoted_string()?)),
            _ => self.atext_run().map(Word::Atom),
        };
        if word.is_some() {
            self.cfws()?;
        }
        Ok(word)
    }

    /// A display name: phrase (§3.2.5), with obs-phrase's dots after the first word.
    /// `None` when no word is next.
    fn phrase(&mut self) -> Result<Option<()>, AddressError> {
        if self.word()?.is_none() {
            return Ok(None);
        }
        loop {
            if self.peek() == Some('.') {
                self.at += 1;
                self.cfws()?;
                continue;
            }
            if self.word()?.is_none() {
                return Ok(Some(()));
            }
        }
    }

    /// local-part (§3.4.1, obs-local-part's words and dots), canonical text.
    fn local_part(&mut self) -> Result<String, AddressError> {
        let mut words = Vec::new();
        loop {
            match self.word()? {
                Some(word) => words.push(word),
                None => return Err(self.unexpected()),
            }
            if self.peek() != Some('.') {
                break;
            }
            self.at += 1;
        }
        let plain: Option<Vec<&str>> = words
            .iter()
            .map(|w| match w {
                Word::Atom(a) => Some(a.as_str()),
                Word::Quoted(q) if !q.is_empty() && q.chars().all(is_atext) => Some(q.as_str()),
                Word::Quoted(_) => None,
            })
            .collect();
        Ok(match plain {
            Some(parts) => parts.join("."),
            None => {
                let joined: String = words
                    .iter()
                    .map(|w| match w {
                        Word::Atom(a) | Word::Quoted(a) => a.as_str(),
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                let mut quoted = String::from("\"");
                for c in joined.chars() {
                    if c == '"' || c == '\\' {
                        quoted.push('\\');
                    }
                    quoted.push(c);
                }
                quoted.push('"');
                quoted
            }
        })
    }

    /// domain (§3.4.1): dot-atom (obs-domain's CFWS around dots too) or a literal.
    fn domain(&mut self) -> Result<String, AddressError> {
        self.cfws()?;
        if self.peek() == Some('[') {
            self.at += 1;
            let mut literal = String::from("[");
            loop {
                self.fws()?;
                match self.peek() {
                    Some(']') => {
                        self.at += 1;
                        literal.push(']');
                        self.cfws()?;
                        return Ok(literal);
                    }
                    Some(c) if is_dtext(c) => {
                        self.at += 1;
                        literal.push(c);
                    }
                    _ => return Err(self.unexpected()),
                }
            }
        }
        let mut labels = Vec::new();
        loop {
            self.cfws()?;
            match self.atext_run() {
                Some(label) => labels.push(label),
                None => return Err(self.unexpected()),
            }
            self.cfws()?;
            if self.peek() != Some('.') {
                return Ok(labels.join("."));
            }
            self.at += 1;
        }
    }

    /// addr-spec (§3.4.1).
    fn addr_spec(&mut self) -> Result<String, AddressError> {
        let local = self.local_part()?;
        self.expect('@')?;
        let domain = self.domain()?;
        Ok(format!("{local}@{domain}"))
    }

    /// angle-addr (§3.4), the `<` next; obs-route is refused.
    fn angle_addr(&mut self) -> Result<String, AddressError> {
        self.expect('<')?;
        let address = self.addr_spec()?;
        self.expect('>')?;
        self.cfws()?;
        Ok(address)
    }

    /// mailbox (§3.4): name-addr or addr-spec, whichever parses.
    fn mailbox(&mut self) -> Result<String, AddressError> {
        let start = self.at;
        let named = (|| {
            self.phrase()?;
            self.cfws()?;
            if self.peek() == Some('<') {
                self.angle_addr()
            } else {
                Err(self.unexpected())
            }
        })();
        let named_end = self.at;
        match named {
            Ok(address) => Ok(address),
            Err(named_error) => {
                self.at = start;
                match self.addr_spec() {
                    Ok(address) => Ok(address),
                    // Report the attempt that got further.
                    Err(_) if named_end > self.at => {
                        self.at = named_end;
                        Err(named_error)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// address (§3.4): a mailbox or a group.
    fn address(&mut self) -> Result<Address, AddressError> {
        let start = self.at;
        if self.phrase()?.is_some() && self.peek() == Some(':') {
            self.at += 1;
            let mut members = Vec::new();
            self.cfws()?;
            if self.peek() != Some(';') {
                loop {
                    members.push(self.mailbox()?);
                    if self.peek() != Some(',') {
                        break;
                    }
                    self.at += 1;
                }
            }
            self.expect(';')?;
            self.cfws()?;
            return Ok(Address::Group(members));
        }
        self.at = start;
        self.mailbox().map(Address::Mailbox)
    }

    /// address-list (§3.4), the whole value.
    fn address_list(&mut self) -> Result<Vec<Address>, AddressError> {
        self.cfws()?;
        if self.peek().is_none() {
            return Err(AddressError::Empty);
        }
        let mut addresses = vec![self.address()?];
        while self.peek() == Some(',') {
            self.at += 1;
            addresses.push(self.address()?);
        }
        if self.peek().is_some() {
            return Err(self.unexpected());
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(value: &str) -> Result<Vec<String>, AddressError> {
        parse_mailbox_list(value.as_bytes())
    }

    #[test]
    fn common_forms_parse() {
        for (value, expected) in [
            ("a@example.org", vec!["a@example.org"]),
            ("<a@example.org>", vec!["a@example.org"]),
            ("Ann <a@example.org>", vec!["a@example.org"]),
            ("\"Ann, B.\" <a@example.org>", vec!["a@example.org"]),
            ("John Q. Public <jqp@example.org>", vec!["jqp@example.org"]),
            ("=?utf-8?q?Ann=40x?= <a@example.org>", vec!["a@example.org"]),
            ("Jöran Ł <jö@exämple.org>", vec!["jö@exämple.org"]),
            ("a@example.org (Ann)", vec!["a@example.org"]),
            ("(c (nested)) a(x)@(y)example.org", vec!["a@example.org"]),
            (" Ann\r\n <a@example.org>\r\n", vec!["a@example.org"]),
            (
                "a@example.org, Bo <b@example.org>",
                vec!["a@example.org", "b@example.org"],
            ),
            ("\"a\"@example.org", vec!["a@example.org"]),
            ("\"a b\"@example.org", vec!["\"a b\"@example.org"]),
            ("\"a\\\"b\"@[192.0.2.1]", vec!["\"a\\\"b\"@[192.0.2.1]"]),
            (
                "first.last@sub.example.org",
                vec!["first.last@sub.example.org"],
            ),
        ] {
            assert_eq!(
                list(value),
                Ok(expected.iter().map(|s| s.to_string()).collect()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn spoofing_forms_do_not_parse() {
        for value in [
            "victim@example.org <me@example.org>",
            "victim@example.org<me@example.org>",
            "me@example.org <victim@example.org",
            "<me@example.org> victim@example.org",
            "me@example.org victim@example.org",
            "Ann <me@example.org> <victim@example.org>",
            "Ann <@route.example:me@example.org>",
            "me@example.org,",
            ",me@example.org",
            "me@example.org,,victim@example.org",
            "me@",
            "@example.org",
            "me",
            "",
            "   ",
            "\"unterminated <me@example.org>",
            "(unterminated me@example.org",
            "me@example.org\nFrom: victim@example.org",
            "me@example.org\r\nFrom: victim@example.org",
            "me@example.org\r",
            "Ann\0 <me@example.org>",
            "me..x@example.org",
            "me@example..org",
            "me@[192.0.2.1",
        ] {
            assert!(
                list(value).is_err(),
                "{value:?} parsed as {:?}",
                list(value)
            );
        }
        assert_eq!(
            parse_mailbox_list(b"\xff@example.org"),
            Err(AddressError::NotUtf8)
        );
        assert_eq!(list("  (only a comment) "), Err(AddressError::Empty));
    }

    #[test]
    fn groups_only_in_address_lists() {
        let value = b"Team: a@example.org, B <b@example.org>;, c@example.org";
        assert_eq!(
            parse_address_list(value),
            Ok(vec![
                "a@example.org".into(),
                "b@example.org".into(),
                "c@example.org".into()
            ])
        );
        assert_eq!(parse_address_list(b"undisclosed-recipients:;"), Ok(vec![]));
        assert_eq!(
            parse_mailbox_list(value),
            Err(AddressError::GroupNotAllowed)
        );
        assert_eq!(
            parse_mailbox(b"a@example.org, b@example.org"),
            Err(AddressError::NotOneMailbox)
        );
        assert_eq!(
            parse_mailbox(b"A <a@example.org>"),
            Ok("a@example.org".into())
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a@example.org", "(".repeat(100));
        assert_eq!(list(&deep), Err(AddressError::CommentsTooDeep));
        let ok = format!("{}x{} a@example.org", "(".repeat(5), ")".repeat(5));
        assert!(list(&ok).is_ok());
    }

    #[test]
    fn errors_name_the_place() {
        assert_eq!(
            list("victim@example.org <me@example.org>"),
            Err(AddressError::Unexpected { at: 19, found: '<' })
        );
        assert_eq!(
            AddressError::Unexpected {
                at: 3,
                found: '\u{1b}'
            }
            .to_string(),
            "unexpected character U+001B at byte 3"
        );
    }
}
