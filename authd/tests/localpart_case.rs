//! How localparts compare, against the real authd: case-insensitive by default (one
//! address whatever the case, kept in its registered spelling), case-sensitive with
//! `[authd] localpart_case_sensitive = true`, and the start-up refusal when that setting
//! is turned off while two addresses differ only by case.

mod common;

use std::process::{Command, Stdio};

use common::{Authd, all_protocols, connection, localhost, plain_login};
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AddressOwner, AuthRequest, AuthResponse, SaslReply};
use postern_ipc::{AuthFailure, Protocol, Verdict};

async fn login(authd: &Authd, username: &str, password: &str) -> SaslReply {
    let mut auth = authd.auth().await;
    plain_login(
        &mut auth,
        connection(Protocol::Imap, localhost(), None),
        username,
        password,
    )
    .await
}

fn verdict(reply: SaslReply) -> Verdict {
    match reply {
        SaslReply::Success(verdict) => verdict,
        other => panic!("expected success, got {other:?}"),
    }
}

async fn resolve(authd: &Authd, address: &str) -> Option<AddressOwner> {
    match authd
        .auth()
        .await
        .call(AuthRequest::ResolveAddress {
            address: address.into(),
        })
        .await
        .unwrap()
    {
        AuthResponse::Address(owner) => owner,
        other => panic!("unexpected {other:?}"),
    }
}

async fn admin_error(authd: &Authd, request: AdminRequest) -> String {
    match authd.admin().await.call(request).await.unwrap() {
        AdminResponse::Error(message) => message,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn with_setting(on: bool) -> String {
    format!("{}\nlocalpart_case_sensitive = {on}\n", all_protocols())
}

#[tokio::test]
async fn localparts_compare_without_case_by_default() {
    let authd = Authd::start().await;
    authd
        .add_account("bob", "Bob.Smith@Example.org", "bob password 1")
        .await;
    // Any spelling logs in; the verdict names the address as registered.
    for spelling in [
        "Bob.Smith@example.org",
        "bob.smith@example.org",
        "BOB.SMITH@EXAMPLE.ORG",
    ] {
        let verdict = verdict(login(&authd, spelling, "bob password 1").await);
        assert_eq!(verdict.account, "bob", "{spelling}");
        assert_eq!(verdict.login_address, "Bob.Smith@example.org", "{spelling}");
    }
    assert!(matches!(
        login(&authd, "bob.smith@example.org", "wrong").await,
        SaslReply::Failure(AuthFailure::BadCredentials)
    ));
    // Delivery and sender checks resolve any spelling to the registered address.
    assert_eq!(
        resolve(&authd, "BOB.smith@example.ORG").await,
        Some(AddressOwner {
            account: "bob".into(),
            address: "Bob.Smith@example.org".into(),
        })
    );
    // An address differing only by case is refused, for a new account and a new alias.
    let message = admin_error(
        &authd,
        AdminRequest::AccountAdd {
            account: "robert".into(),
            address: "bob.smith@example.org".into(),
        },
    )
    .await;
    assert!(
        message.contains("differs only by case from address \"Bob.Smith@example.org\""),
        "{message}"
    );
    authd
        .add_account("robert", "robert@example.org", "robert password 1")
        .await;
    let message = admin_error(
        &authd,
        AdminRequest::AddressAdd {
            address: "BOB.SMITH@example.org".into(),
            account: "robert".into(),
        },
    )
    .await;
    assert!(message.contains("account \"bob\""), "{message}");
    // The account keeps the spelling it registered.
    let AdminResponse::Accounts(accounts) = authd.admin_ok(AdminRequest::AccountList).await else {
        panic!("no account list");
    };
    let bob = accounts.iter().find(|a| a.name == "bob").unwrap();
    assert_eq!(bob.addresses, ["Bob.Smith@example.org"]);
}

#[tokio::test]
async fn case_sensitive_setting_and_the_collision_refusal_at_start() {
    let mut authd = Authd::start_with(&with_setting(true)).await;
    authd
        .add_account("bob", "Bob@example.org", "bob password 1")
        .await;
    authd
        .add_account("robert", "bob@example.org", "robert password 1")
        .await;
    // Two addresses, two accounts; other spellings are nobody.
    assert_eq!(
        verdict(login(&authd, "Bob@example.org", "bob password 1").await).account,
        "bob"
    );
    assert_eq!(
        verdict(login(&authd, "bob@EXAMPLE.org", "robert password 1").await).account,
        "robert"
    );
    assert!(matches!(
        login(&authd, "BOB@example.org", "bob password 1").await,
        SaslReply::Failure(AuthFailure::BadCredentials)
    ));
    assert_eq!(resolve(&authd, "BOB@example.org").await, None);
    assert_eq!(
        resolve(&authd, "bob@example.org").await.unwrap().account,
        "robert"
    );

    // With the setting off, authd refuses to start, naming both addresses.
    let _ = authd.child.kill();
    let _ = authd.child.wait();
    std::fs::write(
        &authd.config_path,
        common::config_text(authd.dir.path(), &with_setting(false)),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_postern-authd"))
        .arg("--config")
        .arg(&authd.config_path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"Bob@example.org\" (account \"bob\")")
            && stderr.contains("\"bob@example.org\" (account \"robert\")")
            && stderr.contains("differ only by case")
            && stderr.contains("localpart_case_sensitive = true"),
        "{stderr}"
    );

    // Case-sensitive again, one of them removed: it starts case-insensitive, and every
    // spelling is the remaining address.
    std::fs::write(
        &authd.config_path,
        common::config_text(authd.dir.path(), &with_setting(true)),
    )
    .unwrap();
    authd.restart().await;
    authd
        .admin_ok(AdminRequest::AccountRemove {
            account: "robert".into(),
        })
        .await;
    std::fs::write(
        &authd.config_path,
        common::config_text(authd.dir.path(), &with_setting(false)),
    )
    .unwrap();
    authd.restart().await;
    let verdict = verdict(login(&authd, "BOB@example.org", "bob password 1").await);
    assert_eq!(verdict.account, "bob");
    assert_eq!(verdict.login_address, "Bob@example.org");
}
