//! The end of an account's sessions, from authd's side, through the real binary: a
//! watching daemon hears of each removed or disabled account (with the admin's message),
//! and the account's web sessions are gone.

mod common;

use std::time::Duration;

use common::*;
use postern_ipc::admin::AdminRequest;
use postern_ipc::auth::{
    ACCOUNT_REMOVED_MESSAGE, AccountEnd, AuthRequest, AuthResponse, WebSessionReply,
};
use postern_ipc::web::{AccountRequest, WebAuth, WebRefusal};
use postern_ipc::{Protocol, Secret};

const PASSWORD: &str = "correct horse battery";

async fn next_end(watch: &mut postern_ipc::client::AuthConnection) -> AccountEnd {
    match tokio::time::timeout(Duration::from_secs(10), watch.next_message())
        .await
        .expect("no account end within 10 s")
        .unwrap()
    {
        AuthResponse::AccountEnded(end) => end,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn watchers_hear_of_removed_and_disabled_accounts() {
    let authd = Authd::start().await;
    authd.add_account("mjl", "mjl@example.org", PASSWORD).await;
    authd.add_account("bob", "bob@example.org", PASSWORD).await;
    let mut watch = authd.auth().await;
    assert_eq!(
        watch.call(AuthRequest::WatchAccountEnds).await.unwrap(),
        AuthResponse::Done
    );
    authd
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: "mjl".into(),
            disabled: Some("  moved to another server ".into()),
        })
        .await;
    assert_eq!(
        next_end(&mut watch).await,
        AccountEnd {
            account: "mjl".into(),
            message: "moved to another server".into(),
        }
    );
    // Enabling ends nothing; removing does.
    authd
        .admin_ok(AdminRequest::AccountSetDisabled {
            account: "mjl".into(),
            disabled: None,
        })
        .await;
    authd
        .admin_ok(AdminRequest::AccountRemove {
            account: "bob".into(),
        })
        .await;
    assert_eq!(
        next_end(&mut watch).await,
        AccountEnd {
            account: "bob".into(),
            message: ACCOUNT_REMOVED_MESSAGE.into(),
        }
    );
    // The watching connection takes no other requests.
    assert!(matches!(
        watch
            .call(AuthRequest::ResolveAddress {
                address: "mjl@example.org".into()
            })
            .await
            .unwrap(),
        AuthResponse::Error(_)
    ));
}

#[tokio::test]
async fn removing_an_account_ends_its_web_sessions() {
    let authd = Authd::start().await;
    authd.add_account("mjl", "mjl@example.org", PASSWORD).await;
    let mut auth = authd.auth().await;
    let mut web = connection(Protocol::Web, localhost(), None);
    web.user_agent = Some("Mozilla/5.0 (test)".into());
    let token = match auth
        .call(AuthRequest::WebLogin {
            username: "mjl@example.org".into(),
            password: Secret(PASSWORD.into()),
            connection: web.clone(),
        })
        .await
        .unwrap()
    {
        AuthResponse::WebSession(WebSessionReply::Valid {
            token: Some(token), ..
        }) => token,
        other => panic!("login failed: {other:?}"),
    };
    let overview = |token: Secret<String>| AuthRequest::Account {
        auth: WebAuth {
            token,
            csrf: None,
            connection: web.clone(),
        },
        request: AccountRequest::Overview,
    };
    assert!(matches!(
        auth.call(overview(token.clone())).await.unwrap(),
        AuthResponse::Account(_)
    ));
    authd
        .admin_ok(AdminRequest::AccountRemove {
            account: "mjl".into(),
        })
        .await;
    assert_eq!(
        auth.call(overview(token)).await.unwrap(),
        AuthResponse::WebRefused(WebRefusal::NoSession)
    );
}
