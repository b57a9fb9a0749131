//! The workshop's pages as each person in the room gets them over HTTP:
//! only the actions their role allows, suggested scope that stays true,
//! shared statuses in every panel and in the history page with undo, the
//! layout a browser chose, and controls mapped from a list of techniques.

use axum::http::{Method, StatusCode};

use crate::helpers::{TestApp, team_and_system};
use atlascope::auth::Role;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

#[tokio::test]
async fn suggested_scope_offers_confirm_at_once_and_withdraws_it_once_confirmed() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let page = app.get(&system).await;
    assert!(page.body.contains("No suggestion waits for confirmation."));

    let suggested = app.post_htmx(&format!("{system}/suggest"), "").await;
    assert_eq!(suggested.status, StatusCode::OK);
    let scope = suggested.body.split(r#"<div id="scope-actions" class="filters scope" hx-swap-oob="true">"#).nth(1);
    let scope = scope.expect("the scope buttons ride along with the answer");
    assert!(scope.contains("Confirm ") && scope.contains("suggestion(s) as applying"), "{scope}");

    let confirmed = app.post_htmx(&format!("{system}/suggest/confirm"), "").await;
    assert_eq!(confirmed.status, StatusCode::OK);
    assert!(confirmed.body.contains(r#"hx-swap-oob="true""#));
    assert!(!confirmed.body.contains("suggestion(s) as applying"), "the confirm button is gone: {}", confirmed.body);
    assert!(confirmed.body.contains("No suggestion waits for confirmation."));
}

#[tokio::test]
async fn each_role_sees_only_the_actions_it_may_take() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let viewer = app.member("vera", 1, Some(Role::Viewer)).await;
    let editor = app.member("eddie", 1, Some(Role::Editor)).await;
    let owner = app.member("olga", 1, Some(Role::Owner)).await;
    let owner_only = ["New system", "New control", "Team settings", "Members and workshop invites"];
    for (who, cookie, owns) in [("viewer", &viewer, false), ("editor", &editor, false), ("owner", &owner, true)] {
        let team = app.get_with("/teams/1", &[("cookie", cookie)]).await;
        assert_eq!(team.status, StatusCode::OK);
        for action in owner_only {
            assert_eq!(team.body.contains(action), owns, "{who} and “{action}” on the team page");
        }
        assert!(!team.body.contains("Delete team"), "only a site administrator deletes a team ({who})");
        let workshop = app.get_with(&system, &[("cookie", cookie)]).await;
        assert_eq!(workshop.body.contains("Edit system"), owns, "{who} and Edit system");
        assert_eq!(workshop.body.contains("Upgrade release"), owns, "{who} and Upgrade release");
        let edits = who != "viewer";
        assert_eq!(workshop.body.contains(r#"id="bulk""#), edits, "{who} and the bulk bar");
        assert_eq!(workshop.body.contains("data-can-edit"), edits, "{who} and the single-key decisions");
        let panel = app.get_with(&format!("{system}/techniques/AML.T0051"), &[("cookie", cookie)]).await;
        assert_eq!(panel.body.contains(r#"<fieldset class="plain" disabled>"#), !edits, "{who}: the panel's forms");
        assert_eq!(panel.body.contains("Accept the risk"), edits, "{who}: the acceptance form");
    }
    assert!(app.get("/teams/1").await.body.contains("Delete team"), "the administrator deletes teams");

    // A workshop guest has no account, so no Account link.
    let code =
        atlascope::service::accounts::create_invite(&app.state, 1, Role::Editor, "Workshop", 2, None).await.unwrap();
    let joined = app
        .request(Method::POST, &format!("/join/{code}"), &[("cookie", ""), FORM], b"display_name=Sam".to_vec())
        .await;
    let guest = joined.header("set-cookie").split(';').next().expect("a session").to_string();
    let page = app.get_with(&system, &[("cookie", &guest)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(r#"href="/account""#), "no Account link for a guest");
    assert!(app.get(&system).await.body.contains(r#"href="/account""#), "an account holder has one");
}

#[tokio::test]
async fn a_shared_status_shows_in_every_panel_it_covers_and_the_history_page_filters_and_undoes() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    let framework = app.state.catalog.get("2026.05").expect("the release");
    let shared = framework
        .mitigations_for("AML.T0051")
        .find(|m| {
            m.techniques.iter().any(|t| t.technique != "AML.T0051" && framework.technique(&t.technique).is_some())
        })
        .expect("a mitigation shared with another technique");
    let other = shared.techniques.iter().map(|t| t.technique.as_str()).find(|t| *t != "AML.T0051").expect("another");

    // Before the change, the panel says which other techniques the status counts for.
    let panel = app.get(&format!("{system}/techniques/AML.T0051")).await;
    let note = panel.body.split(&format!(r#"id="also-AML_T0051-{}""#, shared.id)).nth(1).expect("a shared-status note");
    assert!(note.contains(other) && note.contains("also counts for"), "{note}");

    let saved = app
        .post_htmx(&format!("{system}/techniques/AML.T0051/mitigations/{}", shared.id), "status=implemented&version=0")
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let elsewhere = app.get(&format!("{system}/techniques/{other}")).await;
    let history = elsewhere.body.split("history-slot").nth(1).expect("the panel history");
    assert!(history.contains(&format!("Mitigation {}", shared.id)), "the change shows in {other}'s panel: {history}");

    // The system's history page lists it, filters by item, person and period, and undoes it.
    let page = app.get(&format!("{system}/history")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&shared.name), "the item is named: {}", page.body);
    let by_item = app.get(&format!("{system}/history?item={}", shared.id)).await;
    assert_eq!(by_item.body.matches("<tr>").count(), 2, "a header row and the one change");
    let by_someone_else = app.get(&format!("{system}/history?actor=nobody")).await;
    assert!(by_someone_else.body.contains("No change matches."));
    let later = app.get(&format!("{system}/history?from=2099-01-01")).await;
    assert!(later.body.contains("No change matches."));
    let backwards = app.get(&format!("{system}/history?from=2026-12-01&to=2026-11-01")).await;
    assert!(backwards.body.contains("Filter ignored: from"), "{}", backwards.body);
    let typo = app.get(&format!("{system}/history?from=0002-03-15")).await;
    assert!(typo.body.contains("Filter ignored: from"), "{}", typo.body);

    let entry = app.get("/api/v1/systems/1/history?limit=1").await.json()[0]["id"].as_i64().expect("an entry");
    let undone = app.post_form(&format!("{system}/undo/{entry}"), "back=history").await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER);
    assert!(
        undone.header("location").starts_with(&format!("{system}/history?done=Undid")),
        "{}",
        undone.header("location")
    );
    let status = app.get(&format!("/api/v1{system}/mitigations/{}", shared.id)).await.json();
    assert_eq!(status["status"], "not_started");
}

#[tokio::test]
async fn impossible_dates_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    for date in ["0002-03-15", "2101-01-01", "1999-12-31"] {
        let refused = app
            .post_htmx(
                &format!("{system}/techniques/AML.T0051/mitigations/AML.M0020"),
                &format!("status=planned&target_date={date}&version=0"),
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{date}");
        assert!(refused.body.contains("target_date") && refused.body.contains("from 2000 to 2100"), "{}", refused.body);
    }
    let status = app.get(&format!("/api/v1{system}/mitigations/AML.M0020")).await.json();
    assert_eq!(status["version"], 0, "nothing was written");
}

#[tokio::test]
async fn the_layout_and_presenter_mode_a_browser_chose_are_remembered() {
    let app = TestApp::spawn().await;
    let system = team_and_system(&app, "Support Chatbot").await;
    assert!(app.get(&system).await.body.contains("wmatrix compact"), "compact by default");
    let chosen = app.post_form("/preferences/view", &format!("layout=cards&back={system}")).await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(chosen.header("location"), system);
    let cookie = chosen.header("set-cookie").split(';').next().expect("a cookie").to_string();
    assert_eq!(cookie, "atlascope_layout=cards");
    let admin = app.sign_in(1).await;
    let with_choice = format!("{admin}; {cookie}; atlascope_presenter=on");
    let page = app.get_with(&system, &[("cookie", &with_choice)]).await;
    assert!(page.body.contains("wmatrix cards"));
    assert!(page.body.contains(r#"<body class="presenter">"#));
    let away = app.post_form("/preferences/view", "presenter=on&back=//evil.example/").await;
    assert_eq!(away.header("location"), "/", "only a path of this site is followed");
}

#[tokio::test]
async fn controls_are_mapped_to_techniques_ticked_in_a_searchable_list() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Support Chatbot").await;
    let team = app.get("/teams/1").await;
    assert!(team.body.contains(r#"class="picker-search""#), "a search box over the list");
    assert!(team.body.contains(r#"<input type="checkbox" name="techniques" value="AML.T0051.000">"#));
    let created =
        app.post_form("/teams/1/controls", "name=Input+filter&techniques=AML.T0051&techniques=AML.T0051.000").await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let controls = app.get("/api/v1/teams/1/controls").await.json();
    assert_eq!(controls[0]["techniques"], serde_json::json!(["AML.T0051", "AML.T0051.000"]));
    let page = app.get(&format!("/controls/{}", controls[0]["id"])).await;
    assert!(page.body.contains(r#"value="AML.T0051.000" checked"#), "ticked as mapped");
    assert!(page.body.contains("LLM Prompt Injection: "), "sub-techniques are named with their parent");
}
