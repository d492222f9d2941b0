//! What submitd reads from a client, apart from the connection: command lines out of
//! the input buffer, the command in a line, and message data after DATA (dot-stuffed,
//! up to `<CRLF>.<CRLF>`) and BDAT (counted chunks). The session feeds these the bytes
//! it read; the fuzz targets feed them arbitrary bytes in arbitrary pieces.

use smtp_proto::Request;
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver, RequestReceiver};

use super::limits::MAX_LINE_LENGTH;

/// A command line longer than [`MAX_LINE_LENGTH`] without its line ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line too long, max {MAX_LINE_LENGTH} bytes")]
pub struct LineTooLong;

/// Takes the next line (with its LF) off the front of `input`; `Ok(None)` when no whole
/// line is there yet. Never looks further than [`MAX_LINE_LENGTH`] bytes: when that
/// many came without a LF, the line is too long.
pub fn take_line(input: &mut Vec<u8>) -> Result<Option<Vec<u8>>, LineTooLong> {
    let window = input.len().min(MAX_LINE_LENGTH);
    if let Some(end) = input.iter().take(window).position(|&b| b == b'\n') {
        return Ok(Some(input.drain(..=end).collect()));
    }
    if input.len() >= MAX_LINE_LENGTH {
        return Err(LineTooLong);
    }
    Ok(None)
}

/// The command in one line (as [`take_line`] gave it), by smtp-proto's parser.
pub fn parse_command(line: &[u8]) -> Result<Request<String>, smtp_proto::Error> {
    let mut receiver = RequestReceiver::default();
    receiver.ingest(&mut line.iter()).map(Request::into_owned)
}

/// Message data after DATA: removes the dot-stuffing and finds the end
/// (`<CRLF>.<CRLF>`, whose CRLF belongs to the end and not to the message).
pub struct DataReader {
    receiver: DataReceiver,
    /// Decoded bytes held back: a trailing CR that may start the final CRLF.
    held: Vec<u8>,
}

impl Default for DataReader {
    fn default() -> Self {
        DataReader::new()
    }
}

impl DataReader {
    /// A reader at the start of the data (the beginning of a line).
    pub fn new() -> DataReader {
        let mut receiver = DataReceiver::new();
        // The data starts at the beginning of a line: a leading "." is stuffing.
        receiver.ingest(&mut b"\r\n".iter(), &mut Vec::new());
        DataReader {
            receiver,
            held: Vec::new(),
        }
    }

    /// Consumes what it can of `input` (bytes after the end stay there) and appends
    /// the message bytes that are certain to `out`. Returns whether the end was seen.
    pub fn read(&mut self, input: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
        let mut bytes = input.iter();
        let done = self.receiver.ingest(&mut bytes, &mut self.held);
        let consumed = input.len() - bytes.as_slice().len();
        input.drain(..consumed);
        // The receiver removes the final CRLF from what it already wrote: a trailing
        // CR waits for the next bytes.
        let hold = usize::from(!done && self.held.last() == Some(&b'\r'));
        let ready = self.held.len() - hold;
        out.extend(self.held.drain(..ready));
        done
    }
}

/// One BDAT chunk of a size the command gave.
pub struct BdatReader {
    receiver: BdatReceiver,
}

impl BdatReader {
    /// A reader for a chunk of `size` bytes (the last one with `last`).
    pub fn new(size: usize, last: bool) -> BdatReader {
        BdatReader {
            receiver: BdatReceiver::new(size, last),
        }
    }

    /// Consumes what belongs to the chunk from `input` and appends it to `out`.
    /// Returns whether the chunk is complete.
    pub fn read(&mut self, input: &mut Vec<u8>, out: &mut Vec<u8>) -> bool {
        let mut bytes = input.iter();
        let done = self.receiver.ingest(&mut bytes, out);
        let consumed = input.len() - bytes.as_slice().len();
        input.drain(..consumed);
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_in_pieces(input: &[u8], piece: usize) -> (Vec<u8>, bool, Vec<u8>) {
        let mut reader = DataReader::new();
        let mut out = Vec::new();
        let mut buffer = Vec::new();
        let mut done = false;
        for chunk in input.chunks(piece.max(1)) {
            buffer.extend_from_slice(chunk);
            if reader.read(&mut buffer, &mut out) {
                done = true;
                break;
            }
        }
        (out, done, buffer)
    }

    #[test]
    fn data_ends_at_the_dot_line_whatever_the_pieces() {
        let input = b"a\r\n..b\r\nc\r\r\n.\r\nNOOP\r\n";
        for piece in 1..input.len() {
            let (out, done, rest) = data_in_pieces(input, piece);
            assert!(done, "piece {piece}");
            assert_eq!(out, b"a\r\n.b\r\nc\r\r\n", "piece {piece}");
            // What came after the end in the same piece stays for the command reader.
            assert!(b"NOOP\r\n".starts_with(&rest), "piece {piece}: {rest:?}");
        }
    }

    #[test]
    fn lines_are_bounded() {
        let mut input = b"EHLO x\r\nNOOP".to_vec();
        assert_eq!(take_line(&mut input), Ok(Some(b"EHLO x\r\n".to_vec())));
        assert_eq!(take_line(&mut input), Ok(None));
        let mut long = vec![b'a'; MAX_LINE_LENGTH];
        assert_eq!(take_line(&mut long), Err(LineTooLong));
    }

    #[test]
    fn an_empty_bdat_chunk_is_complete_at_once() {
        let mut input = Vec::new();
        let mut out = Vec::new();
        assert!(BdatReader::new(0, true).read(&mut input, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn bdat_takes_exactly_its_size() {
        let mut reader = BdatReader::new(5, true);
        let mut input = b"abc".to_vec();
        let mut out = Vec::new();
        assert!(!reader.read(&mut input, &mut out));
        input.extend_from_slice(b"deQUIT\r\n");
        assert!(reader.read(&mut input, &mut out));
        assert_eq!(out, b"abcde");
        assert_eq!(input, b"QUIT\r\n");
    }
}
