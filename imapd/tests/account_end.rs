//! A removed or disabled account's IMAP sessions end, against the real authd and imapd:
//! `* BYE [UNAVAILABLE]` with the admin's message at the next command, and at once in
//! IDLE.

mod common;

use std::time::Duration;

use common::{ACCOUNT, Server};
use postern_ipc::admin::AdminRequest;
use tokio::io::AsyncReadExt;

/// Time for authd's notice to reach imapd's sessions (a local socket and a channel).
const NOTICE: Duration = Duration::from_millis(300);

/// Reads until the server closes the connection; panics if it does not within 10 s.
async fn assert_closed<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) {
    let mut rest = Vec::new();
    // A TLS close without close_notify is also a close: only the timeout fails.
    let _closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the connection stayed open");
    assert!(
        rest.is_empty(),
        "more after BYE: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test]
async fn a_disabled_accounts_session_ends_at_its_next_command() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let lines = client.command("s1", "SELECT INBOX").await;
    assert!(lines.last().unwrap().starts_with("s1 OK "), "{lines:?}");
    server
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: ACCOUNT.into(),
            disabled: Some("moved to the new server".into()),
        })
        .await;
    tokio::time::sleep(NOTICE).await;
    client.send("n1 NOOP").await;
    assert_eq!(
        client.line().await,
        "* BYE [UNAVAILABLE] moved to the new server"
    );
    assert_closed(&mut client.stream).await;
}

#[tokio::test]
async fn an_idle_session_ends_at_once_when_its_account_is_removed() {
    let server = Server::start().await;
    let mut client = server.login_tls().await;
    let lines = client.command("s1", "SELECT INBOX").await;
    assert!(lines.last().unwrap().starts_with("s1 OK "), "{lines:?}");
    client.send("i1 IDLE").await;
    assert!(client.line().await.starts_with("+ "));
    server
        .admin_ok(AdminRequest::AccountRemove {
            account: ACCOUNT.into(),
        })
        .await;
    // Nothing sent: the BYE comes by itself.
    assert_eq!(
        client.line().await,
        "* BYE [UNAVAILABLE] account removed by the administrator"
    );
    assert_closed(&mut client.stream).await;
}
