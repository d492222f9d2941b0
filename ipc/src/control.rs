//! The supervisor's control socket: what `postern status` asks the root supervisor
//! (uid 0 only).
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// Largest frame on the control socket, either way.
pub const MAX_CONTROL_FRAME: usize = 64 * 1024;

/// A request to the supervisor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ControlRequest {
    /// Each daemon's state.
    Status,
}

/// The supervisor's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum ControlResponse {
    /// Each daemon's state, in start order.
    Status(Vec<DaemonStatus>),
    /// The request was refused.
    Error(String),
}

/// One supervised daemon.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DaemonStatus {
    /// Daemon name, e.g. `authd`.
    pub name: String,
    /// Its pid, when running.
    pub pid: Option<u32>,
    /// Seconds since it was (re)started, when running.
    pub uptime_seconds: Option<u64>,
    /// How often it was restarted after exiting.
    pub restarts: u32,
    /// How it ended last, if it ever did.
    pub last_exit: Option<String>,
}

/// The name under which a supervised daemon receives its end of the control socket
/// pair (`LISTEN_FDNAMES`).
pub const DAEMON_CONTROL_FD_NAME: &str = "control";

/// Largest datagram on a daemon's control socket pair, either way.
pub const MAX_DAEMON_CONTROL_MESSAGE: usize = 4 * 1024;

/// A message from the supervisor to one daemon over the daemon's control socket pair.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum DaemonControl {
    /// Use a new TLS certificate for new connections. The datagram carries two fds,
    /// opened by root: the PEM certificate chain, then the PEM private key.
    ReloadTls,
}

/// A daemon's answer to a [`DaemonControl`] message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum DaemonControlReply {
    /// Done.
    Done,
    /// Not done, and why (the daemon keeps what it had).
    Failed(String),
}
