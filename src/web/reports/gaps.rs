//! A system's gap report page: the ranked gaps with the priority weights,
//! recommendations with the coverage expected after each step, and the
//! case-study lens.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Download, downloads};
use crate::app::AppState;
use crate::auth::guard::team_role;
use crate::auth::{Principal, Role};
use crate::domain::gaps::DEFAULT_RECOMMENDATIONS;
use crate::reports::display::{self, GapLine, StepLine};
use crate::reports::html::{StudyView, study_view};
use crate::reports::{GapReport, ReportFormat, number, percent};
use crate::service::reports::{self as report_service, MAX_RECOMMENDATIONS, ReportRequest};
use crate::web::{Chrome, WebError};

struct WeightView {
    factor: String,
    level: String,
    weight: String,
}

#[derive(Template)]
#[template(path = "pages/gaps.html")]
struct GapsPage {
    chrome: Chrome,
    system_id: i64,
    system_name: String,
    team_id: i64,
    team_name: String,
    release: String,
    coverage: String,
    coverage_value: f64,
    assessed: String,
    open_gaps: usize,
    weighted_gap: String,
    downloads: Vec<Download>,
    can_import: bool,
    gaps: Vec<GapLine>,
    formula: String,
    weights: Vec<WeightView>,
    limit: usize,
    limits: [usize; 4],
    coverage_before: String,
    weighted_before: String,
    steps: Vec<StepLine>,
    exposed: Vec<StudyView>,
    studies: Vec<StudyView>,
}

/// What the gap page needs besides the report.
struct GapsContext {
    chrome: Chrome,
    team_name: String,
    can_import: bool,
}

impl GapsPage {
    fn new(report: &GapReport, context: GapsContext) -> Option<Self> {
        let system = report.systems.first()?;
        let plan = &report.recommendations;
        let lens = &system.case_studies;
        let exposed = lens
            .fully_exposed
            .iter()
            .filter_map(|&id| lens.studies.iter().find(|s| s.id == id))
            .map(study_view)
            .collect();
        Some(GapsPage {
            chrome: context.chrome,
            system_id: system.system_id,
            system_name: system.name.clone(),
            team_id: system.team_id,
            team_name: context.team_name,
            release: system.framework_version.clone(),
            coverage: percent(system.coverage.coverage_percent),
            coverage_value: system.coverage.coverage_percent.unwrap_or(0.0),
            assessed: percent(system.coverage.assessed_percent),
            open_gaps: system.open_gaps,
            weighted_gap: number(system.weighted_gap),
            downloads: downloads(&format!("/systems/{}/report", system.system_id), false),
            can_import: context.can_import,
            gaps: display::gap_lines(report, usize::MAX),
            formula: report.formula.clone(),
            weights: report
                .weight_table
                .iter()
                .map(|w| WeightView { factor: w.factor.clone(), level: w.level.clone(), weight: number(w.weight) })
                .collect(),
            limit: plan.limit,
            limits: [3, DEFAULT_RECOMMENDATIONS, 10, 20],
            coverage_before: percent(plan.coverage_percent_before),
            weighted_before: number(plan.weighted_gap_before),
            steps: display::step_lines(report, usize::MAX),
            exposed,
            studies: lens.studies.iter().map(study_view).collect(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct GapsQuery {
    /// Recommendation steps to show.
    steps: Option<usize>,
}

pub(super) async fn gaps_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<GapsQuery>,
    principal: Principal,
) -> Result<Response, WebError> {
    let data = report_service::for_system(&state, id).await?;
    let snapshot = data.snapshots().first().cloned().ok_or_else(|| WebError::NotFound(format!("system {id}")))?;
    let team = crate::service::teams::get(&state, snapshot.system.team_id).await?;
    let role = team_role(&state, &principal, team.id).await?;
    let context = GapsContext {
        chrome: Chrome::new(&state, &snapshot.framework, ""),
        team_name: team.name,
        can_import: role.is_some_and(|r| r >= Role::Editor),
    };
    let request = ReportRequest {
        recommendations: query.steps.unwrap_or(DEFAULT_RECOMMENDATIONS).clamp(1, MAX_RECOMMENDATIONS),
        ..ReportRequest::new(ReportFormat::Html)
    };
    let html = report_service::with_report(data, request.options(), move |report| {
        GapsPage::new(report, context).map(|page| page.render())
    })
    .await?;
    match html {
        Some(html) => Ok(Html(html?).into_response()),
        None => Err(WebError::NotFound(format!("system {id} has no report"))),
    }
}
