//! The case-study lens: each ATLAS case study's procedure steps against a
//! system's coverage, and the studies a system leaves entirely exposed.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use crate::atlas::Framework;
use crate::atlas::model::CaseStudyKind;
use crate::domain::coverage::{CoverageState, SystemCoverage};

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
