//! The auth socket end to end: every mechanism through the real authd binary, against
//! our own client code and Python's scramp.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::IpAddr;
use std::process::{Command, Stdio};

use common::*;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AuthRequest, AuthResponse, CertificateVerdict, SaslReply};
use postern_ipc::client::AuthConnection;
use postern_ipc::{AuthFailure, KeyFingerprint, LoginResult, Mechanism, Protocol, Secret};
use sha2::Digest as _;

const PASSWORD: &str = "te\u{301}st \u{a0}\u{2002}\u{200a}";
const PASSWORD_PREPARED: &str = "t\u{e9}st    ";

async fn with_account() -> Authd {
    let authd = Authd::start().await;
    authd
        .add_account("mjl", "m\u{f3}x@example.org", PASSWORD)
        .await;
    authd
}

fn python_has_scramp() -> bool {
    Command::new("python3")
        .args(["-c", "import scramp"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs scramp against authd, relaying; returns authd's final reply and scramp's verdict.
async fn scramp_exchange(
    auth: &mut AuthConnection,
    mechanism: Mechanism,
    username: &str,
    password: &str,
    client_binding: Option<&[u8]>,
    server_binding: Option<&[u8]>,
) -> (SaslReply, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scram_client.py");
    let mut args = vec![
        script.to_string(),
        mechanism.name().to_string(),
        username.to_string(),
        password.to_string(),
    ];
    if let Some(cb) = client_binding {
        args.push(cb.iter().map(|b| format!("{b:02x}")).collect());
    }
    let mut child = Command::new("python3")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let first = line.trim_end().to_string();
    let reply = sasl(
        auth,
        AuthRequest::SaslStart {
            mechanism,
            initial_response: Some(Secret(first.into_bytes())),
            connection: connection(Protocol::Imap, localhost(), server_binding),
        },
    )
    .await;
    let SaslReply::Challenge(server_first) = reply else {
        let _ = child.kill();
        let _ = child.wait();
        return (reply, String::from("no server-first"));
    };
    writeln!(stdin, "{}", String::from_utf8(server_first).unwrap()).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let reply = sasl(
        auth,
        AuthRequest::SaslStep {
            response: Secret(line.trim_end().as_bytes().to_vec()),
        },
    )
    .await;
    let SaslReply::Challenge(server_final) = reply else {
        let _ = child.kill();
        let _ = child.wait();
        return (reply, String::from("no server-final"));
    };
    writeln!(
        stdin,
        "{}",
        String::from_utf8(server_final.clone()).unwrap()
    )
    .unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let _ = child.wait();
    let verdict = line.trim_end().to_string();
    // The client acknowledges v= with an empty message, and cancels after e=.
    let last = if server_final.starts_with(b"v=") {
        AuthRequest::SaslStep {
            response: Secret(Vec::new()),
        }
    } else {
        AuthRequest::SaslAbort
    };
    (sasl(auth, last).await, verdict)
}

#[tokio::test]
async fn scram_against_python_scramp() {
    if !python_has_scramp() {
        panic!("python3 with scramp is required (pip install scramp); .ci/run installs it");
    }
    let authd = with_account().await;
    let mut auth = authd.auth().await;
    let binding = b"exporter bytes of this tls session, 32";
    for mechanism in [
        Mechanism::ScramSha1,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256Plus,
    ] {
        let cb = mechanism.is_plus().then_some(&binding[..]);
        let (reply, client) = scramp_exchange(
            &mut auth,
            mechanism,
            "m\u{f3}x@example.org",
            PASSWORD_PREPARED,
            cb,
            cb,
        )
        .await;
        assert_eq!(
            client, "CLIENT-ACCEPTS",
            "{mechanism}: scramp rejected the server"
        );
        match reply {
            SaslReply::Success(verdict) => {
                assert_eq!(verdict.account, "mjl");
                assert_eq!(verdict.protocol, Protocol::Imap);
            }
            other => panic!("{mechanism}: {other:?}"),
        }
        // Wrong password.
        let (reply, client) = scramp_exchange(
            &mut auth,
            mechanism,
            "m\u{f3}x@example.org",
            "wrong!!!",
            cb,
            cb,
        )
        .await;
        assert_eq!(
            reply,
            SaslReply::Failure(AuthFailure::BadCredentials),
            "{mechanism}"
        );
        assert!(client.starts_with("CLIENT-REJECTS"), "{client}");
        // Unknown user: the same failure.
        let (reply, _) = scramp_exchange(
            &mut auth,
            mechanism,
            "nobody@example.org",
            "wrong!!!",
            cb,
            cb,
        )
        .await;
        assert_eq!(
            reply,
            SaslReply::Failure(AuthFailure::BadCredentials),
            "{mechanism}"
        );
    }
    // Wrong channel binding: the client's TLS session is not the one authd was told of.
    let (reply, client) = scramp_exchange(
        &mut auth,
        Mechanism::ScramSha256Plus,
        "m\u{f3}x@example.org",
        PASSWORD_PREPARED,
        Some(b"a man in the middle's session"),
        Some(binding),
    )
    .await;
    assert_eq!(
        reply,
        SaslReply::Failure(AuthFailure::ChannelBindingMismatch)
    );
    assert!(client.starts_with("CLIENT-REJECTS"));
}

#[tokio::test]
async fn plain_login_and_cram_md5_over_the_socket() {
    let authd = with_account().await;
    let mut auth = authd.auth().await;
    let conn = || connection(Protocol::Submission, localhost(), Some(b"cb"));
    match plain_login(&mut auth, conn(), "mo\u{301}x@example.org", PASSWORD).await {
        SaslReply::Success(v) => {
            assert_eq!(
                (v.account.as_str(), v.protocol),
                ("mjl", Protocol::Submission)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plain_login(&mut auth, conn(), "m\u{f3}x@example.org", "wrong password").await,
        SaslReply::Failure(AuthFailure::BadCredentials)
    );
    assert_eq!(
        plain_login(&mut auth, conn(), "nobody@example.org", PASSWORD).await,
        SaslReply::Failure(AuthFailure::BadCredentials)
    );

    // LOGIN, step by step.
    let reply = sasl(
        &mut auth,
        AuthRequest::SaslStart {
            mechanism: Mechanism::Login,
            initial_response: None,
            connection: conn(),
        },
    )
    .await;
    assert_eq!(reply, SaslReply::Challenge(b"Username:".to_vec()));
    let reply = sasl(
        &mut auth,
        AuthRequest::SaslStep {
            response: Secret(b"m\xc3\xb3x@example.org".to_vec()),
        },
    )
    .await;
    assert_eq!(reply, SaslReply::Challenge(b"Password:".to_vec()));
    let reply = sasl(
        &mut auth,
        AuthRequest::SaslStep {
            response: Secret(PASSWORD.as_bytes().to_vec()),
        },
    )
    .await;
    assert!(matches!(reply, SaslReply::Success(_)), "{reply:?}");

    // CRAM-MD5 with a digest computed by hand (RFC 2195 §2's construction).
    let reply = sasl(
        &mut auth,
        AuthRequest::SaslStart {
            mechanism: Mechanism::CramMd5,
            initial_response: None,
            connection: conn(),
        },
    )
    .await;
    let SaslReply::Challenge(challenge) = reply else {
        panic!("{reply:?}")
    };
    let digest = hmac_md5(PASSWORD_PREPARED.as_bytes(), &challenge);
    let reply = sasl(
        &mut auth,
        AuthRequest::SaslStep {
            response: Secret(format!("m\u{f3}x@example.org {digest}").into_bytes()),
        },
    )
    .await;
    assert!(matches!(reply, SaslReply::Success(_)), "{reply:?}");

    // A step without an exchange is misuse, not a crash.
    let response = auth
        .call(AuthRequest::SaslStep {
            response: Secret(b"x".to_vec()),
        })
        .await
        .unwrap();
    assert!(matches!(response, AuthResponse::Error(_)), "{response:?}");
}

fn hmac_md5(key: &[u8], message: &[u8]) -> String {
    // HMAC per RFC 2104, written out so the test does not share code with authd.
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(message);
    let inner = md5_hex_bytes(&inner);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&inner);
    md5_hex_bytes(&outer)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn md5_hex_bytes(data: &[u8]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(["dgst", "-md5", "-binary"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(data)?;
            child.wait_with_output()
        })
        .expect("openssl");
    output.stdout
}

fn certificate() -> (Vec<u8>, KeyFingerprint) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["laptop".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let fingerprint = KeyFingerprint(
        sha2::Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into(),
    );
    (cert.der().to_vec(), fingerprint)
}

#[tokio::test]
async fn client_certificates_and_external() {
    let authd = with_account().await;
    authd
        .admin_ok(AdminRequest::AddressAdd {
            address: "alias@example.org".into(),
            account: "mjl".into(),
        })
        .await;
    authd
        .add_account("other", "other@example.org", "other password")
        .await;
    let (der, fingerprint) = certificate();
    let added = authd
        .admin_ok(AdminRequest::TlsPublicKeyAdd {
            account: "mjl".into(),
            login_address: "m\u{f3}x@example.org".into(),
            certificate_der: der,
            name: None,
            no_imap_preauth: false,
        })
        .await;
    let AdminResponse::TlsPublicKeyAdded(info) = added else {
        panic!("{added:?}")
    };
    assert_eq!(info.fingerprint, fingerprint.to_base64url());
    assert_eq!(info.key_type, "ed25519");

    let mut auth = authd.auth().await;
    let mut conn = connection(Protocol::Imap, localhost(), Some(b"cb"));
    conn.client_key = Some(fingerprint);
    let response = auth
        .call(AuthRequest::CertificateLogin {
            connection: conn.clone(),
        })
        .await
        .unwrap();
    match response {
        AuthResponse::Certificate(CertificateVerdict::Known {
            verdict,
            no_imap_preauth,
        }) => {
            assert_eq!(verdict.login_address, "m\u{f3}x@example.org");
            assert!(!no_imap_preauth);
        }
        other => panic!("{other:?}"),
    }
    let external = |authzid: &str| AuthRequest::SaslStart {
        mechanism: Mechanism::External,
        initial_response: Some(Secret(authzid.as_bytes().to_vec())),
        connection: conn.clone(),
    };
    assert!(matches!(
        sasl(&mut auth, external("")).await,
        SaslReply::Success(_)
    ));
    match sasl(&mut auth, external("alias@example.org")).await {
        SaslReply::Success(v) => assert_eq!(v.login_address, "alias@example.org"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        sasl(&mut auth, external("other@example.org")).await,
        SaslReply::Failure(AuthFailure::AuthorizationFailed)
    );
    // On a connection whose certificate belongs to mjl, a password login as another
    // account is refused.
    assert_eq!(
        plain_login(
            &mut auth,
            conn.clone(),
            "other@example.org",
            "other password"
        )
        .await,
        SaslReply::Failure(AuthFailure::CertificateOtherAccount)
    );
    // An unknown key is just unknown.
    let mut unknown = conn.clone();
    unknown.client_key = Some(KeyFingerprint([1; 32]));
    let response = auth
        .call(AuthRequest::CertificateLogin {
            connection: unknown,
        })
        .await
        .unwrap();
    assert_eq!(
        response,
        AuthResponse::Certificate(CertificateVerdict::Unknown)
    );
    // Disabled accounts are refused at certificate login.
    authd
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: "mjl".into(),
            disabled: Some("moved away".into()),
        })
        .await;
    let response = auth
        .call(AuthRequest::CertificateLogin {
            connection: conn.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        response,
        AuthResponse::Certificate(CertificateVerdict::LoginDisabled {
            message: "moved away".into()
        })
    );

    // The history shows the certificate logins, grouped.
    let AdminResponse::LoginAttempts(attempts) = authd
        .admin_ok(AdminRequest::LoginAttempts {
            account: Some("mjl".into()),
            limit: None,
        })
        .await
    else {
        panic!()
    };
    let cert_ok = attempts
        .iter()
        .find(|a| a.mechanism == "tls-client-certificate" && a.result == LoginResult::Ok)
        .expect("certificate login recorded");
    assert_eq!(cert_ok.client_key, fingerprint.to_base64url());
    assert_eq!(cert_ok.protocol, "imap");
    assert_eq!(cert_ok.tls_version, "TLSv1.3");
    assert_eq!(cert_ok.user_agent, "test-client/1.0");
    let external_ok = attempts
        .iter()
        .find(|a| {
            a.mechanism == "external"
                && a.result == LoginResult::Ok
                && a.login_name == "m\u{f3}x@example.org"
        })
        .expect("external recorded");
    assert_eq!(external_ok.count, 1);
}

#[tokio::test]
async fn history_groups_identical_attempts() {
    let authd = with_account().await;
    let mut auth = authd.auth().await;
    for _ in 0..3 {
        let conn = connection(Protocol::Imap, "192.0.2.50".parse().unwrap(), None);
        plain_login(&mut auth, conn, "m\u{f3}x@example.org", "wrong password").await;
    }
    let conn = connection(Protocol::Imap, "192.0.2.51".parse().unwrap(), None);
    plain_login(&mut auth, conn, "m\u{f3}x@example.org", "wrong password").await;
    let AdminResponse::LoginAttempts(attempts) = authd
        .admin_ok(AdminRequest::LoginAttempts {
            account: Some("mjl".into()),
            limit: None,
        })
        .await
    else {
        panic!()
    };
    let failed: Vec<_> = attempts
        .iter()
        .filter(|a| a.result == LoginResult::BadCredentials)
        .collect();
    assert_eq!(failed.len(), 2, "{attempts:#?}");
    let grouped = failed.iter().find(|a| a.remote_ip == "192.0.2.50").unwrap();
    assert_eq!(grouped.count, 3);
    assert!(grouped.first_seen <= grouped.last_seen);
    assert_eq!(grouped.mechanism, "plain");
}

#[tokio::test]
async fn rate_limit_per_address_and_prefix_over_the_socket() {
    let authd = with_account().await;
    let mut auth = authd.auth().await;
    let from = |ip: &str| connection(Protocol::Imap, ip.parse::<IpAddr>().unwrap(), None);
    for _ in 0..10 {
        assert_eq!(
            plain_login(
                &mut auth,
                from("198.51.100.7"),
                "m\u{f3}x@example.org",
                "wrong password"
            )
            .await,
            SaslReply::Failure(AuthFailure::BadCredentials)
        );
    }
    // The 11th try is refused without looking at the password, even a right one.
    assert_eq!(
        plain_login(
            &mut auth,
            from("198.51.100.7"),
            "m\u{f3}x@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Failure(AuthFailure::RateLimited)
    );
    // A neighbour in the same /26 is still served.
    assert!(matches!(
        plain_login(
            &mut auth,
            from("198.51.100.8"),
            "m\u{f3}x@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Success(_)
    ));
    // Fill the /26 from other addresses: 10 (blocked one) + 20 = 30.
    for host in 10..30 {
        plain_login(
            &mut auth,
            from(&format!("198.51.100.{host}")),
            "x@example.org",
            "wrong password",
        )
        .await;
    }
    assert_eq!(
        plain_login(
            &mut auth,
            from("198.51.100.40"),
            "m\u{f3}x@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Failure(AuthFailure::RateLimited)
    );
    assert!(matches!(
        plain_login(
            &mut auth,
            from("198.51.100.70"),
            "m\u{f3}x@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Success(_)
    ));
    let AdminResponse::RateLimits(blocks) = authd.admin_ok(AdminRequest::RateLimitList).await
    else {
        panic!()
    };
    let networks: Vec<&str> = blocks.iter().map(|b| b.network.as_str()).collect();
    assert!(networks.contains(&"198.51.100.7/32"), "{networks:?}");
    assert!(networks.contains(&"198.51.100.0/26"), "{networks:?}");
    authd
        .admin_ok(AdminRequest::RateLimitClear { address: None })
        .await;
    assert!(matches!(
        plain_login(
            &mut auth,
            from("198.51.100.7"),
            "m\u{f3}x@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Success(_)
    ));
    // Rate-limited answers are recorded as such.
    let AdminResponse::LoginAttempts(attempts) = authd
        .admin_ok(AdminRequest::LoginAttempts {
            account: None,
            limit: None,
        })
        .await
    else {
        panic!()
    };
    assert!(
        attempts
            .iter()
            .any(|a| a.result == LoginResult::RateLimited)
    );
}

#[tokio::test]
async fn a_verdict_is_bound_to_the_callers_protocol() {
    let uid = current_uid();
    let authd = Authd::start_with(&format!(
        "imap_callers = [{uid}]\nsubmission_callers = []\nweb_callers = []\n"
    ))
    .await;
    authd
        .add_account("mjl", "m\u{f3}x@example.org", PASSWORD)
        .await;
    let mut auth = authd.auth().await;
    let reply = auth
        .call(AuthRequest::SaslStart {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret(
                format!("\0m\u{f3}x@example.org\0{PASSWORD}").into_bytes(),
            )),
            connection: connection(Protocol::Submission, localhost(), None),
        })
        .await
        .unwrap();
    assert!(matches!(reply, AuthResponse::Error(_)), "{reply:?}");
    let reply = auth
        .call(AuthRequest::WebLogin {
            username: "m\u{f3}x@example.org".into(),
            password: Secret(PASSWORD.into()),
            connection: connection(Protocol::Web, localhost(), None),
        })
        .await
        .unwrap();
    assert!(matches!(reply, AuthResponse::Error(_)), "{reply:?}");
    match plain_login(
        &mut auth,
        connection(Protocol::Imap, localhost(), None),
        "m\u{f3}x@example.org",
        PASSWORD,
    )
    .await
    {
        SaslReply::Success(v) => assert_eq!(v.protocol, Protocol::Imap),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn web_sessions_over_the_socket() {
    use postern_ipc::auth::WebSessionReply;
    let authd = with_account().await;
    let mut auth = authd.auth().await;
    let web = || connection(Protocol::Web, localhost(), None);
    let login = |password: &str| AuthRequest::WebLogin {
        username: "m\u{f3}x@example.org".into(),
        password: Secret(password.into()),
        connection: web(),
    };
    let response = auth.call(login("wrong password")).await.unwrap();
    assert_eq!(
        response,
        AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::BadCredentials))
    );
    let AuthResponse::WebSession(WebSessionReply::Valid {
        account,
        token: Some(token),
        csrf: Some(csrf),
        ..
    }) = auth.call(login(PASSWORD)).await.unwrap()
    else {
        panic!("no session")
    };
    assert_eq!(account, "mjl");
    assert!(token.0.len() >= 22 && csrf.0.len() >= 22 && token.0 != csrf.0);
    let check = |token: &str, csrf: Option<&str>| AuthRequest::WebSessionCheck {
        token: Secret(token.into()),
        csrf: csrf.map(|c| Secret(c.to_string())),
        connection: web(),
    };
    let valid = |r: &AuthResponse| {
        matches!(
            r,
            AuthResponse::WebSession(WebSessionReply::Valid { token: None, .. })
        )
    };
    assert!(valid(&auth.call(check(&token.0, None)).await.unwrap()));
    assert!(valid(
        &auth.call(check(&token.0, Some(&csrf.0))).await.unwrap()
    ));
    assert!(!valid(
        &auth.call(check(&token.0, Some("forged"))).await.unwrap()
    ));
    assert!(!valid(
        &auth.call(check("not a session", None)).await.unwrap()
    ));
    // A new password ends every session of the account.
    authd
        .admin_ok(AdminRequest::AccountSetPassword {
            account: "mjl".into(),
            password: Secret("another password".into()),
        })
        .await;
    assert!(!valid(&auth.call(check(&token.0, None)).await.unwrap()));
    // Logout ends a session.
    let AuthResponse::WebSession(WebSessionReply::Valid {
        token: Some(token), ..
    }) = auth.call(login("another password")).await.unwrap()
    else {
        panic!("no session")
    };
    assert_eq!(
        auth.call(AuthRequest::WebLogout {
            token: token.clone()
        })
        .await
        .unwrap(),
        AuthResponse::Done
    );
    assert!(!valid(&auth.call(check(&token.0, None)).await.unwrap()));
}
