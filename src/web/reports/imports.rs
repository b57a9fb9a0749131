//! Importing a Navigator layer or the CSV export into a system: the upload
//! form, a preview of every change it would make, and its confirmation,
//! which carries the file back so nothing is kept on the server between.

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::app::AppState;
use crate::reports::import::{self, ImportFormat, ImportPreview};
use crate::service::reports as report_service;
use crate::service::{ServiceError, snapshot};
use crate::web::actor::WebActor;
use crate::web::{Chrome, WebError, render};

struct ChangeRow {
    technique_id: String,
    name: String,
    field: &'static str,
    from: String,
    to: String,
}

/// A preview, as the page shows it, with what the confirmation needs.
struct PreviewView {
    format: &'static str,
    changes: Vec<ChangeRow>,
    techniques: usize,
    unknown: Vec<(String, String)>,
    errors: Vec<(String, String)>,
    warnings: Vec<String>,
    /// The file, for the confirmation (URL-safe base64).
    content: String,
    fingerprint: String,
}

impl PreviewView {
    fn new(preview: &ImportPreview, format: ImportFormat, file: &[u8]) -> Self {
        let shown = |value: &str| if value.is_empty() { "(empty)".to_string() } else { value.to_string() };
        let mut techniques: Vec<&str> = preview.changes.iter().map(|c| c.technique_id.as_str()).collect();
        techniques.dedup();
        PreviewView {
            format: match format {
                ImportFormat::Navigator => "ATLAS Navigator layer",
                ImportFormat::Csv => "CSV",
            },
            changes: preview
                .changes
                .iter()
                .map(|c| ChangeRow {
                    technique_id: c.technique_id.clone(),
                    name: c.technique_name.clone(),
                    field: c.field.as_str(),
                    from: shown(&c.from),
                    to: shown(&c.to),
                })
                .collect(),
            techniques: techniques.len(),
            unknown: preview.unknown_techniques.iter().map(|u| (u.at.clone(), u.technique_id.clone())).collect(),
            errors: preview.errors.iter().map(|e| (e.at.clone(), e.message.clone())).collect(),
            warnings: preview.warnings.clone(),
            content: URL_SAFE_NO_PAD.encode(file),
            fingerprint: report_service::fingerprint(preview),
        }
    }

    fn applicable(&self) -> bool {
        self.errors.is_empty() && !self.changes.is_empty()
    }
}

#[derive(Template)]
#[template(path = "pages/import.html")]
struct ImportPage {
    chrome: Chrome,
    system_id: i64,
    system_name: String,
    team_id: i64,
    team_name: String,
    release: String,
    error: Option<String>,
    notice: Option<String>,
    preview: Option<PreviewView>,
    max_megabytes: usize,
}

async fn import_view(state: &AppState, id: i64) -> Result<ImportPage, WebError> {
    let snapshot = snapshot::load(state, id).await?;
    let team = crate::service::teams::get(state, snapshot.system.team_id).await?;
    Ok(ImportPage {
        chrome: Chrome::new(state, &snapshot.framework, ""),
        system_id: snapshot.system.id,
        system_name: snapshot.system.name.clone(),
        team_id: team.id,
        team_name: team.name,
        release: snapshot.framework.version().to_string(),
        error: None,
        notice: None,
        preview: None,
        max_megabytes: import::MAX_FILE_BYTES / (1024 * 1024),
    })
}

pub(super) async fn import_page(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    Ok(render(&import_view(&state, id).await?)?.into_response())
}

/// The file of an upload form: the chosen file, else the pasted text.
struct Upload {
    format: Option<ImportFormat>,
    file: Vec<u8>,
}

async fn read_upload(multipart: Result<Multipart, MultipartRejection>) -> Result<Upload, String> {
    let mut multipart = multipart.map_err(|e| format!("send the form as multipart/form-data ({})", e.body_text()))?;
    let (mut format, mut file, mut pasted) = (None, Vec::new(), String::new());
    while let Some(field) = multipart.next_field().await.map_err(|e| format!("the upload failed: {}", e.body_text()))? {
        match field.name() {
            Some("format") => {
                let raw = field.text().await.map_err(|e| e.body_text())?;
                if !raw.trim().is_empty() && raw.trim() != "auto" {
                    format = Some(ImportFormat::parse(&raw).map_err(|m| format!("format: {m}"))?);
                }
            }
            Some("file") => file = field.bytes().await.map_err(|e| format!("the file: {}", e.body_text()))?.to_vec(),
            Some("content") => {
                pasted = field.text().await.map_err(|e| format!("the pasted text: {}", e.body_text()))?
            }
            _ => {}
        }
    }
    if file.is_empty() {
        file = pasted.into_bytes();
    }
    if file.iter().all(u8::is_ascii_whitespace) {
        return Err("choose a file or paste its content".into());
    }
    if file.len() > import::MAX_FILE_BYTES {
        return Err(format!("the file is {} bytes; the import limit is {} bytes", file.len(), import::MAX_FILE_BYTES));
    }
    Ok(Upload { format, file })
}

/// Renders the import page with a preview of `file`, or the reason it cannot be read.
async fn preview_response(
    state: &AppState,
    id: i64,
    format: Option<ImportFormat>,
    file: &[u8],
    notice: Option<String>,
) -> Result<Response, WebError> {
    let mut page = import_view(state, id).await?;
    page.notice = notice;
    let format = format.unwrap_or_else(|| ImportFormat::detect(file));
    match report_service::preview_import(state, id, Some(format), file.to_vec()).await {
        Ok(preview) => {
            page.preview = Some(PreviewView::new(&preview, format, file));
            Ok(render(&page)?.into_response())
        }
        Err(ServiceError::InvalidFile(message)) => {
            page.error = Some(format!("The file cannot be read, nothing was changed: {message}"));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn preview_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    match read_upload(multipart).await {
        Ok(upload) => preview_response(&state, id, upload.format, &upload.file, None).await,
        Err(message) => {
            let mut page = import_view(&state, id).await?;
            page.error = Some(format!("Nothing was imported: {message}."));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ApplyForm {
    /// The previewed file, URL-safe base64.
    #[serde(default)]
    content: String,
    #[serde(default)]
    format: String,
    /// [`report_service::fingerprint`] of the preview the user confirmed.
    #[serde(default)]
    fingerprint: String,
}

pub(super) async fn apply_upload(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    Form(form): Form<ApplyForm>,
) -> Result<Response, WebError> {
    let file = URL_SAFE_NO_PAD
        .decode(form.content.trim())
        .map_err(|_| WebError::BadRequest("the confirmed file is damaged; upload it again".into()))?;
    let format = ImportFormat::parse(&form.format).map_err(|m| WebError::BadRequest(format!("format: {m}")))?;
    // What is applied must be what the user saw: if the assessments moved on
    // meanwhile, show the new preview instead.
    let preview = match report_service::preview_import(&state, id, Some(format), file.clone()).await {
        Ok(preview) => preview,
        Err(ServiceError::InvalidFile(_)) => return preview_response(&state, id, Some(format), &file, None).await,
        Err(other) => return Err(other.into()),
    };
    if report_service::fingerprint(&preview) != form.fingerprint {
        let notice = "The system's assessments changed since the preview you confirmed, so nothing was applied. \
                      This is what the file would change now."
            .to_string();
        return preview_response(&state, id, Some(format), &file, Some(notice)).await;
    }
    if !preview.is_applicable() {
        return preview_response(&state, id, Some(format), &file, None).await;
    }
    let applied = match report_service::apply_import(&state, id, Some(format), file.clone(), &actor).await {
        Ok(applied) => applied,
        Err(ServiceError::InvalidFile(message)) => {
            let mut page = import_view(&state, id).await?;
            page.error = Some(message);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
        Err(other) => return Err(other.into()),
    };
    let message = match applied.changed.len() {
        0 => "The import changed nothing: every assessment already matched the file.".to_string(),
        n => format!("Imported the file: {n} technique assessment(s) changed."),
    };
    let mut target = format!(
        "/systems/{id}?done={}",
        percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC)
    );
    if let Some(batch) = applied.history_id {
        target.push_str(&format!("&undo={batch}"));
    }
    Ok(Redirect::to(&target).into_response())
}
