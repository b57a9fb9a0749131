//! Bench: the map over time, read from a real SQLite history.
//! - point-in-time coverage of a system whose history holds 10,000 entries
//!   (read the newest entry of each record by then, replay, evaluate), at
//!   three moments;
//! - a one-year daily trend of a team of 100 systems, each with a year of
//!   changes spread over its days (read every history, replay, 365 points).
//!
//! Systems are created through the services; their histories are then
//! written straight into the history table, spread over the year that
//! follows (the history is append-only, so a generated year cannot precede
//! the creation entry: the bench looks a year ahead instead of back).
//!
//! Run: `cargo bench --bench trends`

use std::time::{Duration, Instant};

use atlascope::core::{Core, CoreConfig};
use atlascope::db::history::{NewEntry, append};
use atlascope::domain::history::{Entity, Recorded};
use atlascope::domain::records::{Assessment, StatusRecord};
use atlascope::domain::{Applicability, ImplementationStatus};
use atlascope::service::{self, Actor, systems::SystemInput, teams::TeamInput, trends};
use time::OffsetDateTime;

const SYSTEMS: usize = 100;
const LONG_HISTORY: usize = 10_000;
const YEAR_OF_CHANGES: usize = 600;

/// Writes `count` changes to a system, spread evenly over the year after `now`.
async fn history(core: &Core, team_id: i64, system_id: i64, count: usize, now: OffsetDateTime, seed: usize) {
    let framework = core.catalog.default_release();
    let techniques = framework.techniques();
    let mitigations = framework.mitigations();
    let start = now + time::Duration::seconds(1);
    let mut tx = core.db.begin_write().await.expect("a transaction");
    for i in 0..count {
        let at = start + time::Duration::seconds((365 * 86_400 * i / count) as i64);
        let pick = (i * 7919 + seed * 104_729) % 1_000_003;
        let (entity, item, after) = if i % 4 == 3 {
            let mitigation = &mitigations[pick % mitigations.len()];
            let status =
                [ImplementationStatus::Planned, ImplementationStatus::InProgress, ImplementationStatus::Implemented]
                    [pick % 3];
            let record = StatusRecord { status, version: 1, ..StatusRecord::not_started(&mitigation.id) };
            (Entity::Mitigation, mitigation.id.clone(), Recorded::Status(record))
        } else {
            let technique = &techniques[pick % techniques.len()];
            let applicability =
                [Applicability::Applies, Applicability::NotApplicable, Applicability::Applies][pick % 3];
            let record = Assessment { applicability, version: 1, ..Assessment::unassessed(&technique.id) };
            (Entity::Assessment, technique.id.clone(), Recorded::Assessment(record))
        };
        let entry = NewEntry {
            team_id,
            system_id: Some(system_id),
            actor: "bench",
            at,
            entity,
            item: &item,
            summary: "generated",
            before: None,
            after: Some(&after),
            batch: None,
        };
        append(&mut tx, entry).await.expect("an entry");
    }
    tx.commit().await.expect("commit");
}

fn spread(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    format!("median {:?}, p90 {:?}, max {:?} ({} runs)", at(0.5), at(0.9), times[times.len() - 1], times.len())
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = Core::open(&config).await.expect("the core opens");
    let actor = Actor("bench".into());
    let team = service::teams::create(&core, TeamInput { name: "Bench".into(), description: String::new() }, &actor)
        .await
        .expect("team");
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for n in 0..SYSTEMS {
        let input = SystemInput {
            name: format!("System {n}"),
            exposure: "public".into(),
            criticality: "high".into(),
            ..SystemInput::default()
        };
        let system = service::systems::create(&core, team.id, input, &actor).await.expect("system");
        ids.push(system.id);
    }
    let long = ids[0];
    let year_on = now + time::Duration::days(366);
    let started = Instant::now();
    history(&core, team.id, long, LONG_HISTORY, now, 1).await;
    println!("wrote {LONG_HISTORY} history entries in {:?}", started.elapsed());

    // Moments a quarter, half and a whole year into the history.
    let moments = [now + time::Duration::days(91), now + time::Duration::days(183), year_on];
    let mut times = Vec::new();
    for run in 0..30 {
        let started = Instant::now();
        let (_, coverage) = trends::coverage_at(&core, long, moments[run % moments.len()]).await.expect("coverage");
        times.push(started.elapsed());
        assert_eq!(coverage.overall.total(), core.catalog.default_release().techniques().len());
    }
    println!("point-in-time coverage, {LONG_HISTORY} entries (read + replay + evaluate): {}", spread(times));
    let mut reads = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let entries = atlascope::db::history::latest_records(&core.db, long, team.id, year_on).await.expect("history");
        reads.push(started.elapsed());
        assert!(entries.len() < LONG_HISTORY / 10, "only the newest entry of each record is read");
    }
    println!("  of which reading the newest entry of each record: {}", spread(reads));

    for (n, &id) in ids.iter().enumerate().skip(1) {
        history(&core, team.id, id, YEAR_OF_CHANGES, now, n + 1).await;
    }
    let today = now.date();
    let last = today + time::Duration::days(364);
    let range = trends::Range::parse(Some(&today.to_string()), Some(&last.to_string()), Some("day")).expect("a year");
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let trend = trends::team_trend(&core, team.id, &range).await.expect("trend");
        times.push(started.elapsed());
        assert_eq!(trend.points.len(), 365);
        assert_eq!(trend.systems.len(), SYSTEMS);
    }
    println!(
        "one-year daily team trend, {SYSTEMS} systems, {} history entries in all (read + replay + 365 points): {}",
        LONG_HISTORY + (SYSTEMS - 1) * YEAR_OF_CHANGES,
        spread(times)
    );
}
