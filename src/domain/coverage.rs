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

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::records::{Acceptance, Assessment, Control, StatusRecord, accepted_through};
use super::{Applicability, ImplementationStatus, Rating};
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
}

/// The coverage of one system: a state per technique (in the release's
/// technique order), counts per tactic (in matrix order) and overall.
#[derive(Debug, Clone)]
pub struct SystemCoverage {
    pub states: Vec<CoverageState>,
    pub overall: StateCounts,
    pub per_tactic: Vec<StateCounts>,
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
            overall.add(state);
            for tactic in &technique.tactics {
                if let Some(position) = framework.tactic_position(tactic) {
                    per_tactic[position].add(state);
                }
            }
            state
        })
        .collect();
    SystemCoverage { states, overall, per_tactic }
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
}

/// A system's coverage figures, overall and per tactic.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageReport {
    pub system_id: i64,
    pub framework_version: String,
    pub overall: CoverageFigures,
    /// In matrix order; a technique counts under every tactic it belongs to.
    pub tactics: Vec<TacticCoverage>,
}

impl CoverageReport {
    pub fn new(system_id: i64, framework: &Framework, coverage: &SystemCoverage) -> CoverageReport {
        CoverageReport {
            system_id,
            framework_version: framework.version().to_string(),
            overall: CoverageFigures::from(coverage.overall),
            tactics: framework
                .tactics()
                .iter()
                .zip(&coverage.per_tactic)
                .map(|(tactic, counts)| TacticCoverage {
                    tactic_id: tactic.id.clone(),
                    name: tactic.name.clone(),
                    figures: CoverageFigures::from(*counts),
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
