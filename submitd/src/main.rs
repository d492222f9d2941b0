//! `postern-submitd`: the SMTP submission daemon. Listeners come by socket activation
//! (`submission` for STARTTLS on 587, `submissions` for implicit TLS on 465), or are
//! bound from the config's `[submitd]` section when none are passed.

use std::sync::Arc;

use anyhow::Context;
use postern_daemon::connection_limits::{ConnectionLimits, Refusal};
use postern_daemon::{
    DaemonTls, Started, accept_connections, serve_until_stopped, tcp_listeners, warn_unused,
};
use postern_submitd::queue::Queue;
use postern_submitd::session::{Listener, Shared, serve};
use postern_submitd::smtp::limits::LOGIN_DEADLINE;
use tokio::net::TcpStream;

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
        login_deadline: config
            .submitd
            .login_deadline_seconds
            .map_or(LOGIN_DEADLINE, std::time::Duration::from_secs),
        account_ends: postern_ipc::account_ends::account_ends(),
    };
    let account_ends = shared.account_ends.clone();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            queue.start();
            tokio::spawn(postern_ipc::account_ends::watch_account_ends(
                config.auth_socket(),
                account_ends,
            ));
            let submission =
                tcp_listeners(submission, passed, &config.submitd.submission_listen).await?;
            let submissions =
                tcp_listeners(submissions, passed, &config.submitd.submissions_listen).await?;
            accept_connections(
                vec![
                    (submission, Listener::Submission),
                    (submissions, Listener::Submissions),
                ],
                ConnectionLimits::for_config(&config),
                refuse_connection,
                move |tcp, kind| serve(tcp, kind, shared.clone()),
            );
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

/// Answers a connection over a limit without any TLS work: `421 4.7.0` on the
/// STARTTLS port, just the close on the implicit-TLS one.
fn refuse_connection(tcp: &TcpStream, kind: Listener, refusal: Refusal) {
    if kind == Listener::Submission {
        let _ = tcp.try_write(format!("421 4.7.0 {refusal}\r\n").as_bytes());
    }
}
