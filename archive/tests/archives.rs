//! The readers and writers on real archives built here: round trips, the layouts other
//! programs write, and every limit crossed.

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use postern_archive::limits::{
    MAX_ARCHIVE_ENTRIES, MAX_MESSAGE_BYTES, MAX_PROBLEMS, MAX_TOTAL_UNCOMPRESSED, MAX_UPLOAD_BYTES,
};
use postern_archive::{
    Accepted, ArchiveError, ArchiveKind, ExportWriter, ExportedMessage, Flag, ImportSink,
    MailFormat, Message, Problem, ReadOptions, SinkError, read_upload,
};

/// (mailbox, flags, keywords, received, bytes)
type Got = (String, Vec<Flag>, Vec<String>, Option<i64>, Vec<u8>);

#[derive(Debug, Default)]
struct Collect {
    mailboxes: Vec<String>,
    messages: Vec<Got>,
    problems: Vec<Problem>,
}

impl ImportSink for Collect {
    fn mailbox(&mut self, name: &str) -> Result<(), SinkError> {
        if !self.mailboxes.iter().any(|m| m == name) {
            self.mailboxes.push(name.to_string());
        }
        Ok(())
    }
    fn message(&mut self, m: &Message<'_>) -> Result<Accepted, SinkError> {
        let mut bytes = vec![0u8; m.size as usize];
        m.file.read_exact_at(&mut bytes, 0)?;
        let mut flags = m.flags.clone();
        flags.sort();
        let mut keywords = m.keywords.clone();
        keywords.sort();
        self.messages
            .push((m.mailbox.to_string(), flags, keywords, m.received, bytes));
        Ok(Accepted::Yes)
    }
    fn problem(&mut self, problem: &Problem) -> Result<(), SinkError> {
        self.problems.push(problem.clone());
        Ok(())
    }
}

fn file_of(bytes: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f
}

fn read(bytes: &[u8], options: &ReadOptions) -> Result<Collect, ArchiveError> {
    let mut sink = Collect::default();
    read_upload(&mut file_of(bytes), options, &mut sink)?;
    Ok(sink)
}

fn msg(n: usize) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {n}\r\n\r\nFrom the start\r\n>From quoted\r\nbody {n}\r\n\r\n").into_bytes()
}

fn sample() -> Vec<Got> {
    let mut out = Vec::new();
    for n in 0..12 {
        let mailbox = ["Inbox", "Lists/Rust", "Entwürfe"][n % 3].to_string();
        let flags = match n % 4 {
            0 => vec![Flag::Seen],
            1 => vec![Flag::Answered, Flag::Flagged, Flag::Seen],
            2 => vec![Flag::Deleted, Flag::Draft],
            _ => vec![],
        };
        let mut flags = flags;
        flags.sort();
        let keywords = if n % 2 == 0 {
            vec!["$Forwarded".to_string(), "project".to_string()]
        } else {
            vec![]
        };
        out.push((
            mailbox,
            flags,
            keywords,
            Some(1_600_000_000 + n as i64),
            msg(n),
        ));
    }
    out
}

fn export(kind: ArchiveKind, format: MailFormat, messages: &[Got]) -> Vec<u8> {
    let mut w = ExportWriter::new(Vec::new(), kind, format);
    let mut names: Vec<&String> = messages.iter().map(|m| &m.0).collect();
    names.sort();
    names.dedup();
    for name in names {
        let mine: Vec<&Got> = messages.iter().filter(|m| &m.0 == name).collect();
        let keywords: Vec<String> = mine.iter().flat_map(|m| m.2.clone()).collect();
        w.begin_mailbox(name, &keywords).unwrap();
        for (uid, m) in mine.iter().enumerate() {
            let mut f = file_of(&m.4);
            let meta = ExportedMessage {
                uid: uid as u32 + 1,
                flags: m.1.clone(),
                keywords: m.2.clone(),
                received: m.3.unwrap(),
            };
            w.message(&meta, &mut f, m.4.len() as u64).unwrap();
        }
    }
    w.unreadable("Inbox", 99, "gone");
    w.finish().unwrap()
}

fn sorted(mut v: Vec<Got>) -> Vec<Got> {
    v.sort();
    v
}

#[test]
fn every_format_and_archive_round_trips() {
    for kind in [ArchiveKind::Zip, ArchiveKind::Tar, ArchiveKind::Tgz] {
        for format in [MailFormat::Maildir, MailFormat::Mbox] {
            let bytes = export(kind, format, &sample());
            let got = read(&bytes, &ReadOptions::default()).unwrap();
            assert_eq!(
                sorted(got.messages),
                sorted(sample()),
                "{kind:?} {format:?}"
            );
            for name in ["Inbox", "Lists/Rust", "Entwürfe"] {
                assert!(got.mailboxes.iter().any(|m| m == name), "{name}");
            }
            // errors.txt is the one unrecognised file.
            assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
            assert!(got.problems[0].source.ends_with("errors.txt"));
        }
    }
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
        }
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn tgz_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_of(entries)).unwrap();
    gz.finish().unwrap()
}

#[test]
fn maildir_plus_plus_dovecot_keywords_after_messages_and_a_skipped_prefix() {
    let m = b"Subject: x\n\nbody\n".to_vec();
    let bytes = tgz_of(&[
        ("Takeout/Maildir/cur/1700000000.a.host:2,Sa", &m),
        ("Takeout/Maildir/.Entw&APw-rfe.Alt/new/1700000001.b:2,b", &m),
        ("Takeout/Maildir/.Empty/cur/", b""),
        ("Takeout/Maildir/dovecot-keywords", b"0 $Forwarded\n"),
        ("Takeout/Maildir/dovecot-uidlist", b"ignored"),
        ("Takeout/Maildir/notes.txt", b"what is this"),
    ]);
    let options = ReadOptions {
        skip_prefix: Some("Takeout/Maildir/".into()),
        file_name: None,
    };
    let got = read(&bytes, &options).unwrap();
    let crlf = b"Subject: x\r\n\r\nbody\r\n".to_vec();
    assert_eq!(
        sorted(got.messages),
        sorted(vec![
            (
                "Inbox".into(),
                vec![Flag::Seen],
                vec!["$Forwarded".into()],
                Some(1_700_000_000),
                crlf.clone()
            ),
            (
                "Entwürfe/Alt".into(),
                vec![],
                vec![],
                Some(1_700_000_001),
                crlf
            ),
        ])
    );
    assert!(got.mailboxes.contains(&"Empty".to_string()));
    let kinds: Vec<String> = got.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.iter().any(|k| k.contains("notes.txt")), "{kinds:?}");
    assert!(kinds.iter().any(|k| k.contains("'b'")), "{kinds:?}");
}

#[test]
fn a_gen_mbox_file_bare_and_in_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.mbox");
    let status = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../tools/gen-mbox.py"))
        .arg(&path)
        .arg("40")
        .status();
    let bytes = match status {
        Ok(s) if s.success() => std::fs::read(&path).unwrap(),
        _ => std::fs::read(&path)
            .unwrap_or_else(|_| panic!("gen-mbox.py did not run; tools/gen-mbox.py is needed")),
    };
    let options = ReadOptions {
        skip_prefix: None,
        file_name: Some("Sent.mbox".into()),
    };
    let bare = read(&bytes, &options).unwrap();
    assert_eq!(bare.messages.len(), 40);
    assert!(bare.problems.is_empty(), "{:?}", bare.problems);
    assert!(bare.messages.iter().all(|m| m.0 == "Sent"));
    assert!(bare.messages.iter().all(|m| m.3 == Some(1_704_099_600)));
    let in_zip = {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("Lists/Sent.mbox", zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(&bytes).unwrap();
        z.finish().unwrap().into_inner()
    };
    let zipped = read(&in_zip, &ReadOptions::default()).unwrap();
    let bodies = |c: &Collect| c.messages.iter().map(|m| m.4.clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&zipped), bodies(&bare));
    assert!(zipped.messages.iter().all(|m| m.0 == "Lists/Sent"));
}

#[test]
fn mbox_status_headers_become_flags_and_leave_the_message() {
    let mbox = b"From a Mon Jan  1 09:00:00 2024\nStatus: RO\nX-Status: AF\nX-Keywords: forwarded, Project\nSubject: one\n\n>From here\n\nFrom b Tue Jan  2 09:00:00 2024\nDate: Wed, 03 Jan 2024 10:00:00 +0000\nSubject: two\n\nx\n";
    let got = read(mbox, &ReadOptions::default()).unwrap();
    assert_eq!(got.messages.len(), 2);
    let one = &got.messages[0];
    assert_eq!(one.0, "Inbox");
    assert_eq!(one.1, [Flag::Seen, Flag::Answered, Flag::Flagged]);
    assert_eq!(one.2, ["$Forwarded", "project"]);
    assert_eq!(one.4, b"Subject: one\r\n\r\nFrom here\r\n");
    assert_eq!(got.messages[1].3, Some(1_704_186_000));
}

#[test]
fn a_single_eml_goes_to_the_inbox() {
    let got = read(b"Subject: hi\n\nthere\n", &ReadOptions::default()).unwrap();
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].0, "Inbox");
    assert_eq!(got.messages[0].4, b"Subject: hi\r\n\r\nthere\r\n");
}

#[test]
fn what_is_not_an_archive_is_refused() {
    for bytes in [&b"\x00\x01 not mail at all"[..], b"", b"hello world\n"] {
        assert!(matches!(
            read(bytes, &ReadOptions::default()),
            Err(ArchiveError::NotRecognised)
        ));
    }
    // gzip of something else.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"random text").unwrap();
    assert!(matches!(
        read(&gz.finish().unwrap(), &ReadOptions::default()),
        Err(ArchiveError::NotRecognised)
    ));
}

#[test]
fn truncated_archives_are_refused() {
    let bytes = export(ArchiveKind::Zip, MailFormat::Maildir, &sample());
    let err = read(&bytes[..bytes.len() - 30], &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    let bytes = export(ArchiveKind::Tgz, MailFormat::Maildir, &sample());
    let err = read(&bytes[..bytes.len() / 2], &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
    let bytes = export(ArchiveKind::Tar, MailFormat::Mbox, &sample());
    let err = read(&bytes[..bytes.len() / 2 + 100], &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt(_)), "{err}");
}

#[test]
fn path_traversal_names_are_refused() {
    for name in ["../evil/cur/1.x", "/etc/cur/1.x", "a/../../cur/1.x"] {
        let bytes = tar_of_raw_name(name);
        let err = read(&bytes, &ReadOptions::default()).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafeEntryName { .. }),
            "{name}: {err}"
        );
    }
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("x/../../cur/1", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(b"Subject: x\n\n").unwrap();
    let bytes = z.finish().unwrap().into_inner();
    assert!(matches!(
        read(&bytes, &ReadOptions::default()),
        Err(ArchiveError::UnsafeEntryName { .. })
    ));
}

/// A tar whose entry name is written into the header as is (the tar crate refuses
/// `..` when building).
fn tar_of_raw_name(name: &str) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    let data = b"Subject: x\n\n";
    h.set_size(data.len() as u64);
    h.set_mode(0o600);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(1024 + 1024, 0);
    out
}

#[test]
fn ten_thousand_tiny_entries_that_are_no_mail_are_given_up() {
    let names: Vec<String> = (0..10_000).map(|i| format!("junk/{i}.txt")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let mut collect = Collect::default();
    let err = read_upload(
        &mut file_of(&tgz_of(&entries)),
        &ReadOptions::default(),
        &mut collect,
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::TooManyProblems), "{err}");
    // It stopped right after the limit, with nothing handed on.
    assert_eq!(collect.problems.len(), MAX_PROBLEMS);
    assert!(collect.messages.is_empty());
}

#[test]
fn too_many_entries_are_refused() {
    let names: Vec<String> = (0..=MAX_ARCHIVE_ENTRIES)
        .map(|i| format!("d{i}/"))
        .collect();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for n in &names {
        z.add_directory(n.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
    }
    let bytes = z.finish().unwrap().into_inner();
    assert!(matches!(
        read(&bytes, &ReadOptions::default()),
        Err(ArchiveError::TooManyEntries)
    ));
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    assert!(matches!(
        read(&tgz_of(&entries), &ReadOptions::default()),
        Err(ArchiveError::TooManyEntries)
    ));
}

#[test]
fn an_entry_over_the_message_limit_is_refused() {
    // A tar header declaring one byte more than the limit: refused before reading.
    let mut h = tar::Header::new_gnu();
    h.set_path("Inbox/cur/1.x").unwrap();
    h.set_size(MAX_MESSAGE_BYTES + 1);
    h.set_mode(0o600);
    h.set_cksum();
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(b"Subject: x\n\n");
    bytes.resize(4096, 0);
    let err = read(&bytes, &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::EntryTooLarge { .. }), "{err}");
}

#[test]
fn a_zip_bomb_is_refused_before_inflating() {
    // One entry of 64 MiB of zeros, copied raw under many names: a small zip that
    // declares more than the total limit.
    let mut one = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    one.start_file(
        "Inbox/cur/0",
        zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated),
    )
    .unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        one.write_all(&zeros).unwrap();
    }
    let one = one.finish().unwrap().into_inner();
    let copies = MAX_TOTAL_UNCOMPRESSED / (64 << 20) + 1;
    let mut source = zip::ZipArchive::new(std::io::Cursor::new(one)).unwrap();
    let mut bomb = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..copies {
        let entry = source.by_index_raw(0).unwrap();
        bomb.raw_copy_file_rename(entry, format!("Inbox/cur/{i}"))
            .unwrap();
    }
    let bytes = bomb.finish().unwrap().into_inner();
    assert!(bytes.len() < 64 << 20);
    let mut collect = Collect::default();
    let err = read_upload(&mut file_of(&bytes), &ReadOptions::default(), &mut collect).unwrap_err();
    assert!(matches!(err, ArchiveError::TotalTooLarge), "{err}");
    assert!(collect.messages.is_empty());
}

#[test]
fn an_upload_over_the_limit_is_refused_unread() {
    let file = tempfile::tempfile().unwrap();
    // Sparse: no disk space used.
    file.set_len(MAX_UPLOAD_BYTES + 1).unwrap();
    let mut file = file;
    file.write_all(b"Subject: x\n\n").unwrap();
    let mut sink = Collect::default();
    let err = read_upload(&mut file, &ReadOptions::default(), &mut sink).unwrap_err();
    assert!(matches!(err, ArchiveError::UploadTooLarge { .. }), "{err}");
    assert!(sink.messages.is_empty());
}
