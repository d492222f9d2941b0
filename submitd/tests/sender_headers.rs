//! The sender header fields of a submitted message, checked strictly: From, Sender,
//! Resent-From and Resent-Sender must parse (RFC 5322) and name the account's
//! addresses; Reply-To must parse; what does not parse gets `550 5.6.0`. Python's email
//! package, a reader nobody here wrote, reads every accepted message and must see only
//! the account's addresses as its sender, and it reads the refused spoofs as from
//! someone else. `MAIL FROM:<>` is for auto-replies: one recipient, From still checked.

mod common;

use common::{ADDRESS, ALIAS, OTHER_ADDRESS, Server, python, queue_id};

/// Prints, for each message file given, the addr-specs Python's email package reads in
/// From, Sender, Resent-From and Resent-Sender, as one JSON list per file.
const READ_SENDERS: &str = r#"
import email, email.policy, json, sys
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    found = []
    for field in ('From', 'Sender', 'Resent-From', 'Resent-Sender'):
        for value in m.get_all(field, []):
            found += [a.addr_spec for a in value.addresses]
    print(json.dumps(found))
"#;

/// What Python reads as the senders of each message.
fn python_senders(server: &Server, messages: &[Vec<u8>]) -> Vec<Vec<String>> {
    let paths: Vec<String> = messages
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let path = server.dir.path().join(format!("python-{i}.eml"));
            std::fs::write(&path, bytes).unwrap();
            path.display().to_string()
        })
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    python(READ_SENDERS, &args)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn message(headers: &str) -> String {
    format!("{headers}To: <rcpt@example.net>\r\nSubject: test\r\n\r\nbody\r\n")
}

/// Submits `body` with DATA from `mail_from` to `recipients`; the final reply.
async fn submit(
    client: &mut common::Client<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>,
    mail_from: &str,
    body: &str,
) -> String {
    let reply = client.command(&format!("MAIL FROM:<{mail_from}>")).await;
    assert!(reply.starts_with("250"), "{reply}");
    let reply = client.command("RCPT TO:<rcpt@example.net>").await;
    assert!(reply.starts_with("250"), "{reply}");
    let reply = client.command("DATA").await;
    assert!(reply.starts_with("354"), "{reply}");
    client
        .send_raw(format!("{}.\r\n", body.replace("\r\n.", "\r\n..")).as_bytes())
        .await;
    client.reply().await
}

#[tokio::test]
async fn sender_fields_are_parsed_strictly_and_must_be_the_accounts() {
    let server = Server::start().await;
    let mut client = server.login().await;
    let accepted_headers = [
        format!("From: Mjl <{ADDRESS}>\r\n"),
        format!("From: \"{OTHER_ADDRESS}\" <{ADDRESS}>\r\n"),
        format!("From: =?utf-8?q?other=40example.org?= <{ADDRESS}>\r\n"),
        format!("From: {ADDRESS} ({OTHER_ADDRESS})\r\n"),
        format!("From: John Q. Public <{ALIAS}>\r\n"),
        format!("From: {ADDRESS}, {ALIAS}\r\nSender: {ADDRESS}\r\n"),
        format!("From: {ADDRESS}\r\nSender: Alias <{ALIAS}>\r\n"),
        format!("From: {ADDRESS}\r\nReply-To: {OTHER_ADDRESS}, list: x@example.net;\r\n"),
        format!("From: {ADDRESS}\r\nResent-From: {ALIAS}\r\nResent-Sender: {ADDRESS}\r\n"),
    ];
    let mut queued = Vec::new();
    for headers in &accepted_headers {
        let reply = submit(&mut client, ADDRESS, &message(headers)).await;
        assert!(reply.starts_with("250 "), "{headers:?}: {reply}");
        queued.push(server.queued_message(&queue_id(&reply)));
    }
    // Python reads only the account's addresses as the senders of what was accepted.
    for (headers, senders) in accepted_headers
        .iter()
        .zip(python_senders(&server, &queued))
    {
        assert!(!senders.is_empty(), "{headers:?}");
        for sender in senders {
            assert!(
                sender == ADDRESS || sender == ALIAS,
                "{headers:?}: Python reads {sender} as a sender"
            );
        }
    }

    // What does not parse is refused, however a reader would guess.
    let unparsable = [
        format!("From: {OTHER_ADDRESS} <{ADDRESS}>\r\n"),
        format!("From: <{ADDRESS}> <{OTHER_ADDRESS}>\r\n"),
        format!("From: Mjl <{ADDRESS}> {OTHER_ADDRESS}\r\n"),
        format!("From: {ADDRESS}\r\n <{OTHER_ADDRESS}>\r\n"),
        "From: undisclosed:;\r\n".to_string(),
        format!("From: {ADDRESS}\r\nSender: {ADDRESS}, {ALIAS}\r\n"),
        format!("From: {ADDRESS}\r\nReply-To: {OTHER_ADDRESS} <{ADDRESS}>\r\n"),
        format!("From: {ADDRESS}\r\nSender: {ADDRESS}\r\nSender: {ALIAS}\r\n"),
    ];
    for headers in &unparsable {
        let reply = submit(&mut client, ADDRESS, &message(headers)).await;
        assert!(reply.starts_with("550 5.6.0 "), "{headers:?}: {reply}");
    }
    // The first is the spoof from the hostile-client test: Python reads it as from
    // the other account.
    let raw = message(&unparsable[0]).into_bytes();
    assert_eq!(python_senders(&server, &[raw])[0], [OTHER_ADDRESS]);

    // What parses but names another account is refused too.
    for headers in [
        format!("From: {OTHER_ADDRESS}, <{ADDRESS}>\r\n"),
        format!("From: {ADDRESS}\r\nSender: {OTHER_ADDRESS}\r\n"),
        format!("From: {ADDRESS}\r\nResent-From: {OTHER_ADDRESS}\r\n"),
        format!("From: {ADDRESS}\r\nResent-Sender: Other <{OTHER_ADDRESS}>\r\n"),
    ] {
        let reply = submit(&mut client, ADDRESS, &message(&headers)).await;
        assert!(reply.starts_with("550 5.7.1 "), "{headers:?}: {reply}");
    }

    // BDAT does not refuse bare line endings in the body, but in the header section a
    // bare LF would hide a second From from submitd that readers see.
    let body = format!("From: {ADDRESS}\r\nX-A: b\nFrom: {OTHER_ADDRESS}\r\n\r\nbody\r\n");
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
    client
        .send_raw(format!("BDAT {} LAST\r\n{body}", body.len()).as_bytes())
        .await;
    let reply = client.reply().await;
    assert!(reply.starts_with("550 5.6.0 "), "{reply}");
    assert_eq!(
        python_senders(&server, &[body.into_bytes()])[0],
        [ADDRESS, OTHER_ADDRESS]
    );
    assert_eq!(server.queued_count(), accepted_headers.len());
}

#[tokio::test]
async fn a_null_reverse_path_is_for_one_recipient_and_keeps_the_from_check() {
    let server = Server::start().await;
    let mut client = server.login().await;
    let reply = submit(&mut client, "", &message(&format!("From: <{ADDRESS}>\r\n"))).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let (_, mail_from, recipients) = server.queued_envelope(&queue_id(&reply));
    assert_eq!((mail_from.as_str(), recipients.len()), ("", 1));

    let reply = submit(
        &mut client,
        "",
        &message(&format!("From: <{OTHER_ADDRESS}>\r\n")),
    )
    .await;
    assert!(reply.starts_with("550 5.7.1 "), "{reply}");

    assert!(client.command("MAIL FROM:<>").await.starts_with("250"));
    assert!(
        client
            .command("RCPT TO:<a@example.net>")
            .await
            .starts_with("250")
    );
    // The same recipient again is no second recipient.
    assert!(
        client
            .command("RCPT TO:<a@example.net>")
            .await
            .starts_with("250")
    );
    let reply = client.command("RCPT TO:<b@example.net>").await;
    assert!(reply.starts_with("452 4.5.3 "), "{reply}");
}
