//! One system's gaps ranked by priority, and the same across several
//! systems: a portfolio with its systems × tactics heat map.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::priority::{PriorityFactors, PriorityWeights, SystemProfile};
use crate::atlas::Framework;
use crate::atlas::model::Maturity;
use crate::domain::coverage::{self, CombinedState, CoverageState, Decisions, StateCounts, SystemCoverage};
use crate::domain::{DetectionStatus, Exposure, Rating};

/// A team control as recommendations name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRef<'a> {
    pub id: i64,
    pub name: &'a str,
}

/// One system as the gap analysis sees it.
#[derive(Debug, Clone)]
pub struct AssessedSystem<'a> {
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
    /// The team's detections, which recommendations may propose deploying.
    pub detections: Vec<DetectionRef<'a>>,
}

/// A team detection as recommendations see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionRef<'a> {
    pub id: i64,
    pub name: &'a str,
    pub techniques: &'a [String],
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
    /// The parent's name, to name a sub-technique in full.
    pub parent_name: Option<&'a str>,
    /// Tactic IDs, in the release's order for the technique.
    pub tactics: &'a [String],
    pub state: CoverageState,
    /// How the SOC detects it.
    pub detection: DetectionStatus,
    /// Prevention and detection together: gaps neither prevented nor detected rank first.
    pub combined: CombinedState,
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
    /// The same without the detection factor: what each gap weighs undetected.
    pub undetected_priorities: Vec<f64>,
    /// The detection factor of a detected gap, for recommendations.
    pub detected_factor: f64,
}

impl SystemAnalysis<'_> {
    /// The summed priority of every open gap.
    pub fn weighted_gap(&self) -> f64 {
        self.gaps.iter().map(|g| g.priority).sum()
    }
}

/// Ranks gaps neither prevented nor detected first, then by priority,
/// highest first; the sort is stable, so ties keep input order.
pub(super) fn rank(gaps: &mut [RankedGap<'_>]) {
    gaps.sort_by(|a, b| seen(a).cmp(&seen(b)).then(b.priority.total_cmp(&a.priority)));
}

/// False for a gap nobody would see happen: those rank first.
fn seen(gap: &RankedGap<'_>) -> bool {
    gap.combined != CombinedState::Neither
}

/// Merges rankings (each highest priority first, as [`rank`] leaves them)
/// into one, exactly as ranking their concatenation would: equal priorities
/// keep the order of the lists, then their order within a list. Each gap
/// moves once, where a sort of the concatenation would move it many times.
pub(super) fn merge_ranked(lists: Vec<Vec<RankedGap<'_>>>) -> Vec<RankedGap<'_>> {
    /// A list's next gap: unseen first, then higher priority, then the earlier list.
    struct Head(bool, f64, usize);
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
            other.0.cmp(&self.0).then(self.1.total_cmp(&other.1)).then(other.2.cmp(&self.2))
        }
    }
    let mut merged = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    let mut lists: Vec<std::iter::Peekable<std::vec::IntoIter<RankedGap>>> =
        lists.into_iter().map(|l| l.into_iter().peekable()).collect();
    let mut heads: std::collections::BinaryHeap<Head> =
        lists.iter_mut().enumerate().filter_map(|(i, l)| l.peek().map(|g| Head(seen(g), g.priority, i))).collect();
    while let Some(Head(_, _, i)) = heads.pop() {
        merged.extend(lists[i].next());
        if let Some(next) = lists[i].peek() {
            heads.push(Head(seen(next), next.priority, i));
        }
    }
    merged
}

/// Evaluates one system and ranks its gaps.
pub fn analyse<'a>(system: &AssessedSystem<'a>, weights: &PriorityWeights, today: time::Date) -> SystemAnalysis<'a> {
    let framework = system.framework;
    let coverage = match system.coverage {
        Some(computed) => computed.clone(),
        None => coverage::evaluate(framework, &system.decisions, today),
    };
    let mut priorities = vec![0.0; coverage.states.len()];
    let mut undetected_priorities = vec![0.0; coverage.states.len()];
    let mut gaps: Vec<RankedGap> = Vec::with_capacity(coverage.overall.open_gaps());
    let open = framework
        .techniques()
        .iter()
        .zip(&coverage.states)
        .zip(priorities.iter_mut().zip(&mut undetected_priorities))
        .filter(|((_, s), _)| s.is_gap());
    for ((technique, &state), (priority, undetected)) in open {
        let risk = system.decisions.risks.get(technique.id.as_str()).copied();
        let detection = system.decisions.detection_of(&technique.id);
        let factors = weights.factors(framework, technique, &system.profile, risk, state, detection);
        *priority = factors.product();
        *undetected = factors.base();
        gaps.push(RankedGap {
            system_id: system.profile.id,
            system_name: system.profile.name,
            technique_id: &technique.id,
            technique_name: &technique.name,
            parent: technique.parent.as_deref(),
            parent_name: technique.parent.as_deref().and_then(|p| framework.technique(p)).map(|p| p.name.as_str()),
            tactics: &technique.tactics,
            state,
            detection,
            combined: coverage::combined_state(state, detection),
            maturity: technique.maturity,
            case_studies: framework.case_study_count(&technique.id),
            risk,
            priority: *priority,
            factors,
        });
    }
    rank(&mut gaps);
    SystemAnalysis { coverage, gaps, priorities, undetected_priorities, detected_factor: weights.detection_detected }
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
pub struct PortfolioEntry<'a> {
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
    pub systems: Vec<PortfolioEntry<'a>>,
    /// Every system's counts added up.
    pub counts: StateCounts,
    pub coverage_percent: Option<f64>,
    /// Every gap of every system, highest priority first.
    pub gaps: Vec<RankedGap<'a>>,
    pub heat_map: HeatMap<'a>,
}

/// Combines the analyses of several systems (`analyses[i]` is of
/// `systems[i]`); their gaps move into the combined ranking.
pub fn portfolio<'a>(systems: &[AssessedSystem<'a>], analyses: Vec<SystemAnalysis<'a>>) -> Portfolio<'a> {
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
        summaries.push(PortfolioEntry {
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
