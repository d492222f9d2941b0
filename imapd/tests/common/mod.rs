//! Starts a real `postern-authd` and a real `postern-imapd` on a temporary directory and
//! 127.0.0.1 ports, with an rcgen certificate; and a small IMAP client over rustls.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_testkit::{
    AuthdProcess, ClientCertificate, SelfSignedCertificate, SocketActivation, base_config,
    create_account, daemon_command, free_loopback_address, is_listening, tls_client_config,
    wait_for_start,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// Not every test uses it.
#[allow(unused_imports)]
pub use postern_testkit::python;

pub const ACCOUNT: &str = "mjl";
pub const ADDRESS: &str = "mjl@example.org";
pub const PASSWORD: &str = "test password 1234";

/// A running authd and imapd sharing one config and directory.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub authd: Option<AuthdProcess>,
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
        let certificate = SelfSignedCertificate::write(dir.path(), &["localhost"]);
        let imap = free_loopback_address();
        let imaps = free_loopback_address();
        let imapd_section = format!(
            r#"
[imapd]
user = {uid}
imap_listen = [{imap_listen}]
imaps_listen = [{imaps_listen}]
tls_certificate = "{cert}"
tls_key = "{key}"
"#,
            cert = certificate.cert_path.display(),
            key = certificate.key_path.display(),
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
        let config = base_config(dir.path(), true, mail_store) + &imapd_section;
        std::fs::write(&config_path, config).unwrap();
        let authd = AuthdProcess::start(&config_path).await;
        let binary = Path::new(env!("CARGO_BIN_EXE_postern-imapd"));
        let activation =
            activated.then(|| SocketActivation::bind(&[("imap", imap), ("imaps", imaps)]));
        let mut command = match &activation {
            Some(activation) => activation.command(binary, &config_path),
            None => daemon_command(binary, &config_path),
        };
        let imapd = command.spawn().unwrap();
        drop(activation);
        let mut server = Server {
            dir,
            config_path,
            authd: Some(authd),
            imapd,
            imap,
            imaps,
            server_cert: certificate.der,
        };
        wait_for_start(&mut server.imapd, "imapd", async || {
            is_listening(&[imap, imaps])
        })
        .await;
        create_account(&server.admin_socket(), ACCOUNT, ADDRESS, PASSWORD).await;
        server
    }

    /// authd's admin socket.
    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("run/admin.sock")
    }

    /// Sends `request` to authd's admin socket; panics on an error response.
    pub async fn admin_ok(&self, request: AdminRequest) -> AdminResponse {
        postern_testkit::admin(&self.admin_socket(), request).await
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
        let binary = Path::new(env!("CARGO_BIN_EXE_postern-imapd"));
        self.imapd = daemon_command(binary, &self.config_path).spawn().unwrap();
        let imaps = self.imaps;
        wait_for_start(&mut self.imapd, "imapd", async || is_listening(&[imaps])).await;
    }

    /// Kills authd (the tests of what happens when it is gone).
    pub fn stop_authd(&mut self) {
        self.authd = None;
    }

    /// A rustls client configuration trusting the server certificate, with an optional
    /// client certificate.
    pub fn client_config(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    ) -> Arc<rustls::ClientConfig> {
        tls_client_config(&self.server_cert, client, rustls::DEFAULT_VERSIONS)
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
    ClientCertificate::generate("laptop").into_parts()
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

// Helpers for the client-tool, crash and limit tests (clients.rs, crash.rs, limits.rs).

#[allow(unused_imports)] // Not every test binary uses it.
pub use postern_testkit::tool_available;

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
