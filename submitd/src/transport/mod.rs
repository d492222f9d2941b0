//! Remote delivery: choosing a transport by the routes of `[submitd.delivery]`, and
//! running it (direct to the MX hosts, through a SOCKS5 proxy, to a smarthost or to a
//! third party's submission service).

pub mod routes;
pub mod sasl;
pub mod smtp;
pub mod socks5;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use postern_config::delivery::{DeliveryConfig, RelayTransport, TlsMode, Transport};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use smtp::{Io, Reply, SmtpClient, SmtpError};

/// What became of one recipient in one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Accepted by the receiving server.
    Delivered {
        /// The host that accepted it.
        remote: String,
    },
    /// Failed this time; try again later.
    Temporary {
        /// What happened.
        error: String,
    },
    /// Failed for good; bounce.
    Permanent {
        /// SMTP code (e.g. 550).
        code: u16,
        /// Enhanced status code (e.g. `5.1.1`).
        status: String,
        /// What the server said, or what went wrong.
        diagnostic: String,
        /// The server that refused, if one did.
        remote: Option<String>,
    },
}

impl RecipientOutcome {
    fn from_reply(reply: &Reply, remote: &str) -> RecipientOutcome {
        if reply.is_permanent() {
            RecipientOutcome::Permanent {
                code: reply.code,
                status: reply.status(),
                diagnostic: reply.to_string(),
                remote: Some(remote.to_string()),
            }
        } else {
            RecipientOutcome::Temporary {
                error: format!("{remote}: {reply}"),
            }
        }
    }

    fn from_error(error: &SmtpError, remote: &str) -> RecipientOutcome {
        match error.reply() {
            Some(reply) => RecipientOutcome::from_reply(reply, remote),
            None => RecipientOutcome::Temporary {
                error: format!("{remote}: {error}"),
            },
        }
    }
}

/// One message to send over one transport to recipients of one domain.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// Reverse path; empty for `<>`.
    pub mail_from: &'a str,
    /// Whether SMTPUTF8 is needed.
    pub smtputf8: bool,
    /// The recipients, all of `domain`.
    pub recipients: &'a [String],
    /// The recipients' domain.
    pub domain: &'a str,
    /// DKIM-Signature header fields to put before the message (may be empty).
    pub dkim_headers: &'a [u8],
    /// The message as queued.
    pub message: &'a [u8],
}

/// The transports of `[submitd.delivery]`, ready to use: TLS settings built, passwords
/// read, a DNS resolver for direct delivery.
pub struct Transports {
    config: DeliveryConfig,
    ehlo_name: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    relays: std::collections::BTreeMap<String, RelaySetup>,
    /// TLS for opportunistic STARTTLS on MX hosts: any certificate is accepted (no
    /// MTA-STS or DANE yet), so it protects against passive listeners only.
    opportunistic_tls: Arc<rustls::ClientConfig>,
    resolver: std::sync::OnceLock<Result<TokioResolver, String>>,
}

struct RelaySetup {
    tls: Arc<rustls::ClientConfig>,
    password: Option<String>,
}

impl std::fmt::Debug for Transports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transports")
            .field(
                "transports",
                &self.config.transports.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Transports {
    /// Prepares the transports of `config` (reads password files and CA files).
    pub fn load(config: &DeliveryConfig, ehlo_name: &str) -> Result<Transports, String> {
        config.check()?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut relays = std::collections::BTreeMap::new();
        for (name, transport) in &config.transports {
            let relay = match transport {
                Transport::Smarthost(relay) | Transport::Submission(relay) => relay,
                Transport::Direct { .. } | Transport::Socks { .. } => continue,
            };
            let tls = if relay.tls_verify {
                verified_tls(&provider, relay.ca_file.as_deref())
            } else {
                unverified_tls(&provider)
            }
            .map_err(|e| format!("transport {name}: {e}"))?;
            let password = match &relay.password_file {
                Some(path) => {
                    Some(read_password(path).map_err(|e| format!("transport {name}: {e}"))?)
                }
                None => None,
            };
            relays.insert(name.clone(), RelaySetup { tls, password });
        }
        Ok(Transports {
            config: config.clone(),
            ehlo_name: config
                .ehlo_hostname
                .clone()
                .unwrap_or_else(|| ehlo_name.to_string()),
            connect_timeout: Duration::from_secs(config.connect_timeout_seconds.max(1)),
            command_timeout: Duration::from_secs(config.command_timeout_seconds.max(1)),
            relays,
            opportunistic_tls: unverified_tls(&provider)?,
            resolver: std::sync::OnceLock::new(),
        })
    }

    /// The transport name the routes choose for this attempt; `None`: direct.
    pub fn choose(
        &self,
        account: &str,
        from_domain: &str,
        to_domain: &str,
        attempts: u32,
    ) -> Option<&str> {
        routes::choose(&self.config, account, from_domain, to_domain, attempts)
    }

    /// Sends `outgoing` over the transport named `transport` (`None`: direct), with a
    /// result for each of its recipients.
    pub async fn deliver(
        &self,
        transport: Option<&str>,
        outgoing: &Outgoing<'_>,
    ) -> Vec<RecipientOutcome> {
        let all = |outcome: RecipientOutcome| vec![outcome; outgoing.recipients.len()];
        let chosen = match transport {
            None => None,
            Some(name) => match self.config.transports.get(name) {
                Some(t) => Some((name, t)),
                None => {
                    return all(RecipientOutcome::Temporary {
                        error: format!("transport {name:?} is not configured"),
                    });
                }
            },
        };
        match chosen {
            None => self.deliver_mx(outgoing, 25, true, true, None).await,
            Some((_, Transport::Direct { port, ipv4, ipv6 })) => {
                self.deliver_mx(outgoing, *port, *ipv4, *ipv6, None).await
            }
            Some((
                _,
                Transport::Socks {
                    proxy,
                    port,
                    ehlo_hostname,
                },
            )) => {
                let socks = SocksVia {
                    proxy,
                    ehlo: ehlo_hostname.as_deref().unwrap_or(&self.ehlo_name),
                };
                self.deliver_mx(outgoing, *port, true, true, Some(socks))
                    .await
            }
            Some((name, Transport::Smarthost(relay))) => {
                self.deliver_relay(name, relay, 25, false, outgoing).await
            }
            Some((name, Transport::Submission(relay))) => {
                let port = if relay.tls == TlsMode::Tls { 465 } else { 587 };
                self.deliver_relay(name, relay, port, true, outgoing).await
            }
        }
    }

    async fn deliver_relay(
        &self,
        name: &str,
        relay: &RelayTransport,
        default_port: u16,
        require_auth: bool,
        outgoing: &Outgoing<'_>,
    ) -> Vec<RecipientOutcome> {
        let remote = relay.host.clone();
        let Some(setup) = self.relays.get(name) else {
            return vec![
                RecipientOutcome::Temporary {
                    error: format!("transport {name:?} is not prepared"),
                };
                outgoing.recipients.len()
            ];
        };
        let port = relay.port.unwrap_or(default_port);
        let result = async {
            let server_name = server_name(&relay.host)?;
            let stream = self.connect_tcp(&relay.host, port).await?;
            let (stream, exporter) = if relay.tls == TlsMode::Tls {
                let (s, e) = smtp::tls_handshake(
                    stream,
                    setup.tls.clone(),
                    server_name.clone(),
                    self.command_timeout,
                )
                .await?;
                (s, Some(e))
            } else {
                (stream, None)
            };
            let mut client =
                SmtpClient::greet(stream, &remote, self.command_timeout, exporter).await?;
            client.ehlo(&self.ehlo_name).await?;
            let offered = client.capabilities.has("STARTTLS");
            client = match relay.tls {
                TlsMode::Starttls if !offered => {
                    return Err(SmtpError::Unsupported(format!(
                        "{remote} does not offer STARTTLS, which the transport requires"
                    )));
                }
                TlsMode::Starttls | TlsMode::Opportunistic if offered => {
                    client
                        .starttls(setup.tls.clone(), server_name, &self.ehlo_name)
                        .await?
                }
                _ => client,
            };
            if let (Some(username), Some(password)) = (&relay.username, &setup.password) {
                let preferred: Vec<String> = if relay.mechanisms.is_empty() {
                    sasl::DEFAULT_MECHANISMS
                        .iter()
                        .map(|m| m.to_string())
                        .collect()
                } else {
                    relay
                        .mechanisms
                        .iter()
                        .map(|m| m.to_ascii_uppercase())
                        .collect()
                };
                let mechanism = client.authenticate(username, password, &preferred).await?;
                tracing::debug!(transport = name, %remote, mechanism, "authenticated to relay");
            } else if require_auth {
                return Err(SmtpError::Unsupported(format!(
                    "transport {name} needs credentials"
                )));
            }
            Ok(client)
        }
        .await;
        match result {
            Ok(client) => transaction(client, outgoing).await,
            Err(e) => {
                tracing::info!(transport = name, %remote, error = ?e.to_string(), "relay connection failed");
                // A 5xx to the greeting, EHLO or AUTH is about this server, not the
                // recipients: it may be configured right tomorrow, so retry.
                vec![
                    RecipientOutcome::Temporary {
                        error: format!("{remote}: {e}"),
                    };
                    outgoing.recipients.len()
                ]
            }
        }
    }

    async fn deliver_mx(
        &self,
        outgoing: &Outgoing<'_>,
        port: u16,
        ipv4: bool,
        ipv6: bool,
        socks: Option<SocksVia<'_>>,
    ) -> Vec<RecipientOutcome> {
        let all = |outcome: RecipientOutcome| vec![outcome; outgoing.recipients.len()];
        let hosts = match self.mx_hosts(outgoing.domain).await {
            Ok(hosts) => hosts,
            Err(MxError::NullMx) => {
                return all(RecipientOutcome::Permanent {
                    code: 556,
                    status: "5.1.10".into(),
                    diagnostic: format!("{} accepts no mail (null MX)", outgoing.domain),
                    remote: None,
                });
            }
            Err(MxError::NoSuchDomain) => {
                return all(RecipientOutcome::Permanent {
                    code: 550,
                    status: "5.1.2".into(),
                    diagnostic: format!("domain {} does not exist", outgoing.domain),
                    remote: None,
                });
            }
            Err(MxError::Lookup(e)) => {
                return all(RecipientOutcome::Temporary {
                    error: format!("DNS lookup for {}: {e}", outgoing.domain),
                });
            }
        };
        let ehlo = socks.as_ref().map_or(self.ehlo_name.as_str(), |s| s.ehlo);
        let mut last_error = format!("no mail host for {}", outgoing.domain);
        for host in &hosts {
            let streams: Vec<(String, Box<dyn Io>)> = match &socks {
                Some(via) => {
                    match socks5::connect(via.proxy, host, port, self.connect_timeout).await {
                        Ok(s) => vec![(host.clone(), Box::new(s) as Box<dyn Io>)],
                        Err(e) => {
                            last_error = e.to_string();
                            continue;
                        }
                    }
                }
                None => {
                    let addresses = match self.host_addresses(host, ipv4, ipv6).await {
                        Ok(a) => a,
                        Err(e) => {
                            last_error = format!("{host}: {e}");
                            continue;
                        }
                    };
                    let mut connected = Vec::new();
                    for ip in addresses {
                        match tokio::time::timeout(
                            self.connect_timeout,
                            TcpStream::connect((ip, port)),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                connected.push((host.clone(), Box::new(s) as Box<dyn Io>));
                                break;
                            }
                            Ok(Err(e)) => last_error = format!("{host} ({ip}): {e}"),
                            Err(_) => last_error = format!("{host} ({ip}): connect timed out"),
                        }
                    }
                    connected
                }
            };
            let Some((remote, stream)) = streams.into_iter().next() else {
                continue;
            };
            match self.mx_session(stream, &remote, ehlo).await {
                Ok(client) => return transaction(client, outgoing).await,
                Err(e) => {
                    tracing::info!(%remote, error = ?e.to_string(), "mail host failed before the transaction");
                    last_error = format!("{remote}: {e}");
                }
            }
        }
        all(RecipientOutcome::Temporary { error: last_error })
    }

    /// Greeting, EHLO and opportunistic STARTTLS with a mail host.
    async fn mx_session(
        &self,
        stream: Box<dyn Io>,
        remote: &str,
        ehlo: &str,
    ) -> Result<SmtpClient, SmtpError> {
        let mut client = SmtpClient::greet(stream, remote, self.command_timeout, None).await?;
        client.ehlo(ehlo).await?;
        if client.capabilities.has("STARTTLS")
            && let Ok(name) = server_name(remote)
        {
            client = client
                .starttls(self.opportunistic_tls.clone(), name, ehlo)
                .await?;
        }
        Ok(client)
    }

    async fn connect_tcp(&self, host: &str, port: u16) -> Result<Box<dyn Io>, SmtpError> {
        match tokio::time::timeout(self.connect_timeout, TcpStream::connect((host, port))).await {
            Ok(Ok(stream)) => Ok(Box::new(stream)),
            Ok(Err(source)) => Err(SmtpError::Io {
                stage: "connect",
                source,
            }),
            Err(_) => Err(SmtpError::Timeout("connect")),
        }
    }

    fn resolver(&self) -> Result<&TokioResolver, String> {
        self.resolver
            .get_or_init(|| build_resolver(&self.config))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The hosts to try for `domain`: MX hosts by preference, or the domain itself
    /// when it has no MX records (RFC 5321 §5.1 implicit MX).
    async fn mx_hosts(&self, domain: &str) -> Result<Vec<String>, MxError> {
        if let Some(literal) = address_literal(domain) {
            return Ok(vec![literal.to_string()]);
        }
        let resolver = self.resolver().map_err(MxError::Lookup)?;
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        match resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                        _ => None,
                    })
                    .collect();
                order_mx(&mut mx)
            }
            Err(e) if e.is_nx_domain() => Err(MxError::NoSuchDomain),
            Err(e) if e.is_no_records_found() => Ok(vec![domain.to_string()]),
            Err(e) => Err(MxError::Lookup(e.to_string())),
        }
    }

    async fn host_addresses(
        &self,
        host: &str,
        ipv4: bool,
        ipv6: bool,
    ) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let resolver = self.resolver()?;
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let lookup = resolver
            .lookup_ip(fqdn.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let addresses: Vec<IpAddr> = lookup
            .iter()
            .filter(|ip| (ip.is_ipv4() && ipv4) || (ip.is_ipv6() && ipv6))
            .collect();
        if addresses.is_empty() {
            return Err("no usable address".into());
        }
        Ok(addresses)
    }
}

struct SocksVia<'a> {
    proxy: &'a str,
    ehlo: &'a str,
}

#[derive(Debug)]
enum MxError {
    NullMx,
    NoSuchDomain,
    Lookup(String),
}

/// Sorts MX records by preference and returns the host names; a single `.` host is a
/// null MX (RFC 7505).
fn order_mx(mx: &mut [(u16, String)]) -> Result<Vec<String>, MxError> {
    mx.sort_by_key(|(preference, _)| *preference);
    if mx.len() == 1
        && mx
            .first()
            .is_some_and(|(_, host)| host == "." || host.is_empty())
    {
        return Err(MxError::NullMx);
    }
    Ok(mx
        .iter()
        .map(|(_, host)| host.trim_end_matches('.').to_string())
        .filter(|h| !h.is_empty())
        .collect())
}

/// The address inside a domain literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
fn address_literal(domain: &str) -> Option<&str> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.strip_prefix("IPv6:").unwrap_or(inner))
}

async fn transaction(mut client: SmtpClient, outgoing: &Outgoing<'_>) -> Vec<RecipientOutcome> {
    let remote = client.remote.clone();
    let result = client
        .send(
            outgoing.mail_from,
            outgoing.smtputf8,
            outgoing.recipients,
            &[outgoing.dkim_headers, outgoing.message],
        )
        .await;
    let outcomes = match result {
        Err(e) => vec![RecipientOutcome::from_error(&e, &remote); outgoing.recipients.len()],
        Ok(outcome) => {
            let data = outcome.data;
            outcome
                .recipients
                .into_iter()
                .map(|rcpt| match (rcpt, &data) {
                    (Err(reply), _) => RecipientOutcome::from_reply(&reply, &remote),
                    (Ok(()), Some(Ok(_))) => RecipientOutcome::Delivered {
                        remote: remote.clone(),
                    },
                    (Ok(()), Some(Err(e))) => RecipientOutcome::from_error(e, &remote),
                    (Ok(()), None) => RecipientOutcome::Temporary {
                        error: format!("{remote}: no data sent"),
                    },
                })
                .collect()
        }
    };
    client.quit().await;
    outcomes
}

fn build_resolver(config: &DeliveryConfig) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let builder = if config.dns_servers.is_empty() {
        TokioResolver::builder(provider)
            .map_err(|e| format!("reading the system DNS configuration: {e}"))?
    } else {
        let servers = config
            .dns_servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    builder.build().map_err(|e| format!("DNS resolver: {e}"))
}

fn server_name(host: &str) -> Result<ServerName<'static>, SmtpError> {
    ServerName::try_from(host.trim_end_matches('.').to_string())
        .map_err(|_| SmtpError::Tls(format!("{host:?} is not a valid TLS server name")))
}

fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading password file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(format!("password file {} is empty", path.display()));
    }
    Ok(line)
}

fn verified_tls(
    provider: &Arc<rustls::crypto::CryptoProvider>,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("reading {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("CA in {}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn unverified_tls(
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
            provider: provider.clone(),
        }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A certificate verifier that accepts every certificate but still checks the
/// handshake signatures: encryption against passive listeners only, as opportunistic
/// STARTTLS between mail servers is without MTA-STS or DANE.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mx_records_are_ordered_and_null_mx_is_recognised() {
        let mut mx = vec![
            (20, "b.example.".to_string()),
            (10, "a.example.".to_string()),
        ];
        assert_eq!(order_mx(&mut mx).unwrap(), vec!["a.example", "b.example"]);
        let mut null = vec![(0, ".".to_string())];
        assert!(matches!(order_mx(&mut null), Err(MxError::NullMx)));
    }

    #[test]
    fn address_literals() {
        assert_eq!(address_literal("[192.0.2.1]"), Some("192.0.2.1"));
        assert_eq!(address_literal("[IPv6:2001:db8::1]"), Some("2001:db8::1"));
        assert_eq!(address_literal("example.org"), None);
    }
}
