//! Keeping daemons running: each daemon has a task that starts it, waits for it, and
//! restarts it with exponential back-off when it exits (logging how it ended), until the
//! supervisor stops it (SIGTERM, then SIGKILL after the grace period). The listening
//! sockets stay open here meanwhile, so clients wait in the backlog.

use std::ffi::OsString;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use postern_ipc::control::DaemonStatus;
use tokio::process::Child;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::daemons::describe_status;
use crate::launch::{Identity, LaunchSpec, NamedFd, launch};

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
    policy: RestartPolicy,
}

impl Supervision {
    /// Nothing supervised yet.
    pub fn new(policy: RestartPolicy) -> Supervision {
        let (stop, _) = watch::channel(false);
        Supervision {
            states: Vec::new(),
            tasks: Vec::new(),
            stop,
            policy,
        }
    }

    /// Starts supervising `plan` now.
    pub fn start(&mut self, plan: DaemonPlan) {
        let state = Arc::new(Mutex::new(State::default()));
        self.states.push((plan.name, state.clone()));
        let stop = self.stop.subscribe();
        self.tasks
            .push(tokio::spawn(keep_running(plan, state, self.policy, stop)));
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
