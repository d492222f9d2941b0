//! `postern serve` as root, for real: authd runs as its own uid with no capabilities,
//! only the supervisor is root, other daemon uids cannot open the credentials, a killed
//! authd is back at once, and SIGTERM leaves nothing behind. Skipped (loudly) when not
//! root; CI runs as root.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postern_ipc::auth::{AuthRequest, AuthResponse, SaslReply};
use postern_ipc::client::AuthConnection;
use postern_ipc::control::DaemonStatus;
use postern_ipc::{ConnectionInfo, Mechanism, Protocol, Secret};

const AUTHD_UID: u32 = 64_130;
const IMAPD_UID: u32 = 64_131;

fn postern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_postern"))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct Serve {
    child: Child,
    dir: tempfile::TempDir,
}

impl Serve {
    fn config(&self) -> PathBuf {
        self.dir.path().join("postern.toml")
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        postern()
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }

    fn status(&self) -> Option<Vec<DaemonStatus>> {
        let out = self.cli(&["status", "--json"]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }

    /// Waits for authd to run with a pid other than `not`, returning it.
    fn authd_pid(&self, not: Option<u32>, within: Duration) -> u32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.status()
                && let Some(pid) = status[0].pid
                && Some(pid) != not
                && Path::new(&format!("/proc/{pid}/status")).exists()
                && self.cli(&["account", "list"]).status.success()
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "authd not (back) up within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &str) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    // The daemons must be able to reach their directories below it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("postern.toml"),
        format!(
            r#"hostname = "mail.test"
data_dir = "data"
runtime_dir = "run"

[authd]
user = {AUTHD_UID}
imap_callers = [{IMAPD_UID}, 0]
submission_callers = [64132]
web_callers = [64133]
admin_users = [0]
mail_store = false
argon2_memory_kib = 256
argon2_iterations = 1
{extra}
[supervisor]
grace_seconds = 5
"#
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let child = postern()
        .arg("--config")
        .arg(dir.path().join("postern.toml"))
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Serve { child, dir }
}

fn proc_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {name} for pid {pid}"))
        .trim()
        .to_string()
}

/// Processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().to_string()))
                })
                .is_some_and(|ppid| ppid == pid.to_string())
        })
        .collect()
}

fn processes_of_uid(uid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::metadata(format!("/proc/{p}")).is_ok_and(|m| m.uid() == uid))
        .collect()
}

async fn plain_login(socket: &Path, username: &str, password: &str) -> SaslReply {
    let mut auth = AuthConnection::connect(socket).await.unwrap();
    let reply = auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret(format!("\0{username}\0{password}").into_bytes())),
            connection: ConnectionInfo {
                protocol: Protocol::Imap,
                remote_ip: "127.0.0.1".parse().unwrap(),
                local_ip: "127.0.0.1".parse().unwrap(),
                tls: None,
                client_key: None,
                user_agent: None,
            },
        })
        .await
        .unwrap();
    match reply {
        AuthResponse::Sasl(reply) => reply,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn authd_runs_unprivileged_restarts_and_stops() {
    if !is_root() {
        eprintln!(
            "SKIPPED authd_runs_unprivileged_restarts_and_stops: needs root (CI runs as root)"
        );
        return;
    }
    let serve = start("");
    let pid = serve.authd_pid(None, Duration::from_secs(20));
    let log = serve.log();

    // Invariant 1: the daemon's identity and capabilities.
    let fields = |name: &str| proc_field(pid, name);
    let uid = AUTHD_UID.to_string();
    assert_eq!(
        fields("Uid").split_whitespace().collect::<Vec<_>>(),
        [uid.as_str(); 4]
    );
    assert_eq!(
        fields("Gid").split_whitespace().collect::<Vec<_>>(),
        [uid.as_str(); 4]
    );
    assert_eq!(fields("Groups"), "");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(fields(set), "0000000000000000", "{set} of authd");
    }
    assert_eq!(fields("NoNewPrivs"), "1");
    // Only the supervisor is root.
    let supervisor = serve.child.id();
    assert_eq!(
        proc_field(supervisor, "Uid").split_whitespace().next(),
        Some("0")
    );
    for child in children_of(supervisor) {
        assert_ne!(
            proc_field(child, "Uid").split_whitespace().next(),
            Some("0"),
            "child {child} is root"
        );
    }

    // Invariant 2: the credentials database belongs to authd alone.
    let authd_dir = serve.dir.path().join("data/authd");
    let meta = std::fs::metadata(&authd_dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (AUTHD_UID, 0o700),
        "{log}"
    );
    let db = authd_dir.join("auth.db");
    let other = Command::new("/bin/cat")
        .arg(&db)
        .uid(IMAPD_UID)
        .gid(IMAPD_UID)
        .output()
        .unwrap();
    assert!(
        !other.status.success(),
        "imapd's uid could read the credentials"
    );
    assert!(String::from_utf8_lossy(&other.stderr).contains("Permission denied"));

    // The admin CLI (root) reaches authd through the socket the supervisor bound.
    let add = serve.cli(&["account", "add", "mjl", "mjl@example.org"]);
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let mut password = postern()
        .arg("--config")
        .arg(serve.config())
        .args(["account", "password", "mjl"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    password
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long password\n")
        .unwrap();
    assert!(password.wait().unwrap().success());
    let auth_socket = serve.dir.path().join("run/auth.sock");
    assert!(matches!(
        plain_login(&auth_socket, "mjl@example.org", "a long password").await,
        SaslReply::Success(_)
    ));

    // Invariant 6: kill -9, and authd is back within 2 s with its data.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed_at = Instant::now();
    let new_pid = serve.authd_pid(Some(pid), Duration::from_secs(2));
    assert!(killed_at.elapsed() < Duration::from_secs(2));
    let status = serve.status().unwrap();
    assert_eq!(status[0].restarts, 1);
    assert_eq!(status[0].last_exit.as_deref(), Some("signal 9 (SIGKILL)"));
    assert_ne!(new_pid, pid);
    assert!(matches!(
        plain_login(&auth_socket, "mjl@example.org", "a long password").await,
        SaslReply::Success(_)
    ));

    // SIGTERM: everything gone within the grace period, exit status 0.
    let mut serve = serve;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(6);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop in time");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", serve.log());
    assert!(processes_of_uid(AUTHD_UID).is_empty(), "authd left behind");
}

#[tokio::test]
async fn fixes_modes_and_refuses_root_daemons() {
    if !is_root() {
        eprintln!("SKIPPED fixes_modes_and_refuses_root_daemons: needs root (CI runs as root)");
        return;
    }
    // authd as root is refused before anything starts.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        "hostname = \"x\"\ndata_dir = \"data\"\nruntime_dir = \"run\"\n[authd]\nuser = 0\nimap_callers = []\nsubmission_callers = []\nweb_callers = []\n",
    )
    .unwrap();
    let out = postern()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authd must not run as root"), "{stderr}");

    // A pre-existing authd directory with loose modes and a root-owned file is fixed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let authd_dir = dir.path().join("data/authd");
    std::fs::create_dir_all(&authd_dir).unwrap();
    std::fs::set_permissions(&authd_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(authd_dir.join("stray"), b"x").unwrap();
    std::fs::set_permissions(
        authd_dir.join("stray"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        format!("hostname = \"x\"\ndata_dir = \"data\"\nruntime_dir = \"run\"\n[authd]\nuser = {AUTHD_UID}\nimap_callers = []\nsubmission_callers = []\nweb_callers = []\nargon2_memory_kib = 256\nargon2_iterations = 1\n"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = postern()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("data/authd/auth.db").exists() {
        assert!(
            Instant::now() < deadline,
            "authd did not create its database"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    assert!(child.wait().unwrap().success());
    let meta = std::fs::metadata(authd_dir.join("stray")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (AUTHD_UID, 0o600));
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(
        log.contains("mode of") && log.contains("from 755 to 700"),
        "{log}"
    );
}
