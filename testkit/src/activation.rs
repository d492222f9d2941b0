//! Starting a daemon with its listening sockets passed the systemd way (socket
//! activation: `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, fds from 3 on).

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

use crate::process::daemon_environment;

/// Moves the inherited fds (argv[4:]) to 3, 4, … and execs the daemon under Python's
/// own pid, which is the `LISTEN_PID` the daemon checks.
const EXEC_ACTIVATED: &str = "\
import os, sys
names, binary, config = sys.argv[1:4]
fds = [os.dup(int(fd)) for fd in sys.argv[4:]]
for n, fd in enumerate(fds):
    os.dup2(fd, 3 + n)
    os.set_inheritable(3 + n, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=names)
os.execv(binary, [binary, '--config', config])
";

/// Named TCP listeners bound by the test, to be handed to a daemon by socket activation.
/// Keep it until the daemon is spawned; dropping it afterwards closes the test's copies.
#[derive(Debug)]
pub struct SocketActivation {
    /// The listeners with their `LISTEN_FDNAMES` names, in fd order.
    listeners: Vec<(String, TcpListener)>,
}

impl SocketActivation {
    /// Binds a listener on each address, named as given (`("imaps", address)`), and
    /// lets child processes inherit them.
    pub fn bind(named_addresses: &[(&str, SocketAddr)]) -> SocketActivation {
        let listeners = named_addresses
            .iter()
            .map(|&(name, address)| {
                let listener =
                    TcpListener::bind(address).unwrap_or_else(|e| panic!("binding {address}: {e}"));
                fcntl(&listener, FcntlArg::F_SETFD(FdFlag::empty()))
                    .expect("clearing close-on-exec");
                (name.to_owned(), listener)
            })
            .collect();
        SocketActivation { listeners }
    }

    /// A command that starts daemon `binary` on `config_path` with these listeners as
    /// its activated sockets, in the environment of [`crate::daemon_command`].
    pub fn command(&self, binary: &Path, config_path: &Path) -> Command {
        let names: Vec<&str> = self
            .listeners
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let mut command = Command::new("python3");
        command
            .arg("-c")
            .arg(EXEC_ACTIVATED)
            .arg(names.join(":"))
            .arg(binary)
            .arg(config_path)
            .args(
                self.listeners
                    .iter()
                    .map(|(_, listener)| listener.as_raw_fd().to_string()),
            );
        daemon_environment(&mut command);
        command
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::free_loopback_address;

    #[test]
    fn the_child_gets_the_listeners_from_fd_3_on() {
        let (first, second) = (free_loopback_address(), free_loopback_address());
        let activation = SocketActivation::bind(&[("one", first), ("two", second)]);
        // A Python script stands in for the daemon and reports what it got.
        let dir = std::env::temp_dir().join(format!("testkit-activation-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let daemon = dir.join("daemon.py");
        std::fs::write(
            &daemon,
            "#!/usr/bin/env python3\nimport os, socket\n\
             ports = [socket.socket(fileno=fd).getsockname()[1] for fd in (3, 4)]\n\
             print(os.environ['LISTEN_FDS'], os.environ['LISTEN_FDNAMES'], *ports)\n",
        )
        .unwrap();
        std::fs::set_permissions(&daemon, std::fs::Permissions::from_mode(0o755)).unwrap();
        let output = activation
            .command(&daemon, Path::new("unused.toml"))
            .output()
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!("2 one:two {} {}\n", first.port(), second.port())
        );
    }
}
