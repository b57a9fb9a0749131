//! Greedy recommendations: the ATLAS mitigations, team controls and team
//! detections that close the most weighted gap, picked one at a time and
//! ranked again after each pick.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::analysis::{AssessedSystem, SystemAnalysis};
use crate::atlas::Framework;
use crate::domain::coverage::{self, CombinedCounts, CoverageState, StateCounts};
use crate::domain::{Applicability, DetectionStatus, ImplementationStatus};

/// What kind of measure a recommendation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateKind {
    /// An ATLAS mitigation (`id` is its ATLAS ID).
    Mitigation,
    /// One of the team's own controls (`id` is its numeric ID).
    Control,
    /// One of the team's detections, deployed where its techniques are not
    /// yet detected (`id` is its numeric ID): the gap stays open but is
    /// seen, so its weight drops by the detection factor.
    Detection,
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
    /// The weighted gap the step takes away: the whole priority for a
    /// prevention, the part the detection factor removes for a detection.
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
    /// Detected ÷ the coverage denominator once this and every earlier step is in place.
    pub detection_percent_after: Option<f64>,
    /// Gaps neither prevented nor detected left after this step.
    pub neither_after: usize,
}

/// "The next mitigations that close the most risk".
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Recommendations<'a> {
    /// The most steps asked for.
    pub limit: usize,
    pub counts_before: StateCounts,
    pub coverage_percent_before: Option<f64>,
    pub detection_percent_before: Option<f64>,
    pub neither_before: usize,
    pub weighted_gap_before: f64,
    pub steps: Vec<RecommendationStep<'a>>,
}

/// Default number of recommendation steps.
pub const DEFAULT_RECOMMENDATIONS: usize = 5;

/// A candidate's identity; the derived order (mitigations first, then
/// controls, each by ID) breaks ties between equal gains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum CandidateKey<'a> {
    Mitigation(&'a str),
    Control(i64),
    Detection(i64),
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
    Detection,
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
    input: &'r AssessedSystem<'a>,
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
    /// Techniques detected, by the recorded decisions or the plan.
    detected: Vec<bool>,
    /// Priority of each gap were it not detected.
    undetected: Vec<f64>,
    detected_factor: f64,
    /// Technique positions of each of the team's detections, in the order of `input.detections`.
    detection_positions: &'r [Vec<usize>],
}

/// Technique positions of each of a system's detections, in the order of `detections`.
fn detection_positions(input: &AssessedSystem, release: &ReleaseIndex) -> Vec<Vec<usize>> {
    input.detections.iter().map(|d| positions(&release.position, d.techniques.iter().map(String::as_str))).collect()
}

/// Technique positions of each of a system's controls, in the order of `decisions.controls`.
fn control_positions(input: &AssessedSystem, release: &ReleaseIndex) -> Vec<Vec<usize>> {
    input
        .decisions
        .controls
        .iter()
        .map(|control| positions(&release.position, control.techniques.iter().map(String::as_str)))
        .collect()
}

impl<'a, 'r> Working<'a, 'r> {
    fn new(
        input: &'r AssessedSystem<'a>,
        (release, release_at): (&'r ReleaseIndex<'a>, usize),
        analysis: &SystemAnalysis,
        (control_positions, detection_positions): (&'r [Vec<usize>], &'r [Vec<usize>]),
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
            detected: release
                .framework
                .techniques()
                .iter()
                .map(|t| input.decisions.detection_of(&t.id) == DetectionStatus::Detected)
                .collect(),
            undetected: analysis.undetected_priorities.clone(),
            detected_factor: analysis.detected_factor,
            detection_positions,
        }
    }

    /// The weighted gap detecting technique `t` would take away now.
    fn detection_gain(&self, t: usize) -> f64 {
        if !self.states[t].is_gap() || self.detected[t] {
            return 0.0;
        }
        (self.priority[t] - self.undetected[t] * self.detected_factor).max(0.0)
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
pub(super) fn settled(status: ImplementationStatus) -> bool {
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
    let mut detection_slots: HashMap<i64, usize> = HashMap::new();
    for (s, work) in systems.iter().enumerate() {
        for (i, detection) in work.input.detections.iter().enumerate() {
            let techniques: &'r [usize] = &work.detection_positions[i];
            if techniques.iter().all(|&t| work.detected[t]) {
                continue;
            }
            let at = *detection_slots
                .entry(detection.id)
                .or_insert_with(|| slot(CandidateKey::Detection(detection.id), detection.name));
            placements.push((at, Placement { system: s, slot: Slot::Detection, techniques }));
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
            if matches!(placement.slot, Slot::Detection) {
                let gain = work.detection_gain(t);
                if gain > 0.0 {
                    weight += gain;
                    closed += 1;
                }
            } else if work.states[t].is_gap() {
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

/// Prevention with detection over every system, as the plan leaves them.
fn combined_counts(systems: &[Working]) -> CombinedCounts {
    let mut counts = CombinedCounts::default();
    for work in systems {
        for (&state, &detected) in work.states.iter().zip(&work.detected) {
            let detection = if detected { DetectionStatus::Detected } else { DetectionStatus::None };
            counts.add(coverage::combined_state(state, detection));
        }
    }
    counts
}

/// Greedily picks up to `limit` mitigations and controls that close the
/// most weighted gap across the systems (`analyses[i]` is of `systems[i]`,
/// computed for the same day). Picks are exactly those of the plain greedy
/// loop described in the module documentation; gains are recomputed lazily.
pub fn recommend<'a>(
    systems: &[AssessedSystem<'a>],
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
    let detection_positions: Vec<Vec<Vec<usize>>> = systems
        .iter()
        .zip(&release_of)
        .map(|(system, &release)| detection_positions(system, &releases[release]))
        .collect();
    let mut working: Vec<Working> = systems
        .iter()
        .zip(analyses)
        .zip(&release_of)
        .zip(control_positions.iter().zip(&detection_positions))
        .map(|(((system, analysis), &release), (controls, detections))| {
            Working::new(system, (&releases[release], release), analysis, (controls, detections))
        })
        .collect();
    let mut remaining = candidates(&working, &releases);
    let counts_before = total_counts(&working);
    let combined_before = combined_counts(&working);
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
                (Slot::Detection, _) => {
                    on_systems.push(work.input.profile.id);
                    for &t in placement.techniques.iter() {
                        let gain = work.detection_gain(t);
                        work.detected[t] = true;
                        if gain <= 0.0 {
                            continue;
                        }
                        work.priority[t] -= gain;
                        let technique = &work.release.framework.techniques()[t];
                        closes.push(ClosedGap {
                            system_id: work.input.profile.id,
                            system_name: work.input.profile.name,
                            technique_id: &technique.id,
                            technique_name: &technique.name,
                            state: work.states[t],
                            priority: gain,
                        });
                    }
                    continue;
                }
                // Mitigation placements only ever belong to mitigation keys.
                (Slot::Mitigation, CandidateKey::Control(_) | CandidateKey::Detection(_)) => continue,
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
        let combined_after = combined_counts(&working);
        let (kind, id) = match candidate.key {
            CandidateKey::Mitigation(id) => (CandidateKind::Mitigation, id.to_string()),
            CandidateKey::Control(id) => (CandidateKind::Control, id.to_string()),
            CandidateKey::Detection(id) => (CandidateKind::Detection, id.to_string()),
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
            detection_percent_after: combined_after.detection_percent(),
            neither_after: combined_after.neither,
            counts_after,
        });
    }

    Recommendations {
        limit,
        coverage_percent_before: counts_before.coverage_percent(),
        detection_percent_before: combined_before.detection_percent(),
        neither_before: combined_before.neither,
        counts_before,
        weighted_gap_before,
        steps,
    }
}
