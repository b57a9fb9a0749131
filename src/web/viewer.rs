//! Who is looking at a page and how they asked to see it: account or guest,
//! the matrix layout (compact or cards) and presenter mode. The access guard
//! opens a [`scope`] for every request, so the page layout can leave out
//! what the visitor cannot use without each handler passing it along. The
//! display preferences live in two cookies, set by `POST /preferences/view`.

use std::future::Future;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum_extra::extract::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::guard::cookie;
use crate::auth::{Principal, Via};

const LAYOUT_COOKIE: &str = "atlascope_layout";
const PRESENTER_COOKIE: &str = "atlascope_presenter";
/// A year: a display preference outlives any session.
const PREFERENCE_MAX_AGE: u32 = 365 * 24 * 3600;

/// How the matrix of a workshop draws its techniques.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatrixLayout {
    /// One small tile per technique: every tactic fits on a projector.
    #[default]
    Compact,
    /// One card per technique with its name and badges.
    Cards,
}

impl MatrixLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            MatrixLayout::Compact => "compact",
            MatrixLayout::Cards => "cards",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "compact" => Some(MatrixLayout::Compact),
            "cards" => Some(MatrixLayout::Cards),
            _ => None,
        }
    }
}

/// The visitor of the current request, as the page layout needs it.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// Signed in with an account through a session: account pages exist for them.
    pub account: bool,
    /// A workshop participant who joined through an invite.
    pub guest: bool,
    pub layout: MatrixLayout,
    /// Larger type and stronger contrast for a projector.
    pub presenter: bool,
    /// The path and query of the page, to come back to after a preference changes.
    pub here: String,
}

impl Viewer {
    pub fn of(principal: &Principal, uri: &Uri, headers: &HeaderMap) -> Self {
        Viewer {
            here: uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into()),
            account: matches!(principal, Principal::User { via: Via::Session { .. }, .. }),
            guest: matches!(principal, Principal::Participant { .. }),
            layout: cookie(headers, LAYOUT_COOKIE).and_then(MatrixLayout::parse).unwrap_or_default(),
            presenter: cookie(headers, PRESENTER_COOKIE) == Some("on"),
        }
    }
}

tokio::task_local! {
    static VIEWER: Viewer;
}

/// Runs a request's handler with its viewer in reach of [`current`].
pub async fn scope<F: Future>(viewer: Viewer, handler: F) -> F::Output {
    VIEWER.scope(viewer, handler).await
}

/// The viewer of the request being handled (the default outside one).
pub fn current() -> Viewer {
    VIEWER.try_with(Viewer::clone).unwrap_or_default()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/preferences/view", post(set_view))
}

#[derive(Debug, Deserialize)]
struct ViewForm {
    layout: Option<String>,
    presenter: Option<String>,
    /// The page to go back to.
    #[serde(default)]
    back: String,
}

/// `POST /preferences/view`: remembers a layout or presenter-mode choice in
/// this browser and goes back to the page it was made on.
async fn set_view(headers: HeaderMap, Form(form): Form<ViewForm>) -> Response {
    let back = super::auth::safe_next(&form.back);
    let mut response = Redirect::to(&back).into_response();
    let secure = if crate::auth::served_over_https(&headers) { "; Secure" } else { "" };
    let mut set = |name: &str, value: &str| {
        let cookie = format!("{name}={value}; Path=/; SameSite=Lax; Max-Age={PREFERENCE_MAX_AGE}{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    };
    if let Some(layout) = form.layout.as_deref().and_then(MatrixLayout::parse) {
        set(LAYOUT_COOKIE, layout.as_str());
    }
    match form.presenter.as_deref() {
        Some("on") => set(PRESENTER_COOKIE, "on"),
        Some("off") => set(PRESENTER_COOKIE, "off"),
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_are_read_from_their_cookies_and_default_to_compact() {
        let mut headers = HeaderMap::new();
        let uri = Uri::from_static("/systems/1?q=x");
        assert_eq!(Viewer::of(&Principal::Anonymous, &uri, &headers).layout, MatrixLayout::Compact);
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; atlascope_layout=cards; atlascope_presenter=on"));
        let viewer = Viewer::of(&Principal::Anonymous, &uri, &headers);
        assert_eq!(viewer.here, "/systems/1?q=x");
        assert_eq!(viewer.layout, MatrixLayout::Cards);
        assert!(viewer.presenter);
        assert!(!viewer.account && !viewer.guest);
    }
}
