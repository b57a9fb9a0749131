//! Bench: the coverage of a fully assessed system (all 170 techniques of the
//! bundled release decided, every mitigation given a status, 40 team controls,
//! 20 risk acceptances), computed by the pure domain rules.
//!
//! Run: `cargo bench --bench coverage`

use std::hint::black_box;
use std::time::{Duration, Instant};

use atlascope::atlas::bundled;
use atlascope::domain::coverage::{ControlInput, Decisions, evaluate};
use atlascope::domain::{Applicability, ImplementationStatus, date};

fn main() {
    let framework = bundled::framework();
    let statuses = ImplementationStatus::ALL;
    let mut decisions = Decisions::default();
    for (i, technique) in framework.techniques().iter().enumerate() {
        let applicability = if i % 5 == 0 { Applicability::NotApplicable } else { Applicability::Applies };
        decisions.applicability.insert(technique.id.clone(), applicability);
        if i % 9 == 0 {
            decisions.acceptances.insert(technique.id.clone(), date("bench", "2027-06-30").expect("a date"));
        }
    }
    for (i, mitigation) in framework.mitigations().iter().enumerate() {
        decisions.mitigation_status.insert(mitigation.id.clone(), statuses[i % statuses.len()]);
    }
    for i in 0..40 {
        let techniques = framework.techniques().iter().skip(i * 4).take(5).map(|t| t.id.clone()).collect();
        decisions.controls.push(ControlInput { techniques, status: statuses[i % statuses.len()] });
    }
    let today = date("bench", "2026-11-25").expect("a date");

    for _ in 0..200 {
        black_box(evaluate(&framework, &decisions, today));
    }
    let runs = 5_000;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let coverage = evaluate(&framework, black_box(&decisions), today);
        samples.push(started.elapsed());
        black_box(coverage);
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / runs as u32;
    let at = |q: f64| samples[((runs as f64 * q) as usize).min(runs - 1)];
    let coverage = evaluate(&framework, &decisions, today);
    println!("coverage of a fully assessed system ({} techniques), {runs} runs:", coverage.states.len());
    println!("  mean {mean:?}   median {:?}   p99 {:?}   max {:?}", at(0.5), at(0.99), samples[runs - 1]);
    println!("  states: {:?}", coverage.overall);
}
