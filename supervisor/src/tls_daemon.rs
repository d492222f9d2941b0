//! What the supervisor prepares for a daemon that serves TLS on TCP listeners (imapd,
//! later submitd and webd): its listeners bound by root, its private credentials
//! directory with the certificate and key, a notify socket, and one end of a control
//! socket pair over which a reload (SIGHUP) hands it new certificate files as fds.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use postern_config::Config;
use postern_ipc::control::{
    DAEMON_CONTROL_FD_NAME, DaemonControl, DaemonControlReply, MAX_DAEMON_CONTROL_MESSAGE,
};
use postern_ipc::fdpass;
use postern_ipc::frame::{decode_payload, encode_payload};
use postern_ipc::store::STORE_SOCKET_FD_NAME;

use crate::credentials::{self, credentials_dir};
use crate::daemons::{self, Daemon, IMAPD, SUBMITD, WEBD};
use crate::launch::Identity;
use crate::sockets::ReadySocket;
use crate::supervision::{DaemonPlan, base_env};

/// How long a daemon may take to answer a reload.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What to prepare for one TLS daemon.
#[derive(Debug)]
pub struct TlsDaemonSpec {
    /// The daemon.
    pub daemon: Daemon,
    /// Whom it runs as; `None` for the current user (localserve).
    pub identity: Option<Identity>,
    /// Its TCP listeners: the name it looks for (`LISTEN_FDNAMES`) and the addresses.
    pub listeners: Vec<(&'static str, Vec<SocketAddr>)>,
    /// Other sockets it gets, already bound, by name.
    pub sockets: Vec<(String, OwnedFd)>,
    /// The PEM certificate chain (opened by the supervisor).
    pub certificate: PathBuf,
    /// The PEM private key (opened by the supervisor).
    pub key: PathBuf,
}

impl TlsDaemonSpec {
    /// imapd: its IMAP and IMAPS listeners, its store socket, its certificate.
    pub fn imapd(config: &Config, store_socket: OwnedFd) -> TlsDaemonSpec {
        TlsDaemonSpec {
            daemon: IMAPD,
            identity: None,
            listeners: vec![
                ("imap", config.imapd.imap_listen.clone()),
                ("imaps", config.imapd.imaps_listen.clone()),
            ],
            sockets: vec![(STORE_SOCKET_FD_NAME.to_string(), store_socket)],
            certificate: config.imapd.tls_certificate.clone(),
            key: config.imapd.tls_key.clone(),
        }
    }

    /// submitd: its submission and submissions listeners, its certificate.
    pub fn submitd(config: &Config) -> TlsDaemonSpec {
        TlsDaemonSpec {
            daemon: SUBMITD,
            identity: None,
            listeners: vec![
                ("submission", config.submitd.submission_listen.clone()),
                ("submissions", config.submitd.submissions_listen.clone()),
            ],
            sockets: Vec::new(),
            certificate: config.submitd.tls_certificate.clone(),
            key: config.submitd.tls_key.clone(),
        }
    }
}

impl TlsDaemonSpec {
    /// webd: its HTTPS (account pages), plain-HTTP (account pages) and admin listeners,
    /// its certificate.
    pub fn webd(config: &Config) -> TlsDaemonSpec {
        TlsDaemonSpec {
            daemon: WEBD,
            identity: None,
            listeners: vec![
                ("web-https", config.webd.https_listen.clone()),
                ("web-http", config.webd.http_listen.clone()),
                ("web-admin", config.webd.admin_listen.clone()),
            ],
            sockets: Vec::new(),
            certificate: config.webd.tls_certificate.clone(),
            key: config.webd.tls_key.clone(),
        }
    }
}

/// The supervisor's side of a running TLS daemon: hands it new certificates.
#[derive(Debug)]
pub struct TlsReloader {
    name: &'static str,
    channel: OwnedFd,
    credentials: PathBuf,
    identity: Option<Identity>,
    certificate: PathBuf,
    key: PathBuf,
}

impl TlsReloader {
    /// The daemon's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Re-reads the certificate and key files, refreshes the daemon's credentials
    /// directory (for its next start) and hands both files to the running daemon, which
    /// serves new connections with them. Waits for its answer.
    pub async fn reload(&self) -> anyhow::Result<()> {
        credentials::write_tls(
            &self.credentials,
            self.identity,
            &self.certificate,
            &self.key,
        )?;
        let certificate = std::fs::File::open(&self.certificate)
            .with_context(|| format!("cannot open {}", self.certificate.display()))?;
        let key = std::fs::File::open(&self.key)
            .with_context(|| format!("cannot open {}", self.key.display()))?;
        let channel = self
            .channel
            .try_clone()
            .context("cannot duplicate the control socket")?;
        let name = self.name;
        let reply = tokio::task::spawn_blocking(move || -> anyhow::Result<DaemonControlReply> {
            let request = encode_payload(&DaemonControl::ReloadTls, MAX_DAEMON_CONTROL_MESSAGE)?;
            fdpass::send(
                channel.as_fd(),
                &request,
                &[certificate.as_fd(), key.as_fd()],
            )?;
            let answer = fdpass::recv(channel.as_fd(), MAX_DAEMON_CONTROL_MESSAGE)
                .with_context(|| format!("no answer from {name} within {RELOAD_TIMEOUT:?}"))?;
            Ok(decode_payload(&answer.payload, MAX_DAEMON_CONTROL_MESSAGE)?)
        })
        .await
        .context("reload task failed")??;
        match reply {
            DaemonControlReply::Done => Ok(()),
            DaemonControlReply::Failed(why) => bail!("{name} kept its certificate: {why}"),
        }
    }
}

/// Binds every address, in order.
fn bind_tcp(addresses: &[SocketAddr]) -> anyhow::Result<Vec<OwnedFd>> {
    addresses
        .iter()
        .map(|address| {
            let listener = std::net::TcpListener::bind(address)
                .with_context(|| format!("cannot listen on {address}"))?;
            Ok(OwnedFd::from(listener))
        })
        .collect()
}

/// Binds the listeners, writes the credentials directory, makes the notify socket (in
/// `notify_dir`) and the control socket pair, and returns the plan to start the daemon
/// with, its notify socket and the reloader.
pub fn prepare(
    config_path: &Path,
    config: &Config,
    notify_dir: &Path,
    spec: TlsDaemonSpec,
) -> anyhow::Result<(DaemonPlan, ReadySocket, TlsReloader)> {
    let name = spec.daemon.name;
    let program = daemons::locate(&spec.daemon)?;
    let mut fds = Vec::new();
    for (fd_name, addresses) in &spec.listeners {
        for fd in bind_tcp(addresses)? {
            fds.push(((*fd_name).to_string(), fd));
        }
    }
    fds.extend(spec.sockets);
    let (supervisor_end, daemon_end) =
        fdpass::seqpacket_pair().context("cannot make the control socket pair")?;
    let timeout = nix::sys::time::TimeVal::new(RELOAD_TIMEOUT.as_secs() as i64, 0);
    nix::sys::socket::setsockopt(
        &supervisor_end,
        nix::sys::socket::sockopt::ReceiveTimeout,
        &timeout,
    )
    .context("cannot set the control socket's timeout")?;
    fds.push((DAEMON_CONTROL_FD_NAME.to_string(), daemon_end));

    let credentials = credentials_dir(config, name);
    credentials::write_tls(&credentials, spec.identity, &spec.certificate, &spec.key)?;
    let ready = ReadySocket::new(notify_dir, name, spec.identity)?;
    let mut env = base_env(config_path);
    env.push(("NOTIFY_SOCKET".into(), ready.path().as_os_str().to_owned()));
    env.push((
        OsString::from("CREDENTIALS_DIRECTORY"),
        credentials.as_os_str().to_owned(),
    ));
    let plan = DaemonPlan {
        name,
        program,
        args: vec!["--config".into(), config_path.as_os_str().to_owned()],
        env,
        fds,
        identity: spec.identity,
    };
    let reloader = TlsReloader {
        name,
        channel: supervisor_end,
        credentials,
        identity: spec.identity,
        certificate: spec.certificate,
        key: spec.key,
    };
    Ok((plan, ready, reloader))
}
