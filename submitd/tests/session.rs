//! The SMTP submission session against real authd and submitd binaries, driven by a
//! small Rust client: EHLO by state, login paths, ownership of senders, the limits, DATA
//! and BDAT, pipelining, and temporary failures.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADDRESS, ALIAS, Client, OTHER_ADDRESS, Options, Server, message, plain, queue_id};
use tokio::io::AsyncReadExt;

const AUTH_LINE_TLS13: &str = "250 AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS \
                               SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN";

#[tokio::test]
async fn ehlo_and_refusals_before_tls_and_login() {
    let server = Server::start().await;
    let mut client = server.connect_plain().await;
    let ehlo = client.command("EHLO client.test").await;
    for keyword in [
        "250-PIPELINING",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-SIZE 102400",
        "250-ENHANCEDSTATUSCODES",
        "250-CHUNKING",
        "STARTTLS",
    ] {
        assert!(ehlo.contains(keyword), "{keyword} missing in {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    // No AUTH and no MAIL before TLS.
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("538 5.7.11 "), "{reply}");
    let reply = client.command("AUTH CRAM-MD5").await;
    assert!(reply.starts_with("538 5.7.11 "), "{reply}");
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("530 5.7.0 "), "{reply}");

    let mut client = client.starttls(&server, None).await;
    // The greeting is forgotten after STARTTLS.
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("503 5.5.1 "), "{reply}");
    let ehlo = client.command("EHLO client.test").await;
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.ends_with(AUTH_LINE_TLS13), "{ehlo}");
    // No MAIL before AUTH.
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(
        reply.starts_with("530 5.7.0 authentication required"),
        "{reply}"
    );
    let reply = client.command("STARTTLS").await;
    assert!(reply.starts_with("503 5.5.1 "), "{reply}");
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("235 2.7.0 "), "{reply}");
    // AUTH once; no AUTH in the EHLO reply after it.
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("503 5.5.1 "), "{reply}");
    let ehlo = client.command("EHLO client.test").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    let reply = client.command("QUIT").await;
    assert!(reply.starts_with("221 "), "{reply}");

    // TLS 1.2 has no tls-exporter channel binding: no -PLUS mechanisms.
    let mut client = server.connect_tls_version(None, true).await;
    let ehlo = client.command("EHLO client.test").await;
    assert!(
        ehlo.ends_with("250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"),
        "{ehlo}"
    );
    let reply = client.command("AUTH SCRAM-SHA-256-PLUS").await;
    assert!(reply.starts_with("538 5.7.11 "), "{reply}");
}

#[tokio::test]
async fn message_is_queued_with_added_headers() {
    let server = Server::start().await;
    let mut client = server.login().await;
    let reply = client.command(&format!("MAIL FROM:<{ALIAS}>")).await;
    assert!(reply.starts_with("250 2.1.0"), "{reply}");
    let reply = client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
    assert!(reply.starts_with("250 2.1.5"), "{reply}");
    let reply = client.command("DATA").await;
    assert!(reply.starts_with("354 "), "{reply}");
    // No Date and no Message-ID: submitd adds them (RFC 6409 §8).
    let body = format!(
        "From: <{ADDRESS}>\r\nTo: <{OTHER_ADDRESS}>\r\nSubject: hi\r\n\r\n\
         ..leading dot\r\nline two\r\n"
    );
    client.send_raw(body.as_bytes()).await;
    client.send_raw(b".\r\n").await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");
    let id = queue_id(&reply);
    let stored = String::from_utf8(server.queued_message(&id)).unwrap();
    let original = body.replace("\r\n..leading", "\r\n.leading");
    assert!(stored.ends_with(&original), "{stored}");
    let added = &stored[..stored.len() - original.len()];
    assert!(
        added.starts_with("Received: from mail.test by mail.test "),
        "{added}"
    );
    assert!(added.contains(" with ESMTPSA id "), "{added}");
    assert!(added.contains("(version=TLSv1.3 cipher="), "{added}");
    assert!(added.contains("(authenticated account mjl)"), "{added}");
    assert!(
        added.contains(&format!("for <{OTHER_ADDRESS}>;")),
        "{added}"
    );
    assert!(added.contains("\r\nMessage-ID: <"), "{added}");
    assert!(added.contains("@mail.test>\r\nDate: "), "{added}");
    // The client's own name is not revealed.
    assert!(!added.contains("client.test"), "{added}");
    let (account, mail_from, recipients) = server.queued_envelope(&id);
    assert_eq!(account, "mjl");
    assert_eq!(mail_from, ALIAS);
    assert_eq!(recipients, vec![OTHER_ADDRESS.to_string()]);

    // A message that has Date and Message-ID keeps them, and gets only Received.
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("250 "), "{reply}");
    for rcpt in ["a@remote.test", "b@remote.test", "a@remote.test"] {
        let reply = client.command(&format!("RCPT TO:<{rcpt}>")).await;
        assert!(reply.starts_with("250 "), "{reply}");
    }
    client.command("DATA").await;
    let text = message(ADDRESS, "second");
    client
        .send_raw(format!("{}.\r\n", text.replace("\r\n.", "\r\n..")).as_bytes())
        .await;
    let reply = client.reply().await;
    let id = queue_id(&reply);
    let stored = String::from_utf8(server.queued_message(&id)).unwrap();
    assert!(stored.ends_with(&text), "{stored}");
    let added = &stored[..stored.len() - text.len()];
    assert_eq!(added.matches("\r\n").count(), 4, "{added}");
    assert!(
        !added.contains("Message-ID") && !added.contains("\r\nDate:"),
        "{added}"
    );
    // Several recipients: no "for" clause, duplicates dropped.
    assert!(!added.contains(" for <"), "{added}");
    let (_, _, recipients) = server.queued_envelope(&id);
    assert_eq!(recipients, vec!["a@remote.test", "b@remote.test"]);
}

#[tokio::test]
async fn sender_must_belong_to_the_account() {
    let server = Server::start().await;
    let mut client = server.login().await;
    for from in [OTHER_ADDRESS, "nobody@example.org", "mjl@elsewhere.test"] {
        let reply = client.command(&format!("MAIL FROM:<{from}>")).await;
        assert!(reply.starts_with("550 5.7.1 "), "{from}: {reply}");
    }
    // The From header is checked too.
    for (header, expect) in [
        (format!("From: <{OTHER_ADDRESS}>\r\n"), "550 5.7.1 "),
        (
            format!("From: <{ADDRESS}>, <{OTHER_ADDRESS}>\r\n"),
            "550 5.7.1 ",
        ),
        (
            format!("From: <{ADDRESS}>\r\nFrom: <{ALIAS}>\r\n"),
            "550 5.6.0 ",
        ),
        (String::new(), "550 5.6.0 "),
    ] {
        let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
        assert!(reply.starts_with("250 "), "{reply}");
        client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
        client.command("DATA").await;
        client
            .send_raw(format!("{header}Subject: x\r\n\r\nbody\r\n.\r\n").as_bytes())
            .await;
        let reply = client.reply().await;
        assert!(reply.starts_with(expect), "{header:?}: {reply}");
    }
    // The null reverse path is allowed; the From header still must be ours.
    let reply = client.command("MAIL FROM:<>").await;
    assert!(reply.starts_with("250 "), "{reply}");
    client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
    client.command("DATA").await;
    client
        .send_raw(format!("From: {ALIAS}\r\n\r\nbody\r\n.\r\n").as_bytes())
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(server.queued_count(), 1);
}

#[tokio::test]
async fn size_and_recipient_limits_keep_the_session_in_step() {
    let server = Server::start().await;
    let mut client = server.login().await;
    // SIZE over the limit is refused at MAIL.
    let reply = client
        .command(&format!("MAIL FROM:<{ADDRESS}> SIZE=200000"))
        .await;
    assert!(reply.starts_with("552 5.3.4 "), "{reply}");
    // Five recipients are fine, the sixth is not.
    let reply = client
        .command(&format!("MAIL FROM:<{ADDRESS}> SIZE=1000"))
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    for n in 0..5 {
        let reply = client.command(&format!("RCPT TO:<r{n}@remote.test>")).await;
        assert!(reply.starts_with("250 "), "{reply}");
    }
    let reply = client.command("RCPT TO:<r5@remote.test>").await;
    assert_eq!(reply, "452 4.5.3 max of 5 recipients reached");
    // DATA over the limit: read to its end, then 552, and the next command works.
    client.command("DATA").await;
    let line = format!("{}\r\n", "x".repeat(998));
    let mut data = format!("From: <{ADDRESS}>\r\n\r\n");
    while data.len() < 150 * 1024 {
        data.push_str(&line);
    }
    data.push_str(".\r\n");
    client.send_raw(data.as_bytes()).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("552 5.3.4 "), "{reply}");
    let reply = client.command("NOOP").await;
    assert!(reply.starts_with("250 "), "{reply}");
    // BDAT over the limit: the chunk is read, 552, in step again.
    client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
    let chunk = vec![b'y'; 120 * 1024];
    client
        .send_raw(format!("BDAT {} LAST\r\n", chunk.len()).as_bytes())
        .await;
    client.send_raw(&chunk).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("552 5.3.4 "), "{reply}");
    let reply = client.command("NOOP").await;
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(server.queued_count(), 0);
}

#[tokio::test]
async fn bdat_chunks_and_pipelining() {
    let server = Server::start().await;
    let mut client = server.login().await;
    let text = message(ADDRESS, "chunked");
    let (first, second) = text.split_at(20);
    // One write: MAIL, RCPT and two BDAT chunks (RFC 2920 and RFC 3030).
    let mut batch = format!(
        "MAIL FROM:<{ADDRESS}> BODY=8BITMIME\r\nRCPT TO:<{OTHER_ADDRESS}>\r\nBDAT {}\r\n",
        first.len()
    )
    .into_bytes();
    batch.extend_from_slice(first.as_bytes());
    batch.extend_from_slice(format!("BDAT {} LAST\r\n", second.len()).as_bytes());
    batch.extend_from_slice(second.as_bytes());
    batch.extend_from_slice(b"NOOP\r\n");
    client.send_raw(&batch).await;
    assert!(client.reply().await.starts_with("250 2.1.0"));
    assert!(client.reply().await.starts_with("250 2.1.5"));
    let reply = client.reply().await;
    assert!(reply.starts_with("250 2.0.0 20 octets"), "{reply}");
    let reply = client.reply().await;
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");
    let id = queue_id(&reply);
    assert!(client.reply().await.starts_with("250 "));
    let stored = String::from_utf8(server.queued_message(&id)).unwrap();
    assert!(stored.ends_with(&text), "{stored}");
    // BDAT without a transaction: the chunk is still consumed.
    client.send_raw(b"BDAT 6 LAST\r\nNOOP\r\nNOOP\r\n").await;
    let reply = client.reply().await;
    assert!(reply.starts_with("503 5.5.1 "), "{reply}");
    // The first NOOP was the chunk; the second is a command.
    let reply = client.reply().await;
    assert!(reply.starts_with("250 "), "{reply}");
    // Pipelined DATA transaction with a bare LF in the message: refused.
    client
        .send_raw(
            format!("MAIL FROM:<{ADDRESS}>\r\nRCPT TO:<{OTHER_ADDRESS}>\r\nDATA\r\n").as_bytes(),
        )
        .await;
    assert!(client.reply().await.starts_with("250 "));
    assert!(client.reply().await.starts_with("250 "));
    assert!(client.reply().await.starts_with("354 "));
    client
        .send_raw(format!("From: <{ADDRESS}>\r\n\r\nbare\nline\r\n.\r\n").as_bytes())
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("500 5.5.2 "), "{reply}");
    assert_eq!(server.queued_count(), 1);
}

#[tokio::test]
async fn bad_input_closes_the_connection() {
    let server = Server::start().await;
    // Not SMTP at all.
    let mut client = server.connect_plain().await;
    let reply = client.command("GET / HTTP/1.1").await;
    assert!(reply.starts_with("500 5.5.2 "), "{reply}");
    assert_eq!(client.line().await, "");
    // A line over the limit.
    let mut client = server.connect_plain().await;
    client.command("EHLO client.test").await;
    client.send_raw(&vec![b'a'; 10_000]).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("500 5.5.0 line too long"), "{reply}");
    assert_eq!(client.line().await, "");
    // Too many errors.
    let mut client = server.connect_plain().await;
    let mut last = String::new();
    for _ in 0..30 {
        last = client.command("MAIL FROM:<a@b>").await;
        if last.starts_with("421") {
            break;
        }
    }
    assert!(last.starts_with("421 4.7.0 "), "{last}");
    // Commands sent in the clear after STARTTLS are dropped, not run under TLS.
    let mut client = server.connect_plain().await;
    client.command("EHLO client.test").await;
    client.send_raw(b"STARTTLS\r\nRSET\r\n").await;
    let reply = client.reply().await;
    assert!(reply.starts_with("220 "), "{reply}");
    let tcp = client.stream.into_inner();
    let connector = tokio_rustls::TlsConnector::from(server.client_config(None, false));
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let mut client = Client::new(tls);
    let reply = client.command("NOOP").await;
    assert!(reply.starts_with("250 "), "{reply}");
}

#[tokio::test]
async fn authd_down_is_a_temporary_failure() {
    let mut server = Server::start().await;
    let mut client = server.connect_tls(None).await;
    client.command("EHLO client.test").await;
    server.stop_authd();
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("454 4.7.0 "), "{reply}");
    let reply = client.command("AUTH LOGIN").await;
    assert!(reply.starts_with("454 4.7.0 "), "{reply}");
}

#[tokio::test]
async fn rate_limited_logins_get_454_never_535() {
    let server = Server::start().await;
    let bad = BASE64.encode(format!("\0{ADDRESS}\0wrong password"));
    let mut saw_limit = false;
    // authd allows 10 failures per minute from one address.
    'connections: for _ in 0..6 {
        let mut client = server.connect_tls(None).await;
        client.command("EHLO client.test").await;
        for _ in 0..3 {
            let reply = client.command(&format!("AUTH PLAIN {bad}")).await;
            if reply.starts_with("454 4.7.0 ") {
                saw_limit = true;
                break 'connections;
            }
            assert!(reply.starts_with("535 5.7.8 "), "{reply}");
        }
        // The third failure ends the connection.
        let reply = client.reply().await;
        assert!(reply.starts_with("421 4.7.0 "), "{reply}");
    }
    assert!(saw_limit, "no rate limit after many failures");
    // Even the right password is now a temporary failure.
    let mut client = server.connect_tls(None).await;
    client.command("EHLO client.test").await;
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("454 4.7.0 "), "{reply}");
    let attempts = server.login_attempts().await;
    assert!(
        attempts.iter().any(
            |a| a.result == postern_ipc::LoginResult::RateLimited && a.protocol == "submission"
        ),
        "{attempts:?}"
    );
}

#[tokio::test]
async fn client_certificate_authenticates_without_auth() {
    let server = Server::start().await;
    let (cert, key, _, _) = server.register_client_certificate().await;
    let mut client = server
        .connect_tls(Some((cert.clone(), key.clone_key())))
        .await;
    let ehlo = client.command("EHLO client.test").await;
    assert!(ehlo.ends_with("250 AUTH EXTERNAL SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN"), "{ehlo}");
    // A later AUTH must name the certificate's account.
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(OTHER_ADDRESS)))
        .await;
    assert!(reply.starts_with("535 5.7.8 "), "{reply}");
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("250 "), "{reply}");
    client.command(&format!("RCPT TO:<{OTHER_ADDRESS}>")).await;
    client.command("DATA").await;
    client
        .send_raw(format!("{}.\r\n", message(ADDRESS, "cert")).as_bytes())
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");
    // AUTH EXTERNAL with the same certificate succeeds.
    let reply = client.command("AUTH EXTERNAL =").await;
    assert!(reply.starts_with("235 "), "{reply}");

    // Over STARTTLS too, and the identity survives the greeting reset.
    let client = server.connect_plain().await;
    let mut client = client.starttls(&server, Some((cert, key))).await;
    client.command("EHLO client.test").await;
    let reply = client.command(&format!("MAIL FROM:<{ALIAS}>")).await;
    assert!(reply.starts_with("250 "), "{reply}");

    // An unknown certificate is ignored: the handshake works, login is still needed.
    let (other_cert, other_key, _, _) = common::client_certificate_pem();
    let mut client = server.connect_tls(Some((other_cert, other_key))).await;
    let ehlo = client.command("EHLO client.test").await;
    assert!(ehlo.ends_with(AUTH_LINE_TLS13), "{ehlo}");
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("530 5.7.0 "), "{reply}");
    let reply = client
        .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
        .await;
    assert!(reply.starts_with("235 "), "{reply}");

    let attempts = server.login_attempts().await;
    let certificate = attempts
        .iter()
        .find(|a| a.mechanism == "tls-client-certificate" && a.account == "mjl")
        .expect("certificate login recorded");
    assert_eq!(certificate.protocol, "submission");
    assert_eq!(certificate.tls_version, "TLSv1.3");
    assert!(!certificate.client_key.is_empty());
    assert_eq!(certificate.remote_ip, "127.0.0.1");
}

#[tokio::test]
async fn sasl_mechanisms_relay_to_authd() {
    let server = Server::start().await;
    // LOGIN: username and password as answers to 334 challenges.
    let mut client = server.connect_tls(None).await;
    client.command("EHLO client.test").await;
    let reply = client.command("AUTH LOGIN").await;
    assert_eq!(reply, format!("334 {}", BASE64.encode("Username:")));
    let reply = client.command(&BASE64.encode(ADDRESS)).await;
    assert_eq!(reply, format!("334 {}", BASE64.encode("Password:")));
    let reply = client.command(&BASE64.encode(common::PASSWORD)).await;
    assert!(reply.starts_with("235 2.7.0 "), "{reply}");
    // Aborted and malformed exchanges.
    let mut client = server.connect_tls(None).await;
    client.command("EHLO client.test").await;
    client.command("AUTH CRAM-MD5").await;
    let reply = client.command("*").await;
    assert!(reply.starts_with("501 5.5.0 "), "{reply}");
    let reply = client.command("AUTH PLAIN !!!").await;
    assert!(reply.starts_with("501 5.5.2 "), "{reply}");
    let reply = client.command("AUTH GSSAPI").await;
    assert!(reply.starts_with("504 5.5.4 "), "{reply}");
    let reply = client.command("AUTH EXTERNAL =").await;
    assert!(
        reply.starts_with("535 5.7.8 missing client certificate"),
        "{reply}"
    );
    let bad = BASE64.encode(format!("\0{ADDRESS}\0not the password"));
    let reply = client.command(&format!("AUTH PLAIN {bad}")).await;
    assert!(reply.starts_with("535 5.7.8 "), "{reply}");

    // SCRAM-SHA-256-PLUS with the tls-exporter binding, from Python's scramp (the
    // client authd's own tests use).
    let scram_client = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../authd/tests/scram_client.py"
    );
    let tcp = tokio::net::TcpStream::connect(server.submissions)
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(server.client_config(None, false));
    let tls = connector
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let binding = tls
        .get_ref()
        .1
        .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
        .unwrap();
    let hex: String = binding.iter().map(|b| format!("{b:02x}")).collect();
    let mut client = Client::new(tls);
    assert!(client.reply().await.starts_with("220 "));
    client.command("EHLO client.test").await;
    let mut scram = tokio::process::Command::new("python3")
        .arg(scram_client)
        .args(["SCRAM-SHA-256-PLUS", ADDRESS, common::PASSWORD, &hex])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_scram = scram.stdin.take().unwrap();
    let mut from_scram = tokio::io::BufReader::new(scram.stdout.take().unwrap());
    let mut next = async || {
        use tokio::io::AsyncBufReadExt;
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), from_scram.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        line.trim_end().to_owned()
    };
    let first = next().await;
    let reply = client
        .command(&format!(
            "AUTH SCRAM-SHA-256-PLUS {}",
            BASE64.encode(&first)
        ))
        .await;
    let server_first = reply.strip_prefix("334 ").expect(&reply);
    let server_first = String::from_utf8(BASE64.decode(server_first).unwrap()).unwrap();
    use tokio::io::AsyncWriteExt;
    to_scram
        .write_all(format!("{server_first}\n").as_bytes())
        .await
        .unwrap();
    let last = next().await;
    let reply = client.command(&BASE64.encode(&last)).await;
    let server_final = reply.strip_prefix("334 ").expect(&reply);
    let server_final = String::from_utf8(BASE64.decode(server_final).unwrap()).unwrap();
    to_scram
        .write_all(format!("{server_final}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await, "CLIENT-ACCEPTS");
    let reply = client.command("").await;
    assert!(reply.starts_with("235 2.7.0 "), "{reply}");
    let _ = scram.wait().await;

    let attempts = server.login_attempts().await;
    assert!(
        attempts.iter().any(|a| a.mechanism == "plain"
            && a.result == postern_ipc::LoginResult::BadCredentials
            && a.protocol == "submission"),
        "{attempts:?}"
    );
    for mechanism in ["login", "scram-sha-256-plus"] {
        let attempt = attempts
            .iter()
            .find(|a| a.mechanism == mechanism && a.result == postern_ipc::LoginResult::Ok)
            .unwrap_or_else(|| panic!("no {mechanism} login in {attempts:?}"));
        assert_eq!(attempt.protocol, "submission");
        assert_eq!(attempt.tls_version, "TLSv1.3");
        assert_eq!(attempt.local_ip, "127.0.0.1");
    }
}

#[tokio::test]
async fn socket_activation() {
    let server = Server::start_with(Options {
        activated: true,
        ..Options::default()
    })
    .await;
    let mut client = server.connect_plain().await;
    let ehlo = client.command("EHLO client.test").await;
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    let mut client = server.login().await;
    let reply = client.command("QUIT").await;
    assert!(reply.starts_with("221 "), "{reply}");
    let mut rest = Vec::new();
    let _ = client.stream.read_to_end(&mut rest).await;
}

#[tokio::test]
async fn smtputf8_addresses() {
    let server = Server::start().await;
    server
        .admin_ok(postern_ipc::admin::AdminRequest::AddressAdd {
            account: common::ACCOUNT.into(),
            address: "jöran@example.org".into(),
        })
        .await;
    let mut client = server.login().await;
    // Non-ASCII addresses need SMTPUTF8.
    let reply = client.command("MAIL FROM:<jöran@example.org>").await;
    assert!(reply.starts_with("553 5.6.7 "), "{reply}");
    let reply = client.command(&format!("MAIL FROM:<{ADDRESS}>")).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let reply = client.command("RCPT TO:<møller@remote.test>").await;
    assert!(reply.starts_with("553 5.6.7 "), "{reply}");
    client.command("RSET").await;
    let reply = client
        .command("MAIL FROM:<jöran@example.org> SMTPUTF8 BODY=8BITMIME")
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    let reply = client.command("RCPT TO:<møller@remote.test>").await;
    assert!(reply.starts_with("250 "), "{reply}");
    client.command("DATA").await;
    client
        .send_raw(
            "From: Jöran <jöran@example.org>\r\nSubject: grüße\r\n\r\nbøde\r\n.\r\n".as_bytes(),
        )
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");
    let id = queue_id(&reply);
    let stored = String::from_utf8(server.queued_message(&id)).unwrap();
    assert!(stored.contains(" with UTF8SMTPSA id "), "{stored}");
    assert!(
        stored.contains("\tfor <møller@remote.test>;\r\n"),
        "{stored}"
    );
    let (_, mail_from, recipients) = server.queued_envelope(&id);
    assert_eq!(mail_from, "jöran@example.org");
    assert_eq!(recipients, vec!["møller@remote.test"]);
    // A non-ASCII address of another account is still refused.
    let reply = client
        .command("MAIL FROM:<fremd@example.org> SMTPUTF8")
        .await;
    assert!(reply.starts_with("550 5.7.1 "), "{reply}");
}
