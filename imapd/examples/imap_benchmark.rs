//! A load generator for postern-imapd.
//!
//! Two modes:
//!
//! * `load` (default): N concurrent clients over IMAPS, each running sessions of LOGIN,
//!   SELECT, FETCH, STORE, APPEND, SEARCH, EXPUNGE and LOGOUT for a while; prints
//!   commands per second and p50/p99 latency per command.
//! * `idle`: opens N authenticated sessions that sit in IDLE, printing imapd's resident
//!   memory (VmRSS from `/proc/PID/status`) as they accumulate; then one APPEND wakes
//!   the sessions of that account and the time until all saw `EXISTS` is printed.
//!
//! Unless `--address` names a running server, it starts its own postern-authd and
//! postern-imapd (the binaries next to this example in `target/<profile>/`) on a
//! temporary directory with a self-signed certificate, `[ratelimit] trusted_networks`
//! set to loopback, and `--accounts` accounts. It raises RLIMIT_NOFILE for itself (and
//! so for the daemons it starts) with `prlimit` when the limit is too low.
//!
//! ```text
//! cargo build --release -p postern-imapd -p postern-authd --examples
//! target/release/examples/imap_benchmark --clients 50 --duration 20
//! target/release/examples/imap_benchmark --mode idle --clients 10000
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::client::AdminConnection;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::client::TlsStream;

/// Largest response line or literal the benchmark reads.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
/// Password of every account the benchmark creates.
const BENCH_PASSWORD: &str = "benchmark password 1234";

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Sessions with a command mix; latency per command.
    Load,
    /// N sessions in IDLE; imapd's memory.
    Idle,
}

const USAGE: &str = "\
usage: imap_benchmark [--mode load|idle] [OPTIONS]

  --mode load|idle     load: sessions with a command mix, latency per command (default);
                       idle: N sessions in IDLE, imapd's memory
  --clients N          concurrent clients or IDLE sessions (20)
  --duration SECS      seconds of load (10)
  --accounts N         accounts the clients are spread over, own server only (20)
  --messages N         messages put into each account's INBOX first, load mode (200)
  --hold SECS          seconds to hold the IDLE sessions once all are open (5)
  --opening N          TLS handshakes and logins in flight at once (64)
  --address HOST:PORT  IMAPS address of a running server instead of starting one;
                       needs --ca, --user and --password
  --ca FILE            that server's certificate or CA (PEM)
  --user LOGIN         the account all clients use on that server
  --password PASSWORD  its password
  --server-name NAME   TLS name to verify with --address (localhost)
  --pid PID            imapd's pid for the memory figures (default: our own imapd, or
                       the only process named postern-imapd)
  --bin-dir DIR        where postern-authd and postern-imapd are (default: next to
                       this example, target/<profile>/)
";

/// Command-line options (see [`USAGE`]).
#[derive(Debug)]
struct Options {
    mode: Mode,
    clients: usize,
    duration: u64,
    accounts: usize,
    messages: usize,
    hold: u64,
    opening: usize,
    address: Option<SocketAddr>,
    ca: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    server_name: String,
    pid: Option<u32>,
    bin_dir: Option<PathBuf>,
}

impl Options {
    /// Parses `--name value` pairs.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
        let mut options = Options {
            mode: Mode::Load,
            clients: 20,
            duration: 10,
            accounts: 20,
            messages: 200,
            hold: 5,
            opening: 64,
            address: None,
            ca: None,
            user: None,
            password: None,
            server_name: "localhost".into(),
            pid: None,
            bin_dir: None,
        };
        fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
            value
                .parse()
                .map_err(|_| anyhow!("{name}: not a number: {value}"))
        }
        while let Some(name) = args.next() {
            if name == "--help" || name == "-h" {
                print!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .ok_or_else(|| anyhow!("{name} needs a value\n{USAGE}"))?;
            match name.as_str() {
                "--mode" => {
                    options.mode = match value.as_str() {
                        "load" => Mode::Load,
                        "idle" => Mode::Idle,
                        _ => bail!("--mode is load or idle"),
                    }
                }
                "--clients" => options.clients = number(&name, &value)?,
                "--duration" => options.duration = number(&name, &value)?,
                "--accounts" => options.accounts = number(&name, &value)?,
                "--messages" => options.messages = number(&name, &value)?,
                "--hold" => options.hold = number(&name, &value)?,
                "--opening" => options.opening = number(&name, &value)?,
                "--address" => options.address = Some(number(&name, &value)?),
                "--ca" => options.ca = Some(value.into()),
                "--user" => options.user = Some(value),
                "--password" => options.password = Some(value),
                "--server-name" => options.server_name = value,
                "--pid" => options.pid = Some(number(&name, &value)?),
                "--bin-dir" => options.bin_dir = Some(value.into()),
                _ => bail!("unknown option {name}\n{USAGE}"),
            }
        }
        if options.address.is_some()
            && (options.ca.is_none() || options.user.is_none() || options.password.is_none())
        {
            bail!("--address needs --ca, --user and --password");
        }
        Ok(options)
    }
}

/// Where the clients connect and as whom.
#[derive(Clone)]
struct Target {
    address: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    /// (login, password) per account.
    accounts: Arc<Vec<(String, String)>>,
}

/// An authd and imapd started by the benchmark; stopped on drop (imapd first, as the
/// fields are dropped in order).
struct OwnServer {
    imapd: Daemon,
    /// Held only to be stopped with the rest.
    _authd: Daemon,
    dir: tempfile::TempDir,
    imaps: SocketAddr,
    cert: CertificateDer<'static>,
}

/// A daemon process, killed when dropped.
struct Daemon(Option<Child>);

impl Daemon {
    fn new(child: Child) -> Daemon {
        Daemon(Some(child))
    }

    fn id(&self) -> Option<u32> {
        self.0.as_ref().map(Child::id)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `ready` succeeds, failing with the daemon's log when it exits first or
/// after 30 s.
async fn wait_for<T, E, F>(
    mut daemon: Daemon,
    name: &str,
    dir: &Path,
    ready: impl Fn() -> F,
) -> Result<Daemon>
where
    F: std::future::Future<Output = std::result::Result<T, E>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while ready().await.is_err() {
        if let Some(child) = &mut daemon.0
            && let Some(status) = child.try_wait()?
        {
            let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
            bail!("{name} exited at start ({status}):\n{log}");
        }
        if Instant::now() > deadline {
            bail!("{name} did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(daemon)
}

fn free_port() -> Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The directory of the daemon binaries: next to `target/<profile>/examples/`.
fn bin_dir(options: &Options) -> Result<PathBuf> {
    if let Some(dir) = &options.bin_dir {
        return Ok(dir.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow!("cannot place {}", exe.display()))?;
    for binary in ["postern-authd", "postern-imapd"] {
        if !dir.join(binary).is_file() {
            bail!(
                "{binary} is not in {}: build it (cargo build --release -p postern-imapd \
                 -p postern-authd --examples) or pass --bin-dir",
                dir.display()
            );
        }
    }
    Ok(dir.to_path_buf())
}

/// Raises RLIMIT_NOFILE of this process (inherited by the daemons it starts) to what
/// `clients` connections need in each process, with `prlimit`.
fn raise_fd_limit(clients: usize) {
    let want = (clients + 1024).max(4096);
    let current = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(0);
    if current >= want {
        return;
    }
    let status = Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={want}:{want}"))
        .status();
    match status {
        Ok(s) if s.success() => eprintln!("RLIMIT_NOFILE raised from {current} to {want}"),
        _ => eprintln!(
            "warning: cannot raise RLIMIT_NOFILE from {current} to {want} (prlimit failed); \
             sessions beyond the limit will fail"
        ),
    }
}

async fn admin(socket: &Path, request: AdminRequest) -> Result<()> {
    let mut conn = AdminConnection::connect(socket).await?;
    match conn.call(request).await? {
        AdminResponse::Error(message) => bail!("authd: {message}"),
        _ => Ok(()),
    }
}

/// Starts authd and imapd on a temp directory with `accounts` accounts.
async fn start_server(options: &Options) -> Result<OwnServer> {
    let bin = bin_dir(options)?;
    let dir = tempfile::tempdir()?;
    let uid = nix::unistd::getuid().as_raw();
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])?.self_signed(&key)?;
    std::fs::write(dir.path().join("cert.pem"), cert.pem())?;
    std::fs::write(dir.path().join("key.pem"), key.serialize_pem())?;
    let imap: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let imaps: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    // Cheap argon2: the benchmark measures imapd, not password hashing.
    let config = format!(
        r#"hostname = "bench.test"
data_dir = "{data}"
runtime_dir = "{run}"
localserve = true

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
    let log = |name: &str| -> Result<Stdio> {
        Ok(Stdio::from(std::fs::File::create(
            dir.path().join(format!("{name}.log")),
        )?))
    };
    let authd = Daemon::new(
        Command::new(bin.join("postern-authd"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log("authd-out")?)
            .stderr(log("authd")?)
            .spawn()
            .context("starting postern-authd")?,
    );
    // authd first: it creates the data directory imapd's store goes into.
    let admin_socket = dir.path().join("run/admin.sock");
    let authd = wait_for(authd, "authd", dir.path(), || {
        AdminConnection::connect(&admin_socket)
    })
    .await?;
    let imapd = Daemon::new(
        Command::new(bin.join("postern-imapd"))
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .env_remove("LISTEN_FDS")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdin(Stdio::null())
            .stdout(log("imapd-out")?)
            .stderr(log("imapd")?)
            .spawn()
            .context("starting postern-imapd")?,
    );
    let imapd = wait_for(imapd, "imapd", dir.path(), || TcpStream::connect(imaps)).await?;
    let server = OwnServer {
        dir,
        _authd: authd,
        imapd,
        imaps,
        cert: cert.der().clone(),
    };
    for i in 0..options.accounts.max(1) {
        let account = format!("bench{i}");
        admin(
            &admin_socket,
            AdminRequest::AccountAdd {
                account: account.clone(),
                address: format!("{account}@bench.test"),
            },
        )
        .await?;
        admin(
            &admin_socket,
            AdminRequest::AccountSetPassword {
                account,
                password: Secret(BENCH_PASSWORD.into()),
            },
        )
        .await?;
    }
    Ok(server)
}

/// One IMAP connection over TLS with a literal-aware response reader.
struct Connection {
    stream: BufReader<TlsStream<TcpStream>>,
    next_tag: u64,
}

/// A completed command: its untagged responses and the tagged status line.
struct Answer {
    untagged: Vec<Vec<u8>>,
    tagged: String,
}

impl Connection {
    async fn connect(target: &Target) -> Result<Connection> {
        let tcp = TcpStream::connect(target.address).await?;
        // Each command goes out in one write; never hold it back.
        tcp.set_nodelay(true)?;
        let tls = target
            .tls
            .connect(target.server_name.clone(), tcp)
            .await
            .context("TLS handshake")?;
        let mut conn = Connection {
            stream: BufReader::new(tls),
            next_tag: 0,
        };
        let greeting = conn.response().await?;
        if !greeting.starts_with(b"* OK") {
            bail!(
                "greeting: {}",
                String::from_utf8_lossy(&greeting).trim_end()
            );
        }
        Ok(conn)
    }

    /// One response with its literals.
    async fn response(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = (&mut self.stream)
                .take((MAX_RESPONSE - start.min(MAX_RESPONSE)) as u64)
                .read_until(b'\n', &mut out)
                .await?;
            if n == 0 {
                bail!("connection closed");
            }
            let line = &out[start..];
            let Some(size) = literal_size(line) else {
                return Ok(out);
            };
            if out.len() + size > MAX_RESPONSE {
                bail!("literal of {size} bytes too big");
            }
            let at = out.len();
            out.resize(at + size, 0);
            self.stream.read_exact(&mut out[at..]).await?;
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(bytes).await?;
        stream.flush().await?;
        Ok(())
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("b{}", self.next_tag)
    }

    async fn until_tagged(&mut self, tag: &str) -> Result<Answer> {
        let mut untagged = Vec::new();
        loop {
            let response = self.response().await?;
            if response.starts_with(format!("{tag} ").as_bytes()) {
                let tagged = String::from_utf8_lossy(&response).trim_end().to_owned();
                return Ok(Answer { untagged, tagged });
            }
            untagged.push(response);
        }
    }

    /// Runs a command; an error unless it ends in OK.
    async fn command(&mut self, text: &str) -> Result<Answer> {
        let tag = self.tag();
        self.send(format!("{tag} {text}\r\n").as_bytes()).await?;
        let answer = self.until_tagged(&tag).await?;
        if !answer.tagged.starts_with(&format!("{tag} OK")) {
            bail!("{text}: {}", answer.tagged);
        }
        Ok(answer)
    }

    /// APPEND with a LITERAL+ literal; returns the new UID from APPENDUID.
    async fn append(&mut self, message: &[u8], flags: &str) -> Result<u32> {
        let tag = self.tag();
        let mut command =
            format!("{tag} APPEND INBOX ({flags}) {{{}+}}\r\n", message.len()).into_bytes();
        command.extend_from_slice(message);
        command.extend_from_slice(b"\r\n");
        self.send(&command).await?;
        let answer = self.until_tagged(&tag).await?;
        if !answer.tagged.starts_with(&format!("{tag} OK")) {
            bail!("APPEND: {}", answer.tagged);
        }
        answer
            .tagged
            .split_once("[APPENDUID ")
            .and_then(|(_, rest)| rest.split([' ', ']']).nth(1)?.parse().ok())
            .ok_or_else(|| anyhow!("no APPENDUID: {}", answer.tagged))
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.command(&format!("LOGIN {} {}", quoted(user), quoted(password)))
            .await
            .map(|_| ())
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `n` when `line` ends in a literal announcement `{n}` (or `~{n}`) and CRLF.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n")?;
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..]).ok()?.parse().ok()
}

/// A test message of about `size` bytes, distinct per `(client, seq)`.
fn message(client: usize, seq: u64, size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "alpha", "beta", "gamma", "delta", "mail", "server", "imap", "fetch", "store", "search",
        "append", "idle", "quota", "folder", "flag", "thread",
    ];
    let mut out = format!(
        "From: Load Client {client} <client{client}@bench.test>\r\nTo: bench@bench.test\r\n\
         Subject: {} {} message {seq}\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <{client}.{seq}@bench.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n",
        WORDS[client % 16],
        WORDS[(seq as usize) % 16]
    )
    .into_bytes();
    let mut state = (client as u64) << 32 | seq;
    while out.len() < size {
        for _ in 0..10 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            out.extend_from_slice(WORDS[(state >> 60) as usize].as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Message sizes of the load: mostly small, some large (bytes).
fn message_size(n: u64) -> usize {
    match n % 10 {
        0 => 120_000,
        1 | 2 => 20_000,
        _ => 3_000,
    }
}

/// Latencies per command name.
#[derive(Default)]
struct Latencies {
    by_command: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<String, u64>,
}

impl Latencies {
    fn record(&mut self, command: &'static str, took: Duration) {
        self.by_command.entry(command).or_default().push(took);
    }

    fn merge(&mut self, other: Latencies) {
        for (command, mut times) in other.by_command {
            self.by_command
                .entry(command)
                .or_default()
                .append(&mut times);
        }
        for (error, n) in other.errors {
            *self.errors.entry(error).or_default() += n;
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Times one step.
macro_rules! timed {
    ($lat:expr, $name:expr, $fut:expr) => {{
        let start = Instant::now();
        let result = $fut.await;
        $lat.record($name, start.elapsed());
        result
    }};
}

/// One session of the command mix; returns after LOGOUT.
async fn load_session(
    target: &Target,
    clients: usize,
    client: usize,
    seq: &AtomicU64,
    lat: &mut Latencies,
) -> Result<()> {
    let (user, password) = &target.accounts[client % target.accounts.len()];
    let mut conn = timed!(lat, "connect+tls", Connection::connect(target))?;
    timed!(lat, "login", conn.login(user, password))?;
    let select = timed!(lat, "select", conn.command("SELECT INBOX"))?;
    let exists = select
        .untagged
        .iter()
        .find_map(|r| {
            let text = std::str::from_utf8(r).ok()?;
            let rest = text.strip_prefix("* ")?;
            let (n, word) = rest.trim_end().split_once(' ')?;
            (word == "EXISTS").then(|| n.parse::<u64>().ok())?
        })
        .unwrap_or(0);
    // Other clients of the account may expunge their own messages meanwhile (at most
    // one each, always appended after SELECT's count was taken, or counted in it):
    // fetch and store only below that.
    let stable = exists.saturating_sub(clients as u64);
    for round in 0..5u64 {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        if stable > 0 {
            let first = 1 + (n * 7919 + round) % stable;
            let last = (first + 9).min(stable);
            timed!(
                lat,
                "fetch-headers",
                conn.command(&format!(
                    "FETCH {first}:{last} (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"
                ))
            )?;
            timed!(
                lat,
                "fetch-body",
                conn.command(&format!("FETCH {first} (BODY.PEEK[])"))
            )?;
            timed!(
                lat,
                "store",
                conn.command(&format!("STORE {first}:{last} +FLAGS.SILENT (\\Seen)"))
            )?;
        }
        let data = message(client, n, message_size(n));
        let uid = timed!(lat, "append", conn.append(&data, ""))?;
        let search = if round % 2 == 0 {
            "UID SEARCH UNSEEN"
        } else {
            "UID SEARCH SUBJECT \"message\" FROM \"client\""
        };
        timed!(lat, "search", conn.command(search))?;
        timed!(
            lat,
            "store",
            conn.command(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"))
        )?;
        timed!(lat, "expunge", conn.command("EXPUNGE"))?;
    }
    timed!(lat, "logout", conn.command("LOGOUT"))?;
    Ok(())
}

async fn run_load(options: &Options, target: Target) -> Result<()> {
    // Each account's INBOX starts with `messages` messages.
    if options.messages > 0 && options.address.is_none() {
        let started = Instant::now();
        let mut fills = Vec::new();
        for (i, (user, password)) in target.accounts.iter().enumerate() {
            let target = target.clone();
            let (user, password) = (user.clone(), password.clone());
            let count = options.messages;
            fills.push(tokio::spawn(async move {
                let mut conn = Connection::connect(&target).await?;
                conn.login(&user, &password).await?;
                for m in 0..count as u64 {
                    let flags = if m % 3 == 0 { "\\Seen" } else { "" };
                    conn.append(&message(1_000_000 + i, m, message_size(m)), flags)
                        .await?;
                }
                conn.command("LOGOUT").await?;
                anyhow::Ok(())
            }));
        }
        for fill in fills {
            fill.await??;
        }
        eprintln!(
            "filled {} accounts with {} messages each in {:.1} s",
            target.accounts.len(),
            options.messages,
            started.elapsed().as_secs_f64()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let sessions = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let clients = options.clients;
    for client in 0..clients {
        let (target, stop, seq, sessions) = (
            target.clone(),
            Arc::clone(&stop),
            Arc::clone(&seq),
            Arc::clone(&sessions),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            while !stop.load(Ordering::Relaxed) {
                match load_session(&target, clients, client, &seq, &mut lat).await {
                    Ok(()) => {
                        sessions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        *lat.errors.entry(format!("{e:#}")).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Latencies::default();
    for task in tasks {
        all.merge(task.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = all
        .by_command
        .iter()
        .filter(|(name, _)| **name != "connect+tls")
        .map(|(_, t)| t.len())
        .sum();
    println!(
        "load: {} clients, {} accounts, {:.1} s, {} sessions, {} IMAP commands: {:.0} commands/s",
        options.clients,
        target.accounts.len(),
        elapsed,
        sessions.load(Ordering::Relaxed),
        total,
        total as f64 / elapsed
    );
    println!(
        "{:<14} {:>9} {:>11} {:>9} {:>9} {:>9}",
        "command", "count", "per second", "p50 ms", "p99 ms", "max ms"
    );
    for (name, times) in &mut all.by_command {
        times.sort();
        println!(
            "{:<14} {:>9} {:>11.1} {:>9.2} {:>9.2} {:>9.2}",
            name,
            times.len(),
            times.len() as f64 / elapsed,
            ms(percentile(times, 50.0)),
            ms(percentile(times, 99.0)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    for (error, n) in &all.errors {
        println!("error ×{n}: {error}");
    }
    Ok(())
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
    };
    Some((field("VmRSS")?, field("VmHWM")?))
}

/// The pid of the only process named `postern-imapd`.
fn find_imapd() -> Option<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| comm.trim_end() == "postern-imapd")
        {
            found.push(pid);
        }
    }
    (found.len() == 1).then(|| found[0])
}

/// An authenticated session sitting in IDLE; counts the EXISTS it sees.
async fn idle_session(
    target: Target,
    client: usize,
    opening: Arc<Semaphore>,
    woken: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    stop: Arc<tokio::sync::Notify>,
) -> Result<()> {
    let (user, password) = &target.accounts[client % target.accounts.len()];
    let mut conn = {
        let _permit = opening.acquire().await?;
        let mut conn = Connection::connect(&target).await?;
        conn.login(user, password).await?;
        conn.command("SELECT INBOX").await?;
        let tag = conn.tag();
        conn.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        let cont = conn.response().await?;
        if !cont.starts_with(b"+ ") {
            bail!("IDLE: {}", String::from_utf8_lossy(&cont).trim_end());
        }
        conn
    };
    open.fetch_add(1, Ordering::SeqCst);
    let mut counted = false;
    loop {
        tokio::select! {
            response = conn.response() => {
                let response = response?;
                if !counted && response.ends_with(b" EXISTS\r\n") {
                    counted = true;
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            }
            _ = stop.notified() => break,
        }
    }
    Ok(())
}

async fn run_idle(options: &Options, target: Target, pid: Option<u32>) -> Result<()> {
    let memory = |label: &str| {
        if let Some((rss, hwm)) = pid.and_then(memory_kib) {
            println!(
                "{label}: imapd VmRSS {:.1} MiB, VmHWM {:.1} MiB",
                rss as f64 / 1024.0,
                hwm as f64 / 1024.0
            );
            Some(rss)
        } else {
            println!("{label}: imapd memory unknown (no pid; pass --pid)");
            None
        }
    };
    let baseline = memory("before the sessions");
    let opening = Arc::new(Semaphore::new(options.opening.max(1)));
    let woken = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let failures = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..options.clients {
        let (target, opening, woken, open, stop, failures) = (
            target.clone(),
            Arc::clone(&opening),
            Arc::clone(&woken),
            Arc::clone(&open),
            Arc::clone(&stop),
            Arc::clone(&failures),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = idle_session(target, client, opening, woken, open, stop).await {
                *failures.lock().await.entry(format!("{e:#}")).or_default() += 1;
            }
        }));
    }
    let mut next_report = 1000.min(options.clients);
    loop {
        let n = open.load(Ordering::SeqCst);
        let failed: usize = failures.lock().await.values().sum();
        if n >= next_report {
            memory(&format!(
                "{n} sessions in IDLE after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            next_report += 1000;
        }
        if n + failed >= options.clients {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let n = open.load(Ordering::SeqCst);
    println!(
        "idle: {n} of {} sessions in IDLE after {:.1} s",
        options.clients,
        started.elapsed().as_secs_f64()
    );
    for (error, count) in failures.lock().await.iter() {
        println!("failed ×{count}: {error}");
    }
    tokio::time::sleep(Duration::from_secs(options.hold)).await;
    let rss = memory(&format!("{n} sessions held {} s", options.hold));
    if let (Some(base), Some(rss)) = (baseline, rss)
        && n > 0
    {
        println!(
            "per IDLE session: {:.1} KiB ({n} sessions over {} accounts, each open account \
             costing imapd its own index connection)",
            rss.saturating_sub(base) as f64 / n as f64,
            target.accounts.len().min(n)
        );
    }
    // Wake-up: one APPEND to the first account; its sessions must all see EXISTS.
    let expected = (0..options.clients)
        .filter(|c| c % target.accounts.len() == 0)
        .count()
        .min(n);
    let (user, password) = &target.accounts[0];
    let mut writer = Connection::connect(&target).await?;
    writer.login(user, password).await?;
    let sent = Instant::now();
    writer
        .append(&message(usize::MAX >> 1, 0, 2_000), "")
        .await?;
    let deadline = sent + Duration::from_secs(60);
    while woken.load(Ordering::SeqCst) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "wake-up: {} of {expected} IDLE sessions of {user} saw EXISTS {:.1} ms after the \
         APPEND was sent",
        woken.load(Ordering::SeqCst),
        ms(sent.elapsed())
    );
    memory("after the wake-up");
    stop.notify_waiters();
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

fn main() -> Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    raise_fd_limit(options.clients);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    let (own, address, accounts, server_name) = match &options.address {
        Some(address) => {
            let ca = options.ca.as_ref().ok_or_else(|| anyhow!("--ca needed"))?;
            let pem = std::fs::read(ca).with_context(|| ca.display().to_string())?;
            for cert in rustls_pemfile_certs(&pem)? {
                roots.add(cert)?;
            }
            let user = options.user.clone().unwrap_or_default();
            let password = options.password.clone().unwrap_or_default();
            (
                None,
                *address,
                vec![(user, password)],
                options.server_name.clone(),
            )
        }
        None => {
            let server = start_server(&options).await?;
            roots.add(server.cert.clone())?;
            let accounts = (0..options.accounts.max(1))
                .map(|i| (format!("bench{i}@bench.test"), BENCH_PASSWORD.to_owned()))
                .collect();
            let address = server.imaps;
            eprintln!(
                "own server: IMAPS {address}, certificate {}, accounts bench0..bench{} \
                 @bench.test with password {BENCH_PASSWORD:?}",
                server.dir.path().join("cert.pem").display(),
                options.accounts.max(1) - 1
            );
            (Some(server), address, accounts, "localhost".to_owned())
        }
    };
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let target = Target {
        address,
        tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name: ServerName::try_from(server_name)?,
        accounts: Arc::new(accounts),
    };
    let pid = options
        .pid
        .or_else(|| own.as_ref().and_then(|s| s.imapd.id()))
        .or_else(find_imapd);
    if let Some(pid) = pid {
        eprintln!("imapd pid {pid}");
    }
    let result = match options.mode {
        Mode::Load => run_load(&options, target).await,
        Mode::Idle => run_idle(&options, target, pid).await,
    };
    if let (Err(_), Some(own)) = (&result, &own) {
        // The temp directory goes away with the server: show the end of the logs.
        for name in ["imapd", "authd"] {
            let log = std::fs::read_to_string(own.dir.path().join(format!("{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("--- end of {name}'s log");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
    result
}

/// The certificates in a PEM file.
fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("reading certificates: {e}"))?;
    if certs.is_empty() {
        bail!("no certificate in the PEM file");
    }
    Ok(certs)
}
