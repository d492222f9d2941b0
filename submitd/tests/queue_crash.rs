//! kill -9 of a process that is queueing messages loses none that were acknowledged
//! (DESIGN.md invariant 7), and leaves nothing half-written behind after restart.

mod queue_common;

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use queue_common::*;

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_after_submit_returned_loses_nothing() {
    let port = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 1
routes = [{{ transport = "relay" }}]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none" }}
"#
    );
    let rig = Rig::start(false, false, &delivery).await;
    let mut driver = Command::new(queue_driver())
        .arg(&rig.config_path)
        .args(["submit-loop", "1000", ADDRESS, "carol@remote.example"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(driver.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 8 {
        let line = lines.next().expect("driver ended early").unwrap();
        let n: u32 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        acknowledged.push(n);
    }
    // SIGKILL in the middle of the next submissions.
    driver.kill().unwrap();
    driver.wait().unwrap();
    for line in lines {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("QUEUED ") {
            acknowledged.push(n.split_whitespace().next().unwrap().parse().unwrap());
        }
    }
    assert!(
        acknowledged.len() < 1000,
        "the driver finished before it was killed"
    );

    // Restart: the queue repairs itself and delivers every acknowledged message.
    let sink = Sink::start(port, &rig.path("sink"), &[]);
    let queue = rig.queue();
    assert!(
        std::fs::read_dir(rig.path("data/submitd/queue/tmp"))
            .unwrap()
            .count()
            == 0,
        "temp files survived the repair"
    );
    eprintln!("acknowledged before the kill: {}", acknowledged.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while queue.store().pending_recipients().unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "queue not empty: {} pending, {} received, {:?}",
            queue.store().pending_recipients().unwrap(),
            sink.received().len(),
            queue.store().list().unwrap().first().map(|m| {
                let mut text = String::new();
                use std::io::Read as _;
                queue
                    .store()
                    .open_message(m.id)
                    .unwrap()
                    .read_to_string(&mut text)
                    .unwrap();
                text
            })
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = sink.received();
    let mut delivered = Vec::new();
    for r in &received {
        let text = String::from_utf8_lossy(&r.bytes);
        let n: u32 = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: crash test "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            text.ends_with(&format!(
                "message number {n}\r\n{}",
                format!("{}\r\n", "x".repeat(98)).repeat(2000)
            )),
            "message {n} arrived incomplete"
        );
        delivered.push(n);
    }
    for n in &acknowledged {
        assert!(delivered.contains(n), "acknowledged message {n} was lost");
    }
    assert!(
        delivered.len() <= acknowledged.len() + 1,
        "{delivered:?} vs {acknowledged:?}"
    );
    assert_eq!(
        std::fs::read_dir(rig.path("data/submitd/queue/msg"))
            .unwrap()
            .count(),
        0,
        "delivered message files left behind"
    );
}

/// A delivery interrupted by kill -9 (the receiver has the data but has not answered)
/// is made again after restart: the message is not lost, at worst delivered twice.
#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_a_delivery_retries_it_after_restart() {
    let port = free_port();
    let delivery = format!(
        r#"retry_first_seconds = 1
retry_max_interval_seconds = 1
routes = [{{ transport = "relay" }}]
transports.relay = {{ method = "smarthost", host = "127.0.0.1", port = {port}, tls = "none" }}
"#
    );
    let rig = Rig::start(false, false, &delivery).await;
    let sink_dir = rig.path("sink");
    std::fs::create_dir_all(&sink_dir).unwrap();
    std::fs::write(sink_dir.join("hold"), b"").unwrap();
    let sink = Sink::start(port, &sink_dir, &[]);
    let message = sample_message("carol@remote.example", "interrupted");
    {
        // Queue the message without a worker in this process.
        let queue = postern_submitd::queue::Queue::open(&rig.config()).unwrap();
        queue
            .submit(
                envelope(&["carol@remote.example"]),
                message_file(rig.dir.path(), &message),
            )
            .await
            .unwrap();
    }
    let mut driver = Command::new(queue_driver())
        .arg(&rig.config_path)
        .arg("deliver")
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    eventually(
        Duration::from_secs(20),
        "the delivery to hang in DATA",
        || sink_dir.join("holding").exists(),
    )
    .await;
    driver.kill().unwrap();
    driver.wait().unwrap();
    std::fs::remove_file(sink_dir.join("hold")).unwrap();

    let queue = rig.queue();
    eventually(Duration::from_secs(30), "the queue to empty", || {
        queue.store().pending_recipients().unwrap() == 0
    })
    .await;
    let received = sink.received();
    assert!(!received.is_empty(), "the interrupted message was lost");
    assert!(received.len() <= 2, "{} copies", received.len());
    for r in &received {
        assert_eq!(r.bytes, message);
    }
}
