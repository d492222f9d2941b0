//! FETCH data items: flags, dates, sections and content, ENVELOPE, BODY and
//! BODYSTRUCTURE.

use super::Writer;
use crate::body::{BodyStructure, Params, PartExtension, SingleKind, SinglePart};
use crate::command::{Section, SectionText};
use crate::datetime::{DateTime, civil_from_days};
use crate::envelope::{Address, Envelope};
use crate::response::{FetchData, Rfc822Part};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Format a date-time as IMAP `"dd-Mon-yyyy hh:mm:ss +zzzz"` (without quotes).
pub fn format_date_time(dt: DateTime) -> String {
    let local = dt.unix.saturating_add(i64::from(dt.offset_minutes) * 60);
    let days = local.div_euclid(86400);
    let secs = local.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let off = dt.offset_minutes.unsigned_abs();
    let sign = if dt.offset_minutes < 0 { '-' } else { '+' };
    format!(
        "{d:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

impl Writer {
    pub(super) fn fetch_data(&mut self, item: &FetchData) {
        match item {
            FetchData::Flags(f) => {
                self.raw("FLAGS ");
                self.flags(f, false);
            }
            FetchData::Uid(n) => self.num(format_args!("UID {n}")),
            FetchData::Rfc822Size(n) => self.num(format_args!("RFC822.SIZE {n}")),
            FetchData::InternalDate(dt) => {
                self.raw("INTERNALDATE \"");
                self.raw(&format_date_time(*dt));
                self.raw("\"");
            }
            FetchData::ModSeq(n) => self.num(format_args!("MODSEQ ({n})")),
            FetchData::SaveDate(dt) => match dt {
                Some(dt) => {
                    self.raw("SAVEDATE \"");
                    self.raw(&format_date_time(*dt));
                    self.raw("\"");
                }
                None => self.raw("SAVEDATE NIL"),
            },
            FetchData::Envelope(e) => {
                self.raw("ENVELOPE ");
                self.envelope(e);
            }
            FetchData::BodySection {
                section,
                origin,
                data,
            } => {
                self.raw("BODY");
                self.section(section);
                if let Some(o) = origin {
                    self.num(format_args!("<{o}>"));
                }
                self.raw(" ");
                self.content(data.as_deref(), false);
            }
            FetchData::Rfc822 { which, data } => {
                self.raw(match which {
                    Rfc822Part::Whole => "RFC822 ",
                    Rfc822Part::Header => "RFC822.HEADER ",
                    Rfc822Part::Text => "RFC822.TEXT ",
                });
                self.content(data.as_deref(), false);
            }
            FetchData::Binary { part, origin, data } => {
                self.raw("BINARY");
                self.section(&Section {
                    part: part.clone(),
                    text: None,
                });
                if let Some(o) = origin {
                    self.num(format_args!("<{o}>"));
                }
                self.raw(" ");
                self.content(data.as_deref(), true);
            }
            FetchData::BinarySize { part, size } => {
                self.raw("BINARY.SIZE");
                self.section(&Section {
                    part: part.clone(),
                    text: None,
                });
                self.num(format_args!(" {size}"));
            }
            FetchData::BodyStructure {
                extensible,
                structure,
            } => {
                self.raw(if *extensible {
                    "BODYSTRUCTURE "
                } else {
                    "BODY "
                });
                self.body(structure, *extensible);
            }
        }
    }

    fn section(&mut self, s: &Section) {
        self.raw("[");
        let part: Vec<String> = s.part.iter().map(u32::to_string).collect();
        self.raw(&part.join("."));
        if let Some(t) = &s.text {
            if !s.part.is_empty() {
                self.raw(".");
            }
            match t {
                SectionText::Header => self.raw("HEADER"),
                SectionText::Text => self.raw("TEXT"),
                SectionText::Mime => self.raw("MIME"),
                SectionText::HeaderFields(f) | SectionText::HeaderFieldsNot(f) => {
                    self.raw(if matches!(t, SectionText::HeaderFields(_)) {
                        "HEADER.FIELDS ("
                    } else {
                        "HEADER.FIELDS.NOT ("
                    });
                    self.strings(f.iter().map(|name| name.as_bytes()));
                    self.raw(")");
                }
            }
        }
        self.raw("]");
    }

    fn address_list(&mut self, list: &[Address]) {
        if list.is_empty() {
            self.raw("NIL");
            return;
        }
        self.raw("(");
        for a in list {
            self.raw("(");
            self.nstring(a.name.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.adl.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.mailbox.as_deref().map(str::as_bytes));
            self.raw(" ");
            self.nstring(a.host.as_deref().map(str::as_bytes));
            self.raw(")");
        }
        self.raw(")");
    }

    fn envelope(&mut self, e: &Envelope) {
        self.raw("(");
        self.nstring(e.date.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(e.subject.as_deref().map(str::as_bytes));
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            self.raw(" ");
            self.address_list(list);
        }
        self.raw(" ");
        self.nstring(e.in_reply_to.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(e.message_id.as_deref().map(str::as_bytes));
        self.raw(")");
    }

    fn params(&mut self, p: &Params) {
        if p.is_empty() {
            self.raw("NIL");
            return;
        }
        self.raw("(");
        for (i, (k, v)) in p.iter().enumerate() {
            if i > 0 {
                self.raw(" ");
            }
            self.string(k.as_bytes());
            self.raw(" ");
            self.string(v.as_bytes());
        }
        self.raw(")");
    }

    /// body-fld-dsp SP body-fld-lang SP body-fld-loc.
    fn extension_tail(&mut self, e: &PartExtension) {
        self.raw(" ");
        match &e.disposition {
            None => self.raw("NIL"),
            Some((v, p)) => {
                self.raw("(");
                self.string(v.as_bytes());
                self.raw(" ");
                self.params(p);
                self.raw(")");
            }
        }
        self.raw(" ");
        match e.language.as_slice() {
            [] => self.raw("NIL"),
            [one] => self.string(one.as_bytes()),
            many => {
                self.raw("(");
                self.strings(many.iter().map(|l| l.as_bytes()));
                self.raw(")");
            }
        }
        self.raw(" ");
        self.nstring(e.location.as_deref().map(str::as_bytes));
    }

    fn single(&mut self, p: &SinglePart, extensible: bool) {
        self.raw("(");
        self.string(p.media_type.as_bytes());
        self.raw(" ");
        self.string(p.subtype.as_bytes());
        self.raw(" ");
        self.params(&p.params);
        self.raw(" ");
        self.nstring(p.id.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.nstring(p.description.as_deref().map(str::as_bytes));
        self.raw(" ");
        self.string(p.encoding.as_bytes());
        self.num(format_args!(" {}", p.size));
        match &p.kind {
            SingleKind::Basic => {}
            SingleKind::Text { lines } => self.num(format_args!(" {lines}")),
            SingleKind::Message {
                envelope,
                body,
                lines,
            } => {
                self.raw(" ");
                self.envelope(envelope);
                self.raw(" ");
                self.body(body, extensible);
                self.num(format_args!(" {lines}"));
            }
        }
        if extensible {
            self.raw(" ");
            self.nstring(p.ext.md5.as_deref().map(str::as_bytes));
            self.extension_tail(&p.ext);
        }
        self.raw(")");
    }

    fn body(&mut self, b: &BodyStructure, extensible: bool) {
        match b {
            BodyStructure::Single(p) => self.single(p, extensible),
            BodyStructure::Multipart(m) => {
                self.raw("(");
                if m.parts.is_empty() {
                    self.single(
                        &SinglePart {
                            media_type: "text".into(),
                            subtype: "plain".into(),
                            params: Vec::new(),
                            id: None,
                            description: None,
                            encoding: "7bit".into(),
                            size: 0,
                            kind: SingleKind::Text { lines: 0 },
                            ext: PartExtension::default(),
                        },
                        extensible,
                    );
                }
                for part in &m.parts {
                    self.body(part, extensible);
                }
                self.raw(" ");
                self.string(m.subtype.as_bytes());
                if extensible {
                    self.raw(" ");
                    self.params(&m.params);
                    self.extension_tail(&m.ext);
                }
                self.raw(")");
            }
        }
    }
}
