//! A client's connection to a protocol daemon: plain TCP or TLS, and able to become TLS
//! (implicit TLS at once, or STARTTLS later) with a bounded handshake.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::{HandshakeFacts, handshake_facts};

/// The client's byte stream.
pub enum ClientStream {
    /// Plain TCP (before STARTTLS).
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
    /// Taken for the TLS handshake, which failed.
    Gone,
}

impl ClientStream {
    /// Runs the TLS handshake on the plain stream, within `timeout`, and returns its
    /// facts. On failure the stream is gone and the error says why.
    pub async fn start_tls(
        &mut self,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> io::Result<HandshakeFacts> {
        let ClientStream::Plain(tcp) = std::mem::replace(self, ClientStream::Gone) else {
            return Err(io::Error::other("tls is already on"));
        };
        let tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(result) => result?,
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        };
        let facts = handshake_facts(tls.get_ref().1);
        *self = ClientStream::Tls(Box::new(tls));
        Ok(facts)
    }

    /// Reads what the client sent; 0 at its end (or after a failed handshake).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Plain(s) => s.read(buf).await,
            ClientStream::Tls(s) => s.read(buf).await,
            ClientStream::Gone => Ok(0),
        }
    }

    /// Writes all of `buf` (and flushes TLS).
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            ClientStream::Plain(s) => s.write_all(buf).await,
            ClientStream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
            ClientStream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Closes the connection (TLS close_notify first).
    pub async fn shutdown(&mut self) {
        let _ = match self {
            ClientStream::Plain(s) => s.shutdown().await,
            ClientStream::Tls(s) => s.shutdown().await,
            ClientStream::Gone => Ok(()),
        };
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }
}
