//! The client side of the SASL mechanisms submitd uses to log in to relays: SCRAM
//! (SHA-256 and SHA-1, with and without `tls-exporter` channel binding), CRAM-MD5,
//! PLAIN and LOGIN.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// The mechanisms tried by default, most secure first.
pub const DEFAULT_MECHANISMS: &[&str] = &[
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
];

/// The highest SCRAM iteration count accepted from a server (bounds the work a
/// hostile server can make us do).
const MAX_SCRAM_ITERATIONS: u32 = 1_000_000;

/// Whether a mechanism may only be used over TLS (it sends the password, or binds to
/// the TLS channel).
pub fn needs_tls(mechanism: &str) -> bool {
    matches!(mechanism, "PLAIN" | "LOGIN") || mechanism.ends_with("-PLUS")
}

/// Standard base64.
pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64.
pub fn unb64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("invalid base64 from the server: {e}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScramHash {
    Sha1,
    Sha256,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut mac = match <Hmac<Sha1>>::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => return Vec::new(),
                };
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac = match <Hmac<Sha256>>::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => return Vec::new(),
                };
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut out = vec![0u8; 20];
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

enum State {
    Plain,
    Login { step: u8 },
    CramMd5 { done: bool },
    Scram(Box<Scram>),
}

struct Scram {
    hash: ScramHash,
    gs2_header: String,
    channel_binding: Vec<u8>,
    client_nonce: String,
    client_first_bare: String,
    /// Set once the client's final message is sent: the expected server signature.
    server_signature: Option<Vec<u8>>,
    verified: bool,
}

/// One client-side SASL exchange.
pub struct SaslClient {
    state: State,
    username: String,
    password: String,
}

impl SaslClient {
    /// Starts an exchange with `mechanism` (uppercase). `tls_exporter` is the channel
    /// binding for the `-PLUS` variants; without TLS it is `None`.
    pub fn new(
        mechanism: &str,
        username: &str,
        password: &str,
        tls_exporter: Option<&[u8]>,
    ) -> Result<SaslClient, String> {
        let state = match mechanism {
            "PLAIN" => State::Plain,
            "LOGIN" => State::Login { step: 0 },
            "CRAM-MD5" => State::CramMd5 { done: false },
            "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS" | "SCRAM-SHA-1" | "SCRAM-SHA-1-PLUS" => {
                let hash = if mechanism.starts_with("SCRAM-SHA-256") {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha1
                };
                let plus = mechanism.ends_with("-PLUS");
                let (gs2_header, channel_binding) = match (plus, tls_exporter) {
                    (true, Some(cb)) => ("p=tls-exporter,,".to_string(), cb.to_vec()),
                    (true, None) => return Err(format!("{mechanism} needs TLS")),
                    // We could bind but the server does not offer -PLUS: say so, to
                    // detect a downgrade.
                    (false, Some(_)) => ("y,,".to_string(), Vec::new()),
                    (false, None) => ("n,,".to_string(), Vec::new()),
                };
                let mut nonce_bytes = [0u8; 18];
                getrandom::fill(&mut nonce_bytes).map_err(|e| format!("random: {e}"))?;
                let client_nonce = b64(&nonce_bytes);
                let client_first_bare = format!("n={},r={client_nonce}", scram_escape(username));
                State::Scram(Box::new(Scram {
                    hash,
                    gs2_header,
                    channel_binding,
                    client_nonce,
                    client_first_bare,
                    server_signature: None,
                    verified: false,
                }))
            }
            other => return Err(format!("unsupported SASL mechanism {other}")),
        };
        Ok(SaslClient {
            state,
            username: username.to_string(),
            password: password.to_string(),
        })
    }

    /// The initial response sent with the AUTH command, if the mechanism has one.
    pub fn initial(&mut self) -> Option<Vec<u8>> {
        match &self.state {
            State::Plain => {
                let mut out = Vec::new();
                out.push(0);
                out.extend_from_slice(self.username.as_bytes());
                out.push(0);
                out.extend_from_slice(self.password.as_bytes());
                Some(out)
            }
            State::Scram(s) => {
                Some(format!("{}{}", s.gs2_header, s.client_first_bare).into_bytes())
            }
            State::Login { .. } | State::CramMd5 { .. } => None,
        }
    }

    /// The response to a server challenge (already base64-decoded).
    pub fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        match &mut self.state {
            State::Plain => Err("unexpected challenge for PLAIN".into()),
            State::Login { step } => {
                *step += 1;
                match *step {
                    1 => Ok(self.username.as_bytes().to_vec()),
                    2 => Ok(self.password.as_bytes().to_vec()),
                    _ => Err("unexpected third LOGIN challenge".into()),
                }
            }
            State::CramMd5 { done } => {
                if *done {
                    return Err("unexpected second CRAM-MD5 challenge".into());
                }
                *done = true;
                let mut mac = <Hmac<md5::Md5>>::new_from_slice(self.password.as_bytes())
                    .map_err(|e| e.to_string())?;
                mac.update(challenge);
                let digest = mac.finalize().into_bytes();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                Ok(format!("{} {hex}", self.username).into_bytes())
            }
            State::Scram(s) => match s.server_signature.is_some() {
                false => scram_client_final(s, &self.password, challenge),
                true => {
                    scram_verify_server_final(s, challenge)?;
                    Ok(Vec::new())
                }
            },
        }
    }

    /// Checks the end of the exchange: for SCRAM the server's signature must have been
    /// verified (it may come in the 235 reply's text instead of a last challenge).
    pub fn finish(&mut self, success_text: Option<&str>) -> Result<(), String> {
        if let State::Scram(s) = &mut self.state
            && !s.verified
        {
            let data = success_text
                .map(str::trim)
                .and_then(|t| unb64(t).ok())
                .ok_or("the server did not prove it knows the password")?;
            scram_verify_server_final(s, &data)?;
        }
        Ok(())
    }
}

fn scram_escape(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn scram_client_final(s: &mut Scram, password: &str, challenge: &[u8]) -> Result<Vec<u8>, String> {
    let server_first = std::str::from_utf8(challenge).map_err(|_| "server-first is not UTF-8")?;
    let mut nonce = None;
    let mut salt = None;
    let mut iterations = None;
    for attr in server_first.split(',') {
        if let Some(v) = attr.strip_prefix("r=") {
            nonce = Some(v);
        } else if let Some(v) = attr.strip_prefix("s=") {
            salt = Some(unb64(v)?);
        } else if let Some(v) = attr.strip_prefix("i=") {
            iterations = v.parse::<u32>().ok();
        } else if attr.starts_with("m=") {
            return Err("server requires an unknown SCRAM extension".into());
        }
    }
    let nonce = nonce.ok_or("server-first without nonce")?;
    let salt = salt.ok_or("server-first without salt")?;
    let iterations = iterations
        .filter(|i| (1..=MAX_SCRAM_ITERATIONS).contains(i))
        .ok_or("server-first with a missing or unacceptable iteration count")?;
    if !nonce.starts_with(&s.client_nonce) || nonce.len() <= s.client_nonce.len() {
        return Err("server nonce does not extend ours".into());
    }
    let mut cbind_input = s.gs2_header.as_bytes().to_vec();
    cbind_input.extend_from_slice(&s.channel_binding);
    let without_proof = format!("c={},r={nonce}", b64(&cbind_input));
    let auth_message = format!("{},{server_first},{without_proof}", s.client_first_bare);
    let salted = s
        .hash
        .salted_password(password.as_bytes(), &salt, iterations);
    let client_key = s.hash.hmac(&salted, b"Client Key");
    let stored_key = s.hash.hash(&client_key);
    let client_signature = s.hash.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(client_signature.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    let server_key = s.hash.hmac(&salted, b"Server Key");
    s.server_signature = Some(s.hash.hmac(&server_key, auth_message.as_bytes()));
    Ok(format!("{without_proof},p={}", b64(&proof)).into_bytes())
}

fn scram_verify_server_final(s: &mut Scram, data: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(data).map_err(|_| "server-final is not UTF-8")?;
    if let Some(e) = text.strip_prefix("e=") {
        return Err(format!("server reports SCRAM error {e}"));
    }
    let v = text
        .split(',')
        .find_map(|a| a.strip_prefix("v="))
        .ok_or("server-final without verifier")?;
    let expected = s
        .server_signature
        .as_ref()
        .ok_or("server-final before client-final")?;
    if unb64(v)? != *expected {
        return Err("the server's SCRAM signature is wrong".into());
    }
    s.verified = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_login() {
        let mut c = SaslClient::new("PLAIN", "u", "p", None).unwrap();
        assert_eq!(c.initial().unwrap(), b"\0u\0p");
        let mut c = SaslClient::new("LOGIN", "u", "p", None).unwrap();
        assert!(c.initial().is_none());
        assert_eq!(c.step(b"Username:").unwrap(), b"u");
        assert_eq!(c.step(b"Password:").unwrap(), b"p");
        assert!(c.step(b"?").is_err());
    }

    #[test]
    fn cram_md5_matches_rfc_2195() {
        let mut c = SaslClient::new("CRAM-MD5", "tim", "tanstaaftanstaaf", None).unwrap();
        let r = c
            .step(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        assert_eq!(r, b"tim b913a602c7eda7a495b4e6e7334d3890");
    }

    #[test]
    fn scram_sha256_matches_rfc_7677() {
        // RFC 7677 §3 with the client nonce fixed.
        let mut c = SaslClient::new("SCRAM-SHA-256", "user", "pencil", None).unwrap();
        if let State::Scram(s) = &mut c.state {
            s.client_nonce = "rOprNGfwEbeRWgbNEkqO".into();
            s.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
        }
        assert_eq!(c.initial().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c
            .step(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(c.step(b"v=wrong").is_err());
        assert_eq!(
            c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            b""
        );
        c.finish(None).unwrap();
    }

    #[test]
    fn scram_refuses_a_foreign_nonce() {
        let mut c = SaslClient::new("SCRAM-SHA-1", "user", "pencil", None).unwrap();
        c.initial();
        assert!(c.step(b"r=other,s=QSXCR+Q6sek8bf92,i=4096").is_err());
        assert!(c.finish(None).is_err());
    }
}
