//! Gap analysis: which applicable techniques a system leaves open, ranked by
//! a documented priority; the same across several systems (a team's
//! portfolio, with a systems × tactics heat map); which ATLAS mitigations and
//! team controls would close the most weighted gap (greedy recommendations);
//! and which ATLAS case studies a system leaves exposed. Pure: callers pass
//! the release, the decisions and the day; states come from [`coverage`].
//!
//! # Gaps
//!
//! A gap is a technique in state *gap*, *gap without known mitigation* or
//! *partially covered* ([`CoverageState::is_gap`]): it applies, nothing
//! implemented covers it and no running risk acceptance holds it.
//!
//! # Priority
//!
//! A gap's priority is a product of factors, roughly likelihood × impact:
//!
//! ```text
//! priority = maturity × evidence × exposure × criticality × risk × state
//! evidence = 1 + per_case_study × min(case studies using the technique, case_study_cap)
//! ```
//!
//! Default weights ([`PriorityWeights::default`]):
//!
//! | factor | level → weight |
//! |---|---|
//! | maturity (ATLAS) | realized 3 · demonstrated 2 · feasible 1 · not graded 2 (the middle grade) |
//! | evidence | + 0.125 per ATLAS case study using the technique, counted up to 8 (so 1 to 2) |
//! | exposure (system) | public 3 · partner 2 · internal 1 |
//! | criticality (system) | critical 4 · high 3 · medium 2 · low 1 |
//! | risk (team's rating of the technique) | critical 4 · high 3 · medium 2 · low 1 · not rated 2 (as medium) |
//! | state | gap or gap without known mitigation 1 · partially covered 0.5 |
//!
//! Every default is a small binary fraction, so scores are exact and ties are
//! real ties. Ties rank in input order: systems as given, then techniques in
//! the release's ID order.
//!
//! # Recommendations
//!
//! Candidates are every ATLAS mitigation and every team control, on each
//! selected system where it is not already `implemented` or marked
//! `not_applicable`. Implementing a candidate sets its status to
//! `implemented` on those systems; by the coverage rules each applicable
//! technique it maps to becomes covered (accepted risks included, which moves
//! the coverage percentage too). The gain of a candidate is the summed
//! priority of the open gaps it would close. The greedy loop picks the
//! largest gain (ties: more gaps closed, then ATLAS mitigations before
//! controls, then by ID), applies it, recomputes the states with
//! [`coverage::technique_state`], and ranks the rest again. It stops after
//! `limit` steps or when no candidate closes anything.
//!
//! # Case-study lens
//!
//! A procedure step is *covered* when its technique is covered on the
//! system, *accepted* when it is an accepted risk, *not applicable* when the
//! team marked the technique not applicable, and *exposed* otherwise (a gap,
//! partially covered, or not assessed: nothing shows the system resists it).
//! A case study whose steps are all exposed is one the system leaves
//! entirely uncovered; those are listed incidents first, then exercises.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::coverage::{self, CoverageState, Decisions, StateCounts, SystemCoverage};
use super::{Applicability, Exposure, ImplementationStatus, Rating};
use crate::atlas::Framework;
use crate::atlas::model::{CaseStudyKind, Maturity, Technique};

/// The formula of [`PriorityWeights::factors`] and [`PriorityFactors::product`], as shown in reports.
pub const FORMULA: &str = "priority = maturity × evidence × exposure × criticality × risk × state, \
where evidence = 1 + per_case_study × min(case studies using the technique, case_study_cap)";

/// How much each factor weighs in a gap's priority (see the module
/// documentation for the formula and the default table).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriorityWeights {
    pub maturity_realized: f64,
    pub maturity_demonstrated: f64,
    pub maturity_feasible: f64,
    /// A technique ATLAS does not grade.
    pub maturity_unknown: f64,
    /// Added to the evidence factor per case study using the technique.
    pub per_case_study: f64,
    /// Case studies counted at most.
    pub case_study_cap: usize,
    pub exposure_public: f64,
    pub exposure_partner: f64,
    pub exposure_internal: f64,
    pub criticality_critical: f64,
    pub criticality_high: f64,
    pub criticality_medium: f64,
    pub criticality_low: f64,
    pub risk_critical: f64,
    pub risk_high: f64,
    pub risk_medium: f64,
    pub risk_low: f64,
    /// A technique the team has not rated.
    pub risk_unrated: f64,
    /// Factor of a partially covered technique (a full gap weighs 1).
    pub partial_factor: f64,
}

impl Default for PriorityWeights {
    fn default() -> Self {
        PriorityWeights {
            maturity_realized: 3.0,
            maturity_demonstrated: 2.0,
            maturity_feasible: 1.0,
            maturity_unknown: 2.0,
            per_case_study: 0.125,
            case_study_cap: 8,
            exposure_public: 3.0,
            exposure_partner: 2.0,
            exposure_internal: 1.0,
            criticality_critical: 4.0,
            criticality_high: 3.0,
            criticality_medium: 2.0,
            criticality_low: 1.0,
            risk_critical: 4.0,
            risk_high: 3.0,
            risk_medium: 2.0,
            risk_low: 1.0,
            risk_unrated: 2.0,
            partial_factor: 0.5,
        }
    }
}

/// One line of the weights table shown in reports.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WeightRow {
    pub factor: String,
    pub level: String,
    pub weight: f64,
}

/// The factors of one gap's priority; their product is the priority.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct PriorityFactors {
    pub maturity: f64,
    pub evidence: f64,
    pub exposure: f64,
    pub criticality: f64,
    pub risk: f64,
    pub state: f64,
}

impl PriorityFactors {
    pub fn product(&self) -> f64 {
        self.maturity * self.evidence * self.exposure * self.criticality * self.risk * self.state
    }
}

impl PriorityWeights {
    pub fn maturity(&self, maturity: Option<Maturity>) -> f64 {
        match maturity {
            Some(Maturity::Realized) => self.maturity_realized,
            Some(Maturity::Demonstrated) => self.maturity_demonstrated,
            Some(Maturity::Feasible) => self.maturity_feasible,
            None => self.maturity_unknown,
        }
    }

    pub fn evidence(&self, case_studies: usize) -> f64 {
        1.0 + self.per_case_study * case_studies.min(self.case_study_cap) as f64
    }

    pub fn exposure(&self, exposure: Exposure) -> f64 {
        match exposure {
            Exposure::Public => self.exposure_public,
            Exposure::Partner => self.exposure_partner,
            Exposure::Internal => self.exposure_internal,
        }
    }

    pub fn criticality(&self, criticality: Rating) -> f64 {
        match criticality {
            Rating::Critical => self.criticality_critical,
            Rating::High => self.criticality_high,
            Rating::Medium => self.criticality_medium,
            Rating::Low => self.criticality_low,
        }
    }

    pub fn risk(&self, risk: Option<Rating>) -> f64 {
        match risk {
            Some(Rating::Critical) => self.risk_critical,
            Some(Rating::High) => self.risk_high,
            Some(Rating::Medium) => self.risk_medium,
            Some(Rating::Low) => self.risk_low,
            None => self.risk_unrated,
        }
    }

    /// 1 for a full gap, the partial factor for a partially covered
    /// technique, 0 for every state that is not a gap.
    pub fn state(&self, state: CoverageState) -> f64 {
        match state {
            CoverageState::Gap | CoverageState::GapNoKnownMitigation => 1.0,
            CoverageState::PartiallyCovered => self.partial_factor,
            _ => 0.0,
        }
    }

    /// The factors of a technique's priority on a system.
    pub fn factors(
        &self,
        framework: &Framework,
        technique: &Technique,
        system: &SystemProfile<'_>,
        risk: Option<Rating>,
        state: CoverageState,
    ) -> PriorityFactors {
        PriorityFactors {
            maturity: self.maturity(technique.maturity),
            evidence: self.evidence(framework.case_study_count(&technique.id)),
            exposure: self.exposure(system.exposure),
            criticality: self.criticality(system.criticality),
            risk: self.risk(risk),
            state: self.state(state),
        }
    }

    /// The weights as a table: factor, level, weight.
    pub fn table(&self) -> Vec<WeightRow> {
        let row = |factor: &str, level: &str, weight: f64| WeightRow {
            factor: factor.to_string(),
            level: level.to_string(),
            weight,
        };
        vec![
            row("maturity", "realized", self.maturity_realized),
            row("maturity", "demonstrated", self.maturity_demonstrated),
            row("maturity", "feasible", self.maturity_feasible),
            row("maturity", "not graded", self.maturity_unknown),
            row("evidence", "per case study", self.per_case_study),
            row("evidence", "case studies counted at most", self.case_study_cap as f64),
            row("exposure", "public", self.exposure_public),
            row("exposure", "partner", self.exposure_partner),
            row("exposure", "internal", self.exposure_internal),
            row("criticality", "critical", self.criticality_critical),
            row("criticality", "high", self.criticality_high),
            row("criticality", "medium", self.criticality_medium),
            row("criticality", "low", self.criticality_low),
            row("risk", "critical", self.risk_critical),
            row("risk", "high", self.risk_high),
            row("risk", "medium", self.risk_medium),
            row("risk", "low", self.risk_low),
            row("risk", "not rated", self.risk_unrated),
            row("state", "gap, gap without known mitigation", 1.0),
            row("state", "partially covered", self.partial_factor),
        ]
    }
}

/// Who a system is, as far as priority goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SystemProfile<'a> {
    pub id: i64,
    pub name: &'a str,
    pub exposure: Exposure,
    pub criticality: Rating,
}

/// A team control as recommendations name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRef<'a> {
    pub id: i64,
    pub name: &'a str,
}

/// One system as the gap analysis sees it.
#[derive(Debug, Clone)]
pub struct SystemInput<'a> {
    pub profile: SystemProfile<'a>,
    /// The release the system is assessed against.
    pub framework: &'a Framework,
    /// Borrowed when the caller keeps them (a snapshot does).
    pub decisions: Cow<'a, Decisions>,
    /// The coverage of `decisions` on the day of the analysis, when the
    /// caller already computed it (else [`analyse`] computes it).
    pub coverage: Option<&'a SystemCoverage>,
    /// The team's controls, in the order of `decisions.controls` (a control
    /// without an entry here is never recommended).
    pub controls: Vec<ControlRef<'a>>,
}

/// One open gap with its priority (borrowing the technique's facts from the release).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RankedGap<'a> {
    pub system_id: i64,
    pub system_name: &'a str,
    pub technique_id: &'a str,
    pub technique_name: &'a str,
    /// Parent technique of a sub-technique.
    pub parent: Option<&'a str>,
    /// Tactic IDs, in the release's order for the technique.
    pub tactics: &'a [String],
    pub state: CoverageState,
    pub maturity: Option<Maturity>,
    /// ATLAS case studies using the technique.
    pub case_studies: usize,
    pub risk: Option<Rating>,
    pub priority: f64,
    pub factors: PriorityFactors,
}

/// The coverage of one system and its gaps, highest priority first.
#[derive(Debug, Clone)]
pub struct SystemAnalysis<'a> {
    pub coverage: SystemCoverage,
    pub gaps: Vec<RankedGap<'a>>,
    /// Each technique's priority, in the release's technique order (0 when it is not a gap).
    pub priorities: Vec<f64>,
}

impl SystemAnalysis<'_> {
    /// The summed priority of every open gap.
    pub fn weighted_gap(&self) -> f64 {
        self.gaps.iter().map(|g| g.priority).sum()
    }
}

/// Ranks by priority, highest first; the sort is stable, so ties keep input order.
fn rank(gaps: &mut [RankedGap<'_>]) {
    gaps.sort_by(|a, b| b.priority.total_cmp(&a.priority));
}

/// Merges rankings (each highest priority first, as [`rank`] leaves them)
/// into one, exactly as ranking their concatenation would: equal priorities
/// keep the order of the lists, then their order within a list. Each gap
/// moves once, where a sort of the concatenation would move it many times.
fn merge_ranked(lists: Vec<Vec<RankedGap<'_>>>) -> Vec<RankedGap<'_>> {
    /// A list's next gap: higher priority first, then the earlier list.
    struct Head(f64, usize);
    impl PartialEq for Head {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == std::cmp::Ordering::Equal
        }
    }
    impl Eq for Head {}
    impl PartialOrd for Head {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Head {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
        }
    }
    let mut merged = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    let mut lists: Vec<std::iter::Peekable<std::vec::IntoIter<RankedGap>>> =
        lists.into_iter().map(|l| l.into_iter().peekable()).collect();
    let mut heads: std::collections::BinaryHeap<Head> =
        lists.iter_mut().enumerate().filter_map(|(i, l)| l.peek().map(|g| Head(g.priority, i))).collect();
    while let Some(Head(_, i)) = heads.pop() {
        merged.extend(lists[i].next());
        if let Some(next) = lists[i].peek() {
            heads.push(Head(next.priority, i));
        }
    }
    merged
}

/// Evaluates one system and ranks its gaps.
pub fn analyse<'a>(system: &SystemInput<'a>, weights: &PriorityWeights, today: time::Date) -> SystemAnalysis<'a> {
    let framework = system.framework;
    let coverage = match system.coverage {
        Some(computed) => computed.clone(),
        None => coverage::evaluate(framework, &system.decisions, today),
    };
    let mut priorities = vec![0.0; coverage.states.len()];
    let mut gaps: Vec<RankedGap> = Vec::with_capacity(coverage.overall.open_gaps());
    let open =
        framework.techniques().iter().zip(&coverage.states).zip(&mut priorities).filter(|((_, s), _)| s.is_gap());
    for ((technique, &state), priority) in open {
        let risk = system.decisions.risks.get(technique.id.as_str()).copied();
        let factors = weights.factors(framework, technique, &system.profile, risk, state);
        *priority = factors.product();
        gaps.push(RankedGap {
            system_id: system.profile.id,
            system_name: system.profile.name,
            technique_id: &technique.id,
            technique_name: &technique.name,
            parent: technique.parent.as_deref(),
            tactics: &technique.tactics,
            state,
            maturity: technique.maturity,
            case_studies: framework.case_study_count(&technique.id),
            risk,
            priority: *priority,
            factors,
        });
    }
    rank(&mut gaps);
    SystemAnalysis { coverage, gaps, priorities }
}

/// A tactic column of the heat map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TacticRef {
    pub id: String,
    pub name: String,
    pub shortname: String,
}

/// One system under one tactic.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeatCell {
    pub counts: StateCounts,
    /// Null when nothing under the tactic is in the percentage's denominator.
    pub coverage_percent: Option<f64>,
    pub open_gaps: usize,
}

/// One system's row of the heat map; a cell is null when the system's
/// release has no such tactic.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeatRow<'a> {
    pub system_id: i64,
    pub system_name: &'a str,
    pub cells: Vec<Option<HeatCell>>,
}

/// Systems × tactics coverage.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HeatMap<'a> {
    /// Every tactic of the systems' releases: the first system's in matrix
    /// order, then tactics only later releases have.
    pub tactics: Vec<TacticRef>,
    pub rows: Vec<HeatRow<'a>>,
}

/// Coverage and gaps of one system in a portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SystemSummary<'a> {
    pub system_id: i64,
    pub name: &'a str,
    pub exposure: Exposure,
    pub criticality: Rating,
    pub framework_version: String,
    pub counts: StateCounts,
    pub coverage_percent: Option<f64>,
    pub assessed_percent: Option<f64>,
    pub open_gaps: usize,
    pub weighted_gap: f64,
}

/// Gaps across several systems.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Portfolio<'a> {
    /// In input order.
    pub systems: Vec<SystemSummary<'a>>,
    /// Every system's counts added up.
    pub counts: StateCounts,
    pub coverage_percent: Option<f64>,
    /// Every gap of every system, highest priority first.
    pub gaps: Vec<RankedGap<'a>>,
    pub heat_map: HeatMap<'a>,
}

/// Combines the analyses of several systems (`analyses[i]` is of
/// `systems[i]`); their gaps move into the combined ranking.
pub fn portfolio<'a>(systems: &[SystemInput<'a>], analyses: Vec<SystemAnalysis<'a>>) -> Portfolio<'a> {
    let mut tactics: Vec<TacticRef> = Vec::new();
    let mut column_of: HashMap<&str, usize> = HashMap::new();
    for system in systems {
        for tactic in system.framework.tactics() {
            if !column_of.contains_key(tactic.id.as_str()) {
                column_of.insert(&tactic.id, tactics.len());
                tactics.push(TacticRef {
                    id: tactic.id.clone(),
                    name: tactic.name.clone(),
                    shortname: tactic.shortname.clone(),
                });
            }
        }
    }

    let mut counts = StateCounts::default();
    let mut summaries = Vec::with_capacity(systems.len());
    let mut rows = Vec::with_capacity(systems.len());
    for (system, analysis) in systems.iter().zip(&analyses) {
        let overall = analysis.coverage.overall;
        for state in CoverageState::ALL {
            for _ in 0..overall.get(state) {
                counts.add(state);
            }
        }
        summaries.push(SystemSummary {
            system_id: system.profile.id,
            name: system.profile.name,
            exposure: system.profile.exposure,
            criticality: system.profile.criticality,
            framework_version: system.framework.version().to_string(),
            counts: overall,
            coverage_percent: overall.coverage_percent(),
            assessed_percent: overall.assessed_percent(),
            open_gaps: overall.open_gaps(),
            weighted_gap: analysis.weighted_gap(),
        });
        let mut cells = vec![None; tactics.len()];
        for (tactic, tactic_counts) in system.framework.tactics().iter().zip(&analysis.coverage.per_tactic) {
            if let Some(&column) = column_of.get(tactic.id.as_str()) {
                cells[column] = Some(HeatCell {
                    counts: *tactic_counts,
                    coverage_percent: tactic_counts.coverage_percent(),
                    open_gaps: tactic_counts.open_gaps(),
                });
            }
        }
        rows.push(HeatRow { system_id: system.profile.id, system_name: system.profile.name, cells });
    }

    let gaps = merge_ranked(analyses.into_iter().map(|a| a.gaps).collect());
    Portfolio {
        systems: summaries,
        coverage_percent: counts.coverage_percent(),
        counts,
        gaps,
        heat_map: HeatMap { tactics, rows },
    }
}

/// What kind of measure a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// An ATLAS mitigation (`id` is its ATLAS ID).
    Mitigation,
    /// One of the team's own controls (`id` is its numeric ID).
    Control,
}

/// A gap a recommendation would close.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ClosedGap<'a> {
    pub system_id: i64,
    pub system_name: &'a str,
    pub technique_id: &'a str,
    pub technique_name: &'a str,
    /// Its state before the step.
    pub state: CoverageState,
    pub priority: f64,
}

/// One step of the greedy plan.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecommendationStep<'a> {
    /// 1 for the first pick.
    pub rank: usize,
    pub kind: CandidateKind,
    pub id: String,
    pub name: &'a str,
    /// Summed priority of the gaps this step closes.
    pub weighted_gap_closed: f64,
    /// The gaps it closes, highest priority first.
    pub closes: Vec<ClosedGap<'a>>,
    /// Systems it would be implemented on (where it is not yet implemented
    /// nor marked not applicable).
    pub systems: Vec<i64>,
    /// States of the selected systems once this and every earlier step is implemented.
    pub counts_after: StateCounts,
    pub coverage_percent_after: Option<f64>,
}

/// "The next mitigations that close the most risk".
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommendations<'a> {
    /// The most steps asked for.
    pub limit: usize,
    pub counts_before: StateCounts,
    pub coverage_percent_before: Option<f64>,
    pub weighted_gap_before: f64,
    pub steps: Vec<RecommendationStep<'a>>,
}

/// Default number of recommendation steps.
pub const DEFAULT_RECOMMENDATIONS: usize = 5;

/// A candidate's identity; the derived order (mitigations first, then
/// controls, each by ID) breaks ties between equal gains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum CandidateKey<'a> {
    Mitigation(&'a str),
    Control(i64),
}

/// Technique positions of one release, shared by every system assessed against it.
struct ReleaseIndex<'a> {
    framework: &'a Framework,
    position: HashMap<&'a str, usize>,
    mitigation_position: HashMap<&'a str, usize>,
    /// Technique positions each mitigation maps to, by mitigation position.
    mitigation_techniques: Vec<Vec<usize>>,
}

impl<'a> ReleaseIndex<'a> {
    fn new(framework: &'a Framework) -> Self {
        let position: HashMap<&str, usize> =
            framework.techniques().iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let mitigation_techniques = framework
            .mitigations()
            .iter()
            .map(|m| positions(&position, m.techniques.iter().map(|l| l.technique.as_str())))
            .collect();
        let mitigation_position = framework.mitigations().iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
        ReleaseIndex { framework, position, mitigation_position, mitigation_techniques }
    }
}

/// Sorted, distinct positions of the IDs the release has.
fn positions<'i>(position: &HashMap<&str, usize>, ids: impl Iterator<Item = &'i str>) -> Vec<usize> {
    let mut found: Vec<usize> = ids.filter_map(|id| position.get(id).copied()).collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Where a candidate's status lives on one system.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Mitigation,
    Control(usize),
}

struct Placement<'r> {
    system: usize,
    slot: Slot,
    /// Positions of the techniques it maps to in the system's release.
    techniques: &'r [usize],
}

struct Candidate<'a, 'r> {
    key: CandidateKey<'a>,
    name: &'a str,
    placements: Vec<Placement<'r>>,
}

/// A system as the plan changes it: the recorded decisions, plus the
/// candidates the plan has implemented so far.
struct Working<'a, 'r> {
    input: &'r SystemInput<'a>,
    release: &'r ReleaseIndex<'a>,
    /// The release's position in the plan's list of releases.
    release_at: usize,
    states: Vec<CoverageState>,
    /// Priority of each technique as a gap before the plan (0 when not a gap).
    priority: Vec<f64>,
    /// Technique positions of each control, in the order of `decisions.controls`.
    control_positions: &'r [Vec<usize>],
    planned_mitigations: Vec<&'a str>,
    planned_controls: Vec<bool>,
}

/// Technique positions of each of a system's controls, in the order of `decisions.controls`.
fn control_positions(input: &SystemInput, release: &ReleaseIndex) -> Vec<Vec<usize>> {
    input
        .decisions
        .controls
        .iter()
        .map(|control| positions(&release.position, control.techniques.iter().map(String::as_str)))
        .collect()
}

impl<'a, 'r> Working<'a, 'r> {
    fn new(
        input: &'r SystemInput<'a>,
        (release, release_at): (&'r ReleaseIndex<'a>, usize),
        analysis: &SystemAnalysis,
        control_positions: &'r [Vec<usize>],
    ) -> Self {
        Working {
            input,
            release,
            release_at,
            states: analysis.coverage.states.clone(),
            priority: analysis.priorities.clone(),
            control_positions,
            planned_mitigations: Vec::new(),
            planned_controls: vec![false; input.decisions.controls.len()],
        }
    }

    /// The state of one technique under the recorded decisions plus the plan, by the coverage rules.
    fn restate(&self, technique: usize, today: time::Date) -> CoverageState {
        let framework = self.release.framework;
        let id = framework.techniques()[technique].id.as_str();
        let decisions = &self.input.decisions;
        let mitigations = framework.mitigations_for(id).map(|m| {
            if self.planned_mitigations.contains(&m.id.as_str()) {
                ImplementationStatus::Implemented
            } else {
                decisions.mitigation_status.get(&m.id).copied().unwrap_or(ImplementationStatus::NotStarted)
            }
        });
        let controls = self
            .control_positions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.binary_search(&technique).is_ok())
            .map(|(i, _)| {
                if self.planned_controls[i] { ImplementationStatus::Implemented } else { decisions.controls[i].status }
            });
        coverage::technique_state(
            decisions.applicability.get(id).copied().unwrap_or(Applicability::Unknown),
            mitigations.chain(controls),
            decisions.acceptances.get(id).copied(),
            today,
        )
    }
}

/// A status that keeps a candidate out of the plan for that system.
fn settled(status: ImplementationStatus) -> bool {
    matches!(status, ImplementationStatus::Implemented | ImplementationStatus::NotApplicable)
}

/// Every candidate on every system where it is not settled, in key order.
fn candidates<'a, 'r>(systems: &[Working<'a, 'r>], releases: &[ReleaseIndex<'a>]) -> Vec<Candidate<'a, 'r>> {
    let mut found: Vec<Candidate<'a, 'r>> = Vec::new();
    let mut slot_of: HashMap<CandidateKey<'a>, usize> = HashMap::new();
    let mut slot = |key: CandidateKey<'a>, name: &'a str| {
        *slot_of.entry(key).or_insert_with(|| {
            found.push(Candidate { key, name, placements: Vec::new() });
            found.len() - 1
        })
    };
    // The candidate of each mitigation of each release, found once.
    let mitigation_slots: Vec<Vec<usize>> = releases
        .iter()
        .map(|release| {
            release
                .framework
                .mitigations()
                .iter()
                .map(|m| slot(CandidateKey::Mitigation(m.id.as_str()), m.name.as_str()))
                .collect()
        })
        .collect();
    let mut control_slots: HashMap<i64, usize> = HashMap::new();
    let mut placements: Vec<(usize, Placement<'r>)> = Vec::new();
    for (s, work) in systems.iter().enumerate() {
        let release: &'r ReleaseIndex<'a> = work.release;
        let mut settled_mitigations = vec![false; release.framework.mitigations().len()];
        for (id, &status) in &work.input.decisions.mitigation_status {
            if let Some(&m) = release.mitigation_position.get(id.as_str()) {
                settled_mitigations[m] = settled(status);
            }
        }
        let slots = &mitigation_slots[work.release_at];
        for (m, techniques) in release.mitigation_techniques.iter().enumerate() {
            if !settled_mitigations[m] {
                placements.push((slots[m], Placement { system: s, slot: Slot::Mitigation, techniques }));
            }
        }
        let control_positions: &'r [Vec<usize>] = work.control_positions;
        for (i, (control, named)) in work.input.decisions.controls.iter().zip(&work.input.controls).enumerate() {
            if !settled(control.status) {
                let at =
                    *control_slots.entry(named.id).or_insert_with(|| slot(CandidateKey::Control(named.id), named.name));
                placements
                    .push((at, Placement { system: s, slot: Slot::Control(i), techniques: &control_positions[i] }));
            }
        }
    }
    for (at, placement) in placements {
        found[at].placements.push(placement);
    }
    // Mitigations settled on every system are no candidates.
    found.retain(|c| !c.placements.is_empty());
    found.sort_by_key(|c| c.key);
    found
}

/// Weighted gap and number of gaps a candidate would close now.
fn gain(candidate: &Candidate, systems: &[Working]) -> (f64, usize) {
    let (mut weight, mut closed) = (0.0, 0);
    for placement in &candidate.placements {
        let work = &systems[placement.system];
        for &t in placement.techniques.iter() {
            if work.states[t].is_gap() {
                weight += work.priority[t];
                closed += 1;
            }
        }
    }
    (weight, closed)
}

fn total_counts(systems: &[Working]) -> StateCounts {
    let mut counts = StateCounts::default();
    for work in systems {
        for &state in &work.states {
            counts.add(state);
        }
    }
    counts
}

/// Greedily picks up to `limit` mitigations and controls that close the
/// most weighted gap across the systems (`analyses[i]` is of `systems[i]`,
/// computed for the same day). Picks are exactly those of the plain greedy
/// loop described in the module documentation; gains are recomputed lazily.
pub fn recommend<'a>(
    systems: &[SystemInput<'a>],
    analyses: &[SystemAnalysis<'a>],
    today: time::Date,
    limit: usize,
) -> Recommendations<'a> {
    let mut releases: Vec<ReleaseIndex> = Vec::new();
    let mut release_of = Vec::with_capacity(systems.len());
    for system in systems {
        let at = match releases.iter().position(|r| std::ptr::eq(r.framework, system.framework)) {
            Some(at) => at,
            None => {
                releases.push(ReleaseIndex::new(system.framework));
                releases.len() - 1
            }
        };
        release_of.push(at);
    }
    let control_positions: Vec<Vec<Vec<usize>>> = systems
        .iter()
        .zip(&release_of)
        .map(|(system, &release)| control_positions(system, &releases[release]))
        .collect();
    let mut working: Vec<Working> = systems
        .iter()
        .zip(analyses)
        .zip(&release_of)
        .zip(&control_positions)
        .map(|(((system, analysis), &release), controls)| {
            Working::new(system, (&releases[release], release), analysis, controls)
        })
        .collect();
    let mut remaining = candidates(&working, &releases);
    let counts_before = total_counts(&working);
    let weighted_gap_before = analyses.iter().map(SystemAnalysis::weighted_gap).sum();
    let mut steps = Vec::new();

    // Lazy greedy: gains only shrink as gaps close, so a candidate's last
    // computed gain bounds its current one. The candidate with the best bound
    // is recomputed; when its bound still holds it is the best pick.
    let mut bounds: Vec<(f64, usize)> = remaining.iter().map(|c| gain(c, &working)).collect();
    while steps.len() < limit {
        let mut pick = None;
        loop {
            // Strictly better only: ties keep the key order (mitigations first, then by ID).
            let mut best: Option<usize> = None;
            for (at, &(weight, closed)) in bounds.iter().enumerate() {
                let better = match best {
                    _ if weight <= 0.0 => false,
                    None => true,
                    Some(b) => weight > bounds[b].0 || (weight == bounds[b].0 && closed > bounds[b].1),
                };
                if better {
                    best = Some(at);
                }
            }
            let Some(at) = best else { break };
            let fresh = gain(&remaining[at], &working);
            if fresh == bounds[at] {
                pick = Some((at, fresh.0));
                break;
            }
            bounds[at] = fresh;
        }
        let Some((at, weighted_gap_closed)) = pick else { break };
        let candidate = remaining.remove(at);
        bounds.remove(at);

        let mut closes = Vec::new();
        let mut on_systems = Vec::new();
        for placement in &candidate.placements {
            let work = &mut working[placement.system];
            match (placement.slot, candidate.key) {
                (Slot::Control(i), _) => work.planned_controls[i] = true,
                (Slot::Mitigation, CandidateKey::Mitigation(id)) => work.planned_mitigations.push(id),
                // Mitigation placements only ever belong to mitigation keys.
                (Slot::Mitigation, CandidateKey::Control(_)) => continue,
            }
            on_systems.push(work.input.profile.id);
            for &t in placement.techniques.iter() {
                let before = work.states[t];
                // Covered, not applicable and not assessed techniques stay as they are.
                if !before.is_gap() && before != CoverageState::AcceptedRisk {
                    continue;
                }
                let after = work.restate(t, today);
                work.states[t] = after;
                if before.is_gap() && !after.is_gap() {
                    let technique = &work.release.framework.techniques()[t];
                    closes.push(ClosedGap {
                        system_id: work.input.profile.id,
                        system_name: work.input.profile.name,
                        technique_id: &technique.id,
                        technique_name: &technique.name,
                        state: before,
                        priority: work.priority[t],
                    });
                }
            }
        }
        closes.sort_by(|a, b| b.priority.total_cmp(&a.priority));
        let counts_after = total_counts(&working);
        let (kind, id) = match candidate.key {
            CandidateKey::Mitigation(id) => (CandidateKind::Mitigation, id.to_string()),
            CandidateKey::Control(id) => (CandidateKind::Control, id.to_string()),
        };
        steps.push(RecommendationStep {
            rank: steps.len() + 1,
            kind,
            id,
            name: candidate.name,
            weighted_gap_closed,
            closes,
            systems: on_systems,
            coverage_percent_after: counts_after.coverage_percent(),
            counts_after,
        });
    }

    Recommendations {
        limit,
        coverage_percent_before: counts_before.coverage_percent(),
        counts_before,
        weighted_gap_before,
        steps,
    }
}

/// How a system stands against one procedure step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStanding {
    Covered,
    Accepted,
    NotApplicable,
    Exposed,
}

impl StepStanding {
    fn of(state: Option<CoverageState>) -> Self {
        match state {
            Some(CoverageState::Covered) => StepStanding::Covered,
            Some(CoverageState::AcceptedRisk) => StepStanding::Accepted,
            Some(CoverageState::NotApplicable) => StepStanding::NotApplicable,
            _ => StepStanding::Exposed,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StepStanding::Covered => "Covered",
            StepStanding::Accepted => "Accepted",
            StepStanding::NotApplicable => "Not applicable",
            StepStanding::Exposed => "Exposed",
        }
    }

    /// A symbol beside the label, as for coverage states.
    pub fn symbol(self) -> &'static str {
        match self {
            StepStanding::Covered => "✓",
            StepStanding::Accepted => "⚑",
            StepStanding::NotApplicable => "–",
            StepStanding::Exposed => "✗",
        }
    }
}

/// One procedure step of a case study against a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StepCoverage<'a> {
    pub tactic: &'a str,
    pub technique_id: &'a str,
    /// Null when the system's release has no such technique.
    pub state: Option<CoverageState>,
    pub standing: StepStanding,
}

/// One case study against a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CaseStudyCoverage<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub kind: Option<CaseStudyKind>,
    pub steps: Vec<StepCoverage<'a>>,
    pub covered: usize,
    pub accepted: usize,
    pub not_applicable: usize,
    pub exposed: usize,
    /// Every step exposed (and at least one step).
    pub fully_exposed: bool,
}

impl CaseStudyCoverage<'_> {
    /// The attack path with each step's standing: `✓ AML.T0000 → ✗ AML.T0051`.
    pub fn path(&self) -> String {
        self.steps
            .iter()
            .map(|step| format!("{} {}", step.standing.symbol(), step.technique_id))
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// Every case study of the release against one system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CaseStudyLens<'a> {
    /// In the release's order.
    pub studies: Vec<CaseStudyCoverage<'a>>,
    /// IDs of the fully exposed case studies: incidents, then exercises,
    /// then those of no stated kind; release order within each.
    pub fully_exposed: Vec<&'a str>,
}

/// Measures every case study of the release against a system's coverage.
pub fn case_study_lens<'a>(framework: &'a Framework, coverage: &SystemCoverage) -> CaseStudyLens<'a> {
    CaseStudyIndex::new(framework).lens(coverage)
}

/// The technique position of every procedure step of a release, computed
/// once and shared by the lenses of every system assessed against it.
pub struct CaseStudyIndex<'a> {
    framework: &'a Framework,
    /// Per case study, per step: the technique's position in the release.
    steps: Vec<Vec<Option<usize>>>,
}

impl<'a> CaseStudyIndex<'a> {
    pub fn new(framework: &'a Framework) -> Self {
        let position: HashMap<&str, usize> =
            framework.techniques().iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
        let steps = framework
            .case_studies()
            .iter()
            .map(|study| study.steps.iter().map(|step| position.get(step.technique.as_str()).copied()).collect())
            .collect();
        CaseStudyIndex { framework, steps }
    }

    /// True when the index was built for this release.
    pub fn is_for(&self, framework: &Framework) -> bool {
        std::ptr::eq(self.framework, framework)
    }

    /// Every case study against one system's coverage (computed on this release).
    pub fn lens(&self, coverage: &SystemCoverage) -> CaseStudyLens<'a> {
        let studies: Vec<CaseStudyCoverage> = self
            .framework
            .case_studies()
            .iter()
            .zip(&self.steps)
            .map(|(study, positions)| {
                let steps: Vec<StepCoverage> = study
                    .steps
                    .iter()
                    .zip(positions)
                    .map(|(step, position)| {
                        let state = position.and_then(|p| coverage.states.get(p).copied());
                        StepCoverage {
                            tactic: &step.tactic,
                            technique_id: &step.technique,
                            state,
                            standing: StepStanding::of(state),
                        }
                    })
                    .collect();
                let count = |standing| steps.iter().filter(|s| s.standing == standing).count();
                let exposed = count(StepStanding::Exposed);
                CaseStudyCoverage {
                    id: &study.id,
                    name: &study.name,
                    kind: study.kind,
                    covered: count(StepStanding::Covered),
                    accepted: count(StepStanding::Accepted),
                    not_applicable: count(StepStanding::NotApplicable),
                    exposed,
                    fully_exposed: !steps.is_empty() && exposed == steps.len(),
                    steps,
                }
            })
            .collect();
        let order = |kind: Option<CaseStudyKind>| match kind {
            Some(CaseStudyKind::Incident) => 0,
            Some(CaseStudyKind::Exercise) => 1,
            None => 2,
        };
        let mut exposed: Vec<&CaseStudyCoverage> = studies.iter().filter(|s| s.fully_exposed).collect();
        exposed.sort_by_key(|s| order(s.kind));
        let fully_exposed = exposed.into_iter().map(|s| s.id).collect();
        CaseStudyLens { studies, fully_exposed }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::atlas::framework::Origin;
    use crate::atlas::model::{
        CaseStudy, Mitigation, MitigationLink, ProcedureStep, Release, SourceFormat, Tactic, Technique,
    };
    use crate::domain::coverage::ControlInput;
    use ImplementationStatus::*;

    pub(crate) fn day(s: &str) -> time::Date {
        crate::domain::date("test", s).expect("a test date")
    }

    pub(crate) const TODAY: &str = "2026-11-25";

    fn tactic(id: &str, name: &str) -> Tactic {
        Tactic {
            id: id.into(),
            name: name.into(),
            shortname: crate::atlas::model::tactic_shortname(name),
            attack_reference: None,
            created: None,
            modified: None,
            summary: None,
            description: None,
        }
    }

    fn technique(id: &str, name: &str, tactic: &str, maturity: Option<Maturity>) -> Technique {
        Technique {
            id: id.into(),
            name: name.into(),
            parent: crate::atlas::model::parent_from_id(id).map(str::to_string),
            tactics: vec![tactic.into()],
            maturity,
            platforms: vec!["Generative AI".into()],
            attack_reference: None,
            created: None,
            modified: None,
            summary: None,
            description: None,
        }
    }

    fn mitigation(id: &str, name: &str, techniques: &[&str]) -> Mitigation {
        Mitigation {
            id: id.into(),
            name: name.into(),
            categories: vec![],
            lifecycle_phases: vec![],
            techniques: techniques
                .iter()
                .map(|t| MitigationLink { technique: t.to_string(), description: None })
                .collect(),
            attack_reference: None,
            created: None,
            modified: None,
            summary: None,
            description: None,
        }
    }

    fn study(id: &str, kind: CaseStudyKind, steps: &[(&str, &str)]) -> CaseStudy {
        CaseStudy {
            id: id.into(),
            name: format!("Study {id}"),
            kind: Some(kind),
            date: None,
            date_granularity: None,
            target: None,
            actor: None,
            reporter: None,
            steps: steps
                .iter()
                .map(|(tactic, technique)| ProcedureStep {
                    tactic: tactic.to_string(),
                    technique: technique.to_string(),
                    description: None,
                })
                .collect(),
            description: None,
        }
    }

    /// A tiny release:
    ///
    /// | technique | tactic | maturity | case studies | mitigations |
    /// |---|---|---|---|---|
    /// | T1 | TA1 | realized | 2 (CS1, CS2) | M1, M2 |
    /// | T2 | TA1 | demonstrated | 1 (CS1) | M1 |
    /// | T3 | TA2 | feasible | 1 (CS2) | M3 |
    /// | T4 | TA2 | not graded | 0 | none |
    /// | T1.000 | TA1 | feasible | 0 | M2 |
    pub(crate) fn tiny_framework() -> Framework {
        let release = Release {
            version: "test.1".into(),
            format: SourceFormat::Calendar,
            date: None,
            tactics: vec![tactic("AML.TA0001", "Initial Access"), tactic("AML.TA0002", "Execution")],
            techniques: vec![
                technique("AML.T0001", "Alpha", "AML.TA0001", Some(Maturity::Realized)),
                technique("AML.T0001.000", "Alpha sub", "AML.TA0001", Some(Maturity::Feasible)),
                technique("AML.T0002", "Bravo", "AML.TA0001", Some(Maturity::Demonstrated)),
                technique("AML.T0003", "Charlie", "AML.TA0002", Some(Maturity::Feasible)),
                technique("AML.T0004", "Delta", "AML.TA0002", None),
            ],
            mitigations: vec![
                mitigation("AML.M0001", "Mit One", &["AML.T0001", "AML.T0002"]),
                mitigation("AML.M0002", "Mit Two", &["AML.T0001", "AML.T0001.000"]),
                mitigation("AML.M0003", "Mit Three", &["AML.T0003"]),
            ],
            case_studies: vec![
                study(
                    "AML.CS0001",
                    CaseStudyKind::Exercise,
                    &[("AML.TA0001", "AML.T0001"), ("AML.TA0002", "AML.T0003")],
                ),
                study(
                    "AML.CS0002",
                    CaseStudyKind::Incident,
                    &[("AML.TA0001", "AML.T0001"), ("AML.TA0001", "AML.T0002")],
                ),
                study("AML.CS0003", CaseStudyKind::Incident, &[("AML.TA0002", "AML.T0004")]),
            ],
        };
        Framework::new(release, Origin::Bundled)
    }

    /// System A: public, high criticality. T1–T4 apply; T1.000 applies but
    /// its risk is accepted; the control "Guard" maps T4 and is in progress.
    /// Risks: T1 high, T2 not rated, T3 critical, T4 low.
    pub(crate) fn system_a(framework: &Framework) -> SystemInput<'_> {
        let mut decisions = Decisions::default();
        for id in ["AML.T0001", "AML.T0001.000", "AML.T0002", "AML.T0003", "AML.T0004"] {
            decisions.applicability.insert(id.into(), Applicability::Applies);
        }
        decisions.acceptances.insert("AML.T0001.000".into(), day("2027-01-31"));
        decisions.controls.push(ControlInput { techniques: vec!["AML.T0004".into()], status: InProgress });
        decisions.risks = [("AML.T0001", Rating::High), ("AML.T0003", Rating::Critical), ("AML.T0004", Rating::Low)]
            .into_iter()
            .map(|(id, risk)| (id.to_string(), risk))
            .collect();
        SystemInput {
            profile: SystemProfile { id: 1, name: "A", exposure: Exposure::Public, criticality: Rating::High },
            framework,
            decisions: Cow::Owned(decisions),
            coverage: None,
            controls: vec![ControlRef { id: 7, name: "Guard" }],
        }
    }

    /// System B: internal, low criticality. T1 and T3 apply, T2 is not
    /// applicable, M3 is implemented, T4 and T1.000 are not assessed.
    fn system_b(framework: &Framework) -> SystemInput<'_> {
        let mut decisions = Decisions::default();
        decisions.applicability.insert("AML.T0001".into(), Applicability::Applies);
        decisions.applicability.insert("AML.T0003".into(), Applicability::Applies);
        decisions.applicability.insert("AML.T0002".into(), Applicability::NotApplicable);
        decisions.mitigation_status.insert("AML.M0003".into(), Implemented);
        decisions.controls.push(ControlInput { techniques: vec!["AML.T0004".into()], status: NotStarted });
        SystemInput {
            profile: SystemProfile { id: 2, name: "B", exposure: Exposure::Internal, criticality: Rating::Low },
            framework,
            decisions: Cow::Owned(decisions),
            coverage: None,
            controls: vec![ControlRef { id: 7, name: "Guard" }],
        }
    }

    fn ids<'a>(gaps: &'a [RankedGap]) -> Vec<(&'a str, &'a str)> {
        gaps.iter().map(|g| (g.system_name, g.technique_id)).collect()
    }

    #[test]
    fn default_weights_match_the_documented_table() {
        let w = PriorityWeights::default();
        assert_eq!(w.maturity(Some(Maturity::Realized)), 3.0);
        assert_eq!(w.maturity(None), 2.0);
        assert_eq!(w.evidence(0), 1.0);
        assert_eq!(w.evidence(3), 1.375);
        assert_eq!(w.evidence(20), 2.0, "counted up to 8 case studies");
        assert_eq!(w.risk(None), w.risk(Some(Rating::Medium)));
        assert_eq!(w.state(CoverageState::PartiallyCovered), 0.5);
        assert_eq!(w.state(CoverageState::AcceptedRisk), 0.0);
        assert_eq!(w.table().len(), 20);
    }

    #[test]
    fn gaps_are_ranked_by_the_documented_priority() {
        let framework = tiny_framework();
        let a = system_a(&framework);
        let analysis = analyse(&a, &PriorityWeights::default(), day(TODAY));
        // Exposure public 3, criticality high 3, so every factor product carries × 9:
        // T1: realized 3 × evidence (1 + 0.125 × 2) 1.25 × 9 × risk high 3 × gap 1 = 101.25
        // T2: demonstrated 2 × (1 + 0.125) 1.125 × 9 × not rated 2 × gap 1 = 40.5
        // T3: feasible 1 × 1.125 × 9 × critical 4 × gap 1 = 40.5 (tie with T2: ID order)
        // T4: not graded 2 × 1.125 × 9 × low 1 × partially covered 0.5 = 10.125
        // T1.000 is an accepted risk: not a gap.
        let ranked: Vec<(&str, f64, CoverageState)> =
            analysis.gaps.iter().map(|g| (g.technique_id, g.priority, g.state)).collect();
        assert_eq!(
            ranked,
            vec![
                ("AML.T0001", 101.25, CoverageState::Gap),
                ("AML.T0002", 40.5, CoverageState::Gap),
                ("AML.T0003", 40.5, CoverageState::Gap),
                ("AML.T0004", 10.125, CoverageState::PartiallyCovered),
            ]
        );
        assert_eq!(analysis.weighted_gap(), 192.375);
        let t4 = &analysis.gaps[3];
        assert_eq!(
            t4.factors,
            PriorityFactors { maturity: 2.0, evidence: 1.125, exposure: 3.0, criticality: 3.0, risk: 1.0, state: 0.5 }
        );
        assert_eq!(t4.case_studies, 1);
    }

    #[test]
    fn a_technique_without_any_usable_measure_is_a_gap_without_known_mitigation() {
        let framework = tiny_framework();
        let mut a = system_a(&framework);
        a.decisions.to_mut().controls[0].status = NotApplicable;
        let analysis = analyse(&a, &PriorityWeights::default(), day(TODAY));
        let t4 = analysis.gaps.iter().find(|g| g.technique_id == "AML.T0004").expect("T4 is open");
        assert_eq!(t4.state, CoverageState::GapNoKnownMitigation);
        assert_eq!(t4.priority, 20.25, "a full gap weighs twice a partial one");
    }

    #[test]
    fn greedy_recommendations_rerank_after_each_pick() {
        let framework = tiny_framework();
        let systems = [system_a(&framework)];
        let analyses: Vec<SystemAnalysis> =
            systems.iter().map(|s| analyse(s, &PriorityWeights::default(), day(TODAY))).collect();
        let plan = recommend(&systems, &analyses, day(TODAY), DEFAULT_RECOMMENDATIONS);
        // Gains before any pick: M1 closes T1 + T2 = 141.75; M2 closes T1 = 101.25;
        // M3 closes T3 = 40.5; Guard closes T4 = 10.125.
        // Naively the second would be M2 (101.25). After M1, T1 is covered, so
        // M2 closes nothing and M3 comes second, then Guard; M2 is never picked.
        let picks: Vec<(&str, f64)> = plan.steps.iter().map(|s| (s.id.as_str(), s.weighted_gap_closed)).collect();
        assert_eq!(picks, vec![("AML.M0001", 141.75), ("AML.M0003", 40.5), ("7", 10.125)]);
        assert_eq!(plan.steps[2].kind, CandidateKind::Control);
        assert_eq!(plan.steps[2].name, "Guard");
        let closed: Vec<&str> = plan.steps[0].closes.iter().map(|c| c.technique_id).collect();
        assert_eq!(closed, vec!["AML.T0001", "AML.T0002"]);
        // Coverage denominator: T1, T2, T3, T4 (T1.000 is accepted, outside).
        assert_eq!(plan.coverage_percent_before, Some(0.0));
        let after: Vec<Option<f64>> = plan.steps.iter().map(|s| s.coverage_percent_after).collect();
        assert_eq!(after, vec![Some(50.0), Some(75.0), Some(100.0)]);
        assert_eq!(plan.weighted_gap_before, 192.375);
    }

    #[test]
    fn implementing_a_candidate_also_covers_accepted_risks_it_maps() {
        let framework = tiny_framework();
        let mut a = system_a(&framework);
        // M1 does not fit the system: T2 is left with no usable mitigation.
        a.decisions.to_mut().mitigation_status.insert("AML.M0001".into(), NotApplicable);
        let systems = [a];
        let analyses: Vec<SystemAnalysis> =
            systems.iter().map(|s| analyse(s, &PriorityWeights::default(), day(TODAY))).collect();
        assert_eq!(analyses[0].gaps[1].state, CoverageState::GapNoKnownMitigation);
        let plan = recommend(&systems, &analyses, day(TODAY), 1);
        // M2 closes T1 (101.25) and also covers T1.000, an accepted risk, which
        // enters the denominator: before 0 of 4, after 2 of 5.
        assert_eq!(plan.steps[0].id, "AML.M0002");
        assert_eq!(plan.steps[0].weighted_gap_closed, 101.25);
        assert_eq!(plan.steps[0].closes.len(), 1);
        assert_eq!(plan.steps[0].counts_after.accepted_risk, 0);
        assert_eq!(plan.steps[0].coverage_percent_after, Some(40.0));
    }

    #[test]
    fn candidates_closing_no_gap_or_already_settled_are_not_proposed() {
        let framework = tiny_framework();
        let mut a = system_a(&framework);
        // With M1 implemented, M2 maps only covered T1 and accepted T1.000.
        a.decisions.to_mut().mitigation_status.insert("AML.M0001".into(), Implemented);
        let systems = [a];
        let analyses: Vec<SystemAnalysis> =
            systems.iter().map(|s| analyse(s, &PriorityWeights::default(), day(TODAY))).collect();
        let plan = recommend(&systems, &analyses, day(TODAY), 10);
        assert!(plan.steps.iter().all(|s| s.id != "AML.M0002"), "a candidate closing no gap is not recommended");
        assert!(plan.steps.iter().all(|s| s.id != "AML.M0001"), "already implemented");
    }

    #[test]
    fn incremental_states_agree_with_a_full_evaluation() {
        let framework = crate::atlas::bundled::framework();
        let mut decisions = Decisions::default();
        for (i, t) in framework.techniques().iter().enumerate() {
            let applicability = if i % 7 == 0 { Applicability::NotApplicable } else { Applicability::Applies };
            decisions.applicability.insert(t.id.clone(), applicability);
            if i % 11 == 0 {
                decisions.acceptances.insert(t.id.clone(), day("2027-01-01"));
            }
        }
        for (i, m) in framework.mitigations().iter().enumerate() {
            decisions.mitigation_status.insert(m.id.clone(), ImplementationStatus::ALL[i % 5]);
        }
        let orphans: Vec<String> = framework
            .techniques()
            .iter()
            .filter(|t| framework.mitigations_for(&t.id).next().is_none())
            .map(|t| t.id.clone())
            .collect();
        let mut controls = Vec::new();
        for (i, chunk) in orphans.chunks(6).enumerate() {
            decisions.controls.push(ControlInput { techniques: chunk.to_vec(), status: NotStarted });
            controls.push(ControlRef { id: 100 + i as i64, name: "Control" });
        }
        let system = SystemInput {
            profile: SystemProfile { id: 9, name: "Bundled", exposure: Exposure::Partner, criticality: Rating::Medium },
            framework: &framework,
            decisions: Cow::Owned(decisions),
            coverage: None,
            controls,
        };
        let systems = [system];
        let weights = PriorityWeights::default();
        let analyses: Vec<SystemAnalysis> = systems.iter().map(|s| analyse(s, &weights, day(TODAY))).collect();
        let plan = recommend(&systems, &analyses, day(TODAY), 8);
        assert_eq!(plan.steps.len(), 8);
        let mut decisions = systems[0].decisions.clone().into_owned();
        for step in &plan.steps {
            match step.kind {
                CandidateKind::Mitigation => {
                    decisions.mitigation_status.insert(step.id.clone(), Implemented);
                }
                CandidateKind::Control => {
                    let at = systems[0].controls.iter().position(|c| c.id.to_string() == step.id).expect("a control");
                    decisions.controls[at].status = Implemented;
                }
            }
            let full = coverage::evaluate(&framework, &decisions, day(TODAY));
            assert_eq!(full.overall, step.counts_after, "after step {}", step.rank);
        }
        let gains: Vec<f64> = plan.steps.iter().map(|s| s.weighted_gap_closed).collect();
        assert!(gains.windows(2).all(|w| w[0] >= w[1]), "greedy gains never grow: {gains:?}");
    }

    /// The plain greedy loop of the module documentation, with a full
    /// evaluation per candidate: the reference the planner must match.
    fn reference_plan(systems: &[SystemInput], analyses: &[SystemAnalysis], limit: usize) -> Vec<(String, f64)> {
        let today = day(TODAY);
        let mut planned: Vec<Decisions> = systems.iter().map(|s| s.decisions.clone().into_owned()).collect();
        let mut picks = Vec::new();
        let mut keys: Vec<CandidateKey> = Vec::new();
        for system in systems {
            keys.extend(system.framework.mitigations().iter().map(|m| CandidateKey::Mitigation(&m.id)));
            keys.extend(system.controls.iter().map(|c| CandidateKey::Control(c.id)));
        }
        keys.sort();
        keys.dedup();
        while picks.len() < limit {
            let mut best: Option<(CandidateKey, f64, usize, Vec<Decisions>)> = None;
            for &key in &keys {
                let (mut weight, mut closed, mut after) = (0.0, 0, Vec::new());
                for ((system, analysis), decisions) in systems.iter().zip(analyses).zip(&planned) {
                    let mut changed = decisions.clone();
                    match key {
                        CandidateKey::Mitigation(id) => {
                            let status = changed.mitigation_status.get(id).copied().unwrap_or(NotStarted);
                            if system.framework.mitigation(id).is_some() && !settled(status) {
                                changed.mitigation_status.insert(id.to_string(), Implemented);
                            }
                        }
                        CandidateKey::Control(id) => {
                            if let Some(at) = system.controls.iter().position(|c| c.id == id)
                                && !settled(changed.controls[at].status)
                            {
                                changed.controls[at].status = Implemented;
                            }
                        }
                    }
                    let before = coverage::evaluate(system.framework, decisions, today);
                    let now = coverage::evaluate(system.framework, &changed, today);
                    for (i, (b, n)) in before.states.iter().zip(&now.states).enumerate() {
                        if b.is_gap() && !n.is_gap() {
                            weight += analysis.priorities[i];
                            closed += 1;
                        }
                    }
                    after.push(changed);
                }
                let better = match &best {
                    _ if weight <= 0.0 => false,
                    None => true,
                    Some((_, w, c, _)) => weight > *w || (weight == *w && closed > *c),
                };
                if better {
                    best = Some((key, weight, closed, after));
                }
            }
            let Some((key, weight, _, after)) = best else { break };
            keys.retain(|k| *k != key);
            planned = after;
            let id = match key {
                CandidateKey::Mitigation(id) => id.to_string(),
                CandidateKey::Control(id) => id.to_string(),
            };
            picks.push((id, weight));
        }
        picks
    }

    #[test]
    fn the_planner_matches_the_plain_greedy_loop() {
        let framework = crate::atlas::bundled::framework();
        let control_names: Vec<String> = (0..12).map(|c| format!("Control {c}")).collect();
        let system_names = ["S0", "S1", "S2"];
        let mut systems = Vec::new();
        for (n, exposure) in [Exposure::Public, Exposure::Internal, Exposure::Partner].into_iter().enumerate() {
            let mut decisions = Decisions::default();
            for (i, t) in framework.techniques().iter().enumerate() {
                let applicability = match (i + n) % 6 {
                    0 => Applicability::NotApplicable,
                    1 => Applicability::Unknown,
                    _ => Applicability::Applies,
                };
                decisions.applicability.insert(t.id.clone(), applicability);
                if (i + n) % 13 == 0 {
                    decisions.acceptances.insert(t.id.clone(), day("2027-01-01"));
                }
            }
            for (i, m) in framework.mitigations().iter().enumerate() {
                decisions.mitigation_status.insert(m.id.clone(), ImplementationStatus::ALL[(i + n) % 5]);
            }
            let mut controls = Vec::new();
            for (c, name) in control_names.iter().enumerate() {
                let techniques =
                    framework.techniques().iter().skip(c * 13 + n).step_by(7).take(3).map(|t| t.id.clone());
                decisions
                    .controls
                    .push(ControlInput { techniques: techniques.collect(), status: ImplementationStatus::ALL[c % 4] });
                controls.push(ControlRef { id: 200 + c as i64, name });
            }
            decisions.risks = framework
                .techniques()
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 0)
                .map(|(i, t)| (t.id.clone(), Rating::ALL[i % 4]))
                .collect();
            systems.push(SystemInput {
                profile: SystemProfile { id: n as i64, name: system_names[n], exposure, criticality: Rating::ALL[n] },
                framework: &framework,
                decisions: Cow::Owned(decisions),
                coverage: None,
                controls,
            });
        }
        let analyses: Vec<SystemAnalysis> =
            systems.iter().map(|s| analyse(s, &PriorityWeights::default(), day(TODAY))).collect();
        for limit in [1, 6, 40] {
            let plan = recommend(&systems, &analyses, day(TODAY), limit);
            let picks: Vec<(String, f64)> = plan.steps.iter().map(|s| (s.id.clone(), s.weighted_gap_closed)).collect();
            assert_eq!(picks, reference_plan(&systems, &analyses, limit), "limit {limit}");
        }
    }

    #[test]
    fn merging_rankings_equals_ranking_their_concatenation() {
        let framework = crate::atlas::bundled::framework();
        let weights = PriorityWeights::default();
        let names = ["S0", "S1", "S2", "S3"];
        let systems: Vec<SystemInput> = names
            .iter()
            .enumerate()
            .map(|(n, name)| {
                let mut decisions = Decisions::default();
                for (i, t) in framework.techniques().iter().enumerate() {
                    if (i + n) % 3 != 0 {
                        decisions.applicability.insert(t.id.clone(), Applicability::Applies);
                    }
                }
                SystemInput {
                    profile: SystemProfile {
                        id: n as i64,
                        name,
                        exposure: Exposure::ALL[n % 3],
                        criticality: Rating::ALL[n % 2],
                    },
                    framework: &framework,
                    decisions: Cow::Owned(decisions),
                    coverage: None,
                    controls: Vec::new(),
                }
            })
            .collect();
        let lists: Vec<Vec<RankedGap>> = systems.iter().map(|s| analyse(s, &weights, day(TODAY)).gaps).collect();
        let mut sorted: Vec<RankedGap> = lists.iter().flatten().cloned().collect();
        rank(&mut sorted);
        let ties = sorted.windows(2).filter(|w| w[0].priority == w[1].priority && w[0].system_id != w[1].system_id);
        assert!(ties.count() > 10, "the case has ties across systems");
        assert_eq!(merge_ranked(lists), sorted);
    }

    #[test]
    fn a_portfolio_ranks_across_systems_and_fills_the_heat_map() {
        let framework = tiny_framework();
        let systems = [system_a(&framework), system_b(&framework)];
        let weights = PriorityWeights::default();
        let analyses: Vec<SystemAnalysis> = systems.iter().map(|s| analyse(s, &weights, day(TODAY))).collect();
        let portfolio = portfolio(&systems, analyses);
        // B's only gap: T1, realized 3 × 1.25 × internal 1 × low 1 × not rated 2 = 7.5.
        assert_eq!(
            ids(&portfolio.gaps),
            vec![("A", "AML.T0001"), ("A", "AML.T0002"), ("A", "AML.T0003"), ("A", "AML.T0004"), ("B", "AML.T0001")]
        );
        assert_eq!(portfolio.gaps[4].priority, 7.5);
        let b = &portfolio.systems[1];
        assert_eq!((b.counts.covered, b.counts.gap, b.counts.not_applicable, b.counts.not_assessed), (1, 1, 1, 2));
        assert_eq!((b.coverage_percent, b.open_gaps, b.weighted_gap), (Some(50.0), 1, 7.5));
        assert_eq!(portfolio.counts.total(), 10);
        // A: 0 covered of 4; B: 1 of 2 → 1 of 6.
        assert_eq!(portfolio.coverage_percent, Some(100.0 / 6.0));
        let tactics: Vec<&str> = portfolio.heat_map.tactics.iter().map(|t| t.shortname.as_str()).collect();
        assert_eq!(tactics, vec!["initial-access", "execution"]);
        let cell = |row: usize, column: usize| portfolio.heat_map.rows[row].cells[column].clone().expect("a cell");
        // A under Initial Access: T1, T2 gaps, T1.000 accepted → 0 %, 2 gaps.
        assert_eq!((cell(0, 0).coverage_percent, cell(0, 0).open_gaps), (Some(0.0), 2));
        // B under Execution: T3 covered (M3 implemented), T4 not assessed → 100 %, no gap.
        assert_eq!((cell(1, 1).coverage_percent, cell(1, 1).open_gaps), (Some(100.0), 0));
    }

    #[test]
    fn portfolio_recommendations_skip_systems_where_a_candidate_is_settled() {
        let framework = tiny_framework();
        let systems = [system_a(&framework), system_b(&framework)];
        let weights = PriorityWeights::default();
        let analyses: Vec<SystemAnalysis> = systems.iter().map(|s| analyse(s, &weights, day(TODAY))).collect();
        let plan = recommend(&systems, &analyses, day(TODAY), 2);
        // M1 closes A.T1 + A.T2 + B.T1 = 101.25 + 40.5 + 7.5; M3 is already implemented on B.
        assert_eq!(plan.steps[0].id, "AML.M0001");
        assert_eq!(plan.steps[0].weighted_gap_closed, 149.25);
        assert_eq!(plan.steps[0].systems, vec![1, 2]);
        assert_eq!(plan.steps[1].id, "AML.M0003");
        assert_eq!(plan.steps[1].systems, vec![1]);
        // Before: 1 covered of 6. After M1: + A.T1, A.T2, B.T1 = 4 of 6. After M3: 5 of 6.
        assert_eq!(plan.steps[0].coverage_percent_after, Some(400.0 / 6.0));
        assert_eq!(plan.steps[1].coverage_percent_after, Some(500.0 / 6.0));
        assert_eq!(plan.limit, 2);
    }

    #[test]
    fn the_case_study_lens_lists_fully_exposed_incidents_first() {
        let framework = tiny_framework();
        let mut a = system_a(&framework);
        let weights = PriorityWeights::default();
        let lens = case_study_lens(&framework, &analyse(&a, &weights, day(TODAY)).coverage);
        // Everything is open (T4 partially covered counts as exposed).
        assert_eq!(lens.fully_exposed, vec!["AML.CS0002", "AML.CS0003", "AML.CS0001"]);

        // Cover T3 with M3 and mark T2 not applicable.
        a.decisions.to_mut().mitigation_status.insert("AML.M0003".into(), Implemented);
        a.decisions.to_mut().applicability.insert("AML.T0002".into(), Applicability::NotApplicable);
        let lens = case_study_lens(&framework, &analyse(&a, &weights, day(TODAY)).coverage);
        assert_eq!(lens.fully_exposed, vec!["AML.CS0003"]);
        let cs1 = &lens.studies[0];
        assert_eq!((cs1.covered, cs1.exposed, cs1.fully_exposed), (1, 1, false));
        let standings: Vec<StepStanding> = lens.studies[1].steps.iter().map(|s| s.standing).collect();
        assert_eq!(standings, vec![StepStanding::Exposed, StepStanding::NotApplicable]);

        // An accepted risk is not exposed.
        a.decisions.to_mut().acceptances.insert("AML.T0004".into(), day("2026-12-01"));
        let lens = case_study_lens(&framework, &analyse(&a, &weights, day(TODAY)).coverage);
        assert!(lens.fully_exposed.is_empty());
        assert_eq!(lens.studies[2].accepted, 1);
    }
}
