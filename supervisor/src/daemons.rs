//! The daemons postern runs: which exist, their listeners, where their binaries are
//! found, and how their exits are described. Starting and restarting them is
//! [`crate::supervision`]'s.
#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;

use nix::sys::signal::Signal;

/// Where installed daemon binaries live when they are not next to `postern`.
pub const LIBEXEC_DIR: &str = "/usr/lib/postern";

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

/// imapd, the IMAP server and owner of the mail store.
pub const IMAPD: Daemon = Daemon {
    name: "imapd",
    binary: "postern-imapd",
};

/// submitd, SMTP submission and the outbound queue.
pub const SUBMITD: Daemon = Daemon {
    name: "submitd",
    binary: "postern-submitd",
};

/// webd, the account and admin web pages.
pub const WEBD: Daemon = Daemon {
    name: "webd",
    binary: "postern-webd",
};

/// The daemons that exist so far, in start order. A new one is added here, with its
/// listeners in [`LISTENERS`] and its plan in `postern serve` and `postern localserve`.
pub const DAEMONS: &[Daemon] = &[AUTHD, IMAPD, SUBMITD, WEBD];

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
}
