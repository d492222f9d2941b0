//! The account pages at `/`: login and logout, the overview (addresses, recent login
//! attempts), password change, TLS public keys, the full login history and the
//! account's web sessions. Every request goes to authd with the browser's session
//! token; every change also with the form's CSRF token.

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use http::{StatusCode, header};
use postern_ipc::auth::{AuthRequest, AuthResponse, WebSessionReply};
use postern_ipc::web::{
    AccountRequest, AccountResponse, RECENT_LOGIN_ATTEMPTS, WebAuth, WebRefusal,
};
use postern_ipc::{AuthFailure, Secret};
use serde::Deserialize;

use crate::App;
use crate::client::Client;
use crate::cookies::{self, Area};
use crate::export::ExportForm;
use crate::page::PageError;
use crate::security::{MAX_FORM_BODY, MAX_REQUEST_BODY, body_limit};
use crate::templates::{
    AttemptsPage, ExportPage, KeyRow, KeysPage, LoginPage, OverviewPage, PasswordPage, SessionRow,
    SessionsPage, attempt_rows, render,
};

/// The style sheet of every page.
pub const STYLE_SHEET: &str = include_str!("../static/style.css");
/// The largest certificate taken from a form field or uploaded file.
pub const MAX_CERTIFICATE_PEM: usize = 32 * 1024;

/// The account pages' routes (state: [`App`]).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(overview))
        .route(
            "/login",
            get(login_page).post(login).layer(body_limit(MAX_FORM_BODY)),
        )
        .route("/logout", post(logout).layer(body_limit(MAX_FORM_BODY)))
        .route(
            "/password",
            get(password_page)
                .post(change_password)
                .layer(body_limit(MAX_FORM_BODY)),
        )
        .route("/keys", get(keys_page))
        .route(
            "/keys/add",
            post(key_add).layer(body_limit(MAX_REQUEST_BODY)),
        )
        .route(
            "/keys/update",
            post(key_update).layer(body_limit(MAX_FORM_BODY)),
        )
        .route(
            "/keys/remove",
            post(key_remove).layer(body_limit(MAX_FORM_BODY)),
        )
        .route("/login-attempts", get(all_attempts))
        .route("/sessions", get(sessions_page))
        .route(
            "/sessions/revoke",
            post(session_revoke).layer(body_limit(MAX_FORM_BODY)),
        )
        .route(
            "/export",
            get(export_page)
                .post(export_download)
                .layer(body_limit(MAX_FORM_BODY)),
        )
        .route("/static/style.css", get(style_sheet))
}

/// Serves [`STYLE_SHEET`], cacheable.
pub async fn style_sheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE_SHEET,
    )
        .into_response()
}

/// What a change page says after it redirected back (`?done=…`): fixed texts only, so
/// nothing from the URL is ever shown.
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

const NOTICES: &[(&str, &str)] = &[
    (
        "password",
        "Your password is changed. Your other web sessions have ended.",
    ),
    ("key-added", "The key is registered."),
    ("key-updated", "The key is changed."),
    ("key-removed", "The key is removed."),
    ("session-ended", "The session has ended."),
    ("account-added", "The account is added."),
    ("account-removed", "The account is removed."),
    (
        "password-set",
        "The password is set; the account's web sessions have ended.",
    ),
    ("disabled", "Login is disabled."),
    ("enabled", "Login is enabled."),
    ("address-added", "The address is added."),
    ("address-removed", "The address is removed."),
    ("blocks-lifted", "The blocks are lifted."),
];

impl Done {
    /// A `Done` from the `done` query value.
    pub fn from_code(done: Option<String>) -> Done {
        Done { done }
    }

    /// The notice to show, if the code is known.
    pub fn notice(&self) -> Option<&'static str> {
        let code = self.done.as_deref()?;
        NOTICES.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
    }
}

/// The logged-in session of a page view: what authd needs, and the CSRF token for the
/// page's forms.
struct View {
    auth: WebAuth,
    csrf: String,
}

fn view(jar: &CookieJar, client: &Client) -> Result<View, PageError> {
    let auth = cookies::web_auth(jar, Area::Account, client, None)
        .ok_or(PageError::Refused(Area::Account, WebRefusal::NoSession))?;
    let csrf = cookies::csrf_token(jar, Area::Account, client).unwrap_or_default();
    Ok(View { auth, csrf })
}

fn change(jar: &CookieJar, client: &Client, csrf: String) -> Result<WebAuth, PageError> {
    cookies::web_auth(jar, Area::Account, client, Some(csrf))
        .ok_or(PageError::Refused(Area::Account, WebRefusal::NoSession))
}

/// Sends an account request to authd.
async fn ask(
    app: &App,
    auth: WebAuth,
    request: AccountRequest,
) -> Result<AccountResponse, PageError> {
    match app
        .authd
        .call(AuthRequest::Account { auth, request })
        .await?
    {
        AuthResponse::Account(response) => Ok(response),
        AuthResponse::WebRefused(refusal) => Err(PageError::Refused(Area::Account, refusal)),
        AuthResponse::Error(e) => Err(PageError::Request(e)),
        _ => Err(PageError::Unexpected),
    }
}

struct Overview {
    account: String,
    login_address: String,
    addresses: Vec<String>,
}

async fn overview_of(app: &App, auth: &WebAuth) -> Result<Overview, PageError> {
    match ask(app, auth.clone(), AccountRequest::Overview).await? {
        AccountResponse::Overview(o) => Ok(Overview {
            account: o.account,
            login_address: o.login_address,
            addresses: o.addresses,
        }),
        _ => Err(PageError::Unexpected),
    }
}

async fn attempts_of(
    app: &App,
    auth: &WebAuth,
    limit: Option<u32>,
) -> Result<Vec<postern_ipc::LoginAttempt>, PageError> {
    match ask(app, auth.clone(), AccountRequest::LoginAttempts { limit }).await? {
        AccountResponse::LoginAttempts(list) => Ok(list),
        _ => Err(PageError::Unexpected),
    }
}

fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

async fn overview(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    let attempts = attempts_of(&app, &v.auth, Some(RECENT_LOGIN_ATTEMPTS)).await?;
    let more_attempts = attempts.len() >= RECENT_LOGIN_ATTEMPTS as usize;
    Ok(Html(render(&OverviewPage {
        csrf: v.csrf,
        login_address: o.login_address,
        notice: done.notice(),
        account: o.account,
        addresses: o.addresses,
        attempts: attempt_rows(attempts),
        show_account: false,
        more_attempts,
    }))
    .into_response())
}

fn login_form(error: Option<String>) -> LoginPage {
    LoginPage {
        title: "Log in to your account",
        action: "/login",
        admin: false,
        error,
    }
}

async fn login_page() -> Html<String> {
    Html(render(&login_form(None)))
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    address: String,
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    // One session per browser: a new login ends the one this browser had.
    if let Some(old) = cookies::session_token(&jar, Area::Account, &client) {
        let _ = app
            .authd
            .call(AuthRequest::WebLogout { token: Secret(old) })
            .await;
    }
    let reply = app
        .authd
        .call(AuthRequest::WebLogin {
            username: form.address.trim().to_string(),
            password: Secret(form.password),
            connection: client.connection.clone(),
        })
        .await?;
    let failure = match reply {
        AuthResponse::WebSession(WebSessionReply::Valid {
            account,
            token: Some(token),
            csrf: Some(csrf),
            ..
        }) => {
            tracing::info!(daemon = "webd", connection = client.connection_id, %account, "web login");
            let jar = cookies::set_session(jar, Area::Account, &client, token.0, csrf.0);
            return Ok((jar, see_other("/")).into_response());
        }
        AuthResponse::WebSession(WebSessionReply::Invalid(failure)) => failure,
        AuthResponse::WebRefused(refusal) => {
            return Err(PageError::Refused(Area::Account, refusal));
        }
        AuthResponse::Error(e) => return Err(PageError::Request(e)),
        _ => return Err(PageError::Unexpected),
    };
    let jar = cookies::clear_session(jar, Area::Account, &client);
    let message = match failure {
        AuthFailure::RateLimited => {
            return Ok((
                jar,
                PageError::Refused(Area::Account, WebRefusal::RateLimited),
            )
                .into_response());
        }
        AuthFailure::TemporaryFailure => {
            return Ok((
                jar,
                PageError::Refused(Area::Account, WebRefusal::Temporary),
            )
                .into_response());
        }
        AuthFailure::LoginDisabled { message } => format!("Login is disabled: {message}"),
        _ => "Wrong address or password.".to_string(),
    };
    Ok((
        StatusCode::FORBIDDEN,
        jar,
        Html(render(&login_form(Some(message)))),
    )
        .into_response())
}

async fn logout(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, PageError> {
    if let Some(token) = cookies::session_token(&jar, Area::Account, &client) {
        app.authd
            .call(AuthRequest::WebLogout {
                token: Secret(token),
            })
            .await?;
    }
    let jar = cookies::clear_session(jar, Area::Account, &client);
    Ok((jar, see_other("/login")).into_response())
}

async fn password_page(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    Ok(Html(render(&PasswordPage {
        csrf: v.csrf,
        login_address: o.login_address,
        notice: done.notice(),
    }))
    .into_response())
}

/// The password change form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    repeat: String,
}

async fn change_password(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let auth = change(&jar, &client, form.csrf)?;
    if form.new != form.repeat {
        return Err(PageError::BadForm(
            "The two new passwords differ; nothing was changed.".into(),
        ));
    }
    ask(
        &app,
        auth,
        AccountRequest::ChangePassword {
            current: Secret(form.current),
            new: Secret(form.new),
        },
    )
    .await
    .map_err(|e| match e {
        PageError::Refused(area, WebRefusal::BadCredentials) => PageError::Refused(
            area,
            WebRefusal::Rejected("The current password is wrong; nothing was changed.".into()),
        ),
        other => other,
    })?;
    tracing::info!(
        daemon = "webd",
        connection = client.connection_id,
        "password changed"
    );
    Ok(see_other("/password?done=password"))
}

async fn keys_page(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    let keys = match ask(&app, v.auth.clone(), AccountRequest::TlsPublicKeys).await? {
        AccountResponse::TlsPublicKeys(keys) => keys,
        _ => return Err(PageError::Unexpected),
    };
    Ok(Html(render(&KeysPage {
        csrf: v.csrf,
        login_address: o.login_address,
        notice: done.notice(),
        keys: keys.into_iter().map(KeyRow::from).collect(),
        addresses: o.addresses,
    }))
    .into_response())
}

/// The fields of the key upload form (multipart: the certificate may be a file).
#[derive(Debug, Default)]
struct KeyAddForm {
    csrf: String,
    certificate: String,
    login_address: Option<String>,
    name: Option<String>,
    no_imap_preauth: bool,
}

async fn read_key_add_form(mut multipart: Multipart) -> Result<KeyAddForm, PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::BadForm(format!("the form could not be read: {}", e.body_text()))
    };
    let mut form = KeyAddForm::default();
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field.bytes().await.map_err(bad)?;
        if bytes.len() > MAX_CERTIFICATE_PEM {
            return Err(PageError::BadForm(format!(
                "the field {name} is larger than {MAX_CERTIFICATE_PEM} bytes"
            )));
        }
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        match name.as_str() {
            "csrf" => form.csrf = text,
            "certificate_file" | "certificate_text" if !text.is_empty() => {
                if !form.certificate.is_empty() {
                    return Err(PageError::BadForm(
                        "Give the certificate either as a file or as text, not both.".into(),
                    ));
                }
                form.certificate = text;
            }
            "login_address" if !text.is_empty() => form.login_address = Some(text),
            "name" if !text.is_empty() => form.name = Some(text),
            "no_imap_preauth" => form.no_imap_preauth = true,
            _ => {}
        }
    }
    if form.certificate.is_empty() {
        return Err(PageError::BadForm(
            "No certificate given: choose the .certificate.pem file or paste it.".into(),
        ));
    }
    Ok(form)
}

async fn key_add(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let form = read_key_add_form(multipart).await?;
    let auth = change(&jar, &client, form.csrf)?;
    match ask(
        &app,
        auth,
        AccountRequest::TlsPublicKeyAdd {
            certificate_pem: form.certificate,
            login_address: form.login_address,
            name: form.name,
            no_imap_preauth: form.no_imap_preauth,
        },
    )
    .await?
    {
        AccountResponse::TlsPublicKeyAdded(key) => {
            tracing::info!(daemon = "webd", connection = client.connection_id, fingerprint = %key.fingerprint, "tls key added");
            Ok(see_other("/keys?done=key-added"))
        }
        _ => Err(PageError::Unexpected),
    }
}

/// The key update form.
#[derive(Deserialize)]
pub struct KeyUpdateForm {
    #[serde(default)]
    csrf: String,
    fingerprint: String,
    name: String,
    login_address: String,
    no_imap_preauth: Option<String>,
}

async fn key_update(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<KeyUpdateForm>,
) -> Result<Response, PageError> {
    let auth = change(&jar, &client, form.csrf)?;
    ask(
        &app,
        auth,
        AccountRequest::TlsPublicKeyUpdate {
            fingerprint: form.fingerprint,
            name: form.name,
            login_address: form.login_address,
            no_imap_preauth: form.no_imap_preauth.is_some(),
        },
    )
    .await?;
    Ok(see_other("/keys?done=key-updated"))
}

/// The key removal form.
#[derive(Deserialize)]
pub struct KeyRemoveForm {
    #[serde(default)]
    csrf: String,
    fingerprint: String,
}

async fn key_remove(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<KeyRemoveForm>,
) -> Result<Response, PageError> {
    let auth = change(&jar, &client, form.csrf)?;
    ask(
        &app,
        auth,
        AccountRequest::TlsPublicKeyRemove {
            fingerprint: form.fingerprint,
        },
    )
    .await?;
    Ok(see_other("/keys?done=key-removed"))
}

async fn all_attempts(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    let attempts = attempts_of(&app, &v.auth, None).await?;
    Ok(Html(render(&AttemptsPage {
        csrf: v.csrf,
        login_address: o.login_address,
        admin: false,
        heading: format!("All login attempts of {}", o.account),
        attempts: attempt_rows(attempts),
        show_account: false,
    }))
    .into_response())
}

async fn sessions_page(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    let sessions = match ask(&app, v.auth.clone(), AccountRequest::WebSessions).await? {
        AccountResponse::WebSessions(list) => list,
        _ => return Err(PageError::Unexpected),
    };
    Ok(Html(render(&SessionsPage {
        csrf: v.csrf,
        login_address: o.login_address,
        notice: done.notice(),
        sessions: sessions.into_iter().map(SessionRow::from).collect(),
    }))
    .into_response())
}

/// The session revocation form.
#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    id: i64,
}

async fn session_revoke(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    let auth = change(&jar, &client, form.csrf)?;
    let sessions = match ask(&app, auth.clone(), AccountRequest::WebSessions).await? {
        AccountResponse::WebSessions(list) => list,
        _ => return Err(PageError::Unexpected),
    };
    let current = sessions.iter().any(|s| s.id == form.id && s.current);
    ask(&app, auth, AccountRequest::WebSessionRevoke { id: form.id }).await?;
    if current {
        let jar = cookies::clear_session(jar, Area::Account, &client);
        return Ok((jar, see_other("/login")).into_response());
    }
    Ok(see_other("/sessions?done=session-ended"))
}

async fn export_page(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let v = view(&jar, &client)?;
    let o = overview_of(&app, &v.auth).await?;
    Ok(Html(render(&ExportPage {
        csrf: v.csrf,
        login_address: o.login_address,
    }))
    .into_response())
}

async fn export_download(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<ExportForm>,
) -> Result<Response, PageError> {
    let auth = change(&jar, &client, form.csrf.clone())?;
    crate::export::download(&app, Area::Account, auth, None, &form).await
}
