//! Input limits end to end against the real binary (mox-behaviour.md §7): literal count
//! and total size per command, oversized synchronising and non-synchronising literals,
//! and a 10 MB line without CRLF, with imapd's memory read from /proc.
//!
//! `imap-proto/src/reader/tests.rs` proves the same limits on the sans-I/O reader; these
//! tests prove that the daemon wires them up: the replies reach the client before any
//! `+`, the connection stays usable or is closed as §7 says, and memory stays bounded.

mod common;

use std::time::Duration;

use common::{ADDRESS, Client, PASSWORD, Server, proc_status_kib};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Per-literal limit outside APPEND (mox: 100 KiB).
const MAX_LITERAL: usize = 102_400;
/// Total literal bytes per command (mox: 10 × 100 KiB).
const MAX_LITERAL_TOTAL: usize = 1_024_000;
/// Literals per command.
const MAX_LITERALS: usize = 1000;

/// NOOP answers OK: the connection is usable.
async fn noop<S: AsyncRead + AsyncWrite + Unpin>(client: &mut Client<S>, tag: &str) {
    let lines = client.command(tag, "NOOP").await;
    assert!(
        lines.last().unwrap().starts_with(&format!("{tag} OK ")),
        "{lines:?}"
    );
}

/// Logs in over TLS and selects INBOX (SEARCH needs a selected mailbox).
async fn selected(
    server: &Server,
) -> Client<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut client = server.login_tls().await;
    let lines = client.command("s0", "SELECT INBOX").await;
    assert!(lines.last().unwrap().starts_with("s0 OK "), "{lines:?}");
    client
}

/// Reads until the connection ends; returns what came (a reset counts as the end).
async fn read_to_end<S: AsyncRead + Unpin>(client: &mut Client<S>) -> Vec<u8> {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match client.stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "imapd did not close the connection");
    rest
}

/// Sends `tag SEARCH` with `count` TEXT keys, each a synchronising literal of
/// `size` bytes, waiting for every `+`; returns the lines after the last literal
/// header was sent, up to the tagged reply. Panics when the server answers anything
/// but `+` before the last header.
async fn search_with_sync_literals<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    tag: &str,
    count: usize,
    size: usize,
) -> Vec<String> {
    let data = vec![b'x'; size];
    client
        .send_raw(format!("{tag} SEARCH TEXT {{{size}}}\r\n").as_bytes())
        .await;
    for i in 1..count {
        let cont = client.line().await;
        assert!(cont.starts_with("+ "), "literal {i}: {cont}");
        let mut chunk = data.clone();
        chunk.extend_from_slice(format!(" TEXT {{{size}}}\r\n").as_bytes());
        client.send_raw(&chunk).await;
    }
    // The last literal: `+` when within limits, else the tagged BAD.
    let answer = client.line().await;
    if answer.starts_with("+ ") {
        let mut chunk = data.clone();
        chunk.extend_from_slice(b"\r\n");
        client.send_raw(&chunk).await;
        return client.until_tagged(tag).await;
    }
    let mut lines = vec![answer];
    if !lines[0].starts_with(&format!("{tag} ")) {
        lines.extend(client.until_tagged(tag).await);
    }
    lines
}

/// The same with non-synchronising literals (LITERAL+) for all keys but the last,
/// which is synchronising (`last_sync`) or not.
async fn search_with_nonsync_literals<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    tag: &str,
    count: usize,
    size: usize,
    last_sync: bool,
) {
    let data = vec![b'x'; size];
    let mut command = format!("{tag} SEARCH").into_bytes();
    for i in 0..count {
        let last = i + 1 == count;
        let plus = if last && last_sync { "" } else { "+" };
        command.extend_from_slice(format!(" TEXT {{{size}{plus}}}\r\n").as_bytes());
        if !last {
            command.extend_from_slice(&data);
        }
    }
    client.send_raw(&command).await;
}

#[tokio::test]
async fn literal_count_limit() {
    let server = Server::start().await;
    let mut client = selected(&server).await;

    // 1,000 literals are allowed: a `+` for each, and the command runs.
    let lines = search_with_sync_literals(&mut client, "c1", MAX_LITERALS, 1).await;
    assert!(
        lines.last().unwrap().starts_with("c1 OK "),
        "1000 literals: {lines:?}"
    );

    // The 1,001st literal is refused instead of its `+`; the connection goes on.
    let lines = search_with_sync_literals(&mut client, "c2", MAX_LITERALS + 1, 1).await;
    assert_eq!(
        lines,
        [format!(
            "c2 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max literals \
             for command {} is larger than allowed {MAX_LITERALS}",
            MAX_LITERALS + 1
        )]
    );
    noop(&mut client, "n1").await;

    // With LITERAL+ for the first 1,000 and a synchronising 1,001st: the same answer,
    // and the connection stays usable.
    search_with_nonsync_literals(&mut client, "c3", MAX_LITERALS + 1, 1, true).await;
    let lines = client.until_tagged("c3").await;
    assert_eq!(
        lines,
        [format!(
            "c3 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max literals \
             for command {} is larger than allowed {MAX_LITERALS}",
            MAX_LITERALS + 1
        )]
    );
    noop(&mut client, "n2").await;

    // A non-synchronising 1,001st: BYE, the tagged BAD, and the end of the connection.
    search_with_nonsync_literals(&mut client, "c4", MAX_LITERALS + 1, 1, false).await;
    let detail = format!(
        "max literals for command {} is larger than allowed {MAX_LITERALS}",
        MAX_LITERALS + 1
    );
    assert_eq!(client.line().await, format!("* BYE [ALERT] {detail}"));
    assert_eq!(
        client.line().await,
        format!("c4 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: {detail}")
    );
    assert_eq!(read_to_end(&mut client).await, b"");
}

#[tokio::test]
async fn literal_total_limit() {
    let server = Server::start().await;
    let mut client = selected(&server).await;
    let per_literal = MAX_LITERAL;
    let count = MAX_LITERAL_TOTAL / per_literal;
    assert_eq!(count * per_literal, MAX_LITERAL_TOTAL);

    // Exactly 1,024,000 bytes in ten literals of 100 KiB: allowed.
    let lines = search_with_sync_literals(&mut client, "t1", count, per_literal).await;
    assert!(lines.last().unwrap().starts_with("t1 OK "), "{lines:?}");

    // One byte more (ten literals of 100 KiB with LITERAL+, then a synchronising
    // literal of one byte): refused before its `+`; the connection goes on.
    let mut command = b"t3 SEARCH".to_vec();
    for _ in 0..count {
        command.extend_from_slice(format!(" TEXT {{{per_literal}+}}\r\n").as_bytes());
        command.extend_from_slice(&vec![b'y'; per_literal]);
    }
    command.extend_from_slice(b" TEXT {1}\r\n");
    client.send_raw(&command).await;
    let lines = client.until_tagged("t3").await;
    assert_eq!(
        lines,
        [format!(
            "t3 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max total \
             literal size for command {} is larger than allowed {MAX_LITERAL_TOTAL}",
            MAX_LITERAL_TOTAL + 1
        )]
    );
    noop(&mut client, "n1").await;
}

#[tokio::test]
async fn oversized_synchronising_literal_keeps_the_connection() {
    let server = Server::start().await;

    // Before login, on the plain port.
    let mut client = server.connect_plain().await;
    client.line().await;
    client
        .send(&format!("a1 LOGIN {{{}}}", MAX_LITERAL + 1))
        .await;
    // The first line back is the refusal: no `+` came before it.
    assert_eq!(
        client.line().await,
        format!(
            "a1 BAD [TOOBIG] LOGIN unrecognized syntax/command: literal too big: max literal \
             size {} is larger than allowed {MAX_LITERAL}",
            MAX_LITERAL + 1
        )
    );
    noop(&mut client, "a2").await;
    // A literal at the limit still gets its `+`.
    client.send(&format!("a3 LOGIN {{{MAX_LITERAL}}}")).await;
    assert!(client.line().await.starts_with("+ "));
    let mut data = vec![b'u'; MAX_LITERAL];
    data.extend_from_slice(b" x\r\n");
    client.send_raw(&data).await;
    let lines = client.until_tagged("a3").await;
    assert!(lines.last().unwrap().starts_with("a3 NO "), "{lines:?}");

    // After login over TLS, in a command of the authenticated state; then the session
    // works on (SELECT).
    let mut client = selected(&server).await;
    client
        .send(&format!("s1 SEARCH TEXT {{{}}}", MAX_LITERAL + 1))
        .await;
    assert_eq!(
        client.line().await,
        format!(
            "s1 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: max literal \
             size {} is larger than allowed {MAX_LITERAL}",
            MAX_LITERAL + 1
        )
    );
    let lines = client.command("s2", "SELECT INBOX").await;
    assert!(lines.last().unwrap().starts_with("s2 OK "), "{lines:?}");
    let lines = client
        .command("l1", &format!("LOGIN {ADDRESS} \"{PASSWORD}\""))
        .await;
    assert_eq!(
        lines.last().unwrap(),
        "l1 NO LOGIN not allowed in this connection state"
    );
}

#[tokio::test]
async fn oversized_non_synchronising_literal_closes() {
    let server = Server::start().await;
    let detail = format!(
        "max literal size {} is larger than allowed {MAX_LITERAL}",
        MAX_LITERAL + 1
    );

    let mut client = server.connect_plain().await;
    client.line().await;
    client
        .send(&format!("a1 LOGIN {{{}+}}", MAX_LITERAL + 1))
        .await;
    assert_eq!(client.line().await, format!("* BYE [ALERT] {detail}"));
    assert_eq!(
        client.line().await,
        format!("a1 BAD [TOOBIG] LOGIN unrecognized syntax/command: literal too big: {detail}")
    );
    assert_eq!(read_to_end(&mut client).await, b"");

    let mut client = selected(&server).await;
    client
        .send(&format!("s1 SEARCH TEXT {{{}+}}", MAX_LITERAL + 1))
        .await;
    assert_eq!(client.line().await, format!("* BYE [ALERT] {detail}"));
    assert_eq!(
        client.line().await,
        format!("s1 BAD [TOOBIG] SEARCH unrecognized syntax/command: literal too big: {detail}")
    );
    assert_eq!(read_to_end(&mut client).await, b"");

    // The daemon serves everyone else on.
    let mut client = server.login_tls().await;
    noop(&mut client, "n1").await;
}

/// Sends up to 10 MB of `a` without any CRLF; stops when imapd closes the connection.
/// Returns how many bytes went out.
async fn send_ten_megabyte_line<S: AsyncWrite + Unpin>(stream: &mut S) -> usize {
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0;
    while sent < 10 * 1024 * 1024 {
        match tokio::time::timeout(Duration::from_secs(20), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => break,
            Err(_) => panic!("imapd neither read nor closed"),
        }
    }
    let _ = stream.flush().await;
    sent
}

#[tokio::test]
async fn ten_megabyte_line_without_crlf_does_not_grow_memory() {
    let server = Server::start().await;
    let pid = server.imapd_pid();
    // Warm up: a login over TLS, so TLS and the session code have run once.
    let mut warm = server.login_tls().await;
    noop(&mut warm, "w1").await;
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = proc_status_kib(pid, "VmRSS").unwrap();
    let hwm_before = proc_status_kib(pid, "VmHWM").unwrap();

    // Before login on the plain port: closed without a response (mox §7.2).
    let mut client = server.connect_plain().await;
    assert!(client.line().await.starts_with("* OK "));
    let sent = send_ten_megabyte_line(client.stream.get_mut()).await;
    assert_eq!(
        read_to_end(&mut client).await,
        b"",
        "a reply to the long line"
    );

    // After login over TLS: the same.
    let mut client = selected(&server).await;
    client.send_raw(b"x1 SEARCH TEXT ").await;
    let sent_tls = send_ten_megabyte_line(client.stream.get_mut()).await;
    assert_eq!(
        read_to_end(&mut client).await,
        b"",
        "a reply to the long line"
    );

    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_after = proc_status_kib(pid, "VmRSS").unwrap();
    let hwm_after = proc_status_kib(pid, "VmHWM").unwrap();
    eprintln!(
        "imapd VmRSS {rss_before} -> {rss_after} KiB, VmHWM {hwm_before} -> {hwm_after} KiB \
         (sent {sent} bytes plain, {sent_tls} over TLS before the close)"
    );
    // 10 MB would be 10,240 KiB; allow 1 MiB of noise (allocator, TLS buffers).
    assert!(
        hwm_after.saturating_sub(hwm_before) < 1024,
        "peak memory grew from {hwm_before} to {hwm_after} KiB"
    );
    assert!(
        rss_after.saturating_sub(rss_before) < 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );

    // imapd still serves.
    let mut client = server.login_tls().await;
    noop(&mut client, "n1").await;
}
