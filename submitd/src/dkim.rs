//! DKIM signing of outgoing mail (RFC 6376, ed25519-sha256 per RFC 8463 and
//! rsa-sha256), with the keys of `[[submitd.delivery.dkim]]`. Keys are read once at
//! start; their files should be readable by submitd's user alone.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mail_auth::common::crypto::{DkimKey as SigningKeyPair, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use postern_config::delivery::{DkimAlgorithm, DkimKey};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

/// The header fields signed (when present). From is listed twice so that a second
/// From cannot be added without breaking the signature.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// The signing keys by domain (lowercase).
pub struct DkimSigners {
    by_domain: BTreeMap<String, Vec<Signer>>,
}

struct Signer {
    selector: String,
    signer: DkimSigner<SigningKeyPair, Done>,
}

impl std::fmt::Debug for DkimSigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let summary: Vec<(&String, Vec<&str>)> = self
            .by_domain
            .iter()
            .map(|(d, s)| (d, s.iter().map(|s| s.selector.as_str()).collect()))
            .collect();
        f.debug_struct("DkimSigners")
            .field("keys", &summary)
            .finish()
    }
}

impl DkimSigners {
    /// Reads the keys of `keys` (default paths under `submitd_dir/dkim`).
    pub fn load(keys: &[DkimKey], submitd_dir: &Path) -> Result<DkimSigners, String> {
        let mut by_domain: BTreeMap<String, Vec<Signer>> = BTreeMap::new();
        for key in keys {
            let path = key.key_path(submitd_dir);
            let pair = read_key(&path, key.algorithm)
                .map_err(|e| format!("DKIM key {} for {}: {e}", key.selector, key.domain))?;
            let mut signer = DkimSigner::from_key(pair)
                .domain(key.domain.to_ascii_lowercase())
                .selector(key.selector.clone())
                .headers(SIGNED_HEADERS.iter().copied())
                .header_canonicalization(Canonicalization::Relaxed)
                .body_canonicalization(Canonicalization::Relaxed);
            if let Some(expire) = key.expire_seconds {
                signer = signer.expiration(expire);
            }
            by_domain
                .entry(key.domain.to_ascii_lowercase())
                .or_default()
                .push(Signer {
                    selector: key.selector.clone(),
                    signer,
                });
        }
        Ok(DkimSigners { by_domain })
    }

    /// Whether any key is configured for `domain`.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.by_domain.contains_key(&domain.to_ascii_lowercase())
    }

    /// The DKIM-Signature header fields (each ending in CRLF) for `message` with every
    /// key of `domain`; empty when the domain has no key. A key that fails to sign is
    /// logged and skipped: the message still goes out, unsigned by that key.
    pub fn sign(&self, domain: &str, message: &[u8]) -> Vec<u8> {
        let mut headers = Vec::new();
        let Some(signers) = self.by_domain.get(&domain.to_ascii_lowercase()) else {
            return headers;
        };
        for signer in signers {
            match signer.signer.sign(message) {
                Ok(signature) => {
                    let header = tidy_signature_folding(&signature.to_header());
                    headers.extend_from_slice(header.as_bytes());
                }
                Err(e) => {
                    tracing::error!(domain, selector = %signer.selector, error = %e, "DKIM signing failed");
                }
            }
        }
        headers
    }
}

/// Removes folding whitespace mail-auth may put right before or after the `b=`
/// value. RFC 6376 §3.7 says the value is deleted "including all surrounding
/// whitespace", but verifiers differ on that whitespace (dkimpy keeps a fold before
/// the final `;` and the signature then fails), so none is written.
fn tidy_signature_folding(header: &str) -> String {
    let mut header = header.replace("; b=\r\n\t", "; b=");
    if let Some(stripped) = header.strip_suffix("\r\n\t;\r\n") {
        header = format!("{stripped};\r\n");
    }
    header
}

fn read_key(path: &Path, algorithm: DkimAlgorithm) -> Result<SigningKeyPair, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_KEY_FILE {
        return Err(format!("{} is too large for a key", path.display()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            "DKIM key file is readable by others than its owner; it should be mode 0600"
        );
    }
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("{}: no private key in PEM: {e}", path.display()))?;
    match algorithm {
        DkimAlgorithm::Ed25519 => match der {
            PrivateKeyDer::Pkcs8(pkcs8) => {
                Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der())
                    .map(SigningKeyPair::Ed25519)
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
            _ => Err(format!("{}: an ed25519 key must be PKCS#8", path.display())),
        },
        DkimAlgorithm::Rsa => RsaKey::<Sha256>::from_key_der(der)
            .map(SigningKeyPair::Rsa)
            .map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// The domain a message is signed for: that of its (first) From address, else that
/// of the envelope sender.
pub fn signing_domain(message: &[u8], mail_from: &str) -> Option<String> {
    let from_header = mail_parser::MessageParser::new()
        .parse_headers(message)
        .and_then(|m| {
            m.from()
                .and_then(|from| from.first())
                .and_then(|addr| addr.address())
                .map(str::to_string)
        });
    from_header
        .as_deref()
        .or(Some(mail_from).filter(|s| !s.is_empty()))
        .and_then(|address| address.rsplit_once('@'))
        .map(|(_, domain)| domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_domain_comes_from_the_from_header() {
        let m = b"From: Mechiel <mjl@Example.ORG>\r\nTo: x@y.example\r\n\r\nhi\r\n";
        assert_eq!(
            signing_domain(m, "bounce@other.example").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            signing_domain(b"Subject: x\r\n\r\n", "a@b.example").as_deref(),
            Some("b.example")
        );
        assert_eq!(signing_domain(b"Subject: x\r\n\r\n", ""), None);
    }

    #[test]
    fn no_fold_surrounds_the_signature_value() {
        assert_eq!(
            tidy_signature_folding("DKIM-Signature: a=x; b=abc\r\n\tdef==\r\n\t;\r\n"),
            "DKIM-Signature: a=x; b=abc\r\n\tdef==;\r\n"
        );
        assert_eq!(
            tidy_signature_folding("DKIM-Signature: a=x; b=\r\n\tabc;\r\n"),
            "DKIM-Signature: a=x; b=abc;\r\n"
        );
    }

    /// Keys as admins make them with openssl: ed25519 PKCS#8 (without the public key),
    /// RSA PKCS#8 and RSA PKCS#1 ("traditional").
    #[test]
    fn openssl_keys_load() {
        let dir = tempfile::tempdir().unwrap();
        let runs = [
            (
                "ed.pem",
                vec!["genpkey", "-algorithm", "ed25519"],
                DkimAlgorithm::Ed25519,
            ),
            (
                "rsa8.pem",
                vec![
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ],
                DkimAlgorithm::Rsa,
            ),
            (
                "rsa1.pem",
                vec!["genrsa", "-traditional", "2048"],
                DkimAlgorithm::Rsa,
            ),
        ];
        if std::process::Command::new("openssl")
            .arg("version")
            .output()
            .is_err()
        {
            assert!(std::env::var_os("CI").is_none(), "openssl is needed");
            eprintln!("SKIPPING: openssl not available");
            return;
        }
        for (name, args, algorithm) in runs {
            let path = dir.path().join(name);
            // `-out` right after the command: genrsa takes no option after its size.
            let (command, options) = args.split_first().unwrap();
            let output = std::process::Command::new("openssl")
                .arg(command)
                .arg("-out")
                .arg(&path)
                .args(options)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let keys = vec![DkimKey {
                domain: "example.org".into(),
                selector: name.into(),
                algorithm,
                key_file: Some(path),
                expire_seconds: Some(3600),
            }];
            let signers = DkimSigners::load(&keys, dir.path()).unwrap();
            let header = signers.sign("example.org", b"From: a@example.org\r\n\r\nx\r\n");
            assert!(!header.is_empty(), "{name} did not sign");
        }
    }

    #[test]
    /// A key as `postern dkim keygen` and `postern quickstart` make it (rcgen, PKCS#8).
    fn a_generated_ed25519_key_signs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        std::fs::write(&path, pair.serialize_pem()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let keys = vec![DkimKey {
            domain: "Example.org".into(),
            selector: "s1".into(),
            algorithm: DkimAlgorithm::Ed25519,
            key_file: Some(path),
            expire_seconds: None,
        }];
        let signers = DkimSigners::load(&keys, dir.path()).unwrap();
        let header = signers.sign(
            "example.org",
            b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n",
        );
        let header = String::from_utf8(header).unwrap();
        assert!(
            header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=s1; d=example.org"),
            "{header}"
        );
        assert!(header.ends_with("\r\n"));
        assert!(
            signers
                .sign("other.example", b"From: a@other.example\r\n\r\n")
                .is_empty()
        );
    }
}
