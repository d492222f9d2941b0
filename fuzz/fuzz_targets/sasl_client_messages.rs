//! authd's SASL server mechanisms fed arbitrary client messages: PLAIN, LOGIN,
//! CRAM-MD5, SCRAM-SHA-1/-256 (client-first and client-final, with and without channel
//! binding) and EXTERNAL, against one account, plus the SCRAM message parsers alone.
//! Every exchange ends within its messages (a done exchange, or a challenge waiting for
//! more), a failure never names an account the name did not resolve to, and nothing
//! panics.
//!
//! Input: a mechanism byte, a flags byte (bit 0: an initial response; bit 1: the
//! password check says it matches), then messages, each a length byte and that many
//! bytes.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use postern_authd::names::LocalpartCase;
use postern_authd::password::{Argon2Cost, PasswordVerifiers, prepare_new_password};
use postern_authd::sasl::scram::{parse_client_final, parse_client_first};
use postern_authd::sasl::{Credentials, LoginAccount, Progress, SaslExchange, ServerContext};
use postern_ipc::{ConnectionInfo, KeyFingerprint, Mechanism, Protocol, Secret, TlsInfo};

const MECHANISMS: [Mechanism; 8] = [
    Mechanism::Plain,
    Mechanism::Login,
    Mechanism::CramMd5,
    Mechanism::ScramSha1,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha256Plus,
    Mechanism::External,
];

const KEY: KeyFingerprint = KeyFingerprint([7; 32]);

/// One account, `mjl`, with the address `mjl@example.org`, a password and a key.
struct OneAccount {
    verifiers: PasswordVerifiers,
}

impl Credentials for OneAccount {
    fn account_by_address(&self, address: &str) -> Option<(&str, LoginAccount<'_>)> {
        address.eq_ignore_ascii_case("mjl@example.org").then_some((
            "mjl@example.org",
            LoginAccount {
                account: "mjl",
                disabled: None,
                verifiers: Some(&self.verifiers),
            },
        ))
    }

    fn localpart_case(&self) -> LocalpartCase {
        LocalpartCase::Insensitive
    }

    fn tls_key(&self, fingerprint: &KeyFingerprint) -> Option<(LoginAccount<'_>, &str)> {
        (*fingerprint == KEY).then_some((
            LoginAccount {
                account: "mjl",
                disabled: None,
                verifiers: Some(&self.verifiers),
            },
            "mjl@example.org",
        ))
    }
}

fn account() -> &'static OneAccount {
    static ACCOUNT: OnceLock<OneAccount> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let prepared = prepare_new_password("fuzz password").expect("a valid password");
        let cost = Argon2Cost {
            memory_kib: 8,
            iterations: 1,
        };
        OneAccount {
            verifiers: PasswordVerifiers::derive(&prepared, cost).expect("derived verifiers"),
        }
    })
}

fn connection() -> ConnectionInfo {
    ConnectionInfo {
        protocol: Protocol::Imap,
        remote_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        tls: Some(TlsInfo {
            version: "TLSv1.3".into(),
            cipher: "TLS13_AES_128_GCM_SHA256".into(),
            channel_binding: Some(Secret(vec![9; 32])),
        }),
        client_key: Some(KEY),
        user_agent: None,
    }
}

/// The length-prefixed messages of `data`.
fn messages(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len).min(rest.len());
        let (message, tail) = rest.split_at(len);
        out.push(message);
        data = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[mechanism, flags], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let messages = messages(rest);
    for message in &messages {
        if let Ok(text) = std::str::from_utf8(message) {
            let _ = parse_client_first(text);
            let _ = parse_client_final(text);
        }
    }
    let mechanism = MECHANISMS[usize::from(mechanism) % MECHANISMS.len()];
    let credentials = account();
    let context = ServerContext {
        hostname: "mail.example.org".into(),
        server_secret: [3; 32],
    };
    let mut messages = messages.into_iter();
    let initial = if flags & 1 != 0 {
        messages.next()
    } else {
        None
    };
    let (mut exchange, mut progress) =
        SaslExchange::start(mechanism, &connection(), initial, credentials, &context);
    loop {
        match progress {
            Progress::Done(outcome) => {
                if let Some(account) = &outcome.account {
                    assert_eq!(account, "mjl");
                }
                return;
            }
            Progress::VerifyPassword(_) => {
                progress = Progress::Done(exchange.password_checked(flags & 2 != 0));
            }
            Progress::Challenge(_) => match messages.next() {
                Some(message) => progress = exchange.step(message, credentials),
                None => {
                    let _ = exchange.abort();
                    return;
                }
            },
        }
    }
});
