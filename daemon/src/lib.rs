//! What every postern daemon does at start and while it runs, in one place: its command
//! line (`--config`), the sockets passed by socket activation (taken before any thread
//! exists), logging to stderr filtered by `RUST_LOG`, the config, TLS from the
//! credentials with certificate reload (over the supervisor's control socket pair or on
//! SIGHUP), readiness (`READY=1`) and the wait for SIGTERM or SIGINT.
#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod connection_limits;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory as _, FromArgMatches as _, Parser};
use postern_config::Config;
use postern_ipc::activation::ActivatedSockets;
use postern_ipc::control::DAEMON_CONTROL_FD_NAME;
use postern_tls::reload::{reload_from_files, serve_control};
use postern_tls::{ServerCertificate, credential_paths, read_pem_file, server_config};
use tokio::signal::unix::{SignalKind, signal};

/// The command line every daemon takes.
#[derive(Debug, Parser)]
#[command(version)]
pub struct DaemonArgs {
    /// Config file (default: $POSTERN_CONFIG, else /etc/postern/postern.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Why a daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The socket-activation variables could not be read.
    #[error("reading socket activation: {0}")]
    Activation(std::io::Error),
    /// The config could not be loaded.
    #[error(transparent)]
    Config(#[from] postern_config::ConfigError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] postern_tls::TlsSetupError),
    /// A thread or the signal handlers could not be set up.
    #[error("{0}: {1}")]
    Setup(&'static str, std::io::Error),
}

/// A daemon after the first steps of its start.
#[derive(Debug)]
pub struct Started {
    /// The config file's path.
    pub config_path: PathBuf,
    /// The config.
    pub config: Config,
    /// The sockets passed by socket activation, by name.
    pub activated: ActivatedSockets,
}

/// Parses the command line (`binary --help` shows `about`), takes the passed sockets, starts logging and loads the
/// config.
///
/// # Safety
/// It changes the environment (removes the socket-activation variables): call it first
/// thing in `main`, before any thread exists (before the tokio runtime).
pub unsafe fn begin(binary: &'static str, about: &'static str) -> Result<Started, StartError> {
    let matches = DaemonArgs::command()
        .name(binary)
        .about(about)
        .get_matches();
    let args = DaemonArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // SAFETY: the caller promises that no other thread exists yet.
    let activated =
        unsafe { ActivatedSockets::take_from_environment() }.map_err(StartError::Activation)?;
    init_logging();
    let config_path = Config::path_from(args.config.as_deref());
    let config = Config::load(&config_path)?;
    Ok(Started {
        config_path,
        config,
        activated,
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), coloured only on a terminal.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The exit status of a daemon's `main`: success, or the error on stderr (one line,
/// prefixed with the binary's name) and failure.
pub fn exit_code<E: std::fmt::Display>(binary: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A daemon's TLS: the acceptor for new connections and what reloads its certificate.
pub struct DaemonTls {
    /// Accepts TLS connections with the current certificate.
    pub acceptor: tokio_rustls::TlsAcceptor,
    daemon: &'static str,
    certificate: Arc<ServerCertificate>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl DaemonTls {
    /// Reads the certificate and key from `$CREDENTIALS_DIRECTORY` (the supervisor's and
    /// systemd's way) or else the configured paths, and answers reloads from the
    /// supervisor's control socket pair (passed as `control`) on a thread of its own.
    pub fn start(
        daemon: &'static str,
        activated: &mut ActivatedSockets,
        config_cert: &Path,
        config_key: &Path,
    ) -> Result<DaemonTls, StartError> {
        let (cert_path, key_path) = credential_paths(config_cert, config_key);
        let (config, certificate) =
            server_config(&read_pem_file(&cert_path)?, &read_pem_file(&key_path)?)?;
        for socket in activated.take(DAEMON_CONTROL_FD_NAME) {
            let certificate = certificate.clone();
            std::thread::Builder::new()
                .name("control".into())
                .spawn(move || serve_control(socket, certificate, daemon))
                .map_err(|e| StartError::Setup("starting the control thread", e))?;
        }
        Ok(DaemonTls {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            daemon,
            certificate,
            cert_path,
            key_path,
        })
    }

    /// Reads the certificate files again (SIGHUP); on error the old certificate stays.
    pub fn reload_from_files(&self) {
        let daemon = self.daemon;
        match reload_from_files(&self.certificate, &self.cert_path, &self.key_path) {
            Ok(()) => tracing::info!(daemon, "tls certificate reloaded"),
            Err(e) => tracing::warn!(daemon, "tls certificate not reloaded: {e}"),
        }
    }
}

/// Warns about passed sockets nobody took.
pub fn warn_unused(activated: &ActivatedSockets) {
    if !activated.is_empty() {
        tracing::warn!(names = ?activated.remaining_names(), "ignoring unknown passed sockets");
    }
}

/// Says `READY=1` to whoever started the daemon (supervisor or systemd), then waits for
/// SIGTERM or SIGINT; SIGHUP reloads the TLS certificate when there is one.
pub async fn serve_until_stopped(
    daemon: &'static str,
    tls: Option<&DaemonTls>,
) -> Result<(), StartError> {
    let handler = |kind| signal(kind).map_err(|e| StartError::Setup("catching signals", e));
    let mut terminate = handler(SignalKind::terminate())?;
    let mut interrupt = handler(SignalKind::interrupt())?;
    let mut hangup = handler(SignalKind::hangup())?;
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(daemon, "cannot report readiness: {e}");
    }
    tracing::info!(daemon, "serving");
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => match tls {
                Some(tls) => tls.reload_from_files(),
                None => tracing::info!(daemon, "SIGHUP: nothing to reload"),
            },
        }
    }
    tracing::info!(daemon, "stopping");
    Ok(())
}

/// The TCP listeners of one kind: those passed by socket activation, or, when the
/// daemon was given no sockets at all, `addresses` bound now.
pub async fn tcp_listeners(
    passed: Vec<std::os::fd::OwnedFd>,
    any_passed: bool,
    addresses: &[std::net::SocketAddr],
) -> std::io::Result<Vec<tokio::net::TcpListener>> {
    let mut out = Vec::new();
    if any_passed {
        for fd in passed {
            let listener = std::net::TcpListener::from(fd);
            listener.set_nonblocking(true)?;
            out.push(tokio::net::TcpListener::from_std(listener)?);
        }
    } else {
        for address in addresses {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })?;
            out.push(listener);
        }
    }
    Ok(out)
}

/// Accepts connections on every listener, admits each within `limits`, and serves an
/// admitted one on a task of its own (`serve(connection, kind)`), counted as open until
/// that task ends. A refused one gets `refuse(connection, kind, why)` (a line in the
/// daemon's protocol) and is closed, without any TLS work. Connections get
/// `TCP_NODELAY`: every answer is written whole, and Nagle's delay would only hold back
/// the last segment of a multi-line answer.
pub fn accept_connections<K, S, F>(
    listeners: Vec<(Vec<tokio::net::TcpListener>, K)>,
    limits: Arc<connection_limits::ConnectionLimits>,
    refuse: fn(&tokio::net::TcpStream, K, connection_limits::Refusal),
    serve: S,
) where
    K: Copy + std::fmt::Debug + Send + Sync + 'static,
    S: Fn(tokio::net::TcpStream, K) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    for (listeners, kind) in listeners {
        for listener in listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, ?kind, "listening");
            }
            let limits = Arc::clone(&limits);
            let serve = serve.clone();
            tokio::spawn(async move {
                loop {
                    let (tcp, remote) = match listener.accept().await {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            tracing::warn!("accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    match limits.admit(remote.ip(), std::time::Instant::now()) {
                        Ok(slot) => {
                            if let Err(e) = tcp.set_nodelay(true) {
                                tracing::debug!(%remote, "TCP_NODELAY: {e}");
                            }
                            let serving = serve(tcp, kind);
                            tokio::spawn(async move {
                                serving.await;
                                drop(slot);
                            });
                        }
                        Err(refusal) => {
                            tracing::debug!(%remote, %refusal, "connection refused");
                            refuse(&tcp, kind, refusal);
                        }
                    }
                }
            });
        }
    }
}
