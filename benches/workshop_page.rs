//! Bench: the weight of the workshop page of a fully assessed system, and
//! how soon it is ready in a cold headless Chromium compared with the very
//! same HTML served as a static file.
//!
//! Starts the real server on loopback with a system where every technique
//! is decided and every mitigation has a status, then:
//! - fetches the page and each asset it links with `Accept-Encoding: gzip`
//!   and adds up the bytes on the wire;
//! - saves that HTML and those assets and serves them from a second, plain
//!   static server (same compression);
//! - loads each page in turn in a fresh Chromium profile (no cache) and reads
//!   the navigation timing: `loadEventEnd`, when the HTML, the stylesheet and
//!   the deferred scripts (htmx, its SSE extension, app.js) have all run.
//!
//! Run: `cargo bench --bench workshop_page` (needs chromium and chromedriver).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlascope::app::{self, AppState};
use atlascope::core::{Core, CoreConfig};
use atlascope::domain::records::{AssessmentChange, StatusChange};
use atlascope::domain::{Applicability, ImplementationStatus, Rating};
use atlascope::service::decisions;
use atlascope::service::{self, Actor, systems::SystemInput, teams::TeamInput};
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const RUNS: usize = 21;
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A response as it came over the wire.
struct Fetched {
    content_type: String,
    content_encoding: String,
    wire: usize,
    body: Vec<u8>,
}

async fn fetch(url: &str, cookie: &str, gzip: bool) -> Fetched {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut request = axum::http::Request::get(url).header("cookie", cookie);
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = client.request(request.body(Empty::new()).expect("request")).await.expect("an answer");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let content_encoding =
        response.headers().get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Fetched { content_type, content_encoding, wire: body.len(), body }
}

/// Every asset the page links: its stylesheet and scripts.
fn linked_assets(html: &str) -> Vec<String> {
    let mut assets = Vec::new();
    for marker in ["href=\"/static/", "src=\"/static/"] {
        let mut rest = html;
        while let Some(start) = rest.find(marker) {
            let path_start = start + marker.len() - "/static/".len();
            let end = rest[path_start..].find('"').expect("a closing quote") + path_start;
            assets.push(rest[path_start..end].to_string());
            rest = &rest[end..];
        }
    }
    assets
}

async fn fully_assessed_system(state: &AppState) -> (i64, String) {
    let admin = service::accounts::create_user(state, "bench", "", "a long bench password", true).await.expect("admin");
    let cookie = format!(
        "atlascope_session={}",
        service::accounts::start_session(state, Some(admin), None, "bench").await.expect("session")
    );
    let actor = Actor("bench".into());
    let team = service::teams::create(state, TeamInput { name: "Bench".into(), description: String::new() }, &actor)
        .await
        .expect("team");
    let input = SystemInput {
        name: "Support Chatbot".into(),
        platforms: vec!["Generative AI".into(), "Agentic AI".into()],
        exposure: "public".into(),
        criticality: "high".into(),
        ..SystemInput::default()
    };
    let system = service::systems::create(state, team.id, input, &actor).await.expect("system");
    let framework = state.catalog.default_release();
    let ratings = [Rating::Low, Rating::Medium, Rating::High, Rating::Critical];
    for (i, technique) in framework.techniques().iter().enumerate() {
        let change = AssessmentChange {
            applicability: Some(if i % 5 == 4 { Applicability::NotApplicable } else { Applicability::Applies }),
            rationale: Some(format!("Reviewed in the November workshop: reachable through the public chat ({i}).")),
            risk: Some(Some(ratings[i % 4])),
        };
        decisions::set_assessment(state, system.id, &technique.id, change, None, &actor).await.expect("assessed");
    }
    let statuses = [ImplementationStatus::Implemented, ImplementationStatus::InProgress, ImplementationStatus::Planned];
    for (i, mitigation) in framework.mitigations().iter().enumerate() {
        let change = StatusChange {
            status: Some(statuses[i % 3]),
            owner: Some("Platform security".into()),
            target_date: Some(Some("2027-03-31".into())),
            evidence: Some(format!("https://wiki.example/controls/{}", mitigation.id)),
            notes: Some("Agreed with the ML platform team.".into()),
        };
        decisions::set_mitigation_status(state, system.id, &mitigation.id, change, None, &actor).await.expect("status");
    }
    (system.id, cookie)
}

/// The saved page and assets, served as static files: the very bytes the
/// app sent (gzip), replayed with their type and encoding.
async fn static_copy(files: Arc<HashMap<String, Fetched>>) -> String {
    let router = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let files = files.clone();
        async move {
            let key = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
            match files.get(key) {
                Some(file) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&file.content_type).expect("type"));
                    if !file.content_encoding.is_empty() {
                        let encoding = HeaderValue::from_str(&file.content_encoding).expect("encoding");
                        headers.insert(header::CONTENT_ENCODING, encoding);
                    }
                    (headers, file.body.clone()).into_response()
                }
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

use axum::response::IntoResponse;

/// Loads `url` in a fresh Chromium profile and returns `loadEventEnd` and
/// `domContentLoadedEventEnd` in milliseconds from the navigation's start.
async fn cold_load(driver: &str, origin: &str, url: &str, cookie: Option<&str>) -> (f64, f64) {
    let profile = tempfile::tempdir().expect("profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--window-size=1280,720",
                     format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let browser = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver)
        .await
        .expect("a browser");
    browser.goto(&format!("{origin}/healthz")).await.expect("the origin");
    if let Some(cookie) = cookie {
        browser
            .execute("document.cookie = arguments[0] + '; path=/'", vec![serde_json::json!(cookie)])
            .await
            .expect("the session cookie");
    }
    browser.goto(url).await.expect("the page");
    let deadline = Instant::now() + Duration::from_secs(20);
    let timing = loop {
        let timing = browser
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; return [n.loadEventEnd, n.domContentLoadedEventEnd];",
                vec![],
            )
            .await
            .expect("timing");
        let load = timing[0].as_f64().unwrap_or(0.0);
        if load > 0.0 {
            break (load, timing[1].as_f64().unwrap_or(0.0));
        }
        assert!(Instant::now() < deadline, "the page never finished loading");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    browser.close().await.expect("close");
    timing
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = Core::open(&config).await.expect("the core opens");
    let state = AppState::new(core, atlascope::auth::setup::SetupState::new(true));
    let (system_id, cookie) = fully_assessed_system(&state).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(app::serve(listener, state.clone(), std::future::pending()));
    let page_path = format!("/systems/{system_id}");

    // Weight on the wire, compressed as a browser asks for it.
    let page = fetch(&format!("{base}{page_path}"), &cookie, true).await;
    let plain = fetch(&format!("{base}{page_path}"), &cookie, false).await;
    let mut files = HashMap::new();
    let (mut wire, mut raw) = (page.wire, plain.body.len());
    println!(
        "workshop page of a fully assessed system ({} techniques decided):",
        state.catalog.default_release().techniques().len()
    );
    println!("  {:<44} {:>9} B raw {:>8} B gzip", "HTML", plain.body.len(), page.wire);
    assert_eq!(page.content_encoding, "gzip", "the page is compressed");
    for asset in linked_assets(&String::from_utf8_lossy(&plain.body)) {
        let compressed = fetch(&format!("{base}{asset}"), &cookie, true).await;
        let full = fetch(&format!("{base}{asset}"), &cookie, false).await;
        println!("  {:<44} {:>9} B raw {:>8} B gzip", asset, full.body.len(), compressed.wire);
        wire += compressed.wire;
        raw += full.body.len();
        files.insert(asset, compressed);
    }
    files.insert("/workshop.html".to_string(), page);
    println!("  {:<44} {:>9} B raw {:>8} B gzip ({:.1} KB; budget 100 KB)", "total", raw, wire, wire as f64 / 1024.0);

    // Ready in a cold browser: the live page and its static copy, alternately.
    if !std::path::Path::new(CHROMEDRIVER).is_file() {
        println!(
            "SKIPPED the readiness figure: chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        return;
    }
    let static_base = static_copy(Arc::new(files)).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let mut chromedriver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = format!("http://127.0.0.1:{port}");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (mut live, mut copy) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        live.push(cold_load(&driver, &base, &format!("{base}{page_path}"), Some(&cookie)).await);
        copy.push(cold_load(&driver, &static_base, &format!("{static_base}/workshop.html"), None).await);
    }
    let _ = chromedriver.kill();
    let _ = chromedriver.wait();
    let (live_load, copy_load) =
        (median(live.iter().map(|t| t.0).collect()), median(copy.iter().map(|t| t.0).collect()));
    let (live_dcl, copy_dcl) = (median(live.iter().map(|t| t.1).collect()), median(copy.iter().map(|t| t.1).collect()));
    println!("ready in a cold headless Chromium, median of {RUNS} fresh profiles each (ms from navigation start):");
    println!("  live page:   DOMContentLoaded {live_dcl:6.1}   load {live_load:6.1}");
    println!("  static copy: DOMContentLoaded {copy_dcl:6.1}   load {copy_load:6.1}");
    println!("  live ÷ static (load): {:.2} (budget 1.5)", live_load / copy_load);
}
