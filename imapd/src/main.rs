//! `postern-imapd`: the IMAP daemon. Listeners come by socket activation (`imap` for
//! plain IMAP with STARTTLS, `imaps` for implicit TLS), or are bound from the config's
//! `[imapd]` section when none are passed.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use anyhow::Context;
use postern_config::Config;
use postern_daemon::connection_limits::{ConnectionLimits, Refusal};
use postern_daemon::{
    DaemonTls, Started, accept_connections, serve_until_stopped, tcp_listeners, warn_unused,
};
use postern_imapd::account_removal::{ACCOUNT_REMOVAL_INTERVAL, RemovalGate, run_account_removals};
use postern_imapd::connection_refusal::bye_line;
use postern_imapd::delivery::{
    DeliveryService, StoreCallers, open_store_socket, serve_store_socket,
};
use postern_imapd::session::{LOGIN_DEADLINE, Listener, MailAccess, Shared, serve};
use postern_imapd::store::MailStore;
use postern_ipc::store::STORE_SOCKET_FD_NAME;
use tokio::net::TcpStream;

fn main() -> std::process::ExitCode {
    postern_daemon::exit_code("postern-imapd", start())
}

fn start() -> anyhow::Result<()> {
    // SAFETY: first thing in main; no other thread exists yet.
    let Started {
        config,
        mut activated,
        ..
    } = unsafe { postern_daemon::begin("postern-imapd", "postern's IMAP daemon.") }?;
    let tls = DaemonTls::start(
        "imapd",
        &mut activated,
        &config.imapd.tls_certificate,
        &config.imapd.tls_key,
    )?;
    let store_socket = activated.take(STORE_SOCKET_FD_NAME);
    let passed = !activated.is_empty();
    let imap = activated.take("imap");
    let imaps = activated.take("imaps");
    warn_unused(&activated);
    // One store per process: IMAP sessions and local delivery share its per-account
    // connections and change notifications (IDLE hears deliveries). Sessions get it
    // only behind `MailAccess`, which opens an account for an authenticated login.
    let store_dir = config.imapd_dir();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store = Arc::new(
        MailStore::open(&store_dir)
            .with_context(|| format!("opening the mail store at {}", store_dir.display()))?,
    );
    let shared = Shared {
        auth_socket: config.auth_socket(),
        tls: tls.acceptor.clone(),
        mail: MailAccess::new(Arc::clone(&store)),
        login_deadline: config
            .imapd
            .login_deadline_seconds
            .map_or(LOGIN_DEADLINE, std::time::Duration::from_secs),
        account_ends: postern_ipc::account_ends::account_ends(),
    };
    let account_ends = shared.account_ends.clone();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            start_store_services(&config, store_socket, store);
            tokio::spawn(postern_ipc::account_ends::watch_account_ends(
                config.auth_socket(),
                account_ends,
            ));
            let imap = tcp_listeners(imap, passed, &config.imapd.imap_listen).await?;
            let imaps = tcp_listeners(imaps, passed, &config.imapd.imaps_listen).await?;
            accept_connections(
                vec![(imap, Listener::Imap), (imaps, Listener::Imaps)],
                ConnectionLimits::for_config(&config),
                refuse_connection,
                move |tcp, kind| serve(tcp, kind, shared.clone()),
            );
            serve_until_stopped("imapd", Some(&tls)).await?;
            Ok(())
        })
}

/// Starts the local store socket (delivery for submitd and webd) and the removal of
/// removed accounts' mail. Without a store socket imapd still serves IMAP, and says so.
fn start_store_services(config: &Config, passed: Vec<OwnedFd>, store: Arc<MailStore>) {
    let gate = Arc::new(RemovalGate::new());
    let path = if passed.is_empty() {
        config.store_socket().display().to_string()
    } else {
        "(passed by socket activation)".to_string()
    };
    match open_store_socket(passed, config) {
        Ok(listener) => {
            let callers = StoreCallers::from_config(config);
            let service = DeliveryService::new(
                Arc::clone(&store),
                Arc::clone(&gate),
                callers,
                config.auth_socket(),
            );
            tracing::info!(%path, "store socket listening");
            tokio::spawn(serve_store_socket(listener, service));
        }
        Err(e) => tracing::error!("local delivery unavailable: {e}"),
    }
    tokio::spawn(run_account_removals(
        config.auth_socket(),
        store,
        gate,
        ACCOUNT_REMOVAL_INTERVAL,
    ));
}

/// Answers a connection over a limit without any TLS work: a plain-IMAP client gets
/// mox's `* BYE` line (a fresh socket's send buffer takes it at once), an implicit-TLS
/// client just the close.
fn refuse_connection(tcp: &TcpStream, kind: Listener, refusal: Refusal) {
    if matches!(kind, Listener::Imap) {
        let _ = tcp.try_write(bye_line(refusal).as_bytes());
    }
}
