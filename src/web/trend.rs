//! A system's coverage over time as a page (`/systems/{id}/trend`): a line
//! of its coverage, the figures of every period as a table, and the same
//! data as CSV or JSON through the API. htmx asks for the chart alone to
//! fill the workshop's "over time" box.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::reports::charts;
use crate::service::trends::{self, Range, SystemTrend};
use crate::service::{self, ServiceError};
use crate::web::{Chrome, WebError, is_htmx, render};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/systems/{id}/trend", axum::routing::get(trend_page))
}

#[derive(Debug, Default, Deserialize)]
struct TrendParams {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

#[derive(Template)]
#[template(path = "partials/trend_chart.html")]
struct TrendChart {
    system_id: i64,
    chart: String,
    words: String,
    from_day: String,
    to_day: String,
}

/// The first and last day a trend covers.
fn span(trend: &SystemTrend) -> (String, String) {
    let from = trend.points.first().map(|p| p.period_start.clone()).unwrap_or_default();
    let to = trend.points.last().map(|p| p.as_of.clone()).unwrap_or_default();
    (from, to)
}

#[derive(Template)]
#[template(path = "pages/trend.html")]
struct TrendPage<'a> {
    chrome: Chrome,
    system_id: i64,
    team_id: i64,
    name: &'a str,
    params: &'a TrendParams,
    error: Option<String>,
    chart_html: String,
    trend: Option<&'a SystemTrend>,
    from_day: String,
    to_day: String,
    steps: [(&'static str, &'static str); 3],
}

/// What a line of coverage says, in words.
fn words(trend: &SystemTrend) -> String {
    let known: Vec<(&str, f64)> =
        trend.points.iter().filter_map(|p| p.figures.coverage_percent.map(|c| (p.as_of.as_str(), c))).collect();
    match (known.first(), known.last()) {
        (Some((from_day, first)), Some((to_day, last))) => {
            format!(
                "Coverage {first:.1}% on {from_day}, {last:.1}% on {to_day} ({} points by {}).",
                trend.points.len(),
                trend.step
            )
        }
        _ => "Nothing that applies has been decided in this period: no coverage to show yet.".to_string(),
    }
}

async fn trend_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<TrendParams>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let system = service::systems::get(&state, id).await?;
    // An empty field of the form means "the default".
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|v| !v.trim().is_empty())
    }
    let range = Range::parse(given(&params.from), given(&params.to), given(&params.step));
    let (trend, error) = match range {
        Ok(range) => (Some(trends::system_trend(&state, id, &range).await?), None),
        Err(ServiceError::Invalid(e)) => (None, Some(e.to_string())),
        Err(other) => return Err(other.into()),
    };
    let chart_html = match &trend {
        Some(trend) => {
            let values: Vec<Option<f64>> = trend.points.iter().map(|p| p.figures.coverage_percent).collect();
            let chart = charts::coverage_line(&values, &format!("coverage of {}", trend.name));
            let (from_day, to_day) = span(trend);
            TrendChart { system_id: id, chart, words: words(trend), from_day, to_day }.render()?
        }
        None => String::new(),
    };
    if is_htmx(&headers) {
        return Ok(Html(chart_html).into_response());
    }
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let framework = state.catalog.get(&system.framework_version).unwrap_or_else(|| state.catalog.default_release());
    let (from_day, to_day) = trend.as_ref().map(span).unwrap_or_default();
    let page = TrendPage {
        from_day,
        to_day,
        steps: [("day", "Daily"), ("week", "Weekly"), ("month", "Monthly")],
        chrome: Chrome::new(&state, &framework, ""),
        system_id: id,
        team_id: system.team_id,
        name: &system.name,
        params: &params,
        error,
        chart_html,
        trend: trend.as_ref(),
    };
    Ok((status, render(&page)?).into_response())
}
