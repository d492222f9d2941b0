//! What protects every page, in one place: the cross-origin check (tower-http's
//! `CsrfLayer`, Go's CrossOriginProtection: a browser's cross-site POST is refused
//! before any handler runs; authd's CSRF token is the second, session-bound check), the
//! response headers (a Content-Security-Policy without any script, no framing, no MIME
//! sniffing, no referrer, no caching of personal pages), the limits on request bodies
//! and the time a request may take.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{Html, IntoResponse as _};
use http::{HeaderValue, Response, StatusCode, header};
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::templates::{ErrorPage, render};

/// The Content-Security-Policy of every response: nothing but our own style sheet and
/// images, forms only to us, never in a frame, no script at all.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// The largest request body of any route (a TLS certificate upload).
pub const MAX_REQUEST_BODY: usize = 64 * 1024;
/// The largest body of an ordinary form (login, password, names).
pub const MAX_FORM_BODY: usize = 8 * 1024;
/// The longest time a request may take, from its head to the response.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest time a request body may take to arrive.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest time a request head may take to arrive, and the longest a kept-alive
/// connection may wait idle for the next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (request line and header fields) read.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The longest a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn cross_origin_refused(error: ProtectionError) -> Response<Body> {
    tracing::info!(daemon = "webd", "cross-origin request refused: {error:?}");
    let page = ErrorPage {
        title: "Refused",
        message: "This request came from another site and was refused. Open the page \
                  itself and send the form from there."
            .into(),
        back: "/",
    };
    (StatusCode::FORBIDDEN, Html(render(&page))).into_response()
}

/// `router` with the protections of every page.
pub fn protect(router: Router) -> Router {
    router
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CsrfLayer::new().with_rejection_response(cross_origin_refused))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// A layer limiting one route's body to `max` bytes (below [`MAX_REQUEST_BODY`]).
pub fn body_limit(max: usize) -> RequestBodyLimitLayer {
    RequestBodyLimitLayer::new(max)
}
