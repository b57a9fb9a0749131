//! Everything recorded about one system, read consistently, with its
//! coverage computed by the domain rules. Pages, the API and live updates
//! all start from here.
//!
//! Snapshots are cached per system. Writers patch the cached copy while they
//! still hold their turn to write (so patches apply in commit order) or drop
//! it; a reader that loaded from the database only stores its copy when no
//! writer touched the system meanwhile (a generation counter per system).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use utoipa::ToSchema;

use super::controls::Control;
use super::systems::System;
use super::{ServiceResult, system_context};
use crate::atlas::Framework;
use crate::core::Core;
use crate::db::decisions::{AcceptanceRow, AssessmentRow, StatusKind, StatusRow};
use crate::db::{self};
use crate::domain::coverage::{self, ControlInput, Decisions, StateCounts, SystemCoverage};
use crate::domain::{Applicability, ImplementationStatus, Rating, date, today};

#[derive(Clone)]
pub struct Snapshot {
    pub system: System,
    pub framework: Arc<Framework>,
    pub assessments: HashMap<String, AssessmentRow>,
    pub mitigation_statuses: HashMap<String, StatusRow>,
    pub controls: Vec<Control>,
    pub control_statuses: HashMap<String, StatusRow>,
    pub acceptances: HashMap<String, AcceptanceRow>,
    /// The rows above as the coverage rules take them.
    pub decisions: Decisions,
    pub coverage: SystemCoverage,
    /// The day the coverage was computed for (risk acceptances expire by day).
    computed_on: time::Date,
}

/// The latest snapshot of each system (see the module documentation).
#[derive(Default)]
pub struct SnapshotCache {
    entries: Mutex<HashMap<i64, CacheEntry>>,
}

#[derive(Default)]
struct CacheEntry {
    generation: u64,
    catalog_generation: u64,
    snapshot: Option<Arc<Snapshot>>,
}

impl SnapshotCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CacheEntry>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets a system's snapshot; the next read loads it again.
    pub fn invalidate(&self, system_id: i64) {
        let mut entries = self.lock();
        let entry = entries.entry(system_id).or_default();
        entry.generation += 1;
        entry.snapshot = None;
    }

    /// Applies a committed change to the cached snapshot, if there is one.
    /// Call it while still holding the turn to write.
    pub fn patch(&self, system_id: i64, change: impl FnOnce(&mut Snapshot)) {
        let mut entries = self.lock();
        let entry = entries.entry(system_id).or_default();
        entry.generation += 1;
        if let Some(cached) = entry.snapshot.take() {
            let mut snapshot = Arc::unwrap_or_clone(cached);
            change(&mut snapshot);
            snapshot.recompute(today());
            entry.snapshot = Some(Arc::new(snapshot));
        }
    }

    pub(crate) fn get(&self, system_id: i64, catalog_generation: u64) -> (u64, Option<Arc<Snapshot>>) {
        let entries = self.lock();
        match entries.get(&system_id) {
            Some(entry) if entry.catalog_generation == catalog_generation => (entry.generation, entry.snapshot.clone()),
            Some(entry) => (entry.generation, None),
            None => (0, None),
        }
    }

    fn store(&self, system_id: i64, seen_generation: u64, catalog_generation: u64, snapshot: Arc<Snapshot>) {
        let mut entries = self.lock();
        let entry = entries.entry(system_id).or_default();
        if entry.generation == seen_generation {
            entry.catalog_generation = catalog_generation;
            entry.snapshot = Some(snapshot);
        }
    }
}

/// The system's snapshot, from the cache or the database.
pub async fn load(core: &Core, system_id: i64) -> ServiceResult<Arc<Snapshot>> {
    let catalog_generation = core.catalog.generation();
    let (generation, cached) = core.snapshots.get(system_id, catalog_generation);
    if let Some(snapshot) = cached {
        if snapshot.computed_on == today() {
            return Ok(snapshot);
        }
        let mut fresh = Arc::unwrap_or_clone(snapshot);
        fresh.recompute(today());
        return Ok(Arc::new(fresh));
    }
    let snapshot = Arc::new(load_from_database(core, system_id).await?);
    core.snapshots.store(system_id, generation, catalog_generation, snapshot.clone());
    Ok(snapshot)
}

async fn load_from_database(core: &Core, system_id: i64) -> ServiceResult<Snapshot> {
    let ctx = system_context(core, system_id).await?;
    // One read transaction: a consistent view even while others write.
    let mut tx = core.db.begin().await?;
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

    let mut snapshot = Snapshot {
        system: ctx.system.into(),
        framework: ctx.framework,
        assessments,
        mitigation_statuses,
        controls,
        control_statuses,
        acceptances,
        decisions: Decisions::default(),
        coverage: SystemCoverage { states: Vec::new(), overall: StateCounts::default(), per_tactic: Vec::new() },
        computed_on: today(),
    };
    snapshot.recompute(today());
    Ok(snapshot)
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
        risks: assessments
            .iter()
            .filter_map(|(id, a)| a.risk.as_deref().and_then(|r| Rating::parse(r).ok()).map(|r| (id.clone(), r)))
            .collect(),
    }
}

impl Snapshot {
    /// Applies the coverage rules to the recorded decisions as of `day`.
    fn recompute(&mut self, day: time::Date) {
        self.decisions = decisions(
            &self.assessments,
            &self.mitigation_statuses,
            &self.controls,
            &self.control_statuses,
            &self.acceptances,
        );
        self.coverage = coverage::evaluate(&self.framework, &self.decisions, day);
        self.computed_on = day;
    }

    /// The day [`Snapshot::coverage`] was computed for.
    pub fn computed_on(&self) -> time::Date {
        self.computed_on
    }

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
