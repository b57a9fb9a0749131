//! The coverage rules, in one place, used by the pages, the API and the
//! reports. Pure: the caller passes the release and the team's decisions.
//!
//! Each technique (sub-techniques included) of a system is in exactly one
//! state, decided in this order:
//!
//! 1. **Not applicable**: the team marked it `not_applicable`.
//! 2. **Not assessed**: applicability is still `unknown`.
//! 3. **Covered**: it applies and at least one mapped ATLAS mitigation or
//!    team control is `implemented` on the system.
//! 4. **Accepted risk**: it applies, nothing implemented covers it, and a
//!    risk acceptance runs until today or later (an expired one no longer counts).
//! 5. **Partially covered**: none implemented, at least one `in_progress`.
//! 6. **Gap without known mitigation**: nothing usable exists: ATLAS lists
//!    no mitigation and the team maps no control, or every one of them is
//!    marked `not_applicable` to the system.
//! 7. **Gap**: usable mitigations or controls exist but none is implemented
//!    or in progress (`not_started` or `planned`).
//!
//! Coverage percentage = covered ÷ (covered + partially covered + gap + gap
//! without known mitigation) × 100. Accepted risks, not-applicable and
//! not-assessed techniques are outside the denominator; with an empty
//! denominator there is no percentage. Assessed percentage = techniques not
//! in "not assessed" ÷ all techniques × 100.
//!
//! # Prevention and detection
//!
//! The states above say whether a technique is *prevented*: covered means
//! prevented. Detection is recorded beside it, per technique, as `none`,
//! `planned`, `partial` or `detected`; only `detected` counts as detected
//! (planned and partial detections, like partial prevention, leave the
//! attack unseen). Each technique in the coverage denominator (it applies
//! and its risk is not accepted) is then in exactly one combined state:
//! **prevented and detected**, **prevented only**, **detected only**, or
//! **neither**. Over that same denominator:
//!
//! - prevention % = (prevented and detected + prevented only) ÷ denominator
//!   × 100, which is the coverage percentage;
//! - detection % = (prevented and detected + detected only) ÷ denominator × 100;
//! - neither % = neither ÷ denominator × 100: the attacks nothing stops and
//!   nobody would see.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::records::{Acceptance, Assessment, Control, DetectionRecord, StatusRecord, accepted_through};
use super::{Applicability, DetectionStatus, ImplementationStatus, Rating};
use crate::atlas::Framework;

/// The coverage state of one technique on one system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoverageState {
    NotAssessed,
    NotApplicable,
    Covered,
    PartiallyCovered,
    Gap,
    GapNoKnownMitigation,
    AcceptedRisk,
}

impl CoverageState {
    pub const ALL: [CoverageState; 7] = [
        CoverageState::Gap,
        CoverageState::GapNoKnownMitigation,
        CoverageState::PartiallyCovered,
        CoverageState::Covered,
        CoverageState::AcceptedRisk,
        CoverageState::NotApplicable,
        CoverageState::NotAssessed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoverageState::NotAssessed => "not_assessed",
            CoverageState::NotApplicable => "not_applicable",
            CoverageState::Covered => "covered",
            CoverageState::PartiallyCovered => "partially_covered",
            CoverageState::Gap => "gap",
            CoverageState::GapNoKnownMitigation => "gap_no_known_mitigation",
            CoverageState::AcceptedRisk => "accepted_risk",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        CoverageState::ALL.into_iter().find(|s| s.as_str() == raw.trim())
    }

    pub fn label(self) -> &'static str {
        match self {
            CoverageState::NotAssessed => "Not assessed",
            CoverageState::NotApplicable => "Not applicable",
            CoverageState::Covered => "Covered",
            CoverageState::PartiallyCovered => "Partially covered",
            CoverageState::Gap => "Gap",
            CoverageState::GapNoKnownMitigation => "Gap, no known mitigation",
            CoverageState::AcceptedRisk => "Accepted risk",
        }
    }

    /// A symbol shown beside the colour, so state never rests on colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            CoverageState::NotAssessed => "?",
            CoverageState::NotApplicable => "–",
            CoverageState::Covered => "✓",
            CoverageState::PartiallyCovered => "◐",
            CoverageState::Gap => "✗",
            CoverageState::GapNoKnownMitigation => "‼",
            CoverageState::AcceptedRisk => "⚑",
        }
    }

    /// True for the states that count as gaps in reports.
    pub fn is_gap(self) -> bool {
        matches!(self, CoverageState::Gap | CoverageState::GapNoKnownMitigation | CoverageState::PartiallyCovered)
    }
}

/// How many techniques are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateCounts {
    pub not_assessed: usize,
    pub not_applicable: usize,
    pub covered: usize,
    pub partially_covered: usize,
    pub gap: usize,
    pub gap_no_known_mitigation: usize,
    pub accepted_risk: usize,
}

impl StateCounts {
    pub fn add(&mut self, state: CoverageState) {
        *self.slot(state) += 1;
    }

    /// Takes back one [`StateCounts::add`].
    pub fn remove(&mut self, state: CoverageState) {
        let slot = self.slot(state);
        *slot = slot.saturating_sub(1);
    }

    /// Adds another system's counts.
    pub fn merge(&mut self, other: &StateCounts) {
        for state in CoverageState::ALL {
            *self.slot(state) += other.get(state);
        }
    }

    fn slot(&mut self, state: CoverageState) -> &mut usize {
        match state {
            CoverageState::NotAssessed => &mut self.not_assessed,
            CoverageState::NotApplicable => &mut self.not_applicable,
            CoverageState::Covered => &mut self.covered,
            CoverageState::PartiallyCovered => &mut self.partially_covered,
            CoverageState::Gap => &mut self.gap,
            CoverageState::GapNoKnownMitigation => &mut self.gap_no_known_mitigation,
            CoverageState::AcceptedRisk => &mut self.accepted_risk,
        }
    }

    pub fn get(&self, state: CoverageState) -> usize {
        match state {
            CoverageState::NotAssessed => self.not_assessed,
            CoverageState::NotApplicable => self.not_applicable,
            CoverageState::Covered => self.covered,
            CoverageState::PartiallyCovered => self.partially_covered,
            CoverageState::Gap => self.gap,
            CoverageState::GapNoKnownMitigation => self.gap_no_known_mitigation,
            CoverageState::AcceptedRisk => self.accepted_risk,
        }
    }

    /// [`StateCounts::get`] for templates, which hold states by reference.
    pub fn of(&self, state: &CoverageState) -> usize {
        self.get(*state)
    }

    pub fn total(&self) -> usize {
        CoverageState::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Covered ÷ (covered + partially covered + gap + gap without known mitigation).
    pub fn coverage_percent(&self) -> Option<f64> {
        let denominator = self.covered + self.partially_covered + self.gap + self.gap_no_known_mitigation;
        (denominator > 0).then(|| 100.0 * self.covered as f64 / denominator as f64)
    }

    /// Techniques assessed (any state but "not assessed") ÷ all techniques.
    pub fn assessed_percent(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| 100.0 * (total - self.not_assessed) as f64 / total as f64)
    }

    /// Gaps of either kind plus partially covered techniques.
    pub fn open_gaps(&self) -> usize {
        self.gap + self.gap_no_known_mitigation + self.partially_covered
    }
}

/// A team control as the rules see it: what it maps to and how far it is on the system.
#[derive(Debug, Clone)]
pub struct ControlInput {
    pub techniques: Vec<String>,
    pub status: ImplementationStatus,
}

/// Everything a team has decided about one system. Absent entries take the
/// defaults: applicability `unknown`, status `not_started`, no acceptance.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    pub applicability: HashMap<String, Applicability>,
    pub mitigation_status: HashMap<String, ImplementationStatus>,
    pub controls: Vec<ControlInput>,
    /// Technique → last day the acceptance holds.
    pub acceptances: HashMap<String, time::Date>,
    /// Technique → the team's risk rating. Not part of the coverage rules;
    /// it weighs a gap's priority ([`super::gaps`]).
    pub risks: HashMap<String, Rating>,
    /// Technique → how it is detected on the system (absent: `none`).
    pub detection: HashMap<String, DetectionStatus>,
}

impl Decisions {
    /// The decisions as the rules take them, from the records of one system.
    pub fn from_records<'a>(
        assessments: impl IntoIterator<Item = &'a Assessment>,
        mitigation_statuses: impl IntoIterator<Item = &'a StatusRecord>,
        controls: &[Control],
        control_statuses: &HashMap<String, StatusRecord>,
        acceptances: impl IntoIterator<Item = &'a Acceptance>,
    ) -> Decisions {
        let mut decisions = Decisions::default();
        for assessment in assessments {
            decisions.applicability.insert(assessment.technique_id.clone(), assessment.applicability);
            if let Some(risk) = assessment.risk {
                decisions.risks.insert(assessment.technique_id.clone(), risk);
            }
        }
        decisions.mitigation_status = mitigation_statuses.into_iter().map(|s| (s.item.clone(), s.status)).collect();
        decisions.controls = controls
            .iter()
            .map(|control| ControlInput {
                techniques: control.techniques.clone(),
                status: control_statuses
                    .get(&control.id.to_string())
                    .map_or(ImplementationStatus::NotStarted, |s| s.status),
            })
            .collect();
        decisions.acceptances = acceptances.into_iter().map(|a| (a.technique_id.clone(), a.expires_on)).collect();
        decisions
    }

    /// These decisions with the system's detection records.
    pub fn with_detections<'a>(mut self, records: impl IntoIterator<Item = &'a DetectionRecord>) -> Decisions {
        self.detection = records.into_iter().map(|r| (r.technique_id.clone(), r.status)).collect();
        self
    }

    /// How a technique is detected (`none` when nothing is recorded).
    pub fn detection_of(&self, technique: &str) -> DetectionStatus {
        self.detection.get(technique).copied().unwrap_or(DetectionStatus::None)
    }
}

/// Where a technique stands once prevention and detection both count (see
/// the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CombinedState {
    /// Neither prevented nor detected: ranked first among gaps.
    Neither,
    DetectedOnly,
    PreventedOnly,
    Both,
    AcceptedRisk,
    NotApplicable,
    NotAssessed,
}

impl CombinedState {
    pub const ALL: [CombinedState; 7] = [
        CombinedState::Neither,
        CombinedState::DetectedOnly,
        CombinedState::PreventedOnly,
        CombinedState::Both,
        CombinedState::AcceptedRisk,
        CombinedState::NotApplicable,
        CombinedState::NotAssessed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CombinedState::Neither => "neither",
            CombinedState::DetectedOnly => "detected_only",
            CombinedState::PreventedOnly => "prevented_only",
            CombinedState::Both => "both",
            CombinedState::AcceptedRisk => "accepted_risk",
            CombinedState::NotApplicable => "not_applicable",
            CombinedState::NotAssessed => "not_assessed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CombinedState::Neither => "Neither prevented nor detected",
            CombinedState::DetectedOnly => "Detected only",
            CombinedState::PreventedOnly => "Prevented only",
            CombinedState::Both => "Prevented and detected",
            CombinedState::AcceptedRisk => "Accepted risk",
            CombinedState::NotApplicable => "Not applicable",
            CombinedState::NotAssessed => "Not assessed",
        }
    }

    /// A symbol shown beside the colour, so state never rests on colour alone.
    pub fn symbol(self) -> &'static str {
        match self {
            CombinedState::Neither => "✗",
            CombinedState::DetectedOnly => "◉",
            CombinedState::PreventedOnly => "✓",
            CombinedState::Both => "★",
            CombinedState::AcceptedRisk => "⚑",
            CombinedState::NotApplicable => "–",
            CombinedState::NotAssessed => "?",
        }
    }

    /// Inside the coverage denominator (it applies, its risk is not accepted).
    pub fn is_counted(self) -> bool {
        matches!(
            self,
            CombinedState::Neither | CombinedState::DetectedOnly | CombinedState::PreventedOnly | CombinedState::Both
        )
    }
}

/// The combined state of a technique from its prevention state and its detection.
pub fn combined_state(state: CoverageState, detection: DetectionStatus) -> CombinedState {
    let detected = detection == DetectionStatus::Detected;
    match state {
        CoverageState::NotAssessed => CombinedState::NotAssessed,
        CoverageState::NotApplicable => CombinedState::NotApplicable,
        CoverageState::AcceptedRisk => CombinedState::AcceptedRisk,
        CoverageState::Covered if detected => CombinedState::Both,
        CoverageState::Covered => CombinedState::PreventedOnly,
        CoverageState::Gap | CoverageState::GapNoKnownMitigation | CoverageState::PartiallyCovered if detected => {
            CombinedState::DetectedOnly
        }
        CoverageState::Gap | CoverageState::GapNoKnownMitigation | CoverageState::PartiallyCovered => {
            CombinedState::Neither
        }
    }
}

/// How many techniques are in each combined state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CombinedCounts {
    pub both: usize,
    pub prevented_only: usize,
    pub detected_only: usize,
    pub neither: usize,
    pub accepted_risk: usize,
    pub not_applicable: usize,
    pub not_assessed: usize,
}

impl CombinedCounts {
    pub fn add(&mut self, state: CombinedState) {
        *self.slot(state) += 1;
    }

    pub fn merge(&mut self, other: &CombinedCounts) {
        for state in CombinedState::ALL {
            *self.slot(state) += other.get(state);
        }
    }

    fn slot(&mut self, state: CombinedState) -> &mut usize {
        match state {
            CombinedState::Both => &mut self.both,
            CombinedState::PreventedOnly => &mut self.prevented_only,
            CombinedState::DetectedOnly => &mut self.detected_only,
            CombinedState::Neither => &mut self.neither,
            CombinedState::AcceptedRisk => &mut self.accepted_risk,
            CombinedState::NotApplicable => &mut self.not_applicable,
            CombinedState::NotAssessed => &mut self.not_assessed,
        }
    }

    pub fn get(&self, state: CombinedState) -> usize {
        match state {
            CombinedState::Both => self.both,
            CombinedState::PreventedOnly => self.prevented_only,
            CombinedState::DetectedOnly => self.detected_only,
            CombinedState::Neither => self.neither,
            CombinedState::AcceptedRisk => self.accepted_risk,
            CombinedState::NotApplicable => self.not_applicable,
            CombinedState::NotAssessed => self.not_assessed,
        }
    }

    /// [`CombinedCounts::get`] for templates, which hold states by reference.
    pub fn of(&self, state: &CombinedState) -> usize {
        self.get(*state)
    }

    /// The coverage denominator: applicable techniques whose risk is not accepted.
    pub fn denominator(&self) -> usize {
        self.both + self.prevented_only + self.detected_only + self.neither
    }

    fn share(&self, part: usize) -> Option<f64> {
        let denominator = self.denominator();
        (denominator > 0).then(|| 100.0 * part as f64 / denominator as f64)
    }

    pub fn prevention_percent(&self) -> Option<f64> {
        self.share(self.both + self.prevented_only)
    }

    pub fn detection_percent(&self) -> Option<f64> {
        self.share(self.both + self.detected_only)
    }

    pub fn neither_percent(&self) -> Option<f64> {
        self.share(self.neither)
    }
}

/// Counts of every combined state with the three documented percentages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct DetectionFigures {
    pub counts: CombinedCounts,
    /// Prevented (with or without detection) ÷ the coverage denominator × 100; null when nothing applies.
    pub prevention_percent: Option<f64>,
    /// Detected (with or without prevention) ÷ the coverage denominator × 100.
    pub detection_percent: Option<f64>,
    /// Neither prevented nor detected ÷ the coverage denominator × 100.
    pub neither_percent: Option<f64>,
}

impl From<CombinedCounts> for DetectionFigures {
    fn from(counts: CombinedCounts) -> Self {
        DetectionFigures {
            prevention_percent: counts.prevention_percent().map(round1),
            detection_percent: counts.detection_percent().map(round1),
            neither_percent: counts.neither_percent().map(round1),
            counts,
        }
    }
}

/// The coverage of one system: a state per technique (in the release's
/// technique order), counts per tactic (in matrix order) and overall.
#[derive(Debug, Clone, Default)]
pub struct SystemCoverage {
    pub states: Vec<CoverageState>,
    pub overall: StateCounts,
    pub per_tactic: Vec<StateCounts>,
    /// Each technique's detection, in the release's technique order.
    pub detection: Vec<DetectionStatus>,
    /// Combined prevention and detection, overall and per tactic.
    pub combined: CombinedCounts,
    pub combined_per_tactic: Vec<CombinedCounts>,
}

/// Applies the rules to every technique of the release.
pub fn evaluate(framework: &Framework, decisions: &Decisions, today: time::Date) -> SystemCoverage {
    let mut controls_by_technique: HashMap<&str, Vec<ImplementationStatus>> = HashMap::new();
    for control in &decisions.controls {
        for technique in &control.techniques {
            controls_by_technique.entry(technique.as_str()).or_default().push(control.status);
        }
    }
    let mut overall = StateCounts::default();
    let mut per_tactic = vec![StateCounts::default(); framework.tactics().len()];
    let mut combined = CombinedCounts::default();
    let mut combined_per_tactic = vec![CombinedCounts::default(); framework.tactics().len()];
    let mut detection = Vec::with_capacity(framework.techniques().len());
    let states = framework
        .techniques()
        .iter()
        .map(|technique| {
            let mitigation_statuses = framework
                .mitigations_for(&technique.id)
                .map(|m| decisions.mitigation_status.get(&m.id).copied().unwrap_or(ImplementationStatus::NotStarted));
            let control_statuses = controls_by_technique.get(technique.id.as_str()).into_iter().flatten().copied();
            let state = technique_state(
                decisions.applicability.get(&technique.id).copied().unwrap_or(Applicability::Unknown),
                mitigation_statuses.chain(control_statuses),
                decisions.acceptances.get(&technique.id).copied(),
                today,
            );
            let detected = decisions.detection_of(&technique.id);
            let joint = combined_state(state, detected);
            detection.push(detected);
            overall.add(state);
            combined.add(joint);
            for tactic in &technique.tactics {
                if let Some(position) = framework.tactic_position(tactic) {
                    per_tactic[position].add(state);
                    combined_per_tactic[position].add(joint);
                }
            }
            state
        })
        .collect();
    SystemCoverage { states, overall, per_tactic, detection, combined, combined_per_tactic }
}

/// The state of one technique from its applicability, the statuses of every
/// mitigation and control mapped to it, and its risk acceptance.
pub fn technique_state(
    applicability: Applicability,
    statuses: impl IntoIterator<Item = ImplementationStatus>,
    accepted_until: Option<time::Date>,
    today: time::Date,
) -> CoverageState {
    match applicability {
        Applicability::NotApplicable => return CoverageState::NotApplicable,
        Applicability::Unknown => return CoverageState::NotAssessed,
        Applicability::Applies => {}
    }
    let (mut usable, mut implemented, mut in_progress) = (0, false, false);
    for status in statuses {
        match status {
            ImplementationStatus::NotApplicable => continue,
            ImplementationStatus::Implemented => implemented = true,
            ImplementationStatus::InProgress => in_progress = true,
            ImplementationStatus::NotStarted | ImplementationStatus::Planned => {}
        }
        usable += 1;
    }
    if implemented {
        CoverageState::Covered
    } else if accepted_until.is_some_and(|last_day| accepted_through(last_day, today)) {
        CoverageState::AcceptedRisk
    } else if in_progress {
        CoverageState::PartiallyCovered
    } else if usable == 0 {
        CoverageState::GapNoKnownMitigation
    } else {
        CoverageState::Gap
    }
}

impl SystemCoverage {
    /// The state of a technique by ID.
    pub fn state_of(&self, framework: &Framework, technique: &str) -> Option<CoverageState> {
        framework.techniques().iter().position(|t| t.id == technique).map(|i| self.states[i])
    }

    /// The combined state of the technique at `position` in the release's order.
    pub fn combined_at(&self, position: usize) -> CombinedState {
        combined_state(self.states[position], self.detection.get(position).copied().unwrap_or(DetectionStatus::None))
    }

    /// States by technique ID, for lookups across a whole page.
    pub fn by_id<'a>(&self, framework: &'a Framework) -> HashMap<&'a str, CoverageState> {
        framework.techniques().iter().zip(&self.states).map(|(t, s)| (t.id.as_str(), *s)).collect()
    }

    /// The counts over a parent's sub-techniques, shown beside its own state.
    pub fn rollup(&self, framework: &Framework, parent: &str) -> Option<StateCounts> {
        let by_id = self.by_id(framework);
        let mut counts = StateCounts::default();
        for sub in framework.subtechniques(parent) {
            counts.add(by_id[sub.id.as_str()]);
        }
        (counts.total() > 0).then_some(counts)
    }
}

/// Counts of every state with the two documented percentages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageFigures {
    pub counts: StateCounts,
    pub total: usize,
    /// covered ÷ (covered + partially covered + gap + gap without known mitigation) × 100; null when nothing applies.
    pub coverage_percent: Option<f64>,
    /// (total − not assessed) ÷ total × 100.
    pub assessed_percent: Option<f64>,
}

impl From<StateCounts> for CoverageFigures {
    fn from(counts: StateCounts) -> Self {
        CoverageFigures {
            total: counts.total(),
            coverage_percent: counts.coverage_percent().map(round1),
            assessed_percent: counts.assessed_percent().map(round1),
            counts,
        }
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TacticCoverage {
    pub tactic_id: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: CoverageFigures,
    pub detection: DetectionFigures,
}

/// A system's coverage figures, overall and per tactic.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageReport {
    pub system_id: i64,
    pub framework_version: String,
    pub overall: CoverageFigures,
    /// Prevention and detection together.
    pub detection: DetectionFigures,
    /// In matrix order; a technique counts under every tactic it belongs to.
    pub tactics: Vec<TacticCoverage>,
}

impl CoverageReport {
    pub fn new(system_id: i64, framework: &Framework, coverage: &SystemCoverage) -> CoverageReport {
        CoverageReport {
            system_id,
            framework_version: framework.version().to_string(),
            overall: CoverageFigures::from(coverage.overall),
            detection: DetectionFigures::from(coverage.combined),
            tactics: framework
                .tactics()
                .iter()
                .zip(&coverage.per_tactic)
                .zip(&coverage.combined_per_tactic)
                .map(|((tactic, counts), combined)| TacticCoverage {
                    tactic_id: tactic.id.clone(),
                    name: tactic.name.clone(),
                    figures: CoverageFigures::from(*counts),
                    detection: DetectionFigures::from(*combined),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::bundled;
    use ImplementationStatus::*;

    fn day(s: &str) -> time::Date {
        crate::domain::date("test", s).unwrap()
    }

    const TODAY: &str = "2026-11-25";

    #[test]
    fn applicability_decides_first() {
        let today = day(TODAY);
        assert_eq!(technique_state(Applicability::Unknown, [Implemented], None, today), CoverageState::NotAssessed);
        assert_eq!(
            technique_state(Applicability::NotApplicable, [NotStarted], Some(today), today),
            CoverageState::NotApplicable
        );
    }

    #[test]
    fn one_implemented_mitigation_or_control_covers() {
        let today = day(TODAY);
        assert_eq!(
            technique_state(Applicability::Applies, [NotStarted, Implemented], None, today),
            CoverageState::Covered
        );
        assert_eq!(
            technique_state(Applicability::Applies, [InProgress, Implemented], Some(today), today),
            CoverageState::Covered,
            "an implemented control outranks an acceptance"
        );
    }

    #[test]
    fn in_progress_is_partial_and_planned_is_still_a_gap() {
        let today = day(TODAY);
        assert_eq!(
            technique_state(Applicability::Applies, [Planned, InProgress], None, today),
            CoverageState::PartiallyCovered
        );
        assert_eq!(technique_state(Applicability::Applies, [Planned, NotStarted], None, today), CoverageState::Gap);
    }

    #[test]
    fn nothing_usable_is_a_gap_without_known_mitigation() {
        let today = day(TODAY);
        let none: [ImplementationStatus; 0] = [];
        assert_eq!(technique_state(Applicability::Applies, none, None, today), CoverageState::GapNoKnownMitigation);
        assert_eq!(
            technique_state(Applicability::Applies, [NotApplicable, NotApplicable], None, today),
            CoverageState::GapNoKnownMitigation,
            "mitigations marked not applicable to the system do not count"
        );
        assert_eq!(technique_state(Applicability::Applies, [NotApplicable, Planned], None, today), CoverageState::Gap);
    }

    #[test]
    fn an_acceptance_holds_through_its_last_day_then_expires() {
        let today = day(TODAY);
        let accepted = |until: &str| technique_state(Applicability::Applies, [InProgress], Some(day(until)), today);
        assert_eq!(accepted("2026-12-31"), CoverageState::AcceptedRisk);
        assert_eq!(accepted(TODAY), CoverageState::AcceptedRisk);
        assert_eq!(
            accepted("2026-11-24"),
            CoverageState::PartiallyCovered,
            "an expired acceptance counts as a gap again"
        );
    }

    #[test]
    fn percentages_follow_the_documented_formula() {
        let counts = StateCounts {
            covered: 3,
            partially_covered: 1,
            gap: 2,
            gap_no_known_mitigation: 2,
            accepted_risk: 5,
            not_applicable: 4,
            not_assessed: 3,
        };
        assert_eq!(counts.coverage_percent(), Some(37.5));
        assert_eq!(counts.assessed_percent(), Some(85.0));
        assert_eq!(StateCounts { not_assessed: 10, ..Default::default() }.coverage_percent(), None);
        assert_eq!(counts.open_gaps(), 5);
    }

    #[test]
    fn a_system_on_the_bundled_release_rolls_up_sub_techniques_and_counts_tactics() {
        let framework = bundled::framework();
        let mut decisions = Decisions::default();
        // LLM Prompt Injection and its three sub-techniques apply.
        for id in ["AML.T0051", "AML.T0051.000", "AML.T0051.001", "AML.T0051.002"] {
            decisions.applicability.insert(id.to_string(), Applicability::Applies);
        }
        // A team control covers only the Direct sub-technique.
        decisions.controls.push(ControlInput { techniques: vec!["AML.T0051.000".into()], status: Implemented });
        // One sub-technique's risk is accepted.
        decisions.acceptances.insert("AML.T0051.002".into(), day("2027-01-01"));
        let coverage = evaluate(&framework, &decisions, day(TODAY));

        assert_eq!(coverage.state_of(&framework, "AML.T0051.000"), Some(CoverageState::Covered));
        assert_eq!(coverage.state_of(&framework, "AML.T0051.002"), Some(CoverageState::AcceptedRisk));
        let indirect = coverage.state_of(&framework, "AML.T0051.001").unwrap();
        assert!(matches!(indirect, CoverageState::Gap), "mitigations exist but none started: {indirect:?}");
        let rollup = coverage.rollup(&framework, "AML.T0051").expect("T0051 has sub-techniques");
        assert_eq!((rollup.covered, rollup.accepted_risk, rollup.gap), (1, 1, 1));
        assert_eq!(coverage.overall.total(), 170);
        assert_eq!(coverage.overall.not_assessed, 166);
        let execution = framework.tactic_position("AML.TA0005").unwrap();
        assert_eq!(coverage.per_tactic[execution].covered, 1);
        assert_eq!(
            coverage.per_tactic[execution].total(),
            framework.techniques().iter().filter(|t| t.tactics.iter().any(|x| x == "AML.TA0005")).count()
        );
    }

    #[test]
    fn prevention_and_detection_combine_into_one_state() {
        use DetectionStatus as D;
        let cases = [
            (CoverageState::Covered, D::Detected, CombinedState::Both),
            (CoverageState::Covered, D::Partial, CombinedState::PreventedOnly),
            (CoverageState::Gap, D::Detected, CombinedState::DetectedOnly),
            (CoverageState::PartiallyCovered, D::Detected, CombinedState::DetectedOnly),
            (CoverageState::GapNoKnownMitigation, D::Partial, CombinedState::Neither),
            (CoverageState::Gap, D::Planned, CombinedState::Neither),
            (CoverageState::AcceptedRisk, D::Detected, CombinedState::AcceptedRisk),
            (CoverageState::NotApplicable, D::Detected, CombinedState::NotApplicable),
            (CoverageState::NotAssessed, D::None, CombinedState::NotAssessed),
        ];
        for (state, detection, expected) in cases {
            assert_eq!(combined_state(state, detection), expected, "{state:?} with {detection:?}");
        }
    }

    #[test]
    fn prevention_detection_and_neither_share_the_coverage_denominator() {
        let counts = CombinedCounts {
            both: 1,
            prevented_only: 2,
            detected_only: 3,
            neither: 2,
            accepted_risk: 4,
            not_applicable: 5,
            not_assessed: 6,
        };
        assert_eq!(counts.denominator(), 8);
        assert_eq!(counts.prevention_percent(), Some(37.5));
        assert_eq!(counts.detection_percent(), Some(50.0));
        assert_eq!(counts.neither_percent(), Some(25.0));
        assert_eq!(CombinedCounts { accepted_risk: 3, ..Default::default() }.detection_percent(), None);
    }

    #[test]
    fn a_detected_gap_stays_a_prevention_gap_and_counts_as_detected() {
        let framework = bundled::framework();
        let mut decisions = Decisions::default();
        for id in ["AML.T0051.000", "AML.T0051.001", "AML.T0048"] {
            decisions.applicability.insert(id.to_string(), Applicability::Applies);
        }
        decisions.controls.push(ControlInput { techniques: vec!["AML.T0051.000".into()], status: Implemented });
        decisions.detection.insert("AML.T0051.000".into(), DetectionStatus::Detected);
        decisions.detection.insert("AML.T0051.001".into(), DetectionStatus::Detected);
        decisions.detection.insert("AML.T0048".into(), DetectionStatus::Partial);
        let coverage = evaluate(&framework, &decisions, day(TODAY));
        assert_eq!(coverage.state_of(&framework, "AML.T0051.001"), Some(CoverageState::Gap));
        let c = coverage.combined;
        assert_eq!((c.both, c.prevented_only, c.detected_only, c.neither), (1, 0, 1, 1));
        assert_eq!(c.prevention_percent(), coverage.overall.coverage_percent(), "prevention % is the coverage %");
        let report = CoverageReport::new(1, &framework, &coverage);
        assert_eq!(report.detection.detection_percent, Some(66.7));
        assert_eq!(report.detection.neither_percent, Some(33.3));
    }

    #[test]
    fn a_control_covers_a_technique_atlas_has_no_mitigation_for() {
        let framework = bundled::framework();
        let orphan = framework
            .techniques()
            .iter()
            .find(|t| framework.mitigations_for(&t.id).next().is_none())
            .expect("96 techniques have no ATLAS mitigation");
        let mut decisions = Decisions::default();
        decisions.applicability.insert(orphan.id.clone(), Applicability::Applies);
        let before = evaluate(&framework, &decisions, day(TODAY));
        assert_eq!(before.state_of(&framework, &orphan.id), Some(CoverageState::GapNoKnownMitigation));
        decisions.controls.push(ControlInput { techniques: vec![orphan.id.clone()], status: Planned });
        let planned = evaluate(&framework, &decisions, day(TODAY));
        assert_eq!(
            planned.state_of(&framework, &orphan.id),
            Some(CoverageState::Gap),
            "now a known (planned) control exists"
        );
        decisions.controls[0].status = Implemented;
        let after = evaluate(&framework, &decisions, day(TODAY));
        assert_eq!(after.state_of(&framework, &orphan.id), Some(CoverageState::Covered));
    }
}
