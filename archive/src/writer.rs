//! Writing an export: maildir or mbox, as zip, tar or tgz, streamed.
//!
//! Maildir: `Mailbox/` with `cur/`, `new/`, `tmp/` directory entries, a
//! `Mailbox/dovecot-keywords` when messages have keywords (at most 26 per mailbox, as
//! maildir names have letters `a`–`z`; the others are listed in `errors.txt`), and one
//! file per message, `cur/` when seen else `new/`, named
//! `<received>.<uid>.postern:2,<flags><letters>`, its bytes as stored. Mbox: one
//! `Mailbox.mbox` per mailbox, `From postern <asctime>` lines, `Status`/`X-Status`/
//! `X-Keywords` headers in front of the message's own (whose old ones are left out),
//! `>From` quoting (mboxrd). What could not be exported is listed in `errors.txt`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use flate2::write::GzEncoder;

use crate::date::format_ansic;
use crate::flags::Flag;
use crate::lines::read_piece;

/// The container of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    /// zip (deflate).
    Zip,
    /// tar.
    Tar,
    /// gzip-compressed tar.
    Tgz,
}

impl ArchiveKind {
    /// The usual file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::Tar => "tar",
            ArchiveKind::Tgz => "tgz",
        }
    }
}

/// How the mail is laid out inside the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailFormat {
    /// One directory per mailbox, one file per message.
    Maildir,
    /// One `.mbox` file per mailbox.
    Mbox,
}

/// One message of an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedMessage {
    /// Its UID (part of the maildir file name).
    pub uid: u32,
    /// System flags.
    pub flags: Vec<Flag>,
    /// Keywords.
    pub keywords: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub received: i64,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the archive, or reading a message, failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The zip library failed.
    #[error("zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Calls out of order (a message outside a mailbox).
    #[error("{0}")]
    Order(&'static str),
}

enum Container<W: Write> {
    Zip(Box<zip::ZipWriter<zip::write::StreamWriter<W>>>),
    Tar(tar::Builder<W>),
    Tgz(tar::Builder<GzEncoder<W>>),
}

/// The mailbox being written.
struct OpenMailbox {
    name: String,
    /// Keyword of each maildir letter.
    letters: Vec<String>,
    /// The mbox being put together.
    mbox: Option<BufWriter<File>>,
}

/// Streams an export into `W`: [`ExportWriter::begin_mailbox`], then
/// [`ExportWriter::message`] per message (or [`ExportWriter::unreadable`]), then the
/// next mailbox; [`ExportWriter::finish`] at the end.
pub struct ExportWriter<W: Write> {
    container: Container<W>,
    format: MailFormat,
    current: Option<OpenMailbox>,
    errors: Vec<String>,
}

fn tar_header(size: u64, mtime: i64, dir: bool) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mtime(u64::try_from(mtime).unwrap_or(0));
    if dir {
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o700);
    } else {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o600);
    }
    header
}

/// Whether a mailbox name can name an archive path safely.
fn safe_mailbox_path(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

impl<W: Write> ExportWriter<W> {
    /// A writer of `format` in a `kind` archive into `out`.
    pub fn new(out: W, kind: ArchiveKind, format: MailFormat) -> ExportWriter<W> {
        let container = match kind {
            ArchiveKind::Zip => Container::Zip(Box::new(zip::ZipWriter::new_stream(out))),
            ArchiveKind::Tar => Container::Tar(tar::Builder::new(out)),
            ArchiveKind::Tgz => Container::Tgz(tar::Builder::new(GzEncoder::new(
                out,
                flate2::Compression::fast(),
            ))),
        };
        ExportWriter {
            container,
            format,
            current: None,
            errors: Vec::new(),
        }
    }

    fn add_dir(&mut self, path: &str) -> Result<(), ExportError> {
        match &mut self.container {
            Container::Zip(z) => {
                z.add_directory(path, zip::write::SimpleFileOptions::default())?;
            }
            Container::Tar(t) => t.append_data(&mut tar_header(0, 0, true), path, io::empty())?,
            Container::Tgz(t) => t.append_data(&mut tar_header(0, 0, true), path, io::empty())?,
        }
        Ok(())
    }

    fn add_file(
        &mut self,
        path: &str,
        size: u64,
        mtime: i64,
        data: &mut dyn Read,
    ) -> Result<(), ExportError> {
        match &mut self.container {
            Container::Zip(z) => {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    // The fastest level: an export streams while it is downloaded.
                    .compression_level(Some(1))
                    .large_file(size >= u64::from(u32::MAX))
                    .unix_permissions(0o600);
                z.start_file(path, options)?;
                let copied = io::copy(&mut data.take(size), z.as_mut())?;
                if copied != size {
                    return Err(ExportError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{path}: the file ended after {copied} of {size} bytes"),
                    )));
                }
            }
            Container::Tar(t) => {
                t.append_data(&mut tar_header(size, mtime, false), path, data.take(size))?
            }
            Container::Tgz(t) => {
                t.append_data(&mut tar_header(size, mtime, false), path, data.take(size))?
            }
        }
        Ok(())
    }

    /// Starts mailbox `name`, whose messages carry `keywords` (for maildir's
    /// `dovecot-keywords`). Ends the previous mailbox.
    pub fn begin_mailbox(&mut self, name: &str, keywords: &[String]) -> Result<(), ExportError> {
        self.end_mailbox()?;
        if !safe_mailbox_path(name) {
            self.errors.push(format!(
                "mailbox {name:?}: its name cannot be an archive path; not exported"
            ));
            return Ok(());
        }
        let unique: BTreeSet<&String> = keywords.iter().collect();
        let mut letters: Vec<String> = Vec::new();
        for k in unique {
            if letters.len() < 26 {
                letters.push(k.clone());
            } else {
                self.errors.push(format!(
                    "mailbox {name:?}: keyword {k:?} left out (maildir names have 26 keyword letters)"
                ));
            }
        }
        let mbox = match self.format {
            MailFormat::Maildir => {
                self.add_dir(&format!("{name}/"))?;
                for sub in ["cur", "new", "tmp"] {
                    self.add_dir(&format!("{name}/{sub}/"))?;
                }
                if !letters.is_empty() {
                    let text: String = letters
                        .iter()
                        .enumerate()
                        .map(|(i, k)| format!("{i} {k}\n"))
                        .collect();
                    let path = format!("{name}/dovecot-keywords");
                    self.add_file(&path, text.len() as u64, 0, &mut text.as_bytes())?;
                }
                None
            }
            MailFormat::Mbox => Some(BufWriter::new(tempfile::tempfile()?)),
        };
        self.current = Some(OpenMailbox {
            name: name.to_string(),
            letters,
            mbox,
        });
        Ok(())
    }

    /// Writes one message of the current mailbox; `body` is read from offset 0, `size`
    /// bytes.
    pub fn message(
        &mut self,
        message: &ExportedMessage,
        body: &mut File,
        size: u64,
    ) -> Result<(), ExportError> {
        let Some(current) = self.current.as_mut() else {
            // The mailbox was refused in begin_mailbox.
            return Ok(());
        };
        body.seek(SeekFrom::Start(0))?;
        match self.format {
            MailFormat::Maildir => {
                let mut info: Vec<char> =
                    message.flags.iter().map(|f| f.maildir_letter()).collect();
                info.sort_unstable();
                info.dedup();
                for k in &message.keywords {
                    if let Some(i) = current.letters.iter().position(|l| l == k) {
                        info.push(char::from(b'a' + i as u8));
                    }
                }
                let sub = if message.flags.contains(&Flag::Seen) {
                    "cur"
                } else {
                    "new"
                };
                let info: String = info.into_iter().collect();
                let path = format!(
                    "{}/{sub}/{}.{}.postern:2,{info}",
                    current.name, message.received, message.uid
                );
                self.add_file(&path, size, message.received, body)
            }
            MailFormat::Mbox => {
                let Some(out) = current.mbox.as_mut() else {
                    return Err(ExportError::Order("no mbox open"));
                };
                write_mbox_message(out, message, &mut body.take(size))
            }
        }
    }

    /// Lists a message that could not be read in `errors.txt`.
    pub fn unreadable(&mut self, mailbox: &str, uid: u32, reason: &str) {
        self.errors.push(format!(
            "mailbox {mailbox:?} uid {uid}: not exported: {reason}"
        ));
    }

    /// Ends the current mailbox (for mbox: writes its file into the archive).
    pub fn end_mailbox(&mut self) -> Result<(), ExportError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        if let Some(out) = current.mbox {
            let mut file = out.into_inner().map_err(|e| e.into_error())?;
            let size = file.seek(SeekFrom::End(0))?;
            file.seek(SeekFrom::Start(0))?;
            let path = format!("{}.mbox", current.name);
            self.add_file(&path, size, 0, &mut file)?;
        }
        Ok(())
    }

    /// Ends the last mailbox, writes `errors.txt` when something could not be
    /// exported, and closes the archive; returns the writer.
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.end_mailbox()?;
        if !self.errors.is_empty() {
            let mut text = self.errors.join("\n");
            text.push('\n');
            self.add_file("errors.txt", text.len() as u64, 0, &mut text.as_bytes())?;
        }
        Ok(match self.container {
            Container::Zip(z) => z.finish()?.into_inner(),
            Container::Tar(t) => t.into_inner()?,
            Container::Tgz(t) => t.into_inner()?.finish()?,
        })
    }

    /// What could not be exported so far.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }
}

/// Appends one message to an mbox: `From ` line, status headers, the message without
/// its old status headers and with `From ` lines quoted, an empty line.
fn write_mbox_message(
    out: &mut dyn Write,
    message: &ExportedMessage,
    body: &mut dyn Read,
) -> Result<(), ExportError> {
    let mut reader = BufReader::with_capacity(64 * 1024, body);
    let mut piece = Vec::new();
    writeln!(out, "From postern {}", format_ansic(message.received))?;
    // The status headers take the message's line end.
    let crlf = {
        let head = reader.fill_buf()?;
        let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
        first.ends_with(b"\r") || head.is_empty()
    };
    let eol = if crlf { "\r\n" } else { "\n" };
    if message.flags.contains(&Flag::Seen) {
        write!(out, "Status: RO{eol}")?;
    } else {
        write!(out, "Status: O{eol}")?;
    }
    let x_status: String = message
        .flags
        .iter()
        .filter_map(|f| f.x_status_letter())
        .collect();
    if !x_status.is_empty() {
        write!(out, "X-Status: {x_status}{eol}")?;
    }
    if !message.keywords.is_empty() {
        write!(out, "X-Keywords: {}{eol}", message.keywords.join(","))?;
    }
    let mut line_start = true;
    let mut in_header = true;
    let mut skipping = false;
    let mut last_piece_ended_line = true;
    while read_piece(&mut reader, &mut piece)? {
        let at_start = line_start;
        line_start = piece.ends_with(b"\n");
        last_piece_ended_line = line_start;
        if in_header && at_start {
            if piece == b"\n" || piece == b"\r\n" {
                in_header = false;
                skipping = false;
            } else if piece.starts_with(b" ") || piece.starts_with(b"\t") {
                if skipping {
                    continue;
                }
            } else {
                let name_end = piece.iter().position(|&b| b == b':').unwrap_or(0);
                let name = &piece[..name_end];
                skipping = [&b"status"[..], b"x-status", b"x-keywords"]
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n));
                if skipping {
                    continue;
                }
            }
        } else if in_header && skipping {
            continue;
        }
        if at_start {
            let gt = piece.iter().take_while(|&&b| b == b'>').count();
            if piece[gt..].starts_with(b"From ") {
                out.write_all(b">")?;
            }
        }
        out.write_all(&piece)?;
    }
    if !last_piece_ended_line {
        out.write_all(eol.as_bytes())?;
    }
    out.write_all(b"\n")?;
    Ok(())
}
