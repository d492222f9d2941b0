//! The admin pages at `/admin/`: login with the admin password (an admin session that
//! authd creates), accounts (list, add, remove after confirmation, set password,
//! disable with a message, enable), addresses, an account's TLS keys, login attempts of
//! all accounts or one, and the rate-limit blocks. Each page is answered by authd's
//! admin handlers, reached through the auth socket with the admin session.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::CookieJar;
use http::StatusCode;
use postern_ipc::Secret;
use postern_ipc::admin::{AdminRequest, AdminResponse};
use postern_ipc::auth::{AuthRequest, AuthResponse};
use postern_ipc::web::{AdminSession, RECENT_LOGIN_ATTEMPTS, WebAuth, WebRefusal};
use serde::Deserialize;

use crate::App;
use crate::account_pages::Done;
use crate::client::Client;
use crate::cookies::{self, Area};
use crate::page::PageError;
use crate::security::{MAX_FORM_BODY, body_limit};
use crate::templates::{
    AccountRow, AdminAccountPage, AdminHomePage, AdminRemovePage, AttemptsPage, BlockRow, KeyRow,
    LoginPage, attempt_rows, render,
};

/// The admin pages' routes, all below `/admin/` (state: [`App`]).
pub fn routes() -> Router<Arc<App>> {
    let form = || body_limit(MAX_FORM_BODY);
    Router::new()
        .route("/admin/", get(home))
        .route("/admin", get(|| async { Redirect::to("/admin/") }))
        .route("/admin/login", get(login_page).post(login).layer(form()))
        .route("/admin/logout", post(logout).layer(form()))
        .route("/admin/accounts/add", post(account_add).layer(form()))
        .route("/admin/account", get(account_page))
        .route("/admin/account/password", post(set_password).layer(form()))
        .route("/admin/account/disable", post(disable).layer(form()))
        .route("/admin/account/enable", post(enable).layer(form()))
        .route(
            "/admin/account/address-add",
            post(address_add).layer(form()),
        )
        .route(
            "/admin/account/address-remove",
            post(address_remove).layer(form()),
        )
        .route("/admin/account/key-remove", post(key_remove).layer(form()))
        .route(
            "/admin/account/remove",
            get(remove_page).post(remove).layer(form()),
        )
        .route("/admin/account/export", post(export_download).layer(form()))
        .route("/admin/login-attempts", get(all_attempts))
        .route(
            "/admin/ratelimit/clear",
            post(ratelimit_clear).layer(form()),
        )
}

fn session(jar: &CookieJar, client: &Client, csrf: Option<String>) -> Result<WebAuth, PageError> {
    cookies::web_auth(jar, Area::Admin, client, csrf)
        .ok_or(PageError::Refused(Area::Admin, WebRefusal::NoSession))
}

/// A page view: the session, and the CSRF token for its forms.
fn view(jar: &CookieJar, client: &Client) -> Result<(WebAuth, String), PageError> {
    let auth = session(jar, client, None)?;
    Ok((
        auth,
        cookies::csrf_token(jar, Area::Admin, client).unwrap_or_default(),
    ))
}

/// Sends an admin request through the auth socket with the admin session.
async fn ask(app: &App, auth: WebAuth, request: AdminRequest) -> Result<AdminResponse, PageError> {
    match app.authd.call(AuthRequest::Admin { auth, request }).await? {
        AuthResponse::Admin(AdminResponse::Error(message)) => Err(PageError::Refused(
            Area::Admin,
            WebRefusal::Rejected(message),
        )),
        AuthResponse::Admin(response) => Ok(response),
        AuthResponse::WebRefused(refusal) => Err(PageError::Refused(Area::Admin, refusal)),
        AuthResponse::Error(e) => Err(PageError::Request(e)),
        _ => Err(PageError::Unexpected),
    }
}

/// Sends a change; authd answers `Done`.
async fn change(app: &App, auth: WebAuth, request: AdminRequest) -> Result<(), PageError> {
    match ask(app, auth, request).await? {
        AdminResponse::Done => Ok(()),
        _ => Err(PageError::Unexpected),
    }
}

async fn accounts(
    app: &App,
    auth: &WebAuth,
) -> Result<Vec<postern_ipc::AccountSummary>, PageError> {
    match ask(app, auth.clone(), AdminRequest::AccountList).await? {
        AdminResponse::Accounts(list) => Ok(list),
        _ => Err(PageError::Unexpected),
    }
}

async fn attempts(
    app: &App,
    auth: &WebAuth,
    account: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<postern_ipc::LoginAttempt>, PageError> {
    match ask(
        app,
        auth.clone(),
        AdminRequest::LoginAttempts { account, limit },
    )
    .await?
    {
        AdminResponse::LoginAttempts(list) => Ok(list),
        _ => Err(PageError::Unexpected),
    }
}

fn login_form(error: Option<String>) -> LoginPage {
    LoginPage {
        title: "Admin login",
        action: "/admin/login",
        admin: true,
        error,
    }
}

async fn login_page() -> Html<String> {
    Html(render(&login_form(None)))
}

/// The admin login form.
#[derive(Deserialize)]
pub struct AdminLoginForm {
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AdminLoginForm>,
) -> Result<Response, PageError> {
    if let Some(old) = cookies::session_token(&jar, Area::Admin, &client) {
        let _ = app
            .authd
            .call(AuthRequest::AdminLogout { token: Secret(old) })
            .await;
    }
    let reply = app
        .authd
        .call(AuthRequest::AdminLogin {
            password: Secret(form.password),
            connection: client.connection.clone(),
        })
        .await?;
    match reply {
        AuthResponse::AdminSession(AdminSession {
            token: Some(token),
            csrf: Some(csrf),
        }) => {
            tracing::info!(
                daemon = "webd",
                connection = client.connection_id,
                account = "admin",
                "admin login"
            );
            let jar = cookies::set_session(jar, Area::Admin, &client, token.0, csrf.0);
            Ok((jar, Redirect::to("/admin/")).into_response())
        }
        AuthResponse::WebRefused(WebRefusal::BadCredentials) => {
            let jar = cookies::clear_session(jar, Area::Admin, &client);
            Ok((
                StatusCode::FORBIDDEN,
                jar,
                Html(render(&login_form(Some("Wrong admin password.".into())))),
            )
                .into_response())
        }
        AuthResponse::WebRefused(refusal) => Err(PageError::Refused(Area::Admin, refusal)),
        AuthResponse::Error(e) => Err(PageError::Request(e)),
        _ => Err(PageError::Unexpected),
    }
}

async fn logout(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
) -> Result<Response, PageError> {
    if let Some(token) = cookies::session_token(&jar, Area::Admin, &client) {
        app.authd
            .call(AuthRequest::AdminLogout {
                token: Secret(token),
            })
            .await?;
    }
    let jar = cookies::clear_session(jar, Area::Admin, &client);
    Ok((jar, Redirect::to("/admin/login")).into_response())
}

async fn home(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let (auth, csrf) = view(&jar, &client)?;
    let list = accounts(&app, &auth).await?;
    let blocks = match ask(&app, auth.clone(), AdminRequest::RateLimitList).await? {
        AdminResponse::RateLimits(list) => list,
        _ => return Err(PageError::Unexpected),
    };
    let recent = attempts(&app, &auth, None, Some(RECENT_LOGIN_ATTEMPTS)).await?;
    Ok(Html(render(&AdminHomePage {
        csrf,
        notice: done.notice(),
        accounts: list.into_iter().map(AccountRow::from).collect(),
        blocks: blocks.into_iter().map(BlockRow::from).collect(),
        attempts: attempt_rows(recent),
        show_account: true,
    }))
    .into_response())
}

/// The account creation form.
#[derive(Deserialize)]
pub struct AccountAddForm {
    #[serde(default)]
    csrf: String,
    account: String,
    address: String,
    #[serde(default)]
    password: String,
}

async fn account_add(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountAddForm>,
) -> Result<Response, PageError> {
    let auth = session(&jar, &client, Some(form.csrf))?;
    let account = form.account.trim().to_string();
    change(
        &app,
        auth.clone(),
        AdminRequest::AccountAdd {
            account: account.clone(),
            address: form.address.trim().to_string(),
        },
    )
    .await?;
    tracing::info!(daemon = "webd", connection = client.connection_id, %account, "account added");
    if !form.password.is_empty() {
        change(
            &app,
            auth,
            AdminRequest::AccountSetPassword {
                account: account.clone(),
                password: Secret(form.password),
            },
        )
        .await?;
    }
    Ok(Redirect::to(&account_url(&account, "account-added")).into_response())
}

/// `/admin/account?name=…&done=…`.
fn account_url(account: &str, done: &str) -> String {
    let mut url = String::from("/admin/account?name=");
    url.push_str(&percent_encode(account));
    url.push_str("&done=");
    url.push_str(done);
    url
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The account named in a page's query.
#[derive(Deserialize)]
pub struct NameQuery {
    name: String,
    done: Option<String>,
}

async fn account_page(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(query): Query<NameQuery>,
) -> Result<Response, PageError> {
    let (auth, csrf) = view(&jar, &client)?;
    let summary = accounts(&app, &auth)
        .await?
        .into_iter()
        .find(|a| a.name == query.name)
        .ok_or_else(|| {
            PageError::Refused(Area::Admin, WebRefusal::Rejected("no such account".into()))
        })?;
    let keys = match ask(
        &app,
        auth.clone(),
        AdminRequest::TlsPublicKeyList {
            account: Some(summary.name.clone()),
        },
    )
    .await?
    {
        AdminResponse::TlsPublicKeys(keys) => keys,
        _ => return Err(PageError::Unexpected),
    };
    let recent = attempts(
        &app,
        &auth,
        Some(summary.name.clone()),
        Some(RECENT_LOGIN_ATTEMPTS),
    )
    .await?;
    let done = Done::from_code(query.done);
    Ok(Html(render(&AdminAccountPage {
        csrf,
        notice: done.notice(),
        addresses: summary.addresses.clone(),
        account: AccountRow::from(summary),
        keys: keys.into_iter().map(KeyRow::from).collect(),
        attempts: attempt_rows(recent),
        show_account: false,
    }))
    .into_response())
}

/// A change of one account.
#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(default)]
    csrf: String,
    account: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    fingerprint: String,
    #[serde(default)]
    confirm: Option<String>,
}

async fn account_change(
    app: &App,
    client: &Client,
    jar: &CookieJar,
    form: AccountForm,
    make: impl FnOnce(&AccountForm) -> Result<AdminRequest, PageError>,
    done: &str,
) -> Result<Response, PageError> {
    let request = make(&form)?;
    let auth = session(jar, client, Some(form.csrf.clone()))?;
    change(app, auth, request).await?;
    tracing::info!(daemon = "webd", connection = client.connection_id, account = %form.account, done, "admin change");
    Ok(Redirect::to(&account_url(&form.account, done)).into_response())
}

async fn set_password(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            Ok(AdminRequest::AccountSetPassword {
                account: f.account.clone(),
                password: Secret(f.password.clone()),
            })
        },
        "password-set",
    )
    .await
}

async fn disable(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            let message = f.message.trim();
            if message.is_empty() {
                return Err(PageError::BadForm(
                    "Give the message the user sees when a login is refused.".into(),
                ));
            }
            Ok(AdminRequest::AccountSetDisabled {
                account: f.account.clone(),
                disabled: Some(message.to_string()),
            })
        },
        "disabled",
    )
    .await
}

async fn enable(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            Ok(AdminRequest::AccountSetDisabled {
                account: f.account.clone(),
                disabled: None,
            })
        },
        "enabled",
    )
    .await
}

async fn address_add(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            Ok(AdminRequest::AddressAdd {
                address: f.address.trim().to_string(),
                account: f.account.clone(),
            })
        },
        "address-added",
    )
    .await
}

async fn address_remove(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    // The address must be the account's: the form names both.
    let auth = session(&jar, &client, None)?;
    let owns = accounts(&app, &auth)
        .await?
        .iter()
        .any(|a| a.name == form.account && a.addresses.contains(&form.address));
    if !owns {
        return Err(PageError::BadForm(format!(
            "{} is not an address of {}",
            form.address, form.account
        )));
    }
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            Ok(AdminRequest::AddressRemove {
                address: f.address.clone(),
            })
        },
        "address-removed",
    )
    .await
}

async fn key_remove(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    account_change(
        &app,
        &client,
        &jar,
        form,
        |f| {
            Ok(AdminRequest::TlsPublicKeyRemove {
                fingerprint: f.fingerprint.clone(),
            })
        },
        "key-removed",
    )
    .await
}

async fn remove_page(
    client: Client,
    jar: CookieJar,
    Query(query): Query<NameQuery>,
) -> Result<Response, PageError> {
    let (_auth, csrf) = view(&jar, &client)?;
    Ok(Html(render(&AdminRemovePage {
        csrf,
        account: query.name,
    }))
    .into_response())
}

async fn remove(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<AccountForm>,
) -> Result<Response, PageError> {
    if form.confirm.is_none() {
        return Err(PageError::BadForm(
            "Tick the confirmation to remove the account.".into(),
        ));
    }
    let auth = session(&jar, &client, Some(form.csrf))?;
    change(
        &app,
        auth,
        AdminRequest::AccountRemove {
            account: form.account.clone(),
        },
    )
    .await?;
    tracing::info!(daemon = "webd", connection = client.connection_id, account = %form.account, "account removed");
    Ok(Redirect::to("/admin/?done=account-removed").into_response())
}

/// Whose login attempts to list.
#[derive(Deserialize)]
pub struct AttemptsQuery {
    account: Option<String>,
}

async fn all_attempts(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Query(query): Query<AttemptsQuery>,
) -> Result<Response, PageError> {
    let (auth, csrf) = view(&jar, &client)?;
    let account = query.account.filter(|a| !a.is_empty());
    let list = attempts(&app, &auth, account.clone(), None).await?;
    let heading = match &account {
        Some(a) => format!("All login attempts of {a}"),
        None => "All login attempts".to_string(),
    };
    Ok(Html(render(&AttemptsPage {
        csrf,
        login_address: String::new(),
        admin: true,
        heading,
        attempts: attempt_rows(list),
        show_account: account.is_none(),
    }))
    .into_response())
}

/// The form lifting rate-limit blocks.
#[derive(Deserialize)]
pub struct ClearForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    address: String,
}

async fn ratelimit_clear(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<ClearForm>,
) -> Result<Response, PageError> {
    let address = match form.address.trim() {
        "" => None,
        text => Some(
            text.parse::<IpAddr>()
                .map_err(|_| PageError::BadForm(format!("{text:?} is not an IP address")))?,
        ),
    };
    let auth = session(&jar, &client, Some(form.csrf))?;
    change(&app, auth, AdminRequest::RateLimitClear { address }).await?;
    Ok(Redirect::to("/admin/?done=blocks-lifted").into_response())
}

async fn export_download(
    State(app): State<Arc<App>>,
    client: Client,
    jar: CookieJar,
    Form(form): Form<crate::export::ExportForm>,
) -> Result<Response, PageError> {
    let auth = session(&jar, &client, Some(form.csrf.clone()))?;
    let account = form.account.clone();
    crate::export::download(&app, Area::Admin, auth, Some(account), &form).await
}
