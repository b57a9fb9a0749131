//! Everything recorded about one system, read consistently, with its
//! coverage computed by the domain rules. Pages, the API and live updates
//! all start from here.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::controls::Control;
use super::systems::System;
use super::{ServiceResult, system_context};
use crate::app::AppState;
use crate::atlas::Framework;
use crate::db::decisions::{AcceptanceRow, AssessmentRow, StatusKind, StatusRow};
use crate::db::{self};
use crate::domain::coverage::{self, ControlInput, Decisions, StateCounts, SystemCoverage};
use crate::domain::{Applicability, ImplementationStatus, date, today};

pub struct Snapshot {
    pub system: System,
    pub framework: Arc<Framework>,
    pub assessments: HashMap<String, AssessmentRow>,
    pub mitigation_statuses: HashMap<String, StatusRow>,
    pub controls: Vec<Control>,
    pub control_statuses: HashMap<String, StatusRow>,
    pub acceptances: HashMap<String, AcceptanceRow>,
    pub coverage: SystemCoverage,
}

pub async fn load(state: &AppState, system_id: i64) -> ServiceResult<Snapshot> {
    let ctx = system_context(state, system_id).await?;
    // One read transaction: a consistent view even while others write.
    let mut tx = state.db.begin().await?;
    let assessments: HashMap<String, AssessmentRow> = db::decisions::assessments(&mut *tx, system_id)
        .await?
        .into_iter()
        .map(|a| (a.technique_id.clone(), a))
        .collect();
    let mitigation_statuses: HashMap<String, StatusRow> =
        db::decisions::statuses(&mut *tx, StatusKind::Mitigation, system_id)
            .await?
            .into_iter()
            .map(|s| (s.item.clone(), s))
            .collect();
    let control_statuses: HashMap<String, StatusRow> =
        db::decisions::statuses(&mut *tx, StatusKind::Control, system_id)
            .await?
            .into_iter()
            .map(|s| (s.item.clone(), s))
            .collect();
    let controls: Vec<Control> =
        db::controls::list(&mut *tx, ctx.system.team_id).await?.into_iter().map(Control::from).collect();
    let acceptances: HashMap<String, AcceptanceRow> = db::decisions::acceptances(&mut *tx, system_id)
        .await?
        .into_iter()
        .map(|a| (a.technique_id.clone(), a))
        .collect();
    tx.rollback().await?;

    let decisions = decisions(&assessments, &mitigation_statuses, &controls, &control_statuses, &acceptances);
    let coverage = coverage::evaluate(&ctx.framework, &decisions, today());
    Ok(Snapshot {
        system: ctx.system.into(),
        framework: ctx.framework,
        assessments,
        mitigation_statuses,
        controls,
        control_statuses,
        acceptances,
        coverage,
    })
}

/// Translates stored rows into the inputs of the coverage rules.
pub fn decisions(
    assessments: &HashMap<String, AssessmentRow>,
    mitigation_statuses: &HashMap<String, StatusRow>,
    controls: &[Control],
    control_statuses: &HashMap<String, StatusRow>,
    acceptances: &HashMap<String, AcceptanceRow>,
) -> Decisions {
    let status = |row: Option<&StatusRow>| {
        row.and_then(|r| ImplementationStatus::parse(&r.status).ok()).unwrap_or(ImplementationStatus::NotStarted)
    };
    Decisions {
        applicability: assessments
            .iter()
            .map(|(id, a)| (id.clone(), Applicability::parse(&a.applicability).unwrap_or(Applicability::Unknown)))
            .collect(),
        mitigation_status: mitigation_statuses.iter().map(|(id, s)| (id.clone(), status(Some(s)))).collect(),
        controls: controls
            .iter()
            .map(|c| ControlInput {
                techniques: c.techniques.clone(),
                status: status(control_statuses.get(&c.id.to_string())),
            })
            .collect(),
        acceptances: acceptances
            .iter()
            .filter_map(|(id, a)| date("expires_on", &a.expires_on).ok().map(|d| (id.clone(), d)))
            .collect(),
    }
}

impl Snapshot {
    /// The status row of a mitigation, or the default when none is stored.
    pub fn mitigation_status(&self, id: &str) -> ImplementationStatus {
        self.mitigation_statuses
            .get(id)
            .and_then(|s| ImplementationStatus::parse(&s.status).ok())
            .unwrap_or(ImplementationStatus::NotStarted)
    }

    pub fn control_status(&self, id: i64) -> ImplementationStatus {
        self.control_statuses
            .get(&id.to_string())
            .and_then(|s| ImplementationStatus::parse(&s.status).ok())
            .unwrap_or(ImplementationStatus::NotStarted)
    }

    /// The team's controls mapped to a technique.
    pub fn controls_for<'a>(&'a self, technique: &'a str) -> impl Iterator<Item = &'a Control> {
        self.controls.iter().filter(move |c| c.techniques.iter().any(|t| t == technique))
    }

    pub fn report(&self) -> CoverageReport {
        CoverageReport {
            system_id: self.system.id,
            framework_version: self.framework.version().to_string(),
            overall: CoverageFigures::from(self.coverage.overall),
            tactics: self
                .framework
                .tactics()
                .iter()
                .zip(&self.coverage.per_tactic)
                .map(|(tactic, counts)| TacticCoverage {
                    tactic_id: tactic.id.clone(),
                    name: tactic.name.clone(),
                    figures: CoverageFigures::from(*counts),
                })
                .collect(),
        }
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageReport {
    pub system_id: i64,
    pub framework_version: String,
    pub overall: CoverageFigures,
    /// In matrix order; a technique counts under every tactic it belongs to.
    pub tactics: Vec<TacticCoverage>,
}
