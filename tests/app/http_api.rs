//! The JSON API over real HTTP: reading releases, importing official files,
//! and every error answered as JSON with an honest status.

use crate::helpers::{StatusCode, TestApp, official, shared_atlas};

#[tokio::test]
async fn lists_the_bundled_default_release() {
    let app = TestApp::spawn().await;
    let reply = app.get("/api/v1/frameworks").await;
    assert_eq!(reply.status, StatusCode::OK);
    let list = reply.json();
    assert_eq!(list[0]["version"], "2026.05");
    assert_eq!(list[0]["default"], true);
    assert_eq!(list[0]["origin"]["kind"], "bundled");
    assert_eq!(list[0]["counts"]["techniques"], 101);
    assert_eq!(list[0]["counts"]["subtechniques"], 69);
    assert_eq!(list[0]["counts"]["procedure_steps"], 449);
}

#[tokio::test]
async fn the_matrix_has_tactics_in_order_with_nested_sub_techniques() {
    let app = TestApp::spawn().await;
    let matrix = app.get("/api/v1/frameworks/default/matrix").await.json();
    let tactics = matrix["tactics"].as_array().expect("tactics");
    assert_eq!(tactics.len(), 16);
    assert_eq!(tactics[0]["id"], "AML.TA0002");
    assert_eq!(tactics[12]["id"], "AML.TA0001", "AI Attack Staging is 13th in 2026.05");
    let execution = tactics.iter().find(|t| t["id"] == "AML.TA0005").expect("Execution");
    let injection = execution["techniques"].as_array().unwrap().iter().find(|t| t["id"] == "AML.T0051").expect("T0051");
    assert_eq!(injection["subtechniques"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn techniques_can_be_filtered_and_read_one_by_one() {
    let app = TestApp::spawn().await;
    let all = app.get("/api/v1/frameworks/2026.05/techniques").await.json();
    assert_eq!(all.as_array().unwrap().len(), 170);
    let realized = app.get("/api/v1/frameworks/2026.05/techniques?maturity=realized").await.json();
    assert!(realized.as_array().unwrap().iter().all(|t| t["maturity"] == "realized"));
    let impact = app.get("/api/v1/frameworks/2026.05/techniques?tactic=AML.TA0011").await.json();
    assert!(
        impact
            .as_array()
            .unwrap()
            .iter()
            .all(|t| { t["tactics"].as_array().unwrap().iter().any(|x| x == "AML.TA0011") })
    );

    let one = app.get("/api/v1/frameworks/2026.05/techniques/AML.T0015").await.json();
    assert_eq!(one["name"], "Evade AI Model");
    assert_eq!(one["tactics"].as_array().unwrap().len(), 3);
    assert_eq!(one["url"], "https://atlas.mitre.org/techniques/AML.T0015");
    assert!(one["summary"].as_str().is_some_and(|s| !s.is_empty()), "bundled data carries the project's summary");
    assert!(one["description"].is_null(), "MITRE's text is not bundled");
}

#[tokio::test]
async fn mitigations_and_case_studies_are_served() {
    let app = TestApp::spawn().await;
    let mitigations = app.get("/api/v1/frameworks/2026.05/mitigations").await.json();
    assert_eq!(mitigations.as_array().unwrap().len(), 35);
    let links: usize = mitigations.as_array().unwrap().iter().map(|m| m["techniques"].as_array().unwrap().len()).sum();
    assert_eq!(links, 246);
    let m = app.get("/api/v1/frameworks/2026.05/mitigations/AML.M0000").await.json();
    assert_eq!(m["name"], "Limit Public Release of Information");
    let studies = app.get("/api/v1/frameworks/2026.05/case-studies").await.json();
    let steps: usize = studies.as_array().unwrap().iter().map(|c| c["steps"].as_array().unwrap().len()).sum();
    assert_eq!(steps, 449);
    let cs = app.get("/api/v1/frameworks/default/case-studies/AML.CS0002").await.json();
    assert_eq!(cs["kind"], "incident");
}

#[tokio::test]
async fn unknown_ids_and_bad_filters_get_json_errors() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/frameworks/2026.05/techniques/AML.T9999",
        "/api/v1/frameworks/2026.05/mitigations/AML.M9999",
        "/api/v1/frameworks/2026.05/case-studies/AML.CS9999",
        "/api/v1/frameworks/1.2.3/matrix",
        "/api/v1/no-such-route",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(reply.header("content-type").starts_with("application/json"), "{path}");
        assert_eq!(reply.json()["error"]["code"], "not_found", "{path}");
    }
    let reply = app.get("/api/v1/frameworks/2026.05/techniques?maturity=legendary").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"]["message"].as_str().unwrap().starts_with("maturity:"));
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/frameworks",
        "/api/v1/frameworks/{version}/matrix",
        "/api/v1/frameworks/{version}/techniques/{id}",
        "/api/v1/frameworks/{version}/case-studies/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    assert!(doc["paths"]["/api/v1/frameworks"]["post"].is_object());
}

#[tokio::test]
async fn bad_files_are_refused_with_the_reason_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let reply = app.post("/api/v1/frameworks?filename=notes.txt", b"just some text\n".to_vec()).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(reply.json()["error"]["message"].as_str().unwrap().starts_with("notes.txt: unknown format"));

    let truncated =
        b"format-version: 6.0.0\ncollection:\n  version: '2099.01'\ntactics:\n  AML.TA0000:\n    name: [unclosed\n"
            .to_vec();
    let reply = app.post("/api/v1/frameworks?filename=cut.yaml", truncated).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("cut.yaml: line "), "{}", reply.body);

    let reply = app.post("/api/v1/frameworks", b"{\"type\": \"bundle\", \"objects\": [".to_vec()).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);

    let huge = vec![b'#'; atlascope::atlas::MAX_RELEASE_BYTES + 1];
    let reply = app.post("/api/v1/frameworks", huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json()["error"]["code"], "too_large");

    let reply = app.post("/api/v1/frameworks", Vec::new()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let list = app.get("/api/v1/frameworks").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing was half-imported");
}

#[tokio::test]
async fn an_imported_release_is_served_refused_twice_and_survives_a_restart() {
    let Some(dir) = shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let reply = app.post("/api/v1/frameworks?filename=ATLAS-5.6.0.yaml", official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let created = reply.json();
    assert_eq!(created["version"], "5.6.0");
    assert_eq!(created["format"], "legacy");
    assert_eq!(created["counts"]["case_studies"], 57);
    assert_eq!(reply.header("location"), "/api/v1/frameworks/5.6.0");

    let again = app.post("/api/v1/frameworks", official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.json()["error"]["message"].as_str().unwrap().contains("5.6.0 is already loaded"));

    let stix = app
        .post("/api/v1/frameworks?filename=stix-atlas.json&version=stix-5.6.0", official(&dir, "stix-atlas.json"))
        .await;
    assert_eq!(stix.status, StatusCode::CREATED, "{}", stix.body);
    assert_eq!(stix.json()["format"], "stix");

    // Full official text is stored and served for imported releases.
    let t = app.get("/api/v1/frameworks/5.6.0/techniques/AML.T0051").await.json();
    assert!(t["description"].as_str().is_some_and(|d| d.len() > 100));
    let page = app.get("/frameworks/5.6.0/techniques/AML.T0051").await;
    assert!(page.body.contains("Description (MITRE)"));
    assert!(page.body.contains(r#"href="https://atlas.mitre.org/"#), "site-relative links point at the official site");

    let diff = app.get("/api/v1/frameworks/5.6.0/diff/2026.05").await.json();
    assert!(diff["maturity_changed"].as_array().is_some_and(|m| !m.is_empty()));
    assert!(diff["possibly_reused"].as_array().is_some_and(Vec::is_empty));
    assert!(diff["links_added"].is_array() && diff["tactics_reordered"].is_array());
    let page = app.get("/frameworks/diff?from=5.6.0&to=2026.05").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Maturity changed") && page.body.contains("never from their dates"));

    let data_dir = app.data_dir.clone();
    let keep = app.stop().await;
    let restarted = TestApp::spawn_in(data_dir).await;
    let list = restarted.get("/api/v1/frameworks").await.json();
    let versions: Vec<_> =
        list.as_array().unwrap().iter().map(|r| r["version"].as_str().unwrap().to_string()).collect();
    assert_eq!(versions, ["2026.05", "5.6.0", "stix-5.6.0"], "newest first; named releases after numbered ones");
    drop(keep);
}

#[tokio::test]
async fn importing_the_official_2026_05_file_adds_full_text_to_the_bundled_release() {
    let Some(dir) = shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let reply = app.post("/api/v1/frameworks?filename=ATLAS-2026.05.yaml", official(&dir, "ATLAS-2026.05.yaml")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["full_text"], true);
    let t = app.get("/api/v1/frameworks/default/techniques/AML.T0000").await.json();
    assert!(t["description"].as_str().is_some());
    assert!(t["summary"].as_str().is_some(), "the project's summary stays alongside");
    let again = app.post("/api/v1/frameworks", official(&dir, "ATLAS-2026.05.yaml")).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_method_a_route_does_not_accept_gets_a_json_405() {
    let app = TestApp::spawn().await;
    let reply = app.request(axum::http::Method::DELETE, "/api/v1/frameworks", &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn every_documented_response_has_a_description() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/openapi.json").await.json();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(|r| r.as_object()) else { continue };
            for (status, response) in responses {
                let description = response["description"].as_str().unwrap_or("");
                assert!(!description.is_empty(), "{method} {path} {status} has no description");
            }
        }
    }
}

#[tokio::test]
async fn a_system_and_a_team_are_upgraded_through_the_api_after_a_preview() {
    let Some(dir) = shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Models"})).await.json()["id"].clone();
    let mut systems = Vec::new();
    for name in ["Chat", "Search"] {
        let body = serde_json::json!({"team_id": team, "name": name, "exposure": "public", "criticality": "high",
            "platforms": ["Generative AI"], "framework_version": "5.6.0"});
        let created = app.post_json("/api/v1/systems", &body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        systems.push(created.json()["id"].as_i64().unwrap());
    }
    let chat = systems[0];
    let put = app
        .put_json(
            &format!("/api/v1/systems/{chat}/assessments/AML.T0051"),
            &serde_json::json!({"applicability": "applies", "risk": "high"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    // A preview by default: nothing changes.
    let path = format!("/api/v1/systems/{chat}/upgrade");
    let preview = app.post_json(&path, &serde_json::json!({"to": "2026.05"})).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let plan = preview.json();
    assert_eq!(
        (plan["from"].as_str(), plan["to"].as_str(), plan["applied"].as_bool()),
        (Some("5.6.0"), Some("2026.05"), Some(false))
    );
    assert!(plan["retired"].as_array().unwrap().is_empty() && plan["reused"].as_array().unwrap().is_empty());
    assert!(plan["coverage_before"]["counts"].is_object() && plan["coverage_after"]["counts"].is_object());
    assert_eq!(app.get(&format!("/api/v1/systems/{chat}")).await.json()["framework_version"], "5.6.0");

    // Refusals name what is wrong and change nothing.
    let unknown = app.post_json(&path, &serde_json::json!({"to": "2031.01", "dry_run": false})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("2031.01"), "{}", unknown.body);
    let bad = app
        .post_json(
            &path,
            &serde_json::json!({"to": "2026.05", "dry_run": false, "successors": {"AML.T0051": "AML.T0052"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("successors"), "{}", bad.body);

    // Applied: the pin moves, the decision stays, and the answer says how to undo it.
    let applied = app.post_json(&path, &serde_json::json!({"to": "2026.05", "dry_run": false})).await.json();
    assert_eq!(applied["applied"], true);
    assert!(applied["undo_entry"].is_i64());
    assert_eq!(app.get(&format!("/api/v1/systems/{chat}")).await.json()["framework_version"], "2026.05");
    let kept = app.get(&format!("/api/v1/systems/{chat}/assessments/AML.T0051")).await.json();
    assert_eq!((kept["applicability"].as_str(), kept["risk"].as_str()), (Some("applies"), Some("high")));

    // The team: the system already on 2026.05 is skipped, the other upgraded.
    let team_path = format!("/api/v1/teams/{team}/upgrade");
    let answer = app.post_json(&team_path, &serde_json::json!({"to": "2026.05", "dry_run": false})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer = answer.json();
    assert_eq!(answer["systems"].as_array().unwrap().len(), 1);
    assert_eq!(answer["skipped"][0]["reason"], "already on this release");
    assert_eq!(app.get(&format!("/api/v1/systems/{}", systems[1])).await.json()["framework_version"], "2026.05");
}
