//! Server-side TLS for postern's protocol daemons (imapd, submitd): the server
//! configuration (a replaceable certificate and key, a client-certificate verifier that
//! accepts any self-signed certificate), the facts of a finished handshake that authd
//! needs (version, cipher, channel binding, client key), and reloading the certificate
//! while running ([`reload`]).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod reload;
pub mod stream;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use postern_ipc::{KeyFingerprint, Secret, TlsInfo};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, ServerConnection};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use sha2::{Digest, Sha256};

/// Label of the `tls-exporter` channel binding (RFC 9266).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// Length of the `tls-exporter` channel binding.
pub const EXPORTER_LENGTH: usize = 32;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The PEM data holds no usable certificate or key.
    #[error("{0}")]
    Pem(String),
    /// rustls refused the certificate or key.
    #[error("tls configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the certificate and key are read from: `$CREDENTIALS_DIRECTORY/tls-cert` and
/// `tls-key` when systemd passes credentials, else the configured paths.
pub fn credential_paths(config_cert: &Path, config_key: &Path) -> (PathBuf, PathBuf) {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            (dir.join("tls-cert"), dir.join("tls-key"))
        }
        None => (config_cert.to_path_buf(), config_key.to_path_buf()),
    }
}

/// Reads a PEM file (certificate chain or key).
pub fn read_pem_file(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads PEM data from a file descriptor handed over by the supervisor, at most
/// [`MAX_PEM_SIZE`] bytes.
pub fn read_pem_fd(fd: std::os::fd::OwnedFd) -> Result<Vec<u8>, TlsSetupError> {
    use std::io::Read as _;
    let mut data = Vec::new();
    std::fs::File::from(fd)
        .take(MAX_PEM_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|source| TlsSetupError::Read {
            path: PathBuf::from("(passed file descriptor)"),
            source,
        })?;
    if data.len() as u64 > MAX_PEM_SIZE {
        return Err(TlsSetupError::Pem(format!(
            "PEM data larger than {MAX_PEM_SIZE} bytes"
        )));
    }
    Ok(data)
}

/// The largest certificate chain or key file accepted.
pub const MAX_PEM_SIZE: u64 = 1024 * 1024;

/// The certificate and key new TLS connections are served with; replaceable while the
/// daemon runs (reload), without touching open connections.
pub struct ServerCertificate {
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerCertificate")
    }
}

impl ServerCertificate {
    /// Serves new connections with this PEM certificate chain and key from now on. On
    /// error the certificate in use stays.
    pub fn replace(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsSetupError> {
        let key = certified_key(&self.provider, cert_pem, key_pem)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn certified_key(
    provider: &CryptoProvider,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsSetupError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Pem(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(TlsSetupError::Pem("no certificate in the PEM data".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsSetupError::Pem(format!("private key: {e}")))?;
    let key = CertifiedKey::from_der(certs, key, provider)?;
    Ok(Arc::new(key))
}

/// Builds the server configuration from PEM data; the returned [`ServerCertificate`]
/// replaces the certificate later.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Arc<ServerConfig>, Arc<ServerCertificate>), TlsSetupError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certificate = Arc::new(ServerCertificate {
        current: RwLock::new(certified_key(&provider, cert_pem, key_pem)?),
        provider: provider.clone(),
    });
    let verifier = Arc::new(AnySelfSignedClientCert {
        provider: provider.clone(),
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certificate.clone());
    Ok((Arc::new(config), certificate))
}

/// Requests (never requires) a client certificate and accepts any that parses, so that
/// its key can be looked up in authd; the handshake signature (proof of possession of
/// the private key) is still checked.
struct AnySelfSignedClientCert {
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for AnySelfSignedClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnySelfSignedClientCert")
    }
}

impl ClientCertVerifier for AnySelfSignedClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Names, dates and issuers do not matter: the key is the identity.
        webpki::EndEntityCert::try_from(end_entity).map_err(|_| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// SHA-256 over the certificate's DER SubjectPublicKeyInfo.
pub fn spki_fingerprint(cert: &CertificateDer<'_>) -> Option<KeyFingerprint> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    let spki = ee.subject_public_key_info();
    Some(KeyFingerprint(Sha256::digest(spki.as_ref()).into()))
}

/// What a finished handshake tells: the facts for authd, and the client key if the
/// client sent a certificate.
#[derive(Debug, Clone)]
pub struct HandshakeFacts {
    /// Version, cipher and (TLS 1.3 only) the `tls-exporter` channel binding.
    pub info: TlsInfo,
    /// The fingerprint of the client certificate's key, if one was presented.
    pub client_key: Option<KeyFingerprint>,
}

/// Reads the facts of a finished handshake.
pub fn handshake_facts(conn: &ServerConnection) -> HandshakeFacts {
    let version = conn.protocol_version();
    let version_name = match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let cipher = conn
        .negotiated_cipher_suite()
        .map(|c| format!("{:?}", c.suite()))
        .unwrap_or_default();
    // tls-exporter is only safe on TLS 1.3 (on 1.2 it needs extended master secret).
    let channel_binding = if version == Some(rustls::ProtocolVersion::TLSv1_3) {
        conn.export_keying_material(vec![0u8; EXPORTER_LENGTH], EXPORTER_LABEL, Some(&[]))
            .ok()
            .map(Secret)
    } else {
        None
    };
    let client_key = conn
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(spki_fingerprint);
    HandshakeFacts {
        info: TlsInfo {
            version: version_name,
            cipher,
            channel_binding,
        },
        client_key,
    }
}
