//! Failed logins per connection against the real binary: after the third failed LOGIN
//! or AUTHENTICATE imapd says `* BYE` and closes, as submitd does after three failed
//! AUTHs; a failure then a success on one connection still logs in.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{ADDRESS, PASSWORD, Server};
use postern_imapd::session::MAX_AUTH_FAILURES;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn the_third_failed_login_closes_the_connection() {
    assert_eq!(MAX_AUTH_FAILURES, 3);
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    // Two failures, each with LOGIN and AUTHENTICATE, leave the connection usable.
    let lines = client
        .command("a1", &format!("LOGIN {ADDRESS} \"wrong 1\""))
        .await;
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("a1 NO [AUTHENTICATIONFAILED]"),
        "{lines:?}"
    );
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("\0{ADDRESS}\0wrong 2"));
    let lines = client
        .command("a2", &format!("AUTHENTICATE PLAIN {bad}"))
        .await;
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("a2 NO [AUTHENTICATIONFAILED]"),
        "{lines:?}"
    );
    // The third: its NO, then BYE and the end.
    client
        .send(&format!("a3 LOGIN {ADDRESS} \"wrong 3\""))
        .await;
    let no = client.line().await;
    assert!(no.starts_with("a3 NO [AUTHENTICATIONFAILED]"), "{no}");
    assert_eq!(
        client.line().await,
        "* BYE too many authentication failures"
    );
    let mut rest = Vec::new();
    let n = tokio::time::timeout(
        Duration::from_secs(10),
        client.stream.read_to_end(&mut rest),
    )
    .await
    .expect("connection not closed")
    .unwrap_or(0);
    assert_eq!(n, 0, "more after BYE: {rest:?}");
}

#[tokio::test]
async fn a_mistyped_password_then_the_right_one_logs_in() {
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    client.line().await;
    for tag in ["b1", "b2"] {
        let lines = client
            .command(tag, &format!("LOGIN {ADDRESS} \"mistyped\""))
            .await;
        assert!(
            lines.last().unwrap().starts_with(&format!("{tag} NO ")),
            "{lines:?}"
        );
    }
    let lines = client
        .command("b3", &format!("LOGIN {ADDRESS} \"{PASSWORD}\""))
        .await;
    assert!(lines.last().unwrap().starts_with("b3 OK "), "{lines:?}");
}
