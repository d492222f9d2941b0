//! webd's reading of who sent a request: `X-Forwarded-For`, `X-Forwarded-Proto` and
//! `User-Agent` from any peer. Forwarding headers change nothing unless the peer is a
//! trusted proxy, the client address is always the peer's or one of the forwarded
//! ones, the user agent stays within its bound, and nothing panics.
//!
//! Input: one byte choosing the peer (even: the trusted proxy 10.0.0.1, odd:
//! 192.0.2.1), then the three header values separated by NUL bytes.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use postern_webd::client::{MAX_USER_AGENT, Peer, client_of};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let trusted_peer = choice % 2 == 0;
    let peer_ip: IpAddr = if trusted_peer {
        "10.0.0.1".parse().unwrap()
    } else {
        "192.0.2.1".parse().unwrap()
    };
    let peer = Peer {
        connection: 1,
        remote: SocketAddr::new(peer_ip, 40000),
        local: "127.0.0.1:443".parse().unwrap(),
        tls: None,
    };
    let mut headers = http::HeaderMap::new();
    let mut values = rest.split(|b| *b == 0);
    for name in ["x-forwarded-for", "x-forwarded-proto", "user-agent"] {
        if let Some(value) = values.next()
            && let Ok(value) = http::HeaderValue::from_bytes(value)
        {
            headers.append(name, value);
        }
    }
    let trusted = vec![postern_config::Network::parse("10.0.0.0/8").unwrap()];
    let client = client_of(&peer, &headers, &trusted);
    let ua = client.connection.user_agent.unwrap_or_default();
    assert!(ua.chars().count() <= MAX_USER_AGENT);
    if trusted_peer {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let ip = client.connection.remote_ip;
        assert!(
            ip == peer_ip
                || forwarded
                    .split(',')
                    .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                    .any(|a| a == ip || a.to_canonical() == ip),
            "{ip} from {forwarded:?}"
        );
    } else {
        assert_eq!(client.connection.remote_ip, peer_ip);
        assert!(!client.https);
    }
});
