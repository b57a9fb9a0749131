//! The JSON REST API under `/api/v1`, described by an OpenAPI 3.1 document
//! generated from the handlers at `/api/openapi.json`.

mod frameworks;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "atlascope API",
        description = "MITRE ATLAS knowledge base and coverage mapping. Errors are JSON: `{\"error\": {\"code\", \"message\"}}`."
    ),
    tags((name = "frameworks", description = "ATLAS releases: tactics, techniques, mitigations, case studies"))
)]
struct ApiDoc;

/// The `/api` router: `/api/v1/...` and `/api/openapi.json`.
pub fn router() -> Router<AppState> {
    let (v1, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(frameworks::router()).split_for_parts();
    let mut openapi = openapi;
    openapi.paths.paths = std::mem::take(&mut openapi.paths.paths)
        .into_iter()
        .map(|(path, item)| (format!("/api/v1{path}"), item))
        .collect();
    let document = serde_json::to_string_pretty(&openapi).expect("the OpenAPI document serialises");
    Router::new().nest("/v1", v1).route(
        "/openapi.json",
        get(move || {
            let document = document.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], document) }
        }),
    )
}

/// The error body of every API failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_file`.
    pub code: &'static str,
    /// What went wrong, naming the file, line or field at fault.
    pub message: String,
}

/// Errors of the JSON API, each with an honest status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    InvalidField { field: &'static str, message: String },
    #[error("{0}")]
    InvalidFile(String),
    #[error("{0}")]
    UnsupportedFormat(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::InvalidFile(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file"),
            ApiError::UnsupportedFormat(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unknown_format"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "API request failed");
                "the server could not complete this request; the details are in its log".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(ErrorBody { error: ErrorDetail { code, message } })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
