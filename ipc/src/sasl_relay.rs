//! A protocol daemon's side of a SASL exchange that runs inside authd (DESIGN.md
//! invariant 3): it passes the client's responses to authd and authd's challenges to
//! the client, with a time limit on every step. Anything but a clear answer from authd
//! is [`RelayStep::Unavailable`], for the daemon to answer with a temporary failure.

use std::path::Path;
use std::time::Duration;

use crate::auth::{AuthRequest, AuthResponse, SaslReply};
use crate::client::AuthConnection;
use crate::{AuthFailure, ConnectionInfo, Mechanism, Secret, Verdict};

/// What authd said at one step.
#[derive(Debug)]
pub enum RelayStep {
    /// Send this challenge to the client and relay its answer with [`SaslRelay::step`].
    Challenge(Vec<u8>),
    /// Logged in.
    Success(Verdict),
    /// Refused.
    Failure(AuthFailure),
    /// authd could not be reached, did not answer in time, or answered nonsense.
    Unavailable,
}

/// One SASL exchange with authd, on a connection of its own.
pub struct SaslRelay {
    conn: AuthConnection,
    timeout: Duration,
}

impl SaslRelay {
    /// Connects to authd at `socket` and starts the exchange; each step, the connection
    /// included, may take up to `timeout`. The relay is `None` when the exchange is
    /// already over (the step says how).
    pub async fn start(
        socket: &Path,
        timeout: Duration,
        mechanism: Mechanism,
        initial_response: Option<Vec<u8>>,
        connection: ConnectionInfo,
    ) -> (Option<SaslRelay>, RelayStep) {
        let conn = match tokio::time::timeout(timeout, AuthConnection::connect(socket)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                tracing::warn!("cannot reach authd: {e}");
                return (None, RelayStep::Unavailable);
            }
            Err(_) => {
                tracing::warn!("authd did not answer the greeting in time");
                return (None, RelayStep::Unavailable);
            }
        };
        let mut relay = SaslRelay { conn, timeout };
        let step = relay
            .call(AuthRequest::SaslStart {
                mechanism,
                initial_response: initial_response.map(Secret),
                connection,
            })
            .await;
        match step {
            RelayStep::Challenge(_) => (Some(relay), step),
            _ => (None, step),
        }
    }

    /// Passes the client's (decoded) answer to the last challenge.
    pub async fn step(&mut self, response: Vec<u8>) -> RelayStep {
        self.call(AuthRequest::SaslStep {
            response: Secret(response),
        })
        .await
    }

    /// Tells authd the client cancelled (or sent garbage), so the attempt is recorded.
    pub async fn abort(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.conn.call(AuthRequest::SaslAbort)).await;
    }

    async fn call(&mut self, request: AuthRequest) -> RelayStep {
        match tokio::time::timeout(self.timeout, self.conn.call(request)).await {
            Ok(Ok(AuthResponse::Sasl(SaslReply::Challenge(challenge)))) => {
                RelayStep::Challenge(challenge)
            }
            Ok(Ok(AuthResponse::Sasl(SaslReply::Success(verdict)))) => RelayStep::Success(verdict),
            Ok(Ok(AuthResponse::Sasl(SaslReply::Failure(failure)))) => RelayStep::Failure(failure),
            Ok(Ok(other)) => {
                tracing::warn!("authd answered a SASL request with {other:?}");
                RelayStep::Unavailable
            }
            Ok(Err(e)) => {
                tracing::warn!("authd: {e}");
                RelayStep::Unavailable
            }
            Err(_) => {
                tracing::warn!("authd did not answer in time");
                RelayStep::Unavailable
            }
        }
    }
}
