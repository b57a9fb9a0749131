//! Every importer fed files written to hurt it: truncated, byte-flipped,
//! deeply nested, alias bombs and oversized. None may panic, none may take
//! over 2 s, each is answered with a reason, and a server that refused them
//! gives the memory back.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atlascope::atlas::{MAX_RELEASE_BYTES, bundled, read_release};
use atlascope::domain::records::System;
use atlascope::domain::{Exposure, Rating};
use atlascope::reports::SystemSource;
use atlascope::reports::import::{preview_csv, preview_navigator};

use crate::helpers::shared_atlas;

const LIMIT: Duration = Duration::from_secs(2);

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Truncations at evenly spaced points and copies with a few bytes flipped.
fn mutations(name: &str, original: &[u8], random: &mut Random) -> Vec<(String, Vec<u8>)> {
    let mut variants = Vec::new();
    for step in 1..12 {
        let at = original.len() * step / 12;
        variants.push((format!("{name} cut at byte {at}"), original[..at].to_vec()));
    }
    for n in 0..30 {
        let mut flipped = original.to_vec();
        let flips = 1 + random.below(12);
        for _ in 0..flips {
            let at = random.below(flipped.len());
            flipped[at] ^= 1 << random.below(8);
        }
        variants.push((format!("{name} with {flips} bytes flipped (variant {n})"), flipped));
    }
    variants
}

/// Files shaped to be costly to parse.
fn hostile_shapes() -> Vec<(String, Vec<u8>)> {
    let bomb_head = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n\
                     b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                     c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                     d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                     e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n\
                     f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                     g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n\
                     h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n";
    let calendar = include_str!("../fixtures/calendar-mini.yaml");
    let indented: String = (0..3_000).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    vec![
        ("100,000 nested brackets".into(), format!("format-version: 6.0.0\nx: {}", "[".repeat(100_000)).into_bytes()),
        ("100,000 nested JSON objects".into(), "{\"type\": \"bundle\", \"x\": ".repeat(100_000).into_bytes()),
        ("an alias bomb ahead of a real file".into(), format!("{bomb_head}{calendar}").into_bytes()),
        ("3,000 indentation levels".into(), format!("matrices:\n{indented}").into_bytes()),
        ("10,000 compact sequences".into(), format!("matrices:\n{}x\n", "- ".repeat(10_000)).into_bytes()),
        ("one byte over the size limit".into(), vec![b'#'; MAX_RELEASE_BYTES + 1]),
        ("UTF-16 text".into(), "matrices: []".encode_utf16().flat_map(u16::to_le_bytes).collect()),
    ]
}

/// Runs `read` on every input, failing on a panic or an input that takes too long.
fn feed(inputs: &[(String, Vec<u8>)], read: impl Fn(&[u8]) -> Result<(), String>) -> usize {
    let mut refused = 0;
    for (name, bytes) in inputs {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| read(bytes)));
        let took = started.elapsed();
        assert!(took < LIMIT, "{name} took {took:?}");
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                assert!(!message.trim().is_empty(), "{name}: refused without a reason");
                refused += 1;
            }
            Err(_) => panic!("{name} made the importer panic"),
        }
    }
    refused
}

#[test]
fn release_readers_refuse_hostile_files_quickly_and_without_panics() {
    let mut random = Random(0x5eed_a71a5);
    let mut inputs = hostile_shapes();
    inputs.extend(mutations("legacy fixture", include_bytes!("../fixtures/legacy-mini.yaml"), &mut random));
    inputs.extend(mutations("calendar fixture", include_bytes!("../fixtures/calendar-mini.yaml"), &mut random));
    if let Some(atlas) = shared_atlas() {
        for name in ["ATLAS-2026.05.yaml", "ATLAS-5.6.0.yaml", "stix-atlas.json"] {
            let original = crate::helpers::official(&atlas, name);
            inputs.extend(mutations(name, &original, &mut random).into_iter().step_by(3));
        }
    }
    let refused =
        feed(&inputs, |bytes| read_release(bytes, "hostile.yaml", Some("fuzz")).map(|_| ()).map_err(|e| e.to_string()));
    assert!(refused >= hostile_shapes().len(), "every hostile shape is refused ({refused} refusals)");
}

#[test]
fn import_previews_refuse_hostile_files_quickly_and_without_panics() {
    let framework = bundled::framework();
    let system = System {
        id: 1,
        team_id: 1,
        name: "Chatbot".into(),
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
    let layer = br##"{"name": "L", "domain": "atlas-atlas", "versions": {"layer": "4.5"},
        "metadata": [{"name": "atlas_data_version", "value": "2026.05"}],
        "techniques": [{"techniqueID": "AML.T0051", "tactic": "initial-access", "score": 100, "color": "#66bb6a",
        "comment": "Gateway filters prompts"}, {"techniqueID": "AML.T0043", "enabled": false}]}"##;
    let csv = b"system_id,technique_id,applicability,risk,rationale\n1,AML.T0051,applies,high,\"quoted, with comma\"\n1,AML.T0043,not_applicable,,\n";
    let mut random = Random(0xc0ffee);
    let mut layers = mutations("layer", layer, &mut random);
    layers.extend(hostile_shapes());
    let mut csvs = mutations("csv", csv, &mut random);
    csvs.extend(hostile_shapes());
    let loaded = [framework.version()];
    feed(&layers, |bytes| preview_navigator(bytes, &source, &loaded).map(|_| ()).map_err(|e| e.to_string()));
    feed(&csvs, |bytes| preview_csv(bytes, &source).map(|_| ()).map_err(|e| e.to_string()));
}

/// The resident and peak memory of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("a memory figure")
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Server {
    child: Child,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary serving a fresh data directory, with an administrator's write token.
fn start_server() -> Server {
    use std::io::{BufRead, Write};
    let dir = tempfile::tempdir().expect("temp dir");
    let cli = |args: &[&str], input: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_atlascope"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the CLI runs");
        if let Some(input) = input {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("input");
        }
        let output = child.wait_with_output().expect("the CLI ends");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    cli(&["init"], None);
    cli(&["user", "add", "root", "--admin"], Some("a long enough pass phrase\n"));
    let token = cli(&["token", "create", "root", "--name", "fuzz", "--write"], None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_atlascope"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "atlascope=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = loop {
        let line = lines.next().expect("the server logs its address").expect("a log line");
        if let Some(at) = line.find("serving on http://") {
            let address: String = line[at + "serving on http://".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':'))
                .collect();
            break format!("http://{address}");
        }
    };
    // Keep reading the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Server { child, base, token, _dir: dir }
}

#[tokio::test]
async fn a_server_refusing_hostile_files_gives_its_memory_back() {
    let server = tokio::task::spawn_blocking(start_server).await.expect("server");
    // A connection per request: the server closes one whose upload it refused unread.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<http_body_util::Full<axum::body::Bytes>>();
    let send = |method: &str, path: &str, body: Vec<u8>| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", server.base))
            .header("authorization", format!("Bearer {}", server.token))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
            .expect("request");
        let client = client.clone();
        async move { client.request(request).await.map(|r| r.status()) }
    };
    let team = send("POST", "/api/v1/teams", br#"{"name": "Fuzz"}"#.to_vec()).await;
    assert_eq!(team.expect("answered").as_u16(), 201);
    let system = br#"{"team_id": 1, "name": "Target", "exposure": "public", "criticality": "high"}"#.to_vec();
    assert_eq!(send("POST", "/api/v1/systems", system).await.expect("answered").as_u16(), 201);
    let (baseline, _) = memory_kib(server.child.id());

    for round in 0..3 {
        for (name, bytes) in hostile_shapes() {
            for path in [
                "/api/v1/frameworks?version=fuzz",
                "/api/v1/systems/1/import?format=navigator",
                "/api/v1/systems/1/import?format=csv",
            ] {
                let started = Instant::now();
                let status = match send("POST", path, bytes.clone()).await {
                    Ok(status) => status,
                    // The server may answer 413 and close before a too-large upload is all sent.
                    Err(_) if bytes.len() > MAX_RELEASE_BYTES => axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    Err(error) => panic!("round {round}, {name} to {path}: no answer: {error}"),
                };
                assert!(started.elapsed() < LIMIT, "round {round}, {name} to {path} took {:?}", started.elapsed());
                assert!(status.is_client_error(), "round {round}, {name} to {path}: {status}");
            }
        }
    }
    let (after, peak) = memory_kib(server.child.id());
    let mib = |kib: u64| kib / 1024;
    assert!(
        mib(peak.saturating_sub(baseline)) < 300,
        "peak memory grew by {} MiB above the {} MiB baseline",
        mib(peak.saturating_sub(baseline)),
        mib(baseline)
    );
    assert!(
        mib(after.saturating_sub(baseline)) < 64,
        "resident memory stayed {} MiB above the {} MiB baseline",
        mib(after.saturating_sub(baseline)),
        mib(baseline)
    );
}
