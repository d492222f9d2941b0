//! Self-signed certificates made with rcgen, and rustls client configurations that
//! trust them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A server certificate for `localhost` and the like, written as PEM files for a
/// daemon's `tls_certificate` and `tls_key`.
#[derive(Debug)]
pub struct SelfSignedCertificate {
    /// The certificate, for clients to trust.
    pub der: CertificateDer<'static>,
    /// `<dir>/cert.pem`.
    pub cert_path: PathBuf,
    /// `<dir>/key.pem`.
    pub key_path: PathBuf,
}

impl SelfSignedCertificate {
    /// Makes a certificate for the DNS `names` and writes it and its key to
    /// `dir/cert.pem` and `dir/key.pem`.
    pub fn write(dir: &Path, names: &[&str]) -> SelfSignedCertificate {
        let names = names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>();
        let key = rcgen::KeyPair::generate().expect("generating a key");
        let cert = rcgen::CertificateParams::new(names)
            .expect("certificate names")
            .self_signed(&key)
            .expect("signing the certificate");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, cert.pem()).expect("writing cert.pem");
        std::fs::write(&key_path, key.serialize_pem()).expect("writing key.pem");
        SelfSignedCertificate {
            der: cert.der().clone(),
            cert_path,
            key_path,
        }
    }
}

/// A self-signed client certificate (ECDSA P-256, which openssl and other command-line
/// clients can read) with its key, in DER and PEM.
#[derive(Debug)]
pub struct ClientCertificate {
    /// The certificate, as an account registers it.
    pub der: CertificateDer<'static>,
    /// Its private key, for rustls.
    pub key: PrivateKeyDer<'static>,
    /// The certificate in PEM.
    pub cert_pem: String,
    /// The private key in PEM (PKCS#8).
    pub key_pem: String,
}

impl ClientCertificate {
    /// Makes a certificate with DNS name `name` (devices use names like `laptop`).
    pub fn generate(name: &str) -> ClientCertificate {
        // P-256: openssl cannot read the PKCS#8 v2 Ed25519 keys aws-lc writes.
        let key =
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("generating a key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .expect("certificate name")
            .self_signed(&key)
            .expect("signing the certificate");
        ClientCertificate {
            der: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The certificate, key, certificate PEM and key PEM, for destructuring.
    pub fn into_parts(
        self,
    ) -> (
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
        String,
        String,
    ) {
        (self.der, self.key, self.cert_pem, self.key_pem)
    }
}

/// A rustls client configuration that trusts only `server_cert`, speaks the TLS
/// `versions` (`rustls::DEFAULT_VERSIONS` for the usual ones) and presents the `client`
/// certificate and key when given.
pub fn tls_client_config(
    server_cert: &CertificateDer<'static>,
    client: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(server_cert.clone())
        .expect("adding the server certificate");
    let builder =
        ClientConfig::builder_with_protocol_versions(versions).with_root_certificates(roots);
    Arc::new(match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(vec![cert], key)
            .expect("client certificate and key"),
        None => builder.with_no_client_auth(),
    })
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn written_pem_files_hold_the_certificate() {
        let dir = std::env::temp_dir().join(format!("testkit-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let certificate = SelfSignedCertificate::write(&dir, &["localhost"]);
        let from_file = CertificateDer::from_pem_file(&certificate.cert_path).unwrap();
        let key = PrivateKeyDer::from_pem_file(&certificate.key_path);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(from_file, certificate.der);
        assert!(key.is_ok(), "{key:?}");
        tls_client_config(&certificate.der, None, rustls::DEFAULT_VERSIONS);
    }

    #[test]
    fn client_certificate_pem_matches_der() {
        let client = ClientCertificate::generate("laptop");
        let from_pem = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).unwrap();
        assert_eq!(from_pem, client.der);
        let key = PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).unwrap();
        assert_eq!(key.secret_der(), client.key.secret_der());
    }
}
