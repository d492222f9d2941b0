//! What a client sends never reaches submitd's log raw: an EHLO name, a refused MAIL
//! FROM or From address and a Message-ID with escape sequences or an attempt to start a
//! forged log line are logged escaped.

mod common;

use std::time::{Duration, Instant};

use common::{ADDRESS, Options, Server};

/// Starts a forged log line after a line break; moves the cursor and retitles the
/// terminal of whoever tails the log.
const FORGED: &str = "2026-12-03T00:00:00.000000Z  INFO postern_submitd: forged";
const ESCAPES: &str = "\x1b[2J\x1b]0;owned\x07";

fn log_text(server: &Server) -> Vec<u8> {
    std::fs::read(server.log_path()).unwrap_or_default()
}

#[tokio::test]
async fn client_supplied_strings_are_escaped_in_the_log() {
    let server = Server::start_with(Options {
        log: true,
        ..Options::default()
    })
    .await;
    let mut client = server.connect_tls(None).await;
    let reply = client.command(&format!("EHLO evil{ESCAPES}.example")).await;
    assert!(reply.starts_with("250"), "{reply}");
    let reply = client
        .command(&format!("AUTH PLAIN {}", common::plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("235"), "{reply}");
    // A MAIL FROM of another domain, refused and logged.
    let reply = client
        .command(&format!("MAIL FROM:<\"{ESCAPES}victim\"@other.example>"))
        .await;
    assert!(
        reply.starts_with("550 5.7.1") || reply.starts_with("5"),
        "{reply}"
    );
    // A From of another account, refused and logged.
    assert!(
        client
            .command(&format!("MAIL FROM:<{ADDRESS}>"))
            .await
            .starts_with("250")
    );
    assert!(
        client
            .command("RCPT TO:<rcpt@example.net>")
            .await
            .starts_with("250")
    );
    assert!(client.command("DATA").await.starts_with("354"));
    let message = format!("From: \"{ESCAPES}x\"@other.example\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    client.send_raw(message.as_bytes()).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("550"), "{reply}");
    // An accepted message whose Message-ID tries both, logged when queued.
    assert!(
        client
            .command(&format!("MAIL FROM:<{ADDRESS}>"))
            .await
            .starts_with("250")
    );
    assert!(
        client
            .command("RCPT TO:<rcpt@example.net>")
            .await
            .starts_with("250")
    );
    assert!(client.command("DATA").await.starts_with("354"));
    let message = format!(
        "From: <{ADDRESS}>\r\nMessage-ID: <{ESCAPES}id@client.test>\r\n\
         Subject: x\r\n\r\nbody\r\n.\r\n"
    );
    client.send_raw(message.as_bytes()).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250"), "{reply}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&log_text(&server)).contains("message submitted") {
        assert!(Instant::now() < deadline, "nothing logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = log_text(&server);
    let text = String::from_utf8_lossy(&log);
    assert!(
        !text.lines().any(|line| line.starts_with(FORGED)),
        "a forged line made it into the log:\n{text}"
    );
    for control in [b'\x1b', b'\x07'] {
        assert!(
            !log.contains(&control),
            "raw control byte {control:#04x} in the log:\n{text}"
        );
    }
    for escaped in [r#"client_name="evil\u{1b}[2J"#, r#"message_id="\u{1b}[2J"#] {
        assert!(text.contains(escaped), "{escaped} not in the log:\n{text}");
    }
}
