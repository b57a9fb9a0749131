//! The map over time in the API: `…/coverage/trend` of a system or a team
//! (coverage replayed from the history, as JSON or CSV) and `…/deadlines`
//! (acceptances and target dates that ran out or soon will).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, ApiResult, ErrorBody};
use crate::app::AppState;
use crate::domain::FieldError;
use crate::service::ServiceError;
use crate::service::deadlines::{self, Deadline};
use crate::service::trends::{self, Range, SystemTrend, TeamTrend};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(system_trend))
        .routes(routes!(team_trend))
        .routes(routes!(system_deadlines))
        .routes(routes!(team_deadlines))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// First day (`YYYY-MM-DD`); default 89 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// Last day, included (`YYYY-MM-DD`); default today.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// `day` (default), `week` (from Monday) or `month`; at most 1,100 points.
    #[param(pattern = "^(day|week|month)$")]
    step: Option<String>,
    /// `json` (default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

impl TrendQuery {
    fn range(&self) -> ApiResult<Range> {
        Range::parse(self.from.as_deref(), self.to.as_deref(), self.step.as_deref()).map_err(query_error)
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

/// A refused query parameter answers 400 naming it.
fn query_error(error: ServiceError) -> ApiError {
    match error {
        ServiceError::Invalid(FieldError { field, message, .. }) => {
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
        (status = NOT_FOUND, body = ErrorBody),
    ))]
async fn system_trend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TrendQuery>,
) -> ApiResult<Response> {
    let (range, csv) = (query.range()?, query.csv()?);
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
        (status = NOT_FOUND, body = ErrorBody),
    ))]
async fn team_trend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<TrendQuery>,
) -> ApiResult<Response> {
    let (range, csv) = (query.range()?, query.csv()?);
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
