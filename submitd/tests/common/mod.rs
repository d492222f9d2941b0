//! Starts a real `postern-authd` and a real `postern-submitd` on a temporary directory
//! and 127.0.0.1 ports, with an rcgen certificate (the same pattern as imapd's tests);
//! a small SMTP client over rustls; and readers for what the queue stored.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const ACCOUNT: &str = "mjl";
pub const ADDRESS: &str = "mjl@example.org";
/// A second address of the same account.
pub const ALIAS: &str = "alias@example.org";
pub const PASSWORD: &str = "test password 1234";
/// Another account, whose addresses mjl may not send from.
pub const OTHER_ACCOUNT: &str = "other";
pub const OTHER_ADDRESS: &str = "other@example.org";

/// The authd binary next to ours, built once if needed (a binary of another package has
/// no `CARGO_BIN_EXE_` here).
pub fn authd_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_BIN_EXE_postern-submitd"))
                .parent()
                .unwrap()
                .to_path_buf();
            let path = dir.join("postern-authd");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "postern-authd",
                    "--bin",
                    "postern-authd",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status();
            if !path.exists() {
                panic!("postern-authd not built ({status:?}): run cargo build -p postern-authd");
            }
            path
        })
        .clone()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to start the servers.
#[derive(Clone, Debug)]
pub struct Options {
    /// `[submitd] max_message_size`.
    pub max_message_size: u64,
    /// `[submitd] max_recipients`.
    pub max_recipients: usize,
    /// Pass the listeners by socket activation instead of config addresses.
    pub activated: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_size: 100 * 1024,
            max_recipients: 5,
            activated: false,
        }
    }
}

/// A running authd and submitd sharing one config and directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub authd: Option<Child>,
    pub submitd: Child,
    /// STARTTLS port.
    pub submission: SocketAddr,
    /// Implicit TLS port.
    pub submissions: SocketAddr,
    /// The server certificate (DER), trusted by the test clients.
    pub server_cert: CertificateDer<'static>,
}

impl Server {
    /// Starts authd with two accounts (mjl with ADDRESS and ALIAS, other with
    /// OTHER_ADDRESS, both with PASSWORD), then submitd.
    pub async fn start() -> Server {
        Server::start_with(Options::default()).await
    }

    /// Starts the servers with `options`.
    pub async fn start_with(options: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let submission: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let submissions: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let listen = |addr: SocketAddr| {
            if options.activated {
                String::new()
            } else {
                format!("\"{addr}\"")
            }
        };
        let config = format!(
            r#"hostname = "mail.test"
data_dir = "{data}"
runtime_dir = "{run}"
localserve = true

[authd]
user = {uid}
admin_users = [{uid}]
imap_callers = [{uid}]
submission_callers = [{uid}]
web_callers = [{uid}]
mail_store = false
argon2_memory_kib = 256
argon2_iterations = 1

[submitd]
user = {uid}
submission_listen = [{submission_listen}]
submissions_listen = [{submissions_listen}]
tls_certificate = "{cert}"
tls_key = "{key}"
max_message_size = {max_message_size}
max_recipients = {max_recipients}
"#,
            data = dir.path().join("data").display(),
            run = dir.path().join("run").display(),
            cert = dir.path().join("cert.pem").display(),
            key = dir.path().join("key.pem").display(),
            submission_listen = listen(submission),
            submissions_listen = listen(submissions),
            max_message_size = options.max_message_size,
            max_recipients = options.max_recipients,
        );
        let config_path = dir.path().join("postern.toml");
        std::fs::write(&config_path, config).unwrap();
        let mut authd = Command::new(authd_binary())
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let admin_socket = dir.path().join("run/admin.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        while AdminConnection::connect(&admin_socket).await.is_err() {
            if let Some(status) = authd.try_wait().unwrap() {
                panic!("authd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "authd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut sockets = Vec::new();
        let mut command = if options.activated {
            // The listening sockets are inherited (close-on-exec cleared); Python moves
            // them to fds 3 and 4 and execs submitd under its own pid.
            use std::os::fd::AsRawFd;
            let mut fds = Vec::new();
            for addr in [submission, submissions] {
                let listener = StdListener::bind(addr).unwrap();
                nix::fcntl::fcntl(
                    &listener,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .unwrap();
                fds.push(listener.as_raw_fd());
                sockets.push(listener);
            }
            let script = "import os, sys\n\
                a, b = (os.dup(int(x)) for x in sys.argv[1:3])\n\
                os.dup2(a, 3)\n\
                os.dup2(b, 4)\n\
                os.set_inheritable(3, True)\n\
                os.set_inheritable(4, True)\n\
                os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2', \
                LISTEN_FDNAMES='submission:submissions')\n\
                os.execv(sys.argv[3], [sys.argv[3], '--config', sys.argv[4]])\n";
            let mut command = Command::new("python3");
            command
                .arg("-c")
                .arg(script)
                .arg(fds[0].to_string())
                .arg(fds[1].to_string())
                .arg(env!("CARGO_BIN_EXE_postern-submitd"))
                .arg(&config_path);
            command
        } else {
            let mut command = Command::new(env!("CARGO_BIN_EXE_postern-submitd"));
            command.arg("--config").arg(&config_path);
            command
        };
        let submitd = command
            .env(
                "RUST_LOG",
                std::env::var("SUBMITD_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        drop(sockets);
        let mut server = Server {
            dir,
            config_path,
            authd: Some(authd),
            submitd,
            submission,
            submissions,
            server_cert: cert.der().clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(server.submissions).await.is_err()
            || TcpStream::connect(server.submission).await.is_err()
        {
            if let Some(status) = server.submitd.try_wait().unwrap() {
                panic!("submitd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "submitd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for (account, address) in [(ACCOUNT, ADDRESS), (OTHER_ACCOUNT, OTHER_ADDRESS)] {
            server
                .admin_ok(AdminRequest::AccountAdd {
                    account: account.into(),
                    address: address.into(),
                })
                .await;
            server
                .admin_ok(AdminRequest::AccountSetPassword {
                    account: account.into(),
                    password: Secret(PASSWORD.into()),
                })
                .await;
        }
        server
            .admin_ok(AdminRequest::AddressAdd {
                account: ACCOUNT.into(),
                address: ALIAS.into(),
            })
            .await;
        server
    }

    pub async fn admin_ok(&self, request: AdminRequest) -> AdminResponse {
        let mut admin = AdminConnection::connect(&self.dir.path().join("run/admin.sock"))
            .await
            .unwrap();
        let response = admin.call(request.clone()).await.unwrap();
        if let AdminResponse::Error(message) = &response {
            panic!("{request:?} failed: {message}");
        }
        response
    }

    /// The login history as authd records it.
    pub async fn login_attempts(&self) -> Vec<postern_ipc::LoginAttempt> {
        match self
            .admin_ok(AdminRequest::LoginAttempts {
                account: None,
                limit: None,
            })
            .await
        {
            AdminResponse::LoginAttempts(attempts) => attempts,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Registers a new client certificate for mjl; returns it with its key, and the
    /// paths of its PEM files (certificate, key) for command-line clients.
    pub async fn register_client_certificate(
        &self,
    ) -> (
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
        PathBuf,
        PathBuf,
    ) {
        let (cert, key, cert_pem, key_pem) = client_certificate_pem();
        self.admin_ok(AdminRequest::TlsPublicKeyAdd {
            account: ACCOUNT.into(),
            login_address: ADDRESS.into(),
            certificate_der: cert.to_vec(),
            name: None,
            no_imap_preauth: false,
        })
        .await;
        let cert_path = self.dir.path().join("client-cert.pem");
        let key_path = self.dir.path().join("client-key.pem");
        std::fs::write(&cert_path, cert_pem).unwrap();
        std::fs::write(&key_path, key_pem).unwrap();
        (cert, key, cert_path, key_path)
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The queue's directory.
    pub fn queue_dir(&self) -> PathBuf {
        self.dir.path().join("data/submitd/queue")
    }

    /// The stored bytes of queued message `id`.
    pub fn queued_message(&self, id: &str) -> Vec<u8> {
        let path = self.queue_dir().join("msg").join(id);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// The envelope of queued message `id` from the queue's index: (account,
    /// mail_from, recipients).
    pub fn queued_envelope(&self, id: &str) -> (String, String, Vec<String>) {
        let db = rusqlite::Connection::open_with_flags(
            self.queue_dir().join("index.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let id: i64 = id.parse().unwrap();
        let (account, mail_from) = db
            .query_row(
                "SELECT account, mail_from FROM messages WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let mut statement = db
            .prepare("SELECT address FROM recipients WHERE message_id = ?1 ORDER BY id")
            .unwrap();
        let recipients = statement
            .query_map([id], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap();
        (account, mail_from, recipients)
    }

    /// How many messages the queue's message directory holds.
    pub fn queued_count(&self) -> usize {
        std::fs::read_dir(self.queue_dir().join("msg"))
            .map(|dir| dir.count())
            .unwrap_or(0)
    }

    pub fn stop_authd(&mut self) {
        if let Some(mut child) = self.authd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A rustls client configuration trusting the server certificate, with an optional
    /// client certificate, limited to TLS 1.2 when `tls12` is set.
    pub fn client_config(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        tls12: bool,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_cert.clone()).unwrap();
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13]
        };
        let builder = rustls::ClientConfig::builder_with_protocol_versions(versions)
            .with_root_certificates(roots);
        Arc::new(match client {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    /// Connects to the implicit-TLS port (TLS 1.3) and reads the greeting.
    pub async fn connect_tls(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        self.connect_tls_version(client, false).await
    }

    /// Connects to the implicit-TLS port and reads the greeting.
    pub async fn connect_tls_version(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        tls12: bool,
    ) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.submissions).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(self.client_config(client, tls12));
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let mut client = Client::new(tls);
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    /// Connects to the STARTTLS port and reads the greeting.
    pub async fn connect_plain(&self) -> Client<TcpStream> {
        let mut client = Client::new(TcpStream::connect(self.submission).await.unwrap());
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    /// Connects over implicit TLS, says EHLO and logs in with AUTH PLAIN.
    pub async fn login(&self) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut client = self.connect_tls(None).await;
        let ehlo = client.command("EHLO client.test").await;
        assert!(ehlo.starts_with("250"), "{ehlo}");
        let reply = client
            .command(&format!("AUTH PLAIN {}", plain(ADDRESS)))
            .await;
        assert!(reply.starts_with("235 2.7.0"), "{reply}");
        client
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.submitd.kill();
        let _ = self.submitd.wait();
        self.stop_authd();
    }
}

/// The AUTH PLAIN initial response for `user` with PASSWORD.
pub fn plain(user: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PASSWORD}"))
}

/// A self-signed client certificate and its key, also as PEM (certificate, key).
pub fn client_certificate_pem() -> (
    CertificateDer<'static>,
    PrivateKeyDer<'static>,
    String,
    String,
) {
    // P-256: openssl cannot read the PKCS#8 v2 Ed25519 keys aws-lc writes.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["laptop".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        cert.pem(),
        key.serialize_pem(),
    )
}

/// A line-based SMTP client for tests.
pub struct Client<S> {
    pub stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Reads one line, without CRLF; empty at the end of the stream.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), self.stream.read_line(&mut line))
            .await
            .expect("timeout reading from submitd")
            .unwrap();
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    /// Reads one (possibly multi-line) reply; lines joined with `\n`.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let last = line.len() < 4 || line.as_bytes()[3] != b'-';
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    /// Writes bytes as they are and flushes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }

    /// Sends a command line and reads its reply.
    pub async fn command(&mut self, text: &str) -> String {
        self.send_raw(format!("{text}\r\n").as_bytes()).await;
        self.reply().await
    }
}

impl Client<TcpStream> {
    /// STARTTLS, then the TLS handshake (TLS 1.3), optionally with a client certificate.
    pub async fn starttls(
        mut self,
        server: &Server,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        let reply = self.command("STARTTLS").await;
        assert!(reply.starts_with("220 "), "{reply}");
        assert!(self.stream.buffer().is_empty());
        let tcp = self.stream.into_inner();
        let connector = tokio_rustls::TlsConnector::from(server.client_config(client, false));
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        Client::new(tls)
    }
}

/// Runs a Python script with arguments; returns its stdout, panicking on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
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

/// The queue id from a `250 2.0.0 queued as ID` reply.
pub fn queue_id(reply: &str) -> String {
    reply
        .rsplit_once("queued as ")
        .map(|(_, id)| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no queue id in {reply:?}"))
}

/// A small message from `from`.
pub fn message(from: &str, subject: &str) -> String {
    format!(
        "From: Test <{from}>\r\nTo: <other@example.org>\r\nSubject: {subject}\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@client.test>\r\n\
         \r\nHello,\r\n.dot-stuffed line\r\nbye\r\n"
    )
}
