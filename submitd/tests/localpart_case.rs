//! Submission with another case of the localpart, against the real authd and submitd:
//! AUTH, MAIL FROM and From: compare localparts without case by default, exactly with
//! `[authd] localpart_case_sensitive = true`. Proved with Python's smtplib too.

mod common;

use common::{ALIAS, OTHER_ADDRESS, Server, message, plain, python, queue_id};
use postern_testkit::AuthdProcess;

/// smtplib: AUTH PLAIN as `user` over implicit TLS, one message with envelope sender
/// and From: `sender`; prints the result.
const SMTPLIB_SCRIPT: &str = r#"
import smtplib, ssl, sys
import email.policy
from email.message import EmailMessage
port, cafile, user, password, sender, rcpt = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m = EmailMessage()
m["From"] = sender
m["To"] = rcpt
m["Subject"] = "case"
m.set_content("hello\n")
s = smtplib.SMTP_SSL("127.0.0.1", int(port), context=ctx)
s.login(user, password)
try:
    s.sendmail(sender, [rcpt], m.as_bytes(policy=email.policy.SMTP))
    print("sent")
except smtplib.SMTPException as e:
    print("refused", e)
s.quit()
"#;

fn smtplib_send(server: &Server, user: &str, sender: &str) -> String {
    python(
        SMTPLIB_SCRIPT,
        &[
            &server.submissions.port().to_string(),
            server.cert_path().to_str().unwrap(),
            user,
            common::PASSWORD,
            sender,
            OTHER_ADDRESS,
        ],
    )
    .trim()
    .to_owned()
}

#[tokio::test]
async fn mixed_case_login_mail_from_and_from_header_are_the_accounts() {
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    assert!(client.command("EHLO client.test").await.starts_with("250"));
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain("MJL@Example.ORG")))
        .await;
    assert!(reply.starts_with("235 2.7.0"), "{reply}");
    let alias = ALIAS.to_uppercase();
    let reply = client.command(&format!("MAIL FROM:<{alias}>")).await;
    assert!(reply.starts_with("250"), "{reply}");
    let reply = client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(client.command("DATA").await.starts_with("354"));
    client
        .send_raw(format!("{}.\r\n", message("Mjl@EXAMPLE.org", "case")).as_bytes())
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250"), "{reply}");
    let (account, mail_from, _) = server.queued_envelope(&queue_id(&reply));
    assert_eq!(account, "mjl");
    assert_eq!(mail_from, alias, "the envelope keeps the client's spelling");
    // Another account's address is refused in any case.
    let reply = client
        .command(&format!("MAIL FROM:<{}>", OTHER_ADDRESS.to_uppercase()))
        .await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");

    assert_eq!(
        smtplib_send(&server, "Mjl@example.org", "ALIAS@example.org"),
        "sent"
    );
}

#[tokio::test]
async fn case_sensitive_setting_refuses_other_spellings() {
    let mut server = Server::start().await;
    server.stop_authd();
    let config = std::fs::read_to_string(&server.config_path).unwrap();
    let config = config.replacen("[authd]\n", "[authd]\nlocalpart_case_sensitive = true\n", 1);
    std::fs::write(&server.config_path, config).unwrap();
    server.authd = Some(AuthdProcess::start(&server.config_path).await);
    let mut client = server.connect_tls(None).await;
    assert!(client.command("EHLO client.test").await.starts_with("250"));
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain("MJL@example.org")))
        .await;
    assert!(reply.starts_with("535"), "{reply}");
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain("mjl@EXAMPLE.org")))
        .await;
    assert!(reply.starts_with("235 2.7.0"), "{reply}");
    let reply = client.command("MAIL FROM:<Alias@example.org>").await;
    assert!(reply.starts_with("550 5.7.1"), "{reply}");
    let reply = client.command(&format!("MAIL FROM:<{ALIAS}>")).await;
    assert!(reply.starts_with("250"), "{reply}");

    let refused = smtplib_send(&server, "mjl@example.org", "MJL@example.org");
    assert!(refused.starts_with("refused"), "{refused}");
}
