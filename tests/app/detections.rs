//! Detection as a second dimension: importing Sigma rules (API, pages),
//! recording how a technique is detected on a system (versioned, in the
//! history, undoable, live), and the coverage figures that combine both.

use std::time::Duration;

use axum::http::Method;

use http_body_util::BodyExt;

use crate::helpers::{StatusCode, TestApp, team_and_system};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/sigma/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn import(app: &TestApp, team: i64, body: Vec<u8>, content_type: &str, apply: bool) -> crate::helpers::Reply {
    let path = format!("/api/v1/teams/{team}/detections/import{}", if apply { "?dry_run=false" } else { "" });
    app.request(Method::POST, &path, &[("content-type", content_type)], body).await
}

fn zip_of(names: &[&str]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in names {
        zip.start_file(format!("pack/{name}"), zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(&fixture(name)).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn sigma_rules_import_with_a_dry_run_apply_once_and_undo_as_one_change() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let pack = zip_of(&["list_tags.yml", "map_tags.yaml", "attack_tags.yml", "no_tags.yml"]);

    let preview = import(&app, 1, pack.clone(), "application/zip", false).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let plan = preview.json();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["creates"], 4, "{plan:#}");
    assert_eq!(plan["unmapped"][0]["at"], "request body (zip)/pack/no_tags.yml line 1");
    let attack =
        plan["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == "0b8a9f3e-77c1-4f0e-8e2a-5b1d2c3e4f52");
    let attack = attack.expect("the ATT&CK-tagged rule maps through ATLAS's ATT&CK references");
    assert!(attack["via_attack"]["T1566.002"].is_array(), "{attack:#}");
    assert!(
        app.get("/api/v1/teams/1/detections").await.json().as_array().unwrap().is_empty(),
        "a dry run writes nothing"
    );

    let applied = import(&app, 1, pack.clone(), "application/zip", true).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let history_id = applied.json()["history_id"].as_i64().expect("one change records the import");
    let listed = app.get("/api/v1/teams/1/detections").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    let prompt =
        listed.as_array().unwrap().iter().find(|d| d["rule_id"] == "6c1f0e7a-2d4b-4c61-9d52-0a7f3f1b9e01").unwrap();
    assert_eq!(prompt["technique_ids"], serde_json::json!(["AML.T0051.000"]));
    assert_eq!(prompt["title"], "Prompt injection phrases in gateway prompts");

    let again = import(&app, 1, pack.clone(), "application/zip", true).await.json();
    assert_eq!(
        (again["creates"].as_i64(), again["updates"].as_i64(), again["unchanged"].as_i64()),
        (Some(0), Some(0), Some(4))
    );
    assert!(again["history_id"].is_null(), "re-importing the same rules changes nothing");

    let undo =
        app.post_json(&format!("/api/v1/teams/1/detections/history/{history_id}/undo"), &serde_json::json!({})).await;
    assert_eq!(undo.status, StatusCode::OK, "{}", undo.body);
    assert_eq!(undo.json()["reverted"], 4);
    assert!(app.get("/api/v1/teams/1/detections").await.json().as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_malformed_rule_file_or_a_duplicate_id_is_refused_naming_file_and_line() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let bad = import(&app, 1, fixture("malformed.yml"), "application/yaml", true).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    let message = bad.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("request body line "), "{message}");
    let duplicate = zip_of(&["list_tags.yml", "duplicate_id.yml"]);
    let refused = import(&app, 1, duplicate, "application/zip", true).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("pack/duplicate_id.yml line 1"), "{}", refused.body);
    assert!(app.get("/api/v1/teams/1/detections").await.json().as_array().unwrap().is_empty(), "nothing half-written");
}

#[tokio::test]
async fn a_techniques_detection_is_versioned_undoable_and_counts_in_the_coverage() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Chatbot").await;
    let id = system.trim_start_matches("/systems/");
    let technique = format!("/api/v1/systems/{id}/detections/AML.T0051.000");
    let applies = app
        .put_json(
            &format!("/api/v1/systems/{id}/assessments/AML.T0051.000"),
            &serde_json::json!({"applicability": "applies"}),
        )
        .await;
    assert_eq!(applies.status, StatusCode::OK);

    let written = app
        .send_json(
            Method::PUT,
            &technique,
            &[("if-match", "\"0\"")],
            &serde_json::json!({"status": "detected", "confidence": "high", "data_sources": ["LLM gateway prompts"], "owner": "SOC"}),
        )
        .await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    let row = written.json();
    assert_eq!(
        (row["status"].as_str(), row["combined_state"].as_str(), row["version"].as_i64()),
        (Some("detected"), Some("detected_only"), Some(1))
    );

    let stale =
        app.send_json(Method::PUT, &technique, &[("if-match", "\"0\"")], &serde_json::json!({"status": "none"})).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "a stale write is refused");
    let invalid = app.put_json(&technique, &serde_json::json!({"status": "seen"})).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", invalid.body);

    let coverage = app.get(&format!("/api/v1/systems/{id}/coverage")).await.json();
    assert_eq!(coverage["detection"]["detection_percent"], 100.0, "{:#}", coverage["detection"]);
    assert_eq!(coverage["detection"]["neither_percent"], 0.0);
    assert_eq!(coverage["detection"]["counts"]["detected_only"], 1);

    let history = app.get(&format!("/api/v1/systems/{id}/history?item=AML.T0051.000")).await.json();
    let entry = history.as_array().unwrap().iter().find(|e| e["entity"] == "detection_status").expect("in the history");
    let undo =
        app.post_json(&format!("/api/v1/systems/{id}/history/{}/undo", entry["id"]), &serde_json::json!({})).await;
    assert_eq!(undo.status, StatusCode::OK, "{}", undo.body);
    assert_eq!(app.get(&technique).await.json()["status"], "none");
}

#[tokio::test]
async fn the_workshop_panel_records_detection_live_and_the_matrix_switches_view() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Chatbot").await;
    app.post_form(&format!("{system}/techniques/AML.T0051"), "applicability=applies&version=0").await;
    let mut stream = app.open_stream(&format!("{system}/events")).await;
    let saved = app
        .post_htmx(
            &format!("{system}/techniques/AML.T0051/detection"),
            "detection_status=partial&confidence=medium&data_sources=proxy+logs%0Agateway&owner=SOC&evidence=&notes=&version=0",
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert!(saved.body.contains("Saved."), "the panel confirms the save");
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !received.contains("event: item-AML_T0051") {
        let frame = tokio::time::timeout_at(deadline, stream.frame()).await.expect("an event within 5 s");
        if let Some(Ok(frame)) = frame
            && let Ok(data) = frame.into_data()
        {
            received.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(received.contains("d-partial"), "open workshops see the new detection: {received}");
    let rule = app
        .post_form(
            "/teams/1/detections",
            "name=Gateway+watch&techniques=AML.T0051&data_sources=SIEM+alerts%0Aproxy+logs",
        )
        .await;
    assert_eq!(rule.status, StatusCode::SEE_OTHER, "{}", rule.body);
    let panel = app.get(&format!("{system}/techniques/AML.T0051")).await;
    assert!(panel.body.contains("Gateway watch"), "the panel lists the team's detections for the technique");
    assert!(
        panel.body.contains("not among this system's data sources: SIEM alerts</strong>"),
        "a data source the detection needs and the system lacks is named: {}",
        panel.body
    );
    let stale =
        app.post_htmx(&format!("{system}/techniques/AML.T0051/detection"), "detection_status=detected&version=0").await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "a stale save says so where the person clicked");
    assert!(stale.body.contains("Partly detected"), "both sides are shown: {}", stale.body);

    let page = app.get(&format!("{system}?view=detection")).await;
    assert!(page.body.contains("view-detection"), "the matrix shows the detection view");
    assert!(page.body.contains(r#"aria-current="true">Detection</a>"#));
    assert!(page.body.contains("d-partial"), "the technique's detection badge is drawn");
    let combined = app.get(&format!("{system}?view=combined&state=gap")).await;
    assert!(combined.body.contains("view-combined"));
    assert!(combined.body.contains("href=\"/systems/1?state=gap\""), "switching views keeps the filters");
}

#[tokio::test]
async fn the_detections_page_previews_an_upload_and_applies_what_was_shown() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let boundary = "XBOUNDARYX";
    let mut body = Vec::new();
    for name in ["list_tags.yml", "no_tags.yml"] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/yaml\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&fixture(name));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let preview =
        app.request(Method::POST, "/teams/1/detections/import", &[("content-type", &content_type)], body).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Apply: 1 new, 0 updated"), "{}", preview.body);
    assert!(preview.body.contains("no_tags.yml line 1"), "the rule without a usable tag is listed");

    let field = |name: &str| -> Vec<String> {
        let marker = format!("name=\"{name}\" value=\"");
        preview
            .body
            .match_indices(&marker)
            .map(|(at, _)| {
                let rest = &preview.body[at + marker.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .collect()
    };
    let mut form = Vec::new();
    for (name, content) in field("file_name").iter().zip(field("file_content")) {
        form.push(format!("file_name={name}&file_content={content}"));
    }
    form.push(format!("fingerprint={}", field("fingerprint")[0]));
    let applied = app.post_form("/teams/1/detections/import/apply", &form.join("&")).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    assert!(applied.body.contains("Imported 1 new and 0 updated detection(s)."), "{}", applied.body);
    assert!(applied.body.contains("Prompt injection phrases in gateway prompts"));
    assert!(
        applied.body.contains("1 of the 170 techniques and sub-techniques of ATLAS 2026.05 have at least one"),
        "the SOC sees which techniques its rules cover"
    );

    let at = applied.body.find("/teams/1/detections/undo/").expect("the import can be undone from the page");
    let undo: String = applied.body[at..].chars().take_while(|c| *c != '"').collect();
    let undone = app.post_form(&undo, "").await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert!(undone.body.contains("1 detection change(s) reverted"), "{}", undone.body);
    assert!(app.get("/api/v1/teams/1/detections").await.json().as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_previews_imports_and_refuses_a_malformed_file() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let dir = tempfile::tempdir().expect("a folder");
    for name in ["list_tags.yml", "attack_tags.yml", "malformed.yml"] {
        std::fs::write(dir.path().join(name), fixture(name)).expect("written");
    }
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (good, bad) = ([path("list_tags.yml"), path("attack_tags.yml")], path("malformed.yml"));
    let args = |extra: &[&str], files: &[String]| -> Vec<String> {
        let mut all: Vec<String> = ["detections", "import", "--team", "Red Team"].map(String::from).to_vec();
        all.extend(extra.iter().map(|s| s.to_string()));
        all.extend(files.iter().cloned());
        all
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::reports::atlascope_exit(&app, &args, None)
    };
    let (code, out, err) = run(args(&[], &good));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Read 3 rule(s) from 2 file(s)") && out.contains("3 new"), "{out}");
    assert!(out.contains("This was a preview"), "{out}");
    let (code, out, err) = run(args(&["--apply"], &good));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Imported into Red Team"), "{out}");
    assert_eq!(app.get("/api/v1/teams/1/detections").await.json().as_array().unwrap().len(), 3);
    let (code, _, err) = run(args(&["--apply"], &[bad]));
    assert_eq!(code, Some(1), "a malformed file fails the command");
    assert!(err.contains("malformed.yml line "), "{err}");
    let (code, out, _) = run(vec!["detections".into(), "list".into(), "--team".into(), "1".into()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("[rule 6c1f0e7a-2d4b-4c61-9d52-0a7f3f1b9e01]: AML.T0051.000"), "{out}");
}
