//! Local delivery with another case of the recipient's localpart, through the real authd
//! (which resolves the address) and the real imapd's store socket: `Bob@` is `bob@` by
//! default; with `[authd] localpart_case_sensitive = true` it is no local address and goes
//! out by the route (here a smarthost).

mod queue_common;

use std::time::Duration;

use postern_testkit::AuthdProcess;
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
async fn a_recipient_in_another_case_is_delivered_to_the_local_account() {
    let port = free_port();
    let rig = Rig::start(false, true, &smarthost_config(port)).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    for (recipient, subject) in [("Bob@example.org", "first"), ("BOB@EXAMPLE.ORG", "second")] {
        let message = sample_message(recipient, subject);
        let id = queue
            .submit(
                envelope(&[recipient]),
                message_file(rig.dir.path(), &message),
            )
            .await
            .unwrap();
        eventually(Duration::from_secs(20), "local delivery", || {
            queue.store().load(id).unwrap().is_none()
        })
        .await;
    }
    let inbox = rig.inbox("bob@example.org");
    assert_eq!(inbox.len(), 2, "both spellings reach bob's Inbox");
    assert_eq!(inbox[0], sample_message("Bob@example.org", "first"));
    assert!(sink.received().is_empty(), "a local message went out");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_case_sensitive_localparts_another_case_is_not_local() {
    let port = free_port();
    let mut rig = Rig::start(false, true, &smarthost_config(port)).await;
    let _ = rig.authd.process.kill();
    let _ = rig.authd.process.wait();
    let config = std::fs::read_to_string(&rig.config_path).unwrap();
    let config = config.replacen("[authd]\n", "[authd]\nlocalpart_case_sensitive = true\n", 1);
    std::fs::write(&rig.config_path, config).unwrap();
    rig.authd = AuthdProcess::start(&rig.config_path).await;
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    let message = sample_message("Bob@example.org", "sensitive");
    queue
        .submit(
            envelope(&["Bob@example.org"]),
            message_file(rig.dir.path(), &message),
        )
        .await
        .unwrap();
    let got = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        got[0].meta["rcpt_tos"],
        serde_json::json!(["Bob@example.org"])
    );
    assert!(rig.inbox("bob@example.org").is_empty());
}
