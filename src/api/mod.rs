//! The JSON REST API under `/api/v1`, described by an OpenAPI 3.1 document
//! generated from the handlers at `/api/openapi.json`.

mod actor;
mod assessment;
pub mod contract;
mod detections;
mod extract;
mod frameworks;
mod reports;
mod systems;
mod teams;
mod trends;
mod upgrade;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::domain::{FieldError, FieldErrorKind};
use crate::service::ServiceError;

#[derive(OpenApi)]
#[openapi(
    components(schemas(crate::reports::navigator::Layer)),
    info(
        title = "atlascope API",
        description = "MITRE ATLAS knowledge base and coverage mapping. Errors are JSON: `{\"error\": {\"code\", \"message\"}}`."
    ),
    tags(
        (name = "frameworks", description = "ATLAS releases: tactics, techniques, mitigations, case studies"),
        (name = "teams", description = "Teams and the controls they define"),
        (name = "detections", description = "A team's detections (kept by hand or imported from Sigma rules) and how \
            each technique is detected on a system: the second dimension of coverage beside prevention"),
        (name = "systems", description = "ML systems, each assessed against one ATLAS release"),
        (name = "assessment", description = "A system's decisions: technique applicability, mitigation and control \
            statuses, risk acceptances; its coverage and change history. Versioned resources answer with an `ETag`; \
            send it back in `If-Match` to refuse a stale write (412)."),
        (name = "reports", description = "Gap reports of a system or a team (JSON, Markdown, CSV, self-contained \
            HTML, ATLAS Navigator layers), prioritised recommendations, and imports of Navigator layers or the CSV \
            export with a dry run."),
    )
)]
struct ApiDoc;

/// The `/api` router: `/api/v1/...` and `/api/openapi.json`.
pub fn router() -> Router<AppState> {
    let (v1, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(frameworks::router())
        .merge(teams::router())
        .merge(systems::router())
        .merge(assessment::router())
        .merge(reports::router())
        .merge(detections::router())
        .merge(upgrade::router())
        .merge(trends::router())
        .split_for_parts();
    let mut openapi = openapi;
    openapi.paths.paths = std::mem::take(&mut openapi.paths.paths)
        .into_iter()
        .map(|(path, item)| (format!("/api/v1{path}"), item))
        .collect();
    describe_responses(&mut openapi);
    let mut document = serde_json::to_value(&openapi).expect("the OpenAPI document serialises");
    contract::apply(&mut document);
    let document = serde_json::to_string_pretty(&document).expect("the OpenAPI document serialises");
    Router::new()
        .nest("/v1", v1)
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            ApiError::MethodNotAllowed(format!("{} does not accept {method}", uri.path()))
        })
}

/// OpenAPI requires a description on every response; where a handler gave
/// none, the status's reason phrase stands in.
fn describe_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|code| StatusCode::from_u16(code).ok())
                        .and_then(|code| code.canonical_reason())
                        .unwrap_or("Response")
                        .to_string();
                }
            }
        }
    }
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
    /// What went wrong, naming the file, line, field or header at fault.
    pub message: String,
    /// On a stale write (`412`, or `409` for an undo): the version the item is at now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// Errors of the JSON API, each with an honest status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A bad query filter value (400).
    #[error("{field}: {message}")]
    InvalidField { field: &'static str, message: String },
    /// A request body value the use case refused, or one that does not fit
    /// the expected shape (422).
    #[error("{field}: {message}")]
    Unprocessable { field: String, message: String },
    /// A JSON body of the wrong shape: a missing, unknown or mistyped field (422).
    #[error("{0}")]
    InvalidBody(String),
    #[error("{header}: {message}")]
    InvalidHeader { header: &'static str, message: String },
    #[error("{0}")]
    InvalidFile(String),
    #[error("{0}")]
    UnsupportedFormat(String),
    #[error("{0}")]
    Conflict(String),
    /// What was asked cannot be done to the item as it is (409).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("too many requests; retry after {0} s")]
    TooManyRequests(u64),
    #[error("{0}")]
    TooLarge(String),
    /// A stale write: `If-Match` named a version that is no longer current.
    #[error("{message}")]
    PreconditionFailed { message: String, current_version: i64 },
    /// A change that cannot apply because the item moved on since, without
    /// a precondition from the client (an undo) (409).
    #[error("{message}")]
    ChangedSince { message: String, current_version: i64 },
    /// The database cannot be reached at the moment (503).
    #[error("the database cannot be reached at the moment; try again shortly")]
    StorageUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::InvalidField { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            ApiError::Unprocessable { .. } | ApiError::InvalidBody(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
            }
            ApiError::InvalidHeader { .. } => (StatusCode::BAD_REQUEST, "invalid_header"),
            ApiError::InvalidFile(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_file"),
            ApiError::UnsupportedFormat(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unknown_format"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Refused(_) => (StatusCode::CONFLICT, "refused"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_set_up"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::PreconditionFailed { .. } => (StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            ApiError::ChangedSince { .. } => (StatusCode::CONFLICT, "changed_since"),
            ApiError::StorageUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // However a database error reached here, an unreachable database is 503.
        if let ApiError::Internal(e) = &self
            && crate::service::is_unreachable(e)
        {
            tracing::warn!(error = %e, "the database cannot be reached");
            return ApiError::StorageUnavailable.into_response();
        }
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(_) => {
                "the server could not complete this request; the details are in its log".to_string()
            }
            other => other.to_string(),
        };
        let current_version = match &self {
            ApiError::PreconditionFailed { current_version, .. } | ApiError::ChangedSince { current_version, .. } => {
                Some(*current_version)
            }
            _ => None,
        };
        let mut response =
            (status, Json(ErrorBody { error: ErrorDetail { code, message, current_version } })).into_response();
        if let Some(version) = current_version {
            response.headers_mut().insert(axum::http::header::ETAG, extract::etag(version));
        }
        match &self {
            ApiError::Unauthorized(_) => {
                response.headers_mut().insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"atlascope\""),
                );
            }
            ApiError::TooManyRequests(seconds) => {
                if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(axum::http::header::RETRY_AFTER, value);
                }
            }
            _ => {}
        }
        if let ApiError::Internal(error) = self {
            response.extensions_mut().insert(crate::app::FailureReport(std::sync::Arc::new(error)));
        }
        response
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(message) | ServiceError::Gone(message) => ApiError::NotFound(message),
            ServiceError::Invalid(FieldError { field, message, kind: FieldErrorKind::Invalid }) => {
                ApiError::Unprocessable { field, message }
            }
            ServiceError::Invalid(FieldError { field, message, kind: FieldErrorKind::Unknown }) => {
                ApiError::NotFound(format!("{field}: {message}"))
            }
            ServiceError::Conflict { message, current_version } => {
                ApiError::PreconditionFailed { message, current_version }
            }
            ServiceError::Duplicate(message) => ApiError::Conflict(message),
            ServiceError::Refused(message) => ApiError::Refused(message),
            ServiceError::InvalidFile(message) => ApiError::InvalidFile(message),
            ServiceError::Database(e) if crate::db::is_unreachable(&e) => {
                tracing::warn!(error = %e, "the database cannot be reached");
                ApiError::StorageUnavailable
            }
            ServiceError::Database(e) => ApiError::Internal(e.into()),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The documented JSON error for a failure answered before any API handler
/// ran (a body over the size limit, a timeout, a panic): same status, the
/// error body instead of the framework's plain text.
pub fn error_for_status(status: StatusCode) -> Response {
    let (code, message): (&'static str, String) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("too_large", format!("the request body is over the limit of {} bytes", crate::atlas::MAX_RELEASE_BYTES))
        }
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long and was stopped".into()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this path does not accept that method".into()),
        StatusCode::NOT_ACCEPTABLE => ("not_acceptable", "none of the accepted encodings can be sent".into()),
        StatusCode::INTERNAL_SERVER_ERROR => {
            ("internal", "the server could not complete this request; the details are in its log".into())
        }
        other => ("error", other.canonical_reason().unwrap_or("request failed").to_ascii_lowercase()),
    };
    (status, Json(ErrorBody { error: ErrorDetail { code, message, current_version: None } })).into_response()
}
