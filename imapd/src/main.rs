//! `postern-imapd`: the IMAP daemon. Listeners come by socket activation (`imap` for
//! plain IMAP with STARTTLS, `imaps` for implicit TLS), or are bound from the config's
//! `[imapd]` section when none are passed.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use postern_config::Config;
use postern_imapd::session::{Listener, Shared, serve};
use postern_ipc::activation::ActivatedSockets;
use postern_ipc::control::DAEMON_CONTROL_FD_NAME;
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
    let shared = Shared {
        auth_socket: config.auth_socket(),
        tls: tokio_rustls::TlsAcceptor::from(tls),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config, passed, imap, imaps, shared, reload))
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
    for (listeners, kind) in [(imap, Listener::Imap), (imaps, Listener::Imaps)] {
        for listener in listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ?kind, "listening");
            }
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    match listener.accept().await {
                        Ok((tcp, _)) => {
                            tokio::spawn(serve(tcp, kind, shared.clone()));
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
