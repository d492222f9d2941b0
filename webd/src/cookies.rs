//! The cookies webd sets: for each area (account pages, admin pages) a session cookie
//! and a CSRF cookie, both HttpOnly, SameSite=Strict and Path=/; on HTTPS `Secure` and
//! named with the `__Host-` prefix, so no other host (a sibling subdomain) can set them.
//!
//! The CSRF cookie only carries the token to the next page render, which copies it into
//! its forms; a change is checked by authd against the form's copy, bound to the
//! session, never against the cookie.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use postern_ipc::Secret;
use postern_ipc::web::WebAuth;

use crate::client::Client;

/// The longest cookie value webd reads; a longer one counts as absent.
pub const MAX_COOKIE_VALUE: usize = 256;

/// Which pages a session belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The account pages.
    Account,
    /// The admin pages.
    Admin,
}

impl Area {
    fn base(self) -> &'static str {
        match self {
            Area::Account => "postern-session",
            Area::Admin => "postern-admin-session",
        }
    }

    fn csrf_base(self) -> &'static str {
        match self {
            Area::Account => "postern-csrf",
            Area::Admin => "postern-admin-csrf",
        }
    }

    /// Where this area's login page is.
    pub fn login_path(self) -> &'static str {
        match self {
            Area::Account => "/login",
            Area::Admin => "/admin/login",
        }
    }

    /// Where this area's first page is.
    pub fn home_path(self) -> &'static str {
        match self {
            Area::Account => "/",
            Area::Admin => "/admin/",
        }
    }
}

/// The cookie name for `base` on a connection that is HTTPS or not.
pub fn cookie_name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

fn read(jar: &CookieJar, name: &str) -> Option<String> {
    jar.get(name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_COOKIE_VALUE)
}

/// The session token of `area` from the request's cookies.
pub fn session_token(jar: &CookieJar, area: Area, client: &Client) -> Option<String> {
    read(jar, &cookie_name(area.base(), client.https))
}

/// The CSRF token of `area` from the request's cookies (to render into forms).
pub fn csrf_token(jar: &CookieJar, area: Area, client: &Client) -> Option<String> {
    read(jar, &cookie_name(area.csrf_base(), client.https))
}

/// The session as authd wants it, with the CSRF token a form sent (for a change).
pub fn web_auth(
    jar: &CookieJar,
    area: Area,
    client: &Client,
    csrf: Option<String>,
) -> Option<WebAuth> {
    Some(WebAuth {
        token: Secret(session_token(jar, area, client)?),
        csrf: csrf.map(Secret),
        connection: client.connection.clone(),
    })
}

fn cookie(name: String, value: String, https: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(https)
        .build()
}

/// `jar` with a new session of `area` (browser-session cookies: no expiry).
pub fn set_session(
    jar: CookieJar,
    area: Area,
    client: &Client,
    token: String,
    csrf: String,
) -> CookieJar {
    jar.add(cookie(
        cookie_name(area.base(), client.https),
        token,
        client.https,
    ))
    .add(cookie(
        cookie_name(area.csrf_base(), client.https),
        csrf,
        client.https,
    ))
}

/// `jar` with `area`'s cookies removed.
pub fn clear_session(jar: CookieJar, area: Area, client: &Client) -> CookieJar {
    let mut jar = jar;
    for base in [area.base(), area.csrf_base()] {
        let mut gone = cookie(cookie_name(base, client.https), String::new(), client.https);
        gone.make_removal();
        jar = jar.add(gone);
    }
    jar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_cookies_have_the_host_prefix() {
        assert_eq!(
            cookie_name("postern-session", true),
            "__Host-postern-session"
        );
        assert_eq!(cookie_name("postern-session", false), "postern-session");
        let c = cookie("n".into(), "v".into(), true);
        let text = c.to_string();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!text.contains("Domain"), "{text}");
    }
}
