use super::*;
use proptest::prelude::*;

/// Feed all of `input`, collecting events.
pub(crate) fn run(r: &mut CommandReader, input: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut pos = 0;
    loop {
        let n = r.push(&input[pos..]);
        pos += n;
        let mut got = false;
        while let Some(e) = r.poll() {
            events.push(e);
            got = true;
        }
        if pos >= input.len() || (n == 0 && !got) {
            break;
        }
    }
    assert_eq!(pos, input.len(), "reader stopped consuming");
    events
}

fn cmd(bytes: &[u8]) -> Event {
    Event::Command(RawCommand {
        bytes: bytes.to_vec(),
        messages: Vec::new(),
    })
}

fn rejected(e: &Event) -> (&str, bool) {
    match e {
        Event::Rejected(r) => (std::str::from_utf8(&r.reply).unwrap(), r.close),
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn simple_lines() {
    let mut r = CommandReader::default();
    let ev = run(&mut r, b"a NOOP\r\nb CAPABILITY\nc LOGOUT\r");
    assert_eq!(ev, vec![cmd(b"a NOOP"), cmd(b"b CAPABILITY")]);
    assert_eq!(run(&mut r, b"\n"), vec![cmd(b"c LOGOUT")]);
}

#[test]
fn byte_by_byte() {
    let mut r = CommandReader::default();
    let mut ev = Vec::new();
    for b in b"a LOGIN {5}\r\nalice {3+}\r\npw!\r\n" {
        ev.extend(run(&mut r, &[*b]));
    }
    assert_eq!(
        ev,
        vec![
            Event::Continue { size: 5 },
            cmd(b"a LOGIN {5}\r\nalice {3+}\r\npw!")
        ]
    );
}

#[test]
fn sync_literal_too_big_keeps_connection() {
    let mut r = CommandReader::default();
    let ev = run(&mut r, b"a LOGIN {102401}\r\nb NOOP\r\n");
    assert_eq!(ev.len(), 2);
    assert_eq!(
        rejected(&ev[0]),
        (
            "a BAD [TOOBIG] LOGIN unrecognized syntax/command: literal too big: max literal size 102401 is larger than allowed 102400\r\n",
            false
        )
    );
    assert_eq!(ev[1], cmd(b"b NOOP"));
    assert!(!r.is_closed());
    // A literal of exactly the limit is fine.
    let ev = run(&mut r, b"c LOGIN {102400}\r\n");
    assert_eq!(ev, vec![Event::Continue { size: 102_400 }]);
}

#[test]
fn sync_literal_too_big_mid_command() {
    let mut r = CommandReader::default();
    let ev = run(
        &mut r,
        b"a LOGIN {5}\r\nalice {999999999999999999999999}\r\nb NOOP\r\n",
    );
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0], Event::Continue { size: 5 });
    let (reply, close) = rejected(&ev[1]);
    assert!(reply.starts_with("a BAD [TOOBIG] LOGIN "), "{reply}");
    assert!(!close);
    assert_eq!(ev[2], cmd(b"b NOOP"));
}

#[test]
fn non_sync_literal_too_big_closes() {
    let mut r = CommandReader::default();
    let mut input = b"a LOGIN {102401+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 102_401));
    input.extend_from_slice(b" pw\r\nb NOOP\r\n");
    let ev = run(&mut r, &input);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        rejected(&ev[0]),
        (
            "* BYE [ALERT] max literal size 102401 is larger than allowed 102400\r\na BAD [TOOBIG] LOGIN unrecognized syntax/command: literal too big: max literal size 102401 is larger than allowed 102400\r\n",
            true
        )
    );
    assert!(r.is_closed());
    assert!(r.buffered() == 0);
}

#[test]
fn literal_count_limit() {
    let one = b" SUBJECT {1+}\r\nx";
    let mut ok = b"a SEARCH".to_vec();
    for _ in 0..MAX_LITERALS {
        ok.extend_from_slice(one);
    }
    ok.extend_from_slice(b"\r\n");
    let mut r = CommandReader::default();
    let ev = run(&mut r, &ok);
    assert!(matches!(&ev[..], [Event::Command(_)]), "{:?}", ev.len());

    let mut bad = b"a SEARCH".to_vec();
    for _ in 0..MAX_LITERALS {
        bad.extend_from_slice(one);
    }
    bad.extend_from_slice(b" SUBJECT {1}\r\nb NOOP\r\n");
    let ev = run(&mut r, &bad);
    assert_eq!(ev.len(), 2);
    assert_eq!(
        rejected(&ev[0]),
        (
            "a BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max literals for command 1001 is larger than allowed 1000\r\n",
            false
        )
    );
    assert_eq!(ev[1], cmd(b"b NOOP"));
}

#[test]
fn literal_total_limit() {
    let chunk = vec![b'x'; 102_400];
    let mut input = b"a SEARCH".to_vec();
    for _ in 0..10 {
        input.extend_from_slice(b" TEXT {102400+}\r\n");
        input.extend_from_slice(&chunk);
    }
    let mut ok = input.clone();
    ok.extend_from_slice(b"\r\n");
    let mut r = CommandReader::default();
    let ev = run(&mut r, &ok);
    assert!(matches!(&ev[..], [Event::Command(_)]));

    input.extend_from_slice(b" TEXT {1}\r\n");
    let mut r = CommandReader::default();
    let ev = run(&mut r, &input);
    assert_eq!(
        rejected(&ev[0]),
        (
            "a BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max total literal size for command 1024001 is larger than allowed 1024000\r\n",
            false
        )
    );
    assert_eq!(r.buffered(), 0);
}

#[test]
fn long_line_closes_without_reply_and_bounded() {
    let mut r = CommandReader::default();
    let chunk = vec![b'a'; 64 * 1024];
    let mut closed = false;
    for _ in 0..160 {
        // 10 MiB in total
        let ev = run(&mut r, &chunk);
        assert!(r.buffered() <= MAX_LINE);
        if !ev.is_empty() {
            assert_eq!(ev, vec![Event::Close]);
            assert!(!closed);
            closed = true;
        }
    }
    assert!(closed);
    assert!(r.is_closed());
    assert_eq!(run(&mut r, b"a NOOP\r\n"), vec![]);
}

#[test]
fn line_of_exactly_the_limit() {
    let mut line = vec![b'a'; MAX_LINE - 2];
    line.extend_from_slice(b"\r\n");
    let mut r = CommandReader::default();
    assert!(matches!(&run(&mut r, &line)[..], [Event::Command(_)]));
    let mut line = vec![b'a'; MAX_LINE - 1];
    line.extend_from_slice(b"\r\n");
    assert_eq!(run(&mut r, &line), vec![Event::Close]);
}

#[test]
fn literal_minus() {
    let mut r = CommandReader::new(ReaderConfig {
        non_sync: NonSyncLiterals::Minus,
        ..ReaderConfig::default()
    });
    let mut ok = b"a LOGIN {4096+}\r\n".to_vec();
    ok.extend(std::iter::repeat_n(b'u', 4096));
    ok.extend_from_slice(b" pw\r\n");
    assert!(matches!(&run(&mut r, &ok)[..], [Event::Command(_)]));
    // Synchronising literals are not limited by LITERAL-.
    assert_eq!(
        run(&mut r, b"a LOGIN {5000}\r\n"),
        vec![Event::Continue { size: 5000 }]
    );
    let mut r = CommandReader::new(ReaderConfig {
        non_sync: NonSyncLiterals::Minus,
        ..ReaderConfig::default()
    });
    let ev = run(&mut r, b"a LOGIN {4097+}\r\n");
    assert_eq!(
        rejected(&ev[0]),
        (
            "* BYE [ALERT] non-synchronizing literal size 4097 is larger than allowed 4096\r\na BAD [TOOBIG] LOGIN unrecognized syntax/command: literal too big: non-synchronizing literal size 4097 is larger than allowed 4096\r\n",
            true
        )
    );
}

#[test]
fn append_streams_message_data() {
    let mut r = CommandReader::default();
    let size = 300 * 1024; // larger than MAX_LITERAL: APPEND data is not limited by it
    let mut input = format!("a APPEND INBOX (\\Seen) {{{size}}}\r\n").into_bytes();
    let ev = run(&mut r, &input);
    assert_eq!(
        ev,
        vec![
            Event::MessageStart {
                tag: "a".into(),
                size: size as u64,
                binary: false,
                sync: true
            },
            Event::Continue { size: size as u64 }
        ]
    );
    input.clear();
    input.extend(std::iter::repeat_n(b'm', size));
    input.extend_from_slice(b" ~{3+}\r\n\0\0\0\r\n");
    let ev = run(&mut r, &input);
    assert!(r.buffered() < MAX_LINE);
    let mut data = 0;
    let mut last = None;
    for e in ev {
        match e {
            Event::MessageData(d) => {
                assert!(d.len() <= MESSAGE_CHUNK);
                data += d.len();
            }
            Event::MessageStart {
                size: 3,
                binary: true,
                sync: false,
                ..
            } => {}
            Event::Command(c) => last = Some(c),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data, size + 3);
    let c = last.unwrap();
    assert_eq!(
        c.bytes,
        format!("a APPEND INBOX (\\Seen) {{{size}}}\r\n ~{{3+}}\r\n").into_bytes()
    );
    assert_eq!(
        c.messages,
        vec![
            MessageLiteral {
                size: size as u64,
                binary: false
            },
            MessageLiteral {
                size: 3,
                binary: true
            }
        ]
    );
}

#[test]
fn append_mailbox_literal_is_not_a_message() {
    let mut r = CommandReader::default();
    let ev = run(&mut r, b"a APPEND {5}\r\nINBOX {3+}\r\nabc\r\n");
    assert_eq!(ev[0], Event::Continue { size: 5 });
    assert!(matches!(ev[1], Event::MessageStart { size: 3, .. }));
    assert_eq!(ev[2], Event::MessageData(b"abc".to_vec()));
    assert_eq!(
        ev[3],
        Event::Command(RawCommand {
            bytes: b"a APPEND {5}\r\nINBOX {3+}\r\n".to_vec(),
            messages: vec![MessageLiteral {
                size: 3,
                binary: false
            }]
        })
    );
}

#[test]
fn append_over_limit() {
    let mut r = CommandReader::new(ReaderConfig {
        append_limit: 1000,
        ..ReaderConfig::default()
    });
    let ev = run(&mut r, b"a APPEND INBOX {1001}\r\nb NOOP\r\n");
    assert_eq!(
        rejected(&ev[0]),
        (
            "a NO [TOOBIG] message size 1001 is larger than allowed 1000\r\n",
            false
        )
    );
    assert_eq!(ev[1], cmd(b"b NOOP"));
    let ev = run(&mut r, b"a APPEND INBOX {1001+}\r\n");
    assert_eq!(
        rejected(&ev[0]),
        (
            "* BYE [ALERT] message size 1001 is larger than allowed 1000\r\na NO [TOOBIG] message size 1001 is larger than allowed 1000\r\n",
            true
        )
    );
    assert_eq!(APPEND_LIMIT, 104_857_600);
}

#[test]
fn refuse_append_literal() {
    let mut r = CommandReader::default();
    assert_eq!(r.push(b"a APPEND INBOX {10}\r\nb NOOP\r\n"), 21);
    assert!(matches!(r.poll(), Some(Event::MessageStart { .. })));
    assert!(r.refuse_literal());
    assert_eq!(r.poll(), None);
    assert_eq!(run(&mut r, b"b NOOP\r\n"), vec![cmd(b"b NOOP")]);
    assert!(!r.refuse_literal());
}

#[test]
fn line_mode_for_idle_done() {
    let mut r = CommandReader::default();
    assert_eq!(run(&mut r, b"a IDLE\r\n"), vec![cmd(b"a IDLE")]);
    r.expect_line();
    assert_eq!(
        run(&mut r, b"DONE {5}\r\nb NOOP\r\n"),
        vec![Event::Line(b"DONE {5}".to_vec()), cmd(b"b NOOP")]
    );
}

#[test]
fn braces_inside_quotes_are_not_literals() {
    let mut r = CommandReader::default();
    assert_eq!(
        run(&mut r, b"a LOGIN \"x\\\" {5}\r\n"),
        vec![cmd(b"a LOGIN \"x\\\" {5}")]
    );
    assert_eq!(
        run(&mut r, b"a LOGIN \"x\" {}\r\n"),
        vec![cmd(b"a LOGIN \"x\" {}")]
    );
}

#[test]
fn empty_append_message_can_be_refused() {
    let mut r = CommandReader::default();
    assert_eq!(r.push(b"a APPEND INBOX {0}\r\n"), 20);
    assert!(matches!(
        r.poll(),
        Some(Event::MessageStart { size: 0, .. })
    ));
    assert!(r.refuse_literal());
    let ev = run(&mut r, b"a APPEND INBOX {0}\r\n\r\n");
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[1], Event::Continue { size: 0 });
    assert!(matches!(&ev[2], Event::Command(c) if c.messages.len() == 1));
}

#[test]
fn zero_length_literal() {
    let mut r = CommandReader::default();
    assert_eq!(
        run(&mut r, b"a LOGIN {0}\r\n {0+}\r\n\r\n"),
        vec![
            Event::Continue { size: 0 },
            cmd(b"a LOGIN {0}\r\n {0+}\r\n")
        ]
    );
}

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        Just(b"\r\n".to_vec()),
        Just(b"{5}\r\n".to_vec()),
        Just(b"{3+}\r\n".to_vec()),
        Just(b"~{2}\r\n".to_vec()),
        Just(b"{102401}\r\n".to_vec()),
        Just(b"{99999+}\r\n".to_vec()),
        Just(b"a APPEND INBOX ".to_vec()),
        Just(b"a APPEND ".to_vec()),
        Just(b"\"".to_vec()),
        (1usize..20_000).prop_map(|n| vec![b'x'; n]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_input_is_bounded(frags in proptest::collection::vec(fragment(), 0..40), line_mode in any::<bool>()) {
        let mut r = CommandReader::default();
        for f in frags {
            if line_mode {
                r.expect_line();
            }
            let mut pos = 0;
            loop {
                let n = r.push(&f[pos..]);
                pos += n;
                prop_assert!(r.buffered() <= MAX_COMMAND_TEXT + MAX_LITERAL_TOTAL as usize);
                prop_assert!(r.buf.len() - r.seg_start <= MAX_LINE || !matches!(r.state, State::Line));
                let mut got = false;
                while let Some(e) = r.poll() {
                    got = true;
                    if let Event::MessageData(d) = e {
                        prop_assert!(d.len() <= MESSAGE_CHUNK);
                    }
                }
                if pos == f.len() || (n == 0 && !got) {
                    break;
                }
            }
            prop_assert_eq!(pos, f.len());
        }
    }
}
