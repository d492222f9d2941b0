//! A disabled account's submission session ends, against the real authd and submitd:
//! `421 4.7.0` with the admin's message at the next command, then the close; another
//! account's session goes on.

mod common;

use std::time::Duration;

use common::{OTHER_ADDRESS, Server, plain};
use postern_ipc::admin::AdminRequest;

#[tokio::test]
async fn a_disabled_accounts_session_gets_421_and_closes() {
    let server = Server::start().await;
    let mut client = server.login().await;
    let mut other = server.connect_tls(None).await;
    assert!(other.command("EHLO client.test").await.starts_with("250"));
    let reply = other
        .command(&format!("AUTH PLAIN {}", plain(OTHER_ADDRESS)))
        .await;
    assert!(reply.starts_with("235"), "{reply}");
    server
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: common::ACCOUNT.into(),
            disabled: Some("moved to the new server".into()),
        })
        .await;
    // Time for authd's notice to reach submitd's sessions.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        client.command("NOOP").await,
        "421 4.7.0 moved to the new server, closing connection"
    );
    assert_eq!(client.line().await, "", "the connection stayed open");
    // The other account's session is untouched.
    assert!(other.command("NOOP").await.starts_with("250"));
}
