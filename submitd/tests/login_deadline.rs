//! The login deadline against the real binary: a client that trickles one byte every
//! second before logging in is closed with `421 4.4.2` at the deadline (the per-read
//! timeout alone would keep it forever); a client that logged in is not.

mod common;

use std::time::{Duration, Instant};

use common::{Options, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The deadline the tests configure (`[submitd] login_deadline_seconds`).
const DEADLINE_SECONDS: u64 = 3;

async fn server() -> Server {
    Server::start_with(Options {
        login_deadline_seconds: Some(DEADLINE_SECONDS),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_trickling_client_is_closed_at_the_login_deadline() {
    let server = server().await;
    let start = Instant::now();
    let mut tcp = tokio::net::TcpStream::connect(server.submission)
        .await
        .unwrap();
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
    assert!(text.starts_with("220 "), "{text:?}");
    assert!(
        text.contains("421 4.4.2 login took too long"),
        "no 421 for the deadline: {text:?}"
    );
}

#[tokio::test]
async fn a_logged_in_client_outlives_the_login_deadline() {
    let server = server().await;
    let mut client = server.login().await;
    tokio::time::sleep(Duration::from_secs(DEADLINE_SECONDS + 1)).await;
    let reply = client.command("NOOP").await;
    assert!(reply.starts_with("250 "), "{reply}");
}

#[tokio::test]
async fn the_deadline_counts_from_the_connection_not_from_the_last_command() {
    let server = server().await;
    let start = Instant::now();
    let mut client = server.connect_plain().await;
    // Whole commands, each answered, keep the connection busy but do not log in.
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(DEADLINE_SECONDS + 10) {
        client.send_raw(b"NOOP\r\n").await;
        last = client.reply().await;
        if !last.starts_with("250 ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        last.starts_with("421 4.4.2 login took too long"),
        "after {:?}: {last}",
        start.elapsed()
    );
}
