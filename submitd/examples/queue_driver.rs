//! Drives submitd's outbound queue without the SMTP session, for the crash tests:
//!
//! ```text
//! queue_driver CONFIG submit-loop COUNT MAIL_FROM RCPT   # queues COUNT messages, printing
//!                                                         # "QUEUED <n> <id>" after each
//! queue_driver CONFIG deliver                             # runs the delivery worker
//! ```
//!
//! The account is the owner of MAIL_FROM's localpart (the part before `@`).

use std::io::Write as _;
use std::time::Duration;

use postern_submitd::queue::{Envelope, Queue};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(config_path), Some(mode)) = (args.get(1), args.get(2)) else {
        anyhow::bail!("usage: queue_driver CONFIG submit-loop COUNT MAIL_FROM RCPT | deliver");
    };
    let config = postern_config::Config::load(config_path.as_ref())?;
    let queue = Queue::open(&config)?;
    match mode.as_str() {
        "submit-loop" => {
            let (Some(count), Some(mail_from), Some(rcpt)) =
                (args.get(3), args.get(4), args.get(5))
            else {
                anyhow::bail!("submit-loop COUNT MAIL_FROM RCPT");
            };
            let count: u32 = count.parse()?;
            let account = mail_from.split('@').next().unwrap_or_default().to_string();
            let tmp = tempfile::tempdir()?;
            for n in 1..=count {
                let body = format!(
                    "From: <{mail_from}>\r\nTo: <{rcpt}>\r\nSubject: crash test {n}\r\n\r\nmessage number {n}\r\n{}",
                    format!("{}\r\n", "x".repeat(98)).repeat(2000)
                );
                let path = tmp.path().join(format!("{n}"));
                std::fs::write(&path, body)?;
                let file = std::fs::File::open(&path)?;
                let envelope = Envelope {
                    account: account.clone(),
                    mail_from: mail_from.clone(),
                    recipients: vec![rcpt.clone()],
                    smtputf8: false,
                    received: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_secs() as i64,
                };
                let id = queue.submit(envelope, file).await?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "QUEUED {n} {id}")?;
                out.flush()?;
            }
            println!("DONE");
            Ok(())
        }
        "deliver" => {
            queue.start();
            println!("READY");
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        }
        other => anyhow::bail!("unknown mode {other}"),
    }
}
