//! Gap reports of one system or a whole team, and the interchange formats
//! around them. [`system_report`] and [`team_report`] build a [`GapReport`]
//! from the gap analysis ([`crate::domain::gaps`]); [`render`] writes it as
//! self-contained HTML ([`html`]), Markdown ([`markdown`]), CSV ([`csv`]),
//! JSON, or ATLAS Navigator layers ([`navigator`]). [`import`] reads a
//! Navigator layer or the CSV back into a preview of changes, applying
//! nothing. Everything here is pure: callers pass snapshots (or the same data
//! by hand) and the day.

pub mod charts;
pub mod csv;
pub mod digest;
pub mod display;
pub mod html;
pub mod import;
pub mod markdown;
pub mod navigator;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use crate::atlas::Framework;
use crate::atlas::model::CaseStudyKind;
use crate::domain::coverage::{
    self, CombinedCounts, CombinedState, CoverageFigures, CoverageReport, CoverageState, Decisions, DetectionFigures,
    StateCounts, SystemCoverage, TacticCoverage,
};
use crate::domain::gaps::{
    self, AssessedSystem, CaseStudyCoverage, CaseStudyLens, ControlRef, DetectionRef, HeatMap, PriorityWeights,
    RankedGap, Recommendations, SystemProfile, WeightRow,
};
use crate::domain::records::{Acceptance, Assessment, Control, Detection, DetectionRecord, StatusRecord, System};
use crate::domain::{Applicability, Confidence, DetectionStatus, Exposure, ImplementationStatus, Rating, format_date};

/// Everything recorded about one system, borrowed: what a system snapshot
/// holds, with its computed coverage when the caller has it.
#[derive(Debug, Clone, Copy)]
pub struct SystemSource<'a> {
    pub system: &'a System,
    pub framework: &'a Framework,
    pub assessments: &'a HashMap<String, Assessment>,
    pub mitigation_statuses: &'a HashMap<String, StatusRecord>,
    pub controls: &'a [Control],
    /// Keyed by the control's numeric ID as text.
    pub control_statuses: &'a HashMap<String, StatusRecord>,
    pub acceptances: &'a HashMap<String, Acceptance>,
    /// How each technique is detected, by technique ID.
    pub detection_statuses: &'a HashMap<String, DetectionRecord>,
    /// The team's detections.
    pub detections: &'a [Detection],
    /// The rows above translated for the coverage rules, when the caller
    /// keeps them (a snapshot does); else they are translated here.
    pub decisions: Option<&'a Decisions>,
    /// The coverage of those decisions and the day it was computed for;
    /// used when the report is for that day.
    pub coverage: Option<(&'a SystemCoverage, time::Date)>,
}

impl<'a> SystemSource<'a> {
    /// The system as the gap analysis sees it on a day.
    pub fn gap_input(&self, today: time::Date) -> AssessedSystem<'a> {
        AssessedSystem {
            profile: SystemProfile {
                id: self.system.id,
                name: &self.system.name,
                exposure: self.system.exposure,
                criticality: self.system.criticality,
            },
            framework: self.framework,
            decisions: match self.decisions {
                Some(decisions) => Cow::Borrowed(decisions),
                None => Cow::Owned(
                    Decisions::from_records(
                        self.assessments.values(),
                        self.mitigation_statuses.values(),
                        self.controls,
                        self.control_statuses,
                        self.acceptances.values(),
                    )
                    .with_detections(self.detection_statuses.values()),
                ),
            },
            coverage: self.coverage.filter(|(_, day)| *day == today).map(|(coverage, _)| coverage),
            controls: self.controls.iter().map(|c| ControlRef { id: c.id, name: &c.name }).collect(),
            detections: self
                .detections
                .iter()
                .map(|d| DetectionRef { id: d.id, name: &d.name, techniques: &d.techniques })
                .collect(),
        }
    }

    /// How a technique is detected (`none` when nothing is recorded).
    fn detection(&self, technique: &str) -> Option<&'a DetectionRecord> {
        self.detection_statuses.get(technique)
    }

    fn applicability(&self, technique: &str) -> Applicability {
        self.assessments.get(technique).map_or(Applicability::Unknown, |a| a.applicability)
    }

    fn risk(&self, technique: &str) -> Option<Rating> {
        self.assessments.get(technique).and_then(|a| a.risk)
    }

    fn rationale(&self, technique: &str) -> &'a str {
        self.assessments.get(technique).map_or("", |a| a.rationale.as_str())
    }
}

/// What a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReportScope {
    System { system_id: i64 },
    Team { team_id: i64, team_name: String },
}

/// How a report is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportOptions {
    pub weights: PriorityWeights,
    /// Recommendation steps to plan.
    pub recommendations: usize,
    /// The day risk acceptances are checked against, and the report's date.
    pub today: time::Date,
    /// Whether to list every technique of every system
    /// ([`SystemReport::techniques`]): the CSV and Navigator exports need
    /// them, JSON carries them, HTML and Markdown do not use them.
    pub technique_rows: bool,
}

impl ReportOptions {
    /// Default weights, [`gaps::DEFAULT_RECOMMENDATIONS`] steps, technique rows included.
    pub fn new(today: time::Date) -> Self {
        ReportOptions {
            weights: PriorityWeights::default(),
            recommendations: gaps::DEFAULT_RECOMMENDATIONS,
            today,
            technique_rows: true,
        }
    }

    /// The defaults, with technique rows only when `format` uses them.
    pub fn for_format(today: time::Date, format: ReportFormat) -> Self {
        ReportOptions { technique_rows: format.uses_technique_rows(), ..ReportOptions::new(today) }
    }
}

/// An ATLAS mitigation mapped to a technique, with its status on the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MitigationStatus<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub status: ImplementationStatus,
    pub owner: &'a str,
}

/// A team control mapped to a technique, with its status on the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ControlStatus<'a> {
    pub id: i64,
    pub name: &'a str,
    pub status: ImplementationStatus,
    pub owner: &'a str,
}

/// One technique of one system: what was decided and the resulting state.
/// Borrows from the release and the system's records.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TechniqueRow<'a> {
    pub technique_id: &'a str,
    pub technique_name: &'a str,
    pub parent: Option<&'a str>,
    /// Tactic IDs (their names and shortnames are in the report's heat map columns).
    pub tactics: &'a [String],
    pub state: CoverageState,
    pub applicability: Applicability,
    pub risk: Option<Rating>,
    pub rationale: &'a str,
    pub mitigations: Vec<MitigationStatus<'a>>,
    pub controls: Vec<ControlStatus<'a>>,
    /// Last day of the risk acceptance, if one is recorded (even expired).
    #[serde(with = "crate::domain::records::optional_date")]
    #[schema(value_type = Option<String>, format = Date)]
    pub acceptance_until: Option<time::Date>,
    /// The gap's priority; null when the technique is not a gap.
    pub priority: Option<f64>,
    /// How the SOC detects it on the system.
    pub detection: DetectionStatus,
    pub detection_confidence: Option<Confidence>,
    /// Prevention and detection together.
    pub combined: CombinedState,
    /// The team's detections mapped to it, by name.
    pub detections: Vec<&'a str>,
}

/// One system's part of a report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemReport<'a> {
    pub system_id: i64,
    pub team_id: i64,
    pub name: String,
    pub owner: String,
    pub platforms: Vec<String>,
    pub exposure: Exposure,
    pub criticality: Rating,
    pub framework_version: String,
    pub coverage: CoverageFigures,
    /// Prevention and detection together.
    pub detection: DetectionFigures,
    /// In matrix order; a technique counts under each of its tactics.
    pub tactics: Vec<TacticCoverage>,
    pub open_gaps: usize,
    pub weighted_gap: f64,
    /// Every technique of the release, in ID order (empty when the report
    /// was built without technique rows).
    pub techniques: Vec<TechniqueRow<'a>>,
    pub case_studies: CaseStudyLens<'a>,
}

/// The gap report of one system or a team, as every export shows it.
/// It borrows from the systems' records and releases ([`SystemSource`]).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GapReport<'a> {
    pub title: String,
    pub scope: ReportScope,
    /// `YYYY-MM-DD`: the day acceptances were checked against.
    pub generated_on: String,
    /// ATLAS releases the systems are assessed against.
    pub releases: Vec<String>,
    pub weights: PriorityWeights,
    pub weight_table: Vec<WeightRow>,
    pub formula: String,
    /// Every system's counts added up.
    pub overall: CoverageFigures,
    /// Every system's prevention and detection added up.
    pub detection: DetectionFigures,
    pub open_gaps: usize,
    pub weighted_gap: f64,
    pub systems: Vec<SystemReport<'a>>,
    /// Every gap of every system, highest priority first.
    pub gaps: Vec<RankedGap<'a>>,
    pub recommendations: Recommendations<'a>,
    pub heat_map: HeatMap<'a>,
    /// Systems of the team the report could not include, and why.
    pub left_out: Vec<LeftOut>,
    /// Coverage week by week before the report, replayed from the history
    /// (absent when the report was built without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<ReportTrend>,
}

/// Coverage over the weeks before a report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportTrend {
    /// `YYYY-MM-DD`: the first period's first day and the last period's last day.
    pub from: String,
    pub to: String,
    /// `day`, `week` or `month`.
    pub step: String,
    /// The coverage percentage at the end of each period (null while nothing applied).
    pub coverage_percent: Vec<Option<f64>>,
}

/// A system a team report leaves out, and why (its release is not loaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LeftOut {
    pub system_id: i64,
    pub name: String,
    pub reason: String,
}

/// A case study some systems leave fully exposed.
#[derive(Debug, Clone, Copy)]
pub struct ExposedStudy<'r> {
    pub study: &'r CaseStudyCoverage<'r>,
    /// Systems whose every step of the study is exposed.
    pub systems: usize,
}

/// A team, as a portfolio report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRef {
    pub id: i64,
    pub name: String,
}

/// The gap report of one system.
pub fn system_report<'a>(source: &SystemSource<'a>, options: &ReportOptions) -> GapReport<'a> {
    let title = format!("ATLAS gap report: {}", source.system.name);
    build(title, ReportScope::System { system_id: source.system.id }, std::slice::from_ref(source), options)
}

/// The gap report of several systems of a team (usually all of them):
/// a combined ranking, a heat map, and recommendations across the systems.
pub fn team_report<'a>(team: &TeamRef, sources: &[SystemSource<'a>], options: &ReportOptions) -> GapReport<'a> {
    let title = format!("ATLAS gap report: team {}", team.name);
    build(title, ReportScope::Team { team_id: team.id, team_name: team.name.clone() }, sources, options)
}

fn build<'a>(
    title: String,
    scope: ReportScope,
    sources: &[SystemSource<'a>],
    options: &ReportOptions,
) -> GapReport<'a> {
    let inputs: Vec<AssessedSystem> = sources.iter().map(|source| source.gap_input(options.today)).collect();
    let analyses: Vec<gaps::SystemAnalysis> =
        inputs.iter().map(|input| gaps::analyse(input, &options.weights, options.today)).collect();
    let recommendations = gaps::recommend(&inputs, &analyses, options.today, options.recommendations);
    let mut releases: Vec<ReleaseFacts<'a>> = Vec::new();
    let systems: Vec<SystemReport<'a>> = sources
        .iter()
        .zip(&analyses)
        .map(|(source, analysis)| {
            let at = match releases.iter().position(|r| std::ptr::eq(r.framework, source.framework)) {
                Some(at) => at,
                None => {
                    releases.push(ReleaseFacts::new(source.framework));
                    releases.len() - 1
                }
            };
            let release = &releases[at];
            let rows = if options.technique_rows { technique_rows(source, release, analysis) } else { Vec::new() };
            (source, analysis, rows, release.lens.lens(&analysis.coverage))
        })
        .map(|(source, analysis, techniques, case_studies)| SystemReport {
            system_id: source.system.id,
            team_id: source.system.team_id,
            name: source.system.name.clone(),
            owner: source.system.owner.clone(),
            platforms: source.system.platforms.clone(),
            exposure: source.system.exposure,
            criticality: source.system.criticality,
            framework_version: source.framework.version().to_string(),
            coverage: CoverageFigures::from(analysis.coverage.overall),
            detection: DetectionFigures::from(analysis.coverage.combined),
            tactics: CoverageReport::new(source.system.id, source.framework, &analysis.coverage).tactics,
            open_gaps: analysis.coverage.overall.open_gaps(),
            weighted_gap: analysis.weighted_gap(),
            techniques,
            case_studies,
        })
        .collect();
    let mut combined = CombinedCounts::default();
    for analysis in &analyses {
        combined.merge(&analysis.coverage.combined);
    }
    // Last: the portfolio takes the analyses over (their gaps move into its ranking).
    let portfolio = gaps::portfolio(&inputs, analyses);

    let mut releases: Vec<String> = Vec::new();
    for source in sources {
        if !releases.iter().any(|r| r == source.framework.version()) {
            releases.push(source.framework.version().to_string());
        }
    }
    GapReport {
        title,
        scope,
        generated_on: format_date(options.today),
        releases,
        weights: options.weights,
        weight_table: options.weights.table(),
        formula: gaps::FORMULA.to_string(),
        overall: CoverageFigures::from(portfolio.counts),
        detection: DetectionFigures::from(combined),
        open_gaps: portfolio.counts.open_gaps(),
        weighted_gap: portfolio.systems.iter().map(|s| s.weighted_gap).sum(),
        systems,
        gaps: portfolio.gaps,
        recommendations,
        heat_map: portfolio.heat_map,
        left_out: Vec::new(),
        trend: None,
    }
}

/// Per-release lookups shared by every system assessed against the release.
struct ReleaseFacts<'a> {
    framework: &'a Framework,
    /// Per technique position, the positions of the mitigations ATLAS links to it.
    mitigations_by_technique: Vec<Vec<usize>>,
    lens: gaps::CaseStudyIndex<'a>,
}

impl<'a> ReleaseFacts<'a> {
    fn new(framework: &'a Framework) -> Self {
        let position: HashMap<&str, usize> =
            framework.mitigations().iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
        let mitigations_by_technique = framework
            .techniques()
            .iter()
            .map(|t| framework.mitigations_for(&t.id).filter_map(|m| position.get(m.id.as_str()).copied()).collect())
            .collect();
        ReleaseFacts { framework, mitigations_by_technique, lens: gaps::CaseStudyIndex::new(framework) }
    }
}

fn technique_rows<'a>(
    source: &SystemSource<'a>,
    release: &ReleaseFacts<'a>,
    analysis: &gaps::SystemAnalysis,
) -> Vec<TechniqueRow<'a>> {
    let framework = source.framework;
    let status_of = |row: Option<&'a StatusRecord>| {
        row.map_or((ImplementationStatus::NotStarted, ""), |r| (r.status, r.owner.as_str()))
    };
    let mitigation_statuses: Vec<(ImplementationStatus, &str)> =
        framework.mitigations().iter().map(|m| status_of(source.mitigation_statuses.get(&m.id))).collect();
    let mut controls_by_technique: HashMap<&str, Vec<ControlStatus<'a>>> = HashMap::new();
    for control in source.controls {
        let (status, owner) = status_of(source.control_statuses.get(&control.id.to_string()));
        let mut seen = HashSet::new();
        for technique in &control.techniques {
            if seen.insert(technique.as_str()) {
                controls_by_technique.entry(technique.as_str()).or_default().push(ControlStatus {
                    id: control.id,
                    name: &control.name,
                    status,
                    owner,
                });
            }
        }
    }
    let mut detections_by_technique: HashMap<&str, Vec<&'a str>> = HashMap::new();
    for detection in source.detections {
        for technique in &detection.techniques {
            detections_by_technique.entry(technique.as_str()).or_default().push(&detection.name);
        }
    }
    framework
        .techniques()
        .iter()
        .zip(&analysis.coverage.states)
        .zip(&analysis.priorities)
        .zip(&release.mitigations_by_technique)
        .map(|(((technique, &state), &priority), mitigations)| {
            let id = technique.id.as_str();
            let assessment = source.assessments.get(id);
            TechniqueRow {
                technique_id: id,
                technique_name: &technique.name,
                parent: technique.parent.as_deref(),
                tactics: &technique.tactics,
                state,
                applicability: assessment.map_or(Applicability::Unknown, |a| a.applicability),
                risk: assessment.and_then(|a| a.risk),
                rationale: assessment.map_or("", |a| a.rationale.as_str()),
                mitigations: mitigations
                    .iter()
                    .map(|&m| {
                        let mitigation = &framework.mitigations()[m];
                        let (status, owner) = mitigation_statuses[m];
                        MitigationStatus { id: &mitigation.id, name: &mitigation.name, status, owner }
                    })
                    .collect(),
                controls: controls_by_technique.get(id).cloned().unwrap_or_default(),
                acceptance_until: source.acceptances.get(id).map(|a| a.expires_on),
                priority: state.is_gap().then_some(priority),
                detection: source.detection(id).map_or(DetectionStatus::None, |d| d.status),
                detection_confidence: source.detection(id).and_then(|d| d.confidence),
                combined: coverage::combined_state(
                    state,
                    source.detection(id).map_or(DetectionStatus::None, |d| d.status),
                ),
                detections: detections_by_technique.get(id).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

impl GapReport<'_> {
    /// True for a team (portfolio) report.
    pub fn is_team(&self) -> bool {
        matches!(self.scope, ReportScope::Team { .. })
    }

    /// The combined state counts of every system.
    pub fn counts(&self) -> StateCounts {
        self.overall.counts
    }

    /// Case studies left fully exposed on at least one system, with the
    /// number of such systems: incidents first, then the most systems, then
    /// the release's order.
    pub fn exposed_studies(&self) -> Vec<ExposedStudy<'_>> {
        let mut found: Vec<ExposedStudy> = Vec::new();
        for system in &self.systems {
            let lens = &system.case_studies;
            for &id in &lens.fully_exposed {
                match found.iter_mut().find(|e| e.study.id == id) {
                    Some(entry) => entry.systems += 1,
                    None => {
                        if let Some(study) = lens.studies.iter().find(|s| s.id == id) {
                            found.push(ExposedStudy { study, systems: 1 });
                        }
                    }
                }
            }
        }
        found.sort_by_key(|e| (e.study.kind != Some(CaseStudyKind::Incident), std::cmp::Reverse(e.systems)));
        found
    }

    /// A tactic's name by ID (the ID itself if no system's release has it).
    pub fn tactic_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.heat_map.tactics.iter().find(|t| t.id == id).map_or(id, |t| t.name.as_str())
    }
}

/// The formats a gap report is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Html,
    Markdown,
    Csv,
    Json,
    /// One Navigator layer: a system's, or a team's aggregate.
    Navigator,
    /// A zip of Navigator layers: one per system, and a team's aggregate.
    NavigatorZip,
    /// One Navigator layer scored by detection status: a system's, or a team's aggregate.
    NavigatorDetection,
}

impl ReportFormat {
    pub const ALL: [ReportFormat; 7] = [
        ReportFormat::Html,
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Navigator,
        ReportFormat::NavigatorZip,
        ReportFormat::NavigatorDetection,
    ];

    /// Accepts `html`, `md` or `markdown`, `csv`, `json`, `navigator`, `navigator-zip`,
    /// `navigator-detection` (any case).
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "html" => Ok(ReportFormat::Html),
            "md" | "markdown" => Ok(ReportFormat::Markdown),
            "csv" => Ok(ReportFormat::Csv),
            "json" => Ok(ReportFormat::Json),
            "navigator" => Ok(ReportFormat::Navigator),
            "navigator-zip" => Ok(ReportFormat::NavigatorZip),
            "navigator-detection" => Ok(ReportFormat::NavigatorDetection),
            other => Err(format!(
                "`{}` is not one of html, md, csv, json, navigator, navigator-zip, navigator-detection",
                other.chars().take(40).collect::<String>()
            )),
        }
    }

    /// The form [`ReportFormat::parse`] reads (`md` for Markdown).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Navigator => "navigator",
            ReportFormat::NavigatorZip => "navigator-zip",
            ReportFormat::NavigatorDetection => "navigator-detection",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json | ReportFormat::Navigator | ReportFormat::NavigatorDetection => "application/json",
            ReportFormat::NavigatorZip => "application/zip",
        }
    }

    /// True for the formats written from the per-technique rows.
    pub fn uses_technique_rows(self) -> bool {
        matches!(
            self,
            ReportFormat::Csv
                | ReportFormat::Json
                | ReportFormat::Navigator
                | ReportFormat::NavigatorZip
                | ReportFormat::NavigatorDetection
        )
    }

    /// File name suffix, e.g. for `Content-Disposition`.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
            ReportFormat::Navigator => "layer.json",
            ReportFormat::NavigatorZip => "layers.zip",
            ReportFormat::NavigatorDetection => "detection.layer.json",
        }
    }
}

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// CSV and Navigator exports need a report built with technique rows.
    #[error("the report was built without technique rows, which the {0:?} export needs")]
    NoTechniqueRows(ReportFormat),
    #[error("HTML report: {0}")]
    Html(#[from] askama::Error),
    #[error("CSV report: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("JSON report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Navigator layers: {0}")]
    Zip(#[from] navigator::ZipError),
}

/// Writes a report in one format (layers in format 4.5).
pub fn render(report: &GapReport, format: ReportFormat) -> Result<Vec<u8>, ReportError> {
    render_with(report, format, navigator::LayerVersion::default())
}

/// Writes a report in one format, Navigator layers in the given layer format.
pub fn render_with(
    report: &GapReport,
    format: ReportFormat,
    layer_version: navigator::LayerVersion,
) -> Result<Vec<u8>, ReportError> {
    let rows_missing = report.systems.iter().any(|s| s.techniques.is_empty());
    if rows_missing && format != ReportFormat::Json && format.uses_technique_rows() {
        return Err(ReportError::NoTechniqueRows(format));
    }
    Ok(match format {
        ReportFormat::Html => html::render(report)?.into_bytes(),
        ReportFormat::Markdown => markdown::render(report).into_bytes(),
        ReportFormat::Csv => self::csv::render(report)?,
        ReportFormat::Json => serde_json::to_vec_pretty(report)?,
        ReportFormat::Navigator => navigator::render(report, layer_version)?.into_bytes(),
        ReportFormat::NavigatorZip => navigator::render_zip(report, layer_version)?,
        ReportFormat::NavigatorDetection => navigator::render_detection(report, layer_version)?.into_bytes(),
    })
}

/// A file name for a downloaded report: `atlascope-gaps-<slug>-<date>.<ext>`.
pub fn file_name(report: &GapReport, format: ReportFormat) -> String {
    let name = match &report.scope {
        ReportScope::System { .. } => report.systems.first().map_or("system", |s| s.name.as_str()),
        ReportScope::Team { team_name, .. } => team_name.as_str(),
    };
    format!("atlascope-gaps-{}-{}.{}", slug(name), report.generated_on, format.extension())
}

/// A name as lower-case ASCII letters and digits joined by dashes, for file names.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { "report".to_string() } else { slug.to_string() }
}

/// One colour per state, shared by the HTML charts and the Navigator layer.
pub fn state_colour(state: CoverageState) -> &'static str {
    match state {
        CoverageState::Covered => "#66bb6a",
        CoverageState::AcceptedRisk => "#64b5f6",
        CoverageState::PartiallyCovered => "#ffca28",
        CoverageState::Gap => "#ef5350",
        CoverageState::GapNoKnownMitigation => "#ab47bc",
        CoverageState::NotApplicable => "#bdbdbd",
        CoverageState::NotAssessed => "#eceff1",
    }
}

/// Percentages as reports print them: one decimal, or "n/a".
pub(crate) fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}%"))
}

/// Priorities and weights rounded for people: whole numbers from 100 up
/// (with thousands separated: "4,634"), one decimal from 10, two below; no
/// trailing zeros.
pub(crate) fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        let whole = value.round() as i64;
        let digits = whole.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        return if whole < 0 { format!("-{grouped}") } else { grouped };
    }
    let text = if magnitude >= 10.0 { format!("{value:.1}") } else { format!("{value:.2}") };
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".to_string() } else { text.to_string() }
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::fixtures::Fixture;
    use super::*;

    #[test]
    fn a_system_report_carries_rows_gaps_plan_and_weights() {
        let fixture = Fixture::realistic();
        let report = system_report(&fixture.source(), &fixture.options());
        let system = &report.systems[0];
        assert_eq!(system.techniques.len(), 170);
        assert_eq!(report.releases, vec!["2026.05"]);
        assert_eq!(report.weight_table.len(), 23);
        assert_eq!(report.open_gaps, report.gaps.len());
        assert!(!report.gaps.is_empty() && !report.recommendations.steps.is_empty());
        assert!(report.gaps.windows(2).all(|w| w[0].priority >= w[1].priority));
        let row = system.techniques.iter().find(|r| r.technique_id == "AML.T0051.000").expect("a row");
        assert_eq!(row.state, CoverageState::Covered);
        assert!(row.controls.iter().any(|c| c.id == 11 && c.name == "Prompt <firewall>" && c.owner == "Dana"));
        let gap_rows = system.techniques.iter().filter(|r| r.priority.is_some()).count();
        assert_eq!(gap_rows, report.gaps.len());
    }

    #[test]
    fn a_team_report_combines_systems() {
        let fixture = Fixture::realistic();
        let other = Fixture::second_system();
        let sources = [fixture.source(), other.source()];
        let report = team_report(&TeamRef { id: 1, name: "ML platform".into() }, &sources, &fixture.options());
        assert!(report.is_team());
        assert_eq!(report.systems.len(), 2);
        assert_eq!(report.heat_map.rows.len(), 2);
        assert_eq!(report.heat_map.tactics.len(), 16);
        assert_eq!(report.counts().total(), 340);
        assert_eq!(report.gaps.len(), report.systems.iter().map(|s| s.open_gaps).sum::<usize>());
        assert_eq!(file_name(&report, ReportFormat::Csv), "atlascope-gaps-ml-platform-2026-11-25.csv");
        let exposed = report.exposed_studies();
        let first_exercise = exposed.iter().position(|e| e.study.kind != Some(CaseStudyKind::Incident));
        assert!(
            first_exercise
                .is_some_and(|at| exposed[at..].iter().all(|e| e.study.kind != Some(CaseStudyKind::Incident)))
        );
        assert!(exposed.iter().any(|e| e.systems == 2), "the fraud model leaves more exposed; some studies on both");
    }

    #[test]
    fn a_report_without_technique_rows_refuses_the_formats_that_need_them() {
        let fixture = Fixture::realistic();
        let options = ReportOptions::for_format(fixture.options().today, ReportFormat::Html);
        let report = system_report(&fixture.source(), &options);
        assert!(report.systems[0].techniques.is_empty());
        assert!(!report.systems[0].case_studies.studies.is_empty());
        assert!(render(&report, ReportFormat::Html).is_ok());
        assert!(matches!(render(&report, ReportFormat::Csv), Err(ReportError::NoTechniqueRows(ReportFormat::Csv))));
        let full = system_report(&fixture.source(), &fixture.options());
        assert_eq!(render(&report, ReportFormat::Html).ok(), render(&full, ReportFormat::Html).ok());
    }

    #[utoipa::path(get, path = "/systems/{id}/gaps", responses((status = OK, body = GapReport)))]
    #[allow(dead_code)]
    fn gaps_endpoint() {}

    #[utoipa::path(post, path = "/systems/{id}/import", responses((status = OK, body = import::ImportPreview)))]
    #[allow(dead_code)]
    fn import_endpoint() {}

    #[test]
    fn the_report_and_preview_schemas_reach_an_openapi_document() {
        use utoipa::OpenApi;
        #[derive(OpenApi)]
        #[openapi(paths(gaps_endpoint, import_endpoint))]
        struct Doc;
        let doc = serde_json::to_value(Doc::openapi()).expect("an OpenAPI document");
        let schemas = &doc["components"]["schemas"];
        for name in ["GapReport", "SystemReport", "TechniqueRow", "RankedGap", "RecommendationStep", "CaseStudyLens"] {
            assert!(schemas.get(name).is_some(), "{name} is in the document");
        }
        assert!(schemas.get("ImportPreview").is_some() && schemas.get("PlannedChange").is_some());
        assert_eq!(schemas["TechniqueRow"]["properties"]["technique_id"]["type"], "string");
    }

    #[test]
    fn formats_parse_and_name_the_alternatives() {
        assert_eq!(ReportFormat::parse("MD"), Ok(ReportFormat::Markdown));
        assert!(ReportFormat::parse("pdf").unwrap_err().contains("html, md, csv, json, navigator"));
        assert_eq!(number(4633.875), "4,634");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(101.25), "101");
        assert_eq!(number(46.3), "46.3");
        assert_eq!(number(40.0), "40");
        assert_eq!(number(0.75), "0.75");
        assert_eq!(number(-0.001), "0");
        assert_eq!(percent(Some(100.0 / 6.0)), "16.7%");
        assert_eq!(percent(None), "n/a");
    }
}
