//! `postern quickstart EMAIL HOSTNAME`: sets up a new server, as root. It writes a config
//! (or, with `--existing-config`, takes the one that is there and sets its hostname),
//! prepares the directories and starts authd temporarily exactly as `postern serve`
//! does (as its own user, sockets by socket activation), creates the first account with
//! a generated password, stops authd, and prints the account, the DNS records to add and
//! how to start postern. If authd already runs (systemd's units, or `postern serve`), the
//! account is made through it instead.
#![forbid(unsafe_code)]

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use postern_config::delivery::{DkimAlgorithm, DkimKey};
use postern_config::{Config, DEFAULT_CONFIG_PATH, GroupRef, UserRef, resolve_identity};
use postern_ipc::Secret;
use postern_ipc::admin::AdminRequest;
use postern_ipc::client::ClientError;

use crate::admin::{Admin, connect_error};
use crate::cli::QuickstartArgs;
use crate::daemons::AUTHD;
use crate::dkim::DkimRecord;
use crate::launch::Identity;
use crate::sockets::{READY_TIMEOUT, ReadySocket};
use crate::supervision::{RestartPolicy, Startup, Supervision, wait_started};

/// The characters of generated passwords: letters and digits without the ones easily
/// mistaken for each other (`I`, `O`, `l`, `0`, `1`), 57 in all.
pub const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// Length of generated passwords: 16 characters of 57 are about 93 bits.
pub const PASSWORD_LENGTH: usize = 16;

/// The data directory the Debian package's units use.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/postern";

/// The runtime directory the Debian package's units use.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/postern";

/// The Debian package's sysusers.d file, which creates every daemon's user.
pub const SYSUSERS_FILE: &str = "/usr/lib/sysusers.d/postern.conf";

/// A new random password of [`PASSWORD_LENGTH`] characters from [`PASSWORD_ALPHABET`],
/// each drawn uniformly from the operating system's random source.
pub fn generate_password() -> Result<String, getrandom::Error> {
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    let mut bytes = [0u8; 64];
    while password.len() < PASSWORD_LENGTH {
        getrandom::fill(&mut bytes)?;
        for c in bytes.iter().filter_map(|b| pick(*b)) {
            if password.len() == PASSWORD_LENGTH {
                break;
            }
            password.push(c);
        }
    }
    Ok(password)
}

/// The alphabet's character for a random byte, or `None` for a byte at or above the
/// largest multiple of the alphabet's size (those are drawn again, so that no character
/// is more likely than another).
fn pick(byte: u8) -> Option<char> {
    let size = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % size;
    let byte = usize::from(byte);
    (byte < limit).then(|| char::from(PASSWORD_ALPHABET[byte % size]))
}

/// The first account, from the EMAIL argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstAccount {
    /// The account name: the address's local part.
    pub account: String,
    /// The address, with the domain in lower case.
    pub address: String,
    /// The mail domain.
    pub domain: String,
}

/// Splits `email` into account name, address and domain.
pub fn parse_email(email: &str) -> anyhow::Result<FirstAccount> {
    let (local, domain) = email
        .rsplit_once('@')
        .ok_or_else(|| anyhow!("{email:?} is not an email address (no @)"))?;
    if local.is_empty()
        || local.contains('@')
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        bail!("{email:?}: the part before the @ cannot be an account name");
    }
    let domain = dns_name(domain).with_context(|| format!("the domain of {email:?}"))?;
    Ok(FirstAccount {
        account: local.to_string(),
        address: format!("{local}@{domain}"),
        domain,
    })
}

/// `name` as a lower-case DNS name of at least two labels (a trailing dot is dropped).
pub fn dns_name(name: &str) -> anyhow::Result<String> {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253
        || labels.len() < 2
        || !labels.iter().all(label_ok)
        || labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        bail!("{name:?} is not a fully qualified host or domain name (like mail.example.org)");
    }
    Ok(name)
}

/// A user given on the command line: a numeric uid, else a name.
fn user_ref(text: &str) -> UserRef {
    text.parse::<u32>()
        .map(UserRef::Uid)
        .unwrap_or_else(|_| UserRef::Name(text.to_string()))
}

/// The config quickstart writes: the packaged defaults (each daemon its own system
/// user) with the given host name, directories and authd user.
pub fn new_config(hostname: &str, data_dir: &Path, runtime_dir: &Path, authd_user: &str) -> Config {
    let mut config = Config::new(hostname, data_dir, runtime_dir);
    config.authd.user = user_ref(authd_user);
    config
}

/// Writes `config` to `path`, which must not exist; creates the parent directory
/// (mode 0755) if needed.
fn write_new_config(path: &Path, config: &Config) -> anyhow::Result<()> {
    let text = config.to_toml();
    if text.is_empty() {
        bail!("cannot express the config as TOML");
    }
    let text = format!(
        "# Written by `postern quickstart`. Every option, its meaning and its default are\n\
         # described in the commented example config that comes with postern\n\
         # (packaging/postern.toml in the source).\n\n{text}"
    );
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!(
                "{} exists; quickstart does not overwrite a config. To set up with it as it \
                 is (e.g. the one the Debian package installed), add --existing-config; to \
                 start afresh, move it away first",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `text` with its top-level `hostname = …` line set to `hostname`; `None` unless there
/// is exactly one such line before the first table.
pub fn with_hostname(text: &str, hostname: &str) -> Option<String> {
    let mut found = 0;
    let mut out = String::with_capacity(text.len() + hostname.len());
    let mut in_table = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_table = true;
        }
        let is_hostname = !in_table
            && trimmed
                .strip_prefix("hostname")
                .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_hostname {
            found += 1;
            out.push_str(&format!("hostname = \"{hostname}\"\n"));
        } else {
            out.push_str(line);
        }
    }
    (found == 1).then_some(out)
}

/// Sets the hostname in the config file at `path`, keeping its comments, mode and owner.
fn set_hostname(path: &Path, hostname: &str) -> anyhow::Result<()> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(new_text) = with_hostname(&text, hostname) else {
        bail!(
            "cannot find the one `hostname = …` line in {}; set hostname = \"{hostname}\" \
             there by hand and run again",
            path.display()
        );
    };
    let meta = fs::metadata(path)?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(".quickstart");
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(new_text.as_bytes())?;
        std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        file.set_permissions(fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The users and groups named in `config` that do not exist on this system.
pub fn missing_users(config: &Config) -> Vec<String> {
    let authd = &config.authd;
    let users = [
        &authd.user,
        &config.imapd.user,
        &config.submitd.user,
        &config.webd.user,
    ]
    .into_iter()
    .chain(&authd.imap_callers)
    .chain(&authd.submission_callers)
    .chain(&authd.web_callers)
    .chain(&authd.admin_users);
    let mut missing: Vec<String> = Vec::new();
    for user in users {
        if let UserRef::Name(name) = user
            && user.resolve().is_err()
            && !missing.contains(name)
        {
            missing.push(name.clone());
        }
    }
    if let Some(group @ GroupRef::Name(name)) = &authd.group
        && group.resolve().is_err()
        && !missing.contains(name)
    {
        missing.push(name.clone());
    }
    missing
}

/// How to create the missing `users`, and how to go on.
fn users_help(users: &[String], rerun: &str) -> String {
    let mut text = format!(
        "postern quickstart: the system users {} do not exist. postern runs each daemon as \
         its own user; create them with\n",
        users.join(", ")
    );
    if Path::new(SYSUSERS_FILE).exists() {
        text.push_str(&format!("  systemd-sysusers {SYSUSERS_FILE}\n"));
    } else {
        text.push_str(
            "  systemd-sysusers packaging/sysusers.d/postern.conf     (the file from \
             postern's source; the Debian package installs it and runs this itself)\n",
        );
    }
    text.push_str("or, without systemd-sysusers,\n");
    for user in users {
        text.push_str(&format!(
            "  adduser --system --group --home / --no-create-home --shell /usr/sbin/nologin {user}\n"
        ));
    }
    text.push_str(&format!("and then finish with\n  {rerun}\n"));
    text
}

/// What quickstart did with the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigAction {
    Written,
    Used,
    HostnameSet,
}

/// Runs quickstart with the config file at `config_path`.
pub fn run(config_path: &Path, args: &QuickstartArgs) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "postern quickstart must run as root: it writes the config, creates the data \
             directories for the daemons' users and starts authd as its user. To try \
             postern as yourself, use `postern localserve`"
        );
    }
    let first = parse_email(&args.email)?;
    let hostname = dns_name(&args.hostname).context("HOSTNAME")?;
    let config_path = std::path::absolute(config_path)
        .with_context(|| format!("cannot resolve {}", config_path.display()))?;
    let rerun = format!(
        "postern quickstart {} {hostname} --config {} --existing-config",
        first.address,
        config_path.display()
    );

    let action = if args.existing_config {
        if !config_path.exists() {
            bail!(
                "no config at {}; leave out --existing-config to write one",
                config_path.display()
            );
        }
        let config = Config::load(&config_path)?;
        if config.localserve {
            bail!(
                "{} is a localserve config (`localserve = true`); quickstart sets up a server",
                config_path.display()
            );
        }
        if config.hostname == hostname {
            ConfigAction::Used
        } else {
            set_hostname(&config_path, &hostname)?;
            tracing::info!(config = %config_path.display(), hostname, "set the hostname");
            ConfigAction::HostnameSet
        }
    } else {
        let data_dir = std::path::absolute(&args.data_dir)
            .with_context(|| format!("cannot resolve {}", args.data_dir.display()))?;
        let runtime_dir = std::path::absolute(&args.runtime_dir)
            .with_context(|| format!("cannot resolve {}", args.runtime_dir.display()))?;
        let mut config = new_config(&hostname, &data_dir, &runtime_dir, &args.authd_user);
        // The certificate lives next to the config (/etc/postern/tls by default).
        let tls_dir = config_path.parent().unwrap_or(Path::new("/")).join("tls");
        config.imapd.tls_certificate = tls_dir.join("cert.pem");
        config.imapd.tls_key = tls_dir.join("key.pem");
        config.submitd.tls_certificate = config.imapd.tls_certificate.clone();
        config.submitd.tls_key = config.imapd.tls_key.clone();
        config.webd.tls_certificate = config.imapd.tls_certificate.clone();
        config.webd.tls_key = config.imapd.tls_key.clone();
        // Outgoing mail from the domain is DKIM-signed; set_up makes the key.
        config.submitd.delivery.dkim = vec![DkimKey {
            domain: first.domain.clone(),
            selector: crate::dkim::selector_for_year(current_year()),
            algorithm: DkimAlgorithm::Ed25519,
            key_file: None,
            expire_seconds: None,
        }];
        write_new_config(&config_path, &config)?;
        tracing::info!(config = %config_path.display(), "wrote the config");
        ConfigAction::Written
    };
    let written_note = if action == ConfigAction::Written {
        format!(
            "; the config {} is written: finish with `{rerun}`",
            config_path.display()
        )
    } else {
        String::new()
    };
    set_up(&config_path, &first, &hostname, action, &rerun)
        .map_err(|e| anyhow!("{e:#}{written_note}"))
}

/// Everything after the config file is in place.
fn set_up(
    config_path: &Path,
    first: &FirstAccount,
    hostname: &str,
    action: ConfigAction,
    rerun: &str,
) -> anyhow::Result<()> {
    let config_path = fs::canonicalize(config_path)
        .with_context(|| format!("cannot read config {}", config_path.display()))?;
    let config = Config::load(&config_path)?;
    if config.hostname != hostname {
        bail!(
            "{} says hostname = {:?} after setting it to {hostname:?}",
            config_path.display(),
            config.hostname
        );
    }
    let missing = missing_users(&config);
    if !missing.is_empty() {
        eprint!("{}", users_help(&missing, rerun));
        bail!(
            "the system users {} do not exist (how to create them is above)",
            missing.join(", ")
        );
    }
    let certificate = ensure_certificate(&config)?;
    let password = generate_password().context("cannot generate a password")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let already_running = runtime.block_on(async {
        match Admin::connect_raw(&config.admin_socket()).await {
            Ok(mut admin) => {
                if action == ConfigAction::Written {
                    bail!(
                        "an authd already answers on {}, though the config was only written \
                         now; stop it first",
                        config.admin_socket().display()
                    );
                }
                tracing::info!(
                    socket = %config.admin_socket().display(),
                    "authd is running already; making the account through it"
                );
                create_account(&mut admin, first, &password).await?;
                Ok(true)
            }
            Err(ClientError::Connect { .. }) => Ok(false),
            Err(e) => Err(connect_error(
                &config.admin_socket().display().to_string(),
                e,
            )),
        }
    })?;
    if !already_running {
        // Exactly as `postern serve` starts it.
        let (authd, ready) = crate::serve::prepare_authd(&config_path, &config)?;
        let started = runtime.block_on(async {
            let mut supervision = Supervision::new(RestartPolicy::from_config(&config));
            let mut exits = supervision.exits();
            supervision.start(authd);
            let result = async {
                match wait_started(ready, AUTHD.name, &mut exits).await {
                    Startup::Ready => {}
                    Startup::TimedOut => bail!(
                        "authd did not report readiness within {} s; its log is above",
                        READY_TIMEOUT.as_secs()
                    ),
                    Startup::Exited => bail!(
                        "authd exited during start-up ({}); its log is above",
                        last_exit(&supervision)
                    ),
                }
                let mut admin = Admin::connect(&config.admin_socket()).await?;
                create_account(&mut admin, first, &password).await
            }
            .await;
            supervision.stop_all().await;
            result
        });
        // The sockets were only for this run; the units or `postern serve` bind their own.
        for socket in [
            config.auth_socket(),
            config.admin_socket(),
            ReadySocket::path_in(&crate::serve::notify_dir(&config), AUTHD.name),
        ] {
            let _ = fs::remove_file(socket);
        }
        started?;
    }
    let dkim = {
        let (uid, gid) = resolve_identity(&config.submitd.user, None)
            .map_err(|e| anyhow!("submitd's user: {e}"))?;
        fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        crate::dkim::ensure_keys(&config, Identity { uid, gid })?
    };
    let mut text = summary(
        &config_path,
        &config,
        first,
        &password,
        action,
        already_running,
        &dkim,
    );
    if certificate == CertificateState::MadeSelfSigned {
        text.push_str(&certificate_note(&config));
    }
    crate::output::emit(&text)?;
    Ok(())
}

/// This year (UTC), for the DKIM selector.
fn current_year() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    crate::output::civil_from_days(now.div_euclid(86_400)).0
}

/// Whether quickstart found the TLS certificate or made one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CertificateState {
    /// The certificate and key files were there.
    Present,
    /// Both were missing: a self-signed one for the hostname was made.
    MadeSelfSigned,
}

/// Makes a self-signed certificate for the hostname at the configured paths when
/// neither file exists, so that imapd can start; refuses when only one of them exists.
fn ensure_certificate(config: &Config) -> anyhow::Result<CertificateState> {
    let cert = &config.imapd.tls_certificate;
    let key = &config.imapd.tls_key;
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok(CertificateState::Present),
        (false, false) => {}
        _ => bail!(
            "of the TLS certificate {} and key {}, only one exists; put both in place (or \
             remove both to have quickstart make a self-signed one)",
            cert.display(),
            key.display()
        ),
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let made = crate::tls::self_signed(&[config.hostname.as_str()], "postern", now)?;
    for (path, data, mode) in [
        (key, made.private_key_pem.as_bytes(), 0o600),
        (cert, made.certificate_pem.as_bytes(), 0o644),
    ] {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(data)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    tracing::info!(certificate = %cert.display(), "made a self-signed certificate");
    Ok(CertificateState::MadeSelfSigned)
}

/// What to do about the self-signed certificate quickstart made.
fn certificate_note(config: &Config) -> String {
    format!(
        "\nTLS: a self-signed certificate for {host} is in {cert} (key {key}, root only),\n\
         so IMAP works at once, but mail clients will warn about it. Replace both files\n\
         with a certificate from a CA, e.g. with certbot:\n\
         \x20 certbot certonly --standalone -d {host}\n\
         \x20 install -m 644 /etc/letsencrypt/live/{host}/fullchain.pem {cert}\n\
         \x20 install -m 600 /etc/letsencrypt/live/{host}/privkey.pem {key}\n\
         then `systemctl restart postern-imapd postern-submitd` (or `systemctl reload postern`, which sends\n\
         SIGHUP to `postern serve`).\n",
        host = config.hostname,
        cert = config.imapd.tls_certificate.display(),
        key = config.imapd.tls_key.display(),
    )
}

fn last_exit(supervision: &Supervision) -> String {
    supervision
        .status()
        .into_iter()
        .find_map(|d| d.last_exit)
        .unwrap_or_else(|| "unknown status".into())
}

/// Creates the account with its address and password, unless the name or the address
/// is taken.
async fn create_account(
    admin: &mut Admin,
    first: &FirstAccount,
    password: &str,
) -> anyhow::Result<()> {
    let accounts = admin.accounts().await?;
    if accounts.iter().any(|a| a.name == first.account) {
        bail!(
            "the account {} exists already; quickstart creates only the first account (its \
             password: `postern account password {}`)",
            first.account,
            first.account
        );
    }
    if let Some(owner) = accounts.iter().find(|a| {
        a.addresses
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&first.address))
    }) {
        bail!(
            "the address {} belongs to the account {} already",
            first.address,
            owner.name
        );
    }
    admin
        .call_done(AdminRequest::AccountAdd {
            account: first.account.clone(),
            address: first.address.clone(),
        })
        .await
        .with_context(|| format!("cannot create the account {}", first.account))?;
    admin
        .call_done(AdminRequest::AccountSetPassword {
            account: first.account.clone(),
            password: Secret(password.to_string()),
        })
        .await
        .with_context(|| format!("cannot set the password of {}", first.account))?;
    tracing::info!(account = %first.account, "account created");
    Ok(())
}

/// What quickstart prints at the end: the account with its password (the only time it
/// is shown), the DNS records, and how to start.
fn summary(
    config_path: &Path,
    config: &Config,
    first: &FirstAccount,
    password: &str,
    action: ConfigAction,
    already_running: bool,
    dkim: &[DkimRecord],
) -> String {
    let config_shown = config_path.display();
    let domain = &first.domain;
    let host = &config.hostname;
    let config_line = match action {
        ConfigAction::Written => format!("{config_shown} (written now)"),
        ConfigAction::Used => format!("{config_shown} (as it was)"),
        ConfigAction::HostnameSet => format!("{config_shown} (hostname set to {host})"),
    };
    let mut text = format!(
        "postern is set up for {domain}.\n\
         \n\
         config    {config_line}\n\
         data      {data}\n\
         \n\
         The first account. Its password is shown only this once; change it with\n\
         `postern account password {account}`.\n\
         \n\
         \x20 account   {account}\n\
         \x20 address   {address}\n\
         \x20 password  {password}\n\
         \n\
         DNS records to add for {domain} (the addresses are placeholders: use this\n\
         server's public IPv4 and IPv6 addresses; leave out AAAA without IPv6):\n\
         \n",
        data = config.data_dir.display(),
        account = first.account,
        address = first.address,
    );
    let mut records = vec![
        (format!("{domain}."), "MX", format!("10 {host}.")),
        (format!("{host}."), "A", "192.0.2.1".to_string()),
        (format!("{host}."), "AAAA", "2001:db8::1".to_string()),
        (
            format!("{domain}."),
            "TXT",
            "\"v=spf1 mx -all\"".to_string(),
        ),
        (
            format!("_dmarc.{domain}."),
            "TXT",
            format!("\"v=DMARC1; p=reject; rua=mailto:{}\"", first.address),
        ),
    ];
    for record in dkim {
        records.push((record.name.clone(), "TXT", format!("\"{}\"", record.value)));
    }
    let width = records.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, kind, value) in &records {
        text.push_str(&format!("  {name:<width$}  {kind:<4}  {value}\n"));
    }
    text.push_str(&format!(
        "\nAlso have the reverse DNS (PTR) of those addresses set to {host}.\n"
    ));
    if dkim.is_empty() {
        text.push_str(
            "No DKIM key is configured: add one under [submitd.delivery] dkim (see the\n\
             example config) and run quickstart again with --existing-config for its record.\n\n",
        );
    } else {
        text.push_str(
            "submitd signs mail from these domains with DKIM; the TXT records above publish\n\
             the keys (in the data directory's submitd/dkim, readable by submitd alone).\n\n",
        );
    }
    if already_running {
        text.push_str("authd was running already and has the account.");
        if action == ConfigAction::HostnameSet {
            text.push_str(
                " Restart it to use the new hostname:\n\
                 \x20 systemctl restart postern-authd.service   (or restart `postern serve`)\n",
            );
        } else {
            text.push('\n');
        }
    } else {
        text.push_str(&format!(
            "Start postern, either with systemd (the Debian package's units):\n\
             \x20 systemctl enable --now postern-authd.socket postern-authd-admin.socket postern-authd.service\n\
             \x20 systemctl enable --now postern-imapd.socket postern-imapd-tls.socket postern-imapd-store.socket postern-imapd.service\n\
             \x20 systemctl enable --now postern-submitd.socket postern-submitd-tls.socket postern-submitd.service\n\
             \x20 systemctl enable --now postern-webd.socket postern-webd-admin.socket postern-webd.service\n\
             or with its own supervisor:\n\
             \x20 postern serve --config {config_shown}\n"
        ));
        let defaults = config_path == Path::new(DEFAULT_CONFIG_PATH)
            && config.data_dir == Path::new(DEFAULT_DATA_DIR)
            && config.runtime_dir == Path::new(DEFAULT_RUNTIME_DIR);
        if !defaults {
            text.push_str(&format!(
                "(The systemd units read {DEFAULT_CONFIG_PATH} and use {DEFAULT_DATA_DIR}\n\
                 and {DEFAULT_RUNTIME_DIR}; with other paths, use `postern serve`.)\n"
            ));
        }
    }
    text.push_str(&format!(
        "\nThen: postern --config {config_shown} account list\n\
         \n\
         Web pages: the account pages at https://{hostname}/ (log in with an address and\n\
         its password); the admin pages only on loopback, http://127.0.0.1:8080/admin/,\n\
         reached over ssh (ssh -L 8080:127.0.0.1:8080 you@{hostname}), after setting the\n\
         admin password with: postern --config {config_shown} admin password\n",
        hostname = config.hostname,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_from_the_alphabet() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LENGTH);
        const { assert!(PASSWORD_LENGTH >= 12) };
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
        let mut sorted = PASSWORD_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PASSWORD_ALPHABET.len(), "no character twice");
        const { assert!(PASSWORD_ALPHABET.len() >= 50) };
    }

    #[test]
    fn every_character_is_equally_likely() {
        // Over all byte values, the accepted ones map to each character equally often.
        let mut counts = vec![0u32; PASSWORD_ALPHABET.len()];
        let mut accepted = 0;
        for byte in 0..=255u8 {
            if let Some(c) = pick(byte) {
                accepted += 1;
                let i = PASSWORD_ALPHABET
                    .iter()
                    .position(|x| char::from(*x) == c)
                    .unwrap();
                counts[i] += 1;
            }
        }
        assert_eq!(accepted % PASSWORD_ALPHABET.len(), 0);
        assert!(counts.iter().all(|n| *n == counts[0]), "{counts:?}");
        assert!(accepted > 200);
        // And drawn passwords use the whole alphabet.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(generate_password().unwrap().bytes());
        }
        assert_eq!(seen.len(), PASSWORD_ALPHABET.len());
    }

    #[test]
    fn email_and_names() {
        let first = parse_email("mjl@Example.ORG").unwrap();
        assert_eq!(
            first,
            FirstAccount {
                account: "mjl".into(),
                address: "mjl@example.org".into(),
                domain: "example.org".into(),
            }
        );
        for bad in [
            "mjl",
            "@example.org",
            "mjl@",
            "m jl@example.org",
            "mjl@localhost",
            "mjl@exa_mple.org",
            "mjl@192.0.2.1",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(dns_name("Mail.Example.org.").unwrap(), "mail.example.org");
        for bad in ["", "mail", "-a.example.org", "a..b", &"a".repeat(64)] {
            assert!(dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostname_line_is_replaced_only_at_the_top() {
        let text = "# hostname = \"commented\"\nhostname = \"mail.example.org\" # change\n\
                    data_dir = \"/d\"\n[authd]\nhostname = \"not this\"\n";
        let new = with_hostname(text, "mx.example.net").unwrap();
        assert_eq!(
            new,
            "# hostname = \"commented\"\nhostname = \"mx.example.net\"\n\
             data_dir = \"/d\"\n[authd]\nhostname = \"not this\"\n"
        );
        assert_eq!(with_hostname("data_dir = \"/d\"\n", "x.example"), None);
        assert_eq!(
            with_hostname("hostname = \"a\"\nhostname = \"b\"\n", "x.example"),
            None
        );
        // The packaged example config has its hostname line where this finds it.
        let packaged = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/postern.toml");
        let Ok(packaged) = std::fs::read_to_string(packaged) else {
            eprintln!("SKIPPED the packaged config's hostname: no {packaged}");
            return;
        };
        let set = with_hostname(&packaged, "mx.example.net").unwrap();
        let config: Config = toml::from_str(&set).unwrap();
        assert_eq!(config.hostname, "mx.example.net");
    }

    #[test]
    fn written_config_has_the_packaged_users() {
        let config = new_config(
            "mail.example.org",
            Path::new("/var/lib/postern"),
            Path::new("/run/postern"),
            "64140",
        );
        assert_eq!(config.authd.user, UserRef::Uid(64140));
        assert_eq!(
            config.authd.imap_callers,
            vec![UserRef::Name("postern-imapd".into())]
        );
        assert!(!config.localserve);
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("etc/postern.toml");
        write_new_config(&path, &config).unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        let err = write_new_config(&path, &config).unwrap_err().to_string();
        assert!(err.contains("--existing-config"), "{err}");
    }

    #[test]
    fn summary_has_records_and_start_commands() {
        let config = new_config(
            "mail.example.org",
            Path::new(DEFAULT_DATA_DIR),
            Path::new(DEFAULT_RUNTIME_DIR),
            "postern-authd",
        );
        let first = parse_email("mjl@example.org").unwrap();
        let text = summary(
            Path::new(DEFAULT_CONFIG_PATH),
            &config,
            &first,
            "PASSWORDpassword",
            ConfigAction::Written,
            false,
            &[DkimRecord {
                name: "postern2026._domainkey.example.org.".into(),
                value: "v=DKIM1; k=ed25519; p=KEY".into(),
            }],
        );
        assert_eq!(text.matches("PASSWORDpassword").count(), 1);
        for needle in [
            "MX    10 mail.example.org.",
            "A     192.0.2.1",
            "AAAA  2001:db8::1",
            "\"v=spf1 mx -all\"",
            "_dmarc.example.org.",
            "\"v=DMARC1; p=reject; rua=mailto:mjl@example.org\"",
            "postern2026._domainkey.example.org.  TXT   \"v=DKIM1; k=ed25519; p=KEY\"",
            "submitd signs mail from these domains with DKIM",
            "systemctl enable --now postern-authd.socket postern-authd-admin.socket postern-authd.service",
            "postern serve --config /etc/postern/postern.toml",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(!text.contains("with other paths"), "{text}");
    }
}
