//! Splitting an mbox into messages: a `From ` line at the start or after an empty
//! line begins a message; `>From ` lines lose one `>` (mboxrd); `Status`, `X-Status`
//! and `X-Keywords` give flags and keywords and are left out of the stored message;
//! the received time comes from the `From ` line, else from `Date:`.

use std::fs::File;
use std::io::{BufRead, BufWriter};

use crate::date;
use crate::error::{ArchiveError, ProblemKind};
use crate::flags::{Flag, keyword_of};
use crate::limits::MAX_MESSAGE_BYTES;
use crate::lines::{CrlfWriter, read_piece, starts_with_header_field};
use crate::reader::{Reader, read_error};

/// The message being read.
struct Current {
    out: CrlfWriter<BufWriter<File>>,
    from_line_time: Option<i64>,
    date: Option<String>,
    flags: Vec<Flag>,
    keywords: Vec<String>,
    in_header: bool,
    skipping_field: bool,
    pending_blank: Option<Vec<u8>>,
    too_large: bool,
    head: Vec<u8>,
    source: String,
}

impl Current {
    fn write(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        if self.too_large {
            return Ok(());
        }
        if self.head.len() < 1024 {
            let take = bytes.len().min(1024 - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.out.put(bytes)?;
        if self.out.written() > MAX_MESSAGE_BYTES {
            self.too_large = true;
        }
        Ok(())
    }
}

/// Header fields that become flags and keywords instead of staying in the message.
enum StatusField {
    Status,
    XStatus,
    XKeywords,
}

fn status_field(line: &[u8]) -> Option<(StatusField, &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&line[..colon]).ok()?;
    let field = if name.eq_ignore_ascii_case("status") {
        StatusField::Status
    } else if name.eq_ignore_ascii_case("x-status") {
        StatusField::XStatus
    } else if name.eq_ignore_ascii_case("x-keywords") {
        StatusField::XKeywords
    } else {
        return None;
    };
    Some((field, &line[colon + 1..]))
}

fn is_date_field(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    line[..colon]
        .eq_ignore_ascii_case(b"date")
        .then(|| &line[colon + 1..])
}

fn add_flag(flags: &mut Vec<Flag>, flag: Flag) {
    if !flags.contains(&flag) {
        flags.push(flag);
    }
}

/// Whether a line is a quoted `From ` line (`>From `, `>>From `, …).
fn is_quoted_from(line: &[u8]) -> bool {
    let gt = line.iter().take_while(|&&b| b == b'>').count();
    gt > 0 && line[gt..].starts_with(b"From ")
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// Reads the mbox in `lines` into `mailbox`, each message handed to the sink.
pub(crate) fn read_mbox(
    ctx: &mut Reader<'_>,
    lines: &mut dyn BufRead,
    mailbox: &str,
    source: &str,
) -> Result<(), ArchiveError> {
    let mut piece = Vec::new();
    let mut line_start = true;
    let mut current: Option<Current> = None;
    let mut count: u64 = 0;
    let mut complained = false;
    while read_piece(lines, &mut piece).map_err(read_error)? {
        let at_start = line_start;
        line_start = piece.ends_with(b"\n");
        let boundary = at_start
            && piece.starts_with(b"From ")
            && current.as_ref().is_none_or(|c| c.pending_blank.is_some());
        if boundary {
            if let Some(done) = current.take() {
                finish(ctx, done, mailbox)?;
            }
            ctx.check_cancelled()?;
            ctx.reset_spool()?;
            count += 1;
            let line = String::from_utf8_lossy(&piece);
            current = Some(Current {
                out: CrlfWriter::new(BufWriter::new(ctx.spool.try_clone()?)),
                from_line_time: date::parse_from_line(line.trim_end()),
                date: None,
                flags: Vec::new(),
                keywords: Vec::new(),
                in_header: true,
                skipping_field: false,
                pending_blank: None,
                too_large: false,
                head: Vec::new(),
                source: format!("{source} message {count}"),
            });
            continue;
        }
        let Some(cur) = current.as_mut() else {
            if !complained && !piece.iter().all(u8::is_ascii_whitespace) {
                complained = true;
                ctx.problem(source, ProblemKind::TextBeforeFirstMessage)?;
            }
            continue;
        };
        if let Some(blank) = cur.pending_blank.take() {
            cur.write(&blank)?;
        }
        if at_start && is_blank(&piece) {
            cur.pending_blank = Some(piece.clone());
            cur.in_header = false;
            cur.skipping_field = false;
            continue;
        }
        if cur.in_header {
            if !at_start || piece.starts_with(b" ") || piece.starts_with(b"\t") {
                if cur.skipping_field {
                    continue;
                }
            } else if let Some((field, value)) = status_field(&piece) {
                cur.skipping_field = true;
                let value = String::from_utf8_lossy(value);
                match field {
                    StatusField::Status => {
                        if value.contains('R') {
                            add_flag(&mut cur.flags, Flag::Seen);
                        }
                    }
                    StatusField::XStatus => {
                        for (c, flag) in [
                            ('A', Flag::Answered),
                            ('F', Flag::Flagged),
                            ('T', Flag::Draft),
                            ('D', Flag::Deleted),
                        ] {
                            if value.contains(c) {
                                add_flag(&mut cur.flags, flag);
                            }
                        }
                    }
                    StatusField::XKeywords => {
                        for item in value.split(|c: char| c == ',' || c.is_whitespace()) {
                            if let Some(k) = keyword_of(item)
                                && !cur.keywords.contains(&k)
                            {
                                cur.keywords.push(k);
                            }
                        }
                    }
                }
                continue;
            } else {
                cur.skipping_field = false;
                if cur.date.is_none()
                    && let Some(value) = is_date_field(&piece)
                {
                    cur.date = Some(String::from_utf8_lossy(value).trim().to_string());
                }
            }
        }
        if at_start && is_quoted_from(&piece) {
            cur.write(&piece[1..])?;
        } else {
            cur.write(&piece)?;
        }
    }
    if let Some(done) = current.take() {
        finish(ctx, done, mailbox)?;
    }
    Ok(())
}

fn finish(ctx: &mut Reader<'_>, cur: Current, mailbox: &str) -> Result<(), ArchiveError> {
    let size = cur.out.written();
    cur.out
        .into_inner()
        .into_inner()
        .map_err(|e| ArchiveError::Io(e.into_error()))?;
    if cur.too_large {
        return ctx.problem(&cur.source, ProblemKind::MessageTooLarge);
    }
    if size == 0 {
        return ctx.problem(&cur.source, ProblemKind::EmptyMessage);
    }
    if !starts_with_header_field(&cur.head) {
        return ctx.problem(&cur.source, ProblemKind::NotAMessage);
    }
    let received = cur
        .from_line_time
        .or_else(|| cur.date.as_deref().and_then(date::parse_header_date));
    ctx.deliver_spool(
        mailbox,
        cur.flags,
        cur.keywords,
        received,
        size,
        &cur.source,
    )
}
