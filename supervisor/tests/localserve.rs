//! `postern localserve` with the real `postern-authd`, and the admin command line against
//! it, as a user would run them: separate processes, files on disk, signals.
//!
//! postern-authd is looked for next to the `postern` binary under test (it is there
//! once the workspace is built). Without it the end-to-end test is skipped with a loud
//! message, except under CI (`CI` set), where that is a failure.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Run, postern, postern_bin, wait_timeout};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use postern::daemons::{DAEMONS, LISTENERS};
use postern_ipc::auth::{AuthRequest, AuthResponse, CertificateVerdict, SaslReply};
use postern_ipc::client::AuthConnection;
use postern_ipc::control::DaemonStatus;
use postern_ipc::{
    AccountSummary, AuthFailure, ConnectionInfo, KeyFingerprint, LoginAttempt, Mechanism, Protocol,
    Secret, TlsInfo, TlsPublicKeyInfo,
};

/// Later daemons bind fixed ports, so localserves in these tests never run side by side.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// postern-authd next to the binary under test, or `None` after a loud message (a
/// failure under CI).
fn authd_binary() -> Option<PathBuf> {
    let path = postern_bin().parent()?.join("postern-authd");
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "postern-authd is not at {}: build the workspace first \
         (cargo build --workspace && cargo test --workspace)",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPING the localserve end-to-end test: {message}\n!!!!!!!!!!\n");
    None
}

/// A running `postern localserve`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Localserve {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Localserve {
    fn spawn(program: &Path, dir: &Path) -> Localserve {
        let mut child = Command::new(program)
            .args(["localserve", "--dir"])
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start postern localserve");
        let (stdout, stdout_reader) = collect(child.stdout.take().expect("stdout"));
        let (stderr, stderr_reader) = collect(child.stderr.take().expect("stderr"));
        Localserve {
            child,
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        }
    }

    /// Starts localserve and waits for its banner.
    fn start(dir: &Path) -> (Localserve, String) {
        let mut ls = Localserve::spawn(&postern_bin(), dir);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = ls.stdout();
            if out.contains("Ctrl-C stops all daemons.") {
                return (ls, out);
            }
            if let Ok(Some(status)) = ls.child.try_wait() {
                panic!(
                    "localserve exited during start ({status}):\n{out}\n{}",
                    ls.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no banner within 60 s:\n{out}\n{}",
                ls.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The pids whose parent is localserve.
    fn children(&self) -> Vec<i32> {
        children_of(self.pid().as_raw())
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal localserve");
    }

    /// Waits for localserve to exit, and (up to 5 s) for what it wrote to be read.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let status = wait_timeout(&mut self.child, limit).unwrap_or_else(|| {
            panic!(
                "localserve did not exit within {limit:?}:\n{}",
                self.stderr()
            )
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        status
    }
}

impl Drop for Localserve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(self.pid(), Signal::SIGTERM);
            if wait_timeout(&mut self.child, Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
            }
        }
    }
}

/// Reads `pipe` to its end on a thread, into the returned text.
fn collect(
    mut pipe: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, reader)
}

/// Pids of the processes whose parent is `parent`, from /proc.
fn children_of(parent: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `postern --config CONFIG ARGS`.
fn cli(config: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut all = vec!["--config", config.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    postern(&all, stdin)
}

fn accounts(config: &Path) -> Vec<AccountSummary> {
    let run = cli(config, &["account", "list", "--json"], None);
    serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {run:#?}"))
}

fn keys(config: &Path) -> Vec<TlsPublicKeyInfo> {
    let run = cli(config, &["tlspubkey", "list", "--json"], None);
    serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {run:#?}"))
}

/// Makes a self-signed certificate with the openssl command line.
fn openssl_certificate(dir: &Path, key_spec: &str, common_name: &str) -> PathBuf {
    let cert = dir.join(format!("{common_name}.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", key_spec, "-nodes", "-days", "30"])
        .arg("-subj")
        .arg(format!("/CN={common_name}"))
        .arg("-keyout")
        .arg(dir.join(format!("{common_name}.key")))
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl (install it: apt-get install openssl)");
    assert!(status.success(), "openssl req failed for {key_spec}");
    cert
}

/// The fingerprint as the issue defines it, computed by openssl and basenc.
fn openssl_fingerprint(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$CERT\" -pubkey -noout | openssl pkey -pubin -outform DER \
             | openssl dgst -sha256 -binary | basenc --base64url | tr -d =",
        )
        .env("CERT", cert)
        .output()
        .expect("run sh");
    assert!(out.status.success(), "{out:?}");
    let fp = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_eq!(fp.len(), 43, "{fp:?}");
    fp
}

fn connection_info(client_key: Option<KeyFingerprint>) -> ConnectionInfo {
    ConnectionInfo {
        protocol: Protocol::Imap,
        remote_ip: "127.0.0.1".parse().expect("ip"),
        local_ip: "127.0.0.1".parse().expect("ip"),
        tls: Some(TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            channel_binding: None,
        }),
        client_key,
        user_agent: Some("postern-localserve-test".into()),
    }
}

/// A PLAIN login over the auth socket, as imapd would relay it.
fn plain_login(auth_socket: &Path, user: &str, password: &str) -> SaslReply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut conn = AuthConnection::connect(auth_socket)
            .await
            .expect("connect to the auth socket");
        let response = conn
            .call(AuthRequest::SaslStart {
                mechanism: Mechanism::Plain,
                initial_response: Some(Secret(format!("\0{user}\0{password}").into_bytes())),
                connection: connection_info(None),
            })
            .await
            .expect("SaslStart");
        match response {
            AuthResponse::Sasl(reply) => reply,
            other => panic!("unexpected answer {other:?}"),
        }
    })
}

/// Whose key is this, over the auth socket, as imapd would ask after a handshake.
fn certificate_login(auth_socket: &Path, fingerprint: &str) -> CertificateVerdict {
    let fp = KeyFingerprint::from_base64url(fingerprint).expect("fingerprint");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut conn = AuthConnection::connect(auth_socket)
            .await
            .expect("connect to the auth socket");
        match conn
            .call(AuthRequest::CertificateLogin {
                connection: connection_info(Some(fp)),
            })
            .await
            .expect("CertificateLogin")
        {
            AuthResponse::Certificate(verdict) => verdict,
            other => panic!("unexpected answer {other:?}"),
        }
    })
}

#[test]
fn localserve_end_to_end() {
    let _serial = serial();
    if authd_binary().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ls");
    let config = dir.join("postern.toml");
    let auth_socket = dir.join("run/auth.sock");

    // First start: creates everything and prints what a user needs.
    let (mut ls, banner) = Localserve::start(&dir);
    for needle in [
        "NO privilege separation",
        "account   postern\n",
        "address   postern@localhost\n",
        "password  postern-local\n",
        &format!("postern --config {} account list", config.display()),
        "127.0.0.1:1143",
        "127.0.0.1:1993",
        "127.0.0.1:1587",
        "127.0.0.1:1465",
        "127.0.0.1:1080",
    ] {
        assert!(
            banner.contains(needle),
            "{needle:?} missing from:\n{banner}"
        );
    }
    for listener in LISTENERS {
        let port = format!("127.0.0.1:{}", listener.port + 1000);
        let line = banner
            .lines()
            .find(|l| l.contains(&port))
            .unwrap_or_else(|| panic!("no line for {port}:\n{banner}"));
        let runs = DAEMONS.iter().any(|d| d.binary == listener.daemon);
        assert_eq!(!runs, line.contains("not available yet"), "{line}");
    }
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("tls/key.pem")), 0o600);
    let certificate = std::fs::read(dir.join("tls/cert.pem")).expect("cert.pem");
    let daemons = ls.children();
    assert_eq!(
        daemons.len(),
        DAEMONS.len(),
        "one child per daemon: {daemons:?}"
    );
    // Started as under `postern serve`, without the user switch: our uid, no_new_privs,
    // its own process group, the sockets passed by socket activation.
    let me = nix::unistd::getuid().as_raw().to_string();
    for pid in &daemons {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(field("Uid"), [me.as_str(); 4], "{status}");
        assert_eq!(field("NoNewPrivs"), ["1"], "{status}");
        assert_eq!(
            nix::unistd::getpgid(Some(Pid::from_raw(*pid))).ok(),
            Some(Pid::from_raw(*pid))
        );
        let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            environ.contains("LISTEN_FDNAMES=auth:admin\0")
                || environ.contains("LISTEN_FDNAMES=imap:imaps:store:control\0")
                || environ.contains("LISTEN_FDNAMES=submission:submissions:control\0")
                || environ.contains("LISTEN_FDNAMES=web-http:control\0"),
            "{environ:?}"
        );
    }

    // The web pages on the printed URL: the account logs in with the printed password,
    // the admin pages with the printed admin password.
    for needle in [
        "web pages    http://127.0.0.1:1080/",
        "admin pages  http://127.0.0.1:1080/admin/   admin password  postern-admin-local",
    ] {
        assert!(
            banner.contains(needle),
            "{needle:?} missing from:\n{banner}"
        );
    }
    let curl_post = |path: &str, fields: &[&str]| -> String {
        let mut command = std::process::Command::new("curl");
        command.args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
        ]);
        for field in fields {
            command.args(["--data-urlencode", field]);
        }
        let output = command
            .arg(format!("http://127.0.0.1:1080{path}"))
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(
        curl_post(
            "/login",
            &["address=postern@localhost", "password=postern-local"]
        ),
        "303 http://127.0.0.1:1080/"
    );
    assert_eq!(
        curl_post("/admin/login", &["password=postern-admin-local"]),
        "303 http://127.0.0.1:1080/admin/"
    );

    // The account localserve made, with the printed password working.
    let all = accounts(&config);
    let postern_account = all
        .iter()
        .find(|a| a.name == "postern")
        .unwrap_or_else(|| panic!("no account postern in {all:?}"));
    assert_eq!(postern_account.addresses, vec!["postern@localhost"]);
    assert!(postern_account.has_password);
    match plain_login(&auth_socket, "postern@localhost", "postern-local") {
        SaslReply::Success(verdict) => assert_eq!(verdict.account, "postern"),
        other => panic!("login with the printed password failed: {other:?}"),
    }
    // A mail client logs in with it on both IMAP listeners.
    let imap_login = std::process::Command::new("python3")
        .args([
            "-c",
            "import imaplib, ssl\n\
             c = imaplib.IMAP4('127.0.0.1', 1143)\n\
             c.starttls(ssl._create_unverified_context())\n\
             print(c.login('postern@localhost', 'postern-local')[0])\n\
             c = imaplib.IMAP4_SSL('127.0.0.1', 1993, ssl_context=ssl._create_unverified_context())\n\
             print(c.login('postern@localhost', 'postern-local')[0])\n",
        ])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&imap_login.stdout),
        "OK\nOK\n",
        "{}",
        String::from_utf8_lossy(&imap_login.stderr)
    );

    // Mail submitted on 1587 (STARTTLS) and 1465 lands in the account's Inbox, whatever
    // the recipient: localserve lets nothing leave the machine.
    let submit_and_read = std::process::Command::new("python3")
        .args([
            "-c",
            "import imaplib, smtplib, ssl, time\n\
             ctx = ssl._create_unverified_context()\n\
             s = smtplib.SMTP('127.0.0.1', 1587)\n\
             s.starttls(context=ctx)\n\
             s.login('postern@localhost', 'postern-local')\n\
             s.sendmail('postern@localhost', ['someone@example.com'], b'From: postern@localhost\\r\\nSubject: first\\r\\n\\r\\nhello\\r\\n')\n\
             s.quit()\n\
             s = smtplib.SMTP_SSL('127.0.0.1', 1465, context=ctx)\n\
             s.login('postern@localhost', 'postern-local')\n\
             s.sendmail('postern@localhost', ['postern@localhost'], b'From: postern@localhost\\r\\nSubject: second\\r\\n\\r\\nhello\\r\\n')\n\
             s.quit()\n\
             c = imaplib.IMAP4_SSL('127.0.0.1', 1993, ssl_context=ctx)\n\
             c.login('postern@localhost', 'postern-local')\n\
             for _ in range(100):\n\
             \x20   c.select('INBOX')\n\
             \x20   found = c.search(None, 'SUBJECT', 'first')[1][0].split() and c.search(None, 'SUBJECT', 'second')[1][0].split()\n\
             \x20   if found: break\n\
             \x20   time.sleep(0.1)\n\
             print('delivered' if found else 'missing')\n",
        ])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&submit_and_read.stdout),
        "delivered\n",
        "{}",
        String::from_utf8_lossy(&submit_and_read.stderr)
    );

    // swaks (over STARTTLS with AUTH PLAIN, and over implicit TLS with CRAM-MD5) to a
    // local address: the message is in the Inbox byte for byte, after the one Received
    // header submitd adds (it has its own Date and Message-ID).
    for (name, tls_args, auth) in [
        ("starttls", vec!["--tls"], "PLAIN"),
        ("implicit", vec!["--tlsc"], "CRAM-MD5"),
    ] {
        let subject = format!("swaks-{name}");
        let message = format!(
            "From: postern@localhost\r\nTo: postern@localhost\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@localhost>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n.leading dot\r\n"
        );
        let data = tmp.path().join(format!("{subject}.eml"));
        // swaks ends the data with CRLF . CRLF itself.
        std::fs::write(&data, message.trim_end_matches("\r\n")).expect("message file");
        let port = if name == "starttls" { "1587" } else { "1465" };
        let swaks = std::process::Command::new("swaks")
            .args(["--server", "127.0.0.1", "--port", port])
            .args(&tls_args)
            .args(["--auth", auth, "--auth-user", "postern@localhost"])
            .args(["--auth-password", "postern-local"])
            .args(["--from", "postern@localhost", "--to", "postern@localhost"])
            .arg("--data")
            .arg(&data)
            .output()
            .expect("swaks (apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl)");
        assert!(
            swaks.status.success(),
            "{}",
            String::from_utf8_lossy(&swaks.stdout)
        );
        let fetched = std::process::Command::new("python3")
            .args([
                "-c",
                "import imaplib, ssl, sys, time\n\
                 c = imaplib.IMAP4_SSL('127.0.0.1', 1993, ssl_context=ssl._create_unverified_context())\n\
                 c.login('postern@localhost', 'postern-local')\n\
                 for _ in range(100):\n\
                 \x20   c.select('INBOX')\n\
                 \x20   found = c.search(None, 'SUBJECT', sys.argv[1])[1][0].split()\n\
                 \x20   if found: break\n\
                 \x20   time.sleep(0.1)\n\
                 sys.stdout.buffer.write(c.fetch(found[0], '(BODY.PEEK[])')[1][0][1])\n",
                &subject,
            ])
            .output()
            .expect("python3");
        let fetched = String::from_utf8_lossy(&fetched.stdout).into_owned();
        let added = fetched.strip_suffix(&message).unwrap_or_else(|| {
            panic!("{name}: not the submitted message:\n{fetched:?}\n{message:?}")
        });
        assert!(added.starts_with("Received: from "), "{name}: {added}");
        assert!(
            added
                .split("\r\n")
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('\t')),
            "{name}: more than the Received header was added:\n{added}"
        );
    }

    // `postern sendmail -t` with a client certificate (a PEM with key and certificate,
    // and a bare Ed25519 seed): no password, the registered key is the login, and the
    // message lands in the Inbox.
    let client = openssl_certificate(tmp.path(), "ed25519", "sendmail-client");
    let mut bundle = std::fs::read(tmp.path().join("sendmail-client.key")).expect("key");
    bundle.extend(std::fs::read(&client).expect("cert"));
    let bundle_path = tmp.path().join("sendmail-client-bundle.pem");
    std::fs::write(&bundle_path, bundle).expect("bundle");
    cli(
        &config,
        &[
            "tlspubkey",
            "add",
            "postern",
            "postern@localhost",
            client.to_str().expect("utf-8"),
        ],
        None,
    )
    .ok();
    let seed = [9u8; 32];
    let seed_text = base64_url(&seed);
    let seed_cert = postern::sendmail::certificate_for_ed25519_seed(&seed_text).expect("cert");
    let seed_pem = tmp.path().join("seed-cert.pem");
    std::fs::write(&seed_pem, pem_certificate(seed_cert.0[0].as_ref())).expect("seed cert");
    cli(
        &config,
        &[
            "tlspubkey",
            "add",
            "postern",
            "postern@localhost",
            seed_pem.to_str().expect("utf-8"),
            "--name",
            "seed",
        ],
        None,
    )
    .ok();
    for (name, login) in [
        (
            "pem",
            format!("client_certificate = \"{}\"", bundle_path.display()),
        ),
        ("seed", format!("client_ed25519_key = \"{seed_text}\"")),
    ] {
        let settings = tmp.path().join(format!("sendmail-{name}.toml"));
        std::fs::write(
            &settings,
            format!(
                "server = \"127.0.0.1:1465\"\ntls = \"implicit\"\nca_file = \"{}\"\nfrom = \"postern@localhost\"\n{login}\n",
                dir.join("tls/cert.pem").display()
            ),
        )
        .expect("settings");
        let subject = format!("sendmail-{name}");
        let run = postern(
            &["sendmail", "-C", settings.to_str().expect("utf-8"), "-t"],
            Some(format!("To: postern@localhost\nSubject: {subject}\n\ncron says hi\n").as_bytes()),
        );
        run.ok();
        let found = std::process::Command::new("python3")
            .args([
                "-c",
                "import imaplib, ssl, sys, time\n\
                 c = imaplib.IMAP4_SSL('127.0.0.1', 1993, ssl_context=ssl._create_unverified_context())\n\
                 c.login('postern@localhost', 'postern-local')\n\
                 for _ in range(100):\n\
                 \x20   c.select('INBOX')\n\
                 \x20   found = c.search(None, 'SUBJECT', sys.argv[1])[1][0].split()\n\
                 \x20   if found: break\n\
                 \x20   time.sleep(0.1)\n\
                 print('delivered' if found else 'missing')\n",
                &subject,
            ])
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&found.stdout),
            "delivered\n",
            "{name}: {}",
            String::from_utf8_lossy(&found.stderr)
        );
    }
    for key in keys(&config) {
        if key.account == "postern" {
            cli(&config, &["tlspubkey", "rm", &key.fingerprint], None).ok();
        }
    }

    // Accounts and addresses.
    cli(
        &config,
        &["account", "add", "alice", "alice@example.org"],
        None,
    )
    .ok();
    cli(
        &config,
        &["address", "add", "al@example.org", "alice"],
        None,
    )
    .ok();
    let alice = accounts(&config)
        .into_iter()
        .find(|a| a.name == "alice")
        .expect("alice listed");
    assert!(
        alice.addresses.contains(&"al@example.org".to_string()),
        "{alice:?}"
    );
    assert!(
        alice.addresses.contains(&"alice@example.org".to_string()),
        "{alice:?}"
    );
    assert!(!alice.has_password);
    let table = cli(&config, &["account", "list"], None);
    assert!(table.ok().starts_with("ACCOUNT "), "{table:#?}");
    assert!(table.stdout.contains("alice@example.org"), "{table:#?}");
    cli(&config, &["address", "rm", "al@example.org"], None).ok();
    let alice = accounts(&config)
        .into_iter()
        .find(|a| a.name == "alice")
        .expect("alice listed");
    assert_eq!(alice.addresses, vec!["alice@example.org"]);

    // Password from stdin: one line, only the newline stripped.
    cli(
        &config,
        &["account", "password", "alice"],
        Some(b"correct horse battery\nignored\n"),
    )
    .ok();
    assert!(
        accounts(&config)
            .iter()
            .any(|a| a.name == "alice" && a.has_password)
    );
    match plain_login(&auth_socket, "alice@example.org", "correct horse battery") {
        SaslReply::Success(verdict) => assert_eq!(verdict.account, "alice"),
        other => panic!("alice's login failed: {other:?}"),
    }
    assert!(matches!(
        plain_login(&auth_socket, "alice@example.org", "wrong password"),
        SaslReply::Failure(AuthFailure::BadCredentials)
    ));

    // Disable and enable.
    cli(
        &config,
        &["account", "disable", "alice", "--message", "on holiday"],
        None,
    )
    .ok();
    let alice = accounts(&config)
        .into_iter()
        .find(|a| a.name == "alice")
        .expect("alice listed");
    assert_eq!(alice.disabled.as_deref(), Some("on holiday"));
    match plain_login(&auth_socket, "alice@example.org", "correct horse battery") {
        SaslReply::Failure(AuthFailure::LoginDisabled { message }) => {
            assert_eq!(message, "on holiday")
        }
        other => panic!("a disabled account logged in: {other:?}"),
    }
    cli(&config, &["account", "enable", "alice"], None).ok();
    assert!(matches!(
        plain_login(&auth_socket, "alice@example.org", "correct horse battery"),
        SaslReply::Success(_)
    ));

    // TLS public keys from openssl-made certificates: the fingerprint printed and listed
    // equals openssl's, and authd finds the account by it.
    for (spec, cn) in [("ed25519", "laptop-ed25519"), ("rsa:2048", "phone-rsa")] {
        let cert = openssl_certificate(tmp.path(), spec, cn);
        let expected = openssl_fingerprint(&cert);
        let run = cli(
            &config,
            &[
                "tlspubkey",
                "add",
                "alice",
                "alice@example.org",
                cert.to_str().expect("utf-8"),
            ],
            None,
        );
        assert_eq!(run.ok(), format!("{expected}\n"), "{spec}");
        let listed = keys(&config);
        let key = listed
            .iter()
            .find(|k| k.fingerprint == expected)
            .unwrap_or_else(|| panic!("{expected} not in {listed:?}"));
        assert_eq!(key.account, "alice");
        assert_eq!(key.login_address, "alice@example.org");
        assert_eq!(key.name, cn);
        assert!(!key.no_imap_preauth);
        let table = cli(&config, &["tlspubkey", "list", "alice"], None);
        assert!(table.ok().contains(&expected), "{table:#?}");
        match certificate_login(&auth_socket, &expected) {
            CertificateVerdict::Known { verdict, .. } => assert_eq!(verdict.account, "alice"),
            other => panic!("authd does not know the key {spec}: {other:?}"),
        }
    }
    let ed25519 = openssl_fingerprint(&tmp.path().join("laptop-ed25519.pem"));
    cli(&config, &["tlspubkey", "rm", &ed25519], None).ok();
    let remaining = keys(&config);
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    assert!(remaining.iter().all(|k| k.fingerprint != ed25519));
    assert_eq!(
        certificate_login(&auth_socket, &ed25519),
        CertificateVerdict::Unknown
    );

    // Errors: one line, exit 1.
    let run = cli(&config, &["account", "rm", "nosuchaccount"], None);
    let line = run.one_line_error();
    assert!(line.contains("nosuchaccount"), "{line}");
    let cert = tmp.path().join("phone-rsa.pem");
    let run = cli(
        &config,
        &[
            "tlspubkey",
            "add",
            "nosuchaccount",
            "x@example.org",
            cert.to_str().expect("utf-8"),
        ],
        None,
    );
    run.one_line_error();

    // The login history has the attempts above.
    let run = cli(&config, &["loginattempts"], None);
    assert!(run.ok().starts_with("LAST SEEN"), "{run:#?}");
    let run = cli(
        &config,
        &["loginattempts", "alice", "--all", "--json"],
        None,
    );
    let attempts: Vec<LoginAttempt> = serde_json::from_str(run.ok()).expect("JSON");
    assert!(
        attempts
            .iter()
            .any(|a| a.account == "alice" && a.result.name() == "bad-credentials"),
        "{attempts:?}"
    );
    cli(&config, &["ratelimit", "list"], None).ok();

    // A second localserve on the same directory is refused while the first runs.
    let mut second = Localserve::spawn(&postern_bin(), &dir);
    let status = second.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{}", second.stderr());
    assert!(
        second.stderr().contains("another postern localserve"),
        "{}",
        second.stderr()
    );
    assert_eq!(cli(&config, &["account", "list"], None).code, Some(0));

    // SIGTERM stops everything, exit 0, no daemon left behind.
    ls.signal(Signal::SIGTERM);
    let status = ls.wait(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", ls.stderr());
    for pid in &daemons {
        assert!(!alive(*pid), "daemon {pid} outlived localserve");
    }
    let run = cli(&config, &["account", "list"], None);
    assert!(
        run.one_line_error().contains("cannot reach authd"),
        "{run:#?}"
    );

    // Second start: same certificate, same accounts; Ctrl-C (SIGINT) stops it.
    let (mut ls, banner) = Localserve::start(&dir);
    assert!(banner.contains("password  postern-local"), "{banner}");
    assert_eq!(
        std::fs::read(dir.join("tls/cert.pem")).expect("cert.pem"),
        certificate
    );
    let names: Vec<String> = accounts(&config).into_iter().map(|a| a.name).collect();
    assert!(names.contains(&"alice".to_string()) && names.contains(&"postern".to_string()));
    let daemons = ls.children();
    ls.signal(Signal::SIGINT);
    assert_eq!(
        ls.wait(Duration::from_secs(20)).code(),
        Some(0),
        "{}",
        ls.stderr()
    );
    for pid in &daemons {
        assert!(!alive(*pid), "daemon {pid} outlived localserve");
    }

    // A daemon that dies is restarted, as under `postern serve`: a new authd answers on
    // the same sockets, the data is there, localserve keeps running and says so.
    let (mut ls, _) = Localserve::start(&dir);
    let authd = authd_child(&ls);
    let before = daemon_status(&config);
    assert_eq!(before[0].name, "authd");
    assert_eq!(before[0].pid, Some(authd as u32), "{before:?}");
    assert_eq!(before[0].restarts, 0);
    kill(Pid::from_raw(authd), Signal::SIGKILL).expect("kill authd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_authd = loop {
        if let Some(pid) = ls
            .children()
            .into_iter()
            .find(|pid| *pid != authd && is_authd(*pid))
            && cli(&config, &["account", "list"], None).code == Some(0)
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "authd not back within 10 s:\n{}",
            ls.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        matches!(ls.child.try_wait(), Ok(None)),
        "localserve stopped:\n{}",
        ls.stderr()
    );
    let after = daemon_status(&config);
    assert_eq!(after[0].pid, Some(new_authd as u32), "{after:?}");
    assert_eq!(after[0].restarts, 1, "{after:?}");
    assert_eq!(after[0].last_exit.as_deref(), Some("signal 9 (SIGKILL)"));
    assert!(
        ls.stderr().contains("daemon ended; restarting"),
        "{}",
        ls.stderr()
    );
    match plain_login(&auth_socket, "alice@example.org", "correct horse battery") {
        SaslReply::Success(verdict) => assert_eq!(verdict.account, "alice"),
        other => panic!("login after the restart failed: {other:?}"),
    }

    // kill -9 of localserve itself: the kernel stops authd (parent-death signal), and a
    // new localserve starts on the same directory.
    ls.signal(Signal::SIGKILL);
    let _ = ls.wait(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(new_authd) {
        assert!(
            Instant::now() < deadline,
            "authd {new_authd} outlived a killed localserve"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (mut ls, _) = Localserve::start(&dir);
    ls.signal(Signal::SIGTERM);
    assert_eq!(
        ls.wait(Duration::from_secs(20)).code(),
        Some(0),
        "{}",
        ls.stderr()
    );
}

fn is_authd(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|comm| comm.trim() == "postern-authd")
}

fn authd_child(ls: &Localserve) -> i32 {
    ls.children()
        .into_iter()
        .find(|pid| is_authd(*pid))
        .expect("authd among localserve's children")
}

/// `postern status --json` against localserve's control socket.
fn daemon_status(config: &Path) -> Vec<DaemonStatus> {
    let run = cli(config, &["status", "--json"], None);
    serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("{e}: {run:#?}"))
}

#[test]
fn authd_failing_at_start_ends_localserve() {
    let _serial = serial();
    if authd_binary().is_none() {
        return;
    }
    // A config authd refuses (an unknown caller): restarting it would not help, so
    // localserve stops with an error instead of restarting it forever.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("ls");
    std::fs::create_dir(&dir).expect("mkdir");
    let layout = postern::localserve::Layout::new(&dir).expect("layout");
    let mut config = postern::localserve::initial_config(&layout, nix::unistd::getuid().as_raw());
    config.authd.imap_callers = vec![postern_config::UserRef::Name(
        "no-such-user-for-postern".into(),
    )];
    std::fs::write(&layout.config, config.to_toml()).expect("write config");
    let mut ls = Localserve::spawn(&postern_bin(), &dir);
    let status = ls.wait(Duration::from_secs(30));
    let stderr = ls.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("postern: authd exited during start-up (exit status 1)"),
        "{stderr}"
    );
    assert!(stderr.contains("no-such-user-for-postern"), "{stderr}");
}

#[test]
fn localserve_without_authd_binary_says_how_to_build() {
    let _serial = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let lonely = tmp.path().join("bin");
    std::fs::create_dir(&lonely).expect("mkdir");
    let copy = lonely.join("postern");
    std::fs::copy(postern_bin(), &copy).expect("copy postern");
    if Path::new("/usr/lib/postern/postern-authd").exists() {
        eprintln!("skipping: /usr/lib/postern/postern-authd is installed");
        return;
    }
    let mut ls = Localserve::spawn(&copy, &tmp.path().join("ls"));
    let status = ls.wait(Duration::from_secs(30));
    let stderr = ls.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "postern: postern-authd not found next to {} nor in /usr/lib/postern; build the \
             workspace first: cargo build --release --workspace",
            lonely.display()
        )
    );
}

/// base64url without padding.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DER certificate as PEM.
fn pem_certificate(der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("ascii"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}
