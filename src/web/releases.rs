//! The Releases page: the ATLAS releases loaded side by side, a comparison
//! of any two, and for administrators adding a release from an official
//! file, with the same checks and errors as the API and the command line.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::atlas::framework::{Counts, Origin};
use crate::auth::Principal;
use crate::releases::{self, AddReleaseFailure};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/frameworks", get(releases_page).post(add_release))
        .layer(DefaultBodyLimit::max(crate::atlas::MAX_RELEASE_BYTES + 64 * 1024))
}

pub struct ReleaseRow {
    pub version: String,
    pub format: &'static str,
    pub origin: String,
    pub date: String,
    pub counts: Counts,
    pub is_default: bool,
    pub full_text: bool,
}

#[derive(Template)]
#[template(path = "pages/releases.html")]
struct ReleasesPage {
    chrome: Chrome,
    rows: Vec<ReleaseRow>,
    /// Administrators may add a release here.
    can_add: bool,
    added: Option<String>,
    error: Option<String>,
}

fn release_rows(state: &AppState) -> Vec<ReleaseRow> {
    let default = state.catalog.default_version();
    state
        .catalog
        .list()
        .iter()
        .map(|f| ReleaseRow {
            version: f.version().to_string(),
            format: f.release.format.label(),
            origin: match &f.origin {
                Origin::Bundled => "bundled with atlascope (facts and project summaries)".to_string(),
                Origin::Imported { imported_at, file } => {
                    format!("imported from {file} at {}", crate::domain::records::format_timestamp(*imported_at))
                }
            },
            date: f.release.date.clone().unwrap_or_default(),
            counts: f.counts(),
            is_default: f.version() == default,
            full_text: f.has_official_text(),
        })
        .collect()
}

fn releases_view(state: &AppState, principal: &Principal) -> ReleasesPage {
    ReleasesPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        rows: release_rows(state),
        can_add: principal.is_admin(),
        added: None,
        error: None,
    }
}

async fn releases_page(State(state): State<AppState>, principal: Principal) -> Result<Response, WebError> {
    Ok(render(&releases_view(&state, &principal))?.into_response())
}

/// The uploaded file, its name, and the version to give it (if any).
async fn read_release_upload(
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(Vec<u8>, String, Option<String>), String> {
    let mut multipart = multipart.map_err(|e| format!("send the form as multipart/form-data ({})", e.body_text()))?;
    let (mut file, mut name, mut version) = (Vec::new(), String::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(|e| format!("the upload failed: {}", e.body_text()))? {
        match field.name() {
            Some("file") => {
                name = field.file_name().unwrap_or("upload").to_string();
                file = field.bytes().await.map_err(|e| format!("the file: {}", e.body_text()))?.to_vec();
            }
            Some("version") => {
                let raw = field.text().await.map_err(|e| e.body_text())?;
                version = Some(raw.trim().to_string()).filter(|v| !v.is_empty());
            }
            _ => {}
        }
    }
    if file.is_empty() {
        return Err("choose an official ATLAS file (YAML or a STIX bundle)".into());
    }
    Ok((file, name, version))
}

/// `POST /frameworks` (administrators): adds a release from an uploaded file.
async fn add_release(
    State(state): State<AppState>,
    principal: Principal,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, WebError> {
    let mut page = releases_view(&state, &principal);
    let refused = match read_release_upload(multipart).await {
        Ok((file, name, version)) => match releases::add_release(&state, &file, &name, version.as_deref()).await {
            Ok(framework) => {
                let counts = framework.counts();
                page.added = Some(format!(
                    "Added ATLAS {}: {} techniques and {} sub-techniques, {} mitigations, {} case studies.",
                    framework.version(),
                    counts.techniques,
                    counts.subtechniques,
                    counts.mitigations,
                    counts.case_studies
                ));
                page.rows = release_rows(&state);
                return Ok(render(&page)?.into_response());
            }
            Err(AddReleaseFailure::Database(e)) => return Err(WebError::Internal(e.into())),
            Err(AddReleaseFailure::Reader(e)) => return Err(WebError::Internal(anyhow::anyhow!(e))),
            Err(refused) => refused.to_string(),
        },
        Err(message) => message,
    };
    page.error = Some(format!("Not added: {refused}"));
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}
