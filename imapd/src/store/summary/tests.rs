//! Summaries stored with messages, kept through COPY and MOVE, erased with their
//! files, and filled in (resumably) for stores of index version 2.

use super::*;
use crate::store::{Delivered, FlagChange, FlagOp, Flags, MailStore, NewMessage};

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: r@example.org\r\n\
         Subject: Re: topic {n}\r\nDate: 1 Jan 2020 10:00:0{} +0000\r\n\
         Message-ID: <m{n}@example.org>\r\nReferences: <m0@example.org>\r\n\r\n\
         Preview of {n}\r\n",
        n % 10
    )
    .into_bytes()
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

fn mailbox_id(acc: &Account, name: &str) -> MailboxId {
    acc.mailbox(name).unwrap().id
}

fn summary_count(acc: &Account) -> i64 {
    acc.with_conn_for_test(|c| {
        c.query_row("SELECT count(*) FROM message_summaries", [], |r| r.get(0))
            .unwrap()
    })
}

fn expected(n: usize) -> MessageSummary {
    MessageSummary {
        preview: String::new(),
        ..MessageSummary::of(&message(n))
    }
}

#[test]
fn stored_with_the_message_copied_moved_and_erased_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = MailStore::open(&dir.path().join("imapd")).unwrap();
    let acc = store.account("alice").unwrap();
    let inbox = mailbox_id(&acc, "INBOX");
    let first = deliver(&acc, "INBOX", &message(1));
    deliver(&acc, "INBOX", &message(2));

    let entries = acc.sort_entries(inbox, &[1..=u32::MAX]).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].uid, 1);
    assert_eq!(entries[0].size, message(1).len() as u64);
    assert_eq!(entries[0].received, 1_700_000_000);
    assert_eq!(entries[0].summary, expected(1));
    assert_eq!(entries[0].summary.base_subject, "topic 1");
    assert_eq!(entries[1].summary, expected(2));
    assert_eq!(acc.previews(&[first.id]).unwrap(), ["Preview of 1"]);

    // COPY: a new file with the same summary; MOVE: the same file.
    let archive = mailbox_id(&acc, "Archive");
    let trash = mailbox_id(&acc, "Trash");
    acc.copy_messages(inbox, &[1..=1], archive).unwrap();
    acc.move_messages(inbox, &[2..=2], trash).unwrap();
    assert_eq!(
        acc.sort_entries(archive, &[1..=u32::MAX]).unwrap()[0].summary,
        expected(1)
    );
    assert_eq!(
        acc.sort_entries(trash, &[1..=u32::MAX]).unwrap()[0].summary,
        expected(2)
    );
    assert_eq!(summary_count(&acc), 3);

    // Expunging erases the file (no session pins it) and its summary.
    let deleted = FlagChange {
        op: FlagOp::Add,
        flags: Flags::DELETED,
        keywords: Vec::new(),
    };
    acc.store_flags(inbox, &[1..=u32::MAX], &deleted, None)
        .unwrap();
    acc.expunge_deleted(inbox, None).unwrap();
    assert_eq!(summary_count(&acc), 2);
    assert_eq!(acc.previews(&[first.id]).unwrap(), [""]);
    acc.delete_mailbox("Trash").unwrap();
    assert_eq!(summary_count(&acc), 1);
}

/// Turns the account's index back into version 2 (no summaries table).
fn downgrade_to_version_2(acc: &Account) {
    acc.with_conn_for_test(|c| {
        c.execute_batch("DROP TABLE message_summaries; PRAGMA user_version = 2;")
            .unwrap();
    });
}

#[test]
fn version_2_stores_get_their_summaries_at_open_resumably() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("imapd");
    let count = FILL_BATCH * 2 + 7;
    {
        let store = MailStore::open(&root).unwrap();
        let acc = store.account("bob").unwrap();
        for n in 0..count {
            deliver(&acc, "INBOX", &message(n));
        }
        // A message whose file is gone still gets a (empty) summary.
        let lost = deliver(&acc, "Archive", &message(9999));
        std::fs::remove_file(acc.message_path(lost.id)).unwrap();
        downgrade_to_version_2(&acc);
    }
    {
        // The migration to version 3 fills in every summary.
        let store = MailStore::open(&root).unwrap();
        let acc = store.account("bob").unwrap();
        let inbox = mailbox_id(&acc, "INBOX");
        let entries = acc.sort_entries(inbox, &[1..=u32::MAX]).unwrap();
        assert_eq!(entries.len(), count);
        for (n, entry) in entries.iter().enumerate() {
            assert_eq!(entry.summary, expected(n), "message {n}");
        }
        let archive = mailbox_id(&acc, "Archive");
        let lost = acc.sort_entries(archive, &[1..=u32::MAX]).unwrap();
        assert_eq!(lost[0].summary, MessageSummary::default());
        assert_eq!(summary_count(&acc), i64::try_from(count + 1).unwrap());

        // An interrupted fill (some rows written, then a crash) goes on at the next
        // open: forget all but the first batch's rows.
        acc.with_conn_for_test(|c| {
            c.execute(
                "DELETE FROM message_summaries WHERE message_id > ?1",
                params![FILL_BATCH as i64],
            )
            .unwrap();
        });
    }
    let store = MailStore::open(&root).unwrap();
    let acc = store.account("bob").unwrap();
    let inbox = mailbox_id(&acc, "INBOX");
    let entries = acc.sort_entries(inbox, &[1..=u32::MAX]).unwrap();
    for (n, entry) in entries.iter().enumerate() {
        assert_eq!(entry.summary, expected(n), "message {n}");
    }
    assert_eq!(summary_count(&acc), i64::try_from(count + 1).unwrap());
}
