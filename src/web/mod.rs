//! The HTML interface: server-rendered askama pages, enhanced with htmx
//! where it helps, each URL also working as a full page on reload.

mod account;
mod actor;
pub mod assets;
mod auth;
mod detections;
mod digest;
mod filters;
mod framework;
mod help;
mod oidc;
pub mod page_cache;
mod releases;
mod reports;
mod teams;
mod technique_picker;
mod trend;
mod upgrade;
pub mod viewer;
pub mod workshop;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::{AppState, FailureReport, ShownMessage};
use crate::atlas::Framework;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/{*path}", get(assets::serve))
        .route("/healthz", get(|| async { "ok" }))
        .merge(framework::router())
        .merge(teams::router())
        .merge(help::router())
        .merge(auth::router())
        .merge(oidc::router())
        .merge(account::router())
        .merge(workshop::router())
        .merge(reports::router())
        .merge(upgrade::router())
        .merge(releases::router())
        .merge(viewer::router())
        .merge(trend::router())
        .merge(digest::router())
        .merge(detections::router())
}

/// What the page layout needs on every page: assets, the release switcher
/// and where the visitor is.
pub struct Chrome {
    pub version: String,
    pub releases: Vec<ReleaseOption>,
    /// The page's path below `/frameworks/{version}/`, kept when switching release.
    pub page: String,
    pub css_url: &'static str,
    pub htmx_url: &'static str,
    pub htmx_integrity: &'static str,
    pub app_js_url: &'static str,
    pub app_js_integrity: &'static str,
    pub sse_url: &'static str,
    pub sse_integrity: &'static str,
    /// Who is looking, and how they asked to see pages.
    pub viewer: viewer::Viewer,
}

pub struct ReleaseOption {
    pub version: String,
    pub is_default: bool,
}

impl Chrome {
    pub fn new(state: &AppState, framework: &Framework, page: &str) -> Self {
        let default = state.catalog.default_version();
        let releases = state
            .catalog
            .list()
            .iter()
            .map(|f| ReleaseOption { version: f.version().to_string(), is_default: f.version() == default })
            .collect();
        Chrome { version: framework.version().to_string(), releases, page: page.to_string(), ..Chrome::bare() }
    }

    /// Layout without a release context (error pages).
    pub fn bare() -> Self {
        let htmx = assets::get("vendor/htmx.min.js").expect("htmx is embedded");
        let app_js = assets::get("app.js").expect("app.js is embedded");
        let sse = assets::get("vendor/htmx-ext-sse.min.js").expect("the SSE extension is embedded");
        Chrome {
            version: String::new(),
            releases: Vec::new(),
            page: String::new(),
            css_url: assets::url("app.css"),
            htmx_url: &htmx.url,
            htmx_integrity: &htmx.integrity,
            app_js_url: &app_js.url,
            app_js_integrity: &app_js.integrity,
            sse_url: &sse.url,
            sse_integrity: &sse.integrity,
            viewer: viewer::current(),
        }
    }
}

/// Errors of the HTML interface, shown as an error page with an honest status.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Gone(String),
    #[error("too many attempts; try again in {0} s")]
    TooManyRequests(u64),
    /// The database cannot be reached at the moment (503).
    #[error("the database cannot be reached at the moment")]
    StorageUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<crate::service::ServiceError> for WebError {
    fn from(error: crate::service::ServiceError) -> Self {
        match error {
            crate::service::ServiceError::NotFound(m) => WebError::NotFound(m),
            crate::service::ServiceError::Gone(m) => WebError::Gone(m),
            crate::service::ServiceError::Invalid(e) => WebError::BadRequest(e.to_string()),
            crate::service::ServiceError::Duplicate(m)
            | crate::service::ServiceError::Refused(m)
            | crate::service::ServiceError::Conflict { message: m, .. }
            | crate::service::ServiceError::InvalidFile(m) => WebError::BadRequest(m),
            crate::service::ServiceError::Database(e) if crate::db::is_unreachable(&e) => {
                tracing::warn!(error = %e, "the database cannot be reached");
                WebError::StorageUnavailable
            }
            crate::service::ServiceError::Database(e) => WebError::Internal(e.into()),
            crate::service::ServiceError::Internal(e) => WebError::Internal(e),
        }
    }
}

#[derive(Template)]
#[template(path = "pages/error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    title: &'static str,
    message: String,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        // However a database error reached here, an unreachable database is 503.
        if let WebError::Internal(e) = &self
            && crate::service::is_unreachable(e)
        {
            tracing::warn!(error = %e, "the database cannot be reached");
            return WebError::StorageUnavailable.into_response();
        }
        let (status, title, message) = match &self {
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m.clone()),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            WebError::Gone(m) => (StatusCode::GONE, "No longer valid", capitalise(m)),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", format!("You may not do this: {m}.")),
            WebError::TooManyRequests(s) => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", format!("Please wait {s} seconds and try again."))
            }
            WebError::StorageUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again in a moment",
                "The database cannot be reached at the moment. If you were saving a change, look whether it \
                 was kept once the page loads again, then try again."
                    .to_string(),
            ),
            WebError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not complete this request; the details are in its log.".to_string(),
            ),
        };
        let shown = ShownMessage(format!("{title}: {message}"));
        let page = ErrorPage { chrome: Chrome::bare(), status: status.as_u16(), title, message };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        };
        response.extensions_mut().insert(shown);
        if let WebError::Internal(error) = self {
            response.extensions_mut().insert(FailureReport(Arc::new(error)));
        }
        response
    }
}

/// A message as a sentence: a capital first letter and a full stop.
pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str() + ".").unwrap_or_default()
}

/// Renders a template into a response body.
pub fn render(template: &impl Template) -> Result<Html<String>, WebError> {
    Ok(Html(template.render()?))
}

/// The release a URL names (`default` works too), or a 404 naming it.
pub fn release(state: &AppState, version: &str) -> Result<Arc<Framework>, WebError> {
    state.catalog.get(version).ok_or_else(|| {
        WebError::NotFound(format!("ATLAS release {version} is not loaded. The releases page lists the loaded ones."))
    })
}

/// True for a request htmx sent (not a history restore, which wants a page).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true") && headers.get("hx-history-restore-request").is_none()
}

/// True for an htmx request that targets the element with this id.
pub fn is_htmx_for(headers: &HeaderMap, target: &str) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
        && headers.get("hx-history-restore-request").is_none()
        && headers.get("hx-target").is_some_and(|v| v == target)
}

/// `404` for any unknown path: JSON under `/api`, a page elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return crate::api::ApiError::NotFound(format!("no API route {}", uri.path())).into_response();
    }
    WebError::NotFound(format!("There is no page at {}.", uri.path())).into_response()
}
