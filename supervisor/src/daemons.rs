//! The daemons postern runs: which exist, where their binaries are found, and running
//! them as supervised child processes that stop together.
//!
//! The only `unsafe` in this crate is here: the `pre_exec` hook that ties a child's life
//! to ours (`PR_SET_PDEATHSIG`).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Where installed daemon binaries live when they are not next to `postern`.
pub const LIBEXEC_DIR: &str = "/usr/lib/postern";

/// How long a daemon has to exit after SIGTERM before it gets SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// A daemon postern knows how to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Daemon {
    /// Short name for messages, e.g. `authd`.
    pub name: &'static str,
    /// File name of its executable, e.g. `postern-authd`.
    pub binary: &'static str,
}

/// authd, the holder of credentials; every other daemon needs it.
pub const AUTHD: Daemon = Daemon {
    name: "authd",
    binary: "postern-authd",
};

/// The daemons localserve runs, in start order (stopped in reverse). A new daemon slots
/// in by adding its row here and its listeners to [`LISTENERS`].
pub const DAEMONS: &[Daemon] = &[AUTHD];

/// A TCP service and the daemon that serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Service name shown to the user, e.g. `IMAPS`.
    pub service: &'static str,
    /// The standard port.
    pub port: u16,
    /// Binary name of the daemon serving it.
    pub daemon: &'static str,
    /// Whether TLS starts at once (implicit TLS), rather than by STARTTLS or not at all.
    pub implicit_tls: bool,
}

/// Every listener of a full postern, standard ports.
pub const LISTENERS: &[Listener] = &[
    Listener {
        service: "IMAP",
        port: 143,
        daemon: "postern-imapd",
        implicit_tls: false,
    },
    Listener {
        service: "IMAPS",
        port: 993,
        daemon: "postern-imapd",
        implicit_tls: true,
    },
    Listener {
        service: "submission",
        port: 587,
        daemon: "postern-submitd",
        implicit_tls: false,
    },
    Listener {
        service: "submissions",
        port: 465,
        daemon: "postern-submitd",
        implicit_tls: true,
    },
    Listener {
        service: "web",
        port: 80,
        daemon: "postern-webd",
        implicit_tls: false,
    },
];

/// The daemon in [`DAEMONS`] with this binary name.
pub fn known_daemon(binary: &str) -> Option<Daemon> {
    DAEMONS.iter().copied().find(|d| d.binary == binary)
}

/// The directories searched for daemon binaries: the one holding the running `postern`,
/// then [`LIBEXEC_DIR`].
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
    }
    dirs.push(PathBuf::from(LIBEXEC_DIR));
    dirs
}

/// The first executable file named `binary` in `dirs`.
pub fn find_in(binary: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter().map(|d| d.join(binary)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Locates `daemon`'s executable, or says where it was looked for and how to build it.
pub fn locate(daemon: &Daemon) -> anyhow::Result<PathBuf> {
    let dirs = search_dirs();
    find_in(daemon.binary, &dirs).ok_or_else(|| {
        let next_to = dirs
            .first()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "postern".into());
        anyhow::anyhow!(
            "{} not found next to {next_to} nor in {LIBEXEC_DIR}; build the workspace \
             first: cargo build --release --workspace",
            daemon.binary
        )
    })
}

/// How a supervised child ended.
#[derive(Debug)]
pub struct Exit {
    /// The daemon's name.
    pub name: &'static str,
    /// Its exit status, or why it could not be waited for.
    pub status: io::Result<ExitStatus>,
    /// Whether it ended because it was asked to stop.
    pub stopped: bool,
}

impl Exit {
    /// The status in words: `exit status 1`, `signal 9 (SIGKILL)`.
    pub fn describe(&self) -> String {
        match &self.status {
            Ok(status) => describe_status(*status),
            Err(e) => format!("unknown status ({e})"),
        }
    }
}

/// An exit status in words.
pub fn describe_status(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exit status {code}")
    } else if let Some(signal) = status.signal() {
        match Signal::try_from(signal) {
            Ok(s) => format!("signal {signal} ({})", s.as_str()),
            Err(_) => format!("signal {signal}"),
        }
    } else {
        format!("{status}")
    }
}

/// Running children, each watched by a task that reports an unexpected exit at once and
/// stops its child on request.
#[derive(Debug)]
pub struct Children {
    running: Vec<Supervised>,
    grace: Duration,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits: mpsc::UnboundedReceiver<Exit>,
}

#[derive(Debug)]
struct Supervised {
    name: &'static str,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Default for Children {
    fn default() -> Self {
        Children::new()
    }
}

impl Children {
    /// No children yet; stopping grants [`STOP_GRACE`].
    pub fn new() -> Children {
        Children::with_grace(STOP_GRACE)
    }

    /// No children yet; stopping grants `grace` between SIGTERM and SIGKILL.
    pub fn with_grace(grace: Duration) -> Children {
        let (exits_tx, exits) = mpsc::unbounded_channel();
        Children {
            running: Vec::new(),
            grace,
            exits_tx,
            exits,
        }
    }

    /// Starts `program` with `args` as the child `name`: stdin from /dev/null, stdout and
    /// stderr shared with us, in its own process group (so a terminal's Ctrl-C reaches
    /// only us and we stop the children in order), and sent SIGTERM by the kernel should
    /// we die without stopping it.
    ///
    /// Call this from the thread that keeps running for the life of the process (the
    /// kernel sends the parent-death signal when the forking *thread* ends).
    pub fn spawn(
        &mut self,
        name: &'static str,
        program: &Path,
        args: &[&std::ffi::OsStr],
    ) -> anyhow::Result<u32> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true);
        let parent = nix::unistd::getpid();
        // SAFETY: the closure runs in the forked child before exec and calls only
        // async-signal-safe functions (prctl, getppid); it allocates nothing and takes
        // no locks.
        unsafe {
            command.pre_exec(move || {
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
                // We may have died between fork and prctl: then nobody would signal.
                if nix::unistd::getppid() != parent {
                    return Err(io::Error::other("parent exited during start"));
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", program.display()))?;
        let pid = child.id().unwrap_or(0);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(watch(
            name,
            child,
            self.grace,
            stop_rx,
            self.exits_tx.clone(),
        ));
        self.running.push(Supervised {
            name,
            stop: Some(stop_tx),
            task,
        });
        Ok(pid)
    }

    /// Waits until some child exits without having been asked to.
    pub async fn unexpected_exit(&mut self) -> Exit {
        loop {
            match self.exits.recv().await {
                Some(exit) if !exit.stopped => return exit,
                Some(_) => continue,
                // We hold a sender ourselves, so the channel never closes.
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Stops every child, the last started first: SIGTERM, then SIGKILL after the
    /// grace period. Returns how each ended.
    pub async fn stop_all(&mut self) -> Vec<Exit> {
        for supervised in self.running.iter_mut().rev() {
            if let Some(stop) = supervised.stop.take() {
                let _ = stop.send(());
            }
            if let Err(e) = (&mut supervised.task).await {
                tracing::error!(daemon = supervised.name, "supervising task failed: {e}");
            }
        }
        self.running.clear();
        let mut exits = Vec::new();
        while let Ok(exit) = self.exits.try_recv() {
            exits.push(exit);
        }
        exits
    }
}

/// Owns `child` until it exits, by itself or after `stop`; reports the exit on `exits`.
async fn watch(
    name: &'static str,
    mut child: Child,
    grace: Duration,
    stop: oneshot::Receiver<()>,
    exits: mpsc::UnboundedSender<Exit>,
) {
    let exit = tokio::select! {
        status = child.wait() => Exit { name, status, stopped: false },
        _ = stop => Exit { name, status: terminate(name, &mut child, grace).await, stopped: true },
    };
    let _ = exits.send(exit);
}

/// SIGTERM, wait up to `grace`, then SIGKILL.
async fn terminate(
    name: &'static str,
    child: &mut Child,
    grace: Duration,
) -> io::Result<ExitStatus> {
    // `id()` is `None` once the child has been reaped; only this task reaps it, so the
    // pid cannot have been reused.
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok())
        && let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM)
    {
        tracing::warn!(daemon = name, "cannot send SIGTERM: {e}");
    }
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(
                daemon = name,
                "did not stop within {:?} of SIGTERM, sending SIGKILL",
                grace
            );
            child.kill().await?;
            child.wait().await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listener_port_is_distinct() {
        let mut ports: Vec<u16> = LISTENERS.iter().map(|l| l.port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), LISTENERS.len());
        assert!(known_daemon("postern-authd").is_some());
    }

    #[test]
    fn finds_only_executables() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dirs = vec![PathBuf::from("/nonexistent"), dir.path().to_path_buf()];
        let path = dir.path().join("postern-x");
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        assert_eq!(find_in("postern-x", &dirs), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_in("postern-x", &dirs), Some(path));
    }

    #[tokio::test]
    async fn unexpected_exit_and_stop() {
        let mut children = Children::new();
        let sh = Path::new("/bin/sh");
        children
            .spawn("quick", sh, &["-c".as_ref(), "exit 3".as_ref()])
            .unwrap();
        children
            .spawn("sleeper", sh, &["-c".as_ref(), "exec sleep 60".as_ref()])
            .unwrap();
        let exit = children.unexpected_exit().await;
        assert_eq!(exit.name, "quick");
        assert_eq!(exit.describe(), "exit status 3");
        let exits = children.stop_all().await;
        assert_eq!(exits.len(), 1);
        assert_eq!(exits[0].name, "sleeper");
        assert!(exits[0].stopped);
        assert_eq!(exits[0].describe(), "signal 15 (SIGTERM)");
    }

    #[tokio::test]
    async fn sigkill_after_grace() {
        let mut children = Children::with_grace(Duration::from_millis(500));
        children
            .spawn(
                "stubborn",
                Path::new("/bin/sh"),
                &[
                    "-c".as_ref(),
                    "trap '' TERM; while :; do sleep 1; done".as_ref(),
                ],
            )
            .unwrap();
        // Give the shell time to install its trap.
        std::thread::sleep(Duration::from_millis(300));
        let exits = children.stop_all().await;
        assert_eq!(exits[0].describe(), "signal 9 (SIGKILL)");
    }
}
