//! A message's header section split into its fields as readers split it: a field starts
//! with a name and a colon at the start of a line and goes on over the lines that start
//! with white space; the section ends at the first empty line. What readers would split
//! differently is refused: a bare CR or LF, a line that is neither a field nor a
//! continuation.

/// One header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written, without white space before the colon.
    pub name: &'a [u8],
    /// The raw value after the colon, folding included, without the final CRLF.
    pub value: &'a [u8],
}

impl Field<'_> {
    /// Whether the field has this name (compared without regard to ASCII case).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Why a header section cannot be split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A CR or LF that is not part of a CRLF.
    #[error("bare CR or LF in the header section at byte {at}")]
    BareLineEnding {
        /// Byte offset in the section.
        at: usize,
    },
    /// A line that is neither `name: value` nor a continuation of the field before.
    #[error("header line {line} is not a header field")]
    NotAField {
        /// The line's number, from 1.
        line: usize,
    },
}

/// ftext (RFC 5322 §3.6.8): printable ASCII but the colon.
fn is_ftext(b: u8) -> bool {
    matches!(b, 33..=57 | 59..=126)
}

/// Where one field lies in the section.
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// The fields of `section` (a header section, with or without its empty last line).
pub fn fields(section: &[u8]) -> Result<Vec<Field<'_>>, HeaderError> {
    let mut spans: Vec<Span> = Vec::new();
    let mut at = 0;
    let mut line_number = 0;
    while at < section.len() {
        line_number += 1;
        let rest = section.get(at..).unwrap_or_default();
        let end = match rest.iter().position(|b| *b == b'\r' || *b == b'\n') {
            Some(i) if rest.get(i..i + 2) == Some(b"\r\n") => i,
            Some(i) => return Err(HeaderError::BareLineEnding { at: at + i }),
            None => rest.len(),
        };
        let line = rest.get(..end).unwrap_or_default();
        if line.is_empty() {
            break;
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // A continuation: the field before goes on to this line's end.
            match spans.last_mut() {
                Some(span) => span.value.1 = at + end,
                None => return Err(HeaderError::NotAField { line: line_number }),
            }
        } else {
            let colon = line
                .iter()
                .position(|b| *b == b':')
                .ok_or(HeaderError::NotAField { line: line_number })?;
            let name = line.get(..colon).unwrap_or_default();
            let name_len = name
                .iter()
                .rposition(|b| *b != b' ' && *b != b'\t')
                .map_or(0, |i| i + 1);
            let name = name.get(..name_len).unwrap_or_default();
            if name.is_empty() || !name.iter().all(|b| is_ftext(*b)) {
                return Err(HeaderError::NotAField { line: line_number });
            }
            spans.push(Span {
                name: (at, at + name_len),
                value: (at + colon + 1, at + end),
            });
        }
        at += end + 2;
    }
    Ok(spans
        .into_iter()
        .map(|span| Field {
            name: section.get(span.name.0..span.name.1).unwrap_or_default(),
            value: section.get(span.value.0..span.value.1).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values(section: &[u8]) -> Vec<(String, String)> {
        fields(section)
            .unwrap()
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.name).into_owned(),
                    String::from_utf8_lossy(f.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn fields_with_folding_and_obsolete_white_space() {
        let section = b"From: a@example.org\r\nSubject: one\r\n two\r\nSender \t: b@x\r\n\r\nbody";
        assert_eq!(
            names_and_values(section),
            [
                ("From".to_string(), " a@example.org".to_string()),
                ("Subject".to_string(), " one\r\n two".to_string()),
                ("Sender".to_string(), " b@x".to_string()),
            ]
        );
        assert!(fields(b"FROM:x\r\n").unwrap()[0].is("from"));
        // Without the empty line, and without a final line ending.
        assert_eq!(names_and_values(b"A: b").len(), 1);
        assert_eq!(names_and_values(b""), []);
    }

    #[test]
    fn what_readers_split_differently_is_refused() {
        assert_eq!(
            fields(b"X: a\nFrom: victim@example.org\r\n"),
            Err(HeaderError::BareLineEnding { at: 4 })
        );
        assert_eq!(
            fields(b"X: a\rFrom: v@x\r\n"),
            Err(HeaderError::BareLineEnding { at: 4 })
        );
        assert_eq!(
            fields(b" From: v@x\r\n"),
            Err(HeaderError::NotAField { line: 1 })
        );
        assert_eq!(
            fields(b"From: me@x\r\nno colon here\r\n"),
            Err(HeaderError::NotAField { line: 2 })
        );
        assert_eq!(
            fields(b"Fr om: v@x\r\n"),
            Err(HeaderError::NotAField { line: 1 })
        );
        assert_eq!(
            fields(b": v@x\r\n"),
            Err(HeaderError::NotAField { line: 1 })
        );
        assert_eq!(
            fields("Fröm: v@x\r\n".as_bytes()),
            Err(HeaderError::NotAField { line: 1 })
        );
    }
}
