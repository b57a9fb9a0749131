//! `/api/v1/frameworks`: the loaded ATLAS releases and their objects.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::atlas::framework::{Counts, Origin};
use crate::atlas::matrix::{self, TechniqueFilter};
use crate::atlas::model::{
    AttackReference, CaseStudy, CaseStudyKind, DateGranularity, Maturity, ProcedureStep, SourceFormat, Technique,
    official_url,
};
use crate::atlas::{Framework, MAX_RELEASE_BYTES, ReadErrorKind};
use crate::domain::release_diff::{ReleaseDiff, diff};
use crate::releases::{self, AddReleaseFailure};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_frameworks, import_framework))
        .routes(routes!(get_framework))
        .routes(routes!(get_matrix))
        .routes(routes!(list_techniques))
        .routes(routes!(get_technique))
        .routes(routes!(list_mitigations))
        .routes(routes!(get_mitigation))
        .routes(routes!(list_case_studies))
        .routes(routes!(get_case_study))
        .routes(routes!(diff_frameworks))
        .layer(DefaultBodyLimit::max(MAX_RELEASE_BYTES))
}

fn release(state: &AppState, version: &str) -> ApiResult<Arc<Framework>> {
    state.catalog.get(version).ok_or_else(|| ApiError::NotFound(format!("ATLAS release {version} is not loaded")))
}

// ---------------------------------------------------------------- DTOs

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseSummary {
    pub version: String,
    pub format: SourceFormat,
    /// Content date of the release, when its file states one.
    pub date: Option<String>,
    pub default: bool,
    pub origin: Origin,
    /// True when MITRE's descriptions are loaded (imported official file).
    pub full_text: bool,
    pub counts: Counts,
}

fn summary(state: &AppState, framework: &Framework) -> ReleaseSummary {
    ReleaseSummary {
        version: framework.version().to_string(),
        format: framework.release.format,
        date: framework.release.date.clone(),
        default: framework.version() == state.catalog.default_version(),
        origin: framework.origin.clone(),
        full_text: framework.has_official_text(),
        counts: framework.counts(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TechniqueSummary {
    pub id: String,
    pub name: String,
    pub parent: Option<String>,
    pub tactics: Vec<String>,
    pub maturity: Option<Maturity>,
    pub platforms: Vec<String>,
    pub summary: Option<String>,
    /// Number of case studies with a step using this technique.
    pub case_studies: usize,
    /// Number of ATLAS mitigations linked to this technique.
    pub mitigations: usize,
    pub subtechniques: Vec<String>,
    pub url: String,
}

fn technique_summary(framework: &Framework, t: &Technique) -> TechniqueSummary {
    TechniqueSummary {
        id: t.id.clone(),
        name: t.name.clone(),
        parent: t.parent.clone(),
        tactics: t.tactics.clone(),
        maturity: t.maturity,
        platforms: t.platforms.clone(),
        summary: t.summary.clone(),
        case_studies: framework.case_study_count(&t.id),
        mitigations: framework.mitigations_for(&t.id).count(),
        subtechniques: framework.subtechniques(&t.id).map(|s| s.id.clone()).collect(),
        url: official_url(&t.id),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TechniqueMitigation {
    pub id: String,
    pub name: String,
    /// How the mitigation applies here (MITRE's text; imported releases only).
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseStudyUse {
    pub id: String,
    pub name: String,
    /// 1-based procedure steps that use the technique.
    pub steps: Vec<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TechniqueDetail {
    pub id: String,
    pub name: String,
    pub parent: Option<NamedRef>,
    pub tactics: Vec<NamedRef>,
    pub maturity: Option<Maturity>,
    pub platforms: Vec<String>,
    pub attack_reference: Option<AttackReference>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub summary: Option<String>,
    /// MITRE's Markdown description (imported releases only).
    pub description: Option<String>,
    pub subtechniques: Vec<NamedRef>,
    pub mitigations: Vec<TechniqueMitigation>,
    pub case_studies: Vec<CaseStudyUse>,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixTechnique {
    pub id: String,
    pub name: String,
    pub maturity: Option<Maturity>,
    pub platforms: Vec<String>,
    pub case_studies: usize,
    /// Sub-techniques (always empty on a sub-technique).
    #[schema(no_recursion)]
    pub subtechniques: Vec<MatrixTechnique>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixTactic {
    pub id: String,
    pub name: String,
    pub shortname: String,
    pub techniques: Vec<MatrixTechnique>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatrixDto {
    pub version: String,
    pub tactics: Vec<MatrixTactic>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MitigationDto {
    pub id: String,
    pub name: String,
    pub categories: Vec<String>,
    pub lifecycle_phases: Vec<String>,
    pub attack_reference: Option<AttackReference>,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub techniques: Vec<TechniqueMitigationLink>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TechniqueMitigationLink {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

fn mitigation_dto(framework: &Framework, m: &crate::atlas::model::Mitigation) -> MitigationDto {
    MitigationDto {
        id: m.id.clone(),
        name: m.name.clone(),
        categories: m.categories.clone(),
        lifecycle_phases: m.lifecycle_phases.clone(),
        attack_reference: m.attack_reference.clone(),
        summary: m.summary.clone(),
        description: m.description.clone(),
        techniques: m
            .techniques
            .iter()
            .map(|l| TechniqueMitigationLink {
                id: l.technique.clone(),
                name: framework.technique(&l.technique).map(|t| t.name.clone()).unwrap_or_default(),
                description: l.description.clone(),
            })
            .collect(),
        created: m.created.clone(),
        modified: m.modified.clone(),
        url: official_url(&m.id),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseStudyDto {
    pub id: String,
    pub name: String,
    pub kind: Option<CaseStudyKind>,
    pub date: Option<String>,
    pub date_granularity: Option<DateGranularity>,
    pub target: Option<String>,
    pub actor: Option<String>,
    pub reporter: Option<String>,
    pub description: Option<String>,
    pub steps: Vec<ProcedureStep>,
    pub url: String,
}

fn case_study_dto(c: &CaseStudy) -> CaseStudyDto {
    CaseStudyDto {
        id: c.id.clone(),
        name: c.name.clone(),
        kind: c.kind,
        date: c.date.clone(),
        date_granularity: c.date_granularity,
        target: c.target.clone(),
        actor: c.actor.clone(),
        reporter: c.reporter.clone(),
        description: c.description.clone(),
        steps: c.steps.clone(),
        url: official_url(&c.id),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseImportResult {
    pub version: String,
    pub format: SourceFormat,
    pub counts: Counts,
    pub full_text: bool,
}

// ---------------------------------------------------------------- handlers

/// The loaded ATLAS releases, newest first.
#[utoipa::path(get, path = "/frameworks", tag = "frameworks",
    responses((status = OK, body = [ReleaseSummary])))]
async fn list_frameworks(State(state): State<AppState>) -> Json<Vec<ReleaseSummary>> {
    Json(state.catalog.list().iter().map(|f| summary(&state, f)).collect())
}

#[derive(Debug, Deserialize, IntoParams)]
struct ImportParams {
    /// Name for the release; needed for STIX bundles, which state no version.
    version: Option<String>,
    /// File name reported in messages.
    filename: Option<String>,
}

/// Imports an official ATLAS file (legacy YAML, calendar YAML or STIX JSON,
/// detected automatically) sent as the request body. Nothing is stored
/// unless the whole file reads and validates.
#[utoipa::path(post, path = "/frameworks", tag = "frameworks", params(ImportParams),
    request_body(content = String, description = "The official file's bytes", content_type = "application/octet-stream"),
    responses(
        (status = CREATED, body = ReleaseImportResult),
        (status = UNSUPPORTED_MEDIA_TYPE, description = "Not an ATLAS file", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "Malformed, truncated or inconsistent file", body = ErrorBody),
        (status = CONFLICT, description = "The release is already loaded", body = ErrorBody),
        (status = PAYLOAD_TOO_LARGE, description = "Over the import size limit", body = ErrorBody),
    ))]
async fn import_framework(
    State(state): State<AppState>,
    Query(params): Query<ImportParams>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, HeaderMap, Json<ReleaseImportResult>)> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the file is over the import limit of {MAX_RELEASE_BYTES} bytes"))
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest("the request body is empty; send the official file's bytes".into()));
    }
    let file = params.filename.as_deref().unwrap_or("request body");
    let framework =
        releases::add_release(&state, &body, file, params.version.as_deref()).await.map_err(
            |failure| match failure {
                AddReleaseFailure::Unreadable(e) => match e.kind {
                    ReadErrorKind::TooLarge => ApiError::TooLarge(e.to_string()),
                    ReadErrorKind::UnknownFormat => ApiError::UnsupportedFormat(e.to_string()),
                    ReadErrorKind::Syntax | ReadErrorKind::Invalid => ApiError::InvalidFile(e.to_string()),
                },
                AddReleaseFailure::AlreadyLoaded { .. } => ApiError::Conflict(failure.to_string()),
                AddReleaseFailure::Database(e) => ApiError::Internal(e.into()),
                AddReleaseFailure::Reader(e) => ApiError::Internal(anyhow::anyhow!(e)),
            },
        )?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = format!("/api/v1/frameworks/{}", framework.version()).parse() {
        headers.insert(header::LOCATION, location);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        Json(ReleaseImportResult {
            version: framework.version().to_string(),
            format: framework.release.format,
            counts: framework.counts(),
            full_text: framework.has_official_text(),
        }),
    ))
}

/// One release's summary; `default` names the default release.
#[utoipa::path(get, path = "/frameworks/{version}", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`")),
    responses((status = OK, body = ReleaseSummary), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_framework(State(state): State<AppState>, Path(version): Path<String>) -> ApiResult<Json<ReleaseSummary>> {
    let framework = release(&state, &version)?;
    Ok(Json(summary(&state, &framework)))
}

/// The matrix: tactics in official order, each with its techniques and their sub-techniques.
#[utoipa::path(get, path = "/frameworks/{version}/matrix", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`")),
    responses((status = OK, body = MatrixDto), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_matrix(State(state): State<AppState>, Path(version): Path<String>) -> ApiResult<Json<MatrixDto>> {
    let framework = release(&state, &version)?;
    let laid_out = matrix::build(&framework, &TechniqueFilter::default());
    let tactics = laid_out
        .columns
        .into_iter()
        .map(|column| MatrixTactic {
            id: column.tactic.id.clone(),
            name: column.tactic.name.clone(),
            shortname: column.tactic.shortname.clone(),
            techniques: column
                .cells
                .into_iter()
                .map(|cell| MatrixTechnique {
                    id: cell.technique.id.clone(),
                    name: cell.technique.name.clone(),
                    maturity: cell.technique.maturity,
                    platforms: cell.technique.platforms.clone(),
                    case_studies: cell.case_studies,
                    subtechniques: cell
                        .subtechniques
                        .into_iter()
                        .map(|sub| MatrixTechnique {
                            id: sub.technique.id.clone(),
                            name: sub.technique.name.clone(),
                            maturity: sub.technique.maturity,
                            platforms: sub.technique.platforms.clone(),
                            case_studies: sub.case_studies,
                            subtechniques: Vec::new(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(MatrixDto { version: framework.version().to_string(), tactics }))
}

#[derive(Debug, Deserialize, IntoParams)]
struct TechniqueQuery {
    /// Text matched against ID, name and summary.
    q: Option<String>,
    /// Tactic ID, e.g. `AML.TA0004`.
    tactic: Option<String>,
    /// `feasible`, `demonstrated` or `realized`.
    maturity: Option<String>,
    /// `Predictive AI`, `Generative AI`, `Agentic AI` or `Enterprise`.
    platform: Option<String>,
}

/// Techniques and sub-techniques in ID order, optionally filtered.
#[utoipa::path(get, path = "/frameworks/{version}/techniques", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`"), TechniqueQuery),
    responses((status = OK, body = [TechniqueSummary]), (status = BAD_REQUEST, body = ErrorBody), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_techniques(
    State(state): State<AppState>,
    Path(version): Path<String>,
    Query(query): Query<TechniqueQuery>,
) -> ApiResult<Json<Vec<TechniqueSummary>>> {
    let framework = release(&state, &version)?;
    let filter = TechniqueFilter::parse(
        &framework,
        query.q.as_deref(),
        query.tactic.as_deref(),
        query.maturity.as_deref(),
        query.platform.as_deref(),
    )
    .map_err(|e| match e.unknown {
        true => ApiError::NotFound(format!("{}: {}", e.field, e.message)),
        false => ApiError::InvalidField { field: e.field, message: e.message },
    })?;
    let techniques = framework
        .techniques()
        .iter()
        .filter(|t| filter.matches(t))
        .filter(|t| filter.tactic.as_ref().is_none_or(|tactic| t.tactics.contains(tactic)))
        .map(|t| technique_summary(&framework, t))
        .collect();
    Ok(Json(techniques))
}

/// One technique with its tactics, sub-techniques, mitigations and case studies.
#[utoipa::path(get, path = "/frameworks/{version}/techniques/{id}", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`"), ("id" = String, Path, description = "e.g. AML.T0051.001")),
    responses((status = OK, body = TechniqueDetail), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_technique(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> ApiResult<Json<TechniqueDetail>> {
    let framework = release(&state, &version)?;
    let t = framework
        .technique(&id)
        .ok_or_else(|| ApiError::NotFound(format!("technique {id} is not in ATLAS release {}", framework.version())))?;
    let named = |id: &str, name: &str| NamedRef { id: id.to_string(), name: name.to_string() };
    Ok(Json(TechniqueDetail {
        id: t.id.clone(),
        name: t.name.clone(),
        parent: t.parent.as_deref().and_then(|p| framework.technique(p)).map(|p| named(&p.id, &p.name)),
        tactics: t.tactics.iter().filter_map(|id| framework.tactic(id)).map(|x| named(&x.id, &x.name)).collect(),
        maturity: t.maturity,
        platforms: t.platforms.clone(),
        attack_reference: t.attack_reference.clone(),
        created: t.created.clone(),
        modified: t.modified.clone(),
        summary: t.summary.clone(),
        description: t.description.clone(),
        subtechniques: framework.subtechniques(&t.id).map(|s| named(&s.id, &s.name)).collect(),
        mitigations: framework
            .mitigations_for(&t.id)
            .map(|m| TechniqueMitigation {
                id: m.id.clone(),
                name: m.name.clone(),
                description: m.techniques.iter().find(|l| l.technique == t.id).and_then(|l| l.description.clone()),
            })
            .collect(),
        case_studies: framework
            .case_studies_using(&t.id)
            .map(|c| CaseStudyUse {
                id: c.id.clone(),
                name: c.name.clone(),
                steps: c.steps.iter().enumerate().filter(|(_, s)| s.technique == t.id).map(|(n, _)| n + 1).collect(),
            })
            .collect(),
        url: official_url(&t.id),
    }))
}

/// ATLAS mitigations with the techniques each one mitigates.
#[utoipa::path(get, path = "/frameworks/{version}/mitigations", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`")),
    responses((status = OK, body = [MitigationDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_mitigations(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> ApiResult<Json<Vec<MitigationDto>>> {
    let framework = release(&state, &version)?;
    Ok(Json(framework.mitigations().iter().map(|m| mitigation_dto(&framework, m)).collect()))
}

/// One mitigation.
#[utoipa::path(get, path = "/frameworks/{version}/mitigations/{id}", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`"), ("id" = String, Path, description = "e.g. AML.M0004")),
    responses((status = OK, body = MitigationDto), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_mitigation(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> ApiResult<Json<MitigationDto>> {
    let framework = release(&state, &version)?;
    let m = framework.mitigation(&id).ok_or_else(|| {
        ApiError::NotFound(format!("mitigation {id} is not in ATLAS release {}", framework.version()))
    })?;
    Ok(Json(mitigation_dto(&framework, m)))
}

/// ATLAS case studies with their procedure steps in attack order.
#[utoipa::path(get, path = "/frameworks/{version}/case-studies", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`")),
    responses((status = OK, body = [CaseStudyDto]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_case_studies(
    State(state): State<AppState>,
    Path(version): Path<String>,
) -> ApiResult<Json<Vec<CaseStudyDto>>> {
    let framework = release(&state, &version)?;
    Ok(Json(framework.case_studies().iter().map(case_study_dto).collect()))
}

/// One case study.
#[utoipa::path(get, path = "/frameworks/{version}/case-studies/{id}", tag = "frameworks",
    params(("version" = String, Path, description = "Release version or `default`"), ("id" = String, Path, description = "e.g. AML.CS0002")),
    responses((status = OK, body = CaseStudyDto), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_case_study(
    State(state): State<AppState>,
    Path((version, id)): Path<(String, String)>,
) -> ApiResult<Json<CaseStudyDto>> {
    let framework = release(&state, &version)?;
    let c = framework.case_study(&id).ok_or_else(|| {
        ApiError::NotFound(format!("case study {id} is not in ATLAS release {}", framework.version()))
    })?;
    Ok(Json(case_study_dto(c)))
}

/// What changed between two releases, from their content: techniques added,
/// removed (with a proposed successor and its evidence), renamed, possibly
/// reused, moved, re-parented, maturity and platforms changed; tactics,
/// mitigations, mitigation links and case studies added, removed or changed.
#[utoipa::path(get, path = "/frameworks/{version}/diff/{other}", tag = "frameworks",
    params(("version" = String, Path, description = "The older release"), ("other" = String, Path, description = "The newer release")),
    responses((status = OK, body = ReleaseDiff), (status = NOT_FOUND, body = ErrorBody)))]
async fn diff_frameworks(
    State(state): State<AppState>,
    Path((version, other)): Path<(String, String)>,
) -> ApiResult<Json<ReleaseDiff>> {
    let old = release(&state, &version)?;
    let new = release(&state, &other)?;
    Ok(Json(diff(&old, &new)))
}
