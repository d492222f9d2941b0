//! Serving connections: a TLS handshake on an HTTPS listener (in the connection's own
//! task, bounded in time, so a slow client never stalls `accept`), then HTTP/1.1 with a
//! bounded request head and a header/idle timeout, each request carrying the
//! connection's [`Peer`] facts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tower::ServiceExt as _;
use tracing::Instrument as _;

use crate::client::Peer;
use crate::security::{HEADER_READ_TIMEOUT, MAX_REQUEST_HEAD, TLS_HANDSHAKE_TIMEOUT};
use crate::{Listener, Routers};

/// What serving a connection needs.
pub struct Server {
    routers: Routers,
    tls: Option<tokio_rustls::TlsAcceptor>,
    next_connection: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with these routers; `tls` is needed for [`Listener::Https`].
    pub fn new(routers: Routers, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        Server {
            routers,
            tls,
            next_connection: AtomicU64::new(1),
        }
    }
}

/// Serves one accepted connection of `listener` until it closes.
pub async fn serve_connection(tcp: TcpStream, listener: Listener, server: Arc<Server>) {
    let connection = server.next_connection.fetch_add(1, Ordering::Relaxed);
    let (Ok(remote), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let span = tracing::info_span!("connection", daemon = "webd", connection, %remote);
    async move {
        let router = server.routers.for_listener(listener);
        let mut peer = Peer {
            connection,
            remote,
            local,
            tls: None,
        };
        if listener == Listener::Https {
            let Some(acceptor) = &server.tls else {
                tracing::warn!("HTTPS listener without a certificate");
                return;
            };
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!("tls handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("tls handshake timed out");
                        return;
                    }
                };
            let mut info = postern_tls::handshake_facts(stream.get_ref().1).info;
            // The channel binding means nothing to a web page; it is not passed on.
            info.channel_binding = None;
            peer.tls = Some(info);
            serve_http(stream, peer, router).await;
        } else {
            serve_http(tcp, peer, router).await;
        }
    }
    .instrument(span)
    .await
}

async fn serve_http<IO>(io: IO, peer: Peer, router: Router)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        router.clone().oneshot(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = connection.await {
        tracing::debug!("http connection ended: {e}");
    }
}
