//! The advertised SIZE and the store's limit are one relation
//! (`MAX_SUBMISSION_SIZE = MAX_STORED_MESSAGE - SUBMISSION_ADDED_HEADERS`): a message of
//! exactly the advertised size is acknowledged and then delivered into the Inbox by
//! the real imapd (read back with Python's imaplib); one byte more is refused before
//! any 250.

mod common;

use std::time::{Duration, Instant};

use common::{ADDRESS, Options, PASSWORD, Server, python};
use postern_config::{MAX_STORED_MESSAGE, MAX_SUBMISSION_SIZE, SUBMISSION_ADDED_HEADERS};

/// A message of exactly `size` bytes from ADDRESS: a header, then lines of x.
fn message_of(size: u64) -> Vec<u8> {
    let header = format!("From: <{ADDRESS}>\r\nSubject: edge\r\n\r\n");
    let mut bytes = header.into_bytes();
    let size = usize::try_from(size).unwrap();
    let line = [vec![b'x'; 998], b"\r\n".to_vec()].concat();
    while bytes.len() + line.len() + 2 < size {
        bytes.extend_from_slice(&line);
    }
    bytes.extend(std::iter::repeat_n(b'y', size - bytes.len() - 2));
    bytes.extend_from_slice(b"\r\n");
    assert_eq!(bytes.len(), size);
    bytes
}

/// The Inbox's message count and total size, through Python's imaplib.
fn inbox_status(server: &Server) -> (u64, u64) {
    let script = r#"
import imaplib, ssl, sys, re
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
m.login(sys.argv[2], sys.argv[3])
typ, data = m.status("INBOX", "(MESSAGES SIZE)")
text = data[0].decode()
print(re.search(r"MESSAGES (\d+)", text).group(1), re.search(r"SIZE (\d+)", text).group(1))
m.logout()
"#;
    let output = python(
        script,
        &[&server.imaps.port().to_string(), ADDRESS, PASSWORD],
    );
    let mut numbers = output.split_whitespace().map(|n| n.parse().unwrap());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_of_exactly_the_advertised_size_is_delivered_and_one_byte_more_is_refused() {
    assert_eq!(
        MAX_SUBMISSION_SIZE,
        MAX_STORED_MESSAGE - SUBMISSION_ADDED_HEADERS
    );
    let server = Server::start_with(Options {
        max_message_size: MAX_SUBMISSION_SIZE,
        imapd: true,
        ..Options::default()
    })
    .await;
    let mut client = server.login().await;
    let ehlo = client.command("EHLO client.test").await;
    assert!(
        ehlo.contains(&format!("250-SIZE {MAX_SUBMISSION_SIZE}\n")),
        "{ehlo}"
    );

    // One byte more: refused at MAIL FROM when announced...
    let reply = client
        .command(&format!(
            "MAIL FROM:<{ADDRESS}> SIZE={}",
            MAX_SUBMISSION_SIZE + 1
        ))
        .await;
    assert!(reply.starts_with("552 5.3.4 "), "{reply}");
    // ...and after the data when not.
    let over = message_of(MAX_SUBMISSION_SIZE + 1);
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
        .send_raw(format!("BDAT {} LAST\r\n", over.len()).as_bytes())
        .await;
    client.send_raw(&over).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("552 5.3.4 "), "{reply}");
    drop(over);
    assert_eq!(server.queued_count(), 0);

    // Exactly the advertised size: acknowledged, then delivered, not bounced.
    let exact = message_of(MAX_SUBMISSION_SIZE);
    let reply = client
        .command(&format!("MAIL FROM:<{ADDRESS}> SIZE={MAX_SUBMISSION_SIZE}"))
        .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert!(
        client
            .command("RCPT TO:<rcpt@example.net>")
            .await
            .starts_with("250")
    );
    client
        .send_raw(format!("BDAT {} LAST\r\n", exact.len()).as_bytes())
        .await;
    client.send_raw(&exact).await;
    let reply = client.reply().await;
    assert!(reply.starts_with("250 "), "{reply}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.queued_count() > 0 {
        assert!(Instant::now() < deadline, "the message was not delivered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (messages, size) = inbox_status(&server);
    assert_eq!(messages, 1, "delivered, not bounced");
    assert!(
        size > MAX_SUBMISSION_SIZE && size <= MAX_STORED_MESSAGE,
        "stored {size} bytes"
    );
}
