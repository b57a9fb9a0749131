//! Gap reports, recommendations and imports end to end: every API endpoint
//! and its errors, export → import round trips (CSV and Navigator), an
//! edited CSV previewed then applied as one undoable batch, bad files
//! refused with the place and the reason, the report pages and the import
//! form without JavaScript, and the `report gaps` and `check` commands on
//! the local database and against the server.

use std::process::Command;

use atlascope::auth::{Role, TokenScope};
use serde_json::{Value, json};

use crate::helpers::{Method, Reply, StatusCode, TestApp};

/// A team with the system "Support Chatbot" (ID 1), assessed: a handful of
/// techniques apply (one covered by an implemented mitigation, one with a
/// running risk acceptance), two are not applicable, the rest unassessed.
async fn assessed_system(app: &TestApp) -> i64 {
    let path = crate::helpers::team_and_system(app, "Support Chatbot").await;
    let id: i64 = path.trim_start_matches("/systems/").parse().expect("a system ID");
    for (technique, applicability, risk, rationale) in [
        ("AML.T0051", "applies", Some("high"), "Public chat input"),
        ("AML.T0051.000", "applies", None, "Direct injection by users"),
        ("AML.T0054", "applies", Some("critical"), "Jailbreaks seen in the wild"),
        ("AML.T0057", "applies", None, ""),
        ("AML.T0043", "applies", Some("medium"), "Crafted inputs"),
        ("AML.T0024", "applies", None, "Model behind an API"),
        ("AML.T0020", "not_applicable", None, "No training pipeline"),
        ("AML.T0010", "not_applicable", None, "Vendor model, pinned"),
    ] {
        let reply = app
            .put_json(
                &format!("/api/v1/systems/{id}/assessments/{technique}"),
                &json!({"applicability": applicability, "risk": risk, "rationale": rationale}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{technique}: {}", reply.body);
    }
    // One mitigation of LLM Prompt Injection is in place: that technique is covered.
    let framework = app.state.catalog.default_release();
    let mitigation = framework.mitigations_for("AML.T0051").next().expect("a mitigation of AML.T0051").id.clone();
    let reply = app
        .put_json(
            &format!("/api/v1/systems/{id}/mitigations/{mitigation}"),
            &json!({"status": "implemented", "owner": "Dana"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = app
        .put_json(
            &format!("/api/v1/systems/{id}/acceptances/AML.T0057"),
            &json!({"justification": "Vendor fix due", "expires_on": "2099-12-31"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    id
}

/// A second system of team 1, internal and barely assessed.
async fn second_system(app: &TestApp) -> i64 {
    let reply = app
        .post_json(
            "/api/v1/systems",
            &json!({"team_id": 1, "name": "Fraud Model", "exposure": "internal", "criticality": "low",
                    "platforms": ["Predictive AI"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.json()["id"].as_i64().expect("an ID");
    let reply = app
        .put_json(&format!("/api/v1/systems/{id}/assessments/AML.T0043"), &json!({"applicability": "applies"}))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    id
}

async fn import(app: &TestApp, system: i64, query: &str, file: &[u8]) -> Reply {
    app.post(&format!("/api/v1/systems/{system}/import{query}"), file.to_vec()).await
}

fn error_message(reply: &Reply) -> String {
    reply.json()["error"]["message"].as_str().unwrap_or_default().to_string()
}

async fn assessment(app: &TestApp, system: i64, technique: &str) -> Value {
    app.get(&format!("/api/v1/systems/{system}/assessments/{technique}")).await.json()
}

#[tokio::test]
async fn a_system_report_comes_in_every_format_with_a_file_name() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;

    let reply = app.get(&format!("/api/v1/systems/{id}/gaps")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("content-type"), "application/json");
    assert!(reply.header("content-disposition").is_empty(), "JSON is answered inline");
    let report = reply.json();
    assert_eq!(report["scope"]["kind"], "system");
    assert_eq!(report["systems"][0]["name"], "Support Chatbot");
    assert_eq!(report["systems"][0]["techniques"].as_array().expect("rows").len(), 170);
    assert_eq!(report["weight_table"].as_array().expect("weights").len(), 23);
    assert!(report["formula"].as_str().expect("formula").contains("maturity × evidence"));
    let gaps = report["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), report["open_gaps"].as_u64().expect("count") as usize);
    assert!(gaps.iter().all(|g| g["technique_id"] != "AML.T0051"), "covered techniques are not gaps");
    assert!(gaps.iter().all(|g| g["technique_id"] != "AML.T0057"), "accepted risks are not gaps");
    let priorities: Vec<f64> = gaps.iter().map(|g| g["priority"].as_f64().expect("priority")).collect();
    assert!(priorities.windows(2).all(|w| w[0] >= w[1]), "ranked: {priorities:?}");
    assert!(!report["recommendations"]["steps"].as_array().expect("steps").is_empty());
    assert!(!report["systems"][0]["case_studies"]["studies"].as_array().expect("lens").is_empty());

    let today = atlascope::domain::format_date(atlascope::core::today());
    for (format, content_type, extension, marker) in [
        ("md", "text/markdown; charset=utf-8", "md", "# ATLAS gap report: Support Chatbot"),
        ("csv", "text/csv; charset=utf-8", "csv", "system_id,system,technique_id"),
        ("html", "text/html; charset=utf-8", "html", "<!DOCTYPE html>"),
        ("navigator", "application/json", "layer.json", "\"domain\": \"atlas-atlas\""),
    ] {
        let reply = app.get(&format!("/api/v1/systems/{id}/gaps?format={format}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{format}: {}", reply.body);
        assert_eq!(reply.header("content-type"), content_type, "{format}");
        assert_eq!(
            reply.header("content-disposition"),
            format!("attachment; filename=\"atlascope-gaps-support-chatbot-{today}.{extension}\""),
            "{format}"
        );
        assert!(reply.body.contains(marker), "{format}: {}", &reply.body[..reply.body.len().min(300)]);
    }

    let bad = app.get(&format!("/api/v1/systems/{id}/gaps?format=pdf")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&bad).starts_with("format: `pdf` is not one of html, md, csv, json, navigator"),
        "{}",
        bad.body
    );
    let too_many = app.get(&format!("/api/v1/systems/{id}/gaps?recommendations=51")).await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(error_message(&too_many).contains("recommendations"));
    let missing = app.get("/api/v1/systems/999/gaps").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    let no_rows = app.get(&format!("/api/v1/systems/{id}/gaps?techniques=false")).await.json();
    assert!(no_rows["systems"][0]["techniques"].as_array().expect("rows").is_empty());
}

#[tokio::test]
async fn a_team_report_combines_its_systems_with_a_heat_map() {
    let app = TestApp::spawn().await;
    assessed_system(&app).await;
    second_system(&app).await;

    let report = app.get("/api/v1/teams/1/gaps").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let report = report.json();
    assert_eq!(report["scope"]["kind"], "team");
    assert_eq!(report["scope"]["team_name"], "Red Team");
    let systems = report["systems"].as_array().expect("systems");
    assert_eq!(systems.len(), 2);
    assert!(systems.iter().all(|s| s["techniques"].as_array().is_some_and(Vec::is_empty)), "no rows by default");
    assert_eq!(report["heat_map"]["rows"].as_array().expect("rows").len(), 2);
    assert_eq!(report["heat_map"]["tactics"].as_array().expect("tactics").len(), 16);
    let gap_systems: std::collections::BTreeSet<&str> =
        report["gaps"].as_array().expect("gaps").iter().filter_map(|g| g["system_name"].as_str()).collect();
    assert_eq!(gap_systems.len(), 2, "gaps of both systems are ranked together");

    let with_rows = app.get("/api/v1/teams/1/gaps?techniques=true").await.json();
    assert_eq!(with_rows["systems"][1]["techniques"].as_array().expect("rows").len(), 170);
    let layer = app.get("/api/v1/teams/1/gaps?format=navigator").await;
    assert_eq!(layer.status, StatusCode::OK);
    assert!(layer.header("content-disposition").contains("atlascope-gaps-red-team-"));
    assert_eq!(layer.json()["name"], "atlascope: Red Team (all systems)", "one aggregate layer");
    let zip = app.get("/api/v1/teams/1/gaps?format=navigator-zip&layer_version=4.3").await;
    assert_eq!(zip.status, StatusCode::OK);
    assert_eq!(zip.header("content-type"), "application/zip");
    assert!(zip.header("content-disposition").ends_with(".layers.zip\""), "{}", zip.header("content-disposition"));
    let csv = app.get("/api/v1/teams/1/gaps?format=csv").await;
    assert_eq!(csv.body.lines().count(), 1 + 2 * 170, "a header and a row per system × technique");

    assert_eq!(app.get("/api/v1/teams/99/gaps").await.status, StatusCode::NOT_FOUND);
    let empty = app.post_json("/api/v1/teams", &json!({"name": "Empty Team"})).await.json()["id"].clone();
    let report = app.get(&format!("/api/v1/teams/{empty}/gaps")).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.json()["systems"], json!([]));
    let page = app.get(&format!("/teams/{empty}/overview")).await;
    assert!(page.status == StatusCode::OK && page.body.contains("This team has no system yet."));
    let doc = app.get("/api/openapi.json").await.json();
    for path in ["/api/v1/systems/{id}/gaps", "/api/v1/teams/{id}/gaps", "/api/v1/systems/{id}/recommendations"] {
        assert!(doc["paths"][path]["get"]["tags"][0] == "reports", "{path} is documented");
    }
    // A file import answers with its own result, not the release import's.
    let import_ok = &doc["paths"]["/api/v1/systems/{id}/import"]["post"]["responses"]["200"];
    assert_eq!(
        import_ok["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AssessmentImportResult"
    );
    let release_ok = &doc["paths"]["/api/v1/frameworks"]["post"]["responses"]["201"];
    assert_eq!(release_ok["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ReleaseImportResult");
    assert_eq!(
        doc["components"]["schemas"]["AssessmentImportResult"]["allOf"][0]["$ref"],
        "#/components/schemas/ImportPreview"
    );
    assert!(doc["components"]["schemas"]["GapReport"].is_object());

    // A system whose release is not loaded is left out, and named.
    crate::helpers::execute(&app, "update systems set framework_version = '9.9' where name = 'Fraud Model'").await;
    app.state.snapshots.invalidate(2);
    let report = app.get("/api/v1/teams/1/gaps").await.json();
    assert_eq!(report["systems"].as_array().expect("systems").len(), 1);
    assert_eq!(report["left_out"][0]["name"], "Fraud Model");
    assert_eq!(report["left_out"][0]["reason"], "ATLAS release 9.9 is not loaded");
    let markdown = app.get("/api/v1/teams/1/gaps?format=md").await.body;
    assert!(markdown.contains("- Left out: Fraud Model (ATLAS release 9.9 is not loaded)"), "{markdown}");
    assert!(app.get("/teams/1/overview").await.body.contains("Left out: Fraud Model"));
}

#[tokio::test]
async fn recommendations_are_ranked_with_the_coverage_after_each_step() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let reply = app.get(&format!("/api/v1/systems/{id}/recommendations?limit=3")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let plan = reply.json();
    assert_eq!(plan["limit"], 3);
    let steps = plan["steps"].as_array().expect("steps");
    assert!(!steps.is_empty() && steps.len() <= 3);
    let gains: Vec<f64> = steps.iter().map(|s| s["weighted_gap_closed"].as_f64().expect("gain")).collect();
    assert!(gains.windows(2).all(|w| w[0] >= w[1]), "greedy gains never grow: {gains:?}");
    let before = plan["coverage_percent_before"].as_f64().expect("coverage before");
    let after: Vec<f64> = steps.iter().map(|s| s["coverage_percent_after"].as_f64().expect("after")).collect();
    assert!(after[0] > before && after.windows(2).all(|w| w[0] <= w[1]), "{before} then {after:?}");
    assert!(steps.iter().all(|s| !s["closes"].as_array().expect("closes").is_empty()));

    for bad in ["limit=0", "limit=51", "limit=many"] {
        let reply = app.get(&format!("/api/v1/systems/{id}/recommendations?{bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(app.get("/api/v1/systems/999/recommendations").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn exports_import_back_without_changes() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let history_before = app.get(&format!("/api/v1/systems/{id}/history")).await.json();

    let csv = app.get(&format!("/api/v1/systems/{id}/gaps?format=csv")).await;
    let preview = import(&app, id, "?format=csv&dry_run=true", csv.body.as_bytes()).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let preview = preview.json();
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["changes"], json!([]));
    assert_eq!((preview["errors"].clone(), preview["unknown_techniques"].clone()), (json!([]), json!([])));

    let layer = app.get(&format!("/api/v1/systems/{id}/gaps?format=navigator")).await;
    // No format given: a JSON file is read as a Navigator layer. Applied on request.
    let applied = import(&app, id, "?dry_run=false", layer.body.as_bytes()).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let applied = applied.json();
    assert_eq!(applied["dry_run"], false);
    assert_eq!(applied["format"], "navigator");
    assert_eq!((applied["changes"].clone(), applied["changed"].clone()), (json!([]), json!([])));
    assert_eq!(applied["history_id"], Value::Null, "nothing changed, nothing recorded");

    let csv_applied = import(&app, id, "?format=csv&dry_run=false", csv.body.as_bytes()).await.json();
    assert_eq!(csv_applied["changed"], json!([]));
    let history_after = app.get(&format!("/api/v1/systems/{id}/history")).await.json();
    assert_eq!(history_before, history_after, "the round trips recorded nothing");
}

/// The CSV export with one cell replaced in the row of `technique`.
fn edit_csv(csv: &str, technique: &str, column: &str, value: &str) -> String {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("a header").clone();
    let at = header.iter().position(|h| h == column).expect("the column");
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).expect("header");
    for record in reader.records() {
        let record = record.expect("a row");
        let mut fields: Vec<String> = record.iter().map(str::to_string).collect();
        if fields[2] == technique {
            fields[at] = value.to_string();
        }
        writer.write_record(&fields).expect("row");
    }
    String::from_utf8(writer.into_inner().expect("CSV")).expect("UTF-8")
}

#[tokio::test]
async fn an_edited_csv_is_previewed_then_applied_as_one_undoable_change() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let csv = app.get(&format!("/api/v1/systems/{id}/gaps?format=csv")).await.body;
    let edited = edit_csv(&csv, "AML.T0043", "applicability", "not_applicable");
    let edited = edit_csv(&edited, "AML.T0043", "rationale", "Inputs are signed");
    let edited = edit_csv(&edited, "AML.T0000", "applicability", "Applies");

    let preview = import(&app, id, "?format=csv&dry_run=true", edited.as_bytes()).await.json();
    let changes: Vec<(String, String, String, String)> = preview["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (text("technique_id"), text("field"), text("from"), text("to"))
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("AML.T0000".into(), "applicability".into(), "unknown".into(), "applies".into()),
            ("AML.T0043".into(), "applicability".into(), "applies".into(), "not_applicable".into()),
            ("AML.T0043".into(), "rationale".into(), "Crafted inputs".into(), "Inputs are signed".into()),
        ]
    );
    assert_eq!(assessment(&app, id, "AML.T0043").await["applicability"], "applies", "a dry run applies nothing");

    let by_default = import(&app, id, "?format=csv", edited.as_bytes()).await.json();
    assert_eq!(
        (by_default["dry_run"].clone(), by_default["changed"].clone()),
        (json!(true), json!([])),
        "nothing is applied unless asked"
    );
    let applied = import(&app, id, "?format=csv&dry_run=false", edited.as_bytes()).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let applied = applied.json();
    assert_eq!(applied["changed"], json!(["AML.T0000", "AML.T0043"]));
    let batch = applied["history_id"].as_i64().expect("a history entry");
    let after = assessment(&app, id, "AML.T0043").await;
    assert_eq!(
        (after["applicability"].as_str(), after["rationale"].as_str()),
        (Some("not_applicable"), Some("Inputs are signed"))
    );
    assert_eq!(assessment(&app, id, "AML.T0000").await["applicability"], "applies");

    let history = app.get(&format!("/api/v1/systems/{id}/history?limit=5")).await.json();
    let imported: Vec<&Value> = history.as_array().expect("entries").iter().filter(|e| e["batch"] == batch).collect();
    assert_eq!(imported.len(), 2, "one entry per technique, in one batch: {history}");
    assert!(imported.iter().all(|e| e["actor"] == "admin"));

    let undone = app.post(&format!("/api/v1/systems/{id}/history/{batch}/undo"), Vec::new()).await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(assessment(&app, id, "AML.T0043").await["applicability"], "applies", "one undo reverts the import");
    assert_eq!(assessment(&app, id, "AML.T0000").await["applicability"], "unknown");
}

fn layer(domain: &str, release: &str, techniques: &str) -> String {
    format!(
        r#"{{"name": "Workshop", "domain": "{domain}", "versions": {{"layer": "4.5", "navigator": "5.1.0"}},
           "metadata": [{{"name": "atlas_data_version", "value": "{release}"}}], "techniques": [{techniques}]}}"#
    )
}

#[tokio::test]
async fn bad_files_are_refused_with_the_place_and_the_reason_and_nothing_half_applied() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let history_before = app.get(&format!("/api/v1/systems/{id}/history")).await.json();

    let truncated =
        import(&app, id, "?format=navigator&dry_run=false", b"{\"name\": \"x\",\n \"domain\": \"atlas-").await;
    assert_eq!(truncated.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(truncated.json()["error"]["code"], "invalid_file");
    assert!(error_message(&truncated).starts_with("line 2, column"), "{}", truncated.body);

    let attack = import(&app, id, "?dry_run=false", layer("enterprise-attack", "2026.05", "").as_bytes()).await;
    assert_eq!(attack.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&attack).contains("domain: the layer is for domain `enterprise-attack`"), "{}", attack.body);

    // A layer for a release that is not loaded (ATLAS publishes monthly) is read by ID, with a warning.
    let future = import(&app, id, "", layer("atlas-atlas", "2031.01", "").as_bytes()).await;
    assert_eq!(future.status, StatusCode::OK, "{}", future.body);
    assert!(future.body.contains("2031.01, which is not loaded"), "{}", future.body);

    let headless = import(&app, id, "?format=csv&dry_run=false", b"id,applicability\nAML.T0043,applies\n").await;
    assert_eq!(headless.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&headless).starts_with("row 1 (header): no `technique_id` column"), "{}", headless.body);

    // Unknown technique IDs are listed back, never dropped silently.
    let unknown = layer(
        "atlas-atlas",
        "2026.05",
        r#"{"techniqueID": "AML.T9999", "score": 1}, {"techniqueID": "AML.T0000", "score": 1, "comment": "Recon seen"}"#,
    );
    let preview = import(&app, id, "?dry_run=true", unknown.as_bytes()).await.json();
    assert_eq!(preview["unknown_techniques"], json!([{"at": "techniques[0]", "technique_id": "AML.T9999"}]));
    assert_eq!(preview["changes"].as_array().expect("changes").len(), 2);

    // A row in error: the preview lists it; applying refuses the whole file.
    let csv = "technique_id,applicability,rationale\nAML.T0000,applies,Recon\nAML.T0043,perhaps,\nAML.T9999,applies,\n";
    let preview = import(&app, id, "?format=csv&dry_run=true", csv.as_bytes()).await;
    assert_eq!(preview.status, StatusCode::OK);
    let preview = preview.json();
    assert_eq!(preview["errors"][0]["at"], "row 3, applicability");
    assert_eq!(preview["unknown_techniques"][0]["technique_id"], "AML.T9999");
    let refused = import(&app, id, "?format=csv&dry_run=false", csv.as_bytes()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_message(&refused).contains("row 3, applicability: `perhaps` is not one of"), "{}", refused.body);
    assert_eq!(assessment(&app, id, "AML.T0000").await["applicability"], "unknown", "the good row was not applied");

    let empty = import(&app, id, "?dry_run=false", b"").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let xml = import(&app, id, "?format=xml", b"<layer/>").await;
    assert_eq!(xml.status, StatusCode::BAD_REQUEST);
    assert!(error_message(&xml).starts_with("format:"));
    assert_eq!(import(&app, 999, "", b"technique_id\n").await.status, StatusCode::NOT_FOUND);

    let history_after = app.get(&format!("/api/v1/systems/{id}/history")).await.json();
    assert_eq!(history_before, history_after, "nothing was recorded");
}

#[tokio::test]
async fn viewers_read_reports_and_only_editors_import() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let viewer = app.member("vera", 1, Some(Role::Viewer)).await;
    let editor = app.member("eddie", 1, Some(Role::Editor)).await;
    let as_viewer = app.get_with(&format!("/api/v1/systems/{id}/gaps?format=csv"), &[("cookie", &viewer)]).await;
    assert_eq!(as_viewer.status, StatusCode::OK);
    let csv = as_viewer.body;
    let post = |cookie: String| {
        let app = &app;
        let body = csv.clone().into_bytes();
        async move {
            app.request(
                Method::POST,
                &format!("/api/v1/systems/{id}/import?format=csv&dry_run=true"),
                &[("cookie", &cookie), ("content-type", "text/csv")],
                body,
            )
            .await
        }
    };
    assert_eq!(post(viewer.clone()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(post(editor).await.status, StatusCode::OK);
    let page = app.get_with(&format!("/systems/{id}/gaps"), &[("cookie", &viewer)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&format!("/systems/{id}/import\"")), "no import link for a viewer");
    assert_eq!(
        app.get_with(&format!("/systems/{id}/import"), &[("cookie", &viewer)]).await.status,
        StatusCode::FORBIDDEN
    );
}

/// A page of the strict CSP: no inline style or script.
fn assert_no_inline_code(page: &str) {
    assert!(!page.contains(" style="), "no style attribute");
    assert!(!page.contains("<style"), "no style element");
    let scripts = page.matches("<script").count();
    assert_eq!(scripts, page.matches("<script src=").count(), "scripts only from files");
}

#[tokio::test]
async fn the_gap_page_and_the_team_overview_work_without_javascript() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let other = second_system(&app).await;

    let page = app.get(&format!("/systems/{id}/gaps")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for text in [
        "Open gaps by priority",
        "How priority is computed",
        "criticality",
        "Recommendations: what closes the most risk next",
        "Coverage after",
        "Case-study lens",
        "entirely uncovered",
        "/systems/1/report?format=navigator",
        "/systems/1/import",
    ] {
        assert!(page.body.contains(text), "the gap page shows {text}");
    }
    assert_no_inline_code(&page.body);
    let three = app.get(&format!("/systems/{id}/gaps?steps=3")).await;
    assert!(three.body.contains("<option value=\"3\" selected>"));

    let workshop = app.get(&format!("/systems/{id}")).await;
    assert!(workshop.body.contains(&format!("/systems/{id}/gaps")) && workshop.body.contains("report?format=csv"));
    let team = app.get("/teams/1").await;
    assert!(team.body.contains("/teams/1/overview") && team.body.contains("/teams/1/report?format=md"));

    let overview = app.get("/teams/1/overview").await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.body);
    assert_no_inline_code(&overview.body);
    assert_eq!(overview.body.matches("<td class=\"heat ").count(), 2 * 16, "a cell per system × tactic");
    assert!(overview.body.contains(&format!("href=\"/systems/{id}?tactic=AML%2ETA0005\"")), "drill-down to a tactic");
    let position = |body: &str, name: &str| body.find(&format!(">{name}</a>")).expect(name);
    // By name (the default): Fraud Model, then Support Chatbot.
    assert!(position(&overview.body, "Fraud Model") < position(&overview.body, "Support Chatbot"));
    assert!(overview.body.contains("aria-sort=\"ascending\""));
    let by_gaps = app.get("/teams/1/overview?sort=gaps&order=desc").await.body;
    assert!(position(&by_gaps, "Support Chatbot") < position(&by_gaps, "Fraud Model"), "most open gaps first");
    assert!(by_gaps.contains("aria-sort=\"descending\""));
    let by_tactic = app.get("/teams/1/overview?sort=AML.TA0005&order=desc").await;
    assert_eq!(by_tactic.status, StatusCode::OK);
    let unknown = app.get("/teams/1/overview?sort=nonsense").await;
    assert_eq!(unknown.status, StatusCode::OK, "an unknown column sorts by name");

    let csv = app.get(&format!("/systems/{other}/report?format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-disposition").starts_with("attachment; filename=\"atlascope-gaps-fraud-model-"));
    let md = app.get("/teams/1/report?format=md").await;
    assert!(md.header("content-disposition").ends_with(".md\"") && md.body.contains("team Red Team"));
    let html = app.get("/teams/1/report").await;
    assert_eq!(html.header("content-type"), "text/html; charset=utf-8", "HTML by default");
    assert_eq!(app.get("/teams/1/report?format=pdf").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/teams/9/overview").await.status, StatusCode::NOT_FOUND);
}

/// A multipart/form-data body as a browser sends the import form.
fn upload_form(file: &str, pasted: &str, format: &str) -> (String, Vec<u8>) {
    let boundary = "----atlascope-test-boundary";
    let mut body = String::new();
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"edited.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n"));
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"format\"\r\n\r\n{format}\r\n"));
    body.push_str(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"content\"\r\n\r\n{pasted}\r\n"));
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

/// The value of a hidden input in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no hidden {name}")) + marker.len();
    page[start..start + page[start..].find('"').expect("end of value")].to_string()
}

fn form_encode(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

#[tokio::test]
async fn the_import_page_previews_an_upload_and_applies_only_when_confirmed() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let form = app.get(&format!("/systems/{id}/import")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    assert!(form.body.contains("<label for=\"import-file\">") && form.body.contains("<label for=\"import-content\">"));
    assert_no_inline_code(&form.body);

    let csv = app.get(&format!("/api/v1/systems/{id}/gaps?format=csv")).await.body;
    let edited = edit_csv(&csv, "AML.T0024", "risk", "critical");
    let (content_type, body) = upload_form(&edited, "", "auto");
    let preview =
        app.request(Method::POST, &format!("/systems/{id}/import"), &[("content-type", &content_type)], body).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    assert!(preview.body.contains("Preview: 1 change(s) to 1 technique(s)"), "{}", preview.body);
    assert!(preview.body.contains("Apply 1 change(s)"));
    assert_eq!(assessment(&app, id, "AML.T0024").await["risk"], Value::Null, "nothing applied by the preview");

    // A confirmation whose preview no longer holds applies nothing and shows the new preview.
    let stale = form_encode(&[
        ("content", &hidden(&preview.body, "content")),
        ("format", &hidden(&preview.body, "format")),
        ("fingerprint", "0000"),
    ]);
    let reply = app.post_form(&format!("/systems/{id}/import/apply"), std::str::from_utf8(&stale).expect("text")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("changed since the preview"));
    assert_eq!(assessment(&app, id, "AML.T0024").await["risk"], Value::Null);

    let confirm = form_encode(&[
        ("content", &hidden(&preview.body, "content")),
        ("format", &hidden(&preview.body, "format")),
        ("fingerprint", &hidden(&preview.body, "fingerprint")),
    ]);
    let applied =
        app.post_form(&format!("/systems/{id}/import/apply"), std::str::from_utf8(&confirm).expect("text")).await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    let location = applied.header("location").to_string();
    assert!(location.starts_with(&format!("/systems/{id}?done=")) && location.contains("&undo="), "{location}");
    assert_eq!(assessment(&app, id, "AML.T0024").await["risk"], "critical");
    let workshop = app.get(&location).await;
    assert!(workshop.body.contains("Imported the file: 1 technique assessment(s) changed."));

    // Pasted text works too; an unreadable one is named and changes nothing.
    let (content_type, body) = upload_form("", "{\"name\": ", "navigator");
    let broken =
        app.request(Method::POST, &format!("/systems/{id}/import"), &[("content-type", &content_type)], body).await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.body.contains("The file cannot be read, nothing was changed: line 1, column"), "{}", broken.body);
    let (content_type, body) = upload_form("", "", "auto");
    let nothing =
        app.request(Method::POST, &format!("/systems/{id}/import"), &[("content-type", &content_type)], body).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nothing.body.contains("choose a file or paste its content"));
}

fn atlascope(app: &TestApp, args: &[&str], token: Option<&str>) -> (bool, String, String) {
    let (code, out, err) = atlascope_exit(app, args, token);
    (code == Some(0), out, err)
}

/// Runs the binary on the app's data directory; its exit code and output.
pub(crate) fn atlascope_exit(app: &TestApp, args: &[&str], token: Option<&str>) -> (Option<i32>, String, String) {
    let mut command = crate::helpers::atlascope_command(app);
    command.args(args).env("RUST_LOG", "warn").env_remove("ATLASCOPE_TOKEN");
    if let Some(token) = token {
        command.env("ATLASCOPE_TOKEN", token);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_gates_on_the_pinned_release_and_tells_falling_short_from_failing_to_run() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await.to_string();
    let check = |extra: &[&str]| {
        let mut args = vec!["check", "--system", id.as_str(), "--min-coverage", "0"];
        args.extend_from_slice(extra);
        atlascope_exit(&app, &args, None)
    };
    let (code, out, _) = check(&["--require-release", "2026.05", "--fail-if-behind"]);
    assert_eq!(code, Some(0), "pinned to the newest and the required release: {out}");
    assert!(out.contains("PASS pinned to ATLAS 2026.05, at least the required 2026.05"), "{out}");
    let (code, out, err) = check(&["--require-release", "2027.01"]);
    assert_eq!(code, Some(1), "falls short: {out} {err}");
    assert!(out.contains("FAIL pinned to ATLAS 2026.05, older than the required 2027.01"), "{out}");
    // Could not run: a bad version, or no such system.
    let (code, _, err) = check(&["--require-release", "next month"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--require-release"), "{err}");
    let (code, _, err) = atlascope_exit(&app, &["check", "--system", "Nope", "--min-coverage", "0"], None);
    assert_eq!(code, Some(2), "{err}");

    // A newer release is loaded: the system is behind.
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let file = dir.join("ATLAS-2026.05.yaml");
    let (ok, _, err) = atlascope(&app, &["framework", "import", file.to_str().expect("path"), "--as", "2026.06"], None);
    assert!(ok, "{err}");
    let (code, out, _) = check(&["--fail-if-behind"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL pinned to ATLAS 2026.05 while 2026.06 is loaded"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_writes_reports_and_gates_on_coverage() {
    let app = TestApp::spawn().await;
    let id = assessed_system(&app).await;
    let coverage = app.get(&format!("/api/v1/systems/{id}/coverage")).await.json()["overall"]["coverage_percent"]
        .as_f64()
        .expect("a coverage percentage");
    assert!(coverage > 10.0 && coverage < 90.0, "{coverage}");
    let dir = tempfile::tempdir().expect("dir");

    // On the local database, by name.
    let file = dir.path().join("report.html");
    let (ok, _, err) = atlascope(
        &app,
        &["report", "gaps", "--system", "support chatbot", "--format", "html", "-o", file.to_str().expect("path")],
        None,
    );
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(&file).expect("the report was written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Support Chatbot"));
    let (ok, out, _) = atlascope(&app, &["report", "gaps", "--system", "1", "--format", "csv"], None);
    assert!(ok && out.starts_with("system_id,system,technique_id"), "to standard output by ID");
    let (ok, _, err) = atlascope(&app, &["report", "gaps", "--system", "Nope"], None);
    assert!(!ok && err.contains("no system has the ID or name `Nope`"), "{err}");
    let (ok, _, err) = atlascope(&app, &["report", "gaps", "--system", "1", "--format", "pdf"], None);
    assert!(!ok && err.contains("`pdf` is not one of"), "{err}");

    let (ok, out, err) = atlascope(&app, &["check", "--system", "Support Chatbot", "--min-coverage", "90"], None);
    assert!(!ok, "below the threshold: {out}");
    assert!(out.contains("Support Chatbot (ATLAS 2026.05): coverage") && out.contains("FAIL coverage"), "{out}");
    assert!(err.contains("falls short"), "{err}");
    let (ok, out, err) = atlascope(&app, &["check", "--system", "Support Chatbot", "--min-coverage", "10"], None);
    assert!(ok, "above the threshold: {out} {err}");
    assert!(out.contains("PASS coverage"), "{out}");
    let (ok, out, _) = atlascope(&app, &["check", "--system", "1", "--min-coverage", "10", "--no-realized-gaps"], None);
    assert!(!ok && out.contains("FAIL 1 open gap(s) on realized techniques: AML.T"), "{out}");

    // Against the server's API with a token.
    let admin = atlascope::db::accounts::user_by_name(&app.state.db, crate::helpers::ADMIN).await.unwrap().unwrap().id;
    let token = atlascope::service::accounts::create_token(&app.state, admin, "ci", TokenScope::Read, None, 1)
        .await
        .expect("a token")
        .secret;
    let remote = dir.path().join("remote.layer.json");
    let (ok, _, err) = atlascope(
        &app,
        &[
            "report",
            "gaps",
            "--system",
            "Support Chatbot",
            "--format",
            "navigator",
            "-o",
            remote.to_str().expect("path"),
            "--server",
            &app.base,
            "--token",
            &token,
        ],
        None,
    );
    assert!(ok, "{err}");
    let layer: Value = serde_json::from_slice(&std::fs::read(&remote).expect("written")).expect("JSON");
    assert_eq!(layer["domain"], "atlas-atlas");
    let (ok, out, _) =
        atlascope(&app, &["check", "--system", "1", "--min-coverage", "90", "--server", &app.base], Some(&token));
    assert!(!ok && out.contains("FAIL coverage"), "the token from ATLASCOPE_TOKEN: {out}");
    let (ok, out, err) =
        atlascope(&app, &["check", "--system", "1", "--min-coverage", "10", "--server", &app.base], Some(&token));
    assert!(ok && out.contains("PASS coverage"), "{out} {err}");
    let (ok, _, err) =
        atlascope(&app, &["check", "--system", "1", "--min-coverage", "10", "--server", &app.base], None);
    assert!(!ok && err.contains("401") && err.contains("--token"), "{err}");
}

/// What a layer says of each technique, as mitreattack-python reports it.
fn annotations(layer: &Value) -> Vec<Value> {
    layer["techniques"]
        .as_array()
        .expect("techniques")
        .iter()
        .map(|t| {
            json!({
                "techniqueID": t["techniqueID"],
                "tactic": t.get("tactic").cloned().unwrap_or(Value::Null),
                "score": t.get("score").cloned().unwrap_or(Value::Null),
                "color": t.get("color").cloned().unwrap_or(Value::Null),
                "comment": t.get("comment").cloned().unwrap_or(Value::Null),
                "enabled": t.get("enabled").cloned().unwrap_or(Value::Bool(true)),
                "showSubtechniques": t.get("showSubtechniques").cloned().unwrap_or(Value::Bool(false)),
            })
        })
        .collect()
}

#[tokio::test]
async fn every_exported_layer_opens_in_mitreattack_python_as_written() {
    let Some(tools) = crate::tools::python_tools() else { return };
    let app = TestApp::spawn().await;
    let system = assessed_system(&app).await;
    second_system(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files: Vec<(String, Value)> = Vec::new();
    let mut keep = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("written");
        files.push((path.display().to_string(), serde_json::from_slice(bytes).expect("a layer")));
    };
    for (name, path) in [
        ("system-4.5.json", format!("/api/v1/systems/{system}/gaps?format=navigator")),
        ("system-4.3.json", format!("/api/v1/systems/{system}/gaps?format=navigator&layer_version=4.3")),
        ("team.json", "/api/v1/teams/1/gaps?format=navigator".to_string()),
        ("system-detection.json", format!("/api/v1/systems/{system}/gaps?format=navigator-detection")),
        ("team-detection.json", "/api/v1/teams/1/gaps?format=navigator-detection".to_string()),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        keep(name, &reply.bytes);
    }
    let zip = app.get("/api/v1/teams/1/gaps?format=navigator-zip").await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.bytes.clone())).expect("a zip");
    assert_eq!(archive.len(), 5, "the aggregate, and a prevention and a detection layer per system");
    for index in 0..archive.len() {
        let mut member = archive.by_index(index).expect("a member");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut member, &mut bytes).expect("read");
        keep(&format!("zip-{index}.json"), &bytes);
    }

    let tools = tools.to_path_buf();
    let paths: Vec<String> = files.iter().map(|(path, _)| path.clone()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(tools.join("python"))
            .arg(crate::tools::script("navlayers_check.py"))
            .args(&paths)
            .output()
            .expect("python runs")
    })
    .await
    .expect("the check runs");
    assert!(output.status.success(), "mitreattack-python refused a layer: {}", String::from_utf8_lossy(&output.stderr));
    let read: Value = serde_json::from_slice(&output.stdout).expect("the check prints JSON");
    for (path, written) in &files {
        let loaded = &read[path];
        assert_eq!(loaded["name"], written["name"], "{path}");
        assert_eq!(loaded["gradient"]["minValue"], 0, "{path}");
        assert_eq!(loaded["gradient"]["maxValue"], 100, "{path}");
        let expected = annotations(written);
        let got = loaded["techniques"].as_array().expect("techniques read");
        assert_eq!(got.len(), expected.len(), "{path}: every entry is read");
        for (got, expected) in got.iter().zip(&expected) {
            assert_eq!(got, expected, "{path}: techniques, scores, colours and comments as written");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_previews_and_applies_an_upgrade() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", crate::helpers::official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &json!({"name": "Models"})).await.json()["id"].clone();
    let body = json!({"team_id": team, "name": "Legacy Chat", "exposure": "public", "criticality": "high",
        "framework_version": "5.6.0"});
    let created = app.post_json("/api/v1/systems", &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let (ok, out, err) = atlascope(&app, &["upgrade", "--system", "Legacy Chat", "--to", "2026.05"], None);
    assert!(ok, "{err}");
    assert!(out.contains("Upgrading Legacy Chat from ATLAS 5.6.0 to 2026.05") && out.contains("add --apply"), "{out}");
    let (ok, out, err) = atlascope(&app, &["upgrade", "--system", "Legacy Chat", "--to", "2026.05", "--apply"], None);
    assert!(ok, "{err}");
    assert!(
        out.contains("Upgraded Legacy Chat from ATLAS 5.6.0 to 2026.05") && out.contains("undo: history entry"),
        "{out}"
    );
    let (code, out, err) = atlascope_exit(&app, &["upgrade", "--system", "Legacy Chat", "--to", "5.6.0"], None);
    assert_eq!(code, Some(1), "older than the pinned 2026.05: {out}");
    assert!(err.contains("older than the pinned release 2026.05"), "{err}");
    let (code, _, err) = atlascope_exit(&app, &["upgrade", "--system", "Legacy Chat", "--to", "2031.01"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("2031.01 is not loaded"), "{err}");
    let (code, _, err) =
        atlascope_exit(&app, &["upgrade", "--team", "Models", "--to", "2026.05", "--successor", "AML.T0019"], None);
    assert_eq!(code, Some(1));
    assert!(err.contains("is not OLD=NEW"), "{err}");
    let (ok, out, err) = atlascope(&app, &["upgrade", "--team", "Models", "--to", "2026.05", "--apply"], None);
    assert!(ok, "{err}");
    assert!(out.contains("Legacy Chat: left as it is (already on this release)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_added_by_the_command_line_is_served_by_a_running_server_without_a_restart() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let file = dir.join("ATLAS-5.6.0.yaml");
    let (ok, _, err) = atlascope(&app, &["framework", "import", file.to_str().expect("path")], None);
    assert!(ok, "{err}");
    let deadline = std::time::Instant::now() + atlascope::releases::STORED_RELEASES_POLL * 3;
    loop {
        let listed = app.get("/api/v1/frameworks").await.json();
        if listed.as_array().unwrap().iter().any(|r| r["version"] == "5.6.0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "5.6.0 never appeared: {listed}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/frameworks/5.6.0/techniques/AML.T0051").await.status, StatusCode::OK);
}
