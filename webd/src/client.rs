//! Who sent a request: the TCP peer and the TLS facts of its connection, or, when the
//! peer is a trusted reverse proxy, what its `X-Forwarded-For` and `X-Forwarded-Proto`
//! say. authd gets these facts with every request ([`ConnectionInfo`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::HeaderMap;
use http::request::Parts;
use postern_config::Network;
use postern_ipc::{ConnectionInfo, Protocol, TlsInfo};

use crate::App;

/// The longest `User-Agent` passed on to authd; longer ones are cut.
pub const MAX_USER_AGENT: usize = 256;

/// The facts of one HTTP connection, put into every request's extensions by the
/// server.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Number of the connection, for logs.
    pub connection: u64,
    /// The TCP peer.
    pub remote: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// The TLS facts, on an HTTPS listener.
    pub tls: Option<TlsInfo>,
}

/// The client of a request as authd and the cookies need it.
#[derive(Clone, Debug)]
pub struct Client {
    /// Number of the connection, for logs.
    pub connection_id: u64,
    /// What authd is told.
    pub connection: ConnectionInfo,
    /// Whether the browser speaks HTTPS (to us or to the trusted proxy): cookies are
    /// then `Secure` with `__Host-` names.
    pub https: bool,
}

/// Why a request has no usable client facts (the server always adds them; only a
/// misconfigured router could lack them).
#[derive(Debug, thiserror::Error)]
#[error("connection facts missing")]
pub struct NoPeer;

impl axum::response::IntoResponse for NoPeer {
    fn into_response(self) -> axum::response::Response {
        (http::StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl FromRequestParts<Arc<App>> for Client {
    type Rejection = NoPeer;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Client, NoPeer> {
        let peer = parts.extensions.get::<Peer>().ok_or(NoPeer)?;
        Ok(client_of(peer, &parts.headers, &app.trusted_proxies))
    }
}

fn is_trusted(ip: IpAddr, trusted: &[Network]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(ip))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The client of a request from `peer` with `headers`. Forwarding headers count only
/// when the peer is one of `trusted`; then the client is the right-most address of
/// `X-Forwarded-For` that is not itself a trusted proxy, and the scheme is the last
/// `X-Forwarded-Proto` value.
pub fn client_of(peer: &Peer, headers: &HeaderMap, trusted: &[Network]) -> Client {
    let mut remote_ip = canonical(peer.remote.ip());
    let mut https = peer.tls.is_some();
    if is_trusted(remote_ip, trusted) {
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .map(canonical)
            .collect();
        if let Some(client) = forwarded
            .iter()
            .rev()
            .find(|ip| !is_trusted(**ip, trusted))
            .or(forwarded.first())
        {
            remote_ip = *client;
        }
        if let Some(proto) = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
        {
            https = proto.trim().eq_ignore_ascii_case("https");
        }
    }
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT).collect::<String>());
    Client {
        connection_id: peer.connection,
        connection: ConnectionInfo {
            protocol: Protocol::Web,
            remote_ip,
            local_ip: canonical(peer.local.ip()),
            tls: peer.tls.clone(),
            client_key: None,
            user_agent,
        },
        https,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Peer {
        Peer {
            connection: 1,
            remote: SocketAddr::new(ip.parse().unwrap(), 40000),
            local: "127.0.0.1:443".parse().unwrap(),
            tls: None,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = vec![Network::parse("10.0.0.1").unwrap()];
        let h = headers(&[
            ("x-forwarded-for", "192.0.2.9, 198.51.100.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let from_proxy = client_of(&peer("10.0.0.1"), &h, &trusted);
        assert_eq!(
            from_proxy.connection.remote_ip,
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert!(from_proxy.https);
        let from_other = client_of(&peer("203.0.113.5"), &h, &trusted);
        assert_eq!(
            from_other.connection.remote_ip,
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        assert!(!from_other.https);
        // A chain of trusted proxies: the first untrusted address from the right.
        let trusted = vec![Network::parse("10.0.0.0/8").unwrap()];
        let h = headers(&[("x-forwarded-for", "192.0.2.9, 10.1.1.1")]);
        let chained = client_of(&peer("10.0.0.1"), &h, &trusted);
        assert_eq!(
            chained.connection.remote_ip,
            "192.0.2.9".parse::<IpAddr>().unwrap()
        );
        // Garbage is ignored.
        let h = headers(&[("x-forwarded-for", "not an address")]);
        let garbage = client_of(&peer("10.0.0.1"), &h, &trusted);
        assert_eq!(
            garbage.connection.remote_ip,
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn user_agent_is_bounded() {
        let long: &'static str = Box::leak("x".repeat(1000).into_boxed_str());
        let c = client_of(&peer("192.0.2.1"), &headers(&[("user-agent", long)]), &[]);
        assert_eq!(c.connection.user_agent.unwrap().len(), MAX_USER_AGENT);
    }
}
