//! Test support: a real server on a free port with its own data directory,
//! a small HTTP client, and access to the official files in `../shared`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use atlascope::app::{self, AppState};
use atlascope::auth::setup::SetupState;
use atlascope::core::{Core, CoreConfig};
use atlascope::db;
use atlascope::service::accounts;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use axum::body::Bytes;
pub use axum::http::{HeaderMap, Method, StatusCode};

/// The administrator every test app starts with, signed in by default.
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running atlascope on 127.0.0.1 with a private data directory. Requests
/// carry the administrator's session unless they name their own `cookie` or
/// `authorization` header (an empty cookie makes an anonymous request).
pub struct TestApp {
    pub base: String,
    pub data_dir: PathBuf,
    /// Where its data lives: SQLite in `data_dir`, or a PostgreSQL database
    /// of its own when the tests run on PostgreSQL ([`on_postgres`]).
    pub location: db::Location,
    /// The application state the server runs on, for direct set-up in tests.
    pub state: AppState,
    /// `atlascope_session=…` of the administrator.
    pub admin_cookie: String,
    _dir: Option<tempfile::TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().to_path_buf();
        let mut app = TestApp::spawn_in(data_dir).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server with its own connection limits.
    pub async fn spawn_with_limits(limits: atlascope::server::Limits) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app = TestApp::start(dir.path().to_path_buf(), limits).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn spawn_in(data_dir: PathBuf) -> TestApp {
        TestApp::start(data_dir, atlascope::server::Limits::default()).await
    }

    /// Starts a server set up by `configure`, which also gets the address
    /// the server will answer on.
    pub async fn spawn_configured(configure: impl FnOnce(&mut AppState, &str)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app =
            TestApp::start_with(dir.path().to_path_buf(), atlascope::server::Limits::default(), configure).await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server whose rate limits never answer 429, for a fuzzer that
    /// sends thousands of requests, many with bad tokens, from one address.
    pub async fn spawn_without_rate_limits() -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app =
            TestApp::start_with(dir.path().to_path_buf(), atlascope::server::Limits::default(), |state, _| {
                let unlimited = || Arc::new(atlascope::auth::limiter::RateLimiter::new(1e9, u32::MAX));
                state.api_limiter = unlimited();
                state.login_limiter = unlimited();
                state.provider_limiter = unlimited();
            })
            .await;
        app._dir = Some(dir);
        app
    }

    /// Starts a server on existing data (a copy made by a test).
    pub async fn spawn_on(location: db::Location) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut app =
            TestApp::start_on(dir.path().to_path_buf(), location, atlascope::server::Limits::default(), |_, _| {})
                .await;
        app._dir = Some(dir);
        app
    }

    async fn start(data_dir: PathBuf, limits: atlascope::server::Limits) -> TestApp {
        TestApp::start_with(data_dir, limits, |_, _| {}).await
    }

    async fn start_with(
        data_dir: PathBuf,
        limits: atlascope::server::Limits,
        configure: impl FnOnce(&mut AppState, &str),
    ) -> TestApp {
        let location = location_for(&data_dir).await;
        TestApp::start_on(data_dir, location, limits, configure).await
    }

    async fn start_on(
        data_dir: PathBuf,
        location: db::Location,
        limits: atlascope::server::Limits,
        configure: impl FnOnce(&mut AppState, &str),
    ) -> TestApp {
        let core = Core::open(&CoreConfig::creating(location.clone())).await.expect("the core opens");
        let has_admin = db::accounts::count_admins(&core.db).await.expect("count") > 0;
        let mut state = AppState::new(core, SetupState::new(has_admin));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        configure(&mut state, &base);
        let admin = match db::accounts::user_by_name(&state.db, ADMIN).await.expect("lookup") {
            Some(user) => user.id,
            None => {
                accounts::create_user(&state, ADMIN, "Ada Admin", ADMIN_PASSWORD, true).await.expect("admin created")
            }
        };
        let secret = accounts::start_session(&state, Some(admin), None, "tests").await.expect("session");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        let server = tokio::spawn(async move {
            let _ = app::serve_with(listener, served, limits, async {
                let _ = rx.await;
            })
            .await;
        });
        TestApp {
            base,
            data_dir,
            location,
            state,
            admin_cookie: format!("atlascope_session={secret}"),
            _dir: None,
            shutdown: Some(tx),
            server: Some(server),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Stops the server and waits until it has let go of the database.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self._dir.take()
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        let mut builder = axum::http::Request::builder().method(method).uri(format!("{}{path}", self.base));
        let names_identity = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("authorization"));
        if !names_identity {
            builder = builder.header("cookie", &self.admin_cookie);
        }
        for (name, value) in headers {
            if !(name.eq_ignore_ascii_case("cookie") && value.is_empty()) {
                builder = builder.header(*name, *value);
            }
        }
        let response = self
            .client
            .request(builder.body(Full::new(Bytes::from(body))).expect("request"))
            .await
            .expect("server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec() }
    }

    /// Signs an account in; returns its `cookie` header value.
    pub async fn sign_in(&self, user_id: i64) -> String {
        let secret = accounts::start_session(&self.state, Some(user_id), None, "tests").await.expect("session");
        format!("atlascope_session={secret}")
    }

    /// Creates an account with a role on a team, signed in; returns its cookie.
    pub async fn member(&self, username: &str, team_id: i64, role: Option<atlascope::auth::Role>) -> String {
        let id = accounts::create_user(&self.state, username, "", "a long enough password", false).await.expect("user");
        if let Some(role) = role {
            accounts::set_member(&self.state, team_id, username, role).await.expect("membership");
        }
        self.sign_in(id).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], Vec::new()).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, headers, Vec::new()).await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        self.request(Method::POST, path, &[("content-type", "application/octet-stream")], body).await
    }

    /// Sends `body` as JSON with extra headers (e.g. `If-Match`, `X-Atlascope-Actor`).
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(method, path, &all, serde_json::to_vec(body).expect("JSON")).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send_json(Method::POST, path, &[], body).await
    }

    pub async fn put_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send_json(Method::PUT, path, &[], body).await
    }

    /// Signs the session behind `cookie` out, as the sign-out button does.
    pub async fn sign_out(&self, cookie: &str) {
        let out = self
            .request(Method::POST, "/logout", &[("cookie", cookie), ("content-type", "text/plain")], Vec::new())
            .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER, "signed out");
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, &[], Vec::new()).await
    }
}

/// Whether this run of the tests is on PostgreSQL: `ATLASCOPE_TEST_BACKEND`
/// is `postgres` (the PostgreSQL half of the suite sets it when it runs
/// every test again; see `postgres::every_test_again_on_postgres`).
pub fn on_postgres() -> bool {
    std::env::var("ATLASCOPE_TEST_BACKEND").is_ok_and(|backend| backend == "postgres")
}

/// True (after saying so) when the tests run on PostgreSQL and the calling
/// test is about SQLite itself: its PostgreSQL run has nothing to check.
pub fn sqlite_only(why: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    on_postgres()
}

/// The cluster the PostgreSQL tests use (`ATLASCOPE_TEST_POSTGRES`, a URL of
/// a database the tests may create databases from).
pub fn postgres_cluster() -> Option<String> {
    std::env::var("ATLASCOPE_TEST_POSTGRES").ok().filter(|url| !url.is_empty())
}

/// File in a test's data directory naming its PostgreSQL database, so that
/// a restart on the same directory finds the same data.
const POSTGRES_MARKER: &str = "postgres-url";

/// Where a test server on `data_dir` keeps its data: the SQLite file there,
/// or on PostgreSQL a database of its own, made on first use.
pub async fn location_for(data_dir: &std::path::Path) -> db::Location {
    if !on_postgres() {
        return db::Location::SqliteDir(data_dir.to_path_buf());
    }
    let marker = data_dir.join(POSTGRES_MARKER);
    let url = match std::fs::read_to_string(&marker) {
        Ok(url) => url,
        Err(_) => {
            let url = fresh_postgres_database().await;
            std::fs::create_dir_all(data_dir).expect("data dir");
            std::fs::write(&marker, &url).expect("marker");
            url
        }
    };
    db::Location::parse(&url).expect("a PostgreSQL URL")
}

/// A new, empty database on the test cluster; its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let cluster = postgres_cluster().expect("ATLASCOPE_TEST_POSTGRES names the test cluster");
    let name =
        format!("atlascope_test_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let mut admin = sqlx::PgConnection::connect(&cluster).await.expect("the test cluster answers");
    sqlx::query(&format!("create database {name}")).execute(&mut admin).await.expect("create database");
    admin.close().await.ok();
    let (base, _) = cluster.rsplit_once('/').expect("the cluster URL names a database");
    format!("{base}/{name}")
}

/// The atlascope binary aimed at a test server's data (its data directory,
/// and its PostgreSQL database when it has one).
pub fn atlascope_command(app: &TestApp) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_atlascope"));
    command.arg("--data-dir").arg(&app.data_dir).env_remove("ATLASCOPE_DATABASE_URL");
    if let db::Location::Postgres(_) = app.location {
        let url = std::fs::read_to_string(app.data_dir.join(POSTGRES_MARKER)).expect("the marker");
        command.env("ATLASCOPE_DATABASE_URL", url);
    }
    command
}

/// Runs one statement on a test server's database, past the API (to age a
/// token, or break a row on purpose).
pub async fn execute(app: &TestApp, sql: &str) {
    match &app.state.db {
        db::Database::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        db::Database::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One number from a test server's database.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    match &app.state.db {
        db::Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        db::Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One text column of a test server's database.
pub async fn texts(app: &TestApp, sql: &str) -> Vec<String> {
    match &app.state.db {
        db::Database::Sqlite(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
        db::Database::Postgres(pool) => sqlx::query_scalar(sql).fetch_all(pool).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Lets everything recorded so far have happened at `at` (RFC 3339). The
/// history refuses updates: its guard is lifted for this one transaction
/// and put back as it was.
pub async fn backdate_history(app: &TestApp, at: &str) {
    match &app.state.db {
        db::Database::Sqlite(pool) => {
            let guard: String =
                sqlx::query_scalar("select sql from sqlite_master where name = 'history_is_append_only'")
                    .fetch_one(pool)
                    .await
                    .unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("drop trigger history_is_append_only").execute(&mut *tx).await.unwrap();
            sqlx::query("update history set at = $1").bind(at).execute(&mut *tx).await.unwrap();
            sqlx::query(&guard).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
        db::Database::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query("alter table history disable trigger history_is_append_only").execute(&mut *tx).await.unwrap();
            sqlx::query("update history set at = $1::timestamptz").bind(at).execute(&mut *tx).await.unwrap();
            sqlx::query("alter table history enable trigger history_is_append_only").execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
}

/// `../shared/atlas`, or `None` (with a note) when absent outside CI.
/// Under CI the official files must be there.
pub fn shared_atlas() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/atlas");
    if dir.join("ATLAS-2026.05.yaml").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the official ATLAS files are missing from {}",
        dir.display()
    );
    eprintln!("SKIPPED: {} is absent, so the tests against the official ATLAS files did not run", dir.display());
    None
}

pub fn official(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
}

/// Form posts as a browser sends them, with and without htmx, and an open event stream.
impl TestApp {
    pub async fn post_form(&self, path: &str, body: &str) -> crate::helpers::Reply {
        self.request(
            axum::http::Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn post_htmx(&self, path: &str, body: &str) -> crate::helpers::Reply {
        self.request(
            axum::http::Method::POST,
            path,
            &[("content-type", "application/x-www-form-urlencoded"), ("hx-request", "true")],
            body.as_bytes().to_vec(),
        )
        .await
    }

    /// Opens a server-sent event stream and returns its body once the headers arrived.
    pub async fn open_stream(&self, path: &str) -> hyper::body::Incoming {
        self.open_stream_as(path, &self.admin_cookie).await
    }

    /// Opens a server-sent event stream as the account or guest behind `cookie`.
    pub async fn open_stream_as(&self, path: &str, cookie: &str) -> hyper::body::Incoming {
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Empty<axum::body::Bytes>>();
        let request = axum::http::Request::get(format!("{}{path}", self.base))
            .header("accept", "text/event-stream")
            .header("cookie", cookie)
            .body(http_body_util::Empty::new())
            .expect("request");
        let response = client.request(request).await.expect("the stream opens");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        // The subscription is taken before the first byte; give it a moment to settle.
        tokio::time::sleep(Duration::from_millis(50)).await;
        response.into_body()
    }
}

/// Everything a stream sends until it ends; `None` if it is still open after `wait`.
pub async fn until_stream_ends(mut body: hyper::body::Incoming, wait: Duration) -> Option<String> {
    let mut text = String::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Some(data) = frame.data_ref() {
                text.push_str(&String::from_utf8_lossy(data));
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().map(|()| text)
}

/// Creates a team and a system through the forms; returns the system's page path.
pub async fn team_and_system(app: &TestApp, system_name: &str) -> String {
    let team = app.post_form("/teams", "name=Red+Team&description=Workshop").await;
    assert_eq!(team.status, StatusCode::SEE_OTHER, "{}", team.body);
    let team_path = team.header("location").to_string();
    let system = app
        .post_form(
            &format!("{team_path}/systems"),
            &format!(
                "name={}&owner=Ana&platforms=Generative+AI&platforms=Agentic+AI&exposure=public&criticality=high&framework_version=2026.05",
                system_name.replace(' ', "+")
            ),
        )
        .await;
    assert_eq!(system.status, StatusCode::SEE_OTHER, "{}", system.body);
    system.header("location").to_string()
}
