//! The small pieces of the workshop drawn both in the page and in live
//! updates: a technique's state badge, a tactic's counts, the summary
//! figures, and the notices a live stream sends.

use std::collections::HashMap;

use askama::Template;

use crate::atlas::model::Technique;
use crate::domain::coverage::{
    CombinedState, CoverageFigures, CoverageState, DetectionFigures, StateCounts, combined_state,
};
use crate::domain::{DetectionStatus, Rating};
use crate::service::snapshot::Snapshot;

#[derive(Template)]
#[template(path = "partials/cell_state.html")]
struct CellStateView<'a> {
    state: CoverageState,
    /// Class, symbol and label of the detection badge.
    detection: (&'static str, &'static str, &'static str),
    combined: CombinedState,
    suggested: bool,
    risk: Option<Rating>,
    rollup: Option<Vec<(CoverageState, usize)>>,
    rollup_text: &'a str,
}

fn rollup_parts(counts: &StateCounts) -> Vec<(CoverageState, usize)> {
    CoverageState::ALL.iter().map(|s| (*s, counts.get(*s))).filter(|(_, n)| *n > 0).collect()
}

fn describe_counts(parts: &[(CoverageState, usize)]) -> String {
    parts.iter().map(|(s, n)| format!("{n} {}", s.label().to_lowercase())).collect::<Vec<_>>().join(", ")
}

/// The detection badge: how it is detected, once the technique applies.
fn detection_badge(state: CoverageState, detection: DetectionStatus) -> (&'static str, &'static str, &'static str) {
    match (state, detection) {
        (CoverageState::NotAssessed, _) => ("d-not_assessed", "?", "Not assessed"),
        (CoverageState::NotApplicable, _) => ("d-not_applicable", "–", "Not applicable"),
        (_, DetectionStatus::None) => ("d-none", "✗", DetectionStatus::None.label()),
        (_, DetectionStatus::Planned) => ("d-planned", "○", DetectionStatus::Planned.label()),
        (_, DetectionStatus::Partial) => ("d-partial", "◐", DetectionStatus::Partial.label()),
        (_, DetectionStatus::Detected) => ("d-detected", "◉", DetectionStatus::Detected.label()),
    }
}

/// A technique's badges (prevention, detection, both: the matrix shows the
/// chosen view's), with its sub-techniques' roll-up.
pub fn cell_state(
    snapshot: &Snapshot,
    by_id: &HashMap<&str, CoverageState>,
    technique: &Technique,
) -> askama::Result<String> {
    let assessment = snapshot.assessments.get(&technique.id);
    let rollup = (snapshot.framework.subtechniques(&technique.id).next().is_some()).then(|| {
        let mut counts = StateCounts::default();
        for sub in snapshot.framework.subtechniques(&technique.id) {
            counts.add(by_id[sub.id.as_str()]);
        }
        rollup_parts(&counts)
    });
    let rollup_text = rollup.as_deref().map(describe_counts).unwrap_or_default();
    let state = by_id[technique.id.as_str()];
    let detection = snapshot.decisions.detection_of(&technique.id);
    CellStateView {
        state,
        detection: detection_badge(state, detection),
        combined: combined_state(state, detection),
        suggested: assessment.is_some_and(|a| a.suggested),
        risk: assessment.and_then(|a| a.risk),
        rollup,
        rollup_text: &rollup_text,
    }
    .render()
}

#[derive(Template)]
#[template(path = "partials/tactic_counts.html")]
struct TacticCountsView {
    parts: Vec<(CoverageState, usize)>,
    description: String,
    coverage: Option<f64>,
}

/// A tactic column's state counts and coverage.
pub fn tactic_counts(counts: &StateCounts) -> askama::Result<String> {
    let parts = rollup_parts(counts);
    let description = describe_counts(&parts);
    let coverage = CoverageFigures::from(*counts).coverage_percent;
    TacticCountsView { parts, description, coverage }.render()
}

#[derive(Template)]
#[template(path = "partials/summary.html")]
struct SummaryView {
    figures: CoverageFigures,
    detection: DetectionFigures,
    states: [CoverageState; 7],
}

/// The system's overall figures above the matrix.
pub fn summary(snapshot: &Snapshot) -> askama::Result<String> {
    SummaryView {
        figures: CoverageFigures::from(snapshot.coverage.overall),
        detection: DetectionFigures::from(snapshot.coverage.combined),
        states: CoverageState::ALL,
    }
    .render()
}

#[derive(Template)]
#[template(path = "partials/scope_actions.html")]
struct ScopeActionsView {
    system_id: i64,
    suggested: usize,
    oob: bool,
}

/// Suggested scope's buttons; `oob` marks it to replace the page's copy
/// when it rides along with another answer.
pub fn scope_actions(snapshot: &Snapshot, oob: bool) -> askama::Result<String> {
    let suggested = snapshot
        .assessments
        .values()
        .filter(|a| a.suggested && a.applicability == crate::domain::Applicability::Unknown)
        .count();
    ScopeActionsView { system_id: snapshot.system.id, suggested, oob }.render()
}

/// "Updated by … at …" in an open panel when someone else changed its technique.
#[derive(Template)]
#[template(path = "partials/item_notice.html")]
pub struct ItemNotice<'a> {
    pub actor: &'a str,
    pub at: String,
    pub system_id: i64,
    pub technique: &'a str,
}

/// What a live stream tells the room besides the changed cells.
pub enum StreamNotice<'a> {
    /// The viewer's access ended; the stream stops.
    AccessEnded,
    /// Updates were lost; the page must be reloaded.
    Missed,
    /// Someone changed the whole system (an import, a release change).
    SystemEdited { actor: &'a str },
}

#[derive(Template)]
#[template(path = "partials/stream_notice.html")]
struct StreamNoticeView<'a> {
    notice: &'a StreamNotice<'a>,
}

impl StreamNotice<'_> {
    pub fn render(&self) -> askama::Result<String> {
        StreamNoticeView { notice: self }.render()
    }
}
