//! Tests of the credentials store.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use postern_ipc::{LoginAttempt, LoginResult};

use super::*;
use crate::names::LocalpartCase;
use crate::password::{CramMd5Verifier, PasswordVerifiers, ScramVerifier};

const T0: i64 = 1_700_000_000;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn open_temp() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("auth"), LocalpartCase::Insensitive).unwrap();
    (dir, store)
}

fn refusal<T: fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Refused(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn corrupt<T: fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt(message)) => message,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

fn verifiers(seed: u8) -> PasswordVerifiers {
    PasswordVerifiers {
        argon2id: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ${seed}"),
        scram_sha1: ScramVerifier {
            salt: vec![seed; 16],
            iterations: 4096,
            stored_key: vec![seed.wrapping_add(1); 20],
            server_key: vec![seed.wrapping_add(2); 20],
        },
        scram_sha256: ScramVerifier {
            salt: vec![seed.wrapping_add(3); 16],
            iterations: 10_000,
            stored_key: vec![seed.wrapping_add(4); 32],
            server_key: vec![seed.wrapping_add(5); 32],
        },
        cram_md5: CramMd5Verifier {
            inner: vec![seed.wrapping_add(6); crate::password::CRAM_MD5_STATE_LEN],
            outer: vec![seed.wrapping_add(7); crate::password::CRAM_MD5_STATE_LEN],
        },
    }
}

fn attempt(account: &str, result: LoginResult, last_seen: i64) -> LoginAttempt {
    LoginAttempt {
        account: account.to_string(),
        login_name: format!("{account}@example.org"),
        result,
        protocol: "imap".to_string(),
        mechanism: "PLAIN".to_string(),
        remote_ip: "192.0.2.7".to_string(),
        local_ip: "198.51.100.1".to_string(),
        tls_version: "TLSv1.3".to_string(),
        tls_cipher: "TLS13_AES_256_GCM_SHA384".to_string(),
        client_key: String::new(),
        user_agent: String::new(),
        first_seen: last_seen,
        last_seen,
        count: 1,
    }
}

fn tls_record(account: &str, login_address: &str, name: &str, created: i64) -> TlsKeyRecord {
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params = rcgen::CertificateParams::new(vec!["device.example".to_string()]).unwrap();
    let der = params.self_signed(&key_pair).unwrap().der().to_vec();
    let parsed = crate::tls_key::parse_certificate(&der).unwrap();
    TlsKeyRecord {
        fingerprint: parsed.fingerprint,
        created,
        name: name.to_string(),
        key_type: parsed.key_type,
        account: account.to_string(),
        login_address: login_address.to_string(),
        no_imap_preauth: false,
        certificate_der: der,
    }
}

fn session_hash(n: u32) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash[..4].copy_from_slice(&n.to_be_bytes());
    hash[31] = 0xaa;
    hash
}

fn count(store: &Store, sql: &str) -> i64 {
    store.conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// The failed-row counters agree with the rows.
fn assert_counters_right(store: &Store) {
    let mismatches = count(
        store,
        "SELECT COUNT(*) FROM ( \
           SELECT account, COUNT(*) AS n FROM login_attempts WHERE failed = 1 GROUP BY account \
         ) AS real FULL OUTER JOIN login_attempt_failed_counts c ON c.account = real.account \
         WHERE real.n IS NOT c.failed",
    );
    assert_eq!(mismatches, 0, "failed-row counters disagree with the rows");
}

// ----- files and modes -----

fn assert_store_modes(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "store directory");
    let db = dir.join(DB_FILE_NAME);
    assert_eq!(mode(&db), 0o600, "database file");
    for suffix in ["-wal", "-shm"] {
        let path = dir.join(format!("{DB_FILE_NAME}{suffix}"));
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

#[test]
fn fresh_store_has_private_modes() {
    let (dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    let store_dir = dir.path().join("auth");
    // While open in WAL mode the -wal and -shm files exist.
    assert!(store_dir.join("auth.db-wal").exists());
    assert_store_modes(&store_dir);
    assert_eq!(store.path(), store_dir.join("auth.db"));
}

#[test]
fn existing_loose_modes_are_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("auth");
    std::fs::create_dir(&store_dir).unwrap();
    std::fs::set_permissions(&store_dir, Permissions::from_mode(0o755)).unwrap();
    for name in ["auth.db", "auth.db-wal"] {
        let path = store_dir.join(name);
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
    }
    let mut store = Store::open(&store_dir, LocalpartCase::Insensitive).unwrap();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    assert_store_modes(&store_dir);
}

#[test]
fn open_refuses_a_file_as_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth");
    std::fs::write(&path, b"x").unwrap();
    assert!(matches!(
        Store::open(&path, LocalpartCase::Insensitive),
        Err(StoreError::Io { .. })
    ));
    // The parent must exist: open does not create whole trees.
    let err =
        Store::open(&dir.path().join("missing/auth"), LocalpartCase::Insensitive).unwrap_err();
    assert!(err.to_string().contains("missing/auth"), "{err}");
}

const UMASK_CHILD_ENV: &str = "POSTERN_STORE_TEST_UMASK_DIR";

/// Runs only inside [`modes_with_umask_zero`]'s child process (started with umask 0).
#[test]
fn umask_zero_child() {
    let Some(dir) = std::env::var_os(UMASK_CHILD_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    // Proves to the parent that the umask really was 0.
    std::fs::write(dir.join("marker"), b"").unwrap();
    let store_dir = dir.join("auth");
    let mut store = Store::open(&store_dir, LocalpartCase::Insensitive).unwrap();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    assert!(store_dir.join("auth.db-wal").exists());
    assert!(store_dir.join("auth.db-shm").exists());
    assert_store_modes(&store_dir);
}

/// The umask is process-wide, so the umask-0 case runs in a child process (this test
/// binary again, through `sh -c 'umask 0; exec ...'`) instead of changing ours.
#[test]
fn modes_with_umask_zero() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 0 && exec \"$0\" \"$@\"")
        .arg(&exe)
        .args([
            "--exact",
            "store::tests::umask_zero_child",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(UMASK_CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("1 passed"), "child ran no test: {stdout}");
    assert_eq!(mode(&dir.path().join("marker")), 0o666, "umask was not 0");
    assert_eq!(mode(&dir.path().join("auth")), 0o700);
    assert_eq!(mode(&dir.path().join("auth/auth.db")), 0o600);
}

#[test]
fn reopen_keeps_data_and_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("auth");
    let secret = {
        let mut store = Store::open(&store_dir, LocalpartCase::Insensitive).unwrap();
        store.account_add("mjl", "mjl@example.org", T0).unwrap();
        store.set_password("mjl", &verifiers(1)).unwrap();
        store.server_secret()
    };
    assert_ne!(secret, [0u8; 32]);
    let store = Store::open(&store_dir, LocalpartCase::Insensitive).unwrap();
    assert_eq!(store.server_secret(), secret);
    let list = store.account_list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "mjl");
    assert!(list[0].has_password);
    assert_eq!(list[0].created, T0);
    // Another store gets another secret.
    let (_other_dir, other) = open_temp();
    assert_ne!(other.server_secret(), secret);
}

// ----- accounts and addresses -----

#[test]
fn account_add_list_remove() {
    let (_dir, mut store) = open_temp();
    store.account_add("zed", "zed@example.org", T0).unwrap();
    store.account_add("mjl", "mjl@example.org", T0 + 1).unwrap();
    store.address_add("b@example.org", "mjl").unwrap();
    store.address_add("a@example.org", "mjl").unwrap();

    let list = store.account_list().unwrap();
    let names: Vec<_> = list.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["mjl", "zed"]);
    assert_eq!(
        list[0].addresses,
        ["a@example.org", "b@example.org", "mjl@example.org"]
    );
    assert!(!list[0].has_password);
    assert_eq!(list[0].disabled, None);
    assert_eq!(list[0].created, T0 + 1);

    assert_eq!(
        refusal(store.account_add("mjl", "other@example.org", T0)),
        "account \"mjl\" already exists"
    );
    // The domain is compared case-insensitively, and by default the localpart too.
    assert_eq!(
        refusal(store.account_add("new", "a@EXAMPLE.org", T0)),
        "address \"a@example.org\" is already in use by account \"mjl\""
    );
    assert!(refusal(store.account_add("new", "A@example.org", T0)).contains("only by case"));
    store.account_add("new", "new@example.org", T0).unwrap();
    assert_eq!(
        refusal(store.address_add("zed@example.org", "new")),
        "address \"zed@example.org\" is already in use by account \"zed\""
    );
    assert_eq!(
        refusal(store.address_add("x@example.org", "nobody")),
        "unknown account \"nobody\""
    );
    assert!(matches!(
        store.account_add("a/b", "ab@example.org", T0),
        Err(StoreError::Name(_))
    ));
    assert!(matches!(
        store.account_add("ok", "no-at-sign", T0),
        Err(StoreError::Name(_))
    ));

    store.account_remove("zed", false).unwrap();
    assert_eq!(store.pending_removals().unwrap(), Vec::<String>::new());
    assert_eq!(
        refusal(store.account_remove("zed", false)),
        "unknown account \"zed\""
    );
    // Without awaiting mail removal, the name and address are free at once.
    store.account_add("zed", "zed@example.org", T0).unwrap();
}

#[test]
fn pending_removal_reserves_the_name() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.account_add("other", "other@example.org", T0).unwrap();
    store.account_remove("mjl", true).unwrap();
    assert_eq!(store.pending_removals().unwrap(), ["mjl"]);
    assert!(!store.snapshot().unwrap().accounts.contains_key("mjl"));
    assert_eq!(
        refusal(store.account_add("mjl", "new@example.org", T0)),
        "account \"mjl\" is still being removed: its mail has not been deleted yet"
    );
    // The address is free already; only the name is reserved.
    store.address_add("mjl@example.org", "other").unwrap();
    assert_eq!(
        refusal(store.account_remove("mjl", true)),
        "unknown account \"mjl\""
    );
    store.removal_done("mjl").unwrap();
    store.removal_done("mjl").unwrap();
    store.removal_done("never-existed").unwrap();
    assert!(store.pending_removals().unwrap().is_empty());
    store.account_add("mjl", "mjl2@example.org", T0).unwrap();
}

#[test]
fn names_are_canonical() {
    let (_dir, mut store) = open_temp();
    // "o" + combining acute: stored as the precomposed "ó"; the domain lowercased.
    store
        .account_add("Mo\u{301}x", "Mo\u{301}x@Example.ORG", T0)
        .unwrap();
    let snapshot = store.snapshot().unwrap();
    assert!(snapshot.accounts.contains_key("M\u{f3}x"));
    // Keyed by the folded form; the registered spelling kept.
    assert_eq!(
        snapshot.addresses.get("m\u{f3}x@example.org"),
        Some(&RegisteredAddress {
            address: "M\u{f3}x@example.org".into(),
            account: "M\u{f3}x".into(),
        })
    );
    assert_eq!(
        snapshot
            .address("MO\u{301}X@example.org")
            .map(|a| a.address.as_str()),
        Some("M\u{f3}x@example.org")
    );
    assert_eq!(snapshot.addresses.len(), 1);
    // Every spelling of the same address is the same address.
    assert_eq!(
        refusal(store.address_add("M\u{f3}x@EXAMPLE.org", "M\u{f3}x")),
        "address \"M\u{f3}x@example.org\" is already in use by account \"M\u{f3}x\""
    );
    // An address differing only by case is refused, naming the one registered.
    assert_eq!(
        refusal(store.address_add("m\u{f3}x@example.org", "Mo\u{301}x")),
        "address \"m\u{f3}x@example.org\" differs only by case from address \
         \"M\u{f3}x@example.org\" of account \"M\u{f3}x\" (localparts are \
         case-insensitive; see localpart_case_sensitive in [authd])"
    );
    assert!(refusal(store.account_add("other", "MÓX@example.org", T0)).contains("by case"));
    store
        .address_add("alias@example.org", "Mo\u{301}x")
        .unwrap();
    // Removing by another spelling removes the registered one.
    store.address_remove("ALIAS@EXAMPLE.org").unwrap();
    let list = store.account_list().unwrap();
    assert_eq!(list[0].addresses, ["M\u{f3}x@example.org"]);
    store.set_password("Mo\u{301}x", &verifiers(1)).unwrap();
    store.account_remove("Mo\u{301}x", false).unwrap();
    assert!(store.account_list().unwrap().is_empty());
}

#[test]
fn case_sensitive_localparts_are_different_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("auth"), LocalpartCase::Sensitive).unwrap();
    store.account_add("bob", "Bob@example.org", T0).unwrap();
    store.account_add("robert", "bob@example.org", T0).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.address("Bob@example.org").unwrap().account, "bob");
    assert_eq!(
        snapshot.address("bob@example.org").unwrap().account,
        "robert"
    );
    assert!(snapshot.address("BOB@example.org").is_none());
    assert_eq!(
        refusal(store.address_remove("BOB@example.org")),
        "unknown address \"BOB@example.org\""
    );
    drop(store);
    // Case-insensitive again: the pair must go first.
    let err = Store::open(&dir.path().join("auth"), LocalpartCase::Insensitive).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::CaseCollision { .. }), "{err:?}");
    assert!(
        message.contains("\"Bob@example.org\" (account \"bob\")")
            && message.contains("\"bob@example.org\" (account \"robert\")")
            && message.contains("localpart_case_sensitive = true"),
        "{message}"
    );
    let mut store = Store::open(&dir.path().join("auth"), LocalpartCase::Sensitive).unwrap();
    store.account_remove("robert", false).unwrap();
    drop(store);
    let store = Store::open(&dir.path().join("auth"), LocalpartCase::Insensitive).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(
        snapshot.address("BOB@example.org").unwrap().address,
        "Bob@example.org"
    );
}

#[test]
fn schema_2_addresses_get_their_folded_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth");
    std::fs::create_dir(&path).unwrap();
    {
        let mut conn = Connection::open(path.join(DB_FILE_NAME)).unwrap();
        schema::migrations().to_version(&mut conn, 2).unwrap();
        conn.execute_batch(
            "INSERT INTO accounts (name, created) VALUES ('mjl', 1), ('other', 1);
             INSERT INTO addresses (address, account) VALUES ('Mjl@example.org', 'mjl'),
                 ('\u{d3}scar@example.org', 'other');",
        )
        .unwrap();
    }
    let store = Store::open(&path, LocalpartCase::Insensitive).unwrap();
    let folded: Vec<(String, String)> = store
        .conn
        .prepare("SELECT address, folded FROM addresses ORDER BY address")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        folded,
        [
            ("Mjl@example.org".into(), "mjl@example.org".into()),
            (
                "\u{d3}scar@example.org".into(),
                "\u{f3}scar@example.org".into()
            ),
        ]
    );
    let snapshot = store.snapshot().unwrap();
    assert_eq!(
        snapshot.address("mjl@EXAMPLE.org").unwrap().address,
        "Mjl@example.org"
    );
    assert_eq!(
        snapshot.address("\u{f3}SCAR@example.org").unwrap().account,
        "other"
    );
}

#[test]
fn address_remove_refusals() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    assert_eq!(
        refusal(store.address_remove("mjl@example.org")),
        "cannot remove the last address of account \"mjl\"; remove the account instead"
    );
    assert_eq!(
        refusal(store.address_remove("nobody@example.org")),
        "unknown address \"nobody@example.org\""
    );
    store.address_add("device@example.org", "mjl").unwrap();
    let key = tls_record("mjl", "device@example.org", "phone", T0);
    store.tls_key_add(&key).unwrap();
    let message = refusal(store.address_remove("device@example.org"));
    assert!(
        message.contains("remove the tls public key first") && message.contains("\"phone\""),
        "{message}"
    );
    store.tls_key_remove(&key.fingerprint, None).unwrap();
    store.address_remove("device@example.org").unwrap();
    assert_eq!(
        store.account_list().unwrap()[0].addresses,
        ["mjl@example.org"]
    );
}

#[test]
fn set_password_round_trips_and_ends_sessions() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.account_add("other", "other@example.org", T0).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert!(snapshot.accounts["mjl"].verifiers.is_none());

    store.set_password("mjl", &verifiers(1)).unwrap();
    assert!(store.snapshot().unwrap().accounts["mjl"].verifiers == Some(verifiers(1)));

    store
        .web_session_create(
            "mjl",
            "mjl@example.org",
            &new_session(&session_hash(1), &[7; 32]),
            T0,
        )
        .unwrap();
    store
        .web_session_create(
            "other",
            "other@example.org",
            &new_session(&session_hash(2), &[8; 32]),
            T0,
        )
        .unwrap();
    store.set_password("mjl", &verifiers(2)).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert!(snapshot.accounts["mjl"].verifiers == Some(verifiers(2)));
    assert!(snapshot.accounts["other"].verifiers.is_none());
    assert_eq!(store.web_session_check(&session_hash(1), T0).unwrap(), None);
    assert!(
        store
            .web_session_check(&session_hash(2), T0)
            .unwrap()
            .is_some()
    );
    assert!(store.account_list().unwrap()[0].has_password);

    assert_eq!(
        refusal(store.set_password("nobody", &verifiers(1))),
        "unknown account \"nobody\""
    );
}

#[test]
fn malformed_verifiers_are_refused() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    let mut bad = verifiers(1);
    bad.scram_sha256.stored_key.pop();
    assert!(refusal(store.set_password("mjl", &bad)).contains("scram-sha-256"));
    let mut bad = verifiers(1);
    bad.scram_sha1.iterations = 0;
    assert!(refusal(store.set_password("mjl", &bad)).contains("scram-sha-1"));
    let mut bad = verifiers(1);
    bad.argon2id = "plaintext".to_string();
    assert!(refusal(store.set_password("mjl", &bad)).contains("argon2id"));
    let mut bad = verifiers(1);
    bad.cram_md5.outer.clear();
    assert!(refusal(store.set_password("mjl", &bad)).contains("cram-md5"));
    assert!(
        store.snapshot().unwrap().accounts["mjl"]
            .verifiers
            .is_none()
    );
}

#[test]
fn debug_output_hides_verifiers() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.set_password("mjl", &verifiers(0x41)).unwrap();
    let snapshot = store.snapshot().unwrap();
    let text = format!("{snapshot:?} {store:?}");
    assert!(text.contains("<redacted>"), "{text}");
    assert!(!text.contains("argon2id$"), "{text}");
    assert!(!text.contains("65, 65"), "{text}");
}

#[test]
fn corrupt_rows_are_errors() {
    let (dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.set_password("mjl", &verifiers(1)).unwrap();

    store
        .conn
        .execute(
            "UPDATE password_verifiers SET scram_sha1_server_key = x'0102'",
            [],
        )
        .unwrap();
    assert!(corrupt(store.snapshot()).contains("scram-sha-1"));
    store.set_password("mjl", &verifiers(1)).unwrap();
    store
        .conn
        .execute(
            "UPDATE password_verifiers SET scram_sha256_iterations = 5000000000",
            [],
        )
        .unwrap();
    assert!(corrupt(store.snapshot()).contains("iteration"));
    store.set_password("mjl", &verifiers(1)).unwrap();
    store.snapshot().unwrap();

    store
        .web_session_create(
            "mjl",
            "mjl@example.org",
            &new_session(&session_hash(1), &[7; 32]),
            T0,
        )
        .unwrap();
    store
        .conn
        .execute("UPDATE web_sessions SET csrf_hash = x'00'", [])
        .unwrap();
    assert!(corrupt(store.web_session_check(&session_hash(1), T0)).contains("csrf"));

    store
        .record_login_attempts(&[attempt("mjl", LoginResult::Ok, T0)])
        .unwrap();
    store
        .conn
        .execute("UPDATE login_attempts SET result = 'maybe'", [])
        .unwrap();
    assert!(corrupt(store.login_attempts(None, None)).contains("maybe"));

    store
        .conn
        .execute("UPDATE meta SET server_secret = x'00'", [])
        .unwrap();
    drop(store);
    assert!(
        corrupt(Store::open(
            &dir.path().join("auth"),
            LocalpartCase::Insensitive
        ))
        .contains("server secret")
    );
}

#[test]
fn set_disabled_messages() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.set_disabled("mjl", Some("")).unwrap();
    assert_eq!(
        store.snapshot().unwrap().accounts["mjl"]
            .disabled
            .as_deref(),
        Some(DEFAULT_DISABLED_MESSAGE)
    );
    store
        .set_disabled("mjl", Some("  moved to a new server "))
        .unwrap();
    assert_eq!(
        store.account_list().unwrap()[0].disabled.as_deref(),
        Some("moved to a new server")
    );
    assert!(refusal(store.set_disabled("mjl", Some("two\r\nlines"))).contains("control"));
    assert!(refusal(store.set_disabled("mjl", Some(&"x".repeat(501)))).contains("longer"));
    store.set_disabled("mjl", None).unwrap();
    assert_eq!(store.snapshot().unwrap().accounts["mjl"].disabled, None);
    assert_eq!(
        refusal(store.set_disabled("nobody", None)),
        "unknown account \"nobody\""
    );
}

#[test]
fn account_remove_takes_everything_along() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.account_add("other", "other@example.org", T0).unwrap();
    store.address_add("second@example.org", "mjl").unwrap();
    store.set_password("mjl", &verifiers(1)).unwrap();
    let key = tls_record("mjl", "second@example.org", "laptop", T0);
    store.tls_key_add(&key).unwrap();
    let other_key = tls_record("other", "other@example.org", "desk", T0);
    store.tls_key_add(&other_key).unwrap();
    store
        .web_session_create(
            "mjl",
            "mjl@example.org",
            &new_session(&session_hash(1), &[1; 32]),
            T0,
        )
        .unwrap();
    store
        .record_login_attempts(&[
            attempt("mjl", LoginResult::Ok, T0),
            attempt("mjl", LoginResult::BadCredentials, T0),
            attempt("other", LoginResult::BadCredentials, T0),
        ])
        .unwrap();

    store.account_remove("mjl", true).unwrap();
    let snapshot = store.snapshot().unwrap();
    assert_eq!(snapshot.accounts.len(), 1);
    assert_eq!(snapshot.addresses.len(), 1);
    assert_eq!(
        snapshot.tls_keys.keys().collect::<Vec<_>>(),
        [&other_key.fingerprint]
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM password_verifiers"), 0);
    assert_eq!(count(&store, "SELECT COUNT(*) FROM web_sessions"), 0);
    let attempts = store.login_attempts(None, None).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].account, "other");
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM login_attempt_failed_counts WHERE account = 'mjl'"
        ),
        0
    );
    assert_counters_right(&store);
    // The address is free for others; the key can be registered again elsewhere.
    store.address_add("second@example.org", "other").unwrap();
    let mut again = key.clone();
    again.account = "other".to_string();
    store.tls_key_add(&again).unwrap();
}

// ----- tls keys -----

#[test]
fn tls_keys_add_list_remove() {
    let (_dir, mut store) = open_temp();
    store.account_add("zed", "zed@example.org", T0).unwrap();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.address_add("mjl@other.example", "mjl").unwrap();

    let mut phone = tls_record("mjl", "mjl@OTHER.example", "phone", T0 + 10);
    phone.no_imap_preauth = true;
    let laptop = tls_record("mjl", "mjl@example.org", "laptop", T0 + 5);
    let z = tls_record("zed", "zed@example.org", "z", T0);
    store.tls_key_add(&phone).unwrap();
    store.tls_key_add(&laptop).unwrap();
    store.tls_key_add(&z).unwrap();

    let all = store.tls_key_list(None).unwrap();
    let names: Vec<_> = all.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["laptop", "phone", "z"]);
    assert_eq!(all[1].login_address, "mjl@other.example");
    assert!(all[1].no_imap_preauth);
    assert_eq!(all[1].fingerprint, phone.fingerprint.to_base64url());
    assert_eq!(all[1].key_type, "ed25519");
    assert_eq!(all[1].created, T0 + 10);
    let mjl: Vec<_> = store.tls_key_list(Some("mjl")).unwrap();
    assert_eq!(mjl.len(), 2);
    assert!(store.tls_key_list(Some("nobody")).unwrap().is_empty());

    let snapshot = store.snapshot().unwrap();
    let stored = &snapshot.tls_keys[&phone.fingerprint];
    assert_eq!(stored.login_address, "mjl@other.example");
    assert_eq!(stored.certificate_der, phone.certificate_der);
    assert_eq!(stored.info(), all[1]);

    assert!(refusal(store.tls_key_add(&phone)).starts_with("tls public key already registered"));
    let mut wrong = tls_record("mjl", "zed@example.org", "x", T0);
    assert_eq!(
        refusal(store.tls_key_add(&wrong)),
        "login address \"zed@example.org\" is not an address of account \"mjl\""
    );
    wrong.login_address = "nobody@example.org".to_string();
    assert!(refusal(store.tls_key_add(&wrong)).contains("is not an address of account"));
    wrong.account = "nobody".to_string();
    assert_eq!(
        refusal(store.tls_key_add(&wrong)),
        "unknown account \"nobody\""
    );
    let mut unnamed = tls_record("mjl", "mjl@example.org", " ", T0);
    assert!(refusal(store.tls_key_add(&unnamed)).contains("needs a name"));
    unnamed.name = "a\nb".to_string();
    assert!(refusal(store.tls_key_add(&unnamed)).contains("control"));

    store.tls_key_remove(&phone.fingerprint, None).unwrap();
    assert_eq!(
        refusal(store.tls_key_remove(&phone.fingerprint, None)),
        format!("unknown tls public key {}", phone.fingerprint)
    );
    assert_eq!(store.tls_key_list(None).unwrap().len(), 2);
    assert!(
        !store
            .snapshot()
            .unwrap()
            .tls_keys
            .contains_key(&phone.fingerprint)
    );
}

// ----- login attempts -----

#[test]
fn login_attempts_group_identical_ones() {
    let (_dir, mut store) = open_temp();
    let first = attempt("mjl", LoginResult::BadCredentials, T0);
    store
        .record_login_attempts(std::slice::from_ref(&first))
        .unwrap();
    let mut later = first.clone();
    later.first_seen = T0 + 50;
    later.last_seen = T0 + 60;
    later.count = 3;
    store.record_login_attempts(&[later.clone()]).unwrap();

    let rows = store.login_attempts(Some("mjl"), None).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].count, 4);
    assert_eq!(rows[0].first_seen, T0);
    assert_eq!(rows[0].last_seen, T0 + 60);
    // An older observation arriving late does not move last_seen back.
    store
        .record_login_attempts(std::slice::from_ref(&first))
        .unwrap();
    let rows = store.login_attempts(Some("mjl"), None).unwrap();
    assert_eq!((rows[0].count, rows[0].last_seen), (5, T0 + 60));

    // Any differing field makes a new row; identical ones in one batch collapse too.
    let mut other_agent = first.clone();
    other_agent.user_agent = "Thunderbird".to_string();
    let mut other_result = first.clone();
    other_result.result = LoginResult::Ok;
    store
        .record_login_attempts(&[other_agent.clone(), other_result, other_agent])
        .unwrap();
    let rows = store.login_attempts(Some("mjl"), None).unwrap();
    assert_eq!(rows.len(), 3);
    let agent_row = rows.iter().find(|r| r.user_agent == "Thunderbird").unwrap();
    assert_eq!(agent_row.count, 2);
    // Only the two new failed rows count, not the updates.
    assert_eq!(
        count(
            &store,
            "SELECT failed FROM login_attempt_failed_counts WHERE account = 'mjl'"
        ),
        2
    );
    assert_counters_right(&store);
}

#[test]
fn login_attempt_key_fields_do_not_run_together() {
    let mut a = attempt("ab", LoginResult::Ok, T0);
    a.login_name = "c".to_string();
    let mut b = attempt("a", LoginResult::Ok, T0);
    b.login_name = "bc".to_string();
    assert_ne!(
        login_attempts::attempt_key(&a),
        login_attempts::attempt_key(&b)
    );
    let mut c = a.clone();
    c.first_seen = 1;
    c.last_seen = 2;
    c.count = 9;
    assert_eq!(
        login_attempts::attempt_key(&a),
        login_attempts::attempt_key(&c)
    );
}

#[test]
fn login_attempts_expire_after_30_days() {
    let (_dir, mut store) = open_temp();
    let now = T0 + 100 * 24 * 3600;
    let boundary = now - LOGIN_ATTEMPT_RETENTION_SECS;
    let mut old_fail = attempt("mjl", LoginResult::BadCredentials, boundary - 1);
    old_fail.login_name = "old".to_string();
    let mut edge_fail = attempt("mjl", LoginResult::BadCredentials, boundary);
    edge_fail.login_name = "edge".to_string();
    let old_ok = attempt("mjl", LoginResult::Ok, boundary - 1000);
    let mut old_unknown = attempt("-", LoginResult::UnknownUser, boundary - 5);
    old_unknown.first_seen = boundary - 100_000;
    let mut recent = attempt("-", LoginResult::UnknownUser, now);
    recent.login_name = "recent".to_string();
    store
        .record_login_attempts(&[old_fail, edge_fail, old_ok, old_unknown, recent])
        .unwrap();
    assert_eq!(store.expire_login_attempts(now).unwrap(), 3);
    let rows = store.login_attempts(None, None).unwrap();
    let kept: Vec<_> = rows.iter().map(|r| r.last_seen).collect();
    assert_eq!(kept, [now, boundary]);
    assert_counters_right(&store);
    assert_eq!(
        count(
            &store,
            "SELECT failed FROM login_attempt_failed_counts WHERE account = 'mjl'"
        ),
        1
    );
    assert_eq!(store.expire_login_attempts(now).unwrap(), 0);
    assert_eq!(store.expire_login_attempts(now + 1).unwrap(), 1);
    assert_counters_right(&store);
}

#[test]
fn failed_login_attempts_are_capped() {
    let (_dir, mut store) = open_temp();
    let total = 10_050;
    // Successful rows, older than every failure: never counted, never dropped.
    let oks: Vec<_> = (0..20)
        .map(|i| {
            let mut a = attempt("-", LoginResult::Ok, T0 - 1000 + i);
            a.remote_ip = format!("10.0.0.{i}");
            a
        })
        .collect();
    store.record_login_attempts(&oks).unwrap();
    store
        .record_login_attempts(&[attempt("other", LoginResult::BadCredentials, T0 - 5000)])
        .unwrap();

    let failures: Vec<_> = (0..total)
        .map(|i| {
            let mut a = attempt("-", LoginResult::UnknownUser, T0 + i);
            a.login_name = format!("guess{i}@example.org");
            a
        })
        .collect();
    // In a few batches, one transaction each.
    for batch in failures.chunks(2_600) {
        store.record_login_attempts(batch).unwrap();
    }
    let failed_rows = |store: &Store| {
        count(
            store,
            "SELECT COUNT(*) FROM login_attempts WHERE account = '-' AND failed = 1",
        )
    };
    assert_eq!(failed_rows(&store), 10_000);
    let oldest = count(
        &store,
        "SELECT MIN(last_seen) FROM login_attempts WHERE account = '-' AND failed = 1",
    );
    assert_eq!(oldest, T0 + (total - 10_000));
    assert_eq!(
        count(
            &store,
            "SELECT COUNT(*) FROM login_attempts WHERE result = 'ok'"
        ),
        20
    );
    assert_eq!(store.login_attempts(Some("other"), None).unwrap().len(), 1);
    assert_counters_right(&store);

    // An update of an existing row adds no row and drops nothing.
    let last = failures[failures.len() - 1].clone();
    store.record_login_attempts(&[last]).unwrap();
    assert_eq!(failed_rows(&store), 10_000);
    assert_eq!(
        count(
            &store,
            "SELECT MIN(last_seen) FROM login_attempts WHERE failed = 1 AND account = '-'"
        ),
        oldest
    );
    // One more new failure pushes out the oldest one.
    let mut one_more = attempt("-", LoginResult::UnknownUser, T0 + total);
    one_more.login_name = "one-more".to_string();
    store.record_login_attempts(&[one_more]).unwrap();
    assert_eq!(failed_rows(&store), 10_000);
    assert_eq!(
        count(
            &store,
            "SELECT MIN(last_seen) FROM login_attempts WHERE failed = 1 AND account = '-'"
        ),
        oldest + 1
    );
    assert_eq!(store.login_attempts(Some("-"), None).unwrap().len(), 10_020);
    assert_counters_right(&store);
}

#[test]
fn newest_login_attempts_first() {
    let (_dir, mut store) = open_temp();
    let mut batch = Vec::new();
    for (i, account) in ["a", "b", "-", "a", "b", "a"].iter().enumerate() {
        let mut x = attempt(account, LoginResult::BadCredentials, T0 + i as i64 * 10);
        x.remote_ip = format!("192.0.2.{i}");
        batch.push(x);
    }
    store.record_login_attempts(&batch).unwrap();
    let seen = |rows: Vec<LoginAttempt>| rows.iter().map(|r| r.last_seen - T0).collect::<Vec<_>>();
    assert_eq!(
        seen(store.login_attempts(Some("a"), None).unwrap()),
        [50, 30, 0]
    );
    assert_eq!(
        seen(store.login_attempts(Some("a"), Some(2)).unwrap()),
        [50, 30]
    );
    assert_eq!(
        seen(store.login_attempts(Some("b"), Some(10)).unwrap()),
        [40, 10]
    );
    assert_eq!(seen(store.login_attempts(Some("-"), None).unwrap()), [20]);
    assert_eq!(
        seen(store.login_attempts(None, Some(3)).unwrap()),
        [50, 40, 30]
    );
    assert_eq!(
        seen(store.login_attempts(None, None).unwrap()),
        [50, 40, 30, 20, 10, 0]
    );
    assert!(store.login_attempts(None, Some(0)).unwrap().is_empty());
    assert!(
        store
            .login_attempts(Some("nobody"), None)
            .unwrap()
            .is_empty()
    );
    // Fields survive the round trip.
    let row = &store.login_attempts(Some("-"), None).unwrap()[0];
    assert_eq!(row, &batch[2]);
    store.record_login_attempts(&[]).unwrap();
}

// ----- web sessions -----

fn new_session<'a>(token_hash: &'a [u8; 32], csrf_hash: &'a [u8; 32]) -> NewSession<'a> {
    NewSession {
        token_hash,
        csrf_hash,
        user_agent: "test-browser/1.0",
        remote_ip: "192.0.2.1",
    }
}

#[test]
fn web_sessions_slide_and_expire() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    let token = session_hash(1);
    store
        .web_session_create("mjl", "mjl@example.org", &new_session(&token, &[9; 32]), T0)
        .unwrap();
    let expected = WebSessionRecord {
        id: 1,
        account: "mjl".to_string(),
        login_address: "mjl@example.org".to_string(),
        csrf_hash: [9; 32],
    };
    // Exactly at the idle limit it is still valid, and each use slides the window.
    assert_eq!(
        store
            .web_session_check(&token, T0 + WEB_SESSION_IDLE_SECS)
            .unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store
            .web_session_check(&token, T0 + 2 * WEB_SESSION_IDLE_SECS)
            .unwrap(),
        Some(expected.clone())
    );
    // A check with an earlier clock does not move last use back.
    assert!(store.web_session_check(&token, T0).unwrap().is_some());
    assert_eq!(
        store
            .web_session_check(&token, T0 + 3 * WEB_SESSION_IDLE_SECS + 1)
            .unwrap(),
        None
    );
    // Deleted, not just refused.
    assert_eq!(count(&store, "SELECT COUNT(*) FROM web_sessions"), 0);
    assert_eq!(store.web_session_check(&token, T0).unwrap(), None);
    assert_eq!(
        store.web_session_check(&session_hash(99), T0).unwrap(),
        None
    );

    // Logout.
    store
        .web_session_create("mjl", "mjl@example.org", &new_session(&token, &[9; 32]), T0)
        .unwrap();
    store.web_session_remove(&token).unwrap();
    store.web_session_remove(&token).unwrap();
    assert_eq!(store.web_session_check(&token, T0).unwrap(), None);

    // Bulk expiry.
    for i in 0..5 {
        store
            .web_session_create(
                "mjl",
                "mjl@example.org",
                &new_session(&session_hash(10 + i), &[0; 32]),
                T0 + i64::from(i),
            )
            .unwrap();
    }
    let now = T0 + 2 + WEB_SESSION_IDLE_SECS;
    assert_eq!(store.expire_web_sessions(now).unwrap(), 2);
    assert_eq!(store.expire_web_sessions(now).unwrap(), 0);
    assert!(
        store
            .web_session_check(&session_hash(12), now)
            .unwrap()
            .is_some()
    );

    assert_eq!(
        refusal(store.web_session_create(
            "nobody",
            "x@example.org",
            &new_session(&session_hash(50), &[0; 32]),
            T0
        )),
        "unknown account \"nobody\""
    );
}

#[test]
fn web_sessions_are_capped_per_account() {
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store.account_add("other", "other@example.org", T0).unwrap();
    store
        .web_session_create(
            "other",
            "other@example.org",
            &new_session(&session_hash(10_000), &[0; 32]),
            T0 - 10,
        )
        .unwrap();
    let cap = MAX_WEB_SESSIONS_PER_ACCOUNT as u32;
    for i in 0..cap {
        store
            .web_session_create(
                "mjl",
                "mjl@example.org",
                &new_session(&session_hash(i), &[0; 32]),
                T0 + i64::from(i),
            )
            .unwrap();
    }
    // Using session 0 makes session 1 the least recently used.
    let now = T0 + i64::from(cap);
    assert!(
        store
            .web_session_check(&session_hash(0), now)
            .unwrap()
            .is_some()
    );
    store
        .web_session_create(
            "mjl",
            "mjl@example.org",
            &new_session(&session_hash(cap), &[0; 32]),
            now + 1,
        )
        .unwrap();
    let sessions = |store: &Store, account: &str| {
        store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM web_sessions WHERE account = ?1",
                [account],
                |row| row.get::<_, i64>(0),
            )
            .unwrap()
    };
    assert_eq!(sessions(&store, "mjl"), 100);
    assert_eq!(
        store.web_session_check(&session_hash(1), now + 1).unwrap(),
        None
    );
    for i in [0, 2, cap - 1, cap] {
        assert!(
            store
                .web_session_check(&session_hash(i), now + 1)
                .unwrap()
                .is_some(),
            "session {i}"
        );
    }
    for i in 0..5 {
        store
            .web_session_create(
                "mjl",
                "mjl@example.org",
                &new_session(&session_hash(cap + 1 + i), &[0; 32]),
                now + 2,
            )
            .unwrap();
    }
    assert_eq!(sessions(&store, "mjl"), 100);
    assert_eq!(sessions(&store, "other"), 1);
}

// ----- messages -----

#[test]
fn error_messages_read_well() {
    assert_eq!(
        StoreError::Refused("account \"x\" already exists".to_string()).to_string(),
        "account \"x\" already exists"
    );
    let name = crate::names::canonical_account_name("").unwrap_err();
    assert_eq!(StoreError::from(name.clone()).to_string(), name.to_string());
    let io = StoreError::Io {
        path: "/var/lib/postern/auth".into(),
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    assert!(
        io.to_string()
            .starts_with("credentials database /var/lib/postern/auth: ")
    );
    assert!(
        StoreError::Corrupt("x".to_string())
            .to_string()
            .contains("corrupt")
    );
}

// ----- admin sessions and mail-access tickets -----

#[test]
fn admin_sessions_slide_expire_and_are_capped() {
    use postern_ipc::web::{ADMIN_SESSION_IDLE_SECS, MAX_ADMIN_SESSIONS};
    let (_dir, mut store) = open_temp();
    let token = session_hash(1);
    store
        .admin_session_create(&new_session(&token, &[5; 32]), T0)
        .unwrap();
    let found = store
        .admin_session_check(&token, T0 + ADMIN_SESSION_IDLE_SECS)
        .unwrap();
    assert_eq!(found, Some(AdminSessionRecord { csrf_hash: [5; 32] }));
    assert_eq!(
        store
            .admin_session_check(&token, T0 + 2 * ADMIN_SESSION_IDLE_SECS + 1)
            .unwrap(),
        None
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM admin_sessions"), 0);
    // An account session token is no admin session, and the other way round.
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    store
        .web_session_create("mjl", "mjl@example.org", &new_session(&token, &[1; 32]), T0)
        .unwrap();
    assert_eq!(store.admin_session_check(&token, T0).unwrap(), None);
    let cap = MAX_ADMIN_SESSIONS as u32;
    for i in 0..=cap {
        store
            .admin_session_create(
                &new_session(&session_hash(100 + i), &[0; 32]),
                T0 + i64::from(i),
            )
            .unwrap();
    }
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM admin_sessions"),
        i64::from(cap)
    );
    assert_eq!(
        store.admin_session_check(&session_hash(100), T0).unwrap(),
        None
    );
    assert!(store.web_session_check(&token, T0).unwrap().is_some());
    // A new admin password ends every admin session, and only those.
    store
        .set_admin_password("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA")
        .unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM admin_sessions"), 0);
    assert!(store.web_session_check(&token, T0).unwrap().is_some());
    assert!(store.admin_password().unwrap().is_some());
    assert!(refusal(store.set_admin_password("plain text")).contains("argon2id"));
}

#[test]
fn mail_tickets_are_used_once_before_their_deadline() {
    use postern_ipc::web::MailPurpose;
    let (_dir, mut store) = open_temp();
    store.account_add("mjl", "mjl@example.org", T0).unwrap();
    let redeemed = TicketRedemption::Redeemed {
        account: "mjl".to_string(),
    };
    let t = session_hash(1);
    store
        .mail_ticket_create(&t, "mjl", MailPurpose::Import, 1000, T0 + 60)
        .unwrap();
    // At the deadline it is still good; once used it is gone.
    assert_eq!(
        store
            .mail_ticket_redeem(&t, MailPurpose::Import, 1000, T0 + 60)
            .unwrap(),
        redeemed
    );
    assert!(matches!(
        store
            .mail_ticket_redeem(&t, MailPurpose::Import, 1000, T0)
            .unwrap(),
        TicketRedemption::Refused(_)
    ));
    // Late, another purpose, another uid: refused, and gone too.
    for (purpose, uid, now) in [
        (MailPurpose::Import, 1000, T0 + 61),
        (MailPurpose::Export, 1000, T0),
        (MailPurpose::Import, 1001, T0),
    ] {
        store
            .mail_ticket_create(&t, "mjl", MailPurpose::Import, 1000, T0 + 60)
            .unwrap();
        assert!(matches!(
            store.mail_ticket_redeem(&t, purpose, uid, now).unwrap(),
            TicketRedemption::Refused(_)
        ));
        assert_eq!(count(&store, "SELECT COUNT(*) FROM mail_tickets"), 0);
    }
    assert!(
        refusal(store.mail_ticket_create(&t, "nobody", MailPurpose::Import, 0, T0))
            .contains("unknown account")
    );
    // Expiry and account removal drop tickets.
    store
        .mail_ticket_create(&session_hash(2), "mjl", MailPurpose::Export, 0, T0)
        .unwrap();
    store
        .mail_ticket_create(&session_hash(3), "mjl", MailPurpose::Export, 0, T0 + 100)
        .unwrap();
    assert_eq!(store.expire_mail_tickets(T0 + 1).unwrap(), 1);
    store.account_remove("mjl", false).unwrap();
    assert_eq!(count(&store, "SELECT COUNT(*) FROM mail_tickets"), 0);
}
