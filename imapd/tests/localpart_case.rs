//! Logins with another case of the localpart, against the real authd and imapd: one
//! account whatever the case by default, exact localparts with `[authd]
//! localpart_case_sensitive = true`. Proved with Python's imaplib too.

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{PASSWORD, Server, python};
use postern_ipc::Secret;
use postern_ipc::admin::AdminRequest;
use postern_testkit::AuthdProcess;

/// imaplib: LOGIN with the given name, then the number of messages in INBOX.
const LOGIN_SCRIPT: &str = r#"
import imaplib, ssl, sys
port, cafile, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
c = imaplib.IMAP4_SSL("localhost", int(port), ssl_context=ctx)
try:
    typ, data = c.login(user, password)
    typ, data = c.select("INBOX")
    print("login-ok", data[0].decode())
    c.logout()
except imaplib.IMAP4.error as e:
    print("login-failed", e)
"#;

fn imaplib_login(server: &Server, user: &str, password: &str) -> String {
    python(
        LOGIN_SCRIPT,
        &[
            &server.imaps.port().to_string(),
            server.cert_path().to_str().unwrap(),
            user,
            password,
        ],
    )
    .trim()
    .to_owned()
}

async fn authenticate_plain(server: &Server, user: &str, password: &str) -> String {
    let mut client = server.connect_tls(None).await;
    client.line().await;
    let response = BASE64.encode(format!("\0{user}\0{password}"));
    let lines = client
        .command("a1", &format!("AUTHENTICATE PLAIN {response}"))
        .await;
    lines.last().unwrap().clone()
}

#[tokio::test]
async fn mixed_case_logins_reach_the_account() {
    let server = Server::start().await;
    server
        .admin_ok(AdminRequest::AddressAdd {
            address: "Mjl.Alias@Example.org".into(),
            account: "mjl".into(),
        })
        .await;
    for user in [
        "MJL@example.org",
        "Mjl@Example.ORG",
        "mjl.alias@example.org",
        "MJL.ALIAS@EXAMPLE.ORG",
    ] {
        assert_eq!(
            imaplib_login(&server, user, PASSWORD),
            "login-ok 0",
            "{user}"
        );
        let last = authenticate_plain(&server, user, PASSWORD).await;
        assert!(last.starts_with("a1 OK "), "{user}: {last}");
    }
    let last = authenticate_plain(&server, "MJL@example.org", "wrong password").await;
    assert!(last.starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{last}");
}

#[tokio::test]
async fn case_sensitive_setting_needs_the_exact_localpart() {
    let mut server = Server::start().await;
    server.stop_authd();
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let config = config.replacen("[authd]\n", "[authd]\nlocalpart_case_sensitive = true\n", 1);
    std::fs::write(&server.config_path, config).unwrap();
    server.authd = Some(AuthdProcess::start(&server.config_path).await);
    // Another account may now have the address that differs only by case.
    server
        .admin_ok(AdminRequest::AccountAdd {
            account: "other".into(),
            address: "MJL@example.org".into(),
        })
        .await;
    server
        .admin_ok(AdminRequest::AccountSetPassword {
            account: "other".into(),
            password: Secret("other password 1".into()),
        })
        .await;
    assert_eq!(
        imaplib_login(&server, "mjl@EXAMPLE.org", PASSWORD),
        "login-ok 0"
    );
    // MJL@ is the other account: mjl's password does not open it, its own does.
    let failed = imaplib_login(&server, "MJL@example.org", PASSWORD);
    assert!(failed.starts_with("login-failed"), "{failed}");
    assert_eq!(
        imaplib_login(&server, "MJL@example.org", "other password 1"),
        "login-ok 0"
    );
    let last = authenticate_plain(&server, "Mjl@example.org", PASSWORD).await;
    assert!(last.starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{last}");
}
