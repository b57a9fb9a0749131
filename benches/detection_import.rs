//! Bench: importing Sigma rules. Writes 1,000 rules (every tag shape the
//! reader knows: list tags, ATT&CK tags mapped through ATLAS, a top-level
//! `atlas:` list, tags as a map) as one multi-document file and as a zip of
//! 1,000 files, then times, against a real SQLite database, the preview of
//! each, applying the import to a team with no detections, and importing
//! the same rules again (nothing changes).
//!
//! Targets: preview under 1 s, apply under 2 s.
//!
//! Run: `cargo bench --bench detection_import`

use std::io::Write;
use std::time::{Duration, Instant};

use atlascope::core::{Core, CoreConfig};
use atlascope::service::{Actor, detections, teams, teams::TeamInput};
use atlascope::sigma::RuleFile;

const RULES: usize = 1_000;

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1e3)
}

/// One rule; the tag shape and the techniques vary with `n`.
fn rule(n: usize, techniques: &[String], attack: &[String]) -> String {
    let first = &techniques[n % techniques.len()];
    let second = &techniques[(n * 7 + 3) % techniques.len()];
    let tags = match n % 4 {
        0 => format!(
            "tags:\n    - attack.execution\n    - atlas.{}\n    - atlas.{}\n",
            first.to_lowercase(),
            second.to_lowercase()
        ),
        1 => format!("tags:\n    - attack.{}\n    - {first}\n", attack[n % attack.len()].to_lowercase()),
        2 => format!("tags:\n    - attack.defense-evasion\natlas:\n    - {first}\n    - {second}\n"),
        _ => format!("tags:\n    category: prompt-injection\n    technique: {first}\n"),
    };
    format!(
        "title: Bench rule {n}\nid: 00000000-0000-4000-8000-{n:012}\nstatus: experimental\n\
         description: Flags suspicious model traffic, variant {n}.\nreferences:\n    - https://example.org/rules/{n}\n\
         logsource:\n    product: llm_gateway\n    category: prompt\n\
         detection:\n    selection:\n        prompt|contains:\n            - 'pattern {n} a'\n            - 'pattern {n} b'\n    condition: selection\n\
         level: high\n{tags}"
    )
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = Core::open(&config).await.expect("the core opens");
    let release = core.catalog.default_release();
    let techniques: Vec<String> = release.techniques().iter().map(|t| t.id.clone()).collect();
    let attack: Vec<String> =
        release.techniques().iter().filter_map(|t| t.attack_reference.as_ref().map(|r| r.id.clone())).collect();
    let rules: Vec<String> = (0..RULES).map(|n| rule(n, &techniques, &attack)).collect();
    let multi = rules.join("---\n").into_bytes();
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (n, text) in rules.iter().enumerate() {
        zip.start_file(format!("rules/rule_{n:04}.yml"), zip::write::SimpleFileOptions::default()).expect("entry");
        zip.write_all(text.as_bytes()).expect("written");
    }
    let zip = zip.finish().expect("zip").into_inner();
    println!(
        "{RULES} Sigma rules: one multi-document file of {} KiB, a zip of {} KiB",
        multi.len() / 1024,
        zip.len() / 1024
    );
    let actor = Actor("bench".into());
    let mut team_id = 0;
    for (n, (shape, bytes)) in [("multi-document file", multi), ("zip of 1,000 files", zip)].into_iter().enumerate() {
        let name = format!("Bench {n}");
        let team = teams::create(&core, TeamInput { name, description: String::new() }, &actor).await.expect("team");
        team_id = team.id;
        let files = || vec![RuleFile { name: "rules".into(), bytes: bytes.clone() }];
        let mut previews = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let plan = detections::preview_import(&core, team.id, files()).await.expect("preview");
            previews.push(started.elapsed());
            assert_eq!(plan.creates, RULES, "every rule maps");
        }
        previews.sort();
        let started = Instant::now();
        let applied = detections::apply_import(&core, team.id, files(), &actor).await.expect("apply");
        let apply = started.elapsed();
        assert_eq!(applied.plan.creates, RULES);
        let started = Instant::now();
        let again = detections::apply_import(&core, team.id, files(), &actor).await.expect("again");
        let again_time = started.elapsed();
        assert!(again.history_id.is_none(), "the same rules change nothing");
        println!(
            "{shape:>20}: preview median {} (fastest {}), apply {}, re-import unchanged {}",
            ms(previews[2]),
            ms(previews[0]),
            ms(apply),
            ms(again_time)
        );
    }
    let stored = detections::list(&core, team_id).await.expect("list").len();
    println!("stored: {stored} detections in the last team");
}
