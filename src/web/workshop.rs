//! The workshop: a system's ATLAS matrix showing each technique's coverage
//! state, a side panel to decide applicability, statuses and risk
//! acceptance, bulk actions, suggested scope, undo, and live updates over
//! server-sent events so everyone in the room sees every change.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::convert::Infallible;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;

use super::actor::WebActor;
use super::filters;
use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::atlas::matrix::{self, TechniqueFilter};
use crate::atlas::model::{Maturity, Mitigation, Tactic, Technique};
use crate::auth::Principal;
use crate::core::today;
use crate::domain::coverage::{CoverageState, StateCounts};
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Acceptance, Assessment, Control, StatusRecord};
use crate::domain::{Applicability, ImplementationStatus, Rating, format_date};
use crate::live::{Broadcast, Change, LiveEvent};
use crate::service::decisions::{self, AcceptanceInput, AssessmentChange, StatusChange, Written};
use crate::service::snapshot::{self, CoverageFigures, Snapshot};
use crate::service::{ServiceError, ServiceResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/systems/{id}", get(workshop_page))
        .route("/systems/{id}/events", get(events))
        .route("/systems/{id}/techniques/{technique}", get(item_page).post(save_assessment))
        .route("/systems/{id}/techniques/{technique}/mitigations/{mitigation}", post(save_mitigation_status))
        .route("/systems/{id}/techniques/{technique}/controls/{control}", post(save_control_status))
        .route("/systems/{id}/techniques/{technique}/acceptance", post(save_acceptance))
        .route("/systems/{id}/techniques/{technique}/acceptance/remove", post(remove_acceptance))
        .route("/systems/{id}/bulk", post(bulk))
        .route("/systems/{id}/suggest", post(suggest))
        .route("/systems/{id}/suggest/confirm", post(confirm_suggestions))
        .route("/systems/{id}/undo/{entry}", post(undo))
}

/// Technique IDs hold dots; DOM ids and event names use underscores.
pub fn dom_id(id: &str) -> String {
    id.replace('.', "_")
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

// ---------------------------------------------------------------- small partials

#[derive(Template)]
#[template(path = "partials/cell_state.html")]
struct CellStateView<'a> {
    state: CoverageState,
    suggested: bool,
    risk: Option<Rating>,
    rollup: Option<Vec<(CoverageState, usize)>>,
    rollup_text: &'a str,
}

fn rollup_parts(counts: &StateCounts) -> Vec<(CoverageState, usize)> {
    CoverageState::ALL.iter().map(|s| (*s, counts.get(*s))).filter(|(_, n)| *n > 0).collect()
}

fn describe_counts(parts: &[(CoverageState, usize)]) -> String {
    parts.iter().map(|(s, n)| format!("{n} {}", s.label().to_lowercase())).collect::<Vec<_>>().join(", ")
}

fn cell_state_html(snapshot: &Snapshot, by_id: &HashMap<&str, CoverageState>, technique: &Technique) -> String {
    let assessment = snapshot.assessments.get(&technique.id);
    let rollup = (snapshot.framework.subtechniques(&technique.id).next().is_some()).then(|| {
        let mut counts = StateCounts::default();
        for sub in snapshot.framework.subtechniques(&technique.id) {
            counts.add(by_id[sub.id.as_str()]);
        }
        rollup_parts(&counts)
    });
    let rollup_text = rollup.as_deref().map(describe_counts).unwrap_or_default();
    let view = CellStateView {
        state: by_id[technique.id.as_str()],
        suggested: assessment.is_some_and(|a| a.suggested),
        risk: assessment.and_then(|a| a.risk),
        rollup,
        rollup_text: &rollup_text,
    };
    view.render().unwrap_or_default()
}

#[derive(Template)]
#[template(path = "partials/tactic_counts.html")]
struct TacticCountsView {
    parts: Vec<(CoverageState, usize)>,
    description: String,
    coverage: Option<f64>,
}

fn tactic_counts_html(counts: &StateCounts) -> String {
    let parts = rollup_parts(counts);
    let description = describe_counts(&parts);
    let coverage = CoverageFigures::from(*counts).coverage_percent;
    TacticCountsView { parts, description, coverage }.render().unwrap_or_default()
}

#[derive(Template)]
#[template(path = "partials/summary.html")]
struct SummaryView {
    figures: CoverageFigures,
    states: [CoverageState; 7],
}

fn summary_html(snapshot: &Snapshot) -> String {
    SummaryView { figures: CoverageFigures::from(snapshot.coverage.overall), states: CoverageState::ALL }
        .render()
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "partials/item_notice.html")]
struct ItemNotice<'a> {
    actor: &'a str,
    at: String,
    system_id: i64,
    technique: &'a str,
}

// ---------------------------------------------------------------- the workshop page

pub struct Cell<'a> {
    pub technique: &'a Technique,
    pub dom: String,
    pub state_html: String,
    pub context_only: bool,
    pub subs: Vec<Cell<'a>>,
    pub sub_total: usize,
    pub open: bool,
}

pub struct Column<'a> {
    pub tactic: &'a Tactic,
    pub dom: String,
    pub counts_html: String,
    pub cells: Vec<Cell<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkshopQuery {
    q: Option<String>,
    tactic: Option<String>,
    maturity: Option<String>,
    platform: Option<String>,
    state: Option<String>,
    done: Option<String>,
    undo: Option<i64>,
}

#[derive(Template)]
#[template(path = "pages/workshop.html")]
struct WorkshopPage<'a> {
    chrome: Chrome,
    snapshot: &'a Snapshot,
    team_name: String,
    summary_html: String,
    columns: Vec<Column<'a>>,
    shown: usize,
    query: &'a WorkshopQuery,
    filtered: bool,
    filter_error: Option<String>,
    states: [CoverageState; 7],
    applicabilities: &'static [Applicability],
    maturities: [Maturity; 3],
    platforms: Vec<&'static str>,
    actor: String,
    flash: Option<String>,
    undo: Option<i64>,
    suggested: usize,
}

async fn workshop_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<WorkshopQuery>,
    principal: Principal,
) -> Result<Response, WebError> {
    let snapshot = snapshot::load(&state, id).await?;
    let team = crate::service::teams::get(&state, snapshot.system.team_id).await?;
    let framework = &snapshot.framework;
    let parsed = TechniqueFilter::parse(
        framework,
        query.q.as_deref(),
        query.tactic.as_deref(),
        query.maturity.as_deref(),
        query.platform.as_deref(),
    );
    let state_filter = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| CoverageState::parse(s).ok_or_else(|| format!("state: `{s}` is not a coverage state")));
    let (filter, state_filter, filter_error) = match (parsed, state_filter.transpose()) {
        (Ok(f), Ok(s)) => (f, s, None),
        (Err(e), _) => (TechniqueFilter::default(), None, Some(e.to_string())),
        (_, Err(e)) => (TechniqueFilter::default(), None, Some(e)),
    };
    let by_id = snapshot.coverage.by_id(framework);
    let laid_out = matrix::build(framework, &filter);
    let keeps = |t: &Technique| state_filter.is_none_or(|s| by_id[t.id.as_str()] == s);
    let mut shown = BTreeSet::new();
    let columns: Vec<Column> = laid_out
        .columns
        .into_iter()
        .map(|column| {
            let position = framework.tactic_position(&column.tactic.id).unwrap_or(0);
            let cells = column
                .cells
                .into_iter()
                .filter_map(|cell| {
                    let subs: Vec<Cell> = cell
                        .subtechniques
                        .iter()
                        .filter(|sub| keeps(sub.technique))
                        .map(|sub| Cell {
                            technique: sub.technique,
                            dom: dom_id(&sub.technique.id),
                            state_html: cell_state_html(&snapshot, &by_id, sub.technique),
                            context_only: false,
                            subs: Vec::new(),
                            sub_total: 0,
                            open: false,
                        })
                        .collect();
                    let matched = cell.matched && keeps(cell.technique);
                    if !matched && subs.is_empty() {
                        return None;
                    }
                    shown.insert(cell.technique.id.as_str());
                    shown.extend(subs.iter().map(|s| s.technique.id.as_str()));
                    let open = (state_filter.is_some() || filter.text.is_some()) && !subs.is_empty();
                    Some(Cell {
                        technique: cell.technique,
                        dom: dom_id(&cell.technique.id),
                        state_html: cell_state_html(&snapshot, &by_id, cell.technique),
                        context_only: !matched,
                        sub_total: cell.subtechnique_total,
                        subs,
                        open,
                    })
                })
                .collect();
            Column {
                tactic: column.tactic,
                dom: dom_id(&column.tactic.id),
                counts_html: tactic_counts_html(&snapshot.coverage.per_tactic[position]),
                cells,
            }
        })
        .collect();
    let filtered = !filter.is_empty() || state_filter.is_some();
    let page = WorkshopPage {
        chrome: Chrome::new(&state, framework, ""),
        team_name: team.name,
        summary_html: summary_html(&snapshot),
        shown: shown.len(),
        columns,
        query: &query,
        filtered,
        filter_error,
        states: CoverageState::ALL,
        applicabilities: Applicability::ALL,
        maturities: Maturity::ALL,
        platforms: framework.platforms(),
        actor: principal.actor().0,
        flash: query.done.clone(),
        undo: query.undo,
        suggested: snapshot
            .assessments
            .values()
            .filter(|a| a.suggested && a.applicability == Applicability::Unknown)
            .count(),
        snapshot: &snapshot,
    };
    Ok(render(&page)?.into_response())
}

// ---------------------------------------------------------------- the item panel

pub struct StatusItem<'a> {
    pub id: String,
    pub name: &'a str,
    pub category: String,
    pub row: StatusRecord,
    pub action: String,
}

#[derive(Template)]
#[template(path = "partials/panel.html")]
struct PanelView<'a> {
    system_id: i64,
    framework_version: &'a str,
    technique: &'a Technique,
    parent: Option<&'a Technique>,
    dom: String,
    state_html: String,
    assessment: Assessment,
    applicabilities: &'static [Applicability],
    ratings: &'static [Rating],
    statuses: &'static [ImplementationStatus],
    mitigations: Vec<StatusItem<'a>>,
    controls: Vec<StatusItem<'a>>,
    team_id: i64,
    acceptance: Option<Acceptance>,
    acceptance_expired: bool,
    today: String,
    history: Vec<HistoryEntry>,
    saved: Option<i64>,
    notice: Option<Notice>,
}

/// A message shown at the top of the panel; a conflict offers to re-apply.
pub struct Notice {
    pub error: bool,
    pub message: String,
    pub reapply: Option<Reapply>,
}

/// The refused submission, resent against the current version on request.
pub struct Reapply {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

async fn panel_html(
    state: &AppState,
    snapshot: &Snapshot,
    technique_id: &str,
    saved: Option<i64>,
    notice: Option<Notice>,
) -> Result<String, WebError> {
    let framework = &snapshot.framework;
    let technique = framework.technique(technique_id).ok_or_else(|| {
        WebError::NotFound(format!("Technique {technique_id} is not in ATLAS release {}.", framework.version()))
    })?;
    let system_id = snapshot.system.id;
    let base = format!("/systems/{system_id}/techniques/{technique_id}");
    let by_id = snapshot.coverage.by_id(framework);
    let mitigations = framework
        .mitigations_for(technique_id)
        .map(|m: &Mitigation| StatusItem {
            id: m.id.clone(),
            name: &m.name,
            category: m.categories.join(", "),
            row: snapshot.mitigation_statuses.get(&m.id).cloned().unwrap_or_else(|| StatusRecord::not_started(&m.id)),
            action: format!("{base}/mitigations/{}", m.id),
        })
        .collect();
    let controls = snapshot
        .controls_for(technique_id)
        .map(|c: &Control| StatusItem {
            id: c.id.to_string(),
            name: &c.name,
            category: "Team control".into(),
            row: snapshot
                .control_statuses
                .get(&c.id.to_string())
                .cloned()
                .unwrap_or_else(|| StatusRecord::not_started(&c.id.to_string())),
            action: format!("{base}/controls/{}", c.id),
        })
        .collect();
    let acceptance = snapshot.acceptances.get(technique_id).cloned();
    let acceptance_expired = acceptance.as_ref().is_some_and(|a| !a.is_active(today()));
    let history = decisions::history(state, system_id, Some(technique_id), 10).await?;
    let view = PanelView {
        system_id,
        framework_version: framework.version(),
        technique,
        parent: technique.parent.as_deref().and_then(|p| framework.technique(p)),
        dom: dom_id(technique_id),
        state_html: cell_state_html(snapshot, &by_id, technique),
        assessment: snapshot
            .assessments
            .get(technique_id)
            .cloned()
            .unwrap_or_else(|| Assessment::unassessed(technique_id)),
        applicabilities: Applicability::ALL,
        ratings: Rating::ALL,
        statuses: ImplementationStatus::ALL,
        mitigations,
        controls,
        team_id: snapshot.system.team_id,
        acceptance,
        acceptance_expired,
        today: format_date(today()),
        history,
        saved,
        notice,
    };
    Ok(view.render()?)
}

#[derive(Template)]
#[template(path = "pages/item.html")]
struct ItemPage<'a> {
    chrome: Chrome,
    snapshot: &'a Snapshot,
    technique: &'a Technique,
    panel: String,
}

/// The panel alone for htmx, or the panel as a full page.
async fn panel_response(
    state: &AppState,
    headers: &HeaderMap,
    system_id: i64,
    technique_id: &str,
    saved: Option<i64>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let snapshot = snapshot::load(state, system_id).await?;
    let panel = panel_html(state, &snapshot, technique_id, saved, notice).await?;
    if is_htmx(headers) {
        return Ok((status, Html(panel)).into_response());
    }
    let technique =
        snapshot.framework.technique(technique_id).ok_or_else(|| WebError::NotFound(technique_id.to_string()))?;
    let page = ItemPage {
        chrome: Chrome::new(state, &snapshot.framework, &format!("techniques/{technique_id}")),
        snapshot: &snapshot,
        technique,
        panel,
    };
    Ok((status, render(&page)?).into_response())
}

async fn item_page(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    panel_response(&state, &headers, id, &technique, None, None, StatusCode::OK).await
}

/// Answers a write from the panel: the refreshed panel (or a redirect
/// without JavaScript), or the panel with the reason it was refused.
async fn after_write(
    state: &AppState,
    headers: &HeaderMap,
    system_id: i64,
    technique_id: &str,
    outcome: ServiceResult<Option<i64>>,
    action: String,
    submitted: Vec<(String, String)>,
) -> Result<Response, WebError> {
    match outcome {
        Ok(saved) => {
            if is_htmx(headers) {
                panel_response(state, headers, system_id, technique_id, saved, None, StatusCode::OK).await
            } else {
                Ok(Redirect::to(&format!("/systems/{system_id}/techniques/{technique_id}")).into_response())
            }
        }
        Err(ServiceError::Conflict { message, current_version }) => {
            let mut fields: Vec<(String, String)> = submitted.into_iter().filter(|(k, _)| k != "version").collect();
            fields.push(("version".into(), current_version.to_string()));
            let notice = Notice { error: true, message, reapply: Some(Reapply { action, fields }) };
            panel_response(state, headers, system_id, technique_id, None, Some(notice), StatusCode::CONFLICT).await
        }
        Err(ServiceError::Invalid(e)) => {
            let notice = Notice { error: true, message: format!("Not saved: {e}"), reapply: None };
            panel_response(
                state,
                headers,
                system_id,
                technique_id,
                None,
                Some(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
struct AssessmentForm {
    applicability: Option<String>,
    risk: Option<String>,
    rationale: Option<String>,
    version: Option<i64>,
}

fn parse_field<T>(field: &str, value: Option<&str>, parse: fn(&str) -> Result<T, String>) -> ServiceResult<Option<T>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(raw) => parse(raw).map(Some).map_err(|m| crate::domain::FieldError::new(field, m).into()),
    }
}

async fn save_assessment(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<AssessmentForm>,
) -> Result<Response, WebError> {
    let submitted = vec![
        ("applicability".to_string(), form.applicability.clone().unwrap_or_default()),
        ("risk".to_string(), form.risk.clone().unwrap_or_default()),
        ("rationale".to_string(), form.rationale.clone().unwrap_or_default()),
    ];
    let outcome = async {
        let change = AssessmentChange {
            applicability: parse_field("applicability", form.applicability.as_deref(), Applicability::parse)?,
            rationale: form.rationale.clone(),
            risk: match form.risk.as_deref() {
                None => None,
                Some(raw) => Some(parse_field("risk", Some(raw), Rating::parse)?),
            },
        };
        decisions::set_assessment(&state, id, &technique, change, form.version, &actor).await.map(|w| w.history_id)
    }
    .await;
    let action = format!("/systems/{id}/techniques/{technique}");
    after_write(&state, &headers, id, &technique, outcome, action, submitted).await
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    status: Option<String>,
    owner: Option<String>,
    target_date: Option<String>,
    evidence: Option<String>,
    notes: Option<String>,
    version: Option<i64>,
}

impl StatusForm {
    fn change(&self) -> ServiceResult<StatusChange> {
        Ok(StatusChange {
            status: parse_field("status", self.status.as_deref(), ImplementationStatus::parse)?,
            owner: self.owner.clone(),
            target_date: self.target_date.clone().map(|d| Some(d).filter(|d| !d.trim().is_empty())),
            evidence: self.evidence.clone(),
            notes: self.notes.clone(),
        })
    }

    fn submitted(&self) -> Vec<(String, String)> {
        [
            ("status", &self.status),
            ("owner", &self.owner),
            ("target_date", &self.target_date),
            ("evidence", &self.evidence),
            ("notes", &self.notes),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone().unwrap_or_default()))
        .collect()
    }
}

async fn save_mitigation_status(
    State(state): State<AppState>,
    Path((id, technique, mitigation)): Path<(i64, String, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    let outcome = match form.change() {
        Ok(change) => decisions::set_mitigation_status(&state, id, &mitigation, change, form.version, &actor)
            .await
            .map(|w: Written<StatusRecord>| w.history_id),
        Err(e) => Err(e),
    };
    let action = format!("/systems/{id}/techniques/{technique}/mitigations/{mitigation}");
    after_write(&state, &headers, id, &technique, outcome, action, form.submitted()).await
}

async fn save_control_status(
    State(state): State<AppState>,
    Path((id, technique, control)): Path<(i64, String, i64)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<StatusForm>,
) -> Result<Response, WebError> {
    let outcome = match form.change() {
        Ok(change) => {
            decisions::set_control_status(&state, id, control, change, form.version, &actor).await.map(|w| w.history_id)
        }
        Err(e) => Err(e),
    };
    let action = format!("/systems/{id}/techniques/{technique}/controls/{control}");
    after_write(&state, &headers, id, &technique, outcome, action, form.submitted()).await
}

#[derive(Debug, Deserialize)]
struct AcceptanceForm {
    #[serde(default)]
    justification: String,
    accepted_by: Option<String>,
    #[serde(default)]
    expires_on: String,
    version: Option<i64>,
}

async fn save_acceptance(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<AcceptanceForm>,
) -> Result<Response, WebError> {
    let submitted = vec![
        ("justification".to_string(), form.justification.clone()),
        ("accepted_by".to_string(), form.accepted_by.clone().unwrap_or_default()),
        ("expires_on".to_string(), form.expires_on.clone()),
    ];
    let input = AcceptanceInput {
        justification: form.justification,
        accepted_by: form.accepted_by,
        expires_on: form.expires_on,
    };
    let outcome =
        decisions::set_acceptance(&state, id, &technique, input, form.version, &actor).await.map(|w| w.history_id);
    let action = format!("/systems/{id}/techniques/{technique}/acceptance");
    after_write(&state, &headers, id, &technique, outcome, action, submitted).await
}

#[derive(Debug, Deserialize)]
struct VersionForm {
    version: Option<i64>,
}

async fn remove_acceptance(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<VersionForm>,
) -> Result<Response, WebError> {
    let outcome = decisions::remove_acceptance(&state, id, &technique, form.version, &actor).await;
    let action = format!("/systems/{id}/techniques/{technique}/acceptance/remove");
    after_write(&state, &headers, id, &technique, outcome, action, Vec::new()).await
}

// ---------------------------------------------------------------- bulk actions

#[derive(Template)]
#[template(path = "partials/flash.html")]
struct Flash {
    system_id: i64,
    message: String,
    undo: Option<i64>,
    error: bool,
}

/// The outcome of a bulk action: a flash message for htmx, else back to the matrix.
fn bulk_response(
    headers: &HeaderMap,
    system_id: i64,
    outcome: ServiceResult<(String, Option<i64>)>,
) -> Result<Response, WebError> {
    let (message, undo, error, status) = match outcome {
        Ok((message, undo)) => (message, undo, false, StatusCode::OK),
        Err(ServiceError::Invalid(e)) => {
            (format!("Nothing changed: {e}"), None, true, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(ServiceError::Conflict { message, .. } | ServiceError::Refused(message)) => {
            (message, None, true, StatusCode::CONFLICT)
        }
        Err(other) => return Err(other.into()),
    };
    if is_htmx(headers) {
        return Ok((status, render(&Flash { system_id, message, undo, error })?).into_response());
    }
    let mut target = format!(
        "/systems/{system_id}?done={}",
        percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC)
    );
    if let Some(undo) = undo {
        target.push_str(&format!("&undo={undo}"));
    }
    Ok(Redirect::to(&target).into_response())
}

#[derive(Debug, Deserialize)]
struct BulkForm {
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    tactic: String,
    #[serde(default)]
    applicability: String,
}

async fn bulk(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<BulkForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let applicability = Applicability::parse(&form.applicability)
            .map_err(|m| crate::domain::FieldError::new("applicability", m))?;
        let mut techniques = form.techniques.clone();
        if !form.tactic.trim().is_empty() {
            let ctx = crate::service::system_context(&state, id).await?;
            if ctx.framework.tactic(form.tactic.trim()).is_none() {
                return Err(crate::domain::FieldError::new(
                    "tactic",
                    format!("{} is not a tactic of this release", form.tactic),
                )
                .into());
            }
            techniques.extend(
                ctx.framework
                    .techniques()
                    .iter()
                    .filter(|t| t.tactics.iter().any(|x| x == form.tactic.trim()))
                    .map(|t| t.id.clone()),
            );
        }
        techniques.sort();
        techniques.dedup();
        let result = decisions::bulk_applicability(&state, id, &techniques, applicability, &actor).await?;
        Ok((format!("Set {} technique(s) to “{}”.", result.changed.len(), applicability.label()), result.batch))
    }
    .await;
    bulk_response(&headers, id, outcome)
}

async fn suggest(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let outcome = decisions::suggest_scope(&state, id, &actor).await.map(|r| {
        (
            format!(
                "Suggested {} technique(s) whose ATLAS platforms match this system's; confirm them or decide one by one.",
                r.changed.len()
            ),
            r.batch,
        )
    });
    bulk_response(&headers, id, outcome)
}

async fn confirm_suggestions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let outcome = decisions::confirm_suggestions(&state, id, &actor)
        .await
        .map(|r| (format!("Marked {} suggested technique(s) as applying.", r.changed.len()), r.batch));
    bulk_response(&headers, id, outcome)
}

#[derive(Debug, Deserialize)]
struct UndoForm {
    #[serde(default)]
    technique: String,
}

async fn undo(
    State(state): State<AppState>,
    Path((id, entry)): Path<(i64, i64)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<UndoForm>,
) -> Result<Response, WebError> {
    let outcome = decisions::undo(&state, id, entry, &actor).await;
    if !form.technique.is_empty() {
        let action = format!("/systems/{id}/undo/{entry}");
        let outcome = outcome.map(|r| r.batch);
        return after_write(&state, &headers, id, &form.technique, outcome, action, Vec::new()).await;
    }
    bulk_response(
        &headers,
        id,
        outcome.map(|r| (format!("Undid the change to {} technique(s).", r.changed.len()), r.batch)),
    )
}

// ---------------------------------------------------------------- live updates

/// `GET /systems/{id}/events`: the system's live updates as server-sent events.
///
/// A stream lives only as long as the access behind it: whenever access may
/// have changed (a session ended, a member removed, an invite ended, the
/// system or team deleted) and every [`ACCESS_RECHECK`] besides (sessions and
/// invites also run out), it checks again that its viewer may still see the
/// system, and ends with an `access-ended` event when not. It also ends when
/// the server shuts down.
async fn events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let ctx = crate::service::system_context(&state, id).await?;
    let follower = Follower { principal, system_id: id, team_id: ctx.system.team_id };
    let closing = state.live.watch_closing();
    let closed = *closing.borrow();
    let open = StreamState {
        receiver: state.live.subscribe(),
        access: state.principals.watch_access(),
        recheck: tokio::time::interval_at(tokio::time::Instant::now() + ACCESS_RECHECK, ACCESS_RECHECK),
        ended: closed,
        closing,
        queue: VecDeque::new(),
        follower,
        state,
    };
    let stream = futures_util::stream::unfold(open, |mut open| async move {
        loop {
            if let Some(event) = open.queue.pop_front() {
                return Some((Ok(event), open));
            }
            if open.ended {
                return None;
            }
            open.next_events().await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// How often an open stream checks that its viewer may still follow it,
/// besides every change of access, which it hears at once.
pub const ACCESS_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// Who follows a system's stream, and the team the system belonged to when
/// the stream opened.
struct Follower {
    principal: Principal,
    system_id: i64,
    team_id: i64,
}

impl Follower {
    /// True while the system still exists in the same team and the principal,
    /// read again from the database, still has a role on that team. A
    /// database error keeps the stream (the next check decides).
    async fn still_allowed(&self, state: &AppState) -> bool {
        match crate::db::systems::team_of(&state.db, self.system_id).await {
            Ok(Some(team)) if team == self.team_id => {}
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's system");
                return true;
            }
        }
        let current = match crate::service::accounts::recheck(state, &self.principal).await {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's viewer");
                return true;
            }
        };
        if current.is_anonymous() {
            return false;
        }
        match crate::auth::guard::team_role(state, &current, self.team_id).await {
            Ok(role) => role.is_some(),
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's role");
                true
            }
        }
    }
}

struct StreamState {
    state: AppState,
    follower: Follower,
    receiver: broadcast::Receiver<std::sync::Arc<Broadcast>>,
    access: tokio::sync::watch::Receiver<u64>,
    closing: tokio::sync::watch::Receiver<bool>,
    recheck: tokio::time::Interval,
    queue: VecDeque<Event>,
    ended: bool,
}

impl StreamState {
    /// Waits for the next thing that happens to the stream and queues the
    /// events it gives, or ends the stream.
    async fn next_events(&mut self) {
        let check = tokio::select! {
            message = self.receiver.recv() => {
                match message {
                    Ok(broadcast) if broadcast.system_id.is_none_or(|id| id == self.follower.system_id) => {
                        let events = broadcast.events.iter().map(|e| Event::default().event(&e.name).data(&e.data));
                        self.queue.extend(events);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.queue.push_back(Event::default().event("resync").data(RESYNC_NOTICE));
                    }
                    Err(broadcast::error::RecvError::Closed) => self.ended = true,
                }
                false
            }
            changed = self.access.changed() => changed.is_ok(),
            _ = self.recheck.tick() => true,
            _ = self.closing.changed() => {
                self.ended = true;
                false
            }
        };
        if check && !self.follower.still_allowed(&self.state).await {
            self.queue.push_back(Event::default().event("access-ended").data(ACCESS_ENDED_NOTICE));
            self.ended = true;
        }
    }
}

const ACCESS_ENDED_NOTICE: &str = r#"<p class="notice error" role="alert">Your access to this system ended (you were signed out, removed from the team, or your invite ended, or the system was deleted), so live updates stopped. <a href="">Reload the page</a> to sign in again.</p>"#;

const RESYNC_NOTICE: &str = r#"<p class="notice" role="status">Some live updates were missed. <a href="">Reload the page</a> to see the current state.</p>"#;

/// The renderer task: turns reported changes into fragments, once per
/// change, and broadcasts them. Changes queued together are merged; when it
/// fell behind and changes were lost, every stream is told to reload.
pub async fn render_live_updates(state: AppState) {
    let mut changes = state.live.changes();
    loop {
        let first = match changes.recv().await {
            Ok(change) => change,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let events = vec![LiveEvent { name: "resync".into(), data: RESYNC_NOTICE.into() }];
                state.live.publish(Broadcast { system_id: None, events });
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut by_system: BTreeMap<i64, (BTreeSet<String>, bool, String)> = BTreeMap::new();
        let mut add = |change: Change| {
            let entry = by_system.entry(change.system_id).or_default();
            entry.1 |= change.techniques.is_empty();
            entry.0.extend(change.techniques);
            entry.2 = change.actor;
        };
        add(first);
        while let Ok(more) = changes.try_recv() {
            add(more);
        }
        if state.live.subscriber_count() == 0 {
            continue;
        }
        for (system_id, (techniques, whole_system, actor)) in by_system {
            match live_events(&state, system_id, &techniques, whole_system, &actor).await {
                Ok(events) => state.live.publish(Broadcast { system_id: Some(system_id), events }),
                Err(e) => tracing::debug!(system_id, error = %e, "no live update for this change"),
            }
        }
    }
}

async fn live_events(
    state: &AppState,
    system_id: i64,
    changed: &BTreeSet<String>,
    whole_system: bool,
    actor: &str,
) -> ServiceResult<Vec<LiveEvent>> {
    let snapshot = snapshot::load(state, system_id).await?;
    let framework = &snapshot.framework;
    let by_id = snapshot.coverage.by_id(framework);
    let mut techniques: BTreeSet<&str> = if whole_system {
        framework.techniques().iter().map(|t| t.id.as_str()).collect()
    } else {
        changed.iter().filter_map(|id| framework.technique(id)).map(|t| t.id.as_str()).collect()
    };
    // A sub-technique's change moves its parent's roll-up.
    let parents: Vec<&str> =
        techniques.iter().filter_map(|id| framework.technique(id)).filter_map(|t| t.parent.as_deref()).collect();
    techniques.extend(parents);
    let mut events = Vec::new();
    let mut tactics = BTreeSet::new();
    for id in &techniques {
        let Some(technique) = framework.technique(id) else { continue };
        events.push(LiveEvent {
            name: format!("state-{}", dom_id(id)),
            data: cell_state_html(&snapshot, &by_id, technique),
        });
        tactics.extend(technique.tactics.iter().cloned());
    }
    for tactic in tactics {
        if let Some(position) = framework.tactic_position(&tactic) {
            events.push(LiveEvent {
                name: format!("tactic-{}", dom_id(&tactic)),
                data: tactic_counts_html(&snapshot.coverage.per_tactic[position]),
            });
        }
    }
    events.push(LiveEvent { name: "summary".into(), data: summary_html(&snapshot) });
    let now = time::OffsetDateTime::now_utc();
    let at = format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second());
    for id in changed {
        let notice = ItemNotice { actor, at: at.clone(), system_id, technique: id };
        events.push(LiveEvent { name: format!("item-{}", dom_id(id)), data: notice.render().unwrap_or_default() });
    }
    if whole_system {
        events.push(LiveEvent {
            name: "resync".into(),
            data: format!(
                r#"<p class="notice" role="status">{} edited this system. <a href="">Reload the page</a> to see every change.</p>"#,
                escape_html(actor)
            ),
        });
    }
    Ok(events)
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
