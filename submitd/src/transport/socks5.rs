//! A SOCKS5 client (RFC 1928), without authentication, for direct delivery through a
//! proxy: CONNECT to a host name and port; the proxy resolves the name.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why the proxy did not connect.
#[derive(Debug, thiserror::Error)]
pub enum SocksError {
    /// Talking to the proxy failed.
    #[error("socks proxy {proxy}: {source}")]
    Io {
        /// The proxy.
        proxy: String,
        /// The error.
        source: std::io::Error,
    },
    /// The proxy answered something that is not SOCKS5, or refused.
    #[error("socks proxy {proxy}: {message}")]
    Refused {
        /// The proxy.
        proxy: String,
        /// What it said.
        message: String,
    },
    /// No answer in time.
    #[error("socks proxy {0}: timed out")]
    Timeout(String),
}

/// Connects to `proxy` (`host:port`) and asks it to connect to `host`:`port`. Returns
/// the tunnel, ready for the destination's protocol.
pub async fn connect(
    proxy: &str,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, SocksError> {
    match tokio::time::timeout(timeout, connect_inner(proxy, host, port)).await {
        Ok(result) => result,
        Err(_) => Err(SocksError::Timeout(proxy.to_string())),
    }
}

async fn connect_inner(proxy: &str, host: &str, port: u16) -> Result<TcpStream, SocksError> {
    let io = |source| SocksError::Io {
        proxy: proxy.to_string(),
        source,
    };
    let refused = |message: String| SocksError::Refused {
        proxy: proxy.to_string(),
        message,
    };
    let host = host.trim_end_matches('.');
    let host_len = u8::try_from(host.len())
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| refused(format!("host name {host:?} cannot be sent")))?;
    let mut stream = TcpStream::connect(proxy).await.map_err(io)?;
    // Greeting: version 5, one method, "no authentication".
    stream.write_all(&[5, 1, 0]).await.map_err(io)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(io)?;
    if choice != [5, 0] {
        return Err(refused(format!("refuses unauthenticated use ({choice:?})")));
    }
    // CONNECT to a domain name.
    let mut request = vec![5, 1, 0, 3, host_len];
    request.extend_from_slice(host.as_bytes());
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await.map_err(io)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io)?;
    let [version, status, _, address_type] = head;
    if version != 5 {
        return Err(refused(format!("answered with version {version}")));
    }
    if status != 0 {
        return Err(refused(format!(
            "connect to {host}:{port} failed: {}",
            reply_text(status)
        )));
    }
    // The bound address, which we do not need.
    let skip = match address_type {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await.map_err(io)?;
            usize::from(len[0]) + 2
        }
        other => return Err(refused(format!("unknown address type {other}"))),
    };
    let mut bound = vec![0u8; skip];
    stream.read_exact(&mut bound).await.map_err(io)?;
    Ok(stream)
}

fn reply_text(status: u8) -> &'static str {
    match status {
        1 => "general failure",
        2 => "not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A one-connection SOCKS5 proxy that records the requested destination and then
    /// answers like an SMTP server would through the tunnel.
    #[tokio::test]
    async fn tunnels_to_a_named_host() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).await.unwrap();
            assert_eq!(greeting, [5, 1, 0]);
            s.write_all(&[5, 0]).await.unwrap();
            let mut head = [0u8; 5];
            s.read_exact(&mut head).await.unwrap();
            let mut name = vec![0u8; usize::from(head[4]) + 2];
            s.read_exact(&mut name).await.unwrap();
            s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 25])
                .await
                .unwrap();
            s.write_all(b"220 hi\r\n").await.unwrap();
            name
        });
        let mut tunnel = connect(&proxy, "mx.example.", 25, Duration::from_secs(5))
            .await
            .unwrap();
        let mut greeting = [0u8; 8];
        tunnel.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"220 hi\r\n");
        let name = server.await.unwrap();
        assert_eq!(&name[..10], b"mx.example");
        assert_eq!(&name[10..], &[0, 25]);
    }
}
