//! A typed request/response connection over a Unix stream socket, used by the protocol
//! daemons and the admin CLI to talk to authd.
#![forbid(unsafe_code)]

use std::path::Path;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use crate::admin::{
    ADMIN_PROTOCOL_VERSION, AdminRequest, AdminResponse, MAX_ADMIN_REQUEST_FRAME,
    MAX_ADMIN_RESPONSE_FRAME,
};
use crate::auth::{
    AUTH_PROTOCOL_VERSION, AuthRequest, AuthResponse, MAX_AUTH_REQUEST_FRAME,
    MAX_AUTH_RESPONSE_FRAME,
};
use crate::frame::{FrameCodec, FrameError};

/// Why a call to authd failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The connection broke or carried a bad frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// authd closed the connection.
    #[error("connection closed by authd")]
    Closed,
    /// The versions differ, or the first answer was not a greeting.
    #[error("authd answered the greeting with {0}")]
    Handshake(String),
}

/// A connection sending `Req` and receiving `Resp`, one answer per request, in order.
#[derive(Debug)]
pub struct RpcConnection<Req, Resp> {
    framed: Framed<UnixStream, FrameCodec<Resp, Req>>,
}

impl<Req: Serialize, Resp: DeserializeOwned> RpcConnection<Req, Resp> {
    /// Wraps a connected stream with the given frame limits.
    pub fn new(stream: UnixStream, max_request: usize, max_response: usize) -> Self {
        RpcConnection {
            framed: Framed::new(stream, FrameCodec::new(max_response, max_request)),
        }
    }

    /// Waits for the next message authd sends without a request (after a subscription
    /// such as [`AuthRequest::WatchAccountEnds`]).
    pub async fn next_message(&mut self) -> Result<Resp, ClientError> {
        match self.framed.next().await {
            Some(result) => Ok(result?),
            None => Err(ClientError::Closed),
        }
    }

    /// Sends one request and waits for its answer.
    pub async fn call(&mut self, request: Req) -> Result<Resp, ClientError> {
        self.framed.send(request).await?;
        match self.framed.next().await {
            Some(result) => Ok(result?),
            None => Err(ClientError::Closed),
        }
    }
}

async fn connect(path: &Path) -> Result<UnixStream, ClientError> {
    UnixStream::connect(path)
        .await
        .map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })
}

/// A connection to authd's auth socket.
pub type AuthConnection = RpcConnection<AuthRequest, AuthResponse>;
/// A connection to authd's admin socket.
pub type AdminConnection = RpcConnection<AdminRequest, AdminResponse>;

impl AuthConnection {
    /// Connects to the auth socket and exchanges greetings.
    pub async fn connect(path: &Path) -> Result<AuthConnection, ClientError> {
        let mut conn = RpcConnection::new(
            connect(path).await?,
            MAX_AUTH_REQUEST_FRAME,
            MAX_AUTH_RESPONSE_FRAME,
        );
        match conn
            .call(AuthRequest::Hello {
                version: AUTH_PROTOCOL_VERSION,
            })
            .await?
        {
            AuthResponse::Hello { version } if version == AUTH_PROTOCOL_VERSION => Ok(conn),
            other => Err(ClientError::Handshake(format!("{other:?}"))),
        }
    }
}

impl AdminConnection {
    /// Connects to the admin socket and exchanges greetings.
    pub async fn connect(path: &Path) -> Result<AdminConnection, ClientError> {
        let mut conn = RpcConnection::new(
            connect(path).await?,
            MAX_ADMIN_REQUEST_FRAME,
            MAX_ADMIN_RESPONSE_FRAME,
        );
        match conn
            .call(AdminRequest::Hello {
                version: ADMIN_PROTOCOL_VERSION,
            })
            .await?
        {
            AdminResponse::Hello { version } if version == ADMIN_PROTOCOL_VERSION => Ok(conn),
            AdminResponse::Error(message) => Err(ClientError::Handshake(message)),
            other => Err(ClientError::Handshake(format!("{other:?}"))),
        }
    }
}
