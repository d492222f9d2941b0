//! The IMAP command parser on arbitrary input never panics: every command the reader
//! frames parses to a command, or to an error whose reply is one tagged line: `BAD`, or
//! `NO` for a well-formed name that is not valid modified UTF-7 (RFC 3501). The raw
//! bytes are also parsed directly, with streamed APPEND literals the text may not have,
//! and as the other lines a session reads (SASL responses, IDLE's DONE).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_imap_proto::parse::{
    ParseError, ParseOptions, SyntaxError, append_mailbox, is_idle_done, parse_command, parse_sasl_line,
};
use postern_imap_proto::reader::{CommandReader, Event, MessageLiteral, RawCommand};

fuzz_target!(|data: &[u8]| {
    let mut reader = CommandReader::default();
    let mut rest = data;
    while !rest.is_empty() && !reader.is_closed() {
        let used = reader.push(rest);
        rest = &rest[used..];
        while let Some(event) = reader.poll() {
            if let Event::Command(raw) = event {
                check(&raw);
            }
        }
    }
    let streamed = usize::from(data.first().map_or(0, |b| b % 4));
    check(&RawCommand {
        bytes: data.to_vec(),
        messages: vec![
            MessageLiteral {
                size: 3,
                binary: false
            };
            streamed
        ],
    });
    let _ = parse_sasl_line(data);
    let _ = is_idle_done(data);
});

fn check(raw: &RawCommand) {
    for utf8 in [false, true] {
        let opts = ParseOptions { utf8 };
        match parse_command(raw, opts) {
            Ok(command) => {
                assert!(!command.tag.is_empty());
                let _ = command.body.name();
                let _ = command.body.required_state();
            }
            Err(error) => one_reply_line(&error),
        }
        let _ = append_mailbox(&raw.bytes, opts);
    }
}

fn one_reply_line(error: &ParseError) {
    let reply = error.reply();
    let line = reply.strip_suffix(b"\r\n").expect("CRLF at the end");
    assert!(
        !line.contains(&b'\r') && !line.contains(&b'\n'),
        "{reply:?}"
    );
    let tag = error.tag.as_deref().unwrap_or("*");
    let status = match (&error.tag, &error.error) {
        (Some(_), SyntaxError::InvalidMutf7) => "NO [CANNOT]",
        _ => "BAD",
    };
    assert!(
        line.starts_with(format!("{tag} {status} ").as_bytes()),
        "{reply:?}"
    );
}
