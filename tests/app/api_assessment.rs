//! The coverage-assessment API over real HTTP: teams, systems, technique
//! assessments, mitigation and control statuses, risk acceptances, coverage,
//! history with undo, optimistic concurrency and JSON errors.

use serde_json::{Value, json};

use atlascope::auth::Role;

use crate::helpers::{Method, Reply, StatusCode, TestApp};

async fn create_team(app: &TestApp, name: &str) -> i64 {
    let reply = app.post_json("/api/v1/teams", &json!({ "name": name })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["id"].as_i64().unwrap()
}

async fn create_system(app: &TestApp, team_id: i64, name: &str) -> i64 {
    let body = json!({
        "team_id": team_id, "name": name, "platforms": ["Generative AI"],
        "exposure": "public", "criticality": "high",
    });
    let reply = app.post_json("/api/v1/systems", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()["id"].as_i64().unwrap()
}

/// Asserts an error reply: status, JSON content type, code, and that the message contains `needle`.
fn assert_error(reply: &Reply, status: StatusCode, code: &str, needle: &str) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(reply.header("content-type").starts_with("application/json"), "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["error"]["code"], code, "{}", reply.body);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "`{needle}` not in: {message}");
    body
}

async fn put_with(app: &TestApp, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
    app.send_json(Method::PUT, path, headers, &body).await
}

#[tokio::test]
async fn teams_and_systems_are_created_read_edited_with_etags_and_locations() {
    let app = TestApp::spawn().await;
    let reply = app.post_json("/api/v1/teams", &json!({ "name": "  ML Platform ", "description": "models" })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let team = reply.json();
    let team_id = team["id"].as_i64().unwrap();
    assert_eq!(team["name"], "ML Platform", "names are trimmed");
    assert_eq!(reply.header("location"), format!("/api/v1/teams/{team_id}"));
    assert_eq!(reply.header("etag"), "\"1\"");

    let list = app.get("/api/v1/teams").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let one = app.get(&format!("/api/v1/teams/{team_id}")).await;
    assert_eq!(one.header("etag"), "\"1\"");
    let renamed = app.put_json(&format!("/api/v1/teams/{team_id}"), &json!({ "name": "AI Platform" })).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.header("etag"), "\"2\"");
    assert_eq!(renamed.json()["description"], "", "a PUT replaces every field");

    let body = json!({
        "team_id": team_id, "name": "Support bot", "owner": "dana",
        "platforms": ["agentic ai", "Generative AI", "Agentic AI"], "exposure": "public", "criticality": "high",
    });
    let reply = app.post_json("/api/v1/systems", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let system = reply.json();
    let system_id = system["id"].as_i64().unwrap();
    assert_eq!(reply.header("location"), format!("/api/v1/systems/{system_id}"));
    assert_eq!(reply.header("etag"), "\"1\"");
    assert_eq!(
        system["platforms"],
        json!(["Generative AI", "Agentic AI"]),
        "canonical names, deduplicated, in ATLAS order"
    );
    assert_eq!(system["framework_version"], "2026.05", "the default release");
    assert_eq!(system["exposure"], "public");

    let other_team = create_team(&app, "Research").await;
    create_system(&app, other_team, "Lab model").await;
    let all = app.get("/api/v1/systems").await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let mine = app.get(&format!("/api/v1/systems?team_id={team_id}")).await.json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["name"], "Support bot");

    let edit = json!({ "name": "Support assistant", "exposure": "internal", "criticality": "medium" });
    let reply = app.put_json(&format!("/api/v1/systems/{system_id}"), &edit).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let edited = reply.json();
    assert_eq!(reply.header("etag"), "\"2\"");
    assert_eq!(edited["name"], "Support assistant");
    assert_eq!(edited["platforms"], json!([]));
    assert_eq!(edited["framework_version"], "2026.05", "an edit without a release keeps the system's");
    let got = app.get(&format!("/api/v1/systems/{system_id}")).await;
    assert_eq!(got.header("etag"), "\"2\"");
    assert_eq!(got.json()["exposure"], "internal");

    let deleted = app.delete(&format!("/api/v1/systems/{system_id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/systems/{system_id}")).await.status, StatusCode::NOT_FOUND);
}

/// One system walked through every kind of decision, checked against the
/// rules documented in `src/domain/coverage.rs`.
/// Records the decisions of the documented example on a new system and
/// checks the coverage they add up to; returns the system's API path, the
/// firewall control and the path of the risk acceptance.
async fn documented_decisions(app: &TestApp) -> (String, i64, String) {
    let team = create_team(app, "Assistants").await;
    let system = create_system(app, team, "Chat").await;
    let base = format!("/api/v1/systems/{system}");

    // Nothing assessed yet: 170 techniques, all not assessed, default rows at version 0.
    let assessments = app.get(&format!("{base}/assessments")).await.json();
    let assessments = assessments.as_array().unwrap();
    assert_eq!(assessments.len(), 170);
    assert!(assessments.iter().all(|a| a["state"] == "not_assessed" && a["version"] == 0));
    let direct = assessments.iter().find(|a| a["technique_id"] == "AML.T0051.000").unwrap();
    assert_eq!(direct["name"], "Direct");
    assert_eq!(direct["parent"], "AML.T0051");
    let unassessed = app.get(&format!("{base}/assessments/AML.T0051")).await;
    assert_eq!(unassessed.header("etag"), "\"0\"");

    // Applicability. Applies: the prompt injection family, T0000 (one ATLAS
    // mitigation), T0001 and T0006 (none), T0015 (six). Not applicable: T0024.
    let applies =
        ["AML.T0051", "AML.T0051.000", "AML.T0051.001", "AML.T0051.002", "AML.T0000", "AML.T0001", "AML.T0006"];
    let reply = app
        .post_json(&format!("{base}/assessments/bulk"), &json!({ "techniques": applies, "applicability": "applies" }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["changed"].as_array().unwrap().len(), 7);
    let reply = app
        .put_json(
            &format!("{base}/assessments/AML.T0015"),
            &json!({ "applicability": "applies", "rationale": "image input", "risk": "high" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("etag"), "\"1\"");
    let t0015 = reply.json();
    assert_eq!(
        (t0015["applicability"].as_str(), t0015["risk"].as_str(), t0015["state"].as_str()),
        (Some("applies"), Some("high"), Some("gap"))
    );
    assert_eq!(t0015["updated_by"], "admin", "the signed-in account");
    let reply =
        app.put_json(&format!("{base}/assessments/AML.T0024"), &json!({ "applicability": "not_applicable" })).await;
    assert_eq!(reply.json()["state"], "not_applicable");
    // `risk: null` clears the rating; absent fields stay.
    let reply = app.put_json(&format!("{base}/assessments/AML.T0015"), &json!({ "risk": null })).await;
    let t0015 = reply.json();
    assert!(t0015["risk"].is_null());
    assert_eq!(t0015["rationale"], "image input");
    assert_eq!(reply.header("etag"), "\"2\"");

    // Mitigations: M0020 (of T0051) implemented, M0024 (of every T0051
    // sub-technique) in progress, M0000 (of T0000) planned.
    let mitigations = app.get(&format!("{base}/mitigations")).await.json();
    assert_eq!(mitigations.as_array().unwrap().len(), 35);
    assert!(mitigations.as_array().unwrap().iter().all(|m| m["status"] == "not_started" && m["version"] == 0));
    for (id, status) in [("AML.M0020", "implemented"), ("AML.M0024", "in_progress"), ("AML.M0000", "planned")] {
        let reply =
            app.put_json(&format!("{base}/mitigations/{id}"), &json!({ "status": status, "owner": "sam" })).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}: {}", reply.body);
        assert_eq!(reply.json()["status"], status);
        assert_eq!(reply.header("etag"), "\"1\"");
    }
    let reply = app
        .put_json(
            &format!("{base}/mitigations/AML.M0000"),
            &json!({ "target_date": "2027-03-31", "evidence": "ticket SEC-1", "notes": "q1" }),
        )
        .await;
    let m0000 = reply.json();
    assert_eq!(
        (m0000["status"].as_str(), m0000["target_date"].as_str(), m0000["owner"].as_str()),
        (Some("planned"), Some("2027-03-31"), Some("sam"))
    );
    assert_eq!(m0000["techniques"].as_array().unwrap().len(), 7);
    let one = app.get(&format!("{base}/mitigations/AML.M0000")).await;
    assert_eq!(one.header("etag"), "\"2\"");
    assert_eq!(one.json()["evidence"], "ticket SEC-1");
    let cleared = app.put_json(&format!("{base}/mitigations/AML.M0000"), &json!({ "target_date": null })).await.json();
    assert!(cleared["target_date"].is_null());

    // Team controls: one implemented on T0051.001, one planned on T0001
    // (which ATLAS has no mitigation for).
    let reply = app
        .post_json(
            &format!("/api/v1/teams/{team}/controls"),
            &json!({ "name": "Prompt firewall", "techniques": ["AML.T0051.001"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let firewall = reply.json()["id"].as_i64().unwrap();
    assert_eq!(reply.header("location"), format!("/api/v1/controls/{firewall}"));
    assert_eq!(reply.header("etag"), "\"1\"");
    let recon = app
        .post_json(
            &format!("/api/v1/teams/{team}/controls"),
            &json!({ "name": "Recon watch", "description": "alerts", "techniques": ["AML.T0001"] }),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let controls = app.get(&format!("/api/v1/teams/{team}/controls")).await.json();
    assert_eq!(controls.as_array().unwrap().len(), 2);
    let statuses = app.get(&format!("{base}/controls")).await.json();
    assert_eq!(statuses.as_array().unwrap().len(), 2);
    assert!(statuses.as_array().unwrap().iter().all(|c| c["status"] == "not_started"));
    let reply = app
        .put_json(
            &format!("{base}/controls/{firewall}"),
            &json!({ "status": "implemented", "evidence": "WAF rule 12" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["techniques"], json!(["AML.T0051.001"]));
    app.put_json(&format!("{base}/controls/{recon}"), &json!({ "status": "planned" })).await;
    let one = app.get(&format!("{base}/controls/{firewall}")).await;
    assert_eq!(one.header("etag"), "\"1\"");
    assert_eq!(one.json()["status"], "implemented");

    // A risk acceptance on T0051.002 outranks its in-progress mitigation.
    let path = format!("{base}/acceptances/AML.T0051.002");
    let reply = app
        .put_json(&path, &json!({ "justification": "triggers need agent access", "expires_on": "2099-12-31" }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.header("location"), path);
    assert_eq!(reply.header("etag"), "\"1\"");
    let acceptance = reply.json();
    assert_eq!((acceptance["accepted_by"].as_str(), acceptance["active"].as_bool()), (Some("admin"), Some(true)));
    let again = app
        .put_json(&path, &json!({ "justification": "triggers need agent access", "accepted_by": "CISO", "expires_on": "2099-06-30" }))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.header("etag"), "\"2\"");
    assert_eq!(again.json()["accepted_by"], "CISO");
    let listed = app.get(&format!("{base}/acceptances")).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["expires_on"], "2099-06-30");
    assert_eq!(app.get(&path).await.header("etag"), "\"2\"");
    let same = app
        .put_json(&path, &json!({ "justification": "triggers need agent access", "accepted_by": "CISO", "expires_on": "2099-06-30" }))
        .await;
    assert_eq!(same.header("etag"), "\"2\"", "an identical acceptance is not a change");

    // The states, technique by technique.
    let states: std::collections::HashMap<String, String> = app
        .get(&format!("{base}/assessments"))
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["technique_id"].as_str().unwrap().to_string(), a["state"].as_str().unwrap().to_string()))
        .collect();
    for (technique, state) in [
        ("AML.T0051", "covered"),               // M0020 implemented
        ("AML.T0051.001", "covered"),           // the firewall control implemented
        ("AML.T0051.000", "partially_covered"), // M0024 in progress
        ("AML.T0051.002", "accepted_risk"),     // accepted, nothing implemented
        ("AML.T0000", "gap"),                   // M0000 only planned
        ("AML.T0001", "gap"),                   // no ATLAS mitigation, but a planned control
        ("AML.T0015", "gap"),                   // six mitigations, none started
        ("AML.T0006", "gap_no_known_mitigation"),
        ("AML.T0024", "not_applicable"),
        ("AML.T0002", "not_assessed"),
    ] {
        assert_eq!(states[technique], state, "{technique}");
    }

    // covered 2 ÷ (covered 2 + partial 1 + gap 3 + no known mitigation 1) = 28.6 %;
    // assessed 9 of 170 = 5.3 %.
    let coverage = app.get(&format!("{base}/coverage")).await.json();
    assert_eq!(coverage["system_id"], system);
    assert_eq!(coverage["framework_version"], "2026.05");
    let overall = &coverage["overall"];
    assert_eq!(
        overall["counts"],
        json!({
            "not_assessed": 161, "not_applicable": 1, "covered": 2, "partially_covered": 1,
            "gap": 3, "gap_no_known_mitigation": 1, "accepted_risk": 1,
        })
    );
    assert_eq!(overall["total"], 170);
    assert_eq!(overall["coverage_percent"], 28.6);
    assert_eq!(overall["assessed_percent"], 5.3);
    let tactics = coverage["tactics"].as_array().unwrap();
    assert_eq!(tactics.len(), 16);
    let execution = tactics.iter().find(|t| t["tactic_id"] == "AML.TA0005").unwrap();
    assert_eq!(
        (
            execution["counts"]["covered"].as_u64(),
            execution["counts"]["partially_covered"].as_u64(),
            execution["counts"]["accepted_risk"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(execution["coverage_percent"], 66.7);
    let exfiltration = tactics.iter().find(|t| t["tactic_id"] == "AML.TA0010").unwrap();
    assert!(exfiltration["coverage_percent"].is_null(), "nothing applies there: no percentage");
    (base, firewall, path)
}

#[tokio::test]
async fn decisions_add_up_to_the_documented_coverage() {
    let app = TestApp::spawn().await;
    documented_decisions(&app).await;
}

#[tokio::test]
async fn withdrawing_an_acceptance_or_changing_a_control_moves_the_states_at_once() {
    let app = TestApp::spawn().await;
    let (base, firewall, path) = documented_decisions(&app).await;
    // Withdrawing the acceptance makes T0051.002 partially covered again.
    let withdrawn = app.request(Method::DELETE, &path, &[("if-match", "\"2\"")], Vec::new()).await;
    assert_eq!(withdrawn.status, StatusCode::NO_CONTENT, "{}", withdrawn.body);
    assert_error(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found", "no risk acceptance");
    let state = app.get(&format!("{base}/assessments/AML.T0051.002")).await.json()["state"].clone();
    assert_eq!(state, "partially_covered");
    // Marking every remaining usable mitigation of T0051.000 not applicable leaves no known mitigation.
    for id in ["AML.M0024", "AML.M0033"] {
        app.put_json(&format!("{base}/mitigations/{id}"), &json!({ "status": "not_applicable" })).await;
    }
    let state = app.get(&format!("{base}/assessments/AML.T0051.000")).await.json()["state"].clone();
    assert_eq!(state, "gap_no_known_mitigation");

    // Controls are edited and deleted at team level; the status goes with them.
    let reply = app
        .put_json(
            &format!("/api/v1/controls/{firewall}"),
            &json!({ "name": "Prompt firewall", "techniques": ["AML.T0051.001", "AML.T0051.002"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.header("etag"), "\"2\"");
    assert_eq!(
        app.get(&format!("/api/v1/controls/{firewall}")).await.json()["techniques"].as_array().unwrap().len(),
        2
    );
    let state = app.get(&format!("{base}/assessments/AML.T0051.002")).await.json()["state"].clone();
    assert_eq!(state, "covered", "the implemented control now maps to T0051.002 as well");
    let deleted = app.delete(&format!("/api/v1/controls/{firewall}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&format!("/api/v1/controls/{firewall}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "control",
    );
    assert_eq!(app.get(&format!("{base}/controls")).await.json().as_array().unwrap().len(), 1);
    let state = app.get(&format!("{base}/assessments/AML.T0051.001")).await.json()["state"].clone();
    assert_eq!(state, "gap_no_known_mitigation", "without the control only its two not-applicable mitigations remain");
}

#[tokio::test]
async fn a_bulk_change_is_one_history_batch_that_one_undo_reverts() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "Bulk").await;
    let system = create_system(&app, team, "Batcher").await;
    let base = format!("/api/v1/systems/{system}");
    app.put_json(&format!("{base}/assessments/AML.T0000"), &json!({ "applicability": "applies", "rationale": "kept" }))
        .await;

    let techniques = ["AML.T0000", "AML.T0001", "AML.T0002"];
    let workshop = app.member("workshop", team, Some(Role::Editor)).await;
    let reply = app
        .send_json(
            Method::POST,
            &format!("{base}/assessments/bulk"),
            &[("cookie", &workshop)],
            &json!({ "techniques": techniques, "applicability": "not_applicable" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let result = reply.json();
    assert_eq!(result["changed"], json!(techniques));
    let batch = result["history_id"].as_i64().expect("a batch to undo");
    let history = app.get(&format!("{base}/history")).await.json();
    let entries: Vec<&Value> = history.as_array().unwrap().iter().filter(|e| e["batch"] == batch).collect();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e["actor"] == "workshop" && e["entity"] == "assessment"));
    for technique in techniques {
        let a = app.get(&format!("{base}/assessments/{technique}")).await.json();
        assert_eq!(a["state"], "not_applicable", "{technique}");
    }

    // The same request again changes nothing and records nothing.
    let again = app
        .post_json(
            &format!("{base}/assessments/bulk"),
            &json!({ "techniques": techniques, "applicability": "not_applicable" }),
        )
        .await
        .json();
    assert_eq!(again["changed"], json!([]));
    assert!(again["history_id"].is_null());

    let undone = app.request(Method::POST, &format!("{base}/history/{batch}/undo"), &[], Vec::new()).await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(undone.json()["changed"].as_array().unwrap().len(), 3);
    let t0000 = app.get(&format!("{base}/assessments/AML.T0000")).await.json();
    assert_eq!((t0000["applicability"].as_str(), t0000["rationale"].as_str()), (Some("applies"), Some("kept")));
    for technique in ["AML.T0001", "AML.T0002"] {
        let a = app.get(&format!("{base}/assessments/{technique}")).await.json();
        assert_eq!(a["applicability"], "unknown", "{technique}");
    }
    // Undoing it twice: the items moved on since the entry.
    let twice = app.request(Method::POST, &format!("{base}/history/{batch}/undo"), &[], Vec::new()).await;
    let body = assert_error(&twice, StatusCode::CONFLICT, "changed_since", "changed by someone else");
    assert!(body["error"]["current_version"].is_i64());

    // Unknown techniques: all or nothing, naming every unknown ID.
    let before = app.get(&format!("{base}/history")).await.json().as_array().unwrap().len();
    let reply = app
        .post_json(
            &format!("{base}/assessments/bulk"),
            &json!({ "techniques": ["AML.T0003", "AML.T9999", "nope"], "applicability": "applies" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "techniques: not technique IDs");
    assert!(reply.json()["error"]["message"].as_str().is_some_and(|m| m.ends_with(": nope")), "{}", reply.body);
    // Well-formed IDs that the release does not have name missing things: 404.
    let reply = app
        .post_json(
            &format!("{base}/assessments/bulk"),
            &json!({ "techniques": ["AML.T0003", "AML.T9999"], "applicability": "applies" }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "techniques: not in ATLAS release 2026.05: AML.T9999");
    assert_eq!(app.get(&format!("{base}/assessments/AML.T0003")).await.json()["applicability"], "unknown");
    let reply = app
        .post_json(&format!("{base}/assessments/bulk"), &json!({ "techniques": [], "applicability": "applies" }))
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "techniques:");
    let reply = app
        .post_json(
            &format!("{base}/assessments/bulk"),
            &json!({ "techniques": ["AML.T0003"], "applicability": "maybe" }),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "applicability: unknown variant `maybe`, expected one of `unknown`, `applies`, `not_applicable`",
    );
    assert_eq!(app.get(&format!("{base}/history")).await.json().as_array().unwrap().len(), before, "nothing written");
}

#[tokio::test]
async fn a_stale_if_match_is_refused_with_the_current_version_and_nothing_is_overwritten() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "Concurrency").await;
    let system = create_system(&app, team, "Shared").await;
    let path = format!("/api/v1/systems/{system}/assessments/AML.T0051");
    let first = put_with(&app, &path, &[], json!({ "rationale": "first" })).await;
    assert_eq!(first.header("etag"), "\"1\"");

    // Two writers read version 1; the first write wins, the second is refused.
    let etag = app.get(&path).await.header("etag").to_string();
    let (alice_cookie, bob_cookie) =
        (app.member("alice", team, Some(Role::Editor)).await, app.member("bob", team, Some(Role::Editor)).await);
    let alice =
        put_with(&app, &path, &[("if-match", &etag), ("cookie", &alice_cookie)], json!({ "rationale": "alice" })).await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.body);
    assert_eq!(alice.header("etag"), "\"2\"");
    let bob =
        put_with(&app, &path, &[("if-match", &etag), ("cookie", &bob_cookie)], json!({ "rationale": "bob" })).await;
    let body = assert_error(&bob, StatusCode::PRECONDITION_FAILED, "precondition_failed", "changed by someone else");
    assert_eq!(body["error"]["current_version"], 2);
    assert_eq!(bob.header("etag"), "\"2\"");
    let now = app.get(&path).await.json();
    assert_eq!(
        (now["rationale"].as_str(), now["updated_by"].as_str(), now["version"].as_i64()),
        (Some("alice"), Some("alice"), Some(2))
    );

    // Two writers racing for real on the same version: exactly one wins.
    let etag = app.get(&path).await.header("etag").to_string();
    let if_match = [("if-match", etag.as_str())];
    let (a, b) = tokio::join!(
        put_with(&app, &path, &if_match, json!({ "rationale": "racer a" })),
        put_with(&app, &path, &if_match, json!({ "rationale": "racer b" })),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "{} / {}", a.body, b.body);
    let winner = if a.status == StatusCode::OK { "racer a" } else { "racer b" };
    assert_eq!(app.get(&path).await.json()["rationale"], winner);
    assert_eq!(app.get(&path).await.header("etag"), "\"3\"");

    // Weak and bare forms are read too; without If-Match a write is unconditional.
    assert_eq!(
        put_with(&app, &path, &[("if-match", "W/\"3\"")], json!({ "rationale": "weak" })).await.status,
        StatusCode::OK
    );
    assert_eq!(
        put_with(&app, &path, &[("if-match", "4")], json!({ "rationale": "bare" })).await.status,
        StatusCode::OK
    );
    assert_eq!(put_with(&app, &path, &[], json!({ "rationale": "blind" })).await.header("etag"), "\"6\"");
    let bad = put_with(&app, &path, &[("if-match", "\"abc\"")], json!({ "rationale": "x" })).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_header", "If-Match: `\"abc\"` is not a version");
    // A row never written is at version 0.
    let fresh = format!("/api/v1/systems/{system}/mitigations/AML.M0020");
    let stale = put_with(&app, &fresh, &[("if-match", "\"1\"")], json!({ "status": "planned" })).await;
    assert_eq!(stale.json()["error"]["current_version"], 0);
    assert_eq!(
        put_with(&app, &fresh, &[("if-match", "\"0\"")], json!({ "status": "planned" })).await.status,
        StatusCode::OK
    );

    // Teams, systems, controls and acceptances follow the same rule, on PUT and DELETE.
    let team_path = format!("/api/v1/teams/{team}");
    let stale = put_with(&app, &team_path, &[("if-match", "\"7\"")], json!({ "name": "Renamed" })).await;
    assert_eq!(
        assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "team Concurrency")["error"]["current_version"],
        1
    );
    let stale = app.request(Method::DELETE, &team_path, &[("if-match", "\"7\"")], Vec::new()).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "team");
    let system_path = format!("/api/v1/systems/{system}");
    let stale = app.request(Method::DELETE, &system_path, &[("if-match", "\"9\"")], Vec::new()).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "system Shared");
    let edit = json!({ "name": "Shared", "exposure": "partner", "criticality": "low" });
    let stale = put_with(&app, &system_path, &[("if-match", "\"9\"")], edit.clone()).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "system");
    assert_eq!(app.get(&system_path).await.json()["exposure"], "public", "not overwritten");
    assert_eq!(put_with(&app, &system_path, &[("if-match", "\"1\"")], edit).await.status, StatusCode::OK);
    let control = app
        .post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "C", "techniques": [] }))
        .await
        .json();
    let control_path = format!("/api/v1/controls/{}", control["id"]);
    let stale = put_with(&app, &control_path, &[("if-match", "\"5\"")], json!({ "name": "D", "techniques": [] })).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "control C");
    let stale = app.request(Method::DELETE, &control_path, &[("if-match", "\"5\"")], Vec::new()).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "control C");
    assert_eq!(
        app.request(Method::DELETE, &control_path, &[("if-match", "\"1\"")], Vec::new()).await.status,
        StatusCode::NO_CONTENT
    );
    let acceptance = format!("/api/v1/systems/{system}/acceptances/AML.T0051");
    let body = json!({ "justification": "j", "expires_on": "2099-01-01" });
    let stale = put_with(&app, &acceptance, &[("if-match", "\"1\"")], body.clone()).await;
    assert_eq!(
        assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "risk acceptance")["error"]["current_version"],
        0
    );
    assert_eq!(put_with(&app, &acceptance, &[("if-match", "\"0\"")], body).await.status, StatusCode::CREATED);
    let stale = app.request(Method::DELETE, &acceptance, &[("if-match", "\"3\"")], Vec::new()).await;
    assert_error(&stale, StatusCode::PRECONDITION_FAILED, "precondition_failed", "risk acceptance");
    assert_eq!(app.get(&acceptance).await.status, StatusCode::OK, "not deleted");
}

#[tokio::test]
async fn history_names_the_account_and_undo_restores_the_value() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "History").await;
    let system = create_system(&app, team, "Audited").await;
    let base = format!("/api/v1/systems/{system}");
    let path = format!("{base}/assessments/AML.T0051");
    let zoe = app.member("zoe", team, Some(Role::Editor)).await;
    let sam = app.member("sam", team, Some(Role::Editor)).await;
    let lead = app.member("lead", team, Some(Role::Editor)).await;
    put_with(&app, &path, &[("cookie", &zoe)], json!({ "applicability": "applies", "risk": "high" })).await;
    put_with(&app, &path, &[], json!({ "applicability": "not_applicable", "rationale": "no LLM" })).await;
    put_with(&app, &format!("{base}/mitigations/AML.M0020"), &[("cookie", &sam)], json!({ "status": "implemented" }))
        .await;

    let history = app.get(&format!("{base}/history")).await.json();
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 4, "created system + three changes: {history:?}");
    let ids: Vec<i64> = history.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert_eq!(
        (history[0]["actor"].as_str(), history[0]["entity"].as_str(), history[0]["item"].as_str()),
        (Some("sam"), Some("mitigation"), Some("AML.M0020"))
    );
    assert_eq!(history[1]["actor"], "admin");
    assert_eq!(history[2]["actor"], "zoe");
    assert_eq!(history[2]["before"]["applicability"], "unknown", "a first decision starts from the default");
    assert_eq!(history[2]["before"]["version"], 0);
    assert_eq!(history[2]["after"]["applicability"], "applies", "before/after are JSON objects");
    assert!(
        history[1]["summary"].as_str().unwrap().contains("applicability: applies → not_applicable"),
        "{}",
        history[1]["summary"]
    );
    assert_eq!(history[3]["entity"], "system");

    let only = app.get(&format!("{base}/history?item=AML.T0051")).await.json();
    assert_eq!(only.as_array().unwrap().len(), 2);
    let one = app.get(&format!("{base}/history?limit=1")).await.json();
    assert_eq!(one.as_array().unwrap().len(), 1);
    for query in ["limit=0", "limit=1001"] {
        assert_error(
            &app.get(&format!("{base}/history?{query}")).await,
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "limit:",
        );
    }
    assert_error(
        &app.get(&format!("{base}/history?limit=many")).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "limit",
    );

    // Undo the last assessment change: back to "applies" with risk high.
    let last = history[1]["id"].as_i64().unwrap();
    let reply =
        app.request(Method::POST, &format!("{base}/history/{last}/undo"), &[("cookie", &lead)], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let undo_entry = reply.json()["history_id"].as_i64().unwrap();
    let a = app.get(&path).await.json();
    assert_eq!(
        (a["applicability"].as_str(), a["risk"].as_str(), a["rationale"].as_str()),
        (Some("applies"), Some("high"), Some(""))
    );
    let newest = &app.get(&format!("{base}/history?limit=1")).await.json()[0];
    assert_eq!((newest["id"].as_i64(), newest["actor"].as_str()), (Some(undo_entry), Some("lead")));
    assert!(newest["summary"].as_str().unwrap().starts_with(&format!("undid change #{last}")));
    // The undo is itself undoable.
    let redo = app.request(Method::POST, &format!("{base}/history/{undo_entry}/undo"), &[], Vec::new()).await;
    assert_eq!(redo.status, StatusCode::OK, "{}", redo.body);
    assert_eq!(app.get(&path).await.json()["applicability"], "not_applicable");
    // System edits are in the history but are not undone here.
    let created = history[3]["id"].as_i64().unwrap();
    let reply = app.request(Method::POST, &format!("{base}/history/{created}/undo"), &[], Vec::new()).await;
    assert_error(&reply, StatusCode::CONFLICT, "refused", "which cannot be undone here");
    let reply = app.request(Method::POST, &format!("{base}/history/999999/undo"), &[], Vec::new()).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "999999");

    // Nobody writes without an identity.
    let reply = put_with(&app, &path, &[("cookie", "")], json!({ "rationale": "x" })).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized", "sign in");
    assert_ne!(app.get(&path).await.json()["rationale"], "x", "nothing written");
}

/// A team "Errors" with one system "Strict", for the error tests; returns
/// the app, the team and the system's API path.
async fn strict_system() -> (TestApp, i64, String) {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "Errors").await;
    let system = create_system(&app, team, "Strict").await;
    (app, team, format!("/api/v1/systems/{system}"))
}

/// Nothing a refused request touches was written: the team keeps its one
/// system, and the system only its creation in the history.
async fn assert_nothing_written(app: &TestApp, team: i64, base: &str) {
    assert_eq!(app.get(&format!("/api/v1/systems?team_id={team}")).await.json().as_array().unwrap().len(), 1);
    assert!(app.get(&format!("{base}/acceptances")).await.json().as_array().unwrap().is_empty());
    let history = app.get(&format!("{base}/history")).await.json();
    assert_eq!(history.as_array().unwrap().len(), 1, "only the system's creation: {history}");
    let a = app.get(&format!("{base}/assessments/AML.T0051")).await.json();
    assert_eq!(a["version"], 0);
}

#[tokio::test]
async fn unknown_ids_in_the_path_answer_404_as_json() {
    let (app, team, base) = strict_system().await;
    // 404: unknown IDs in the path.
    for path in [
        "/api/v1/teams/999".to_string(),
        "/api/v1/teams/999/controls".to_string(),
        "/api/v1/systems/999".to_string(),
        "/api/v1/systems/999/assessments".to_string(),
        "/api/v1/systems/999/coverage".to_string(),
        "/api/v1/systems/999/history".to_string(),
        "/api/v1/controls/999".to_string(),
        format!("{base}/controls/999"),
    ] {
        assert_error(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found", "999");
    }
    assert_error(
        &app.get(&format!("{base}/assessments/AML.T9999")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "technique_id: AML.T9999",
    );
    assert_error(
        &app.get(&format!("{base}/mitigations/AML.M9999")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "mitigation_id: AML.M9999",
    );
    let reply = app.put_json("/api/v1/teams/999", &json!({ "name": "x" })).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "team 999");
    let reply = app.post_json("/api/v1/teams/999/controls", &json!({ "name": "x", "techniques": [] })).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "team 999");
    assert_error(&app.delete("/api/v1/systems/999").await, StatusCode::NOT_FOUND, "not_found", "system 999");
    assert_error(
        &app.delete(&format!("{base}/acceptances/AML.T0051")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "no risk acceptance",
    );
    assert_nothing_written(&app, team, &base).await;
}

#[tokio::test]
async fn names_taken_case_insensitively_answer_409() {
    let (app, team, base) = strict_system().await;
    // 409: names taken (case-insensitively).
    let reply = app.post_json("/api/v1/teams", &json!({ "name": "ERRORS" })).await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict", "name: a team called ERRORS already exists");
    let reply = app
        .post_json(
            "/api/v1/systems",
            &json!({ "team_id": team, "name": "strict", "exposure": "public", "criticality": "low" }),
        )
        .await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict", "name:");
    app.post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "MFA", "techniques": [] })).await;
    let reply =
        app.post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "mfa", "techniques": [] })).await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict", "name:");
    assert_nothing_written(&app, team, &base).await;
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_or_refused_values_answer_422_naming_the_field() {
    let (app, team, base) = strict_system().await;
    // 422: the body has the wrong shape, naming the field.
    let reply = app.post_json("/api/v1/teams", &json!({ "description": "no name" })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "missing field `name`");
    let reply = app.post_json("/api/v1/teams", &json!({ "name": "T", "colour": "red" })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "unknown field `colour`");
    let reply = app.post_json("/api/v1/teams", &json!({ "name": 5 })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "name: invalid type");
    let reply = app
        .post_json(
            "/api/v1/systems",
            &json!({ "team_id": team, "name": "S", "exposure": "everyone", "criticality": "low" }),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "exposure: unknown variant `everyone`, expected one of `public`, `partner`, `internal`",
    );
    let reply = app.post_json("/api/v1/systems", &json!({ "team_id": team, "name": "S", "platforms": ["Quantum AI"], "exposure": "public", "criticality": "low" })).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "platforms[0]: `Quantum AI` is not one of Predictive AI, Generative AI, Agentic AI, Enterprise",
    );
    let reply = app.post_json("/api/v1/systems", &json!({ "team_id": team, "name": "S", "exposure": "public", "criticality": "low", "framework_version": "9.9" })).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "framework_version: ATLAS release 9.9 is not loaded");
    let reply = app.put_json(&format!("{base}/mitigations/AML.M0020"), &json!({ "status": "done" })).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "status: unknown variant `done`, expected one of `not_started`, `planned`, `in_progress`, `implemented`, `not_applicable`",
    );
    let reply = app.put_json(&format!("{base}/assessments/AML.T0051"), &json!({ "risk": "extreme" })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "risk: unknown variant `extreme`");

    // 422: a missing team on system creation names team_id.
    let reply = app
        .post_json(
            "/api/v1/systems",
            &json!({ "team_id": 999, "name": "S", "exposure": "public", "criticality": "low" }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "team_id: team 999 does not exist");

    // 422: values the use cases refuse.
    let reply = app.post_json("/api/v1/teams", &json!({ "name": "   " })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "name: is required");
    let reply = app.post_json("/api/v1/teams", &json!({ "name": "x".repeat(201) })).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "name: is 201 characters; the limit is 200",
    );
    let reply = app.put_json(&format!("{base}/assessments/AML.T0051"), &json!({ "rationale": "r".repeat(4001) })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "rationale: is 4001 characters");
    assert_nothing_written(&app, team, &base).await;
}

#[tokio::test]
async fn well_formed_ids_the_release_lacks_answer_404_naming_the_field() {
    let (app, team, base) = strict_system().await;
    // A well-formed ID the release does not have names a missing thing: 404.
    let reply = app.put_json(&format!("{base}/assessments/AML.T9999"), &json!({ "applicability": "applies" })).await;
    assert_error(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "technique_id: AML.T9999 is not a technique of ATLAS release 2026.05",
    );
    let reply = app.put_json(&format!("{base}/mitigations/AML.M9999"), &json!({ "status": "planned" })).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "mitigation_id: AML.M9999");
    let reply = app.put_json(&format!("{base}/mitigations/AML.M0020"), &json!({ "target_date": "2026-02-30" })).await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "target_date: `2026-02-30` is not a date of the form YYYY-MM-DD",
    );
    let reply = app.put_json(&format!("{base}/mitigations/AML.M0020"), &json!({ "evidence": "e".repeat(2001) })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "evidence:");
    let reply = app
        .put_json(
            &format!("{base}/acceptances/AML.T0051"),
            &json!({ "justification": "j", "expires_on": "31/12/2099" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "expires_on:");
    let reply = app
        .put_json(
            &format!("{base}/acceptances/AML.T0051"),
            &json!({ "justification": "j", "expires_on": "0002-03-15" }),
        )
        .await;
    assert_error(
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        "expires_on: 0002-03-15 is not a plausible date",
    );
    let reply = app
        .put_json(
            &format!("{base}/acceptances/AML.T0051"),
            &json!({ "justification": " ", "expires_on": "2099-01-01" }),
        )
        .await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "justification: is required");
    let reply = app
        .put_json(
            &format!("{base}/acceptances/AML.T9999"),
            &json!({ "justification": "j", "expires_on": "2099-01-01" }),
        )
        .await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "technique_id: AML.T9999");
    let reply = app
        .post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "Bad", "techniques": ["AML.T9999"] }))
        .await;
    assert_error(
        &reply,
        StatusCode::NOT_FOUND,
        "not_found",
        "techniques: not an ATLAS technique in any loaded release: AML.T9999",
    );
    let reply = app.post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "Bad" })).await;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", "missing field `techniques`");
    let other_team = create_team(&app, "Others").await;
    let foreign = app
        .post_json(&format!("/api/v1/teams/{other_team}/controls"), &json!({ "name": "Theirs", "techniques": [] }))
        .await
        .json()["id"]
        .clone();
    let reply = app.put_json(&format!("{base}/controls/{foreign}"), &json!({ "status": "implemented" })).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "control_id:");
    assert_error(
        &app.get(&format!("{base}/controls/{foreign}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "control_id:",
    );
    assert_nothing_written(&app, team, &base).await;
}

#[tokio::test]
async fn bodies_that_are_not_json_or_not_declared_as_json_answer_400_or_415() {
    let (app, team, base) = strict_system().await;
    // 400: not JSON, or a path ID that is no number.
    let reply = app
        .request(Method::POST, "/api/v1/teams", &[("content-type", "application/json")], b"{\"name\": ".to_vec())
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", "not valid JSON");
    // 415: a body not declared as JSON.
    let reply = app
        .request(Method::POST, "/api/v1/teams", &[("content-type", "text/plain")], b"{\"name\": \"T\"}".to_vec())
        .await;
    assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unknown_format", "Content-Type: application/json");
    let reply = app.request(Method::POST, "/api/v1/teams", &[], b"{\"name\": \"T\"}".to_vec()).await;
    assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unknown_format", "Content-Type");
    assert_error(
        &app.get("/api/v1/teams/abc").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        "id: `abc` in the path is not a number",
    );
    assert_error(&app.get("/api/v1/systems?team_id=abc").await, StatusCode::BAD_REQUEST, "bad_request", "team_id");
    let reply = app.get(&format!("{base}/controls/first")).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", "control_id: `first` in the path is not a number");
    assert_nothing_written(&app, team, &base).await;
}

#[tokio::test]
async fn deleting_a_team_removes_its_systems_controls_and_decisions_in_one_go() {
    let app = TestApp::spawn().await;
    let team = create_team(&app, "Doomed").await;
    let keep = create_team(&app, "Kept").await;
    let first = create_system(&app, team, "One").await;
    let second = create_system(&app, team, "Two").await;
    let kept = create_system(&app, keep, "Stays").await;
    let control = app
        .post_json(&format!("/api/v1/teams/{team}/controls"), &json!({ "name": "C", "techniques": ["AML.T0051"] }))
        .await
        .json()["id"]
        .clone();
    app.put_json(&format!("/api/v1/systems/{first}/controls/{control}"), &json!({ "status": "implemented" })).await;
    app.put_json(&format!("/api/v1/systems/{second}/assessments/AML.T0051"), &json!({ "applicability": "applies" }))
        .await;

    let reply =
        app.request(Method::DELETE, &format!("/api/v1/teams/{team}"), &[("if-match", "\"1\"")], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(reply.body.is_empty());
    for path in [
        format!("/api/v1/teams/{team}"),
        format!("/api/v1/systems/{first}"),
        format!("/api/v1/systems/{second}"),
        format!("/api/v1/systems/{second}/assessments"),
        format!("/api/v1/systems/{first}/history"),
        format!("/api/v1/controls/{control}"),
    ] {
        assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(app.get(&format!("/api/v1/systems?team_id={team}")).await.json().as_array().unwrap().is_empty());
    let systems = app.get("/api/v1/systems").await.json();
    assert_eq!(systems.as_array().unwrap().len(), 1);
    assert_eq!(systems[0]["id"], kept);
    assert_error(&app.delete(&format!("/api/v1/teams/{team}")).await, StatusCode::NOT_FOUND, "not_found", "team");
}

#[tokio::test]
async fn the_openapi_document_lists_the_assessment_api() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/openapi.json").await.json();
    for (path, methods) in [
        ("/api/v1/teams", &["get", "post"][..]),
        ("/api/v1/teams/{id}", &["get", "put", "delete"]),
        ("/api/v1/teams/{id}/controls", &["get", "post"]),
        ("/api/v1/controls/{id}", &["get", "put", "delete"]),
        ("/api/v1/systems", &["get", "post"]),
        ("/api/v1/systems/{id}", &["get", "put", "delete"]),
        ("/api/v1/systems/{id}/assessments", &["get"]),
        ("/api/v1/systems/{id}/assessments/{technique_id}", &["get", "put"]),
        ("/api/v1/systems/{id}/assessments/bulk", &["post"]),
        ("/api/v1/systems/{id}/mitigations", &["get"]),
        ("/api/v1/systems/{id}/mitigations/{mitigation_id}", &["get", "put"]),
        ("/api/v1/systems/{id}/controls", &["get"]),
        ("/api/v1/systems/{id}/controls/{control_id}", &["get", "put"]),
        ("/api/v1/systems/{id}/acceptances", &["get"]),
        ("/api/v1/systems/{id}/acceptances/{technique_id}", &["get", "put", "delete"]),
        ("/api/v1/systems/{id}/coverage", &["get"]),
        ("/api/v1/systems/{id}/history", &["get"]),
        ("/api/v1/systems/{id}/history/{entry_id}/undo", &["post"]),
    ] {
        for method in methods {
            assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the OpenAPI document");
        }
    }
    let put = &doc["paths"]["/api/v1/systems/{id}/assessments/{technique_id}"]["put"];
    let headers: Vec<&str> = put["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "header")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(headers, ["If-Match"]);
    assert!(put["responses"]["412"].is_object());
    assert!(put["responses"]["200"]["headers"]["ETag"].is_object());
    let schemas = &doc["components"]["schemas"];
    for schema in ["AssessmentDto", "CoverageReport", "HistoryDto", "TeamBody", "StatusBody", "ErrorBody"] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
}

#[tokio::test]
async fn a_write_made_behind_the_servers_back_is_not_overwritten_from_its_cached_snapshot() {
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    let path = format!("/api/v1{system}/assessments/AML.T0051");
    assert_eq!(app.get(&system).await.status, StatusCode::OK, "the workshop page caches the snapshot");
    let first = app.put_json(&path, &json!({ "applicability": "applies" })).await;
    assert_eq!(first.json()["version"], 1);
    // Another process (a command, a second instance on the file) writes
    // without this server knowing: its cached snapshot still says version 1.
    crate::helpers::execute(
        &app,
        "update assessments set version = 6, rationale = 'set elsewhere' where technique_id = 'AML.T0051'",
    )
    .await;
    let stale = app.request(
        Method::PUT,
        &path,
        &[("if-match", "\"1\""), ("content-type", "application/json")],
        serde_json::to_vec(&json!({ "applicability": "not_applicable" })).unwrap(),
    );
    let stale = stale.await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "the database's version decides: {}", stale.body);
    let written = app.put_json(&path, &json!({ "risk": "high" })).await.json();
    assert_eq!(written["version"], 7, "{written}");
    assert_eq!(written["rationale"], "set elsewhere", "the change applies to the stored row: {written}");
    let history = app.get(&format!("/api/v1{system}/history?limit=1")).await.json();
    assert_eq!(history[0]["before"]["version"], 6, "{history}");
    assert_eq!(history[0]["after"]["version"], 7, "{history}");
}
