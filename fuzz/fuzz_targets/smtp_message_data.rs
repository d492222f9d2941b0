//! submitd's message data readers after DATA (dot-stuffing, `<CRLF>.<CRLF>`) and BDAT
//! (counted chunks), fed the same bytes whole and in arbitrary pieces: the same message
//! bytes, the same end and the same bytes left for the next command, whatever the
//! pieces. BDAT hands on exactly its size.
//!
//! Input: a mode byte (even: DATA; odd: BDAT, then two bytes of chunk size), one byte
//! `n`, `n % 16` piece lengths (each byte + 1, used in turn), then the client's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_submitd::smtp::input::{BdatReader, DataReader};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (bdat, rest) = if mode % 2 == 1 {
        let Some((size, rest)) = rest.split_at_checked(2) else {
            return;
        };
        (
            Some(usize::from(u16::from_be_bytes([size[0], size[1]]))),
            rest,
        )
    } else {
        (None, rest)
    };
    let Some((&count, rest)) = rest.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (lengths, input) = rest.split_at(count);
    let whole = read(bdat, mode & 2 != 0, &[input]);
    let split = read(bdat, mode & 2 != 0, &pieces(input, lengths));
    assert_eq!(whole, split, "piece lengths {lengths:?}");
    if let Some(size) = bdat {
        let (message, done, _) = &whole;
        assert_eq!(*done, input.len() >= size);
        assert_eq!(message.len(), size.min(input.len()));
    }
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

/// The message bytes, whether the end came, and all input left after it.
fn read(bdat: Option<usize>, last: bool, pieces: &[&[u8]]) -> (Vec<u8>, bool, Vec<u8>) {
    let mut data = DataReader::new();
    let mut chunk = bdat.map(|size| BdatReader::new(size, last));
    let mut buffer = Vec::new();
    let mut message = Vec::new();
    // As the session does, the reader looks at what is buffered before it reads
    // (nothing here; an empty BDAT chunk is complete at once).
    let mut done = false;
    for piece in std::iter::once(&[][..]).chain(pieces.iter().copied()) {
        buffer.extend_from_slice(piece);
        if done {
            continue;
        }
        done = match chunk.as_mut() {
            Some(reader) => reader.read(&mut buffer, &mut message),
            None => data.read(&mut buffer, &mut message),
        };
        if !done {
            assert!(
                buffer.len() <= 2,
                "reader left {} bytes unread",
                buffer.len()
            );
        }
    }
    (message, done, buffer)
}
