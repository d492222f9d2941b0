//! Test rig of the outbound queue: a real `postern-authd` (and, when asked, a real
//! `postern-imapd`) on a temporary directory, a receiving SMTP server in Python
//! (aiosmtpd, with dkimpy verifying DKIM signatures), and the queue itself.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use postern_submitd::queue::{Envelope, Queue};
use postern_testkit::{
    AuthdProcess, ChildProcess, SelfSignedCertificate, base_config, daemon_command, is_listening,
    python, workspace_binary, workspace_example,
};

pub use postern_testkit::free_port;

pub const ACCOUNT: &str = "mjl";
pub const ADDRESS: &str = "mjl@example.org";
pub const PASSWORD: &str = "test password 1234";
pub const OTHER_ACCOUNT: &str = "bob";
pub const OTHER_ADDRESS: &str = "bob@example.org";

/// The queue driver example (`examples/queue_driver.rs`), built (or brought up to
/// date) once per test process.
pub fn queue_driver() -> PathBuf {
    workspace_example("postern-submitd", "queue_driver")
}

/// authd (and maybe imapd) with a config whose `[submitd.delivery]` the test writes.
pub struct Rig {
    // The processes come first: fields drop in order, so they are killed before the
    // directory is removed.
    pub authd: AuthdProcess,
    pub imapd: Option<ChildProcess>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub imaps_port: u16,
}

impl Rig {
    /// Writes the config (with `delivery` appended under `[submitd.delivery]`), starts
    /// authd with accounts mjl and bob, and imapd when `with_imapd`.
    pub async fn start(localserve: bool, with_imapd: bool, delivery: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let certificate = SelfSignedCertificate::write(dir.path(), &["localhost"]);
        let imap_port = free_port();
        let imaps_port = free_port();
        let daemon_sections = format!(
            r#"
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
            cert = certificate.cert_path.display(),
            key = certificate.key_path.display(),
        );
        let config_path = dir.path().join("postern.toml");
        let config = base_config(dir.path(), localserve, true) + &daemon_sections;
        std::fs::write(&config_path, config).unwrap();
        let authd = AuthdProcess::start(&config_path).await;
        for (account, address) in [(ACCOUNT, ADDRESS), (OTHER_ACCOUNT, OTHER_ADDRESS)] {
            authd.create_account(account, address, PASSWORD).await;
        }
        let mut rig = Rig {
            authd,
            imapd: None,
            dir,
            config_path,
            imaps_port,
        };
        if with_imapd {
            rig.start_imapd().await;
        }
        rig
    }

    /// Starts imapd and waits for its IMAPS port and store socket.
    pub async fn start_imapd(&mut self) {
        let binary = workspace_binary("postern-imapd", "postern-imapd");
        let imapd = self.imapd.insert(ChildProcess::spawn(&mut daemon_command(
            &binary,
            &self.config_path,
        )));
        let imaps = SocketAddr::from(([127, 0, 0, 1], self.imaps_port));
        let store_socket = self.dir.path().join("run/store.sock");
        postern_testkit::wait_for_start(imapd, "imapd", async || {
            is_listening(&[imaps]) && store_socket.exists()
        })
        .await;
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
        let output = python(
            script,
            &[&self.imaps_port.to_string(), account_address, PASSWORD],
        );
        use base64::Engine as _;
        output
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
    child: ChildProcess,
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
        let mut child = ChildProcess::spawn(
            Command::new("python3")
                .arg(script)
                .arg(port.to_string())
                .arg(out_dir)
                .args(extra)
                .stdout(Stdio::piped())
                .stdin(Stdio::null()),
        );
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
    pub fn stop(self) {
        self.child.stop();
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
