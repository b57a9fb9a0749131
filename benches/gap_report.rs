//! Bench: the gap report of a whole team (ranked gaps across systems, the
//! systems × tactics heat map, greedy recommendations across systems and the
//! case-study lens of every system), built by the pure report code for 10,
//! 100 and 1,000 systems assessed against the 170 techniques of the bundled
//! release. A data generator gives every system its own mix of decisions:
//! most techniques decided, every mitigation given a status, a share of the
//! team's 40 controls in place, and some risk acceptances.
//!
//! The target is under 200 ms for 1,000 systems (the report as the team
//! overview, the Markdown and HTML exports and the team JSON use it, without
//! per-technique rows). The bench also times the report with technique rows
//! (what the CSV and Navigator exports need) and rendering it as HTML and
//! JSON, and prints how the time grows with the number of systems.
//!
//! Run: `cargo bench --bench gap_report`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use time::Date;

use atlascope::atlas::{Framework, bundled};
use atlascope::domain::coverage::{Decisions, SystemCoverage, evaluate};
use atlascope::domain::records::{Acceptance, Assessment, Changed, Control, StatusRecord, System};
use atlascope::domain::{Applicability, Exposure, ImplementationStatus, Rating, date};
use atlascope::reports::{self, ReportFormat, ReportOptions, SystemSource, TeamRef};

const SIZES: [usize; 3] = [10, 100, 1_000];
const TEAM_CONTROLS: usize = 40;
const TARGET: Duration = Duration::from_millis(200);

/// One generated system's records, owned (what a snapshot holds).
struct GeneratedSystem {
    system: System,
    assessments: HashMap<String, Assessment>,
    mitigation_statuses: HashMap<String, StatusRecord>,
    control_statuses: HashMap<String, StatusRecord>,
    acceptances: HashMap<String, Acceptance>,
    detection_statuses: HashMap<String, atlascope::domain::records::DetectionRecord>,
    /// What a cached snapshot keeps beside the rows: the decisions as the
    /// coverage rules take them, and the coverage computed for the day.
    decisions: Decisions,
    coverage: SystemCoverage,
}

/// A small deterministic generator (xorshift), so every run sees the same data.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn team_controls(framework: &Framework, random: &mut Random) -> Vec<Control> {
    let techniques = framework.techniques();
    (0..TEAM_CONTROLS)
        .map(|i| Control {
            id: 1_000 + i as i64,
            team_id: 1,
            name: format!("Control {i}"),
            description: String::new(),
            techniques: (0..1 + random.below(5))
                .map(|_| techniques[random.below(techniques.len())].id.clone())
                .collect(),
            version: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        })
        .collect()
}

fn generate_system(
    framework: &Framework,
    controls: &[Control],
    n: usize,
    today: Date,
    random: &mut Random,
) -> GeneratedSystem {
    const RATIONALES: [&str; 4] =
        ["", "Public endpoint", "Reviewed in the March workshop", "Vendor model, no training"];
    const STATUSES: [ImplementationStatus; 5] = [
        ImplementationStatus::NotStarted,
        ImplementationStatus::Planned,
        ImplementationStatus::InProgress,
        ImplementationStatus::Implemented,
        ImplementationStatus::NotApplicable,
    ];
    let row = |item: &str, status: ImplementationStatus| StatusRecord {
        status,
        version: 1,
        ..StatusRecord::not_started(item)
    };
    let mut assessments = HashMap::new();
    let mut acceptances = HashMap::new();
    for technique in framework.techniques() {
        let applicability = match random.below(10) {
            0..=5 => Applicability::Applies,
            6 | 7 => Applicability::NotApplicable,
            _ => continue, // not assessed
        };
        let risk = (random.below(3) > 0).then(|| Rating::ALL[random.below(Rating::ALL.len())]);
        assessments.insert(
            technique.id.clone(),
            Assessment {
                applicability,
                risk,
                rationale: RATIONALES[random.below(RATIONALES.len())].into(),
                version: 1,
                ..Assessment::unassessed(&technique.id)
            },
        );
        if applicability == Applicability::Applies && random.below(12) == 0 {
            acceptances.insert(
                technique.id.clone(),
                Acceptance {
                    technique_id: technique.id.clone(),
                    justification: "Accepted until the next release".into(),
                    accepted_by: "CISO".into(),
                    expires_on: date("bench", "2027-06-30").expect("a date"),
                    version: 1,
                    changed: Changed::default(),
                },
            );
        }
    }
    // Most mitigations not started; a few further along.
    let mut mitigation_statuses = HashMap::new();
    for mitigation in framework.mitigations() {
        if random.below(3) == 0 {
            let status = STATUSES[random.below(STATUSES.len())];
            mitigation_statuses.insert(mitigation.id.clone(), row(&mitigation.id, status));
        }
    }
    let mut control_statuses = HashMap::new();
    for control in controls {
        if random.below(2) == 0 {
            let item = control.id.to_string();
            let status = STATUSES[random.below(STATUSES.len())];
            control_statuses.insert(item.clone(), row(&item, status));
        }
    }
    let exposure = Exposure::ALL[n % Exposure::ALL.len()];
    let criticality = Rating::ALL[(n / 3) % Rating::ALL.len()];
    let decisions = Decisions::from_records(
        assessments.values(),
        mitigation_statuses.values(),
        controls,
        &control_statuses,
        acceptances.values(),
    );
    let coverage = evaluate(framework, &decisions, today);
    GeneratedSystem {
        decisions,
        coverage,
        system: System {
            id: n as i64 + 1,
            team_id: 1,
            name: format!("System {n:04}"),
            description: String::new(),
            owner: String::new(),
            platforms: vec!["Generative AI".into()],
            exposure,
            criticality,
            framework_version: framework.version().to_string(),
            version: 1,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        },
        assessments,
        mitigation_statuses,
        control_statuses,
        acceptances,
        detection_statuses: HashMap::new(),
    }
}

/// The systems as a report reads them: from cached snapshots (`cached`,
/// decisions and coverage already computed, as the application does), or
/// from the stored rows alone.
fn sources<'a>(
    framework: &'a Framework,
    controls: &'a [Control],
    systems: &'a [GeneratedSystem],
    today: Date,
    cached: bool,
) -> Vec<SystemSource<'a>> {
    systems
        .iter()
        .map(|s| SystemSource {
            system: &s.system,
            framework,
            assessments: &s.assessments,
            mitigation_statuses: &s.mitigation_statuses,
            controls,
            control_statuses: &s.control_statuses,
            acceptances: &s.acceptances,
            detection_statuses: &s.detection_statuses,
            detections: &[],
            decisions: cached.then_some(&s.decisions),
            coverage: cached.then_some((&s.coverage, today)),
        })
        .collect()
}

/// Median and fastest of `runs` timings of `work`.
fn time(runs: usize, mut work: impl FnMut()) -> (Duration, Duration) {
    work(); // warm up
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            work();
            started.elapsed()
        })
        .collect();
    samples.sort();
    (samples[runs / 2], samples[0])
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

fn main() {
    let framework = bundled::framework();
    let today = date("bench", "2026-11-25").expect("a date");
    let team = TeamRef { id: 1, name: "Bench team".into() };
    let mut random = Random(0x5eed_1234_abcd_0001);
    let controls = team_controls(&framework, &mut random);
    let largest = *SIZES.iter().max().expect("sizes");
    let systems: Vec<GeneratedSystem> =
        (0..largest).map(|n| generate_system(&framework, &controls, n, today, &mut random)).collect();
    let plain = ReportOptions::for_format(today, ReportFormat::Html);
    let with_rows = ReportOptions::new(today);

    println!(
        "team gap report, {} techniques per system, {TEAM_CONTROLS} team controls, {} recommendation steps (median of runs):",
        framework.techniques().len(),
        plain.recommendations
    );
    println!(
        "{:>8}  {:>10}  {:>16}  {:>14}  {:>10}  {:>10}  {:>10}",
        "systems", "report", "growth", "cold report", "with rows", "HTML", "JSON"
    );
    let mut previous: Option<(usize, Duration)> = None;
    let mut largest_report = Duration::ZERO;
    for size in SIZES {
        let cached = sources(&framework, &controls, &systems[..size], today, true);
        let cold = sources(&framework, &controls, &systems[..size], today, false);
        let runs = if size >= 1_000 { 9 } else { 25 };
        let (report, _) = time(runs, || {
            black_box(reports::team_report(&team, black_box(&cached), &plain));
        });
        let (cold_report, _) = time(runs, || {
            black_box(reports::team_report(&team, black_box(&cold), &plain));
        });
        let (rows, _) = time(runs, || {
            black_box(reports::team_report(&team, black_box(&cached), &with_rows));
        });
        let built = reports::team_report(&team, &cached, &plain);
        let (html, _) = time(runs, || {
            black_box(reports::render(&built, ReportFormat::Html).expect("HTML"));
        });
        let (json, _) = time(runs, || {
            black_box(reports::render(&built, ReportFormat::Json).expect("JSON"));
        });
        let growth = match previous {
            Some((n, t)) => format!("x{:.1} for x{}", report.as_secs_f64() / t.as_secs_f64(), size / n),
            None => "-".to_string(),
        };
        println!(
            "{size:>8}  {:>10}  {growth:>16}  {:>14}  {:>10}  {:>10}  {:>10}",
            ms(report),
            ms(cold_report),
            ms(rows),
            ms(html),
            ms(json)
        );
        previous = Some((size, report));
        largest_report = report;
    }
    let verdict = if largest_report < TARGET { "within" } else { "OVER" };
    println!(
        "{largest} systems from cached snapshots: {} (median), {verdict} the {} target",
        ms(largest_report),
        ms(TARGET)
    );
    println!(
        "report: what the team overview, HTML, Markdown and team JSON use; cold: decisions and coverage computed \
         from the rows too; with rows: every technique of every system, for CSV and Navigator"
    );
}
