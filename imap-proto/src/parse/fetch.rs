//! FETCH / UID FETCH: items and macros, body sections, partial ranges, modifiers.

use super::cursor::{Parser, R};
use super::error::SyntaxError;
use crate::command::{FetchCommand, FetchItem, Section, SectionText};

impl Parser<'_> {
    pub(super) fn fetch(&mut self, uid: bool) -> R<FetchCommand> {
        self.sp()?;
        let set = self.sequence_set()?;
        self.sp()?;
        let items = if self.eat_word("ALL") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
                FetchItem::Envelope,
            ]
        } else if self.eat_word("FAST") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
            ]
        } else if self.eat_word("FULL") {
            vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
                FetchItem::Envelope,
                FetchItem::Body,
            ]
        } else if self.peek() == Some(b'(') {
            self.paren_list(1, Self::fetch_item)?
        } else {
            vec![self.fetch_item()?]
        };
        let mut changed_since = None;
        let mut vanished = false;
        if self.eat(b' ') {
            self.paren_list(1, |p| {
                if p.eat_word("CHANGEDSINCE") {
                    p.sp()?;
                    changed_since = Some(p.number64()?);
                } else if p.eat_word("VANISHED") {
                    vanished = true;
                } else {
                    return Err(SyntaxError::UnknownFetchModifier);
                }
                Ok(())
            })?;
        }
        if vanished && (!uid || changed_since.is_none()) {
            return Err(SyntaxError::VanishedWithoutChangedSince);
        }
        Ok(FetchCommand {
            uid,
            set,
            items,
            changed_since,
            vanished,
        })
    }

    fn fetch_item(&mut self) -> R<FetchItem> {
        let name = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.');
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let bracket = self.peek() == Some(b'[');
        Ok(match (name.as_str(), bracket) {
            ("ENVELOPE", false) => FetchItem::Envelope,
            ("FLAGS", false) => FetchItem::Flags,
            ("INTERNALDATE", false) => FetchItem::InternalDate,
            ("RFC822", false) => FetchItem::Rfc822,
            ("RFC822.HEADER", false) => FetchItem::Rfc822Header,
            ("RFC822.TEXT", false) => FetchItem::Rfc822Text,
            ("RFC822.SIZE", false) => FetchItem::Rfc822Size,
            ("BODY", false) => FetchItem::Body,
            ("BODYSTRUCTURE", false) => FetchItem::BodyStructure,
            ("UID", false) => FetchItem::Uid,
            ("MODSEQ", false) => FetchItem::ModSeq,
            ("SAVEDATE", false) => FetchItem::SaveDate,
            ("BODY" | "BODY.PEEK", true) => {
                let section = self.section()?;
                let partial = self.partial()?;
                FetchItem::BodySection {
                    peek: name == "BODY.PEEK",
                    section,
                    partial,
                }
            }
            ("BINARY" | "BINARY.PEEK", true) => {
                let part = self.binary_section()?;
                let partial = self.partial()?;
                FetchItem::Binary {
                    peek: name == "BINARY.PEEK",
                    part,
                    partial,
                }
            }
            ("BINARY.SIZE", true) => FetchItem::BinarySize {
                part: self.binary_section()?,
            },
            _ => return Err(SyntaxError::UnknownFetchItem(name)),
        })
    }

    fn section_part(&mut self) -> R<Vec<u32>> {
        let mut part = Vec::new();
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            part.push(self.nz_number()?);
            while self.peek() == Some(b'.')
                && self.s.get(self.pos + 1).is_some_and(u8::is_ascii_digit)
            {
                self.pos += 1;
                part.push(self.nz_number()?);
            }
        }
        Ok(part)
    }

    fn binary_section(&mut self) -> R<Vec<u32>> {
        self.expect(b'[')?;
        let part = self.section_part()?;
        self.expect(b']')?;
        Ok(part)
    }

    fn section(&mut self) -> R<Section> {
        self.expect(b'[')?;
        let part = self.section_part()?;
        let mut text = None;
        if self.peek() != Some(b']') {
            if !part.is_empty() {
                self.expect(b'.')?;
            }
            let t = self.take_while(|b| b.is_ascii_alphabetic() || b == b'.');
            let t = String::from_utf8_lossy(t).to_ascii_uppercase();
            text = Some(match t.as_str() {
                "HEADER" => SectionText::Header,
                "TEXT" => SectionText::Text,
                "MIME" if !part.is_empty() => SectionText::Mime,
                "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                    self.sp()?;
                    let names = self.paren_list(1, Self::astring_utf8)?;
                    if t == "HEADER.FIELDS" {
                        SectionText::HeaderFields(names)
                    } else {
                        SectionText::HeaderFieldsNot(names)
                    }
                }
                _ => return Err(SyntaxError::InvalidSection(t)),
            });
        }
        self.expect(b']')?;
        Ok(Section { part, text })
    }

    fn partial(&mut self) -> R<Option<(u32, u32)>> {
        if !self.eat(b'<') {
            return Ok(None);
        }
        let offset = self.number()?;
        self.expect(b'.')?;
        let len = self.nz_number()?;
        self.expect(b'>')?;
        Ok(Some((offset, len)))
    }
}
