//! `/api/v1/systems/{id}/...`: a team's decisions on one system (technique
//! applicability, mitigation and control statuses, risk acceptances), the
//! coverage they add up to, and the change history with undo.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::extract::{ApiJson, ApiPath, ApiQuery, IfMatch, Versioned, WriteHeaders};
use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::core::today;
use crate::domain::coverage::CoverageState;
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Acceptance, Assessment, Changed, Control, StatusRecord, format_date, format_timestamp};
use crate::domain::{Applicability, ImplementationStatus, Rating};
use crate::service::decisions::{self, AcceptanceInput, AssessmentChange, BatchResult, StatusChange};
use crate::service::snapshot::{self, CoverageReport, Snapshot};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_assessments))
        .routes(routes!(get_assessment, put_assessment))
        .routes(routes!(bulk_assessments))
        .routes(routes!(list_mitigation_statuses))
        .routes(routes!(get_mitigation_status, put_mitigation_status))
        .routes(routes!(list_control_statuses))
        .routes(routes!(get_control_status, put_control_status))
        .routes(routes!(list_acceptances))
        .routes(routes!(get_acceptance, put_acceptance, delete_acceptance))
        .routes(routes!(get_coverage))
        .routes(routes!(list_history))
        .routes(routes!(undo_change))
}

/// Most history entries one request returns.
const HISTORY_LIMIT_MAX: i64 = 1000;
const HISTORY_LIMIT_DEFAULT: i64 = 100;

/// Reads a field that may be absent (leave as is), `null` (clear) or a value.
pub(super) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Who changed a record and when, absent while nobody has.
fn changed_by(changed: Option<&Changed>) -> (Option<String>, Option<String>) {
    let by = changed.filter(|c| !c.updated_by.is_empty()).map(|c| c.updated_by.clone());
    (by, changed.and_then(|c| c.updated_at).map(format_timestamp))
}

// ---------------------------------------------------------------- DTOs

/// A technique as assessed on a system, with its computed coverage state.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentDto {
    pub technique_id: String,
    pub name: String,
    /// The parent technique of a sub-technique.
    pub parent: Option<String>,
    pub applicability: Applicability,
    /// Proposed by "suggested scope" from the system's platforms, not yet decided.
    pub suggested: bool,
    pub rationale: String,
    pub risk: Option<Rating>,
    /// The coverage state by the documented rules.
    pub state: CoverageState,
    /// 0 while nothing was recorded.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

fn assessment_dto(snapshot: &Snapshot, technique_id: &str, row: Option<&Assessment>) -> AssessmentDto {
    let technique = snapshot.framework.technique(technique_id);
    let (updated_by, updated_at) = changed_by(row.map(|r| &r.changed));
    AssessmentDto {
        technique_id: technique_id.to_string(),
        name: technique.map(|t| t.name.clone()).unwrap_or_default(),
        parent: technique.and_then(|t| t.parent.clone()),
        applicability: row.map_or(Applicability::Unknown, |r| r.applicability),
        suggested: row.is_some_and(|r| r.suggested),
        rationale: row.map(|r| r.rationale.clone()).unwrap_or_default(),
        risk: row.and_then(|r| r.risk),
        state: snapshot.coverage.state_of(&snapshot.framework, technique_id).unwrap_or(CoverageState::NotAssessed),
        version: row.map_or(0, |r| r.version),
        updated_by,
        updated_at,
    }
}

/// How far a mitigation or control is on a system.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusFields {
    pub status: ImplementationStatus,
    pub owner: String,
    /// `YYYY-MM-DD`
    pub target_date: Option<String>,
    pub evidence: String,
    pub notes: String,
    /// 0 while nothing was recorded.
    pub version: i64,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

fn status_fields(row: Option<&StatusRecord>) -> StatusFields {
    let (updated_by, updated_at) = changed_by(row.map(|r| &r.changed));
    StatusFields {
        status: row.map_or(ImplementationStatus::NotStarted, |r| r.status),
        owner: row.map(|r| r.owner.clone()).unwrap_or_default(),
        target_date: row.and_then(|r| r.target_date).map(format_date),
        evidence: row.map(|r| r.evidence.clone()).unwrap_or_default(),
        notes: row.map(|r| r.notes.clone()).unwrap_or_default(),
        version: row.map_or(0, |r| r.version),
        updated_by,
        updated_at,
    }
}

/// An ATLAS mitigation of the system's release and its status on the system.
#[derive(Debug, Serialize, ToSchema)]
pub struct MitigationStatusDto {
    pub mitigation_id: String,
    pub name: String,
    /// The techniques ATLAS says it mitigates.
    pub techniques: Vec<String>,
    #[serde(flatten)]
    pub status: StatusFields,
}

fn mitigation_dto(snapshot: &Snapshot, mitigation_id: &str, row: Option<&StatusRecord>) -> MitigationStatusDto {
    let mitigation = snapshot.framework.mitigation(mitigation_id);
    MitigationStatusDto {
        mitigation_id: mitigation_id.to_string(),
        name: mitigation.map(|m| m.name.clone()).unwrap_or_default(),
        techniques: mitigation.map(|m| m.techniques.iter().map(|l| l.technique.clone()).collect()).unwrap_or_default(),
        status: status_fields(row),
    }
}

/// A control of the system's team and its status on the system.
#[derive(Debug, Serialize, ToSchema)]
pub struct ControlStatusDto {
    pub control_id: i64,
    pub name: String,
    /// The techniques the control addresses.
    pub techniques: Vec<String>,
    #[serde(flatten)]
    pub status: StatusFields,
}

fn control_dto(control: &Control, row: Option<&StatusRecord>) -> ControlStatusDto {
    ControlStatusDto {
        control_id: control.id,
        name: control.name.clone(),
        techniques: control.techniques.clone(),
        status: status_fields(row),
    }
}

/// A risk accepted on a technique until a date.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptanceDto {
    pub technique_id: String,
    pub name: String,
    pub justification: String,
    pub accepted_by: String,
    /// Last day the acceptance holds (`YYYY-MM-DD`).
    pub expires_on: String,
    /// False once `expires_on` has passed: the technique counts as a gap again.
    pub active: bool,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: String,
}

fn acceptance_dto(snapshot: &Snapshot, row: Acceptance) -> AcceptanceDto {
    AcceptanceDto {
        name: snapshot.framework.technique(&row.technique_id).map(|t| t.name.clone()).unwrap_or_default(),
        active: row.is_active(today()),
        expires_on: format_date(row.expires_on),
        updated_at: row.changed.updated_at.map(format_timestamp).unwrap_or_default(),
        technique_id: row.technique_id,
        justification: row.justification,
        accepted_by: row.accepted_by,
        version: row.version,
        updated_by: row.changed.updated_by,
    }
}

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryDto {
    pub id: i64,
    pub team_id: i64,
    pub system_id: Option<i64>,
    /// The account or workshop guest who made the change.
    pub actor: String,
    /// RFC 3339 time of the change.
    pub at: String,
    /// `assessment`, `mitigation`, `control_status`, `acceptance`, `system`, `team` or `control`.
    pub entity: String,
    /// The technique, mitigation or control the change is about (empty for the system itself).
    pub item: String,
    /// One line saying what changed.
    pub summary: String,
    /// The value before the change; null for a creation.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The value after the change; null for a deletion.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    /// Shared by the entries of one bulk action (or one undo of it).
    pub batch: Option<i64>,
}

impl From<HistoryEntry> for HistoryDto {
    fn from(entry: HistoryEntry) -> Self {
        HistoryDto {
            id: entry.id,
            team_id: entry.team_id,
            system_id: entry.system_id,
            actor: entry.actor,
            at: format_timestamp(entry.at),
            entity: entry.entity.as_str().to_string(),
            item: entry.item,
            summary: entry.summary,
            before: entry.before.as_ref().map(|r| r.to_value()),
            after: entry.after.as_ref().map(|r| r.to_value()),
            batch: entry.batch,
        }
    }
}

/// What a bulk change or an undo changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeResult {
    /// The techniques whose assessment or coverage changed.
    pub changed: Vec<String>,
    /// The history entry that records the change: pass it to
    /// `POST /systems/{id}/history/{entry_id}/undo` to revert it. Null when
    /// nothing changed.
    pub history_id: Option<i64>,
}

impl From<BatchResult> for ChangeResult {
    fn from(result: BatchResult) -> Self {
        ChangeResult { history_id: result.batch, changed: result.changed }
    }
}

// ---------------------------------------------------------------- request bodies

/// Fields to change on a technique's assessment; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentBody {
    pub applicability: Option<Applicability>,
    /// At most 4,000 characters.
    pub rationale: Option<String>,
    /// `null` clears the rating.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Rating>)]
    pub risk: Option<Option<Rating>>,
}

/// One applicability for many techniques.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// Technique IDs of the system's release (at most 500).
    pub techniques: Vec<String>,
    pub applicability: Applicability,
}

/// Fields to change on a mitigation or control status; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: Option<ImplementationStatus>,
    /// At most 200 characters.
    pub owner: Option<String>,
    /// `YYYY-MM-DD`; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub target_date: Option<Option<String>>,
    /// At most 2,000 characters.
    pub evidence: Option<String>,
    /// At most 4,000 characters.
    pub notes: Option<String>,
}

impl From<StatusBody> for StatusChange {
    fn from(body: StatusBody) -> Self {
        StatusChange {
            status: body.status,
            owner: body.owner,
            target_date: body.target_date,
            evidence: body.evidence,
            notes: body.notes,
        }
    }
}

/// A risk acceptance: why, by whom, until when.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptanceBody {
    /// At most 4,000 characters.
    pub justification: String,
    /// Who accepts the risk; the actor of the request when absent.
    pub accepted_by: Option<String>,
    /// Last day the acceptance holds, `YYYY-MM-DD`, today or later.
    pub expires_on: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Only the changes of this technique, mitigation or control ID.
    item: Option<String>,
    /// At most this many entries (1–1000, default 100).
    limit: Option<i64>,
}

// ---------------------------------------------------------------- assessments

/// Every technique of the system's release, in release order, with the
/// team's assessment and the computed coverage state.
#[utoipa::path(get, path = "/systems/{id}/assessments", tag = "assessment", params(("id" = i64, Path)),
    responses((status = OK, body = [AssessmentDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_assessments(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<AssessmentDto>>> {
    let snapshot = snapshot::load(&state, id).await?;
    Ok(Json(
        snapshot
            .framework
            .techniques()
            .iter()
            .map(|t| assessment_dto(&snapshot, &t.id, snapshot.assessments.get(&t.id)))
            .collect(),
    ))
}

pub(super) fn known_technique(snapshot: &Snapshot, technique_id: &str) -> ApiResult<()> {
    match snapshot.framework.technique(technique_id) {
        Some(_) => Ok(()),
        None => Err(ApiError::NotFound(format!(
            "technique_id: {technique_id} is not a technique of ATLAS release {}",
            snapshot.framework.version()
        ))),
    }
}

/// One technique's assessment on the system.
#[utoipa::path(get, path = "/systems/{id}/assessments/{technique_id}", tag = "assessment",
    params(("id" = i64, Path), ("technique_id" = String, Path, description = "e.g. AML.T0051.001")),
    responses((status = OK, body = AssessmentDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_assessment(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
) -> ApiResult<Versioned<AssessmentDto>> {
    let snapshot = snapshot::load(&state, id).await?;
    known_technique(&snapshot, &technique_id)?;
    let dto = assessment_dto(&snapshot, &technique_id, snapshot.assessments.get(&technique_id));
    Ok(Versioned::ok(dto.version, dto))
}

/// Records a technique's applicability, rationale or risk on the system.
#[utoipa::path(put, path = "/systems/{id}/assessments/{technique_id}", tag = "assessment",
    params(("id" = i64, Path), ("technique_id" = String, Path), WriteHeaders), request_body = AssessmentBody,
    responses(
        (status = OK, body = AssessmentDto, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such system", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field, or a technique not in the system's release", body = ErrorBody),
    ))]
async fn put_assessment(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<AssessmentBody>,
) -> ApiResult<Versioned<AssessmentDto>> {
    let change = AssessmentChange { applicability: body.applicability, rationale: body.rationale, risk: body.risk };
    let written = decisions::set_assessment(&state, id, &technique_id, change, expected, &actor).await?;
    let snapshot = snapshot::load(&state, id).await?;
    let dto = assessment_dto(&snapshot, &technique_id, Some(&written.row));
    Ok(Versioned::ok(dto.version, dto))
}

/// Sets one applicability on many techniques at once: all or nothing,
/// recorded as one change that one undo reverts.
#[utoipa::path(post, path = "/systems/{id}/assessments/bulk", tag = "assessment",
    params(("id" = i64, Path)), request_body = BulkBody,
    responses(
        (status = OK, body = ChangeResult),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field, or techniques not in the system's release", body = ErrorBody),
    ))]
async fn bulk_assessments(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<BulkBody>,
) -> ApiResult<Json<ChangeResult>> {
    let result = decisions::bulk_applicability(&state, id, &body.techniques, body.applicability, &actor).await?;
    Ok(Json(result.into()))
}

// ---------------------------------------------------------------- mitigation statuses

/// Every mitigation of the system's release with its status on the system.
#[utoipa::path(get, path = "/systems/{id}/mitigations", tag = "assessment", params(("id" = i64, Path)),
    responses((status = OK, body = [MitigationStatusDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_mitigation_statuses(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<MitigationStatusDto>>> {
    let snapshot = snapshot::load(&state, id).await?;
    Ok(Json(
        snapshot
            .framework
            .mitigations()
            .iter()
            .map(|m| mitigation_dto(&snapshot, &m.id, snapshot.mitigation_statuses.get(&m.id)))
            .collect(),
    ))
}

/// One mitigation's status on the system.
#[utoipa::path(get, path = "/systems/{id}/mitigations/{mitigation_id}", tag = "assessment",
    params(("id" = i64, Path), ("mitigation_id" = String, Path, description = "e.g. AML.M0020")),
    responses((status = OK, body = MitigationStatusDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_mitigation_status(
    State(state): State<AppState>,
    ApiPath((id, mitigation_id)): ApiPath<(i64, String)>,
) -> ApiResult<Versioned<MitigationStatusDto>> {
    let snapshot = snapshot::load(&state, id).await?;
    if snapshot.framework.mitigation(&mitigation_id).is_none() {
        return Err(ApiError::NotFound(format!(
            "mitigation_id: {mitigation_id} is not a mitigation of ATLAS release {}",
            snapshot.framework.version()
        )));
    }
    let dto = mitigation_dto(&snapshot, &mitigation_id, snapshot.mitigation_statuses.get(&mitigation_id));
    Ok(Versioned::ok(dto.status.version, dto))
}

/// Records how far a mitigation is on the system.
#[utoipa::path(put, path = "/systems/{id}/mitigations/{mitigation_id}", tag = "assessment",
    params(("id" = i64, Path), ("mitigation_id" = String, Path), WriteHeaders), request_body = StatusBody,
    responses(
        (status = OK, body = MitigationStatusDto, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such system", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field, or a mitigation not in the system's release", body = ErrorBody),
    ))]
async fn put_mitigation_status(
    State(state): State<AppState>,
    ApiPath((id, mitigation_id)): ApiPath<(i64, String)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Versioned<MitigationStatusDto>> {
    let written = decisions::set_mitigation_status(&state, id, &mitigation_id, body.into(), expected, &actor).await?;
    let snapshot = snapshot::load(&state, id).await?;
    let dto = mitigation_dto(&snapshot, &mitigation_id, Some(&written.row));
    Ok(Versioned::ok(dto.status.version, dto))
}

// ---------------------------------------------------------------- control statuses

/// Every control of the system's team with its status on the system.
#[utoipa::path(get, path = "/systems/{id}/controls", tag = "assessment", params(("id" = i64, Path)),
    responses((status = OK, body = [ControlStatusDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_control_statuses(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<ControlStatusDto>>> {
    let snapshot = snapshot::load(&state, id).await?;
    Ok(Json(
        snapshot.controls.iter().map(|c| control_dto(c, snapshot.control_statuses.get(&c.id.to_string()))).collect(),
    ))
}

fn team_control(snapshot: &Snapshot, control_id: i64) -> ApiResult<&Control> {
    snapshot.controls.iter().find(|c| c.id == control_id).ok_or_else(|| {
        ApiError::NotFound(format!("control_id: control {control_id} is not a control of this system's team"))
    })
}

/// One control's status on the system.
#[utoipa::path(get, path = "/systems/{id}/controls/{control_id}", tag = "assessment",
    params(("id" = i64, Path), ("control_id" = i64, Path)),
    responses((status = OK, body = ControlStatusDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_control_status(
    State(state): State<AppState>,
    ApiPath((id, control_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Versioned<ControlStatusDto>> {
    let snapshot = snapshot::load(&state, id).await?;
    let control = team_control(&snapshot, control_id)?;
    let dto = control_dto(control, snapshot.control_statuses.get(&control_id.to_string()));
    Ok(Versioned::ok(dto.status.version, dto))
}

/// Records how far a team control is on the system.
#[utoipa::path(put, path = "/systems/{id}/controls/{control_id}", tag = "assessment",
    params(("id" = i64, Path), ("control_id" = i64, Path), WriteHeaders), request_body = StatusBody,
    responses(
        (status = OK, body = ControlStatusDto, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such system", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field, or a control of another team", body = ErrorBody),
    ))]
async fn put_control_status(
    State(state): State<AppState>,
    ApiPath((id, control_id)): ApiPath<(i64, i64)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Versioned<ControlStatusDto>> {
    let written = decisions::set_control_status(&state, id, control_id, body.into(), expected, &actor).await?;
    let snapshot = snapshot::load(&state, id).await?;
    let control = team_control(&snapshot, control_id)?;
    let dto = control_dto(control, Some(&written.row));
    Ok(Versioned::ok(dto.status.version, dto))
}

// ---------------------------------------------------------------- risk acceptances

/// The risk acceptances recorded on the system, expired ones included.
#[utoipa::path(get, path = "/systems/{id}/acceptances", tag = "assessment", params(("id" = i64, Path)),
    responses((status = OK, body = [AcceptanceDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_acceptances(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<AcceptanceDto>>> {
    let snapshot = snapshot::load(&state, id).await?;
    let mut rows: Vec<Acceptance> = snapshot.acceptances.values().cloned().collect();
    rows.sort_by(|a, b| a.technique_id.cmp(&b.technique_id));
    Ok(Json(rows.into_iter().map(|row| acceptance_dto(&snapshot, row)).collect()))
}

/// The risk acceptance of one technique.
#[utoipa::path(get, path = "/systems/{id}/acceptances/{technique_id}", tag = "assessment",
    params(("id" = i64, Path), ("technique_id" = String, Path)),
    responses((status = OK, body = AcceptanceDto, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_acceptance(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
) -> ApiResult<Versioned<AcceptanceDto>> {
    let snapshot = snapshot::load(&state, id).await?;
    known_technique(&snapshot, &technique_id)?;
    let row = snapshot
        .acceptances
        .get(&technique_id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("{technique_id} has no risk acceptance on this system")))?;
    let dto = acceptance_dto(&snapshot, row);
    Ok(Versioned::ok(dto.version, dto))
}

/// Accepts (or re-accepts) the risk of a technique until a date. Answers
/// `201` when the acceptance is new.
#[utoipa::path(put, path = "/systems/{id}/acceptances/{technique_id}", tag = "assessment",
    params(("id" = i64, Path), ("technique_id" = String, Path), WriteHeaders), request_body = AcceptanceBody,
    responses(
        (status = OK, body = AcceptanceDto, headers(("ETag" = String))),
        (status = CREATED, body = AcceptanceDto, headers(("ETag" = String), ("Location" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such system", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "An invalid field or date, or a technique not in the system's release", body = ErrorBody),
    ))]
async fn put_acceptance(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<AcceptanceBody>,
) -> ApiResult<Versioned<AcceptanceDto>> {
    let input = AcceptanceInput {
        justification: body.justification,
        accepted_by: body.accepted_by,
        expires_on: body.expires_on,
    };
    let written = decisions::set_acceptance(&state, id, &technique_id, input, expected, &actor).await?;
    let snapshot = snapshot::load(&state, id).await?;
    let dto = acceptance_dto(&snapshot, written.row);
    Ok(if written.created {
        let location = format!("/api/v1/systems/{id}/acceptances/{technique_id}");
        Versioned::created(dto.version, location, dto)
    } else {
        Versioned::ok(dto.version, dto)
    })
}

/// Withdraws the risk acceptance of a technique.
#[utoipa::path(delete, path = "/systems/{id}/acceptances/{technique_id}", tag = "assessment",
    params(("id" = i64, Path), ("technique_id" = String, Path), WriteHeaders),
    responses(
        (status = NO_CONTENT, description = "Withdrawn"),
        (status = NOT_FOUND, description = "No such system, or no acceptance", body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A technique not in the system's release", body = ErrorBody),
    ))]
async fn delete_acceptance(
    State(state): State<AppState>,
    ApiPath((id, technique_id)): ApiPath<(i64, String)>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
) -> ApiResult<StatusCode> {
    decisions::remove_acceptance(&state, id, &technique_id, expected, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- coverage and history

/// The system's coverage, overall and per tactic: the count of techniques
/// in every state and the two documented percentages.
#[utoipa::path(get, path = "/systems/{id}/coverage", tag = "assessment", params(("id" = i64, Path)),
    responses((status = OK, body = CoverageReport), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_coverage(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<CoverageReport>> {
    Ok(Json(snapshot::load(&state, id).await?.report()))
}

/// The system's change history, newest first.
#[utoipa::path(get, path = "/systems/{id}/history", tag = "assessment", params(("id" = i64, Path), HistoryQuery),
    responses((status = OK, body = [HistoryDto]), (status = BAD_REQUEST, body = ErrorBody), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_history(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<HistoryDto>>> {
    let limit = query.limit.unwrap_or(HISTORY_LIMIT_DEFAULT);
    if !(1..=HISTORY_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::InvalidField {
            field: "limit",
            message: format!("{limit} is outside 1 to {HISTORY_LIMIT_MAX}"),
        });
    }
    let item = query.item.as_deref().map(str::trim).filter(|i| !i.is_empty());
    if let Some(item) = item
        && (item.chars().count() > 100 || item.chars().any(char::is_control))
    {
        return Err(ApiError::InvalidField {
            field: "item",
            message: "a technique, mitigation or control ID of at most 100 characters".into(),
        });
    }
    let entries = decisions::history(&state, id, item, limit).await?;
    Ok(Json(entries.into_iter().map(HistoryDto::from).collect()))
}

/// Reverts a change: one entry, or the whole bulk action it belongs to,
/// provided nobody changed the same items since (else `409` with the
/// current version). The revert is itself recorded and can be undone.
#[utoipa::path(post, path = "/systems/{id}/history/{entry_id}/undo", tag = "assessment",
    params(("id" = i64, Path), ("entry_id" = i64, Path)),
    responses(
        (status = OK, body = ChangeResult),
        (status = NOT_FOUND, description = "No such system, or the entry is not in its history", body = ErrorBody),
        (status = CONFLICT, description = "An item changed since; the error carries `current_version`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A kind of change that cannot be undone", body = ErrorBody),
    ))]
async fn undo_change(
    State(state): State<AppState>,
    ApiPath((id, entry_id)): ApiPath<(i64, i64)>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<ChangeResult>> {
    let result = decisions::undo(&state, id, entry_id, &actor).await.map_err(|e| match ApiError::from(e) {
        // No precondition was sent: a stale undo is a conflict, not a failed precondition.
        ApiError::PreconditionFailed { message, current_version } => {
            ApiError::ChangedSince { message, current_version }
        }
        other => other,
    })?;
    Ok(Json(result.into()))
}
