//! Gap reports in the browser: a system's gap report page (ranked gaps with
//! the priority weights, recommendations with the coverage expected after
//! each step, the case-study lens), a team's systems × tactics heat map,
//! report downloads in every format, and importing a Navigator layer or the
//! CSV export with a preview that applies nothing until confirmed. Every
//! page works without JavaScript.

use askama::Template;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::actor::WebActor;
use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::auth::guard::team_role;
use crate::auth::{Principal, Role};
use crate::domain::coverage::CoverageState;
use crate::domain::gaps::{CandidateKind, DEFAULT_RECOMMENDATIONS};
use crate::reports::html::{StudyView, study_view};
use crate::reports::import::{self, ImportFormat, ImportPreview};
use crate::reports::navigator::LayerVersion;
use crate::reports::{GapReport, LeftOut, ReportFormat, number, percent};
use crate::service::reports::{self as report_service, MAX_RECOMMENDATIONS, ReportFile, ReportRequest};
use crate::service::{ServiceError, snapshot};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/systems/{id}/gaps", get(gaps_page))
        .route("/systems/{id}/report", get(download_system_report))
        .route("/teams/{id}/report", get(download_team_report))
        .route("/teams/{id}/overview", get(team_overview))
        .route("/systems/{id}/import", get(import_page).post(preview_upload))
        .route("/systems/{id}/import/apply", post(apply_upload))
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
    ];
    if team {
        links.push(("Navigator layers, one per system (zip)", "navigator-zip"));
    }
    links.into_iter().map(|(label, format)| Download { label, href: format!("{base}?format={format}") }).collect()
}

// ---------------------------------------------------------------- downloads

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

// ---------------------------------------------------------------- the gap report page

struct GapRow {
    rank: usize,
    technique_id: String,
    name: String,
    tactics: String,
    state: CoverageState,
    maturity: &'static str,
    case_studies: usize,
    risk: &'static str,
    priority: String,
    factors: String,
}

struct StepRow {
    rank: usize,
    kind: &'static str,
    id: String,
    name: String,
    closed: String,
    closes: usize,
    techniques: String,
    coverage_after: String,
    /// For the `<meter>`; 0 when there is no percentage.
    coverage_value: f64,
}

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
    gaps: Vec<GapRow>,
    formula: String,
    weights: Vec<WeightView>,
    limit: usize,
    limits: [usize; 4],
    coverage_before: String,
    weighted_before: String,
    steps: Vec<StepRow>,
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
        let gaps = report
            .gaps
            .iter()
            .enumerate()
            .map(|(i, gap)| {
                let f = &gap.factors;
                GapRow {
                    rank: i + 1,
                    technique_id: gap.technique_id.to_string(),
                    name: gap.technique_name.to_string(),
                    tactics: gap.tactics.iter().map(|t| report.tactic_name(t)).collect::<Vec<_>>().join(", "),
                    state: gap.state,
                    maturity: gap.maturity.map_or("not graded", |m| m.label()),
                    case_studies: gap.case_studies,
                    risk: gap.risk.map_or("not rated", |r| r.label()),
                    priority: number(gap.priority),
                    factors: [f.maturity, f.evidence, f.exposure, f.criticality, f.risk, f.state]
                        .map(number)
                        .join(" × "),
                }
            })
            .collect();
        let plan = &report.recommendations;
        let steps = plan
            .steps
            .iter()
            .map(|step| StepRow {
                rank: step.rank,
                kind: match step.kind {
                    CandidateKind::Mitigation => "ATLAS mitigation",
                    CandidateKind::Control => "Team control",
                },
                id: step.id.clone(),
                name: step.name.to_string(),
                closed: number(step.weighted_gap_closed),
                closes: step.closes.len(),
                techniques: step.closes.iter().map(|c| c.technique_id).collect::<Vec<_>>().join(", "),
                coverage_after: percent(step.coverage_percent_after),
                coverage_value: step.coverage_percent_after.unwrap_or(0.0),
            })
            .collect();
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
            gaps,
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
            steps,
            exposed,
            studies: lens.studies.iter().map(study_view).collect(),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
struct GapsQuery {
    /// Recommendation steps to show.
    steps: Option<usize>,
}

async fn gaps_page(
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

// ---------------------------------------------------------------- the team overview

/// How the heat map is sorted: a column and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SortKey {
    Name,
    Coverage,
    Gaps,
    Weighted,
    /// A tactic's coverage, by tactic ID.
    Tactic(String),
}

impl SortKey {
    fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim).unwrap_or("") {
            "coverage" => SortKey::Coverage,
            "gaps" => SortKey::Gaps,
            "weighted" => SortKey::Weighted,
            "" | "name" => SortKey::Name,
            tactic => SortKey::Tactic(tactic.to_string()),
        }
    }

    fn as_param(&self) -> &str {
        match self {
            SortKey::Name => "name",
            SortKey::Coverage => "coverage",
            SortKey::Gaps => "gaps",
            SortKey::Weighted => "weighted",
            SortKey::Tactic(id) => id,
        }
    }

    /// The first direction of a column: names A to Z, the least covered and
    /// the most open first.
    fn natural_descending(&self) -> bool {
        matches!(self, SortKey::Gaps | SortKey::Weighted)
    }
}

#[derive(Debug, Default, Deserialize)]
struct OverviewQuery {
    sort: Option<String>,
    /// `asc` or `desc`.
    order: Option<String>,
}

/// A sortable column header.
struct SortHeader {
    label: String,
    href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    aria_sort: &'static str,
    /// ▲ or ▼ on the sorted column.
    arrow: &'static str,
}

fn sort_header(label: &str, team_id: i64, key: SortKey, current: &SortKey, descending: bool) -> SortHeader {
    let sorted = &key == current;
    let next_descending = if sorted { !descending } else { key.natural_descending() };
    let order = if next_descending { "desc" } else { "asc" };
    let encoded = percent_encoding::utf8_percent_encode(key.as_param(), percent_encoding::NON_ALPHANUMERIC);
    SortHeader {
        label: label.to_string(),
        href: format!("/teams/{team_id}/overview?sort={encoded}&order={order}"),
        aria_sort: match (sorted, descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        },
        arrow: match (sorted, descending) {
            (false, _) => "",
            (true, false) => "▲",
            (true, true) => "▼",
        },
    }
}

struct HeatCellView {
    class: &'static str,
    text: String,
    gaps: usize,
    href: String,
    label: String,
}

struct OverviewRow {
    system_id: i64,
    name: String,
    release: String,
    coverage: String,
    open_gaps: usize,
    weighted: String,
    cells: Vec<HeatCellView>,
}

#[derive(Template)]
#[template(path = "pages/team_overview.html")]
struct OverviewPage {
    chrome: Chrome,
    team_id: i64,
    team_name: String,
    coverage: String,
    assessed: String,
    open_gaps: usize,
    weighted_gap: String,
    systems: usize,
    downloads: Vec<Download>,
    fixed_headers: Vec<SortHeader>,
    tactic_headers: Vec<SortHeader>,
    rows: Vec<OverviewRow>,
    left_out: Vec<LeftOut>,
    buckets: [(&'static str, &'static str); 6],
}

/// The heat map colour class of a coverage percentage (five bands, and none).
fn heat_class(coverage: Option<f64>) -> &'static str {
    match coverage {
        None => "h-na",
        Some(v) if v < 20.0 => "h0",
        Some(v) if v < 40.0 => "h1",
        Some(v) if v < 60.0 => "h2",
        Some(v) if v < 80.0 => "h3",
        Some(_) => "h4",
    }
}

/// A percentage as a sort key: no percentage sorts after every number.
fn sortable(value: Option<f64>, descending: bool) -> (bool, f64) {
    match value {
        None => (true, 0.0),
        Some(v) if descending => (false, -v),
        Some(v) => (false, v),
    }
}

impl OverviewPage {
    fn new(report: &GapReport, chrome: Chrome, team_id: i64, sort: SortKey, descending: bool) -> Self {
        let tactics = &report.heat_map.tactics;
        // Unknown tactic: sort by name.
        let sort = match &sort {
            SortKey::Tactic(id) if !tactics.iter().any(|t| &t.id == id) => SortKey::Name,
            _ => sort,
        };
        let mut order: Vec<usize> = (0..report.systems.len()).collect();
        let column = match &sort {
            SortKey::Tactic(id) => tactics.iter().position(|t| &t.id == id),
            _ => None,
        };
        order.sort_by(|&a, &b| {
            let (x, y) = (&report.systems[a], &report.systems[b]);
            let by_name = x.name.to_lowercase().cmp(&y.name.to_lowercase());
            let flip = |o: std::cmp::Ordering| if descending { o.reverse() } else { o };
            let ordering = match &sort {
                SortKey::Name => flip(by_name),
                SortKey::Coverage => sortable(x.coverage.coverage_percent, descending)
                    .partial_cmp(&sortable(y.coverage.coverage_percent, descending))
                    .unwrap_or(std::cmp::Ordering::Equal),
                SortKey::Gaps => flip(x.open_gaps.cmp(&y.open_gaps)),
                SortKey::Weighted => flip(x.weighted_gap.total_cmp(&y.weighted_gap)),
                SortKey::Tactic(_) => {
                    let cell = |i: usize| {
                        column
                            .and_then(|c| report.heat_map.rows.get(i).and_then(|r| r.cells.get(c)).cloned().flatten())
                            .and_then(|cell| cell.coverage_percent)
                    };
                    sortable(cell(a), descending)
                        .partial_cmp(&sortable(cell(b), descending))
                        .unwrap_or(std::cmp::Ordering::Equal)
                }
            };
            ordering.then(by_name)
        });
        let rows = order
            .into_iter()
            .filter_map(|i| Some((report.systems.get(i)?, report.heat_map.rows.get(i)?)))
            .map(|(system, heat)| OverviewRow {
                system_id: system.system_id,
                name: system.name.clone(),
                release: system.framework_version.clone(),
                coverage: percent(system.coverage.coverage_percent),
                open_gaps: system.open_gaps,
                weighted: number(system.weighted_gap),
                cells: heat
                    .cells
                    .iter()
                    .zip(tactics)
                    .map(|(cell, tactic)| match cell {
                        None => HeatCellView {
                            class: "h-none",
                            text: "–".into(),
                            gaps: 0,
                            href: format!("/systems/{}", system.system_id),
                            label: format!("{}: {} is not in this system's release", system.name, tactic.name),
                        },
                        Some(cell) => HeatCellView {
                            class: heat_class(cell.coverage_percent),
                            text: cell.coverage_percent.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}%")),
                            gaps: cell.open_gaps,
                            href: format!(
                                "/systems/{}?tactic={}",
                                system.system_id,
                                percent_encoding::utf8_percent_encode(&tactic.id, percent_encoding::NON_ALPHANUMERIC)
                            ),
                            label: format!(
                                "{}, {}: coverage {}, {} open gap(s); open the workshop on this tactic",
                                system.name,
                                tactic.name,
                                percent(cell.coverage_percent),
                                cell.open_gaps
                            ),
                        },
                    })
                    .collect(),
            })
            .collect();
        let header = |label: &str, key: SortKey| sort_header(label, team_id, key, &sort, descending);
        OverviewPage {
            chrome,
            team_id,
            team_name: match &report.scope {
                crate::reports::ReportScope::Team { team_name, .. } => team_name.clone(),
                crate::reports::ReportScope::System { .. } => String::new(),
            },
            coverage: percent(report.overall.coverage_percent),
            assessed: percent(report.overall.assessed_percent),
            open_gaps: report.open_gaps,
            weighted_gap: number(report.weighted_gap),
            systems: report.systems.len(),
            downloads: downloads(&format!("/teams/{team_id}/report"), true),
            fixed_headers: vec![
                header("System", SortKey::Name),
                header("Coverage", SortKey::Coverage),
                header("Open gaps", SortKey::Gaps),
                header("Weighted gap", SortKey::Weighted),
            ],
            tactic_headers: tactics.iter().map(|t| header(&t.name, SortKey::Tactic(t.id.clone()))).collect(),
            rows,
            left_out: report.left_out.clone(),
            buckets: [
                ("h0", "under 20%"),
                ("h1", "20–39%"),
                ("h2", "40–59%"),
                ("h3", "60–79%"),
                ("h4", "80% or more"),
                ("h-na", "n/a: nothing applies yet"),
            ],
        }
    }
}

async fn team_overview(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, WebError> {
    let data = report_service::for_team(&state, id).await?;
    let sort = SortKey::parse(query.sort.as_deref());
    let descending = match query.order.as_deref() {
        Some("desc") => true,
        Some("asc") => false,
        _ => sort.natural_descending(),
    };
    let chrome = Chrome::new(&state, &state.catalog.default_release(), "");
    let request = ReportRequest { recommendations: 0, ..ReportRequest::new(ReportFormat::Html) };
    let html = report_service::with_report(data, request.options(), move |report| {
        OverviewPage::new(report, chrome, id, sort, descending).render()
    })
    .await?;
    Ok(Html(html?).into_response())
}

// ---------------------------------------------------------------- imports

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

async fn import_page(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
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

async fn preview_upload(
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
struct ApplyForm {
    /// The previewed file, URL-safe base64.
    #[serde(default)]
    content: String,
    #[serde(default)]
    format: String,
    /// [`report_service::fingerprint`] of the preview the user confirmed.
    #[serde(default)]
    fingerprint: String,
}

async fn apply_upload(
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
