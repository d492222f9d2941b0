//! postern's web daemon: the account pages (a user's addresses, password, TLS client
//! keys, login history and web sessions) and the admin pages (accounts, addresses,
//! keys, login history, rate-limit blocks), and mail export downloads, server-rendered
//! HTML without script.
//!
//! webd holds nothing persistent and no credential: every page asks authd over the auth
//! socket, passing the session token from the browser's cookie and, for a change, the
//! CSRF token from the form; authd decides (DESIGN.md invariant 4). Listeners:
//! account pages at `/` of the HTTPS and plain-HTTP listeners, admin pages at `/admin/`
//! of the admin listeners (loopback by default) and, when configured, of the account
//! listeners too.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account_pages;
pub mod admin_pages;
pub mod authd;
pub mod client;
pub mod cookies;
pub mod export;
pub mod page;
pub mod security;
pub mod server;
mod templates;

use std::sync::Arc;

use axum::Router;
use postern_config::{Config, Network};

/// What every request handler shares: how to reach authd and whom to believe about
/// forwarded requests.
#[derive(Debug)]
pub struct App {
    /// The auth socket.
    pub authd: authd::Authd,
    /// Reverse proxies whose `X-Forwarded-For` / `-Proto` are believed.
    pub trusted_proxies: Vec<Network>,
    /// imapd's store socket (exports).
    pub store_socket: std::path::PathBuf,
}

impl App {
    /// The shared state for `config`.
    pub fn new(config: &Config) -> Result<App, String> {
        let trusted_proxies = config
            .webd
            .trusted_proxies
            .iter()
            .map(|net| Network::parse(net))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(App {
            authd: authd::Authd::new(config.auth_socket()),
            trusted_proxies,
            store_socket: config.store_socket(),
        })
    }
}

/// Which pages a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// Account pages over HTTPS (socket name `web-https`).
    Https,
    /// Account pages over plain HTTP (socket name `web-http`).
    Http,
    /// Admin pages over plain HTTP (socket name `web-admin`).
    Admin,
}

impl Listener {
    /// The socket-activation name of this kind of listener.
    pub fn socket_name(self) -> &'static str {
        match self {
            Listener::Https => "web-https",
            Listener::Http => "web-http",
            Listener::Admin => "web-admin",
        }
    }
}

/// The routers of the listener kinds.
#[derive(Clone, Debug)]
pub struct Routers {
    /// For [`Listener::Https`] and [`Listener::Http`].
    pub account: Router,
    /// For [`Listener::Admin`].
    pub admin: Router,
}

impl Routers {
    /// Builds the routers; `admin_on_account` also puts the admin pages under
    /// `/admin/` of the account listeners.
    pub fn new(app: Arc<App>, admin_on_account: bool) -> Routers {
        let account_pages = account_pages::routes();
        let admin_pages = admin_pages::routes();
        let account = if admin_on_account {
            account_pages.merge(admin_pages.clone())
        } else {
            account_pages
        };
        let admin = admin_pages.route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::to("/admin/") }),
        );
        Routers {
            account: security::protect(account.with_state(app.clone())),
            admin: security::protect(admin.with_state(app)),
        }
    }

    /// The router serving `listener`.
    pub fn for_listener(&self, listener: Listener) -> Router {
        match listener {
            Listener::Https | Listener::Http => self.account.clone(),
            Listener::Admin => self.admin.clone(),
        }
    }
}
