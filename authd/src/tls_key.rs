//! TLS client certificates as registered by the admin or a user: only the public key
//! matters. The key's identity is the SHA-256 of the certificate's DER
//! SubjectPublicKeyInfo; expiry, names, issuer and signature are ignored.

use postern_ipc::KeyFingerprint;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::error::{PEMError, X509Error};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (what TLS libraries verify; larger keys only cost
/// CPU time on every handshake).
pub const MAX_RSA_BITS: usize = 8192;
/// Longest default name taken from a certificate, in characters.
pub const MAX_DEFAULT_NAME_CHARS: usize = 100;

/// What authd keeps from a client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCertificate {
    /// SHA-256 over the DER SubjectPublicKeyInfo.
    pub fingerprint: KeyFingerprint,
    /// `rsa-<bits>`, `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521` or `ed25519`.
    pub key_type: String,
    /// The subject's common name, or `serial <hex>` when the certificate has none.
    pub default_name: String,
}

/// Why a certificate or PEM text was refused.
#[derive(Debug, thiserror::Error)]
pub enum TlsKeyError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not a valid DER certificate: {0}")]
    Der(#[source] X509Error),
    /// Something follows the certificate.
    #[error("{0} bytes of trailing data after the certificate")]
    TrailingData(usize),
    /// An RSA key below [`MIN_RSA_BITS`].
    #[error("rsa keys smaller than 2048 bits not accepted (this key has {bits} bits)")]
    RsaTooSmall {
        /// The key's modulus size.
        bits: usize,
    },
    /// An RSA key above [`MAX_RSA_BITS`].
    #[error("rsa keys larger than 8192 bits not accepted (this key has {bits} bits)")]
    RsaTooLarge {
        /// The key's modulus size.
        bits: usize,
    },
    /// A key algorithm other than RSA, ECDSA or Ed25519.
    #[error(
        "unsupported public key type (algorithm {0}): only rsa, ecdsa p256/p384/p521 and ed25519 are accepted"
    )]
    UnsupportedKeyType(String),
    /// An ECDSA key on a curve other than P-256, P-384, P-521.
    #[error("unsupported elliptic curve {0}: only p256, p384 and p521 are accepted")]
    UnsupportedCurve(String),
    /// The public key inside the certificate is malformed.
    #[error("invalid public key in certificate: {0}")]
    InvalidKey(&'static str),
    /// The PEM text is malformed.
    #[error("invalid PEM data: {0}")]
    Pem(#[from] PEMError),
    /// The PEM text holds no `CERTIFICATE` block.
    #[error("no CERTIFICATE block found in PEM data")]
    NoCertificate,
    /// The PEM text holds more than the one certificate expected.
    #[error("{0} CERTIFICATE blocks found in PEM data; expected exactly one")]
    SeveralCertificates(usize),
}

/// Parses one DER certificate (nothing may follow it) and derives the key's fingerprint,
/// type and default name.
pub fn parse_certificate(der: &[u8]) -> Result<ParsedCertificate, TlsKeyError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| match e {
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => TlsKeyError::Der(e),
        x509_parser::nom::Err::Incomplete(_) => TlsKeyError::Der(X509Error::InvalidCertificate),
    })?;
    if !rest.is_empty() {
        return Err(TlsKeyError::TrailingData(rest.len()));
    }
    let spki = cert.public_key();
    let key_type = key_type(spki)?;
    let fingerprint = KeyFingerprint(Sha256::digest(spki.raw).into());
    Ok(ParsedCertificate {
        fingerprint,
        key_type,
        default_name: default_name(&cert),
    })
}

/// A key fingerprint as the admin or a user typed it (base64url, 43 characters).
pub fn parse_fingerprint(text: &str) -> Result<KeyFingerprint, String> {
    KeyFingerprint::from_base64url(text.trim())
        .ok_or_else(|| format!("{text:?} is not a key fingerprint (43 characters of base64url)"))
}

/// The DER of the one `CERTIFICATE` block of PEM text (as the account pages accept an
/// uploaded certificate); other blocks are skipped, several certificates refused.
pub fn single_certificate_from_pem(pem: &[u8]) -> Result<Vec<u8>, TlsKeyError> {
    let mut certificates = certificates_from_pem(pem)?;
    match (certificates.pop(), certificates.len()) {
        (Some(der), 0) => Ok(der),
        (_, others) => Err(TlsKeyError::SeveralCertificates(others + 1)),
    }
}

/// The record to store for a certificate registered to `account`: the fingerprint
/// and key type from the certificate, `name` unless empty (else the certificate's
/// common name), the login address canonicalised.
pub fn key_record(
    certificate_der: Vec<u8>,
    account: &str,
    login_address: &str,
    name: Option<String>,
    no_imap_preauth: bool,
    now: i64,
) -> Result<crate::store::TlsKeyRecord, String> {
    let parsed = parse_certificate(&certificate_der).map_err(|e| e.to_string())?;
    let name = name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or(parsed.default_name);
    Ok(crate::store::TlsKeyRecord {
        fingerprint: parsed.fingerprint,
        created: now,
        name,
        key_type: parsed.key_type,
        account: crate::names::normalize_login_name(account),
        login_address: crate::names::canonical_address(login_address).map_err(|e| e.to_string())?,
        no_imap_preauth,
        certificate_der,
    })
}

/// The DER of each `CERTIFICATE` block in PEM text, in order. Other blocks (such as a
/// private key pasted along) are skipped; at least one certificate must be present.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, TlsKeyError> {
    let mut certificates = Vec::new();
    for block in Pem::iter_from_buffer(pem) {
        let block = block?;
        if block.label == "CERTIFICATE" {
            certificates.push(block.contents);
        }
    }
    if certificates.is_empty() {
        return Err(TlsKeyError::NoCertificate);
    }
    Ok(certificates)
}

fn key_type(spki: &SubjectPublicKeyInfo<'_>) -> Result<String, TlsKeyError> {
    let algorithm = &spki.algorithm.algorithm;
    let key = spki.subject_public_key.data.as_ref();
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let x509_parser::public_key::PublicKey::RSA(rsa) = spki
            .parsed()
            .map_err(|_| TlsKeyError::InvalidKey("malformed rsa public key"))?
        else {
            return Err(TlsKeyError::InvalidKey("malformed rsa public key"));
        };
        let bits = bit_length(rsa.modulus);
        if bits < MIN_RSA_BITS {
            return Err(TlsKeyError::RsaTooSmall { bits });
        }
        if bits > MAX_RSA_BITS {
            return Err(TlsKeyError::RsaTooLarge { bits });
        }
        if bit_length(rsa.exponent) == 0 {
            return Err(TlsKeyError::InvalidKey("rsa public exponent is zero"));
        }
        Ok(format!("rsa-{bits}"))
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or(TlsKeyError::InvalidKey("ecdsa key without a named curve"))?;
        let (name, field_len) = if curve == OID_EC_P256 {
            ("ecdsa-p256", 32)
        } else if curve == OID_NIST_EC_P384 {
            ("ecdsa-p384", 48)
        } else if curve == OID_NIST_EC_P521 {
            ("ecdsa-p521", 66)
        } else {
            return Err(TlsKeyError::UnsupportedCurve(curve.to_id_string()));
        };
        // Only the uncompressed form, as TLS libraries accept it.
        if key.len() != 1 + 2 * field_len || key.first() != Some(&4) {
            return Err(TlsKeyError::InvalidKey(
                "ecdsa public key is not an uncompressed point of its curve",
            ));
        }
        Ok(name.to_string())
    } else if *algorithm == OID_SIG_ED25519 {
        if spki.algorithm.parameters.is_some() {
            return Err(TlsKeyError::InvalidKey(
                "ed25519 algorithm identifier has parameters",
            ));
        }
        if key.len() != 32 {
            return Err(TlsKeyError::InvalidKey(
                "ed25519 public key is not 32 bytes",
            ));
        }
        Ok("ed25519".to_string())
    } else {
        Err(TlsKeyError::UnsupportedKeyType(algorithm.to_id_string()))
    }
}

/// The number of significant bits in a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    let mut significant = bytes.iter().skip_while(|&&b| b == 0);
    match significant.next() {
        None => 0,
        Some(&top) => significant.count() * 8 + (8 - top.leading_zeros() as usize),
    }
}

fn default_name(cert: &X509Certificate<'_>) -> String {
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if cn.is_empty() {
        format!("serial {:x}", cert.serial)
    } else {
        // The name is shown in listings: no control characters, bounded length.
        cn.chars()
            .map(|c| if c.is_control() { '\u{fffd}' } else { c })
            .take(MAX_DEFAULT_NAME_CHARS)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256,
        PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PublicKeyData as _, SerialNumber, SignatureAlgorithm,
    };

    fn make_cert(alg: &'static SignatureAlgorithm, cn: Option<&str>) -> (KeyPair, Vec<u8>) {
        let key_pair = KeyPair::generate_for(alg).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        if let Some(cn) = cn {
            dn.push(DnType::CommonName, cn);
        }
        dn.push(DnType::OrganizationName, "postern test");
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from(vec![0x01, 0x2a, 0xbc]));
        let cert = params.self_signed(&key_pair).unwrap();
        (key_pair, cert.der().to_vec())
    }

    #[test]
    fn rcgen_key_types_and_fingerprints() {
        for (alg, want) in [
            (&PKCS_ED25519, "ed25519"),
            (&PKCS_ECDSA_P256_SHA256, "ecdsa-p256"),
            (&PKCS_ECDSA_P384_SHA384, "ecdsa-p384"),
        ] {
            let (key_pair, der) = make_cert(alg, Some("laptop"));
            let parsed = parse_certificate(&der).unwrap();
            assert_eq!(parsed.key_type, want);
            // rcgen 0.14 names the DER SubjectPublicKeyInfo `subject_public_key_info`.
            let expected: [u8; 32] = Sha256::digest(key_pair.subject_public_key_info()).into();
            assert_eq!(parsed.fingerprint, KeyFingerprint(expected), "{want}");
            assert_eq!(parsed.default_name, "laptop");
        }
    }

    #[test]
    fn different_keys_have_different_fingerprints() {
        let (_, a) = make_cert(&PKCS_ED25519, Some("a"));
        let (_, b) = make_cert(&PKCS_ED25519, Some("a"));
        assert_ne!(
            parse_certificate(&a).unwrap().fingerprint,
            parse_certificate(&b).unwrap().fingerprint
        );
    }

    #[test]
    fn no_common_name_gives_serial() {
        let (_, der) = make_cert(&PKCS_ED25519, None);
        assert_eq!(
            parse_certificate(&der).unwrap().default_name,
            "serial 12abc"
        );
        let (_, der) = make_cert(&PKCS_ED25519, Some("   "));
        assert_eq!(
            parse_certificate(&der).unwrap().default_name,
            "serial 12abc"
        );
    }

    #[test]
    fn common_name_is_sanitised() {
        let long = "x".repeat(300);
        let (_, der) = make_cert(&PKCS_ED25519, Some(&long));
        assert_eq!(
            parse_certificate(&der)
                .unwrap()
                .default_name
                .chars()
                .count(),
            MAX_DEFAULT_NAME_CHARS
        );
        let (_, der) = make_cert(&PKCS_ED25519, Some("evil\u{1b}[2Jname"));
        assert_eq!(
            parse_certificate(&der).unwrap().default_name,
            "evil\u{fffd}[2Jname"
        );
    }

    #[test]
    fn trailing_data_refused() {
        let (_, mut der) = make_cert(&PKCS_ED25519, Some("x"));
        der.push(0);
        assert!(matches!(
            parse_certificate(&der),
            Err(TlsKeyError::TrailingData(1))
        ));
    }

    #[test]
    fn garbage_and_truncation_give_errors() {
        assert!(parse_certificate(b"").is_err());
        assert!(parse_certificate(b"not a certificate at all").is_err());
        assert!(parse_certificate(&[0x30, 0x82, 0xff, 0xff, 0x00]).is_err());
        let (_, der) = make_cert(&PKCS_ECDSA_P256_SHA256, Some("x"));
        for len in 0..der.len() {
            assert!(
                parse_certificate(&der[..len]).is_err(),
                "truncated to {len}"
            );
        }
        // Flip each byte in turn: must never panic (some flips still parse).
        for i in 0..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0xff;
            let _ = parse_certificate(&bad);
        }
        // Deterministic pseudo-random garbage behind a plausible SEQUENCE header.
        let mut state = 0x1234_5678_u32;
        for _ in 0..200 {
            let mut bytes = vec![0x30, 0x81, 0x80];
            for _ in 0..128 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                bytes.push((state >> 16) as u8);
            }
            assert!(parse_certificate(&bytes).is_err());
        }
    }

    #[test]
    fn pem_blocks() {
        let (k1, d1) = make_cert(&PKCS_ED25519, Some("one"));
        let (_, d2) = make_cert(&PKCS_ECDSA_P256_SHA256, Some("two"));
        let pem = |label: &str, der: &[u8]| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD.encode(der);
            let mut out = format!("-----BEGIN {label}-----\n");
            for chunk in b64.as_bytes().chunks(64) {
                out.push_str(std::str::from_utf8(chunk).unwrap());
                out.push('\n');
            }
            out.push_str(&format!("-----END {label}-----\n"));
            out
        };
        let text = format!(
            "some comment\n{}{}{}",
            pem("CERTIFICATE", &d1),
            pem("PRIVATE KEY", &k1.serialize_der()),
            pem("CERTIFICATE", &d2)
        );
        let certs = certificates_from_pem(text.as_bytes()).unwrap();
        assert_eq!(certs, vec![d1, d2]);

        assert!(matches!(
            certificates_from_pem(b""),
            Err(TlsKeyError::NoCertificate)
        ));
        assert!(matches!(
            certificates_from_pem(pem("PRIVATE KEY", &k1.serialize_der()).as_bytes()),
            Err(TlsKeyError::NoCertificate)
        ));
        assert!(
            certificates_from_pem(
                b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"
            )
            .is_err()
        );
        assert!(certificates_from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
    }

    /// Makes an RSA certificate with the openssl command: (certificate DER, SPKI DER), or
    /// None when openssl is missing.
    fn openssl_rsa_cert(bits: u32) -> Option<(Vec<u8>, Vec<u8>)> {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            match status {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => panic!("running openssl: {e}"),
                Ok(status) => {
                    assert!(status.success(), "openssl {args:?} failed");
                    true
                }
            }
        };
        let newkey = format!("rsa:{bits}");
        if !run(&[
            "req", "-x509", "-newkey", &newkey, "-nodes", "-subj", "/CN=x", "-keyout", "k", "-out",
            "c", "-days", "1",
        ]) {
            println!("openssl not found, skipping the rsa certificate test");
            return None;
        }
        assert!(run(&["x509", "-in", "c", "-pubkey", "-noout", "-out", "p"]));
        assert!(run(&[
            "pkey", "-pubin", "-in", "p", "-outform", "DER", "-out", "p.der"
        ]));
        let pem = std::fs::read(dir.path().join("c")).unwrap();
        let mut certs = certificates_from_pem(&pem).unwrap();
        assert_eq!(certs.len(), 1);
        let spki = std::fs::read(dir.path().join("p.der")).unwrap();
        Some((certs.pop().unwrap(), spki))
    }

    #[test]
    fn rsa_sizes() {
        let Some((small, _)) = openssl_rsa_cert(1024) else {
            return;
        };
        match parse_certificate(&small) {
            Err(e @ TlsKeyError::RsaTooSmall { bits: 1024 }) => {
                assert!(
                    e.to_string()
                        .starts_with("rsa keys smaller than 2048 bits not accepted")
                );
            }
            other => panic!("1024-bit rsa: {other:?}"),
        }
        let Some((ok, spki)) = openssl_rsa_cert(2048) else {
            return;
        };
        let parsed = parse_certificate(&ok).unwrap();
        assert_eq!(parsed.key_type, "rsa-2048");
        assert_eq!(parsed.default_name, "x");
        let expected: [u8; 32] = Sha256::digest(&spki).into();
        assert_eq!(parsed.fingerprint, KeyFingerprint(expected));
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[1]), 1);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[0x7f, 0xff]), 15);
    }
}
