//! Bench: previewing an uploaded CSV or Navigator layer against a system,
//! for growing files, to show the cost grows linearly with the file (the
//! time per row stays flat). Each file repeats one technique with its own
//! rationale or comment, the worst case for the preview's bookkeeping: every
//! repeated CSV row is an error to name, every layer comment one to keep.
//!
//! Run: `cargo bench --bench import_preview`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use atlascope::atlas::bundled;
use atlascope::domain::records::System;
use atlascope::domain::{Exposure, Rating};
use atlascope::reports::SystemSource;
use atlascope::reports::import::{preview_csv, preview_navigator};

const SIZES: [usize; 4] = [5_000, 10_000, 20_000, 40_000];
const RUNS: usize = 5;

fn csv(rows: usize) -> Vec<u8> {
    let mut csv = String::from("technique_id,applicability,rationale\n");
    for n in 0..rows {
        csv.push_str(&format!("AML.T0051,applies,\"row {n}, with a quoted\nline break\"\n"));
    }
    csv.into_bytes()
}

fn layer(entries: usize) -> Vec<u8> {
    let techniques: Vec<serde_json::Value> = (0..entries)
        .map(|n| serde_json::json!({"techniqueID": "AML.T0051", "score": 1, "comment": format!("comment {n}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"name": "bench", "domain": "atlas-atlas", "techniques": techniques}))
        .expect("JSON")
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let framework = bundled::framework();
    let system = System {
        id: 1,
        team_id: 1,
        name: "Bench".into(),
        description: String::new(),
        owner: String::new(),
        platforms: Vec::new(),
        exposure: Exposure::Public,
        criticality: Rating::High,
        framework_version: framework.version().to_string(),
        version: 1,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    let (assessments, statuses, acceptances) = (HashMap::new(), HashMap::new(), HashMap::new());
    let source = SystemSource {
        system: &system,
        framework: &framework,
        assessments: &assessments,
        mitigation_statuses: &statuses,
        controls: &[],
        control_statuses: &statuses,
        acceptances: &acceptances,
        detection_statuses: &HashMap::new(),
        detections: &[],
        decisions: None,
        coverage: None,
    };
    let loaded = [framework.version()];
    println!("{:>8}  {:>12}  {:>14}  {:>12}  {:>14}", "rows", "CSV", "CSV per row", "layer", "layer per entry");
    for size in SIZES {
        let (csv, layer) = (csv(size), layer(size));
        let time = |run: &dyn Fn()| {
            median(
                (0..RUNS)
                    .map(|_| {
                        let started = Instant::now();
                        run();
                        started.elapsed()
                    })
                    .collect(),
            )
        };
        let csv_time = time(&|| {
            black_box(preview_csv(&csv, &source).expect("a preview"));
        });
        let layer_time = time(&|| {
            black_box(preview_navigator(&layer, &source, &loaded).expect("a preview"));
        });
        println!(
            "{size:>8}  {:>9.1} ms  {:>11.2} µs  {:>9.1} ms  {:>11.2} µs",
            csv_time.as_secs_f64() * 1e3,
            csv_time.as_secs_f64() * 1e6 / size as f64,
            layer_time.as_secs_f64() * 1e3,
            layer_time.as_secs_f64() * 1e6 / size as f64,
        );
    }
}
