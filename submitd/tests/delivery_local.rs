//! Local delivery through the real imapd's store socket, bounces (DSNs) into the
//! sender's Inbox, and localserve's error-provoking recipients.

mod queue_common;

use std::time::Duration;

use queue_common::*;

fn smarthost_config(port: u16) -> String {
    format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 2
routes = [{{ transport = "relay" }}]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none" }}
"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_recipient_gets_the_message_byte_for_byte_in_the_inbox() {
    // The smarthost route exists but must not be used for a local address.
    let port = free_port();
    let rig = Rig::start(false, true, &smarthost_config(port)).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    let message = sample_message(OTHER_ADDRESS, "local");
    let id = queue
        .submit(
            envelope(&[OTHER_ADDRESS]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "local delivery", || {
        queue.store().load(id).unwrap().is_none()
    })
    .await;
    let inbox = rig.inbox(OTHER_ADDRESS);
    assert_eq!(inbox, vec![message]);
    assert!(rig.inbox(ADDRESS).is_empty(), "the sender got something");
    assert!(
        sink.received().is_empty(),
        "a local message went to the smarthost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_bounces_a_dsn_into_the_senders_inbox() {
    let port = free_port();
    let rig = Rig::start(false, true, &smarthost_config(port)).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    let message = sample_message("carol@remote.example", "bounce");
    queue
        .submit(
            envelope(&["carol@remote.example", "reject-me@remote.example"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        got[0].meta["rcpt_tos"],
        serde_json::json!(["carol@remote.example"])
    );
    // The DSN is queued, then delivered to mjl's Inbox.
    eventually(Duration::from_secs(20), "the queue to empty", || {
        queue.store().pending_recipients().unwrap() == 0
    })
    .await;
    let inbox = rig.inbox(ADDRESS);
    assert_eq!(inbox.len(), 1, "expected one DSN");
    let dsn = String::from_utf8(inbox[0].clone()).unwrap();
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; reject-me@remote.example\r\n"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.1.1\r\n"), "{dsn}");
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user here"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: bounce\r\n"),
        "original header missing: {dsn}"
    );
    assert!(
        !dsn.contains("carol@remote.example\r\n    "),
        "delivered recipient reported"
    );
    // A DSN parses as multipart/report with three parts.
    let parsed = mail_parser::MessageParser::new().parse(&inbox[0]).unwrap();
    assert_eq!(parsed.parts.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn localserve_delivers_everything_locally_and_provokes_errors() {
    let rig = Rig::start(
        true,
        true,
        "retry_first_seconds = 1\nretry_max_interval_seconds = 2\n",
    )
    .await;
    let queue = rig.queue();
    let message = sample_message("someone@elsewhere.example", "localserve");
    let ok = queue
        .submit(
            envelope(&["someone@elsewhere.example"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let temp = queue
        .submit(
            envelope(&["x-temperror@elsewhere.example"]),
            message_file(rig.dir.path(), &sample_message("x", "temp")),
        )
        .await
        .unwrap();
    let perm = queue
        .submit(
            envelope(&["x-permerror@elsewhere.example"]),
            message_file(rig.dir.path(), &sample_message("x", "perm")),
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "delivery and bounce", || {
        queue.store().load(ok).unwrap().is_none() && queue.store().load(perm).unwrap().is_none()
    })
    .await;
    eventually(
        Duration::from_secs(20),
        "the temporary error to be retried",
        || {
            queue
                .store()
                .load(temp)
                .unwrap()
                .is_some_and(|m| m.recipients[0].attempts >= 2)
        },
    )
    .await;
    let m = queue.store().load(temp).unwrap().unwrap();
    assert!(
        m.recipients[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("temporary error"),
        "{m:?}"
    );
    // The sender's account got the message for the unknown address and the DSN for
    // the permerror one (once the DSN is through).
    eventually(Duration::from_secs(20), "two messages in the Inbox", || {
        rig.inbox(ADDRESS).len() == 2
    })
    .await;
    let inbox = rig.inbox(ADDRESS);
    assert!(inbox.contains(&message));
    let dsn = inbox.iter().find(|m| **m != message).unwrap();
    let dsn = String::from_utf8_lossy(dsn);
    assert!(
        dsn.contains("Final-Recipient: rfc822; x-permerror@elsewhere.example"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 5.0.0"), "{dsn}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_by_attempt_number_takes_over_after_failures() {
    let port = free_port();
    let dead = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 1
routes = [
    {{ minimum_attempts = 2, transport = "relay" }},
    {{ transport = "dead" }},
]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none" }}
transports.dead = {{ method = "smarthost", host = "127.0.0.1", port = {dead}, tls = "none" }}
"#
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    let message = sample_message("carol@remote.example", "fallback");
    let id = queue
        .submit(
            envelope(&["carol@remote.example"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    // The first two attempts go to the dead relay; the third to the sink.
    eventually(Duration::from_secs(20), "a failed attempt", || {
        queue
            .store()
            .load(id)
            .unwrap()
            .is_some_and(|m| m.recipients[0].attempts >= 1)
    })
    .await;
    assert!(
        sink.received().is_empty(),
        "the fallback route was used at once"
    );
    let got = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got[0].bytes, message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_keeps_failing_expires_with_a_dsn() {
    let dead = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 1
give_up_after_seconds = 3
routes = [{{ transport = "dead" }}]
transports.dead = {{ method = "smarthost", host = "127.0.0.1", port = {dead}, tls = "none" }}
"#
    );
    let rig = Rig::start(false, true, &delivery).await;
    let queue = rig.queue();
    let id = queue
        .submit(
            envelope(&["carol@remote.example"]),
            message_file(
                rig.dir.path(),
                &sample_message("carol@remote.example", "expire"),
            ),
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(30), "the message to expire", || {
        queue.store().load(id).unwrap().is_none()
    })
    .await;
    eventually(Duration::from_secs(20), "the DSN", || {
        rig.inbox(ADDRESS).len() == 1
    })
    .await;
    let dsn = String::from_utf8_lossy(&rig.inbox(ADDRESS)[0]).into_owned();
    assert!(
        dsn.contains("Final-Recipient: rfc822; carol@remote.example"),
        "{dsn}"
    );
    assert!(dsn.contains("Status: 4.4.7"), "{dsn}");
    assert!(dsn.contains("gave up after"), "{dsn}");
}
