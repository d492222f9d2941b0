//! submitd's command reader: lines taken off an input buffer that grows in arbitrary
//! pieces, each parsed as a command. Lines never exceed the limit, the same bytes give
//! the same lines whatever the pieces, and nothing panics.
//!
//! Input: one byte `n`, then `n % 16` piece lengths (each byte + 1, used in turn), then
//! the client's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_submitd::smtp::input::{parse_command, take_line};
use postern_submitd::smtp::limits::MAX_LINE_LENGTH;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (lengths, input) = rest.split_at(count);
    let whole = lines(&[input]);
    let pieces: Vec<&[u8]> = pieces(input, lengths);
    assert_eq!(whole, lines(&pieces), "piece lengths {lengths:?}");
});

/// `input` in pieces of the given lengths (+1 each), cycled; whole without lengths.
fn pieces<'a>(input: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let len = lengths
            .get(i % lengths.len().max(1))
            .map_or(rest.len(), |&l| usize::from(l) + 1)
            .min(rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(len);
        out.push(piece);
        rest = tail;
    }
    out
}

/// The lines (and whether each parsed) of a session reading these pieces; `None` at
/// the end for a line that was too long (the session closes there).
fn lines(pieces: &[&[u8]]) -> Vec<Option<(Vec<u8>, bool)>> {
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        buffer.extend_from_slice(piece);
        loop {
            match take_line(&mut buffer) {
                Ok(Some(line)) => {
                    assert!(line.len() <= MAX_LINE_LENGTH, "line of {}", line.len());
                    assert_eq!(line.last(), Some(&b'\n'));
                    let parsed = parse_command(&line).is_ok();
                    out.push(Some((line, parsed)));
                }
                Ok(None) => break,
                Err(_) => {
                    out.push(None);
                    return out;
                }
            }
            assert!(buffer.len() < MAX_LINE_LENGTH + piece.len() + 1);
        }
    }
    out
}
