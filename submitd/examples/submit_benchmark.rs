//! A load generator for postern-submitd: messages per second submitted, and delivered
//! locally into an account's Inbox.
//!
//! It starts its own postern-authd, postern-imapd and postern-submitd (the binaries next
//! to this example in `target/<profile>/`, or `--bin-dir`) on a temporary directory with
//! a self-signed certificate and `[ratelimit] trusted_networks` set to loopback, so the
//! per-network connection limits do not cap the load. It creates one account with one
//! address and a password through authd's admin socket. Then `--clients` concurrent SMTP
//! clients each open one connection to the submission port (STARTTLS, or the implicit-TLS
//! port with `--implicit-tls`), log in once with AUTH PLAIN and submit `--messages`
//! messages of about `--size` bytes over that connection (RSET between messages), from
//! and to the account's address. Once every client is done, one IMAP connection (over
//! implicit TLS, opened before the load) polls `STATUS INBOX (MESSAGES)` every
//! `--poll-interval-ms` until every accepted message is in the Inbox; it does not poll
//! during the submissions, so counting takes no CPU from them (the last message cannot
//! be delivered before its `250` anyway).
//!
//! It prints:
//! * messages/s submitted: all messages over the time from the first connect to the last
//!   `250` after DATA (TLS handshakes and logins included);
//! * p50/p99/max latency from the DATA command to the message's `250`, and from the end
//!   of the message data (the final dot) to it (submitd has the message on disk in its
//!   queue then);
//! * messages/s delivered locally: all messages over the time from the first connect
//!   until STATUS counts them all in the Inbox (each went through submitd's queue and
//!   imapd's store socket);
//! * the machine (cores, CPU model, load average) and the build profile.
//!
//! ```text
//! cargo build --release -p postern-authd -p postern-imapd -p postern-submitd --examples
//! target/release/examples/submit_benchmark
//! target/release/examples/submit_benchmark --clients 32 --messages 50 --size 10000
//! target/release/examples/submit_benchmark --implicit-tls
//! ```
//!
//! Postfix's `smtp-source` (Debian package postfix) is the classic load generator, but
//! it speaks neither STARTTLS nor AUTH, which submission requires before MAIL FROM; so
//! this program is its own client. For comparison against a server that accepts mail
//! without them (e.g. a Postfix relay on port 25), the same load would be:
//!
//! ```text
//! smtp-source -c -d -s 8 -m 800 -l 2000 -f bench@bench.test -t bench@bench.test \
//!     -S "benchmark" 127.0.0.1:25
//! ```
//!
//! (`-s` sessions in parallel, `-m` messages in total, `-d` reuses each connection,
//! `-l` message size in bytes).

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The account the messages are submitted by and delivered to.
const BENCH_ACCOUNT: &str = "bench";
/// Its address: MAIL FROM, RCPT TO and the From: header.
const BENCH_ADDRESS: &str = "bench@bench.test";
/// Its password.
const BENCH_PASSWORD: &str = "benchmark password 1234";
/// Longest reply line read from submitd or imapd.
const MAX_LINE: u64 = 64 * 1024;
/// Most lines in one SMTP reply or one IMAP command's response.
const MAX_LINES: usize = 1000;
/// How long one reply may take before the benchmark gives up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "submit_benchmark",
    about = "Messages/s submitted to postern-submitd and delivered into a local Inbox"
)]
struct Options {
    /// Concurrent SMTP clients, each on its own connection.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Messages each client submits over its connection.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Approximate size of each message in bytes, headers included.
    #[arg(long, default_value_t = 2000)]
    size: usize,
    /// Use the implicit-TLS port (465-style) instead of STARTTLS on the submission port.
    #[arg(long)]
    implicit_tls: bool,
    /// Seconds to wait for all messages to reach the Inbox.
    #[arg(long, default_value_t = 300)]
    delivery_timeout: u64,
    /// Milliseconds between two counts of the Inbox (IMAP STATUS), which start once
    /// every client is done.
    #[arg(long, default_value_t = 20)]
    poll_interval_ms: u64,
    /// Where postern-authd, postern-imapd and postern-submitd are (default: next to
    /// this example, target/<profile>/).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

/// A daemon process, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The authd, imapd and submitd the benchmark started; stopped on drop (submitd first,
/// as fields are dropped in order), then the temporary directory is removed.
struct OwnServer {
    _submitd: Daemon,
    _imapd: Daemon,
    _authd: Daemon,
    dir: tempfile::TempDir,
    /// STARTTLS submission address.
    submission: SocketAddr,
    /// Implicit-TLS submission address.
    submissions: SocketAddr,
    /// Implicit-TLS IMAP address.
    imaps: SocketAddr,
    /// The server certificate, trusted by the clients.
    cert: CertificateDer<'static>,
}

impl OwnServer {
    /// The last lines of each daemon's log, for a failed run.
    fn print_log_tails(&self) {
        for name in ["submitd", "imapd", "authd"] {
            let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("--- end of {name}'s log");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The directory of the daemon binaries: `--bin-dir`, or the parent of
/// `target/<profile>/examples/`.
fn bin_dir(options: &Options) -> Result<PathBuf> {
    let dir = match &options.bin_dir {
        Some(dir) => dir.clone(),
        None => {
            let exe = std::env::current_exe()?;
            exe.parent()
                .and_then(Path::parent)
                .ok_or_else(|| anyhow!("cannot place {}", exe.display()))?
                .to_path_buf()
        }
    };
    for binary in ["postern-authd", "postern-imapd", "postern-submitd"] {
        if !dir.join(binary).is_file() {
            bail!(
                "{binary} is not in {}: build it (cargo build --release -p postern-authd \
                 -p postern-imapd -p postern-submitd --examples) or pass --bin-dir",
                dir.display()
            );
        }
    }
    Ok(dir)
}

/// Waits until `ready` succeeds, failing with the daemon's log when it exits first or
/// after 30 s.
async fn wait_until_ready<T, E, F>(
    daemon: &mut Daemon,
    name: &str,
    dir: &Path,
    ready: impl Fn() -> F,
) -> Result<()>
where
    F: std::future::Future<Output = std::result::Result<T, E>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready().await.is_err() {
        if let Some(status) = daemon.0.try_wait()? {
            let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
            bail!("{name} exited at start ({status}):\n{log}");
        }
        if Instant::now() > deadline {
            bail!("{name} did not start within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Sends one request on authd's admin socket; an error answer is an error.
async fn admin(socket: &Path, request: AdminRequest) -> Result<()> {
    let mut conn = AdminConnection::connect(socket).await?;
    match conn.call(request).await? {
        AdminResponse::Error(message) => bail!("authd: {message}"),
        _ => Ok(()),
    }
}

/// Starts one daemon binary with the config, its output going to `<name>.log`.
fn spawn_daemon(bin: &Path, binary: &str, name: &str, dir: &Path, config: &Path) -> Result<Daemon> {
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = Command::new(bin.join(binary))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("LISTEN_FDS")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {binary}"))?;
    Ok(Daemon(child))
}

/// Starts authd, imapd and submitd on a temporary directory, all as the current user
/// (submitd's uid is an authd submission caller and an imapd store caller), and creates
/// the benchmark account.
async fn start_server(options: &Options) -> Result<OwnServer> {
    let bin = bin_dir(options)?;
    let dir = tempfile::tempdir()?;
    let uid = nix::unistd::getuid().as_raw();
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
    std::fs::write(dir.path().join("cert.pem"), cert.pem())?;
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem())?;
    let addr = || -> Result<SocketAddr> { Ok(format!("127.0.0.1:{}", free_port()?).parse()?) };
    let (imap, imaps, submission, submissions) = (addr()?, addr()?, addr()?, addr()?);
    // Cheap argon2: one login per connection, and the benchmark measures submission,
    // not password hashing.
    let config = format!(
        r#"hostname = "bench.test"
data_dir = "{data}"
runtime_dir = "{run}"

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
imap_listen = ["{imap}"]
imaps_listen = ["{imaps}"]
tls_certificate = "{cert}"
tls_key = "{key}"
store_callers = [{uid}]

[submitd]
user = {uid}
submission_listen = ["{submission}"]
submissions_listen = ["{submissions}"]
tls_certificate = "{cert}"
tls_key = "{key}"

[ratelimit]
trusted_networks = ["127.0.0.0/8"]
"#,
        data = dir.path().join("data").display(),
        run = dir.path().join("run").display(),
        cert = dir.path().join("cert.pem").display(),
        key = dir.path().join("key.pem").display(),
    );
    let config_path = dir.path().join("postern.toml");
    std::fs::write(&config_path, config)?;
    // authd first: it creates the data directory the others' go into.
    let mut authd = spawn_daemon(&bin, "postern-authd", "authd", dir.path(), &config_path)?;
    let admin_socket = dir.path().join("run/admin.sock");
    wait_until_ready(&mut authd, "authd", dir.path(), || {
        AdminConnection::connect(&admin_socket)
    })
    .await?;
    let mut imapd = spawn_daemon(&bin, "postern-imapd", "imapd", dir.path(), &config_path)?;
    wait_until_ready(&mut imapd, "imapd", dir.path(), || {
        TcpStream::connect(imaps)
    })
    .await?;
    let mut submitd = spawn_daemon(&bin, "postern-submitd", "submitd", dir.path(), &config_path)?;
    wait_until_ready(&mut submitd, "submitd", dir.path(), || async {
        TcpStream::connect(submission).await?;
        TcpStream::connect(submissions).await
    })
    .await?;
    admin(
        &admin_socket,
        AdminRequest::AccountAdd {
            account: BENCH_ACCOUNT.into(),
            address: BENCH_ADDRESS.into(),
        },
    )
    .await?;
    admin(
        &admin_socket,
        AdminRequest::AccountSetPassword {
            account: BENCH_ACCOUNT.into(),
            password: Secret(BENCH_PASSWORD.into()),
        },
    )
    .await?;
    Ok(OwnServer {
        _submitd: submitd,
        _imapd: imapd,
        _authd: authd,
        dir,
        submission,
        submissions,
        imaps,
        cert: cert.der().clone(),
    })
}

/// A line-based connection (SMTP or IMAP) with bounded reads and a timeout per line.
struct LineConnection<S> {
    stream: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> LineConnection<S> {
    fn new(stream: S) -> Self {
        LineConnection {
            stream: BufReader::new(stream),
        }
    }

    /// Reads one line, without its CRLF.
    async fn line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let mut limited = (&mut self.stream).take(MAX_LINE);
        let n = tokio::time::timeout(REPLY_TIMEOUT, limited.read_until(b'\n', &mut line))
            .await
            .map_err(|_| anyhow!("no answer within {} s", REPLY_TIMEOUT.as_secs()))??;
        if n == 0 {
            bail!("connection closed by the server");
        }
        if !line.ends_with(b"\n") {
            bail!("line longer than {MAX_LINE} bytes");
        }
        let text = String::from_utf8_lossy(&line);
        Ok(text.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads one SMTP reply, possibly multi-line, and checks its code.
    async fn reply(&mut self, expected: u16) -> Result<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                break;
            }
            if lines.len() >= MAX_LINES {
                bail!("reply of more than {MAX_LINES} lines");
            }
        }
        let text = lines.join("\n");
        let code = text.get(..3).and_then(|c| c.parse::<u16>().ok());
        if code != Some(expected) {
            bail!("expected {expected}, got {text:?}");
        }
        Ok(text)
    }

    /// Writes bytes and flushes.
    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.get_mut().write_all(bytes).await?;
        self.stream.get_mut().flush().await?;
        Ok(())
    }

    /// Sends an SMTP command and checks the reply's code.
    async fn command(&mut self, command: &str, expected: u16) -> Result<String> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        self.reply(expected).await
    }
}

/// What the clients need to connect and log in.
#[derive(Clone)]
struct Target {
    submission: SocketAddr,
    submissions: SocketAddr,
    implicit_tls: bool,
    tls: tokio_rustls::TlsConnector,
}

type TlsLines = LineConnection<tokio_rustls::client::TlsStream<TcpStream>>;

impl Target {
    /// Connects, gets to TLS (implicit or STARTTLS), says EHLO and logs in.
    async fn login(&self) -> Result<TlsLines> {
        let server_name = ServerName::try_from("localhost")?;
        let mut conn = if self.implicit_tls {
            let tcp = TcpStream::connect(self.submissions).await?;
            tcp.set_nodelay(true)?;
            let tls = self.tls.connect(server_name, tcp).await?;
            let mut conn = LineConnection::new(tls);
            conn.reply(220).await.context("greeting")?;
            conn
        } else {
            let tcp = TcpStream::connect(self.submission).await?;
            tcp.set_nodelay(true)?;
            let mut plain = LineConnection::new(tcp);
            plain.reply(220).await.context("greeting")?;
            plain.command("EHLO client.bench.test", 250).await?;
            plain.command("STARTTLS", 220).await?;
            if !plain.stream.buffer().is_empty() {
                bail!("data after the STARTTLS reply");
            }
            let tls = self
                .tls
                .connect(server_name, plain.stream.into_inner())
                .await?;
            LineConnection::new(tls)
        };
        conn.command("EHLO client.bench.test", 250).await?;
        conn.command(&format!("AUTH PLAIN {}", auth_plain()), 235)
            .await
            .context("AUTH PLAIN")?;
        Ok(conn)
    }
}

/// The AUTH PLAIN initial response for the benchmark account.
fn auth_plain() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{BENCH_ADDRESS}\0{BENCH_PASSWORD}"))
}

/// Message `n` of `client`, about `size` bytes with CRLF line ends; no body line
/// starts with a dot, so it needs no dot-stuffing.
fn message(client: usize, n: usize, size: usize) -> Vec<u8> {
    let mut text = format!(
        "From: Benchmark <{BENCH_ADDRESS}>\r\nTo: <{BENCH_ADDRESS}>\r\n\
         Subject: benchmark message {n} of client {client}\r\n\
         Date: Tue, 24 Nov 2026 20:00:00 +0000\r\n\
         Message-ID: <bench-{client}-{n}@client.bench.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    let line = "The quick brown fox jumps over the lazy dog, and the benchmark counts it.\r\n";
    while text.len() + line.len() <= size {
        text.push_str(line);
    }
    text.push_str("bye\r\n");
    text.into_bytes()
}

/// What one client measured.
#[derive(Default)]
struct ClientResult {
    /// Latency from the DATA command to the `250` of each accepted message.
    latencies: Vec<Duration>,
    /// Latency from the end of the message data (the final dot) to its `250`.
    end_latencies: Vec<Duration>,
    /// When the last `250` after DATA came.
    last_accepted: Option<Instant>,
    /// What went wrong, if the client stopped early.
    error: Option<String>,
}

/// One client: one connection, one login, `messages` messages with RSET between them.
async fn run_client(target: Target, client: usize, messages: usize, size: usize) -> ClientResult {
    let mut result = ClientResult::default();
    if let Err(e) = submit_messages(&target, client, messages, size, &mut result).await {
        result.error = Some(format!("{e:#}"));
    }
    result
}

async fn submit_messages(
    target: &Target,
    client: usize,
    messages: usize,
    size: usize,
    result: &mut ClientResult,
) -> Result<()> {
    let mut conn = target.login().await?;
    for n in 0..messages {
        if n > 0 {
            conn.command("RSET", 250).await?;
        }
        let data = message(client, n, size);
        conn.command(
            &format!("MAIL FROM:<{BENCH_ADDRESS}> SIZE={}", data.len()),
            250,
        )
        .await
        .context("MAIL FROM")?;
        conn.command(&format!("RCPT TO:<{BENCH_ADDRESS}>"), 250)
            .await
            .context("RCPT TO")?;
        let data_command = Instant::now();
        conn.command("DATA", 354).await?;
        conn.stream.get_mut().write_all(&data).await?;
        let sent = Instant::now();
        conn.send(b".\r\n").await?;
        conn.reply(250).await.context("end of DATA")?;
        let accepted = Instant::now();
        result.latencies.push(accepted - data_command);
        result.end_latencies.push(accepted - sent);
        result.last_accepted = Some(accepted);
    }
    conn.command("QUIT", 221).await?;
    Ok(())
}

/// An IMAP connection to the account that counts its Inbox with STATUS.
struct InboxCounter {
    conn: TlsLines,
    next_tag: u64,
}

impl InboxCounter {
    async fn connect(imaps: SocketAddr, tls: &tokio_rustls::TlsConnector) -> Result<Self> {
        let tcp = TcpStream::connect(imaps).await?;
        tcp.set_nodelay(true)?;
        let stream = tls.connect(ServerName::try_from("localhost")?, tcp).await?;
        let mut counter = InboxCounter {
            conn: LineConnection::new(stream),
            next_tag: 0,
        };
        let greeting = counter.conn.line().await?;
        if !greeting.starts_with("* OK") {
            bail!("IMAP greeting: {greeting}");
        }
        counter
            .command(&format!("LOGIN \"{BENCH_ADDRESS}\" \"{BENCH_PASSWORD}\""))
            .await
            .context("IMAP LOGIN")?;
        Ok(counter)
    }

    /// Sends a command; returns its untagged lines once it completed with OK.
    async fn command(&mut self, command: &str) -> Result<Vec<String>> {
        self.next_tag += 1;
        let tag = format!("b{}", self.next_tag);
        self.conn
            .send(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        let mut untagged = Vec::new();
        loop {
            let line = self.conn.line().await?;
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                if !status.starts_with("OK") {
                    bail!("{command}: {line}");
                }
                return Ok(untagged);
            }
            if untagged.len() >= MAX_LINES {
                bail!("{command}: more than {MAX_LINES} response lines");
            }
            untagged.push(line);
        }
    }

    /// The number of messages in the Inbox.
    async fn count(&mut self) -> Result<usize> {
        let lines = self.command("STATUS INBOX (MESSAGES)").await?;
        lines
            .iter()
            .find_map(|line| {
                let rest = line.strip_prefix("* STATUS ")?;
                let (_, items) = rest.rsplit_once('(')?;
                let number = items.trim_end_matches(')').strip_prefix("MESSAGES ")?;
                number.trim().parse().ok()
            })
            .ok_or_else(|| anyhow!("no MESSAGES in the STATUS response: {lines:?}"))
    }
}

/// The `p`th percentile of sorted `times`.
fn percentile(times: &[Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
    times
        .get(rank.saturating_sub(1).min(times.len() - 1))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Cores, CPU model and load average of this machine, and the build profile.
fn machine_facts() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let parts: Vec<&str> = l.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".into());
    // target/<profile>/examples/submit_benchmark
    let profile_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            Some(
                exe.parent()?
                    .parent()?
                    .file_name()?
                    .to_string_lossy()
                    .into_owned(),
            )
        })
        .unwrap_or_else(|| "unknown".into());
    let assertions = if cfg!(debug_assertions) {
        "debug assertions on"
    } else {
        "optimized, no debug assertions"
    };
    format!(
        "machine: {cores} cores available ({model}), load average {load}\n\
         build profile: {profile_dir} ({assertions})"
    )
}

fn main() -> std::process::ExitCode {
    let options = Options::parse();
    let result = if options.clients == 0 || options.messages == 0 {
        Err(anyhow!("--clients and --messages must be at least 1"))
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run(options)))
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("submit_benchmark: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<()> {
    println!("{}", machine_facts());
    let server = start_server(&options).await?;
    let result = benchmark(&options, &server).await;
    if result.is_err() {
        server.print_log_tails();
    }
    result
}

async fn benchmark(options: &Options, server: &OwnServer) -> Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server.cert.clone())?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    let target = Target {
        submission: server.submission,
        submissions: server.submissions,
        implicit_tls: options.implicit_tls,
        tls: tls.clone(),
    };
    let total = options.clients * options.messages;
    let sample_size = message(0, 0, options.size).len();
    println!(
        "load: {} clients × {} messages = {total} messages of {sample_size} bytes, {}; each \
         client logs in once (AUTH PLAIN) and reuses its connection for all its messages \
         (RSET between them); all to one local account's Inbox",
        options.clients,
        options.messages,
        if options.implicit_tls {
            "implicit TLS (submissions port)"
        } else {
            "STARTTLS on the submission port"
        },
    );
    let mut counter = InboxCounter::connect(server.imaps, &tls).await?;
    let before = counter.count().await?;
    if before != 0 {
        bail!("the Inbox holds {before} messages before the benchmark");
    }

    let started = Instant::now();
    let clients: Vec<_> = (0..options.clients)
        .map(|client| {
            tokio::spawn(run_client(
                target.clone(),
                client,
                options.messages,
                options.size,
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut end_latencies = Vec::with_capacity(total);
    let mut last_accepted = None;
    let mut errors = Vec::new();
    for (client, task) in clients.into_iter().enumerate() {
        let result = task.await?;
        latencies.extend(result.latencies);
        end_latencies.extend(result.end_latencies);
        last_accepted = last_accepted.max(result.last_accepted);
        if let Some(error) = result.error {
            errors.push(format!("client {client}: {error}"));
        }
    }
    let accepted = latencies.len();
    for error in &errors {
        println!("error: {error}");
    }
    let Some(last_accepted) = last_accepted else {
        bail!("no message was accepted");
    };
    let submit_time = last_accepted - started;
    println!(
        "submitted: {accepted} messages in {:.2} s (first connect to last 250): {:.0} \
         messages/s",
        submit_time.as_secs_f64(),
        accepted as f64 / submit_time.as_secs_f64()
    );
    for (label, times) in [
        ("DATA→250 latency (DATA command to 250)", &mut latencies),
        (
            "end of data→250 (final dot to 250, queued on disk)",
            &mut end_latencies,
        ),
    ] {
        times.sort();
        println!(
            "{label}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(times, 50.0)),
            ms(percentile(times, 99.0)),
            ms(times.last().copied().unwrap_or_default())
        );
    }

    // The last message cannot be delivered before it was accepted: counting only starts
    // now, so it takes no CPU from the submission.
    let deadline = started + Duration::from_secs(options.delivery_timeout);
    let poll_interval = Duration::from_millis(options.poll_interval_ms.max(1));
    let (in_inbox, counted_at) = loop {
        let n = match counter.count().await {
            Ok(n) => n,
            // The connection may have been idle long enough for imapd to close it.
            Err(_) => {
                counter = InboxCounter::connect(server.imaps, &tls).await?;
                counter.count().await?
            }
        };
        if n >= accepted || Instant::now() > deadline {
            break (n, Instant::now());
        }
        tokio::time::sleep(poll_interval).await;
    };
    let delivery_time = counted_at - started;
    if in_inbox < accepted {
        bail!(
            "only {in_inbox} of {accepted} accepted messages reached the Inbox within {} s",
            options.delivery_timeout
        );
    }
    println!(
        "delivered: {in_inbox} messages in the Inbox {:.2} s after the first connect \
         ({:.2} s after the last 250): {:.0} messages/s delivered locally",
        delivery_time.as_secs_f64(),
        counted_at
            .saturating_duration_since(last_accepted)
            .as_secs_f64(),
        in_inbox as f64 / delivery_time.as_secs_f64()
    );
    if !errors.is_empty() {
        bail!("{} of {} clients failed", errors.len(), options.clients);
    }
    Ok(())
}
