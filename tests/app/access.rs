//! Access control: every served route has a rule, and each role gets the
//! answer its rule promises; sign-in throttling and lock-out; cross-site
//! requests; API token scopes and expiry; invites; first-run set-up.

use std::collections::BTreeSet;

use atlascope::auth::policy::{Rule, rule};
use atlascope::auth::{Role, TokenScope};
use atlascope::service::accounts;
use axum::http::Method;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, Reply, StatusCode, TestApp, atlascope_command, execute, texts};

/// Every (method, path) the application serves: the page routes, read from
/// the source of `src/web`, and the API routes, from the OpenAPI document.
async fn served_routes(app: &TestApp) -> BTreeSet<(Method, String)> {
    let mut routes = BTreeSet::new();
    let mut folders = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web")];
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).expect("a source folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() { folders.push(path) } else { files.push(path) }
        }
    }
    assert!(files.len() > 10, "the page modules were found");
    for file in files {
        let source = std::fs::read_to_string(file).expect("source");
        let mut rest = source.as_str();
        while let Some(at) = rest.find(".route(\"") {
            rest = &rest[at + 8..];
            let path = &rest[..rest.find('"').expect("end of path")];
            // The method router runs to the parenthesis that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("end of route");
            let methods = &rest[..end];
            for (token, method) in
                [("get(", Method::GET), ("post(", Method::POST), ("put(", Method::PUT), ("delete(", Method::DELETE)]
            {
                if methods.contains(token) {
                    routes.insert((method, path.to_string()));
                }
            }
        }
    }
    let doc = app.get("/api/openapi.json").await.json();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("operations").keys() {
            routes.insert((method.to_uppercase().parse().expect("method"), path.clone()));
        }
    }
    routes.insert((Method::GET, "/api/openapi.json".to_string()));
    routes
}

#[tokio::test]
async fn every_served_route_has_an_access_rule() {
    let app = TestApp::spawn().await;
    let routes = served_routes(&app).await;
    assert!(routes.len() > 80, "found only {} routes", routes.len());
    let missing: Vec<String> =
        routes.iter().filter(|(m, p)| rule(m, p).is_none()).map(|(m, p)| format!("{m} {p}")).collect();
    assert!(missing.is_empty(), "routes without an access rule: {missing:#?}");
}

/// The people the table is checked for, on team 1.
struct Cast {
    viewer: String,
    editor: String,
    owner: String,
    outsider: String,
}

async fn cast(app: &TestApp) -> Cast {
    let team = app.post_form("/teams", "name=Red+Team").await;
    assert_eq!(team.status, StatusCode::SEE_OTHER);
    let system = app
        .post_form("/teams/1/systems", "name=Chatbot&platforms=Generative+AI&exposure=public&criticality=high")
        .await;
    assert_eq!(system.status, StatusCode::SEE_OTHER);
    let control = app.post_form("/teams/1/controls", "name=Filter&techniques=AML.T0051").await;
    assert_eq!(control.status, StatusCode::SEE_OTHER);
    let detection = app.post_form("/teams/1/detections", "name=Watch&techniques=AML.T0051").await;
    assert_eq!(detection.status, StatusCode::SEE_OTHER);
    Cast {
        viewer: app.member("vera", 1, Some(Role::Viewer)).await,
        editor: app.member("eddie", 1, Some(Role::Editor)).await,
        owner: app.member("olga", 1, Some(Role::Owner)).await,
        outsider: app.member("otto", 1, None).await,
    }
}

/// A concrete URL for a route pattern, on team 1, system 1, control 1.
fn concrete(path: &str) -> String {
    path.replace("{version}", "2026.05")
        .replace("{other}", "2026.05")
        .replace("{technique}", "AML.T0051")
        .replace("{technique_id}", "AML.T0051")
        .replace("{mitigation}", "AML.M0020")
        .replace("{mitigation_id}", "AML.M0020")
        .replace("{control}", "1")
        .replace("{control_id}", "1")
        .replace("{*path}", "app.css")
        .replace("{code}", "not-a-code")
        .replace("{session}", "0")
        .replace("{entry}", "999999")
        .replace("{entry_id}", "999999")
        .replace("{user}", "999")
        .replace("{invite}", "999")
        .replace("{participant}", "999")
        .replace("{snapshot}", "999")
        .replace(
            "{id}",
            if path.starts_with("/frameworks/") || path.starts_with("/api/v1/frameworks/") { "AML.T0051" } else { "1" },
        )
}

async fn call(app: &TestApp, method: &Method, path: &str, cookie: &str) -> Reply {
    let body: &[u8] = if path.starts_with("/api/") { b"{}" } else { b"" };
    let content_type = if path.starts_with("/api/") { "application/json" } else { "application/x-www-form-urlencoded" };
    app.request(method.clone(), path, &[("cookie", cookie), ("content-type", content_type)], body.to_vec()).await
}

fn refused_sign_in(reply: &Reply, api: bool) -> bool {
    if api {
        reply.status == StatusCode::UNAUTHORIZED
    } else {
        reply.status == StatusCode::SEE_OTHER && reply.header("location").starts_with("/login")
    }
}

#[tokio::test]
async fn each_role_gets_the_answer_its_rule_promises_on_every_route() {
    let app = TestApp::spawn().await;
    let people = cast(&app).await;
    let mut failures = Vec::new();
    for (method, pattern) in served_routes(&app).await {
        let path = concrete(&pattern);
        let api = pattern.starts_with("/api/");
        let rule = rule(&method, &pattern).expect("checked by the other test");
        let safe = method == Method::GET;
        let mut expect = |who: &str, ok: bool, reply: &Reply, wanted: &str| {
            if !ok {
                failures.push(format!("{method} {pattern} as {who}: {} (expected {wanted})", reply.status));
            }
        };
        let anonymous = call(&app, &method, &path, "").await;
        match rule {
            // Public routes may still redirect (set-up is closed, sign-out goes to sign-in).
            // (a page's own 401, such as a failed sign-in, is an answer, not a refusal).
            Rule::Public => {
                let refused =
                    anonymous.status == StatusCode::FORBIDDEN || (api && anonymous.status == StatusCode::UNAUTHORIZED);
                expect("anonymous", !refused, &anonymous, "served")
            }
            _ => expect("anonymous", refused_sign_in(&anonymous, api), &anonymous, "sign-in required"),
        }
        let cast = [
            ("viewer", &people.viewer, Some(Role::Viewer)),
            ("editor", &people.editor, Some(Role::Editor)),
            ("owner", &people.owner, Some(Role::Owner)),
            ("outsider", &people.outsider, None),
        ];
        for (who, cookie, role) in cast {
            let allowed = match rule {
                Rule::Public | Rule::SignedIn | Rule::Account | Rule::CheckedByHandler => true,
                Rule::Admin => false,
                Rule::Team(need, _) => role.is_some_and(|r| r >= need),
            };
            // Allowed writes are exercised by the feature tests, and an
            // allowed event stream never ends: only denials are checked there.
            if allowed && (!safe || pattern.ends_with("/events")) {
                continue;
            }
            let reply = call(&app, &method, &path, cookie).await;
            if allowed {
                let denied = matches!(reply.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                    || (rule != Rule::Public && refused_sign_in(&reply, api));
                expect(who, !denied, &reply, "allowed");
            } else if role.is_none() && matches!(rule, Rule::Team(..)) {
                expect(who, reply.status == StatusCode::NOT_FOUND, &reply, "404: the team is not theirs");
            } else {
                expect(who, reply.status == StatusCode::FORBIDDEN, &reply, "403");
            }
        }
        if safe && !pattern.ends_with("/events") {
            let admin = call(&app, &method, &path, &app.admin_cookie).await;
            let denied = matches!(admin.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                || (rule != Rule::Public && refused_sign_in(&admin, api));
            expect("admin", !denied, &admin, "allowed");
        }
    }
    assert!(
        failures.is_empty(),
        "{} route × role answers differ from the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Signs in through the password form, from a browser with no cookie.
pub(crate) async fn sign_in(app: &TestApp, username: &str, password: &str) -> Reply {
    let body = format!("username={username}&password={}&next=/", password.replace(' ', "+"));
    app.request(
        Method::POST,
        "/login",
        &[("cookie", ""), ("content-type", "application/x-www-form-urlencoded")],
        body.into_bytes(),
    )
    .await
}

#[tokio::test]
async fn failed_sign_ins_slow_a_name_down_alike_whether_it_exists_or_not() {
    let app = TestApp::spawn().await;
    // The free failures, then a wait: for the administrator and for a name
    // nobody has, the same answers in the same order.
    for name in [ADMIN, "nobody"] {
        for n in 0..=accounts::FREE_FAILURES {
            assert_eq!(sign_in(&app, name, "wrong password").await.status, StatusCode::UNAUTHORIZED, "{name} #{n}");
        }
        let waiting = sign_in(&app, name, ADMIN_PASSWORD).await;
        assert_eq!(waiting.status, StatusCode::TOO_MANY_REQUESTS, "{name} waits, even with the right password");
        assert!(waiting.body.contains("Too many failed sign-ins with this user name"), "{}", waiting.body);
        assert!(waiting.header("retry-after").parse::<u64>().is_ok_and(|s| s > 0));
    }
    // The address limit holds too, whatever the name.
    let mut throttled = None;
    for n in 0..12 {
        let reply = sign_in(&app, &format!("someone{n}"), "x").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(reply);
            break;
        }
    }
    assert!(!throttled.expect("the address is throttled").header("retry-after").is_empty());
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_counted_before_they_are_checked() {
    let app = TestApp::spawn().await;
    let attempts: Vec<_> = (0..40)
        .map(|_| {
            let state = app.state.clone();
            tokio::spawn(async move { accounts::verify_sign_in(&state, ADMIN, "wrong password", "192.0.2.7").await })
        })
        .collect();
    let mut checked = 0;
    for attempt in attempts {
        match attempt.await.expect("attempt") {
            Err(accounts::SignInError::Wrong) => checked += 1,
            Err(accounts::SignInError::Throttled { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(checked, accounts::FREE_FAILURES + 1, "only the free failures and one more were checked");
}

#[tokio::test]
async fn failures_from_one_address_do_not_lock_the_owner_out_elsewhere_and_unlock_clears_them() {
    let app = TestApp::spawn().await;
    for _ in 0..12 {
        let _ = accounts::verify_sign_in(&app.state, ADMIN, "an attacker guessing", "198.51.100.9").await;
    }
    let attacker = accounts::verify_sign_in(&app.state, ADMIN, ADMIN_PASSWORD, "198.51.100.9").await;
    assert!(matches!(attacker, Err(accounts::SignInError::Throttled { .. })), "{attacker:?}");
    let owner = accounts::verify_sign_in(&app.state, ADMIN, ADMIN_PASSWORD, "203.0.113.4").await;
    assert!(owner.is_ok(), "the owner signs in from their own address: {owner:?}");

    // An administrator lifts the wait with `atlascope user unlock`.
    let mut command = atlascope_command(&app);
    let state = app.state.clone();
    let unlock = tokio::task::spawn_blocking(move || {
        command.args(["user", "unlock", "ADMIN"]).env("RUST_LOG", "warn").output().expect("the command runs")
    })
    .await
    .expect("unlock");
    assert!(unlock.status.success(), "{}", String::from_utf8_lossy(&unlock.stderr));
    assert!(String::from_utf8_lossy(&unlock.stdout).contains("from 1 address(es)"));
    let again = accounts::verify_sign_in(&state, ADMIN, ADMIN_PASSWORD, "198.51.100.9").await;
    assert!(again.is_ok(), "after unlock: {again:?}");
}

#[tokio::test]
async fn a_right_password_signs_in_and_sign_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let reply = app
        .request(
            Method::POST,
            "/login",
            &[("cookie", ""), ("content-type", "application/x-www-form-urlencoded")],
            format!("username={ADMIN}&password={}&next=/teams", ADMIN_PASSWORD.replace(' ', "+")).into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/teams");
    let cookie = reply.header("set-cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure flag");
    let session = cookie.split(';').next().unwrap().to_string();
    assert_eq!(app.get_with("/teams", &[("cookie", &session)]).await.status, StatusCode::OK);
    let out = app.request(Method::POST, "/logout", &[("cookie", &session)], Vec::new()).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = app.get_with("/teams", &[("cookie", &session)]).await;
    assert!(refused_sign_in(&after, false), "the session is gone");
    // Behind an HTTPS proxy the cookie is Secure.
    let https = app
        .request(
            Method::POST,
            "/login",
            &[("cookie", ""), ("x-forwarded-proto", "https"), ("content-type", "application/x-www-form-urlencoded")],
            format!("username={ADMIN}&password={}", ADMIN_PASSWORD.replace(' ', "+")).into_bytes(),
        )
        .await;
    assert!(https.header("set-cookie").contains("; Secure"));
}

#[tokio::test]
async fn a_cross_site_post_is_refused() {
    let app = TestApp::spawn().await;
    let forged = app
        .request(
            Method::POST,
            "/teams",
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"name=Forged".to_vec(),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let teams = app.get("/api/v1/teams").await.json();
    assert!(teams.as_array().unwrap().is_empty(), "nothing was created");
    let same_site = app
        .request(
            Method::POST,
            "/teams",
            &[
                ("origin", &app.base.clone()),
                ("sec-fetch-site", "same-origin"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            b"name=Real".to_vec(),
        )
        .await;
    assert_eq!(same_site.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn api_tokens_honour_scope_team_expiry_and_revocation() {
    let app = TestApp::spawn().await;
    let _ = cast(&app).await;
    app.post_json("/api/v1/teams", &serde_json::json!({"name": "Blue Team"})).await;
    let olga = atlascope::db::accounts::user_by_name(&app.state.db, "olga").await.unwrap().unwrap().id;
    let read = accounts::create_token(&app.state, olga, "read", TokenScope::Read, None, 30).await.unwrap().secret;
    let write = accounts::create_token(&app.state, olga, "write", TokenScope::Write, Some(1), 30).await.unwrap().secret;
    let bearer = |t: &str| format!("Bearer {t}");
    let body = br#"{"applicability": "applies"}"#.to_vec();
    let put = |token: String| {
        let app = &app;
        let body = body.clone();
        async move {
            app.request(
                Method::PUT,
                "/api/v1/systems/1/assessments/AML.T0051",
                &[("authorization", &token), ("content-type", "application/json")],
                body,
            )
            .await
        }
    };
    assert_eq!(
        app.get_with("/api/v1/systems/1/coverage", &[("authorization", &bearer(&read))]).await.status,
        StatusCode::OK
    );
    let refused = put(bearer(&read)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "a read-only token cannot write");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("read-only"));
    let written = put(bearer(&write)).await;
    assert_eq!(written.status, StatusCode::OK, "{}", written.body);
    let history = app.get("/api/v1/systems/1/history?limit=1").await.json();
    assert_eq!(history[0]["actor"], "olga", "the history names the token's account");
    let listed = app.get_with("/api/v1/teams", &[("authorization", &bearer(&write))]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "a token for one team sees only that team");

    let none = app.get_with("/api/v1/teams", &[("authorization", "Bearer acs_not-a-real-token")]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert!(none.header("www-authenticate").starts_with("Bearer"));
    execute(&app, "update api_tokens set expires_at = '2000-01-01T00:00:00Z' where name = 'read'").await;
    assert_eq!(
        app.get_with("/api/v1/teams", &[("authorization", &bearer(&read))]).await.status,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    execute(&app, "update api_tokens set revoked_at = '2026-01-01T00:00:00Z' where name = 'write'").await;
    assert_eq!(
        app.get_with("/api/v1/teams", &[("authorization", &bearer(&write))]).await.status,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
    let stored = texts(&app, "select token_hash from api_tokens").await;
    assert!(stored.iter().all(|h| h != &read && h != &write), "tokens are stored hashed");
}

#[tokio::test]
async fn an_invite_lets_a_named_guest_work_until_it_expires_or_ends() {
    let app = TestApp::spawn().await;
    let _ = cast(&app).await;
    let code = accounts::create_invite(&app.state, 1, Role::Editor, "Workshop", 2, None).await.unwrap();
    let page = app.get_with(&format!("/join/{code}"), &[("cookie", "")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Join the Red Team workshop"));
    let joined = app
        .request(
            Method::POST,
            &format!("/join/{code}"),
            &[("cookie", ""), ("content-type", "application/x-www-form-urlencoded")],
            b"display_name=Sam+Guest".to_vec(),
        )
        .await;
    assert_eq!(joined.status, StatusCode::SEE_OTHER);
    let guest = joined.header("set-cookie").split(';').next().unwrap().to_string();
    let saved = app
        .request(
            Method::POST,
            "/systems/1/techniques/AML.T0051",
            &[("cookie", &guest), ("content-type", "application/x-www-form-urlencoded")],
            b"applicability=applies".to_vec(),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "an editor invite can assess");
    let history = app.get("/api/v1/systems/1/history?limit=1").await.json();
    assert_eq!(history[0]["actor"], "Sam Guest (guest)");
    assert_eq!(app.get_with("/admin/users", &[("cookie", &guest)]).await.status, StatusCode::FORBIDDEN);

    execute(&app, "update invites set expires_at = '2000-01-01T00:00:00Z'").await;
    app.state.principals.clear();
    let expired = app.get_with(&format!("/join/{code}"), &[("cookie", "")]).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("expired"));
    let after = app.get_with("/systems/1", &[("cookie", &guest)]).await;
    assert!(refused_sign_in(&after, false), "the guest's access ends with the invite");
}

#[tokio::test]
async fn a_fresh_installation_serves_only_the_setup_page_until_an_administrator_exists() {
    let dir = tempfile::tempdir().unwrap();
    let config = atlascope::core::CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = atlascope::core::Core::open(&config).await.unwrap();
    let setup = atlascope::auth::setup::SetupState::new(false);
    let state = atlascope::app::AppState::new(core, setup);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(atlascope::app::serve(listener, state.clone(), std::future::pending()));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<axum::body::Bytes>>();
    let send = |method: Method, path: &str, body: &str| {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(http_body_util::Full::new(axum::body::Bytes::from(body.to_string())))
            .unwrap();
        client.request(request)
    };
    let home = send(Method::GET, "/", "").await.unwrap();
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()["location"], "/setup");
    let api = send(Method::GET, "/api/v1/frameworks", "").await.unwrap();
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    let short = send(Method::POST, "/setup", "username=root&password=short&confirm=short").await.unwrap();
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A page on another site whose name was pointed at this machine (DNS
    // rebinding) posts the form through a visitor's browser: refused.
    let port = base.rsplit(':').next().unwrap();
    let rebound = axum::http::Request::post(format!("{base}/setup"))
        .header("host", format!("evil.example:{port}"))
        .header("origin", format!("http://evil.example:{port}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(http_body_util::Full::new(axum::body::Bytes::from(
            "username=mallory&password=a+long+enough+secret&confirm=a+long+enough+secret",
        )))
        .unwrap();
    let rebound = client.request(rebound).await.unwrap();
    assert_eq!(rebound.status(), StatusCode::BAD_REQUEST);
    assert_eq!(atlascope::db::accounts::count_admins(&state.db).await.unwrap(), 0, "no administrator was made");
    let created =
        send(Method::POST, "/setup", "username=root&password=a+long+enough+secret&confirm=a+long+enough+secret")
            .await
            .unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER, "set-up from this machine needs no code");
    assert!(created.headers()["set-cookie"].to_str().unwrap().starts_with("atlascope_session="));
    let again = send(Method::GET, "/setup", "").await.unwrap();
    assert_eq!(again.headers()["location"], "/login", "set-up is closed once an administrator exists");
}

#[tokio::test]
async fn sign_in_follows_only_clean_paths_of_this_site() {
    let app = TestApp::spawn().await;
    let password = ADMIN_PASSWORD.replace(' ', "+");
    for (next, expected) in [
        ("/teams", "/teams"),
        ("/frameworks/2026.05%3Fq%3Dprompt%2520injection", "/frameworks/2026.05?q=prompt%20injection"),
        ("/%09/evil.example", "/"),
        ("/%0A/x", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("/%252F%252Fevil.example", "/"),
    ] {
        let reply = app
            .request(
                Method::POST,
                "/login",
                &[("cookie", ""), ("content-type", "application/x-www-form-urlencoded")],
                format!("username={ADMIN}&password={password}&next={next}").into_bytes(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "next={next}: {}", reply.body);
        assert_eq!(reply.header("location"), expected, "next={next}");
    }
}

#[tokio::test]
async fn a_disabled_account_signs_in_no_more_and_its_sessions_and_tokens_stop_until_enabled() {
    let app = TestApp::spawn().await;
    let cookie = app.member("ivan", 0, None).await;
    let ivan = accounts::user_named(&app.state, "ivan").await.unwrap();
    let token = accounts::create_token(&app.state, ivan.id, "ci", TokenScope::Read, None, 30).await.unwrap().secret;
    let bearer = format!("Bearer {token}");
    assert_eq!(app.get_with("/api/v1/teams", &[("authorization", &bearer)]).await.status, StatusCode::OK);

    let disabled = app.post_form(&format!("/admin/users/{}/disabled", ivan.id), "disabled=true").await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    assert!(refused_sign_in(&app.get_with("/teams", &[("cookie", &cookie)]).await, false), "the session ended");
    assert_eq!(app.get_with("/api/v1/teams", &[("authorization", &bearer)]).await.status, StatusCode::UNAUTHORIZED);
    let password = sign_in(&app, "ivan", "a long enough password").await;
    assert_eq!(password.status, StatusCode::FORBIDDEN);
    assert!(password.body.contains("This account is disabled; ask an administrator."), "{}", password.body);
    let wrong = sign_in(&app, "ivan", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "a wrong password says nothing more");
    assert!(app.get("/admin/users").await.body.contains("<strong>disabled</strong>"));
    let admin = accounts::user_named(&app.state, ADMIN).await.unwrap();
    let own = app.post_form(&format!("/admin/users/{}/disabled", admin.id), "disabled=true").await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST, "nobody disables their own account");

    let enabled = app.post_form(&format!("/admin/users/{}/disabled", ivan.id), "disabled=false").await;
    assert_eq!(enabled.status, StatusCode::SEE_OTHER);
    assert_eq!(sign_in(&app, "ivan", "a long enough password").await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get_with("/api/v1/teams", &[("authorization", &bearer)]).await.status, StatusCode::OK);
}
