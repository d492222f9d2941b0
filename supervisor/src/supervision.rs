//! Keeping daemons running: each daemon has a task that starts it, waits for it, and
//! restarts it with exponential back-off when it exits (logging how it ended), until the
//! supervisor stops it (SIGTERM, then SIGKILL after the grace period). The listening
//! sockets stay open here meanwhile, so clients wait in the backlog. `postern serve`,
//! `postern localserve` and `postern quickstart` all run their daemons through this.

use std::ffi::OsString;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use postern_config::Config;
use postern_ipc::control::DaemonStatus;
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::daemons::describe_status;
use crate::launch::{Identity, LaunchSpec, NamedFd, launch};
use crate::sockets::ReadySocket;

/// The first restart delay; it doubles on each quick exit.
pub const FIRST_RESTART_DELAY: Duration = Duration::from_millis(200);

/// Everything needed to (re)start one daemon.
#[derive(Debug)]
pub struct DaemonPlan {
    /// Short name, e.g. `authd`.
    pub name: &'static str,
    /// The binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment (besides socket activation).
    pub env: Vec<(OsString, OsString)>,
    /// Sockets handed over by name; kept open here across restarts.
    pub fds: Vec<(String, OwnedFd)>,
    /// Whom it runs as; `None` for the current user.
    pub identity: Option<Identity>,
}

/// Restart timing.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Grace between SIGTERM and SIGKILL when stopping.
    pub grace: Duration,
    /// Longest delay between restarts.
    pub max_delay: Duration,
    /// Run time after which a daemon counts as healthy again.
    pub healthy_after: Duration,
}

impl RestartPolicy {
    /// The timing from the config's `[supervisor]` section.
    pub fn from_config(config: &Config) -> RestartPolicy {
        RestartPolicy {
            grace: Duration::from_secs(config.supervisor.grace_seconds),
            max_delay: Duration::from_secs(config.supervisor.restart_delay_max_seconds.max(1)),
            healthy_after: Duration::from_secs(config.supervisor.healthy_seconds),
        }
    }
}

/// The environment every daemon starts with: a fixed `PATH`, `POSTERN_CONFIG`, and our
/// `RUST_LOG` if set. Nothing else of ours is passed on.
pub fn base_env(config_path: &Path) -> Vec<(OsString, OsString)> {
    let mut env = vec![
        ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("POSTERN_CONFIG".into(), config_path.as_os_str().to_owned()),
    ];
    if let Some(filter) = std::env::var_os("RUST_LOG") {
        env.push(("RUST_LOG".into(), filter));
    }
    env
}

/// A signal a supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// SIGTERM: stop.
    Terminate,
    /// SIGINT (Ctrl-C): stop.
    Interrupt,
    /// SIGHUP: reload (serve), or the terminal is gone (localserve).
    Hangup,
}

/// SIGTERM, SIGINT and SIGHUP, caught from creation on (so one arriving during start-up
/// is not lost).
#[derive(Debug)]
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching the three signals. Needs a tokio runtime.
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Received {
        tokio::select! {
            _ = self.terminate.recv() => Received::Terminate,
            _ = self.interrupt.recv() => Received::Interrupt,
            _ = self.hangup.recv() => Received::Hangup,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    pid: Option<u32>,
    started: Option<Instant>,
    restarts: u32,
    last_exit: Option<String>,
}

/// A running set of supervised daemons.
pub struct Supervision {
    states: Vec<(&'static str, Arc<Mutex<State>>)>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    exits: Arc<watch::Sender<u32>>,
    policy: RestartPolicy,
}

impl Supervision {
    /// Nothing supervised yet.
    pub fn new(policy: RestartPolicy) -> Supervision {
        let (stop, _) = watch::channel(false);
        let (exits, _) = watch::channel(0);
        Supervision {
            states: Vec::new(),
            tasks: Vec::new(),
            stop,
            exits: Arc::new(exits),
            policy,
        }
    }

    /// The number of times a daemon ended by itself (not stopped by us), changing at each
    /// such exit: for waiting on start-up while watching for a crash.
    pub fn exits(&self) -> watch::Receiver<u32> {
        self.exits.subscribe()
    }

    /// Starts supervising `plan` now.
    pub fn start(&mut self, plan: DaemonPlan) {
        let state = Arc::new(Mutex::new(State::default()));
        self.states.push((plan.name, state.clone()));
        let stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(keep_running(
            plan,
            state,
            self.policy,
            stop,
            self.exits.clone(),
        )));
    }

    /// Each daemon's state, in start order.
    pub fn status(&self) -> Vec<DaemonStatus> {
        self.states
            .iter()
            .map(|(name, state)| {
                let state = state.lock().unwrap_or_else(|e| e.into_inner());
                DaemonStatus {
                    name: (*name).to_string(),
                    pid: state.pid,
                    uptime_seconds: state.started.map(|s| s.elapsed().as_secs()),
                    restarts: state.restarts,
                    last_exit: state.last_exit.clone(),
                }
            })
            .collect()
    }

    /// Stops every daemon (SIGTERM, SIGKILL after the grace period) and waits for them.
    pub async fn stop_all(self) {
        let _ = self.stop.send(true);
        for task in self.tasks.into_iter().rev() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "supervising task failed");
            }
        }
    }
}

/// How waiting for a daemon's start ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// It reported `READY=1`.
    Ready,
    /// It did not report within [`crate::sockets::READY_TIMEOUT`].
    TimedOut,
    /// A supervised daemon exited first (see [`Supervision::status`] for how).
    Exited,
}

/// Waits for daemon `name` to report readiness on `ready`, or for a daemon exit counted
/// by `exits` (from [`Supervision::exits`], taken before the daemon was started).
pub async fn wait_started(
    ready: ReadySocket,
    name: &'static str,
    exits: &mut watch::Receiver<u32>,
) -> Startup {
    tokio::select! {
        ready = ready.wait(name) => if ready { Startup::Ready } else { Startup::TimedOut },
        Ok(()) = exits.changed() => Startup::Exited,
    }
}

fn spawn(plan: &DaemonPlan) -> std::io::Result<Child> {
    launch(LaunchSpec {
        program: plan.program.clone(),
        args: plan.args.clone(),
        env: plan.env.clone(),
        fds: plan
            .fds
            .iter()
            .map(|(name, fd)| NamedFd {
                name: name.clone(),
                fd: fd.as_fd(),
            })
            .collect(),
        identity: plan.identity,
    })
}

async fn keep_running(
    plan: DaemonPlan,
    state: Arc<Mutex<State>>,
    policy: RestartPolicy,
    mut stop: watch::Receiver<bool>,
    exits: Arc<watch::Sender<u32>>,
) {
    let daemon = plan.name;
    let mut delay = FIRST_RESTART_DELAY;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let outcome = match spawn(&plan) {
            Ok(mut child) => {
                let pid = child.id();
                tracing::info!(daemon, pid, binary = %plan.program.display(), "started");
                {
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    state.pid = pid;
                    state.started = Some(started);
                }
                tokio::select! {
                    status = child.wait() => match status {
                        Ok(status) => describe_status(status),
                        Err(e) => format!("unknown status ({e})"),
                    },
                    _ = stop.changed() => {
                        let how = terminate(daemon, &mut child, policy.grace).await;
                        tracing::info!(daemon, "stopped ({how})");
                        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                        state.pid = None;
                        state.started = None;
                        return;
                    }
                }
            }
            Err(e) => format!("could not start: {e}"),
        };
        if started.elapsed() >= policy.healthy_after {
            delay = FIRST_RESTART_DELAY;
        }
        tracing::warn!(daemon, exit = %outcome, restart_in = ?delay, "daemon ended; restarting");
        {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.pid = None;
            state.started = None;
            state.last_exit = Some(outcome);
            state.restarts += 1;
        }
        exits.send_modify(|n| *n = n.wrapping_add(1));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(policy.max_delay);
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL; returns how it ended.
async fn terminate(daemon: &str, child: &mut Child, grace: Duration) -> String {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok())
        && let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM)
    {
        tracing::warn!(daemon, "cannot send SIGTERM: {e}");
    }
    let status = match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            tracing::warn!(daemon, ?grace, "did not stop in time; sending SIGKILL");
            let _ = child.start_kill();
            child.wait().await
        }
    };
    match status {
        Ok(status) => describe_status(status),
        Err(e) => format!("unknown status ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(name: &'static str, script: &str) -> DaemonPlan {
        DaemonPlan {
            name,
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            fds: Vec::new(),
            identity: None,
        }
    }

    fn policy(grace: Duration) -> RestartPolicy {
        RestartPolicy {
            grace,
            max_delay: Duration::from_secs(1),
            healthy_after: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn an_exiting_daemon_is_restarted_and_counted() {
        let mut supervision = Supervision::new(policy(Duration::from_secs(5)));
        let mut exits = supervision.exits();
        supervision.start(shell("quick", "exit 3"));
        supervision.start(shell("sleeper", "exec sleep 60"));
        tokio::time::timeout(Duration::from_secs(10), async {
            while *exits.borrow_and_update() < 2 {
                exits.changed().await.unwrap();
            }
        })
        .await
        .expect("two exits within 10 s");
        let status = supervision.status();
        assert_eq!(status[0].name, "quick");
        assert!(status[0].restarts >= 2, "{status:?}");
        assert_eq!(status[0].last_exit.as_deref(), Some("exit status 3"));
        assert_eq!(status[1].restarts, 0, "{status:?}");
        let sleeper = status[1].pid.expect("sleeper runs");
        supervision.stop_all().await;
        assert!(!Path::new(&format!("/proc/{sleeper}")).exists());
    }

    #[tokio::test]
    async fn sigkill_after_grace() {
        let mut supervision = Supervision::new(policy(Duration::from_millis(500)));
        let exits = supervision.exits();
        supervision.start(shell("stubborn", "trap '' TERM; while :; do sleep 1; done"));
        // Give the shell time to install its trap.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let pid = supervision.status()[0].pid.expect("running");
        let started = Instant::now();
        supervision.stop_all().await;
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        // Being stopped is not an exit.
        assert_eq!(*exits.borrow(), 0);
    }
}
