//! `/api/v1/teams` and `/api/v1/controls`: teams, and the controls each team
//! defines and maps to ATLAS techniques.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::extract::{ApiJson, ApiPath, IfMatch, Versioned, WriteHeaders};
use super::{ApiResult, ErrorBody};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::guard::visible_teams;
use crate::domain::records::{Control, Team};
use crate::service::controls::{self, ControlInput};
use crate::service::teams::{self, TeamInput};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_controls, create_control))
        .routes(routes!(get_control, update_control, delete_control))
}

/// A team to create, or a team's new name and description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// Unique (case-insensitive), at most 200 characters.
    pub name: String,
    /// At most 4,000 characters.
    #[serde(default)]
    pub description: String,
}

impl From<TeamBody> for TeamInput {
    fn from(body: TeamBody) -> Self {
        TeamInput { name: body.name, description: body.description }
    }
}

/// A control to create, or a control's new definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    /// Unique within the team (case-insensitive), at most 200 characters.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// ATLAS technique IDs the control addresses (at most 500).
    pub techniques: Vec<String>,
}

impl From<ControlBody> for ControlInput {
    fn from(body: ControlBody) -> Self {
        ControlInput { name: body.name, description: body.description, techniques: body.techniques }
    }
}

/// Every team, by name.
#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = OK, body = [Team])))]
async fn list_teams(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Vec<Team>>> {
    let visible = visible_teams(&state, &principal).await?;
    let mut all = teams::list(&state).await?;
    if let Some(visible) = visible {
        all.retain(|t| visible.contains(&t.id));
    }
    Ok(Json(all))
}

/// Creates a team.
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamBody,
    responses(
        (status = CREATED, body = Team, headers(("ETag" = String), ("Location" = String))),
        (status = BAD_REQUEST, description = "Malformed JSON or header", body = ErrorBody),
        (status = CONFLICT, description = "The name is taken", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or invalid", body = ErrorBody),
    ))]
async fn create_team(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<TeamBody>,
) -> ApiResult<Versioned<Team>> {
    let team = teams::create(&state, body.into(), &actor).await?;
    Ok(Versioned::created(team.version, format!("/api/v1/teams/{}", team.id), team))
}

/// One team.
#[utoipa::path(get, path = "/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = OK, body = Team, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_team(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Versioned<Team>> {
    let team = teams::get(&state, id).await?;
    Ok(Versioned::ok(team.version, team))
}

/// Renames a team or changes its description.
#[utoipa::path(put, path = "/teams/{id}", tag = "teams", params(("id" = i64, Path), WriteHeaders), request_body = TeamBody,
    responses(
        (status = OK, body = Team, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = CONFLICT, description = "The name is taken", body = ErrorBody),
        (status = PRECONDITION_FAILED, description = "`If-Match` is stale; the error carries `current_version`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn update_team(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<TeamBody>,
) -> ApiResult<Versioned<Team>> {
    let team = teams::update(&state, id, expected, body.into(), &actor).await?;
    Ok(Versioned::ok(team.version, team))
}

/// Deletes a team with all its systems, controls, decisions and history.
#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(("id" = i64, Path), WriteHeaders),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
    ))]
async fn delete_team(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(_actor): ApiActor,
) -> ApiResult<StatusCode> {
    teams::delete_if_current(&state, id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The controls a team defines, by name.
#[utoipa::path(get, path = "/teams/{id}/controls", tag = "teams", params(("id" = i64, Path)),
    responses((status = OK, body = [Control]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_controls(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Vec<Control>>> {
    teams::get(&state, id).await?;
    Ok(Json(controls::list(&state, id).await?))
}

/// Defines a control of the team, mapped to ATLAS techniques.
#[utoipa::path(post, path = "/teams/{id}/controls", tag = "teams", params(("id" = i64, Path)),
    request_body = ControlBody,
    responses(
        (status = CREATED, body = Control, headers(("ETag" = String), ("Location" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, description = "No such team", body = ErrorBody),
        (status = CONFLICT, description = "The team already has a control of that name", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A field is missing or invalid, e.g. an unknown technique", body = ErrorBody),
    ))]
async fn create_control(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<ControlBody>,
) -> ApiResult<Versioned<Control>> {
    teams::get(&state, id).await?;
    let control = controls::create(&state, id, body.into(), &actor).await?;
    Ok(Versioned::created(control.version, format!("/api/v1/controls/{}", control.id), control))
}

/// One control.
#[utoipa::path(get, path = "/controls/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = OK, body = Control, headers(("ETag" = String))), (status = NOT_FOUND, body = ErrorBody)))]
async fn get_control(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> ApiResult<Versioned<Control>> {
    let control = controls::get(&state, id).await?;
    Ok(Versioned::ok(control.version, control))
}

/// Redefines a control: name, description and mapped techniques.
#[utoipa::path(put, path = "/controls/{id}", tag = "teams", params(("id" = i64, Path), WriteHeaders),
    request_body = ControlBody,
    responses(
        (status = OK, body = Control, headers(("ETag" = String))),
        (status = BAD_REQUEST, body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = CONFLICT, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn update_control(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<ControlBody>,
) -> ApiResult<Versioned<Control>> {
    let control = controls::update(&state, id, expected, body.into(), &actor).await?;
    Ok(Versioned::ok(control.version, control))
}

/// Deletes a control with its status on every system.
#[utoipa::path(delete, path = "/controls/{id}", tag = "teams", params(("id" = i64, Path), WriteHeaders),
    responses(
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody),
    ))]
async fn delete_control(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    IfMatch(expected): IfMatch,
    ApiActor(actor): ApiActor,
) -> ApiResult<StatusCode> {
    controls::delete_if_current(&state, id, expected, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
