//! Starts a real `postern-authd` and a real `postern-submitd` on a temporary directory
//! and 127.0.0.1 ports, with an rcgen certificate (the same pattern as imapd's tests);
//! a small SMTP client over rustls; and readers for what the queue stored.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_testkit::{
    AuthdProcess, ChildProcess, ClientCertificate, SelfSignedCertificate, SocketActivation,
    base_config, create_account, daemon_command, free_loopback_address, is_listening,
    tls_client_config, wait_for_start, workspace_binary,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// Not every test uses them.
#[allow(unused_imports)]
pub use postern_testkit::{python, tool_available};

pub const ACCOUNT: &str = "mjl";
pub const ADDRESS: &str = "mjl@example.org";
/// A second address of the same account.
pub const ALIAS: &str = "alias@example.org";
pub const PASSWORD: &str = "test password 1234";
/// Another account, whose addresses mjl may not send from.
pub const OTHER_ACCOUNT: &str = "other";
pub const OTHER_ADDRESS: &str = "other@example.org";

/// How to start the servers.
#[derive(Clone, Debug)]
pub struct Options {
    /// `[submitd] max_message_size`.
    pub max_message_size: u64,
    /// `[submitd] max_recipients`.
    pub max_recipients: usize,
    /// Pass the listeners by socket activation instead of config addresses.
    pub activated: bool,
    /// Log at level debug to [`Server::log_path`] instead of warnings to stderr.
    pub log: bool,
    /// Start imapd too, so that the queue delivers (localserve: to the sender's Inbox).
    pub imapd: bool,
    /// `[submitd] login_deadline_seconds`, when set.
    pub login_deadline_seconds: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_size: 100 * 1024,
            max_recipients: 5,
            activated: false,
            log: false,
            imapd: false,
            login_deadline_seconds: None,
        }
    }
}

/// A running authd and submitd sharing one config and directory.
pub struct Server {
    // The processes come first: fields drop in order, so they are killed before the
    // directory is removed.
    pub submitd: ChildProcess,
    pub imapd: Option<ChildProcess>,
    pub authd: Option<AuthdProcess>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    /// STARTTLS port.
    pub submission: SocketAddr,
    /// Implicit TLS port.
    pub submissions: SocketAddr,
    /// The server certificate (DER), trusted by the test clients.
    pub server_cert: CertificateDer<'static>,
    /// imapd's implicit TLS port, with [`Options::imapd`].
    pub imaps: SocketAddr,
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
        let certificate = SelfSignedCertificate::write(dir.path(), &["localhost"]);
        let submission = free_loopback_address();
        let submissions = free_loopback_address();
        let listen = |addr: SocketAddr| {
            if options.activated {
                String::new()
            } else {
                format!("\"{addr}\"")
            }
        };
        let submitd_section = format!(
            r#"
[submitd]
user = {uid}
submission_listen = [{submission_listen}]
submissions_listen = [{submissions_listen}]
tls_certificate = "{cert}"
tls_key = "{key}"
max_message_size = {max_message_size}
max_recipients = {max_recipients}
{login_deadline}
"#,
            cert = certificate.cert_path.display(),
            key = certificate.key_path.display(),
            submission_listen = listen(submission),
            submissions_listen = listen(submissions),
            max_message_size = options.max_message_size,
            max_recipients = options.max_recipients,
            login_deadline = options
                .login_deadline_seconds
                .map(|s| format!("login_deadline_seconds = {s}"))
                .unwrap_or_default(),
        );
        let imaps = free_loopback_address();
        let imapd_section = if options.imapd {
            format!(
                r#"
[imapd]
user = {uid}
imap_listen = ["{imap}"]
imaps_listen = ["{imaps}"]
tls_certificate = "{cert}"
tls_key = "{key}"
store_callers = [{uid}]
"#,
                imap = free_loopback_address(),
                cert = certificate.cert_path.display(),
                key = certificate.key_path.display(),
            )
        } else {
            String::new()
        };
        let config_path = dir.path().join("postern.toml");
        let config =
            base_config(dir.path(), true, options.imapd) + &submitd_section + &imapd_section;
        std::fs::write(&config_path, config).unwrap();
        let authd = AuthdProcess::start(&config_path).await;
        for (account, address) in [(ACCOUNT, ADDRESS), (OTHER_ACCOUNT, OTHER_ADDRESS)] {
            create_account(&authd.admin_socket, account, address, PASSWORD).await;
        }
        let imapd = if options.imapd {
            let binary = workspace_binary("postern-imapd", "postern-imapd");
            let mut imapd = ChildProcess::spawn(&mut daemon_command(&binary, &config_path));
            let store_socket = dir.path().join("run/store.sock");
            wait_for_start(&mut imapd, "imapd", async || {
                is_listening(&[imaps]) && store_socket.exists()
            })
            .await;
            Some(imapd)
        } else {
            None
        };
        let binary = Path::new(env!("CARGO_BIN_EXE_postern-submitd"));
        let activation = options.activated.then(|| {
            SocketActivation::bind(&[("submission", submission), ("submissions", submissions)])
        });
        let mut command = match &activation {
            Some(activation) => activation.command(binary, &config_path),
            None => daemon_command(binary, &config_path),
        };
        command.env(
            "RUST_LOG",
            std::env::var("SUBMITD_LOG").unwrap_or_else(|_| "warn".into()),
        );
        if options.log {
            let log = std::fs::File::create(dir.path().join("submitd.log")).unwrap();
            command.env("RUST_LOG", "debug").stderr(log);
        }
        let mut submitd = ChildProcess::spawn(&mut command);
        drop(activation);
        wait_for_start(&mut submitd, "submitd", async || {
            is_listening(&[submission, submissions])
        })
        .await;
        let server = Server {
            submitd,
            imapd,
            imaps,
            authd: Some(authd),
            dir,
            config_path,
            submission,
            submissions,
            server_cert: certificate.der,
        };
        server
            .admin_ok(AdminRequest::AddressAdd {
                account: ACCOUNT.into(),
                address: ALIAS.into(),
            })
            .await;
        server
    }

    /// Sends `request` to authd's admin socket; panics on an error response.
    pub async fn admin_ok(&self, request: AdminRequest) -> AdminResponse {
        postern_testkit::admin(&self.dir.path().join("run/admin.sock"), request).await
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

    /// Where submitd logs with [`Options::log`].
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("submitd.log")
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

    /// Kills authd (the tests of what happens when it is gone).
    pub fn stop_authd(&mut self) {
        self.authd = None;
    }

    /// A rustls client configuration trusting the server certificate, with an optional
    /// client certificate, limited to TLS 1.2 when `tls12` is set.
    pub fn client_config(
        &self,
        client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
        tls12: bool,
    ) -> Arc<rustls::ClientConfig> {
        let version = if tls12 {
            &rustls::version::TLS12
        } else {
            &rustls::version::TLS13
        };
        tls_client_config(&self.server_cert, client, &[version])
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
    ClientCertificate::generate("laptop").into_parts()
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
