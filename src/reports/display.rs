//! The gap report turned into display rows once: the ranked gaps and the
//! recommendation steps with their numbers and labels written as people
//! read them. The gap report page, the HTML export and the Markdown export
//! all draw these rows, so a figure reads the same everywhere.

use super::{GapReport, number, percent};
use crate::domain::coverage::{CombinedState, CoverageState};
use crate::domain::gaps::CandidateKind;

/// One open gap as a table row.
pub struct GapLine {
    pub rank: usize,
    /// Empty in a system's report.
    pub system: String,
    pub technique_id: String,
    pub name: String,
    pub tactics: String,
    pub state: CoverageState,
    /// Prevention and detection together ("Neither prevented nor detected" ranks first).
    pub combined: CombinedState,
    /// How the SOC detects it.
    pub detection: &'static str,
    pub maturity: &'static str,
    pub case_studies: usize,
    pub risk: &'static str,
    pub priority: String,
    /// maturity × evidence × exposure × criticality × risk × state × detection.
    pub factors: String,
}

/// A gap a recommendation step would close.
pub struct ClosedGap {
    pub technique_id: String,
    /// Empty in a system's report.
    pub system: String,
}

/// One recommendation step as a table row.
pub struct StepLine {
    pub rank: usize,
    pub kind: &'static str,
    /// The ATLAS ID, or `#` and the number of a team control.
    pub id: String,
    pub name: String,
    pub closed: String,
    /// The gaps it closes, up to the number asked for.
    pub closes: Vec<ClosedGap>,
    /// How many it closes in all.
    pub closes_count: usize,
    pub systems: usize,
    pub coverage_after: String,
    pub detection_after: String,
    /// For a `<meter>`; 0 when there is no percentage.
    pub coverage_value: f64,
}

impl StepLine {
    /// Closed gaps not named in `closes`.
    pub fn closes_unnamed(&self) -> usize {
        self.closes_count - self.closes.len()
    }
}

/// The first `shown` gaps of the report.
pub fn gap_lines(report: &GapReport, shown: usize) -> Vec<GapLine> {
    report
        .gaps
        .iter()
        .take(shown)
        .enumerate()
        .map(|(i, gap)| {
            let f = &gap.factors;
            GapLine {
                rank: i + 1,
                system: if report.is_team() { gap.system_name.to_string() } else { String::new() },
                technique_id: gap.technique_id.to_string(),
                name: match gap.parent_name {
                    Some(parent) => format!("{parent}: {}", gap.technique_name),
                    None => gap.technique_name.to_string(),
                },
                tactics: gap.tactics.iter().map(|t| report.tactic_name(t)).collect::<Vec<_>>().join(", "),
                state: gap.state,
                combined: gap.combined,
                detection: gap.detection.label(),
                maturity: gap.maturity.map_or("not graded", |m| m.label()),
                case_studies: gap.case_studies,
                risk: gap.risk.map_or("not rated", |r| r.label()),
                priority: number(gap.priority),
                factors: [f.maturity, f.evidence, f.exposure, f.criticality, f.risk, f.state, f.detection]
                    .map(number)
                    .join(" × "),
            }
        })
        .collect()
}

/// The recommendation steps, each naming up to `named` of the gaps it closes.
pub fn step_lines(report: &GapReport, named: usize) -> Vec<StepLine> {
    let team = report.is_team();
    report
        .recommendations
        .steps
        .iter()
        .map(|step| StepLine {
            rank: step.rank,
            kind: match step.kind {
                CandidateKind::Mitigation => "ATLAS mitigation",
                CandidateKind::Control => "Team control",
                CandidateKind::Detection => "Team detection",
            },
            id: match step.kind {
                CandidateKind::Mitigation => step.id.clone(),
                CandidateKind::Control | CandidateKind::Detection => format!("#{}", step.id),
            },
            name: step.name.to_string(),
            closed: number(step.weighted_gap_closed),
            closes: step
                .closes
                .iter()
                .take(named)
                .map(|c| ClosedGap {
                    technique_id: c.technique_id.to_string(),
                    system: if team { c.system_name.to_string() } else { String::new() },
                })
                .collect(),
            closes_count: step.closes.len(),
            systems: step.systems.len(),
            coverage_after: percent(step.coverage_percent_after),
            detection_after: percent(step.detection_percent_after),
            coverage_value: step.coverage_percent_after.unwrap_or(0.0),
        })
        .collect()
}
