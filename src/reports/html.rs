//! The gap report as one self-contained HTML file: inline CSS and SVG
//! charts, no script, no external request of any kind (no stylesheet, font,
//! image or link to fetch), laid out to print. All text goes through
//! askama's HTML escaping. Template: `templates/reports/gap_report.html`.

use askama::Template;

use super::display::{self, GapLine, StepLine};
use super::{GapReport, SystemReport, number, percent, state_colour};
use crate::atlas::model::CaseStudyKind;
use crate::domain::coverage::{CoverageState, StateCounts};
use crate::domain::gaps::CaseStudyCoverage;

/// Gaps listed in a team report's HTML (all of them are in the CSV and JSON).
pub const TEAM_GAPS_SHOWN: usize = 200;
/// Techniques named per recommendation step before "and N more".
const CLOSES_NAMED: usize = 12;

/// Chart geometry of the overall state bar, in SVG user units.
const CHART_WIDTH: f64 = 720.0;

/// Writes the report.
pub fn render(report: &GapReport) -> Result<String, askama::Error> {
    HtmlReport::new(report).render()
}

struct LegendEntry {
    class: &'static str,
    symbol: &'static str,
    label: &'static str,
    colour: &'static str,
    count: usize,
}

struct Segment {
    x: String,
    width: String,
    colour: &'static str,
    title: String,
}

/// One case study against a system, as the report and the gap page show it.
pub(crate) struct StudyView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub steps: usize,
    pub covered: usize,
    pub accepted: usize,
    pub not_applicable: usize,
    pub exposed: usize,
    pub path: String,
}

struct SystemView {
    name: String,
    id: i64,
    exposure: &'static str,
    criticality: &'static str,
    release: String,
    platforms: String,
    coverage: String,
    detected: String,
    neither: String,
    assessed: String,
    open_gaps: usize,
    weighted_gap: String,
    /// Stacked bars of the states per tactic, and the same numbers as rows.
    tactic_chart: String,
    tactic_rows: Vec<(String, StateCounts, String)>,
    exposed_studies: Vec<StudyView>,
    studies: Vec<StudyView>,
    exposed_incidents: usize,
    exposed_exercises: usize,
}

struct HeatCellView {
    class: &'static str,
    text: String,
    gaps: String,
    title: String,
}

struct HeatRowView {
    system: String,
    cells: Vec<HeatCellView>,
}

struct ExposedView {
    id: String,
    name: String,
    kind: &'static str,
    steps: usize,
    systems: usize,
}

struct WeightView {
    factor: String,
    level: String,
    weight: String,
}

#[derive(Template)]
#[template(path = "reports/gap_report.html")]
struct HtmlReport<'a> {
    chart_legend: Vec<CoverageState>,
    /// Coverage over the weeks before the report, and its words.
    trend_chart: Option<String>,
    trend_words: String,
    title: &'a str,
    team: bool,
    generated_on: &'a str,
    releases: String,
    coverage: String,
    detected: String,
    neither: String,
    neither_count: usize,
    assessed: String,
    open_gaps: usize,
    weighted_gap: String,
    techniques: usize,
    legend: Vec<LegendEntry>,
    state_bar: Vec<Segment>,
    systems: Vec<SystemView>,
    heat_tactics: Vec<String>,
    heat_rows: Vec<HeatRowView>,
    gaps: Vec<GapLine>,
    gaps_hidden: usize,
    coverage_before: String,
    weighted_before: String,
    steps: Vec<StepLine>,
    limit: usize,
    exposed_across: Vec<ExposedView>,
    weights: Vec<WeightView>,
    formula: &'a str,
    left_out: &'a [super::LeftOut],
}

fn px(value: f64) -> String {
    format!("{value:.1}")
}

fn state_bar(counts: &StateCounts) -> Vec<Segment> {
    let total = counts.total();
    let mut x = 0.0;
    let mut segments = Vec::new();
    for state in CoverageState::ALL {
        let count = counts.get(state);
        if count == 0 || total == 0 {
            continue;
        }
        let width = CHART_WIDTH * count as f64 / total as f64;
        segments.push(Segment {
            x: px(x),
            width: px(width),
            colour: state_colour(state),
            title: format!("{}: {count}", state.label()),
        });
        x += width;
    }
    segments
}

pub(crate) fn study_view(study: &CaseStudyCoverage) -> StudyView {
    let path = study.path();
    StudyView {
        id: study.id.to_string(),
        name: study.name.to_string(),
        kind: study.kind.map_or("Unstated", |k| k.label()),
        steps: study.steps.len(),
        covered: study.covered,
        accepted: study.accepted,
        not_applicable: study.not_applicable,
        exposed: study.exposed,
        path,
    }
}

fn system_view(report: &GapReport, system: &SystemReport) -> SystemView {
    let chart: Vec<(String, StateCounts)> = system.tactics.iter().map(|t| (t.name.clone(), t.figures.counts)).collect();
    let tactic_rows = system
        .tactics
        .iter()
        .map(|t| (t.name.clone(), t.figures.counts, percent(t.figures.coverage_percent)))
        .collect();
    let lens = &system.case_studies;
    let exposed: Vec<&CaseStudyCoverage> =
        lens.fully_exposed.iter().filter_map(|&id| lens.studies.iter().find(|s| s.id == id)).collect();
    let exposed_of = |kind: CaseStudyKind| exposed.iter().filter(|s| s.kind == Some(kind)).count();
    // A team report lists the exposed case studies across systems instead of per system.
    let single = !report.is_team();
    SystemView {
        name: system.name.clone(),
        id: system.system_id,
        exposure: system.exposure.label(),
        criticality: system.criticality.label(),
        release: system.framework_version.clone(),
        platforms: system.platforms.join(", "),
        coverage: percent(system.coverage.coverage_percent),
        detected: percent(system.detection.detection_percent),
        neither: percent(system.detection.neither_percent),
        assessed: percent(system.coverage.assessed_percent),
        open_gaps: system.open_gaps,
        weighted_gap: number(system.weighted_gap),
        tactic_chart: super::charts::tactic_bars(&chart),
        tactic_rows,
        exposed_incidents: exposed_of(CaseStudyKind::Incident),
        exposed_exercises: exposed_of(CaseStudyKind::Exercise),
        exposed_studies: if single { exposed.into_iter().map(study_view).collect() } else { Vec::new() },
        studies: if single { lens.studies.iter().map(study_view).collect() } else { Vec::new() },
    }
}

pub(crate) fn heat_class(coverage: Option<f64>) -> &'static str {
    match coverage {
        None => "h-na",
        Some(v) if v < 20.0 => "h0",
        Some(v) if v < 40.0 => "h1",
        Some(v) if v < 60.0 => "h2",
        Some(v) if v < 80.0 => "h3",
        Some(_) => "h4",
    }
}

impl<'a> HtmlReport<'a> {
    fn new(report: &'a GapReport) -> Self {
        let team = report.is_team();
        let counts = report.counts();
        let shown = if team { TEAM_GAPS_SHOWN } else { report.gaps.len() };
        let gaps = display::gap_lines(report, shown);
        let steps = display::step_lines(report, CLOSES_NAMED);
        let plan = &report.recommendations;
        let heat_rows = report
            .heat_map
            .rows
            .iter()
            .map(|row| HeatRowView {
                system: row.system_name.to_string(),
                cells: row
                    .cells
                    .iter()
                    .map(|cell| match cell {
                        None => HeatCellView {
                            class: "h-none",
                            text: "–".into(),
                            gaps: String::new(),
                            title: "not in this system's release".into(),
                        },
                        Some(cell) => HeatCellView {
                            class: heat_class(cell.coverage_percent),
                            text: cell.coverage_percent.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}%")),
                            gaps: if cell.open_gaps > 0 { format!("{} open", cell.open_gaps) } else { String::new() },
                            title: format!(
                                "covered {}, partially {}, gaps {}, no known mitigation {}, accepted {}, not applicable {}, not assessed {}",
                                cell.counts.covered,
                                cell.counts.partially_covered,
                                cell.counts.gap,
                                cell.counts.gap_no_known_mitigation,
                                cell.counts.accepted_risk,
                                cell.counts.not_applicable,
                                cell.counts.not_assessed
                            ),
                        },
                    })
                    .collect(),
            })
            .collect();
        let (trend_chart, trend_words) = match &report.trend {
            Some(trend) => {
                let known: Vec<f64> = trend.coverage_percent.iter().flatten().copied().collect();
                let words = match (known.first(), known.last()) {
                    (Some(first), Some(last)) => format!(
                        "Coverage by {}, {} to {}: {first:.1}% at the start, {last:.1}% at the end.",
                        trend.step, trend.from, trend.to
                    ),
                    _ => format!("From {} to {} nothing that applies was decided yet.", trend.from, trend.to),
                };
                (Some(super::charts::coverage_line(&trend.coverage_percent, "coverage")), words)
            }
            None => (None, String::new()),
        };
        HtmlReport {
            chart_legend: super::charts::legend(),
            trend_chart,
            trend_words,
            title: &report.title,
            team,
            generated_on: &report.generated_on,
            releases: report.releases.join(", "),
            coverage: percent(report.overall.coverage_percent),
            detected: percent(report.detection.detection_percent),
            neither: percent(report.detection.neither_percent),
            neither_count: report.detection.counts.neither,
            assessed: percent(report.overall.assessed_percent),
            open_gaps: report.open_gaps,
            weighted_gap: number(report.weighted_gap),
            techniques: counts.total(),
            legend: CoverageState::ALL
                .into_iter()
                .map(|state| LegendEntry {
                    class: state.as_str(),
                    symbol: state.symbol(),
                    label: state.label(),
                    colour: state_colour(state),
                    count: counts.get(state),
                })
                .collect(),
            state_bar: state_bar(&counts),
            systems: report.systems.iter().map(|s| system_view(report, s)).collect(),
            heat_tactics: report.heat_map.tactics.iter().map(|t| t.name.clone()).collect(),
            heat_rows,
            gaps,
            gaps_hidden: report.gaps.len().saturating_sub(shown),
            coverage_before: percent(plan.coverage_percent_before),
            weighted_before: number(plan.weighted_gap_before),
            steps,
            limit: plan.limit,
            exposed_across: if team {
                report
                    .exposed_studies()
                    .into_iter()
                    .map(|e| ExposedView {
                        id: e.study.id.to_string(),
                        name: e.study.name.to_string(),
                        kind: e.study.kind.map_or("Unstated", |k| k.label()),
                        steps: e.study.steps.len(),
                        systems: e.systems,
                    })
                    .collect()
            } else {
                Vec::new()
            },
            weights: report
                .weight_table
                .iter()
                .map(|w| WeightView { factor: w.factor.clone(), level: w.level.clone(), weight: number(w.weight) })
                .collect(),
            formula: &report.formula,
            left_out: &report.left_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::Fixture;
    use super::super::{TeamRef, system_report, team_report};
    use super::*;

    /// Every `src=`/`href=`/`url(` target in the document.
    fn references(html: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["src=", "href=", "url(", "@import", "xlink:href"] {
            let mut rest = html;
            while let Some(at) = rest.find(marker) {
                let tail = &rest[at + marker.len()..];
                found.push(tail.chars().take(60).collect());
                rest = tail;
            }
        }
        found
    }

    #[test]
    fn the_html_report_is_self_contained_and_escapes_user_text() {
        let mut fixture = Fixture::realistic();
        fixture.system.name = "Bot <script>alert('name')</script>".into();
        fixture.assess(
            "AML.T0051",
            crate::domain::Applicability::Applies,
            Some(crate::domain::Rating::High),
            "<script>alert(\"rationale\")</script> & <img src=x>",
        );
        let report = system_report(&fixture.source(), &fixture.options());
        let html = render(&report).expect("an HTML report");

        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.to_ascii_lowercase().contains("<script"), "no script at all, and user text is escaped");
        assert!(!html.contains("<img"), "user markup is escaped");
        assert!(
            html.contains("Bot &#60;script&#62;") || html.contains("Bot &lt;script&gt;"),
            "the name is shown escaped"
        );
        assert!(references(&html).is_empty(), "no external reference: {:?}", references(&html));
        assert!(!html.contains("http://") && !html.contains("https://"), "no URL at all");
        assert!(!html.contains("<link") && !html.contains("<iframe") && !html.contains("<object"));
        assert!(html.contains("<style>") && html.contains("@media print"));
        assert!(html.contains("<svg"), "inline charts");
        assert!(html.contains(gaps_formula_fragment()), "the formula is shown");
        assert!(html.contains("not rated"), "the weights table is shown");
        // Every tactic has a bar, and the recommendations are listed.
        assert_eq!(html.matches(r#"<text class="chart-label""#).count(), 16, "one stacked bar per tactic");
        assert!(html.contains("<table class=\"tactic-table\">"), "the bars' numbers as a table");
        assert!(html.contains("ATLAS mitigation") || html.contains("Team control"));
    }

    fn gaps_formula_fragment() -> &'static str {
        "maturity × evidence × exposure × criticality × risk × state"
    }

    #[test]
    fn a_team_html_report_shows_the_heat_map() {
        let (a, b) = (Fixture::realistic(), Fixture::second_system());
        let team = TeamRef { id: 1, name: "<b>Platform</b>".into() };
        let report = team_report(&team, &[a.source(), b.source()], &a.options());
        let html = render(&report).expect("an HTML report");
        assert!(html.contains("class=\"heat\""));
        assert!(!html.contains("<b>Platform</b>"));
        assert!(html.contains("Fraud model") && html.contains("Support chatbot"));
        assert!(references(&html).is_empty());
        assert!(!html.to_ascii_lowercase().contains("<script"));
    }
}
