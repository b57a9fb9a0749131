//! The map over time in the API: `…/coverage/trend` of a system or a team
//! (coverage replayed from the history, as JSON or CSV), `…/deadlines`
//! (acceptances and target dates that ran out or soon will), a team's named
//! `…/snapshots`, and `…/digest` (what changed between two moments, as
//! JSON, Markdown or self-contained HTML).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::domain::digest::Digest;
use crate::domain::records::TeamSnapshot;
use crate::domain::{FieldError, FieldErrorKind};
use crate::service::deadlines::{self, Deadline};
use crate::service::team_snapshots::{self, SnapshotInput};
use crate::service::trends::{self, Range, SystemTrend, TeamTrend};
use crate::service::{ServiceError, digest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system_trend))
        .routes(routes!(team_trend))
        .routes(routes!(system_deadlines))
        .routes(routes!(team_deadlines))
        .routes(routes!(list_snapshots, create_snapshot))
        .routes(routes!(delete_snapshot))
        .routes(routes!(system_digest))
        .routes(routes!(team_digest))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// First day (`YYYY-MM-DD`, or a snapshot of the team by name: its day); default 89 days before `to`.
    from: Option<String>,
    /// Last day, included (`YYYY-MM-DD`, or a snapshot name); default today.
    to: Option<String>,
    /// `day` (default), `week` (from Monday) or `month`; at most 1,100 points.
    #[param(pattern = "^(day|week|month)$")]
    step: Option<String>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

impl TrendQuery {
    async fn range(&self, state: &AppState, team_id: i64) -> ApiResult<Range> {
        trends::range_of_team(state, team_id, self.from.as_deref(), self.to.as_deref(), self.step.as_deref())
            .await
            .map_err(query_error)
    }

    fn csv(&self) -> ApiResult<bool> {
        match self.format.as_deref().map(str::trim) {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => {
                Err(ApiError::InvalidField { field: "format", message: format!("`{other}`: use json or csv") })
            }
        }
    }
}

/// A refused query parameter answers 400 naming it (an unknown snapshot
/// name, 404 naming it).
fn query_error(error: ServiceError) -> ApiError {
    match error {
        ServiceError::Invalid(FieldError { field, message, kind: FieldErrorKind::Invalid }) => {
            let field = ["from", "to", "step"].into_iter().find(|f| *f == field).unwrap_or("query");
            ApiError::InvalidField { field, message }
        }
        other => other.into(),
    }
}

fn csv_response(body: String, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"atlascope-trend-{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

/// A system's coverage at the end of each day, week or month of a period,
/// replayed from its history against the release it was pinned to then
/// (undo, bulk changes, imports and upgrades included; before the system
/// existed a point has no release and no counts).
#[utoipa::path(get, path = "/systems/{id}/coverage/trend", tag = "assessment", params(("id" = i64, Path), TrendQuery),
    responses(
        (status = OK, description = "The trend", content((SystemTrend = "application/json"), (String = "text/csv"))),
        (status = BAD_REQUEST, description = "A bad `from`, `to`, `step` or `format`, named", body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or no snapshot of that name (the parameter is named)", body = ErrorBody),
    ))]
async fn system_trend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TrendQuery>,
) -> ApiResult<Response> {
    let csv = query.csv()?;
    let system = crate::service::systems::get(&state, id).await?;
    let range = query.range(&state, system.team_id).await?;
    let trend = trends::system_trend(&state, id, &range).await?;
    if csv {
        let rows: Vec<(&str, &trends::TrendPoint)> = trend.points.iter().map(|p| (trend.name.as_str(), p)).collect();
        return Ok(csv_response(trends::trend_csv(&rows), &format!("system-{id}")));
    }
    Ok(Json(trend).into_response())
}

/// A team's coverage over a period: every system's counts added up at each
/// point, and each system's own trend.
#[utoipa::path(get, path = "/teams/{id}/coverage/trend", tag = "teams", params(("id" = i64, Path), TrendQuery),
    responses(
        (status = OK, description = "The trend", content((TeamTrend = "application/json"), (String = "text/csv"))),
        (status = BAD_REQUEST, description = "A bad `from`, `to`, `step` or `format`, named", body = ErrorBody),
        (status = NOT_FOUND, description = "No such team, or no snapshot of that name (the parameter is named)", body = ErrorBody),
    ))]
async fn team_trend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TrendQuery>,
) -> ApiResult<Response> {
    let csv = query.csv()?;
    crate::service::teams::get(&state, id).await?;
    let range = query.range(&state, id).await?;
    let trend = trends::team_trend(&state, id, &range).await?;
    if csv {
        let mut rows: Vec<(&str, &trends::TrendPoint)> = trend.points.iter().map(|p| ("(team)", p)).collect();
        for system in &trend.systems {
            rows.extend(system.points.iter().map(|p| (system.name.as_str(), p)));
        }
        return Ok(csv_response(trends::trend_csv(&rows), &format!("team-{id}")));
    }
    Ok(Json::<TeamTrend>(trend).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineQuery {
    /// Days ahead to look, 0 to 3,650 (default 30); past ones are always listed.
    #[param(minimum = 0, maximum = 3650)]
    within: Option<i64>,
}

impl DeadlineQuery {
    fn within(&self) -> i64 {
        self.within.unwrap_or(30)
    }
}

fn deadline_error(error: ServiceError) -> ApiError {
    match error {
        ServiceError::Invalid(FieldError { message, .. }) => ApiError::InvalidField { field: "within", message },
        other => other.into(),
    }
}

/// A system's decisions that ran out or run out within `within` days: risk
/// acceptances (an expired one counts as a gap again) and target dates of
/// mitigations and controls not yet implemented. Soonest first.
#[utoipa::path(get, path = "/systems/{id}/deadlines", tag = "assessment", params(("id" = i64, Path), DeadlineQuery),
    responses(
        (status = OK, body = [Deadline]),
        (status = BAD_REQUEST, description = "`within` out of range", body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
    ))]
async fn system_deadlines(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DeadlineQuery>,
) -> ApiResult<Json<Vec<Deadline>>> {
    Ok(Json(deadlines::for_system(&state, id, query.within()).await.map_err(deadline_error)?))
}

/// The same for every system of a team.
#[utoipa::path(get, path = "/teams/{id}/deadlines", tag = "teams", params(("id" = i64, Path), DeadlineQuery),
    responses(
        (status = OK, body = [Deadline]),
        (status = BAD_REQUEST, description = "`within` out of range", body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
    ))]
async fn team_deadlines(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DeadlineQuery>,
) -> ApiResult<Json<Vec<Deadline>>> {
    Ok(Json(deadlines::for_team(&state, id, query.within()).await.map_err(deadline_error)?))
}

/// A moment of the team to name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBody {
    /// Unique within the team (case-insensitive), at most 200 characters; not a day or a time.
    pub name: String,
    /// The moment it names: a day (its end, UTC) or an RFC 3339 time, not in the future; default now.
    #[serde(default)]
    pub at: Option<String>,
}

/// A team's named moments, newest first. Any of them can be given by name
/// as `from` or `to` of a digest or a trend.
#[utoipa::path(get, path = "/teams/{id}/snapshots", tag = "teams", params(("id" = i64, Path)),
    responses((status = OK, body = [TeamSnapshot]), (status = NOT_FOUND, body = ErrorBody)))]
async fn list_snapshots(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<TeamSnapshot>>> {
    Ok(Json(team_snapshots::list(&state, id).await?))
}

/// Names a moment of the team ("Q3 review"): now, or a past day or time.
/// The map itself is not copied: it is replayed from the history when asked.
#[utoipa::path(post, path = "/teams/{id}/snapshots", tag = "teams", params(("id" = i64, Path)), request_body = SnapshotBody,
    responses(
        (status = CREATED, body = TeamSnapshot),
        (status = BAD_REQUEST, description = "Malformed JSON", body = ErrorBody),
        (status = NOT_FOUND, body = ErrorBody),
        (status = CONFLICT, description = "The team already has a snapshot of that name", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "A bad name or time, named", body = ErrorBody),
    ))]
async fn create_snapshot(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<SnapshotBody>,
) -> ApiResult<(StatusCode, Json<TeamSnapshot>)> {
    let input = SnapshotInput { name: body.name, at: body.at };
    Ok((StatusCode::CREATED, Json(team_snapshots::create(&state, id, input, &actor).await?)))
}

/// Removes a snapshot's name (the history it pointed into stays).
#[utoipa::path(delete, path = "/teams/{id}/snapshots/{snapshot}", tag = "teams",
    params(("id" = i64, Path), ("snapshot" = i64, Path)),
    responses((status = NO_CONTENT, description = "Removed"), (status = NOT_FOUND, body = ErrorBody)))]
async fn delete_snapshot(
    State(state): State<AppState>,
    ApiPath((id, snapshot)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    team_snapshots::delete(&state, id, snapshot).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DigestQuery {
    /// Start: a day (from its beginning, UTC), an RFC 3339 time, or a snapshot name;
    /// default the team's newest snapshot before `to`, else 30 days before `to`.
    from: Option<String>,
    /// End: a day (to its end), an RFC 3339 time, or a snapshot name; default now.
    to: Option<String>,
    /// `json` (default), `markdown` or `html` (one self-contained file).
    #[param(pattern = "^(json|markdown|html)$")]
    format: Option<String>,
}

fn digest_response(digest: Digest, format: Option<&str>, name: &str) -> ApiResult<Response> {
    let attachment = |kind: &str, extension: &str, body: String| {
        (
            [
                (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"atlascope-digest-{name}.{extension}\"")),
            ],
            body,
        )
            .into_response()
    };
    match format.map(str::trim) {
        None | Some("json") => Ok(Json(digest).into_response()),
        Some("markdown") => Ok(attachment("text/markdown", "md", crate::reports::digest::markdown(&digest))),
        Some("html") => {
            let html = crate::reports::digest::html(&digest).map_err(|e| ApiError::Internal(e.into()))?;
            Ok(attachment("text/html", "html", html))
        }
        Some(other) => {
            Err(ApiError::InvalidField { field: "format", message: format!("`{other}`: use json, markdown or html") })
        }
    }
}

/// What changed on a system between two moments: every change grouped by
/// technique (who, when, before → after), coverage before and after overall
/// and per tactic, gaps opened and closed, risk acceptances added or run
/// out, and release upgrades.
#[utoipa::path(get, path = "/systems/{id}/digest", tag = "assessment", params(("id" = i64, Path), DigestQuery),
    responses(
        (status = OK, description = "The digest", content((Digest = "application/json"), (String = "text/markdown"), (String = "text/html"))),
        (status = BAD_REQUEST, description = "A bad `from`, `to` or `format`, named", body = ErrorBody),
        (status = NOT_FOUND, description = "No such system, or no snapshot of that name (the parameter is named)", body = ErrorBody),
    ))]
async fn system_digest(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DigestQuery>,
) -> ApiResult<Response> {
    let digest =
        digest::for_system(&state, id, query.from.as_deref(), query.to.as_deref()).await.map_err(query_error)?;
    digest_response(digest, query.format.as_deref(), &format!("system-{id}"))
}

/// The same for every system of a team, with the changes to its control definitions.
#[utoipa::path(get, path = "/teams/{id}/digest", tag = "teams", params(("id" = i64, Path), DigestQuery),
    responses(
        (status = OK, description = "The digest", content((Digest = "application/json"), (String = "text/markdown"), (String = "text/html"))),
        (status = BAD_REQUEST, description = "A bad `from`, `to` or `format`, named", body = ErrorBody),
        (status = NOT_FOUND, description = "No such team, or no snapshot of that name (the parameter is named)", body = ErrorBody),
    ))]
async fn team_digest(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DigestQuery>,
) -> ApiResult<Response> {
    let digest = digest::for_team(&state, id, query.from.as_deref(), query.to.as_deref()).await.map_err(query_error)?;
    digest_response(digest, query.format.as_deref(), &format!("team-{id}"))
}
