//! The Detections page of a team: its detections and where each maps, a
//! form to add one by hand, the Sigma rule import (upload, preview, apply
//! with the files carried back so nothing waits on the server), the recent
//! changes with undo, and a detection's own page to edit or delete it.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::Digest;

use super::teams::form_error;
use super::technique_picker::{self, PickerOption};
use crate::app::AppState;
use crate::auth::guard::team_role;
use crate::auth::{Principal, Role};
use crate::domain::detection_import::ImportPlan;
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Detection, Team};
use crate::service::detections::{self, DetectionInput};
use crate::service::{self, ServiceError};
use crate::sigma::{self, RuleFile};
use crate::web::actor::WebActor;
use crate::web::filters;
use crate::web::{Chrome, WebError, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams/{id}/detections", get(detections_page).post(create_detection))
        .route("/teams/{id}/detections/import", post(preview_upload))
        .route("/teams/{id}/detections/import/apply", post(apply_upload))
        .route("/teams/{id}/detections/undo/{entry}", post(undo_change))
        .route("/detections/{id}", get(detection_page).post(edit_detection))
        .route("/detections/{id}/delete", post(delete_detection))
        // The confirmation carries the files back as base64.
        .layer(DefaultBodyLimit::max(sigma::MAX_UPLOAD_BYTES * 3 / 2 + 64 * 1024))
}

#[derive(Debug, Default, Deserialize, Clone)]
struct DetectionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// One per line (or separated by commas).
    #[serde(default)]
    data_sources: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    version: Option<i64>,
}

impl DetectionForm {
    fn input(&self) -> DetectionInput {
        DetectionInput {
            name: self.name.clone(),
            description: self.description.clone(),
            data_sources: self.data_sources.split(['\n', ',']).map(str::to_string).collect(),
            reference: self.reference.clone(),
            techniques: technique_picker::chosen_ids(&self.techniques),
        }
    }

    fn of(detection: &Detection) -> Self {
        DetectionForm {
            name: detection.name.clone(),
            description: detection.description.clone(),
            data_sources: detection.data_sources.join("\n"),
            reference: detection.reference.clone(),
            techniques: detection.techniques.clone(),
            version: Some(detection.version),
        }
    }
}

/// A file of a previewed upload, carried back to apply it.
struct CarriedFile {
    name: String,
    content: String,
}

/// Which techniques of a tactic the team's rules cover, whatever the system.
struct TacticRules {
    name: String,
    covered: usize,
    total: usize,
    /// Techniques no rule maps to: ID and full name.
    uncovered: Vec<(String, String)>,
}

/// The rule coverage of the release the team's detections are read against:
/// per tactic, the techniques with at least one rule and those with none.
fn rule_coverage(framework: &crate::atlas::Framework, detections: &[Detection]) -> (usize, Vec<TacticRules>) {
    let mapped: std::collections::HashSet<&str> =
        detections.iter().flat_map(|d| d.techniques.iter().map(String::as_str)).collect();
    let covered = framework.techniques().iter().filter(|t| mapped.contains(t.id.as_str())).count();
    let tactics = framework
        .tactics()
        .iter()
        .map(|tactic| {
            let techniques: Vec<&crate::atlas::model::Technique> =
                framework.techniques().iter().filter(|t| t.tactics.contains(&tactic.id)).collect();
            TacticRules {
                name: tactic.name.clone(),
                covered: techniques.iter().filter(|t| mapped.contains(t.id.as_str())).count(),
                total: techniques.len(),
                uncovered: techniques
                    .iter()
                    .filter(|t| !mapped.contains(t.id.as_str()))
                    .map(|t| (t.id.clone(), framework.full_name(t)))
                    .collect(),
            }
        })
        .collect();
    (covered, tactics)
}

/// A change to the team's detections as the page lists it: an import is one line.
struct ChangeLine {
    id: i64,
    at: crate::domain::records::Timestamp,
    actor: String,
    summary: String,
    /// Detections the change touched (more than one for an import).
    count: usize,
    undoable: bool,
}

/// The newest changes, an import's entries folded into one line.
fn change_lines(entries: Vec<HistoryEntry>, shown: usize) -> Vec<ChangeLine> {
    let mut lines: Vec<ChangeLine> = Vec::new();
    let mut batch_at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for entry in entries {
        if let Some(batch) = entry.batch
            && let Some(&at) = batch_at.get(&batch)
        {
            lines[at].count += 1;
            continue;
        }
        if lines.len() == shown {
            break;
        }
        if let Some(batch) = entry.batch {
            batch_at.insert(batch, lines.len());
        }
        let undoable = !entry.summary.starts_with("undid") && entry.after.is_some();
        lines.push(ChangeLine {
            id: entry.id,
            at: entry.at,
            actor: entry.actor,
            summary: entry.summary,
            count: 1,
            undoable,
        });
    }
    lines
}

struct PreviewView {
    plan: ImportPlan,
    files: Vec<CarriedFile>,
    fingerprint: String,
}

#[derive(Template)]
#[template(path = "pages/detections.html")]
struct DetectionsPage {
    chrome: Chrome,
    team: Team,
    detections: Vec<Detection>,
    /// The release the rule coverage is shown for, the techniques with a rule, and per tactic.
    release: String,
    techniques: usize,
    covered: usize,
    tactics: Vec<TacticRules>,
    history: Vec<ChangeLine>,
    form: DetectionForm,
    picker: Vec<PickerOption>,
    picker_id: &'static str,
    error: Option<String>,
    notice: Option<String>,
    preview: Option<PreviewView>,
    can_edit: bool,
    max_megabytes: usize,
}

async fn page_view(state: &AppState, principal: &Principal, team_id: i64) -> Result<DetectionsPage, WebError> {
    let team = service::teams::get(state, team_id).await?;
    let role = team_role(state, principal, team_id).await?;
    let release = state.catalog.default_release();
    let detections = detections::list(state, team_id).await?;
    let (covered, tactics) = rule_coverage(&release, &detections);
    Ok(DetectionsPage {
        chrome: Chrome::new(state, &release, ""),
        team,
        release: release.version().to_string(),
        techniques: release.techniques().len(),
        covered,
        tactics,
        detections,
        history: change_lines(detections::history(state, team_id, 2_000).await?, 10),
        form: DetectionForm::default(),
        picker: technique_picker::options(&state.catalog.default_release(), &[]),
        picker_id: "new-detection",
        error: None,
        notice: None,
        preview: None,
        can_edit: role.is_some_and(|r| r >= Role::Editor),
        max_megabytes: sigma::MAX_UPLOAD_BYTES / (1024 * 1024),
    })
}

async fn detections_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Response, WebError> {
    Ok(render(&page_view(&state, &principal, id).await?)?.into_response())
}

async fn create_detection(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<DetectionForm>,
) -> Result<Response, WebError> {
    match detections::create(&state, team_id, form.input(), &actor).await {
        Ok(_) => Ok(Redirect::to(&format!("/teams/{team_id}/detections#list")).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = page_view(&state, &principal, team_id).await?;
            page.error = Some(format!("Not saved: {message}"));
            page.picker = technique_picker::options(&state.catalog.default_release(), &form.techniques);
            page.form = form;
            Ok((status, render(&page)?).into_response())
        }
    }
}

/// A fingerprint of what a plan would write, so the confirmation applies
/// exactly what the person saw.
fn fingerprint(plan: &ImportPlan) -> String {
    let json = serde_json::to_vec(&plan.rules).unwrap_or_default();
    let digest = sha2::Sha256::digest(&json);
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

async fn read_files(multipart: Result<Multipart, MultipartRejection>) -> Result<Vec<RuleFile>, String> {
    let mut multipart = multipart.map_err(|e| format!("send the form as multipart/form-data ({})", e.body_text()))?;
    let mut files = Vec::new();
    let mut total = 0;
    while let Some(field) = multipart.next_field().await.map_err(|e| format!("the upload failed: {}", e.body_text()))? {
        if field.name() != Some("files") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload.yml").to_string();
        let bytes = field.bytes().await.map_err(|e| format!("{name}: {}", e.body_text()))?;
        total += bytes.len();
        if total > sigma::MAX_UPLOAD_BYTES {
            return Err(format!("the files are larger than {} MB in all", sigma::MAX_UPLOAD_BYTES / (1024 * 1024)));
        }
        if !bytes.is_empty() {
            files.push(RuleFile { name, bytes: bytes.to_vec() });
        }
    }
    if files.is_empty() {
        return Err("choose one or more rule files (.yml, .yaml) or a zip of them".into());
    }
    Ok(files)
}

async fn preview_response(
    state: &AppState,
    principal: &Principal,
    team_id: i64,
    files: Vec<RuleFile>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let mut page = page_view(state, principal, team_id).await?;
    page.notice = notice;
    let carried: Vec<CarriedFile> =
        files.iter().map(|f| CarriedFile { name: f.name.clone(), content: URL_SAFE_NO_PAD.encode(&f.bytes) }).collect();
    match detections::preview_import(state, team_id, files).await {
        Ok(plan) => {
            let fingerprint = fingerprint(&plan);
            page.preview = Some(PreviewView { plan, files: carried, fingerprint });
            Ok(render(&page)?.into_response())
        }
        Err(ServiceError::InvalidFile(message)) => {
            page.error = Some(format!("The rules cannot be read, nothing was imported: {message}"));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

async fn preview_upload(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    match read_files(multipart).await {
        Ok(files) => preview_response(&state, &principal, team_id, files, None).await,
        Err(message) => {
            let mut page = page_view(&state, &principal, team_id).await?;
            page.error = Some(format!("Nothing was imported: {message}."));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct ApplyForm {
    #[serde(default)]
    file_name: Vec<String>,
    #[serde(default)]
    file_content: Vec<String>,
    #[serde(default)]
    fingerprint: String,
}

async fn apply_upload(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<ApplyForm>,
) -> Result<Response, WebError> {
    if form.file_name.len() != form.file_content.len() || form.file_name.is_empty() {
        return Err(WebError::BadRequest("the confirmed files are incomplete; upload them again".into()));
    }
    let mut files = Vec::with_capacity(form.file_name.len());
    for (name, content) in form.file_name.iter().zip(&form.file_content) {
        let bytes = URL_SAFE_NO_PAD
            .decode(content.trim())
            .map_err(|_| WebError::BadRequest(format!("the confirmed file {name} is damaged; upload it again")))?;
        files.push(RuleFile { name: name.clone(), bytes });
    }
    let current = match detections::preview_import(&state, team_id, files.clone()).await {
        Ok(plan) => plan,
        Err(ServiceError::InvalidFile(_)) => return preview_response(&state, &principal, team_id, files, None).await,
        Err(other) => return Err(other.into()),
    };
    if fingerprint(&current) != form.fingerprint {
        let notice = "The team's detections changed since the preview you confirmed, so nothing was imported. \
                      This is what the rules would change now."
            .to_string();
        return preview_response(&state, &principal, team_id, files, Some(notice)).await;
    }
    match detections::apply_import(&state, team_id, files, &actor).await {
        Ok(applied) => {
            let plan = &applied.plan;
            let message = if applied.history_id.is_none() {
                "The import changed nothing: every rule already matched its detection.".to_string()
            } else {
                format!("Imported {} new and {} updated detection(s).", plan.creates, plan.updates)
            };
            let mut page = page_view(&state, &principal, team_id).await?;
            page.notice = Some(message);
            Ok(render(&page)?.into_response())
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = page_view(&state, &principal, team_id).await?;
            page.error = Some(format!("Nothing was imported: {message}"));
            Ok((status, render(&page)?).into_response())
        }
    }
}

async fn undo_change(
    State(state): State<AppState>,
    Path((team_id, entry)): Path<(i64, i64)>,
    principal: Principal,
    WebActor(actor): WebActor,
) -> Result<Response, WebError> {
    let outcome = detections::undo(&state, team_id, entry, &actor).await;
    let mut page = page_view(&state, &principal, team_id).await?;
    match outcome {
        Ok(reverted) => {
            page.notice = Some(format!("Undid change #{entry}: {reverted} detection change(s) reverted."));
            Ok(render(&page)?.into_response())
        }
        Err(e) => {
            let (status, message) = form_error(e)?;
            page.error = Some(format!("Not undone: {message}"));
            Ok((status, render(&page)?).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "pages/detection.html")]
struct DetectionPage {
    chrome: Chrome,
    detection: Detection,
    team: Team,
    form: DetectionForm,
    error: Option<String>,
    picker: Vec<PickerOption>,
    picker_id: &'static str,
    can_edit: bool,
}

async fn detection_view(state: &AppState, principal: &Principal, id: i64) -> Result<DetectionPage, WebError> {
    let detection = detections::get(state, id).await?;
    let team = service::teams::get(state, detection.team_id).await?;
    let can_edit = team_role(state, principal, team.id).await?.is_some_and(|r| r >= Role::Editor);
    let form = DetectionForm::of(&detection);
    Ok(DetectionPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        picker: technique_picker::options(&state.catalog.default_release(), &form.techniques),
        picker_id: "detection",
        detection,
        team,
        form,
        error: None,
        can_edit,
    })
}

async fn detection_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Response, WebError> {
    Ok(render(&detection_view(&state, &principal, id).await?)?.into_response())
}

async fn edit_detection(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<DetectionForm>,
) -> Result<Response, WebError> {
    match detections::update(&state, id, form.version, form.input(), &actor).await {
        Ok(detection) => Ok(Redirect::to(&format!("/teams/{}/detections#list", detection.team_id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = detection_view(&state, &principal, id).await?;
            page.error = Some(format!("Not saved: {message}"));
            page.picker = technique_picker::options(&state.catalog.default_release(), &form.techniques);
            page.form = form;
            Ok((status, render(&page)?).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    version: Option<i64>,
}

async fn delete_detection(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<DeleteForm>,
) -> Result<Response, WebError> {
    match detections::delete(&state, id, form.version, &actor).await {
        Ok(detection) => Ok(Redirect::to(&format!("/teams/{}/detections#list", detection.team_id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = detection_view(&state, &principal, id).await?;
            page.error = Some(format!("Not deleted: {message}"));
            Ok((status, render(&page)?).into_response())
        }
    }
}
