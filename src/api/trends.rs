//! `GET /api/v1/systems/{id}/coverage/trend` and
//! `GET /api/v1/teams/{id}/coverage/trend`: coverage over time, replayed
//! from the history, as JSON or CSV.

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
use crate::service::trends::{self, Range, SystemTrend, TeamTrend};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(system_trend)).routes(routes!(team_trend))
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
