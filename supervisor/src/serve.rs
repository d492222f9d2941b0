//! `postern serve`: the root supervisor. It prepares directories (fixing owners and
//! modes), binds the sockets, starts each daemon as its own user with no privileges,
//! restarts what exits, answers `postern status`, and stops everything on SIGTERM.

use std::ffi::OsString;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use nix::unistd::{Gid, Uid, chown};
use postern_config::{Config, resolve_identity};
use postern_ipc::FrameCodec;
use postern_ipc::control::{ControlRequest, ControlResponse, MAX_CONTROL_FRAME};
use postern_ipc::peer::PeerCredentials;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;
use tokio_util::codec::Framed;

use crate::daemons::{self, AUTHD};
use crate::launch::Identity;
use crate::supervision::{DaemonPlan, RestartPolicy, Supervision};

/// How long a daemon may take to say it is ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes `path` a directory owned by `uid:gid` with `mode`, saying what it changed.
fn ensure_dir(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
    fix: bool,
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    if !path.exists() {
        fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        changes.push(format!("created {}", path.display()));
    }
    let meta = fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    if !fix {
        return Ok(());
    }
    fix_owner_and_mode(path, &meta, uid, gid, mode, changes)
}

fn fix_owner_and_mode(
    path: &Path,
    meta: &fs::Metadata,
    uid: u32,
    gid: u32,
    mode: u32,
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    if meta.uid() != uid || meta.gid() != gid {
        chown(path, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .with_context(|| format!("changing the owner of {}", path.display()))?;
        changes.push(format!(
            "owner of {} from {}:{} to {uid}:{gid}",
            path.display(),
            meta.uid(),
            meta.gid()
        ));
    }
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("changing the mode of {}", path.display()))?;
        changes.push(format!(
            "mode of {} from {:o} to {mode:o}",
            path.display(),
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// Gives a daemon's private directory and everything directly in it to the daemon,
/// closed to everyone else (DESIGN.md invariant 2).
fn fix_private_dir(
    path: &Path,
    identity: Identity,
    fix: bool,
    changes: &mut Vec<String>,
) -> anyhow::Result<()> {
    ensure_dir(path, identity.uid, identity.gid, 0o700, fix, changes)?;
    if !fix {
        return Ok(());
    }
    for entry in fs::read_dir(path).with_context(|| format!("reading {}", path.display()))? {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.file_type().is_symlink() {
            bail!(
                "{} is a symbolic link; refusing to follow it",
                entry.path().display()
            );
        }
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        fix_owner_and_mode(
            &entry.path(),
            &meta,
            identity.uid,
            identity.gid,
            mode,
            changes,
        )?;
    }
    Ok(())
}

fn bind_unix(path: &Path, mode: u32) -> anyhow::Result<OwnedFd> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(OwnedFd::from(listener))
}

/// A socket on which one daemon reports readiness (sd_notify's `READY=1`).
struct ReadySocket {
    path: PathBuf,
    socket: UnixDatagram,
}

impl ReadySocket {
    fn new(dir: &Path, name: &str, identity: Identity) -> anyhow::Result<ReadySocket> {
        let path = dir.join(format!("{name}.notify"));
        let _ = fs::remove_file(&path);
        let socket =
            UnixDatagram::bind(&path).with_context(|| format!("binding {}", path.display()))?;
        // Only the daemon may send to it.
        chown(
            &path,
            Some(Uid::from_raw(identity.uid)),
            Some(Gid::from_raw(identity.gid)),
        )?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(ReadySocket { path, socket })
    }

    /// Waits for `READY=1`, up to [`READY_TIMEOUT`].
    async fn wait(self, name: &'static str) {
        let result = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + READY_TIMEOUT;
            let mut buffer = [0u8; 4096];
            while std::time::Instant::now() < deadline {
                if let Ok(n) = self.socket.recv(&mut buffer)
                    && String::from_utf8_lossy(&buffer[..n])
                        .lines()
                        .any(|l| l == "READY=1")
                {
                    return true;
                }
            }
            false
        })
        .await;
        if result.unwrap_or(false) {
            tracing::info!(daemon = name, "ready");
        } else {
            tracing::warn!(daemon = name, "did not report readiness in time; going on");
        }
    }
}

fn base_env(config_path: &Path) -> Vec<(OsString, OsString)> {
    let mut env = vec![
        ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("POSTERN_CONFIG".into(), config_path.as_os_str().to_owned()),
    ];
    if let Some(filter) = std::env::var_os("RUST_LOG") {
        env.push(("RUST_LOG".into(), filter));
    }
    env
}

/// Runs the supervisor until SIGTERM or SIGINT.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "postern serve must start as root (it binds sockets and switches users); to try postern as yourself, use `postern localserve`"
        );
    }
    let config_path = fs::canonicalize(config_path)
        .with_context(|| format!("cannot read config {}", config_path.display()))?;
    let config = Config::load(&config_path)?;
    let (uid, gid) = resolve_identity(&config.authd.user, config.authd.group.as_ref())
        .map_err(|e| anyhow::anyhow!("authd's user: {e}"))?;
    if uid == 0 || gid == 0 {
        bail!("authd must not run as root: set [authd] user and group to its own system user");
    }
    let authd_identity = Identity { uid, gid };
    let authd_binary = daemons::locate(&AUTHD)?;

    let fix = !config.no_fix_permissions;
    let mut changes = Vec::new();
    ensure_dir(&config.runtime_dir, 0, 0, 0o755, fix, &mut changes)?;
    ensure_dir(&config.data_dir, 0, 0, 0o755, fix, &mut changes)?;
    fix_private_dir(&config.authd_dir(), authd_identity, fix, &mut changes)?;
    let notify_dir = config.runtime_dir.join("notify");
    ensure_dir(&notify_dir, 0, 0, 0o755, true, &mut changes)?;
    for change in &changes {
        tracing::info!("fixed: {change}");
    }

    let auth = bind_unix(&config.auth_socket(), 0o666)?;
    let admin = bind_unix(&config.admin_socket(), 0o600)?;
    let control = bind_unix(&config.control_socket(), 0o600)?;
    let ready = ReadySocket::new(&notify_dir, AUTHD.name, authd_identity)?;

    let mut env = base_env(&config_path);
    env.push(("NOTIFY_SOCKET".into(), ready.path.as_os_str().to_owned()));
    let authd = DaemonPlan {
        name: AUTHD.name,
        program: authd_binary,
        args: vec!["--config".into(), config_path.as_os_str().to_owned()],
        env,
        fds: vec![("auth".into(), auth), ("admin".into(), admin)],
        identity: Some(authd_identity),
    };
    let policy = RestartPolicy {
        grace: Duration::from_secs(config.supervisor.grace_seconds),
        max_delay: Duration::from_secs(config.supervisor.restart_delay_max_seconds.max(1)),
        healthy_after: Duration::from_secs(config.supervisor.healthy_seconds),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(supervise(policy, authd, ready, control))
}

async fn supervise(
    policy: RestartPolicy,
    authd: DaemonPlan,
    ready: ReadySocket,
    control: OwnedFd,
) -> anyhow::Result<()> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let supervision = Arc::new(Mutex::new(Supervision::new(policy)));
    supervision.lock().await.start(authd);
    // The protocol daemons start once authd is ready; none exists yet.
    ready.wait(AUTHD.name).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let control = std::os::unix::net::UnixListener::from(control);
    control.set_nonblocking(true)?;
    let control = UnixListener::from_std(control)?;
    loop {
        tokio::select! {
            _ = sigterm.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = sighup.recv() => {
                tracing::info!("SIGHUP: no daemon holds TLS certificates yet; nothing to reload");
            }
            accepted = control.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(answer_control(stream, supervision.clone()));
                }
                Err(e) => {
                    tracing::error!(error = %e, "accept on the control socket failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    let running = std::mem::replace(&mut *supervision.lock().await, Supervision::new(policy));
    running.stop_all().await;
    tracing::info!("all daemons stopped");
    Ok(())
}

async fn answer_control(stream: tokio::net::UnixStream, supervision: Arc<Mutex<Supervision>>) {
    let peer = match PeerCredentials::of(&stream) {
        Ok(peer) => peer,
        Err(_) => return,
    };
    let mut framed = Framed::new(
        stream,
        FrameCodec::<ControlRequest, ControlResponse>::new(MAX_CONTROL_FRAME, MAX_CONTROL_FRAME),
    );
    if peer.uid != 0 {
        tracing::warn!(
            peer_uid = peer.uid,
            "control socket: refusing a non-root peer"
        );
        let _ = framed
            .send(ControlResponse::Error(format!(
                "permission denied: uid {} may not use the control socket",
                peer.uid
            )))
            .await;
        return;
    }
    while let Some(Ok(request)) = framed.next().await {
        let response = match request {
            ControlRequest::Status => ControlResponse::Status(supervision.lock().await.status()),
        };
        if framed.send(response).await.is_err() {
            return;
        }
    }
}
