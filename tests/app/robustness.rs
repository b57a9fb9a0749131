//! Defects found under attack, each pinned by the test that found it: writes
//! abandoned half-way, and what must still work afterwards.

use std::time::Duration;

use atlascope::domain::Applicability;
use atlascope::service::Actor;
use atlascope::service::decisions::{self, AssessmentChange};
use tokio::io::AsyncWriteExt;

use crate::helpers::{StatusCode, TestApp};
use crate::workshop::team_and_system;

/// A save through the API must answer promptly: no transaction left behind
/// holds SQLite's write lock.
async fn assert_a_save_still_answers(app: &TestApp, technique: &str) {
    let put = tokio::time::timeout(
        Duration::from_secs(4),
        app.put_json(
            &format!("/api/v1/systems/1/assessments/{technique}"),
            &serde_json::json!({"rationale": "still here"}),
        ),
    )
    .await
    .expect("a save answers within 4 s after abandoned writes");
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
}

/// Waits until the writes the departed clients left behind have finished
/// (they run to completion on their own): the history stops growing.
async fn settle(app: &TestApp) {
    let newest = || async { app.get("/api/v1/systems/1/history?limit=1").await.json()[0]["id"].as_i64() };
    let mut last = newest().await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = newest().await;
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::test]
async fn writes_cancelled_at_any_point_leave_no_transaction_behind() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let actor = Actor("canceller".into());
    // Cancel the same write at every point of its life, from before it
    // starts to after it committed.
    for micros in (0..3_000).step_by(7) {
        let change = AssessmentChange { applicability: Some(Applicability::Applies), ..Default::default() };
        let write = decisions::set_assessment(&app.state, 1, "AML.T0051", change, None, &actor);
        let _ = tokio::time::timeout(Duration::from_micros(micros), write).await;
    }
    assert_a_save_still_answers(&app, "AML.T0051").await;
}

#[tokio::test]
async fn saves_abandoned_by_their_browser_do_not_freeze_later_saves() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let address = app.base.trim_start_matches("http://").to_string();
    let techniques = ["AML.T0051", "AML.T0043", "AML.T0000", "AML.T0024", "AML.T0010", "AML.T0051.000"];
    // Browsers that send a workshop save and leave a moment later (a closed
    // laptop, a reloaded tab), many at a time.
    let mut leavers = Vec::new();
    for worker in 0..12u64 {
        let (address, cookie) = (address.clone(), app.admin_cookie.clone());
        leavers.push(tokio::spawn(async move {
            for n in 0..120u64 {
                let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else { continue };
                let technique = techniques[((worker * 7 + n) % techniques.len() as u64) as usize];
                let body = ["applicability=applies", "applicability=unknown"][(n % 2) as usize];
                let request = format!(
                    "POST /systems/1/techniques/{technique} HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
                     HX-Request: true\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(request.as_bytes()).await;
                tokio::time::sleep(Duration::from_micros((worker * 331 + n * 97) % 4_000)).await;
                drop(stream);
            }
        }));
    }
    for leaver in leavers {
        leaver.await.expect("the client task runs");
    }
    assert_a_save_still_answers(&app, "AML.T0043").await;
    settle(&app).await;

    // Every save either happened whole (row, history, cached snapshot) or not at all.
    let served = app.get("/api/v1/systems/1/assessments").await.json();
    let data_dir = app.data_dir.clone();
    let keep = app.stop().await;
    let fresh = TestApp::spawn_in(data_dir).await;
    assert_eq!(fresh.get("/api/v1/systems/1/assessments").await.json(), served, "cache and database agree");
    let history = fresh.get("/api/v1/systems/1/history?limit=1000").await.json();
    for assessment in served.as_array().expect("a list") {
        let version = assessment["version"].as_i64().expect("a version");
        let entries = history
            .as_array()
            .expect("a list")
            .iter()
            .filter(|e| e["entity"] == "assessment" && e["item"] == assessment["technique_id"])
            .count() as i64;
        assert_eq!(entries, version, "one history entry per stored version of {}", assessment["technique_id"]);
    }
    drop(keep);
}

/// A CSV of `rows` rows for the system, most of them repeating a technique
/// (each such row is an error the preview lists).
fn large_csv(rows: usize) -> Vec<u8> {
    let mut csv = String::from("technique_id,applicability,rationale\n");
    for n in 0..rows {
        csv.push_str(&format!("AML.T0051,applies,\"row {n}, with a quoted\nline break\"\n"));
    }
    csv.into_bytes()
}

/// A layer with `entries` annotations, each with its own comment.
fn large_layer(entries: usize) -> Vec<u8> {
    let techniques: Vec<serde_json::Value> = (0..entries)
        .map(|n| serde_json::json!({"techniqueID": "AML.T0051", "score": 1, "comment": format!("comment {n}")}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "name": "big", "domain": "atlas-atlas", "versions": {"layer": "4.5"}, "techniques": techniques
    }))
    .expect("JSON")
}

#[tokio::test]
async fn large_import_previews_answer_and_leave_the_server_responsive() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    team_and_system(&app, "Chatbot").await;
    let previews: Vec<_> = [("csv", large_csv(40_000)), ("navigator", large_layer(40_000))]
        .into_iter()
        .map(|(format, file)| {
            let app = app.clone();
            tokio::spawn(async move {
                app.request(
                    axum::http::Method::POST,
                    &format!("/api/v1/systems/1/import?format={format}"),
                    &[("content-type", "application/octet-stream")],
                    file,
                )
                .await
            })
        })
        .collect();
    // While both previews run, the server keeps answering.
    for _ in 0..5 {
        let health = tokio::time::timeout(Duration::from_secs(1), app.get("/healthz")).await;
        assert_eq!(health.expect("health answers within 1 s during previews").status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut replies = Vec::new();
    for preview in previews {
        replies.push(preview.await.expect("preview task"));
    }
    let (csv, layer) = (&replies[0], &replies[1]);
    assert_eq!(csv.status, StatusCode::OK, "{}", &csv.body[..csv.body.len().min(300)]);
    let csv = csv.json();
    let errors = csv["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1001, "1,000 listed errors and one counting the rest");
    assert_eq!(errors[999]["at"], "row 1002 (line 2002), technique_id", "rows name the line their text starts on");
    assert_eq!(errors[1000]["message"], "and 38999 more rows or entries that cannot be read");
    assert_eq!(layer.status, StatusCode::OK);
    let layer = layer.json();
    // 40,000 distinct comments joined are over the rationale's limit: named, not truncated.
    assert_eq!(layer["errors"][0]["at"], "techniques[0].comment");
}
