//! imapd's local store socket and account data removal, end to end: a real authd and
//! a real postern-imapd, the ipc store client, and the mail store read back from disk.

mod common;

use std::io::{Read, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ACCOUNT, Server};
use postern_imapd::account_removal::{RemovalGate, run_account_removals};
use postern_imapd::store::{INBOX, MailStore};
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;
use postern_ipc::fdpass::FdPassError;
use postern_ipc::frame::{decode_payload, encode_payload};
use postern_ipc::seqpacket::{SeqpacketConnection, SeqpacketError};
use postern_ipc::store::{
    Delivery, FailureKind, MAX_STORE_REQUEST, MAX_STORE_RESPONSE, STORE_PROTOCOL_VERSION,
    StoreRefusal, StoreRequest, StoreResponse, SystemFlag,
};
use postern_ipc::store_client::{StoreClient, StoreClientError};

const TIMEOUT: Duration = Duration::from_secs(20);

const MESSAGE: &[u8] = b"From: sender@example.org\r\nTo: mjl@example.org\r\nSubject: through the store socket\r\n\r\nHello,\r\n\r\nthis came as an fd.\r\n";

fn delivery(account: &str, mailbox: Option<&str>) -> Delivery {
    Delivery {
        account: account.into(),
        mailbox: mailbox.map(Into::into),
        flags: vec![SystemFlag::Seen],
        keywords: vec!["$Forwarded".into()],
        received: 1_700_000_000,
    }
}

fn message_file(bytes: &[u8]) -> std::fs::File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(bytes).unwrap();
    file
}

/// Connects once imapd's store socket accepts.
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

/// One stored message as read back: (uid, flags, keywords, received, bytes).
type StoredMessage = (u32, Vec<&'static str>, Vec<String>, i64, Vec<u8>);

/// The messages of one mailbox of an account, read from the store on disk (imapd keeps
/// running; its index is in WAL mode).
fn stored_messages(root: &Path, account: &str, mailbox: &str) -> Vec<StoredMessage> {
    let store = MailStore::open(root).unwrap();
    let account = store.account(account).unwrap();
    let mailbox = account.mailbox(mailbox).unwrap();
    account
        .messages(mailbox.id, &[1..=u32::MAX])
        .unwrap()
        .into_iter()
        .map(|m| {
            let mut bytes = Vec::new();
            account
                .open_message(m.id)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            (m.uid, m.flags.names(), m.keywords, m.received, bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_message_delivered_through_the_store_socket_is_stored_byte_for_byte() {
    let server = Server::start().await;
    let mut client = store_client(&server).await;

    let mut file = message_file(MESSAGE);
    // The file offset is at the end: imapd reads from the start regardless.
    let first = client
        .deliver(&file, &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(first.mailbox, INBOX);
    assert_eq!(first.uid, 1);
    assert_eq!(first.size, MESSAGE.len() as u64);
    // The same connection, the same file again, into another mailbox by another case.
    file.rewind().unwrap();
    let second = client
        .deliver(&file, &delivery(ACCOUNT, Some("inbox")), TIMEOUT)
        .await
        .unwrap();
    assert_eq!((second.mailbox.as_str(), second.uid), (INBOX, 2));
    assert_eq!(second.uidvalidity, first.uidvalidity);
    let sent = client
        .deliver(&file, &delivery(ACCOUNT, Some("Sent")), TIMEOUT)
        .await
        .unwrap();
    assert_eq!((sent.mailbox.as_str(), sent.uid), ("Sent", 1));

    let inbox = stored_messages(&server.store_root(), ACCOUNT, INBOX);
    assert_eq!(inbox.len(), 2);
    for (i, (uid, flags, keywords, received, bytes)) in inbox.into_iter().enumerate() {
        assert_eq!(uid as usize, i + 1);
        assert_eq!(flags, ["\\Seen"]);
        assert_eq!(keywords, ["$forwarded"]);
        assert_eq!(received, 1_700_000_000);
        assert_eq!(bytes, MESSAGE, "stored bytes differ");
    }
    assert_eq!(
        stored_messages(&server.store_root(), ACCOUNT, "Sent").len(),
        1
    );

    // Failures that no retry fixes are permanent, and the connection stays usable.
    let err = client
        .deliver(&file, &delivery(ACCOUNT, Some("No such mailbox")), TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    let err = client
        .deliver(&file, &delivery("../escape", None), TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    let err = client
        .deliver(&message_file(b""), &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreClientError::Failed(f) if f.kind == FailureKind::Permanent),
        "{err}"
    );
    let third = client
        .deliver(&file, &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(third.uid, 3);
}

async fn send_raw(conn: &SeqpacketConnection, payload: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) {
    conn.send(payload, fds).await.unwrap();
}

/// What imapd sends on a raw connection until it closes it.
async fn answers_until_closed(conn: &SeqpacketConnection) -> Vec<StoreResponse> {
    let mut answers = Vec::new();
    loop {
        match tokio::time::timeout(TIMEOUT, conn.recv(MAX_STORE_RESPONSE))
            .await
            .expect("imapd neither answered nor closed")
        {
            Ok(datagram) => {
                answers.push(decode_payload(&datagram.payload, MAX_STORE_RESPONSE).unwrap())
            }
            Err(SeqpacketError::Pass(FdPassError::Closed)) => return answers,
            Err(e) => panic!("store socket: {e}"),
        }
    }
}

fn is_misuse(answers: &[StoreResponse]) -> bool {
    matches!(answers, [StoreResponse::Refused(StoreRefusal::Misuse(_))])
}

#[tokio::test]
async fn malformed_datagrams_close_only_their_own_connection() {
    let server = Server::start().await;
    let mut good = store_client(&server).await;
    let hello = encode_payload(
        &StoreRequest::Hello {
            version: STORE_PROTOCOL_VERSION,
        },
        MAX_STORE_REQUEST,
    )
    .unwrap();
    let file = message_file(MESSAGE);

    // Garbage.
    let bad = SeqpacketConnection::connect(&server.store_socket())
        .await
        .unwrap();
    send_raw(&bad, &[0xff, 0xfe, 0xfd, 0x00, 0x01], &[]).await;
    assert!(is_misuse(&answers_until_closed(&bad).await));

    // A datagram over the limit.
    let bad = SeqpacketConnection::connect(&server.store_socket())
        .await
        .unwrap();
    send_raw(&bad, &vec![0u8; MAX_STORE_REQUEST + 1], &[]).await;
    assert!(is_misuse(&answers_until_closed(&bad).await));

    // A Deliver before Hello.
    let deliver = encode_payload(
        &StoreRequest::Deliver(delivery(ACCOUNT, None)),
        MAX_STORE_REQUEST,
    )
    .unwrap();
    let bad = SeqpacketConnection::connect(&server.store_socket())
        .await
        .unwrap();
    send_raw(&bad, &deliver, &[file.as_fd()]).await;
    assert!(is_misuse(&answers_until_closed(&bad).await));

    // A Deliver without its fd, and one with two.
    for fds in [vec![], vec![file.as_fd(), file.as_fd()]] {
        let bad = SeqpacketConnection::connect(&server.store_socket())
            .await
            .unwrap();
        send_raw(&bad, &hello, &[]).await;
        let greeting = bad.recv(MAX_STORE_RESPONSE).await.unwrap();
        assert_eq!(
            decode_payload::<StoreResponse>(&greeting.payload, MAX_STORE_RESPONSE).unwrap(),
            StoreResponse::Hello {
                version: STORE_PROTOCOL_VERSION
            }
        );
        send_raw(&bad, &deliver, &fds).await;
        assert!(is_misuse(&answers_until_closed(&bad).await));
    }

    // A wrong version.
    let bad = SeqpacketConnection::connect(&server.store_socket())
        .await
        .unwrap();
    let old = encode_payload(&StoreRequest::Hello { version: 999 }, MAX_STORE_REQUEST).unwrap();
    send_raw(&bad, &old, &[]).await;
    assert_eq!(
        answers_until_closed(&bad).await,
        [StoreResponse::Refused(StoreRefusal::Version(
            STORE_PROTOCOL_VERSION
        ))]
    );

    // A connection that hangs up midway.
    let bad = SeqpacketConnection::connect(&server.store_socket())
        .await
        .unwrap();
    drop(bad);

    // The connection opened before all that still delivers, and imapd still serves IMAP.
    let delivered = good
        .deliver(&file, &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(delivered.uid, 1);
    let mut imap = server.connect_plain().await;
    assert!(imap.line().await.starts_with("* OK"));
    assert_eq!(
        stored_messages(&server.store_root(), ACCOUNT, INBOX).len(),
        1
    );
}

/// A python3 another uid can run: the system's, not one under root's home.
fn system_python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// As `uid`, connects to the store socket, sends `payload` with the fd of a message file
/// and returns imapd's answer (hex-decoded), or the child's error output.
fn deliver_as_uid(uid: u32, socket: &Path, payload: &[u8]) -> Result<Vec<u8>, String> {
    const SCRIPT: &str = "import socket, sys, tempfile\n\
        f = tempfile.TemporaryFile()\n\
        f.write(b'Subject: from a stranger\\r\\n\\r\\nhi\\r\\n'); f.flush()\n\
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n\
        s.settimeout(10)\n\
        s.connect(sys.argv[1])\n\
        socket.send_fds(s, [bytes.fromhex(sys.argv[2])], [f.fileno()])\n\
        sys.stdout.write(s.recv(65536).hex())\n";
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let output = Command::new(system_python())
        .args(["-c", SCRIPT, &socket.display().to_string(), &hex])
        .current_dir("/")
        .uid(uid)
        .gid(uid)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(text.get(i..i + 2).unwrap_or("zz"), 16).map_err(|e| e.to_string())
        })
        .collect()
}

use std::os::unix::process::CommandExt;

#[tokio::test]
async fn callers_not_in_store_callers_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "SKIPPED callers_not_in_store_callers_are_refused: needs root to act as another uid (CI runs as root)"
        );
        return;
    }
    // A numeric uid that exists nowhere, so nothing else is affected.
    const STRANGER: u32 = 64_124;
    let server = Server::start().await;
    drop(store_client(&server).await);
    let socket = server.store_socket();
    let deliver = encode_payload(
        &StoreRequest::Deliver(delivery(ACCOUNT, None)),
        MAX_STORE_REQUEST,
    )
    .unwrap();

    // In localserve the socket's mode already keeps other users out...
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // (the directories must be passable for the stranger for this test)
    for dir in socket.ancestors().skip(1).take(2) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let refused = deliver_as_uid(STRANGER, &socket, &deliver);
    assert!(
        refused.is_err(),
        "a stranger connected to the 0600 store socket"
    );

    // ...and imapd refuses them by uid even when the mode lets them in.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let answer = deliver_as_uid(STRANGER, &socket, &deliver).expect("connect as stranger");
    let answer: StoreResponse = decode_payload(&answer, MAX_STORE_RESPONSE).unwrap();
    match answer {
        StoreResponse::Refused(StoreRefusal::NotPermitted(text)) => {
            assert!(text.contains("uid 64124"), "{text}")
        }
        other => panic!("stranger got {other:?}"),
    }
    assert!(stored_messages(&server.store_root(), ACCOUNT, INBOX).is_empty());
}

async fn admin(server: &Server, request: AdminRequest) -> AdminResponse {
    let mut admin = AdminConnection::connect(&server.dir.path().join("run/admin.sock"))
        .await
        .unwrap();
    admin.call(request).await.unwrap()
}

async fn add_account(server: &Server, account: &str) -> AdminResponse {
    admin(
        server,
        AdminRequest::AccountAdd {
            account: account.into(),
            address: format!("{account}@example.org"),
        },
    )
    .await
}

#[tokio::test]
async fn a_removed_accounts_mail_is_deleted_and_its_name_released() {
    const GONE: &str = "leaving";
    let mut server = Server::start_configured(false, true).await;
    assert!(!matches!(
        add_account(&server, GONE).await,
        AdminResponse::Error(_)
    ));
    let mut client = store_client(&server).await;
    client
        .deliver(&message_file(MESSAGE), &delivery(GONE, None), TIMEOUT)
        .await
        .unwrap();
    let account_dir = server.store_root().join("accounts").join(GONE);
    assert!(account_dir.is_dir());

    let removed = admin(
        &server,
        AdminRequest::AccountRemove {
            account: GONE.into(),
        },
    )
    .await;
    assert!(!matches!(removed, AdminResponse::Error(_)), "{removed:?}");
    // The name stays reserved while the mail is there.
    assert!(matches!(
        add_account(&server, GONE).await,
        AdminResponse::Error(_)
    ));

    // imapd processes pending removals at start (and every minute).
    server.restart_imapd().await;
    let deadline = Instant::now() + TIMEOUT;
    while account_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the account's mail was not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + TIMEOUT;
    while let AdminResponse::Error(e) = add_account(&server, GONE).await {
        assert!(Instant::now() < deadline, "name not released: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The re-added account starts empty.
    let mut client = store_client(&server).await;
    let fresh = client
        .deliver(&message_file(MESSAGE), &delivery(GONE, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(fresh.uid, 1);
}

/// The periodic task against the real authd, with a short interval: a removal made
/// while it runs is carried out at its next round, without a restart.
#[tokio::test]
async fn the_removal_task_picks_up_removals_while_running() {
    const GONE: &str = "periodic";
    let server = Server::start_configured(false, true).await;
    assert!(!matches!(
        add_account(&server, GONE).await,
        AdminResponse::Error(_)
    ));
    // A store of its own, so that the running imapd (whose own round comes only every
    // minute) does not race this one.
    let root = server.dir.path().join("second-store");
    let store = Arc::new(MailStore::open(&root).unwrap());
    let gate = Arc::new(RemovalGate::new());
    {
        let store = Arc::clone(&store);
        let gate = Arc::clone(&gate);
        tokio::task::spawn_blocking(move || {
            postern_imapd::delivery::deliver(
                &store,
                &gate,
                &delivery(GONE, None),
                message_file(MESSAGE),
            )
        })
        .await
        .unwrap()
        .unwrap();
    }
    assert!(store.account_exists(GONE).unwrap());
    let task = tokio::spawn(run_account_removals(
        server.dir.path().join("run/auth.sock"),
        Arc::clone(&store),
        Arc::clone(&gate),
        Duration::from_millis(100),
    ));
    // Some rounds with nothing to do.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(store.account_exists(GONE).unwrap());
    let removed = admin(
        &server,
        AdminRequest::AccountRemove {
            account: GONE.into(),
        },
    )
    .await;
    assert!(!matches!(removed, AdminResponse::Error(_)), "{removed:?}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if !store.account_exists(GONE).unwrap()
            && !matches!(add_account(&server, GONE).await, AdminResponse::Error(_))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the removal was not carried out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!gate.is_removing(GONE));
    task.abort();
}

/// A delivery through the store socket shows at once in an IMAP session of the account
/// that waits in IDLE, and FETCH gives the message back byte for byte.
#[tokio::test]
async fn a_delivery_wakes_an_idle_session_and_fetches_byte_for_byte() {
    let server = Server::start().await;
    let mut imap = server.connect_tls(None).await;
    assert!(imap.line().await.starts_with("* OK"));
    let login = imap
        .command(
            "a",
            &format!("LOGIN {} \"{}\"", common::ADDRESS, common::PASSWORD),
        )
        .await;
    assert!(login.last().unwrap().starts_with("a OK"), "{login:?}");
    let select = imap.command("b", "SELECT INBOX").await;
    assert!(select.last().unwrap().starts_with("b OK"), "{select:?}");
    imap.send("c IDLE").await;
    assert!(imap.line().await.starts_with("+ "));

    let mut client = store_client(&server).await;
    client
        .deliver(&message_file(MESSAGE), &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap();
    // The delivery brings the keyword $Forwarded into use: the new FLAGS and
    // PERMANENTFLAGS come first (RFC 3501 7.2.6), then the EXISTS.
    let mut told = Vec::new();
    while told.last().is_none_or(|l: &String| !l.ends_with(" EXISTS")) {
        let line = tokio::time::timeout(Duration::from_secs(5), imap.line())
            .await
            .expect("IDLE session not told of the delivery");
        told.push(line);
    }
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(
        told[0].starts_with("* FLAGS (") && told[0].to_ascii_lowercase().contains("$forwarded"),
        "{told:?}"
    );
    assert!(told[1].starts_with("* OK [PERMANENTFLAGS ("), "{told:?}");
    assert_eq!(told[2], "* 1 EXISTS");
    imap.send("DONE").await;
    let done = imap.until_tagged("c").await;
    assert!(done.last().unwrap().starts_with("c OK"), "{done:?}");

    imap.send("d FETCH 1 BODY.PEEK[]").await;
    let first = imap.line().await;
    let size: usize = first
        .rsplit_once('{')
        .and_then(|(_, n)| n.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no literal in {first:?}"));
    assert_eq!(size, MESSAGE.len());
    let mut body = vec![0u8; size];
    tokio::io::AsyncReadExt::read_exact(&mut imap.stream, &mut body)
        .await
        .unwrap();
    assert_eq!(body, MESSAGE);
    let rest = imap.until_tagged("d").await;
    assert!(rest.last().unwrap().starts_with("d OK"), "{rest:?}");
}

/// The store socket passed by socket activation under the name `store` (as the
/// supervisor or a systemd socket unit does) is used instead of binding one.
#[tokio::test]
async fn a_store_socket_passed_by_socket_activation_is_used() {
    use std::os::fd::AsRawFd;
    let mut server = Server::start().await;
    let _ = server.imapd.kill();
    let _ = server.imapd.wait();
    std::fs::remove_file(server.store_socket()).unwrap();

    let path = server.dir.path().join("activated-store.sock");
    let listener = postern_ipc::fdpass::seqpacket_listen(&path, 8).unwrap();
    nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    // Python moves it to fd 3 and execs imapd under its own pid.
    let script = "import os, sys\n\
        os.dup2(int(sys.argv[1]), 3)\n\
        os.set_inheritable(3, True)\n\
        os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='store')\n\
        os.execv(sys.argv[2], [sys.argv[2], '--config', sys.argv[3]])\n";
    server.imapd = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(listener.as_raw_fd().to_string())
        .arg(env!("CARGO_BIN_EXE_postern-imapd"))
        .arg(&server.config_path)
        .env("RUST_LOG", "warn")
        .env_remove("CREDENTIALS_DIRECTORY")
        .spawn()
        .unwrap();
    drop(listener);

    let deadline = Instant::now() + TIMEOUT;
    let mut client = loop {
        // The listener is already there, so this waits in the backlog until imapd runs.
        match StoreClient::connect(&path, Duration::from_secs(2)).await {
            Ok(client) => break client,
            Err(e) => {
                if let Some(status) = server.imapd.try_wait().unwrap() {
                    panic!("imapd exited at start: {status}");
                }
                assert!(
                    Instant::now() < deadline,
                    "no answer on the passed socket: {e}"
                );
            }
        }
    };
    let delivered = client
        .deliver(&message_file(MESSAGE), &delivery(ACCOUNT, None), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(delivered.uid, 1);
    assert!(
        !server.store_socket().exists(),
        "imapd bound its own store socket although one was passed"
    );
    assert_eq!(
        stored_messages(&server.store_root(), ACCOUNT, INBOX).len(),
        1
    );
}
