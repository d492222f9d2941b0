//! Connection limits in the real daemon: one address may hold 30 connections (mox
//! §7.4); the next one is told why and closed, and a closed connection frees its place.

mod common;

use std::time::Duration;

use common::Server;
use postern_daemon::connection_limits::{
    MAX_NEW_CONNECTIONS_PER_WINDOW, MAX_OPEN_CONNECTIONS_PER_NETWORK,
};
use postern_imapd::connection_refusal::BYE_OPEN_PER_NETWORK;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn one_address_gets_at_most_thirty_connections() {
    let server = Server::start().await;
    // The start-up probes' connections end once imapd has read their close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limit = MAX_OPEN_CONNECTIONS_PER_NETWORK[0] as usize;
    assert_eq!(limit, 30);
    let mut open = Vec::new();
    for _ in 0..limit {
        let mut client = server.connect_plain().await;
        let greeting = client.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        open.push(client);
    }

    // Plain IMAP: mox's BYE, then the close.
    let mut client = server.connect_plain().await;
    assert_eq!(format!("{}\r\n", client.line().await), BYE_OPEN_PER_NETWORK);
    let mut rest = Vec::new();
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        client.stream.read_to_end(&mut rest),
    )
    .await
    .expect("connection not closed")
    .unwrap_or(0);
    assert_eq!(n, 0, "more after BYE: {rest:?}");

    // Implicit TLS: closed before any handshake.
    let mut tcp = TcpStream::connect(server.imaps).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .expect("connection not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);

    // Closing one makes room for one.
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = server.connect_plain().await;
        let greeting = client.line().await;
        if greeting.starts_with("* OK") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{greeting}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn refused_attempts_do_not_use_up_the_connection_rate() {
    let server = Server::start().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limit = MAX_OPEN_CONNECTIONS_PER_NETWORK[0] as usize;
    let mut open = Vec::new();
    for _ in 0..limit {
        let mut client = server.connect_plain().await;
        let greeting = client.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        open.push(client);
    }
    // A flood of attempts while the address holds its 30: each refused, and together
    // more than the rate allows in a minute.
    let flood = MAX_NEW_CONNECTIONS_PER_WINDOW[0] as usize;
    for _ in 0..flood {
        let mut client = server.connect_plain().await;
        assert_eq!(format!("{}\r\n", client.line().await), BYE_OPEN_PER_NETWORK);
    }
    // Once one closes, the address gets in again within the same minute.
    drop(open.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = server.connect_plain().await;
        let greeting = client.line().await;
        if greeting.starts_with("* OK") {
            break;
        }
        assert_eq!(
            format!("{greeting}\r\n"),
            BYE_OPEN_PER_NETWORK,
            "refused for the rate after refused attempts"
        );
        assert!(std::time::Instant::now() < deadline, "{greeting}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
