//! `/api/v1/teams/{id}/detections`, `/api/v1/detections/{id}` and
//! `/api/v1/systems/{id}/detections`: a team's detections (kept by hand or
//! imported from Sigma rules, with a dry run), and how each technique is
//! detected on a system.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::assessment::{known_technique, nullable};
use super::extract::{ApiJson, ApiPath, ApiQuery, IfMatch, Versioned, WriteHeaders};
use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::domain::coverage::{CombinedState, CoverageState, combined_state};
use crate::domain::detection_import::ImportPlan;
use crate::domain::records::{Detection, DetectionChange, DetectionRecord, format_timestamp};
use crate::domain::{Confidence, DetectionStatus};
use crate::service::decisions;
use crate::service::detections::{self, DetectionInput};
use crate::service::snapshot::{self, Snapshot};
use crate::sigma::{self, RuleFile};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_detections, create_detection))
        .routes(routes!(import_rules))
        .routes(routes!(undo_detection_change))
        .routes(routes!(get_detection, update_detection, delete_detection))
        .routes(routes!(list_detection_statuses))
        .routes(routes!(get_detection_status, put_detection_status))
        .layer(DefaultBodyLimit::max(sigma::MAX_UPLOAD_BYTES))
}

/// A detection of the team, mapped to the ATLAS techniques it detects.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionDto {
    pub id: i64,
    pub team_id: i64,
    pub title: String,
    pub description: String,
    /// The log sources it needs.
    pub data_sources: Vec<String>,
    /// A link to the rule, or a reference in the team's rule repository.
    pub reference: String,
    /// The Sigma rule `id` it was imported from; imports match on it.
    pub rule_id: Option<String>,
    /// ATLAS technique IDs, in ID order.
    pub technique_ids: Vec<String>,
    /// The rule file as imported (only when one detection is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_text: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl DetectionDto {
    fn of(detection: Detection, with_text: bool) -> Self {
        DetectionDto {
            id: detection.id,
            team_id: detection.team_id,
            title: detection.name,
            description: detection.description,
            data_sources: detection.data_sources,
            reference: detection.reference,
            rule_id: detection.rule_id,
            technique_ids: detection.techniques,
            rule_text: detection.rule_text.filter(|_| with_text),
            version: detection.version,
            created_at: format_timestamp(detection.created_at),
            updated_at: format_timestamp(detection.updated_at),
        }
    }
}

/// A detection to create, or its new definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionBody {
    /// At most 200 characters.
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// At most 50, each at most 200 characters.
    #[serde(default)]
    pub data_sources: Vec<String>,
    /// At most 2,000 characters.
    #[serde(default)]
    pub reference: String,
    /// ATLAS technique IDs it detects (1 to 500).
    pub technique_ids: Vec<String>,
}

impl From<DetectionBody> for DetectionInput {
    fn from(body: DetectionBody) -> Self {
        DetectionInput {
            name: body.title,
            description: body.description,
            data_sources: body.data_sources,
            reference: body.reference,
            techniques: body.technique_ids,
        }
    }
}

/// The team's detections, by title.
#[utoipa::path(get, path = "/teams/{id}/detections", tag = "detections", params(("id" = i64, Path)),
    responses((status = OK, body = [DetectionDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_detections(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DetectionDto>>> {
    let list = detections::list(&state, id).await?;
    Ok(Json(list.into_iter().map(|d| DetectionDto::of(d, false)).collect()))
}

/// Adds a detection to the team by hand.
#[utoipa::path(post, path = "/teams/{id}/detections", tag = "detections", params(("id" = i64, Path)),
    request_body = DetectionBody,
    responses(
        (status = CREATED, body = DetectionDto, headers(("ETag" = String), ("Location" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such team, or a technique in no loaded release", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or invalid", body = ErrorBody),
    ))]
async fn create_detection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<DetectionBody>,
) -> ApiResult<Versioned<DetectionDto>> {
    crate::service::teams::get(&state, id).await?;
    let detection = detections::create(&state, id, body.into(), &actor).await?;
    let location = format!("/api/v1/detections/{}", detection.id);
    Ok(Versioned::created(detection.version, location, DetectionDto::of(detection, true)))
}

/// One detection, with the rule file it was imported from.
#[utoipa::path(get, path = "/detections/{id}", tag = "detections", params(("id" = i64, Path)),
    responses((status = OK, body = DetectionDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_detection(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Versioned<DetectionDto>> {
    let detection = detections::get(&state, id).await?;
    Ok(Versioned::ok(detection.version, DetectionDto::of(detection, true)))
}

/// Redefines a detection (an imported one keeps its rule id and text).
#[utoipa::path(put, path = "/detections/{id}", tag = "detections", params(("id" = i64, Path), WriteHeaders),
    request_body = DetectionBody,
    responses(
        (status = OK, body = DetectionDto, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn update_detection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<DetectionBody>,
) -> ApiResult<Versioned<DetectionDto>> {
    let detection = detections::update(&state, id, expected, body.into(), &actor).await?;
    Ok(Versioned::ok(detection.version, DetectionDto::of(detection, true)))
}

/// Deletes a detection; the detection statuses recorded per system stay.
#[utoipa::path(delete, path = "/detections/{id}", tag = "detections", params(("id" = i64, Path), WriteHeaders),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
    ))]
async fn delete_detection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
) -> ApiResult<StatusCode> {
    detections::delete(&state, id, expected, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// `true` (the default): only preview what would change; `false`: apply it.
    dry_run: Option<bool>,
}

/// What an import of rules changed, or would change.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionImportResult {
    /// True when nothing was applied.
    pub dry_run: bool,
    #[serde(flatten)]
    pub plan: ImportPlan,
    /// The change recording the import (one undo reverts it all):
    /// `POST /teams/{id}/detections/history/{entry_id}/undo`.
    pub history_id: Option<i64>,
}

/// Imports Sigma rules as the team's detections. The body is one rule file
/// or a multi-document YAML file (`application/yaml`), or a zip of rule
/// files (`application/zip`). Each rule becomes or updates the detection
/// keyed by the rule's `id`, mapped to the ATLAS techniques its tags name
/// (any case or separator form, a top-level `atlas:` list,
/// `references.mitre_atlas`), and ATT&CK tags map through the ATT&CK
/// references ATLAS carries. A dry run (the default) answers with the
/// preview; `dry_run=false` applies it in one transaction, recorded as one
/// undoable change. A malformed file is refused naming the file and line.
#[utoipa::path(post, path = "/teams/{id}/detections/import", tag = "detections", params(("id" = i64, Path), ImportQuery),
    request_body(content(
        (String = "application/yaml"),
        (String = "application/zip"),
    ), description = "One rule file, a multi-document YAML file, or a zip of rule files"),
    responses(
        (status = OK, body = DetectionImportResult),
        (status = BAD_REQUEST, description = "An empty body", body = ErrorBody),
        (status = NOT_FOUND, description = "No such team", body = ErrorBody),
        (status = CONFLICT, description = "A detection changed while the import was applied", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "Over the import limit of 8 MiB", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A malformed file or a rule id given twice; the message names the file and line", body = ErrorBody),
    ))]
async fn import_rules(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<ImportQuery>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DetectionImportResult>> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the rules are over the import limit of {} bytes", sigma::MAX_UPLOAD_BYTES))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the request body is empty; send a rule file or a zip of rule files".into()));
    }
    let zip = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("zip"));
    let name = if zip || sigma::is_zip(&body) { "request body (zip)" } else { "request body" };
    let files = vec![RuleFile { name: name.to_string(), bytes: body.to_vec() }];
    if query.dry_run.unwrap_or(true) {
        let plan = detections::preview_import(&state, id, files).await?;
        return Ok(Json(DetectionImportResult { dry_run: true, plan, history_id: None }));
    }
    let applied = detections::apply_import(&state, id, files, &actor).await?;
    Ok(Json(DetectionImportResult { dry_run: false, plan: applied.plan, history_id: applied.history_id }))
}

/// How many changes an undo reverted.
#[derive(Debug, Serialize, ToSchema)]
pub struct UndoResult {
    pub reverted: usize,
}

/// Reverts a change to the team's detections: a whole import, or one edit.
#[utoipa::path(post, path = "/teams/{id}/detections/history/{entry_id}/undo", tag = "detections",
    params(("id" = i64, Path), ("entry_id" = i64, Path)),
    responses(
        (status = OK, body = UndoResult),
        (status = NOT_FOUND, description = "No such change to the team's detections", body = ErrorBody),
        (status = CONFLICT, description = "A detection changed since", body = ErrorBody),
    ))]
async fn undo_detection_change(
    State(state): State<AppState>,
    ApiPath((id, entry)): ApiPath<(i64, i64)>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<UndoResult>> {
    let reverted = detections::undo(&state, id, entry, &actor).await?;
    Ok(Json(UndoResult { reverted }))
}

// ---------------------------------------------------------------- per system

/// How a technique is detected on a system, beside its prevention state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DetectionStatusDto {
    pub technique_id: String,
    pub name: String,
    pub status: DetectionStatus,
    pub confidence: Option<Confidence>,
    /// The data sources the system has for detecting it.
    pub data_sources: Vec<String>,
    pub owner: String,
    pub evidence: String,
    pub notes: String,
    /// The prevention state by the coverage rules.
    pub prevention_state: CoverageState,
    /// Prevention and detection together.
    pub combined_state: CombinedState,
    /// The team's detections mapped to the technique.
    pub detection_ids: Vec<i64>,
    /// 0 while nothing was recorded.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

fn status_dto(snapshot: &Snapshot, technique_id: &str, row: DetectionRecord) -> DetectionStatusDto {
    let prevention =
        snapshot.coverage.state_of(&snapshot.framework, technique_id).unwrap_or(CoverageState::NotAssessed);
    DetectionStatusDto {
        technique_id: technique_id.to_string(),
        name: snapshot.framework.technique(technique_id).map(|t| t.name.clone()).unwrap_or_default(),
        prevention_state: prevention,
        combined_state: combined_state(prevention, row.status),
        detection_ids: snapshot.detections_for(technique_id).map(|d| d.id).collect(),
        updated_by: Some(row.changed.updated_by.clone()).filter(|b| !b.is_empty()),
        updated_at: row.changed.updated_at.map(format_timestamp),
        status: row.status,
        confidence: row.confidence,
        data_sources: row.data_sources,
        owner: row.owner,
        evidence: row.evidence,
        notes: row.notes,
        version: row.version,
    }
}

/// Every technique of the system's release with how it is detected.
#[utoipa::path(get, path = "/systems/{id}/detections", tag = "detections", params(("id" = i64, Path)),
    responses((status = OK, body = [DetectionStatusDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_detection_statuses(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<DetectionStatusDto>>> {
    let snapshot = snapshot::load(&state, id).await?;
    let list =
        snapshot.framework.techniques().iter().map(|t| status_dto(&snapshot, &t.id, snapshot.detection_of(&t.id)));
    Ok(Json(list.collect()))
}

/// How one technique is detected on the system.
#[utoipa::path(get, path = "/systems/{id}/detections/{technique_id}", tag = "detections",
    params(("id" = i64, Path), ("technique_id" = String, Path, description = "e.g. AML.T0051.001")),
    responses((status = OK, body = DetectionStatusDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_detection_status(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
) -> ApiResult<Versioned<DetectionStatusDto>> {
    let snapshot = snapshot::load(&state, id).await?;
    known_technique(&snapshot, &technique_id)?;
    let dto = status_dto(&snapshot, &technique_id, snapshot.detection_of(&technique_id));
    Ok(Versioned::ok(dto.version, dto))
}

/// Fields to change on a technique's detection; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectionStatusBody {
    pub status: Option<DetectionStatus>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Confidence>)]
    pub confidence: Option<Option<Confidence>>,
    /// The data sources the system has for detecting it (at most 50).
    pub data_sources: Option<Vec<String>>,
    /// At most 200 characters.
    pub owner: Option<String>,
    /// At most 2,000 characters.
    pub evidence: Option<String>,
    /// At most 4,000 characters.
    pub notes: Option<String>,
}

/// Records how a technique is detected on the system: versioned, in the
/// history, undoable, and live in open workshops.
#[utoipa::path(put, path = "/systems/{id}/detections/{technique_id}", tag = "detections",
    params(("id" = i64, Path), ("technique_id" = String, Path), WriteHeaders), request_body = DetectionStatusBody,
    responses(
        (status = OK, body = DetectionStatusDto, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or a technique not in its release", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field", body = ErrorBody),
    ))]
async fn put_detection_status(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<DetectionStatusBody>,
) -> ApiResult<Versioned<DetectionStatusDto>> {
    let change = DetectionChange {
        status: body.status,
        confidence: body.confidence,
        data_sources: body.data_sources,
        owner: body.owner,
        evidence: body.evidence,
        notes: body.notes,
    };
    let written = decisions::set_detection_status(&state, id, &technique_id, change, expected, &actor).await?;
    let snapshot = snapshot::load(&state, id).await?;
    let dto = status_dto(&snapshot, &technique_id, written.row);
    Ok(Versioned::ok(dto.version, dto))
}
