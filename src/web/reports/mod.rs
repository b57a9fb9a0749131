//! Gap reports in the browser: a system's gap report page, a team's
//! systems × tactics overview, report downloads in every format, and
//! importing a Navigator layer or the CSV export with a preview that applies
//! nothing until confirmed. Every page works without JavaScript.

mod gaps;
mod imports;
mod overview;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::WebError;
use crate::app::AppState;
use crate::reports::ReportFormat;
use crate::reports::import;
use crate::reports::navigator::LayerVersion;
use crate::service::reports::{self as report_service, ReportFile, ReportRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/systems/{id}/gaps", get(gaps::gaps_page))
        .route("/systems/{id}/report", get(download_system_report))
        .route("/teams/{id}/report", get(download_team_report))
        .route("/teams/{id}/overview", get(overview::team_overview))
        .route("/systems/{id}/import", get(imports::import_page).post(imports::preview_upload))
        .route("/systems/{id}/import/apply", post(imports::apply_upload))
        // An upload, or its confirmation carrying the file in base64.
        .layer(DefaultBodyLimit::max(2 * import::MAX_FILE_BYTES + 64 * 1024))
}

/// A download link of a report.
pub struct Download {
    pub label: &'static str,
    pub href: String,
}

/// Links to a report in every format, under `base` (`/systems/1/report`);
/// a team's also offers its layers as a zip, one per system.
fn downloads(base: &str, team: bool) -> Vec<Download> {
    let layer = if team { "ATLAS Navigator layer (all systems)" } else { "ATLAS Navigator layer" };
    let mut links = vec![
        ("HTML (self-contained)", "html"),
        ("Markdown", "md"),
        ("CSV", "csv"),
        ("JSON", "json"),
        (layer, "navigator"),
        ("Navigator layer 4.3 (for the ATLAS Navigator)", "navigator&layer_version=4.3"),
        ("Navigator detection layer", "navigator-detection"),
    ];
    if team {
        links.push(("Navigator layers, one per system (zip)", "navigator-zip"));
    }
    links.into_iter().map(|(label, format)| Download { label, href: format!("{base}?format={format}") }).collect()
}

#[derive(Debug, Default, Deserialize)]
struct DownloadQuery {
    format: Option<String>,
    layer_version: Option<String>,
}

impl DownloadQuery {
    fn request(&self) -> Result<ReportRequest, WebError> {
        let format = match self.format.as_deref().filter(|f| !f.is_empty()) {
            None => ReportFormat::Html,
            Some(raw) => ReportFormat::parse(raw).map_err(|m| WebError::BadRequest(format!("format: {m}")))?,
        };
        let layer_version = match self.layer_version.as_deref().filter(|v| !v.is_empty()) {
            None => LayerVersion::default(),
            Some(raw) => LayerVersion::parse(raw).map_err(|m| WebError::BadRequest(format!("layer_version: {m}")))?,
        };
        Ok(ReportRequest { layer_version, ..ReportRequest::new(format) })
    }
}

/// A report file as a download.
fn attachment(file: ReportFile) -> Response {
    let mut response = (StatusCode::OK, file.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.format.content_type()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

async fn download_system_report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, WebError> {
    let request = query.request()?;
    let data = report_service::for_system(&state, id).await?;
    Ok(attachment(report_service::render(data, request).await?))
}

async fn download_team_report(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, WebError> {
    let request = query.request()?;
    let data = report_service::for_team(&state, id).await?;
    Ok(attachment(report_service::render(data, request).await?))
}
