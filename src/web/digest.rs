//! "What changed" pages of a system and a team (`/systems/{id}/digest`,
//! `/teams/{id}/digest`): the period as a form (snapshot names offered),
//! the digest below it, and links to its Markdown, HTML and JSON.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::FieldErrorKind;
use crate::domain::digest::Digest;
use crate::reports::digest::DigestView;
use crate::service::{self, ServiceError, ServiceResult};
use crate::web::{Chrome, WebError, render};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/systems/{id}/digest", axum::routing::get(system_page))
        .route("/teams/{id}/digest", axum::routing::get(team_page))
}

#[derive(Debug, Default, Deserialize)]
struct PeriodParams {
    from: Option<String>,
    to: Option<String>,
}

impl PeriodParams {
    fn from(&self) -> Option<&str> {
        self.from.as_deref().filter(|v| !v.trim().is_empty())
    }

    fn to(&self) -> Option<&str> {
        self.to.as_deref().filter(|v| !v.trim().is_empty())
    }
}

#[derive(Template)]
#[template(path = "pages/digest.html")]
struct DigestPage {
    chrome: Chrome,
    team_id: i64,
    team_name: String,
    system: Option<(i64, String)>,
    /// The page's path, which the API mirrors under `/api/v1`.
    path: String,
    from_value: String,
    to_value: String,
    /// The period actually shown, as a query string for the downloads.
    query: String,
    snapshot_names: Vec<String>,
    error: Option<String>,
    view: Option<DigestView>,
}

/// A digest, or the message and status of a period the service refused.
fn outcome(result: ServiceResult<Digest>) -> Result<(StatusCode, Option<Digest>, Option<String>), WebError> {
    match result {
        Ok(digest) => Ok((StatusCode::OK, Some(digest), None)),
        Err(ServiceError::Invalid(e)) => {
            let status =
                if e.kind == FieldErrorKind::Unknown { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            Ok((status, None, Some(e.to_string())))
        }
        Err(ServiceError::Refused(message)) => Ok((StatusCode::CONFLICT, None, Some(message))),
        Err(other) => Err(other.into()),
    }
}

async fn page(
    state: &AppState,
    team_id: i64,
    system: Option<(i64, String)>,
    params: &PeriodParams,
    result: ServiceResult<Digest>,
) -> Result<Response, WebError> {
    let team = service::teams::get(state, team_id).await?;
    let (status, digest, error) = outcome(result)?;
    // The downloads ask for the same moments the page shows, even when
    // `from` was left to its default.
    let query = digest.as_ref().map_or_else(String::new, |d| {
        let moment = |m: &crate::domain::digest::Moment| {
            m.snapshot.clone().unwrap_or_else(|| crate::domain::records::format_timestamp(m.at))
        };
        format!("from={}&to={}", encode(&moment(&d.from)), encode(&moment(&d.to)))
    });
    let path = match &system {
        Some((id, _)) => format!("/systems/{id}/digest"),
        None => format!("/teams/{team_id}/digest"),
    };
    let snapshot_names = service::team_snapshots::list(state, team_id).await?.into_iter().map(|s| s.name).collect();
    let page = DigestPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        team_id,
        team_name: team.name,
        system,
        path,
        from_value: params.from().unwrap_or_default().to_string(),
        to_value: params.to().unwrap_or_default().to_string(),
        query,
        snapshot_names,
        error,
        view: digest.as_ref().map(DigestView::new),
    };
    Ok((status, render(&page)?).into_response())
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn system_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<PeriodParams>,
) -> Result<Response, WebError> {
    let system = service::systems::get(&state, id).await?;
    let result = service::digest::for_system(&state, id, params.from(), params.to()).await;
    page(&state, system.team_id, Some((system.id, system.name)), &params, result).await
}

async fn team_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<PeriodParams>,
) -> Result<Response, WebError> {
    let result = service::digest::for_team(&state, id, params.from(), params.to()).await;
    page(&state, id, None, &params, result).await
}
