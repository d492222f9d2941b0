//! Passwords: PRECIS preparation and the verifiers derived when a password is set
//! (argon2id, SCRAM-SHA-1, SCRAM-SHA-256, CRAM-MD5). No verifier is ever the password
//! itself or SCRAM's salted password.

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use hmac::{Hmac, KeyInit as _, Mac as _};
use md5::Digest as _;
use md5::digest::common::hazmat::{SerializableState, SerializedState};
use precis_core::profile::PrecisFastInvocation as _;
use precis_profiles::OpaqueString;
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Shortest password accepted when one is set, in characters after PRECIS.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes (bounds the work a login can cause).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// PBKDF2 iterations for new SCRAM verifiers.
pub const SCRAM_ITERATIONS: u32 = 4096;
/// Salt length for new SCRAM verifiers.
pub const SCRAM_SALT_LEN: usize = 16;

/// Why a password cannot be set or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// PRECIS OpaqueString rejects it (control characters, empty, …).
    #[error("password not allowed by PRECIS OpaqueString (RFC 8265): {0}")]
    NotAllowed(String),
    /// Shorter than [`MIN_PASSWORD_CHARS`].
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// Longer than [`MAX_PASSWORD_BYTES`].
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    /// The hashing library failed (bad parameters).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// A password in its PRECIS OpaqueString form, as compared at login.
pub fn prepare_password(raw: &str) -> Result<Zeroizing<String>, PasswordError> {
    if raw.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    OpaqueString::enforce(raw)
        .map(|prepared| Zeroizing::new(prepared.into_owned()))
        .map_err(|e| {
            PasswordError::NotAllowed(match e {
                precis_core::Error::BadCodepoint(info) => format!(
                    "character U+{:04X} at position {} is not allowed",
                    info.cp,
                    info.position + 1
                ),
                precis_core::Error::Invalid => "empty or invalid".to_string(),
                other => other.to_string(),
            })
        })
}

/// A new password in its PRECIS form, refused when too short.
pub fn prepare_new_password(raw: &str) -> Result<Zeroizing<String>, PasswordError> {
    let prepared = prepare_password(raw)?;
    if prepared.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(prepared)
}

/// argon2id cost parameters (from the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl Argon2Cost {
    fn hasher(self) -> Result<Argon2<'static>, PasswordError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, 1, None)
            .map_err(|e| PasswordError::Hashing(e.to_string()))?;
        Ok(Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// The argon2id PHC string (random salt) of a password prepared with
/// [`prepare_new_password`]. Slow on purpose: call it off the async executor.
pub fn hash_argon2id(prepared: &str, cost: Argon2Cost) -> Result<String, PasswordError> {
    let salt = random_bytes(16);
    Ok(cost
        .hasher()?
        .hash_password_with_salt(prepared.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?
        .to_string())
}

/// Checks a prepared password against an argon2id PHC string. Slow on purpose: call it
/// off the async executor.
pub fn verify_argon2(phc: &str, prepared: &str) -> bool {
    Argon2::default()
        .verify_password(prepared.as_bytes(), phc)
        .is_ok()
}

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-1.
    Sha1,
    /// SCRAM-SHA-256.
    Sha256,
}

impl ScramHash {
    /// HMAC(key, data).
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => {
                let mut mac = <Hmac<Sha1>>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac =
                    <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// H(data).
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// Hi(password, salt, iterations): PBKDF2 with this HMAC.
    pub fn salted_password(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.len()]);
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// The SCRAM verifier of one hash function: what the server needs to check a proof,
/// never the salted password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// Random salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// H(ClientKey).
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl ScramVerifier {
    /// Derives StoredKey and ServerKey from a prepared password (RFC 5802 §3).
    pub fn derive(hash: ScramHash, prepared: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = hash.salted_password(prepared.as_bytes(), salt, iterations);
        let client_key = Zeroizing::new(hash.hmac(&salted, b"Client Key"));
        ScramVerifier {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }
}

/// CRAM-MD5's precomputed HMAC-MD5 inner and outer states (password-equivalent for
/// CRAM-MD5 only).
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Verifier {
    /// MD5 state after the key XOR ipad block.
    pub inner: Vec<u8>,
    /// MD5 state after the key XOR opad block.
    pub outer: Vec<u8>,
}

const MD5_BLOCK: usize = 64;

/// Length of each stored CRAM-MD5 state (the serialised MD5 state after one block).
pub const CRAM_MD5_STATE_LEN: usize = 88;

fn md5_state_after(block: &[u8; MD5_BLOCK]) -> Vec<u8> {
    let mut md5 = md5::Md5::new();
    md5.update(block);
    md5.serialize().to_vec()
}

fn md5_from_state(state: &[u8]) -> Option<md5::Md5> {
    let state = SerializedState::<md5::Md5>::try_from(state).ok()?;
    md5::Md5::deserialize(&state).ok()
}

impl CramMd5Verifier {
    /// Precomputes the two HMAC-MD5 states for a prepared password (RFC 2104 keying).
    pub fn derive(prepared: &str) -> CramMd5Verifier {
        let mut key = Zeroizing::new([0u8; MD5_BLOCK]);
        if prepared.len() > MD5_BLOCK {
            key[..16].copy_from_slice(&md5::Md5::digest(prepared.as_bytes()));
        } else {
            key[..prepared.len()].copy_from_slice(prepared.as_bytes());
        }
        let mut ipad = Zeroizing::new([0u8; MD5_BLOCK]);
        let mut opad = Zeroizing::new([0u8; MD5_BLOCK]);
        for i in 0..MD5_BLOCK {
            ipad[i] = key[i] ^ 0x36;
            opad[i] = key[i] ^ 0x5c;
        }
        CramMd5Verifier {
            inner: md5_state_after(&ipad),
            outer: md5_state_after(&opad),
        }
    }

    /// HMAC-MD5(password, challenge), or `None` when the stored states are corrupt.
    pub fn digest(&self, challenge: &[u8]) -> Option<[u8; 16]> {
        let mut inner = md5_from_state(&self.inner)?;
        inner.update(challenge);
        let inner_digest = inner.finalize();
        let mut outer = md5_from_state(&self.outer)?;
        outer.update(inner_digest);
        Some(outer.finalize().into())
    }
}

/// Everything stored for one account's password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordVerifiers {
    /// argon2id PHC string, for PLAIN, LOGIN and web logins.
    pub argon2id: String,
    /// For SCRAM-SHA-1(-PLUS).
    pub scram_sha1: ScramVerifier,
    /// For SCRAM-SHA-256(-PLUS).
    pub scram_sha256: ScramVerifier,
    /// For CRAM-MD5.
    pub cram_md5: CramMd5Verifier,
}

/// `len` random bytes from the operating system.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

impl PasswordVerifiers {
    /// Derives every verifier from a password prepared with [`prepare_new_password`].
    /// Slow (argon2id): call it off the async executor.
    pub fn derive(prepared: &str, cost: Argon2Cost) -> Result<PasswordVerifiers, PasswordError> {
        Ok(PasswordVerifiers {
            argon2id: hash_argon2id(prepared, cost)?,
            scram_sha1: ScramVerifier::derive(
                ScramHash::Sha1,
                prepared,
                &random_bytes(SCRAM_SALT_LEN),
                SCRAM_ITERATIONS,
            ),
            scram_sha256: ScramVerifier::derive(
                ScramHash::Sha256,
                prepared,
                &random_bytes(SCRAM_SALT_LEN),
                SCRAM_ITERATIONS,
            ),
            cram_md5: CramMd5Verifier::derive(prepared),
        })
    }

    /// The verifier for one SCRAM hash.
    pub fn scram(&self, hash: ScramHash) -> &ScramVerifier {
        match hash {
            ScramHash::Sha1 => &self.scram_sha1,
            ScramHash::Sha256 => &self.scram_sha256,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Cheap argon2 for tests.
    pub(crate) const TEST_COST: Argon2Cost = Argon2Cost {
        memory_kib: 64,
        iterations: 1,
    };

    #[test]
    fn precis_maps_spaces_and_normalises() {
        // mox's test passwords: NFD plus Unicode spaces, and their PRECIS form.
        let password0 = "te\u{301}st \u{a0}\u{2002}\u{200a}";
        let password1 = "t\u{e9}st    ";
        assert_eq!(*prepare_password(password0).unwrap(), password1);
        assert_eq!(*prepare_password(password1).unwrap(), password1);
        assert_eq!(
            prepare_password("bad\u{7}bell").unwrap_err().to_string(),
            "password not allowed by PRECIS OpaqueString (RFC 8265): character U+0007 at position 4 is not allowed"
        );
        assert!(prepare_password("").is_err());
        assert_eq!(prepare_new_password("short"), Err(PasswordError::TooShort));
        assert!(prepare_new_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn cram_md5_matches_rfc_2195() {
        // RFC 2195 §2: user tim, password tanstaaftanstaaf.
        let verifier = CramMd5Verifier::derive("tanstaaftanstaaf");
        let digest = verifier
            .digest(b"<1896.697170952@postoffice.reston.mci.net>")
            .unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b913a602c7eda7a495b4e6e7334d3890");
    }

    #[test]
    fn cram_md5_states_have_the_stored_length() {
        let v = CramMd5Verifier::derive("some password");
        assert_eq!(v.inner.len(), CRAM_MD5_STATE_LEN);
        assert_eq!(v.outer.len(), CRAM_MD5_STATE_LEN);
    }

    #[test]
    fn cram_md5_long_key_is_hashed_first() {
        let long = "k".repeat(100);
        let verifier = CramMd5Verifier::derive(&long);
        let mut mac = <Hmac<md5::Md5>>::new_from_slice(long.as_bytes()).unwrap();
        mac.update(b"challenge");
        let expected: [u8; 16] = mac.finalize().into_bytes().into();
        assert_eq!(verifier.digest(b"challenge"), Some(expected));
        let corrupt = CramMd5Verifier {
            inner: vec![1, 2, 3],
            outer: vec![],
        };
        assert_eq!(corrupt.digest(b"x"), None);
    }

    #[test]
    fn scram_verifier_matches_rfc_5802_example() {
        // RFC 5802 §5: password "pencil", salt QSXCR+Q6sek8bf92, 4096 iterations.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("QSXCR+Q6sek8bf92").unwrap();
        let v = ScramVerifier::derive(ScramHash::Sha1, "pencil", &salt, 4096);
        let salted = ScramHash::Sha1.salted_password(b"pencil", &salt, 4096);
        let client_key = ScramHash::Sha1.hmac(&salted, b"Client Key");
        assert_eq!(v.stored_key, ScramHash::Sha1.hash(&client_key));
        assert_eq!(v.stored_key.len(), 20);
        assert_ne!(v.server_key, *salted);
    }

    #[test]
    fn verifiers_check_the_password() {
        let prepared = prepare_new_password("correct horse").unwrap();
        let v = PasswordVerifiers::derive(&prepared, TEST_COST).unwrap();
        assert!(v.argon2id.starts_with("$argon2id$"));
        assert!(verify_argon2(&v.argon2id, "correct horse"));
        assert!(!verify_argon2(&v.argon2id, "correct horsE"));
        assert!(!verify_argon2("not a phc string", "correct horse"));
        assert_ne!(v.scram_sha1.salt, v.scram_sha256.salt);
        assert_eq!(v.scram_sha256.iterations, SCRAM_ITERATIONS);
    }
}
