//! The map over time: coverage replayed from the history equals the live
//! coverage after generated histories of every kind of change, a trend
//! follows an upgrade, and the trend API names what it refuses.

use axum::http::StatusCode;

use crate::helpers::TestApp;
use atlascope::domain::records::{AssessmentChange, StatusChange};
use atlascope::domain::{Applicability, ImplementationStatus, Rating};
use atlascope::service::controls::ControlInput;
use atlascope::service::decisions::{self, AcceptanceInput};
use atlascope::service::{Actor, snapshot, systems::SystemInput, teams::TeamInput, trends};

/// A small deterministic generator, so a failing history can be replayed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % sides as u64) as usize
    }
}

#[tokio::test]
async fn coverage_replayed_from_the_history_equals_the_live_coverage_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let state = &app.state;
    let actor = Actor("generator".into());
    let team =
        atlascope::service::teams::create(state, TeamInput { name: "Gen".into(), description: String::new() }, &actor)
            .await
            .unwrap();
    let framework = state.catalog.default_release();
    let techniques: Vec<String> = framework.techniques().iter().map(|t| t.id.clone()).collect();
    let mitigations: Vec<String> = framework.mitigations().iter().map(|m| m.id.clone()).collect();
    for seed in [7_u64, 99, 2026] {
        let mut dice = Dice(seed);
        let input = SystemInput {
            name: format!("System {seed}"),
            exposure: "public".into(),
            criticality: "high".into(),
            ..SystemInput::default()
        };
        let system = atlascope::service::systems::create(state, team.id, input, &actor).await.unwrap();
        let mut controls: Vec<i64> = Vec::new();
        for step in 0..250 {
            let technique = &techniques[dice.roll(techniques.len())];
            let statuses = ImplementationStatus::ALL;
            // Refusals (a conflicting undo, an unchanged value) are part of real histories too.
            let _ = match dice.roll(9) {
                0 | 1 => {
                    let applicability = Applicability::ALL[dice.roll(3)];
                    let change = AssessmentChange {
                        applicability: Some(applicability),
                        rationale: Some(format!("step {step}")),
                        risk: Some(Some(Rating::ALL[dice.roll(4)])),
                    };
                    decisions::set_assessment(state, system.id, technique, change, None, &actor).await.map(|_| ())
                }
                2 => {
                    let change =
                        StatusChange { status: Some(statuses[dice.roll(statuses.len())]), ..StatusChange::default() };
                    let mitigation = &mitigations[dice.roll(mitigations.len())];
                    decisions::set_mitigation_status(state, system.id, mitigation, change, None, &actor)
                        .await
                        .map(|_| ())
                }
                3 => {
                    let (year, month) = if dice.roll(2) == 0 { (2025, 3) } else { (2031, 7) };
                    let input = AcceptanceInput {
                        justification: "accepted in the generator".into(),
                        accepted_by: None,
                        expires_on: format!("{year}-{month:02}-15"),
                    };
                    decisions::set_acceptance(state, system.id, technique, input, None, &actor).await.map(|_| ())
                }
                4 => decisions::remove_acceptance(state, system.id, technique, None, &actor).await.map(|_| ()),
                5 => {
                    let picked: Vec<String> = (0..8).map(|_| techniques[dice.roll(techniques.len())].clone()).collect();
                    let applicability = Applicability::ALL[dice.roll(3)];
                    decisions::bulk_applicability(state, system.id, &picked, applicability, &actor).await.map(|_| ())
                }
                6 => {
                    let recent = decisions::history(state, system.id, None, 5).await.unwrap();
                    match recent.get(dice.roll(recent.len().max(1))) {
                        Some(entry) => decisions::undo(state, system.id, entry.id, &actor).await.map(|_| ()),
                        None => Ok(()),
                    }
                }
                7 => {
                    if controls.is_empty() || dice.roll(3) == 0 {
                        let mapped: Vec<String> =
                            (0..3).map(|_| techniques[dice.roll(techniques.len())].clone()).collect();
                        let input = ControlInput {
                            name: format!("Control {seed}-{step}"),
                            description: String::new(),
                            techniques: mapped,
                        };
                        atlascope::service::controls::create(state, team.id, input, &actor)
                            .await
                            .map(|c| controls.push(c.id))
                    } else {
                        let control = controls[dice.roll(controls.len())];
                        let change = StatusChange {
                            status: Some(statuses[dice.roll(statuses.len())]),
                            ..StatusChange::default()
                        };
                        decisions::set_control_status(state, system.id, control, change, None, &actor).await.map(|_| ())
                    }
                }
                _ => {
                    let rows: String = (0..5)
                        .map(|_| format!("{},applies,,imported\n", techniques[dice.roll(techniques.len())]))
                        .collect();
                    let csv = format!("technique_id,applicability,risk,rationale\n{rows}");
                    atlascope::service::reports::apply_import(state, system.id, None, csv.into_bytes(), &actor)
                        .await
                        .map(|_| ())
                }
            };
        }
        let live = snapshot::load(state, system.id).await.unwrap();
        let (release, replayed) = trends::coverage_at(state, system.id, time::OffsetDateTime::now_utc()).await.unwrap();
        assert_eq!(release, framework.version());
        assert_eq!(replayed.states, live.coverage.states, "seed {seed}: every technique's state");
        assert_eq!(replayed.per_tactic, live.coverage.per_tactic, "seed {seed}: per tactic");
        assert_eq!(replayed.overall, live.coverage.overall, "seed {seed}: overall");
        let today = atlascope::core::today();
        let range = trends::Range::parse(Some(&today.to_string()), Some(&today.to_string()), Some("day")).unwrap();
        let trend = trends::system_trend(state, system.id, &range).await.unwrap();
        assert_eq!(trend.points[0].figures.counts, live.coverage.overall, "seed {seed}: the trend's last point");

        // At past moments, reading only each record's newest entry by then
        // gives what replaying the whole history up to then gives.
        let full = atlascope::db::history::timeline(&state.db, system.id, team.id, None).await.unwrap();
        let lookup = |version: &str| (version == framework.version()).then_some(framework.as_ref());
        for entry in full.iter().step_by(full.len() / 6) {
            let read = trends::coverage_at(state, system.id, entry.at).await;
            match atlascope::domain::timeline::coverage_at(&full, entry.at, lookup) {
                Ok((_, expected)) => {
                    assert_eq!(read.unwrap().1.states, expected.states, "seed {seed}: at entry {}", entry.id)
                }
                // A control the team defined before this system existed.
                Err(missing) => assert!(read.is_err(), "seed {seed}: at entry {}: {missing:?}", entry.id),
            }
        }
    }
}

#[tokio::test]
async fn a_trend_shows_an_upgrade_as_a_step_and_the_api_names_bad_parameters() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", crate::helpers::official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Models"})).await.json()["id"].clone();
    let body = serde_json::json!({"team_id": team, "name": "Legacy", "exposure": "public", "criticality": "high",
        "framework_version": "5.6.0"});
    let id = app.post_json("/api/v1/systems", &body).await.json()["id"].as_i64().unwrap();
    let put = app
        .put_json(
            &format!("/api/v1/systems/{id}/assessments/AML.T0051"),
            &serde_json::json!({"applicability": "applies"}),
        )
        .await;
    assert!(put.status.is_success(), "{}", put.body);
    // Let the first changes have been made on 20 November, so the trend has
    // days before the upgrade.
    crate::helpers::backdate_history(&app, "2026-11-20T10:00:00Z").await;
    app.state.snapshots.invalidate(id);
    let upgraded = app
        .post_json(&format!("/api/v1/systems/{id}/upgrade"), &serde_json::json!({"to": "2026.05", "dry_run": false}))
        .await;
    assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);

    let today = atlascope::core::today();
    let trend = app.get(&format!("/api/v1/systems/{id}/coverage/trend?from=2026-11-19&to={today}&step=day")).await;
    assert_eq!(trend.status, StatusCode::OK, "{}", trend.body);
    let points = trend.json()["points"].as_array().unwrap().clone();
    assert_eq!(points[0]["release"], "", "the system did not exist on the 19th");
    assert_eq!(points[1]["release"], "5.6.0");
    assert_eq!(points.last().unwrap()["release"], "2026.05", "the upgrade is a step to the new release");
    for point in [&points[1], points.last().unwrap()] {
        let figures = &point["figures"];
        let decided = figures["total"].as_u64().unwrap() - figures["counts"]["not_assessed"].as_u64().unwrap();
        assert_eq!(decided, 1, "the decision is counted before and carried after the upgrade: {point}");
    }

    let csv = app.get(&format!("/api/v1/teams/{team}/coverage/trend?from=2026-11-19&to={today}&format=csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(csv.body.starts_with("system,period_start,as_of,release,coverage_percent"), "{}", csv.body);
    assert!(csv.body.contains("\"(team)\",2026-11-19") && csv.body.contains("\"Legacy\","));

    for (query, field) in [
        ("from=2026-12-01&to=2026-11-01", "from"),
        ("step=fortnight", "step"),
        ("from=2000-01-01&to=2026-12-01&step=day", "step"),
        ("from=0002-03-15", "from"),
        ("format=pdf", "format"),
    ] {
        let refused = app.get(&format!("/api/v1/systems/{id}/coverage/trend?{query}")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{query}: {}", refused.body);
        let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.starts_with(&format!("{field}: ")), "{query}: {message}");
    }
    assert_eq!(app.get("/api/v1/systems/999/coverage/trend").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expired_and_expiring_decisions_are_listed_and_fail_the_check_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path().to_path_buf()).await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    let soon = (atlascope::core::today() + time::Duration::days(10)).to_string();
    let due = (atlascope::core::today() + time::Duration::days(5)).to_string();
    for (path, body) in [
        ("techniques/AML.T0051", "applicability=applies&version=0".to_string()),
        ("techniques/AML.T0048", "applicability=applies&version=0".to_string()),
        ("techniques/AML.T0051/acceptance", "justification=Pilot+only&expires_on=2025-03-15&version=0".to_string()),
        ("techniques/AML.T0048/acceptance", format!("justification=Until+the+filter&expires_on={soon}&version=0")),
        ("techniques/AML.T0051/mitigations/AML.M0020", format!("status=planned&target_date={due}&version=0")),
    ] {
        let saved = app.post_form(&format!("{system}/{path}"), &body).await;
        assert!(saved.status.is_redirection(), "{path}: {}", saved.body);
    }
    let listed = app.get(&format!("/api/v1{system}/deadlines?within=30")).await.json();
    let kinds: Vec<(&str, &str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["item"].as_str().unwrap(), d["expired"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("acceptance", "AML.T0051", true),
            ("mitigation_target", "AML.M0020", false),
            ("acceptance", "AML.T0048", false)
        ]
    );
    assert_eq!(app.get(&format!("/api/v1{system}/deadlines?within=3")).await.json().as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/teams/1/deadlines").await.json().as_array().unwrap().len(), 3);
    let refused = app.get(&format!("/api/v1{system}/deadlines?within=99999")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("within"), "{}", refused.body);
    let team = app.get("/teams/1").await.body;
    assert!(team.contains("Running out within 30 days") && team.contains("✕ expired"), "{team}");
    let workshop = app.get(&system).await.body;
    assert!(workshop.contains("1 decision(s) ran out</strong>, 2 more within 30 days"), "{workshop}");

    let check = |flag: Option<&str>| {
        let mut command = crate::helpers::atlascope_command(&app);
        command.args(["check", "--system", "Support Chatbot", "--min-coverage", "0"]);
        command.args(flag).env("RUST_LOG", "warn").output().expect("the binary runs")
    };
    let plain = check(None);
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stdout));
    let strict = check(Some("--fail-on-expired-acceptances"));
    let out = String::from_utf8_lossy(&strict.stdout);
    assert_eq!(strict.status.code(), Some(1), "{out}");
    assert!(out.contains("FAIL 1 risk acceptance(s) expired: AML.T0051"), "{out}");
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> =
        list.as_array().unwrap().iter().map(|g| g["technique_id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn the_digest_since_a_named_snapshot_says_who_changed_what_and_which_gaps_opened_or_closed() {
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    let id: i64 = system.rsplit('/').next().unwrap().parse().unwrap();
    // Before the workshop: three techniques apply; one is accepted through 25 November.
    for (path, body) in [
        ("techniques/AML.T0051", "applicability=applies&version=0"),
        ("techniques/AML.T0048", "applicability=applies&version=0"),
        ("techniques/AML.T0043", "applicability=applies&version=0"),
        ("techniques/AML.T0043/acceptance", "justification=Pilot+only&expires_on=2026-11-25&version=0"),
    ] {
        let saved = app.post_form(&format!("{system}/{path}"), body).await;
        assert!(saved.status.is_redirection(), "{path}: {}", saved.body);
    }
    crate::helpers::backdate_history(&app, "2026-11-20T10:00:00Z").await;
    app.state.snapshots.invalidate(id);
    let named = app
        .post_json(
            "/api/v1/teams/1/snapshots",
            &serde_json::json!({"name": "Workshop one", "at": "2026-11-20T12:00:00Z"}),
        )
        .await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.body);
    for (body, status, field) in [
        (serde_json::json!({"name": "workshop ONE"}), StatusCode::CONFLICT, "name"),
        (serde_json::json!({"name": "2026-11-12"}), StatusCode::UNPROCESSABLE_ENTITY, "name"),
        (serde_json::json!({"name": "Later", "at": "2099-01-01"}), StatusCode::UNPROCESSABLE_ENTITY, "at"),
        (serde_json::json!({"name": "Soon", "at": "next week"}), StatusCode::UNPROCESSABLE_ENTITY, "at"),
    ] {
        let refused = app.post_json("/api/v1/teams/1/snapshots", &body).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.body);
        assert!(
            refused.json()["error"]["message"].as_str().unwrap().starts_with(&format!("{field}: ")),
            "{}",
            refused.body
        );
    }

    // Since then: bo rules one technique out and accepts another; cy finds a new one.
    let (bo, cy) = (Actor("bo".into()), Actor("cy".into()));
    let out = AssessmentChange { applicability: Some(Applicability::NotApplicable), ..AssessmentChange::default() };
    decisions::set_assessment(&app.state, id, "AML.T0051", out, None, &bo).await.unwrap();
    let until = (atlascope::core::today() + time::Duration::days(30)).to_string();
    let accept =
        AcceptanceInput { justification: "Filter ships in Q1".into(), accepted_by: None, expires_on: until.clone() };
    decisions::set_acceptance(&app.state, id, "AML.T0048", accept, None, &bo).await.unwrap();
    let applies = AssessmentChange { applicability: Some(Applicability::Applies), ..AssessmentChange::default() };
    decisions::set_assessment(&app.state, id, "AML.T0024", applies, None, &cy).await.unwrap();

    let reply = app.get(&format!("/api/v1/systems/{id}/digest?from=workshop%20one")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let digest = reply.json();
    assert_eq!(digest["from"]["snapshot"], "Workshop one");
    assert_eq!(digest["from"]["at"], "2026-11-20T12:00:00Z");
    assert_eq!(digest["change_count"], 3);
    assert_eq!(digest["people"], serde_json::json!([{"actor": "bo", "changes": 2}, {"actor": "cy", "changes": 1}]));
    let part = &digest["systems"][0];
    assert_eq!(part["release_before"], part["release_after"]);
    assert_eq!(ids(&part["new_gaps"]), ["AML.T0024", "AML.T0043"], "a new finding, and an acceptance that ran out");
    assert_eq!(ids(&part["closed_gaps"]), ["AML.T0048", "AML.T0051"], "ruled out, and accepted");
    assert_eq!(ids(&part["acceptances_expired"]), ["AML.T0043"]);
    assert_eq!(part["acceptances_expired"][0]["expires_on"], "2026-11-25");
    assert_eq!(ids(&part["acceptances_added"]), ["AML.T0048"]);
    assert_eq!(part["acceptances_added"][0]["expires_on"], until.as_str());
    assert_eq!(part["acceptances_added"][0]["recorded_by"], "bo");
    let counts = |end: &str| part["overall"][end]["counts"].clone();
    assert_eq!(counts("before")["accepted_risk"], 1);
    assert_eq!(counts("after")["accepted_risk"], 1);
    assert_eq!(counts("after")["not_applicable"], counts("before")["not_applicable"].as_u64().unwrap() + 1);
    let groups: Vec<(String, Vec<String>)> = part["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let who = g["changes"].as_array().unwrap().iter().map(|c| c["actor"].as_str().unwrap().to_string());
            (g["item"].as_str().unwrap().to_string(), who.collect())
        })
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    for (item, who) in [("AML.T0051", ["bo"]), ("AML.T0048", ["bo"]), ("AML.T0024", ["cy"])] {
        assert!(
            groups.contains(&(item.to_string(), who.iter().map(|w| w.to_string()).collect())),
            "{item}: {groups:?}"
        );
    }
    let t0051 = part["groups"].as_array().unwrap().iter().find(|g| g["item"] == "AML.T0051").unwrap();
    let summary = t0051["changes"][0]["summary"].as_str().unwrap();
    assert!(summary.contains("applies → not_applicable"), "before → after: {summary}");
    let moved: Vec<&str> = part["tactics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["before"]["counts"] != t["after"]["counts"])
        .map(|t| t["tactic_id"].as_str().unwrap())
        .collect();
    assert!(!moved.is_empty(), "per tactic, the tactics of the changed techniques moved");

    let markdown = app.get(&format!("/api/v1/systems/{id}/digest?from=Workshop+one&format=markdown")).await;
    assert_eq!(markdown.status, StatusCode::OK);
    assert!(markdown.header("content-type").starts_with("text/markdown"));
    assert!(markdown.header("content-disposition").contains("atlascope-digest-system-"));
    for expected in ["# Changes to Support Chatbot since Workshop one", "### New gaps", "ran out: AML.T0043", "| bo |"]
    {
        assert!(markdown.body.contains(expected), "{expected}: {}", markdown.body);
    }
    let html = app.get(&format!("/api/v1/systems/{id}/digest?from=Workshop+one&format=html")).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.starts_with("<!DOCTYPE html>") && html.body.contains("Closed gaps"));
    for fetched in ["<script", "src=", "<link", "url("] {
        assert!(!html.body.contains(fetched), "a self-contained file fetches nothing: {fetched}");
    }
    let page = app.get(&format!("{system}/digest?from=Workshop+one")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Changes to Support Chatbot since Workshop one") && page.body.contains("AML.T0024"));

    // The team's digest starts at its newest snapshot unless told otherwise.
    let team = app.get("/api/v1/teams/1/digest").await.json();
    assert_eq!(team["from"]["snapshot"], "Workshop one");
    assert_eq!(team["change_count"], 3);
    assert!(app.get("/teams/1").await.body.contains("Workshop one"));
    assert!(app.get("/teams/1/digest").await.body.contains("Changes to team Red Team since Workshop one"));

    for (query, status, field) in [
        ("from=Nope", StatusCode::NOT_FOUND, "from"),
        ("to=Nope", StatusCode::NOT_FOUND, "to"),
        ("from=2026-11-30&to=2026-11-21", StatusCode::BAD_REQUEST, "from"),
        ("to=2099-01-01", StatusCode::BAD_REQUEST, "to"),
        ("to=2026-11-01", StatusCode::BAD_REQUEST, "to"),
        ("format=pdf", StatusCode::BAD_REQUEST, "format"),
    ] {
        let refused = app.get(&format!("/api/v1/systems/{id}/digest?{query}")).await;
        assert_eq!(refused.status, status, "{query}: {}", refused.body);
        let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(message.starts_with(&format!("{field}: ")), "{query}: {message}");
    }
    assert_eq!(app.get(&format!("{system}/digest?from=Nope")).await.status, StatusCode::NOT_FOUND);

    // Trends take a snapshot's name for a day too.
    let trend = app.get("/api/v1/teams/1/coverage/trend?from=Workshop+one&step=week").await;
    assert_eq!(trend.status, StatusCode::OK, "{}", trend.body);
    assert_eq!(trend.json()["points"][0]["period_start"], "2026-11-20");
    let unknown = app.get(&format!("/api/v1/systems/{id}/coverage/trend?to=Nope")).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.json()["error"]["message"].as_str().unwrap().starts_with("to: "), "{}", unknown.body);

    // The form on the team page names a moment; an owner removes one.
    assert!(app.post_form("/teams/1/snapshots", "name=Workshop+two&at=").await.status.is_redirection());
    let again = app.post_form("/teams/1/snapshots", "name=workshop+two&at=").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("Snapshot not saved"), "{}", again.body);
    let listed = app.get("/api/v1/teams/1/snapshots").await.json();
    assert_eq!(listed[0]["name"], "Workshop two", "newest first");
    let first = listed[1]["id"].as_i64().unwrap();
    let removed =
        app.request(axum::http::Method::DELETE, &format!("/api/v1/teams/1/snapshots/{first}"), &[], Vec::new()).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let gone =
        app.request(axum::http::Method::DELETE, &format!("/api/v1/teams/1/snapshots/{first}"), &[], Vec::new()).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}
