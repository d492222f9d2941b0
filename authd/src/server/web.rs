//! The web requests of the auth socket (webd's uid only, [`Protocol::Web`] only): web
//! logins, account and admin sessions with their CSRF tokens, the account pages' own
//! requests, the admin pages' requests and mail-access tickets.
//!
//! Every request of a logged-in page passes [`Web::authorize`], the one place that
//! decides: the limiter first (a limited network is told so, never "wrong password"),
//! then the session (kind and idle expiry), then the CSRF token (required for a request
//! that changes state, checked whenever given), then the account's state. Each check is
//! recorded in the login history (protocol `web`) and failures count in the shared
//! limiter, except CSRF mismatches, which a cross-site page can provoke in its
//! visitor's browser and so must not lock that visitor out.

use std::sync::Arc;

use postern_ipc::admin::AdminRequest;
use postern_ipc::auth::{AuthResponse, WebSessionReply};
use postern_ipc::web::{
    AccountOverview, AccountRequest, AccountResponse, AdminSession, MailPurpose, WebAuth,
    WebRefusal,
};
use postern_ipc::{AuthFailure, ConnectionInfo, KeyFingerprint, LoginResult, Mechanism, Secret};
use subtle::ConstantTimeEq as _;

use super::database::DatabaseError;
use super::{Shared, new_token, token_hash, unix_now};
use crate::names::normalize_login_name;
use crate::password::{PasswordVerifiers, prepare_new_password, prepare_password};
use crate::ratelimit::LoginTarget;
use crate::sasl::Credentials as _;
use crate::store::{NewSession, StoreError, WebSessionRecord};
use crate::tls_key::{key_record, single_certificate_from_pem};

/// Login-history mechanism of an account session's use.
pub const WEB_SESSION_MECHANISM: &str = "web-session";
/// Login-history mechanism of a password change on the account pages.
pub const PASSWORD_CHANGE_MECHANISM: &str = "web-password-change";
/// Login-history mechanism of an admin login.
pub const ADMIN_PASSWORD_MECHANISM: &str = "web-admin-password";
/// Login-history mechanism of an admin session's use.
pub const ADMIN_SESSION_MECHANISM: &str = "web-admin-session";
/// The login name the history shows for the admin.
pub const ADMIN_LOGIN_NAME: &str = "admin";
/// What the password checker's cache and the limiter key the admin password under (no
/// account name can hold a NUL).
const ADMIN_CACHE_NAME: &str = "\0admin";

/// The web requests of one auth-socket connection.
pub(super) struct Web<'a> {
    pub(super) shared: &'a Arc<Shared>,
    /// The peer's uid (tickets are issued to it).
    pub(super) caller_uid: u32,
}

/// Which kind of session a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wanted {
    Account,
    Admin,
    Either,
}

/// A session [`Web::authorize`] accepted.
enum Session {
    Account {
        record: WebSessionRecord,
        token_hash: [u8; 32],
    },
    Admin,
}

/// A session as found in the database, before the CSRF and account checks.
enum Found {
    Account(WebSessionRecord),
    Admin([u8; 32]),
}

fn refused(refusal: WebRefusal) -> AuthResponse {
    AuthResponse::WebRefused(refusal)
}

/// How a failed database call is told to the user: a refusal of the store keeps its
/// message, anything else is temporary (and logged).
fn store_refusal(error: DatabaseError) -> WebRefusal {
    match error {
        DatabaseError::Store(e @ (StoreError::Refused(_) | StoreError::Name(_))) => {
            WebRefusal::Rejected(e.to_string())
        }
        other => {
            tracing::error!(error = %other, "web request failed in the database");
            WebRefusal::Temporary
        }
    }
}

impl Web<'_> {
    async fn record(
        &self,
        connection: &ConnectionInfo,
        mechanism: &str,
        login_name: &str,
        account: Option<&str>,
        result: LoginResult,
    ) {
        self.shared
            .record_attempt(connection, mechanism, login_name, account, result)
            .await;
    }

    /// The one gate of every logged-in page's request (see the module comment).
    async fn authorize(
        &self,
        auth: &WebAuth,
        wanted: Wanted,
        changes_state: bool,
    ) -> Result<Session, WebRefusal> {
        let connection = &auth.connection;
        let now = unix_now();
        let default_mechanism = match wanted {
            Wanted::Admin => ADMIN_SESSION_MECHANISM,
            Wanted::Account | Wanted::Either => WEB_SESSION_MECHANISM,
        };
        if self.shared.limiter.is_limited(connection.remote_ip, now) {
            self.record(
                connection,
                default_mechanism,
                "",
                None,
                LoginResult::RateLimited,
            )
            .await;
            return Err(WebRefusal::RateLimited);
        }
        let hash = token_hash(&auth.token.0);
        let found = self
            .shared
            .database
            .call(move |store| {
                if let Some(record) = store.web_session_check(&hash, now)? {
                    return Ok(Some(Found::Account(record)));
                }
                Ok(store
                    .admin_session_check(&hash, now)?
                    .map(|admin| Found::Admin(admin.csrf_hash)))
            })
            .await
            .map_err(store_refusal)?;
        let Some(found) = found else {
            self.shared
                .limiter
                .record_failure(connection.remote_ip, None, now);
            self.record(
                connection,
                default_mechanism,
                "",
                None,
                LoginResult::BadCredentials,
            )
            .await;
            return Err(WebRefusal::NoSession);
        };
        let (mechanism, csrf_hash, account, login_name) = match &found {
            Found::Account(record) => (
                WEB_SESSION_MECHANISM,
                record.csrf_hash,
                Some(record.account.clone()),
                record.login_address.clone(),
            ),
            Found::Admin(csrf_hash) => (
                ADMIN_SESSION_MECHANISM,
                *csrf_hash,
                None,
                ADMIN_LOGIN_NAME.to_string(),
            ),
        };
        let (account, login_name) = (account.as_deref(), login_name.as_str());
        let kind_ok = matches!(
            (&found, wanted),
            (_, Wanted::Either)
                | (Found::Account(_), Wanted::Account)
                | (Found::Admin(_), Wanted::Admin)
        );
        if !kind_ok {
            tracing::warn!(?account, ?wanted, "web session of the wrong kind refused");
            return Err(WebRefusal::NotPermitted);
        }
        let csrf_ok = match &auth.csrf {
            Some(csrf) => bool::from(token_hash(&csrf.0).ct_eq(&csrf_hash)),
            None => !changes_state,
        };
        if !csrf_ok {
            self.record(
                connection,
                mechanism,
                login_name,
                account,
                LoginResult::BadProtocol,
            )
            .await;
            return Err(WebRefusal::Csrf);
        }
        let session = match found {
            Found::Admin(_) => Session::Admin,
            Found::Account(record) => {
                let disabled = {
                    let snapshot = self.shared.snapshot();
                    match snapshot.accounts.get(&record.account) {
                        None => return Err(WebRefusal::NoSession),
                        Some(credentials) => credentials.disabled.clone(),
                    }
                };
                if let Some(message) = disabled {
                    self.record(
                        connection,
                        mechanism,
                        login_name,
                        account,
                        LoginResult::Disabled,
                    )
                    .await;
                    return Err(WebRefusal::LoginDisabled { message });
                }
                Session::Account {
                    record,
                    token_hash: hash,
                }
            }
        };
        let account = match &session {
            Session::Account { record, .. } => Some(record.account.as_str()),
            Session::Admin => None,
        };
        self.record(connection, mechanism, login_name, account, LoginResult::Ok)
            .await;
        Ok(session)
    }

    /// [`postern_ipc::auth::AuthRequest::WebLogin`].
    pub(super) async fn login(
        &self,
        username: String,
        password: Secret<String>,
        connection: ConnectionInfo,
    ) -> AuthResponse {
        let now = unix_now();
        let mechanism = Mechanism::WebPassword.name();
        if self.shared.limiter.is_limited(connection.remote_ip, now) {
            self.record(
                &connection,
                mechanism,
                &username,
                None,
                LoginResult::RateLimited,
            )
            .await;
            return AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::RateLimited));
        }
        let login_name = normalize_login_name(&username);
        let snapshot = self.shared.snapshot();
        let target = snapshot
            .account_by_address(&login_name)
            .map(|(address, account)| {
                (
                    address.to_string(),
                    account.account.to_string(),
                    account.disabled.map(str::to_string),
                    account.verifiers.map(|v| v.argon2id.clone()),
                )
            });
        drop(snapshot);
        let guess_target = LoginTarget::of(target.as_ref().map(|t| t.1.as_str()), &login_name);
        if self
            .shared
            .limiter
            .is_guessing_limited(connection.remote_ip, &guess_target, now)
        {
            self.record(
                &connection,
                mechanism,
                &login_name,
                guess_target.account(),
                LoginResult::RateLimited,
            )
            .await;
            return AuthResponse::WebSession(WebSessionReply::Invalid(AuthFailure::RateLimited));
        }
        let prepared = prepare_password(&password.0).ok();
        let ok = self
            .shared
            .passwords
            .check(
                target.as_ref().map(|t| t.1.as_str()),
                target.as_ref().and_then(|t| t.3.as_deref()),
                prepared.as_ref().map(|p| p.as_str()),
            )
            .await;
        let (reply, result) = match target {
            Some((address, account, None, _)) if ok => {
                match self
                    .new_account_session(&account, &address, &connection, now)
                    .await
                {
                    Ok((token, csrf)) => (
                        WebSessionReply::Valid {
                            account,
                            login_address: address,
                            token: Some(Secret(token)),
                            csrf: Some(Secret(csrf)),
                        },
                        LoginResult::Ok,
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot create web session");
                        (
                            WebSessionReply::Invalid(AuthFailure::TemporaryFailure),
                            LoginResult::Error,
                        )
                    }
                }
            }
            Some((_, _, Some(message), _)) if ok => (
                WebSessionReply::Invalid(AuthFailure::LoginDisabled { message }),
                LoginResult::Disabled,
            ),
            Some(_) => (
                WebSessionReply::Invalid(AuthFailure::BadCredentials),
                LoginResult::BadCredentials,
            ),
            None => (
                WebSessionReply::Invalid(AuthFailure::BadCredentials),
                LoginResult::UnknownUser,
            ),
        };
        self.shared
            .limiter
            .record_result(connection.remote_ip, &guess_target, result, now);
        let account = match &reply {
            WebSessionReply::Valid { account, .. } => Some(account.clone()),
            _ => None,
        };
        self.record(
            &connection,
            mechanism,
            &login_name,
            account.as_deref(),
            result,
        )
        .await;
        AuthResponse::WebSession(reply)
    }

    /// Stores a new account session; returns its token and CSRF token.
    async fn new_account_session(
        &self,
        account: &str,
        login_address: &str,
        connection: &ConnectionInfo,
        now: i64,
    ) -> Result<(String, String), DatabaseError> {
        let (token, csrf) = (new_token(), new_token());
        let (token_hash, csrf_hash) = (token_hash(&token), token_hash(&csrf));
        let (account, login_address) = (account.to_string(), login_address.to_string());
        let (user_agent, remote_ip) = client_facts(connection);
        self.shared
            .database
            .call(move |store| {
                let session = NewSession {
                    token_hash: &token_hash,
                    csrf_hash: &csrf_hash,
                    user_agent: &user_agent,
                    remote_ip: &remote_ip,
                };
                store.web_session_create(&account, &login_address, &session, now)
            })
            .await?;
        Ok((token, csrf))
    }

    /// [`postern_ipc::auth::AuthRequest::WebSessionCheck`]: the account session's
    /// account, in the reply shape of a login.
    pub(super) async fn session_check(&self, auth: WebAuth) -> AuthResponse {
        let reply = match self.authorize(&auth, Wanted::Account, false).await {
            Ok(Session::Account { record, .. }) => WebSessionReply::Valid {
                account: record.account,
                login_address: record.login_address,
                token: None,
                csrf: None,
            },
            Ok(Session::Admin) => WebSessionReply::Invalid(AuthFailure::BadCredentials),
            Err(refusal) => WebSessionReply::Invalid(match refusal {
                WebRefusal::RateLimited => AuthFailure::RateLimited,
                WebRefusal::LoginDisabled { message } => AuthFailure::LoginDisabled { message },
                WebRefusal::Temporary => AuthFailure::TemporaryFailure,
                WebRefusal::NoSession
                | WebRefusal::Csrf
                | WebRefusal::NotPermitted
                | WebRefusal::BadCredentials
                | WebRefusal::Rejected(_) => AuthFailure::BadCredentials,
            }),
        };
        AuthResponse::WebSession(reply)
    }

    /// [`postern_ipc::auth::AuthRequest::WebLogout`].
    pub(super) async fn logout(&self, token: Secret<String>) -> AuthResponse {
        let hash = token_hash(&token.0);
        match self
            .shared
            .database
            .call(move |store| store.web_session_remove(&hash))
            .await
        {
            Ok(()) => AuthResponse::Done,
            Err(e) => refused(store_refusal(e)),
        }
    }

    /// [`postern_ipc::auth::AuthRequest::Account`].
    pub(super) async fn account(&self, auth: WebAuth, request: AccountRequest) -> AuthResponse {
        let (record, token_hash) = match self
            .authorize(&auth, Wanted::Account, request.changes_state())
            .await
        {
            Ok(Session::Account { record, token_hash }) => (record, token_hash),
            Ok(Session::Admin) => return refused(WebRefusal::NotPermitted),
            Err(refusal) => return refused(refusal),
        };
        match self
            .account_request(&record, &token_hash, &auth.connection, request)
            .await
        {
            Ok(response) => AuthResponse::Account(response),
            Err(refusal) => refused(refusal),
        }
    }

    async fn account_request(
        &self,
        session: &WebSessionRecord,
        token_hash: &[u8; 32],
        connection: &ConnectionInfo,
        request: AccountRequest,
    ) -> Result<AccountResponse, WebRefusal> {
        let db = &self.shared.database;
        let account = session.account.clone();
        let response = match request {
            AccountRequest::Overview => {
                let snapshot = self.shared.snapshot();
                let mut addresses: Vec<String> = snapshot
                    .addresses
                    .values()
                    .filter(|registered| registered.account == account)
                    .map(|registered| registered.address.clone())
                    .collect();
                addresses.sort();
                AccountResponse::Overview(AccountOverview {
                    account,
                    login_address: session.login_address.clone(),
                    addresses,
                })
            }
            AccountRequest::ChangePassword { current, new } => {
                self.change_password(session, token_hash, connection, current, new)
                    .await?
            }
            AccountRequest::TlsPublicKeys => AccountResponse::TlsPublicKeys(
                db.call(move |s| s.tls_key_list(Some(&account)))
                    .await
                    .map_err(store_refusal)?,
            ),
            AccountRequest::TlsPublicKeyAdd {
                certificate_pem,
                login_address,
                name,
                no_imap_preauth,
            } => {
                let der = single_certificate_from_pem(certificate_pem.as_bytes())
                    .map_err(|e| WebRefusal::Rejected(e.to_string()))?;
                let login_address = login_address.unwrap_or_else(|| session.login_address.clone());
                let record = key_record(
                    der,
                    &account,
                    &login_address,
                    name,
                    no_imap_preauth,
                    unix_now(),
                )
                .map_err(WebRefusal::Rejected)?;
                let info = record.info();
                db.call(move |s| s.tls_key_add(&record))
                    .await
                    .map_err(store_refusal)?;
                self.reload().await?;
                tracing::info!(%account, fingerprint = %info.fingerprint, "tls public key added on the account pages");
                AccountResponse::TlsPublicKeyAdded(info)
            }
            AccountRequest::TlsPublicKeyUpdate {
                fingerprint,
                name,
                login_address,
                no_imap_preauth,
            } => {
                let fingerprint = parse_fingerprint(&fingerprint)?;
                db.call(move |s| {
                    s.tls_key_update(
                        &account,
                        &fingerprint,
                        &name,
                        &login_address,
                        no_imap_preauth,
                    )
                })
                .await
                .map_err(store_refusal)?;
                self.reload().await?;
                AccountResponse::Done
            }
            AccountRequest::TlsPublicKeyRemove { fingerprint } => {
                let fingerprint = parse_fingerprint(&fingerprint)?;
                db.call(move |s| s.tls_key_remove(&fingerprint, Some(&account)))
                    .await
                    .map_err(store_refusal)?;
                self.reload().await?;
                AccountResponse::Done
            }
            AccountRequest::LoginAttempts { limit } => AccountResponse::LoginAttempts(
                db.call(move |s| s.login_attempts(Some(&account), limit))
                    .await
                    .map_err(store_refusal)?,
            ),
            AccountRequest::WebSessions => {
                let current = session.id;
                AccountResponse::WebSessions(
                    db.call(move |s| s.web_session_list(&account, current))
                        .await
                        .map_err(store_refusal)?,
                )
            }
            AccountRequest::WebSessionRevoke { id } => {
                db.call(move |s| s.web_session_revoke(&account, id))
                    .await
                    .map_err(store_refusal)?;
                AccountResponse::Done
            }
        };
        Ok(response)
    }

    /// Checks the current password (a wrong one is a failed login), sets the new one,
    /// ends the account's other sessions and reloads, so that the old password fails
    /// everywhere at once.
    async fn change_password(
        &self,
        session: &WebSessionRecord,
        token_hash: &[u8; 32],
        connection: &ConnectionInfo,
        current: Secret<String>,
        new: Secret<String>,
    ) -> Result<AccountResponse, WebRefusal> {
        let account = session.account.clone();
        let login = session.login_address.as_str();
        let phc = self
            .shared
            .snapshot()
            .accounts
            .get(&account)
            .and_then(|a| a.verifiers.as_ref().map(|v| v.argon2id.clone()));
        let now = unix_now();
        let target = LoginTarget::Account(account.clone());
        if self
            .shared
            .limiter
            .is_guessing_limited(connection.remote_ip, &target, now)
        {
            self.record(
                connection,
                PASSWORD_CHANGE_MECHANISM,
                login,
                Some(&account),
                LoginResult::RateLimited,
            )
            .await;
            return Err(WebRefusal::RateLimited);
        }
        let prepared = prepare_password(&current.0).ok();
        let ok = self
            .shared
            .passwords
            .check(
                Some(&account),
                phc.as_deref(),
                prepared.as_ref().map(|p| p.as_str()),
            )
            .await;
        if !ok {
            self.shared
                .limiter
                .record_failure(connection.remote_ip, Some(&target), now);
            self.record(
                connection,
                PASSWORD_CHANGE_MECHANISM,
                login,
                Some(&account),
                LoginResult::BadCredentials,
            )
            .await;
            return Err(WebRefusal::BadCredentials);
        }
        let prepared =
            prepare_new_password(&new.0).map_err(|e| WebRefusal::Rejected(e.to_string()))?;
        let cost = self.shared.argon2_cost();
        let verifiers =
            tokio::task::spawn_blocking(move || PasswordVerifiers::derive(&prepared, cost))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "password hashing task failed");
                    WebRefusal::Temporary
                })?
                .map_err(|e| WebRefusal::Rejected(e.to_string()))?;
        let keep = *token_hash;
        let name = account.clone();
        self.shared
            .database
            .call(move |s| s.set_password_keeping(&name, &verifiers, Some(&keep)))
            .await
            .map_err(store_refusal)?;
        self.reload().await?;
        self.record(
            connection,
            PASSWORD_CHANGE_MECHANISM,
            login,
            Some(&account),
            LoginResult::Ok,
        )
        .await;
        tracing::info!(%account, "password changed on the account pages; other web sessions ended");
        Ok(AccountResponse::Done)
    }

    async fn reload(&self) -> Result<(), WebRefusal> {
        self.shared.reload().await.map_err(|e| {
            tracing::error!(error = %e, "cannot reload credentials after a change");
            WebRefusal::Temporary
        })
    }

    /// [`postern_ipc::auth::AuthRequest::AdminLogin`].
    pub(super) async fn admin_login(
        &self,
        password: Secret<String>,
        connection: ConnectionInfo,
    ) -> AuthResponse {
        let now = unix_now();
        let record = |result| {
            self.record(
                &connection,
                ADMIN_PASSWORD_MECHANISM,
                ADMIN_LOGIN_NAME,
                None,
                result,
            )
        };
        let target = LoginTarget::Account(ADMIN_CACHE_NAME.to_string());
        if self.shared.limiter.is_limited(connection.remote_ip, now)
            || self
                .shared
                .limiter
                .is_guessing_limited(connection.remote_ip, &target, now)
        {
            record(LoginResult::RateLimited).await;
            return refused(WebRefusal::RateLimited);
        }
        let phc = match self.shared.database.call(|s| s.admin_password()).await {
            Ok(phc) => phc,
            Err(e) => return refused(store_refusal(e)),
        };
        let prepared = prepare_password(&password.0).ok();
        let ok = self
            .shared
            .passwords
            .check(
                phc.as_ref().map(|_| ADMIN_CACHE_NAME),
                phc.as_deref(),
                prepared.as_ref().map(|p| p.as_str()),
            )
            .await;
        if !ok {
            self.shared
                .limiter
                .record_failure(connection.remote_ip, Some(&target), now);
            record(LoginResult::BadCredentials).await;
            return refused(WebRefusal::BadCredentials);
        }
        let (token, csrf) = (new_token(), new_token());
        let (token_hash, csrf_hash) = (token_hash(&token), token_hash(&csrf));
        let (user_agent, remote_ip) = client_facts(&connection);
        let created = self
            .shared
            .database
            .call(move |store| {
                let session = NewSession {
                    token_hash: &token_hash,
                    csrf_hash: &csrf_hash,
                    user_agent: &user_agent,
                    remote_ip: &remote_ip,
                };
                store.admin_session_create(&session, now)
            })
            .await;
        if let Err(e) = created {
            record(LoginResult::Error).await;
            return refused(store_refusal(e));
        }
        self.shared
            .limiter
            .record_success(connection.remote_ip, ADMIN_CACHE_NAME, now);
        record(LoginResult::Ok).await;
        AuthResponse::AdminSession(AdminSession {
            token: Some(Secret(token)),
            csrf: Some(Secret(csrf)),
        })
    }

    /// [`postern_ipc::auth::AuthRequest::AdminSessionCheck`].
    pub(super) async fn admin_check(&self, auth: WebAuth) -> AuthResponse {
        match self.authorize(&auth, Wanted::Admin, false).await {
            Ok(_) => AuthResponse::AdminSession(AdminSession {
                token: None,
                csrf: None,
            }),
            Err(refusal) => refused(refusal),
        }
    }

    /// [`postern_ipc::auth::AuthRequest::AdminLogout`].
    pub(super) async fn admin_logout(&self, token: Secret<String>) -> AuthResponse {
        let hash = token_hash(&token.0);
        match self
            .shared
            .database
            .call(move |store| store.admin_session_remove(&hash))
            .await
        {
            Ok(()) => AuthResponse::Done,
            Err(e) => refused(store_refusal(e)),
        }
    }

    /// [`postern_ipc::auth::AuthRequest::Admin`]: the admin socket's handlers behind an
    /// admin session.
    pub(super) async fn admin(&self, auth: WebAuth, request: AdminRequest) -> AuthResponse {
        if let Err(refusal) = self
            .authorize(&auth, Wanted::Admin, request.changes_state())
            .await
        {
            return refused(refusal);
        }
        match request {
            AdminRequest::Hello { .. } => refused(WebRefusal::Rejected(
                "Hello belongs to the admin socket's greeting".into(),
            )),
            AdminRequest::AdminPasswordSet { .. } => refused(WebRefusal::Rejected(
                "the admin password is set on the server: postern admin password".into(),
            )),
            request => AuthResponse::Admin(
                super::admin_socket::handle(self.shared, request, self.caller_uid).await,
            ),
        }
    }

    /// [`postern_ipc::auth::AuthRequest::MailTicket`].
    pub(super) async fn mail_ticket(
        &self,
        auth: WebAuth,
        purpose: MailPurpose,
        account: Option<String>,
    ) -> AuthResponse {
        let account = match self.authorize(&auth, Wanted::Either, true).await {
            Err(refusal) => return refused(refusal),
            Ok(Session::Account { record, .. }) => match account {
                Some(asked) if normalize_login_name(&asked) != record.account => {
                    tracing::warn!(account = %record.account, ?asked, "ticket for another account refused");
                    return refused(WebRefusal::NotPermitted);
                }
                _ => record.account,
            },
            Ok(Session::Admin) => match account {
                Some(account) => account,
                None => {
                    return refused(WebRefusal::Rejected(
                        "an admin session must name the account".into(),
                    ));
                }
            },
        };
        match super::tickets::issue(self.shared, &account, purpose, self.caller_uid).await {
            Ok(ticket) => AuthResponse::MailTicket(ticket),
            Err(e @ super::tickets::TicketError::UnknownAccount(_)) => {
                refused(WebRefusal::Rejected(e.to_string()))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot issue a mail-access ticket");
                refused(WebRefusal::Temporary)
            }
        }
    }
}

/// The user agent and address a session is stored with.
fn client_facts(connection: &ConnectionInfo) -> (String, String) {
    (
        connection.user_agent.clone().unwrap_or_default(),
        connection.remote_ip.to_canonical().to_string(),
    )
}

fn parse_fingerprint(text: &str) -> Result<KeyFingerprint, WebRefusal> {
    crate::tls_key::parse_fingerprint(text).map_err(WebRefusal::Rejected)
}
