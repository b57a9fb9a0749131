//! The upgrade assistant of one system: pick a newer release, see what
//! carries over, needs review, retires (with a successor to confirm or
//! change) or is new, and the coverage before and after; then apply it,
//! which lands on the workshop with an undo. And the archive: decisions on
//! techniques the system's release no longer has, with their history.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::Form;
use serde::Deserialize;

use super::actor::WebActor;
use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::atlas::model::compare_versions;
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Acceptance, Assessment, System};
use crate::domain::upgrade::UpgradePlan;
use crate::service::upgrade::{self, UpgradeRequest};
use crate::web::filters;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/systems/{id}/upgrade", get(upgrade_page).post(apply_upgrade))
        .route("/systems/{id}/archive", get(archive_page))
        .route("/teams/{id}/upgrade", get(team_upgrade_page).post(apply_team_upgrade))
}

/// A retired technique with the successors one may pick.
pub struct SuccessorChoice {
    pub technique_id: String,
    pub name: String,
    pub proposed: Option<String>,
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "pages/upgrade.html")]
struct UpgradePage {
    chrome: Chrome,
    system: System,
    /// Releases newer than the system's.
    newer: Vec<String>,
    to: String,
    plan: Option<UpgradePlan>,
    choices: Vec<SuccessorChoice>,
    /// Every technique of the target release, to pick a successor from.
    targets: Vec<(String, String)>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct UpgradeQuery {
    to: Option<String>,
}

async fn page_for(
    state: &AppState,
    id: i64,
    to: Option<String>,
    successors: BTreeMap<String, String>,
    actor: &crate::service::Actor,
) -> Result<(StatusCode, UpgradePage), WebError> {
    let system = crate::service::systems::get(state, id).await?;
    let newer: Vec<String> = state
        .catalog
        .list()
        .iter()
        .map(|f| f.version().to_string())
        .filter(|v| compare_versions(v, &system.framework_version).is_gt())
        .collect();
    let to = to.filter(|v| !v.trim().is_empty()).or_else(|| newer.first().cloned()).unwrap_or_default();
    let mut page = UpgradePage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        system,
        newer,
        to: to.clone(),
        plan: None,
        choices: Vec::new(),
        targets: Vec::new(),
        error: None,
    };
    if to.is_empty() {
        return Ok((StatusCode::OK, page));
    }
    let request = UpgradeRequest { to: to.clone(), successors, apply: false };
    match upgrade::upgrade(state, id, &request, actor).await {
        Ok(outcome) => {
            page.choices = outcome
                .plan
                .retired
                .iter()
                .map(|r| SuccessorChoice {
                    technique_id: r.technique_id.clone(),
                    name: r.name.clone(),
                    proposed: r.successor.clone(),
                    reason: r.reason.clone(),
                })
                .collect();
            if let Some(target) = state.catalog.get(&to) {
                page.targets = target.techniques().iter().map(|t| (t.id.clone(), t.name.clone())).collect();
            }
            page.plan = Some(outcome.plan);
            Ok((StatusCode::OK, page))
        }
        Err(e) => {
            let (status, message) = super::teams::form_error(e)?;
            page.error = Some(message);
            Ok((status, page))
        }
    }
}

async fn upgrade_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<UpgradeQuery>,
    WebActor(actor): WebActor,
) -> Result<Response, WebError> {
    let (status, page) = page_for(&state, id, query.to, BTreeMap::new(), &actor).await?;
    Ok((status, render(&page)?).into_response())
}

/// The form: `to`, and `successor:<retired ID>` for each retired technique
/// (an empty value keeps it without successor).
async fn apply_upgrade(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let mut to = String::new();
    let mut successors = BTreeMap::new();
    for (name, value) in fields {
        match name.strip_prefix("successor:") {
            Some(retired) => {
                successors.insert(retired.to_string(), value.trim().to_string());
            }
            None if name == "to" => to = value,
            None => {}
        }
    }
    let request = UpgradeRequest { to: to.clone(), successors: successors.clone(), apply: true };
    match upgrade::upgrade(&state, id, &request, &actor).await {
        Ok(outcome) => {
            let plan = &outcome.plan;
            let message = format!(
                "Upgraded from ATLAS {} to {}: {} carried, {} to review, {} retired, {} new.",
                plan.from,
                plan.to,
                plan.carried.len(),
                plan.review.len(),
                plan.retired.len(),
                plan.added.len()
            );
            let mut target = format!(
                "/systems/{id}?done={}",
                percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC)
            );
            if let Some(batch) = outcome.batch {
                target.push_str(&format!("&undo={batch}"));
            }
            Ok(Redirect::to(&target).into_response())
        }
        Err(e) => {
            let (status, message) = super::teams::form_error(e)?;
            let (_, mut page) = page_for(&state, id, Some(to), BTreeMap::new(), &actor).await?;
            page.error = Some(format!("Not upgraded: {message}"));
            Ok((status, render(&page)?).into_response())
        }
    }
}

/// A decision kept on a technique the system's release no longer has.
pub struct ArchivedItem {
    pub assessment: Assessment,
    pub acceptance: Option<Acceptance>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Template)]
#[template(path = "pages/archive.html")]
struct ArchivePage {
    chrome: Chrome,
    system: System,
    items: Vec<ArchivedItem>,
}

/// `GET /systems/{id}/archive`: decisions on retired techniques, readable.
async fn archive_page(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    let snapshot = crate::service::snapshot::load(&state, id).await?;
    let mut retired: Vec<&Assessment> = snapshot
        .assessments
        .values()
        .filter(|a| a.version > 0 && snapshot.framework.technique(&a.technique_id).is_none())
        .collect();
    retired.sort_by(|a, b| a.technique_id.cmp(&b.technique_id));
    let mut items = Vec::new();
    for assessment in retired {
        let history = crate::service::decisions::history(&state, id, Some(&assessment.technique_id), 5).await?;
        items.push(ArchivedItem {
            acceptance: snapshot.acceptances.get(&assessment.technique_id).cloned(),
            assessment: assessment.clone(),
            history,
        });
    }
    let page =
        ArchivePage { chrome: Chrome::new(&state, &snapshot.framework, ""), system: snapshot.system.clone(), items };
    Ok(render(&page)?.into_response())
}

/// One system's line in a team upgrade.
pub struct TeamLine {
    pub system_id: i64,
    pub name: String,
    pub plan: UpgradePlan,
    pub undo: Option<i64>,
}

#[derive(Template)]
#[template(path = "pages/team_upgrade.html")]
struct TeamUpgradePage {
    chrome: Chrome,
    team_id: i64,
    team_name: String,
    releases: Vec<String>,
    to: String,
    applied: bool,
    lines: Vec<TeamLine>,
    skipped: Vec<upgrade::SkippedSystem>,
    error: Option<String>,
}

async fn team_page_for(
    state: &AppState,
    team_id: i64,
    to: Option<String>,
    apply: bool,
    actor: &crate::service::Actor,
) -> Result<(StatusCode, TeamUpgradePage), WebError> {
    let team = crate::service::teams::get(state, team_id).await?;
    let releases: Vec<String> = state.catalog.list().iter().map(|f| f.version().to_string()).collect();
    let to = to.filter(|v| !v.trim().is_empty()).or_else(|| releases.first().cloned()).unwrap_or_default();
    let mut page = TeamUpgradePage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        team_id,
        team_name: team.name,
        releases,
        to: to.clone(),
        applied: apply,
        lines: Vec::new(),
        skipped: Vec::new(),
        error: None,
    };
    let request = UpgradeRequest { to, successors: BTreeMap::new(), apply };
    match upgrade::upgrade_team(state, team_id, &request, actor).await {
        Ok(outcome) => {
            let systems = crate::service::systems::list(state, Some(team_id)).await?;
            page.lines = outcome
                .systems
                .into_iter()
                .map(|o| TeamLine {
                    system_id: o.plan.system_id,
                    name: systems.iter().find(|s| s.id == o.plan.system_id).map(|s| s.name.clone()).unwrap_or_default(),
                    undo: o.batch,
                    plan: o.plan,
                })
                .collect();
            page.skipped = outcome.skipped;
            Ok((StatusCode::OK, page))
        }
        Err(e) => {
            let (status, message) = super::teams::form_error(e)?;
            page.applied = false;
            page.error = Some(format!("Not upgraded: {message}"));
            Ok((status, page))
        }
    }
}

/// `GET /teams/{id}/upgrade`: what upgrading every system of the team would change.
async fn team_upgrade_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<UpgradeQuery>,
    WebActor(actor): WebActor,
) -> Result<Response, WebError> {
    let (status, page) = team_page_for(&state, id, query.to, false, &actor).await?;
    Ok((status, render(&page)?).into_response())
}

#[derive(Debug, Deserialize)]
struct TeamUpgradeForm {
    #[serde(default)]
    to: String,
}

/// `POST /teams/{id}/upgrade`: upgrades every system on an older release,
/// each with the proposed successors (a system's own page lets a person
/// pick others), and shows what was done with an undo per system.
async fn apply_team_upgrade(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    Form(form): Form<TeamUpgradeForm>,
) -> Result<Response, WebError> {
    let (status, page) = team_page_for(&state, id, Some(form.to), true, &actor).await?;
    Ok((status, render(&page)?).into_response())
}
