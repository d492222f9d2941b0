//! AUTH and client certificates: every exchange runs inside authd; submitd relays the
//! messages (base64 on the wire, bytes to authd) together with the connection's TLS
//! facts, its `tls-exporter` channel binding and the client key's fingerprint.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use postern_ipc::auth::{AuthRequest, AuthResponse, CertificateVerdict};
use postern_ipc::sasl_relay::{RelayStep, SaslRelay};
use postern_ipc::{AuthFailure, KeyFingerprint, Mechanism};

use super::Authenticated;
use super::connection::{End, Session};
use crate::smtp::Reply;
use crate::smtp::limits::{AUTHD_TIMEOUT, MAX_AUTH_FAILURES};

/// How an exchange with authd ended.
enum Outcome {
    Success(Authenticated),
    Failure(AuthFailure),
    /// authd unreachable, timed out or refusing the request as a whole.
    Unavailable,
    /// The client aborted with `*`.
    Aborted,
    /// The client sent bad base64.
    BadBase64,
}

/// The SASL mechanism smtp-proto recognised, if authd runs it.
fn mechanism_from_flag(flag: u64) -> Option<Mechanism> {
    Some(match flag {
        smtp_proto::AUTH_PLAIN => Mechanism::Plain,
        smtp_proto::AUTH_LOGIN => Mechanism::Login,
        smtp_proto::AUTH_CRAM_MD5 => Mechanism::CramMd5,
        smtp_proto::AUTH_SCRAM_SHA_1 => Mechanism::ScramSha1,
        smtp_proto::AUTH_SCRAM_SHA_1_PLUS => Mechanism::ScramSha1Plus,
        smtp_proto::AUTH_SCRAM_SHA_256 => Mechanism::ScramSha256,
        smtp_proto::AUTH_SCRAM_SHA_256_PLUS => Mechanism::ScramSha256Plus,
        smtp_proto::AUTH_EXTERNAL => Mechanism::External,
        _ => return None,
    })
}

impl Session {
    /// Asks authd whose key the client certificate of the handshake is. A registered key
    /// authenticates the connection; an unknown one is ignored. A rate-limited client is
    /// told `421` and disconnected.
    pub(super) async fn certificate_login(&mut self, key: KeyFingerprint) -> Result<(), End> {
        let request = AuthRequest::CertificateLogin {
            connection: self.connection_info(),
        };
        match self.authd_call_once(request).await {
            Some(AuthResponse::Certificate(CertificateVerdict::Known { verdict, .. })) => {
                match Authenticated::from_verdict(verdict) {
                    Some(user) => {
                        tracing::info!(
                            account = user.account(),
                            key = %key,
                            "authenticated by tls client certificate"
                        );
                        self.certificate = Some(user.clone());
                        self.user = Some(user);
                    }
                    None => {
                        tracing::error!("authd gave a certificate verdict for another protocol")
                    }
                }
            }
            Some(AuthResponse::Certificate(CertificateVerdict::Unknown)) => {
                tracing::info!(key = %key, "unknown tls client certificate, ignored");
            }
            Some(AuthResponse::Certificate(CertificateVerdict::LoginDisabled { message })) => {
                tracing::info!(key = %key, ?message, "tls client certificate of a disabled account");
            }
            Some(AuthResponse::Certificate(CertificateVerdict::RateLimited)) => {
                tracing::info!(key = %key, "tls client certificate refused: rate limited");
                self.reply(Reply::new(
                    421,
                    7,
                    0,
                    "too many authentication failures, try again later",
                ));
                return Err(End::Quit);
            }
            other => {
                tracing::warn!(key = %key, "tls client certificate not checked: {other:?}");
                self.certificate_unavailable = true;
            }
        }
        Ok(())
    }

    /// AUTH mechanism [initial-response] (RFC 4954).
    pub(super) async fn auth(&mut self, flag: u64, initial_response: &str) -> Result<(), End> {
        if self.hello.is_none() {
            self.reply(Reply::new(503, 5, 1, "no ehlo/helo yet"));
            return Ok(());
        }
        if !self.stream.is_tls() {
            self.reply(Reply::new(538, 7, 11, "authentication requires tls"));
            return Ok(());
        }
        if self.sasl_done {
            self.reply(Reply::new(503, 5, 1, "already authenticated"));
            return Ok(());
        }
        if self.transaction.is_some() {
            self.reply(Reply::new(
                503,
                5,
                1,
                "authentication not allowed during mail transaction",
            ));
            return Ok(());
        }
        let Some(mechanism) = mechanism_from_flag(flag) else {
            self.reply(Reply::new(504, 5, 4, "mechanism not supported"));
            return Ok(());
        };
        let has_binding = self
            .tls
            .as_ref()
            .is_some_and(|t| t.channel_binding.is_some());
        if mechanism.is_plus() && !has_binding {
            self.reply(Reply::new(
                538,
                7,
                11,
                "scram plus mechanism needs the tls-exporter channel binding of tls 1.3",
            ));
            return Ok(());
        }
        if mechanism == Mechanism::External && self.client_key.is_none() {
            self.reply(Reply::new(
                535,
                7,
                8,
                "missing client certificate, required for tls client certificate authentication",
            ));
            return Ok(());
        }
        let initial = match initial_response {
            "" => None,
            "=" => Some(Vec::new()),
            text => match BASE64.decode(text) {
                Ok(bytes) => Some(bytes),
                Err(_) => {
                    self.reply(Reply::new(501, 5, 2, "invalid base64"));
                    return Ok(());
                }
            },
        };
        let outcome = self.exchange(mechanism, initial).await?;
        self.finish_auth(mechanism, outcome)
    }

    /// Runs one SASL exchange with authd on its own connection, relaying challenges as
    /// `334` lines and the client's answers back.
    async fn exchange(
        &mut self,
        mechanism: Mechanism,
        initial: Option<Vec<u8>>,
    ) -> Result<Outcome, End> {
        let (mut relay, mut step) = SaslRelay::start(
            &self.shared.auth_socket,
            AUTHD_TIMEOUT,
            mechanism,
            initial,
            self.connection_info(),
        )
        .await;
        loop {
            let challenge = match step {
                RelayStep::Success(verdict) => {
                    return Ok(match Authenticated::from_verdict(verdict) {
                        Some(user) => Outcome::Success(user),
                        None => {
                            tracing::error!("authd gave a verdict for another protocol");
                            Outcome::Unavailable
                        }
                    });
                }
                RelayStep::Failure(failure) => return Ok(Outcome::Failure(failure)),
                RelayStep::Unavailable => return Ok(Outcome::Unavailable),
                RelayStep::Challenge(challenge) => challenge,
            };
            let Some(exchange) = relay.as_mut() else {
                return Ok(Outcome::Unavailable);
            };
            self.reply(Reply::plain(334, vec![BASE64.encode(&challenge)]));
            let line = self.read_line(self.command_timeout()).await?;
            let line = trim_line_ending(&line);
            if line == b"*" {
                if let Some(relay) = relay.take() {
                    relay.abort().await;
                }
                return Ok(Outcome::Aborted);
            }
            let Ok(response) = BASE64.decode(line) else {
                if let Some(relay) = relay.take() {
                    relay.abort().await;
                }
                return Ok(Outcome::BadBase64);
            };
            step = exchange.step(response).await;
        }
    }

    /// Answers the end of an AUTH exchange. Temporary failures are `454 4.7.0`, never
    /// `535`; too many failures on one connection end it with `421`.
    fn finish_auth(&mut self, mechanism: Mechanism, outcome: Outcome) -> Result<(), End> {
        let reply = match outcome {
            Outcome::Success(user) => {
                if let Some(certificate) = &self.certificate
                    && certificate.account() != user.account()
                {
                    // authd applies the same rule; this is the session's own check.
                    Reply::new(
                        535,
                        7,
                        8,
                        "authentication failed, tls client certificate public key belongs to \
                         another account",
                    )
                } else {
                    tracing::info!(
                        account = user.account(),
                        mechanism = mechanism.name(),
                        "authenticated"
                    );
                    self.user = Some(user);
                    self.sasl_done = true;
                    self.auth_failures = 0;
                    self.reply(Reply::new(235, 7, 0, "authentication successful"));
                    return Ok(());
                }
            }
            Outcome::Unavailable => Reply::new(
                454,
                7,
                0,
                "authentication service unavailable, try again later",
            ),
            Outcome::Aborted => Reply::new(501, 5, 0, "authentication aborted"),
            Outcome::BadBase64 => Reply::new(501, 5, 2, "invalid base64"),
            Outcome::Failure(failure) => failure_reply(failure),
        };
        tracing::info!(mechanism = mechanism.name(), reply = ?reply.to_string(), "authentication failed");
        let temporary = reply.code == 454;
        self.reply(reply);
        if !temporary {
            self.auth_failures += 1;
            if self.auth_failures >= MAX_AUTH_FAILURES {
                self.reply(Reply::new(
                    421,
                    7,
                    0,
                    "too many authentication failures, closing connection",
                ));
                return Err(End::Quit);
            }
        }
        Ok(())
    }
}

/// The SMTP reply for a failure authd reported (mox §2.2).
fn failure_reply(failure: AuthFailure) -> Reply {
    match failure {
        AuthFailure::BadCredentials => Reply::new(535, 7, 8, "bad user/pass"),
        AuthFailure::ChannelBindingMismatch => {
            Reply::new(535, 7, 8, "channel bindings do not match, potential mitm")
        }
        AuthFailure::AuthorizationFailed => Reply::new(535, 7, 8, "cannot assume other role"),
        AuthFailure::CertificateOtherAccount => Reply::new(
            535,
            7,
            8,
            "authentication failed, tls client certificate public key belongs to another account",
        ),
        AuthFailure::LoginDisabled { message } => {
            Reply::new(525, 7, 13, format!("login disabled for account: {message}"))
        }
        AuthFailure::RateLimited | AuthFailure::TemporaryFailure => Reply::new(
            454,
            7,
            0,
            "temporary authentication failure, try again later",
        ),
        AuthFailure::Malformed { reason } => Reply::new(501, 5, 2, reason),
        AuthFailure::Aborted => Reply::new(501, 5, 0, "authentication aborted"),
        AuthFailure::NotAvailable { reason } => Reply::new(538, 7, 11, reason),
    }
}

/// The line without its CRLF or LF.
pub(super) fn trim_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_failures_are_never_535() {
        for failure in [AuthFailure::RateLimited, AuthFailure::TemporaryFailure] {
            let reply = failure_reply(failure);
            assert_eq!(reply.code, 454);
            assert_eq!(reply.to_bytes()[..9], *b"454 4.7.0");
        }
        assert_eq!(failure_reply(AuthFailure::BadCredentials).code, 535);
    }

    #[test]
    fn mechanism_flags() {
        assert_eq!(
            mechanism_from_flag(smtp_proto::AUTH_SCRAM_SHA_256_PLUS),
            Some(Mechanism::ScramSha256Plus)
        );
        assert_eq!(mechanism_from_flag(smtp_proto::AUTH_GSSAPI), None);
        assert_eq!(mechanism_from_flag(0), None);
    }

    #[test]
    fn line_endings() {
        assert_eq!(trim_line_ending(b"abc\r\n"), b"abc");
        assert_eq!(trim_line_ending(b"abc\n"), b"abc");
        assert_eq!(trim_line_ending(b"abc"), b"abc");
    }
}
