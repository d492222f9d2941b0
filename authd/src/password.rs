//! Passwords: PRECIS preparation, login-name normalisation, and the verifiers derived
//! when a password is set (argon2id, SCRAM-SHA-1, SCRAM-SHA-256, CRAM-MD5).

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

/// CRAM-MD5's precomputed HMAC-MD5 inner and outer states (password-equivalent for
/// CRAM-MD5 only).
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Verifier {
    /// MD5 state after the key XOR ipad block.
    pub inner: Vec<u8>,
    /// MD5 state after the key XOR opad block.
    pub outer: Vec<u8>,
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
