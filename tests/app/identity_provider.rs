//! Sign-in through a real OpenID Connect provider: the npm package
//! `oidc-provider` run by Node.js (`tests/oidc-provider`, installed from its
//! lock file into `target/` on first use), on `localhost` while the app runs
//! on `127.0.0.1`, so the two are different sites as in production. These
//! tests drive the flow over HTTP with a cookie-keeping client; the browser
//! tests drive it in Chromium.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlascope::auth::Role;
use atlascope::auth::oidc::{IdentityProvider, OidcSettings};
use atlascope::auth::secrets::hash_token;
use atlascope::db;
use atlascope::domain::group_rules::{GroupRules, TeamRoleRule};
use serde_json::{Value, json};

use crate::access::sign_in as password_sign_in;
use crate::helpers::{StatusCode, TestApp, count, execute};

pub(crate) const TEAM: &str = "Fraud models";
pub(crate) const CLIENT_SECRET: &str = "test-only-client-secret";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unavailable(why: String) -> Option<PathBuf> {
    assert!(std::env::var_os("CI").is_none(), "CI is set but the test OpenID provider cannot run: {why}");
    eprintln!("SKIPPED: the test OpenID provider cannot run ({why}), so the sign-in tests through it did not run");
    None
}

/// Installs the provider's npm packages (once, under a lock shared with the
/// PostgreSQL run of this binary); the directory to run it from.
fn provider_dir() -> Option<PathBuf> {
    match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
            let major: u32 =
                version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
            if major < 20 {
                return unavailable(format!("oidc-provider needs Node.js 20 or later; this is {version}"));
            }
        }
        _ => return unavailable("node cannot be run".into()),
    }
    let source = manifest_dir().join("tests/oidc-provider");
    let target = manifest_dir().join("target/oidc-provider");
    let _ = std::fs::create_dir_all(&target);
    let lock = std::fs::File::create(manifest_dir().join("target/oidc-provider.lock")).expect("the install lock");
    lock.lock().expect("the install lock is taken");
    let lock_file = std::fs::read(source.join("package-lock.json")).expect("tests/oidc-provider/package-lock.json");
    let stamp = target.join("installed-lock.json");
    for name in ["package.json", "package-lock.json", "provider.mjs"] {
        std::fs::copy(source.join(name), target.join(name)).expect("the provider's files are copied");
    }
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock_file) && target.join("node_modules").is_dir() {
        return Some(target);
    }
    let output = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&target)
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => return unavailable(format!("npm ci failed: {}", String::from_utf8_lossy(&output.stderr))),
        Err(error) => return unavailable(format!("npm cannot be run: {error}")),
    }
    std::fs::write(&stamp, lock_file).expect("the install is recorded");
    Some(target)
}

/// A running test provider, stopped when dropped.
pub(crate) struct TestProvider {
    child: Option<Child>,
    dir: PathBuf,
    port: u16,
    pub issuer: String,
    redirect: String,
    users: Value,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

impl TestProvider {
    fn new(dir: PathBuf, port: u16, app_base: &str, users: Value) -> TestProvider {
        TestProvider {
            child: None,
            dir,
            port,
            issuer: format!("http://localhost:{port}"),
            redirect: format!("{app_base}/auth/oidc/callback"),
            users,
        }
    }

    /// A provider for an app that will answer at `app_base`, started.
    pub(crate) async fn start_for(app_base: &str, users: Value) -> Option<TestProvider> {
        let mut provider = TestProvider::new(provider_dir()?, free_port(), app_base, users);
        provider.launch().await;
        Some(provider)
    }

    /// Starts the provider and waits for its discovery document. A start
    /// that does not answer within a few seconds is killed and tried again:
    /// now and then (about one start in twenty, seen with Node.js 20 on
    /// this machine) the process stalls before it listens.
    async fn launch(&mut self) {
        for attempt in 1..=4 {
            let log = std::fs::File::create(self.dir.join(format!("provider-{}.log", self.port))).expect("the log");
            let child = Command::new("node")
                .arg(self.dir.join("provider.mjs"))
                .current_dir(&self.dir)
                .env("OP_PORT", self.port.to_string())
                .env("OP_REDIRECT", &self.redirect)
                .env("OP_SECRET", CLIENT_SECRET)
                .env("OP_USERS", self.users.to_string())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("node starts the provider");
            self.child = Some(child);
            let discovery = format!("{}/.well-known/openid-configuration", self.issuer);
            let deadline = Instant::now() + Duration::from_secs(8);
            while Instant::now() < deadline {
                if reqwest::get(&discovery).await.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!("the test provider did not answer within 8 s (start {attempt}); starting it again");
            self.stop();
        }
        panic!("the test provider never answered (see its log in {:?})", self.dir);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the provider and starts it again on the same port: it signs
    /// with a new key (and has forgotten every grant and refresh token).
    pub(crate) async fn restart(&mut self) {
        self.stop();
        self.launch().await;
    }

    /// Changes a person at the provider: `{"groups": [...]}`, `{"disabled": true}`.
    pub(crate) async fn change_user(&self, sub: &str, change: Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/_test/users/{sub}", self.issuer))
            .json(&change)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(answer.status(), reqwest::StatusCode::NO_CONTENT);
    }

    /// atlascope's settings for this provider, with the rules the tests use:
    /// `atlas-admins` administers the site and `ml-red-team` edits [`TEAM`].
    pub(crate) fn settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer.clone(),
            client_id: "atlascope".into(),
            client_secret: Some(CLIENT_SECRET.into()),
            redirect_url: self.redirect.clone(),
            scopes: vec!["profile".into(), "email".into(), "groups".into()],
            display_name: "Test provider".into(),
            groups_claim: "groups".into(),
            rules: GroupRules {
                admin_groups: vec!["atlas-admins".into()],
                team_roles: vec![TeamRoleRule::parse(&format!("ml-red-team={TEAM}:editor")).expect("a rule")],
            },
        }
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// An app signing in through a freshly started test provider, with the team
/// [`TEAM`] created; `None` (skipped) where the provider cannot run.
pub(crate) async fn app_with_provider(users: Value, local_sign_in: bool) -> Option<(TestApp, TestProvider)> {
    let dir = provider_dir()?;
    let port = free_port();
    let mut provider = None;
    let app = TestApp::spawn_configured(|state, base| {
        let test_provider = TestProvider::new(dir.clone(), port, base, users);
        let settings = test_provider.settings();
        state.core.identity = Some(Arc::new(IdentityProvider::new(settings).expect("valid settings")));
        state.local_sign_in = local_sign_in;
        provider = Some(test_provider);
    })
    .await;
    let mut provider = provider.expect("configured");
    provider.launch().await;
    let team = app.post_json("/api/v1/teams", &json!({ "name": TEAM })).await;
    assert_eq!(team.status, StatusCode::CREATED, "{}", team.body);
    Some((app, provider))
}

/// A browser without a screen: keeps cookies per site and follows redirects.
pub(crate) struct Visitor {
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    base: String,
}

impl Visitor {
    /// Follows every redirect (the whole round trip in one call).
    pub(crate) fn new(base: &str) -> Visitor {
        Visitor::with_policy(base, reqwest::redirect::Policy::limited(10))
    }

    /// Stops at the provider's redirect back to atlascope, to look at it.
    pub(crate) fn stopping_at_callback(base: &str) -> Visitor {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().path() == "/auth/oidc/callback" { attempt.stop() } else { attempt.follow() }
        });
        Visitor::with_policy(base, policy)
    }

    fn with_policy(base: &str, policy: reqwest::redirect::Policy) -> Visitor {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client =
            reqwest::Client::builder().cookie_provider(jar.clone()).redirect(policy).build().expect("a client");
        Visitor { client, jar, base: base.to_string() }
    }

    /// Starts a sign-in and answers the provider's form as `login`; the last answer.
    async fn sign_in(&self, login: &str) -> reqwest::Response {
        let form_url = self.start().await;
        self.answer(form_url, login).await
    }

    /// Starts a sign-in; the address of the provider's form.
    async fn start(&self) -> reqwest::Url {
        let form = self.client.get(format!("{}/auth/oidc/start?next=/teams", self.base)).send().await.expect("start");
        assert_eq!(form.status(), reqwest::StatusCode::OK, "the provider's sign-in form");
        let form_url = form.url().clone();
        assert_eq!(form_url.host_str(), Some("localhost"), "the browser went to the provider");
        form_url
    }

    /// Answers the provider's form as `login`.
    async fn answer(&self, form_url: reqwest::Url, login: &str) -> reqwest::Response {
        self.client
            .post(form_url)
            .form(&[("login", login), ("password", "anything")])
            .send()
            .await
            .expect("the provider answers")
    }

    /// The URL the provider sends the browser back to (with a
    /// [`Visitor::stopping_at_callback`]).
    pub(crate) async fn callback_url(&self, login: &str) -> String {
        let answer = self.sign_in(login).await;
        assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER);
        answer.headers()["location"].to_str().expect("a location").to_string()
    }

    pub(crate) async fn get(&self, url: &str) -> (reqwest::StatusCode, String) {
        let answer = self.client.get(url).send().await.expect("an answer");
        (answer.status(), answer.text().await.expect("a body"))
    }

    /// The session cookie atlascope set, as a `cookie` header.
    pub(crate) fn session_cookie(&self) -> String {
        let url = self.base.parse().expect("the base is a URL");
        let cookies = reqwest::cookie::CookieStore::cookies(&*self.jar, &url).expect("cookies for the app");
        let cookies = cookies.to_str().expect("text").to_string();
        cookies
            .split("; ")
            .find(|c| c.starts_with("atlascope_session="))
            .unwrap_or_else(|| panic!("no session cookie in {cookies}"))
            .to_string()
    }
}

pub(crate) fn query_value(url: &str, name: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned())
        .unwrap_or_default()
}

async fn user(app: &TestApp, username: &str) -> atlascope::domain::accounts::User {
    db::accounts::user_by_name(&app.state.db, username).await.expect("lookup").expect("the account exists")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_sign_in_creates_the_account_and_the_groups_decide_its_roles_at_every_sign_in() {
    let people = json!({ "alice": {
        "name": "Alice Analyst", "email": "alice@corp.example", "groups": ["ml-red-team", "atlas-admins"] } });
    let Some((app, provider)) = app_with_provider(people, true).await else { return };
    let visitor = Visitor::new(&app.base);
    let landed = visitor.sign_in("alice").await;
    assert_eq!(landed.url().path(), "/teams", "back where the sign-in started");
    assert_eq!(landed.status(), reqwest::StatusCode::OK);

    let alice = user(&app, "alice").await;
    let (_, account) = visitor.get(&format!("{}/account", app.base)).await;
    assert!(account.contains("Alice Analyst") && account.contains("alice@corp.example"), "{account}");
    assert!(!account.contains("Change password"), "the provider keeps the password");
    let identity = alice.provider.clone().expect("a provider account");
    assert_eq!((identity.issuer.as_str(), identity.subject.as_str()), (provider.issuer.as_str(), "alice"));
    assert_eq!((alice.display_name.as_str(), alice.email.as_str()), ("Alice Analyst", "alice@corp.example"));
    assert!(alice.is_admin, "atlas-admins administers the site");
    let users = app.get("/admin/users").await.body;
    assert!(
        users.contains(&format!(
            "identity provider <span class=\"small muted\">({}; alice@corp.example)",
            provider.issuer
        )),
        "{users}"
    );
    assert!(users.contains("<td>password</td>"), "the local administrator: {users}");
    assert!(
        users.contains("its groups decide site administration (groups atlas-admins) and the roles on Fraud models")
    );
    let roles = db::identity::roles_of(&app.state.db, alice.id).await.unwrap();
    assert_eq!(roles.iter().map(|(_, role)| *role).collect::<Vec<_>>(), [Role::Editor], "ml-red-team edits {TEAM}");

    // The provider takes both groups away: the next sign-in applies it.
    provider.change_user("alice", json!({ "groups": [] })).await;
    let again = Visitor::new(&app.base).sign_in("alice").await;
    assert_eq!(again.status(), reqwest::StatusCode::OK);
    let alice_again = user(&app, "alice").await;
    assert_eq!(alice_again.id, alice.id, "the same account, found by issuer and subject");
    assert!(!alice_again.is_admin);
    assert!(db::identity::roles_of(&app.state.db, alice.id).await.unwrap().is_empty(), "no longer on the team");
    assert_eq!(count(&app, "select count(*) from users where username like 'alice%'").await, 1);

    // A provider account has no password here.
    let local = password_sign_in(&app, "alice", "any long password at all").await;
    assert_eq!(local.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_a_foreign_and_a_replayed_answer_are_refused() {
    let Some((app, _provider)) = app_with_provider(json!({}), true).await else { return };
    let visitor = Visitor::stopping_at_callback(&app.base);
    let callback = visitor.callback_url("dana").await;
    assert!(callback.starts_with(&format!("{}/auth/oidc/callback?", app.base)), "{callback}");
    let state = query_value(&callback, "state");
    assert!(!state.is_empty() && !query_value(&callback, "code").is_empty(), "{callback}");

    let tampered = callback.replace(&format!("state={state}"), "state=forged-by-someone");
    let (status, page) = visitor.get(&tampered).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert!(page.contains("belongs to no sign-in this browser started"), "{page}");

    let (status, page) = Visitor::new(&app.base).get(&callback).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "another browser brings this answer");
    assert!(page.contains("belongs to no sign-in this browser started"), "{page}");

    let (status, _) = visitor.get(&callback).await;
    assert_eq!(status, reqwest::StatusCode::OK, "the genuine answer signs in (and goes on to the teams)");
    assert_eq!(count(&app, "select count(*) from users where username = 'dana'").await, 1);

    // The same answer again, even with the state cookie put back.
    let replay = app
        .request(
            axum::http::Method::GET,
            &callback[app.base.len()..],
            &[("cookie", &format!("atlascope_oidc_{}={state}", &hash_token(&state)[..16]))],
            Vec::new(),
        )
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("already used"), "{}", replay.body);
    assert_eq!(
        count(&app, "select count(*) from sessions s join users u on u.id = s.user_id where u.username = 'dana'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_the_next_request_once_the_provider_refuses_its_refresh() {
    let Some((app, provider)) = app_with_provider(json!({}), true).await else { return };
    let visitor = Visitor::new(&app.base);
    assert_eq!(visitor.sign_in("bob").await.status(), reqwest::StatusCode::OK);
    let cookie = visitor.session_cookie();
    let session_hash = hash_token(cookie.trim_start_matches("atlascope_session="));
    let stored = count(&app, "select count(*) from sessions where provider_refresh is not null").await;
    assert_eq!(stored, 1, "the refresh token is kept (sealed) beside the session");
    let refresh_in_clear = count(&app, "select count(*) from sessions where provider_refresh like 'ey%'").await;
    assert_eq!(refresh_in_clear, 0);

    // Time passes: the recheck is due (and the principal cache forgets).
    let due = || async {
        execute(
            &app,
            "update sessions set provider_recheck_at = '2001-01-01T00:00:00Z' where provider_recheck_at is not null",
        )
        .await;
        app.state.principals.forget_session_here(&session_hash);
    };
    due().await;
    assert_eq!(app.get_with("/teams", &[("cookie", &cookie)]).await.status, StatusCode::OK, "the provider renews it");
    let moved = count(&app, "select count(*) from sessions where provider_recheck_at > '2020-01-01T00:00:00Z'").await;
    assert_eq!(moved, 1, "the next recheck lies ahead");

    provider.change_user("bob", json!({ "disabled": true })).await;
    due().await;
    let after = app.get_with("/teams", &[("cookie", &cookie)]).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");
    assert!(after.header("location").starts_with("/login"));
    assert_eq!(count(&app, "select count(*) from sessions where provider_recheck_at is not null").await, 0);

    // And the provider refuses the next sign-in, which the page says in words.
    let refused = Visitor::new(&app.base).sign_in("bob").await;
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(
        page.contains("The identity provider refused the sign-in: This account is disabled (access_denied)."),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotated_at_the_provider_are_fetched_again() {
    let Some((app, mut provider)) = app_with_provider(json!({}), true).await else { return };
    assert_eq!(Visitor::new(&app.base).sign_in("carol").await.status(), reqwest::StatusCode::OK);
    provider.restart().await;
    let after = Visitor::new(&app.base).sign_in("carol").await;
    assert_eq!(after.status(), reqwest::StatusCode::OK, "signed with a new key, still accepted");
    assert_eq!(after.url().path(), "/teams");
    assert_eq!(count(&app, "select count(*) from users where username like 'carol%'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_can_be_turned_off_and_a_taken_name_is_never_linked() {
    let Some((app, _provider)) = app_with_provider(json!({}), false).await else { return };
    let page = app.get_with("/login?next=/teams", &[("cookie", "")]).await;
    assert!(page.body.contains("href=\"/auth/oidc/start?next=/teams\""), "{}", page.body);
    assert!(page.body.contains("Sign in with Test provider"));
    assert!(!page.body.contains("id=\"login-password\""), "no password form");
    let local = password_sign_in(&app, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);

    // The provider's "admin" is not the local administrator.
    assert_eq!(Visitor::new(&app.base).sign_in(crate::helpers::ADMIN).await.status(), reqwest::StatusCode::OK);
    let provider_admin = user(&app, &format!("{}-2", crate::helpers::ADMIN)).await;
    assert!(provider_admin.provider.is_some() && !provider_admin.is_admin);
    assert!(user(&app, crate::helpers::ADMIN).await.is_local());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_disabled_here_stays_out_though_the_provider_lets_the_person_in() {
    let Some((app, _provider)) = app_with_provider(json!({}), true).await else { return };
    let visitor = Visitor::new(&app.base);
    assert_eq!(visitor.sign_in("hana").await.status(), reqwest::StatusCode::OK);
    let cookie = visitor.session_cookie();
    let hana = user(&app, "hana").await;
    let disabled = app.post_form(&format!("/admin/users/{}/disabled", hana.id), "disabled=true").await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.body);
    let after = app.get_with("/teams", &[("cookie", &cookie)]).await;
    assert!(after.header("location").starts_with("/login"), "her session ended at once");

    let refused = Visitor::new(&app.base).sign_in("hana").await;
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);
    let page = refused.text().await.unwrap();
    assert!(page.contains("Your atlascope account is disabled; ask an administrator."), "{page}");
    assert_eq!(count(&app, "select count(*) from users where username like 'hana%'").await, 1, "not created anew");

    app.post_form(&format!("/admin/users/{}/disabled", hana.id), "disabled=false").await;
    assert_eq!(Visitor::new(&app.base).sign_in("hana").await.status(), reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workshop_room_behind_one_address_starts_its_sign_ins_at_once_but_not_without_end() {
    let Some((app, _provider)) = app_with_provider(json!({}), true).await else { return };
    let start = || app.get_with("/auth/oidc/start?next=/teams", &[("cookie", "")]);
    for person in 0..atlascope::app::PROVIDER_SIGN_IN_BURST {
        let sent = start().await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "person {person} of the room");
        assert!(sent.header("location").starts_with("http://localhost:"), "to the provider");
    }
    let mut last = start().await;
    for _ in 0..20 {
        if last.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        last = start().await;
    }
    assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS, "one address cannot pile up sign-ins");
    assert!(last.body.contains("Too many sign-in attempts"), "{}", last.body);
    assert!(last.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1), "{:?}", last.headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_for_another_nonce_signs_nobody_in() {
    let Some((app, _provider)) = app_with_provider(json!({}), true).await else { return };
    let visitor = Visitor::stopping_at_callback(&app.base);
    let callback = visitor.callback_url("mallory").await;
    // The token the provider issues carries the nonce of this sign-in; the
    // server now expects another one, as if the token came from elsewhere.
    execute(&app, "update provider_sign_ins set nonce = 'another-sign-in'").await;
    let (status, page) = visitor.get(&callback).await;
    assert_eq!(status, reqwest::StatusCode::BAD_GATEWAY);
    assert!(page.contains("failed a check") && page.contains("nonce"), "{page}");
    assert!(page.contains("nobody was signed in"), "{page}");
    assert_eq!(count(&app, "select count(*) from users where username = 'mallory'").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_down_is_said_in_words_and_passwords_still_work() {
    let Some((app, provider)) = app_with_provider(json!({}), true).await else { return };
    drop(provider);
    let start = app.get_with("/auth/oidc/start?next=/teams", &[("cookie", "")]).await;
    assert_eq!(start.status, StatusCode::BAD_GATEWAY);
    assert!(
        start.body.contains("cannot be reached") && start.body.contains("Try again in a moment."),
        "{}",
        start.body
    );
    assert!(start.body.contains("id=\"login-password\""), "the password form stays offered");
    let local = password_sign_in(&app, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    assert_eq!(local.status, StatusCode::SEE_OTHER, "an administrator gets in with a password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_naming_a_team_that_does_not_exist_are_found() {
    let app = TestApp::spawn().await;
    app.post_json("/api/v1/teams", &json!({ "name": "Vision" })).await;
    let rules = GroupRules {
        admin_groups: vec![],
        team_roles: ["a=vision:viewer", "b=Speech:editor", "c=Speech:owner"]
            .iter()
            .map(|rule| TeamRoleRule::parse(rule).unwrap())
            .collect(),
    };
    let missing = atlascope::service::identity::teams_missing_for_rules(&app.state, &rules).await.unwrap();
    assert_eq!(missing, ["Speech"], "a team is matched in any case, and named once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_started_in_two_tabs_both_finish() {
    let Some((app, _provider)) = app_with_provider(json!({}), true).await else { return };
    let visitor = Visitor::stopping_at_callback(&app.base);
    let (first, second) = (visitor.start().await, visitor.start().await);
    // One person, two tabs: both sign-ins are under way before either ends.
    for (form, login) in [(first, "kim"), (second, "kim")] {
        let answer = visitor.answer(form, login).await;
        let status = answer.status();
        let Some(callback) = answer.headers().get("location").map(|l| l.to_str().unwrap().to_string()) else {
            panic!("{login}: {status} at {}: {}", answer.url().clone(), answer.text().await.unwrap_or_default());
        };
        let (status, page) = visitor.get(&callback).await;
        assert_eq!(status, reqwest::StatusCode::OK, "{login}: {page}");
    }
    let sessions = "select count(*) from sessions s join users u on u.id = s.user_id where u.username = 'kim'";
    assert_eq!(count(&app, sessions).await, 2, "each tab's sign-in finished");
}
