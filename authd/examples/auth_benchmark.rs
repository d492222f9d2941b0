//! Benchmark (not a test): auth round trips per second over authd's Unix socket, login
//! recording included, against the real `postern-authd` binary.
//!
//! ```text
//! cargo build --release --workspace --examples
//! target/release/examples/auth_benchmark [--seconds N] [--connections N]
//! ```
//! Prints EXTERNAL lookups/s and full SCRAM-SHA-256 exchanges/s.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use postern_authd::password::ScramHash;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AuthRequest, AuthResponse, SaslReply};
use postern_ipc::client::{AdminConnection, AuthConnection};
use postern_ipc::{ConnectionInfo, KeyFingerprint, Mechanism, Protocol, Secret, TlsInfo};
use sha2::Digest as _;

struct Options {
    seconds: u64,
    connections: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut options = Options {
        seconds: 5,
        connections: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().context("missing value")?;
        match arg.as_str() {
            "--seconds" => options.seconds = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            other => bail!("unknown option {other}; use --seconds N --connections N"),
        }
    }
    Ok(options)
}

fn authd_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("cannot find the target directory")?;
    let path = dir.join("postern-authd");
    if !path.exists() {
        bail!(
            "{} missing: cargo build --release --workspace",
            path.display()
        );
    }
    Ok(path)
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connection(key: Option<KeyFingerprint>, n: usize) -> ConnectionInfo {
    ConnectionInfo {
        protocol: Protocol::Imap,
        remote_ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
            .parse()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        local_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: Some(TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            channel_binding: Some(Secret(vec![7; 32])),
        }),
        client_key: key,
        user_agent: Some("auth_benchmark".into()),
    }
}

async fn external_round(
    auth: &mut AuthConnection,
    key: KeyFingerprint,
    n: usize,
) -> anyhow::Result<()> {
    let response = auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::External,
            initial_response: Some(Secret(Vec::new())),
            connection: connection(Some(key), n),
        })
        .await?;
    match response {
        AuthResponse::Sasl(SaslReply::Success(_)) => Ok(()),
        other => bail!("EXTERNAL failed: {other:?}"),
    }
}

/// The client's cached keys (RFC 5802 lets clients cache them per salt).
struct ScramKeys {
    client_key: Vec<u8>,
    server_key: Vec<u8>,
}

async fn scram_round(auth: &mut AuthConnection, keys: &ScramKeys, n: usize) -> anyhow::Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let hash = ScramHash::Sha256;
    let bare = format!("n=bench@example.org,r=benchnonce{n}");
    let response = auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::ScramSha256Plus,
            initial_response: Some(Secret(format!("p=tls-exporter,,{bare}").into_bytes())),
            connection: connection(None, n),
        })
        .await?;
    let AuthResponse::Sasl(SaslReply::Challenge(server_first)) = response else {
        bail!("no server-first: {response:?}");
    };
    let server_first = String::from_utf8(server_first)?;
    let nonce = server_first
        .split(',')
        .next()
        .and_then(|r| r.strip_prefix("r="))
        .context("no nonce")?;
    let mut cb = b"p=tls-exporter,,".to_vec();
    cb.extend_from_slice(&[7; 32]);
    let without_proof = format!("c={},r={nonce}", b64.encode(&cb));
    let auth_message = format!("{bare},{server_first},{without_proof}");
    let stored_key = hash.hash(&keys.client_key);
    let signature = hash.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = keys
        .client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let response = auth
        .call(AuthRequest::SaslStep {
            response: Secret(format!("{without_proof},p={}", b64.encode(proof)).into_bytes()),
        })
        .await?;
    let AuthResponse::Sasl(SaslReply::Challenge(server_final)) = response else {
        bail!("no server-final: {response:?}");
    };
    let expected = format!(
        "v={}",
        b64.encode(hash.hmac(&keys.server_key, auth_message.as_bytes()))
    );
    if server_final != expected.as_bytes() {
        bail!("server signature wrong");
    }
    let response = auth
        .call(AuthRequest::SaslStep {
            response: Secret(Vec::new()),
        })
        .await?;
    match response {
        AuthResponse::Sasl(SaslReply::Success(_)) => Ok(()),
        other => bail!("SCRAM failed: {other:?}"),
    }
}

async fn measure<F, Fut>(
    name: &str,
    options: &Options,
    socket: &Path,
    round: F,
) -> anyhow::Result<()>
where
    F: Fn(AuthConnection, Arc<AtomicU64>, Instant) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let count = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..options.connections {
        let auth = AuthConnection::connect(socket).await?;
        tasks.push(tokio::spawn(round(auth, count.clone(), deadline)));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = count.load(Ordering::Relaxed);
    println!(
        "{name}: {total} in {elapsed:.2} s over {} connections = {:.0}/s",
        options.connections,
        total as f64 / elapsed
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    let dir = tempfile::tempdir()?;
    let uid = nix::unistd::getuid().as_raw();
    let config = dir.path().join("postern.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"bench.test\"\ndata_dir = \"data\"\nruntime_dir = \"run\"\nlocalserve = true\n\n[authd]\nuser = {uid}\nimap_callers = [{uid}]\nsubmission_callers = []\nweb_callers = []\nadmin_users = [{uid}]\nmail_store = false\n"
        ),
    )?;
    let _authd = Running(
        Command::new(authd_binary()?)
            .arg("--config")
            .arg(&config)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::null())
            .spawn()?,
    );
    let admin_socket = dir.path().join("run/admin.sock");
    let auth_socket = dir.path().join("run/auth.sock");
    let mut admin = loop {
        if let Ok(admin) = AdminConnection::connect(&admin_socket).await {
            break admin;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let password = "benchmark password";
    for request in [
        AdminRequest::AccountAdd {
            account: "bench".into(),
            address: "bench@example.org".into(),
        },
        AdminRequest::AccountSetPassword {
            account: "bench".into(),
            password: Secret(password.into()),
        },
    ] {
        if let AdminResponse::Error(e) = admin.call(request).await? {
            bail!("{e}");
        }
    }
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = rcgen::CertificateParams::new(vec!["bench".into()])?.self_signed(&key_pair)?;
    let key = KeyFingerprint(
        sha2::Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key_pair)).into(),
    );
    if let AdminResponse::Error(e) = admin
        .call(AdminRequest::TlsPublicKeyAdd {
            account: "bench".into(),
            login_address: "bench@example.org".into(),
            certificate_der: cert.der().to_vec(),
            name: None,
            no_imap_preauth: false,
        })
        .await?
    {
        bail!("{e}");
    }

    measure(
        "EXTERNAL lookups",
        &options,
        &auth_socket,
        move |mut auth, count, deadline| async move {
            let mut n = 0;
            while Instant::now() < deadline {
                external_round(&mut auth, key, n).await?;
                count.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            Ok(())
        },
    )
    .await?;

    // The client side derives its keys once, as real clients may.
    let mut probe = AuthConnection::connect(&auth_socket).await?;
    let response = probe
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::ScramSha256,
            initial_response: Some(Secret(b"n,,n=bench@example.org,r=probenonce".to_vec())),
            connection: connection(None, 0),
        })
        .await?;
    let AuthResponse::Sasl(SaslReply::Challenge(first)) = response else {
        bail!("no server-first");
    };
    let first = String::from_utf8(first)?;
    let salt = first
        .split(',')
        .find_map(|a| a.strip_prefix("s="))
        .context("no salt")?;
    let salt = base64::engine::general_purpose::STANDARD.decode(salt)?;
    let salted = ScramHash::Sha256.salted_password(password.as_bytes(), &salt, 4096);
    let keys = Arc::new(ScramKeys {
        client_key: ScramHash::Sha256.hmac(&salted, b"Client Key"),
        server_key: ScramHash::Sha256.hmac(&salted, b"Server Key"),
    });
    measure(
        "SCRAM-SHA-256-PLUS exchanges",
        &options,
        &auth_socket,
        move |mut auth, count, deadline| {
            let keys = keys.clone();
            async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    scram_round(&mut auth, &keys, n).await?;
                    count.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                Ok(())
            }
        },
    )
    .await?;
    let AdminResponse::LoginAttempts(attempts) = admin
        .call(AdminRequest::LoginAttempts {
            account: Some("bench".into()),
            limit: None,
        })
        .await?
    else {
        bail!("no login attempts");
    };
    let recorded: u64 = attempts.iter().map(|a| a.count).sum();
    println!(
        "login attempts recorded for the account: {recorded} in {} rows",
        attempts.len()
    );
    Ok(())
}
