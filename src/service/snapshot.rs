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

use super::{ServiceResult, system_context};
use crate::atlas::Framework;
use crate::cluster::{Relay, Signal};
use crate::core::{Core, today};
use crate::db::{self, decisions::StatusKind};
use crate::domain::ImplementationStatus;
use crate::domain::coverage::{self, Decisions, SystemCoverage};
pub use crate::domain::coverage::{CoverageFigures, CoverageReport, TacticCoverage};
use crate::domain::records::{Acceptance, Assessment, Control, Detection, DetectionRecord, StatusRecord, System};
use crate::reports::SystemSource;

#[derive(Clone)]
pub struct Snapshot {
    pub system: System,
    pub framework: Arc<Framework>,
    /// By technique ID.
    pub assessments: HashMap<String, Assessment>,
    /// By mitigation ID.
    pub mitigation_statuses: HashMap<String, StatusRecord>,
    pub controls: Vec<Control>,
    /// By control ID, as text.
    pub control_statuses: HashMap<String, StatusRecord>,
    /// Acceptances in force or expired (withdrawn ones are gone), by technique ID.
    pub acceptances: HashMap<String, Acceptance>,
    /// How each technique is detected, by technique ID (absent: not detected).
    pub detection_statuses: HashMap<String, DetectionRecord>,
    /// The team's detections.
    pub detections: Vec<Detection>,
    /// The records above as the coverage rules take them.
    pub decisions: Decisions,
    pub coverage: SystemCoverage,
    /// The day the coverage was computed for (risk acceptances expire by day).
    computed_on: time::Date,
}

/// The latest snapshot of each system (see the module documentation).
#[derive(Default)]
pub struct SnapshotCache {
    entries: Mutex<HashMap<i64, CacheEntry>>,
    relay: Relay,
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

    /// The cache, with what it forgets also forgotten by the other instances.
    pub fn relaying(relay: Relay) -> SnapshotCache {
        SnapshotCache { relay, ..SnapshotCache::default() }
    }

    /// Forgets a system's snapshot, here and on the other instances; the
    /// next read loads it again.
    pub fn invalidate(&self, system_id: i64) {
        self.relay.send(Signal::Stale { system_id });
        self.invalidate_here(system_id);
    }

    /// Forgets a system's snapshot in this process only.
    pub fn invalidate_here(&self, system_id: i64) {
        let mut entries = self.lock();
        let entry = entries.entry(system_id).or_default();
        entry.generation += 1;
        entry.snapshot = None;
    }

    /// Forgets, in this process, the snapshots of a team's systems (its
    /// controls or detections changed). A system not cached has nothing to
    /// forget; one being loaded is not stored (its generation moves).
    pub fn invalidate_team_here(&self, team_id: i64) {
        for entry in self.lock().values_mut() {
            if entry.snapshot.as_ref().is_none_or(|s| s.system.team_id == team_id) {
                entry.generation += 1;
                entry.snapshot = None;
            }
        }
    }

    /// Forgets every snapshot in this process (changes may have been missed).
    pub fn invalidate_all_here(&self) {
        for entry in self.lock().values_mut() {
            entry.generation += 1;
            entry.snapshot = None;
        }
    }

    /// Applies a committed change to the cached snapshot, if there is one.
    /// Call it while still holding the turn to write. The other instances
    /// hear of the change through the live hub's report of it.
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
    let mut tx = core.db.begin_read().await?;
    let assessments = keyed(db::decisions::assessments(&mut tx, system_id).await?, |a| &a.technique_id);
    let mitigation_statuses =
        keyed(db::decisions::statuses(&mut tx, StatusKind::Mitigation, system_id).await?, |s| &s.item);
    let control_statuses = keyed(db::decisions::statuses(&mut tx, StatusKind::Control, system_id).await?, |s| &s.item);
    let controls = db::controls::list(&mut tx, ctx.system.team_id).await?;
    let acceptances = keyed(db::decisions::acceptances(&mut tx, system_id).await?, |a| &a.technique_id);
    let detection_statuses = keyed(db::detections::statuses(&mut tx, system_id).await?, |d| &d.technique_id);
    let detections = db::detections::list(&mut tx, ctx.system.team_id).await?;
    tx.rollback().await?;

    let mut snapshot = Snapshot {
        system: ctx.system,
        framework: ctx.framework,
        assessments,
        mitigation_statuses,
        controls,
        control_statuses,
        acceptances,
        detection_statuses,
        detections,
        decisions: Decisions::default(),
        coverage: SystemCoverage::default(),
        computed_on: today(),
    };
    snapshot.recompute(today());
    Ok(snapshot)
}

fn keyed<T>(records: Vec<T>, key: impl Fn(&T) -> &String) -> HashMap<String, T> {
    records.into_iter().map(|record| (key(&record).clone(), record)).collect()
}

impl Snapshot {
    /// Applies the coverage rules to the recorded decisions as of `day`.
    fn recompute(&mut self, day: time::Date) {
        self.decisions = Decisions::from_records(
            self.assessments.values(),
            self.mitigation_statuses.values(),
            &self.controls,
            &self.control_statuses,
            self.acceptances.values(),
        )
        .with_detections(self.detection_statuses.values());
        self.coverage = coverage::evaluate(&self.framework, &self.decisions, day);
        self.computed_on = day;
    }

    /// The day [`Snapshot::coverage`] was computed for.
    pub fn computed_on(&self) -> time::Date {
        self.computed_on
    }

    /// The status of a mitigation, or the default when none is stored.
    pub fn mitigation_status(&self, id: &str) -> ImplementationStatus {
        self.mitigation_statuses.get(id).map_or(ImplementationStatus::NotStarted, |s| s.status)
    }

    pub fn control_status(&self, id: i64) -> ImplementationStatus {
        self.control_statuses.get(&id.to_string()).map_or(ImplementationStatus::NotStarted, |s| s.status)
    }

    /// The statuses of one kind, for a writer patching the snapshot.
    pub(crate) fn statuses_mut(&mut self, kind: StatusKind) -> &mut HashMap<String, StatusRecord> {
        match kind {
            StatusKind::Mitigation => &mut self.mitigation_statuses,
            StatusKind::Control => &mut self.control_statuses,
        }
    }

    /// How a technique is detected, or the default when nothing is stored.
    pub fn detection_of(&self, technique: &str) -> DetectionRecord {
        self.detection_statuses.get(technique).cloned().unwrap_or_else(|| DetectionRecord::undetected(technique))
    }

    /// The team's detections mapped to a technique.
    pub fn detections_for<'a>(&'a self, technique: &'a str) -> impl Iterator<Item = &'a Detection> {
        self.detections.iter().filter(move |d| d.techniques.iter().any(|t| t == technique))
    }

    /// The team's controls mapped to a technique.
    pub fn controls_for<'a>(&'a self, technique: &'a str) -> impl Iterator<Item = &'a Control> {
        self.controls.iter().filter(move |c| c.techniques.iter().any(|t| t == technique))
    }

    /// The snapshot as a report's input.
    pub fn source(&self) -> SystemSource<'_> {
        SystemSource {
            system: &self.system,
            framework: &self.framework,
            assessments: &self.assessments,
            mitigation_statuses: &self.mitigation_statuses,
            controls: &self.controls,
            control_statuses: &self.control_statuses,
            acceptances: &self.acceptances,
            detection_statuses: &self.detection_statuses,
            detections: &self.detections,
            decisions: Some(&self.decisions),
            coverage: Some((&self.coverage, self.computed_on)),
        }
    }

    pub fn report(&self) -> CoverageReport {
        CoverageReport::new(self.system.id, &self.framework, &self.coverage)
    }
}
