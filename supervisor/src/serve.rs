//! `postern serve`: the root supervisor. It prepares directories (fixing owners and
//! modes), binds the sockets, starts each daemon as its own user with no privileges,
//! restarts what exits, answers `postern status`, and stops everything on SIGTERM.

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use nix::unistd::{Gid, Uid, chown};
use postern_config::{Config, UserRef, resolve_identity};
use tokio::sync::Mutex;

use crate::control;
use crate::daemons::{self, AUTHD};
use crate::launch::Identity;
use crate::sockets::{ReadySocket, bind_seqpacket, bind_unix};
use crate::supervision::{
    DaemonPlan, Received, RestartPolicy, Signals, Startup, Supervision, base_env, wait_started,
};
use crate::tls_daemon::{self, TlsDaemonSpec, TlsReloader};

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

/// Where `postern serve` puts the daemons' notify sockets.
pub fn notify_dir(config: &Config) -> PathBuf {
    config.runtime_dir.join("notify")
}

/// Everything `postern serve` does as root before starting authd: resolves authd's
/// user (never root), finds its binary, creates the runtime and data directories and
/// fixes owners and modes (DESIGN.md invariant 2; unless `no_fix_permissions`), saying
/// what it changed, and binds authd's auth and admin sockets and its notify socket.
/// Returns authd's plan (started as its own user, sockets by socket activation) and the
/// socket it reports readiness on. `postern quickstart` starts authd the same way.
pub fn prepare_authd(
    config_path: &Path,
    config: &Config,
) -> anyhow::Result<(DaemonPlan, ReadySocket)> {
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
    let notify_dir = notify_dir(config);
    ensure_dir(&notify_dir, 0, 0, 0o755, true, &mut changes)?;
    for change in &changes {
        tracing::info!("fixed: {change}");
    }

    let auth = bind_unix(&config.auth_socket(), 0o666)?;
    let admin = bind_unix(&config.admin_socket(), 0o600)?;
    let ready = ReadySocket::new(&notify_dir, AUTHD.name, Some(authd_identity))?;

    let mut env = base_env(config_path);
    env.push(("NOTIFY_SOCKET".into(), ready.path().as_os_str().to_owned()));
    let authd = DaemonPlan {
        name: AUTHD.name,
        program: authd_binary,
        args: vec!["--config".into(), config_path.as_os_str().to_owned()],
        env,
        fds: vec![("auth".into(), auth), ("admin".into(), admin)],
        identity: Some(authd_identity),
    };
    Ok((authd, ready))
}

/// Resolves a protocol daemon's user (never root), gives it its private data directory
/// (fixing owners and modes unless `no_fix_permissions`), binds its listeners, copies
/// the certificate into its credentials directory, and returns its plan, notify socket
/// and reloader.
fn prepare_protocol_daemon(
    config_path: &Path,
    config: &Config,
    user: &UserRef,
    private_dir: Option<PathBuf>,
    mut spec: TlsDaemonSpec,
) -> anyhow::Result<(DaemonPlan, ReadySocket, TlsReloader)> {
    let name = spec.daemon.name;
    let (uid, gid) =
        resolve_identity(user, None).map_err(|e| anyhow::anyhow!("{name}'s user: {e}"))?;
    if uid == 0 || gid == 0 {
        bail!("{name} must not run as root: set [{name}] user to its own system user");
    }
    let identity = Identity { uid, gid };
    let mut changes = Vec::new();
    if let Some(private_dir) = private_dir {
        fix_private_dir(
            &private_dir,
            identity,
            !config.no_fix_permissions,
            &mut changes,
        )?;
    }
    for change in &changes {
        tracing::info!("fixed: {change}");
    }
    spec.identity = Some(identity);
    tls_daemon::prepare(config_path, config, &notify_dir(config), spec)
}

/// imapd's plan: its user, the mail store directory, the IMAP and IMAPS listeners, and
/// the store socket (mode 0666: imapd admits callers by uid, `[imapd] store_callers`).
pub fn prepare_imapd(
    config_path: &Path,
    config: &Config,
) -> anyhow::Result<(DaemonPlan, ReadySocket, TlsReloader)> {
    let store = bind_seqpacket(&config.store_socket(), 0o666)?;
    prepare_protocol_daemon(
        config_path,
        config,
        &config.imapd.user,
        Some(config.imapd_dir()),
        TlsDaemonSpec::imapd(config, store),
    )
}

/// submitd's plan: its user, its queue directory, the submission and submissions
/// listeners.
pub fn prepare_submitd(
    config_path: &Path,
    config: &Config,
) -> anyhow::Result<(DaemonPlan, ReadySocket, TlsReloader)> {
    prepare_protocol_daemon(
        config_path,
        config,
        &config.submitd.user,
        Some(config.submitd_dir()),
        TlsDaemonSpec::submitd(config),
    )
}

/// webd's plan: its user (no data directory: it keeps nothing), its HTTPS, HTTP and
/// admin listeners, its certificate.
pub fn prepare_webd(
    config_path: &Path,
    config: &Config,
) -> anyhow::Result<(DaemonPlan, ReadySocket, TlsReloader)> {
    prepare_protocol_daemon(
        config_path,
        config,
        &config.webd.user,
        None,
        TlsDaemonSpec::webd(config),
    )
}

/// The daemons started once authd is ready, with their notify sockets and reloaders.
struct ProtocolDaemons {
    plans: Vec<(DaemonPlan, ReadySocket)>,
    reloaders: Vec<TlsReloader>,
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
    let (authd, ready) = prepare_authd(&config_path, &config)?;
    let (imapd, imapd_ready, imapd_reloader) = prepare_imapd(&config_path, &config)?;
    let (submitd, submitd_ready, submitd_reloader) = prepare_submitd(&config_path, &config)?;
    let (webd, webd_ready, webd_reloader) = prepare_webd(&config_path, &config)?;
    let others = ProtocolDaemons {
        plans: vec![
            (imapd, imapd_ready),
            (submitd, submitd_ready),
            (webd, webd_ready),
        ],
        reloaders: vec![imapd_reloader, submitd_reloader],
    };
    let mut others = others;
    // webd uses a certificate only on HTTPS listeners; without one it has no reload.
    if !config.webd.https_listen.is_empty() {
        others.reloaders.push(webd_reloader);
    }
    let control = bind_unix(&config.control_socket(), 0o600)?;
    let policy = RestartPolicy::from_config(&config);
    let control_uid = control::allowed_uid(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(supervise(
        policy,
        authd,
        ready,
        others,
        control,
        control_uid,
    ))
}

async fn supervise(
    policy: RestartPolicy,
    authd: DaemonPlan,
    ready: ReadySocket,
    others: ProtocolDaemons,
    control: OwnedFd,
    control_uid: u32,
) -> anyhow::Result<()> {
    let mut signals = Signals::new()?;
    let supervision = Arc::new(Mutex::new(Supervision::new(policy)));
    supervision.lock().await.start(authd);
    // The protocol daemons start once authd is ready.
    ready.wait(AUTHD.name).await;
    for (plan, ready) in others.plans {
        let name = plan.name;
        let mut exits = {
            let mut supervision = supervision.lock().await;
            let exits = supervision.exits();
            supervision.start(plan);
            exits
        };
        match wait_started(ready, name, &mut exits).await {
            Startup::Ready => tracing::info!(daemon = name, "ready"),
            Startup::TimedOut => tracing::warn!(daemon = name, "did not report readiness"),
            Startup::Exited => tracing::warn!(
                daemon = "supervisor",
                "a daemon exited while {name} started"
            ),
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    let control = tokio::spawn(control::serve(control, supervision.clone(), control_uid));
    loop {
        match signals.recv().await {
            Received::Terminate => {
                tracing::info!("SIGTERM: stopping");
                break;
            }
            Received::Interrupt => {
                tracing::info!("SIGINT: stopping");
                break;
            }
            Received::Hangup => {
                tracing::info!("SIGHUP: reloading tls certificates");
                for reloader in &others.reloaders {
                    match reloader.reload().await {
                        Ok(()) => {
                            tracing::info!(daemon = reloader.name(), "tls certificate reloaded")
                        }
                        Err(e) => {
                            tracing::warn!(daemon = reloader.name(), "tls reload failed: {e:#}")
                        }
                    }
                }
            }
        }
    }
    control.abort();
    let running = std::mem::replace(&mut *supervision.lock().await, Supervision::new(policy));
    running.stop_all().await;
    tracing::info!("all daemons stopped");
    Ok(())
}
