//! Help pages: how coverage states and percentages are decided.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::domain::coverage::{CombinedState, CoverageState};

pub fn router() -> Router<AppState> {
    Router::new().route("/help/coverage", get(coverage_help))
}

#[derive(Template)]
#[template(path = "pages/help_coverage.html")]
struct CoverageHelp {
    chrome: Chrome,
    states: [CoverageState; 7],
    combined: [CombinedState; 4],
}

async fn coverage_help(State(state): State<AppState>) -> Result<Response, WebError> {
    let page = CoverageHelp {
        chrome: Chrome::new(&state, &state.catalog.default_release(), ""),
        states: CoverageState::ALL,
        combined: [
            CombinedState::Neither,
            CombinedState::DetectedOnly,
            CombinedState::PreventedOnly,
            CombinedState::Both,
        ],
    };
    Ok(render(&page)?.into_response())
}
