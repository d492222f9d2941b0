//! Starts the real `postern-authd` binary on a temporary directory and connects to it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AuthRequest, AuthResponse, SaslReply};
use postern_ipc::client::{AdminConnection, AuthConnection};
use postern_ipc::{ConnectionInfo, Mechanism, Protocol, Secret, TlsInfo};

/// A running authd with its own directory.
pub struct Authd {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

pub fn current_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// Config text for a test authd. `callers` lines go into the [authd] table.
pub fn config_text(dir: &Path, authd_extra: &str) -> String {
    let uid = current_uid();
    format!(
        r#"hostname = "mail.test"
data_dir = "{data}"
runtime_dir = "{run}"
localserve = true

[authd]
user = {uid}
admin_users = [{uid}]
mail_store = false
argon2_memory_kib = 256
argon2_iterations = 1
{authd_extra}
"#,
        data = dir.join("data").display(),
        run = dir.join("run").display(),
    )
}

pub fn all_protocols() -> String {
    let uid = current_uid();
    format!("imap_callers = [{uid}]\nsubmission_callers = [{uid}]\nweb_callers = [{uid}]\n")
}

impl Authd {
    /// Starts authd allowing the current uid every protocol.
    pub async fn start() -> Authd {
        Authd::start_with(&all_protocols()).await
    }

    pub async fn start_with(authd_extra: &str) -> Authd {
        Authd::spawn(authd_extra, false).await
    }

    /// Starts authd allowing every protocol, logging at level info to
    /// [`Authd::log_path`].
    pub async fn start_logging() -> Authd {
        Authd::spawn(&all_protocols(), true).await
    }

    async fn spawn(authd_extra: &str, log: bool) -> Authd {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("postern.toml");
        std::fs::write(&config_path, config_text(dir.path(), authd_extra)).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_postern-authd"));
        command
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null());
        if log {
            let file = std::fs::File::create(dir.path().join("authd.log")).unwrap();
            command.env("RUST_LOG", "info").stderr(file);
        }
        let child = command.spawn().unwrap();
        let mut authd = Authd {
            child,
            dir,
            config_path,
        };
        authd.wait_until_ready().await;
        authd
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("authd exited at start: {status}");
            }
            if AdminConnection::connect(&self.admin_socket()).await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "authd did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills authd and starts it again on its (possibly rewritten) config, logging
    /// warnings to stderr.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Command::new(env!("CARGO_BIN_EXE_postern-authd"))
            .arg("--config")
            .arg(&self.config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.wait_until_ready().await;
    }

    pub fn auth_socket(&self) -> PathBuf {
        self.dir.path().join("run/auth.sock")
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.dir.path().join("run/admin.sock")
    }

    /// Where [`Authd::start_logging`] sends authd's log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("authd.log")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn admin(&self) -> AdminConnection {
        AdminConnection::connect(&self.admin_socket())
            .await
            .unwrap()
    }

    pub async fn auth(&self) -> AuthConnection {
        AuthConnection::connect(&self.auth_socket()).await.unwrap()
    }

    /// Runs an admin request that must succeed.
    pub async fn admin_ok(&self, request: AdminRequest) -> AdminResponse {
        let response = self.admin().await.call(request.clone()).await.unwrap();
        if let AdminResponse::Error(message) = &response {
            panic!("{request:?} failed: {message}");
        }
        response
    }

    pub async fn add_account(&self, account: &str, address: &str, password: &str) {
        self.admin_ok(AdminRequest::AccountAdd {
            account: account.into(),
            address: address.into(),
        })
        .await;
        self.admin_ok(AdminRequest::AccountSetPassword {
            account: account.into(),
            password: Secret(password.into()),
        })
        .await;
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Authd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Facts of a client connection from `remote`.
pub fn connection(
    protocol: Protocol,
    remote: IpAddr,
    channel_binding: Option<&[u8]>,
) -> ConnectionInfo {
    ConnectionInfo {
        protocol,
        remote_ip: remote,
        local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls: channel_binding.map(|cb| TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_256_GCM_SHA384".into(),
            channel_binding: Some(Secret(cb.to_vec())),
        }),
        client_key: None,
        user_agent: Some("test-client/1.0".into()),
    }
}

pub fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// A PLAIN login in one request.
pub async fn plain_login(
    auth: &mut AuthConnection,
    connection: ConnectionInfo,
    username: &str,
    password: &str,
) -> SaslReply {
    let message = format!("\0{username}\0{password}").into_bytes();
    match auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret(message)),
            connection,
        })
        .await
        .unwrap()
    {
        AuthResponse::Sasl(reply) => reply,
        other => panic!("unexpected {other:?}"),
    }
}

/// Runs a SASL step and returns authd's reply.
pub async fn sasl(auth: &mut AuthConnection, request: AuthRequest) -> SaslReply {
    match auth.call(request).await.unwrap() {
        AuthResponse::Sasl(reply) => reply,
        other => panic!("unexpected {other:?}"),
    }
}
