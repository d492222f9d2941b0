//! Value types shared by the auth and admin sockets.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A value that must never appear in logs: `Debug` prints a placeholder.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Secret<T>(pub T);

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The protocol a login is for. A verdict authorises only the protocol it was asked for.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// IMAP, asked for by imapd.
    Imap,
    /// SMTP submission, asked for by submitd.
    Submission,
    /// The account and admin web pages, asked for by webd.
    Web,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 3] = [Protocol::Imap, Protocol::Submission, Protocol::Web];

    /// The lower-case name used in the login history and in the config.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Submission => "submission",
            Protocol::Web => "web",
        }
    }

    /// The protocol with this name, if any.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A SASL mechanism authd can run, or a login path that is not SASL.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// RFC 4616.
    Plain,
    /// The obsolete LOGIN mechanism (also used for the IMAP LOGIN command).
    Login,
    /// RFC 2195.
    CramMd5,
    /// RFC 5802.
    ScramSha1,
    /// RFC 5802 with channel binding.
    ScramSha1Plus,
    /// RFC 7677.
    ScramSha256,
    /// RFC 7677 with channel binding.
    ScramSha256Plus,
    /// RFC 4422 appendix A, identity from the TLS client certificate.
    External,
    /// A web password login (not SASL).
    WebPassword,
    /// A TLS client certificate presented during the handshake (not SASL).
    TlsClientCertificate,
}

impl Mechanism {
    /// The SASL mechanisms, strongest first, as protocol daemons advertise them.
    pub const SASL: [Mechanism; 8] = [
        Mechanism::External,
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// The registered SASL name (upper case), or the name used in the login history.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::External => "EXTERNAL",
            Mechanism::WebPassword => "web-password",
            Mechanism::TlsClientCertificate => "tls-client-certificate",
        }
    }

    /// The SASL mechanism with this name, compared without regard to case.
    pub fn from_sasl_name(name: &str) -> Option<Mechanism> {
        Mechanism::SASL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// Whether this mechanism binds to the TLS channel.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha1Plus | Mechanism::ScramSha256Plus)
    }

    /// Whether this mechanism sends the password itself and so needs TLS.
    pub fn sends_password(self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::WebPassword
        )
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SHA-256 over a certificate's DER SubjectPublicKeyInfo: the identity of a TLS client key.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct KeyFingerprint(pub [u8; 32]);

impl KeyFingerprint {
    /// The fingerprint as base64url without padding (43 characters).
    pub fn to_base64url(&self) -> String {
        base64url_encode(&self.0)
    }

    /// Parses the base64url form, with or without padding.
    pub fn from_base64url(text: &str) -> Option<KeyFingerprint> {
        let bytes = base64url_decode(text.trim_end_matches('='))?;
        bytes.try_into().ok().map(KeyFingerprint)
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({})", self.to_base64url())
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

fn base64url_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// What a TLS connection negotiated, as far as authd needs it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1.3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The `tls-exporter` channel binding (RFC 9266), 32 bytes; absent where the
    /// connection cannot offer it (TLS 1.2 without extended master secret).
    pub channel_binding: Option<Secret<Vec<u8>>>,
}

/// The facts about a client connection that authd uses for its decision and its login
/// history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The protocol the login is for; must be one the caller's uid may ask for.
    pub protocol: Protocol,
    /// The client's address.
    pub remote_ip: IpAddr,
    /// Our address the client connected to.
    pub local_ip: IpAddr,
    /// TLS state, when the connection is encrypted.
    pub tls: Option<TlsInfo>,
    /// Fingerprint of the public key of the client certificate, when one was presented.
    pub client_key: Option<KeyFingerprint>,
    /// IMAP `ID` name/version or HTTP `User-Agent`, when known.
    pub user_agent: Option<String>,
}

/// A successful authentication: who logged in, and for what.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Verdict {
    /// The account the session acts for.
    pub account: String,
    /// The address the client logged in with (canonical form).
    pub login_address: String,
    /// The protocol this verdict authorises; no other.
    pub protocol: Protocol,
}

/// Why an authentication did not succeed. Temporary failures are separate variants so
/// that protocol daemons never answer them as "wrong password".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong password, unknown user or unknown key: deliberately indistinguishable.
    BadCredentials,
    /// SCRAM-PLUS channel binding did not match: a possible man in the middle.
    ChannelBindingMismatch,
    /// The client asked to act as another identity than the one it proved.
    AuthorizationFailed,
    /// The client certificate of this connection belongs to another account.
    CertificateOtherAccount,
    /// The credentials were right but the account may not log in.
    LoginDisabled {
        /// The admin's reason, shown to the user.
        message: String,
    },
    /// Too many failures from the client's address or network: try later.
    RateLimited,
    /// authd could not decide (store error, overload): try later.
    TemporaryFailure,
    /// The client's message broke the mechanism's syntax.
    Malformed {
        /// What was wrong, for the client.
        reason: String,
    },
    /// The client cancelled the exchange (`*`).
    Aborted,
    /// The mechanism cannot be used on this connection (e.g. -PLUS or PLAIN without TLS,
    /// EXTERNAL without a client certificate).
    NotAvailable {
        /// Why, for the client.
        reason: String,
    },
}

impl AuthFailure {
    /// Whether the client should retry later rather than doubt its credentials.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            AuthFailure::RateLimited | AuthFailure::TemporaryFailure
        )
    }
}

/// The outcome of a login as recorded in the history.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum LoginResult {
    /// Authenticated.
    Ok,
    /// Wrong password or proof for a known user.
    BadCredentials,
    /// No such user, or an unknown client key.
    UnknownUser,
    /// The account is disabled or being removed.
    Disabled,
    /// Refused by the brute-force limiter without checking the credentials.
    RateLimited,
    /// authd could not decide.
    Error,
    /// SCRAM-PLUS channel binding mismatch.
    BadChannelBinding,
    /// The client broke the mechanism's syntax or rules.
    BadProtocol,
    /// The client cancelled.
    Aborted,
}

impl LoginResult {
    /// Every result, in a fixed order.
    pub const ALL: [LoginResult; 9] = [
        LoginResult::Ok,
        LoginResult::BadCredentials,
        LoginResult::UnknownUser,
        LoginResult::Disabled,
        LoginResult::RateLimited,
        LoginResult::Error,
        LoginResult::BadChannelBinding,
        LoginResult::BadProtocol,
        LoginResult::Aborted,
    ];

    /// The name used in the database and in listings.
    pub fn name(self) -> &'static str {
        match self {
            LoginResult::Ok => "ok",
            LoginResult::BadCredentials => "bad-credentials",
            LoginResult::UnknownUser => "unknown-user",
            LoginResult::Disabled => "disabled",
            LoginResult::RateLimited => "rate-limited",
            LoginResult::Error => "error",
            LoginResult::BadChannelBinding => "bad-channel-binding",
            LoginResult::BadProtocol => "bad-protocol",
            LoginResult::Aborted => "aborted",
        }
    }

    /// The result with this name, if any.
    pub fn from_name(name: &str) -> Option<LoginResult> {
        LoginResult::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for LoginResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One group of identical login attempts from the history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginAttempt {
    /// The account, or `-` when the login name matched none.
    pub account: String,
    /// The name the client gave (or the key's login address).
    pub login_name: String,
    /// Outcome.
    pub result: LoginResult,
    /// `imap`, `submission`, `web`.
    pub protocol: String,
    /// Mechanism name as in [`Mechanism::name`].
    pub mechanism: String,
    /// Client address.
    pub remote_ip: String,
    /// Our address.
    pub local_ip: String,
    /// TLS version, empty without TLS.
    pub tls_version: String,
    /// TLS cipher suite, empty without TLS.
    pub tls_cipher: String,
    /// Client key fingerprint (base64url), empty without one.
    pub client_key: String,
    /// User agent, empty when unknown.
    pub user_agent: String,
    /// Unix seconds of the first attempt in this group.
    pub first_seen: i64,
    /// Unix seconds of the latest attempt in this group.
    pub last_seen: i64,
    /// Number of attempts in this group.
    pub count: u64,
}

/// A registered TLS client public key, as listed to the admin (never the private key,
/// which authd never sees).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsPublicKeyInfo {
    /// base64url SHA-256 of the SubjectPublicKeyInfo.
    pub fingerprint: String,
    /// Unix seconds when it was added.
    pub created: i64,
    /// Descriptive name (device).
    pub name: String,
    /// e.g. `ecdsa-p256`, `rsa-2048`, `ed25519`.
    pub key_type: String,
    /// The account it logs in to.
    pub account: String,
    /// The address it logs in as.
    pub login_address: String,
    /// When set, IMAP does not greet with PREAUTH for this key.
    pub no_imap_preauth: bool,
}

/// An account as listed to the admin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountSummary {
    /// Account name.
    pub name: String,
    /// Its addresses, sorted.
    pub addresses: Vec<String>,
    /// Whether a password is set.
    pub has_password: bool,
    /// The reason logins are refused, when disabled.
    pub disabled: Option<String>,
    /// Unix seconds of creation.
    pub created: i64,
}

/// A network address or prefix, or an account, that the brute-force limiter currently
/// refuses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RateLimitBlock {
    /// The address or prefix, e.g. `192.0.2.7/32` or `2001:db8::/48`; or
    /// `account NAME` (guesses against that account) or `login name "NAME"` (a name
    /// that is no account's).
    pub network: String,
    /// `minute` or `day`.
    pub window: String,
    /// Failures counted in the current window.
    pub failures: u32,
    /// The limit that is reached.
    pub limit: u32,
    /// Unix seconds when the window ends.
    pub until: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trip() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64url_encode(&bytes);
            assert!(!text.contains('='));
            assert_eq!(base64url_decode(&text).unwrap(), bytes);
        }
        assert_eq!(base64url_encode(b"\xfb\xff"), "-_8");
        assert!(base64url_decode("a+b").is_none());
    }

    #[test]
    fn fingerprint_text_is_43_chars() {
        let fp = KeyFingerprint([0xab; 32]);
        let text = fp.to_base64url();
        assert_eq!(text.len(), 43);
        assert_eq!(KeyFingerprint::from_base64url(&text), Some(fp));
        assert_eq!(KeyFingerprint::from_base64url("short"), None);
    }

    #[test]
    fn mechanism_names() {
        for m in Mechanism::SASL {
            assert_eq!(Mechanism::from_sasl_name(&m.name().to_lowercase()), Some(m));
        }
        assert_eq!(Mechanism::from_sasl_name("GSSAPI"), None);
    }
}
