//! End-to-end tests in a real browser: Debian's Chromium driven through
//! chromedriver (installed by `.ci/run`). Skipped with a note when
//! chromedriver is absent, except under CI where it must be present.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process, killed when dropped (after the session closes).
pub(crate) struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver_path() -> Option<PathBuf> {
    let candidates = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but chromedriver is not installed");
        eprintln!(
            "SKIPPED: chromedriver is not installed (apt-get install chromium chromium-driver); browser tests did not run"
        );
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

pub(crate) async fn start_driver() -> Option<Driver> {
    let path = chromedriver_path()?;
    let port = free_port();
    let profile = tempfile::tempdir().expect("profile dir");
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .env("XDG_CONFIG_HOME", profile.path())
        .env("XDG_CACHE_HOME", profile.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen within 10 s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Some(Driver { child, url: format!("http://127.0.0.1:{port}"), profile })
}

async fn open_browser(driver: &Driver, name: &str) -> Client {
    open_browser_sized(driver, name, (1400, 900)).await
}

/// A browser session whose window is `size` (width, height) pixels.
pub(crate) async fn open_browser_sized(driver: &Driver, name: &str, size: (u32, u32)) -> Client {
    let user_data = driver.profile.path().join(name);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--window-size={},{}", size.0, size.1),
                format!("--user-data-dir={}", user_data.display()),
            ]
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session starts")
}

/// Signs in through the login form.
pub(crate) async fn sign_in(browser: &Client, base: &str, username: &str, password: &str) {
    browser.goto(&format!("{base}/login")).await.expect("login page");
    browser.find(Locator::Css("#login-username")).await.expect("user field").send_keys(username).await.expect("type");
    browser
        .find(Locator::Css("#login-password"))
        .await
        .expect("password field")
        .send_keys(password)
        .await
        .expect("type");
    browser.find(Locator::Css("form button[type=submit]")).await.expect("button").click().await.expect("submit");
    eventually("signed in", || async { browser.current_url().await.is_ok_and(|u| !u.path().starts_with("/login")) })
        .await;
}

/// Polls until `check` holds, or fails with `what` after five seconds.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_opens_the_matrix_filters_it_and_opens_a_technique() {
    let Some(driver) = start_driver().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let browser = open_browser(&driver, "visitor").await;
    sign_in(&browser, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;

    browser.goto(&format!("{}/", app.base)).await.expect("matrix loads");
    let columns = browser.find_all(Locator::Css("#matrix .column")).await.expect("columns");
    assert_eq!(columns.len(), 16);
    let htmx = browser.execute("return typeof window.htmx", vec![]).await.expect("script runs");
    assert_eq!(htmx, json!("object"), "htmx loaded under the CSP and its integrity check");

    let search = browser.find(Locator::Css("#filter-q")).await.expect("search box");
    search.send_keys("prompt injection").await.expect("typing");
    eventually("the matrix to narrow without a reload", || async {
        match browser.find(Locator::Css("#matrix .matrix-status")).await {
            Ok(status) => status.text().await.unwrap_or_default().starts_with("Showing"),
            Err(_) => false,
        }
    })
    .await;
    let url = browser.current_url().await.expect("url");
    assert!(url.as_str().contains("q=prompt"), "the filter is in the address bar: {url}");
    let shown = browser.find_all(Locator::Css("#matrix .cell")).await.expect("cells");
    assert!(!shown.is_empty() && shown.len() < 20, "only matching techniques remain ({})", shown.len());

    let link = browser
        .find(Locator::Css(r#"#matrix a.tech[href$="/techniques/AML.T0051"]"#))
        .await
        .expect("LLM Prompt Injection is listed");
    link.click().await.expect("click");
    eventually("the technique page", || async {
        match browser.find(Locator::Css("h1")).await {
            Ok(h1) => h1.text().await.unwrap_or_default().contains("LLM Prompt Injection"),
            Err(_) => false,
        }
    })
    .await;
    let facts = browser.find(Locator::Css(".facts-list")).await.expect("facts").text().await.expect("text");
    assert!(facts.contains("Execution"), "{facts}");

    // The browser's back button restores the filtered matrix.
    browser.back().await.expect("back");
    eventually("the filtered matrix again", || async {
        browser.current_url().await.map(|u| u.as_str().contains("q=prompt")).unwrap_or(false)
    })
    .await;

    browser.close().await.expect("session closes");
    drop(driver);
}

pub(crate) async fn text_of(browser: &Client, css: &str) -> String {
    match browser.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

pub(crate) async fn wait_until_live(browser: &Client) {
    eventually("the live event stream to connect", || async {
        browser
            .execute("return document.querySelector('[sse-connect]').getAttribute('data-live')", vec![])
            .await
            .map(|v| v == json!("connected"))
            .unwrap_or(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_in_a_workshop_see_each_others_changes_and_conflicts() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    let url = format!("{}{system}", app.base);
    app.member("bob", 1, Some(atlascope::auth::Role::Editor)).await;
    let alice = open_browser(&driver, "alice").await;
    let bob = open_browser(&driver, "bob").await;
    sign_in(&alice, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    sign_in(&bob, &app.base, "bob", "a long enough password").await;
    for browser in [&alice, &bob] {
        browser.goto(&url).await.expect("workshop loads");
        browser.execute("window.notReloaded = true", vec![]).await.expect("marker");
        wait_until_live(browser).await;
    }

    // Alice opens LLM Prompt Injection and marks it as applying.
    let cell = r#"a.wlink[data-technique="AML.T0051"]"#;
    alice.find(Locator::Css(cell)).await.expect("cell").click().await.expect("open the panel");
    eventually("Alice's panel", || async { text_of(&alice, "#panel-title").await.contains("LLM Prompt Injection") })
        .await;
    alice
        .find(Locator::Css(r#"#panel input[name="applicability"][value="applies"]"#))
        .await
        .expect("radio")
        .click()
        .await
        .expect("click");

    // Bob sees the cell change without reloading.
    let state = r#"[sse-swap="state-AML_T0051"]"#;
    eventually("Bob's cell to show the gap", || async { text_of(&bob, state).await.contains("Gap") }).await;
    eventually("Bob's summary to count it", || async { text_of(&bob, "#summary").await.contains("Gap 1") }).await;
    let kept = bob.execute("return window.notReloaded === true", vec![]).await.expect("script");
    assert_eq!(kept, json!(true), "Bob's page was not reloaded");

    // Both open the item; Alice rates the risk first, Bob's stale choice is refused.
    bob.find(Locator::Css(cell)).await.expect("cell").click().await.expect("open the panel");
    eventually("Bob's panel", || async { text_of(&bob, "#panel-title").await.contains("LLM Prompt Injection") }).await;
    let risk = alice.find(Locator::Css(r#"#panel select[name="risk"]"#)).await.expect("risk");
    risk.select_by_value("high").await.expect("select high");
    eventually("Alice's save", || async { text_of(&alice, "#panel").await.contains("Saved.") }).await;
    bob.find(Locator::Css(r#"#panel input[name="applicability"][value="not_applicable"]"#))
        .await
        .expect("radio")
        .click()
        .await
        .expect("click");
    eventually("Bob to be told about the conflict", || async {
        text_of(&bob, "#panel").await.contains("Not saved: admin saved a change here")
    })
    .await;
    let compared = text_of(&bob, "#panel .conflict-table").await;
    assert!(compared.contains("Risk rating") || compared.contains("Applies"), "both sides are shown: {compared}");
    assert!(text_of(&bob, "#panel").await.contains("Save mine over theirs"));
    bob.find(Locator::Css("#panel .notice button")).await.expect("re-apply").click().await.expect("click");
    eventually("Bob's change to be saved", || async { text_of(&bob, "#panel").await.contains("Saved.") }).await;
    eventually("Alice to see Bob's decision", || async { text_of(&alice, state).await.contains("Not applicable") })
        .await;

    alice.close().await.expect("close");
    bob.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_save_says_so_in_the_panel_and_an_ended_session_says_so_on_the_page() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    app.member("bob", 1, Some(atlascope::auth::Role::Editor)).await;
    let bob_id = atlascope::db::accounts::user_by_name(&app.state.db, "bob").await.unwrap().unwrap().id;
    let bob = open_browser(&driver, "bob").await;
    sign_in(&bob, &app.base, "bob", "a long enough password").await;
    bob.goto(&format!("{}{system}", app.base)).await.expect("workshop loads");
    let cell = r#"a.wlink[data-technique="AML.T0051"]"#;
    bob.find(Locator::Css(cell)).await.expect("cell").click().await.expect("open the panel");
    eventually("Bob's panel", || async { text_of(&bob, "#panel-title").await.contains("LLM Prompt Injection") }).await;

    // Bob becomes a viewer while his panel is open: his next save is refused, and he is told where he clicked.
    atlascope::service::accounts::set_member(&app.state, 1, "bob", atlascope::auth::Role::Viewer).await.unwrap();
    let risk = bob.find(Locator::Css(r#"#panel select[name="risk"]"#)).await.expect("risk");
    risk.select_by_value("high").await.expect("select high");
    eventually("the refusal beside the form", || async {
        text_of(&bob, "#panel form .action-error").await.contains("Not allowed")
    })
    .await;
    assert!(!text_of(&bob, "#panel").await.contains("Saved."), "nothing claims it was saved");

    // His sessions end: the next action says so where he acted, the live
    // status shows the page disconnected, and nothing is drawn in the panel.
    atlascope::service::accounts::set_member(&app.state, 1, "bob", atlascope::auth::Role::Editor).await.unwrap();
    atlascope::service::accounts::revoke_other_sessions(&app.state, bob_id, "").await.unwrap();
    let risk = bob.find(Locator::Css(r#"#panel select[name="risk"]"#)).await.expect("risk");
    risk.select_by_value("low").await.expect("select low");
    eventually("the ended session beside the form", || async {
        text_of(&bob, "#panel form .action-error").await.contains("your session has ended")
    })
    .await;
    eventually("the live status to say disconnected", || async {
        text_of(&bob, "#live-status").await.contains("Disconnected")
    })
    .await;
    let url = bob.current_url().await.expect("url");
    assert_eq!(url.path(), system, "the workshop stays on screen");
    assert!(bob.find(Locator::Css("#panel #login-username")).await.is_err(), "no sign-in form inside the panel");
    let again = bob.find(Locator::Css("#panel form .action-error a")).await.expect("a way to sign in again");
    let href = again.attr("href").await.expect("href").unwrap_or_default();
    assert!(href.starts_with("/login?next="), "{href}");

    bob.close().await.expect("close");
    drop(driver);
}

const PAYLOAD: &str = r#"<img src=x onerror="window.xss=1"><script>window.xss=1</script>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_typed_into_free_text_fields_is_shown_as_text_and_never_runs() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let encoded =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    // Team, control, notes and a guest's display name go in through the forms over HTTP…
    app.post_form("/teams", &format!("name={}", encoded(&format!("Team {PAYLOAD}")))).await;
    app.post_form("/teams/1/systems", "name=Chatbot&exposure=public&criticality=high").await;
    app.post_form(
        "/teams/1/controls",
        &format!("name={}&techniques=AML.T0051", encoded(&format!("Control {PAYLOAD}"))),
    )
    .await;
    app.post_form(
        "/systems/1/techniques/AML.T0051/mitigations/AML.M0020",
        &format!("status=planned&notes={}", encoded(PAYLOAD)),
    )
    .await;
    let code = atlascope::service::accounts::create_invite(&app.state, 1, atlascope::auth::Role::Editor, "", 2, None)
        .await
        .unwrap();
    let joined = app
        .request(
            axum::http::Method::POST,
            &format!("/join/{code}"),
            &[("cookie", ""), ("content-type", "application/x-www-form-urlencoded")],
            format!("display_name={}", encoded(&format!("Guest {PAYLOAD}"))).into_bytes(),
        )
        .await;
    let guest = joined.header("set-cookie").split(';').next().unwrap().to_string();
    app.request(
        axum::http::Method::POST,
        "/systems/1/techniques/AML.T0054",
        &[("cookie", &guest), ("content-type", "application/x-www-form-urlencoded")],
        b"applicability=applies".to_vec(),
    )
    .await;

    // …and the system name and a rationale are typed in the browser.
    let browser = open_browser(&driver, "xss").await;
    sign_in(&browser, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/systems/1/edit", app.base)).await.expect("edit page");
    let name = browser.find(Locator::Css("#sys-name")).await.expect("name field");
    name.clear().await.expect("clear");
    name.send_keys(&format!("System {PAYLOAD}")).await.expect("type");
    browser
        .find(Locator::Css("form[action='/systems/1/edit'] button[type=submit]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("submit");
    eventually("the workshop after saving", || async {
        browser.current_url().await.is_ok_and(|u| u.path() == "/systems/1")
    })
    .await;
    wait_until_live(&browser).await;
    browser
        .find(Locator::Css(r#"a.wlink[data-technique="AML.T0051"]"#))
        .await
        .expect("cell")
        .click()
        .await
        .expect("open");
    eventually("the panel", || async { text_of(&browser, "#panel-title").await.contains("LLM Prompt Injection") })
        .await;
    let rationale = browser.find(Locator::Css("#panel textarea[name=rationale]")).await.expect("rationale");
    rationale.send_keys(&format!("Rationale {PAYLOAD}")).await.expect("type");
    browser.find(Locator::Css("#panel-title")).await.expect("title").click().await.expect("blur saves");
    eventually("the rationale saved", || async { text_of(&browser, "#panel").await.contains("Saved.") }).await;

    for path in [
        "/teams",
        "/teams/1",
        "/teams/1/members",
        "/controls/1",
        "/systems/1",
        "/systems/1/techniques/AML.T0051",
        "/systems/1/techniques/AML.T0054",
    ] {
        browser.goto(&format!("{}{path}", app.base)).await.expect("page loads");
        let ran = browser.execute("return window.xss === 1", vec![]).await.expect("script");
        assert_eq!(ran, json!(false), "{path}: an injected script ran");
        let injected = browser.find_all(Locator::Css("main img[src='x'], main script")).await.expect("query");
        assert!(injected.is_empty(), "{path}: injected markup became elements");
    }
    let text = text_of(&browser, "main").await;
    assert!(text.contains("<img src=x"), "the payload is shown as text: {text}");
    browser.goto(&format!("{}/systems/1/techniques/AML.T0054", app.base)).await.expect("item");
    assert!(text_of(&browser, ".history").await.contains("Guest <img src=x"), "the guest's name is shown as text");

    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_gap_report_opens_offline_and_the_report_pages_load_under_the_csp() {
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    for (technique, applicability) in
        [("AML.T0051", "applies"), ("AML.T0054", "applies"), ("AML.T0020", "not_applicable")]
    {
        let reply = app
            .put_json(&format!("/api/v1{system}/assessments/{technique}"), &json!({"applicability": applicability}))
            .await;
        assert_eq!(reply.status, crate::helpers::StatusCode::OK, "{}", reply.body);
    }

    // The downloaded HTML report, opened from disk: styled, with its charts, and no request at all.
    let report = app.get(&format!("/api/v1{system}/gaps?format=html")).await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("atlascope-gaps-support-chatbot.html");
    std::fs::write(&file, &report.body).expect("the report is saved");
    let browser = open_browser(&driver, "report").await;
    browser.goto(&format!("file://{}", file.display())).await.expect("the report opens");
    eventually("the report's title", || async {
        browser.title().await.is_ok_and(|t| t.contains("ATLAS gap report: Support Chatbot"))
    })
    .await;
    let requests = browser
        .execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![])
        .await
        .expect("script runs");
    assert_eq!(requests, json!([]), "the report fetches nothing");
    let charts = browser.execute("return document.querySelectorAll('svg').length", vec![]).await.expect("script");
    assert!(charts.as_u64().is_some_and(|n| n > 0), "inline SVG charts: {charts}");
    let styled = browser
        .execute("return getComputedStyle(document.querySelector('h2')).borderBottomStyle", vec![])
        .await
        .expect("script");
    assert_eq!(styled, json!("solid"), "the inline stylesheet applies");

    // The gap page and the team overview under the strict CSP: every asset loads, styles apply.
    sign_in(&browser, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    let failed =
        "return performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name)";
    browser.goto(&format!("{}{system}/gaps", app.base)).await.expect("the gap page loads");
    eventually("the gap page", || async { text_of(&browser, "h1").await.contains("gap report") }).await;
    assert_eq!(browser.execute(failed, vec![]).await.expect("script"), json!([]));
    let rows = browser.find_all(Locator::Css("#gaps-heading ~ .table-scroll tbody tr")).await.expect("gap rows");
    assert_eq!(rows.len(), 2, "the two open gaps are ranked");

    browser.goto(&format!("{}/teams/1/overview", app.base)).await.expect("the overview loads");
    eventually("the overview", || async { text_of(&browser, "h1").await.contains("coverage overview") }).await;
    assert_eq!(browser.execute(failed, vec![]).await.expect("script"), json!([]));
    let cell = "td.heat.h0 a";
    let background = browser
        .execute(
            &format!("return getComputedStyle(document.querySelector('{cell}').parentElement).backgroundColor"),
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(background, json!("rgb(248, 211, 208)"), "the stylesheet loaded under the CSP colours the cells");
    // Drill down from a cell to the workshop on that tactic.
    browser.find(Locator::Css(cell)).await.expect("a cell").click().await.expect("click");
    eventually("the workshop filtered by the tactic", || async {
        browser
            .current_url()
            .await
            .is_ok_and(|u| u.path() == system && u.query().is_some_and(|q| q.starts_with("tactic=")))
    })
    .await;
    assert!(text_of(&browser, ".matrix-status").await.starts_with("Showing"));

    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_adds_a_release_in_the_browser_and_the_page_updates_in_place() {
    let Some(atlas) = crate::helpers::shared_atlas() else { return };
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let browser = open_browser(&driver, "admin").await;
    sign_in(&browser, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/frameworks", app.base)).await.expect("releases page");
    browser
        .execute("window.notReloaded = true; document.querySelector('details.form-box').open = true", vec![])
        .await
        .expect("open the form");
    let file = atlas.join("ATLAS-5.6.0.yaml").canonicalize().expect("the file");
    browser
        .find(Locator::Css("#release-file"))
        .await
        .expect("file field")
        .send_keys(file.to_str().expect("path"))
        .await
        .expect("choose the file");
    browser
        .find(Locator::Css("form[data-progress] button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("add");
    eventually("the release to be added", || async { text_of(&browser, "#main").await.contains("Added ATLAS 5.6.0") })
        .await;
    let kept = browser.execute("return window.notReloaded === true", vec![]).await.expect("script");
    assert_eq!(kept, json!(true), "the page updated in place");
    assert!(text_of(&browser, "#main").await.contains("5.6.0"));
    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_upgrades_a_system_and_reviews_the_flagged_technique_in_the_workshop() {
    let Some(atlas) = crate::helpers::shared_atlas() else { return };
    let Some(driver) = start_driver().await else { return };
    let app = TestApp::spawn().await;
    let loaded = app.post("/api/v1/frameworks", crate::helpers::official(&atlas, "ATLAS-5.6.0.yaml")).await;
    assert_eq!(loaded.status.as_u16(), 201, "{}", loaded.body);
    let team = app.post_json("/api/v1/teams", &json!({"name": "Models"})).await.json()["id"].clone();
    let body = json!({"team_id": team, "name": "Legacy", "exposure": "public", "criticality": "high",
        "framework_version": "5.6.0"});
    let id = app.post_json("/api/v1/systems", &body).await.json()["id"].as_i64().unwrap();
    let changes = app.get("/api/v1/frameworks/5.6.0/diff/2026.05").await.json();
    let matured = changes["maturity_changed"][0]["id"].as_str().expect("a maturity change").to_string();
    app.put_json(&format!("/api/v1/systems/{id}/assessments/{matured}"), &json!({"applicability": "applies"})).await;

    let browser = open_browser(&driver, "owner").await;
    sign_in(&browser, &app.base, crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    browser.goto(&format!("{}/systems/{id}", app.base)).await.expect("workshop");
    browser.find(Locator::LinkText("Upgrade release")).await.expect("link").click().await.expect("open");
    eventually("the preview", || async {
        text_of(&browser, "#main").await.contains("What the upgrade to 2026.05 changes")
    })
    .await;
    browser
        .find(Locator::Css("form[method=post][action$='/upgrade'] button[type=submit]"))
        .await
        .expect("apply")
        .click()
        .await
        .expect("apply");
    eventually("the workshop with the outcome", || async {
        text_of(&browser, "#flash").await.contains("Upgraded from ATLAS 5.6.0 to 2026.05")
    })
    .await;
    browser.find(Locator::LinkText("Show only those")).await.expect("review filter").click().await.expect("filter");
    let cell = format!(r#"a.wlink[data-technique="{matured}"]"#);
    eventually("the flagged technique", || async { browser.find(Locator::Css(&cell)).await.is_ok() }).await;
    browser.find(Locator::Css(&cell)).await.expect("cell").click().await.expect("open the panel");
    eventually("the reason in the panel", || async {
        text_of(&browser, "#panel").await.contains("To review after the upgrade")
    })
    .await;
    browser
        .find(Locator::Css("#panel form[action$='/review'] button"))
        .await
        .expect("reviewed")
        .click()
        .await
        .expect("confirm");
    eventually("the flag to go", || async {
        !text_of(&browser, "#panel").await.contains("To review after the upgrade")
    })
    .await;
    browser.close().await.expect("close");
    drop(driver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_identity_provider_and_out_and_refused_ones_are_told_why() {
    let Some(driver) = start_driver().await else { return };
    let people = json!({
        "erin": { "name": "Erin Engineer", "groups": ["ml-red-team"] },
        "frank": { "name": "Frank Former" },
    });
    let Some((app, provider)) = crate::identity_provider::app_with_provider(people, true).await else { return };
    let browser = open_browser_sized(&driver, "erin", (1024, 768)).await;
    let provider_sign_in = |browser: &Client, login: &'static str| {
        let (browser, base) = (browser.clone(), app.base.clone());
        async move {
            browser.goto(&format!("{base}/login?next=/teams")).await.expect("the sign-in page");
            browser
                .find(Locator::LinkText("Sign in with Test provider"))
                .await
                .expect("the button")
                .click()
                .await
                .unwrap();
            eventually("the provider's form", || async {
                browser.current_url().await.is_ok_and(|u| u.host_str() == Some("localhost"))
            })
            .await;
            browser.find(Locator::Css("#login")).await.expect("login").send_keys(login).await.unwrap();
            browser.find(Locator::Css("#password")).await.expect("password").send_keys("any").await.unwrap();
            browser.find(Locator::Css("#submit")).await.expect("submit").click().await.unwrap();
            eventually("back at atlascope", || async {
                browser.current_url().await.is_ok_and(|u| u.host_str() == Some("127.0.0.1"))
            })
            .await;
        }
    };

    // Erin's first sign-in creates her account; her group makes her an editor of the team.
    provider_sign_in(&browser, "erin").await;
    eventually("the teams page", || async { browser.current_url().await.is_ok_and(|u| u.path() == "/teams") }).await;
    assert!(text_of(&browser, "main").await.contains(crate::identity_provider::TEAM), "her team is listed");
    let erin = atlascope::db::accounts::user_by_name(&app.state.db, "erin").await.unwrap().expect("created");
    assert!(erin.provider.is_some() && erin.display_name == "Erin Engineer");
    let roles = atlascope::db::identity::roles_of(&app.state.db, erin.id).await.unwrap();
    assert_eq!(roles.iter().map(|(_, r)| *r).collect::<Vec<_>>(), [atlascope::auth::Role::Editor]);
    browser.goto(&format!("{}/account", app.base)).await.unwrap();
    assert!(text_of(&browser, "main").await.contains("Erin Engineer"));

    // She signs out: the next page asks her to sign in.
    browser.find(Locator::Css("form.sign-out button")).await.expect("sign out").click().await.unwrap();
    eventually("the sign-in page", || async { browser.current_url().await.is_ok_and(|u| u.path() == "/login") }).await;
    // The sign-in page with the provider and the sign-out notice passes axe-core.
    let violations = crate::projector::serious_violations(&browser).await;
    assert!(violations.is_empty(), "axe-core found on the sign-in page:\n{}", violations.join("\n"));
    // The projector is shared: she signs out at the provider too, and comes back here.
    let also = browser.find(Locator::LinkText("Sign out of Test provider too")).await.expect("offered");
    also.click().await.unwrap();
    browser
        .find(Locator::Css("button[name=logout][value=yes]"))
        .await
        .expect("the provider asks")
        .click()
        .await
        .unwrap();
    eventually("back at the sign-in page", || async {
        browser.current_url().await.is_ok_and(|u| u.host_str() == Some("127.0.0.1") && u.path() == "/login")
    })
    .await;
    browser.goto(&format!("{}/teams", app.base)).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap().path(), "/login");
    // The next sign-in in this browser asks who is there (no silent return as Erin).
    browser.find(Locator::LinkText("Sign in with Test provider")).await.unwrap().click().await.unwrap();
    eventually("the provider's form again", || async {
        browser.current_url().await.is_ok_and(|u| u.host_str() == Some("localhost"))
    })
    .await;
    assert!(browser.find(Locator::Css("#login")).await.is_ok());

    // Frank has left: the provider refuses him, and the page says so in words.
    let frank = open_browser_sized(&driver, "frank", (1024, 768)).await;
    provider.change_user("frank", json!({ "disabled": true })).await;
    provider_sign_in(&frank, "frank").await;
    eventually("the refusal", || async {
        text_of(&frank, "[role=alert]").await.contains("refused the sign-in: This account is disabled")
    })
    .await;
    assert!(atlascope::db::accounts::user_by_name(&app.state.db, "frank").await.unwrap().is_none());

    // An answer whose state was tampered with signs nobody in.
    frank.find(Locator::LinkText("Sign in with Test provider")).await.unwrap().click().await.unwrap();
    eventually("the provider's form", || async {
        frank.current_url().await.is_ok_and(|u| u.host_str() == Some("localhost"))
    })
    .await;
    frank.goto(&format!("{}/auth/oidc/callback?code=stolen&state=tampered", app.base)).await.unwrap();
    assert!(text_of(&frank, "[role=alert]").await.contains("belongs to no sign-in this browser started"));
    frank.goto(&format!("{}/teams", app.base)).await.unwrap();
    assert_eq!(frank.current_url().await.unwrap().path(), "/login", "still signed out");

    frank.close().await.expect("close");
    browser.close().await.expect("close");
    drop(driver);
}
