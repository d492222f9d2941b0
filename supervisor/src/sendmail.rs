//! `postern sendmail`: a sendmail-compatible command for cron jobs and scripts. It reads a
//! message on stdin and submits it to the configured submission server (postern's
//! submitd or any other) with a password or a TLS client certificate. Recipients come
//! from the arguments and, with `-t`, from the To, Cc and Bcc headers.
#![forbid(unsafe_code)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Deserialize;

use crate::smtp_client::{self, Login, Submission, TlsMode};

/// Where the sendmail settings are read from unless `-C FILE` or
/// `$POSTERN_SENDMAIL_CONFIG` names a file.
pub const DEFAULT_SENDMAIL_CONFIG: &str = "/etc/postern/sendmail.toml";
/// The largest message read from stdin.
pub const MAX_MESSAGE_SIZE: u64 = 100 * 1024 * 1024;
/// The PKCS#8 v1 prefix of an Ed25519 private key, before its 32-byte seed (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// How TLS starts with the submission server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsSetting {
    /// TLS at once (port 465).
    Implicit,
    /// STARTTLS (port 587).
    Starttls,
}

/// The settings file (`/etc/postern/sendmail.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendmailConfig {
    /// The submission server, `host:port`.
    pub server: String,
    /// `implicit` or `starttls`.
    pub tls: TlsSetting,
    /// PEM certificates to verify the server with instead of the system's CAs (e.g. a
    /// self-signed server certificate).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The envelope sender when `-f` is not given (and the From header when the
    /// message has none).
    pub from: String,
    /// Login name for a password login.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for a password login (keep the file readable only by its user).
    #[serde(default)]
    pub password: Option<String>,
    /// A PEM file with an unencrypted PKCS#8 private key and its certificate chain, for a
    /// client-certificate login.
    #[serde(default)]
    pub client_certificate: Option<PathBuf>,
    /// A raw Ed25519 private key (the 32-byte seed, base64url without padding, as `mox`
    /// writes it); a minimal certificate is made from it for a client-certificate login.
    #[serde(default)]
    pub client_ed25519_key: Option<String>,
}

/// What the command line asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendmailArgs {
    /// `-t`: recipients from the headers too.
    pub recipients_from_headers: bool,
    /// `-f ADDRESS`: the envelope sender.
    pub from: Option<String>,
    /// `-i` / `-oi`: a line with a single dot does not end the message.
    pub ignore_dots: bool,
    /// `-C FILE`: the settings file.
    pub config: Option<PathBuf>,
    /// Recipients given as arguments.
    pub recipients: Vec<String>,
}

/// Parses sendmail's arguments (after `sendmail`). Options sendmail knows but that do
/// not apply here (`-oem`, `-odi`, `-v`, `-bm`, `-F NAME`, …) are accepted and ignored.
pub fn parse_args(args: &[String]) -> anyhow::Result<SendmailArgs> {
    let mut out = SendmailArgs::default();
    let mut iter = args.iter();
    let mut options_done = false;
    while let Some(arg) = iter.next() {
        if options_done || !arg.starts_with('-') || arg == "-" {
            out.recipients.push(arg.clone());
            continue;
        }
        match arg.as_str() {
            "--" => options_done = true,
            "-t" => out.recipients_from_headers = true,
            "-i" | "-oi" => out.ignore_dots = true,
            "-f" | "-r" => {
                out.from = Some(
                    iter.next()
                        .ok_or_else(|| anyhow!("{arg} needs an address"))?
                        .clone(),
                )
            }
            "-C" => {
                out.config = Some(PathBuf::from(
                    iter.next().ok_or_else(|| anyhow!("-C needs a file"))?,
                ))
            }
            "-F" | "-O" | "-o" | "-N" | "-R" | "-V" | "-X" | "-B" | "-L" | "-h" | "-p" | "-q" => {
                iter.next();
            }
            _ if arg.starts_with("-f") || arg.starts_with("-r") => {
                out.from = Some(arg[2..].to_string());
            }
            _ if arg.starts_with("-C") => out.config = Some(PathBuf::from(&arg[2..])),
            "-bm" | "-v" | "-m" | "-U" | "-n" | "-G" | "-Am" | "-Ac" => {}
            _ if arg.starts_with("-o") || arg.starts_with("-F") || arg.starts_with("-B") => {}
            _ if arg.starts_with("-b") => bail!("sendmail mode {arg} is not supported"),
            _ => bail!("unknown option {arg}"),
        }
    }
    Ok(out)
}

/// Reads the message from `input`: to its end, or (without `-i`) to a line holding a
/// single dot. Line ends become CRLF.
pub fn read_message(input: &mut dyn std::io::Read, ignore_dots: bool) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    input
        .take(MAX_MESSAGE_SIZE + 1)
        .read_to_end(&mut raw)
        .context("cannot read the message from stdin")?;
    if raw.len() as u64 > MAX_MESSAGE_SIZE {
        bail!("the message is larger than {MAX_MESSAGE_SIZE} bytes");
    }
    let mut message = Vec::with_capacity(raw.len() + raw.len() / 40);
    for line in raw.split_inclusive(|b| *b == b'\n') {
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if !ignore_dots && content == b"." {
            break;
        }
        message.extend_from_slice(content);
        message.extend_from_slice(b"\r\n");
    }
    Ok(message)
}

/// The header block of `message` (up to the empty line) and the rest.
fn split_header(message: &[u8]) -> (&[u8], &[u8]) {
    if message.starts_with(b"\r\n") {
        return (&[], message);
    }
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => message.split_at(at + 2),
        None => (message, &[]),
    }
}

/// The header fields of `header` as (name, whole field with continuation lines).
fn header_fields(header: &[u8]) -> Vec<(String, &[u8])> {
    let mut fields: Vec<(String, usize, usize)> = Vec::new();
    let mut start = 0;
    for line in header.split_inclusive(|b| *b == b'\n') {
        let end = start + line.len();
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(last)) => last.2 = end,
            _ => {
                let name = line
                    .iter()
                    .position(|b| *b == b':')
                    .map(|colon| {
                        String::from_utf8_lossy(&line[..colon])
                            .trim()
                            .to_ascii_lowercase()
                    })
                    .unwrap_or_default();
                fields.push((name, start, end));
            }
        }
        start = end;
    }
    fields
        .into_iter()
        .map(|(name, a, b)| (name, &header[a..b]))
        .collect()
}

/// The addresses in To, Cc and Bcc fields.
fn header_recipients(fields: &[(String, &[u8])]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, field) in fields {
        if !matches!(name.as_str(), "to" | "cc" | "bcc") {
            continue;
        }
        let parsed = mail_parser::MessageParser::default().parse_headers(*field);
        let Some(message) = parsed else { continue };
        for header in message.headers() {
            if let mail_parser::HeaderValue::Address(address) = header.value() {
                for addr in address.iter() {
                    if let Some(a) = addr.address() {
                        out.push(a.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Builds what is submitted: the recipients (arguments, then with `-t` the headers'),
/// the message without Bcc fields, with a From field added if it had none.
pub fn prepare(
    args: &SendmailArgs,
    from: &str,
    message: &[u8],
) -> anyhow::Result<(Vec<String>, Vec<u8>)> {
    let (header, body) = split_header(message);
    let fields = header_fields(header);
    let mut recipients = args.recipients.clone();
    if args.recipients_from_headers {
        recipients.extend(header_recipients(&fields));
    }
    let mut seen = std::collections::HashSet::new();
    recipients.retain(|r| seen.insert(r.to_ascii_lowercase()));
    if recipients.is_empty() {
        bail!("no recipients: name them as arguments, or use -t with To/Cc/Bcc headers");
    }
    let mut out = Vec::with_capacity(message.len() + from.len() + 16);
    if !fields.iter().any(|(name, _)| name == "from") {
        out.extend_from_slice(format!("From: <{from}>\r\n").as_bytes());
    }
    for (name, field) in &fields {
        if name != "bcc" {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(body);
    Ok((recipients, out))
}

/// Loads the settings.
pub fn load_config(path: &Path) -> anyhow::Result<SendmailConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the sendmail settings {}", path.display()))?;
    let config: SendmailConfig = toml::from_str(&text)
        .map_err(|e| anyhow!("invalid sendmail settings {}: {e}", path.display()))?;
    let logins = [
        config.password.is_some(),
        config.client_certificate.is_some(),
        config.client_ed25519_key.is_some(),
    ];
    if logins.iter().filter(|set| **set).count() != 1 {
        bail!(
            "{}: set exactly one of password (with username), client_certificate and client_ed25519_key",
            path.display()
        );
    }
    if config.password.is_some() && config.username.is_none() {
        bail!("{}: a password needs a username", path.display());
    }
    Ok(config)
}

/// A minimal self-signed certificate for the Ed25519 key with this seed.
pub fn certificate_for_ed25519_seed(
    seed_base64url: &str,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seed_base64url.trim().trim_end_matches('='))
        .context("client_ed25519_key is not base64url")?;
    if seed.len() != 32 {
        bail!(
            "client_ed25519_key must be a 32-byte seed, not {} bytes",
            seed.len()
        );
    }
    let mut pkcs8 = ED25519_PKCS8_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    let key = PrivatePkcs8KeyDer::from(pkcs8);
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key, &rcgen::PKCS_ED25519)
        .context("client_ed25519_key is not a usable Ed25519 key")?;
    let params =
        rcgen::CertificateParams::new(Vec::<String>::new()).context("certificate parameters")?;
    let cert = params
        .self_signed(&pair)
        .context("making the client certificate")?;
    Ok((vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key)))
}

/// The TLS configuration: server verification and, for certificate logins, the client
/// certificate.
fn tls_config(config: &SendmailConfig) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("cannot read certificates from {}", path.display()))?;
            for cert in certs {
                roots
                    .add(cert)
                    .with_context(|| format!("unusable certificate in {}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                bail!("no CA certificates found on this system; set ca_file");
            }
        }
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let tls = if let Some(path) = &config.client_certificate {
        let certs = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot read certificates from {}", path.display()))?;
        if certs.is_empty() {
            bail!("{} holds no CERTIFICATE", path.display());
        }
        let key = PrivateKeyDer::from_pem_file(path)
            .with_context(|| format!("{} holds no usable private key", path.display()))?;
        builder
            .with_client_auth_cert(certs, key)
            .with_context(|| format!("{}: the key does not fit the certificate", path.display()))?
    } else if let Some(seed) = &config.client_ed25519_key {
        let (certs, key) = certificate_for_ed25519_seed(seed)?;
        builder.with_client_auth_cert(certs, key)?
    } else {
        builder.with_no_client_auth()
    };
    Ok(Arc::new(tls))
}

/// The settings file: `-C FILE`, else `$POSTERN_SENDMAIL_CONFIG`, else the default.
fn config_path(args: &SendmailArgs) -> PathBuf {
    if let Some(path) = &args.config {
        return path.clone();
    }
    match std::env::var_os("POSTERN_SENDMAIL_CONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SENDMAIL_CONFIG),
    }
}

/// Runs `postern sendmail ARGS` with the message on stdin.
pub fn run(raw_args: &[String]) -> anyhow::Result<()> {
    let args = parse_args(raw_args)?;
    let config = load_config(&config_path(&args))?;
    let message = read_message(&mut std::io::stdin().lock(), args.ignore_dots)?;
    let from = args.from.clone().unwrap_or_else(|| config.from.clone());
    let (recipients, message) = prepare(&args, &from, &message)?;
    let (host, port) = config
        .server
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow!("server must be host:port, not {:?}", config.server))?;
    let login = match (&config.username, &config.password) {
        (Some(username), Some(password)) => Login::Password {
            username: username.clone(),
            password: password.clone(),
        },
        _ => Login::Certificate,
    };
    let mode = match config.tls {
        TlsSetting::Implicit => TlsMode::Implicit,
        TlsSetting::Starttls => TlsMode::StartTls,
    };
    let helo = nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.nodename().to_str().map(str::to_string))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    smtp_client::submit(
        host,
        port,
        mode,
        tls_config(&config)?,
        &helo,
        &login,
        &Submission {
            mail_from: &from,
            recipients: &recipients,
            message: &message,
        },
    )
    .with_context(|| format!("submitting to {}", config.server))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> SendmailArgs {
        parse_args(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn sendmail_options() {
        let a = args(&["-t", "-oi", "-f", "me@example.org", "you@example.org"]);
        assert!(a.recipients_from_headers && a.ignore_dots);
        assert_eq!(a.from.as_deref(), Some("me@example.org"));
        assert_eq!(a.recipients, ["you@example.org"]);
        let a = args(&[
            "-fme@example.org",
            "-i",
            "-odi",
            "-oem",
            "-F",
            "Me",
            "--",
            "-odd@x",
        ]);
        assert_eq!(a.from.as_deref(), Some("me@example.org"));
        assert_eq!(a.recipients, ["-odd@x"]);
        assert!(parse_args(&["-bs".to_string()]).is_err());
        assert!(parse_args(&["-f".to_string()]).is_err());
    }

    #[test]
    fn reads_to_a_lone_dot_unless_told_not_to() {
        let input = b"Subject: x\n\nline\n.\nafter\n";
        assert_eq!(
            read_message(&mut &input[..], false).unwrap(),
            b"Subject: x\r\n\r\nline\r\n"
        );
        assert_eq!(
            read_message(&mut &input[..], true).unwrap(),
            b"Subject: x\r\n\r\nline\r\n.\r\nafter\r\n"
        );
    }

    #[test]
    fn recipients_from_headers_and_bcc_removed() {
        let message = b"To: A <a@example.org>, b@example.org\r\nCc: c@example.org\r\nBcc: hidden@example.org,\r\n other@example.org\r\nSubject: hi\r\n\r\nBcc: body@example.org\r\n";
        let a = args(&["-t", "a@example.org"]);
        let (recipients, out) = prepare(&a, "me@example.org", message).unwrap();
        assert_eq!(
            recipients,
            [
                "a@example.org",
                "b@example.org",
                "c@example.org",
                "hidden@example.org",
                "other@example.org"
            ]
        );
        assert_eq!(
            out,
            b"From: <me@example.org>\r\nTo: A <a@example.org>, b@example.org\r\nCc: c@example.org\r\nSubject: hi\r\n\r\nBcc: body@example.org\r\n"
        );
        assert!(prepare(&args(&[]), "me@example.org", message).is_err());
        let (_, out) = prepare(&args(&["x@y"]), "me@x", b"From: me@x\r\n\r\nbody\r\n").unwrap();
        assert_eq!(out, b"From: me@x\r\n\r\nbody\r\n");
    }

    #[test]
    fn ed25519_seed_makes_a_certificate() {
        let seed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 32]);
        let (certs, _) = certificate_for_ed25519_seed(&seed).unwrap();
        assert_eq!(certs.len(), 1);
        assert!(certificate_for_ed25519_seed("c2hvcnQ").is_err());
    }
}
