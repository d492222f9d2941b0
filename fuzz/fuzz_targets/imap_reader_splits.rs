//! The IMAP command reader fed the same bytes whole and in arbitrary chunks reports the
//! same events (APPEND message data may come in other chunks, never other bytes), never
//! stalls, and never holds more than its documented bound.
//!
//! Input: one byte `n`, then `n % 16` chunk lengths (each byte + 1, used in turn), then
//! the client's bytes. After a command ending in `IDLE` the next line is read in line
//! mode, and a synchronising APPEND literal whose size is a multiple of 3 is refused, as
//! a session would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_imap_proto::limits::{MAX_COMMAND_TEXT, MAX_LITERAL_TOTAL};
use postern_imap_proto::reader::{CommandReader, Event};

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (lengths, input) = rest.split_at(count);
    let whole = events(std::iter::once(input));
    let split = events(chunks(input, lengths));
    assert_eq!(whole, split, "chunk lengths {lengths:?}");
});

/// `input` in pieces of the given lengths (+1 each), cycled; whole without lengths.
fn chunks<'a>(input: &'a [u8], lengths: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut rest = input;
    let mut i = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = lengths
            .get(i % lengths.len().max(1))
            .map_or(rest.len(), |&l| usize::from(l) + 1)
            .min(rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// Every event of one reader fed these chunks, with adjacent message data merged.
fn events<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Event> {
    let mut reader = CommandReader::default();
    let mut out: Vec<Event> = Vec::new();
    for chunk in chunks {
        let mut rest = chunk;
        loop {
            let used = reader.push(rest);
            rest = &rest[used..];
            let mut polled = false;
            while let Some(event) = reader.poll() {
                polled = true;
                act_on(&mut reader, &event);
                match (out.last_mut(), event) {
                    (Some(Event::MessageData(prev)), Event::MessageData(more)) => {
                        prev.extend_from_slice(&more);
                    }
                    (_, event) => out.push(event),
                }
            }
            assert!(
                reader.buffered() <= MAX_COMMAND_TEXT + MAX_LITERAL_TOTAL as usize,
                "reader holds {} bytes",
                reader.buffered()
            );
            if rest.is_empty() {
                break;
            }
            assert!(used > 0 || polled, "reader stalled");
        }
    }
    out
}

/// What a session does on some events, the same whatever the chunking.
fn act_on(reader: &mut CommandReader, event: &Event) {
    match event {
        Event::Command(raw) if raw.bytes.to_ascii_uppercase().ends_with(b"IDLE") => {
            reader.expect_line();
        }
        Event::MessageStart {
            sync: true, size, ..
        } if size % 3 == 0 => {
            reader.refuse_literal();
        }
        _ => {}
    }
}
