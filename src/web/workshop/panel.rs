//! The side panel of one technique: its applicability and risk, the status
//! of every mitigation and control that covers it, a risk acceptance, and
//! its recent history; the forms that change them, answered with the
//! refreshed panel, or with the panel and the reason a change was refused.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::{dom_id, fragments, is_htmx};
use crate::app::AppState;
use crate::atlas::model::{Mitigation, Technique};
use crate::core::today;
use crate::domain::coverage::CoverageState;
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Acceptance, Assessment, Control, Detection, DetectionRecord, StatusRecord};
use crate::domain::{Applicability, Confidence, DetectionStatus, ImplementationStatus, Rating, format_date};
use crate::service::decisions::{self, AcceptanceInput, AssessmentChange, DetectionChange, StatusChange, Written};
use crate::service::snapshot::{self, Snapshot};
use crate::service::{ServiceError, ServiceResult};
use crate::web::actor::WebActor;
use crate::web::filters;
use crate::web::{Chrome, WebError, render};

pub struct StatusItem<'a> {
    pub id: String,
    pub name: &'a str,
    pub category: String,
    pub row: StatusRecord,
    pub action: String,
    /// The system's other techniques this status also counts for: a change
    /// here changes them too.
    pub also: Vec<AlsoCovered>,
}

/// Another technique a shared status covers, with its state now.
pub struct AlsoCovered {
    pub id: String,
    pub name: String,
    pub state: CoverageState,
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
    /// How the technique is detected on the system.
    detection: DetectionRecord,
    detection_statuses: &'static [DetectionStatus],
    confidences: &'static [Confidence],
    /// The team's detections mapped to the technique, each with the data
    /// sources it needs that the system's record does not list.
    detections: Vec<(&'a Detection, Vec<&'a str>)>,
    acceptance: Option<Acceptance>,
    acceptance_expired: bool,
    today: String,
    history_html: String,
    saved: Option<i64>,
    notice: Option<Notice>,
    /// Why the last upgrade flagged this technique, until someone confirms it.
    review: Option<String>,
    /// Editors and owners change decisions; viewers see them.
    can_edit: bool,
}

/// A message shown at the top of the panel; a conflict shows both sides.
pub struct Notice {
    pub error: bool,
    pub message: String,
    pub conflict: Option<Conflict>,
}

/// A save refused because someone else changed the same record first: who
/// and when, each differing field with their value and yours, and a form
/// that keeps your text to save it again over theirs.
pub struct Conflict {
    pub who: String,
    pub at: Option<crate::domain::records::Timestamp>,
    pub rows: Vec<ConflictRow>,
    pub action: String,
    /// The fields sent again as they were (the current version among them).
    pub hidden: Vec<(String, String)>,
}

pub struct ConflictRow {
    pub key: String,
    pub label: &'static str,
    pub theirs: String,
    pub yours: String,
    /// Free text, given back in a text box to edit before saving again.
    pub editable: bool,
}

/// The record a panel form writes, to find its saved values on a conflict.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Assessment,
    Mitigation(&'a str),
    Control(i64),
    Acceptance,
    Detection,
    /// A form without fields of its own (withdraw, undo, review).
    Action,
}

async fn panel_html(
    state: &AppState,
    snapshot: &Snapshot,
    technique_id: &str,
    saved: Option<i64>,
    notice: Option<Notice>,
    can_edit: bool,
) -> Result<String, WebError> {
    let framework = &snapshot.framework;
    let technique = framework.technique(technique_id).ok_or_else(|| {
        WebError::NotFound(format!("Technique {technique_id} is not in ATLAS release {}.", framework.version()))
    })?;
    let system_id = snapshot.system.id;
    let base = format!("/systems/{system_id}/techniques/{technique_id}");
    let by_id = snapshot.coverage.by_id(framework);
    let also = |ids: &mut dyn Iterator<Item = &str>| -> Vec<AlsoCovered> {
        let mut list: Vec<AlsoCovered> = ids
            .filter(|id| *id != technique_id)
            .filter_map(|id| framework.technique(id))
            .map(|t| AlsoCovered {
                id: t.id.clone(),
                name: framework.full_name(t),
                state: by_id.get(t.id.as_str()).copied().unwrap_or(CoverageState::NotAssessed),
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list.dedup_by(|a, b| a.id == b.id);
        list
    };
    let mitigations = framework
        .mitigations_for(technique_id)
        .map(|m: &Mitigation| StatusItem {
            id: m.id.clone(),
            name: &m.name,
            category: m.categories.join(", "),
            row: snapshot.mitigation_statuses.get(&m.id).cloned().unwrap_or_else(|| StatusRecord::not_started(&m.id)),
            action: format!("{base}/mitigations/{}", m.id),
            also: also(&mut m.techniques.iter().map(|link| link.technique.as_str())),
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
            also: also(&mut c.techniques.iter().map(String::as_str)),
        })
        .collect();
    let acceptance = snapshot.acceptances.get(technique_id).cloned();
    let acceptance_expired = acceptance.as_ref().is_some_and(|a| !a.is_active(today()));
    let history_html = history_html(state, snapshot, technique_id).await?;
    let review = crate::service::upgrade::flags(state, system_id)
        .await?
        .into_iter()
        .find(|f| f.technique_id == technique_id)
        .map(|f| f.reason);
    let view = PanelView {
        system_id,
        framework_version: framework.version(),
        technique,
        parent: technique.parent.as_deref().and_then(|p| framework.technique(p)),
        dom: dom_id(technique_id),
        state_html: fragments::cell_state(snapshot, &by_id, technique)?,
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
        detections: {
            let available = &snapshot.detection_statuses.get(technique_id).map(|d| d.data_sources.clone());
            snapshot
                .detections_for(technique_id)
                .map(|d| (d, missing_sources(&d.data_sources, available.as_deref().unwrap_or_default())))
                .collect()
        },
        detection: snapshot.detection_of(technique_id),
        detection_statuses: DetectionStatus::ALL,
        confidences: Confidence::ALL,
        acceptance,
        acceptance_expired,
        today: format_date(today()),
        history_html,
        saved,
        notice,
        review,
        can_edit,
    };
    Ok(view.render()?)
}

/// The data sources a detection needs that the system does not list (compared without regard to case).
fn missing_sources<'a>(needed: &'a [String], available: &[String]) -> Vec<&'a str> {
    needed.iter().filter(|n| !available.iter().any(|a| a.eq_ignore_ascii_case(n))).map(String::as_str).collect()
}

#[derive(Template)]
#[template(path = "partials/panel_history.html")]
struct PanelHistory<'a> {
    technique_id: &'a str,
    history: Vec<HistoryEntry>,
}

/// The recent changes behind a technique's state, as its panel lists them
/// (also sent live to open panels when they change).
pub(super) async fn history_html(
    state: &AppState,
    snapshot: &Snapshot,
    technique_id: &str,
) -> Result<String, WebError> {
    let history = decisions::technique_history(state, snapshot, technique_id, 12).await?;
    Ok(PanelHistory { technique_id, history }.render()?)
}

#[derive(Template)]
#[template(path = "pages/item.html")]
struct ItemPage<'a> {
    chrome: Chrome,
    snapshot: &'a Snapshot,
    technique: &'a Technique,
    panel: String,
}

/// What a panel answer shows besides the technique itself.
struct PanelOutcome {
    saved: Option<i64>,
    notice: Option<Notice>,
    can_edit: bool,
    status: StatusCode,
}

/// The panel alone for htmx, or the panel as a full page.
async fn panel_response(
    state: &AppState,
    headers: &HeaderMap,
    system_id: i64,
    technique_id: &str,
    outcome: PanelOutcome,
) -> Result<Response, WebError> {
    let snapshot = snapshot::load(state, system_id).await?;
    let PanelOutcome { saved, notice, can_edit, status } = outcome;
    let panel = panel_html(state, &snapshot, technique_id, saved, notice, can_edit).await?;
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

pub(super) async fn item_page(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    principal: crate::auth::Principal,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let team = crate::db::systems::team_of(&state.db, id).await.map_err(|e| WebError::Internal(e.into()))?;
    let role = match team {
        Some(team) => crate::auth::guard::team_role(&state, &principal, team).await?,
        None => None,
    };
    let can_edit = role.is_some_and(|r| r >= crate::auth::Role::Editor);
    let outcome = PanelOutcome { saved: None, notice: None, can_edit, status: StatusCode::OK };
    panel_response(&state, &headers, id, &technique, outcome).await
}

/// A form sent from the panel: what it writes, where it was sent, and the
/// values it carried.
pub(super) struct Submission<'a> {
    pub subject: Subject<'a>,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// Answers a write from the panel: the refreshed panel (or a redirect
/// without JavaScript), or the panel with the reason it was refused.
pub(super) async fn after_write(
    state: &AppState,
    headers: &HeaderMap,
    system_id: i64,
    technique_id: &str,
    outcome: ServiceResult<Option<i64>>,
    submission: Submission<'_>,
) -> Result<Response, WebError> {
    let refused =
        |notice: Notice, status: StatusCode| PanelOutcome { saved: None, notice: Some(notice), can_edit: true, status };
    match outcome {
        Ok(saved) => {
            if is_htmx(headers) {
                let outcome = PanelOutcome { saved, notice: None, can_edit: true, status: StatusCode::OK };
                panel_response(state, headers, system_id, technique_id, outcome).await
            } else {
                Ok(Redirect::to(&format!("/systems/{system_id}/techniques/{technique_id}")).into_response())
            }
        }
        Err(ServiceError::Conflict { message, current_version }) => {
            let snapshot = snapshot::load(state, system_id).await?;
            let conflict = super::conflict::describe(&snapshot, technique_id, submission, current_version);
            let message = match &conflict {
                Some(_) => String::new(),
                None => message,
            };
            let notice = Notice { error: true, message, conflict };
            panel_response(state, headers, system_id, technique_id, refused(notice, StatusCode::CONFLICT)).await
        }
        Err(ServiceError::Invalid(e)) => {
            let notice = Notice { error: true, message: format!("Not saved: {e}"), conflict: None };
            let outcome = refused(notice, StatusCode::UNPROCESSABLE_ENTITY);
            panel_response(state, headers, system_id, technique_id, outcome).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct AssessmentForm {
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

pub(super) async fn save_assessment(
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
    let submission = Submission {
        subject: Subject::Assessment,
        action: format!("/systems/{id}/techniques/{technique}"),
        fields: submitted,
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

#[derive(Debug, Deserialize)]
pub(super) struct StatusForm {
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

pub(super) async fn save_mitigation_status(
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
    let submission = Submission {
        subject: Subject::Mitigation(&mitigation),
        action: format!("/systems/{id}/techniques/{technique}/mitigations/{mitigation}"),
        fields: form.submitted(),
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

pub(super) async fn save_control_status(
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
    let submission = Submission {
        subject: Subject::Control(control),
        action: format!("/systems/{id}/techniques/{technique}/controls/{control}"),
        fields: form.submitted(),
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

#[derive(Debug, Deserialize)]
pub(super) struct DetectionForm {
    detection_status: Option<String>,
    confidence: Option<String>,
    /// One per line.
    data_sources: Option<String>,
    owner: Option<String>,
    evidence: Option<String>,
    notes: Option<String>,
    version: Option<i64>,
}

impl DetectionForm {
    fn change(&self) -> ServiceResult<DetectionChange> {
        Ok(DetectionChange {
            status: parse_field("detection_status", self.detection_status.as_deref(), DetectionStatus::parse)?,
            confidence: match self.confidence.as_deref() {
                None => None,
                Some(raw) => Some(parse_field("confidence", Some(raw), Confidence::parse)?),
            },
            data_sources: self.data_sources.as_ref().map(|s| s.lines().map(str::to_string).collect()),
            owner: self.owner.clone(),
            evidence: self.evidence.clone(),
            notes: self.notes.clone(),
        })
    }

    fn submitted(&self) -> Vec<(String, String)> {
        [
            ("detection_status", &self.detection_status),
            ("confidence", &self.confidence),
            ("data_sources", &self.data_sources),
            ("owner", &self.owner),
            ("evidence", &self.evidence),
            ("notes", &self.notes),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone().unwrap_or_default()))
        .collect()
    }
}

/// `POST …/techniques/{technique}/detection`: how the technique is detected on the system.
pub(super) async fn save_detection(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<DetectionForm>,
) -> Result<Response, WebError> {
    let outcome = match form.change() {
        Ok(change) => decisions::set_detection_status(&state, id, &technique, change, form.version, &actor)
            .await
            .map(|w| w.history_id),
        Err(e) => Err(e),
    };
    let submission = Submission {
        subject: Subject::Detection,
        action: format!("/systems/{id}/techniques/{technique}/detection"),
        fields: form.submitted(),
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

#[derive(Debug, Deserialize)]
pub(super) struct AcceptanceForm {
    #[serde(default)]
    justification: String,
    accepted_by: Option<String>,
    #[serde(default)]
    expires_on: String,
    version: Option<i64>,
}

pub(super) async fn save_acceptance(
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
    let submission = Submission {
        subject: Subject::Acceptance,
        action: format!("/systems/{id}/techniques/{technique}/acceptance"),
        fields: submitted,
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

#[derive(Debug, Deserialize)]
pub(super) struct VersionForm {
    version: Option<i64>,
}

pub(super) async fn remove_acceptance(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<VersionForm>,
) -> Result<Response, WebError> {
    let outcome = decisions::remove_acceptance(&state, id, &technique, form.version, &actor).await;
    let submission = Submission {
        subject: Subject::Action,
        action: format!("/systems/{id}/techniques/{technique}/acceptance/remove"),
        fields: Vec::new(),
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}

/// `POST …/techniques/{technique}/review`: a person looked at a technique
/// the upgrade flagged; the flag goes.
pub(super) async fn confirm_review(
    State(state): State<AppState>,
    Path((id, technique)): Path<(i64, String)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let outcome = crate::service::upgrade::confirm_review(&state, id, &technique, &actor).await.map(|()| None);
    let submission = Submission {
        subject: Subject::Action,
        action: format!("/systems/{id}/techniques/{technique}/review"),
        fields: Vec::new(),
    };
    after_write(&state, &headers, id, &technique, outcome, submission).await
}
