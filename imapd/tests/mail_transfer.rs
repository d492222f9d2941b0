//! Import and export on imapd's store socket, end to end: a real authd issuing
//! mail-access tickets over its admin socket, a real postern-imapd redeeming them, the
//! ipc store client, and the mail store read back from disk.

mod common;
#[path = "support/snapshot.rs"]
mod snapshot;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{ACCOUNT, Server};
use postern_imapd::store::INBOX;
use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::store::{ImportedMessage, SystemFlag};
use postern_ipc::store_client::{IMPORT_COMMIT_TIMEOUT, StoreClient, StoreClientError};
use postern_ipc::web::MailPurpose;
use snapshot::snapshot;

const TIMEOUT: Duration = Duration::from_secs(20);

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: sender@example.org\r\nTo: mjl@example.org\r\nSubject: imported {n}\r\nMessage-ID: <{n}@example.org>\r\n\r\nBody {n}.\r\n"
    )
    .into_bytes()
}

fn message_file(bytes: &[u8]) -> std::fs::File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file
}

fn imported(mailbox: &str, n: usize) -> ImportedMessage {
    ImportedMessage {
        mailbox: mailbox.into(),
        flags: if n.is_multiple_of(2) {
            vec![SystemFlag::Seen, SystemFlag::Flagged]
        } else {
            vec![]
        },
        keywords: if n.is_multiple_of(3) {
            vec!["$Forwarded".into(), "project".into()]
        } else {
            vec![]
        },
        received: 1_600_000_000 + n as i64,
    }
}

async fn store_client(server: &Server) -> StoreClient {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match StoreClient::connect(&server.store_socket(), TIMEOUT).await {
            Ok(client) => return client,
            Err(e) => {
                assert!(Instant::now() < deadline, "store socket not ready: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn ticket(server: &Server, account: &str, purpose: MailPurpose) -> Secret<String> {
    match server
        .admin_ok(AdminRequest::MailTicket {
            account: account.into(),
            purpose,
        })
        .await
    {
        AdminResponse::MailTicket(issued) => {
            assert_eq!(issued.account, account);
            assert_eq!(issued.purpose, purpose);
            issued.ticket
        }
        other => panic!("{other:?}"),
    }
}

/// Files in the store's temp directory and message files of an account on disk.
fn files_on_disk(server: &Server, account: &str) -> (usize, usize) {
    let tmp = std::fs::read_dir(server.store_root().join("tmp"))
        .unwrap()
        .count();
    let msg = server
        .store_root()
        .join("accounts")
        .join(account)
        .join("msg");
    let mut messages = 0;
    if let Ok(dirs) = std::fs::read_dir(&msg) {
        for dir in dirs {
            messages += std::fs::read_dir(dir.unwrap().path()).unwrap().count();
        }
    }
    (tmp, messages)
}

#[tokio::test]
async fn an_import_is_invisible_until_its_commit_and_then_complete() {
    let server = Server::start().await;
    let mut client = store_client(&server).await;
    let account = client
        .import_begin(
            &ticket(&server, ACCOUNT, MailPurpose::Import).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(account, ACCOUNT);
    let before = snapshot(&server.store_root(), ACCOUNT);
    assert_eq!(before.len(), 6, "the default mailboxes");
    assert_eq!(
        client.import_mailbox("Empty/Child", TIMEOUT).await.unwrap(),
        "Empty/Child"
    );
    for n in 0..6 {
        let mailbox = if n < 3 { "Lists/Rust" } else { "inbox" };
        let size = client
            .import_message(&message_file(&message(n)), &imported(mailbox, n), TIMEOUT)
            .await
            .unwrap();
        assert_eq!(size, message(n).len() as u64);
    }
    // A bad message is refused alone; the import goes on.
    let err = client
        .import_message(&message_file(b""), &imported(INBOX, 9), TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    let mut bad = imported(INBOX, 9);
    bad.keywords = vec!["not an atom".into()];
    let err = client
        .import_message(&message_file(&message(9)), &bad, TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");

    // Staged, but nothing visible: no mailbox, no message, in the index or in msg/.
    assert_eq!(snapshot(&server.store_root(), ACCOUNT), before);
    let (tmp, placed) = files_on_disk(&server, ACCOUNT);
    assert_eq!((tmp, placed), (6, 0));

    let summary = client.import_commit(IMPORT_COMMIT_TIMEOUT).await.unwrap();
    assert_eq!(summary.messages, 6);
    let names: Vec<(&str, u64, bool)> = summary
        .mailboxes
        .iter()
        .map(|m| (m.mailbox.as_str(), m.messages, m.created))
        .collect();
    assert_eq!(
        names,
        [
            ("Empty/Child", 0, true),
            ("Inbox", 3, false),
            ("Lists/Rust", 3, true)
        ]
    );
    assert_eq!(files_on_disk(&server, ACCOUNT), (0, 6));
    let after = snapshot(&server.store_root(), ACCOUNT);
    let find = |name: &str| after.iter().find(|m| m.0 == name).unwrap().clone();
    for name in ["Empty", "Empty/Child", "Lists", "Lists/Rust"] {
        assert!(find(name).1, "{name} not subscribed");
    }
    let rust = find("Lists/Rust").2;
    assert_eq!(rust.len(), 3);
    for (n, (flags, keywords, received, bytes)) in rust.into_iter().enumerate() {
        assert_eq!(bytes, message(n));
        assert_eq!(received, 1_600_000_000 + n as i64);
        assert_eq!(flags.contains(&"\\Seen"), n.is_multiple_of(2));
        assert_eq!(
            keywords.contains(&"project".to_string()),
            n.is_multiple_of(3)
        );
    }
    assert_eq!(find(INBOX).2.len(), 3);

    // The connection can run the next import (with a new ticket).
    let account = client
        .import_begin(
            &ticket(&server, ACCOUNT, MailPurpose::Import).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(account, ACCOUNT);
}

#[tokio::test]
async fn an_abort_or_a_closed_connection_leaves_the_store_as_it_was() {
    let server = Server::start().await;
    let mut before = None;
    let mut client = store_client(&server).await;
    for round in 0..2 {
        client
            .import_begin(
                &ticket(&server, ACCOUNT, MailPurpose::Import).await,
                TIMEOUT,
            )
            .await
            .unwrap();
        let before = before.get_or_insert_with(|| snapshot(&server.store_root(), ACCOUNT));
        assert!(!before.is_empty());
        client.import_mailbox("New", TIMEOUT).await.unwrap();
        for n in 0..4 {
            client
                .import_message(&message_file(&message(n)), &imported("New/Sub", n), TIMEOUT)
                .await
                .unwrap();
        }
        assert_eq!(files_on_disk(&server, ACCOUNT).0, 4);
        if round == 0 {
            client.import_abort(TIMEOUT).await.unwrap();
        } else {
            drop(client);
            break;
        }
        assert_eq!(files_on_disk(&server, ACCOUNT), (0, 0));
        assert_eq!(&snapshot(&server.store_root(), ACCOUNT), before);
    }
    let before = before.unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while files_on_disk(&server, ACCOUNT).0 != 0 {
        assert!(Instant::now() < deadline, "temp files stay after a close");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(files_on_disk(&server, ACCOUNT), (0, 0));
    assert_eq!(snapshot(&server.store_root(), ACCOUNT), before);
}

#[tokio::test]
async fn a_kill_of_imapd_during_an_import_leaves_nothing_behind() {
    let mut server = Server::start().await;
    let mut client = store_client(&server).await;
    client
        .import_begin(
            &ticket(&server, ACCOUNT, MailPurpose::Import).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    let before = snapshot(&server.store_root(), ACCOUNT);
    assert!(!before.is_empty());
    for n in 0..5 {
        client
            .import_message(&message_file(&message(n)), &imported("Crash", n), TIMEOUT)
            .await
            .unwrap();
    }
    assert_eq!(files_on_disk(&server, ACCOUNT).0, 5);
    // SIGKILL: no destructor runs.
    server.restart_imapd().await;
    assert!(client.import_commit(TIMEOUT).await.is_err());
    assert_eq!(files_on_disk(&server, ACCOUNT), (0, 0));
    assert_eq!(snapshot(&server.store_root(), ACCOUNT), before);
}

#[tokio::test]
async fn tickets_open_one_account_for_one_purpose_once_and_not_after_expiry() {
    let server = Server::start().await;
    postern_testkit::create_account(
        &server.admin_socket(),
        "other",
        "other@example.org",
        "other password 1234",
    )
    .await;
    let refused = |e: StoreClientError| match e {
        StoreClientError::Refused(r) => r.to_string(),
        other => panic!("not refused: {other}"),
    };

    // An export ticket does not open an import, nor an import ticket an export.
    let export = ticket(&server, ACCOUNT, MailPurpose::Export).await;
    let mut client = store_client(&server).await;
    let why = refused(client.import_begin(&export, TIMEOUT).await.unwrap_err());
    assert!(why.contains("ticket refused"), "{why}");
    let import = ticket(&server, ACCOUNT, MailPurpose::Import).await;
    let mut client = store_client(&server).await;
    refused(client.export_begin(&import, TIMEOUT).await.unwrap_err());
    // Each was used up by the refusal.
    let mut client = store_client(&server).await;
    refused(client.import_begin(&import, TIMEOUT).await.unwrap_err());
    // A made-up ticket.
    let mut client = store_client(&server).await;
    refused(
        client
            .import_begin(&Secret("made-up".to_string()), TIMEOUT)
            .await
            .unwrap_err(),
    );

    // An expired ticket (its deadline moved into the past in authd's database).
    let expired = ticket(&server, ACCOUNT, MailPurpose::Import).await;
    let db = rusqlite::Connection::open(server.dir.path().join("data/authd/auth.db")).unwrap();
    db.busy_timeout(TIMEOUT).unwrap();
    db.execute("UPDATE mail_tickets SET expires = 1", [])
        .unwrap();
    let mut client = store_client(&server).await;
    refused(client.import_begin(&expired, TIMEOUT).await.unwrap_err());

    // A ticket for another account opens that account only.
    let before = snapshot(&server.store_root(), ACCOUNT);
    let mut client = store_client(&server).await;
    let opened = client
        .import_begin(
            &ticket(&server, "other", MailPurpose::Import).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(opened, "other");
    client
        .import_message(&message_file(&message(1)), &imported(INBOX, 1), TIMEOUT)
        .await
        .unwrap();
    client.import_commit(TIMEOUT).await.unwrap();
    assert_eq!(snapshot(&server.store_root(), ACCOUNT), before);
    let other = snapshot(&server.store_root(), "other");
    let inbox = &other.iter().find(|m| m.0 == INBOX).unwrap().2;
    assert_eq!(inbox.len(), 1);

    // Import requests without a running import are misuse, and close the connection.
    let mut client = store_client(&server).await;
    assert!(matches!(
        client.import_commit(TIMEOUT).await,
        Err(StoreClientError::Refused(_))
    ));
}

#[tokio::test]
async fn an_export_lists_everything_and_hands_out_read_only_files() {
    let server = Server::start().await;
    let mut client = store_client(&server).await;
    client
        .import_begin(
            &ticket(&server, ACCOUNT, MailPurpose::Import).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    // More than a page of messages.
    let count = postern_imapd::mail_transfer::EXPORT_PAGE_MESSAGES + 7;
    let file = message_file(&message(0));
    for n in 0..count {
        let mut meta = imported("Big", n);
        meta.keywords = vec![format!("k{}", n % 5)];
        client.import_message(&file, &meta, TIMEOUT).await.unwrap();
    }
    client.import_commit(IMPORT_COMMIT_TIMEOUT).await.unwrap();

    let mut client = store_client(&server).await;
    let opened = client
        .export_begin(
            &ticket(&server, ACCOUNT, MailPurpose::Export).await,
            TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(opened, ACCOUNT);
    let mailboxes = client.export_mailboxes(TIMEOUT).await.unwrap();
    let names: Vec<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["Archive", "Big", "Drafts", "Inbox", "Junk", "Sent", "Trash"]
    );
    let big = mailboxes.iter().find(|m| m.name == "Big").unwrap();
    assert_eq!(big.messages, count as u64);
    assert!(big.subscribed);
    let listed = client.export_all_messages("Big", TIMEOUT).await.unwrap();
    assert_eq!(listed.len(), count);
    for (n, m) in listed.iter().enumerate() {
        assert_eq!(m.uid as usize, n + 1);
        assert_eq!(m.keywords, [format!("k{}", n % 5)]);
        assert_eq!(m.received, 1_600_000_000 + n as i64);
        assert_eq!(m.flags.contains(&SystemFlag::Seen), n.is_multiple_of(2));
    }
    let (mut file, size) = client.export_open("Big", 3, TIMEOUT).await.unwrap();
    assert_eq!(size, message(0).len() as u64);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, message(0));
    assert!(file.write_all(b"x").is_err(), "the fd must be read-only");
    // A missing message is a failure of that request only.
    let err = client
        .export_open("Big", 99_999, TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    let err = client
        .export_messages("Nope", 0, TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    client.export_open("Big", 1, TIMEOUT).await.unwrap();
}
