//! Bench: how long a change takes to reach 100 open workshop event streams.
//! Starts the real server on loopback, opens 100 server-sent-event streams
//! on one system, then marks a technique over HTTP (as a browser does) and
//! times until every stream has received that technique's cell update.
//!
//! Run: `cargo bench --bench live_fanout`

use std::time::{Duration, Instant};

use atlascope::app::{self, AppState};
use atlascope::core::{Core, CoreConfig};
use atlascope::service;
use atlascope::service::{Actor, systems::SystemInput, teams::TeamInput};
use axum::body::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const STREAMS: usize = 100;
const ROUNDS: usize = 30;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
    let core = Core::open(&config).await.expect("the core opens");
    let state = AppState::new(core, atlascope::auth::setup::SetupState::new(true));
    let admin =
        service::accounts::create_user(&state, "bench", "", "a long bench password", true).await.expect("admin");
    let cookie = format!(
        "atlascope_session={}",
        service::accounts::start_session(&state, Some(admin), None, "bench").await.expect("session")
    );
    let actor = Actor("bench".into());
    let team = service::teams::create(&state, TeamInput { name: "Bench".into(), description: String::new() }, &actor)
        .await
        .expect("team");
    let input = SystemInput {
        name: "Chatbot".into(),
        exposure: "public".into(),
        criticality: "high".into(),
        ..SystemInput::default()
    };
    let system = service::systems::create(&state, team.id, input, &actor).await.expect("system");
    let techniques: Vec<String> =
        state.catalog.default_release().techniques().iter().take(ROUNDS).map(|t| t.id.clone()).collect();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(app::serve(listener, state.clone(), std::future::pending()));

    let (arrivals_tx, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let stream_client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http::<Empty<Bytes>>();
    for _ in 0..STREAMS {
        let request = axum::http::Request::get(format!("{base}/systems/{}/events", system.id))
            .header("cookie", &cookie)
            .body(Empty::new())
            .expect("request");
        let mut body = stream_client.request(request).await.expect("stream opens").into_body();
        let arrivals_tx = arrivals_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = body.frame().await {
                let Ok(data) = frame.into_data() else { continue };
                let now = Instant::now();
                for line in String::from_utf8_lossy(&data).lines() {
                    if let Some(name) = line.strip_prefix("event: state-") {
                        let _ = arrivals_tx.send((name.to_string(), now));
                    }
                }
            }
        });
    }
    while state.live.subscriber_count() < STREAMS {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut all_reached = Vec::new();
    for technique in &techniques {
        let wanted = technique.replace('.', "_");
        let started = Instant::now();
        let request = axum::http::Request::post(format!("{base}/systems/{}/techniques/{technique}", system.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("hx-request", "true")
            .header("cookie", &cookie)
            .body(Full::new(Bytes::from_static(b"applicability=applies")))
            .expect("request");
        let response = client.request(request).await.expect("the change is saved");
        assert!(response.status().is_success(), "{}", response.status());
        let mut reached = 0;
        let mut last = started;
        while reached < STREAMS {
            let (name, at) = tokio::time::timeout(Duration::from_secs(5), arrivals.recv())
                .await
                .expect("every stream gets the change within 5 s")
                .expect("streams open");
            if name == wanted {
                reached += 1;
                last = last.max(at);
            }
        }
        all_reached.push(last - started);
    }
    all_reached.sort();
    let at = |q: f64| all_reached[((all_reached.len() as f64 * q) as usize).min(all_reached.len() - 1)];
    println!("a change reaching all {STREAMS} event streams (from sending the write), {ROUNDS} changes:");
    println!("  median {:?}   p90 {:?}   max {:?}", at(0.5), at(0.9), all_reached[all_reached.len() - 1]);
}
