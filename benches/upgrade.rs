//! Bench: the release upgrade. Loads the official 5.6.0 file from
//! `../shared/atlas`, creates a team of 100 systems pinned to it, each with
//! every technique decided (a mix of applies and not applicable, risks and
//! rationales), a third of the mitigations given a status and a risk
//! acceptance; then times the preview of one system's upgrade to the
//! bundled 2026.05 and applying the upgrade to the whole team.
//!
//! Targets: preview under 50 ms, the team of 100 under 1 s.
//!
//! Run: `cargo bench --bench upgrade`

use std::time::{Duration, Instant};

use atlascope::core::{Core, CoreConfig};
use atlascope::domain::records::{AssessmentChange, StatusChange};
use atlascope::domain::{Applicability, ImplementationStatus, Rating};
use atlascope::service::decisions::{self, AcceptanceInput};
use atlascope::service::upgrade::{self, UpgradeRequest};
use atlascope::service::{Actor, systems, systems::SystemInput, teams, teams::TeamInput};

const SYSTEMS: usize = 100;

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/atlas/ATLAS-5.6.0.yaml");
    let Ok(bytes) = std::fs::read(&file) else {
        eprintln!("{} is absent: the upgrade bench needs the official file", file.display());
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = Core::open(&config).await.expect("the core opens");
    atlascope::releases::add_release_file(&core.db, &core.catalog, &bytes, "ATLAS-5.6.0.yaml", None)
        .await
        .expect("5.6.0 loads");
    let old = core.catalog.get("5.6.0").expect("loaded");
    let actor = Actor("bench".into());
    let team = teams::create(&core, TeamInput { name: "Bench".into(), description: String::new() }, &actor)
        .await
        .expect("team");
    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..SYSTEMS {
        let input = SystemInput {
            name: format!("System {n:03}"),
            platforms: vec!["Generative AI".into()],
            exposure: "public".into(),
            criticality: "high".into(),
            framework_version: Some("5.6.0".into()),
            ..SystemInput::default()
        };
        let id = systems::create(&core, team.id, input, &actor).await.expect("system").id;
        let changes: Vec<(String, AssessmentChange)> = old
            .techniques()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let applicability =
                    if (i + n) % 4 == 0 { Applicability::NotApplicable } else { Applicability::Applies };
                let risk = Some([Rating::Low, Rating::Medium, Rating::High][(i + n) % 3]);
                (
                    t.id.clone(),
                    AssessmentChange {
                        applicability: Some(applicability),
                        risk: Some(risk),
                        rationale: Some(format!("reason {i}")),
                    },
                )
            })
            .collect();
        decisions::set_assessments(&core, id, &changes, &actor).await.expect("assessed");
        for mitigation in old.mitigations().iter().step_by(3) {
            let change = StatusChange { status: Some(ImplementationStatus::Implemented), ..StatusChange::default() };
            decisions::set_mitigation_status(&core, id, &mitigation.id, change, None, &actor).await.expect("status");
        }
        let accept =
            AcceptanceInput { justification: "bench".into(), accepted_by: None, expires_on: "2099-01-01".into() };
        decisions::set_acceptance(&core, id, &old.techniques()[1].id, accept, None, &actor).await.expect("accepted");
        ids.push(id);
    }
    println!(
        "{SYSTEMS} systems on 5.6.0, {} techniques each decided, built in {}",
        old.techniques().len(),
        ms(started.elapsed())
    );

    let preview = UpgradeRequest { to: "2026.05".into(), ..UpgradeRequest::default() };
    let mut samples = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let outcome = upgrade::upgrade(&core, ids[0], &preview, &actor).await.expect("preview");
        samples.push(started.elapsed());
        std::hint::black_box(outcome);
    }
    samples.sort();
    println!(
        "preview of one system's upgrade to 2026.05: median {}, max {} (target under 50 ms)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    );

    let apply = UpgradeRequest { apply: true, ..preview };
    let started = Instant::now();
    let outcome = upgrade::upgrade_team(&core, team.id, &apply, &actor).await.expect("team upgrade");
    let took = started.elapsed();
    assert_eq!(outcome.systems.len(), SYSTEMS, "every system upgraded: {:?}", outcome.skipped);
    println!(
        "applying the upgrade to the team of {SYSTEMS} systems: {} ({}; target under 1 s)",
        ms(took),
        if took < Duration::from_secs(1) { "within" } else { "OVER" }
    );
}
