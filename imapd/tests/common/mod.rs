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
        Server::start_configured(activated, false).await
    }

    /// Starts the servers; with `mail_store`, authd keeps removed accounts pending until
    /// imapd confirms their mail is gone (`[authd] mail_store`).
    pub async fn start_configured(activated: bool, mail_store: bool) -> Server {
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
mail_store = {mail_store}
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

    /// imapd's store socket.
    pub fn store_socket(&self) -> PathBuf {
        self.dir.path().join("run/store.sock")
    }

    /// imapd's mail store root.
    pub fn store_root(&self) -> PathBuf {
        self.dir.path().join("data/imapd")
    }

    /// Kills imapd and starts it again (listening on the configured addresses), waiting
    /// until it accepts connections.
    pub async fn restart_imapd(&mut self) {
        let _ = self.imapd.kill();
        let _ = self.imapd.wait();
        self.imapd = Command::new(env!("CARGO_BIN_EXE_postern-imapd"))
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.imaps).await.is_err() {
            if let Some(status) = self.imapd.try_wait().unwrap() {
                panic!("imapd exited at restart: {status}");
            }
            assert!(Instant::now() < deadline, "imapd did not restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

// Helpers for the client-tool, crash and limit tests (clients.rs, crash.rs, limits.rs).

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

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), or `None` when the process
/// or the field is gone.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

impl Server {
    /// Lets imapd take any number of connections from 127.0.0.0/8 (`[ratelimit]
    /// trusted_networks`), for tests with many concurrent clients: adds the setting to
    /// the config and restarts imapd.
    pub async fn trust_loopback(&mut self) {
        let mut config = std::fs::read_to_string(&self.config_path).unwrap();
        config.push_str("\n[ratelimit]\ntrusted_networks = [\"127.0.0.0/8\"]\n");
        std::fs::write(&self.config_path, config).unwrap();
        self.restart_imapd().await;
    }

    /// imapd's process id.
    pub fn imapd_pid(&self) -> u32 {
        self.imapd.id()
    }

    /// Connects over IMAPS and logs in with LOGIN; the greeting and the login reply are
    /// read.
    pub async fn login_tls(&self) -> Client<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut client = self.connect_tls(None).await;
        let greeting = client.line().await;
        assert!(greeting.starts_with("* OK "), "{greeting}");
        let lines = client
            .command("l0", &format!("LOGIN {ADDRESS} \"{PASSWORD}\""))
            .await;
        let last = lines.last().unwrap();
        assert!(last.starts_with("l0 OK "), "{last}");
        client
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Writes bytes as they are (literal data, partial lines) and flushes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
        self.stream.get_mut().flush().await.unwrap();
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads one response with the literals it announces (`{n}` at a line end): the
    /// bytes up to and including the final CRLF.
    pub async fn response(&mut self) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let read = tokio::time::timeout(
                Duration::from_secs(60),
                self.stream.read_until(b'\n', &mut line),
            )
            .await
            .expect("timeout reading from imapd")
            .unwrap();
            assert!(read > 0, "imapd closed the connection");
            out.extend_from_slice(&line);
            let Some(size) = literal_size_at_end(&line) else {
                return out;
            };
            let start = out.len();
            out.resize(start + size, 0);
            tokio::time::timeout(
                Duration::from_secs(60),
                self.stream.read_exact(&mut out[start..]),
            )
            .await
            .expect("timeout reading a literal from imapd")
            .unwrap();
        }
    }

    /// Sends a tagged command and returns its responses (with literals) up to and
    /// including the tagged one.
    pub async fn command_raw(&mut self, tag: &str, text: &str) -> Vec<Vec<u8>> {
        self.send(&format!("{tag} {text}")).await;
        let mut responses = Vec::new();
        loop {
            let response = self.response().await;
            let done = response.starts_with(format!("{tag} ").as_bytes());
            responses.push(response);
            if done {
                return responses;
            }
        }
    }

    /// Appends one message to `mailbox` with a LITERAL+ literal; returns the tagged
    /// reply line.
    pub async fn append(
        &mut self,
        tag: &str,
        mailbox: &str,
        flags: &str,
        message: &[u8],
    ) -> String {
        let mut command = format!(
            "{tag} APPEND {mailbox} ({flags}) {{{}+}}\r\n",
            message.len()
        )
        .into_bytes();
        command.extend_from_slice(message);
        command.extend_from_slice(b"\r\n");
        self.send_raw(&command).await;
        self.until_tagged(tag).await.pop().unwrap()
    }

    /// Every message of the selected mailbox by UID, from `UID FETCH 1:* (UID
    /// BODY.PEEK[])`.
    pub async fn fetch_all(&mut self, tag: &str) -> std::collections::BTreeMap<u32, Vec<u8>> {
        let responses = self
            .command_raw(tag, "UID FETCH 1:* (UID BODY.PEEK[])")
            .await;
        let (last, fetches) = responses.split_last().unwrap();
        assert!(
            last.starts_with(format!("{tag} OK").as_bytes()),
            "{}",
            String::from_utf8_lossy(last)
        );
        fetches
            .iter()
            .filter(|r| r.windows(7).any(|w| w == b" FETCH "))
            .map(|r| {
                parse_uid_body(r).unwrap_or_else(|| {
                    panic!(
                        "cannot parse {}",
                        String::from_utf8_lossy(&r[..r.len().min(300)])
                    )
                })
            })
            .collect()
    }
}

/// `n` when `line` ends with a literal announcement `{n}` (or `~{n}`) and CRLF.
fn literal_size_at_end(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..]).ok()?.parse().ok()
}

/// The UID and the `BODY[]` literal of one untagged FETCH response.
pub fn parse_uid_body(response: &[u8]) -> Option<(u32, Vec<u8>)> {
    let marker = b"BODY[] {";
    let at = response.windows(marker.len()).position(|w| w == marker)?;
    let digits_start = at + marker.len();
    let close = digits_start + response[digits_start..].iter().position(|&b| b == b'}')?;
    let size: usize = std::str::from_utf8(&response[digits_start..close])
        .ok()?
        .parse()
        .ok()?;
    let data_start = close + 3;
    let body = response.get(data_start..data_start + size)?.to_vec();
    // The UID item is outside the literal.
    let mut outside = response[..at].to_vec();
    outside.extend_from_slice(&response[data_start + size..]);
    let text = String::from_utf8_lossy(&outside);
    let uid = text
        .split([' ', '(', ')'])
        .skip_while(|w| *w != "UID")
        .nth(1)?
        .parse()
        .ok()?;
    Some((uid, body))
}
