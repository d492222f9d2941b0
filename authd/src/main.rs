//! `postern-authd`: the auth daemon. Gets its two Unix sockets by socket activation
//! (names `auth` and `admin`) or binds the paths from the config itself.

use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use postern_authd::names::LocalpartCase;
use postern_authd::server::{self, Listeners};
use postern_authd::store::Store;
use postern_config::Config;
use postern_daemon::{Started, serve_until_stopped, warn_unused};
use tokio::net::UnixListener;

fn listener_from(
    mut fds: Vec<OwnedFd>,
    name: &str,
) -> anyhow::Result<Option<std::os::unix::net::UnixListener>> {
    let Some(fd) = fds.pop() else {
        return Ok(None);
    };
    if !fds.is_empty() {
        bail!("more than one {name} socket passed");
    }
    let listener = std::os::unix::net::UnixListener::from(fd);
    listener.set_nonblocking(true)?;
    Ok(Some(listener))
}

fn bind(path: &Path, mode: u32) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

fn main() -> std::process::ExitCode {
    postern_daemon::exit_code("postern-authd", start())
}

fn start() -> anyhow::Result<()> {
    // SAFETY: first thing in main; no other thread exists yet.
    let Started {
        config,
        mut activated,
        ..
    } = unsafe {
        postern_daemon::begin(
            "postern-authd",
            "postern's auth daemon: the only holder of credentials.",
        )
    }?;
    let auth = listener_from(activated.take("auth"), "auth");
    let admin = listener_from(activated.take("admin"), "admin");
    warn_unused(&activated);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config, auth?, admin?))
}

async fn run(
    config: Config,
    auth: Option<std::os::unix::net::UnixListener>,
    admin: Option<std::os::unix::net::UnixListener>,
) -> anyhow::Result<()> {
    let auth = match auth {
        Some(listener) => UnixListener::from_std(listener)?,
        None => bind(&config.auth_socket(), 0o666)?,
    };
    let admin = match admin {
        Some(listener) => UnixListener::from_std(listener)?,
        None => bind(&config.admin_socket(), 0o600)?,
    };
    let dir = config.authd_dir();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let case = LocalpartCase::from_setting(config.authd.localpart_case_sensitive);
    let store = tokio::task::spawn_blocking(move || Store::open(&dir, case)).await??;
    let (shared, database_thread) = server::prepare(config, store).await?;
    // Ready once serving; the future ends on SIGTERM or SIGINT.
    let shutdown = async {
        if let Err(e) = serve_until_stopped("authd", None).await {
            tracing::error!(daemon = "authd", "{e}");
        }
    };
    server::serve(shared, Listeners { auth, admin }, shutdown).await;
    // Dropping the last handle ends the database thread after it wrote what is queued.
    tokio::task::spawn_blocking(move || database_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the database thread panicked"))?;
    tracing::info!(daemon = "authd", "stopped");
    Ok(())
}
