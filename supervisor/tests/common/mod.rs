//! Helpers shared by the integration tests: running the `postern` binary, and a fake
//! authd that answers the admin socket with canned responses.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use postern_config::Config;
use postern_ipc::FrameCodec;
use postern_ipc::admin::{
    ADMIN_PROTOCOL_VERSION, AdminRequest, AdminResponse, MAX_ADMIN_REQUEST_FRAME,
    MAX_ADMIN_RESPONSE_FRAME,
};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Encoder;
use tokio_util::codec::Framed;

/// The binary under test.
pub fn postern_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_postern"))
}

/// What a finished `postern` run left.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts exit status 1 with exactly one line on stderr starting `postern: `, and
    /// returns that line.
    pub fn one_line_error(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit status 1: {self:#?}");
        assert!(
            self.stderr.starts_with("postern: ")
                && self.stderr.ends_with('\n')
                && self.stderr.lines().count() == 1,
            "expected one `postern: ` line on stderr: {self:#?}"
        );
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self.stderr.trim_end()
    }

    /// Asserts a clap usage error: exit 2 with clap's message (or, for no command at
    /// all, the help) on stderr.
    pub fn usage_error(&self) {
        assert_eq!(self.code, Some(2), "expected exit status 2: {self:#?}");
        assert!(
            (self.stderr.starts_with("error: ") && self.stderr.contains("--help"))
                || self.stderr.contains("Usage: postern"),
            "{self:#?}"
        );
    }
}

/// Runs `postern ARGS` with `stdin` (or /dev/null), failing the test after 60 s.
pub fn postern(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut command = Command::new(postern_bin());
    command
        .args(args)
        .env_remove("POSTERN_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = command.spawn().expect("start postern");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input).expect("write stdin");
    }
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let status = wait_timeout(&mut child, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("postern {args:?} did not finish within 60 s"));
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    }
}

/// Waits for `child` up to `limit`; kills it and returns `None` past that.
pub fn wait_timeout(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a config whose runtime directory is `dir/run` and returns its path.
pub fn write_config(dir: &Path) -> PathBuf {
    let config = Config::new("localhost", &dir.join("data"), &dir.join("run"));
    let path = dir.join("postern.toml");
    std::fs::write(&path, config.to_toml()).expect("write config");
    path
}

type Responder = dyn Fn(&AdminRequest) -> AdminResponse + Send + Sync;

/// An admin socket answered by a closure, recording every request but the greeting.
pub struct FakeAuthd {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    requests: Arc<Mutex<Vec<AdminRequest>>>,
}

impl FakeAuthd {
    /// Binds `DIR/run/admin.sock` of a fresh directory and serves it from a thread.
    pub fn start(
        respond: impl Fn(&AdminRequest) -> AdminResponse + Send + Sync + 'static,
    ) -> FakeAuthd {
        FakeAuthd::start_with(respond, false)
    }

    /// [`FakeAuthd::start`], writing each answer in small pieces with pauses, so that
    /// it reaches the client over many reads, as from a busy authd.
    pub fn start_trickling(
        respond: impl Fn(&AdminRequest) -> AdminResponse + Send + Sync + 'static,
    ) -> FakeAuthd {
        FakeAuthd::start_with(respond, true)
    }

    fn start_with(
        respond: impl Fn(&AdminRequest) -> AdminResponse + Send + Sync + 'static,
        trickle: bool,
    ) -> FakeAuthd {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = write_config(dir.path());
        std::fs::create_dir(dir.path().join("run")).expect("mkdir run");
        let listener = std::os::unix::net::UnixListener::bind(dir.path().join("run/admin.sock"))
            .expect("bind fake admin socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        let respond: Arc<Responder> = Arc::new(respond);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::UnixListener::from_std(listener).expect("tokio listener");
                while let Ok((stream, _)) = listener.accept().await {
                    let recorded = recorded.clone();
                    let respond = respond.clone();
                    tokio::spawn(async move {
                        let codec = FrameCodec::<AdminRequest, AdminResponse>::new(
                            MAX_ADMIN_REQUEST_FRAME,
                            MAX_ADMIN_RESPONSE_FRAME,
                        );
                        let mut framed = Framed::new(stream, codec);
                        while let Some(Ok(request)) = framed.next().await {
                            let response = match &request {
                                AdminRequest::Hello { .. } => AdminResponse::Hello {
                                    version: ADMIN_PROTOCOL_VERSION,
                                },
                                other => {
                                    recorded.lock().unwrap().push(other.clone());
                                    respond(other)
                                }
                            };
                            let mut frame = bytes::BytesMut::new();
                            if framed.codec_mut().encode(response, &mut frame).is_err() {
                                break;
                            }
                            let stream = framed.get_mut();
                            let written = if trickle {
                                write_in_pieces(stream, &frame).await
                            } else {
                                stream.write_all(&frame).await
                            };
                            if written.is_err() {
                                break;
                            }
                        }
                    });
                }
            });
        });
        FakeAuthd {
            dir,
            config,
            requests,
        }
    }

    /// `postern --config CONFIG ARGS`.
    pub fn postern(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let config = self.config.to_str().expect("utf-8 path");
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        postern(&all, stdin)
    }

    /// The requests received so far, and forgets them.
    pub fn take_requests(&self) -> Vec<AdminRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

/// Writes `frame`: its first 16 KiB in 1 KiB pieces with 1 ms pauses, then the rest.
async fn write_in_pieces(stream: &mut tokio::net::UnixStream, frame: &[u8]) -> std::io::Result<()> {
    let (head, tail) = frame.split_at(frame.len().min(16 * 1024));
    for piece in head.chunks(1024) {
        stream.write_all(piece).await?;
        stream.flush().await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stream.write_all(tail).await?;
    stream.flush().await
}
