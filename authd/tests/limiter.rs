//! The brute-force limiter through the real authd: a success forgives only its own
//! address's failures against its own account, so an attacker who logs in to their own
//! account between guesses against someone else's is still stopped; and one account
//! gets only so many guesses from all addresses together.

mod common;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use postern_config::RateLimitConfig;
use postern_ipc::auth::{AuthRequest, SaslReply};
use postern_ipc::{AuthFailure, ConnectionInfo, Mechanism, Protocol, Secret};

const VICTIM: &str = "victim@example.org";
const VICTIM_PASSWORD: &str = "the victim's password";
const ATTACKER: &str = "attacker@example.org";
const ATTACKER_PASSWORD: &str = "the attacker's own password";

async fn two_accounts() -> Authd {
    let authd = Authd::start().await;
    authd.add_account("victim", VICTIM, VICTIM_PASSWORD).await;
    authd
        .add_account("attacker", ATTACKER, ATTACKER_PASSWORD)
        .await;
    authd
}

fn from(ip: &str) -> ConnectionInfo {
    connection(Protocol::Imap, ip.parse::<IpAddr>().unwrap(), None)
}

/// Waits for a new minute when the current one ends soon, so that a test's failures
/// all fall into one fixed minute window of the limiter.
async fn fresh_minute() {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second > 40 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

fn minute_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

#[tokio::test]
async fn logging_in_to_ones_own_account_between_guesses_does_not_reset_the_limit() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let limits = RateLimitConfig::default();
    fresh_minute().await;
    let start = minute_now();
    // The attack: 9 wrong guesses for the victim, then 1 good login to the attacker's
    // own account, repeated 20 times from one address (180 guesses).
    let (mut checked, mut refused, mut own_logins) = (0u32, 0u32, 0u32);
    for _ in 0..20 {
        for guess in 0..9 {
            match plain_login(
                &mut auth,
                from("203.0.113.9"),
                VICTIM,
                &format!("guess {guess}"),
            )
            .await
            {
                SaslReply::Failure(AuthFailure::BadCredentials) => checked += 1,
                SaslReply::Failure(AuthFailure::RateLimited) => refused += 1,
                other => panic!("guess answered {other:?}"),
            }
        }
        if let SaslReply::Success(_) =
            plain_login(&mut auth, from("203.0.113.9"), ATTACKER, ATTACKER_PASSWORD).await
        {
            own_logins += 1;
        }
    }
    assert_eq!(minute_now(), start, "the test ran over a minute boundary");
    assert_eq!(
        checked, limits.per_minute[0],
        "guesses checked; {refused} refused, {own_logins} own logins"
    );
    assert_eq!(refused, 180 - limits.per_minute[0]);
    // The address is refused as a whole, the attacker's own account included, and
    // even the victim's right password is not looked at.
    assert_eq!(
        plain_login(&mut auth, from("203.0.113.9"), VICTIM, VICTIM_PASSWORD).await,
        SaslReply::Failure(AuthFailure::RateLimited)
    );
    // Another address is served.
    assert!(matches!(
        plain_login(&mut auth, from("198.51.100.1"), VICTIM, VICTIM_PASSWORD).await,
        SaslReply::Success(_)
    ));
}

#[tokio::test]
async fn a_user_who_mistyped_and_then_logged_in_is_not_blocked() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    // Far more mistakes than any limit, each followed by the right password.
    for round in 0..60 {
        assert_eq!(
            plain_login(&mut auth, from("203.0.113.20"), VICTIM, "typo").await,
            SaslReply::Failure(AuthFailure::BadCredentials),
            "round {round}"
        );
        assert!(
            matches!(
                plain_login(&mut auth, from("203.0.113.20"), VICTIM, VICTIM_PASSWORD).await,
                SaslReply::Success(_)
            ),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn one_account_gets_limited_guesses_from_all_addresses_together() {
    let authd = two_accounts().await;
    let mut auth = authd.auth().await;
    let limits = RateLimitConfig::default();
    // The victim logs in from home once.
    assert!(matches!(
        plain_login(&mut auth, from("198.51.100.50"), VICTIM, VICTIM_PASSWORD).await,
        SaslReply::Success(_)
    ));
    fresh_minute().await;
    let start = minute_now();
    // One guess from each of many networks: no address limit comes near.
    for i in 0..limits.account_per_minute {
        let bot = format!("198.51.100.{}", 64 + i);
        assert_eq!(
            plain_login(&mut auth, from(&bot), VICTIM, "guess").await,
            SaslReply::Failure(AuthFailure::BadCredentials),
            "guess {i}"
        );
    }
    // The next address gets no guess, not even with the right password...
    assert_eq!(
        plain_login(&mut auth, from("192.0.2.99"), VICTIM, VICTIM_PASSWORD).await,
        SaslReply::Failure(AuthFailure::RateLimited)
    );
    // ...nor by SCRAM, before the server reveals anything...
    let scram = sasl(
        &mut auth,
        AuthRequest::SaslStart {
            mechanism: Mechanism::ScramSha256,
            initial_response: Some(Secret(
                format!("n,,n={VICTIM},r=fyko+d2lbbFgONRv9qkxdawL").into_bytes(),
            )),
            connection: from("192.0.2.99"),
        },
    )
    .await;
    assert_eq!(scram, SaslReply::Failure(AuthFailure::RateLimited));
    assert_eq!(minute_now(), start, "the test ran over a minute boundary");
    // ...while the victim's own address still logs in, and other accounts are served.
    assert!(matches!(
        plain_login(&mut auth, from("198.51.100.50"), VICTIM, VICTIM_PASSWORD).await,
        SaslReply::Success(_)
    ));
    assert!(matches!(
        plain_login(&mut auth, from("192.0.2.99"), ATTACKER, ATTACKER_PASSWORD).await,
        SaslReply::Success(_)
    ));
    let blocks = match authd
        .admin_ok(postern_ipc::admin::AdminRequest::RateLimitList)
        .await
    {
        postern_ipc::admin::AdminResponse::RateLimits(blocks) => blocks,
        other => panic!("{other:?}"),
    };
    assert!(
        blocks.iter().any(|b| b.network == "account victim"),
        "{blocks:?}"
    );
}
