//! Defects found under attack, each pinned by the test that found it: writes
//! abandoned half-way, and what must still work afterwards.

use std::time::Duration;

use atlascope::auth::Role;
use atlascope::db;
use atlascope::domain::Applicability;
use atlascope::service::decisions::{self, AssessmentChange};
use atlascope::service::{Actor, accounts};
use tokio::io::AsyncWriteExt;

use crate::helpers::team_and_system;
use crate::helpers::until_stream_ends;
use crate::helpers::{StatusCode, TestApp};

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
    // The writes the departed clients left run to their end first (a save
    // right now would queue behind them); then saves answer promptly.
    settle(&app).await;
    assert_a_save_still_answers(&app, "AML.T0043").await;

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

/// A team member, a system, and that member's open stream of the system.
async fn member_following(app: &TestApp, role: Role) -> (i64, String, hyper::body::Incoming) {
    team_and_system(app, "Chatbot").await;
    let cookie = app.member("vic", 1, Some(role)).await;
    let user = db::accounts::user_by_name(&app.state.db, "vic").await.expect("lookup").expect("vic").id;
    let stream = app.open_stream_as("/systems/1/events", &cookie).await;
    (user, cookie, stream)
}

fn assert_access_ended(sent: Option<String>, why: &str) {
    let sent = sent.unwrap_or_else(|| panic!("the stream is still open after {why}"));
    assert!(sent.contains("event: access-ended"), "the stream says why it ends after {why}: {sent}");
}

#[tokio::test]
async fn a_stream_ends_when_its_viewer_leaves_the_team() {
    let app = TestApp::spawn().await;
    let (user, _, stream) = member_following(&app, Role::Viewer).await;
    accounts::remove_member(&app.state, 1, user).await.expect("removed");
    assert_access_ended(until_stream_ends(stream, Duration::from_secs(3)).await, "the viewer was removed");
}

#[tokio::test]
async fn a_stream_ends_when_its_viewer_signs_out() {
    let app = TestApp::spawn().await;
    let (_, cookie, stream) = member_following(&app, Role::Editor).await;
    app.sign_out(&cookie).await;
    assert_access_ended(until_stream_ends(stream, Duration::from_secs(3)).await, "signing out");
}

#[tokio::test]
async fn a_guest_stream_ends_with_the_invite_and_with_the_guest() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let code = accounts::create_invite(&app.state, 1, Role::Editor, "workshop", 2, None).await.expect("invite");
    let guest =
        format!("atlascope_session={}", accounts::join(&app.state, &code, "Sam", "tests").await.expect("joined"));
    let stream = app.open_stream_as("/systems/1/events", &guest).await;
    let invite = db::accounts::invites_of(&app.state.db, 1).await.expect("invites")[0].id;
    accounts::end_invite(&app.state, 1, invite).await.expect("ended");
    assert_access_ended(until_stream_ends(stream, Duration::from_secs(3)).await, "the invite was ended");

    let code = accounts::create_invite(&app.state, 1, Role::Viewer, "again", 2, None).await.expect("invite");
    let guest =
        format!("atlascope_session={}", accounts::join(&app.state, &code, "Kim", "tests").await.expect("joined"));
    let stream = app.open_stream_as("/systems/1/events", &guest).await;
    let kim = db::accounts::participants_of(&app.state.db, 1)
        .await
        .expect("guests")
        .into_iter()
        .find(|p| p.display_name == "Kim");
    accounts::remove_participant(&app.state, 1, kim.expect("Kim").id).await.expect("removed");
    assert_access_ended(until_stream_ends(stream, Duration::from_secs(3)).await, "the guest was removed");
}

#[tokio::test]
async fn a_stream_ends_with_its_system_and_no_new_system_takes_its_id() {
    let app = TestApp::spawn().await;
    let (_, _, stream) = member_following(&app, Role::Owner).await;
    let deleted = app.delete("/api/v1/systems/1").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_access_ended(until_stream_ends(stream, Duration::from_secs(3)).await, "the system was deleted");

    // Another team's new system never gets the deleted system's id.
    let other = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Other team"})).await.json();
    let system = app
        .post_json(
            "/api/v1/systems",
            &serde_json::json!({"team_id": other["id"], "name": "New", "exposure": "public", "criticality": "low"}),
        )
        .await;
    assert_eq!(system.status, StatusCode::CREATED, "{}", system.body);
    assert_ne!(system.json()["id"], 1, "ids are never reused");
}

#[tokio::test]
async fn a_deleted_team_leaves_its_former_members_no_rights_on_a_new_team() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let owner = app.member("olga", 1, Some(Role::Owner)).await;
    let code = accounts::create_invite(&app.state, 1, Role::Viewer, "ws", 2, None).await.expect("invite");
    let guest =
        format!("atlascope_session={}", accounts::join(&app.state, &code, "Sam", "tests").await.expect("joined"));
    // Both have used their rights, so they are remembered.
    assert_eq!(app.get_with("/api/v1/teams/1", &[("cookie", &owner)]).await.status, StatusCode::OK);
    assert_eq!(app.get_with("/teams/1", &[("cookie", &guest)]).await.status, StatusCode::OK);

    assert_eq!(app.delete("/api/v1/teams/1").await.status, StatusCode::NO_CONTENT);
    let team = app.post_json("/api/v1/teams", &serde_json::json!({"name": "Fresh team"})).await.json();
    assert_ne!(team["id"], 1, "a deleted team's id is never given to a new team");
    let id = team["id"].as_i64().expect("an id");
    for (who, cookie) in [("former owner", &owner), ("former guest", &guest)] {
        for path in [format!("/api/v1/teams/{id}"), "/api/v1/teams/1".to_string()] {
            let reply = app.get_with(&path, &[("cookie", cookie)]).await;
            assert!(reply.status.is_client_error(), "{who} reads {path}: {}", reply.status);
        }
    }
    let control = app
        .send_json(
            axum::http::Method::POST,
            &format!("/api/v1/teams/{id}/controls"),
            &[("cookie", &owner)],
            &serde_json::json!({"name": "Sneaky", "techniques": []}),
        )
        .await;
    assert!(control.status.is_client_error(), "the former owner creates nothing: {}", control.status);
}

#[tokio::test]
async fn shutting_down_ends_open_streams_and_returns_promptly() {
    let limits = atlascope::server::Limits { drain_timeout: Duration::from_secs(5), ..Default::default() };
    let app = TestApp::spawn_with_limits(limits).await;
    team_and_system(&app, "Chatbot").await;
    let stream = app.open_stream("/systems/1/events").await;
    let started = std::time::Instant::now();
    let _dir = tokio::time::timeout(Duration::from_secs(4), app.stop()).await.expect("the server stops within 4 s");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(until_stream_ends(stream, Duration::from_secs(1)).await.is_some(), "the stream was closed");
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_and_cannot_starve_others() {
    let limits = atlascope::server::Limits {
        header_timeout: Duration::from_millis(800),
        max_connections: 40,
        drain_timeout: Duration::from_secs(2),
    };
    let app = TestApp::spawn_with_limits(limits).await;
    let address = app.base.trim_start_matches("http://").to_string();
    // More silent connections than the server admits at once, and one that
    // sends its request head a byte at a time.
    let mut silent = Vec::new();
    for _ in 0..60 {
        silent.push(tokio::net::TcpStream::connect(&address).await.expect("connects"));
    }
    let mut slow = tokio::net::TcpStream::connect(&address).await.expect("connects");
    let slow_writer = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
            if slow.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let health = tokio::time::timeout(Duration::from_secs(4), app.get("/healthz")).await;
    assert_eq!(health.expect("a real request is served within 4 s").status, StatusCode::OK);
    assert!(slow_writer.await.expect("slow writer"), "a request head dribbled over 3 s is cut off");
    let mut closed = 0;
    for mut connection in silent {
        let mut buffer = [0u8; 64];
        let read =
            tokio::time::timeout(Duration::from_secs(3), tokio::io::AsyncReadExt::read(&mut connection, &mut buffer));
        if matches!(read.await, Ok(Ok(0) | Err(_))) {
            closed += 1;
        }
    }
    assert_eq!(closed, 60, "every silent connection was closed");
}

#[tokio::test]
async fn the_id_migration_keeps_every_row_and_every_cascade() {
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(db::DATABASE_FILE);
    // A database as the previous release left it: its migrations, and data.
    {
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await.expect("database");
        let mut before = sqlx::migrate!("./migrations/sqlite");
        before.migrations = before.migrations.iter().filter(|m| m.version < 4).cloned().collect::<Vec<_>>().into();
        before.run(&mut connection).await.expect("the earlier migrations");
        connection
            .execute(
                "insert into teams (id, name, created_at, updated_at) values (1, 'Red', 't', 't'), (2, 'Blue', 't', 't');
                 insert into systems (id, team_id, name, exposure, criticality, framework_version, created_at, updated_at)
                   values (5, 1, 'Chatbot', 'public', 'high', '2026.05', 't', 't');
                 insert into assessments (system_id, technique_id, updated_by, updated_at) values (5, 'AML.T0051', 'a', 't');
                 insert into history (team_id, system_id, actor, at, entity, item, summary) values (1, 5, 'a', 't', 'x', 'y', 'z');
                 insert into users (id, username, display_name, password_hash, created_at, password_changed_at)
                   values (3, 'ana', 'Ana', 'h', 't', 't');
                 insert into memberships (team_id, user_id, role) values (1, 3, 'owner');",
            )
            .await
            .expect("data");
    }
    let database = db::open(dir.path()).await.expect("the migrations apply to a database with data");
    let pool = database.sqlite().expect("SQLite").clone();
    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.expect("count") }
    };
    assert_eq!(count("select count(*) from teams").await, 2);
    assert_eq!(count("select count(*) from systems where team_id = 1").await, 1);
    assert_eq!(count("select count(*) from memberships").await, 1);
    sqlx::query("insert into teams (name, created_at, updated_at) values ('Green', 't', 't')")
        .execute(&pool)
        .await
        .expect("insert");
    assert_eq!(count("select max(id) from teams").await, 3, "ids continue after the highest");
    sqlx::query("delete from teams where id = 1").execute(&pool).await.expect("delete");
    for table in ["systems", "assessments", "history", "memberships"] {
        let n: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(&pool).await.expect("count");
        assert_eq!(n, 0, "deleting the team still cascades to {table}");
    }
    sqlx::query("delete from teams where id = 3").execute(&pool).await.expect("delete");
    sqlx::query("insert into teams (name, created_at, updated_at) values ('Violet', 't', 't')")
        .execute(&pool)
        .await
        .expect("insert");
    assert_eq!(count("select max(id) from teams").await, 4, "a deleted id is not given again");
}

#[tokio::test]
async fn a_stale_write_cannot_overwrite_a_risk_acceptance_made_again_after_a_withdrawal() {
    let app = TestApp::spawn().await;
    team_and_system(&app, "Chatbot").await;
    let path = "/api/v1/systems/1/acceptances/AML.T0051";
    let accept = |justification: &'static str, if_match: Option<&'static str>| {
        let body = serde_json::json!({"justification": justification, "expires_on": "2099-01-01"});
        let headers: Vec<(&str, &str)> = if_match.map(|v| ("if-match", v)).into_iter().collect();
        let app = &app;
        async move { app.send_json(axum::http::Method::PUT, path, &headers, &body).await }
    };
    let first = accept("Compensating control in the gateway", None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("etag"), "\"1\"");
    // Someone withdraws it, someone else accepts the risk again.
    assert_eq!(app.delete(path).await.status, StatusCode::NO_CONTENT);
    let again = accept("Accepted by the risk board", None).await;
    assert_eq!(again.status, StatusCode::CREATED, "made again after a withdrawal");
    assert_eq!(again.header("etag"), "\"3\"", "versions go on counting across the withdrawal");
    // A client still holding version 1 can neither overwrite nor withdraw it.
    let stale_put = accept("Stale edit", Some("\"1\"")).await;
    assert_eq!(stale_put.status, StatusCode::PRECONDITION_FAILED, "{}", stale_put.body);
    let stale_delete = app.request(axum::http::Method::DELETE, path, &[("if-match", "\"1\"")], Vec::new()).await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(app.get(path).await.json()["justification"], "Accepted by the risk board");

    // Undoing the withdrawal is refused now (the acceptance moved on); undoing
    // the new acceptance withdraws it again.
    let history = app.get("/api/v1/systems/1/history?item=AML.T0051").await.json();
    let entries = history.as_array().expect("history");
    assert_eq!(entries.len(), 3);
    let (made_again, withdrawal) = (entries[0]["id"].as_i64().unwrap(), entries[1]["id"].as_i64().unwrap());
    let refused = app.post_json(&format!("/api/v1/systems/1/history/{withdrawal}/undo"), &serde_json::json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let undone = app.post_json(&format!("/api/v1/systems/1/history/{made_again}/undo"), &serde_json::json!({})).await;
    assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
    assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND);
}
