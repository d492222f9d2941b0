//! Writing a submitted message to an unlinked file as it arrives: the header section is
//! held (bounded) until it is complete, then the headers submitd adds (Received, and
//! Message-ID and Date when missing, RFC 6409 §8) go first, the client's bytes after.
//! The size limit is checked on every chunk; past it the data is counted but dropped,
//! so the session stays in step with the client. Besides the advertised SIZE, the file
//! as written (added headers included) never exceeds what the store takes
//! ([`MAX_STORED_MESSAGE`]), so an acknowledged message can always be delivered.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mail_parser::{HeaderName, MessageParser};

use postern_config::MAX_STORED_MESSAGE;

use crate::mail::{SenderAddress, SenderFieldsError, sender_addresses};
use crate::smtp::limits::{MAX_HEADER_SECTION, WRITE_CHUNK};

/// What the header section says, for the checks after the message is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeaderFacts {
    /// The addresses of the sender fields, which must be the account's; or why those
    /// fields are refused.
    pub(super) senders: Result<Vec<SenderAddress>, SenderFieldsError>,
    /// The Message-ID of the message (added if the client sent none).
    pub(super) message_id: String,
}

/// Why a message could not be taken.
#[derive(Debug)]
pub(super) enum MessageProblem {
    /// More than the size limit.
    TooLarge,
    /// A header section over [`MAX_HEADER_SECTION`].
    HeaderTooLarge,
    /// A CR or LF that is not part of a CRLF (DATA only): possible SMTP smuggling.
    BareLineEnding,
    /// Writing the file failed.
    Io(std::io::Error),
}

enum State {
    /// Collecting the header section in memory.
    Header(Vec<u8>),
    /// Writing through to the file.
    Body(BufWriter<File>),
    /// Failed; the rest is counted and dropped.
    Failed(MessageProblem),
}

/// Builds one message file from the client's data.
pub(super) struct MessageWriter {
    state: State,
    /// Where the header section's end was not found yet (search restarts a bit before).
    scanned: usize,
    /// Bytes the client sent for this message.
    size: u64,
    max_size: u64,
    /// Bytes of the header fields put before the client's, once written.
    added: u64,
    /// The Received header, prepended.
    received: String,
    hostname: String,
    /// Set when the header section was complete.
    facts: Option<HeaderFacts>,
    /// Check for bare CR and LF (DATA); the last byte seen.
    line_endings: Option<u8>,
    bare_line_ending: bool,
    /// The file, kept while the header section is collected.
    file: Option<File>,
}

/// Creates an unlinked file in `dir` for a message: `O_TMPFILE` where the file system
/// has it (so the queue may link it into place), else a named file removed at once.
pub(super) fn unlinked_file(dir: &Path) -> std::io::Result<File> {
    let tmpfile = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match tmpfile {
        Ok(file) => Ok(file),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
            ) =>
        {
            tempfile::tempfile_in(dir)
        }
        Err(e) => Err(e),
    }
}

impl MessageWriter {
    /// A writer into `file`. `check_line_endings` refuses bare CR and LF (DATA).
    pub(super) fn new(
        file: File,
        received: String,
        hostname: &str,
        max_size: u64,
        check_line_endings: bool,
    ) -> MessageWriter {
        MessageWriter {
            state: State::Header(Vec::new()),
            scanned: 0,
            size: 0,
            max_size,
            added: 0,
            received,
            hostname: hostname.to_owned(),
            facts: None,
            line_endings: check_line_endings.then_some(b'\n'),
            bare_line_ending: false,
            file: Some(file),
        }
    }

    /// Bytes the client sent so far.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Whether the message already failed (the rest is only counted).
    pub(super) fn failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// Whether the message is over the size limit.
    pub(super) fn too_large(&self) -> bool {
        matches!(self.state, State::Failed(MessageProblem::TooLarge))
    }

    /// Takes the next bytes of the message.
    pub(super) fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.size = self.size.saturating_add(data.len() as u64);
        if self.failed() {
            return;
        }
        if self.over_limit() {
            self.fail(MessageProblem::TooLarge);
            return;
        }
        if let Some(last) = self.line_endings {
            self.line_endings = Some(self.check_line_endings(last, data));
        }
        let state = std::mem::replace(&mut self.state, State::Failed(MessageProblem::TooLarge));
        self.state = match state {
            State::Header(mut header) => {
                header.extend_from_slice(data);
                match header_end(&header, self.scanned) {
                    Some(end) => match self.start_body(&header, end) {
                        Ok(state) => state,
                        Err(e) => State::Failed(MessageProblem::Io(e)),
                    },
                    None if header.len() > MAX_HEADER_SECTION => {
                        State::Failed(MessageProblem::HeaderTooLarge)
                    }
                    None => {
                        self.scanned = header.len().saturating_sub(3);
                        State::Header(header)
                    }
                }
            }
            State::Body(mut out) => match out.write_all(data) {
                Ok(()) => State::Body(out),
                Err(e) => State::Failed(MessageProblem::Io(e)),
            },
            failed @ State::Failed(_) => failed,
        };
    }

    /// Finishes the message: the file, positioned at its start, and the header facts.
    pub(super) fn finish(mut self) -> Result<(File, HeaderFacts), MessageProblem> {
        if self.bare_line_ending {
            return Err(MessageProblem::BareLineEnding);
        }
        let state = std::mem::replace(&mut self.state, State::Failed(MessageProblem::TooLarge));
        let out = match state {
            State::Failed(problem) => return Err(problem),
            // No empty line: the whole message is header section.
            State::Header(header) => {
                let end = header.len();
                match self.start_body(&header, end) {
                    Ok(State::Body(out)) => out,
                    Ok(_) => return Err(MessageProblem::HeaderTooLarge),
                    Err(e) => return Err(MessageProblem::Io(e)),
                }
            }
            State::Body(out) => out,
        };
        let mut file = out
            .into_inner()
            .map_err(|e| MessageProblem::Io(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(MessageProblem::Io)?;
        let facts = self.facts.take().ok_or(MessageProblem::HeaderTooLarge)?;
        Ok((file, facts))
    }

    /// Past the advertised size, or past what the store takes with the added headers.
    fn over_limit(&self) -> bool {
        self.size > self.max_size || self.size.saturating_add(self.added) > MAX_STORED_MESSAGE
    }

    fn fail(&mut self, problem: MessageProblem) {
        // Dropping the file frees its blocks: it was never linked.
        self.state = State::Failed(problem);
        self.file = None;
    }

    /// The header section `header[..end]` is complete: reads its facts, writes the
    /// added headers and all data so far.
    fn start_body(&mut self, header: &[u8], end: usize) -> std::io::Result<State> {
        let section = header.get(..end).unwrap_or(header);
        let parsed = header_facts(section);
        let mut prefix = self.received.clone();
        let message_id = match parsed.message_id {
            Some(id) => id,
            None => {
                let id = new_message_id(&self.hostname);
                prefix.push_str(&format!("Message-ID: <{id}>\r\n"));
                id
            }
        };
        if !parsed.has_date {
            let now = unix_now();
            let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
            prefix.push_str(&format!("Date: {date}\r\n"));
        }
        self.facts = Some(HeaderFacts {
            senders: sender_addresses(section),
            message_id,
        });
        self.added = prefix.len() as u64;
        if self.over_limit() {
            return Ok(State::Failed(MessageProblem::TooLarge));
        }
        let file = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("message file already used"))?;
        let mut out = BufWriter::with_capacity(WRITE_CHUNK, file);
        out.write_all(prefix.as_bytes())?;
        out.write_all(header)?;
        Ok(State::Body(out))
    }

    /// Scans `data` for CR not followed by LF and LF not preceded by CR; returns the
    /// last byte.
    fn check_line_endings(&mut self, mut last: u8, data: &[u8]) -> u8 {
        for &byte in data {
            if (byte == b'\n' && last != b'\r') || (last == b'\r' && byte != b'\n') {
                self.bare_line_ending = true;
            }
            last = byte;
        }
        last
    }
}

/// Where the header section ends (just after the empty line), searching from `from`.
fn header_end(data: &[u8], from: usize) -> Option<usize> {
    if data.starts_with(b"\r\n") {
        return Some(2);
    }
    let start = from.min(data.len());
    data.get(start..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|pos| start + pos + 4)
}

/// What adding Date and Message-ID needs from a header section.
struct ParsedHeader {
    message_id: Option<String>,
    has_date: bool,
}

/// Reads the Message-ID and Date presence from a header section.
fn header_facts(section: &[u8]) -> ParsedHeader {
    let mut facts = ParsedHeader {
        message_id: None,
        has_date: false,
    };
    let Some(message) = MessageParser::new().parse_headers(section) else {
        return facts;
    };
    for header in message.headers() {
        match header.name {
            HeaderName::Date => facts.has_date = true,
            HeaderName::MessageId => {
                facts.message_id = header
                    .value
                    .as_text()
                    .filter(|id| !id.trim().is_empty())
                    .map(str::to_owned);
            }
            _ => {}
        }
    }
    facts
}

/// A new Message-ID (without angle brackets): 16 random bytes and our host name.
fn new_message_id(hostname: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes.copy_from_slice(&nanos.to_le_bytes());
    }
    format!("{}@{hostname}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Seconds since the epoch.
pub(super) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn addresses(facts: &HeaderFacts) -> Vec<&str> {
        facts
            .senders
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| s.address.as_str())
            .collect()
    }

    fn write(chunks: &[&[u8]], max: u64, check: bool) -> Result<(String, HeaderFacts), String> {
        let dir = tempfile::tempdir().unwrap();
        let file = unlinked_file(dir.path()).unwrap();
        let mut writer =
            MessageWriter::new(file, "Received: x\r\n".into(), "mail.test", max, check);
        for chunk in chunks {
            writer.push(chunk);
        }
        match writer.finish() {
            Ok((mut file, facts)) => {
                let mut text = String::new();
                file.read_to_string(&mut text).unwrap();
                Ok((text, facts))
            }
            Err(problem) => Err(format!("{problem:?}")),
        }
    }

    #[test]
    fn adds_message_id_and_date_when_missing() {
        let (text, facts) = write(
            &[b"From: a@example.org\r\nSubj", b"ect: hi\r\n\r\nbody\r\n"],
            1000,
            true,
        )
        .unwrap();
        assert!(text.starts_with("Received: x\r\nMessage-ID: <"), "{text}");
        assert!(text.contains("@mail.test>\r\nDate: "), "{text}");
        assert!(text.ends_with("From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"));
        assert_eq!(addresses(&facts), ["a@example.org"]);
        assert!(facts.message_id.ends_with("@mail.test"));
    }

    #[test]
    fn keeps_existing_date_and_message_id() {
        let message = b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <x@y>\r\n\
            From: \"A\" <a@example.org>, b@example.org\r\n\r\nbody\r\n";
        let (text, facts) = write(&[message], 1000, true).unwrap();
        assert_eq!(
            text.as_bytes(),
            [b"Received: x\r\n".as_slice(), message.as_slice()].concat()
        );
        assert_eq!(facts.message_id, "x@y");
        assert_eq!(addresses(&facts), ["a@example.org", "b@example.org"]);
    }

    #[test]
    fn headers_only_message() {
        let (text, facts) = write(&[b"From: a@example.org\r\n"], 1000, true).unwrap();
        assert!(text.ends_with("\r\nFrom: a@example.org\r\n"), "{text}");
        assert_eq!(addresses(&facts), ["a@example.org"]);
    }

    #[test]
    fn size_limit() {
        let err = write(&[b"From: a@b\r\n\r\n", &[b'x'; 100]], 50, true).unwrap_err();
        assert_eq!(err, "TooLarge");
    }

    #[test]
    fn the_written_file_fits_the_store() {
        // A message of the advertised size fits with what is added...
        let received = format!("Received: {}\r\n", "r".repeat(6000));
        let dir = tempfile::tempdir().unwrap();
        let mut writer = MessageWriter::new(
            unlinked_file(dir.path()).unwrap(),
            received.clone(),
            "mail.test",
            u64::MAX,
            false,
        );
        writer.push(b"From: a@b\r\n\r\n");
        let added = writer.added;
        assert!(added > 6000 && added <= postern_config::SUBMISSION_ADDED_HEADERS);
        // ...and one byte over the store's limit with them is refused, whatever the
        // advertised size says.
        let room = MAX_STORED_MESSAGE - added - 13;
        let chunk = vec![b'x'; 1 << 20];
        let mut left = room;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.push(&chunk[..n]);
            left -= n as u64;
        }
        assert!(!writer.failed());
        writer.push(b"x");
        assert!(writer.too_large());
    }

    #[test]
    fn header_section_limit() {
        let big = vec![b'x'; MAX_HEADER_SECTION + 10];
        let err = write(&[&big], u64::MAX, false).unwrap_err();
        assert_eq!(err, "HeaderTooLarge");
    }

    #[test]
    fn bare_line_endings() {
        assert_eq!(
            write(&[b"From: a@b\r\n\r\nx\ny\r\n"], 1000, true).unwrap_err(),
            "BareLineEnding"
        );
        assert_eq!(
            write(&[b"From: a@b\r\n\r\nx\r", b"y\r\n"], 1000, true).unwrap_err(),
            "BareLineEnding"
        );
        // CRLF split over two chunks is fine; BDAT does not check.
        assert!(write(&[b"From: a@b\r", b"\n\r\nx\r\n"], 1000, true).is_ok());
        assert!(write(&[b"From: a@b\r\n\r\nx\ny\r\n"], 1000, false).is_ok());
    }

    #[test]
    fn header_end_search() {
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"A: b\r\n\r\nc", 0), Some(8));
        assert_eq!(header_end(b"A: b\r\n", 0), None);
    }
}
