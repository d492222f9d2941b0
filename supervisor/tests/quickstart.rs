//! `postern quickstart` as root, for real: it writes a loadable config and refuses to
//! overwrite it, says how to create missing system users, creates the data directories
//! and the first account through an authd it starts and stops as its own user, and the
//! password it prints logs in to the authd `postern serve` then runs. With authd already
//! running, the account is made through it. Without root it refuses. The root part is
//! skipped (loudly) when not root; CI runs as root.

mod common;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, postern, postern_bin, wait_timeout};
use postern_config::{Config, UserRef};
use postern_ipc::auth::{AuthRequest, AuthResponse, SaslReply};
use postern_ipc::client::AuthConnection;
use postern_ipc::{ConnectionInfo, Mechanism, Protocol, Secret};

const AUTHD_UID: u32 = 64_140;
const IMAPD_UID: u32 = 64_141;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// postern-authd next to the binary under test, or `None` after a loud message (a
/// failure under CI).
fn authd_binary() -> Option<PathBuf> {
    let path = postern_bin().parent()?.join("postern-authd");
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "postern-authd is not at {}: build the workspace first (cargo build --workspace)",
        path.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!!!!\n!!! SKIPPING the quickstart test: {message}\n!!!!!!!!!!\n");
    None
}

fn processes_of_uid(uid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| std::fs::metadata(format!("/proc/{p}")).is_ok_and(|m| m.uid() == uid))
        .collect()
}

/// The value printed on the line `  NAME  VALUE` of quickstart's summary.
fn summary_value(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} line in:\n{stdout}"))
}

/// Replaces `from` by `to` in the file, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read config");
    assert!(text.contains(from), "{from:?} not in:\n{text}");
    std::fs::write(path, text.replace(from, to)).expect("write config");
}

async fn plain_login(socket: &Path, username: &str, password: &str) -> SaslReply {
    let mut auth = AuthConnection::connect(socket)
        .await
        .expect("connect to the auth socket");
    let reply = auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret(format!("\0{username}\0{password}").into_bytes())),
            connection: ConnectionInfo {
                protocol: Protocol::Imap,
                remote_ip: "127.0.0.1".parse().expect("ip"),
                local_ip: "127.0.0.1".parse().expect("ip"),
                tls: None,
                client_key: None,
                user_agent: None,
            },
        })
        .await
        .expect("SaslStart");
    match reply {
        AuthResponse::Sasl(reply) => reply,
        other => panic!("{other:?}"),
    }
}

/// `postern serve` on a config, killed when dropped.
struct Serve {
    child: Child,
    log: PathBuf,
}

impl Serve {
    fn start(config: &Path, log: PathBuf) -> Serve {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(postern_bin())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start postern serve");
        let serve = Serve { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        let config = config.to_str().expect("utf-8");
        while postern(&["--config", config, "account", "list"], None).code != Some(0) {
            assert!(
                Instant::now() < deadline,
                "serve's authd did not answer within 20 s:\n{}",
                serve.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let status = wait_timeout(&mut self.child, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("serve did not stop:\n{}", self.log()));
        assert!(status.success(), "{status}:\n{}", self.log());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn refuses_without_root() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("postern.toml");
    let mut command = Command::new(postern_bin());
    command
        .args([
            "quickstart",
            "mjl@example.org",
            "mail.example.org",
            "--config",
        ])
        .arg(&config)
        .env_remove("POSTERN_CONFIG");
    if is_root() {
        // As a user without privileges, which may still write to the directory.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        command.uid(65534).gid(65534);
    }
    let out = command.output().expect("run postern");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("postern: postern quickstart must run as root"),
        "{stderr}"
    );
    assert!(stderr.contains("postern localserve"), "{stderr}");
    assert!(!config.exists());
}

#[test]
fn usage() {
    postern(&["quickstart", "mjl@example.org"], None).usage_error();
    postern(
        &[
            "quickstart",
            "mjl@example.org",
            "mail.example.org",
            "--existing-config",
            "--authd-user",
            "7",
        ],
        None,
    )
    .usage_error();
    let help = postern(&["quickstart", "--help"], None);
    for option in [
        "--data-dir",
        "--runtime-dir",
        "--authd-user",
        "--existing-config",
        "--config",
    ] {
        assert!(help.ok().contains(option), "{option}: {help:#?}");
    }
}

#[tokio::test]
async fn sets_up_a_server_whose_password_logs_in() {
    if !is_root() {
        eprintln!(
            "\n!!!!!!!!!!\n!!! SKIPPED sets_up_a_server_whose_password_logs_in: needs root \
             (CI runs as root)\n!!!!!!!!!!\n"
        );
        return;
    }
    if authd_binary().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // The daemons must be able to reach their directories below it.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = tmp.path().join("etc/postern.toml");
    let data = tmp.path().join("data");
    let run_dir = tmp.path().join("run");
    let config_arg = config.to_str().expect("utf-8").to_string();
    let first_run = |extra: &[&str]| -> Run {
        let mut args = vec![
            "quickstart",
            "mjl@example.org",
            "mail.example.org",
            "--config",
            &config_arg,
        ];
        args.extend_from_slice(extra);
        postern(&args, None)
    };
    let data_arg = data.to_str().expect("utf-8");
    let run_arg = run_dir.to_str().expect("utf-8");
    let uid_arg = AUTHD_UID.to_string();
    let run = first_run(&[
        "--data-dir",
        data_arg,
        "--runtime-dir",
        run_arg,
        "--authd-user",
        &uid_arg,
    ]);

    // The config is written and loadable, with the packaged users but authd's uid.
    let written = Config::load(&config).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    assert_eq!(written.hostname, "mail.example.org");
    assert_eq!(written.data_dir, data);
    assert_eq!(written.runtime_dir, run_dir);
    assert_eq!(written.authd.user, UserRef::Uid(AUTHD_UID));
    assert_eq!(
        written.authd.imap_callers,
        vec![UserRef::Name("postern-imapd".into())]
    );
    assert!(!written.localserve);
    assert_eq!(
        std::fs::metadata(&config).expect("config").mode() & 0o777,
        0o644
    );

    let run = if nix::unistd::User::from_name("postern-imapd")
        .ok()
        .flatten()
        .is_none()
    {
        // The daemons' users do not exist here: quickstart says how to create them and
        // how to finish, and has started nothing.
        assert_eq!(run.code, Some(1), "{run:#?}");
        for needle in [
            "the system users postern-imapd, postern-submitd, postern-webd do not exist",
            "systemd-sysusers",
            "adduser --system --group",
            "--existing-config",
        ] {
            assert!(run.stderr.contains(needle), "{needle:?}: {run:#?}");
        }
        assert!(!data.exists(), "{run:#?}");
        // As the brief for tests allows: numeric callers by editing the config, and uid 0
        // as an IMAP caller for the login below.
        edit(
            &config,
            "imap_callers = [\"postern-imapd\"]",
            &format!("imap_callers = [{IMAPD_UID}, 0]"),
        );
        edit(
            &config,
            "submission_callers = [\"postern-submitd\"]",
            "submission_callers = [64142]",
        );
        edit(
            &config,
            "web_callers = [\"postern-webd\"]",
            "web_callers = [64143]",
        );
        edit(
            &config,
            "user = \"postern-imapd\"",
            &format!("user = {IMAPD_UID}"),
        );
        edit(&config, "user = \"postern-submitd\"", "user = 64142");
        edit(&config, "user = \"postern-webd\"", "user = 64143");
        first_run(&["--existing-config"])
    } else {
        eprintln!("note: the postern system users exist here; quickstart ran through at once");
        edit(
            &config,
            "imap_callers = [\"postern-imapd\"]",
            "imap_callers = [\"postern-imapd\", 0]",
        );
        run
    };
    let stdout = run.ok().to_string();
    assert_eq!(summary_value(&stdout, "account "), "mjl");
    assert_eq!(summary_value(&stdout, "address "), "mjl@example.org");
    let password = summary_value(&stdout, "password ");
    assert!(
        password.len() >= 12 && password.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{password:?}"
    );
    assert_eq!(stdout.matches(&password).count(), 1, "{stdout}");
    assert!(!run.stderr.contains(&password), "the password is logged");
    for needle in [
        "example.org.",
        "MX    10 mail.example.org.",
        "A     192.0.2.1",
        "AAAA  2001:db8::1",
        "TXT   \"v=spf1 mx -all\"",
        "_dmarc.example.org.",
        "\"v=DMARC1; p=reject; rua=mailto:mjl@example.org\"",
        "._domainkey.example.org.",
        "TXT   \"v=DKIM1; k=ed25519; p=",
        "systemctl enable --now postern-authd.socket postern-authd-admin.socket postern-authd.service",
        &format!("postern serve --config {config_arg}"),
    ] {
        assert!(
            stdout.contains(needle),
            "{needle:?} missing from:\n{stdout}"
        );
    }

    // authd ran as its own user in the directory serve's code prepared, and is gone.
    assert!(
        processes_of_uid(AUTHD_UID).is_empty(),
        "authd left behind: {run:#?}"
    );
    let authd_dir = std::fs::metadata(data.join("authd")).expect("authd dir");
    assert_eq!(
        (authd_dir.uid(), authd_dir.mode() & 0o7777),
        (AUTHD_UID, 0o700)
    );
    let db = std::fs::metadata(data.join("authd/auth.db")).expect("auth.db");
    assert_eq!(db.uid(), AUTHD_UID);
    assert!(!run_dir.join("admin.sock").exists(), "stale socket left");
    assert!(run.stderr.contains("started daemon=\"authd\""), "{run:#?}");

    // A second run refuses to overwrite the config, and one on the existing config
    // refuses to make the account again.
    let before = std::fs::read(&config).expect("config");
    let again = first_run(&[]);
    let line = again.stderr.lines().last().unwrap_or_default().to_string();
    assert_eq!(again.code, Some(1), "{again:#?}");
    assert!(
        line.contains("exists; quickstart does not overwrite a config")
            && line.contains("--existing-config"),
        "{again:#?}"
    );
    assert_eq!(std::fs::read(&config).expect("config"), before);
    let again = first_run(&["--existing-config"]);
    assert_eq!(again.code, Some(1), "{again:#?}");
    assert!(
        again.stderr.contains("the account mjl exists already"),
        "{again:#?}"
    );
    assert!(processes_of_uid(AUTHD_UID).is_empty(), "{again:#?}");

    // quickstart made a self-signed certificate next to the config for imapd.
    let key = std::fs::metadata(tmp.path().join("etc/tls/key.pem")).expect("key.pem");
    assert_eq!((key.uid(), key.mode() & 0o777), (0, 0o600));
    assert!(tmp.path().join("etc/tls/cert.pem").exists());
    assert!(
        stdout.contains("TLS: a self-signed certificate for mail.example.org"),
        "{stdout}"
    );
    assert!(
        stdout.contains("systemctl enable --now postern-imapd.socket"),
        "{stdout}"
    );

    // The DKIM key submitd signs with: submitd's alone.
    let year = stdout
        .split("postern")
        .find_map(|rest| {
            rest.get(..4)
                .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
        })
        .expect("a DKIM selector in the summary");
    let dkim_key = data.join(format!("submitd/dkim/example.org.postern{year}.pem"));
    let meta = std::fs::metadata(&dkim_key).expect("DKIM key");
    assert_eq!(meta.mode() & 0o777, 0o600);
    let submitd_uid = nix::unistd::User::from_name("postern-submitd")
        .ok()
        .flatten()
        .map_or(64142, |u| u.uid.as_raw());
    assert_eq!(meta.uid(), submitd_uid);

    // The printed password logs in to the authd that `postern serve` runs (imapd on
    // free ports, as a test uid unless its system user exists).
    for port in ["[::]:143", "[::]:993", "[::]:587", "[::]:465"] {
        edit(&config, port, "127.0.0.1:0");
    }
    let serve = Serve::start(&config, tmp.path().join("serve.log"));
    let auth_socket = run_dir.join("auth.sock");
    match plain_login(&auth_socket, "mjl@example.org", &password).await {
        SaslReply::Success(verdict) => assert_eq!(verdict.account, "mjl"),
        other => panic!("the printed password does not log in: {other:?}"),
    }
    assert!(matches!(
        plain_login(&auth_socket, "mjl@example.org", "not the password").await,
        SaslReply::Failure(_)
    ));

    // With authd running, quickstart on the existing config makes the account through
    // it and sets the hostname in place, keeping the file's comments.
    let run = postern(
        &[
            "quickstart",
            "alice@example.org",
            "mx.example.org",
            "--config",
            &config_arg,
            "--existing-config",
        ],
        None,
    );
    let stdout = run.ok().to_string();
    assert!(
        stdout.contains("authd was running already")
            && stdout.contains("Restart it to use the new hostname"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(
        text.starts_with("# Written by `postern quickstart`"),
        "{text}"
    );
    assert_eq!(
        Config::load(&config).expect("config").hostname,
        "mx.example.org"
    );
    let alice_password = summary_value(&stdout, "password ");
    match plain_login(&auth_socket, "alice@example.org", &alice_password).await {
        SaslReply::Success(verdict) => assert_eq!(verdict.account, "alice"),
        other => panic!("alice's printed password does not log in: {other:?}"),
    }
    serve.stop();
    assert!(processes_of_uid(AUTHD_UID).is_empty(), "authd left behind");
}
