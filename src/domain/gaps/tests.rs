//! Tests of the gap analysis, and the small releases and systems other
//! modules' tests build on.

use std::borrow::Cow;

use super::analysis::{merge_ranked, rank};
use super::recommend::{CandidateKey, settled};
use super::*;
use crate::atlas::Framework;
use crate::atlas::framework::Origin;
use crate::atlas::model::{
    CaseStudy, CaseStudyKind, Maturity, Mitigation, MitigationLink, ProcedureStep, Release, SourceFormat, Tactic,
    Technique,
};
use crate::domain::coverage::{self, ControlInput, CoverageState, Decisions};
use crate::domain::{Applicability, Exposure, ImplementationStatus, Rating};
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
        techniques: techniques.iter().map(|t| MitigationLink { technique: t.to_string(), description: None }).collect(),
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
            study("AML.CS0001", CaseStudyKind::Exercise, &[("AML.TA0001", "AML.T0001"), ("AML.TA0002", "AML.T0003")]),
            study("AML.CS0002", CaseStudyKind::Incident, &[("AML.TA0001", "AML.T0001"), ("AML.TA0001", "AML.T0002")]),
            study("AML.CS0003", CaseStudyKind::Incident, &[("AML.TA0002", "AML.T0004")]),
        ],
    };
    Framework::new(release, Origin::Bundled)
}

/// System A: public, high criticality. T1–T4 apply; T1.000 applies but
/// its risk is accepted; the control "Guard" maps T4 and is in progress.
/// Risks: T1 high, T2 not rated, T3 critical, T4 low.
pub(crate) fn system_a(framework: &Framework) -> AssessedSystem<'_> {
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
    AssessedSystem {
        profile: SystemProfile { id: 1, name: "A", exposure: Exposure::Public, criticality: Rating::High },
        framework,
        decisions: Cow::Owned(decisions),
        coverage: None,
        controls: vec![ControlRef { id: 7, name: "Guard" }],
        detections: Vec::new(),
    }
}

/// System B: internal, low criticality. T1 and T3 apply, T2 is not
/// applicable, M3 is implemented, T4 and T1.000 are not assessed.
fn system_b(framework: &Framework) -> AssessedSystem<'_> {
    let mut decisions = Decisions::default();
    decisions.applicability.insert("AML.T0001".into(), Applicability::Applies);
    decisions.applicability.insert("AML.T0003".into(), Applicability::Applies);
    decisions.applicability.insert("AML.T0002".into(), Applicability::NotApplicable);
    decisions.mitigation_status.insert("AML.M0003".into(), Implemented);
    decisions.controls.push(ControlInput { techniques: vec!["AML.T0004".into()], status: NotStarted });
    AssessedSystem {
        profile: SystemProfile { id: 2, name: "B", exposure: Exposure::Internal, criticality: Rating::Low },
        framework,
        decisions: Cow::Owned(decisions),
        coverage: None,
        controls: vec![ControlRef { id: 7, name: "Guard" }],
        detections: Vec::new(),
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
    assert_eq!(w.detection(crate::domain::DetectionStatus::Detected), 0.5);
    assert_eq!(w.detection(crate::domain::DetectionStatus::Planned), 1.0, "a planned detection sees nothing yet");
    assert_eq!(w.table().len(), 23);
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
        PriorityFactors {
            maturity: 2.0,
            evidence: 1.125,
            exposure: 3.0,
            criticality: 3.0,
            risk: 1.0,
            state: 0.5,
            detection: 1.0,
        }
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
    let system = AssessedSystem {
        profile: SystemProfile { id: 9, name: "Bundled", exposure: Exposure::Partner, criticality: Rating::Medium },
        framework: &framework,
        decisions: Cow::Owned(decisions),
        coverage: None,
        controls,
        detections: Vec::new(),
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
            CandidateKind::Detection => unreachable!("the system keeps no detections"),
        }
        let full = coverage::evaluate(&framework, &decisions, day(TODAY));
        assert_eq!(full.overall, step.counts_after, "after step {}", step.rank);
    }
    let gains: Vec<f64> = plan.steps.iter().map(|s| s.weighted_gap_closed).collect();
    assert!(gains.windows(2).all(|w| w[0] >= w[1]), "greedy gains never grow: {gains:?}");
}

/// The plain greedy loop of the module documentation, with a full
/// evaluation per candidate: the reference the planner must match.
fn reference_plan(systems: &[AssessedSystem], analyses: &[SystemAnalysis], limit: usize) -> Vec<(String, f64)> {
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
                    // These systems keep no detections.
                    CandidateKey::Detection(_) => {}
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
            CandidateKey::Control(id) | CandidateKey::Detection(id) => id.to_string(),
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
            let techniques = framework.techniques().iter().skip(c * 13 + n).step_by(7).take(3).map(|t| t.id.clone());
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
        systems.push(AssessedSystem {
            profile: SystemProfile { id: n as i64, name: system_names[n], exposure, criticality: Rating::ALL[n] },
            framework: &framework,
            decisions: Cow::Owned(decisions),
            coverage: None,
            controls,
            detections: Vec::new(),
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
    let systems: Vec<AssessedSystem> = names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut decisions = Decisions::default();
            for (i, t) in framework.techniques().iter().enumerate() {
                if (i + n) % 3 != 0 {
                    decisions.applicability.insert(t.id.clone(), Applicability::Applies);
                }
            }
            AssessedSystem {
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
                detections: Vec::new(),
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

#[test]
fn gaps_nobody_would_see_rank_before_detected_ones_and_detections_are_recommended() {
    let framework = crate::atlas::bundled::framework();
    // A technique no ATLAS mitigation covers: only a detection can lower its weight.
    let orphan = framework
        .techniques()
        .iter()
        .find(|t| framework.mitigations_for(&t.id).next().is_none())
        .map(|t| t.id.clone())
        .expect("techniques without mitigation exist");
    let mut decisions = Decisions::default();
    for id in ["AML.T0051.000", orphan.as_str()] {
        decisions.applicability.insert(id.to_string(), Applicability::Applies);
    }
    // The direct injection is rated critical but detected; the orphan is low but unseen.
    decisions.risks.insert("AML.T0051.000".into(), Rating::Critical);
    decisions.risks.insert(orphan.clone(), Rating::Low);
    decisions.detection.insert("AML.T0051.000".into(), crate::domain::DetectionStatus::Detected);
    let techniques = vec![orphan.clone()];
    let system = AssessedSystem {
        profile: SystemProfile { id: 1, name: "A", exposure: Exposure::Public, criticality: Rating::High },
        framework: &framework,
        decisions: Cow::Owned(decisions),
        coverage: None,
        controls: Vec::new(),
        detections: vec![DetectionRef { id: 5, name: "Orphan watch", techniques: &techniques }],
    };
    let weights = PriorityWeights::default();
    let analysis = analyse(&system, &weights, day(TODAY));
    let order: Vec<&str> = analysis.gaps.iter().map(|g| g.technique_id).collect();
    assert_eq!(order, [orphan.as_str(), "AML.T0051.000"], "the unseen gap first, though its priority is lower");
    let (unseen, seen) = (&analysis.gaps[0], &analysis.gaps[1]);
    assert!(seen.priority > unseen.priority, "{} vs {}", seen.priority, unseen.priority);
    assert_eq!(seen.factors.detection, 0.5);
    assert_eq!(seen.combined, crate::domain::coverage::CombinedState::DetectedOnly);

    let systems = [system];
    let plan = recommend(&systems, std::slice::from_ref(&analysis), day(TODAY), 50);
    let step = plan.steps.iter().find(|s| s.kind == CandidateKind::Detection).expect("the detection is proposed");
    assert_eq!(step.id, "5");
    assert_eq!(step.weighted_gap_closed, unseen.priority * 0.5, "deploying it halves the gap's weight");
    assert_eq!(step.closes.len(), 1);
    assert!(step.detection_percent_after > plan.detection_percent_before);
}
