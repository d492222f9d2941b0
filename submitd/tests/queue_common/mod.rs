//! Test rig of the outbound queue: a real `postern-authd` (and, when asked, a real
//! `postern-imapd`) on a temporary directory, a receiving SMTP server in Python
//! (aiosmtpd, with dkimpy verifying DKIM signatures), and the queue itself.
#![allow(dead_code)]

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;
use postern_submitd::queue::{Envelope, Queue};

pub const ACCOUNT: &str = "mjl";
pub const ADDRESS: &str = "mjl@example.org";
pub const PASSWORD: &str = "test password 1234";
pub const OTHER_ACCOUNT: &str = "bob";
pub const OTHER_ADDRESS: &str = "bob@example.org";

/// The directory holding the workspace's binaries (`target/debug`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/<test>
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// A binary of another package of the workspace, built once if missing.
pub fn workspace_binary(package: &str, binary: &str) -> PathBuf {
    static LOCK: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    let _guard = LOCK.get_or_init(Default::default).lock().unwrap();
    let path = target_dir().join(binary);
    if !path.exists() || std::env::var_os("POSTERN_TEST_REBUILD").is_some() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--bin", binary])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        assert!(
            path.exists(),
            "{binary} not built ({status:?}): run cargo build -p {package}"
        );
    }
    path
}

/// The queue driver example (`examples/queue_driver.rs`), built (or brought up to
/// date) once per test process: `cargo test --test X` does not build examples.
pub fn queue_driver() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let path = target_dir().join("examples").join("queue_driver");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "postern-submitd",
                    "--example",
                    "queue_driver",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status();
            assert!(
                status.as_ref().is_ok_and(|s| s.success()) && path.exists(),
                "queue_driver not built ({status:?})"
            );
            path
        })
        .clone()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// authd (and maybe imapd) with a config whose `[submitd.delivery]` the test writes.
pub struct Rig {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub authd: Child,
    pub imapd: Option<Child>,
    pub imaps_port: u16,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.authd.kill();
        let _ = self.authd.wait();
        if let Some(imapd) = self.imapd.as_mut() {
            let _ = imapd.kill();
            let _ = imapd.wait();
        }
    }
}

impl Rig {
    /// Writes the config (with `delivery` appended under `[submitd.delivery]`), starts
    /// authd with accounts mjl and bob, and imapd when `with_imapd`.
    pub async fn start(localserve: bool, with_imapd: bool, delivery: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let imap_port = free_port();
        let imaps_port = free_port();
        let config = format!(
            r#"hostname = "mail.test"
data_dir = "{data}"
runtime_dir = "{run}"
localserve = {localserve}

[authd]
user = {uid}
admin_users = [{uid}]
imap_callers = [{uid}]
submission_callers = [{uid}]
web_callers = [{uid}]
argon2_memory_kib = 256
argon2_iterations = 1

[imapd]
user = {uid}
imap_listen = ["127.0.0.1:{imap_port}"]
imaps_listen = ["127.0.0.1:{imaps_port}"]
tls_certificate = "{cert}"
tls_key = "{key}"
store_callers = [{uid}]

[submitd]
user = {uid}

[submitd.delivery]
{delivery}
"#,
            data = dir.path().join("data").display(),
            run = dir.path().join("run").display(),
            cert = dir.path().join("cert.pem").display(),
            key = dir.path().join("key.pem").display(),
        );
        let config_path = dir.path().join("postern.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut authd = Command::new(workspace_binary("postern-authd", "postern-authd"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let admin_socket = dir.path().join("run/admin.sock");
        let deadline = Instant::now() + Duration::from_secs(30);
        while AdminConnection::connect(&admin_socket).await.is_err() {
            if let Some(status) = authd.try_wait().unwrap() {
                panic!("authd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "authd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut rig = Rig {
            dir,
            config_path,
            authd,
            imapd: None,
            imaps_port,
        };
        for (account, address) in [(ACCOUNT, ADDRESS), (OTHER_ACCOUNT, OTHER_ADDRESS)] {
            rig.admin(AdminRequest::AccountAdd {
                account: account.into(),
                address: address.into(),
            })
            .await;
            rig.admin(AdminRequest::AccountSetPassword {
                account: account.into(),
                password: Secret(PASSWORD.into()),
            })
            .await;
        }
        if with_imapd {
            rig.start_imapd().await;
        }
        rig
    }

    async fn admin(&self, request: AdminRequest) -> AdminResponse {
        let mut admin = AdminConnection::connect(&self.dir.path().join("run/admin.sock"))
            .await
            .unwrap();
        let response = admin.call(request).await.unwrap();
        assert!(
            !matches!(response, AdminResponse::Error(_)),
            "admin request failed: {response:?}"
        );
        response
    }

    /// Starts imapd and waits for its store socket.
    pub async fn start_imapd(&mut self) {
        let imapd = Command::new(workspace_binary("postern-imapd", "postern-imapd"))
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.imapd = Some(imapd);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.imaps_port)).is_err()
            || !self.dir.path().join("run/store.sock").exists()
        {
            if let Some(status) = self.imapd.as_mut().unwrap().try_wait().unwrap() {
                panic!("imapd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "imapd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The loaded config.
    pub fn config(&self) -> postern_config::Config {
        postern_config::Config::load(&self.config_path).unwrap()
    }

    /// Opens the queue (in this process) and starts its worker.
    pub fn queue(&self) -> Queue {
        let queue = Queue::open(&self.config()).unwrap();
        queue.start();
        queue
    }

    /// Path of a file in the rig's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Every message in `account`'s Inbox, through IMAP (Python's imaplib over TLS).
    pub fn inbox(&self, account_address: &str) -> Vec<Vec<u8>> {
        let script = r#"
import imaplib, ssl, sys, base64
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
m.login(sys.argv[2], sys.argv[3])
m.select("INBOX")
typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
for item in data:
    if isinstance(item, tuple):
        print(base64.b64encode(item[1]).decode())
m.logout()
"#;
        let output = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(self.imaps_port.to_string())
            .arg(account_address)
            .arg(PASSWORD)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "imaplib failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        use base64::Engine as _;
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
            .collect()
    }
}

/// A running aiosmtpd receiver.
pub struct Sink {
    pub port: u16,
    pub out_dir: PathBuf,
    child: Child,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message the sink received.
#[derive(Debug)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub meta: serde_json::Value,
}

impl Sink {
    /// Starts the sink on `port`, writing into `out_dir`, with extra arguments
    /// (`--dns FILE`, `--tls CERT KEY`, `--auth USER PASS`).
    pub fn start(port: u16, out_dir: &Path, extra: &[&str]) -> Sink {
        use std::io::BufRead as _;
        std::fs::create_dir_all(out_dir).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(out_dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY", "sink did not start");
        Sink {
            port,
            out_dir: out_dir.to_path_buf(),
            child,
        }
    }

    /// Stops the sink.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The messages received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let mut out = Vec::new();
        for n in 1.. {
            let eml = self.out_dir.join(format!("{n}.eml"));
            if !eml.exists() {
                break;
            }
            let meta = std::fs::read_to_string(self.out_dir.join(format!("{n}.json"))).unwrap();
            out.push(Received {
                bytes: std::fs::read(&eml).unwrap(),
                meta: serde_json::from_str(&meta).unwrap(),
            });
        }
        out
    }

    /// Waits up to `timeout` for `count` messages.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "sink received {} of {count} messages in time",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A message file with `bytes`, at offset 0, as the session hands it over.
pub fn message_file(dir: &Path, bytes: &[u8]) -> std::fs::File {
    let path = dir.join(format!("incoming-{}", free_port()));
    std::fs::write(&path, bytes).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// An envelope from mjl to `recipients`.
pub fn envelope(recipients: &[&str]) -> Envelope {
    Envelope {
        account: ACCOUNT.into(),
        mail_from: ADDRESS.into(),
        recipients: recipients.iter().map(|s| s.to_string()).collect(),
        smtputf8: false,
        received: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    }
}

/// A test message from mjl.
pub fn sample_message(to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Mechiel <{ADDRESS}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Tue, 24 Nov 2026 19:00:00 +0000\r\nMessage-ID: <{subject}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n.leading dot line\r\n\r\nbye\r\n"
    )
    .into_bytes()
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
