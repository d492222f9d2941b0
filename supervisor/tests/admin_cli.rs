//! The admin command line against a fake authd: which request each command sends, how
//! answers are printed, and how errors look. (The real authd is exercised in
//! `localserve.rs`.)

mod common;

use common::{FakeAuthd, postern, write_config};
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::{AccountSummary, LoginAttempt, LoginResult, Secret, TlsPublicKeyInfo};

fn accounts() -> Vec<AccountSummary> {
    vec![
        AccountSummary {
            name: "alice".into(),
            addresses: vec!["alice@example.org".into(), "a@example.org".into()],
            has_password: true,
            disabled: None,
            created: 1_790_000_000,
        },
        AccountSummary {
            name: "bob".into(),
            addresses: vec!["bob@example.org".into()],
            has_password: false,
            disabled: Some("moved away".into()),
            created: 0,
        },
    ]
}

fn attempt(user_agent: &str, last_seen: i64) -> LoginAttempt {
    LoginAttempt {
        account: "alice".into(),
        login_name: "alice@example.org".into(),
        result: LoginResult::BadCredentials,
        protocol: "imap".into(),
        mechanism: "SCRAM-SHA-256".into(),
        remote_ip: "192.0.2.7".into(),
        local_ip: "127.0.0.1".into(),
        tls_version: "TLSv1.3".into(),
        tls_cipher: "TLS13_AES_128_GCM_SHA256".into(),
        client_key: String::new(),
        user_agent: user_agent.into(),
        first_seen: last_seen - 60,
        last_seen,
        count: 3,
    }
}

fn canned(request: &AdminRequest) -> AdminResponse {
    match request {
        AdminRequest::AccountList => AdminResponse::Accounts(accounts()),
        AdminRequest::AccountRemove { account } if account == "nobody" => {
            AdminResponse::Error("no account \"nobody\"".into())
        }
        AdminRequest::TlsPublicKeyAdd { name, .. } => {
            AdminResponse::TlsPublicKeyAdded(TlsPublicKeyInfo {
                fingerprint: "fp-from-authd".into(),
                created: 1_790_000_000,
                name: name.clone().unwrap_or_else(|| "laptop".into()),
                key_type: "ed25519".into(),
                account: "alice".into(),
                login_address: "alice@example.org".into(),
                no_imap_preauth: true,
            })
        }
        AdminRequest::TlsPublicKeyList { .. } => AdminResponse::TlsPublicKeys(vec![]),
        AdminRequest::LoginAttempts { limit, .. } => {
            let n = limit.unwrap_or(20_000) as i64;
            AdminResponse::LoginAttempts(
                (0..n)
                    .map(|i| attempt("evil\x1b[2Jagent", 1_790_000_000 - i))
                    .collect(),
            )
        }
        AdminRequest::RateLimitList => AdminResponse::RateLimits(vec![]),
        _ => AdminResponse::Done,
    }
}

#[test]
fn account_list_as_table_and_json() {
    let authd = FakeAuthd::start(canned);
    let run = authd.postern(&["account", "list"], None);
    assert_eq!(
        run.ok(),
        "ACCOUNT  ADDRESSES                        PASSWORD  CREATED               DISABLED\n\
         alice    alice@example.org,a@example.org  set       2026-09-21T14:13:20Z  no\n\
         bob      bob@example.org                  none      1970-01-01T00:00:00Z  yes: moved away\n"
    );
    let run = authd.postern(&["account", "list", "--json"], None);
    let parsed: Vec<AccountSummary> = serde_json::from_str(run.ok()).expect("JSON");
    assert_eq!(parsed, accounts());
    assert_eq!(
        authd.take_requests(),
        vec![AdminRequest::AccountList, AdminRequest::AccountList]
    );
}

#[test]
fn mutations_send_the_right_requests_and_print_nothing() {
    let authd = FakeAuthd::start(canned);
    let commands: &[&[&str]] = &[
        &["account", "add", "carol", "carol@example.org"],
        &["account", "rm", "carol"],
        &["account", "disable", "carol"],
        &["account", "disable", "carol", "--message", "ask the admin"],
        &["account", "enable", "carol"],
        &["address", "add", "c@example.org", "carol"],
        &["address", "rm", "c@example.org"],
        &["tlspubkey", "rm", "abc_-"],
        &["ratelimit", "clear", "2001:db8::1"],
        &["ratelimit", "clear"],
    ];
    for args in commands {
        assert_eq!(authd.postern(args, None).ok(), "", "{args:?}");
    }
    assert_eq!(
        authd.take_requests(),
        vec![
            AdminRequest::AccountAdd {
                account: "carol".into(),
                address: "carol@example.org".into()
            },
            AdminRequest::AccountRemove {
                account: "carol".into()
            },
            AdminRequest::AccountSetDisabled {
                account: "carol".into(),
                disabled: Some("account disabled by the administrator".into())
            },
            AdminRequest::AccountSetDisabled {
                account: "carol".into(),
                disabled: Some("ask the admin".into())
            },
            AdminRequest::AccountSetDisabled {
                account: "carol".into(),
                disabled: None
            },
            AdminRequest::AddressAdd {
                address: "c@example.org".into(),
                account: "carol".into()
            },
            AdminRequest::AddressRemove {
                address: "c@example.org".into()
            },
            AdminRequest::TlsPublicKeyRemove {
                fingerprint: "abc_-".into()
            },
            AdminRequest::RateLimitClear {
                address: Some("2001:db8::1".parse().unwrap())
            },
            AdminRequest::RateLimitClear { address: None },
        ]
    );
}

#[test]
fn password_is_one_line_of_stdin() {
    let authd = FakeAuthd::start(canned);
    let run = authd.postern(
        &["account", "password", "alice"],
        Some(b" spaces stay \nsecond line is ignored\n"),
    );
    assert_eq!(run.ok(), "");
    assert_eq!(
        authd.take_requests(),
        vec![AdminRequest::AccountSetPassword {
            account: "alice".into(),
            password: Secret(" spaces stay ".into()),
        }]
    );
    // Nothing on stdin: refused before authd is asked.
    let run = authd.postern(&["account", "password", "alice"], Some(b""));
    let line = run.one_line_error();
    assert!(line.contains("no password on standard input"), "{line}");
    assert_eq!(authd.take_requests(), vec![]);
}

#[test]
fn admin_password_is_one_line_of_stdin() {
    let authd = FakeAuthd::start(canned);
    let run = authd.postern(&["admin", "password"], Some(b"the admin's password\n"));
    assert_eq!(run.ok(), "");
    assert_eq!(
        authd.take_requests(),
        vec![AdminRequest::AdminPasswordSet {
            password: Secret("the admin's password".into()),
        }]
    );
    let run = authd.postern(&["admin", "password"], Some(b""));
    let line = run.one_line_error();
    assert!(line.contains("no password on standard input"), "{line}");
    assert_eq!(authd.take_requests(), vec![]);
}

#[test]
fn tlspubkey_add_sends_the_der_and_prints_the_fingerprint() {
    let authd = FakeAuthd::start(canned);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["laptop".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    // The key block comes first: the first CERTIFICATE block is what counts.
    let pem_path = authd.dir.path().join("combined.pem");
    std::fs::write(&pem_path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    let pem = pem_path.to_str().unwrap();
    let run = authd.postern(
        &[
            "tlspubkey",
            "add",
            "alice",
            "alice@example.org",
            pem,
            "--name",
            "my laptop",
            "--no-imap-preauth",
        ],
        None,
    );
    assert_eq!(run.ok(), "fp-from-authd\n");
    assert_eq!(
        authd.take_requests(),
        vec![AdminRequest::TlsPublicKeyAdd {
            account: "alice".into(),
            login_address: "alice@example.org".into(),
            certificate_der: cert.der().to_vec(),
            name: Some("my laptop".into()),
            no_imap_preauth: true,
        }]
    );

    // A file without a certificate, or no file: one line, authd not asked.
    let key_only = authd.dir.path().join("key.pem");
    std::fs::write(&key_only, key.serialize_pem()).unwrap();
    for path in [key_only, authd.dir.path().join("missing.pem")] {
        let p = path.to_str().unwrap();
        let run = authd.postern(&["tlspubkey", "add", "alice", "alice@example.org", p], None);
        let line = run.one_line_error();
        assert!(line.contains(p), "{line}");
    }
    assert_eq!(authd.take_requests(), vec![]);

    let run = authd.postern(&["tlspubkey", "list", "alice"], None);
    assert_eq!(run.ok(), "no TLS public keys\n");
    let run = authd.postern(&["tlspubkey", "list", "--json"], None);
    assert_eq!(run.ok().trim(), "[]");
    assert_eq!(
        authd.take_requests(),
        vec![
            AdminRequest::TlsPublicKeyList {
                account: Some("alice".into())
            },
            AdminRequest::TlsPublicKeyList { account: None },
        ]
    );
}

#[test]
fn loginattempts_limits_and_escaping() {
    let authd = FakeAuthd::start(canned);
    let run = authd.postern(&["loginattempts"], None);
    let text = run.ok();
    assert_eq!(text.lines().count(), 11, "{text}");
    assert!(text.starts_with("LAST SEEN"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "control characters must be escaped: {text}"
    );
    assert!(text.contains("evil\\u{1b}[2Jagent"), "{text}");
    assert!(
        text.lines().nth(1).unwrap().starts_with(
            "2026-09-21T14:13:20Z  3      bad-credentials  imap      SCRAM-SHA-256  alice"
        ),
        "{text}"
    );
    authd
        .postern(&["loginattempts", "alice", "--limit", "3"], None)
        .ok();
    let run = authd.postern(&["loginattempts", "--limit", "2", "--json"], None);
    let parsed: Vec<LoginAttempt> = serde_json::from_str(run.ok()).expect("JSON");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0], attempt("evil\x1b[2Jagent", 1_790_000_000));
    assert_eq!(
        authd.take_requests(),
        vec![
            AdminRequest::LoginAttempts {
                account: None,
                limit: Some(10)
            },
            AdminRequest::LoginAttempts {
                account: Some("alice".into()),
                limit: Some(3)
            },
            AdminRequest::LoginAttempts {
                account: None,
                limit: Some(2)
            },
        ]
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let authd = FakeAuthd::start(canned);
    let mut child = Command::new(common::postern_bin())
        .args([
            "--config",
            authd.config.to_str().unwrap(),
            "loginattempts",
            "--all",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("LAST SEEN"), "{first:?}");
    // stdout is closed now, with most of 20,000 rows unwritten.
    let status = common::wait_timeout(&mut child, std::time::Duration::from_secs(60)).unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!((status.code(), stderr.as_str()), (Some(0), ""));
    assert_eq!(
        authd.take_requests(),
        vec![AdminRequest::LoginAttempts {
            account: None,
            limit: None
        }]
    );
}

/// An answer that reaches the client over several reads (any answer larger than 8 KiB,
/// the client's first read, or any answer from a busy authd) must arrive whole.
#[test]
fn answers_split_over_many_reads_arrive_whole() {
    let authd = FakeAuthd::start_trickling(canned);
    let run = authd.postern(&["loginattempts", "--limit", "2"], None);
    assert_eq!(run.ok().lines().count(), 3);
    let run = authd.postern(&["loginattempts", "--limit", "2000"], None);
    assert_eq!(run.ok().lines().count(), 2001);
}

#[test]
fn authd_errors_are_one_line_exit_1() {
    let authd = FakeAuthd::start(canned);
    let run = authd.postern(&["account", "rm", "nobody"], None);
    assert_eq!(run.one_line_error(), "postern: no account \"nobody\"");
    assert_eq!(run.stdout, "");
}

#[test]
fn unreachable_authd_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let socket = dir.path().join("run/admin.sock");
    let run = postern(
        &["--config", config.to_str().unwrap(), "account", "list"],
        None,
    );
    let line = run.one_line_error();
    let expected = format!(
        "postern: cannot reach authd at {} (is postern running?): ",
        socket.display()
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.contains("No such file or directory"), "{line}");

    // The config named by POSTERN_CONFIG is used when --config is absent.
    let out = std::process::Command::new(common::postern_bin())
        .args(["ratelimit", "list"])
        .env("POSTERN_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with(&expected));
}

#[test]
fn missing_config_is_one_clear_line() {
    let run = postern(
        &["--config", "/nonexistent/postern.toml", "account", "list"],
        None,
    );
    assert_eq!(
        run.one_line_error(),
        "postern: cannot read config /nonexistent/postern.toml: No such file or directory (os error 2)"
    );
}
