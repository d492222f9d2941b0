//! Child processes of a test: the daemons under test, killed when the test ends, and
//! Python scripts and other tools.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process that is killed and reaped when dropped, so a failing test leaves no
/// daemon behind. Dereferences to the [`Child`].
#[derive(Debug)]
pub struct ChildProcess(Child);

impl ChildProcess {
    /// Spawns `command`, panicking when that fails.
    pub fn spawn(command: &mut Command) -> ChildProcess {
        let program = command.get_program().to_owned();
        ChildProcess(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display())),
        )
    }

    /// Kills the process (if it still runs) and waits for it.
    pub fn stop(mut self) {
        self.kill_and_reap();
    }

    fn kill_and_reap(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl From<Child> for ChildProcess {
    fn from(child: Child) -> ChildProcess {
        ChildProcess(child)
    }
}

impl Deref for ChildProcess {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for ChildProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// A command running daemon `binary` on `config_path` (`--config`) as the tests start
/// the daemons: `RUST_LOG=warn`, no stdin, and none of the systemd variables
/// (`CREDENTIALS_DIRECTORY`, `LISTEN_FDS`) the test itself may have inherited.
pub fn daemon_command(binary: &Path, config_path: &Path) -> Command {
    let mut command = Command::new(binary);
    command.arg("--config").arg(config_path);
    daemon_environment(&mut command);
    command
}

/// Sets the environment of [`daemon_command`] on `command`.
pub(crate) fn daemon_environment(command: &mut Command) {
    command
        .env("RUST_LOG", "warn")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("LISTEN_FDS")
        .stdin(Stdio::null());
}

/// Waits until `ready` says the freshly started `child` (named `name` in messages) is
/// ready, polling every 20 ms; panics when the child exits first or after 30 seconds.
pub async fn wait_for_start(child: &mut Child, name: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + START_TIMEOUT;
    while !ready().await {
        if let Some(status) = child.try_wait().expect("checking a child process") {
            panic!("{name} exited at start: {status}");
        }
        assert!(Instant::now() < deadline, "{name} did not start in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the Python `script` (`python3 -c`) with `args`; returns its stdout, panicking
/// with its output when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running python3");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "python failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Whether `program` is installed (found on PATH). When it is not: a loud skip message,
/// or a panic under CI (env `CI` set), where every tool must be there.
pub fn tool_available(program: &str, debian_package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    if found {
        return true;
    }
    let message =
        format!("{program} is not installed (Debian package {debian_package}); this test needs it");
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPING: {message}\n!!!!!!!!!!\n");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_returns_stdout_with_arguments() {
        assert_eq!(
            python("import sys; print(sys.argv[1])", &["hello"]),
            "hello\n"
        );
    }

    #[test]
    #[should_panic(expected = "python failed")]
    fn python_failure_panics() {
        python("raise SystemExit(3)", &[]);
    }

    #[test]
    fn dropping_a_child_process_kills_it() {
        let child = ChildProcess::spawn(Command::new("sleep").arg("60"));
        let pid = child.id();
        drop(child);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[tokio::test]
    #[should_panic(expected = "exited at start")]
    async fn waiting_for_a_child_that_exits_panics() {
        let mut child = ChildProcess::spawn(&mut Command::new("true"));
        wait_for_start(&mut child, "true", async || false).await;
    }
}
