//! `postern-imapd`: the IMAP daemon. Listeners come by socket activation (`imap` for
//! plain IMAP with STARTTLS, `imaps` for implicit TLS), or are bound from the config's
//! `[imapd]` section when none are passed.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use postern_config::Config;
use postern_imapd::account_removal::{ACCOUNT_REMOVAL_INTERVAL, RemovalGate, run_account_removals};
use postern_imapd::connection_limits::{ConnectionLimits, Limits};
use postern_imapd::delivery::{
    DeliveryService, StoreCallers, open_store_socket, serve_store_socket,
};
use postern_imapd::session::{Listener, MailAccess, Shared, serve};
use postern_imapd::store::MailStore;
use postern_ipc::activation::ActivatedSockets;
use postern_ipc::control::DAEMON_CONTROL_FD_NAME;
use postern_ipc::store::STORE_SOCKET_FD_NAME;
use postern_tls::reload::{reload_from_files, serve_control};
use postern_tls::{credential_paths, read_pem_file, server_config};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// postern's IMAP daemon.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file (default: $POSTERN_CONFIG, else /etc/postern/postern.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    match start() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("postern-imapd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start() -> anyhow::Result<()> {
    let args = Args::parse();
    // SAFETY: no other thread exists yet; the tokio runtime is started below.
    let mut activated = unsafe { ActivatedSockets::take_from_environment() }
        .context("reading socket activation")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config_path = Config::path_from(args.config.as_deref());
    let config = Config::load(&config_path)?;
    let (cert, key) = credential_paths(&config.imapd.tls_certificate, &config.imapd.tls_key);
    let (tls, certificate) = server_config(&read_pem_file(&cert)?, &read_pem_file(&key)?)?;
    let control = activated.take(DAEMON_CONTROL_FD_NAME);
    let store_socket = activated.take(STORE_SOCKET_FD_NAME);
    let passed = !activated.is_empty();
    let imap = activated.take("imap");
    let imaps = activated.take("imaps");
    for socket in control {
        let certificate = certificate.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || serve_control(socket, certificate, "imapd"))
            .context("starting the control thread")?;
    }
    // systemd's reload (and an admin's SIGHUP) reads the certificate files again.
    let reload = move || match reload_from_files(&certificate, &cert, &key) {
        Ok(()) => tracing::info!(daemon = "imapd", "tls certificate reloaded"),
        Err(e) => tracing::warn!(daemon = "imapd", "tls certificate not reloaded: {e}"),
    };
    if !activated.is_empty() {
        tracing::warn!(names = ?activated.remaining_names(), "ignoring unknown passed sockets");
    }
    // One store per process: IMAP sessions and local delivery share its per-account
    // connections and change notifications (IDLE hears deliveries). Sessions get it
    // only behind `MailAccess`, which opens an account for an authenticated login.
    let store_dir = config.imapd_dir();
    let delivery_store = Arc::new(
        MailStore::open(&store_dir)
            .with_context(|| format!("opening the mail store at {}", store_dir.display()))?,
    );
    let shared = Shared {
        auth_socket: config.auth_socket(),
        tls: tokio_rustls::TlsAcceptor::from(tls),
        mail: MailAccess::new(Arc::clone(&delivery_store)),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            start_store_services(&config, store_socket, delivery_store);
            run(config, passed, imap, imaps, shared, reload).await
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
            let service = DeliveryService::new(Arc::clone(&store), Arc::clone(&gate), callers);
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

/// Answers a connection over a limit and closes it, without any TLS work: a plain-IMAP
/// client gets mox's `* BYE` line (a fresh socket's send buffer takes it at once), an
/// implicit-TLS client just the close.
fn refuse_connection(
    tcp: tokio::net::TcpStream,
    kind: Listener,
    remote: std::net::SocketAddr,
    refusal: postern_imapd::connection_limits::Refusal,
) {
    tracing::debug!(%remote, %refusal, "connection refused");
    if matches!(kind, Listener::Imap) {
        let _ = tcp.try_write(refusal.bye_line().as_bytes());
    }
}

fn tokio_listeners(fds: Vec<OwnedFd>) -> anyhow::Result<Vec<TcpListener>> {
    fds.into_iter()
        .map(|fd| {
            let std = std::net::TcpListener::from(fd);
            std.set_nonblocking(true)?;
            Ok(TcpListener::from_std(std)?)
        })
        .collect()
}

async fn bind(addrs: &[std::net::SocketAddr]) -> anyhow::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for addr in addrs {
        out.push(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?,
        );
    }
    Ok(out)
}

async fn run(
    config: Config,
    passed: bool,
    imap: Vec<OwnedFd>,
    imaps: Vec<OwnedFd>,
    shared: Shared,
    reload: impl Fn(),
) -> anyhow::Result<()> {
    let (imap, imaps) = if passed {
        (tokio_listeners(imap)?, tokio_listeners(imaps)?)
    } else {
        (
            bind(&config.imapd.imap_listen).await?,
            bind(&config.imapd.imaps_listen).await?,
        )
    };
    let trusted = config
        .ratelimit
        .trusted_networks
        .iter()
        .filter_map(|net| postern_config::Network::parse(net).ok())
        .collect();
    let limits = ConnectionLimits::new(Limits::default(), trusted);
    for (listeners, kind) in [(imap, Listener::Imap), (imaps, Listener::Imaps)] {
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
                                Err(refusal) => refuse_connection(tcp, kind, remote, refusal),
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
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    // Tell a supervisor (postern serve, localserve or systemd) that we accept connections.
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot report readiness: {e}");
    }
    tracing::info!(daemon = "imapd", "serving");
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => reload(),
        }
    }
    tracing::info!("stopping");
    Ok(())
}
