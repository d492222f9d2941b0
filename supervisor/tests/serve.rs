//! `postern serve` as root, for real: authd and imapd run as their own uids with no
//! capabilities, only the supervisor is root, no daemon uid can open another daemon's
//! data or the TLS key, a killed daemon is back at once while clients wait in the
//! backlog, SIGHUP gives new connections a new certificate, and SIGTERM leaves nothing
//! behind. Skipped (loudly) when not root; CI runs as root.

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
const SUBMITD_UID: u32 = 64_132;
const WEBD_UID: u32 = 64_133;

fn postern() -> Command {
    Command::new(env!("CARGO_BIN_EXE_postern"))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

struct Serve {
    child: Child,
    dir: tempfile::TempDir,
    imap_port: u16,
    imaps_port: u16,
    submission_port: u16,
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
        self.daemon_pid("authd", not, within, || {
            self.cli(&["account", "list"]).status.success()
        })
    }

    /// Waits for imapd to run with a pid other than `not` and greet, returning the pid.
    fn imapd_pid(&self, not: Option<u32>, within: Duration) -> u32 {
        self.daemon_pid("imapd", not, within, || {
            greeting(self.imap_port, Duration::from_secs(2)).is_some()
        })
    }

    /// Waits for daemon `name` to run with a pid other than `not` and pass `up`.
    fn daemon_pid(
        &self,
        name: &str,
        not: Option<u32>,
        within: Duration,
        up: impl Fn() -> bool,
    ) -> u32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.status()
                && let Some(pid) = status.iter().find(|d| d.name == name).and_then(|d| d.pid)
                && Some(pid) != not
                && Path::new(&format!("/proc/{pid}/status")).exists()
                && up()
            {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "{name} not (back) up within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs a Python imaplib script with PORT, USER and PASSWORD defined.
    fn imap_script(&self, script: &str, stdin: &str) -> String {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import imaplib, ssl, sys\nPORT = {}\nUSER = 'mjl@example.org'\nPASSWORD = 'a long password'\nCTX = ssl._create_unverified_context()\n{script}",
                self.imaps_port
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
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

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a fresh self-signed certificate and key (root's, mode 0600) into `dir/tls`.
fn write_certificate(dir: &Path) {
    let made = postern::tls::self_signed_localhost(1_700_000_000).unwrap();
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::write(tls.join("cert.pem.new"), made.certificate_pem).unwrap();
    std::fs::write(tls.join("key.pem.new"), made.private_key_pem).unwrap();
    for name in ["cert.pem", "key.pem"] {
        let new = tls.join(format!("{name}.new"));
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&new, tls.join(name)).unwrap();
    }
}

/// Writes a config for `dir` with authd and imapd as test uids.
fn write_config(dir: &Path, imap_port: u16, imaps_port: u16, submission_port: u16) {
    write_certificate(dir);
    std::fs::write(
        dir.join("postern.toml"),
        format!(
            r#"hostname = "mail.test"
data_dir = "data"
runtime_dir = "run"

[authd]
user = {AUTHD_UID}
imap_callers = [{IMAPD_UID}, 0]
submission_callers = [{SUBMITD_UID}]
web_callers = [{WEBD_UID}]
admin_users = [0]
mail_store = false
argon2_memory_kib = 256
argon2_iterations = 1

[imapd]
user = {IMAPD_UID}
imap_listen = ["127.0.0.1:{imap_port}"]
imaps_listen = ["127.0.0.1:{imaps_port}"]
store_callers = [0, {SUBMITD_UID}]
tls_certificate = "{cert}"
tls_key = "{key}"

[submitd]
user = {SUBMITD_UID}
submission_listen = ["127.0.0.1:{submission_port}"]
submissions_listen = ["127.0.0.1:{submissions_port}"]
tls_certificate = "{cert}"
tls_key = "{key}"

[webd]
user = {WEBD_UID}
https_listen = ["127.0.0.1:{https_port}"]
admin_listen = ["127.0.0.1:{admin_port}"]
tls_certificate = "{cert}"
tls_key = "{key}"

[supervisor]
grace_seconds = 5
"#,
            submissions_port = free_port(),
            https_port = free_port(),
            admin_port = free_port(),
            cert = dir.join("tls/cert.pem").display(),
            key = dir.join("tls/key.pem").display(),
        ),
    )
    .unwrap();
}

fn start() -> Serve {
    let dir = tempfile::tempdir().unwrap();
    // The daemons must be able to reach their directories below it.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (imap_port, imaps_port, submission_port) = (free_port(), free_port(), free_port());
    write_config(dir.path(), imap_port, imaps_port, submission_port);
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
    Serve {
        child,
        dir,
        imap_port,
        imaps_port,
        submission_port,
    }
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

/// The first line a listener sends, if it sends one within `limit`.
fn greeting(port: u16, limit: Duration) -> Option<String> {
    use std::io::BufRead as _;
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).ok()?;
    (!line.is_empty()).then_some(line)
}

/// The SHA-256 fingerprint of the certificate a new TLS connection to `port` gets.
fn served_certificate(port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The SHA-256 fingerprint of a PEM certificate file.
fn file_certificate(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs `program args` as `uid` and says whether it failed with "Permission denied".
fn denied_as(uid: u32, program: &str, path: &Path) -> bool {
    let out = Command::new(program)
        .arg(path)
        .uid(uid)
        .gid(uid)
        .output()
        .unwrap();
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("Permission denied")
}

fn assert_unprivileged(pid: u32, uid: u32, name: &str) {
    let uid = uid.to_string();
    for ids in ["Uid", "Gid"] {
        assert_eq!(
            proc_field(pid, ids).split_whitespace().collect::<Vec<_>>(),
            [uid.as_str(); 4],
            "{ids} of {name}"
        );
    }
    assert_eq!(proc_field(pid, "Groups"), "", "groups of {name}");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(proc_field(pid, set), "0000000000000000", "{set} of {name}");
    }
    assert_eq!(proc_field(pid, "NoNewPrivs"), "1", "NoNewPrivs of {name}");
}

#[tokio::test]
async fn daemons_run_unprivileged_restart_reload_and_stop() {
    if !is_root() {
        eprintln!(
            "SKIPPED daemons_run_unprivileged_restart_reload_and_stop: needs root (CI runs as root)"
        );
        return;
    }
    let serve = start();
    let authd = serve.authd_pid(None, Duration::from_secs(20));
    let imapd = serve.imapd_pid(None, Duration::from_secs(20));
    let submitd = serve.daemon_pid("submitd", None, Duration::from_secs(20), || {
        greeting(serve.submission_port, Duration::from_secs(2)).is_some()
    });
    let web_admin = postern_config::Config::load(&serve.config())
        .unwrap()
        .webd
        .admin_listen[0];
    let webd = serve.daemon_pid("webd", None, Duration::from_secs(20), || {
        std::net::TcpStream::connect(web_admin).is_ok()
    });
    let log = serve.log();

    // Invariant 1: each daemon's identity and capabilities; only the supervisor is root.
    assert_unprivileged(authd, AUTHD_UID, "authd");
    assert_unprivileged(imapd, IMAPD_UID, "imapd");
    assert_unprivileged(submitd, SUBMITD_UID, "submitd");
    assert_unprivileged(webd, WEBD_UID, "webd");
    let supervisor = serve.child.id();
    assert_eq!(
        proc_field(supervisor, "Uid").split_whitespace().next(),
        Some("0")
    );
    let children = children_of(supervisor);
    assert_eq!(children.len(), 4, "{children:?}");
    for child in children {
        assert_ne!(
            proc_field(child, "Uid").split_whitespace().next(),
            Some("0"),
            "child {child} is root"
        );
    }

    // Invariant 2: each daemon's data is its own; the TLS key is root's (and imapd's
    // private copy is imapd's).
    let data = serve.dir.path().join("data");
    for (dir, uid) in [
        ("authd", AUTHD_UID),
        ("imapd", IMAPD_UID),
        ("submitd", SUBMITD_UID),
    ] {
        let meta = std::fs::metadata(data.join(dir)).unwrap();
        assert_eq!(
            (meta.uid(), meta.mode() & 0o7777),
            (uid, 0o700),
            "{dir}: {log}"
        );
    }
    let db = data.join("authd/auth.db");
    assert!(
        denied_as(IMAPD_UID, "/bin/cat", &db),
        "imapd's uid read the credentials"
    );
    for (uid, dir) in [
        (AUTHD_UID, "imapd"),
        (SUBMITD_UID, "imapd"),
        (IMAPD_UID, "submitd"),
        (SUBMITD_UID, "authd"),
        (WEBD_UID, "authd"),
        (WEBD_UID, "imapd"),
    ] {
        assert!(
            denied_as(uid, "/bin/ls", &data.join(dir)),
            "uid {uid} listed {dir}'s data"
        );
    }
    let key = serve.dir.path().join("tls/key.pem");
    for uid in [AUTHD_UID, IMAPD_UID, SUBMITD_UID, WEBD_UID] {
        assert!(
            denied_as(uid, "/bin/cat", &key),
            "uid {uid} read the TLS key"
        );
    }
    let copy = serve.dir.path().join("run/credentials/imapd/tls-key");
    assert!(
        denied_as(AUTHD_UID, "/bin/cat", &copy),
        "authd's uid read imapd's key copy"
    );
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (IMAPD_UID, 0o400));

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
    let login = "c = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=CTX)\nprint(c.login(USER, PASSWORD)[0])\n";
    assert_eq!(serve.imap_script(login, ""), "OK\n");

    // The store socket the supervisor bound for imapd: a message handed over as an fd
    // is in the account's Inbox, byte for byte.
    let store_socket = serve.dir.path().join("run/store.sock");
    let meta = std::fs::metadata(&store_socket).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o666);
    let message = b"From: a@example.org\r\nSubject: through the store socket\r\n\r\nbody\r\n";
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, message).unwrap();
    let delivered = postern_ipc::store_client::deliver_once(
        &store_socket,
        &file,
        &postern_ipc::store::Delivery {
            account: "mjl".into(),
            mailbox: None,
            flags: Vec::new(),
            keywords: Vec::new(),
            received: 1_700_000_000,
        },
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(delivered.uid, 1);
    let fetched = serve.imap_script(
        "c = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=CTX)\nc.login(USER, PASSWORD)\nc.select('INBOX')\nsys.stdout.buffer.write(c.fetch('1', '(BODY.PEEK[])')[1][0][1])\n",
        "",
    );
    assert_eq!(fetched.as_bytes(), message);

    // Submission through submitd (its own uid), local delivery through imapd's store
    // socket: the message is in the Inbox.
    let submitted = serve.imap_script(
        &format!(
            "import smtplib, time\ns = smtplib.SMTP('127.0.0.1', {})\ns.starttls(context=CTX)\ns.login(USER, PASSWORD)\ns.sendmail(USER, [USER], b'From: mjl@example.org\\r\\nSubject: submitted\\r\\n\\r\\nhi\\r\\n')\ns.quit()\nc = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=CTX)\nc.login(USER, PASSWORD)\nfor _ in range(100):\n    c.select('INBOX')\n    found = c.search(None, 'SUBJECT', 'submitted')[1][0]\n    if found: break\n    time.sleep(0.1)\nprint(found.decode())\n",
            serve.submission_port
        ),
        "",
    );
    assert_eq!(submitted, "2\n", "{}", serve.log());

    // Invariant 6: kill -9 of authd; it is back within 2 s with its data. Logins in the
    // meantime wait or get a temporary failure, never a wrong verdict or a hang.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(authd as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let killed_at = Instant::now();
    let during = serve.imap_script(
        "c = imaplib.IMAP4_SSL('127.0.0.1', PORT, ssl_context=CTX)\ntry:\n    print(c.login(USER, PASSWORD)[0])\nexcept imaplib.IMAP4.error as e:\n    print(e)\n",
        "",
    );
    assert!(
        during == "OK\n" || during.contains("[UNAVAILABLE]"),
        "login while authd restarts: {during}"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(20));
    let new_authd = serve.authd_pid(Some(authd), Duration::from_secs(2));
    assert!(killed_at.elapsed() < Duration::from_secs(20));
    let status = serve.status().unwrap();
    assert_eq!(status[0].restarts, 1);
    assert_eq!(status[0].last_exit.as_deref(), Some("signal 9 (SIGKILL)"));
    assert_ne!(new_authd, authd);
    assert_eq!(serve.imap_script(login, ""), "OK\n");

    // kill -9 of imapd while clients connect: every connection made meanwhile waits in
    // the backlog and is greeted once imapd is back.
    let port = serve.imap_port;
    let clients = std::thread::spawn(move || {
        (0..30)
            .map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                greeting(port, Duration::from_secs(15))
            })
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(100));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(imapd as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let greetings = clients.join().unwrap();
    for (i, greeting) in greetings.iter().enumerate() {
        assert!(
            greeting.as_deref().is_some_and(|g| g.starts_with("* OK")),
            "connection {i} got {greeting:?}"
        );
    }
    let new_imapd = serve.imapd_pid(Some(imapd), Duration::from_secs(5));
    let status = serve.status().unwrap();
    assert_eq!(status[1].name, "imapd");
    assert_eq!(status[1].restarts, 1);
    assert_unprivileged(new_imapd, IMAPD_UID, "imapd after restart");

    // SIGHUP after replacing the certificate: new connections get the new one, an open
    // connection stays usable.
    let cert = serve.dir.path().join("tls/cert.pem");
    let old = file_certificate(&cert);
    assert_eq!(served_certificate(serve.imaps_port), old);
    let mut open = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import imaplib, ssl, sys\nc = imaplib.IMAP4_SSL('127.0.0.1', {}, ssl_context=ssl._create_unverified_context())\nprint(c.login('mjl@example.org', 'a long password')[0], flush=True)\nsys.stdin.readline()\nprint(c.noop()[0], flush=True)\n",
            serve.imaps_port
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut open_out = std::io::BufReader::new(open.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::BufRead as _;
    open_out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n");
    write_certificate(serve.dir.path());
    let new = file_certificate(&cert);
    assert_ne!(new, old);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_certificate(serve.imaps_port) != new {
        assert!(
            Instant::now() < deadline,
            "new certificate not served: {}",
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut stdin = open.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    drop(stdin);
    line.clear();
    open_out.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\n", "the connection opened before the reload");
    assert!(open.wait().unwrap().success());
    assert_eq!(
        serve.status().unwrap()[1].restarts,
        1,
        "reload restarted imapd"
    );

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
    assert!(processes_of_uid(IMAPD_UID).is_empty(), "imapd left behind");
    assert!(
        processes_of_uid(SUBMITD_UID).is_empty(),
        "submitd left behind"
    );
    assert!(processes_of_uid(WEBD_UID).is_empty(), "webd left behind");
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
    write_config(dir.path(), free_port(), free_port(), free_port());
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
