//! The web requests of the auth socket through the real authd binary: account pages,
//! CSRF, admin sessions, mail-access tickets, the caller-uid rules and the limiter.

mod common;

use std::net::IpAddr;

use common::*;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AuthRequest, AuthResponse, RequestError, SaslReply, WebSessionReply};
use postern_ipc::client::AuthConnection;
use postern_ipc::web::{
    AccountRequest, AccountResponse, AdminSession, MAX_ADMIN_SESSIONS, MailPurpose, WebAuth,
    WebRefusal,
};
use postern_ipc::{AuthFailure, ConnectionInfo, LoginResult, Mechanism, Protocol, Secret};

const PASSWORD: &str = "correct horse battery";
const ADMIN_PASSWORD: &str = "admin password of the test";

fn web_from(ip: &str) -> ConnectionInfo {
    let mut connection = connection(Protocol::Web, ip.parse::<IpAddr>().unwrap(), None);
    connection.user_agent = Some("Mozilla/5.0 (test)".into());
    connection
}

fn web() -> ConnectionInfo {
    web_from("127.0.0.1")
}

/// A logged-in account session: its token and CSRF token.
#[derive(Clone, Debug)]
struct Tokens {
    token: String,
    csrf: String,
}

impl Tokens {
    /// The session with its CSRF token (as a state-changing page request sends it).
    fn with_csrf(&self) -> WebAuth {
        WebAuth {
            token: Secret(self.token.clone()),
            csrf: Some(Secret(self.csrf.clone())),
            connection: web(),
        }
    }

    /// The session without a CSRF token (a page view).
    fn without_csrf(&self) -> WebAuth {
        WebAuth {
            token: Secret(self.token.clone()),
            csrf: None,
            connection: web(),
        }
    }

    /// The session with someone else's CSRF token.
    fn with_csrf_of(&self, other: &Tokens) -> WebAuth {
        WebAuth {
            token: Secret(self.token.clone()),
            csrf: Some(Secret(other.csrf.clone())),
            connection: web(),
        }
    }
}

async fn two_accounts() -> Authd {
    let authd = Authd::start().await;
    authd.add_account("mjl", "mjl@example.org", PASSWORD).await;
    authd
        .admin_ok(AdminRequest::AddressAdd {
            address: "alias@example.org".into(),
            account: "mjl".into(),
        })
        .await;
    authd.add_account("bob", "bob@example.org", PASSWORD).await;
    authd
}

async fn login(auth: &mut AuthConnection, username: &str, password: &str) -> Tokens {
    match auth
        .call(AuthRequest::WebLogin {
            username: username.into(),
            password: Secret(password.into()),
            connection: web(),
        })
        .await
        .unwrap()
    {
        AuthResponse::WebSession(WebSessionReply::Valid {
            token: Some(token),
            csrf: Some(csrf),
            ..
        }) => Tokens {
            token: token.0,
            csrf: csrf.0,
        },
        other => panic!("login of {username} failed: {other:?}"),
    }
}

async fn account(
    auth: &mut AuthConnection,
    session: WebAuth,
    request: AccountRequest,
) -> Result<AccountResponse, WebRefusal> {
    match auth
        .call(AuthRequest::Account {
            auth: session,
            request,
        })
        .await
        .unwrap()
    {
        AuthResponse::Account(response) => Ok(response),
        AuthResponse::WebRefused(refusal) => Err(refusal),
        other => panic!("unexpected {other:?}"),
    }
}

async fn admin_web(
    auth: &mut AuthConnection,
    session: WebAuth,
    request: AdminRequest,
) -> Result<AdminResponse, WebRefusal> {
    match auth
        .call(AuthRequest::Admin {
            auth: session,
            request,
        })
        .await
        .unwrap()
    {
        AuthResponse::Admin(response) => Ok(response),
        AuthResponse::WebRefused(refusal) => Err(refusal),
        other => panic!("unexpected {other:?}"),
    }
}

async fn admin_login(auth: &mut AuthConnection, password: &str) -> Result<Tokens, WebRefusal> {
    match auth
        .call(AuthRequest::AdminLogin {
            password: Secret(password.into()),
            connection: web(),
        })
        .await
        .unwrap()
    {
        AuthResponse::AdminSession(AdminSession {
            token: Some(token),
            csrf: Some(csrf),
        }) => Ok(Tokens {
            token: token.0,
            csrf: csrf.0,
        }),
        AuthResponse::WebRefused(refusal) => Err(refusal),
        other => panic!("unexpected {other:?}"),
    }
}

/// A self-signed certificate with common name `name`, in PEM.
fn certificate_pem(name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.self_signed(&key).unwrap().pem()
}

#[tokio::test]
async fn the_account_pages_requests() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let session = login(&mut auth, "alias@example.org", PASSWORD).await;

    // Overview.
    let Ok(AccountResponse::Overview(overview)) =
        account(&mut auth, session.without_csrf(), AccountRequest::Overview).await
    else {
        panic!("no overview")
    };
    assert_eq!(overview.account, "mjl");
    assert_eq!(overview.login_address, "alias@example.org");
    assert_eq!(overview.addresses, ["alias@example.org", "mjl@example.org"]);

    // A TLS key from a PEM certificate: default name from the certificate, login
    // address from the session.
    let added = account(
        &mut auth,
        session.with_csrf(),
        AccountRequest::TlsPublicKeyAdd {
            certificate_pem: certificate_pem("phone"),
            login_address: None,
            name: None,
            no_imap_preauth: false,
        },
    )
    .await;
    let Ok(AccountResponse::TlsPublicKeyAdded(key)) = added else {
        panic!("{added:?}")
    };
    assert_eq!(
        (
            key.name.as_str(),
            key.login_address.as_str(),
            key.account.as_str()
        ),
        ("phone", "alias@example.org", "mjl")
    );
    assert_eq!(key.key_type, "ecdsa-p256");
    // Two certificates in one upload are refused with a message.
    let two = certificate_pem("a") + &certificate_pem("b");
    let refused = account(
        &mut auth,
        session.with_csrf(),
        AccountRequest::TlsPublicKeyAdd {
            certificate_pem: two,
            login_address: None,
            name: None,
            no_imap_preauth: false,
        },
    )
    .await;
    assert!(
        matches!(&refused, Err(WebRefusal::Rejected(m)) if m.contains("exactly one")),
        "{refused:?}"
    );
    // Update, then list.
    assert_eq!(
        account(
            &mut auth,
            session.with_csrf(),
            AccountRequest::TlsPublicKeyUpdate {
                fingerprint: key.fingerprint.clone(),
                name: "old phone".into(),
                login_address: "mjl@example.org".into(),
                no_imap_preauth: true,
            },
        )
        .await,
        Ok(AccountResponse::Done)
    );
    // An address of another account is refused as login address.
    let refused = account(
        &mut auth,
        session.with_csrf(),
        AccountRequest::TlsPublicKeyUpdate {
            fingerprint: key.fingerprint.clone(),
            name: "x".into(),
            login_address: "bob@example.org".into(),
            no_imap_preauth: true,
        },
    )
    .await;
    assert!(
        matches!(refused, Err(WebRefusal::Rejected(_))),
        "{refused:?}"
    );
    let Ok(AccountResponse::TlsPublicKeys(keys)) = account(
        &mut auth,
        session.without_csrf(),
        AccountRequest::TlsPublicKeys,
    )
    .await
    else {
        panic!()
    };
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (
            keys[0].name.as_str(),
            keys[0].login_address.as_str(),
            keys[0].no_imap_preauth
        ),
        ("old phone", "mjl@example.org", true)
    );
    assert_eq!(
        account(
            &mut auth,
            session.with_csrf(),
            AccountRequest::TlsPublicKeyRemove {
                fingerprint: key.fingerprint.clone()
            },
        )
        .await,
        Ok(AccountResponse::Done)
    );
    let Ok(AccountResponse::TlsPublicKeys(keys)) = account(
        &mut auth,
        session.without_csrf(),
        AccountRequest::TlsPublicKeys,
    )
    .await
    else {
        panic!()
    };
    assert!(keys.is_empty());

    // Login attempts: the web login and the session's uses, with every column.
    let Ok(AccountResponse::LoginAttempts(attempts)) = account(
        &mut auth,
        session.without_csrf(),
        AccountRequest::LoginAttempts { limit: Some(10) },
    )
    .await
    else {
        panic!()
    };
    assert!(attempts.len() <= 10);
    let web_login = attempts
        .iter()
        .find(|a| a.mechanism == Mechanism::WebPassword.name())
        .expect("the web login is in the history");
    assert_eq!(web_login.protocol, "web");
    assert_eq!(web_login.result, LoginResult::Ok);
    assert_eq!(web_login.user_agent, "Mozilla/5.0 (test)");
    assert_eq!(web_login.remote_ip, "127.0.0.1");
    let uses = attempts
        .iter()
        .find(|a| a.mechanism == "web-session" && a.result == LoginResult::Ok)
        .expect("session uses are in the history");
    assert!(uses.count >= 3, "{uses:?}");
    assert!(attempts.iter().all(|a| a.account == "mjl"));

    // Web sessions: list, the current one marked; revoke another.
    let other = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let Ok(AccountResponse::WebSessions(sessions)) = account(
        &mut auth,
        session.without_csrf(),
        AccountRequest::WebSessions,
    )
    .await
    else {
        panic!()
    };
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s.current).count(), 1);
    let current = sessions.iter().find(|s| s.current).unwrap();
    assert_eq!(current.login_address, "alias@example.org");
    assert_eq!(current.user_agent, "Mozilla/5.0 (test)");
    assert_eq!(current.remote_ip, "127.0.0.1");
    let other_id = sessions.iter().find(|s| !s.current).unwrap().id;
    assert_eq!(
        account(
            &mut auth,
            session.with_csrf(),
            AccountRequest::WebSessionRevoke { id: other_id },
        )
        .await,
        Ok(AccountResponse::Done)
    );
    assert_eq!(
        account(&mut auth, other.without_csrf(), AccountRequest::Overview).await,
        Err(WebRefusal::NoSession)
    );
    assert!(
        account(&mut auth, session.without_csrf(), AccountRequest::Overview)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn csrf_is_required_for_every_change_and_bound_to_the_session() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let mjl2 = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let bob = login(&mut auth, "bob@example.org", PASSWORD).await;
    let changes = || {
        vec![
            AccountRequest::ChangePassword {
                current: Secret(PASSWORD.into()),
                new: Secret("a new password".into()),
            },
            AccountRequest::TlsPublicKeyAdd {
                certificate_pem: certificate_pem("laptop"),
                login_address: None,
                name: None,
                no_imap_preauth: false,
            },
            AccountRequest::TlsPublicKeyUpdate {
                fingerprint: "A".repeat(43),
                name: "x".into(),
                login_address: "mjl@example.org".into(),
                no_imap_preauth: false,
            },
            AccountRequest::TlsPublicKeyRemove {
                fingerprint: "A".repeat(43),
            },
            AccountRequest::WebSessionRevoke { id: 1 },
        ]
    };
    for request in changes() {
        assert!(request.changes_state());
        for (what, session) in [
            ("missing", mjl.without_csrf()),
            (
                "another session's of the same account",
                mjl.with_csrf_of(&mjl2),
            ),
            ("another account's", mjl.with_csrf_of(&bob)),
            (
                "wrong",
                WebAuth {
                    csrf: Some(Secret("forged".into())),
                    ..mjl.without_csrf()
                },
            ),
        ] {
            assert_eq!(
                account(&mut auth, session, request.clone()).await,
                Err(WebRefusal::Csrf),
                "{what} CSRF token for {request:?}"
            );
        }
    }
    // A wrong CSRF token is refused even where none is needed.
    assert_eq!(
        account(&mut auth, mjl.with_csrf_of(&bob), AccountRequest::Overview).await,
        Err(WebRefusal::Csrf)
    );
    // Nothing changed: the password is the old one, no key was added.
    let Ok(AccountResponse::TlsPublicKeys(keys)) =
        account(&mut auth, mjl.without_csrf(), AccountRequest::TlsPublicKeys).await
    else {
        panic!()
    };
    assert!(keys.is_empty());
    login(&mut auth, "mjl@example.org", PASSWORD).await;
    // The mail-access ticket needs it too.
    for session in [mjl.without_csrf(), mjl.with_csrf_of(&bob)] {
        assert_eq!(
            auth.call(AuthRequest::MailTicket {
                auth: session,
                purpose: MailPurpose::Export,
                account: None,
            })
            .await
            .unwrap(),
            AuthResponse::WebRefused(WebRefusal::Csrf)
        );
    }
    // CSRF failures are in the history but do not count in the limiter: after more of
    // them than the limit allows, logins from the same address still work.
    for _ in 0..15 {
        account(&mut auth, mjl.without_csrf(), changes().remove(4))
            .await
            .unwrap_err();
    }
    login(&mut auth, "mjl@example.org", PASSWORD).await;
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_the_old_password_at_once() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let this = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let other = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let bobs = login(&mut auth, "bob@example.org", PASSWORD).await;
    let change = |current: &str, new: &str| AccountRequest::ChangePassword {
        current: Secret(current.into()),
        new: Secret(new.into()),
    };
    // A wrong current password is refused and nothing changes.
    assert_eq!(
        account(
            &mut auth,
            this.with_csrf(),
            change("not it", "new password 1")
        )
        .await,
        Err(WebRefusal::BadCredentials)
    );
    assert!(
        account(&mut auth, other.without_csrf(), AccountRequest::Overview)
            .await
            .is_ok()
    );
    // Too short a new one is refused with a message.
    assert!(matches!(
        account(&mut auth, this.with_csrf(), change(PASSWORD, "short")).await,
        Err(WebRefusal::Rejected(_))
    ));
    assert_eq!(
        account(
            &mut auth,
            this.with_csrf(),
            change(PASSWORD, "new password 1")
        )
        .await,
        Ok(AccountResponse::Done)
    );
    // This session stays, the other one of the account ends, bob's is untouched.
    assert!(
        account(&mut auth, this.without_csrf(), AccountRequest::Overview)
            .await
            .is_ok()
    );
    assert_eq!(
        account(&mut auth, other.without_csrf(), AccountRequest::Overview).await,
        Err(WebRefusal::NoSession)
    );
    assert!(
        account(&mut auth, bobs.without_csrf(), AccountRequest::Overview)
            .await
            .is_ok()
    );
    // The old password fails for IMAP and submission logins at once, the new one works.
    for protocol in [Protocol::Imap, Protocol::Submission] {
        let conn = connection(protocol, localhost(), None);
        assert_eq!(
            plain_login(&mut auth, conn.clone(), "mjl@example.org", PASSWORD).await,
            SaslReply::Failure(AuthFailure::BadCredentials),
            "{protocol}"
        );
        assert!(matches!(
            plain_login(&mut auth, conn, "mjl@example.org", "new password 1").await,
            SaslReply::Success(_)
        ));
    }
    // And for the web.
    let refused = auth
        .call(AuthRequest::WebLogin {
            username: "mjl@example.org".into(),
            password: Secret(PASSWORD.into()),
            connection: web(),
        })
        .await
        .unwrap();
    assert_eq!(
        refused,
        AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::BadCredentials))
    );
    login(&mut auth, "mjl@example.org", "new password 1").await;
}

/// Every admin request, as an admin page could send it.
fn every_admin_request() -> Vec<AdminRequest> {
    vec![
        AdminRequest::AccountAdd {
            account: "eve".into(),
            address: "eve@example.org".into(),
        },
        AdminRequest::AccountRemove {
            account: "bob".into(),
        },
        AdminRequest::AccountList,
        AdminRequest::AccountSetPassword {
            account: "bob".into(),
            password: Secret("taken over!".into()),
        },
        AdminRequest::AccountSetDisabled {
            account: "bob".into(),
            disabled: Some("no".into()),
        },
        AdminRequest::AddressAdd {
            address: "x@example.org".into(),
            account: "mjl".into(),
        },
        AdminRequest::AddressRemove {
            address: "alias@example.org".into(),
        },
        AdminRequest::TlsPublicKeyAdd {
            account: "bob".into(),
            login_address: "bob@example.org".into(),
            certificate_der: Vec::new(),
            name: None,
            no_imap_preauth: false,
        },
        AdminRequest::TlsPublicKeyList { account: None },
        AdminRequest::TlsPublicKeyRemove {
            fingerprint: "A".repeat(43),
        },
        AdminRequest::LoginAttempts {
            account: None,
            limit: None,
        },
        AdminRequest::RateLimitList,
        AdminRequest::RateLimitClear { address: None },
        AdminRequest::AdminPasswordSet {
            password: Secret("mine now".into()),
        },
        AdminRequest::MailTicket {
            account: "bob".into(),
            purpose: MailPurpose::Export,
        },
    ]
}

#[tokio::test]
async fn an_account_session_reaches_only_its_own_account() {
    let authd = two_accounts().await;
    authd
        .admin_ok(AdminRequest::AdminPasswordSet {
            password: Secret(ADMIN_PASSWORD.into()),
        })
        .await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let bob = login(&mut auth, "bob@example.org", PASSWORD).await;
    for request in every_admin_request() {
        for session in [mjl.with_csrf(), mjl.without_csrf()] {
            assert_eq!(
                admin_web(&mut auth, session, request.clone()).await,
                Err(WebRefusal::NotPermitted),
                "{request:?}"
            );
        }
    }
    assert_eq!(
        auth.call(AuthRequest::AdminSessionCheck {
            auth: mjl.without_csrf()
        })
        .await
        .unwrap(),
        AuthResponse::WebRefused(WebRefusal::NotPermitted)
    );
    // Nothing of it happened.
    let accounts = match authd.admin_ok(AdminRequest::AccountList).await {
        AdminResponse::Accounts(accounts) => accounts,
        other => panic!("{other:?}"),
    };
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["bob", "mjl"]);
    assert!(accounts.iter().all(|a| a.disabled.is_none()));
    admin_login(&mut auth, ADMIN_PASSWORD).await.unwrap();

    // Another account's key, session and mail are out of reach.
    let bobs_key = match account(
        &mut auth,
        bob.with_csrf(),
        AccountRequest::TlsPublicKeyAdd {
            certificate_pem: certificate_pem("bob's"),
            login_address: None,
            name: None,
            no_imap_preauth: false,
        },
    )
    .await
    {
        Ok(AccountResponse::TlsPublicKeyAdded(key)) => key,
        other => panic!("{other:?}"),
    };
    for request in [
        AccountRequest::TlsPublicKeyRemove {
            fingerprint: bobs_key.fingerprint.clone(),
        },
        AccountRequest::TlsPublicKeyUpdate {
            fingerprint: bobs_key.fingerprint.clone(),
            name: "mine".into(),
            login_address: "mjl@example.org".into(),
            no_imap_preauth: true,
        },
    ] {
        assert!(matches!(
            account(&mut auth, mjl.with_csrf(), request).await,
            Err(WebRefusal::Rejected(_))
        ));
    }
    // The login address of a new key must be the account's own.
    assert!(matches!(
        account(
            &mut auth,
            mjl.with_csrf(),
            AccountRequest::TlsPublicKeyAdd {
                certificate_pem: certificate_pem("x"),
                login_address: Some("bob@example.org".into()),
                name: None,
                no_imap_preauth: false,
            },
        )
        .await,
        Err(WebRefusal::Rejected(_))
    ));
    let Ok(AccountResponse::TlsPublicKeys(keys)) =
        account(&mut auth, bob.without_csrf(), AccountRequest::TlsPublicKeys).await
    else {
        panic!()
    };
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "bob's");
    let Ok(AccountResponse::WebSessions(bobs_sessions)) =
        account(&mut auth, bob.without_csrf(), AccountRequest::WebSessions).await
    else {
        panic!()
    };
    assert!(matches!(
        account(
            &mut auth,
            mjl.with_csrf(),
            AccountRequest::WebSessionRevoke {
                id: bobs_sessions[0].id
            },
        )
        .await,
        Err(WebRefusal::Rejected(_))
    ));
    assert!(
        account(&mut auth, bob.without_csrf(), AccountRequest::Overview)
            .await
            .is_ok()
    );
    let Ok(AccountResponse::LoginAttempts(attempts)) = account(
        &mut auth,
        mjl.without_csrf(),
        AccountRequest::LoginAttempts { limit: None },
    )
    .await
    else {
        panic!()
    };
    assert!(!attempts.is_empty());
    assert!(attempts.iter().all(|a| a.account == "mjl"), "{attempts:?}");
    // A ticket for bob's mail.
    for purpose in [MailPurpose::Import, MailPurpose::Export] {
        assert_eq!(
            auth.call(AuthRequest::MailTicket {
                auth: mjl.with_csrf(),
                purpose,
                account: Some("bob".into()),
            })
            .await
            .unwrap(),
            AuthResponse::WebRefused(WebRefusal::NotPermitted)
        );
    }
}

#[tokio::test]
async fn admin_sessions_from_the_admin_password() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    // No admin password yet: every try is a wrong password.
    assert_eq!(
        admin_login(&mut auth, "anything at all").await.unwrap_err(),
        WebRefusal::BadCredentials
    );
    authd
        .admin_ok(AdminRequest::AdminPasswordSet {
            password: Secret(ADMIN_PASSWORD.into()),
        })
        .await;
    assert_eq!(
        admin_login(&mut auth, "wrong admin password")
            .await
            .unwrap_err(),
        WebRefusal::BadCredentials
    );
    // An account's password is no admin password.
    assert_eq!(
        admin_login(&mut auth, PASSWORD).await.unwrap_err(),
        WebRefusal::BadCredentials
    );
    let admin = admin_login(&mut auth, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(
        auth.call(AuthRequest::AdminSessionCheck {
            auth: admin.without_csrf()
        })
        .await
        .unwrap(),
        AuthResponse::AdminSession(AdminSession {
            token: None,
            csrf: None
        })
    );
    // Reads need no CSRF token, changes do; both run the admin socket's handlers.
    let Ok(AdminResponse::Accounts(accounts)) =
        admin_web(&mut auth, admin.without_csrf(), AdminRequest::AccountList).await
    else {
        panic!()
    };
    assert_eq!(accounts.len(), 2);
    let add = AdminRequest::AccountAdd {
        account: "carol".into(),
        address: "carol@example.org".into(),
    };
    assert_eq!(
        admin_web(&mut auth, admin.without_csrf(), add.clone()).await,
        Err(WebRefusal::Csrf)
    );
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    assert_eq!(
        admin_web(&mut auth, admin.with_csrf_of(&mjl), add.clone()).await,
        Err(WebRefusal::Csrf)
    );
    assert_eq!(
        admin_web(&mut auth, admin.with_csrf(), add.clone()).await,
        Ok(AdminResponse::Done)
    );
    // The admin socket's own refusal comes through as its answer.
    assert!(matches!(
        admin_web(&mut auth, admin.with_csrf(), add).await,
        Ok(AdminResponse::Error(m)) if m.contains("already exists")
    ));
    // The admin password is set on the server only.
    assert!(matches!(
        admin_web(
            &mut auth,
            admin.with_csrf(),
            AdminRequest::AdminPasswordSet {
                password: Secret("via the web".into())
            }
        )
        .await,
        Err(WebRefusal::Rejected(_))
    ));
    assert!(admin_login(&mut auth, "via the web").await.is_err());
    // An admin session is not an account session.
    assert_eq!(
        account(&mut auth, admin.without_csrf(), AccountRequest::Overview).await,
        Err(WebRefusal::NotPermitted)
    );
    // Admin logins are in the history.
    let Ok(AdminResponse::LoginAttempts(attempts)) = admin_web(
        &mut auth,
        admin.without_csrf(),
        AdminRequest::LoginAttempts {
            account: None,
            limit: None,
        },
    )
    .await
    else {
        panic!()
    };
    assert!(attempts.iter().any(|a| a.mechanism == "web-admin-password"
        && a.result == LoginResult::Ok
        && a.login_name == "admin"));
    assert!(attempts.iter().any(|a| a.mechanism == "web-admin-password"
        && a.result == LoginResult::BadCredentials));

    // At most MAX_ADMIN_SESSIONS: the least recently used goes.
    let mut sessions = vec![admin.clone()];
    for _ in 1..MAX_ADMIN_SESSIONS {
        sessions.push(admin_login(&mut auth, ADMIN_PASSWORD).await.unwrap());
    }
    let check = |t: &Tokens| AuthRequest::AdminSessionCheck {
        auth: t.without_csrf(),
    };
    // Use the first so that the second is the least recently used (authd's clock has
    // one-second resolution: wait for it to move).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(matches!(
        auth.call(check(&sessions[0])).await.unwrap(),
        AuthResponse::AdminSession(_)
    ));
    admin_login(&mut auth, ADMIN_PASSWORD).await.unwrap();
    assert_eq!(
        auth.call(check(&sessions[1])).await.unwrap(),
        AuthResponse::WebRefused(WebRefusal::NoSession)
    );
    assert!(matches!(
        auth.call(check(&sessions[0])).await.unwrap(),
        AuthResponse::AdminSession(_)
    ));
    // Logout ends one.
    assert_eq!(
        auth.call(AuthRequest::AdminLogout {
            token: Secret(sessions[0].token.clone())
        })
        .await
        .unwrap(),
        AuthResponse::Done
    );
    assert_eq!(
        auth.call(check(&sessions[0])).await.unwrap(),
        AuthResponse::WebRefused(WebRefusal::NoSession)
    );
    // A new admin password ends them all.
    assert!(matches!(
        auth.call(check(&sessions[2])).await.unwrap(),
        AuthResponse::AdminSession(_)
    ));
    authd
        .admin_ok(AdminRequest::AdminPasswordSet {
            password: Secret("another admin password".into()),
        })
        .await;
    // (Each refused check counts as a failure in the limiter: a few do.)
    for session in &sessions[2..5] {
        assert_eq!(
            auth.call(check(session)).await.unwrap(),
            AuthResponse::WebRefused(WebRefusal::NoSession)
        );
    }
    assert!(admin_login(&mut auth, ADMIN_PASSWORD).await.is_err());
    admin_login(&mut auth, "another admin password")
        .await
        .unwrap();
}

async fn ticket(
    auth: &mut AuthConnection,
    session: WebAuth,
    purpose: MailPurpose,
    of: Option<&str>,
) -> Secret<String> {
    match auth
        .call(AuthRequest::MailTicket {
            auth: session,
            purpose,
            account: of.map(str::to_string),
        })
        .await
        .unwrap()
    {
        AuthResponse::MailTicket(issued) => {
            assert_eq!(issued.purpose, purpose);
            issued.ticket
        }
        other => panic!("{other:?}"),
    }
}

async fn redeem(
    auth: &mut AuthConnection,
    ticket: &Secret<String>,
    purpose: MailPurpose,
) -> Result<String, RequestError> {
    match auth
        .call(AuthRequest::RedeemMailTicket {
            ticket: ticket.clone(),
            purpose,
            caller_uid: current_uid(),
        })
        .await
        .unwrap()
    {
        AuthResponse::TicketRedeemed { account } => Ok(account),
        AuthResponse::Error(e) => Err(e),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn mail_access_tickets() {
    let authd = two_accounts().await;
    authd
        .admin_ok(AdminRequest::AdminPasswordSet {
            password: Secret(ADMIN_PASSWORD.into()),
        })
        .await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;

    // The own account, once, for its purpose.
    let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Import, None).await;
    assert_eq!(
        redeem(&mut auth, &t, MailPurpose::Import).await.as_deref(),
        Ok("mjl")
    );
    assert!(matches!(
        redeem(&mut auth, &t, MailPurpose::Import).await,
        Err(RequestError::NotPermitted(_))
    ));
    // Naming the own account is the same.
    let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Export, Some("mjl")).await;
    // For another purpose: refused, and gone.
    assert!(matches!(
        redeem(&mut auth, &t, MailPurpose::Import).await,
        Err(RequestError::NotPermitted(_))
    ));
    assert!(redeem(&mut auth, &t, MailPurpose::Export).await.is_err());
    // Presented for another uid than the one it was issued to.
    let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Export, None).await;
    let other_uid = auth
        .call(AuthRequest::RedeemMailTicket {
            ticket: t.clone(),
            purpose: MailPurpose::Export,
            caller_uid: current_uid() + 1,
        })
        .await
        .unwrap();
    assert!(matches!(
        other_uid,
        AuthResponse::Error(RequestError::NotPermitted(_))
    ));
    // Unknown.
    assert!(
        redeem(&mut auth, &Secret("made up".into()), MailPurpose::Export)
            .await
            .is_err()
    );

    // After its deadline (moved into the past in authd's database while it runs).
    let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Export, None).await;
    let db = rusqlite::Connection::open(authd.data_dir().join("authd/auth.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(
        db.execute("UPDATE mail_tickets SET expires = expires - 61", [])
            .unwrap(),
        1
    );
    assert!(redeem(&mut auth, &t, MailPurpose::Export).await.is_err());
    // Only the hash is stored.
    let stored: Vec<Vec<u8>> = {
        let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Export, None).await;
        let mut stmt = db.prepare("SELECT ticket_hash FROM mail_tickets").unwrap();
        let rows = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(redeem(&mut auth, &t, MailPurpose::Export).await.is_ok());
        rows
    };
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].len(), 32);

    // An admin session: any account, which it must name.
    let admin = admin_login(&mut auth, ADMIN_PASSWORD).await.unwrap();
    let t = ticket(
        &mut auth,
        admin.with_csrf(),
        MailPurpose::Export,
        Some("bob"),
    )
    .await;
    assert_eq!(
        redeem(&mut auth, &t, MailPurpose::Export).await.as_deref(),
        Ok("bob")
    );
    assert!(matches!(
        auth.call(AuthRequest::MailTicket {
            auth: admin.with_csrf(),
            purpose: MailPurpose::Export,
            account: None,
        })
        .await
        .unwrap(),
        AuthResponse::WebRefused(WebRefusal::Rejected(_))
    ));
    assert!(matches!(
        auth.call(AuthRequest::MailTicket {
            auth: admin.with_csrf(),
            purpose: MailPurpose::Export,
            account: Some("nobody".into()),
        })
        .await
        .unwrap(),
        AuthResponse::WebRefused(WebRefusal::Rejected(_))
    ));
    // The same through the admin vocabulary (admin pages and the admin socket).
    let Ok(AdminResponse::MailTicket(issued)) = admin_web(
        &mut auth,
        admin.with_csrf(),
        AdminRequest::MailTicket {
            account: "bob".into(),
            purpose: MailPurpose::Import,
        },
    )
    .await
    else {
        panic!()
    };
    assert_eq!(
        redeem(&mut auth, &issued.ticket, MailPurpose::Import)
            .await
            .as_deref(),
        Ok("bob")
    );
    let AdminResponse::MailTicket(issued) = authd
        .admin_ok(AdminRequest::MailTicket {
            account: "mjl".into(),
            purpose: MailPurpose::Export,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(issued.account, "mjl");
    assert_eq!(
        redeem(&mut auth, &issued.ticket, MailPurpose::Export)
            .await
            .as_deref(),
        Ok("mjl")
    );
    // A ticket of a removed account opens nothing.
    let t = ticket(
        &mut auth,
        admin.with_csrf(),
        MailPurpose::Import,
        Some("bob"),
    )
    .await;
    authd
        .admin_ok(AdminRequest::AccountRemove {
            account: "bob".into(),
        })
        .await;
    assert!(redeem(&mut auth, &t, MailPurpose::Import).await.is_err());
}

#[tokio::test]
async fn web_requests_and_ticket_redemption_depend_on_the_callers_uid() {
    let uid = current_uid();
    // This uid may do IMAP only: no web requests.
    let authd = Authd::start_with(&format!(
        "imap_callers = [{uid}]\nsubmission_callers = []\nweb_callers = []\n"
    ))
    .await;
    authd.add_account("mjl", "mjl@example.org", PASSWORD).await;
    let mut auth = authd.auth().await;
    let fake = Tokens {
        token: "t".into(),
        csrf: "c".into(),
    };
    for request in [
        AuthRequest::Account {
            auth: fake.with_csrf(),
            request: AccountRequest::Overview,
        },
        AuthRequest::AdminLogin {
            password: Secret(ADMIN_PASSWORD.into()),
            connection: web(),
        },
        AuthRequest::AdminSessionCheck {
            auth: fake.with_csrf(),
        },
        AuthRequest::AdminLogout {
            token: Secret("t".into()),
        },
        AuthRequest::Admin {
            auth: fake.with_csrf(),
            request: AdminRequest::AccountList,
        },
        AuthRequest::MailTicket {
            auth: fake.with_csrf(),
            purpose: MailPurpose::Export,
            account: None,
        },
    ] {
        assert!(
            matches!(
                auth.call(request.clone()).await.unwrap(),
                AuthResponse::Error(RequestError::NotPermitted(_))
            ),
            "{request:?}"
        );
    }
    // imapd's uid redeems tickets.
    let AdminResponse::MailTicket(issued) = authd
        .admin_ok(AdminRequest::MailTicket {
            account: "mjl".into(),
            purpose: MailPurpose::Export,
        })
        .await
    else {
        panic!()
    };
    assert_eq!(
        redeem(&mut auth, &issued.ticket, MailPurpose::Export)
            .await
            .as_deref(),
        Ok("mjl")
    );
    drop(auth);
    drop(authd);

    // A web caller that is not imapd cannot redeem; and web requests need the web
    // protocol.
    let authd = Authd::start_with(&format!(
        "imap_callers = []\nsubmission_callers = []\nweb_callers = [{uid}]\n"
    ))
    .await;
    authd.add_account("mjl", "mjl@example.org", PASSWORD).await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let t = ticket(&mut auth, mjl.with_csrf(), MailPurpose::Export, None).await;
    assert!(matches!(
        redeem(&mut auth, &t, MailPurpose::Export).await,
        Err(RequestError::NotPermitted(_))
    ));
    let mut imap_facts = mjl.with_csrf();
    imap_facts.connection.protocol = Protocol::Imap;
    assert!(matches!(
        auth.call(AuthRequest::Account {
            auth: imap_facts,
            request: AccountRequest::Overview
        })
        .await
        .unwrap(),
        AuthResponse::Error(RequestError::NotPermitted(_))
    ));
}

#[tokio::test]
async fn a_limited_network_is_told_so_never_wrong_password() {
    let authd = two_accounts().await;
    authd
        .admin_ok(AdminRequest::AdminPasswordSet {
            password: Secret(ADMIN_PASSWORD.into()),
        })
        .await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    let from = |ip: &str| {
        let mut session = mjl.without_csrf();
        session.connection = web_from(ip);
        session
    };
    // Failed web logins and bad session tokens count in the shared limiter.
    for i in 0..10 {
        let request = if i % 2 == 0 {
            AuthRequest::WebLogin {
                username: "mjl@example.org".into(),
                password: Secret("wrong".into()),
                connection: web_from("198.51.100.7"),
            }
        } else {
            AuthRequest::Account {
                auth: WebAuth {
                    token: Secret(format!("guess {i}")),
                    ..from("198.51.100.7")
                },
                request: AccountRequest::Overview,
            }
        };
        let answer = auth.call(request).await.unwrap();
        assert!(
            matches!(
                answer,
                AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::BadCredentials))
                    | AuthResponse::WebRefused(WebRefusal::NoSession)
            ),
            "{answer:?}"
        );
    }
    // Now every web request from there says rate-limited, even with right credentials.
    assert_eq!(
        auth.call(AuthRequest::WebLogin {
            username: "mjl@example.org".into(),
            password: Secret(PASSWORD.into()),
            connection: web_from("198.51.100.7"),
        })
        .await
        .unwrap(),
        AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::RateLimited))
    );
    assert_eq!(
        account(&mut auth, from("198.51.100.7"), AccountRequest::Overview).await,
        Err(WebRefusal::RateLimited)
    );
    assert_eq!(
        auth.call(AuthRequest::WebSessionCheck {
            token: Secret(mjl.token.clone()),
            csrf: None,
            connection: web_from("198.51.100.7"),
        })
        .await
        .unwrap(),
        AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::RateLimited))
    );
    let limited_admin = auth
        .call(AuthRequest::AdminLogin {
            password: Secret(ADMIN_PASSWORD.into()),
            connection: web_from("198.51.100.7"),
        })
        .await
        .unwrap();
    assert_eq!(
        limited_admin,
        AuthResponse::WebRefused(WebRefusal::RateLimited)
    );
    // Shared with IMAP: the same address is limited there too.
    assert_eq!(
        plain_login(
            &mut auth,
            connection(Protocol::Imap, "198.51.100.7".parse().unwrap(), None),
            "mjl@example.org",
            PASSWORD
        )
        .await,
        SaslReply::Failure(AuthFailure::RateLimited)
    );
    // Another network is served.
    assert!(
        account(&mut auth, from("203.0.113.9"), AccountRequest::Overview)
            .await
            .is_ok()
    );
    // The limited requests are in the history as rate-limited.
    let AdminResponse::LoginAttempts(attempts) = authd
        .admin_ok(AdminRequest::LoginAttempts {
            account: None,
            limit: None,
        })
        .await
    else {
        panic!()
    };
    assert!(attempts.iter().any(|a| a.protocol == "web"
        && a.result == LoginResult::RateLimited
        && a.remote_ip == "198.51.100.7"));
}

#[tokio::test]
async fn disabling_an_account_ends_its_web_sessions() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let mjl = login(&mut auth, "mjl@example.org", PASSWORD).await;
    authd
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: "mjl".into(),
            disabled: Some("moved to another server".into()),
        })
        .await;
    assert_eq!(
        account(&mut auth, mjl.without_csrf(), AccountRequest::Overview).await,
        Err(WebRefusal::NoSession)
    );
    // A login says why.
    assert_eq!(
        auth.call(AuthRequest::WebLogin {
            username: "mjl@example.org".into(),
            password: Secret(PASSWORD.into()),
            connection: web(),
        })
        .await
        .unwrap(),
        AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::LoginDisabled {
            message: "moved to another server".into()
        }))
    );
    authd
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: "mjl".into(),
            disabled: None,
        })
        .await;
    // Enabling does not bring the old session back.
    assert_eq!(
        account(&mut auth, mjl.without_csrf(), AccountRequest::Overview).await,
        Err(WebRefusal::NoSession)
    );
    login(&mut auth, "mjl@example.org", PASSWORD).await;
}
