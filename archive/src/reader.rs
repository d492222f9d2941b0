//! Reading an upload: what it is, walking its entries, handing messages to the sink.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};

use crate::error::{ArchiveError, Problem, ProblemKind, SinkError};
use crate::flags::Flag;
use crate::limits::{
    MAX_ARCHIVE_ENTRIES, MAX_KEYWORDS_FILE_BYTES, MAX_MAILBOX_NAME_BYTES, MAX_MESSAGE_BYTES,
    MAX_PROBLEMS, MAX_TOTAL_UNCOMPRESSED, MAX_UPLOAD_BYTES,
};
use crate::lines::{CrlfWriter, starts_with_header_field};
use crate::maildir::{self, MaildirName};
use crate::mbox;

/// What an upload is, by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadKind {
    /// A zip archive.
    Zip,
    /// A tar archive.
    Tar,
    /// A gzip-compressed tar archive.
    Tgz,
    /// A gzip-compressed mbox.
    GzipMbox,
    /// An mbox file.
    Mbox,
    /// A single message.
    Eml,
}

/// How to read an upload.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Removed from the start of every entry name that has it (e.g. `Takeout/Mail/`).
    pub skip_prefix: Option<String>,
    /// The upload's file name, naming the mailbox of a bare mbox (`Sent.mbox` → `Sent`;
    /// otherwise `Inbox`).
    pub file_name: Option<String>,
}

/// One message read from the upload, for [`ImportSink::message`].
#[derive(Debug)]
pub struct Message<'a> {
    /// The mailbox, `/`-separated (`Inbox` for the inbox).
    pub mailbox: &'a str,
    /// System flags.
    pub flags: Vec<Flag>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// The received time from the file name or the `From ` line or `Date:`, when known.
    pub received: Option<i64>,
    /// The message bytes (CRLF line ends), from offset 0 to [`Message::size`]. Valid
    /// only during the call: the file is reused for the next message.
    pub file: &'a File,
    /// The message's size in bytes.
    pub size: u64,
    /// Where in the upload it came from, for messages to the user.
    pub source: &'a str,
}

/// Whether the sink kept a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Kept.
    Yes,
    /// Not kept, for this reason (listed as a [`ProblemKind::Refused`] problem).
    Refused(String),
}

/// Where the messages of an upload go (the store socket's import, or a test).
pub trait ImportSink {
    /// A mailbox the upload names, also when it holds no message. Called before its
    /// first message.
    fn mailbox(&mut self, name: &str) -> Result<(), SinkError>;
    /// One message. An `Err` ends the reading.
    fn message(&mut self, message: &Message<'_>) -> Result<Accepted, SinkError>;
    /// A problem, as it is found.
    fn problem(&mut self, problem: &Problem) -> Result<(), SinkError>;
    /// Asked before each entry and message: true ends the reading with
    /// [`ArchiveError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// What reading an upload found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Messages the sink kept.
    pub messages: u64,
    /// Problems listed.
    pub problems: u64,
}

/// Tells what the upload is from its first bytes (the file offset is left at 0).
pub fn detect(upload: &mut File) -> Result<UploadKind, ArchiveError> {
    let mut head = [0u8; 512];
    upload.seek(SeekFrom::Start(0))?;
    let n = read_full(upload, &mut head)?;
    upload.seek(SeekFrom::Start(0))?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(UploadKind::Zip);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut inner = [0u8; 512];
        let mut gz = flate2::read::MultiGzDecoder::new(BufReader::new(&*upload));
        let m = read_full(&mut gz, &mut inner).map_err(corrupt)?;
        drop(gz);
        upload.seek(SeekFrom::Start(0))?;
        return match plain_kind(&inner[..m]) {
            Some(UploadKind::Tar) => Ok(UploadKind::Tgz),
            Some(UploadKind::Mbox) => Ok(UploadKind::GzipMbox),
            _ => Err(ArchiveError::NotRecognised),
        };
    }
    plain_kind(head).ok_or(ArchiveError::NotRecognised)
}

/// Tar, mbox or message by the first bytes of an uncompressed stream.
fn plain_kind(head: &[u8]) -> Option<UploadKind> {
    if head.get(257..262) == Some(b"ustar") {
        Some(UploadKind::Tar)
    } else if head.starts_with(b"From ") {
        Some(UploadKind::Mbox)
    } else if starts_with_header_field(head) {
        Some(UploadKind::Eml)
    } else {
        None
    }
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Corrupt(e.to_string())
}

/// Reads an upload and hands every message and mailbox to `sink`. Fails as a whole
/// on a crossed limit, an unsafe entry name, a damaged archive or a sink error; bad
/// messages and odd files become problems.
pub fn read_upload(
    upload: &mut File,
    options: &ReadOptions,
    sink: &mut dyn ImportSink,
) -> Result<ReadSummary, ArchiveError> {
    let size = upload.metadata()?.len();
    if size > MAX_UPLOAD_BYTES {
        return Err(ArchiveError::UploadTooLarge { size });
    }
    let kind = detect(upload)?;
    let mut ctx = Reader {
        sink,
        options,
        spool: tempfile::tempfile()?,
        summary: ReadSummary::default(),
        budget: Budget::default(),
        keywords: HashMap::new(),
        deferred: Vec::new(),
        entries: 0,
    };
    match kind {
        UploadKind::Zip => ctx.read_zip(upload)?,
        UploadKind::Tar => ctx.read_tar(BufReader::new(&*upload))?,
        UploadKind::Tgz => {
            ctx.read_tar(flate2::read::MultiGzDecoder::new(BufReader::new(&*upload)))?
        }
        UploadKind::Mbox | UploadKind::GzipMbox => {
            let mailbox = bare_mbox_mailbox(options.file_name.as_deref());
            let source = options.file_name.clone().unwrap_or_else(|| "mbox".into());
            ctx.sink.mailbox(&mailbox).map_err(ArchiveError::Sink)?;
            let reader: Box<dyn Read + '_> = if kind == UploadKind::Mbox {
                Box::new(&*upload)
            } else {
                Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(&*upload)))
            };
            let budget = ctx.budget.clone();
            let mut counted = BufReader::with_capacity(
                64 * 1024,
                Counted {
                    inner: reader,
                    budget: &budget,
                },
            );
            mbox::read_mbox(&mut ctx, &mut counted, &mailbox, &source)?;
        }
        UploadKind::Eml => {
            let source = options
                .file_name
                .clone()
                .unwrap_or_else(|| "message".into());
            ctx.sink.mailbox("Inbox").map_err(ArchiveError::Sink)?;
            let budget = ctx.budget.clone();
            let mut counted = Counted {
                inner: &*upload,
                budget: &budget,
            };
            ctx.maildir_like_message(&mut counted, "Inbox", Vec::new(), Vec::new(), None, &source)?;
        }
    }
    ctx.finish_deferred()?;
    Ok(ctx.summary)
}

/// The mailbox of a bare mbox upload: its file name without `.mbox`, else Inbox.
fn bare_mbox_mailbox(file_name: Option<&str>) -> String {
    let Some(name) = file_name else {
        return "Inbox".into();
    };
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base
        .strip_suffix(".gz")
        .unwrap_or(base)
        .strip_suffix(".mbox")
        .unwrap_or_default();
    if stem.is_empty() || stem.starts_with('.') || stem.chars().any(char::is_control) {
        "Inbox".into()
    } else {
        stem.to_string()
    }
}

/// The uncompressed bytes read so far, shared by every reader of one upload.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget {
    used: std::rc::Rc<Cell<u64>>,
}

impl Budget {
    /// Counts `n` more bytes; an error past [`MAX_TOTAL_UNCOMPRESSED`].
    pub(crate) fn spend(&self, n: u64) -> Result<(), ArchiveError> {
        let used = self.used.get().saturating_add(n);
        self.used.set(used);
        if used > MAX_TOTAL_UNCOMPRESSED {
            return Err(ArchiveError::TotalTooLarge);
        }
        Ok(())
    }
}

/// A reader that counts what passes into the budget, failing past it.
pub(crate) struct Counted<'b, R> {
    pub(crate) inner: R,
    pub(crate) budget: &'b Budget,
}

/// The io error [`Counted`] gives past the budget; turned back into
/// [`ArchiveError::TotalTooLarge`].
const OVER_BUDGET: &str = "over the total uncompressed limit";

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.budget.spend(n as u64).is_err() {
            return Err(io::Error::other(OVER_BUDGET));
        }
        Ok(n)
    }
}

/// Maps an io error of reading entry data: the budget's own, or damage.
pub(crate) fn read_error(e: io::Error) -> ArchiveError {
    if e.to_string() == OVER_BUDGET {
        ArchiveError::TotalTooLarge
    } else if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidData {
        corrupt(e)
    } else {
        ArchiveError::Io(e)
    }
}

/// Maps an error of walking a tar's headers: the budget's own, or damage (the tar
/// library reports short blocks and bad checksums as plain io errors).
fn tar_error(e: io::Error) -> ArchiveError {
    if e.to_string() == crate::tar_guard::EXTENSION_TOO_LARGE {
        return ArchiveError::Corrupt(e.to_string());
    }
    match read_error(e) {
        ArchiveError::Io(e) => corrupt(e),
        other => other,
    }
}

/// A maildir message waiting for its mailbox's `dovecot-keywords`.
struct Deferred {
    mailbox: String,
    name: MaildirName,
    file: File,
    size: u64,
    source: String,
}

/// The state of one upload's reading.
pub(crate) struct Reader<'a> {
    pub(crate) sink: &'a mut dyn ImportSink,
    options: &'a ReadOptions,
    /// The reused temp file each message is copied to.
    pub(crate) spool: File,
    pub(crate) summary: ReadSummary,
    pub(crate) budget: Budget,
    /// Per mailbox, the keyword of each `dovecot-keywords` letter.
    keywords: HashMap<String, Vec<Option<String>>>,
    deferred: Vec<Deferred>,
    entries: u64,
}

/// What an archive entry is.
enum EntryType {
    Directory,
    File,
    Other,
}

impl Reader<'_> {
    /// Lists a problem; an error once there are too many.
    pub(crate) fn problem(&mut self, source: &str, kind: ProblemKind) -> Result<(), ArchiveError> {
        self.summary.problems += 1;
        if self.summary.problems > MAX_PROBLEMS as u64 {
            return Err(ArchiveError::TooManyProblems);
        }
        let problem = Problem {
            source: source.to_string(),
            kind,
        };
        self.sink.problem(&problem).map_err(ArchiveError::Sink)
    }

    pub(crate) fn check_cancelled(&self) -> Result<(), ArchiveError> {
        if self.sink.cancelled() {
            Err(ArchiveError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > MAX_ARCHIVE_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        self.check_cancelled()
    }

    /// Hands the spool's first `size` bytes to the sink as a message.
    pub(crate) fn deliver_spool(
        &mut self,
        mailbox: &str,
        flags: Vec<Flag>,
        keywords: Vec<String>,
        received: Option<i64>,
        size: u64,
        source: &str,
    ) -> Result<(), ArchiveError> {
        let message = Message {
            mailbox,
            flags,
            keywords,
            received,
            file: &self.spool,
            size,
            source,
        };
        match self.sink.message(&message).map_err(ArchiveError::Sink)? {
            Accepted::Yes => {
                self.summary.messages += 1;
                Ok(())
            }
            Accepted::Refused(why) => self.problem(source, ProblemKind::Refused(why)),
        }
    }

    /// Empties the spool for the next message.
    pub(crate) fn reset_spool(&mut self) -> Result<(), ArchiveError> {
        self.spool.set_len(0)?;
        self.spool.seek(SeekFrom::Start(0))?;
        Ok(())
    }

    /// Copies one whole-file message (maildir entry, .eml) into `target` with CRLF line
    /// ends, checking its size and first line; `None` (with the problem listed) when
    /// it is not a message.
    fn copy_message(
        &mut self,
        data: &mut dyn Read,
        target: &mut File,
        source: &str,
    ) -> Result<Option<u64>, ArchiveError> {
        let mut out = CrlfWriter::new(io::BufWriter::new(&mut *target));
        let mut buf = vec![0u8; 64 * 1024];
        let mut head: Vec<u8> = Vec::new();
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            if head.len() < 1024 {
                let take = n.min(1024 - head.len());
                head.extend_from_slice(&buf[..take]);
            }
            out.put(&buf[..n])?;
            if out.written() > MAX_MESSAGE_BYTES {
                return Err(ArchiveError::EntryTooLarge {
                    name: source.to_string(),
                });
            }
        }
        let size = out.written();
        out.into_inner().flush()?;
        if size == 0 {
            self.problem(source, ProblemKind::EmptyMessage)?;
            return Ok(None);
        }
        if !starts_with_header_field(&head) {
            self.problem(source, ProblemKind::NotAMessage)?;
            return Ok(None);
        }
        Ok(Some(size))
    }

    /// A message that is a whole file, delivered at once.
    fn maildir_like_message(
        &mut self,
        data: &mut dyn Read,
        mailbox: &str,
        flags: Vec<Flag>,
        keywords: Vec<String>,
        received: Option<i64>,
        source: &str,
    ) -> Result<(), ArchiveError> {
        self.reset_spool()?;
        let mut spool = self.spool.try_clone()?;
        if let Some(size) = self.copy_message(data, &mut spool, source)? {
            self.deliver_spool(mailbox, flags, keywords, received, size, source)?;
        }
        Ok(())
    }

    fn read_zip(&mut self, upload: &mut File) -> Result<(), ArchiveError> {
        let declared_entries = zip_entry_count(upload)?;
        if declared_entries > MAX_ARCHIVE_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        upload.seek(SeekFrom::Start(0))?;
        let mut zip = zip::ZipArchive::new(BufReader::new(&*upload)).map_err(corrupt)?;
        if zip.len() as u64 > MAX_ARCHIVE_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }
        // What the entries declare, before inflating any (a zip bomb says it here).
        let mut declared: u64 = 0;
        for i in 0..zip.len() {
            let entry = zip.by_index_raw(i).map_err(corrupt)?;
            declared = declared.saturating_add(entry.size());
        }
        if declared > MAX_TOTAL_UNCOMPRESSED {
            return Err(ArchiveError::TotalTooLarge);
        }
        for i in 0..zip.len() {
            self.count_entry()?;
            let mut entry = zip.by_index(i).map_err(corrupt)?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let utf8 = std::str::from_utf8(entry.name_raw()).is_ok() || entry.name_raw().is_ascii();
            let kind = if entry.is_dir() {
                EntryType::Directory
            } else if entry.is_symlink() {
                EntryType::Other
            } else if entry.is_file() {
                EntryType::File
            } else {
                EntryType::Other
            };
            let size = entry.size();
            let budget = self.budget.clone();
            let mut counted = Counted {
                inner: &mut entry,
                budget: &budget,
            };
            self.entry(&name, utf8, kind, size, &mut counted)?;
        }
        Ok(())
    }

    fn read_tar(&mut self, stream: impl Read) -> Result<(), ArchiveError> {
        let budget = self.budget.clone();
        let counted = Counted {
            inner: stream,
            budget: &budget,
        };
        let mut archive = tar::Archive::new(crate::tar_guard::TarGuard::new(counted));
        let entries = archive.entries().map_err(tar_error)?;
        for entry in entries {
            self.count_entry()?;
            let mut entry = entry.map_err(tar_error)?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            let utf8 = std::str::from_utf8(&raw).is_ok();
            let kind = match entry.header().entry_type() {
                tar::EntryType::Directory => EntryType::Directory,
                tar::EntryType::Regular | tar::EntryType::Continuous => EntryType::File,
                _ => EntryType::Other,
            };
            let size = entry.size();
            self.entry(&name, utf8, kind, size, &mut entry)?;
        }
        Ok(())
    }

    /// One archive entry: a mailbox directory, a maildir message, `dovecot-keywords`,
    /// an mbox, or something to list as a problem.
    fn entry(
        &mut self,
        name: &str,
        utf8: bool,
        kind: EntryType,
        declared: u64,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let parts = safe_parts(name)?;
        if !utf8 {
            return self.problem(name, ProblemKind::BadName("not UTF-8".into()));
        }
        let mut parts: Vec<&str> = parts;
        if let Some(prefix) = self.options.skip_prefix.as_deref() {
            let prefix_parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
            if !prefix_parts.is_empty() && parts.starts_with(&prefix_parts) {
                parts.drain(..prefix_parts.len());
            }
        }
        match kind {
            EntryType::Other => return self.problem(name, ProblemKind::NotARegularFile),
            EntryType::Directory => {
                if let Some((last, dir)) = parts.split_last()
                    && maildir::is_maildir_subdir(last)
                {
                    match maildir::mailbox_of(dir) {
                        Ok(mailbox) => self.sink.mailbox(&mailbox).map_err(ArchiveError::Sink)?,
                        Err(why) => self.problem(name, ProblemKind::BadName(why))?,
                    }
                }
                return Ok(());
            }
            EntryType::File => {}
        }
        let Some((file_name, dir)) = parts.split_last() else {
            return self.problem(name, ProblemKind::UnrecognisedFile);
        };
        if let Some(stem) = file_name.strip_suffix(".mbox") {
            let mut path: Vec<&str> = dir.to_vec();
            path.push(stem);
            let mailbox = match maildir::checked_name(&path.join("/")) {
                Ok(mailbox) => mailbox,
                Err(why) => return self.problem(name, ProblemKind::BadName(why)),
            };
            self.sink.mailbox(&mailbox).map_err(ArchiveError::Sink)?;
            let mut lines = BufReader::with_capacity(64 * 1024, data);
            return mbox::read_mbox(self, &mut lines, &mailbox, name);
        }
        if *file_name == "dovecot-keywords" {
            let mailbox = match maildir::mailbox_of(dir) {
                Ok(mailbox) => mailbox,
                Err(why) => return self.problem(name, ProblemKind::BadName(why)),
            };
            return self.keywords_file(&mailbox, name, declared, data);
        }
        if let Some((sub, mailbox_dir)) = dir.split_last()
            && maildir::is_maildir_subdir(sub)
        {
            if declared > MAX_MESSAGE_BYTES {
                return Err(ArchiveError::EntryTooLarge {
                    name: name.to_string(),
                });
            }
            let mailbox = match maildir::mailbox_of(mailbox_dir) {
                Ok(mailbox) => mailbox,
                Err(why) => return self.problem(name, ProblemKind::BadName(why)),
            };
            return self.maildir_message(&mailbox, file_name, name, data);
        }
        if maildir::is_ignored_file(file_name) {
            return Ok(());
        }
        self.problem(name, ProblemKind::UnrecognisedFile)
    }

    fn keywords_file(
        &mut self,
        mailbox: &str,
        source: &str,
        declared: u64,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        if declared > MAX_KEYWORDS_FILE_BYTES {
            return self.problem(
                source,
                ProblemKind::BadKeywordsLine("file too large".into()),
            );
        }
        let mut text = Vec::new();
        data.take(MAX_KEYWORDS_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(read_error)?;
        if text.len() as u64 > MAX_KEYWORDS_FILE_BYTES {
            return self.problem(
                source,
                ProblemKind::BadKeywordsLine("file too large".into()),
            );
        }
        let (letters, bad) = maildir::parse_keywords_file(&String::from_utf8_lossy(&text));
        for line in bad {
            self.problem(source, ProblemKind::BadKeywordsLine(line))?;
        }
        self.keywords.insert(mailbox.to_string(), letters);
        // Messages that waited for this file.
        let waiting: Vec<Deferred> = {
            let (now, later) = std::mem::take(&mut self.deferred)
                .into_iter()
                .partition(|d| d.mailbox == mailbox);
            self.deferred = later;
            now
        };
        for d in waiting {
            self.deliver_deferred(d)?;
        }
        Ok(())
    }

    fn deliver_deferred(&mut self, d: Deferred) -> Result<(), ArchiveError> {
        let (flags, keywords, unknown) = self.resolve(&d.mailbox, &d.name);
        for c in unknown {
            self.problem(&d.source, ProblemKind::UnknownKeywordLetter(c))?;
        }
        let message = Message {
            mailbox: &d.mailbox,
            flags,
            keywords,
            received: d.name.received,
            file: &d.file,
            size: d.size,
            source: &d.source,
        };
        match self.sink.message(&message).map_err(ArchiveError::Sink)? {
            Accepted::Yes => {
                self.summary.messages += 1;
                Ok(())
            }
            Accepted::Refused(why) => self.problem(&d.source, ProblemKind::Refused(why)),
        }
    }

    /// Flags and keywords of a maildir name, and the letters without a keyword.
    fn resolve(&self, mailbox: &str, name: &MaildirName) -> (Vec<Flag>, Vec<String>, Vec<char>) {
        let mut keywords = Vec::new();
        let mut unknown = Vec::new();
        let table = self.keywords.get(mailbox);
        for &c in &name.letters {
            let index = (c as u8 - b'a') as usize;
            match table.and_then(|t| t.get(index)).and_then(Option::as_ref) {
                Some(k) => keywords.push(k.clone()),
                None => unknown.push(c),
            }
        }
        (name.flags.clone(), keywords, unknown)
    }

    fn maildir_message(
        &mut self,
        mailbox: &str,
        file_name: &str,
        source: &str,
        data: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let name = maildir::parse_name(file_name);
        if name.letters.is_empty() || self.keywords.contains_key(mailbox) {
            let (flags, keywords, unknown) = self.resolve(mailbox, &name);
            for c in unknown {
                self.problem(source, ProblemKind::UnknownKeywordLetter(c))?;
            }
            return self.maildir_like_message(
                data,
                mailbox,
                flags,
                keywords,
                name.received,
                source,
            );
        }
        // Keyword letters before the mailbox's dovecot-keywords: keep it aside.
        let mut file = tempfile::tempfile()?;
        if let Some(size) = self.copy_message(data, &mut file, source)? {
            self.deferred.push(Deferred {
                mailbox: mailbox.to_string(),
                name,
                file,
                size,
                source: source.to_string(),
            });
        }
        Ok(())
    }

    /// Messages whose mailbox never got a `dovecot-keywords`: their letters are
    /// problems.
    fn finish_deferred(&mut self) -> Result<(), ArchiveError> {
        for d in std::mem::take(&mut self.deferred) {
            self.check_cancelled()?;
            self.deliver_deferred(d)?;
        }
        Ok(())
    }
}

/// The parts of an entry name (without empty and leading `.` parts), or an error for an
/// unsafe name.
fn safe_parts(name: &str) -> Result<Vec<&str>, ArchiveError> {
    let unsafe_name = || ArchiveError::UnsafeEntryName {
        name: name.chars().take(MAX_MAILBOX_NAME_BYTES).collect(),
    };
    if name.starts_with('/') || name.contains('\\') || name.contains('\0') {
        return Err(unsafe_name());
    }
    let mut parts = Vec::new();
    let mut leading = true;
    for part in name.split('/') {
        match part {
            "" => {}
            "." if leading => {}
            "." | ".." => return Err(unsafe_name()),
            _ => {
                leading = false;
                parts.push(part);
            }
        }
    }
    Ok(parts)
}

/// The entry count a zip's end-of-central-directory record declares (zip64 too),
/// read before the zip library allocates anything for the entries.
fn zip_entry_count(upload: &mut File) -> Result<u64, ArchiveError> {
    let len = upload.metadata()?.len();
    let tail_len = len.min(65_557);
    upload.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    upload.read_exact(&mut tail).map_err(read_error)?;
    let Some(eocd) = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .filter(|&i| i + 22 <= tail.len())
    else {
        return Err(corrupt("no end of central directory (truncated?)"));
    };
    let count = u64::from(u16::from_le_bytes([tail[eocd + 10], tail[eocd + 11]]));
    if count != 0xffff {
        return Ok(count);
    }
    // Zip64: the locator sits just before the record and points at the zip64 record.
    let locator = eocd
        .checked_sub(20)
        .filter(|&l| &tail[l..l + 4] == b"PK\x06\x07");
    let Some(locator) = locator else {
        return Ok(count);
    };
    let mut offset_bytes = [0u8; 8];
    offset_bytes.copy_from_slice(&tail[locator + 8..locator + 16]);
    let offset = u64::from_le_bytes(offset_bytes);
    let mut record = [0u8; 40];
    upload.seek(SeekFrom::Start(offset))?;
    upload.read_exact(&mut record).map_err(read_error)?;
    if &record[..4] != b"PK\x06\x06" {
        return Err(corrupt("bad zip64 end of central directory"));
    }
    let mut entries = [0u8; 8];
    entries.copy_from_slice(&record[32..40]);
    Ok(u64::from_le_bytes(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(safe_parts("./a/cur/x").unwrap(), ["a", "cur", "x"]);
        assert_eq!(safe_parts("a//b/").unwrap(), ["a", "b"]);
        for bad in ["/etc/passwd", "a/../b", "../x", "a/./b", "a\\b", "a\0b"] {
            assert!(
                matches!(safe_parts(bad), Err(ArchiveError::UnsafeEntryName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn bare_mbox_names() {
        assert_eq!(bare_mbox_mailbox(Some("Sent.mbox")), "Sent");
        assert_eq!(bare_mbox_mailbox(Some("/x/Lists.mbox.gz")), "Lists");
        assert_eq!(bare_mbox_mailbox(Some("mail")), "Inbox");
        assert_eq!(bare_mbox_mailbox(None), "Inbox");
    }
}
