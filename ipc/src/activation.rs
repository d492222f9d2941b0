//! Receiving listening sockets by the systemd socket-activation protocol
//! (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), the one path by which every daemon gets
//! its sockets, whether the supervisor or systemd started it.

use std::collections::HashMap;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Sockets handed to this process, by name.
#[derive(Debug, Default)]
pub struct ActivatedSockets {
    by_name: HashMap<String, Vec<OwnedFd>>,
}

impl ActivatedSockets {
    /// Takes the sockets passed to this process and removes the variables from the
    /// environment, so children do not inherit them.
    ///
    /// # Safety
    /// Changes the environment: call it in `main` before any thread is started (before the
    /// tokio runtime).
    pub unsafe fn take_from_environment() -> io::Result<ActivatedSockets> {
        // SAFETY: the caller promises no other thread exists yet.
        let fds = unsafe { sd_notify::listen_fds_with_names_and_unset_env() }?;
        let mut by_name: HashMap<String, Vec<OwnedFd>> = HashMap::new();
        for (raw, name) in fds {
            // SAFETY: the activation protocol hands us these fds; nothing else owns them,
            // and sd_notify has set close-on-exec on them.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            by_name.entry(name).or_default().push(fd);
        }
        Ok(ActivatedSockets { by_name })
    }

    /// Removes and returns the sockets passed under `name` (systemd's
    /// `FileDescriptorName=`).
    pub fn take(&mut self, name: &str) -> Vec<OwnedFd> {
        self.by_name.remove(name).unwrap_or_default()
    }

    /// Whether any socket was passed at all.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Names of the sockets not taken yet.
    pub fn remaining_names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}
