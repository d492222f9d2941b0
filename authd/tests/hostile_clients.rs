//! authd under hostile input: random, truncated and oversized frames on both sockets,
//! and callers whose uid may not ask. It must close only the offending connection and
//! go on serving a good client.

mod common;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use postern_ipc::Protocol;
use postern_ipc::admin::AdminRequest;
use postern_ipc::admin::AdminResponse;
use postern_ipc::auth::SaslReply;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

/// Sends raw bytes and reads until authd closes (or a short timeout).
fn throw(path: &Path, bytes: &[u8]) {
    let Ok(mut stream) = UnixStream::connect(path) else {
        panic!("authd no longer accepts connections");
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = stream.take(1 << 20).read_to_end(&mut sink);
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn random_truncated_and_oversized_frames() {
    let mut authd = Authd::start().await;
    authd
        .add_account("mjl", "mjl@example.org", "a good password")
        .await;
    let sockets = [authd.auth_socket(), authd.admin_socket()];
    let fixed: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 0, 0],
        u32::MAX.to_be_bytes().to_vec(),
        (64 * 1024 * 1024u32).to_be_bytes().to_vec(),
        frame(&[]),
        frame(&[0xff; 16]),
        frame(&[0, 1]),                 // Hello with a truncated version
        frame(&[0, 1, 0, 0, 0, 0, 99]), // trailing bytes
        frame(&[1]),                    // SaslStart cut short
        frame(&[250, 255, 255, 255, 255, 255, 255, 255, 255]), // absurd lengths
        frame(&[3, 0]),
        [frame(&[0, 1]), frame(&[4])].concat(),
    ];
    let sockets_for_blocking = sockets.clone();
    tokio::task::spawn_blocking(move || {
        for bytes in &fixed {
            for path in &sockets_for_blocking {
                throw(path, bytes);
            }
        }
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 300,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &(
                    prop::collection::vec(any::<u8>(), 0..64),
                    any::<bool>(),
                    any::<bool>(),
                    0usize..2,
                ),
                |(payload, framed, truncate, which)| {
                    let mut bytes = if framed {
                        frame(&payload)
                    } else {
                        payload.clone()
                    };
                    if truncate && !bytes.is_empty() {
                        bytes.truncate(bytes.len() / 2);
                    }
                    // A valid Hello first, then junk, exercises mid-connection errors.
                    let mut with_hello = frame(&[0, 1]);
                    with_hello.extend_from_slice(&bytes);
                    throw(&sockets_for_blocking[which], &bytes);
                    throw(&sockets_for_blocking[which], &with_hello);
                    Ok(())
                },
            )
            .unwrap();
    })
    .await
    .unwrap();
    assert!(authd.is_running(), "authd died");
    // A good client is still served on both sockets.
    let mut auth = authd.auth().await;
    let reply = plain_login(
        &mut auth,
        connection(Protocol::Imap, localhost(), None),
        "mjl@example.org",
        "a good password",
    )
    .await;
    assert!(matches!(reply, SaslReply::Success(_)), "{reply:?}");
    assert!(matches!(
        authd.admin_ok(AdminRequest::AccountList).await,
        AdminResponse::Accounts(_)
    ));
}

#[tokio::test]
async fn database_and_socket_modes() {
    let authd = Authd::start().await;
    let dir = authd.data_dir().join("authd");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&dir), 0o700, "database directory");
    assert_eq!(mode(&dir.join("auth.db")), 0o600, "database file");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            mode(&path) & 0o077,
            0,
            "{} readable by others",
            path.display()
        );
    }
    assert_eq!(mode(&authd.admin_socket()), 0o600, "admin socket");
    assert_eq!(
        std::fs::metadata(dir.join("auth.db")).unwrap().uid(),
        current_uid()
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

/// Connects as `uid` from a child process and returns what authd sent before closing.
fn read_as_uid(uid: u32, socket: &Path) -> Result<Vec<u8>, String> {
    let output = Command::new(system_python())
        .args([
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.settimeout(5)\nd=b''\nwhile True:\n  c=s.recv(4096)\n  if not c: break\n  d+=c\nsys.stdout.buffer.write(d)",
            &socket.display().to_string(),
        ])
        .uid(uid)
        .gid(uid)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(output.stdout)
}

#[tokio::test]
async fn other_uids_are_refused() {
    if current_uid() != 0 {
        eprintln!(
            "SKIPPED other_uids_are_refused: needs root to act as another uid (CI runs as root)"
        );
        return;
    }
    // A numeric uid that exists nowhere, so nothing else is affected.
    const STRANGER: u32 = 64_123;
    let authd = Authd::start().await;
    // The file mode already keeps strangers off the admin socket...
    let refused = read_as_uid(STRANGER, &authd.admin_socket());
    assert!(
        refused.is_err(),
        "a stranger could connect to the 0600 admin socket"
    );
    // ...and authd itself refuses them by uid, even when the mode would let them in.
    // The directory must be passable for the stranger for this part.
    let run = authd.admin_socket().parent().unwrap().to_path_buf();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    for dir in run.ancestors().skip(1).take(1) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(authd.admin_socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let answer = read_as_uid(STRANGER, &authd.admin_socket()).expect("connect as stranger");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("permission denied: uid 64123 may not use the admin socket"),
        "{text:?}"
    );
    // The auth socket: a uid in no caller list gets nothing but a refusal.
    let answer = read_as_uid(STRANGER, &authd.auth_socket()).expect("connect as stranger");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("uid 64123 may not use the auth socket"),
        "{text:?}"
    );
    // And the stranger cannot open the database file at all.
    let db = authd.data_dir().join("authd/auth.db");
    let status = Command::new("python3")
        .args([
            "-c",
            "import sys; open(sys.argv[1],'rb')",
            &db.display().to_string(),
        ])
        .uid(STRANGER)
        .gid(STRANGER)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "a stranger opened the credentials database"
    );
}

/// A login name that tries to forge a log line and to send escape sequences to the
/// terminal of whoever reads the log.
pub const FORGED_LOGIN_NAME: &str = "mallory@example.org\n2026-12-03T00:00:00.000000Z  INFO \
     postern_authd::server: login attempt account=\"root\" result=ok\r\x1b[2J\x1b]0;owned\x07";

#[tokio::test]
async fn client_supplied_names_are_escaped_in_the_log() {
    let authd = Authd::start_logging().await;
    let mut auth = authd.auth().await;
    let reply = plain_login(
        &mut auth,
        connection(Protocol::Imap, localhost(), None),
        FORGED_LOGIN_NAME,
        "wrong password",
    )
    .await;
    assert_eq!(
        reply,
        SaslReply::Failure(postern_ipc::AuthFailure::BadCredentials)
    );
    // The attempt is logged (batched writes aside, the log line comes at once).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = std::fs::read(authd.log_path()).unwrap();
        if String::from_utf8_lossy(&log).contains("login attempt") {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no login attempt logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text
            .lines()
            .any(|line| line.starts_with("2026-12-03T00:00:00")),
        "a forged line made it into the log:\n{text}"
    );
    for control in [b'\x1b', b'\r', b'\x07'] {
        assert!(
            !log.contains(&control),
            "raw control byte {control:#04x} in the log:\n{text}"
        );
    }
    assert!(
        text.contains(r#"login_name="mallory@example.org\n2026-12-03"#),
        "the name is not logged escaped:\n{text}"
    );
}
