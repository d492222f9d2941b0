//! Exchanges driven as a client would, against an in-memory account table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;
use postern_ipc::{ConnectionInfo, Protocol, Secret, TlsInfo};

use super::*;
use crate::password::tests::TEST_COST;
use crate::password::{prepare_new_password, verify_argon2};

struct Table {
    accounts: HashMap<String, (String, Option<String>, Option<PasswordVerifiers>)>,
    addresses: HashMap<String, String>,
    keys: HashMap<KeyFingerprint, (String, String)>,
    case: LocalpartCase,
}

impl Credentials for Table {
    fn account_by_address(&self, address: &str) -> Option<(&str, LoginAccount<'_>)> {
        let key = crate::names::address_key(address, self.case).ok()?;
        let (registered, account) = self.addresses.iter().find(|(registered, _)| {
            crate::names::address_key(registered, self.case)
                .ok()
                .as_ref()
                == Some(&key)
        })?;
        let (name, disabled, verifiers) = self.accounts.get(account)?;
        Some((
            registered,
            LoginAccount {
                account: name,
                disabled: disabled.as_deref(),
                verifiers: verifiers.as_ref(),
            },
        ))
    }

    fn localpart_case(&self) -> LocalpartCase {
        self.case
    }

    fn tls_key(&self, fingerprint: &KeyFingerprint) -> Option<(LoginAccount<'_>, &str)> {
        let (account, login) = self.keys.get(fingerprint)?;
        let (name, disabled, verifiers) = self.accounts.get(account)?;
        Some((
            LoginAccount {
                account: name,
                disabled: disabled.as_deref(),
                verifiers: verifiers.as_ref(),
            },
            login,
        ))
    }
}

const PASSWORD0: &str = "te\u{301}st \u{a0}\u{2002}\u{200a}";
const PASSWORD1: &str = "t\u{e9}st    ";
const KEY: KeyFingerprint = KeyFingerprint([7; 32]);
const OTHER_KEY: KeyFingerprint = KeyFingerprint([8; 32]);

fn table() -> Table {
    let verifiers =
        PasswordVerifiers::derive(&prepare_new_password(PASSWORD0).unwrap(), TEST_COST).unwrap();
    let mut t = Table {
        accounts: HashMap::new(),
        addresses: HashMap::new(),
        keys: HashMap::new(),
        case: LocalpartCase::Insensitive,
    };
    t.accounts
        .insert("mjl".into(), ("mjl".into(), None, Some(verifiers.clone())));
    t.accounts.insert(
        "off".into(),
        ("off".into(), Some("on holiday".into()), Some(verifiers)),
    );
    t.accounts
        .insert("other".into(), ("other".into(), None, None));
    t.addresses
        .insert("m\u{f3}x@example.org".into(), "mjl".into());
    t.addresses.insert("alias@example.org".into(), "mjl".into());
    t.addresses.insert("off@example.org".into(), "off".into());
    t.addresses
        .insert("other@example.org".into(), "other".into());
    t.keys
        .insert(KEY, ("mjl".into(), "m\u{f3}x@example.org".into()));
    t.keys
        .insert(OTHER_KEY, ("off".into(), "off@example.org".into()));
    t
}

fn context() -> ServerContext {
    ServerContext {
        hostname: "mail.example.org".into(),
        server_secret: [42; 32],
    }
}

fn connection(
    channel_binding: Option<&[u8]>,
    client_key: Option<KeyFingerprint>,
) -> ConnectionInfo {
    ConnectionInfo {
        protocol: Protocol::Imap,
        remote_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls: channel_binding.map(|cb| TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            channel_binding: Some(Secret(cb.to_vec())),
        }),
        client_key,
        user_agent: None,
    }
}

/// Runs argon2 like the server does.
fn finish(exchange: &mut SaslExchange, progress: Progress) -> Progress {
    match progress {
        Progress::VerifyPassword(check) => {
            let ok = match (&check.phc, &check.password) {
                (Some(phc), Some(password)) => verify_argon2(phc, password),
                _ => false,
            };
            Progress::Done(exchange.password_checked(ok))
        }
        other => other,
    }
}

fn done(progress: Progress) -> Outcome {
    match progress {
        Progress::Done(outcome) => outcome,
        Progress::Challenge(c) => panic!("unexpected challenge {:?}", String::from_utf8_lossy(&c)),
        Progress::VerifyPassword(_) => panic!("unexpected password check"),
    }
}

fn challenge(progress: Progress) -> Vec<u8> {
    match progress {
        Progress::Challenge(c) => c,
        Progress::Done(outcome) => panic!("unexpected end {outcome:?}"),
        Progress::VerifyPassword(_) => panic!("unexpected password check"),
    }
}

fn failure(outcome: &Outcome) -> (AuthFailure, LoginResult) {
    outcome.result.clone().expect_err("expected a failure")
}

fn plain(message: &[u8]) -> Outcome {
    let creds = table();
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        Some(message),
        &creds,
        &context(),
    );
    done(finish(&mut ex, progress))
}

#[test]
fn plain_accepts_both_password_forms_and_nfd_names() {
    for password in [PASSWORD0, PASSWORD1] {
        for name in ["m\u{f3}x@example.org", "mo\u{301}x@Example.org"] {
            let outcome = plain(format!("\0{name}\0{password}").as_bytes());
            assert_eq!(
                outcome.result,
                Ok(Authenticated {
                    account: "mjl".into(),
                    login_address: "m\u{f3}x@example.org".into()
                }),
                "{name:?} {password:?}"
            );
        }
    }
    let outcome =
        plain(format!("mo\u{301}x@example.org\0m\u{f3}x@example.org\0{PASSWORD1}").as_bytes());
    assert!(outcome.result.is_ok());
}

#[test]
fn plain_failures() {
    let wrong = plain(b"\0m\xc3\xb3x@example.org\0wrong password");
    assert_eq!(
        failure(&wrong),
        (AuthFailure::BadCredentials, LoginResult::BadCredentials)
    );
    assert_eq!(wrong.account.as_deref(), Some("mjl"));
    let unknown = plain(format!("\0nobody@example.org\0{PASSWORD1}").as_bytes());
    assert_eq!(
        failure(&unknown),
        (AuthFailure::BadCredentials, LoginResult::UnknownUser)
    );
    let role = plain(format!("alias@example.org\0m\u{f3}x@example.org\0{PASSWORD1}").as_bytes());
    assert_eq!(failure(&role).0, AuthFailure::AuthorizationFailed);
    assert!(matches!(
        failure(&plain(b"a\0b")).0,
        AuthFailure::Malformed { .. }
    ));
    assert!(matches!(
        failure(&plain(b"a\0b\0c\0d")).0,
        AuthFailure::Malformed { .. }
    ));
    assert!(matches!(
        failure(&plain(b"\0\xff\0x")).0,
        AuthFailure::Malformed { .. }
    ));
    let control = plain(b"\0m\xc3\xb3x@example.org\0bad\x07password");
    assert_eq!(failure(&control).0, AuthFailure::BadCredentials);
    let no_password_set = plain(b"\0other@example.org\0anything at all");
    assert_eq!(failure(&no_password_set).0, AuthFailure::BadCredentials);
    let disabled = plain(format!("\0off@example.org\0{PASSWORD0}").as_bytes());
    assert_eq!(
        failure(&disabled),
        (
            AuthFailure::LoginDisabled {
                message: "on holiday".into()
            },
            LoginResult::Disabled
        )
    );
    // The wrong password for a disabled account says nothing about the account state.
    let disabled_wrong = plain(b"\0off@example.org\0wrong password");
    assert_eq!(failure(&disabled_wrong).0, AuthFailure::BadCredentials);
}

#[test]
fn plain_without_initial_response_and_abort() {
    let creds = table();
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    assert_eq!(challenge(progress), b"");
    let progress = ex.step(
        format!("\0alias@example.org\0{PASSWORD0}").as_bytes(),
        &creds,
    );
    let outcome = done(finish(&mut ex, progress));
    assert_eq!(outcome.result.unwrap().login_address, "alias@example.org");

    let (mut ex, _) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    assert_eq!(
        failure(&ex.abort()),
        (AuthFailure::Aborted, LoginResult::Aborted)
    );
}

#[test]
fn login_mechanism() {
    let creds = table();
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Login,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    assert_eq!(challenge(progress), b"Username:");
    assert_eq!(
        challenge(ex.step(b"alias@example.org", &creds)),
        b"Password:"
    );
    let progress = ex.step(PASSWORD1.as_bytes(), &creds);
    assert!(done(finish(&mut ex, progress)).result.is_ok());

    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Login,
        &connection(None, None),
        Some(b"alias@example.org"),
        &creds,
        &context(),
    );
    assert_eq!(challenge(progress), b"Password:");
    let progress = ex.step(b"nope nope nope", &creds);
    assert_eq!(
        failure(&done(finish(&mut ex, progress))).0,
        AuthFailure::BadCredentials
    );
}

fn cram_md5(username: &str, password: &str) -> Outcome {
    let creds = table();
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::CramMd5,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    let challenge = challenge(progress);
    let text = String::from_utf8(challenge.clone()).unwrap();
    assert!(
        text.starts_with('<') && text.ends_with("@mail.example.org>"),
        "{text}"
    );
    let mut mac = <Hmac<md5::Md5>>::new_from_slice(password.as_bytes()).unwrap();
    mac.update(&challenge);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    done(ex.step(format!("{username} {digest}").as_bytes(), &creds))
}

#[test]
fn cram_md5_exchange() {
    assert!(cram_md5("mo\u{301}x@example.org", PASSWORD1).result.is_ok());
    assert_eq!(
        failure(&cram_md5("m\u{f3}x@example.org", "wrong password")),
        (AuthFailure::BadCredentials, LoginResult::BadCredentials)
    );
    assert_eq!(
        failure(&cram_md5("nobody@example.org", PASSWORD1)),
        (AuthFailure::BadCredentials, LoginResult::UnknownUser)
    );
    let creds = table();
    let (mut ex, _) = SaslExchange::start(
        Mechanism::CramMd5,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    assert!(matches!(
        failure(&done(ex.step(b"nospace", &creds))).0,
        AuthFailure::Malformed { .. }
    ));
}

/// A SCRAM client, written from RFC 5802, with knobs for the attacks tested.
struct ScramClient<'a> {
    mechanism: Mechanism,
    username: &'a str,
    password: &'a str,
    flag: &'a str,
    client_binding: &'a [u8],
    tamper_nonce: bool,
}

impl ScramClient<'_> {
    fn new(mechanism: Mechanism) -> Self {
        let plus = mechanism.is_plus();
        ScramClient {
            mechanism,
            username: "m\u{f3}x@example.org",
            password: PASSWORD1,
            flag: if plus { "p=tls-exporter" } else { "n" },
            client_binding: if plus { b"binding" } else { b"" },
            tamper_nonce: false,
        }
    }

    /// Returns the server-first message and the outcome.
    fn run(&self, server_binding: Option<&[u8]>) -> (String, Outcome) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let hash = match self.mechanism {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => ScramHash::Sha1,
            _ => ScramHash::Sha256,
        };
        let creds = table();
        let gs2 = format!("{},,", self.flag);
        let bare = format!("n={},r=clientnonce123", self.username);
        let (mut ex, progress) = SaslExchange::start(
            self.mechanism,
            &connection(server_binding, None),
            Some(format!("{gs2}{bare}").as_bytes()),
            &creds,
            &context(),
        );
        let server_first = match progress {
            Progress::Challenge(c) => String::from_utf8(c).unwrap(),
            Progress::Done(outcome) => return (String::new(), outcome),
            Progress::VerifyPassword(_) => panic!("password check in SCRAM"),
        };
        let mut attrs = server_first.split(',');
        let mut nonce = attrs.next().unwrap()[2..].to_string();
        let salt = b64.decode(&attrs.next().unwrap()[2..]).unwrap();
        let iterations: u32 = attrs.next().unwrap()[2..].parse().unwrap();
        assert!(nonce.starts_with("clientnonce123"));
        if self.tamper_nonce {
            nonce.push('x');
        }
        let mut cb = gs2.into_bytes();
        cb.extend_from_slice(self.client_binding);
        let without_proof = format!("c={},r={nonce}", b64.encode(&cb));
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let (proof, signature) =
            scram::tests::client_proof(hash, self.password, &salt, iterations, &auth_message);
        let progress = ex.step(
            format!("{without_proof},p={}", b64.encode(proof)).as_bytes(),
            &creds,
        );
        let server_final = match progress {
            Progress::Challenge(c) => String::from_utf8(c).unwrap(),
            Progress::Done(outcome) => return (server_first, outcome),
            Progress::VerifyPassword(_) => panic!("password check in SCRAM"),
        };
        if server_final.starts_with("v=") {
            assert_eq!(server_final, format!("v={}", b64.encode(signature)));
            (server_first, done(ex.step(b"", &creds)))
        } else {
            assert!(server_final.starts_with("e="), "{server_final}");
            // Clients usually cancel after e=; the failure stands.
            (server_first, ex.abort())
        }
    }
}

#[test]
fn scram_every_variant_succeeds() {
    for mechanism in [
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256Plus,
    ] {
        let client = ScramClient::new(mechanism);
        let binding: Option<&[u8]> = if mechanism.is_plus() {
            Some(b"binding")
        } else {
            None
        };
        let (_, outcome) = client.run(binding);
        assert_eq!(outcome.result.unwrap().account, "mjl", "{mechanism}");
        // Without TLS a non-PLUS client says `n`; over TLS, plain SCRAM still works with `n`.
        if !mechanism.is_plus() {
            assert!(client.run(Some(b"binding")).1.result.is_ok());
        }
    }
}

#[test]
fn scram_failures_are_failures() {
    for mechanism in [Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus] {
        let good = Some(&b"binding"[..]);
        let wrong_password = ScramClient {
            password: "wrong password",
            ..ScramClient::new(mechanism)
        };
        assert_eq!(
            failure(&wrong_password.run(good).1),
            (AuthFailure::BadCredentials, LoginResult::BadCredentials)
        );
        let wrong_binding = ScramClient {
            client_binding: b"other tls session",
            ..ScramClient::new(mechanism)
        };
        assert_eq!(
            failure(&wrong_binding.run(good).1).0,
            AuthFailure::ChannelBindingMismatch
        );
        let tampered = ScramClient {
            tamper_nonce: true,
            ..ScramClient::new(mechanism)
        };
        assert!(failure(&tampered.run(good).1).1 != LoginResult::Ok);
        let no_flag = ScramClient {
            flag: "n",
            client_binding: b"",
            ..ScramClient::new(mechanism)
        };
        assert!(matches!(
            failure(&no_flag.run(good).1).0,
            AuthFailure::Malformed { .. }
        ));
        // -PLUS without TLS is not available at all.
        assert!(matches!(
            failure(&ScramClient::new(mechanism).run(None).1).0,
            AuthFailure::NotAvailable { .. }
        ));
        let other_type = ScramClient {
            flag: "p=tls-unique",
            ..ScramClient::new(mechanism)
        };
        assert!(failure(&other_type.run(good).1).1 != LoginResult::Ok);
    }
    // Downgrade: the client says `y` (it supports binding, thinks the server does not)
    // while the server offers -PLUS on this TLS connection.
    let downgrade = ScramClient {
        flag: "y",
        ..ScramClient::new(Mechanism::ScramSha256)
    };
    assert_eq!(
        failure(&downgrade.run(Some(b"binding")).1),
        (
            AuthFailure::ChannelBindingMismatch,
            LoginResult::BadChannelBinding
        )
    );
    // Without TLS the server offers no binding, so `y` is honest.
    assert!(downgrade.run(None).1.result.is_ok());
    // `p=` on a mechanism without -PLUS.
    let p_without_plus = ScramClient {
        flag: "p=tls-exporter",
        client_binding: b"binding",
        ..ScramClient::new(Mechanism::ScramSha256)
    };
    assert!(p_without_plus.run(Some(b"binding")).1.result.is_err());
}

#[test]
fn scram_unknown_user_looks_like_wrong_password() {
    let unknown = ScramClient {
        username: "nobody@example.org",
        ..ScramClient::new(Mechanism::ScramSha256)
    };
    let (first_a, outcome) = unknown.run(None);
    assert_eq!(
        failure(&outcome),
        (AuthFailure::BadCredentials, LoginResult::UnknownUser)
    );
    let (first_b, _) = unknown.run(None);
    let (real, _) = ScramClient {
        password: "wrong password",
        ..ScramClient::new(Mechanism::ScramSha256)
    }
    .run(None);
    let salt_and_iterations = |s: &str| s.split_once(",s=").unwrap().1.to_string();
    // The fake salt is stable per name, like a real one, and shaped like one.
    assert_eq!(salt_and_iterations(&first_a), salt_and_iterations(&first_b));
    assert_eq!(
        salt_and_iterations(&first_a).len(),
        salt_and_iterations(&real).len()
    );
    assert!(salt_and_iterations(&first_a).ends_with(",i=4096"));
    // An account without a password also gets a fake verifier.
    let no_password = ScramClient {
        username: "other@example.org",
        ..ScramClient::new(Mechanism::ScramSha1)
    };
    assert_eq!(
        failure(&no_password.run(None).1).0,
        AuthFailure::BadCredentials
    );
}

#[test]
fn scram_disabled_account_fails_after_proof() {
    let client = ScramClient {
        username: "off@example.org",
        ..ScramClient::new(Mechanism::ScramSha256)
    };
    assert_eq!(failure(&client.run(None).1).1, LoginResult::Disabled);
}

fn external(key: Option<KeyFingerprint>, tls: bool, authzid: &[u8]) -> Outcome {
    let creds = table();
    let binding: Option<&[u8]> = if tls { Some(b"binding") } else { None };
    let (_, progress) = SaslExchange::start(
        Mechanism::External,
        &connection(binding, key),
        Some(authzid),
        &creds,
        &context(),
    );
    done(progress)
}

#[test]
fn external_identity_rules() {
    let ok = external(Some(KEY), true, b"").result.unwrap();
    assert_eq!(ok.login_address, "m\u{f3}x@example.org");
    let alias = external(Some(KEY), true, b"alias@EXAMPLE.org")
        .result
        .unwrap();
    assert_eq!(alias.login_address, "alias@example.org");
    assert_eq!(
        failure(&external(Some(KEY), true, b"other@example.org")).0,
        AuthFailure::AuthorizationFailed
    );
    assert_eq!(
        failure(&external(Some(KEY), true, b"nobody@example.org")).0,
        AuthFailure::AuthorizationFailed
    );
    assert!(matches!(
        failure(&external(None, true, b"")).0,
        AuthFailure::NotAvailable { .. }
    ));
    assert!(matches!(
        failure(&external(Some(KEY), false, b"")).0,
        AuthFailure::NotAvailable { .. }
    ));
    assert_eq!(
        failure(&external(Some(KeyFingerprint([9; 32])), true, b"")),
        (AuthFailure::BadCredentials, LoginResult::UnknownUser)
    );
    assert_eq!(
        failure(&external(Some(OTHER_KEY), true, b"")).1,
        LoginResult::Disabled
    );
}

#[test]
fn oversized_and_late_messages_fail() {
    let creds = table();
    let (mut ex, _) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        None,
        &creds,
        &context(),
    );
    let huge = vec![b'a'; MAX_CLIENT_MESSAGE + 1];
    assert!(matches!(
        failure(&done(ex.step(&huge, &creds))).0,
        AuthFailure::Malformed { .. }
    ));
    assert!(matches!(
        failure(&done(ex.step(b"x", &creds))).0,
        AuthFailure::Malformed { .. }
    ));
}

#[test]
fn localparts_compare_without_case_in_every_mechanism() {
    let expected = Ok(Authenticated {
        account: "mjl".into(),
        login_address: "m\u{f3}x@example.org".into(),
    });
    // The verdict names the address as registered, whatever the client's spelling.
    let outcome = plain(format!("\0M\u{d3}X@Example.org\0{PASSWORD1}").as_bytes());
    assert_eq!(outcome.result, expected);
    assert_eq!(outcome.login_name, "M\u{d3}X@Example.org");
    let outcome =
        plain(format!("mo\u{301}x@example.org\0MO\u{301}X@example.org\0{PASSWORD1}").as_bytes());
    assert_eq!(outcome.result, expected);
    assert_eq!(cram_md5("M\u{d3}X@example.org", PASSWORD1).result, expected);
    for mechanism in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        let client = ScramClient {
            username: "M\u{d3}X@EXAMPLE.ORG",
            ..ScramClient::new(mechanism)
        };
        assert_eq!(client.run(None).1.result, expected, "{mechanism}");
    }
    // EXTERNAL: another spelling of the key's login address is that address.
    let outcome = external(Some(KEY), true, "M\u{d3}X@example.org".as_bytes());
    assert_eq!(outcome.result, expected);
}

#[test]
fn unknown_names_get_one_fake_salt_for_every_spelling() {
    let salt = |username: &str| {
        let (first, outcome) = ScramClient {
            username,
            password: "wrong password",
            ..ScramClient::new(Mechanism::ScramSha256)
        }
        .run(None);
        assert!(outcome.result.is_err());
        first.split_once(",s=").unwrap().1.to_string()
    };
    // Like a known account's spellings, which all get its one real salt.
    assert_eq!(salt("nobody@example.org"), salt("NoBody@example.org"));
    assert_eq!(
        salt("nob\u{f3}dy@example.org"),
        salt("NOBO\u{301}DY@Example.org")
    );
    assert_ne!(salt("nobody@example.org"), salt("somebody@example.org"));
}

#[test]
fn case_sensitive_localparts_need_the_registered_spelling() {
    let mut creds = table();
    creds.case = LocalpartCase::Sensitive;
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        Some(format!("\0M\u{f3}x@example.org\0{PASSWORD1}").as_bytes()),
        &creds,
        &context(),
    );
    let outcome = done(finish(&mut ex, progress));
    assert_eq!(
        failure(&outcome),
        (AuthFailure::BadCredentials, LoginResult::UnknownUser)
    );
    let (mut ex, progress) = SaslExchange::start(
        Mechanism::Plain,
        &connection(None, None),
        Some(format!("\0m\u{f3}x@Example.org\0{PASSWORD1}").as_bytes()),
        &creds,
        &context(),
    );
    assert!(done(finish(&mut ex, progress)).result.is_ok());
}
