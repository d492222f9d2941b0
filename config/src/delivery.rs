//! submitd's outbound delivery settings (`[submitd.delivery]`): transports, the routes
//! that choose them, retry timing and DKIM signing.
//!
//! ```toml
//! [submitd.delivery]
//! retry_first_seconds = 450
//! retry_max_interval_seconds = 57600
//! give_up_after_seconds = 432000
//!
//! [submitd.delivery.transports.relay]
//! method = "smarthost"
//! host = "smtp.example.net"
//! port = 587
//! tls = "starttls"
//! username = "me@example.net"
//! password_file = "/etc/postern/relay.password"
//!
//! [[submitd.delivery.routes]]
//! to_domains = [".example.com"]
//! transport = "relay"
//!
//! [[submitd.delivery.dkim]]
//! domain = "example.org"
//! selector = "2026a"
//! algorithm = "ed25519"
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How submitd delivers what it queued.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Seconds between the first failed attempt and the second; each later interval
    /// doubles (mox: 7.5 minutes).
    pub retry_first_seconds: u64,
    /// The longest interval between two attempts.
    pub retry_max_interval_seconds: u64,
    /// After this many seconds in the queue, a recipient that still fails temporarily
    /// bounces (a DSN goes to the sender).
    pub give_up_after_seconds: u64,
    /// Messages delivered at the same time.
    pub max_concurrent_deliveries: usize,
    /// Seconds to wait for a TCP connection (and a SOCKS5 proxy's answer).
    pub connect_timeout_seconds: u64,
    /// Seconds to wait for each SMTP reply (RFC 5321 §4.5.3.2 suggests 5 to 10 minutes).
    pub command_timeout_seconds: u64,
    /// The name submitd gives in EHLO; default the config's `hostname`.
    pub ehlo_hostname: Option<String>,
    /// DNS servers for MX, A and AAAA lookups of direct delivery; empty: the system's
    /// (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
    /// Named transports, used by routes.
    pub transports: BTreeMap<String, Transport>,
    /// Routes of one account, tried first (account name → routes, in order).
    pub account_routes: BTreeMap<String, Vec<Route>>,
    /// Routes of one sender domain, tried after the account's (domain → routes).
    pub domain_routes: BTreeMap<String, Vec<Route>>,
    /// Global routes, tried last. No matching route: direct delivery to the MX.
    pub routes: Vec<Route>,
    /// DKIM keys; outgoing (remote) mail is signed with every key of the sender's
    /// domain.
    pub dkim: Vec<DkimKey>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry_first_seconds: 450,
            retry_max_interval_seconds: 16 * 3600,
            give_up_after_seconds: 5 * 24 * 3600,
            max_concurrent_deliveries: 10,
            connect_timeout_seconds: 30,
            command_timeout_seconds: 300,
            ehlo_hostname: None,
            dns_servers: Vec::new(),
            transports: BTreeMap::new(),
            account_routes: BTreeMap::new(),
            domain_routes: BTreeMap::new(),
            routes: Vec::new(),
            dkim: Vec::new(),
        }
    }
}

/// A way to deliver remote mail.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Transport {
    /// To the recipient domain's MX hosts (A/AAAA when there is no MX), with
    /// opportunistic STARTTLS.
    Direct {
        /// The port dialled on the MX hosts (25; other values only for tests).
        #[serde(default = "default_smtp_port")]
        port: u16,
        /// Whether IPv4 addresses are used.
        #[serde(default = "yes")]
        ipv4: bool,
        /// Whether IPv6 addresses are used.
        #[serde(default = "yes")]
        ipv6: bool,
    },
    /// To the MX hosts as `direct`, but every connection is made through a SOCKS5
    /// proxy (which resolves nothing: submitd looks the names up and asks the proxy
    /// for addresses).
    Socks {
        /// The proxy, `host:port`.
        proxy: String,
        /// The port dialled on the MX hosts.
        #[serde(default = "default_smtp_port")]
        port: u16,
        /// The name given in EHLO (the proxy's public name); default the EHLO name.
        ehlo_hostname: Option<String>,
    },
    /// An SMTP relay that accepts mail for any domain.
    Smarthost(RelayTransport),
    /// A third party's submission service: TLS (STARTTLS or implicit) and AUTH are
    /// required.
    Submission(RelayTransport),
}

fn default_smtp_port() -> u16 {
    25
}

fn yes() -> bool {
    true
}

/// A relay host: a smarthost or a submission service.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RelayTransport {
    /// Host name or IP address.
    pub host: String,
    /// Port; default 25 for a smarthost, 587 for submission with STARTTLS and 465 with
    /// implicit TLS.
    pub port: Option<u16>,
    /// How TLS is used; default `starttls`, which requires it.
    #[serde(default)]
    pub tls: TlsMode,
    /// Whether the server's certificate is verified (against the system's roots and
    /// `ca_file`) and must name `host`.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// Extra trusted CA certificates (PEM), e.g. a private relay's own CA.
    pub ca_file: Option<PathBuf>,
    /// AUTH user name; AUTH is used only when set (always for `submission`).
    pub username: Option<String>,
    /// A file holding the AUTH password (its first line), readable by submitd.
    pub password_file: Option<PathBuf>,
    /// The SASL mechanisms allowed, most preferred first; default SCRAM-SHA-256-PLUS,
    /// SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN (PLAIN and
    /// LOGIN only over TLS). The first one the server offers is used.
    #[serde(default)]
    pub mechanisms: Vec<String>,
}

/// How a relay connection uses TLS.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// STARTTLS, required: a server that does not offer it is a temporary failure.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
    /// Plain text (only for relays on a trusted network or loopback).
    None,
}

/// A rule choosing a transport. Empty lists match everything; an entry starting with
/// `.` matches that domain and its subdomains.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Sender (MAIL FROM) domains this route is for.
    #[serde(default)]
    pub from_domains: Vec<String>,
    /// Recipient domains this route is for.
    #[serde(default)]
    pub to_domains: Vec<String>,
    /// The route applies only once this many attempts were made (e.g. 3: fall back to
    /// a smarthost from the 4th attempt).
    #[serde(default)]
    pub minimum_attempts: u32,
    /// The name of the transport in `transports`.
    pub transport: String,
}

/// A DKIM signing key.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimKey {
    /// The signing domain (`d=`), the sender's domain.
    pub domain: String,
    /// The selector (`s=`); the public key is published at
    /// `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// `ed25519` or `rsa`.
    pub algorithm: DkimAlgorithm,
    /// The private key, PKCS#8 PEM (RSA also PKCS#1), readable by submitd alone;
    /// default `<data_dir>/submitd/dkim/<domain>.<selector>.pem`.
    pub key_file: Option<PathBuf>,
    /// Seconds a signature is valid (`x=`); none when unset.
    pub expire_seconds: Option<u64>,
}

impl DkimKey {
    /// Where the key is when `key_file` is not set:
    /// `<submitd_dir>/dkim/<domain>.<selector>.pem`.
    pub fn default_key_path(&self, submitd_dir: &std::path::Path) -> PathBuf {
        submitd_dir.join("dkim").join(format!(
            "{}.{}.pem",
            self.domain.to_ascii_lowercase(),
            self.selector
        ))
    }

    /// The key file: `key_file`, else [`DkimKey::default_key_path`].
    pub fn key_path(&self, submitd_dir: &std::path::Path) -> PathBuf {
        self.key_file
            .clone()
            .unwrap_or_else(|| self.default_key_path(submitd_dir))
    }
}

/// A DKIM signing algorithm.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    /// ed25519-sha256 (RFC 8463).
    Ed25519,
    /// rsa-sha256.
    Rsa,
}

impl DeliveryConfig {
    /// Checks what TOML's types cannot: routes name existing transports, relays have a
    /// host, submission transports have credentials.
    pub fn check(&self) -> Result<(), String> {
        let all_routes = self
            .account_routes
            .values()
            .chain(self.domain_routes.values())
            .flatten()
            .chain(self.routes.iter());
        for route in all_routes {
            if !self.transports.contains_key(&route.transport) {
                return Err(format!(
                    "submitd.delivery: a route names transport {:?}, which is not defined",
                    route.transport
                ));
            }
        }
        for (name, transport) in &self.transports {
            match transport {
                Transport::Smarthost(relay) | Transport::Submission(relay) => {
                    if relay.host.trim().is_empty() {
                        return Err(format!("submitd.delivery.transports.{name}: empty host"));
                    }
                    if relay.username.is_some() != relay.password_file.is_some() {
                        return Err(format!(
                            "submitd.delivery.transports.{name}: username and password_file go together"
                        ));
                    }
                }
                Transport::Socks { proxy, .. } => {
                    if !proxy.contains(':') {
                        return Err(format!(
                            "submitd.delivery.transports.{name}: proxy must be host:port"
                        ));
                    }
                }
                Transport::Direct { ipv4, ipv6, .. } => {
                    if !ipv4 && !ipv6 {
                        return Err(format!(
                            "submitd.delivery.transports.{name}: both IPv4 and IPv6 disabled"
                        ));
                    }
                }
            }
            if let Transport::Submission(relay) = transport {
                if relay.username.is_none() {
                    return Err(format!(
                        "submitd.delivery.transports.{name}: submission needs username and password_file"
                    ));
                }
                if matches!(relay.tls, TlsMode::None | TlsMode::Opportunistic) {
                    return Err(format!(
                        "submitd.delivery.transports.{name}: submission needs tls = \"starttls\" or \"tls\""
                    ));
                }
            }
        }
        if self.retry_first_seconds == 0 || self.max_concurrent_deliveries == 0 {
            return Err("submitd.delivery: retry_first_seconds and max_concurrent_deliveries must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_and_checks() {
        let text = r#"
retry_first_seconds = 450
[transports.relay]
method = "smarthost"
host = "smtp.example.net"
port = 587
tls = "starttls"
username = "me@example.net"
password_file = "/etc/postern/relay.password"
[transports.mx]
method = "direct"
[transports.tor]
method = "socks"
proxy = "127.0.0.1:9050"
[[routes]]
to_domains = [".example.com"]
transport = "relay"
[[account_routes.mjl]]
minimum_attempts = 3
transport = "relay"
[[dkim]]
domain = "example.org"
selector = "2026a"
algorithm = "ed25519"
"#;
        let config: DeliveryConfig = toml::from_str(text).unwrap();
        config.check().unwrap();
        assert_eq!(config.routes[0].transport, "relay");
        assert!(matches!(
            config.transports.get("mx"),
            Some(Transport::Direct {
                port: 25,
                ipv4: true,
                ipv6: true
            })
        ));
        let back: DeliveryConfig = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn the_defaults_round_trip_inside_the_whole_config() {
        let mut config =
            crate::Config::new("h", std::path::Path::new("/d"), std::path::Path::new("/r"));
        config.submitd.delivery.routes.push(Route {
            from_domains: Vec::new(),
            to_domains: vec![".example.com".into()],
            minimum_attempts: 2,
            transport: "relay".into(),
        });
        config.submitd.delivery.transports.insert(
            "relay".into(),
            Transport::Smarthost(RelayTransport {
                host: "smtp.example.net".into(),
                port: None,
                tls: TlsMode::Starttls,
                tls_verify: true,
                ca_file: None,
                username: None,
                password_file: None,
                mechanisms: Vec::new(),
            }),
        );
        let text = config.to_toml();
        let back: crate::Config = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        back.submitd.delivery.check().unwrap();
    }

    #[test]
    fn a_route_to_an_unknown_transport_is_refused() {
        let text = "[[routes]]\ntransport = \"nowhere\"\n";
        let config: DeliveryConfig = toml::from_str(text).unwrap();
        assert!(config.check().is_err());
    }

    #[test]
    fn submission_without_credentials_is_refused() {
        let text = "[transports.s]\nmethod = \"submission\"\nhost = \"smtp.example.net\"\n";
        let config: DeliveryConfig = toml::from_str(text).unwrap();
        assert!(config.check().is_err());
    }
}
