//! The connection to authd's auth socket: one short connection per call, so that an
//! authd restart costs one failed page view at most.

use std::path::PathBuf;
use std::time::Duration;

use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::client::{AuthConnection, ClientError};

/// How long one call to authd may take (a password check under load included).
pub const AUTHD_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why authd could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum AuthdError {
    /// Connecting, sending or receiving failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// authd did not answer within [`AUTHD_CALL_TIMEOUT`].
    #[error("authd did not answer in time")]
    Timeout,
}

/// Where authd is.
#[derive(Clone, Debug)]
pub struct Authd {
    socket: PathBuf,
}

impl Authd {
    /// authd at the auth socket `socket`.
    pub fn new(socket: PathBuf) -> Authd {
        Authd { socket }
    }

    /// Sends one request on a new connection and returns authd's answer.
    pub async fn call(&self, request: AuthRequest) -> Result<AuthResponse, AuthdError> {
        tokio::time::timeout(AUTHD_CALL_TIMEOUT, async {
            let mut connection = AuthConnection::connect(&self.socket).await?;
            Ok(connection.call(request).await?)
        })
        .await
        .map_err(|_| AuthdError::Timeout)?
    }
}
