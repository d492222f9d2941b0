//! `postern-submitd`: the SMTP submission daemon. Listeners come by socket activation
//! (`submission` for STARTTLS on 587, `submissions` for implicit TLS on 465), or are
//! bound from the config's `[submitd]` section when none are passed.

use std::sync::Arc;

use anyhow::Context;
use postern_config::Config;
use postern_daemon::connection_limits::{ConnectionLimits, Limits};
use postern_daemon::{DaemonTls, Started, serve_until_stopped, tcp_listeners, warn_unused};
use postern_submitd::queue::Queue;
use postern_submitd::session::{Listener, Shared, serve};
use tokio::net::TcpListener;

fn main() -> std::process::ExitCode {
    postern_daemon::exit_code("postern-submitd", start())
}

fn start() -> anyhow::Result<()> {
    // SAFETY: first thing in main; no other thread exists yet.
    let Started {
        config,
        mut activated,
        ..
    } = unsafe { postern_daemon::begin("postern-submitd", "postern's SMTP submission daemon.") }?;
    let tls = DaemonTls::start(
        "submitd",
        &mut activated,
        &config.submitd.tls_certificate,
        &config.submitd.tls_key,
    )?;
    let passed = !activated.is_empty();
    let submission = activated.take("submission");
    let submissions = activated.take("submissions");
    warn_unused(&activated);
    let temp_dir = config.submitd_dir().join("tmp");
    create_private_dir(&temp_dir)?;
    let queue = Queue::open(&config).with_context(|| {
        format!(
            "opening the queue in {}",
            config.submitd_dir().join("queue").display()
        )
    })?;
    let shared = Shared {
        auth_socket: config.auth_socket(),
        tls: tls.acceptor.clone(),
        hostname: config.hostname.clone(),
        max_message_size: config.submitd.max_message_size,
        max_recipients: config.submitd.max_recipients,
        temp_dir,
        sink: Arc::new(queue.clone()),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            queue.start();
            let submission =
                tcp_listeners(submission, passed, &config.submitd.submission_listen).await?;
            let submissions =
                tcp_listeners(submissions, passed, &config.submitd.submissions_listen).await?;
            accept_connections(&config, submission, submissions, shared);
            serve_until_stopped("submitd", Some(&tls)).await?;
            Ok(())
        })
}

/// Creates `dir` (mode 0700) if missing: the unlinked message files live there until
/// the queue has them.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Accepts submission and submissions connections within the connection limits, each
/// served by a task of its own. A refused client hears `421 4.7.0` and the connection
/// closes, without any TLS work (on 465 just the close).
fn accept_connections(
    config: &Config,
    submission: Vec<TcpListener>,
    submissions: Vec<TcpListener>,
    shared: Shared,
) {
    let trusted = config
        .ratelimit
        .trusted_networks
        .iter()
        .filter_map(|net| postern_config::Network::parse(net).ok())
        .collect();
    let limits = ConnectionLimits::new(Limits::default(), trusted);
    for (listeners, kind) in [
        (submission, Listener::Submission),
        (submissions, Listener::Submissions),
    ] {
        for listener in listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ?kind, "listening");
            }
            let shared = shared.clone();
            let limits = Arc::clone(&limits);
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((tcp, remote)) => {
                            match limits.admit(remote.ip(), std::time::Instant::now()) {
                                Ok(slot) => {
                                    let shared = shared.clone();
                                    tokio::spawn(async move {
                                        serve(tcp, kind, shared).await;
                                        drop(slot);
                                    });
                                }
                                Err(refusal) => {
                                    tracing::debug!(%remote, %refusal, "connection refused");
                                    if kind == Listener::Submission {
                                        let line = format!("421 4.7.0 {refusal}\r\n");
                                        let _ = tcp.try_write(line.as_bytes());
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!("accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
    }
}
