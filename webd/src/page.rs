//! How a failed page request is answered: a small HTML page with the right status —
//! the login page for a missing session, 429 when the limiter refuses, 503 when authd
//! cannot be reached, 403 for CSRF and permission refusals.

use axum::response::{Html, IntoResponse, Redirect, Response};
use http::StatusCode;
use postern_ipc::auth::RequestError;
use postern_ipc::web::WebRefusal;

use crate::authd::AuthdError;
use crate::cookies::Area;
use crate::templates::{ErrorPage, render};

/// Why a page could not be shown or a change not made.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// authd refused the request as a whole.
    #[error("{1}")]
    Refused(Area, WebRefusal),
    /// authd could not be asked.
    #[error("authd: {0}")]
    Authd(#[from] AuthdError),
    /// authd refused the call itself (caller uid, protocol, misuse).
    #[error("authd refused the request: {0}")]
    Request(RequestError),
    /// authd answered with something this page did not ask for.
    #[error("unexpected answer from authd")]
    Unexpected,
    /// The form was incomplete or wrong; the message is for the user.
    #[error("{0}")]
    BadForm(String),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::Refused(_, refusal) => match refusal {
                WebRefusal::NoSession => StatusCode::UNAUTHORIZED,
                WebRefusal::Csrf | WebRefusal::NotPermitted => StatusCode::FORBIDDEN,
                WebRefusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                WebRefusal::LoginDisabled { .. } | WebRefusal::BadCredentials => {
                    StatusCode::FORBIDDEN
                }
                WebRefusal::Rejected(_) => StatusCode::BAD_REQUEST,
                WebRefusal::Temporary => StatusCode::SERVICE_UNAVAILABLE,
            },
            PageError::Authd(_) | PageError::Request(RequestError::Temporary(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            PageError::Request(_) | PageError::Unexpected => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::BadForm(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn title(&self) -> &'static str {
        match self.status() {
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::SERVICE_UNAVAILABLE => "Try again later",
            StatusCode::FORBIDDEN => "Refused",
            StatusCode::BAD_REQUEST => "Not done",
            _ => "Error",
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let area = match &self {
            PageError::Refused(area, WebRefusal::NoSession) => {
                return Redirect::to(area.login_path()).into_response();
            }
            PageError::Refused(area, _) => *area,
            _ => Area::Account,
        };
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(daemon = "webd", "page failed: {self}");
        }
        let message = match &self {
            PageError::Authd(_) | PageError::Request(_) | PageError::Unexpected => {
                "The server could not answer; try again later.".to_string()
            }
            PageError::Refused(_, WebRefusal::RateLimited) => {
                "Too many failed logins came from your network. Wait a while, then try again."
                    .to_string()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            title: self.title(),
            message,
            back: area.home_path(),
        };
        (status, Html(render(&page))).into_response()
    }
}
