//! One connection on the auth socket: a protocol daemon asking for SASL exchanges,
//! certificate lookups, address resolution and web sessions. What it may ask is decided
//! by its uid, read from the socket.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::SinkExt as _;
use postern_ipc::auth::{
    AUTH_PROTOCOL_VERSION, AccountEnd, AddressOwner, AuthRequest, AuthResponse, CertificateVerdict,
    MAX_AUTH_REQUEST_FRAME, MAX_AUTH_RESPONSE_FRAME, RequestError, SaslReply,
};
use postern_ipc::peer::PeerCredentials;
use postern_ipc::web::WebAuth;
use postern_ipc::{
    AuthFailure, ConnectionInfo, FrameCodec, LoginResult, Mechanism, Protocol, Verdict,
};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;

use super::web::Web;
use super::{Shared, unix_now};
use crate::ratelimit::LoginTarget;
use crate::sasl::{Credentials as _, Outcome, Progress, SaslExchange};

struct Exchange {
    sasl: SaslExchange,
    connection: ConnectionInfo,
}

struct Session {
    shared: Arc<Shared>,
    peer_uid: u32,
    protocols: HashSet<Protocol>,
    exchange: Option<Exchange>,
    /// After [`AuthRequest::WatchAccountEnds`]: the account ends to pass on.
    watching: Option<tokio::sync::broadcast::Receiver<AccountEnd>>,
}

/// Serves one protocol daemon's connection until it closes or misbehaves.
pub async fn serve_connection(shared: Arc<Shared>, stream: UnixStream, peer: PeerCredentials) {
    let protocols = shared.callers.get(&peer.uid).cloned().unwrap_or_default();
    let mut framed = Framed::new(
        stream,
        FrameCodec::new(MAX_AUTH_REQUEST_FRAME, MAX_AUTH_RESPONSE_FRAME),
    );
    let mut session = Session {
        shared,
        peer_uid: peer.uid,
        protocols,
        exchange: None,
        watching: None,
    };
    if session.protocols.is_empty() {
        tracing::warn!("uid may not use the auth socket; refusing");
        let _ = framed
            .send(AuthResponse::Error(RequestError::NotPermitted(format!(
                "uid {} may not use the auth socket",
                peer.uid
            ))))
            .await;
        return;
    }
    super::answer_requests(&mut framed, &mut session).await;
    if let Some(exchange) = session.exchange.take() {
        // The daemon went away mid-exchange: the client's attempt ends as aborted.
        let mut exchange = exchange;
        let outcome = exchange.sasl.abort();
        session.finish(&exchange, outcome).await;
    }
}

impl super::RequestHandler for Session {
    type Request = AuthRequest;
    type Response = AuthResponse;

    async fn handle(&mut self, request: AuthRequest) -> AuthResponse {
        if self.watching.is_some() {
            return misuse("this connection watches account ends and takes no requests");
        }
        Session::handle(self, request).await
    }

    async fn event(&mut self) -> AuthResponse {
        let Some(ends) = self.watching.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            match ends.recv().await {
                Ok(end) => return AuthResponse::AccountEnded(end),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "a watcher missed account ends");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return std::future::pending().await;
                }
            }
        }
    }
}

fn not_permitted(what: &str) -> AuthResponse {
    AuthResponse::Error(RequestError::NotPermitted(what.to_string()))
}

fn misuse(what: &str) -> AuthResponse {
    AuthResponse::Error(RequestError::Misuse(what.to_string()))
}

/// Why a web request is refused before its session is looked at.
struct NotWeb(&'static str);

impl From<NotWeb> for AuthResponse {
    fn from(refusal: NotWeb) -> AuthResponse {
        not_permitted(refusal.0)
    }
}

impl Session {
    fn may(&self, protocol: Protocol) -> bool {
        self.protocols.contains(&protocol)
    }

    /// The web requests, for webd's uid only (DESIGN.md invariant 4).
    fn web_caller(&self) -> Result<Web<'_>, NotWeb> {
        if !self.may(Protocol::Web) {
            return Err(NotWeb("only webd may make web requests"));
        }
        Ok(Web {
            shared: &self.shared,
            caller_uid: self.peer_uid,
        })
    }

    /// [`Session::web_caller`], for a request about a web connection.
    fn web(&self, connection: &ConnectionInfo) -> Result<Web<'_>, NotWeb> {
        if connection.protocol != Protocol::Web {
            return Err(NotWeb("web requests are for the web protocol only"));
        }
        self.web_caller()
    }

    async fn handle(&mut self, request: AuthRequest) -> AuthResponse {
        match request {
            AuthRequest::Hello { version } if version == AUTH_PROTOCOL_VERSION => {
                AuthResponse::Hello {
                    version: AUTH_PROTOCOL_VERSION,
                }
            }
            AuthRequest::Hello { .. } => {
                AuthResponse::Error(RequestError::Version(AUTH_PROTOCOL_VERSION))
            }
            AuthRequest::SaslStart {
                mechanism,
                initial_response,
                connection,
            } => {
                if !self.may(connection.protocol) {
                    return not_permitted("this uid may not authenticate for that protocol");
                }
                if !Mechanism::SASL.contains(&mechanism) {
                    return misuse("not a SASL mechanism");
                }
                if let Some(previous) = self.exchange.take() {
                    let mut previous = previous;
                    let outcome = previous.sasl.abort();
                    self.finish(&previous, outcome).await;
                }
                if self
                    .shared
                    .limiter
                    .is_limited(connection.remote_ip, unix_now())
                {
                    self.shared
                        .record_attempt(
                            &connection,
                            mechanism.name(),
                            "",
                            None,
                            LoginResult::RateLimited,
                        )
                        .await;
                    return AuthResponse::Sasl(SaslReply::Failure(AuthFailure::RateLimited));
                }
                let snapshot = self.shared.snapshot();
                let credentials = self
                    .shared
                    .attempt_credentials(&snapshot, connection.remote_ip);
                let (sasl, progress) = SaslExchange::start(
                    mechanism,
                    &connection,
                    initial_response.as_ref().map(|r| r.0.as_slice()),
                    &credentials,
                    &self.shared.context,
                );
                self.exchange = Some(Exchange { sasl, connection });
                self.advance(progress).await
            }
            AuthRequest::SaslStep { response } => {
                let Some(exchange) = self.exchange.as_mut() else {
                    return misuse("no SASL exchange is running");
                };
                let snapshot = self.shared.snapshot();
                let credentials = self
                    .shared
                    .attempt_credentials(&snapshot, exchange.connection.remote_ip);
                let progress = exchange.sasl.step(&response.0, &credentials);
                self.advance(progress).await
            }
            AuthRequest::SaslAbort => {
                let Some(mut exchange) = self.exchange.take() else {
                    return misuse("no SASL exchange is running");
                };
                let outcome = exchange.sasl.abort();
                let failure = self.finish(&exchange, outcome).await;
                AuthResponse::Sasl(failure)
            }
            AuthRequest::CertificateLogin { connection } => {
                self.certificate_login(connection).await
            }
            AuthRequest::ResolveAddress { address } => {
                if !self.may(Protocol::Imap) && !self.may(Protocol::Submission) {
                    return not_permitted("only the mail daemons may resolve addresses");
                }
                let snapshot = self.shared.snapshot();
                let owner = snapshot.address(&address).map(|registered| AddressOwner {
                    account: registered.account.clone(),
                    address: registered.address.clone(),
                });
                AuthResponse::Address(owner)
            }
            AuthRequest::WebLogin {
                username,
                password,
                connection,
            } => match self.web(&connection) {
                Ok(web) => web.login(username, password, connection).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::WebSessionCheck {
                token,
                csrf,
                connection,
            } => match self.web(&connection) {
                Ok(web) => {
                    web.session_check(WebAuth {
                        token,
                        csrf,
                        connection,
                    })
                    .await
                }
                Err(refusal) => refusal.into(),
            },
            AuthRequest::WebLogout { token } => match self.web_caller() {
                Ok(web) => web.logout(token).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::PendingAccountRemovals => {
                if !self.may(Protocol::Imap) {
                    return not_permitted("only imapd keeps the mail store");
                }
                match self
                    .shared
                    .database
                    .call(|store| store.pending_removals())
                    .await
                {
                    Ok(names) => AuthResponse::PendingRemovals(names),
                    Err(e) => AuthResponse::Error(RequestError::Temporary(e.to_string())),
                }
            }
            AuthRequest::AccountDataRemoved { account } => {
                if !self.may(Protocol::Imap) {
                    return not_permitted("only imapd keeps the mail store");
                }
                tracing::info!(?account, "mail store confirmed removal of account data");
                match self
                    .shared
                    .database
                    .call(move |store| store.removal_done(&account))
                    .await
                {
                    Ok(()) => AuthResponse::Done,
                    Err(e) => AuthResponse::Error(RequestError::Temporary(e.to_string())),
                }
            }
            AuthRequest::Account { auth, request } => match self.web(&auth.connection) {
                Ok(web) => web.account(auth, request).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::AdminLogin {
                password,
                connection,
            } => match self.web(&connection) {
                Ok(web) => web.admin_login(password, connection).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::AdminSessionCheck { auth } => match self.web(&auth.connection) {
                Ok(web) => web.admin_check(auth).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::AdminLogout { token } => match self.web_caller() {
                Ok(web) => web.admin_logout(token).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::Admin { auth, request } => match self.web(&auth.connection) {
                Ok(web) => web.admin(auth, request).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::MailTicket {
                auth,
                purpose,
                account,
            } => match self.web(&auth.connection) {
                Ok(web) => web.mail_ticket(auth, purpose, account).await,
                Err(refusal) => refusal.into(),
            },
            AuthRequest::WatchAccountEnds => {
                if !self.may(Protocol::Imap) && !self.may(Protocol::Submission) {
                    return not_permitted("only the mail daemons may watch account ends");
                }
                self.watching = Some(self.shared.account_ends.subscribe());
                AuthResponse::Done
            }
            AuthRequest::RedeemMailTicket {
                ticket,
                purpose,
                caller_uid,
            } => {
                if !self.may(Protocol::Imap) {
                    return not_permitted("only imapd redeems mail-access tickets");
                }
                match super::tickets::redeem(&self.shared, &ticket, purpose, caller_uid).await {
                    Ok(account) => AuthResponse::TicketRedeemed { account },
                    Err(e @ super::tickets::TicketError::Database(_)) => {
                        AuthResponse::Error(RequestError::Temporary(e.to_string()))
                    }
                    Err(e) => AuthResponse::Error(RequestError::NotPermitted(e.to_string())),
                }
            }
        }
    }

    /// Drives the exchange until it needs the client again or ends.
    async fn advance(&mut self, mut progress: Progress) -> AuthResponse {
        loop {
            match progress {
                Progress::Challenge(bytes) => {
                    return AuthResponse::Sasl(SaslReply::Challenge(bytes));
                }
                Progress::VerifyPassword(check) => {
                    let ok = self
                        .shared
                        .passwords
                        .check(
                            check.account.as_deref(),
                            check.phc.as_deref(),
                            check.password.as_ref().map(|p| p.as_str()),
                        )
                        .await;
                    let Some(exchange) = self.exchange.as_mut() else {
                        return misuse("exchange vanished");
                    };
                    progress = Progress::Done(exchange.sasl.password_checked(ok));
                }
                Progress::Done(outcome) => {
                    let Some(exchange) = self.exchange.take() else {
                        return misuse("exchange vanished");
                    };
                    return AuthResponse::Sasl(self.finish(&exchange, outcome).await);
                }
            }
        }
    }

    /// Applies the certificate rule, counts, records and answers an ended exchange.
    async fn finish(&self, exchange: &Exchange, mut outcome: Outcome) -> SaslReply {
        let connection = &exchange.connection;
        // A connection whose client certificate is registered may only log in to that
        // certificate's account, whatever the mechanism.
        if let (Ok(authenticated), Some(key)) = (&outcome.result, &connection.client_key) {
            let snapshot = self.shared.snapshot();
            if let Some((account, _)) = snapshot.tls_key(key)
                && account.account != authenticated.account
            {
                outcome.result = Err((
                    AuthFailure::CertificateOtherAccount,
                    LoginResult::BadCredentials,
                ));
            }
        }
        let result = outcome.login_result();
        let now = unix_now();
        let target = LoginTarget::of(outcome.account.as_deref(), &outcome.login_name);
        self.shared
            .limiter
            .record_result(connection.remote_ip, &target, result, now);
        self.shared
            .record_attempt(
                connection,
                &exchange.sasl.mechanism().name().to_ascii_lowercase(),
                &outcome.login_name,
                outcome.account.as_deref(),
                result,
            )
            .await;
        match outcome.result {
            Ok(authenticated) => SaslReply::Success(Verdict {
                account: authenticated.account,
                login_address: authenticated.login_address,
                protocol: connection.protocol,
            }),
            Err((failure, _)) => SaslReply::Failure(failure),
        }
    }

    async fn certificate_login(&mut self, connection: ConnectionInfo) -> AuthResponse {
        if !self.may(connection.protocol) {
            return not_permitted("this uid may not authenticate for that protocol");
        }
        let Some(key) = connection.client_key else {
            return misuse("certificate login without a client key");
        };
        let now = unix_now();
        let mechanism = Mechanism::TlsClientCertificate.name();
        if self.shared.limiter.is_limited(connection.remote_ip, now) {
            self.shared
                .record_attempt(&connection, mechanism, "", None, LoginResult::RateLimited)
                .await;
            return AuthResponse::Certificate(CertificateVerdict::RateLimited);
        }
        let snapshot = self.shared.snapshot();
        let found = snapshot.tls_key(&key).map(|(account, login)| {
            (
                account.account.to_string(),
                login.to_string(),
                account.disabled.map(str::to_string),
                snapshot
                    .tls_keys
                    .get(&key)
                    .is_some_and(|k| k.no_imap_preauth),
            )
        });
        drop(snapshot);
        let (verdict, login, account, result) = match found {
            None => {
                self.shared
                    .limiter
                    .record_failure(connection.remote_ip, None, now);
                (
                    CertificateVerdict::Unknown,
                    String::new(),
                    None,
                    LoginResult::UnknownUser,
                )
            }
            Some((account, login, Some(message), _)) => (
                CertificateVerdict::LoginDisabled { message },
                login,
                Some(account),
                LoginResult::Disabled,
            ),
            Some((account, login, None, no_imap_preauth)) => {
                self.shared
                    .limiter
                    .record_success(connection.remote_ip, &account, now);
                (
                    CertificateVerdict::Known {
                        verdict: Verdict {
                            account: account.clone(),
                            login_address: login.clone(),
                            protocol: connection.protocol,
                        },
                        no_imap_preauth,
                    },
                    login,
                    Some(account),
                    LoginResult::Ok,
                )
            }
        };
        self.shared
            .record_attempt(&connection, mechanism, &login, account.as_deref(), result)
            .await;
        AuthResponse::Certificate(verdict)
    }
}
