//! `/api/v1/systems`: the ML systems a team assesses, each against one ATLAS release.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiError;
use super::actor::ApiActor;
use super::extract::{ApiJson, ApiPath, ApiQuery, IfMatch, Versioned, WriteHeaders};
use super::{ApiResult, ErrorBody};
use crate::app::AppState;
use crate::auth::guard::{require_role, visible_teams};
use crate::auth::{Principal, Role};
use crate::domain::records::System;
use crate::domain::{Exposure, Rating};
use crate::service::systems::{self, SystemInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_systems, create_system)).routes(routes!(
        get_system,
        update_system,
        delete_system
    ))
}

/// A system to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSystemBody {
    /// The team the system belongs to.
    #[serde(deserialize_with = "super::extract::whole_number")]
    pub team_id: i64,
    /// Unique within the team (case-insensitive), at most 200 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    /// ATLAS platforms: `Predictive AI`, `Generative AI`, `Agentic AI`, `Enterprise`.
    #[serde(default)]
    pub platforms: Vec<String>,
    pub exposure: Exposure,
    pub criticality: Rating,
    /// The ATLAS release to assess against; the default release when absent.
    #[serde(default)]
    pub framework_version: Option<String>,
}

impl NewSystemBody {
    /// The team, and the system to create there.
    fn split(self) -> (i64, SystemInput) {
        let NewSystemBody { team_id, name, description, owner, platforms, exposure, criticality, framework_version } =
            self;
        let input = SystemInput {
            framework_version,
            ..SystemBody { name, description, owner, platforms, exposure, criticality }.into()
        };
        (team_id, input)
    }
}

/// A system's editable fields. On an edit every field is replaced; an absent
/// optional field is cleared. The release is not among them: it changes only
/// through `POST /api/v1/systems/{id}/upgrade`, which carries the decisions over.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemBody {
    /// Unique within the team (case-insensitive), at most 200 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub owner: String,
    /// ATLAS platforms: `Predictive AI`, `Generative AI`, `Agentic AI`, `Enterprise`.
    #[serde(default)]
    pub platforms: Vec<String>,
    pub exposure: Exposure,
    pub criticality: Rating,
}

impl From<SystemBody> for SystemInput {
    fn from(body: SystemBody) -> Self {
        SystemInput {
            name: body.name,
            description: body.description,
            owner: body.owner,
            platforms: body.platforms,
            exposure: body.exposure.as_str().to_string(),
            criticality: body.criticality.as_str().to_string(),
            // The release changes only through an upgrade.
            framework_version: None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SystemQuery {
    /// Only the systems of this team.
    team_id: Option<i64>,
}

/// Every system, by name, optionally of one team.
#[utoipa::path(get, path = "/systems", tag = "systems", params(SystemQuery),
    responses((status = OK, body = [System]), (status = BAD_REQUEST, body = ErrorBody)))]
async fn list_systems(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<SystemQuery>,
) -> ApiResult<Json<Vec<System>>> {
    if let Some(team_id) = query.team_id.filter(|id| *id < 1) {
        return Err(ApiError::InvalidField { field: "team_id", message: format!("{team_id} is not a team ID") });
    }
    let visible = visible_teams(&state, &principal).await?;
    let mut all = systems::list(&state, query.team_id).await?;
    if let Some(visible) = visible {
        all.retain(|s| visible.contains(&s.team_id));
    }
    Ok(Json(all))
}

/// Creates a system in a team.
#[utoipa::path(post, path = "/systems", tag = "systems", request_body = NewSystemBody,
    responses(
        (status = CREATED, body = System, headers(("ETag" = String), ("Location" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = CONFLICT, description = "The team already has a system of that name", body = ErrorBody),
        (status = NOT_FOUND, description = "The team or the release the body names does not exist", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or invalid", body = ErrorBody),
    ))]
async fn create_system(
    State(state): State<AppState>,
    principal: Principal,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<NewSystemBody>,
) -> ApiResult<Versioned<System>> {
    let (team_id, fields) = body.split();
    match require_role(&state, &principal, team_id, Role::Owner).await {
        Ok(()) => {}
        Err(StatusCode::FORBIDDEN) => {
            return Err(ApiError::Forbidden(format!("this needs the owner role on team {team_id}")));
        }
        // An unknown team and one the caller cannot see look the same.
        Err(StatusCode::NOT_FOUND) => {
            return Err(ApiError::Unprocessable {
                field: "team_id".into(),
                message: format!("team {team_id} does not exist"),
            });
        }
        Err(_) => return Err(ApiError::Internal(anyhow::anyhow!("role lookup failed"))),
    }
    let system = systems::create(&state, team_id, fields, &actor).await?;
    Ok(Versioned::created(system.version, format!("/api/v1/systems/{}", system.id), system))
}

/// One system.
#[utoipa::path(get, path = "/systems/{id}", tag = "systems", params(("id" = i64, Path)),
    responses((status = OK, body = System, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_system(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Versioned<System>> {
    let system = systems::get(&state, id).await?;
    Ok(Versioned::ok(system.version, system))
}

/// Edits a system (it stays in its team).
#[utoipa::path(put, path = "/systems/{id}", tag = "systems", params(("id" = i64, Path), WriteHeaders),
    request_body = SystemBody,
    responses(
        (status = OK, body = System, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = CONFLICT, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn update_system(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<SystemBody>,
) -> ApiResult<Versioned<System>> {
    let system = systems::update(&state, id, expected, body.into(), &actor).await?;
    Ok(Versioned::ok(system.version, system))
}

/// Deletes a system with all its decisions and history.
#[utoipa::path(delete, path = "/systems/{id}", tag = "systems", params(("id" = i64, Path), WriteHeaders),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
    ))]
async fn delete_system(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(_actor): ApiActor,
) -> ApiResult<StatusCode> {
    systems::delete_if_current(&state, id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
