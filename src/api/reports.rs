//! `/api/v1/.../gaps`, `/recommendations` and `/import`: a system's or a
//! team's gap report in every export format, the greedy recommendations,
//! and importing a Navigator layer or the CSV export with a dry run.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::domain::gaps::{DEFAULT_RECOMMENDATIONS, Recommendations};
use crate::reports::import::{self, ImportFormat, ImportPreview};
use crate::reports::navigator::LayerVersion;
use crate::reports::{GapReport, ReportFormat};
use crate::service::reports::{self, MAX_RECOMMENDATIONS, ReportData, ReportFile, ReportRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system_gaps))
        .routes(routes!(team_gaps))
        .routes(routes!(system_recommendations))
        .routes(routes!(import_file))
        .layer(DefaultBodyLimit::max(import::MAX_FILE_BYTES))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct GapsQuery {
    /// `json` (the default), `md`, `csv`, `html` or `navigator`. Every format
    /// but JSON is sent as a file (`Content-Disposition: attachment`).
    format: Option<String>,
    /// Recommendation steps to plan, 0 to 50 (default 5).
    recommendations: Option<usize>,
    /// JSON only: list every technique of every system with its decisions
    /// (default `true` for a system, `false` for a team).
    techniques: Option<bool>,
    /// Navigator layers only: the layer format, `4.5` (the default) or `4.3`
    /// (for the ATLAS Navigator deployment, which warns on 4.5).
    layer_version: Option<String>,
}

impl GapsQuery {
    fn request(&self, team: bool) -> ApiResult<ReportRequest> {
        let format = match self.format.as_deref() {
            None => ReportFormat::Json,
            Some(raw) => {
                ReportFormat::parse(raw).map_err(|message| ApiError::InvalidField { field: "format", message })?
            }
        };
        let recommendations = self.recommendations.unwrap_or(DEFAULT_RECOMMENDATIONS);
        if recommendations > MAX_RECOMMENDATIONS {
            return Err(ApiError::InvalidField {
                field: "recommendations",
                message: format!("{recommendations} is over the limit of {MAX_RECOMMENDATIONS}"),
            });
        }
        let layer_version = match self.layer_version.as_deref() {
            None => LayerVersion::default(),
            Some(raw) => LayerVersion::parse(raw)
                .map_err(|message| ApiError::InvalidField { field: "layer_version", message })?,
        };
        Ok(ReportRequest { format, recommendations, json_techniques: self.techniques.unwrap_or(!team), layer_version })
    }
}

/// A rendered report as a response: JSON inline, every other format as a named file.
fn report_response(file: ReportFile) -> Response {
    let mut response = (StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.format.content_type()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if file.format != ReportFormat::Json
        && let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

async fn render(data: ReportData, request: ReportRequest) -> ApiResult<Response> {
    Ok(report_response(reports::render(data, request).await?))
}

/// A system's gap report: its coverage, its open gaps ranked by priority
/// (with the weights and the formula), the mitigations and controls that
/// would close the most weighted gap, and the case-study lens.
#[utoipa::path(get, path = "/systems/{id}/gaps", tag = "reports", params(("id" = i64, Path), GapsQuery),
    responses(
        (status = OK, description = "The report; a file in every format but JSON", content(
            (GapReport = "application/json"),
            (String = "text/markdown"),
            (String = "text/csv"),
            (String = "text/html"),
            (String = "application/zip"),
        ), headers(("Content-Disposition" = String, description = "`attachment; filename=\"atlascope-gaps-<system>-<date>.<ext>\"` for files"))),
        (status = BAD_REQUEST, description = "An unknown format or a bad parameter", body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or its release is not loaded", body = ErrorBody),
    ))]
async fn system_gaps(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<GapsQuery>,
) -> ApiResult<Response> {
    let request = query.request(false)?;
    render(reports::for_system(&state, id).await?, request).await
}

/// The portfolio report of every system of a team: combined coverage, a
/// systems × tactics heat map, every gap ranked across systems, and
/// recommendations across them. A system whose release is not loaded is
/// listed in `left_out`. `navigator` is one aggregate layer of all systems;
/// `navigator-zip` a zip of that layer and one layer per system.
#[utoipa::path(get, path = "/teams/{id}/gaps", tag = "reports", params(("id" = i64, Path), GapsQuery),
    responses(
        (status = OK, description = "The report; a file in every format but JSON", content(
            (GapReport = "application/json"),
            (String = "text/markdown"),
            (String = "text/csv"),
            (String = "text/html"),
            (String = "application/zip"),
        ), headers(("Content-Disposition" = String, description = "`attachment; filename=\"atlascope-gaps-<team>-<date>.<ext>\"` for files"))),
        (status = BAD_REQUEST, description = "An unknown format or a bad parameter", body = ErrorBody),
        (status = NOT_FOUND, description = "No such team", body = ErrorBody),
    ))]
async fn team_gaps(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<GapsQuery>,
) -> ApiResult<Response> {
    let request = query.request(true)?;
    render(reports::for_team(&state, id).await?, request).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RecommendationsQuery {
    /// Steps to plan, 1 to 50 (default 5).
    limit: Option<usize>,
}

/// "The next mitigations that close the most risk": ATLAS mitigations and
/// the team's controls, picked greedily by the priority-weighted gaps they
/// would close if implemented, each step with the coverage expected after it.
#[utoipa::path(get, path = "/systems/{id}/recommendations", tag = "reports",
    params(("id" = i64, Path), RecommendationsQuery),
    responses(
        (status = OK, body = Recommendations),
        (status = BAD_REQUEST, description = "A limit out of range", body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or its release is not loaded", body = ErrorBody),
    ))]
async fn system_recommendations(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RecommendationsQuery>,
) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(DEFAULT_RECOMMENDATIONS);
    if !(1..=MAX_RECOMMENDATIONS).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: format!("{limit} is not between 1 and {MAX_RECOMMENDATIONS}"),
        });
    }
    let request = ReportRequest { recommendations: limit, ..ReportRequest::new(ReportFormat::Html) };
    let data = reports::for_system(&state, id).await?;
    let body = reports::with_report(data, request.options(), |report| serde_json::to_vec(&report.recommendations))
        .await?
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// `navigator` or `csv`; when absent, a file starting with `{` or `[` is
    /// read as a Navigator layer, anything else as CSV.
    format: Option<String>,
    /// `true` (the default): only preview what would change; `false`: apply it.
    dry_run: Option<bool>,
}

/// What an import changed, or would change (`dry_run`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentImportResult {
    /// True when nothing was applied (a dry run).
    pub dry_run: bool,
    /// The changes, unknown techniques, errors and warnings the file gives.
    #[serde(flatten)]
    pub preview: ImportPreview,
    /// The techniques whose assessment changed (empty for a dry run).
    pub changed: Vec<String>,
    /// The history entry recording the import as one change: pass it to
    /// `POST /systems/{id}/history/{entry_id}/undo` to revert it all.
    pub history_id: Option<i64>,
}

/// Imports a Navigator layer (layer format 4.x, domain `atlas-atlas`) or a
/// CSV in the export's shape, sent as the body, onto the system's technique
/// assessments (applicability, risk, rationale). By default (`dry_run=true`)
/// nothing is applied and the answer previews the changes. With
/// `dry_run=false` every change
/// is applied in one transaction and recorded as one undoable change; a
/// file with any row or entry in error is refused whole (`422`, naming them).
/// Technique IDs the system's release does not have are listed in
/// `unknown_techniques` and left out.
#[utoipa::path(post, path = "/systems/{id}/import", tag = "reports", params(("id" = i64, Path), ImportQuery),
    request_body(content = String, description = "The layer (JSON) or CSV file", content_type = "application/octet-stream"),
    responses(
        (status = OK, body = AssessmentImportResult),
        (status = BAD_REQUEST, description = "An empty body or an unknown format", body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or its release is not loaded", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "Over the import limit of 8 MiB", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A malformed file, a layer for another domain or an unknown release, \
            or (when applying) rows or entries in error; the message names the line, row or field", body = ErrorBody),
    ))]
async fn import_file(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    ApiActor(actor): ApiActor,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<AssessmentImportResult>> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the file is over the import limit of {} bytes", import::MAX_FILE_BYTES))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty; send the layer or CSV file".into()));
    }
    let format = query
        .format
        .as_deref()
        .map(ImportFormat::parse)
        .transpose()
        .map_err(|message| ApiError::InvalidField { field: "format", message })?;
    if query.dry_run.unwrap_or(true) {
        let preview = reports::preview_import(&state, id, format, body.to_vec()).await?;
        return Ok(Json(AssessmentImportResult { dry_run: true, preview, changed: Vec::new(), history_id: None }));
    }
    let applied = reports::apply_import(&state, id, format, body.to_vec(), &actor).await?;
    Ok(Json(AssessmentImportResult {
        dry_run: false,
        preview: applied.preview,
        changed: applied.changed,
        history_id: applied.history_id,
    }))
}
