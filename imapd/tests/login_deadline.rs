//! The login deadline against the real binary: a client that trickles one byte every
//! second before logging in gets `* BYE` and the close at the deadline (the per-read
//! timeout alone would keep it forever); a client that logged in is not closed.

mod common;

use std::time::{Duration, Instant};

use common::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The deadline the tests configure (`[imapd] login_deadline_seconds`).
const DEADLINE_SECONDS: u64 = 3;

/// A server whose imapd has the short login deadline.
async fn server() -> Server {
    let mut server = Server::start().await;
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let config = config.replacen(
        "[imapd]\n",
        &format!("[imapd]\nlogin_deadline_seconds = {DEADLINE_SECONDS}\n"),
        1,
    );
    std::fs::write(&server.config_path, config).unwrap();
    server.restart_imapd().await;
    server
}

#[tokio::test]
async fn a_trickling_client_is_closed_at_the_login_deadline() {
    let server = server().await;
    let start = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(server.imap).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        // One byte a second, never a whole line: each read alone is well within the
        // per-read timeout.
        if tcp.write_all(b"x").await.is_err() {
            break true;
        }
        match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if start.elapsed() > Duration::from_secs(DEADLINE_SECONDS + 12) {
            break false;
        }
    };
    let elapsed = start.elapsed();
    let text = String::from_utf8_lossy(&received);
    assert!(closed, "still open after {elapsed:?}: {text:?}");
    assert!(
        elapsed >= Duration::from_secs(DEADLINE_SECONDS - 1),
        "closed early after {elapsed:?}: {text:?}"
    );
    assert!(text.starts_with("* OK "), "{text:?}");
    assert!(
        text.contains("* BYE login took too long\r\n"),
        "no BYE for the deadline: {text:?}"
    );
}

#[tokio::test]
async fn commands_before_login_do_not_extend_the_deadline() {
    let server = server().await;
    let start = Instant::now();
    let mut client = server.connect_plain().await;
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    let mut n = 0;
    let last = loop {
        n += 1;
        client.send(&format!("n{n} NOOP")).await;
        let line = client.line().await;
        if !line.starts_with(&format!("n{n} OK")) {
            break line;
        }
        assert!(
            start.elapsed() < Duration::from_secs(DEADLINE_SECONDS + 10),
            "never closed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(last, "* BYE login took too long");
}

#[tokio::test]
async fn a_logged_in_client_outlives_the_login_deadline() {
    let server = server().await;
    let mut client = server.login_tls().await;
    tokio::time::sleep(Duration::from_secs(DEADLINE_SECONDS + 1)).await;
    let lines = client.command("n1", "NOOP").await;
    assert!(lines.last().unwrap().starts_with("n1 OK "), "{lines:?}");
}
