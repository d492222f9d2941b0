//! postern's configuration file (`postern.toml`): its types, defaults and the paths
//! derived from it. Every daemon and the admin CLI read the same file; each uses only
//! its own part.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod delivery;

/// Where the config file is looked for when neither `--config` nor `POSTERN_CONFIG`
/// names one.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/postern/postern.toml";

/// The largest message the mail store takes, by IMAP APPEND (`APPENDLIMIT`) or by
/// delivery through its store socket: 100 MiB.
pub const MAX_STORED_MESSAGE: u64 = 100 * 1024 * 1024;

/// Room kept for the header fields submitd puts before a submitted message (Received,
/// and Date and Message-ID when missing). What it adds is bounded well below this:
/// a Received line names at most the host name, the TLS facts, the account and one
/// recipient (a 4 KiB SMTP line at most).
pub const SUBMISSION_ADDED_HEADERS: u64 = 8 * 1024;

/// The largest `[submitd] max_message_size` (the SIZE submitd advertises): a message
/// of that size with the headers submitd adds still fits the store, so what submitd
/// acknowledges can be delivered.
pub const MAX_SUBMISSION_SIZE: u64 = MAX_STORED_MESSAGE - SUBMISSION_ADDED_HEADERS;

/// The longest host name accepted (a DNS name's limit, RFC 1035).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// Why the config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with position.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The mail server's host name (used in greetings and CRAM-MD5 challenges).
    pub hostname: String,
    /// Root of persistent data; each daemon has its own directory below it.
    pub data_dir: PathBuf,
    /// Directory for sockets, created at start.
    pub runtime_dir: PathBuf,
    /// Set by `postern localserve`: every daemon runs as the invoking user.
    #[serde(default)]
    pub localserve: bool,
    /// Do not fix ownership and modes of data directories at start.
    #[serde(default)]
    pub no_fix_permissions: bool,
    /// authd's settings.
    #[serde(default)]
    pub authd: AuthdConfig,
    /// Brute-force slowdown settings.
    #[serde(default)]
    pub ratelimit: RateLimitConfig,
    /// How `postern serve` supervises the daemons.
    #[serde(default)]
    pub supervisor: SupervisorConfig,
    /// imapd's settings.
    #[serde(default)]
    pub imapd: ImapdConfig,
    /// submitd's settings.
    #[serde(default)]
    pub submitd: SubmitdConfig,
    /// webd's settings: the account and admin web pages.
    #[serde(default)]
    pub webd: WebdConfig,
}

/// imapd's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapdConfig {
    /// The system user imapd runs as.
    pub user: UserRef,
    /// Addresses for IMAP with STARTTLS, used when no socket named `imap` is passed.
    pub imap_listen: Vec<std::net::SocketAddr>,
    /// Addresses for IMAP over implicit TLS, used when no socket named `imaps` is passed.
    pub imaps_listen: Vec<std::net::SocketAddr>,
    /// PEM certificate chain, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_certificate: PathBuf,
    /// PEM private key, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_key: PathBuf,
    /// Users that may deliver messages through the store socket (submitd's and webd's
    /// users). In localserve, imapd's own user (the invoking user) always may.
    pub store_callers: Vec<UserRef>,
    /// Seconds a connection may take from its start to a login before it is closed;
    /// unset: imapd's `LOGIN_DEADLINE` (60 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_deadline_seconds: Option<u64>,
}

impl Default for ImapdConfig {
    fn default() -> Self {
        ImapdConfig {
            user: UserRef::Name("postern-imapd".into()),
            imap_listen: vec![std::net::SocketAddr::from(([0u16; 8], 143))],
            imaps_listen: vec![std::net::SocketAddr::from(([0u16; 8], 993))],
            tls_certificate: PathBuf::from("/etc/postern/tls/cert.pem"),
            tls_key: PathBuf::from("/etc/postern/tls/key.pem"),
            store_callers: vec![
                UserRef::Name("postern-submitd".into()),
                UserRef::Name("postern-webd".into()),
            ],
            login_deadline_seconds: None,
        }
    }
}

/// submitd's settings: SMTP submission and the outbound queue.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitdConfig {
    /// The system user submitd runs as (a name or a numeric uid).
    pub user: UserRef,
    /// Addresses for submission with STARTTLS (587), used when no socket named
    /// `submission` is passed.
    pub submission_listen: Vec<std::net::SocketAddr>,
    /// Addresses for submission over implicit TLS (465), used when no socket named
    /// `submissions` is passed.
    pub submissions_listen: Vec<std::net::SocketAddr>,
    /// PEM certificate chain, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_certificate: PathBuf,
    /// PEM private key, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_key: PathBuf,
    /// Largest message accepted, in bytes (SIZE); at most [`MAX_SUBMISSION_SIZE`].
    pub max_message_size: u64,
    /// Most recipients accepted per message.
    pub max_recipients: usize,
    /// Outbound delivery: transports, routes, retries, DKIM.
    pub delivery: delivery::DeliveryConfig,
    /// Seconds a connection may take from its start to a login before it is closed;
    /// unset: submitd's `LOGIN_DEADLINE` (60 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_deadline_seconds: Option<u64>,
}

impl Default for SubmitdConfig {
    fn default() -> Self {
        SubmitdConfig {
            user: UserRef::Name("postern-submitd".into()),
            submission_listen: vec![std::net::SocketAddr::from(([0u16; 8], 587))],
            submissions_listen: vec![std::net::SocketAddr::from(([0u16; 8], 465))],
            tls_certificate: PathBuf::from("/etc/postern/tls/cert.pem"),
            tls_key: PathBuf::from("/etc/postern/tls/key.pem"),
            max_message_size: MAX_SUBMISSION_SIZE,
            max_recipients: 1000,
            delivery: delivery::DeliveryConfig::default(),
            login_deadline_seconds: None,
        }
    }
}

/// webd's settings. The account pages are served at `/` of the account listeners
/// (HTTPS, and plain HTTP for use behind a reverse proxy or in localserve), the admin
/// pages at `/admin/` of the admin listeners (plain HTTP, loopback by default: reach
/// them over an ssh tunnel).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WebdConfig {
    /// The system user webd runs as.
    pub user: UserRef,
    /// Addresses for the account pages over HTTPS, used when no sockets are passed
    /// (passed sockets are named `web-https`).
    pub https_listen: Vec<std::net::SocketAddr>,
    /// Addresses for the account pages over plain HTTP (behind a reverse proxy that
    /// speaks HTTPS to browsers, or in localserve); passed sockets are named `web-http`.
    pub http_listen: Vec<std::net::SocketAddr>,
    /// Addresses for the admin pages over plain HTTP, loopback by default; passed
    /// sockets are named `web-admin`.
    pub admin_listen: Vec<std::net::SocketAddr>,
    /// Serve the admin pages under `/admin/` of the account listeners too (localserve,
    /// where one port serves everything). Off by default: the admin pages stay on
    /// loopback.
    pub admin_on_account_listeners: bool,
    /// Reverse proxies (`address/prefix` or a bare address) whose `X-Forwarded-For`
    /// and `X-Forwarded-Proto` are believed. From any other peer these headers are
    /// ignored.
    pub trusted_proxies: Vec<String>,
    /// PEM certificate chain, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_certificate: PathBuf,
    /// PEM private key, used when `$CREDENTIALS_DIRECTORY` is not set.
    pub tls_key: PathBuf,
}

impl Default for WebdConfig {
    fn default() -> Self {
        WebdConfig {
            user: UserRef::Name("postern-webd".into()),
            https_listen: vec![std::net::SocketAddr::from(([0u16; 8], 443))],
            http_listen: Vec::new(),
            admin_listen: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 8080))],
            admin_on_account_listeners: false,
            trusted_proxies: Vec::new(),
            tls_certificate: PathBuf::from("/etc/postern/tls/cert.pem"),
            tls_key: PathBuf::from("/etc/postern/tls/key.pem"),
        }
    }
}

/// How `postern serve` supervises the daemons.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// Seconds a daemon gets to exit after SIGTERM before it is killed.
    pub grace_seconds: u64,
    /// The longest wait before restarting a daemon that keeps exiting.
    pub restart_delay_max_seconds: u64,
    /// A daemon that ran this long is healthy: its restart delay starts over.
    pub healthy_seconds: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            grace_seconds: 10,
            restart_delay_max_seconds: 30,
            healthy_seconds: 60,
        }
    }
}

/// A group named in the config: a name from the group database, or a numeric gid.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum GroupRef {
    /// A numeric gid.
    Gid(u32),
    /// A group name, looked up at start.
    Name(String),
}

impl GroupRef {
    /// The gid, looking names up in the group database.
    pub fn resolve(&self) -> Result<u32, String> {
        match self {
            GroupRef::Gid(gid) => Ok(*gid),
            GroupRef::Name(name) => match nix::unistd::Group::from_name(name) {
                Ok(Some(group)) => Ok(group.gid.as_raw()),
                Ok(None) => Err(format!("no such group {name:?}")),
                Err(e) => Err(format!("looking up group {name:?}: {e}")),
            },
        }
    }
}

/// The uid and gid a daemon runs as: its configured user, and its configured group or
/// else the user's primary group (a numeric uid without a group gets the same number).
pub fn resolve_identity(user: &UserRef, group: Option<&GroupRef>) -> Result<(u32, u32), String> {
    let uid = user.resolve()?;
    let gid = match (group, user) {
        (Some(group), _) => group.resolve()?,
        (None, UserRef::Uid(uid)) => *uid,
        (None, UserRef::Name(name)) => match nix::unistd::User::from_name(name) {
            Ok(Some(user)) => user.gid.as_raw(),
            Ok(None) => return Err(format!("no such user {name:?}")),
            Err(e) => return Err(format!("looking up user {name:?}: {e}")),
        },
    };
    Ok((uid, gid))
}

/// A user named in the config: a name from the user database, or a numeric uid.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum UserRef {
    /// A numeric uid.
    Uid(u32),
    /// A user name, looked up at start.
    Name(String),
}

impl UserRef {
    /// The uid, looking names up in the user database.
    pub fn resolve(&self) -> Result<u32, String> {
        match self {
            UserRef::Uid(uid) => Ok(*uid),
            UserRef::Name(name) => match nix::unistd::User::from_name(name) {
                Ok(Some(user)) => Ok(user.uid.as_raw()),
                Ok(None) => Err(format!("no such user {name:?}")),
                Err(e) => Err(format!("looking up user {name:?}: {e}")),
            },
        }
    }
}

/// authd's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthdConfig {
    /// The system user authd runs as.
    pub user: UserRef,
    /// Its group; default the user's primary group.
    pub group: Option<GroupRef>,
    /// Users that may ask for IMAP logins (imapd's user).
    pub imap_callers: Vec<UserRef>,
    /// Users that may ask for submission logins (submitd's user).
    pub submission_callers: Vec<UserRef>,
    /// Users that may ask for web logins and sessions (webd's user).
    pub web_callers: Vec<UserRef>,
    /// Users that may use the admin socket. uid 0 always may, except in localserve,
    /// where the invoking user is listed instead.
    pub admin_users: Vec<UserRef>,
    /// Whether accounts' mail is kept by imapd, which then must confirm removal of an
    /// account's data before its name can be used again.
    pub mail_store: bool,
    /// argon2id memory cost in KiB (OWASP minimum 19456).
    pub argon2_memory_kib: u32,
    /// argon2id passes.
    pub argon2_iterations: u32,
    /// Whether `Bob@example.org` and `bob@example.org` are different addresses. By
    /// default (false) localparts compare case-insensitively in logins, delivery and
    /// sender checks, and an address differing from an existing one only by case is
    /// refused.
    pub localpart_case_sensitive: bool,
}

impl Default for AuthdConfig {
    fn default() -> Self {
        AuthdConfig {
            user: UserRef::Name("postern-authd".into()),
            group: None,
            imap_callers: vec![UserRef::Name("postern-imapd".into())],
            submission_callers: vec![UserRef::Name("postern-submitd".into())],
            web_callers: vec![UserRef::Name("postern-webd".into())],
            admin_users: vec![UserRef::Uid(0)],
            mail_store: true,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            localpart_case_sensitive: false,
        }
    }
}

/// Limits of the failed-login limiter, per window, for the three prefix lengths
/// (IPv4 /32, /26, /21; IPv6 /64, /48, /32).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Failures per minute allowed for the three prefix levels.
    pub per_minute: [u32; 3],
    /// Failures per day allowed for the three prefix levels.
    pub per_day: [u32; 3],
    /// Failures per minute allowed against one account (or one unknown login name),
    /// from all addresses together that never logged in to it.
    pub account_per_minute: u32,
    /// Failures per day allowed against one account (or one unknown login name), from
    /// all addresses together that never logged in to it.
    pub account_per_day: u32,
    /// Networks never limited, as `address/prefix` or a bare address.
    pub trusted_networks: Vec<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: [10, 30, 90],
            per_day: [50, 150, 450],
            account_per_minute: 20,
            account_per_day: 100,
            trusted_networks: Vec::new(),
        }
    }
}

/// A network in `address/prefix` form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Network {
    /// The address, with host bits as given.
    pub address: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl Network {
    /// Parses `192.0.2.0/24`, `2001:db8::/32` or a bare address (full length).
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Network { address, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Config {
    /// A config with defaults for everything but the host name and directories.
    pub fn new(hostname: &str, data_dir: &Path, runtime_dir: &Path) -> Config {
        Config {
            hostname: hostname.to_string(),
            data_dir: data_dir.to_path_buf(),
            runtime_dir: runtime_dir.to_path_buf(),
            localserve: false,
            no_fix_permissions: false,
            authd: AuthdConfig::default(),
            ratelimit: RateLimitConfig::default(),
            supervisor: SupervisorConfig::default(),
            imapd: ImapdConfig::default(),
            submitd: SubmitdConfig::default(),
            webd: WebdConfig::default(),
        }
    }

    /// Reads and checks the config file at `path`. Relative directories in it are taken
    /// relative to the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for dir in [&mut config.data_dir, &mut config.runtime_dir] {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        config.check().map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Checks values that TOML's types cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.hostname.trim().is_empty() {
            return Err("hostname must not be empty".into());
        }
        if self.hostname.len() > MAX_HOSTNAME_LEN {
            return Err(format!(
                "hostname must be at most {MAX_HOSTNAME_LEN} bytes long"
            ));
        }
        if self.submitd.max_message_size > MAX_SUBMISSION_SIZE {
            return Err(format!(
                "[submitd] max_message_size must be at most {MAX_SUBMISSION_SIZE}: the \
                 store takes messages of {MAX_STORED_MESSAGE} bytes, and submitd adds up \
                 to {SUBMISSION_ADDED_HEADERS} bytes of header fields"
            ));
        }
        for net in &self.ratelimit.trusted_networks {
            Network::parse(net)?;
        }
        for net in &self.webd.trusted_proxies {
            Network::parse(net).map_err(|e| format!("[webd] trusted_proxies: {e}"))?;
        }
        if self.authd.argon2_memory_kib < 8 || self.authd.argon2_iterations < 1 {
            return Err("argon2 parameters too small".into());
        }
        self.submitd.delivery.check()?;
        Ok(())
    }

    /// The config as TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// The file resolved from `--config`, then `POSTERN_CONFIG`, then the default.
    pub fn path_from(arg: Option<&Path>) -> PathBuf {
        if let Some(p) = arg {
            return p.to_path_buf();
        }
        match std::env::var_os("POSTERN_CONFIG") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }

    /// authd's data directory (mode 0700, authd's user).
    pub fn authd_dir(&self) -> PathBuf {
        self.data_dir.join("authd")
    }

    /// The credentials database.
    pub fn authd_database(&self) -> PathBuf {
        self.authd_dir().join("auth.db")
    }

    /// The auth socket, for protocol daemons.
    pub fn auth_socket(&self) -> PathBuf {
        self.runtime_dir.join("auth.sock")
    }

    /// The admin socket, for the admin CLI.
    pub fn admin_socket(&self) -> PathBuf {
        self.runtime_dir.join("admin.sock")
    }

    /// The supervisor's control socket (`postern status`), root only.
    pub fn control_socket(&self) -> PathBuf {
        self.runtime_dir.join("control.sock")
    }

    /// submitd's data directory: the outbound queue and DKIM keys (mode 0700,
    /// submitd's user).
    pub fn submitd_dir(&self) -> PathBuf {
        self.data_dir.join("submitd")
    }

    /// imapd's mail store root (mode 0700, imapd's user).
    pub fn imapd_dir(&self) -> PathBuf {
        self.data_dir.join("imapd")
    }

    /// imapd's store socket, through which submitd and webd deliver messages.
    pub fn store_socket(&self) -> PathBuf {
        self.runtime_dir.join("store.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_toml() {
        let c = Config::new("mail.example.org", Path::new("/d"), Path::new("/r"));
        let text = c.to_toml();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn the_submission_size_leaves_room_for_added_headers_in_the_store() {
        let mut c = Config::new("mail.example.org", Path::new("/d"), Path::new("/r"));
        assert_eq!(c.submitd.max_message_size, MAX_SUBMISSION_SIZE);
        assert_eq!(
            MAX_SUBMISSION_SIZE + SUBMISSION_ADDED_HEADERS,
            MAX_STORED_MESSAGE
        );
        assert!(c.check().is_ok());
        c.submitd.max_message_size = MAX_SUBMISSION_SIZE + 1;
        assert!(c.check().unwrap_err().contains("max_message_size"));
        c.submitd.max_message_size = 1000;
        c.hostname = "h".repeat(MAX_HOSTNAME_LEN + 1);
        assert!(c.check().unwrap_err().contains("hostname"));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = "hostname='h'\ndata_dir='/d'\nruntime_dir='/r'\nbogus=1\n";
        assert!(toml::from_str::<Config>(text).is_err());
    }

    #[test]
    fn networks() {
        let n = Network::parse("192.0.2.0/24").unwrap();
        assert!(n.contains("192.0.2.200".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(!n.contains("::1".parse().unwrap()));
        let n = Network::parse("2001:db8::/32").unwrap();
        assert!(n.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("nonsense").is_err());
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
