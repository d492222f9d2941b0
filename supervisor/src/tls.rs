//! TLS certificate files: reading a client certificate to register its public key, and
//! making localserve's self-signed server certificate for `localhost`.
#![forbid(unsafe_code)]

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use x509_parser::pem::Pem;

use crate::output::civil_from_days;

/// The DER of the first `CERTIFICATE` block of the PEM file at `path`, checked to parse
/// as X.509.
pub fn read_certificate_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    certificate_from_pem(&data).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// The DER of the first `CERTIFICATE` block in `pem`, checked to parse as X.509.
pub fn certificate_from_pem(pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| anyhow!("invalid PEM: {e}"))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        if let Err(e) = block.parse_x509() {
            bail!("the CERTIFICATE block is not a valid X.509 certificate: {e}");
        }
        return Ok(block.contents);
    }
    bail!("no CERTIFICATE block found (expected a PEM file with -----BEGIN CERTIFICATE-----)")
}

/// A freshly made self-signed certificate and its private key, both PEM.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate.
    pub certificate_pem: String,
    /// The private key, PKCS#8.
    pub private_key_pem: String,
}

/// Makes an ECDSA P-256 certificate for `localhost`, `127.0.0.1` and `::1`, valid from
/// yesterday for four years.
pub fn self_signed_localhost(now_unix: i64) -> anyhow::Result<SelfSigned> {
    self_signed(
        &["localhost", "127.0.0.1", "::1"],
        "postern localserve",
        now_unix,
    )
}

/// Makes an ECDSA P-256 certificate for `names` (the first is the common name), valid
/// from yesterday for four years.
pub fn self_signed(
    names: &[&str],
    organization: &str,
    now_unix: i64,
) -> anyhow::Result<SelfSigned> {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .context("certificate parameters")?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(
        rcgen::DnType::CommonName,
        names.first().copied().unwrap_or("localhost"),
    );
    name.push(rcgen::DnType::OrganizationName, organization);
    params.distinguished_name = name;
    let (year, month, day) = ymd(now_unix - 86_400, 0);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    let (year, month, day) = ymd(now_unix, 4);
    params.not_after = rcgen::date_time_ymd(year, month, day);
    let key = rcgen::KeyPair::generate().context("generating a key pair")?;
    let cert = params
        .self_signed(&key)
        .context("making the self-signed certificate")?;
    Ok(SelfSigned {
        certificate_pem: cert.pem(),
        private_key_pem: key.serialize_pem(),
    })
}

/// The date of `unix` plus `years` (the day capped at 28 so that it exists in every
/// month).
fn ymd(unix: i64, years: i32) -> (i32, u8, u8) {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let year = i32::try_from(year).unwrap_or(2000).saturating_add(years);
    (year, month as u8, day.min(28) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_round_trip() {
        let made = self_signed_localhost(1_790_000_000).unwrap();
        let der = certificate_from_pem(made.certificate_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            cert.subject().to_string(),
            "CN=localhost, O=postern localserve"
        );
        let validity = cert.validity();
        let years =
            (validity.not_after.timestamp() - validity.not_before.timestamp()) / 86_400 / 365;
        assert_eq!(years, 4);
        assert!(made.private_key_pem.contains("PRIVATE KEY"));
    }

    #[test]
    fn first_certificate_block_is_taken() {
        let made = self_signed_localhost(1_790_000_000).unwrap();
        let combined = format!("{}{}", made.private_key_pem, made.certificate_pem);
        assert!(certificate_from_pem(combined.as_bytes()).is_ok());
        assert!(certificate_from_pem(made.private_key_pem.as_bytes()).is_err());
        assert!(certificate_from_pem(b"garbage").is_err());
        let broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(certificate_from_pem(broken.as_bytes()).is_err());
    }
}
