//! LOGIN and AUTHENTICATE: every exchange runs inside authd; imapd relays the messages
//! (base64 on the wire, bytes to authd) with the connection's TLS facts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use postern_ipc::sasl_relay::{RelayStep, SaslRelay};
use postern_ipc::{AuthFailure, Mechanism};

use super::Authenticated;
use super::connection::{End, Session};
use super::{AUTHD_TIMEOUT, MAX_AUTH_FAILURES};
use postern_imap_proto::response::{Code, Response, StatusKind, StatusResponse};
use postern_imap_proto::types::Secret as WireSecret;

/// How an exchange with authd ended, for the reply.
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

/// Where the client's responses come from.
enum Responses {
    /// Read continuation lines from the client (AUTHENTICATE).
    Client,
    /// Answer challenges from this queue (LOGIN: user name, then password).
    Queue(Vec<Vec<u8>>),
}

impl Session {
    /// LOGIN user password.
    pub(super) async fn login(
        &mut self,
        tag: &str,
        username: Vec<u8>,
        password: WireSecret,
    ) -> Result<Option<Authenticated>, End> {
        if !self.stream.is_tls() {
            self.reply(
                tag,
                StatusKind::No,
                Some(Code::PrivacyRequired),
                "login tls required for login",
            )
            .await?;
            return Ok(None);
        }
        let queue = vec![username.clone(), password.expose().to_vec()];
        let outcome = self
            .exchange(Mechanism::Login, Some(username), Responses::Queue(queue))
            .await?;
        self.finish(tag, "login", outcome).await
    }

    /// AUTHENTICATE mechanism [initial-response].
    pub(super) async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: &str,
        initial_response: Option<WireSecret>,
    ) -> Result<Option<Authenticated>, End> {
        let mechanism = match Mechanism::from_sasl_name(mechanism) {
            Some(m) if m != Mechanism::Login => m,
            _ => {
                self.reply(
                    tag,
                    StatusKind::No,
                    None,
                    "authenticate method not supported",
                )
                .await?;
                return Ok(None);
            }
        };
        let on_tls = self.stream.is_tls();
        if mechanism.sends_password() && !on_tls {
            self.reply(
                tag,
                StatusKind::No,
                Some(Code::PrivacyRequired),
                "authenticate tls required for login",
            )
            .await?;
            return Ok(None);
        }
        let has_binding = self
            .tls
            .as_ref()
            .is_some_and(|t| t.channel_binding.is_some());
        if mechanism.is_plus() && !has_binding {
            self.reply(
                tag,
                StatusKind::No,
                None,
                "authenticate cannot use plus variant with tls channel binding without tls",
            )
            .await?;
            return Ok(None);
        }
        if mechanism == Mechanism::External {
            let text = if !on_tls {
                Some("authenticate tls required for tls client certificate authentication")
            } else if self.certificate.is_none() {
                Some(
                    "authenticate missing client certificate, required for tls client \
                     certificate authentication",
                )
            } else {
                None
            };
            if let Some(text) = text {
                self.reply(tag, StatusKind::No, Some(Code::AuthenticationFailed), text)
                    .await?;
                return Ok(None);
            }
        }
        let initial = match initial_response {
            None => None,
            Some(text) if text.expose().is_empty() => Some(Vec::new()),
            Some(text) => match BASE64.decode(text.expose()) {
                Ok(bytes) => Some(bytes),
                Err(_) => {
                    self.reply(tag, StatusKind::Bad, None, "authenticate invalid base64")
                        .await?;
                    return Ok(None);
                }
            },
        };
        let outcome = self.exchange(mechanism, initial, Responses::Client).await?;
        self.finish(tag, "authenticate", outcome).await
    }

    /// Runs one exchange with authd on its own connection.
    async fn exchange(
        &mut self,
        mechanism: Mechanism,
        initial: Option<Vec<u8>>,
        mut responses: Responses,
    ) -> Result<Outcome, End> {
        let client_key = self.certificate.as_ref().map(|(key, _)| *key);
        if let Responses::Queue(queue) = &mut responses {
            // The first queued item went out as the initial response.
            queue.remove(0);
        }
        let (mut relay, mut step) = SaslRelay::start(
            &self.shared.auth_socket,
            AUTHD_TIMEOUT,
            mechanism,
            initial,
            self.connection_info(client_key),
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
            let response = match &mut responses {
                Responses::Queue(queue) => {
                    if queue.is_empty() {
                        return Ok(Outcome::Failure(AuthFailure::BadCredentials));
                    }
                    queue.remove(0)
                }
                Responses::Client => {
                    self.send(&Response::Continue(BASE64.encode(&challenge)))
                        .await?;
                    let line = self.read_line().await?;
                    if line == b"*" {
                        if let Some(relay) = relay.take() {
                            relay.abort().await;
                        }
                        return Ok(Outcome::Aborted);
                    }
                    let Ok(bytes) = BASE64.decode(&line) else {
                        if let Some(relay) = relay.take() {
                            relay.abort().await;
                        }
                        return Ok(Outcome::BadBase64);
                    };
                    bytes
                }
            };
            let Some(exchange) = relay.as_mut() else {
                return Ok(Outcome::Unavailable);
            };
            step = exchange.step(response).await;
        }
    }

    /// Answers the end of a LOGIN or AUTHENTICATE (mox §2.2).
    async fn finish(
        &mut self,
        tag: &str,
        command: &str,
        outcome: Outcome,
    ) -> Result<Option<Authenticated>, End> {
        let (kind, code, text) = match outcome {
            Outcome::Success(user) => {
                let caps = self.capabilities();
                self.reply(
                    tag,
                    StatusKind::Ok,
                    Some(Code::Capability(caps)),
                    &format!("{command} done"),
                )
                .await?;
                return Ok(Some(user));
            }
            Outcome::Unavailable => (
                StatusKind::No,
                Some(Code::Unavailable),
                format!("{command} authentication service unavailable, try again later"),
            ),
            Outcome::Aborted => (
                StatusKind::Bad,
                None,
                format!("{command} aborted by client"),
            ),
            Outcome::BadBase64 => (StatusKind::Bad, None, format!("{command} invalid base64")),
            Outcome::Failure(failure) => failure_reply(command, failure),
        };
        let temporary = code == Some(Code::Unavailable);
        self.reply(tag, kind, code, &text).await?;
        if !temporary {
            self.auth_failures += 1;
            if self.auth_failures >= MAX_AUTH_FAILURES {
                tracing::info!(
                    remote = %self.remote,
                    failures = self.auth_failures,
                    "too many failed logins, closing"
                );
                let bye = StatusResponse::untagged(
                    StatusKind::Bye,
                    None,
                    "too many authentication failures",
                );
                let _ = self.send(&Response::Status(bye)).await;
                return Err(End::Bye);
            }
        }
        Ok(None)
    }
}

fn failure_reply(command: &str, failure: AuthFailure) -> (StatusKind, Option<Code>, String) {
    use StatusKind::{Bad, No};
    match failure {
        AuthFailure::BadCredentials if command == "login" => (
            No,
            Some(Code::AuthenticationFailed),
            "login login failed".into(),
        ),
        AuthFailure::BadCredentials => (
            No,
            Some(Code::AuthenticationFailed),
            format!("{command} bad credentials"),
        ),
        AuthFailure::ChannelBindingMismatch => (
            No,
            Some(Code::AuthenticationFailed),
            format!("{command} channel bindings do not match, potential mitm"),
        ),
        AuthFailure::AuthorizationFailed => (
            No,
            Some(Code::AuthorizationFailed),
            format!("{command} cannot assume role"),
        ),
        AuthFailure::CertificateOtherAccount => (
            No,
            Some(Code::AuthenticationFailed),
            format!(
                "{command} authentication failed, tls client certificate public key belongs \
                 to another account"
            ),
        ),
        AuthFailure::LoginDisabled { message } => (
            No,
            None,
            format!("{command} login disabled for account: {message}"),
        ),
        AuthFailure::RateLimited | AuthFailure::TemporaryFailure => (
            No,
            Some(Code::Unavailable),
            format!("{command} temporarily unavailable, try again later"),
        ),
        AuthFailure::Malformed { reason } => (Bad, None, format!("{command} {reason}")),
        AuthFailure::Aborted => (Bad, None, format!("{command} aborted by client")),
        AuthFailure::NotAvailable { reason } => (No, None, format!("{command} {reason}")),
    }
}
