//! `postern localserve`: postern as the current user, for trying it and for testing mail
//! clients. One directory holds the config, the data, the sockets and a self-signed
//! certificate. The daemons run under the same supervision as `postern serve` (sockets
//! bound here and passed by socket activation, readiness over a notify socket, restart
//! with back-off, `postern status` over the control socket), only without the user
//! switch: every daemon is the current user. They listen on the standard ports + 1000 of
//! 127.0.0.1 and stop together on Ctrl-C or SIGTERM.
#![forbid(unsafe_code)]

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use nix::fcntl::{Flock, FlockArg};
use postern_config::{Config, UserRef, WebdConfig};
use postern_ipc::Secret;
use postern_ipc::admin::AdminRequest;
use tokio::sync::{Mutex, watch};

use crate::admin::Admin;
use crate::control;
use crate::daemons::{self, AUTHD, IMAPD, LISTENERS, SUBMITD, WEBD};
use crate::sockets::{MAX_SOCKET_PATH, READY_TIMEOUT, ReadySocket, bind_seqpacket, bind_unix};
use crate::supervision::{
    DaemonPlan, Received, RestartPolicy, Signals, Startup, Supervision, base_env, wait_started,
};
use crate::tls;
use crate::tls_daemon::{self, TlsDaemonSpec};

/// The account localserve creates.
pub const ACCOUNT: &str = "postern";
/// Its address.
pub const ADDRESS: &str = "postern@localhost";
/// Its password, printed at start.
pub const PASSWORD: &str = "postern-local";
/// The password of the admin web pages, set at every start and printed.
pub const ADMIN_PASSWORD: &str = "postern-admin-local";
/// Added to each standard port, so that no privilege is needed to bind.
pub const PORT_OFFSET: u16 = 1000;
/// Name of the directory below `$XDG_DATA_HOME` (or `~/.local/share`).
pub const DIR_NAME: &str = "postern-localserve";

/// The files in a localserve directory.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The directory itself (absolute).
    pub dir: PathBuf,
    /// `DIR/postern.toml`.
    pub config: PathBuf,
    /// `DIR/tls/cert.pem`, self-signed for localhost.
    pub certificate: PathBuf,
    /// `DIR/tls/key.pem`, mode 0600.
    pub private_key: PathBuf,
    /// `DIR/localserve.lock`, held while localserve runs.
    pub lock: PathBuf,
}

impl Layout {
    /// The layout of `dir`, made absolute against the current directory.
    pub fn new(dir: &Path) -> anyhow::Result<Layout> {
        let dir = std::path::absolute(dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        if dir.to_str().is_none() {
            bail!(
                "the localserve directory {} is not valid UTF-8",
                dir.display()
            );
        }
        Ok(Layout {
            config: dir.join("postern.toml"),
            certificate: dir.join("tls").join("cert.pem"),
            private_key: dir.join("tls").join("key.pem"),
            lock: dir.join("localserve.lock"),
            dir,
        })
    }
}

/// `$XDG_DATA_HOME/postern-localserve`, else `~/.local/share/postern-localserve`.
pub fn default_dir() -> anyhow::Result<PathBuf> {
    if let Some(data) = std::env::var_os("XDG_DATA_HOME").map(PathBuf::from)
        && data.is_absolute()
    {
        return Ok(data.join(DIR_NAME));
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local/share").join(DIR_NAME)),
        _ => bail!("neither XDG_DATA_HOME nor HOME is set to an absolute path; give --dir"),
    }
}

/// The config localserve writes on first start: every daemon and every caller is the
/// current user.
pub fn initial_config(layout: &Layout, uid: u32) -> Config {
    let mut config = Config::new(
        "localhost",
        &layout.dir.join("data"),
        &layout.dir.join("run"),
    );
    config.localserve = true;
    config.authd.user = UserRef::Uid(uid);
    config.authd.imap_callers = vec![UserRef::Uid(uid)];
    config.authd.submission_callers = vec![UserRef::Uid(uid)];
    config.authd.web_callers = vec![UserRef::Uid(uid)];
    config.authd.admin_users = vec![UserRef::Uid(uid)];
    // imapd confirms each account removal once the account's mail is gone.
    config.authd.mail_store = true;
    config.imapd.user = UserRef::Uid(uid);
    config.imapd.imap_listen = vec![local_port(IMAP_PORT)];
    config.imapd.imaps_listen = vec![local_port(IMAPS_PORT)];
    config.imapd.tls_certificate = layout.certificate.clone();
    config.imapd.tls_key = layout.private_key.clone();
    config.submitd.user = UserRef::Uid(uid);
    config.submitd.submission_listen = vec![local_port(SUBMISSION_PORT)];
    config.submitd.submissions_listen = vec![local_port(SUBMISSIONS_PORT)];
    config.submitd.tls_certificate = layout.certificate.clone();
    config.submitd.tls_key = layout.private_key.clone();
    config.webd = localserve_webd(layout, uid);
    config
}

/// webd in localserve: account pages at http://127.0.0.1:1080/ and the admin pages at
/// /admin/ of the same port; no HTTPS listener (so no privileged port).
pub fn localserve_webd(layout: &Layout, uid: u32) -> WebdConfig {
    WebdConfig {
        user: UserRef::Uid(uid),
        https_listen: Vec::new(),
        http_listen: vec![local_port(WEB_PORT)],
        admin_listen: Vec::new(),
        admin_on_account_listeners: true,
        trusted_proxies: Vec::new(),
        tls_certificate: layout.certificate.clone(),
        tls_key: layout.private_key.clone(),
    }
}

/// The standard HTTP port.
const WEB_PORT: u16 = 80;

/// The standard submission port (STARTTLS).
const SUBMISSION_PORT: u16 = 587;
/// The standard submissions port (implicit TLS).
const SUBMISSIONS_PORT: u16 = 465;

/// The standard IMAP port.
const IMAP_PORT: u16 = 143;
/// The standard IMAPS port.
const IMAPS_PORT: u16 = 993;

/// 127.0.0.1 at a standard port + [`PORT_OFFSET`].
fn local_port(standard: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], standard + PORT_OFFSET))
}

/// Creates what is missing in the localserve directory (the directory, the config, the
/// certificate and key) and returns the config to run with.
pub fn prepare(layout: &Layout, uid: u32, now_unix: i64) -> anyhow::Result<Config> {
    ensure_dir(layout)?;

    if !layout.config.exists() {
        let config = initial_config(layout, uid);
        let text = config.to_toml();
        if text.is_empty() {
            bail!("cannot express the localserve config as TOML");
        }
        let text = format!(
            "# Written by `postern localserve` at its first start; used again at every start.\n\
             # Remove the whole directory to start afresh.\n\n{text}"
        );
        write_file(&layout.config, text.as_bytes(), 0o600)?;
        tracing::info!(config = %layout.config.display(), "wrote the config");
    }
    let mut config = Config::load(&layout.config)?;
    // A config written before webd existed has no [webd] section; its defaults (HTTPS on
    // 443) are not localserve's.
    if config.webd == WebdConfig::default() {
        config.webd = localserve_webd(layout, uid);
    }
    if !config.localserve {
        bail!(
            "{} does not say `localserve = true`; localserve runs only with its own config",
            layout.config.display()
        );
    }
    for socket in [
        config.admin_socket(),
        config.auth_socket(),
        config.control_socket(),
        config.store_socket(),
        ReadySocket::path_in(&config.runtime_dir, AUTHD.name),
        ReadySocket::path_in(&config.runtime_dir, IMAPD.name),
        ReadySocket::path_in(&config.runtime_dir, SUBMITD.name),
        ReadySocket::path_in(&config.runtime_dir, WEBD.name),
    ] {
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            bail!(
                "the socket path {} is {len} bytes, more than a Unix socket can hold \
                 ({MAX_SOCKET_PATH}); choose a shorter --dir",
                socket.display()
            );
        }
    }
    create_private_dir(&config.data_dir)?;
    create_private_dir(&config.runtime_dir)?;

    if !layout.certificate.exists() || !layout.private_key.exists() {
        if let Some(tls_dir) = layout.certificate.parent() {
            create_private_dir(tls_dir)?;
        }
        let made = tls::self_signed_localhost(now_unix)?;
        write_file(&layout.private_key, made.private_key_pem.as_bytes(), 0o600)?;
        write_file(&layout.certificate, made.certificate_pem.as_bytes(), 0o644)?;
        tracing::info!(
            certificate = %layout.certificate.display(),
            "made a self-signed certificate for localhost"
        );
    }
    Ok(config)
}

/// Creates the localserve directory (mode 0700) unless it exists.
fn ensure_dir(layout: &Layout) -> anyhow::Result<()> {
    match std::fs::metadata(&layout.dir) {
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", layout.dir.display()),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(&layout.dir)?;
            tracing::info!(dir = %layout.dir.display(), "created the localserve directory");
            Ok(())
        }
        Err(e) => bail!("cannot use {}: {e}", layout.dir.display()),
    }
}

/// Creates `dir` (and missing parents) with mode 0700; an existing one is left as it is.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Writes `path` whole with `mode`, through a temporary file renamed into place.
fn write_file(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// Takes the directory's lock, so that two localserves never share one directory.
fn lock(layout: &Layout) -> anyhow::Result<Flock<File>> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&layout.lock)
        .with_context(|| format!("cannot open {}", layout.lock.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        if errno == nix::errno::Errno::EWOULDBLOCK {
            anyhow!(
                "another postern localserve is running with {}",
                layout.dir.display()
            )
        } else {
            anyhow!("cannot lock {}: {errno}", layout.lock.display())
        }
    })
}

/// Runs localserve in `dir` (or the default directory) until Ctrl-C or SIGTERM.
pub fn run(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => default_dir()?,
    };
    let layout = Layout::new(&dir)?;
    let uid = nix::unistd::getuid().as_raw();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    ensure_dir(&layout)?;
    let _lock = lock(&layout)?;
    let config = prepare(&layout, uid, now)?;
    let authd_binary = daemons::locate(&AUTHD)?;

    // As `postern serve` does: the sockets are ours, so they stay open while authd
    // restarts; authd gets them by socket activation, but keeps our user.
    let auth = bind_unix(&config.auth_socket(), 0o666)?;
    let admin = bind_unix(&config.admin_socket(), 0o600)?;
    let control = bind_unix(&config.control_socket(), 0o600)?;
    let ready = ReadySocket::new(&config.runtime_dir, AUTHD.name, None)?;
    let mut env = base_env(&layout.config);
    env.push(("NOTIFY_SOCKET".into(), ready.path().as_os_str().to_owned()));
    let authd = DaemonPlan {
        name: AUTHD.name,
        program: authd_binary,
        args: vec!["--config".into(), layout.config.as_os_str().to_owned()],
        env,
        fds: vec![("auth".into(), auth), ("admin".into(), admin)],
        identity: None,
    };
    let imapd = tls_daemon::prepare(
        &layout.config,
        &config,
        &config.runtime_dir,
        TlsDaemonSpec::imapd(&config, bind_seqpacket(&config.store_socket(), 0o600)?),
    )?;

    // One thread, which forks the daemons and lives as long as we do (their
    // parent-death signal is tied to it).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let submitd = tls_daemon::prepare(
        &layout.config,
        &config,
        &config.runtime_dir,
        TlsDaemonSpec::submitd(&config),
    )?;
    let webd = tls_daemon::prepare(
        &layout.config,
        &config,
        &config.runtime_dir,
        TlsDaemonSpec::webd(&config),
    )?;
    let (imapd, imapd_ready, _reloader) = imapd;
    let (submitd, submitd_ready, _reloader) = submitd;
    let (webd, webd_ready, _reloader) = webd;
    let daemons = Daemons {
        authd,
        ready,
        others: vec![
            (imapd, imapd_ready),
            (submitd, submitd_ready),
            (webd, webd_ready),
        ],
    };
    runtime.block_on(supervise(&layout, &config, uid, daemons, control))
}

/// authd and the daemons started after it, with their notify sockets.
struct Daemons {
    authd: DaemonPlan,
    ready: ReadySocket,
    others: Vec<(DaemonPlan, ReadySocket)>,
}

/// Starts authd under supervision, prepares the account, starts the other daemons,
/// prints the banner, and runs until a signal; then stops every daemon. A daemon that
/// dies is restarted (and logged); only one that dies before it was ever ready ends
/// localserve, with an error.
async fn supervise(
    layout: &Layout,
    config: &Config,
    uid: u32,
    daemons: Daemons,
    control: OwnedFd,
) -> anyhow::Result<()> {
    let Daemons {
        authd,
        ready,
        others,
    } = daemons;
    let mut signals = Signals::new().context("cannot catch signals")?;
    let policy = RestartPolicy::from_config(config);
    let supervision = Arc::new(Mutex::new(Supervision::new(policy)));
    let mut exits = {
        let mut supervision = supervision.lock().await;
        let exits = supervision.exits();
        supervision.start(authd);
        exits
    };
    let control = tokio::spawn(control::serve(
        control,
        supervision.clone(),
        control::allowed_uid(config),
    ));

    let started = tokio::select! {
        result = start(layout, config, uid, (ready, others), &supervision, &mut exits) => result.map(|()| true),
        received = signals.recv() => {
            log_stop(received);
            Ok(false)
        }
    };
    if let Ok(true) = started {
        log_stop(signals.recv().await);
    }
    control.abort();
    let running = std::mem::replace(&mut *supervision.lock().await, Supervision::new(policy));
    running.stop_all().await;
    started.map(|_| ())
}

fn log_stop(received: Received) {
    match received {
        Received::Terminate => tracing::info!("SIGTERM received, stopping"),
        Received::Interrupt => tracing::info!("SIGINT received, stopping"),
        Received::Hangup => tracing::info!("SIGHUP received (terminal gone?), stopping"),
    }
}

/// Waits for authd's readiness (failing if it exits first), makes sure the account
/// exists, starts the other daemons one by one (failing if one exits before it is
/// ready) and prints the banner.
async fn start(
    layout: &Layout,
    config: &Config,
    uid: u32,
    (ready, others): (ReadySocket, Vec<(DaemonPlan, ReadySocket)>),
    supervision: &Mutex<Supervision>,
    exits: &mut watch::Receiver<u32>,
) -> anyhow::Result<()> {
    started(
        AUTHD.name,
        wait_started(ready, AUTHD.name, exits).await,
        supervision,
    )
    .await?;
    let mut admin = Admin::connect(&config.admin_socket()).await?;
    let account = ensure_account(&mut admin).await?;
    admin
        .call_done(AdminRequest::AdminPasswordSet {
            password: Secret(ADMIN_PASSWORD.into()),
        })
        .await
        .context("cannot set the admin password of the web pages")?;
    drop(admin);
    for (plan, ready) in others {
        let name = plan.name;
        supervision.lock().await.start(plan);
        started(name, wait_started(ready, name, exits).await, supervision).await?;
    }
    let _ = crate::output::emit(&banner(layout, uid, &account));
    Ok(())
}

/// Turns how waiting for daemon `name` ended into an error unless it is ready.
async fn started(
    name: &str,
    startup: Startup,
    supervision: &Mutex<Supervision>,
) -> anyhow::Result<()> {
    match startup {
        Startup::Ready => Ok(()),
        Startup::TimedOut => bail!(
            "{name} did not report readiness within {} s; its log is above",
            READY_TIMEOUT.as_secs()
        ),
        Startup::Exited => {
            let (daemon, last) = supervision
                .lock()
                .await
                .status()
                .into_iter()
                .find_map(|d| Some((d.name, d.last_exit?)))
                .unwrap_or_else(|| (name.to_string(), "unknown status".into()));
            bail!("{daemon} exited during start-up ({last}); its log is above")
        }
    }
}

/// What localserve found or did about its account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    /// Made now, with the password [`PASSWORD`].
    Created,
    /// Existed without a password; [`PASSWORD`] was set.
    PasswordSet,
    /// Existed with a password, which was left alone.
    Existing,
}

/// Makes the account [`ACCOUNT`] with [`ADDRESS`] and [`PASSWORD`] unless it exists;
/// sets the password if the account has none.
pub async fn ensure_account(admin: &mut Admin) -> anyhow::Result<AccountState> {
    let accounts = admin.accounts().await?;
    let state = match accounts.iter().find(|a| a.name == ACCOUNT) {
        None => {
            admin
                .call_done(AdminRequest::AccountAdd {
                    account: ACCOUNT.into(),
                    address: ADDRESS.into(),
                })
                .await
                .with_context(|| format!("cannot create the account {ACCOUNT}"))?;
            AccountState::Created
        }
        Some(a) if !a.has_password => AccountState::PasswordSet,
        Some(_) => return Ok(AccountState::Existing),
    };
    admin
        .call_done(AdminRequest::AccountSetPassword {
            account: ACCOUNT.into(),
            password: Secret(PASSWORD.into()),
        })
        .await
        .with_context(|| format!("cannot set the password of {ACCOUNT}"))?;
    tracing::info!(account = ACCOUNT, "account ready");
    Ok(state)
}

/// The text printed once everything runs.
pub fn banner(layout: &Layout, uid: u32, account: &AccountState) -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| format!("{} (uid {uid})", u.name))
        .unwrap_or_else(|| format!("uid {uid}"));
    let config = layout.config.display();
    let web = WEB_PORT + PORT_OFFSET;
    let password = match account {
        AccountState::Existing => format!("{PASSWORD} (unless changed since it was set)"),
        _ => PASSWORD.to_string(),
    };
    let mut text = format!(
        "\npostern localserve is running.\n\
         Every daemon runs as {user}: there is NO privilege separation of users.\n\
         Use it to try postern and to test mail clients, not to serve real mail.\n\
         \n\
         account   {ACCOUNT}\n\
         address   {ADDRESS}\n\
         password  {password}\n\
         \n\
         web pages    http://127.0.0.1:{web}/   (log in as {ADDRESS})\n\
         admin pages  http://127.0.0.1:{web}/admin/   admin password  {ADMIN_PASSWORD}\n\
         \n\
         config       {config}\n\
         admin CLI    postern --config {config} account list\n\
         daemons      postern --config {config} status\n"
    );
    if let Some(exe) = postern_not_on_path() {
        text.push_str(&format!("             (postern is {})\n", exe.display()));
    }
    text.push_str(&format!(
        "certificate  {} (self-signed for localhost)\n\nlisteners:\n",
        layout.certificate.display()
    ));
    let dirs = daemons::search_dirs();
    let mut table = crate::output::Table::new(&["SERVICE", "ADDRESS", "STATE"]);
    for l in LISTENERS {
        let available = daemons::known_daemon(l.daemon).is_some()
            && daemons::find_in(l.daemon, &dirs).is_some();
        table.row(vec![
            l.service.to_string(),
            format!("127.0.0.1:{}", l.port + PORT_OFFSET),
            if available {
                if l.daemon == WEBD.binary {
                    "HTTP"
                } else if l.implicit_tls {
                    "TLS"
                } else {
                    "plain/STARTTLS"
                }
                .to_string()
            } else {
                format!("not available yet (needs {})", l.daemon)
            },
        ]);
    }
    for line in table.render().lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\nCtrl-C stops all daemons.\n");
    text
}

/// The running executable, when `postern` on `$PATH` is another file (or none), so the
/// banner can say which binary the admin CLI command means.
fn postern_not_on_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("postern"))
            .find(|p| p.is_file())
    });
    let same =
        on_path.is_some_and(|p| std::fs::canonicalize(p).ok() == std::fs::canonicalize(&exe).ok());
    if same { None } else { Some(exe) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn first_start_creates_then_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(&tmp.path().join("ls")).unwrap();
        let config = prepare(&layout, 4242, 1_790_000_000).unwrap();
        assert_eq!(mode(&layout.dir), 0o700);
        assert_eq!(mode(&layout.private_key), 0o600);
        assert_eq!(mode(&layout.config), 0o600);
        assert!(config.localserve);
        assert!(config.authd.mail_store);
        assert_eq!(
            config.imapd.imaps_listen,
            vec!["127.0.0.1:1993".parse().unwrap()]
        );
        assert_eq!(config.hostname, "localhost");
        assert_eq!(config.authd.admin_users, vec![UserRef::Uid(4242)]);
        assert_eq!(config.authd.web_callers, vec![UserRef::Uid(4242)]);
        assert_eq!(
            config.webd.http_listen,
            vec!["127.0.0.1:1080".parse().unwrap()]
        );
        assert!(config.webd.https_listen.is_empty());
        assert!(config.webd.admin_on_account_listeners);
        assert_eq!(config.data_dir, layout.dir.join("data"));
        assert_eq!(config.admin_socket(), layout.dir.join("run/admin.sock"));
        let cert = std::fs::read(&layout.certificate).unwrap();
        let key = std::fs::read(&layout.private_key).unwrap();

        let again = prepare(&layout, 4242, 1_790_000_000).unwrap();
        assert_eq!(again, config);
        assert_eq!(std::fs::read(&layout.certificate).unwrap(), cert);
        assert_eq!(std::fs::read(&layout.private_key).unwrap(), key);

        // The lock keeps a second localserve out.
        let held = lock(&layout).unwrap();
        let second = lock(&layout).unwrap_err().to_string();
        assert!(second.contains("another postern localserve"), "{second}");
        drop(held);
        assert!(lock(&layout).is_ok());
    }

    #[test]
    fn refuses_a_config_that_is_not_localserve() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path()).unwrap();
        let config = Config::new("mail.example.org", Path::new("/d"), Path::new("/r"));
        std::fs::write(&layout.config, config.to_toml()).unwrap();
        let err = prepare(&layout, 1, 0).unwrap_err().to_string();
        assert!(err.contains("localserve = true"), "{err}");
    }

    #[test]
    fn refuses_socket_paths_too_long() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(&tmp.path().join("d".repeat(100))).unwrap();
        let err = prepare(&layout, 1, 0).unwrap_err().to_string();
        assert!(err.contains("shorter --dir"), "{err}");
    }

    #[test]
    fn banner_marks_missing_daemons() {
        let layout = Layout::new(Path::new("/srv/ls")).unwrap();
        let text = banner(&layout, 0, &AccountState::Created);
        assert!(text.contains("NO privilege separation"));
        assert!(text.contains("postern --config /srv/ls/postern.toml account list"));
        assert!(text.contains("password  postern-local\n"));
        assert!(
            text.contains("http://127.0.0.1:1080/admin/   admin password  postern-admin-local")
        );
        let ports: Vec<u16> = LISTENERS.iter().map(|l| l.port + PORT_OFFSET).collect();
        assert_eq!(ports, [1143, 1993, 1587, 1465, 1080]);
        for l in LISTENERS {
            let port = l.port + PORT_OFFSET;
            let line = text
                .lines()
                .find(|line| line.contains(&format!("127.0.0.1:{port}")))
                .unwrap_or_else(|| panic!("no line for {port} in {text}"));
            if daemons::known_daemon(l.daemon).is_none() {
                assert!(line.contains("not available yet"), "{line}");
            }
        }
    }
}
