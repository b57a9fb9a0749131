//! Hardening: no secret reaches the log, backups are consistent while
//! writes go on, and the command line manages accounts and tokens.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{StatusCode, TestApp};

fn atlascope() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atlascope"))
}

/// Runs `atlascope user add` with the password on standard input (creating
/// the database first, as `atlascope init` does).
fn add_user(data_dir: &std::path::Path, name: &str, password: &str, admin: bool) {
    let init = atlascope().arg("--data-dir").arg(data_dir).arg("init").output().expect("init runs");
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let mut command = atlascope();
    command.arg("--data-dir").arg(data_dir).args(["user", "add", name]);
    if admin {
        command.arg("--admin");
    }
    let mut child =
        command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("cli runs");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("password sent");
    let output = child.wait_with_output().expect("cli ends");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_command_line_adds_accounts_and_prints_a_token_once() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "root", "a long enough password", true);
    let short = atlascope()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["user", "add", "shorty"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"short\n").unwrap();
            child.wait_with_output()
        })
        .unwrap();
    assert!(!short.status.success(), "a short password is refused");
    assert!(String::from_utf8_lossy(&short.stderr).contains("password: must be at least 12 characters"));
    let token = atlascope()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["token", "create", "root", "--name", "ci", "--days", "7"])
        .output()
        .unwrap();
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let secret = String::from_utf8_lossy(&token.stdout).trim().to_string();
    assert!(secret.starts_with("acs_") && secret.len() > 40, "{secret}");
    assert!(String::from_utf8_lossy(&token.stderr).contains("read-only"));
    let list = atlascope().arg("--data-dir").arg(dir.path()).args(["user", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("root"));
}

#[tokio::test]
async fn no_secret_appears_in_the_server_log() {
    let dir = tempfile::tempdir().unwrap();
    let password = "pass phrase that must not leak";
    add_user(dir.path(), "root", password, true);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    // Sign-in through an identity provider too, where one can run here.
    let provider = crate::identity_provider::TestProvider::start_for(&base, serde_json::json!({})).await;
    let secret_file = dir.path().join("oidc-client-secret");
    std::fs::write(&secret_file, format!("{}\n", crate::identity_provider::CLIENT_SECRET)).unwrap();
    let mut command = atlascope();
    command.arg("--data-dir").arg(dir.path()).args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    if let Some(provider) = &provider {
        command.args(["--oidc-issuer", &provider.issuer, "--oidc-client-id", "atlascope", "--oidc-client-secret-file"]);
        command.arg(&secret_file);
        command.args(["--oidc-team-role", "ml-red-team=Ghost team:editor"]);
    }
    let mut server =
        command.env("RUST_LOG", "trace").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("server starts");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<axum::body::Bytes>>();
    let send = |method: &str, path: &str, headers: Vec<(&str, String)>, body: String| {
        let mut request = axum::http::Request::builder().method(method).uri(format!("{base}{path}"));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        client.request(request.body(http_body_util::Full::new(axum::body::Bytes::from(body))).unwrap())
    };
    for _ in 0..100 {
        if send("GET", "/healthz", vec![], String::new()).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let form = ("content-type", "application/x-www-form-urlencoded".to_string());
    let login =
        send("POST", "/login", vec![form.clone()], format!("username=root&password={}", password.replace(' ', "+")))
            .await
            .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let session_secret = cookie.trim_start_matches("atlascope_session=").to_string();
    let body = |response: hyper::Response<hyper::body::Incoming>| async move {
        use http_body_util::BodyExt;
        String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned()
    };
    send("POST", "/teams", vec![form.clone(), ("cookie", cookie.clone())], "name=Team".into()).await.unwrap();
    let page = body(
        send("POST", "/account/tokens", vec![form.clone(), ("cookie", cookie.clone())], "name=ci&scope=write".into())
            .await
            .unwrap(),
    )
    .await;
    let token = page
        .split("value=\"acs_")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|t| format!("acs_{t}"))
        .expect("the token is shown once");
    let api =
        send("GET", "/api/v1/teams", vec![("authorization", format!("Bearer {token}"))], String::new()).await.unwrap();
    assert_eq!(api.status(), StatusCode::OK);
    let page = body(
        send(
            "POST",
            "/teams/1/invites",
            vec![form.clone(), ("cookie", cookie.clone())],
            "role=editor&valid_hours=2".into(),
        )
        .await
        .unwrap(),
    )
    .await;
    let code = page
        .split("/join/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the link is shown once")
        .to_string();
    let joined = send("POST", &format!("/join/{code}"), vec![form.clone()], "display_name=Guest".into()).await.unwrap();
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    let wrong =
        send("POST", "/login", vec![form.clone()], "username=root&password=wrong+guess+secret".into()).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let mut provider_secrets = Vec::new();
    if provider.is_some() {
        use crate::identity_provider::{CLIENT_SECRET, Visitor, query_value};
        let visitor = Visitor::stopping_at_callback(&base);
        let callback = visitor.callback_url("gina").await;
        let (status, _) = visitor.get(&callback).await;
        assert_eq!(status, StatusCode::OK, "signed in through the provider");
        provider_secrets = vec![
            ("client secret", CLIENT_SECRET.to_string()),
            ("authorization code", query_value(&callback, "code")),
            ("sign-in state", query_value(&callback, "state")),
            ("provider session id", visitor.session_cookie().trim_start_matches("atlascope_session=").to_string()),
        ];
    }

    server.kill().unwrap();
    let output = server.wait_with_output().unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(log.contains("atlascope is serving"), "the log was captured: {log}");
    assert!(log.lines().count() > 10, "trace logging was on");
    if provider.is_some() {
        assert!(log.contains("signed in through the identity provider"), "the provider sign-in happened");
        assert!(log.contains("names a team that does not exist"), "a rule for a missing team is warned about");
    }
    for (what, secret) in [
        ("password", password.to_string()),
        ("wrong password", "wrong guess secret".to_string()),
        ("session id", session_secret),
        ("API token", token),
        ("invite code", code),
    ]
    .into_iter()
    .chain(provider_secrets)
    {
        let leaks: Vec<&str> = log.lines().filter(|line| line.contains(&secret)).take(3).collect();
        assert!(leaks.is_empty(), "the {what} appears in the log: {leaks:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_restores_to_a_consistent_database() {
    if crate::helpers::sqlite_only("`atlascope backup` copies a SQLite file") {
        return;
    }
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let system = crate::helpers::team_and_system(&app, "Busy").await;
    let techniques: Vec<String> = app
        .get("/api/v1/frameworks/2026.05/techniques")
        .await
        .json()
        .as_array()
        .unwrap()
        .iter()
        .take(30)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (app, stop, system) = (app.clone(), stop.clone(), system.clone());
        tokio::spawn(async move {
            let mut writes = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let technique = &techniques[writes % techniques.len()];
                let choice = ["applies", "not_applicable", "unknown"][writes % 3];
                let reply = app
                    .post_htmx(&format!("{system}/techniques/{technique}"), &format!("applicability={choice}"))
                    .await;
                assert_eq!(reply.status, StatusCode::OK);
                writes += 1;
            }
            writes
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let backup = app.data_dir.parent().unwrap().join(format!("backup-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&backup);
    let output = atlascope().arg("--data-dir").arg(&app.data_dir).arg("backup").arg(&backup).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.unwrap();
    assert!(writes > 10, "writes went on during the backup ({writes})");

    let restored = tempfile::tempdir().unwrap();
    let output = atlascope().arg("--data-dir").arg(restored.path()).arg("restore").arg(&backup).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_file(&backup);
    let database = atlascope::db::open(restored.path()).await.unwrap();
    let pool = database.sqlite().expect("SQLite").clone();
    let integrity: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(integrity, "ok");
    // Every write is one row version and one history entry, in one transaction:
    // a consistent copy has exactly as many entries as versions.
    let mismatched: i64 = sqlx::query_scalar(
        "select count(*) from assessments a where a.version <>
           (select count(*) from history h where h.system_id = a.system_id and h.item = a.technique_id
              and h.entity = 'assessment')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(mismatched, 0, "the backup is a consistent snapshot");
    let rows: i64 = sqlx::query_scalar("select count(*) from assessments").fetch_one(&pool).await.unwrap();
    assert!(rows > 0, "the backup holds the writes made before it");
    pool.close().await;
    let served = TestApp::spawn_in(restored.path().to_path_buf()).await;
    assert_eq!(served.get(&system).await.status, StatusCode::OK, "the restored database serves");
}

#[tokio::test]
async fn hardening_hsts_json_413_token_guessing_and_read_only_administration() {
    let app = TestApp::spawn().await;
    // HSTS only when the request came over HTTPS (through a proxy that says so).
    let plain = app.get("/teams").await;
    assert!(plain.header("strict-transport-security").is_empty());
    let tls = app.get_with("/teams", &[("x-forwarded-proto", "https")]).await;
    assert!(tls.header("strict-transport-security").starts_with("max-age="), "{:?}", tls.headers);

    // A body over the limit gets the API's JSON error, not the framework's text.
    let huge = vec![b'x'; atlascope::atlas::MAX_RELEASE_BYTES + 100 * 1024];
    let refused = app.post("/api/v1/frameworks", huge).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.json()["error"]["code"], "too_large", "{}", refused.body);
    assert!(refused.header("x-content-type-options") == "nosniff", "security headers stay");

    // Guessing bearer tokens is throttled per address.
    let mut last = StatusCode::OK;
    for _ in 0..15 {
        last = app.get_with("/api/v1/teams", &[("authorization", "Bearer acs_guess")]).await.status;
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "invalid tokens are rate-limited");

    // A read-only token of an administrator opens no administration page.
    let admin = atlascope::db::accounts::user_by_name(&app.state.db, crate::helpers::ADMIN).await.unwrap().unwrap();
    let read = atlascope::service::accounts::create_token(
        &app.state,
        admin.id,
        "reader",
        atlascope::auth::TokenScope::Read,
        None,
        30,
    )
    .await
    .unwrap()
    .secret;
    let users = app.get_with("/admin/users", &[("authorization", &format!("Bearer {read}"))]).await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn changing_a_password_can_revoke_the_accounts_api_tokens() {
    let app = TestApp::spawn().await;
    let admin = atlascope::db::accounts::user_by_name(&app.state.db, crate::helpers::ADMIN).await.unwrap().unwrap();
    let token = atlascope::service::accounts::create_token(
        &app.state,
        admin.id,
        "ci",
        atlascope::auth::TokenScope::Read,
        None,
        30,
    )
    .await
    .unwrap()
    .secret;
    let bearer = format!("Bearer {token}");
    assert_eq!(app.get_with("/api/v1/teams", &[("authorization", &bearer)]).await.status, StatusCode::OK);
    let page = app.get("/account").await;
    assert!(page.body.contains(r#"name="revoke_tokens""#), "the page offers it while a token is live");
    let new = "an entirely new pass phrase";
    let changed = app
        .request(
            axum::http::Method::POST,
            "/account/password",
            &[("content-type", "application/x-www-form-urlencoded")],
            format!(
                "current_password={}&new_password={}&confirm={}&revoke_tokens=yes",
                crate::helpers::ADMIN_PASSWORD.replace(' ', "+"),
                new.replace(' ', "+"),
                new.replace(' ', "+")
            )
            .into_bytes(),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert!(changed.body.contains("Your API token was revoked."), "{}", changed.body);
    assert_eq!(app.get_with("/api/v1/teams", &[("authorization", &bearer)]).await.status, StatusCode::UNAUTHORIZED);
}
