//! Tests of the mail store on real files in temp directories.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::account::decode_fanout_dir;
use super::layout::HeaderEnd;
use super::*;

fn setup() -> (tempfile::TempDir, MailStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::open(&dir.path().join("imapd")).unwrap();
    (dir, store)
}

fn root(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("imapd")
}

fn msg(n: usize) -> Vec<u8> {
    format!("Subject: test {n}\r\nFrom: a@example.org\r\n\r\nbody {n}\r\n").into_bytes()
}

fn deliver(acc: &Account, mailbox: &str, bytes: &[u8]) -> Delivered {
    acc.deliver(
        mailbox,
        &NewMessage {
            received: 1_700_000_000,
            ..NewMessage::default()
        },
        &mut &bytes[..],
    )
    .unwrap()
}

/// All regular files below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn msg_files(dir: &tempfile::TempDir, account: &str) -> Vec<PathBuf> {
    files_under(&root(dir).join("accounts").join(account).join("msg"))
}

fn tmp_files(dir: &tempfile::TempDir) -> Vec<PathBuf> {
    files_under(&root(dir).join("tmp"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn inbox(acc: &Account) -> MailboxInfo {
    acc.mailbox("INBOX").unwrap()
}

fn all() -> [UidRange; 1] {
    [1..=u32::MAX]
}

fn uids(acc: &Account, mb: MailboxId) -> Vec<u32> {
    acc.messages(mb, &all())
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

fn fail_inserts(acc: &Account, when: &str) {
    acc.with_conn_for_test(|c| {
        c.execute_batch(&format!(
            "CREATE TEMP TRIGGER fail_insert BEFORE INSERT ON messages {when}
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
        ))
        .unwrap()
    });
}

fn stop_failing(acc: &Account) {
    acc.with_conn_for_test(|c| c.execute_batch("DROP TRIGGER temp.fail_insert").unwrap());
}

#[test]
fn fanout_names() {
    assert_eq!(fanout_dir_name(0), "a");
    assert_eq!(fanout_dir_name(8191), "a");
    assert_eq!(fanout_dir_name(8192), "b");
    assert_eq!(fanout_dir_name(64 << 13), "ab");
    assert_eq!(fanout_dir_name(63 << 13), "_");
    for id in [0u64, 8192, 64 << 13, 12345 << 13, u64::MAX >> 2] {
        assert_eq!(
            decode_fanout_dir(&fanout_dir_name(id)),
            Some(id >> MESSAGES_PER_DIR_SHIFT)
        );
    }
    assert_eq!(decode_fanout_dir("a.b"), None);
}

#[test]
fn header_end_across_chunks() {
    let cases: &[(&[u8], u64)] = &[
        (b"a: b\r\n\r\nbody", 8),
        (b"a: b\n\nbody", 6),
        (b"\r\nbody", 2),
        (b"\nbody", 1),
        (b"a: b\r\nc: d\r\n", 12),
        (b"a: b\r\n\rx\r\n\r\n", 12),
        (b"", 0),
    ];
    for (input, want) in cases {
        for split in 0..=input.len() {
            let mut h = HeaderEnd::new();
            h.feed(&input[..split]);
            h.feed(&input[split..]);
            assert_eq!(
                h.header_size(input.len() as u64),
                *want,
                "{:?} split at {split}",
                String::from_utf8_lossy(input)
            );
        }
    }
}

#[test]
fn new_account_layout_and_defaults() {
    let (dir, store) = setup();
    let acc = store.account("mjl").unwrap();
    let r = root(&dir);
    for d in [
        r.clone(),
        r.join("tmp"),
        r.join("accounts"),
        r.join("accounts/mjl"),
        r.join("accounts/mjl/msg"),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&r.join("accounts/mjl/index.db")), 0o600);

    let mbs = acc.mailboxes().unwrap();
    let names: Vec<_> = mbs.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["Archive", "Drafts", "Inbox", "Junk", "Sent", "Trash"]
    );
    for (name, special_use) in DEFAULT_MAILBOXES {
        let mb = acc.mailbox(name).unwrap();
        assert_eq!(mb.special_use, *special_use, "{name}");
        assert_eq!(mb.uidnext, 1);
    }
    // All initial mailboxes share one UIDVALIDITY, about unix time >> 1.
    let uv = mbs[0].uidvalidity;
    assert!(mbs.iter().all(|m| m.uidvalidity == uv));
    let now = u32::try_from(account::unix_now() >> 1).unwrap();
    assert!(uv <= now && uv + 10 >= now, "{uv} {now}");
    assert_eq!(acc.subscriptions().unwrap(), names);
    // The first modseq handed out is 2 (the creation of the defaults).
    assert_eq!(acc.highest_modseq().unwrap(), 2);
    assert_eq!(
        acc.mailbox_status(inbox(&acc).id).unwrap().highest_modseq,
        2
    );

    // Reopening does not create them again.
    drop(acc);
    drop(store);
    let store = MailStore::open(&r).unwrap();
    let acc = store.account("mjl").unwrap();
    assert_eq!(acc.mailboxes().unwrap().len(), 6);
    assert_eq!(acc.highest_modseq().unwrap(), 2);
}

#[test]
fn account_names_are_checked() {
    let (_dir, store) = setup();
    for bad in ["", ".", "..", "a/b", ".hidden", "a\0b", "a\nb"] {
        assert!(
            matches!(store.account(bad), Err(StoreError::InvalidAccountName(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn deliver_is_durable_and_exact() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let body = msg(1);
    let d = acc
        .deliver(
            "inbox",
            &NewMessage {
                flags: Flags::SEEN | Flags::DRAFT,
                keywords: vec!["$Forwarded".into(), "Work".into(), "work".into()],
                received: 1_234_567_890,
            },
            &mut &body[..],
        )
        .unwrap();
    assert_eq!(d.uid, 1);
    assert_eq!(d.uidvalidity, inbox(&acc).uidvalidity);
    assert_eq!(d.modseq, 3);
    assert_eq!(d.size, body.len() as u64);

    // The file is in place, with the exact bytes and mode 0600.
    let path = acc.message_path(d.id);
    assert_eq!(
        path,
        root(&dir)
            .join("accounts/a/msg")
            .join(fanout_dir_name(d.id.get()))
            .join(d.id.get().to_string())
    );
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    // The row is there.
    let mb = inbox(&acc);
    assert_eq!(mb.uidnext, 2);
    let rows = acc.messages(mb.id, &all()).unwrap();
    assert_eq!(rows.len(), 1);
    let m = &rows[0];
    assert_eq!((m.id, m.uid, m.modseq), (d.id, 1, 3));
    assert_eq!(m.flags, Flags::SEEN | Flags::DRAFT);
    assert_eq!(m.keywords, ["$forwarded", "work"]);
    assert_eq!(m.size, body.len() as u64);
    assert_eq!(m.header_size, body.len() as u64 - "body 1\r\n".len() as u64);
    assert_eq!(m.received, 1_234_567_890);
    assert!((m.save_date - account::unix_now()).abs() < 10);
    // The temp file is gone, the usage counted.
    assert!(tmp_files(&dir).is_empty());
    assert_eq!(acc.disk_usage().unwrap(), body.len() as u64);
    let st = acc.mailbox_status(mb.id).unwrap();
    assert_eq!((st.total, st.unseen, st.deleted), (1, 0, 0));
    assert_eq!(st.keywords, ["$forwarded", "work"]);

    // And it all survives reopening.
    drop(acc);
    drop(store);
    let store = MailStore::open(&root(&dir)).unwrap();
    let acc = store.account("a").unwrap();
    assert_eq!(
        acc.messages(mb.id, &all()).unwrap(),
        rows,
        "same rows after reopen"
    );
    let mut f = acc.open_message(d.id).unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut back).unwrap();
    assert_eq!(back, body);
}

#[test]
fn failed_index_insert_leaves_no_file() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    fail_inserts(&acc, "");
    let err = acc
        .deliver("Inbox", &NewMessage::default(), &mut &msg(1)[..])
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
    assert!(
        msg_files(&dir, "a").is_empty(),
        "{:?}",
        msg_files(&dir, "a")
    );
    assert!(tmp_files(&dir).is_empty());
    let mb = inbox(&acc);
    assert_eq!(mb.uidnext, 1);
    assert!(uids(&acc, mb.id).is_empty());
    assert_eq!(acc.disk_usage().unwrap(), 0);
    assert_eq!(acc.highest_modseq().unwrap(), 2);

    // Batch: the third of three fails; none of them is visible.
    drop_and_fail_third(&acc);
    let staged: Vec<_> = (0..3)
        .map(|i| (NewMessage::default(), acc.stage(&mut &msg(i)[..]).unwrap()))
        .collect();
    assert_eq!(tmp_files(&dir).len(), 3);
    assert!(acc.append_staged("Inbox", staged).is_err());
    assert!(msg_files(&dir, "a").is_empty());
    assert!(tmp_files(&dir).is_empty());
    assert!(uids(&acc, mb.id).is_empty());

    // Once the failure is gone, delivery works and starts at UID 1.
    stop_failing(&acc);
    let d = deliver(&acc, "Inbox", &msg(9));
    assert_eq!(d.uid, 1);
    assert_eq!(msg_files(&dir, "a").len(), 1);
}

fn drop_and_fail_third(acc: &Account) {
    stop_failing(acc);
    fail_inserts(acc, "WHEN NEW.uid = 3");
}

#[test]
fn delivery_to_missing_mailbox_leaves_nothing() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let err = acc
        .deliver("Nope", &NewMessage::default(), &mut &msg(1)[..])
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchMailbox(_)), "{err}");
    let err = acc
        .deliver(
            "Inbox",
            &NewMessage {
                keywords: vec!["bad word".into()],
                ..NewMessage::default()
            },
            &mut &msg(1)[..],
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidKeyword(_)), "{err}");
    assert!(msg_files(&dir, "a").is_empty());
    assert!(tmp_files(&dir).is_empty());
}

#[test]
fn batch_append_is_one_commit() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let staged: Vec<_> = (0..5)
        .map(|i| (NewMessage::default(), acc.stage(&mut &msg(i)[..]).unwrap()))
        .collect();
    let out = acc.append_staged("Inbox", staged).unwrap();
    assert_eq!(
        out.iter().map(|d| d.uid).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(out.iter().all(|d| d.modseq == out[0].modseq));
    for (i, d) in out.iter().enumerate() {
        assert_eq!(std::fs::read(acc.message_path(d.id)).unwrap(), msg(i));
    }
    assert!(tmp_files(&dir).is_empty());
    assert_eq!(msg_files(&dir, "a").len(), 5);
}

#[test]
fn uids_never_reused_after_expunge_and_reopen() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let ds: Vec<_> = (0..3).map(|i| deliver(&acc, "Inbox", &msg(i))).collect();
    assert_eq!(ds.iter().map(|d| d.uid).collect::<Vec<_>>(), [1, 2, 3]);
    let del = FlagChange {
        op: FlagOp::Add,
        flags: Flags::DELETED,
        keywords: vec![],
    };
    acc.store_flags(mb, &[2..=3], &del, None).unwrap();
    let ex = acc.expunge_deleted(mb, None).unwrap();
    assert_eq!(ex.uids, [2, 3]);
    // The files are erased, nothing pending.
    assert!(!acc.message_path(ds[2].id).exists());
    assert!(acc.message_path(ds[0].id).exists());
    assert_eq!(
        acc.with_conn_for_test(|c| c
            .query_row("SELECT count(*) FROM pending_erase", [], |r| r
                .get::<_, i64>(0))
            .unwrap()),
        0
    );
    assert_eq!(acc.disk_usage().unwrap(), msg(0).len() as u64);
    drop(acc);
    drop(store);

    let store = MailStore::open(&root(&dir)).unwrap();
    let acc = store.account("a").unwrap();
    let d = deliver(&acc, "Inbox", &msg(7));
    assert_eq!(d.uid, 4);
    assert!(d.id > ds[2].id, "message IDs are not reused either");
    assert_eq!(uids(&acc, mb), [1, 4]);
    // Expunge of the highest UID, then reopen: UIDNEXT stays.
    acc.store_flags(mb, &[4..=4], &del, None).unwrap();
    acc.expunge_deleted(mb, Some(&[4..=4])).unwrap();
    drop(acc);
    drop(store);
    let store = MailStore::open(&root(&dir)).unwrap();
    let acc = store.account("a").unwrap();
    assert_eq!(inbox(&acc).uidnext, 5);
    assert_eq!(deliver(&acc, "Inbox", &msg(8)).uid, 5);
}

#[test]
fn uidvalidity_rules() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let uv0 = inbox(&acc).uidvalidity;
    let a = acc.create_mailbox("Lists", None).unwrap();
    assert_eq!(a.uidvalidity, uv0 + 1);
    assert_eq!(a.uidnext, 1);
    deliver(&acc, "Lists", &msg(1));
    acc.delete_mailbox("Lists").unwrap();
    let again = acc.create_mailbox("Lists", None).unwrap();
    assert_eq!(again.uidvalidity, uv0 + 2, "re-creation takes a new value");
    assert_ne!(again.id, a.id);
    assert_eq!(again.uidnext, 1);
    // Parents created on the way get their own values.
    let deep = acc.create_mailbox("x/y/z", None).unwrap();
    let x = acc.mailbox("x").unwrap();
    let y = acc.mailbox("x/y").unwrap();
    let all: BTreeSet<u32> = [x.uidvalidity, y.uidvalidity, deep.uidvalidity]
        .into_iter()
        .collect();
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|v| *v > uv0 + 2));
    // Rename gives new values too.
    let renamed = acc.rename_mailbox("x", "w").unwrap();
    assert!(renamed.uidvalidity > deep.uidvalidity);
    assert_eq!(renamed.id, x.id);
    let z = acc.mailbox("w/y/z").unwrap();
    assert_eq!(z.id, deep.id);
    assert!(z.uidvalidity > deep.uidvalidity);
}

#[test]
fn mailbox_names_and_hierarchy() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    assert_eq!(normalize_mailbox_name("INBOX").unwrap(), "Inbox");
    assert_eq!(normalize_mailbox_name("inbox/Sub").unwrap(), "Inbox/Sub");
    assert_eq!(normalize_mailbox_name("inboxes").unwrap(), "inboxes");
    assert_eq!(normalize_mailbox_name("cafe\u{301}").unwrap(), "caf\u{e9}");
    assert!(matches!(
        normalize_mailbox_name("\u{130}NBOX"),
        Err(StoreError::InvalidMailboxName { .. })
    ));
    for bad in ["", "/", "a/", "/a", "a//b", "a*", "a%b", "a\tb"] {
        assert!(
            matches!(
                acc.create_mailbox(bad, None),
                Err(StoreError::InvalidMailboxName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        acc.create_mailbox("inbox", None),
        Err(StoreError::MailboxExists(_))
    ));
    let sub = acc.create_mailbox("INBOX/Sub", None).unwrap();
    assert_eq!(sub.name, "Inbox/Sub");
    assert!(matches!(
        acc.delete_mailbox("Inbox"),
        Err(StoreError::NotAllowed(_))
    ));
    acc.create_mailbox("p/c", Some(SpecialUse::Archive))
        .unwrap();
    assert_eq!(
        acc.mailbox("p/c").unwrap().special_use,
        Some(SpecialUse::Archive)
    );
    assert!(matches!(
        acc.delete_mailbox("p"),
        Err(StoreError::HasChildren(_))
    ));
    assert!(matches!(
        acc.rename_mailbox("p", "p/q"),
        Err(StoreError::NotAllowed(_))
    ));
    assert!(matches!(
        acc.rename_mailbox("p", "Sent"),
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        acc.rename_mailbox("nope", "x"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    // Rename with children and a new parent.
    deliver(&acc, "p/c", &msg(1));
    acc.rename_mailbox("p", "new/parent").unwrap();
    let names: Vec<String> = acc
        .mailboxes()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains(&"new".to_string()));
    assert!(names.contains(&"new/parent/c".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("p")));
    let c = acc.mailbox("new/parent/c").unwrap();
    assert_eq!(uids(&acc, c.id), [1]);
    acc.delete_mailbox("new/parent/c").unwrap();
    acc.delete_mailbox("new/parent").unwrap();
    // Subscriptions outlive mailboxes.
    acc.subscribe("new/parent").unwrap();
    assert!(
        acc.subscriptions()
            .unwrap()
            .contains(&"new/parent".to_string())
    );
    assert!(acc.unsubscribe("new/parent").unwrap());
    assert!(!acc.unsubscribe("new/parent").unwrap());
}

#[test]
fn rename_inbox_moves_its_messages() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let before = inbox(&acc);
    for i in 0..3 {
        deliver(&acc, "Inbox", &msg(i));
    }
    let old = acc.rename_mailbox("INBOX", "Old mail").unwrap();
    assert_eq!(old.name, "Old mail");
    assert_eq!(uids(&acc, old.id), [1, 2, 3]);
    let after = inbox(&acc);
    assert_eq!(after.id, before.id);
    assert_eq!(after.uidvalidity, before.uidvalidity);
    assert!(uids(&acc, after.id).is_empty());
    assert_eq!(deliver(&acc, "Inbox", &msg(4)).uid, 4);
    let ch = acc.changes_since(after.id, 2).unwrap();
    assert_eq!(ch.expunged, [1, 2, 3]);
}

#[test]
fn modseq_flags_and_changes_since() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let d1 = deliver(&acc, "Inbox", &msg(1)); // modseq 3
    let d2 = deliver(&acc, "Inbox", &msg(2)); // modseq 4
    let d3 = deliver(&acc, "Inbox", &msg(3)); // modseq 5
    assert_eq!((d1.modseq, d2.modseq, d3.modseq), (3, 4, 5));

    let seen = FlagChange {
        op: FlagOp::Add,
        flags: Flags::SEEN,
        keywords: vec!["Label1".into()],
    };
    let out = acc.store_flags(mb, &[1..=2], &seen, None).unwrap();
    assert_eq!(out.modseq, Some(6));
    assert_eq!(
        out.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        out.changed
            .iter()
            .all(|m| m.modseq == 6 && m.keywords == ["label1"])
    );
    // The same change again changes nothing and takes no modseq.
    let out = acc.store_flags(mb, &[1..=2], &seen, None).unwrap();
    assert_eq!(out, StoreOutcome::default());
    assert_eq!(acc.highest_modseq().unwrap(), 6);

    // UNCHANGEDSINCE 5: UIDs 1 and 2 (modseq 6) are reported, 3 is changed.
    let flag = FlagChange {
        op: FlagOp::Add,
        flags: Flags::FLAGGED,
        keywords: vec![],
    };
    let out = acc.store_flags(mb, &[1..=3], &flag, Some(5)).unwrap();
    assert_eq!(out.modified, [1, 2]);
    assert_eq!(out.changed.len(), 1);
    assert_eq!(out.changed[0].uid, 3);
    assert_eq!(out.modseq, Some(7));

    // Replace and remove.
    let out = acc
        .store_flags(
            mb,
            &[1..=1],
            &FlagChange {
                op: FlagOp::Replace,
                flags: Flags::ANSWERED,
                keywords: vec!["x".into()],
            },
            None,
        )
        .unwrap();
    assert_eq!(out.changed[0].flags, Flags::ANSWERED);
    assert_eq!(out.changed[0].keywords, ["x"]);
    let out = acc
        .store_flags(
            mb,
            &[1..=1],
            &FlagChange {
                op: FlagOp::Remove,
                flags: Flags::ANSWERED,
                keywords: vec!["X".into()],
            },
            None,
        )
        .unwrap();
    assert_eq!(out.changed[0].flags, Flags::EMPTY);
    assert!(out.changed[0].keywords.is_empty());
    assert_eq!(out.modseq, Some(9));

    // Changes since 6: UID 3 (7) and UID 1 (9); then expunge UID 2 and move UID 3.
    let ch = acc.changes_since(mb, 6).unwrap();
    assert_eq!(ch.changed.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 3]);
    assert!(ch.expunged.is_empty());
    assert_eq!(ch.highest_modseq, 9);

    acc.store_flags(
        mb,
        &[2..=2],
        &FlagChange {
            op: FlagOp::Add,
            flags: Flags::DELETED,
            keywords: vec![],
        },
        None,
    )
    .unwrap(); // 10
    let ex = acc.expunge_deleted(mb, None).unwrap(); // 11
    assert_eq!(ex.uids, [2]);
    assert_eq!(ex.modseq, Some(11));
    let trash = acc.mailbox("Trash").unwrap();
    let mv = acc.move_messages(mb, &[3..=3], trash.id).unwrap(); // 12
    assert_eq!(mv.uids, [(3, 1)]);
    assert_eq!(mv.uidvalidity, trash.uidvalidity);

    let ch = acc.changes_since(mb, 9).unwrap();
    assert!(ch.changed.is_empty());
    assert_eq!(ch.expunged, [2, 3]);
    assert_eq!(ch.highest_modseq, 12);
    let ch = acc.changes_since(mb, 11).unwrap();
    assert_eq!(ch.expunged, [3]);
    let ch = acc.changes_since(trash.id, 2).unwrap();
    assert_eq!(ch.changed.len(), 1);
    assert_eq!(ch.changed[0].modseq, 12);
    assert_eq!(ch.changed[0].id, d3.id, "move keeps the file");
    assert_eq!(ch.changed[0].flags, Flags::FLAGGED);
    assert!(acc.message_path(d3.id).exists());
    let st = acc.mailbox_status(trash.id).unwrap();
    assert_eq!((st.total, st.unseen, st.highest_modseq), (1, 1, 12));
}

#[test]
fn copy_makes_new_files_and_uids() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    for i in 0..3 {
        deliver(&acc, "Inbox", &msg(i));
    }
    let archive = acc.mailbox("Archive").unwrap();
    let out = acc.copy_messages(mb, &[2..=3, 1..=1], archive.id).unwrap();
    assert_eq!(out.uids, [(1, 1), (2, 2), (3, 3)]);
    assert_eq!(out.uidvalidity, archive.uidvalidity);
    let copies = acc.messages(archive.id, &all()).unwrap();
    let origs = acc.messages(mb, &all()).unwrap();
    for (c, o) in copies.iter().zip(&origs) {
        assert_ne!(c.id, o.id);
        assert_eq!(
            std::fs::read(acc.message_path(c.id)).unwrap(),
            std::fs::read(acc.message_path(o.id)).unwrap()
        );
        assert_eq!(c.modseq, out.modseq.unwrap());
    }
    assert_eq!(msg_files(&dir, "a").len(), 6);
    let total: u64 = (0..3).map(|i| msg(i).len() as u64).sum();
    assert_eq!(acc.disk_usage().unwrap(), 2 * total);
    // Expunging the originals leaves the copies' files.
    acc.store_flags(
        mb,
        &all(),
        &FlagChange {
            op: FlagOp::Add,
            flags: Flags::DELETED,
            keywords: vec![],
        },
        None,
    )
    .unwrap();
    acc.expunge_deleted(mb, None).unwrap();
    assert_eq!(msg_files(&dir, "a").len(), 3);
    for (i, c) in copies.iter().enumerate() {
        assert_eq!(std::fs::read(acc.message_path(c.id)).unwrap(), msg(i));
    }
    // A copy whose index insert fails leaves no new file.
    fail_inserts(&acc, "");
    assert!(acc.copy_messages(archive.id, &all(), mb).is_err());
    assert_eq!(msg_files(&dir, "a").len(), 3);
}

#[test]
fn startup_repair() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let d = deliver(&acc, "Inbox", &msg(1));
    let msg_dir = root(&dir).join("accounts/a/msg");

    // A pending erase a crash left: file still there, row already gone.
    let gone = 500u64;
    let gone_path = msg_dir.join(fanout_dir_name(gone)).join(gone.to_string());
    std::fs::write(&gone_path, b"expunged").unwrap();
    acc.with_conn_for_test(|c| {
        c.execute("INSERT INTO pending_erase (message_id) VALUES (500)", [])
            .unwrap()
    });
    // A pending erase whose row is live must not lose the file.
    acc.with_conn_for_test(|c| {
        c.execute(
            "INSERT INTO pending_erase (message_id) VALUES (?1)",
            [d.id.get() as i64],
        )
        .unwrap()
    });
    // An orphan from a crash between link and commit, in a later fan-out directory.
    let orphan = 9000u64;
    let orphan_dir = msg_dir.join(fanout_dir_name(orphan));
    std::fs::create_dir(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join(orphan.to_string()), b"orphan").unwrap();
    std::fs::write(orphan_dir.join("junk-name"), b"ignored").unwrap();
    // A temp file a crash left.
    std::fs::write(root(&dir).join("tmp/123-4.msg"), b"partial").unwrap();
    drop(acc);
    drop(store);

    let store = MailStore::open(&root(&dir)).unwrap();
    assert!(tmp_files(&dir).is_empty());
    let acc = store.account("a").unwrap();
    assert!(!gone_path.exists());
    assert_eq!(std::fs::read(acc.message_path(d.id)).unwrap(), msg(1));
    assert_eq!(
        acc.with_conn_for_test(|c| c
            .query_row("SELECT count(*) FROM pending_erase", [], |r| r
                .get::<_, i64>(0))
            .unwrap()),
        0
    );
    let next = deliver(&acc, "Inbox", &msg(2));
    assert_eq!(next.id.get(), orphan + 1);
    assert_eq!(next.uid, 2);
    // The orphan itself is never shown, and its file is gone.
    assert_eq!(uids(&acc, inbox(&acc).id), [1, 2]);
    assert!(!orphan_dir.join(orphan.to_string()).exists());
    assert!(orphan_dir.join("junk-name").exists());
}

#[test]
fn delivery_steps_over_unknown_orphan() {
    // An orphan appearing while the account is open (not seen by the repair).
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let d1 = deliver(&acc, "Inbox", &msg(1));
    let next = d1.id.get() + 1;
    std::fs::write(acc.message_path(MessageId::new(next)), b"orphan").unwrap();
    let d2 = deliver(&acc, "Inbox", &msg(2));
    assert_eq!(d2.id.get(), next + 1);
    assert_eq!(std::fs::read(acc.message_path(d2.id)).unwrap(), msg(2));
    assert_eq!(
        std::fs::read(acc.message_path(MessageId::new(next))).unwrap(),
        b"orphan"
    );
}

#[test]
fn concurrent_deliveries() {
    let (dir, store) = setup();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let acc = store.account("a").unwrap();
                (i, deliver(&acc, "Inbox", &msg(i)))
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let acc = store.account("a").unwrap();
    let uid_set: BTreeSet<u32> = results.iter().map(|(_, d)| d.uid).collect();
    assert_eq!(uid_set, (1..=100).collect());
    for (i, d) in &results {
        assert_eq!(std::fs::read(acc.message_path(d.id)).unwrap(), msg(*i));
    }
    let listed = acc.messages(inbox(&acc).id, &all()).unwrap();
    assert_eq!(listed.len(), 100);
    assert_eq!(inbox(&acc).uidnext, 101);
    assert_eq!(msg_files(&dir, "a").len(), 100);
    assert!(tmp_files(&dir).is_empty());
}

#[test]
fn account_removal() {
    let (dir, store) = setup();
    let acc = store.account("gone").unwrap();
    deliver(&acc, "Inbox", &msg(1));
    let other = store.account("kept").unwrap();
    deliver(&other, "Inbox", &msg(2));
    store.remove_account("gone").unwrap();
    assert!(!store.account_exists("gone").unwrap());
    assert!(!root(&dir).join("accounts/gone").exists());
    // The open handle fails from now on.
    assert!(matches!(
        acc.mailboxes(),
        Err(StoreError::AccountRemoved(_))
    ));
    assert!(matches!(
        acc.deliver("Inbox", &NewMessage::default(), &mut &msg(3)[..]),
        Err(StoreError::AccountRemoved(_))
    ));
    assert_eq!(uids(&other, inbox(&other).id), [1]);
    // Removing again is fine; a new account with that name starts empty.
    store.remove_account("gone").unwrap();
    let fresh = store.account("gone").unwrap();
    assert!(uids(&fresh, inbox(&fresh).id).is_empty());
    assert_eq!(inbox(&fresh).uidnext, 1);
    assert!(std::fs::read_dir(root(&dir)).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(REMOVING_PREFIX)
    }));
}

#[test]
fn interrupted_account_removal_finishes_at_next_open() {
    let (dir, store) = setup();
    let acc = store.account("gone").unwrap();
    for i in 0..3 {
        deliver(&acc, "Inbox", &msg(i));
    }
    drop(acc);
    let moved = store.begin_account_removal("gone").unwrap().unwrap();
    assert!(
        moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(REMOVING_PREFIX)
    );
    // The crash came half-way through the deletion.
    std::fs::remove_file(moved.join(INDEX_FILE_NAME)).unwrap();
    assert!(moved.join("msg").exists());
    assert!(!store.account_exists("gone").unwrap());
    drop(store);

    let store = MailStore::open(&root(&dir)).unwrap();
    assert!(!moved.exists());
    assert!(!store.account_exists("gone").unwrap());
    let fresh = store.account("gone").unwrap();
    assert!(uids(&fresh, inbox(&fresh).id).is_empty());
}

#[test]
fn corrupt_rows_give_typed_errors() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    deliver(&acc, "Inbox", &msg(1));
    acc.with_conn_for_test(|c| c.execute("UPDATE messages SET flags = 200", []).unwrap());
    assert!(matches!(
        acc.messages(mb, &all()),
        Err(StoreError::Corrupt(_))
    ));
    acc.with_conn_for_test(|c| {
        c.execute("UPDATE messages SET flags = 0, size = -5", [])
            .unwrap_err()
    });
    acc.with_conn_for_test(|c| {
        c.execute(
            "UPDATE mailboxes SET special_use = 'Bogus' WHERE name = 'Sent'",
            [],
        )
        .unwrap()
    });
    assert!(matches!(acc.mailbox("Sent"), Err(StoreError::Corrupt(_))));
    assert!(matches!(acc.mailboxes(), Err(StoreError::Corrupt(_))));
}

#[test]
fn keywords_are_atoms() {
    assert_eq!(normalize_keyword("$Junk").unwrap(), "$junk");
    for bad in ["", "a b", "\\Seen", "a(", "a]", "é", "a\"", "a%", "a*"] {
        assert!(normalize_keyword(bad).is_err(), "{bad:?}");
    }
    assert!(normalize_keyword(&"k".repeat(MAX_KEYWORD_LEN + 1)).is_err());
    assert_eq!(Flags::from_name("\\seen"), Some(Flags::SEEN));
    assert_eq!(Flags::from_name("\\Recent"), None);
    assert_eq!(
        (Flags::SEEN | Flags::DELETED).names(),
        ["\\Seen", "\\Deleted"]
    );
}

#[test]
fn delivery_steps_are_in_durable_order() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let take = || layout::TRACE.with(|t| std::mem::take(&mut *t.borrow_mut()));
    take();
    deliver(&acc, "Inbox", &msg(1));
    assert_eq!(
        take(),
        [
            "fsync temp",
            "mkdir a",
            "fsync dir a",
            "fsync dir msg",
            "link 1",
            "fsync dir a",
            "insert 1",
            "commit"
        ]
    );
    // The directory exists now: no mkdir; a batch fsyncs it once before the commit.
    let staged: Vec<_> = (0..2)
        .map(|i| (NewMessage::default(), acc.stage(&mut &msg(i)[..]).unwrap()))
        .collect();
    acc.append_staged("Inbox", staged).unwrap();
    assert_eq!(
        take(),
        [
            "fsync temp",
            "fsync temp",
            "link 2",
            "link 3",
            "fsync dir a",
            "insert 2",
            "insert 3",
            "commit"
        ]
    );
    // A copy links the durable files, fsyncs once, then commits.
    let archive = acc.mailbox("Archive").unwrap();
    acc.copy_messages(inbox(&acc).id, &all(), archive.id)
        .unwrap();
    assert_eq!(
        take(),
        [
            "link 4",
            "link 5",
            "link 6",
            "fsync dir a",
            "insert 4",
            "insert 5",
            "insert 6",
            "commit"
        ]
    );
}

#[test]
fn other_handles_hear_of_changes() {
    let (_dir, store) = setup();
    let session = store.account("a").unwrap();
    let mut rx = session.watch_changes();
    assert_eq!(*rx.borrow_and_update(), 2);
    let deliverer = store.account("a").unwrap();
    let d = deliver(&deliverer, "Inbox", &msg(1));
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), d.modseq);
    // A write that changes nothing does not wake anyone.
    deliverer.subscribe("Inbox").unwrap();
    let mb = inbox(&deliverer).id;
    let none = FlagChange {
        op: FlagOp::Remove,
        flags: Flags::SEEN,
        keywords: vec![],
    };
    deliverer.store_flags(mb, &all(), &none, None).unwrap();
    assert!(!rx.has_changed().unwrap());
    deliverer.create_mailbox("x", None).unwrap();
    deliverer.delete_mailbox("x").unwrap();
    assert!(rx.has_changed().unwrap());
    let seen = *rx.borrow_and_update();
    assert_eq!(seen, d.modseq + 2);
    let ch = session.changes_since(mb, 2).unwrap();
    assert_eq!(ch.changed.len(), 1);
}

const CRASH_ROOT_ENV: &str = "POSTERN_STORE_CRASH_ROOT";

/// A message whose bytes follow from its tag (sizes from ~40 bytes to ~180 KB).
fn crash_msg(tag: &str) -> Vec<u8> {
    let n: usize = tag.bytes().map(usize::from).sum();
    let mut m = format!("Subject: {tag}\r\n\r\n").into_bytes();
    for i in 0..(n % 7) * 3000 {
        m.extend_from_slice(format!("line {i:055}\r\n").as_bytes());
    }
    m
}

/// The child of `kill_9_during_deliveries`: delivers from 8 threads until killed,
/// printing `ACK <uid> <id> <tag>` after each delivery returned.
#[test]
#[ignore = "run by kill_9_during_deliveries in a child process"]
fn crash_child() {
    let Some(root) = std::env::var_os(CRASH_ROOT_ENV) else {
        return;
    };
    let store = Arc::new(MailStore::open(Path::new(&root)).unwrap());
    let run = std::process::id();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let acc = store.account("crash").unwrap();
                for n in 0.. {
                    let tag = format!("r{run}-t{t}-n{n}");
                    let d = deliver(&acc, "Inbox", &crash_msg(&tag));
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {} {} {tag}", d.uid, d.id.get()).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn kill_9_during_deliveries() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let r = root(&dir);
    let mut acked: Vec<(u32, u64, String)> = Vec::new();
    let mut last_uid = 0;
    for round in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::tests::crash_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CRASH_ROOT_ENV, &r)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut this_round = 0;
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let mut parts = rest.splitn(3, ' ');
                let uid = parts.next().unwrap().parse().unwrap();
                let id = parts.next().unwrap().parse().unwrap();
                acked.push((uid, id, parts.next().unwrap().to_string()));
                this_round += 1;
                if this_round == 40 + round * 17 {
                    child.kill().unwrap();
                }
            }
        }
        child.wait().unwrap();
        assert!(
            this_round >= 40,
            "round {round}: only {this_round} deliveries"
        );

        // After the crash: every acknowledged message is there byte for byte, every
        // visible message is whole, UIDs went on from before.
        let store = MailStore::open(&r).unwrap();
        assert!(tmp_files(&dir).is_empty());
        let acc = store.account("crash").unwrap();
        let rows = acc.messages(inbox(&acc).id, &all()).unwrap();
        let by_uid: std::collections::HashMap<u32, &MessageInfo> =
            rows.iter().map(|m| (m.uid, m)).collect();
        for (uid, id, tag) in &acked {
            let m = by_uid
                .get(uid)
                .unwrap_or_else(|| panic!("acked UID {uid} lost"));
            assert_eq!(m.id.get(), *id);
            assert_eq!(
                std::fs::read(acc.message_path(m.id)).unwrap(),
                crash_msg(tag)
            );
        }
        for m in &rows {
            let bytes = std::fs::read(acc.message_path(m.id)).unwrap();
            assert_eq!(bytes.len() as u64, m.size);
            let first = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            let tag = first
                .strip_prefix("Subject: ")
                .and_then(|s| s.split("\r\n").next())
                .unwrap();
            assert!(bytes == crash_msg(tag), "visible {tag} is not whole");
        }
        let max_uid = rows.iter().map(|m| m.uid).max().unwrap();
        assert!(max_uid > last_uid);
        let uid_set: BTreeSet<u32> = rows.iter().map(|m| m.uid).collect();
        assert_eq!(uid_set.len(), rows.len());
        // A delivery after the crash works and takes a higher UID.
        let d = deliver(&acc, "Inbox", &crash_msg(&format!("parent-{round}")));
        assert!(d.uid > max_uid);
        last_uid = d.uid;
    }
}

// View pins: expunged files stay while a session's view may still show them.

fn mark_deleted(acc: &Account, mb: MailboxId, uids: &[UidRange]) {
    let del = FlagChange {
        op: FlagOp::Add,
        flags: Flags::DELETED,
        keywords: vec![],
    };
    acc.store_flags(mb, uids, &del, None).unwrap();
}

fn pending_erases(acc: &Account) -> Vec<(i64, i64)> {
    acc.with_conn_for_test(|c| {
        c.prepare("SELECT message_id, modseq FROM pending_erase ORDER BY message_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    })
}

#[test]
fn pinned_expunge_keeps_the_file_until_the_pin_passes() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let d1 = deliver(&acc, "Inbox", &msg(1));
    let d2 = deliver(&acc, "Inbox", &msg(2));
    mark_deleted(&acc, mb, &[1..=1]);
    // A session selects Inbox: its pin stands at the highest modseq.
    let mut pin = acc.pin_view(acc.highest_modseq().unwrap());
    assert_eq!(acc.pin_count(), 1);
    let before = acc.messages(mb, &[1..=1]).unwrap().remove(0);

    let ex = acc.expunge_deleted(mb, None).unwrap();
    let m = ex.modseq.unwrap();
    assert_eq!(ex.uids, [1]);
    assert_eq!(uids(&acc, mb), [2]);
    assert_eq!(
        std::fs::read(acc.message_path(d1.id)).unwrap(),
        msg(1),
        "kept for the pinned view"
    );
    assert_eq!(pending_erases(&acc), [(d1.id.get() as i64, m as i64)]);
    // Disk usage counts the live messages only.
    assert_eq!(acc.disk_usage().unwrap(), msg(2).len() as u64);
    // The view can still get the entry, as it was, under its UID.
    assert_eq!(acc.retained_messages(mb, &[1, 2, 7]).unwrap(), [before]);
    // Nothing is erased while the pin is below the expunge, not even on request.
    acc.process_pending_erases().unwrap();
    assert!(acc.message_path(d1.id).exists());
    assert!(!pin.advance(m - 1));
    assert!(!pin.advance(m - 2), "a lower value is ignored");
    assert_eq!(pin.modseq(), m - 1);
    acc.process_pending_erases().unwrap();
    assert!(acc.message_path(d1.id).exists());
    // Once the view has taken the expunge in, the file goes.
    assert!(pin.advance(m));
    acc.process_pending_erases().unwrap();
    assert!(!acc.message_path(d1.id).exists());
    assert!(acc.message_path(d2.id).exists());
    assert!(pending_erases(&acc).is_empty());
    assert!(acc.retained_messages(mb, &[1]).unwrap().is_empty());
    // Nothing is due any more.
    assert!(!pin.advance(m + 5));
}

#[test]
fn erases_wait_for_the_lowest_pin_and_dropping_pins_releases_them() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let ds: Vec<_> = (0..3).map(|i| deliver(&acc, "Inbox", &msg(i))).collect();
    mark_deleted(&acc, mb, &all());
    let low = acc.pin_view(acc.highest_modseq().unwrap());
    // Another handle of the same account (another session) shares the pins.
    let other = store.account("a").unwrap();
    let mut high = other.pin_view(other.highest_modseq().unwrap());
    assert_eq!(acc.pin_count(), 2);
    other.expunge_deleted(mb, Some(&[1..=1])).unwrap();
    assert!(
        !high.advance(other.highest_modseq().unwrap()),
        "low still holds it"
    );
    assert!(acc.message_path(ds[0].id).exists());
    drop(low);
    // Dropped outside a runtime: the due erase ran at once.
    assert!(!acc.message_path(ds[0].id).exists());
    assert!(acc.message_path(ds[1].id).exists());
    // The remaining pin holds the next expunge; dropping it erases.
    acc.expunge_deleted(mb, Some(&[2..=2])).unwrap();
    assert!(acc.message_path(ds[1].id).exists());
    drop(high);
    assert_eq!(acc.pin_count(), 0);
    assert!(!acc.message_path(ds[1].id).exists());
    // Without pins an expunge erases at once.
    acc.expunge_deleted(mb, None).unwrap();
    assert!(!acc.message_path(ds[2].id).exists());
    assert!(pending_erases(&acc).is_empty());
    // A pin taken after an expunge does not hold it.
    let d = deliver(&acc, "Inbox", &msg(9));
    mark_deleted(&acc, mb, &all());
    let pin = acc.pin_view(0);
    acc.expunge_deleted(mb, None).unwrap();
    assert!(acc.message_path(d.id).exists());
    let late = acc.pin_view(acc.highest_modseq().unwrap());
    drop(pin);
    assert!(
        !acc.message_path(d.id).exists(),
        "the later pin is above the expunge"
    );
    drop(late);
}

#[test]
fn dropping_a_pin_inside_a_runtime_erases_on_a_blocking_thread() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let d = deliver(&acc, "Inbox", &msg(1));
    mark_deleted(&acc, mb, &all());
    let pin = acc.pin_view(acc.highest_modseq().unwrap());
    acc.expunge_deleted(mb, None).unwrap();
    let path = acc.message_path(d.id);
    assert!(path.exists());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async move {
        drop(pin);
        for _ in 0..200 {
            if !path.exists() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("file not erased after the pin was dropped");
    });
}

#[test]
fn moved_messages_stay_fetchable_under_their_old_uid() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let archive = acc.mailbox("Archive").unwrap().id;
    let d = deliver(&acc, "Inbox", &msg(1));
    let mut pin = acc.pin_view(acc.highest_modseq().unwrap());
    let moved = acc.move_messages(mb, &all(), archive).unwrap();
    assert_eq!(moved.uids, [(1, 1)]);
    let kept = acc.retained_messages(mb, &[1]).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].id, kept[0].uid), (d.id, 1));
    // Expunged from its new mailbox: the file stays for the view of Inbox, which has
    // not processed the move yet.
    mark_deleted(&acc, archive, &all());
    let ex = acc.expunge_deleted(archive, None).unwrap();
    assert!(acc.message_path(d.id).exists());
    let kept = acc.retained_messages(mb, &[1]).unwrap();
    assert_eq!((kept[0].id, kept[0].uid), (d.id, 1));
    assert!(kept[0].flags.contains(Flags::DELETED));
    assert!(pin.advance(ex.modseq.unwrap()));
    acc.process_pending_erases().unwrap();
    assert!(!acc.message_path(d.id).exists());
    assert!(acc.retained_messages(mb, &[1]).unwrap().is_empty());
}

#[test]
fn deleted_mailbox_files_wait_for_pins() {
    let (_dir, store) = setup();
    let acc = store.account("a").unwrap();
    acc.create_mailbox("Old", None).unwrap();
    let d = deliver(&acc, "Old", &msg(1));
    let pin = acc.pin_view(acc.highest_modseq().unwrap());
    acc.delete_mailbox("Old").unwrap();
    assert!(acc.message_path(d.id).exists());
    assert_eq!(pending_erases(&acc).len(), 1);
    assert_eq!(acc.disk_usage().unwrap(), 0);
    drop(pin);
    assert!(!acc.message_path(d.id).exists());
    assert!(pending_erases(&acc).is_empty());
}

#[test]
fn pending_erases_survive_a_crash_and_are_done_at_open() {
    let (dir, store) = setup();
    let acc = store.account("a").unwrap();
    let mb = inbox(&acc).id;
    let d = deliver(&acc, "Inbox", &msg(1));
    mark_deleted(&acc, mb, &all());
    let pin = acc.pin_view(acc.highest_modseq().unwrap());
    let m = acc.expunge_deleted(mb, None).unwrap().modseq.unwrap();
    let path = acc.message_path(d.id);
    assert_eq!(pending_erases(&acc), [(d.id.get() as i64, m as i64)]);
    // The process dies with the session's pin held: nothing runs its Drop, and the
    // account's connection stays open as a crashed process's would be gone.
    std::mem::forget(pin);
    assert!(path.exists());

    let store = MailStore::open(&root(&dir)).unwrap();
    let acc = store.account("a").unwrap();
    assert!(!path.exists(), "the start-up repair erased it");
    assert!(pending_erases(&acc).is_empty());
    assert_eq!(acc.pin_count(), 0);
    assert!(acc.retained_messages(mb, &[1]).unwrap().is_empty());
}

#[test]
fn version_1_pending_erases_migrate_and_are_done_at_open() {
    let (dir, store) = setup();
    drop(store);
    // An index made by version 1 of the schema, with a pending erase and its file.
    let account_dir = root(&dir).join("accounts/old");
    std::fs::create_dir_all(account_dir.join("msg/a")).unwrap();
    {
        let mut conn = rusqlite::Connection::open(account_dir.join(INDEX_FILE_NAME)).unwrap();
        schema::migrations().to_version(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO meta VALUES (1, 10, 5, 3, 0);
             INSERT INTO pending_erase (message_id) VALUES (7);",
        )
        .unwrap();
    }
    let file = account_dir.join("msg/a/7");
    std::fs::write(&file, b"expunged").unwrap();
    let store = MailStore::open(&root(&dir)).unwrap();
    let acc = store.account("old").unwrap();
    assert!(!file.exists());
    assert!(pending_erases(&acc).is_empty());
    let tombstone_has_message_id: bool = acc.with_conn_for_test(|c| {
        c.query_row(
            "SELECT count(*) FROM pragma_table_info('expunged') WHERE name = 'message_id'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert!(tombstone_has_message_id);
}
