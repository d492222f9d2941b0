//! Starts a real `postern-authd` and a real `postern-imapd` on a temporary directory and
//! 127.0.0.1 ports, with an rcgen certificate; and a small IMAP client over rustls.
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
pub const PASSWORD: &str = "test password 1234";

/// The authd binary next to ours, built once if needed (a binary of another package has
/// no `CARGO_BIN_EXE_` here).
pub fn authd_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(env!("CARGO_BIN_EXE_postern-imapd"))
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

/// A running authd and imapd sharing one config and directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub authd: Option<Child>,
    pub imapd: Child,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    /// The server certificate (DER), trusted by the test clients.
    pub server_cert: CertificateDer<'static>,
}

impl Server {
    /// Starts authd with one account (ADDRESS / PASSWORD), then imapd.
    pub async fn start() -> Server {
        Server::start_with(false).await
    }

    /// Starts the servers; with `activated`, imapd gets its listeners by socket
    /// activation (`imap`, `imaps`) and the config lists no addresses.
    pub async fn start_with(activated: bool) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let imap: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let imaps: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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

[imapd]
user = {uid}
imap_listen = [{imap_listen}]
imaps_listen = [{imaps_listen}]
tls_certificate = "{cert}"
tls_key = "{key}"
"#,
            data = dir.path().join("data").display(),
            run = dir.path().join("run").display(),
            cert = dir.path().join("cert.pem").display(),
            key = dir.path().join("key.pem").display(),
            imap_listen = if activated {
                String::new()
            } else {
                format!("\"{imap}\"")
            },
            imaps_listen = if activated {
                String::new()
            } else {
                format!("\"{imaps}\"")
            },
        );
        let config_path = dir.path().join("postern.toml");
        std::fs::write(&config_path, config).unwrap();
        let authd = Command::new(authd_binary())
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let admin_socket = dir.path().join("run/admin.sock");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut authd = authd;
        while AdminConnection::connect(&admin_socket).await.is_err() {
            if let Some(status) = authd.try_wait().unwrap() {
                panic!("authd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "authd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut sockets = Vec::new();
        let mut imapd = if activated {
            // The listening sockets are inherited (close-on-exec cleared).
            use std::os::fd::AsRawFd;
            let mut fds = Vec::new();
            for addr in [imap, imaps] {
                let listener = StdListener::bind(addr).unwrap();
                nix::fcntl::fcntl(
                    &listener,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                )
                .unwrap();
                fds.push(listener.as_raw_fd());
                sockets.push(listener);
            }
            // Python moves them to fds 3 and 4 and execs imapd under its own pid.
            let script = "import os, sys\n\
                a, b = (os.dup(int(x)) for x in sys.argv[1:3])\n\
                os.dup2(a, 3)\n\
                os.dup2(b, 4)\n\
                os.set_inheritable(3, True)\n\
                os.set_inheritable(4, True)\n\
                os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2', \
                LISTEN_FDNAMES='imap:imaps')\n\
                os.execv(sys.argv[3], [sys.argv[3], '--config', sys.argv[4]])\n";
            let mut command = Command::new("python3");
            command
                .arg("-c")
                .arg(script)
                .arg(fds[0].to_string())
                .arg(fds[1].to_string())
                .arg(env!("CARGO_BIN_EXE_postern-imapd"))
                .arg(&config_path);
            command
        } else {
            let mut command = Command::new(env!("CARGO_BIN_EXE_postern-imapd"));
            command.arg("--config").arg(&config_path);
            command
        };
        let imapd = imapd
            .env("RUST_LOG", "warn")
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
            imapd,
            imap,
            imaps,
            server_cert: cert.der().clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(server.imaps).await.is_err()
            || TcpStream::connect(server.imap).await.is_err()
        {
            if let Some(status) = server.imapd.try_wait().unwrap() {
                panic!("imapd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "imapd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
            .admin_ok(AdminRequest::AccountAdd {
                account: ACCOUNT.into(),
                address: ADDRESS.into(),
            })
            .await;
        server
            .admin_ok(AdminRequest::AccountSetPassword {
                account: ACCOUNT.into(),
                password: Secret(PASSWORD.into()),
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

    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn stop_authd(&mut self) {
        if let Some(mut child) = self.authd.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A rustls client configuration trusting the server certificate, with an optional
    /// client certificate.
    pub fn client_config(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.server_cert.clone()).unwrap();
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        Arc::new(match client {
            Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
            None => builder.with_no_client_auth(),
        })
    }

    /// Connects to the IMAPS port over TLS.
    pub async fn connect_tls(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.imaps).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(self.client_config(client));
        let tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        Client::new(tls)
    }

    /// Connects to the plain port.
    pub async fn connect_plain(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.imap).await.unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.imapd.kill();
        let _ = self.imapd.wait();
        self.stop_authd();
    }
}

/// A self-signed client certificate and its key.
pub fn client_certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let (cert, key, _, _) = client_certificate_pem();
    (cert, key)
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

/// A line-based IMAP client for tests.
pub struct Client<S> {
    pub stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client {
            stream: BufReader::new(stream),
        }
    }

    /// Reads one line, without CRLF.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(20), self.stream.read_line(&mut line))
            .await
            .expect("timeout reading from imapd")
            .unwrap();
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    pub async fn send(&mut self, text: &str) {
        self.stream
            .get_mut()
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }

    /// Sends a tagged command and returns the lines up to and including the tagged one.
    pub async fn command(&mut self, tag: &str, text: &str) -> Vec<String> {
        self.send(&format!("{tag} {text}")).await;
        self.until_tagged(tag).await
    }

    pub async fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
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
