//! The API against its own OpenAPI document, checked by a schema-driven
//! fuzzer (schemathesis) with a write token on a live server: no 5xx, every
//! response as documented (status, content type, headers, schema), every
//! schema-valid request accepted and every schema-violating one refused.
//! Bounded by a fixed number of examples per operation and a fixed seed.

use std::process::Command;
use std::time::Duration;

use atlascope::auth::TokenScope;
use atlascope::service::accounts;
use serde_json::json;

use crate::helpers::{ADMIN, StatusCode, TestApp};

/// Examples per operation and phase; the run takes about a minute.
const EXAMPLES: &str = "25";
/// The whole run is stopped past this (it is expected to end far sooner).
const LIMIT: Duration = Duration::from_secs(600);

/// Teams, systems with decisions and history, and a control, so that the
/// fuzzer's requests reach real data beside the resources it creates itself.
async fn seed(app: &TestApp) {
    for n in 1..=3 {
        let team = app.post_json("/api/v1/teams", &json!({"name": format!("Team {n}")})).await;
        assert_eq!(team.status, StatusCode::CREATED, "{}", team.body);
        let system = app
            .post_json(
                "/api/v1/systems",
                &json!({"team_id": n, "name": "Chatbot", "exposure": "public", "criticality": "high",
                        "platforms": ["Generative AI"]}),
            )
            .await;
        assert_eq!(system.status, StatusCode::CREATED, "{}", system.body);
        let path = format!("/api/v1/systems/{n}/assessments/AML.T0051");
        assert_eq!(app.put_json(&path, &json!({"applicability": "applies"})).await.status, StatusCode::OK);
        let control = app
            .post_json(&format!("/api/v1/teams/{n}/controls"), &json!({"name": "Gateway", "techniques": ["AML.T0051"]}))
            .await;
        assert_eq!(control.status, StatusCode::CREATED, "{}", control.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_as_its_openapi_document_says() {
    let Some(tools) = crate::tools::python_tools() else { return };
    let app = TestApp::spawn_without_rate_limits().await;
    seed(&app).await;
    let admin = atlascope::db::accounts::user_by_name(&app.state.db, ADMIN).await.expect("lookup").expect("admin");
    let token =
        accounts::create_token(&app.state, admin.id, "fuzzer", TokenScope::Write, None, 1).await.expect("token").secret;
    let schema = format!("{}/api/openapi.json", app.base);
    let reports = tempfile::tempdir().expect("a report directory");
    let (tools, report_dir) = (tools.to_path_buf(), reports.path().to_path_buf());
    let run = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(tools.join("schemathesis"))
            .arg("--config-file")
            .arg(crate::tools::script("schemathesis.toml"))
            .args(["run", &schema, "--checks", "all", "--max-examples", EXAMPLES, "--seed", "20261201"])
            .args(["--workers", "1", "--generation-deterministic", "--report", "junit", "--report-dir"])
            .arg(&report_dir)
            .env("API_TOKEN", &token)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(&report_dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("schemathesis starts");
        let started = std::time::Instant::now();
        loop {
            if let Some(_status) = child.try_wait().expect("schemathesis runs") {
                return child.wait_with_output().expect("its output");
            }
            if started.elapsed() > LIMIT {
                let _ = child.kill();
                let output = child.wait_with_output().expect("its output");
                panic!("schemathesis ran past {LIMIT:?}: {}", String::from_utf8_lossy(&output.stdout));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .expect("the fuzzer ran");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "schemathesis found the API at odds with its document:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("No issues found") || stdout.contains("passed"), "{stdout}");
}
