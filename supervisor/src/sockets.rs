//! Sockets the supervisor makes for its daemons, shared by `postern serve`, `postern
//! localserve` and `postern quickstart`: listening Unix sockets bound before a daemon
//! starts (and kept across its restarts), and the datagram socket on which a daemon
//! reports readiness (sd_notify's `READY=1`).

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use nix::unistd::{Gid, Uid, chown};

use crate::launch::Identity;

/// How long a daemon may take to say it is ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest path a Unix socket address can hold (`sun_path` less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// Removes a stale socket file at `path`. A socket someone still listens on
/// (`listening`: systemd's units, another supervisor) is not stale: taking it over would
/// cut that service off. A daemon of a supervisor that just died may take a moment to
/// go, so it waits briefly first.
fn remove_stale(path: &Path, listening: impl Fn(&Path) -> bool) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while listening(path) {
        if std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        anyhow::bail!(
            "{} is in use by a running service (postern's systemd units or another supervisor?); stop it first",
            path.display()
        );
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing stale {}", path.display())),
    }
}

/// Binds a listening Unix socket at `path` (replacing a stale file there) with `mode`.
pub fn bind_unix(path: &Path, mode: u32) -> anyhow::Result<OwnedFd> {
    remove_stale(path, |p| std::os::unix::net::UnixStream::connect(p).is_ok())?;
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(OwnedFd::from(listener))
}

/// Backlog of the `SOCK_SEQPACKET` sockets the supervisor binds.
pub const SEQPACKET_BACKLOG: i32 = 128;

/// Binds a listening `SOCK_SEQPACKET` socket at `path` (replacing a stale file there)
/// with `mode`, for a daemon that receives fds on it (imapd's store socket).
pub fn bind_seqpacket(path: &Path, mode: u32) -> anyhow::Result<OwnedFd> {
    remove_stale(path, postern_ipc::seqpacket::is_listening)?;
    let listener = postern_ipc::fdpass::seqpacket_listen(path, SEQPACKET_BACKLOG)
        .with_context(|| format!("binding {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

/// A socket on which one daemon reports readiness (sd_notify's `READY=1`).
#[derive(Debug)]
pub struct ReadySocket {
    path: PathBuf,
    socket: std::os::unix::net::UnixDatagram,
}

impl ReadySocket {
    /// The path of the notify socket for daemon `name` in `dir`.
    pub fn path_in(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.notify"))
    }

    /// Binds `DIR/NAME.notify`, mode 0600. With an `identity` the socket is given to it,
    /// so that only that daemon (and root) may send to it; without one it stays ours.
    pub fn new(dir: &Path, name: &str, identity: Option<Identity>) -> anyhow::Result<ReadySocket> {
        let path = ReadySocket::path_in(dir, name);
        let _ = fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path)
            .with_context(|| format!("binding {}", path.display()))?;
        if let Some(identity) = identity {
            chown(
                &path,
                Some(Uid::from_raw(identity.uid)),
                Some(Gid::from_raw(identity.gid)),
            )
            .with_context(|| format!("changing the owner of {}", path.display()))?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
        socket.set_nonblocking(true)?;
        Ok(ReadySocket { path, socket })
    }

    /// The socket's path, for the daemon's `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for `READY=1` from daemon `name`, up to [`READY_TIMEOUT`]; says whether it
    /// came. Afterwards the socket is drained in the background (a restarted daemon
    /// reports again, and is logged), so that a daemon never blocks on a full queue.
    pub async fn wait(self, name: &'static str) -> bool {
        let socket = match tokio::net::UnixDatagram::from_std(self.socket) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(daemon = name, error = %e, "cannot watch the notify socket");
                return false;
            }
        };
        let ready = tokio::time::timeout(READY_TIMEOUT, next_ready(&socket))
            .await
            .is_ok();
        if ready {
            tracing::info!(daemon = name, "ready");
        } else {
            tracing::warn!(daemon = name, "did not report readiness in time");
        }
        tokio::spawn(async move {
            loop {
                next_ready(&socket).await;
                tracing::info!(daemon = name, "ready");
            }
        });
        ready
    }
}

/// Returns at the next datagram with a `READY=1` line.
async fn next_ready(socket: &tokio::net::UnixDatagram) {
    let mut buffer = [0u8; 4096];
    loop {
        match socket.recv(&mut buffer).await {
            Ok(n) => {
                if String::from_utf8_lossy(&buffer[..n])
                    .lines()
                    .any(|l| l == "READY=1")
                {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "reading the notify socket");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_is_seen_among_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let ready = ReadySocket::new(dir.path(), "x", None).unwrap();
        let sender = std::os::unix::net::UnixDatagram::unbound().unwrap();
        sender.send_to(b"STATUS=starting", ready.path()).unwrap();
        sender
            .send_to(b"STATUS=up\nREADY=1\n", ready.path())
            .unwrap();
        assert!(ready.wait("x").await);
    }
}
