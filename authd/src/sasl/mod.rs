//! SASL server mechanisms as step-by-step state machines. authd drives one
//! [`SaslExchange`] per RPC connection; the protocol daemon only relays bytes.
//!
//! Failures are built so that an unknown user looks exactly like a wrong password to the
//! client, in every mechanism (SCRAM gets a salt derived from the server secret).

pub mod scram;

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit as _, Mac as _};
use postern_ipc::{AuthFailure, ConnectionInfo, KeyFingerprint, LoginResult, Mechanism};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::names::{LocalpartCase, login_key, normalize_login_name};
use crate::password::{
    PasswordVerifiers, SCRAM_ITERATIONS, SCRAM_SALT_LEN, ScramHash, ScramVerifier,
    prepare_password, random_bytes,
};
use crate::ratelimit::LoginTarget;
use scram::{ChannelBindingFlag, ScramSyntaxError};

/// An account as the SASL mechanisms see it.
#[derive(Clone, Copy)]
pub struct LoginAccount<'a> {
    /// Account name.
    pub account: &'a str,
    /// Why logins are disabled, if they are.
    pub disabled: Option<&'a str>,
    /// Password verifiers, if a password is set.
    pub verifiers: Option<&'a PasswordVerifiers>,
}

/// Where the mechanisms look up accounts and keys.
pub trait Credentials {
    /// The address a client-given one names (compared as [`Credentials::localpart_case`]
    /// says), as registered, and the account owning it.
    fn account_by_address(&self, address: &str) -> Option<(&str, LoginAccount<'_>)>;
    /// How localparts compare.
    fn localpart_case(&self) -> LocalpartCase;
    /// The account and login address of a registered TLS public key.
    fn tls_key(&self, fingerprint: &KeyFingerprint) -> Option<(LoginAccount<'_>, &str)>;
    /// Whether password guesses against `target` are refused now (the limiter's view
    /// of this client); the exchange then ends as rate limited without looking at the
    /// password.
    fn guessing_limited(&self, _target: &LoginTarget) -> bool {
        false
    }
}

/// Server-wide facts the mechanisms need.
#[derive(Clone)]
pub struct ServerContext {
    /// Host name for CRAM-MD5 challenges.
    pub hostname: String,
    /// Secret for fake SCRAM salts of unknown users.
    pub server_secret: [u8; 32],
}

/// A successful authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The account.
    pub account: String,
    /// The canonical address used to log in.
    pub login_address: String,
}

/// The end of an exchange, with what the login history needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The login name as the client gave it (NFC), or empty when none was given.
    pub login_name: String,
    /// The account the name resolved to, if any.
    pub account: Option<String>,
    /// Success, or the failure for the client and the result for the history.
    pub result: Result<Authenticated, (AuthFailure, LoginResult)>,
}

impl Outcome {
    fn failure(
        login_name: &str,
        account: Option<&str>,
        failure: AuthFailure,
        result: LoginResult,
    ) -> Outcome {
        Outcome {
            login_name: login_name.to_string(),
            account: account.map(str::to_string),
            result: Err((failure, result)),
        }
    }

    fn malformed(login_name: &str, reason: impl Into<String>) -> Outcome {
        Outcome::failure(
            login_name,
            None,
            AuthFailure::Malformed {
                reason: reason.into(),
            },
            LoginResult::BadProtocol,
        )
    }

    /// The history's result name.
    pub fn login_result(&self) -> LoginResult {
        match &self.result {
            Ok(_) => LoginResult::Ok,
            Err((_, result)) => *result,
        }
    }
}

/// A password the caller must check against an argon2id hash (slow, so off the
/// exchange), before calling [`SaslExchange::password_checked`].
pub struct PasswordCheck {
    /// The account, if the name resolved.
    pub account: Option<String>,
    /// Its argon2id PHC string; `None` means: verify against a dummy hash and fail, so
    /// that unknown users take as long as known ones.
    pub phc: Option<String>,
    /// The password, PRECIS-prepared; `None` when PRECIS refused it (a failure).
    pub password: Option<Zeroizing<String>>,
}

/// What the exchange needs next.
pub enum Progress {
    /// Send these bytes to the client and pass its answer to [`SaslExchange::step`].
    Challenge(Vec<u8>),
    /// Check a password, then call [`SaslExchange::password_checked`].
    VerifyPassword(PasswordCheck),
    /// The exchange is over.
    Done(Outcome),
}

enum State {
    PlainMessage,
    LoginUsername,
    LoginPassword {
        username: String,
    },
    CramResponse {
        challenge: String,
    },
    ScramFirst {
        hash: ScramHash,
    },
    ScramFinal(Box<ScramPending>),
    /// `v=` or `e=` was sent; the next client message ends the exchange with this outcome.
    ScramAcknowledge(Outcome),
    PasswordCheck {
        login_name: String,
        target: Option<Target>,
    },
    Finished,
}

#[derive(Clone)]
struct Target {
    account: String,
    login_address: String,
    disabled: Option<String>,
}

struct ScramPending {
    hash: ScramHash,
    login_name: String,
    target: Option<Target>,
    verifier: ScramVerifier,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// One SASL exchange on one connection.
pub struct SaslExchange {
    mechanism: Mechanism,
    state: State,
    channel_binding: Option<Zeroizing<Vec<u8>>>,
    on_tls: bool,
    client_key: Option<KeyFingerprint>,
    context: ServerContext,
}

fn target_of(login_address: String, account: &LoginAccount<'_>) -> Target {
    Target {
        account: account.account.to_string(),
        login_address,
        disabled: account.disabled.map(str::to_string),
    }
}

/// Resolves a client-given login name (an address) to the address as registered and the
/// account it belongs to.
fn resolve<'c>(
    credentials: &'c dyn Credentials,
    login_name: &str,
) -> Option<(String, LoginAccount<'c>)> {
    let (address, account) = credentials.account_by_address(login_name)?;
    Some((address.to_string(), account))
}

/// The outcome once credentials proved right: login may still be disabled.
fn verified(login_name: &str, target: &Target) -> Outcome {
    if let Some(message) = &target.disabled {
        return Outcome::failure(
            login_name,
            Some(&target.account),
            AuthFailure::LoginDisabled {
                message: message.clone(),
            },
            LoginResult::Disabled,
        );
    }
    Outcome {
        login_name: login_name.to_string(),
        account: Some(target.account.clone()),
        result: Ok(Authenticated {
            account: target.account.clone(),
            login_address: target.login_address.clone(),
        }),
    }
}

fn bad_credentials(login_name: &str, target: Option<&Target>) -> Outcome {
    Outcome::failure(
        login_name,
        target.map(|t| t.account.as_str()),
        AuthFailure::BadCredentials,
        if target.is_some() {
            LoginResult::BadCredentials
        } else {
            LoginResult::UnknownUser
        },
    )
}

/// The end of an exchange whose target gets no more guesses for now.
fn rate_limited(login_name: &str, target: Option<&Target>) -> Outcome {
    Outcome::failure(
        login_name,
        target.map(|t| t.account.as_str()),
        AuthFailure::RateLimited,
        LoginResult::RateLimited,
    )
}

/// Whether guesses for `login_name` (resolved to `target`) are refused now.
fn guessing_limited(
    credentials: &dyn Credentials,
    login_name: &str,
    target: Option<&Target>,
) -> bool {
    credentials.guessing_limited(&LoginTarget::of(
        target.map(|t| t.account.as_str()),
        login_name,
    ))
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Longest single client message accepted by any mechanism.
pub const MAX_CLIENT_MESSAGE: usize = 4096;

impl SaslExchange {
    /// Starts an exchange for `mechanism` on a client connection.
    pub fn start(
        mechanism: Mechanism,
        connection: &ConnectionInfo,
        initial_response: Option<&[u8]>,
        credentials: &dyn Credentials,
        context: &ServerContext,
    ) -> (SaslExchange, Progress) {
        let tls = connection.tls.as_ref();
        let mut exchange = SaslExchange {
            mechanism,
            state: State::Finished,
            channel_binding: tls
                .and_then(|t| t.channel_binding.as_ref())
                .map(|cb| Zeroizing::new(cb.0.clone())),
            on_tls: tls.is_some(),
            client_key: connection.client_key,
            context: context.clone(),
        };
        let progress = exchange.begin(initial_response, credentials);
        (exchange, progress)
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    fn begin(&mut self, initial: Option<&[u8]>, credentials: &dyn Credentials) -> Progress {
        let not_available = |reason: &str| {
            Progress::Done(Outcome::failure(
                "",
                None,
                AuthFailure::NotAvailable {
                    reason: reason.to_string(),
                },
                LoginResult::BadProtocol,
            ))
        };
        match self.mechanism {
            Mechanism::Plain => {
                self.state = State::PlainMessage;
                match initial {
                    Some(message) => self.step(message, credentials),
                    None => Progress::Challenge(Vec::new()),
                }
            }
            Mechanism::Login => {
                self.state = State::LoginUsername;
                match initial {
                    Some(message) if !message.is_empty() => self.step(message, credentials),
                    _ => Progress::Challenge(b"Username:".to_vec()),
                }
            }
            Mechanism::CramMd5 => {
                if initial.is_some_and(|i| !i.is_empty()) {
                    return Progress::Done(Outcome::malformed(
                        "",
                        "CRAM-MD5 takes no initial response",
                    ));
                }
                let random = u64::from_le_bytes(random_bytes(8).try_into().unwrap_or([0; 8]));
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let challenge = format!("<{random}.{nanos}@{}>", self.context.hostname);
                self.state = State::CramResponse {
                    challenge: challenge.clone(),
                };
                Progress::Challenge(challenge.into_bytes())
            }
            Mechanism::ScramSha1
            | Mechanism::ScramSha1Plus
            | Mechanism::ScramSha256
            | Mechanism::ScramSha256Plus => {
                if self.mechanism.is_plus() && self.channel_binding.is_none() {
                    return not_available("channel binding needs a TLS connection");
                }
                let hash = match self.mechanism {
                    Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => ScramHash::Sha1,
                    _ => ScramHash::Sha256,
                };
                self.state = State::ScramFirst { hash };
                match initial {
                    Some(message) if !message.is_empty() => self.step(message, credentials),
                    _ => Progress::Challenge(Vec::new()),
                }
            }
            Mechanism::External => {
                if !self.on_tls {
                    return not_available("tls required for tls client certificate authentication");
                }
                let Some(key) = self.client_key else {
                    return not_available(
                        "missing client certificate, required for tls client certificate authentication",
                    );
                };
                match initial {
                    Some(authzid) => Progress::Done(self.external(&key, authzid, credentials)),
                    None => {
                        self.state = State::PlainMessage;
                        Progress::Challenge(Vec::new())
                    }
                }
            }
            Mechanism::WebPassword | Mechanism::TlsClientCertificate => {
                not_available("not a SASL mechanism")
            }
        }
    }

    fn external(
        &mut self,
        key: &KeyFingerprint,
        authzid: &[u8],
        credentials: &dyn Credentials,
    ) -> Outcome {
        self.state = State::Finished;
        let Some(authzid) = utf8(authzid) else {
            return Outcome::malformed("", "authorization identity is not UTF-8");
        };
        let authzid = normalize_login_name(authzid);
        let Some((key_account, key_login)) = credentials.tls_key(key) else {
            return bad_credentials(&authzid, None);
        };
        let login_address = if authzid.is_empty() {
            key_login.to_string()
        } else {
            match resolve(credentials, &authzid) {
                Some((address, account)) if account.account == key_account.account => address,
                _ => {
                    return Outcome::failure(
                        &authzid,
                        Some(key_account.account),
                        AuthFailure::AuthorizationFailed,
                        LoginResult::BadCredentials,
                    );
                }
            }
        };
        let name = if authzid.is_empty() {
            key_login
        } else {
            &authzid
        };
        verified(name, &target_of(login_address, &key_account))
    }

    /// Feeds the client's next (base64-decoded) message.
    pub fn step(&mut self, response: &[u8], credentials: &dyn Credentials) -> Progress {
        if response.len() > MAX_CLIENT_MESSAGE {
            self.state = State::Finished;
            return Progress::Done(Outcome::malformed("", "client message too long"));
        }
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PlainMessage if self.mechanism == Mechanism::External => {
                let Some(key) = self.client_key else {
                    return Progress::Done(Outcome::malformed("", "no client key"));
                };
                Progress::Done(self.external(&key, response, credentials))
            }
            State::PlainMessage => self.plain(response, credentials),
            State::LoginUsername => match utf8(response) {
                Some(username) if !username.is_empty() => {
                    self.state = State::LoginPassword {
                        username: normalize_login_name(username),
                    };
                    Progress::Challenge(b"Password:".to_vec())
                }
                _ => Progress::Done(Outcome::malformed("", "invalid username")),
            },
            State::LoginPassword { username } => match utf8(response) {
                Some(password) => self.password_login(username, password, credentials),
                None => Progress::Done(bad_credentials(&username, None)),
            },
            State::CramResponse { challenge } => {
                Progress::Done(self.cram_md5(&challenge, response, credentials))
            }
            State::ScramFirst { hash } => self.scram_first(hash, response, credentials),
            State::ScramFinal(pending) => self.scram_final(*pending, response),
            State::ScramAcknowledge(outcome) => Progress::Done(outcome),
            State::PasswordCheck { login_name, .. } => Progress::Done(Outcome::malformed(
                &login_name,
                "client message while a password was being checked",
            )),
            State::Finished => Progress::Done(Outcome::malformed("", "exchange already finished")),
        }
    }

    /// The client cancelled: the outcome for the history.
    pub fn abort(&mut self) -> Outcome {
        match std::mem::replace(&mut self.state, State::Finished) {
            // An abort after `e=` is the client's usual answer: the failure stands.
            State::ScramAcknowledge(outcome) if outcome.result.is_err() => outcome,
            State::ScramFinal(pending) => aborted(&pending.login_name, pending.target.as_ref()),
            State::LoginPassword { username } => aborted(&username, None),
            State::PasswordCheck { login_name, target } => aborted(&login_name, target.as_ref()),
            _ => aborted("", None),
        }
    }

    fn plain(&mut self, message: &[u8], credentials: &dyn Credentials) -> Progress {
        let fields: Vec<&[u8]> = message.split(|b| *b == 0).collect();
        let [authzid, authcid, password] = fields[..] else {
            return Progress::Done(Outcome::malformed(
                "",
                format!("PLAIN needs 3 NUL-separated fields, got {}", fields.len()),
            ));
        };
        let (Some(authzid), Some(authcid), Some(password)) =
            (utf8(authzid), utf8(authcid), utf8(password))
        else {
            return Progress::Done(Outcome::malformed("", "PLAIN fields are not UTF-8"));
        };
        let authcid = normalize_login_name(authcid);
        let case = credentials.localpart_case();
        if !authzid.is_empty() && login_key(authzid, case) != login_key(&authcid, case) {
            return Progress::Done(Outcome::failure(
                &authcid,
                None,
                AuthFailure::AuthorizationFailed,
                LoginResult::BadCredentials,
            ));
        }
        self.password_login(authcid, password, credentials)
    }

    fn password_login(
        &mut self,
        login_name: String,
        password: &str,
        credentials: &dyn Credentials,
    ) -> Progress {
        let found = resolve(credentials, &login_name);
        let phc = found
            .as_ref()
            .and_then(|(_, account)| account.verifiers)
            .map(|v| v.argon2id.clone());
        let target = found.map(|(address, account)| target_of(address, &account));
        if guessing_limited(credentials, &login_name, target.as_ref()) {
            return Progress::Done(rate_limited(&login_name, target.as_ref()));
        }
        let check = PasswordCheck {
            account: target.as_ref().map(|t| t.account.clone()),
            phc,
            password: prepare_password(password).ok(),
        };
        self.state = State::PasswordCheck { login_name, target };
        Progress::VerifyPassword(check)
    }

    /// The result of the argon2 check asked for by [`Progress::VerifyPassword`].
    pub fn password_checked(&mut self, matches: bool) -> Outcome {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::PasswordCheck { login_name, target } => match target {
                Some(target) if matches => verified(&login_name, &target),
                target => bad_credentials(&login_name, target.as_ref()),
            },
            _ => Outcome::malformed("", "no password check pending"),
        }
    }

    fn cram_md5(
        &mut self,
        challenge: &str,
        response: &[u8],
        credentials: &dyn Credentials,
    ) -> Outcome {
        let Some((username, digest)) = utf8(response).and_then(|r| r.rsplit_once(' ')) else {
            return Outcome::malformed("", "malformed CRAM-MD5 response");
        };
        let username = normalize_login_name(username);
        let digest = digest.to_ascii_lowercase();
        if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Outcome::malformed(&username, "malformed CRAM-MD5 response");
        }
        let found = resolve(credentials, &username);
        let expected = found
            .as_ref()
            .and_then(|(_, account)| account.verifiers)
            .and_then(|v| v.cram_md5.digest(challenge.as_bytes()))
            .map(|d| d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let target = found.map(|(address, account)| target_of(address, &account));
        if guessing_limited(credentials, &username, target.as_ref()) {
            return rate_limited(&username, target.as_ref());
        }
        match (expected, &target) {
            (Some(expected), Some(target))
                if bool::from(expected.as_bytes().ct_eq(digest.as_bytes())) =>
            {
                verified(&username, target)
            }
            _ => bad_credentials(&username, target.as_ref()),
        }
    }

    fn fake_scram_verifier(&self, hash: ScramHash, login_name: &str) -> ScramVerifier {
        let derive = |label: &[u8], len: usize| {
            let mut mac = <Hmac<Sha256>>::new_from_slice(&self.context.server_secret)
                .expect("HMAC takes any key length");
            mac.update(label);
            mac.update(&[hash as u8]);
            mac.update(login_name.as_bytes());
            let mut out = mac.finalize().into_bytes().to_vec();
            out.truncate(len);
            out
        };
        ScramVerifier {
            salt: derive(b"postern fake scram salt", SCRAM_SALT_LEN),
            iterations: SCRAM_ITERATIONS,
            stored_key: derive(b"postern fake scram stored key", hash.len()),
            server_key: derive(b"postern fake scram server key", hash.len()),
        }
    }

    fn scram_first(
        &mut self,
        hash: ScramHash,
        message: &[u8],
        credentials: &dyn Credentials,
    ) -> Progress {
        let Some(message) = utf8(message) else {
            return Progress::Done(Outcome::malformed("", "SCRAM message is not UTF-8"));
        };
        let first = match scram::parse_client_first(message) {
            Ok(first) => first,
            Err(e) => return Progress::Done(Outcome::malformed("", format!("scram: {e}"))),
        };
        let login_name = normalize_login_name(&first.username);
        let server_offers_binding = self.channel_binding.is_some();
        match &first.flag {
            ChannelBindingFlag::NotSupported if self.mechanism.is_plus() => {
                return Progress::Done(Outcome::malformed(
                    &login_name,
                    "a -PLUS mechanism needs channel binding",
                ));
            }
            ChannelBindingFlag::ClientSupports
                if server_offers_binding || self.mechanism.is_plus() =>
            {
                return Progress::Done(Outcome::failure(
                    &login_name,
                    None,
                    AuthFailure::ChannelBindingMismatch,
                    LoginResult::BadChannelBinding,
                ));
            }
            ChannelBindingFlag::Binding(_) if !self.mechanism.is_plus() => {
                return Progress::Done(Outcome::malformed(
                    &login_name,
                    "channel binding requested with a mechanism without -PLUS",
                ));
            }
            ChannelBindingFlag::Binding(name) if name != scram::CHANNEL_BINDING_TYPE => {
                return Progress::Done(Outcome::malformed(
                    &login_name,
                    format!("unsupported-channel-binding-type {name}"),
                ));
            }
            _ => {}
        }
        let case = credentials.localpart_case();
        if let Some(authzid) = &first.authzid
            && login_key(authzid, case) != login_key(&login_name, case)
        {
            return Progress::Done(Outcome::failure(
                &login_name,
                None,
                AuthFailure::AuthorizationFailed,
                LoginResult::BadCredentials,
            ));
        }
        let found = resolve(credentials, &login_name);
        let verifier = found
            .as_ref()
            .and_then(|(_, account)| account.verifiers)
            .map(|v| v.scram(hash).clone())
            // Keyed like logins compare, so that no spelling of an unknown name gets
            // another salt than a known account's spellings would.
            .unwrap_or_else(|| {
                let key = login_key(&login_name, credentials.localpart_case());
                self.fake_scram_verifier(hash, &key)
            });
        let target = found.map(|(address, account)| target_of(address, &account));
        if guessing_limited(credentials, &login_name, target.as_ref()) {
            return Progress::Done(rate_limited(&login_name, target.as_ref()));
        }
        let nonce = scram::combined_nonce(&first.nonce, &random_bytes(scram::SERVER_NONCE_BYTES));
        let server_first = scram::server_first(&nonce, &verifier.salt, verifier.iterations);
        self.state = State::ScramFinal(Box::new(ScramPending {
            hash,
            login_name,
            target,
            verifier,
            gs2_header: first.gs2_header,
            client_first_bare: first.bare,
            server_first: server_first.clone(),
            nonce,
        }));
        Progress::Challenge(server_first.into_bytes())
    }

    fn scram_final(&mut self, pending: ScramPending, message: &[u8]) -> Progress {
        let login_name = &pending.login_name;
        let Some(message) = utf8(message) else {
            return Progress::Done(Outcome::malformed(login_name, "SCRAM message is not UTF-8"));
        };
        let fin = match scram::parse_client_final(message) {
            Ok(fin) => fin,
            Err(ScramSyntaxError::InvalidEncoding(reason)) => {
                return Progress::Done(Outcome::malformed(login_name, format!("scram: {reason}")));
            }
            Err(e) => return Progress::Done(Outcome::malformed(login_name, format!("scram: {e}"))),
        };
        if fin.nonce != pending.nonce {
            return Progress::Done(Outcome::malformed(
                login_name,
                "scram: nonce does not match",
            ));
        }
        let mut expected_binding = pending.gs2_header.as_bytes().to_vec();
        if self.mechanism.is_plus()
            && let Some(data) = &self.channel_binding
        {
            expected_binding.extend_from_slice(data);
        }
        let auth_message = format!(
            "{},{},{}",
            pending.client_first_bare, pending.server_first, fin.without_proof
        );
        let signature =
            scram::verify_proof(pending.hash, &pending.verifier, &auth_message, &fin.proof);
        let binding_matches: bool = fin.channel_binding.ct_eq(&expected_binding).into();
        let (reply, outcome) = match (signature, &pending.target) {
            _ if !binding_matches => (
                "e=channel-bindings-dont-match".to_string(),
                Outcome::failure(
                    login_name,
                    pending.target.as_ref().map(|t| t.account.as_str()),
                    AuthFailure::ChannelBindingMismatch,
                    LoginResult::BadChannelBinding,
                ),
            ),
            (Some(signature), Some(target)) => (
                scram::server_final_verifier(&signature),
                verified(login_name, target),
            ),
            _ => (
                "e=invalid-proof".to_string(),
                bad_credentials(login_name, pending.target.as_ref()),
            ),
        };
        self.state = State::ScramAcknowledge(outcome);
        Progress::Challenge(reply.into_bytes())
    }
}

fn aborted(login_name: &str, target: Option<&Target>) -> Outcome {
    Outcome::failure(
        login_name,
        target.map(|t| t.account.as_str()),
        AuthFailure::Aborted,
        LoginResult::Aborted,
    )
}

#[cfg(test)]
mod tests;
