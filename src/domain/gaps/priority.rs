//! A gap's priority: the weighted factors, their product, and the weights
//! table reports show.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::atlas::Framework;
use crate::atlas::model::{Maturity, Technique};
use crate::domain::coverage::CoverageState;
use crate::domain::{DetectionStatus, Exposure, Rating};

/// The formula of [`PriorityWeights::factors`] and [`PriorityFactors::product`], as shown in reports.
pub const FORMULA: &str = "priority = maturity × evidence × exposure × criticality × risk × state × detection, \
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
    /// Factor of a gap the SOC partly detects (an undetected gap weighs 1).
    #[serde(default = "partly_detected")]
    pub detection_partial: f64,
    /// Factor of a gap the SOC detects: still open, seen when it happens.
    #[serde(default = "detected")]
    pub detection_detected: f64,
}

fn partly_detected() -> f64 {
    0.75
}

fn detected() -> f64 {
    0.5
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
            detection_partial: partly_detected(),
            detection_detected: detected(),
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
    pub detection: f64,
}

impl PriorityFactors {
    pub fn product(&self) -> f64 {
        self.base() * self.detection
    }

    /// The product without the detection factor: what the gap weighs while nobody detects it.
    pub fn base(&self) -> f64 {
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

    /// 1 for a gap nobody detects (or only plans to), less for one the SOC
    /// partly or fully detects.
    pub fn detection(&self, status: DetectionStatus) -> f64 {
        match status {
            DetectionStatus::None | DetectionStatus::Planned => 1.0,
            DetectionStatus::Partial => self.detection_partial,
            DetectionStatus::Detected => self.detection_detected,
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
        detection: DetectionStatus,
    ) -> PriorityFactors {
        PriorityFactors {
            maturity: self.maturity(technique.maturity),
            evidence: self.evidence(framework.case_study_count(&technique.id)),
            exposure: self.exposure(system.exposure),
            criticality: self.criticality(system.criticality),
            risk: self.risk(risk),
            state: self.state(state),
            detection: self.detection(detection),
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
            row("detection", "not detected, planned", 1.0),
            row("detection", "partly detected", self.detection_partial),
            row("detection", "detected", self.detection_detected),
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
