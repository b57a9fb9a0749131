//! The workshop pages over real HTTP: teams and systems, assessing a
//! technique with and without htmx, conflicts, bulk actions, suggested
//! scope, undo, live events, escaping and confirmed deletion.

use std::time::Duration;

use http_body_util::BodyExt;

use crate::helpers::{StatusCode, TestApp, team_and_system};

#[tokio::test]
async fn a_new_system_opens_on_an_unassessed_matrix() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let page = app.get(&system).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches(r#"<li class="column">"#).count(), 16);
    assert!(page.body.contains("? Not assessed</span> <strong>170</strong>"), "all 170 not assessed");
    assert!(page.body.contains(r#"sse-connect="/systems/1/events""#));
    assert!(page.body.contains(r#"sse-swap="state-AML_T0051_001""#), "each cell listens for its own updates");
}

#[tokio::test]
async fn assessing_without_javascript_redirects_and_records_the_history() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let ana = app.member("ana.lyst", 1, Some(atlascope::auth::Role::Editor)).await;
    let named = app
        .request(
            axum::http::Method::POST,
            &format!("{system}/techniques/AML.T0051"),
            &[("content-type", "application/x-www-form-urlencoded"), ("cookie", &ana)],
            b"applicability=applies&risk=high&rationale=Public+chat+input&version=0".to_vec(),
        )
        .await;
    assert_eq!(named.status, StatusCode::SEE_OTHER);
    assert_eq!(named.header("location"), format!("{system}/techniques/AML.T0051"));
    let item = app.get(&format!("{system}/techniques/AML.T0051")).await;
    assert!(
        item.body.contains(r#"class="badge s-gap v-prevention""#),
        "applies, ATLAS mitigations exist, none started"
    );
    assert!(
        item.body
            .contains("<strong>ana.lyst</strong>: AML.T0051 LLM Prompt Injection: applicability: unknown → applies"),
        "{}",
        item.body
    );
    assert!(item.body.contains(r#"name="version" value="1""#));

    let done = app
        .post_form(&format!("{system}/techniques/AML.T0051/mitigations/AML.M0020"), "status=implemented&version=0")
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let page = app.get(&system).await;
    assert!(page.body.contains("✓ Covered</span> <strong>1</strong>"), "one covered technique in the summary");
    assert!(page.body.contains("100%"), "coverage 1 of 1");
}

#[tokio::test]
async fn htmx_saves_return_the_panel_with_undo() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let saved =
        app.post_htmx(&format!("{system}/techniques/AML.T0051.001"), "applicability=not_applicable&version=0").await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(!saved.body.contains("<html"), "a fragment");
    assert!(saved.body.contains(r#"class="badge s-not_applicable v-prevention""#));
    let undo_start = saved.body.find("/undo/").expect("an undo form");
    let entry: String = saved.body[undo_start + 6..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let undone = app.post_htmx(&format!("{system}/undo/{entry}"), "technique=AML.T0051.001").await;
    assert_eq!(undone.status, StatusCode::OK);
    assert!(undone.body.contains(r#"class="badge s-not_assessed v-prevention""#), "back to the previous state");
    assert!(undone.body.contains("undid change"));
}

#[tokio::test]
async fn a_stale_write_is_refused_and_can_be_reapplied() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let path = format!("{system}/techniques/AML.T0051");
    let first = app.post_htmx(&path, "applicability=applies&version=0").await;
    assert_eq!(first.status, StatusCode::OK);
    // A second person still holds version 0.
    let stale = app.post_htmx(&path, "applicability=not_applicable&rationale=Not+ours&version=0").await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body.contains("Not saved: admin</strong> saved a change here"), "{}", stale.body);
    assert!(stale.body.contains(r#"value="applies" checked"#), "the current value is shown");
    let compared = stale.body.split("conflict-table").nth(1).expect("a comparison of both sides");
    assert!(
        compared.contains("<td class=\"pre-wrap\">Applies</td><td class=\"pre-wrap\">not_applicable</td>"),
        "{compared}"
    );
    assert!(
        stale.body.contains(
            r#"<textarea id="reapply-rationale" name="rationale" rows="3" maxlength="4000">Not ours</textarea>"#
        ),
        "the typed text is kept, editable"
    );
    assert!(stale.body.contains("Save mine over theirs"));
    assert!(stale.body.contains(r#"name="version" value="1""#), "the re-apply form carries the current version");
    assert!(!stale.body.contains("version 0") && !stale.body.contains("version 1"), "no version numbers in words");
    let reapplied = app.post_htmx(&path, "applicability=not_applicable&risk=&rationale=Not+ours&version=1").await;
    assert_eq!(reapplied.status, StatusCode::OK);
    assert!(reapplied.body.contains(r#"value="not_applicable" checked"#));
}

#[tokio::test]
async fn bad_values_are_refused_naming_the_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let bad_date = app
        .post_htmx(
            &format!("{system}/techniques/AML.T0051/mitigations/AML.M0020"),
            "status=planned&target_date=2026-13-45&version=0",
        )
        .await;
    assert_eq!(bad_date.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_date.body.contains("target_date: `2026-13-45` is not a date"), "{}", bad_date.body);
    assert!(bad_date.body.contains(r#"<option value="not_started" selected>"#), "nothing written");
    let bad_state = app.post_htmx(&format!("{system}/techniques/AML.T0051"), "applicability=maybe&version=0").await;
    assert_eq!(bad_state.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_state.body.contains("applicability: `maybe` is not one of unknown, applies, not_applicable"));
    let unknown = app.post_htmx(&format!("{system}/techniques/AML.T9999"), "applicability=applies").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "no such technique in the system's release");
    assert!(unknown.body.contains("AML.T9999 is not in ATLAS release 2026.05"), "{}", unknown.body);
    let long = format!("applicability=applies&rationale={}&version=0", "x".repeat(4001));
    let too_long = app.post_htmx(&format!("{system}/techniques/AML.T0051"), &long).await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.body.contains("rationale: is 4001 characters; the limit is 4000"));
}

#[tokio::test]
async fn bulk_actions_and_suggested_scope() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let bulk = app.post_htmx(&format!("{system}/bulk"), "applicability=not_applicable&tactic=AML.TA0002").await;
    assert_eq!(bulk.status, StatusCode::OK);
    assert!(bulk.body.contains("Set 12 technique(s) to “Not applicable”."), "{}", bulk.body);
    let ticked = app
        .post_htmx(&format!("{system}/bulk"), "applicability=applies&techniques=AML.T0051&techniques=AML.T0054")
        .await;
    assert!(ticked.body.contains("Set 2 technique(s)"));
    let unknown = app
        .post_htmx(&format!("{system}/bulk"), "applicability=applies&techniques=AML.T0051&techniques=AML.T7777")
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown.body.contains("AML.T7777"), "unknown IDs are listed back");

    let suggested = app.post_htmx(&format!("{system}/suggest"), "").await;
    assert!(suggested.body.contains("Suggested"), "{}", suggested.body);
    let page = app.get(&system).await;
    assert!(page.body.contains("☆ Suggested"));
    let confirmed = app.post_htmx(&format!("{system}/suggest/confirm"), "").await;
    assert!(confirmed.body.contains("as applying"), "{}", confirmed.body);
    let page = app.get(&format!("{system}?state=not_assessed")).await;
    assert!(!page.body.contains("☆ Suggested"), "no suggestion is left once confirmed");
}

#[tokio::test]
async fn a_change_reaches_the_event_stream_of_the_system() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let mut stream = app.open_stream(&format!("{system}/events")).await;
    let saved = app.post_htmx(&format!("{system}/techniques/AML.T0051.001"), "applicability=applies&version=0").await;
    assert_eq!(saved.status, StatusCode::OK);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !received.contains("event: item-") {
        let frame = tokio::time::timeout_at(deadline, stream.frame()).await.expect("an event within 5 s");
        if let Some(Ok(frame)) = frame
            && let Ok(data) = frame.into_data()
        {
            received.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(received.contains("event: state-AML_T0051_001"), "{received}");
    assert!(received.contains("event: state-AML_T0051\n"), "the parent's roll-up moves too");
    assert!(received.contains("event: tactic-AML_TA0005"));
    assert!(received.contains("event: item-AML_T0051_001"));
}

#[tokio::test]
async fn user_text_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "<script>alert(1)</script>").await;
    let page = app.get(&system).await;
    assert!(!page.body.contains("<script>alert(1)</script>"));
    assert!(page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "shown escaped");
}

#[tokio::test]
async fn deleting_a_system_asks_for_its_name() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    app.post_form(&format!("{system}/techniques/AML.T0051"), "applicability=applies&version=0").await;
    let confirm = app.get(&format!("{system}/delete")).await;
    assert!(confirm.body.contains("Type the system name to confirm"));
    let wrong = app.post_form(&format!("{system}/delete"), "confirm=Other").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get(&system).await.status, StatusCode::OK, "still there");
    let right = app.post_form(&format!("{system}/delete"), "confirm=support+chatbot").await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&system).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cached_state_matches_the_database_after_concurrent_writes() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let system = team_and_system(&app, "Support Chatbot").await;
    let techniques: Vec<String> = app
        .get("/api/v1/frameworks/2026.05/techniques")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .take(40)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    app.get(&system).await; // the snapshot is now cached
    let mut writers = Vec::new();
    for n in 0..120usize {
        let (writer_app, writer_system) = (app.clone(), system.clone());
        let technique = techniques[n % techniques.len()].clone();
        writers.push(tokio::spawn(async move {
            let (app, system) = (writer_app, writer_system);
            let choice = ["applies", "not_applicable", "unknown"][n % 3];
            app.post_htmx(&format!("{system}/techniques/{technique}"), &format!("applicability={choice}")).await.status
        }));
        if n % 10 == 0 {
            let app = app.clone();
            let system = system.clone();
            writers.push(tokio::spawn(async move {
                let status = ["implemented", "in_progress", "planned"][n % 3];
                app.post_htmx(
                    &format!("{system}/techniques/AML.T0051/mitigations/AML.M0020"),
                    &format!("status={status}"),
                )
                .await
                .status
            }));
        }
    }
    for writer in writers {
        assert_eq!(writer.await.unwrap(), StatusCode::OK);
    }
    let served = app.get("/api/v1/systems/1/coverage").await.json();
    let cached_page = app.get(&system).await.body;
    let app = std::sync::Arc::into_inner(app).expect("all writers done");
    let data_dir = app.data_dir.clone();
    let keep = app.stop().await;
    let fresh = TestApp::spawn_in(data_dir).await;
    assert_eq!(fresh.get("/api/v1/systems/1/coverage").await.json(), served, "cache and database agree");
    let summary = |body: &str| body[body.find("summary-figures").unwrap()..body.find("</ul>").unwrap()].to_string();
    assert_eq!(summary(&fresh.get(&system).await.body), summary(&cached_page));
    drop(keep);
}

#[tokio::test]
async fn htmx_requests_are_refused_in_one_sentence_without_taking_the_page_away() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let save = format!("{system}/techniques/AML.T0051");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let current = format!("{}{system}?tactic=AML.TA0005", app.base);

    // No session: htmx is told in one sentence, shown where the person acted;
    // no sign-in page is drawn into the panel and the page is not taken away.
    let anonymous = [form, ("cookie", ""), ("hx-request", "true"), ("hx-current-url", current.as_str())];
    let reply = app.request(axum::http::Method::POST, &save, &anonymous, b"risk=high".to_vec()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.header("content-type").starts_with("text/plain"));
    assert!(reply.body.starts_with("Not saved: your session has ended"), "{}", reply.body);
    assert!(reply.header("hx-redirect").is_empty(), "no redirect htmx would follow");
    // Without htmx, the browser is redirected as before.
    let plain = app.request(axum::http::Method::POST, &save, &[form, ("cookie", "")], b"risk=high".to_vec()).await;
    assert_eq!(plain.status, StatusCode::SEE_OTHER);
    assert!(plain.header("location").starts_with("/login?next="));

    // A viewer's save is refused with one sentence for htmx, a page otherwise.
    let viewer = app.member("vera", 1, Some(atlascope::auth::Role::Viewer)).await;
    let as_viewer = [form, ("cookie", viewer.as_str()), ("hx-request", "true")];
    let refused = app.request(axum::http::Method::POST, &save, &as_viewer, b"risk=high".to_vec()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.header("content-type").starts_with("text/plain"), "{}", refused.header("content-type"));
    assert!(refused.body.starts_with("Not allowed: ") && !refused.body.contains('<'), "{}", refused.body);
    let page = app.request(axum::http::Method::POST, &save, &as_viewer[..2], b"risk=high".to_vec()).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("<html"), "a page without htmx");
}

#[tokio::test]
async fn the_upgrade_assistant_previews_applies_and_the_workshop_undoes_it() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", crate::helpers::official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Models"})).await.json()["id"].clone();
    let body = serde_json::json!({"team_id": team, "name": "Legacy", "exposure": "public", "criticality": "high",
        "framework_version": "5.6.0"});
    let id = app.post_json("/api/v1/systems", &body).await.json()["id"].as_i64().unwrap();

    // The team page says the system is behind and what upgrading would change.
    let team_page = app.get(&format!("/teams/{team}")).await.body;
    assert!(team_page.contains("1 of 1 system(s) are on an older ATLAS release"), "{team_page}");
    assert!(team_page.contains(&format!(r#"href="/systems/{id}/upgrade?to=2026.05">Upgrade to 2026.05</a>"#)));

    // The release no longer changes silently through an edit.
    let edit = app.get(&format!("/systems/{id}/edit")).await;
    assert!(edit.body.contains("Upgrade to another release") && !edit.body.contains(r#"name="framework_version""#));
    let put = app
        .put_json(
            &format!("/api/v1/systems/{id}"),
            &serde_json::json!({"name": "Legacy", "exposure": "public",
            "criticality": "high", "framework_version": "2026.05"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", put.body);
    assert!(put.body.contains("framework_version"), "{}", put.body);
    let form = app
        .post_form(
            &format!("/systems/{id}/edit"),
            "name=Legacy&exposure=public&criticality=high&framework_version=2026.05",
        )
        .await;
    assert_eq!(form.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(form.body.contains("is an upgrade"), "a crafted form is told where upgrades are made");

    // A decided technique whose maturity 2026.05 changes will be flagged for review.
    let changes = app.get("/api/v1/frameworks/5.6.0/diff/2026.05").await.json();
    let matured = changes["maturity_changed"][0]["id"].as_str().expect("a maturity change").to_string();
    let put = app
        .put_json(
            &format!("/api/v1/systems/{id}/assessments/{matured}"),
            &serde_json::json!({"applicability": "applies"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    let page = app.get(&format!("/systems/{id}/upgrade")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Upgrade Legacy from ATLAS 5.6.0")
            && page.body.contains("What the upgrade to 2026.05 changes")
    );
    let applied = app.post_form(&format!("/systems/{id}/upgrade"), "to=2026.05").await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.body);
    let location = applied.header("location").to_string();
    assert!(location.starts_with(&format!("/systems/{id}?done=Upgraded")), "{location}");
    assert_eq!(app.get(&format!("/api/v1/systems/{id}")).await.json()["framework_version"], "2026.05");
    let workshop = app.get(&location).await;
    assert!(workshop.body.contains("Upgraded from ATLAS 5.6.0 to 2026.05"), "the flash says what happened");
    assert!(workshop.body.contains("The last upgrade flagged 1 technique(s) for review"), "{}", workshop.body);
    let only = app.get(&format!("/systems/{id}?review=1")).await.body;
    assert!(only.contains(&format!(r#"data-technique="{matured}""#)) && only.contains("Showing the 1 technique(s)"));
    let panel = app.get(&format!("/systems/{id}/techniques/{matured}")).await.body;
    assert!(panel.contains("To review after the upgrade:") && panel.contains("maturity"), "{panel}");
    let reviewed = app.post_htmx(&format!("/systems/{id}/techniques/{matured}/review"), "").await;
    assert_eq!(reviewed.status, StatusCode::OK);
    assert!(!reviewed.body.contains("To review after the upgrade"), "the flag is gone from the panel");
    assert!(!app.get(&format!("/systems/{id}")).await.body.contains("flagged"), "and from the workshop");
    let again = app.post_htmx(&format!("/systems/{id}/techniques/{matured}/review"), "").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let undo = location.split("undo=").nth(1).expect("an undo entry");
    let undone = app.post_form(&format!("/systems/{id}/undo/{undo}"), "").await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER, "{}", undone.body);
    assert_eq!(app.get(&format!("/api/v1/systems/{id}")).await.json()["framework_version"], "5.6.0");
    // Undoing an upgrade takes its review flags with it.
    let location = app.post_form(&format!("/systems/{id}/upgrade"), "to=2026.05").await.header("location").to_string();
    assert!(app.get(&format!("/systems/{id}")).await.body.contains("flagged 1 technique(s)"));
    let undo = location.split("undo=").nth(1).expect("an undo entry");
    app.post_form(&format!("/systems/{id}/undo/{undo}"), "").await;
    assert!(!app.get(&format!("/systems/{id}")).await.body.contains("flagged"));
    let bad = app.post_form(&format!("/systems/{id}/upgrade"), "to=2031.01").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Not upgraded") && bad.body.contains("2031.01"), "{}", bad.body);
}

#[tokio::test]
async fn decisions_on_techniques_the_release_no_longer_has_stay_readable_in_the_archive() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let empty = app.get(&format!("{system}/archive")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Nothing is archived"));
    // As an upgrade leaves a decision on a technique retired without successor (an ID no release has).
    let id: i64 = system.trim_start_matches("/systems/").parse().unwrap();
    crate::helpers::execute(
        &app,
        &format!(
            "insert into assessments (system_id, technique_id, applicability, rationale, risk, updated_by, updated_at)
             values ({id}, 'AML.T0999', 'applies', 'public dataset mirror', 'high', 'ana', '2026-06-01T10:00:00Z')"
        ),
    )
    .await;
    app.state.snapshots.invalidate(id);
    let page = app.get(&format!("{system}/archive")).await;
    assert!(page.body.contains("AML.T0999") && page.body.contains("public dataset mirror"), "{}", page.body);
    assert!(page.body.contains("risk High") || page.body.contains("risk high"), "{}", page.body);
}

#[tokio::test]
async fn a_team_owner_previews_and_upgrades_every_system_at_once() {
    let Some(dir) = crate::helpers::shared_atlas() else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", crate::helpers::official(&dir, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Models"})).await.json()["id"].clone();
    let mut ids = Vec::new();
    for name in ["Chat", "Search"] {
        let body = serde_json::json!({"team_id": team, "name": name, "exposure": "public", "criticality": "high",
            "framework_version": "5.6.0"});
        ids.push(app.post_json("/api/v1/systems", &body).await.json()["id"].as_i64().unwrap());
    }
    let team_page = app.get(&format!("/teams/{team}")).await.body;
    assert!(team_page.contains(&format!(r#"href="/teams/{team}/upgrade">Upgrade them together"#)));
    let preview = app.get(&format!("/teams/{team}/upgrade")).await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.body.contains("Upgrade these 2 system(s) to 2026.05"), "{}", preview.body);
    assert_eq!(app.get(&format!("/api/v1/systems/{}", ids[0])).await.json()["framework_version"], "5.6.0");
    let done = app.post_form(&format!("/teams/{team}/upgrade"), "to=2026.05").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Upgraded 2 system(s) to ATLAS 2026.05"), "{}", done.body);
    for id in &ids {
        assert_eq!(app.get(&format!("/api/v1/systems/{id}")).await.json()["framework_version"], "2026.05");
    }
    let after = app.get(&format!("/teams/{team}/upgrade")).await.body;
    assert!(
        after.contains("No system of this team is on an older release") && after.contains("already on this release")
    );
}
