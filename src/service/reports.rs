//! Gap reports and imports over the stored data, shared by the pages, the
//! API and the command line. Reports are built from the snapshots of one
//! system or of every system of a team ([`ReportData`]), for today, on a
//! blocking thread (a large team takes a while); imports are previewed
//! against the system's current assessments and applied in one write
//! transaction, recorded as one batch in the history.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::decisions;
use super::snapshot::{self, Snapshot};
use super::{Actor, ServiceError, ServiceResult};
use crate::core::Core;
use crate::core::today;
use crate::reports::import::{self, ImportFormat, ImportPreview};
use crate::reports::navigator::LayerVersion;
use crate::reports::{self, GapReport, LeftOut, ReportFormat, ReportOptions, SystemSource, TeamRef};

/// Most recommendation steps a report plans.
pub const MAX_RECOMMENDATIONS: usize = 50;

/// What a report is about.
#[derive(Debug, Clone)]
enum Scope {
    System,
    Team(TeamRef),
}

/// The snapshots a report is built from; the report borrows from them.
pub struct ReportData {
    scope: Scope,
    snapshots: Vec<Arc<Snapshot>>,
    /// Systems of a team left out because their release is not loaded.
    left_out: Vec<LeftOut>,
    /// Coverage over the weeks before the report.
    trend: Option<crate::reports::ReportTrend>,
    /// Each system's coverage over the same weeks, by system ID.
    system_trends: std::collections::HashMap<i64, Vec<Option<f64>>>,
}

/// Weeks of coverage a report shows before its day.
const REPORT_TREND_WEEKS: i64 = 12;

fn report_range() -> super::trends::Range {
    let to = crate::core::today();
    let from = to - time::Duration::weeks(REPORT_TREND_WEEKS) + time::Duration::days(1);
    super::trends::Range { from, to, step: crate::domain::timeline::Step::Week }
}

fn report_trend(range: &super::trends::Range, points: &[super::trends::TrendPoint]) -> crate::reports::ReportTrend {
    crate::reports::ReportTrend {
        from: crate::domain::format_date(range.from),
        to: crate::domain::format_date(range.to),
        step: range.step.as_str().to_string(),
        coverage_percent: points.iter().map(|p| p.figures.coverage_percent).collect(),
    }
}

impl ReportData {
    /// Builds the report (see [`crate::reports`]).
    pub fn report(&self, options: &ReportOptions) -> GapReport<'_> {
        let sources: Vec<SystemSource> = self.snapshots.iter().map(|s| s.source()).collect();
        let mut report = match &self.scope {
            Scope::Team(team) => reports::team_report(team, &sources, options),
            Scope::System => reports::system_report(&sources[0], options),
        };
        report.left_out.clone_from(&self.left_out);
        report.trend.clone_from(&self.trend);
        report
    }

    /// The systems in the report, in order.
    pub fn snapshots(&self) -> &[Arc<Snapshot>] {
        &self.snapshots
    }

    /// A system's coverage over the weeks before the report.
    pub fn system_trend(&self, system_id: i64) -> &[Option<f64>] {
        self.system_trends.get(&system_id).map_or(&[], Vec::as_slice)
    }
}

/// The data of one system's report.
pub async fn for_system(core: &Core, system_id: i64) -> ServiceResult<ReportData> {
    let snapshot = snapshot::load(core, system_id).await?;
    let range = report_range();
    let trend = super::trends::system_trend(core, system_id, &range).await?;
    let system_trends = [(system_id, trend.points.iter().map(|p| p.figures.coverage_percent).collect())].into();
    let trend = Some(report_trend(&range, &trend.points));
    Ok(ReportData { scope: Scope::System, snapshots: vec![snapshot], left_out: Vec::new(), trend, system_trends })
}

/// The data of a team's report: every system of the team, by name. A system
/// whose release is not loaded is left out and named in the report.
pub async fn for_team(core: &Core, team_id: i64) -> ServiceResult<ReportData> {
    let team = super::teams::get(core, team_id).await?;
    let systems = super::systems::list(core, Some(team_id)).await?;
    let mut snapshots = Vec::with_capacity(systems.len());
    let mut left_out = Vec::new();
    for system in systems {
        if !core.catalog.contains(&system.framework_version) {
            left_out.push(LeftOut {
                system_id: system.id,
                name: system.name,
                reason: format!("ATLAS release {} is not loaded", system.framework_version),
            });
            continue;
        }
        match snapshot::load(core, system.id).await {
            Ok(snapshot) => snapshots.push(snapshot),
            // Deleted meanwhile, or its release unloaded meanwhile.
            Err(ServiceError::NotFound(reason)) => {
                left_out.push(LeftOut { system_id: system.id, name: system.name, reason })
            }
            Err(other) => return Err(other),
        }
    }
    let range = report_range();
    let trend = super::trends::team_trend(core, team_id, &range).await?;
    let system_trends = trend
        .systems
        .iter()
        .map(|s| (s.system_id, s.points.iter().map(|p| p.figures.coverage_percent).collect()))
        .collect();
    let trend = Some(report_trend(&range, &trend.points));
    let scope = Scope::Team(TeamRef { id: team.id, name: team.name });
    Ok(ReportData { scope, snapshots, left_out, trend, system_trends })
}

/// What a report request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRequest {
    pub format: ReportFormat,
    /// Recommendation steps to plan (capped at [`MAX_RECOMMENDATIONS`]).
    pub recommendations: usize,
    /// Whether a JSON report lists every technique of every system. CSV and
    /// Navigator always need them; HTML and Markdown never show them.
    pub json_techniques: bool,
    /// The format Navigator layers are written in.
    pub layer_version: LayerVersion,
}

impl ReportRequest {
    /// The defaults: five recommendation steps, technique rows in JSON.
    pub fn new(format: ReportFormat) -> Self {
        ReportRequest {
            format,
            recommendations: crate::domain::gaps::DEFAULT_RECOMMENDATIONS,
            json_techniques: true,
            layer_version: LayerVersion::default(),
        }
    }

    /// The options of the report, for today.
    pub fn options(&self) -> ReportOptions {
        let technique_rows = match self.format {
            ReportFormat::Json => self.json_techniques,
            other => other.uses_technique_rows(),
        };
        ReportOptions {
            recommendations: self.recommendations.min(MAX_RECOMMENDATIONS),
            technique_rows,
            ..ReportOptions::new(today())
        }
    }
}

/// Builds the report on a blocking thread and hands it to `use_report`
/// there; what that returns (a rendered page, a file) comes back.
pub async fn with_report<T, F>(data: ReportData, options: ReportOptions, use_report: F) -> ServiceResult<T>
where
    T: Send + 'static,
    F: FnOnce(&GapReport<'_>) -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let report = data.report(&options);
        use_report(&report)
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("building the gap report failed: {e}")))
}

/// A report written in one format, ready to send or save.
#[derive(Debug, Clone)]
pub struct ReportFile {
    pub format: ReportFormat,
    pub bytes: Vec<u8>,
    /// `atlascope-gaps-<system or team>-<date>.<extension>`.
    pub file_name: String,
}

impl ReportFile {
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

/// Builds and writes a report.
pub async fn render(data: ReportData, request: ReportRequest) -> ServiceResult<ReportFile> {
    let (format, layer_version) = (request.format, request.layer_version);
    with_report(data, request.options(), move |report| {
        let bytes = reports::render_with(report, format, layer_version)?;
        Ok::<_, reports::ReportError>(ReportFile { format, bytes, file_name: reports::file_name(report, format) })
    })
    .await?
    .map_err(|e| ServiceError::Internal(e.into()))
}

// ---------------------------------------------------------------- imports

/// An import that went through.
#[derive(Debug, Clone)]
pub struct AppliedImport {
    /// What the file changed, as previewed inside the write.
    pub preview: ImportPreview,
    /// The techniques whose assessment changed.
    pub changed: Vec<String>,
    /// The history batch recording the import (undo reverts it all); `None` when nothing changed.
    pub history_id: Option<i64>,
}

/// What a file would change on a system, applying nothing. Without a
/// format, a file starting with `{` or `[` is read as a Navigator layer,
/// anything else as CSV.
pub async fn preview_import(
    core: &Core,
    system_id: i64,
    format: Option<ImportFormat>,
    file: Vec<u8>,
) -> ServiceResult<ImportPreview> {
    if file.len() > import::MAX_FILE_BYTES {
        return Err(ServiceError::InvalidFile(format!(
            "the file is {} bytes; the import limit is {} bytes",
            file.len(),
            import::MAX_FILE_BYTES
        )));
    }
    let snapshot = snapshot::load(core, system_id).await?;
    let releases = core.catalog.list();
    let loaded: Vec<String> = releases.iter().map(|f| f.version().to_string()).collect();
    // Reading a large file takes a while: off the async runtime, a few at a time.
    let _turn = core.heavy_work.acquire().await.map_err(|e| ServiceError::Internal(e.into()))?;
    let preview = tokio::task::spawn_blocking(move || {
        let source = snapshot.source();
        let mut preview = match format.unwrap_or_else(|| ImportFormat::detect(&file)) {
            ImportFormat::Csv => import::preview_csv(&file, &source),
            ImportFormat::Navigator => {
                let loaded: Vec<&str> = loaded.iter().map(String::as_str).collect();
                import::preview_navigator(&file, &source, &loaded)
            }
        }?;
        // Unknown IDs an older loaded release had: say they were retired, and by what.
        if !preview.unknown_techniques.is_empty() {
            let current = &snapshot.framework;
            let older = releases
                .iter()
                .filter(|f| crate::atlas::model::compare_versions(f.version(), current.version()).is_lt());
            let retired: Vec<_> = older.flat_map(|f| crate::domain::release_diff::diff(f, current).removed).collect();
            import::note_retired(&mut preview, &retired);
        }
        Ok::<_, import::ImportRefused>(preview)
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("reading the import failed: {e}")))?;
    preview.map_err(|refused| ServiceError::InvalidFile(refused.to_string()))
}

/// Most problems named in the message refusing a file with errors.
const PROBLEMS_NAMED: usize = 10;

/// Applies what a file changes, all or nothing: a file with any row or
/// entry in error is refused whole, naming them; unknown techniques are
/// listed in the preview and left out.
pub async fn apply_import(
    core: &Core,
    system_id: i64,
    format: Option<ImportFormat>,
    file: Vec<u8>,
    actor: &Actor,
) -> ServiceResult<AppliedImport> {
    let preview = preview_import(core, system_id, format, file).await?;
    if !preview.is_applicable() {
        let mut named: Vec<String> =
            preview.errors.iter().take(PROBLEMS_NAMED).map(|e| format!("{}: {}", e.at, e.message)).collect();
        if preview.errors.len() > PROBLEMS_NAMED {
            named.push(format!("and {} more", preview.errors.len() - PROBLEMS_NAMED));
        }
        return Err(ServiceError::InvalidFile(format!(
            "nothing was applied: {} row(s) or entries cannot be read: {}",
            preview.errors.len(),
            named.join("; ")
        )));
    }
    let written = decisions::set_assessments(core, system_id, &preview.assessment_changes(), actor).await?;
    Ok(AppliedImport { preview, changed: written.changed, history_id: written.batch })
}

/// A short digest of the changes a preview lists: a confirmation carries
/// it, so that what is applied is what the user saw.
pub fn fingerprint(preview: &ImportPreview) -> String {
    let mut hasher = Sha256::new();
    for change in &preview.changes {
        for part in [change.technique_id.as_str(), change.field.as_str(), &change.from, &change.to] {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}
