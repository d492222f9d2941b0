//! Lines read in bounded pieces, and message bytes written with CRLF line ends.

use std::io::{self, BufRead, Write};

use crate::limits::MAX_LINE_PIECE;

/// Reads the next piece of a line into `buf` (cleared first): up to and including the
/// next LF, or [`MAX_LINE_PIECE`] bytes of a longer line. Returns false at the end.
pub(crate) fn read_piece(reader: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(!buf.is_empty());
        }
        let room = MAX_LINE_PIECE - buf.len();
        let window = &available[..available.len().min(room)];
        match window.iter().position(|&b| b == b'\n') {
            Some(i) => {
                buf.extend_from_slice(&window[..=i]);
                reader.consume(i + 1);
                return Ok(true);
            }
            None => {
                let n = window.len();
                buf.extend_from_slice(window);
                reader.consume(n);
                if buf.len() >= MAX_LINE_PIECE {
                    return Ok(true);
                }
            }
        }
    }
}

/// Writes message bytes turning every bare LF into CRLF (CRLF stays), counting what
/// it wrote.
#[derive(Debug)]
pub(crate) struct CrlfWriter<W> {
    inner: W,
    last_was_cr: bool,
    written: u64,
}

impl<W: Write> CrlfWriter<W> {
    pub(crate) fn new(inner: W) -> CrlfWriter<W> {
        CrlfWriter {
            inner,
            last_was_cr: false,
            written: 0,
        }
    }

    /// Bytes written so far (after the conversion).
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Writes `bytes`, converting bare LFs.
    pub(crate) fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                let prev_cr = if i == 0 {
                    self.last_was_cr
                } else {
                    bytes[i - 1] == b'\r'
                };
                if !prev_cr {
                    self.inner.write_all(&bytes[start..i])?;
                    self.inner.write_all(b"\r\n")?;
                    self.written += (i - start) as u64 + 2;
                    start = i + 1;
                }
            }
        }
        self.inner.write_all(&bytes[start..])?;
        self.written += (bytes.len() - start) as u64;
        if let Some(&last) = bytes.last() {
            self.last_was_cr = last == b'\r';
        }
        Ok(())
    }

    /// The writer inside.
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

/// Whether `bytes` starts like a message: a header field name (printable ASCII but
/// `:`, 1 to 200 bytes) and a colon on the first line.
pub(crate) fn starts_with_header_field(bytes: &[u8]) -> bool {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            (1..=200).contains(&colon) && line[..colon].iter().all(|&b| (33..=126).contains(&b))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(pieces: &[&[u8]]) -> Vec<u8> {
        let mut w = CrlfWriter::new(Vec::new());
        for p in pieces {
            w.put(p).unwrap();
        }
        assert_eq!(w.written() as usize, w.inner.len());
        w.into_inner()
    }

    #[test]
    fn bare_lfs_become_crlf_and_crlf_stays() {
        assert_eq!(crlf(&[b"a\nb\r\nc\n"]), b"a\r\nb\r\nc\r\n");
        // A CR at the end of one piece and its LF in the next.
        assert_eq!(crlf(&[b"a\r", b"\nb"]), b"a\r\nb");
        assert_eq!(crlf(&[b"\n\n"]), b"\r\n\r\n");
    }

    #[test]
    fn long_lines_come_in_pieces() {
        let mut data = vec![b'x'; MAX_LINE_PIECE * 2 + 5];
        data.extend_from_slice(b"\nend\n");
        let mut reader = io::BufReader::new(&data[..]);
        let mut buf = Vec::new();
        let mut pieces = Vec::new();
        while read_piece(&mut reader, &mut buf).unwrap() {
            pieces.push(buf.len());
        }
        assert_eq!(pieces, [MAX_LINE_PIECE, MAX_LINE_PIECE, 6, 4]);
    }

    #[test]
    fn header_fields_are_recognised() {
        assert!(starts_with_header_field(b"Subject: x\r\n"));
        assert!(!starts_with_header_field(b"hello world\n"));
        assert!(!starts_with_header_field(b": x\n"));
        assert!(!starts_with_header_field(b"Bad name: x\n"));
        assert!(!starts_with_header_field(b""));
    }
}
