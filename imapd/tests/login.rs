//! The not-authenticated state end to end: a real authd and a real postern-imapd, driven
//! by Python's imaplib, openssl s_client and a small rustls client.

mod common;

use std::io::{BufRead, BufReader as StdBufReader, Write};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADDRESS, PASSWORD, Server, client_certificate, python};
use postern_ipc::admin::AdminRequest;

/// imaplib: LOGIN over IMAPS, a wrong password, LOGINDISABLED before STARTTLS, LOGIN
/// after STARTTLS.
const IMAPLIB_SCRIPT: &str = r#"
import imaplib, ssl, sys
imaps, imap, cafile, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)

c = imaplib.IMAP4_SSL("localhost", int(imaps), ssl_context=ctx)
print("imaps-caps", " ".join(sorted(c.capabilities)))
try:
    c.login(user, "wrong password")
    print("wrong-password accepted")
except imaplib.IMAP4.error as e:
    print("wrong-password", e)
typ, data = c.login(user, password)
print("imaps-login", typ, data[0].decode())
typ, data = c.noop()
print("noop", typ)
typ, data = c.select("INBOX")
print("select", typ, data[0].decode())
c.logout()

c = imaplib.IMAP4("localhost", int(imap))
print("plain-caps", " ".join(sorted(c.capabilities)))
try:
    c.login(user, password)
    print("plain-login accepted")
except imaplib.IMAP4.error as e:
    print("plain-login", e)
c.starttls(ssl_context=ctx)
typ, data = c.capability()
print("starttls-caps", data[0].decode())
typ, data = c.login(user, password)
print("starttls-login", typ, data[0].decode())
c.logout()
"#;

#[tokio::test]
async fn imaplib_login_over_imaps_and_starttls() {
    let server = Server::start().await;
    let out = python(
        IMAPLIB_SCRIPT,
        &[
            &server.imaps.port().to_string(),
            &server.imap.port().to_string(),
            server.cert_path().to_str().unwrap(),
            ADDRESS,
            PASSWORD,
        ],
    );
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{prefix} ")))
            .unwrap_or_else(|| panic!("no {prefix} in {out}"))
            .to_owned()
    };
    let imaps_caps = line("imaps-caps");
    assert!(imaps_caps.contains(" AUTH=PLAIN"), "{imaps_caps}");
    assert!(!imaps_caps.contains("LOGINDISABLED"), "{imaps_caps}");
    assert!(!imaps_caps.contains("STARTTLS"), "{imaps_caps}");
    assert!(!imaps_caps.contains("AUTH=EXTERNAL"), "{imaps_caps}");
    assert!(
        line("wrong-password").contains("[AUTHENTICATIONFAILED] login login failed"),
        "{out}"
    );
    assert!(line("imaps-login").starts_with("imaps-login OK"), "{out}");
    assert!(line("imaps-login").ends_with("login done"), "{out}");
    assert_eq!(line("noop"), "noop OK");
    // A new account's INBOX is empty.
    assert_eq!(line("select"), "select OK 0", "{out}");
    let plain_caps = line("plain-caps");
    assert!(plain_caps.contains("LOGINDISABLED"), "{plain_caps}");
    assert!(plain_caps.contains("STARTTLS"), "{plain_caps}");
    assert!(!plain_caps.contains("AUTH=PLAIN"), "{plain_caps}");
    assert!(
        line("plain-login").contains("[PRIVACYREQUIRED] login tls required for login"),
        "{out}"
    );
    let starttls_caps = line("starttls-caps");
    assert!(starttls_caps.contains("AUTH=PLAIN"), "{starttls_caps}");
    assert!(!starttls_caps.contains("STARTTLS"), "{starttls_caps}");
    assert!(
        line("starttls-login").starts_with("starttls-login OK"),
        "{out}"
    );
}

#[tokio::test]
async fn greeting_and_authenticate_plain_with_sasl_ir() {
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    let greeting = client.line().await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev2 IMAP4rev1 ENABLE LITERAL+"),
        "{greeting}"
    );
    assert!(
        greeting.contains(
            "AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-1-PLUS AUTH=SCRAM-SHA-1 \
             AUTH=CRAM-MD5 ID"
        ),
        "{greeting}"
    );
    assert!(greeting.ends_with("AUTH=PLAIN] postern imap"), "{greeting}");

    let lines = client
        .command("i1", "ID (\"name\" \"testclient\" \"version\" \"1.0\")")
        .await;
    assert_eq!(lines.last().unwrap(), "i1 OK id done");

    let bad = BASE64.encode(format!("\0{ADDRESS}\0nope"));
    let lines = client
        .command("a0", &format!("AUTHENTICATE PLAIN {bad}"))
        .await;
    assert_eq!(
        lines.last().unwrap(),
        "a0 NO [AUTHENTICATIONFAILED] authenticate bad credentials"
    );

    // Without SASL-IR: an empty challenge, then the response; `*` aborts.
    client.send("a1 AUTHENTICATE PLAIN").await;
    assert_eq!(client.line().await, "+ ");
    client.send("*").await;
    let lines = client.until_tagged("a1").await;
    assert_eq!(
        lines.last().unwrap(),
        "a1 BAD authenticate aborted by client"
    );

    let good = BASE64.encode(format!("\0{ADDRESS}\0{PASSWORD}"));
    let lines = client
        .command("a2", &format!("AUTHENTICATE PLAIN {good}"))
        .await;
    let last = lines.last().unwrap();
    assert!(last.starts_with("a2 OK [CAPABILITY IMAP4rev2"), "{last}");
    assert!(last.ends_with("] authenticate done"), "{last}");

    let lines = client.command("a3", "LOGIN x y").await;
    assert_eq!(
        lines.last().unwrap(),
        "a3 NO LOGIN not allowed in this connection state"
    );
    let lines = client.command("a4", "LOGOUT").await;
    assert_eq!(lines, ["* BYE thanks", "a4 OK logout done"]);

    // The login history has the user agent from ID.
    let history = server
        .admin_ok(AdminRequest::LoginAttempts {
            account: Some(common::ACCOUNT.into()),
            limit: Some(10),
        })
        .await;
    assert!(
        format!("{history:?}").contains("testclient/1.0"),
        "{history:?}"
    );
}

#[tokio::test]
async fn plain_connection_refuses_plain_and_plus_and_discards_injected_commands() {
    let server = Server::start().await;
    let mut client = server.connect_plain().await;
    let greeting = client.line().await;
    assert!(
        greeting.ends_with("STARTTLS LOGINDISABLED] postern imap"),
        "{greeting}"
    );
    let good = BASE64.encode(format!("\0{ADDRESS}\0{PASSWORD}"));
    let lines = client
        .command("a1", &format!("AUTHENTICATE PLAIN {good}"))
        .await;
    assert_eq!(
        lines.last().unwrap(),
        "a1 NO [PRIVACYREQUIRED] authenticate tls required for login"
    );
    let lines = client
        .command("a2", "AUTHENTICATE SCRAM-SHA-256-PLUS")
        .await;
    assert_eq!(
        lines.last().unwrap(),
        "a2 NO authenticate cannot use plus variant with tls channel binding without tls"
    );
    // A command sent in the clear right behind STARTTLS must not run on the TLS side.
    client.send("s1 STARTTLS\r\nx1 NOOP").await;
    assert_eq!(client.line().await, "s1 OK starttls ok");
    let tcp = client.stream.into_inner();
    let connector = tokio_rustls::TlsConnector::from(server.client_config(None));
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await;
    // The injected bytes were discarded before the handshake: the handshake works and
    // no `x1` answer comes over TLS.
    let mut client = common::Client::new(tls.unwrap());
    let lines = client.command("n1", "NOOP").await;
    assert_eq!(lines, ["n1 OK noop done"]);
}

#[tokio::test]
async fn scram_sha_256_plus_with_tls_exporter() {
    let server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK "), "{greeting}");
    let mut binding = [0u8; 32];
    client
        .stream
        .get_ref()
        .get_ref()
        .1
        .export_keying_material(&mut binding, b"EXPORTER-Channel-Binding", Some(&[]))
        .unwrap();
    let hex: String = binding.iter().map(|b| format!("{b:02x}")).collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../authd/tests/scram_client.py"
    );
    let mut scram = Command::new("python3")
        .args([script, "SCRAM-SHA-256-PLUS", ADDRESS, PASSWORD, &hex])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_scram = scram.stdin.take().unwrap();
    let mut from_scram = StdBufReader::new(scram.stdout.take().unwrap());
    let mut scram_line = || {
        let mut line = String::new();
        from_scram.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    };
    let client_first = scram_line();
    assert!(
        client_first.starts_with("p=tls-exporter,"),
        "{client_first}"
    );
    client
        .send(&format!(
            "s1 AUTHENTICATE SCRAM-SHA-256-PLUS {}",
            BASE64.encode(&client_first)
        ))
        .await;
    let server_first = client.line().await;
    let server_first = String::from_utf8(
        BASE64
            .decode(server_first.strip_prefix("+ ").expect("challenge"))
            .unwrap(),
    )
    .unwrap();
    writeln!(to_scram, "{server_first}").unwrap();
    let client_final = scram_line();
    client.send(&BASE64.encode(&client_final)).await;
    let server_final = client.line().await;
    let server_final = String::from_utf8(
        BASE64
            .decode(server_final.strip_prefix("+ ").expect("final"))
            .unwrap(),
    )
    .unwrap();
    writeln!(to_scram, "{server_final}").unwrap();
    assert_eq!(scram_line(), "CLIENT-ACCEPTS");
    client.send("").await;
    let lines = client.until_tagged("s1").await;
    let last = lines.last().unwrap();
    assert!(last.starts_with("s1 OK [CAPABILITY "), "{last}");
    assert!(last.ends_with("authenticate done"), "{last}");
    let _ = scram.wait();
}

#[tokio::test]
async fn authd_stopped_gives_unavailable() {
    let mut server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    client.line().await;
    server.stop_authd();
    let lines = client
        .command("l1", &format!("LOGIN {ADDRESS} \"{PASSWORD}\""))
        .await;
    let last = lines.last().unwrap();
    assert!(last.starts_with("l1 NO [UNAVAILABLE] "), "{last}");
    let good = BASE64.encode(format!("\0{ADDRESS}\0{PASSWORD}"));
    let lines = client
        .command("a1", &format!("AUTHENTICATE PLAIN {good}"))
        .await;
    assert!(lines.last().unwrap().starts_with("a1 NO [UNAVAILABLE] "));
}

#[tokio::test]
async fn client_certificates_preauth_and_unknown() {
    let server = Server::start().await;
    // An unknown certificate: the normal greeting, no EXTERNAL.
    let (cert, key) = client_certificate();
    let mut client = server.connect_tls(Some((cert, key))).await;
    let greeting = client.line().await;
    assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
    assert!(greeting.ends_with("AUTH=PLAIN] postern imap"), "{greeting}");
    let lines = client
        .command("l1", &format!("LOGIN {ADDRESS} \"{PASSWORD}\""))
        .await;
    assert!(lines.last().unwrap().starts_with("l1 OK "));

    // A registered key: openssl s_client gets PREAUTH.
    let (cert, _, cert_text, key_text) = common::client_certificate_pem();
    server
        .admin_ok(AdminRequest::TlsPublicKeyAdd {
            account: common::ACCOUNT.into(),
            login_address: ADDRESS.into(),
            certificate_der: cert.to_vec(),
            name: None,
            no_imap_preauth: false,
        })
        .await;
    let cert_pem = server.dir.path().join("client-cert.pem");
    let key_pem = server.dir.path().join("client-key.pem");
    std::fs::write(&cert_pem, cert_text).unwrap();
    std::fs::write(&key_pem, key_text).unwrap();
    let mut openssl = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect"])
        .arg(server.imaps.to_string())
        .arg("-cert")
        .arg(&cert_pem)
        .arg("-key")
        .arg(&key_pem)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = StdBufReader::new(openssl.stdout.take().unwrap());
    let mut greeting = String::new();
    out.read_line(&mut greeting).unwrap();
    let mut stdin = openssl.stdin.take().unwrap();
    let _ = stdin.write_all(b"x LOGOUT\r\n");
    drop(stdin);
    let _ = openssl.wait();
    assert!(greeting.starts_with("* PREAUTH [CAPABILITY "), "{greeting}");
    assert!(
        greeting
            .trim_end()
            .ends_with(&format!("postern imap welcomes {ADDRESS}")),
        "{greeting}"
    );
    assert!(greeting.contains("AUTH=EXTERNAL"), "{greeting}");
}

#[tokio::test]
async fn no_imap_preauth_key_uses_authenticate_external() {
    let server = Server::start().await;
    let (cert, key) = client_certificate();
    server
        .admin_ok(AdminRequest::TlsPublicKeyAdd {
            account: common::ACCOUNT.into(),
            login_address: ADDRESS.into(),
            certificate_der: cert.to_vec(),
            name: None,
            no_imap_preauth: true,
        })
        .await;
    // Implicit TLS with no_imap_preauth: a normal greeting offering EXTERNAL.
    let mut client = server
        .connect_tls(Some((cert.clone(), key.clone_key())))
        .await;
    let greeting = client.line().await;
    assert!(
        greeting.ends_with("AUTH=PLAIN AUTH=EXTERNAL] postern imap"),
        "{greeting}"
    );
    let lines = client.command("e1", "AUTHENTICATE EXTERNAL =").await;
    let last = lines.last().unwrap();
    assert!(last.starts_with("e1 OK [CAPABILITY "), "{last}");
    assert!(last.ends_with("authenticate done"), "{last}");

    // After STARTTLS: no PREAUTH, EXTERNAL works.
    let mut client = server.connect_plain().await;
    let greeting = client.line().await;
    assert!(!greeting.contains("AUTH=EXTERNAL"), "{greeting}");
    let lines = client.command("e0", "AUTHENTICATE EXTERNAL =").await;
    assert_eq!(
        lines.last().unwrap(),
        "e0 NO [AUTHENTICATIONFAILED] authenticate tls required for tls client certificate \
         authentication"
    );
    let lines = client.command("s1", "STARTTLS").await;
    assert_eq!(lines, ["s1 OK starttls ok"]);
    let tcp = client.stream.into_inner();
    let connector = tokio_rustls::TlsConnector::from(server.client_config(Some((cert, key))));
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let mut client = common::Client::new(tls);
    let lines = client.command("c1", "CAPABILITY").await;
    assert!(lines[0].ends_with("AUTH=PLAIN AUTH=EXTERNAL"), "{lines:?}");
    client.send("e1 AUTHENTICATE EXTERNAL").await;
    assert_eq!(client.line().await, "+ ");
    client.send("").await;
    let lines = client.until_tagged("e1").await;
    assert!(
        lines.last().unwrap().ends_with("authenticate done"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn listeners_by_socket_activation() {
    let server = Server::start_with(true).await;
    let mut client = server.connect_tls(None).await;
    assert!(client.line().await.ends_with("AUTH=PLAIN] postern imap"));
    let mut client = server.connect_plain().await;
    assert!(
        client
            .line()
            .await
            .ends_with("STARTTLS LOGINDISABLED] postern imap")
    );
}
