//! The PostgreSQL back end on a real PostgreSQL server: its schema (the
//! same tables and columns as the SQLite one, and the same meaning:
//! case-insensitive names, cascades, checks, the append-only history, time
//! stored as time), every other test of this binary run again on it, its
//! start-up errors, and moving an installation there and back with
//! `atlascope db copy`. `.ci/run` starts a throw-away cluster and names it
//! in `ATLASCOPE_TEST_POSTGRES`; without it these tests say so and pass,
//! except under `CI`, where they must run.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{PgPool, Row};

use crate::helpers::{TestApp, fresh_postgres_database, on_postgres, postgres_cluster};

/// The server's URL, or `None` (with a word on stderr) when there is none
/// here, or when this is the PostgreSQL run of the suite (these tests ran
/// in the run that started it).
fn server_url() -> Option<String> {
    if on_postgres() {
        return None;
    }
    match postgres_cluster() {
        Some(url) => Some(url),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: ATLASCOPE_TEST_POSTGRES is not set (.ci/run starts a cluster)")
        }
        None => {
            eprintln!(
                "PostgreSQL tests skipped: ATLASCOPE_TEST_POSTGRES is not set (.ci/run starts a throw-away cluster)"
            );
            None
        }
    }
}

/// A new, empty database on the server, with the PostgreSQL migrations applied.
async fn migrated_database() -> PgPool {
    let pool = PgPool::connect(&fresh_postgres_database().await).await.expect("the new database");
    atlascope::db::POSTGRES_MIGRATIONS.run(&pool).await.expect("the PostgreSQL migrations apply");
    pool
}

/// Table → column → declared type, of a fresh SQLite database made by the application.
async fn sqlite_columns() -> BTreeMap<String, BTreeMap<String, String>> {
    let dir = tempfile::tempdir().expect("a folder");
    let db = atlascope::db::open(dir.path()).await.expect("a SQLite database");
    let pool = db.sqlite().expect("SQLite").clone();
    let rows = sqlx::query(
        "select m.name, p.name, p.type from sqlite_master m join pragma_table_info(m.name) p
         where m.type = 'table' and m.name not like 'sqlite_%' and m.name not like '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .expect("the schema");
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        tables.entry(row.get(0)).or_default().insert(row.get(1), row.get::<String, _>(2).to_lowercase());
    }
    tables
}

async fn postgres_columns(pool: &PgPool) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows = sqlx::query(
        "select table_name::text, column_name::text, data_type::text from information_schema.columns
         where table_schema = 'public' and table_name not like '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .expect("the schema");
    let mut tables: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        tables.entry(row.get(0)).or_default().insert(row.get(1), row.get(2));
    }
    tables
}

#[tokio::test]
async fn the_postgres_schema_has_every_table_and_column_of_the_sqlite_one_with_time_as_time() {
    let Some(_) = server_url() else { return };
    let pool = migrated_database().await;
    let (sqlite, postgres) = (sqlite_columns().await, postgres_columns(&pool).await);
    let names = |t: &BTreeMap<String, BTreeMap<String, String>>| t.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(names(&sqlite), names(&postgres), "the same tables");
    for (table, columns) in &sqlite {
        let theirs = &postgres[table];
        let (ours, pg): (BTreeSet<&String>, BTreeSet<&String>) = (columns.keys().collect(), theirs.keys().collect());
        assert_eq!(ours, pg, "{table}: the same columns");
        for (column, sqlite_type) in columns {
            let pg_type = theirs[column].as_str();
            let expected: &[&str] = match (column.as_str(), sqlite_type.as_str()) {
                (c, "text") if c.ends_with("_at") || c == "at" => &["timestamp with time zone"],
                ("target_date" | "expires_on", _) => &["date"],
                ("platforms" | "data_sources" | "before" | "after", _) => &["jsonb"],
                ("suggested" | "is_admin", _) => &["boolean"],
                (_, "integer") => &["bigint"],
                (_, _) => &["text"],
            };
            assert!(expected.contains(&pg_type), "{table}.{column}: {sqlite_type} on SQLite, {pg_type} on PostgreSQL");
        }
    }
    // Applying them again changes nothing.
    atlascope::db::POSTGRES_MIGRATIONS.run(&pool).await.expect("a second run is a no-op");
}

#[tokio::test]
async fn the_postgres_schema_keeps_names_case_insensitive_cascades_checks_and_an_append_only_history() {
    let Some(_) = server_url() else { return };
    let pool = migrated_database().await;
    let team: i64 = sqlx::query_scalar(
        "insert into teams (name, created_at, updated_at) values ('Red Team', now(), now()) returning id",
    )
    .fetch_one(&pool)
    .await
    .expect("a team");
    let duplicate = sqlx::query("insert into teams (name, created_at, updated_at) values ('red TEAM', now(), now())")
        .execute(&pool)
        .await
        .expect_err("team names are unique without regard to case");
    assert!(duplicate.as_database_error().is_some_and(|e| e.is_unique_violation()), "{duplicate}");
    let system: i64 = sqlx::query_scalar(
        "insert into systems (team_id, name, exposure, criticality, framework_version, created_at, updated_at)
         values ($1, 'Chatbot', 'public', 'high', '2026.05', now(), now()) returning id",
    )
    .bind(team)
    .fetch_one(&pool)
    .await
    .expect("a system");
    let bad = sqlx::query(
        "insert into assessments (system_id, technique_id, applicability, updated_by, updated_at)
         values ($1, 'AML.T0051', 'maybe', 'ana', now())",
    )
    .bind(system)
    .execute(&pool)
    .await
    .expect_err("a value outside the vocabulary");
    assert!(bad.as_database_error().is_some_and(|e| e.is_check_violation()), "{bad}");
    let entry: i64 = sqlx::query_scalar(
        "insert into history (team_id, system_id, actor, at, entity, item, summary, after)
         values ($1, $2, 'ana', now(), 'assessment', 'AML.T0051', 'applies', '{\"applicability\": \"applies\"}')
         returning id",
    )
    .bind(team)
    .bind(system)
    .fetch_one(&pool)
    .await
    .expect("an entry");
    let rewrite = sqlx::query("update history set summary = 'rewritten' where id = $1")
        .bind(entry)
        .execute(&pool)
        .await
        .expect_err("the history is append-only");
    assert!(rewrite.to_string().contains("history is append-only"), "{rewrite}");
    sqlx::query(
        "insert into detections (team_id, name, rule_id, created_at, updated_at) values ($1, 'Watch', 'R-1', now(), now())",
    )
    .bind(team)
    .execute(&pool)
    .await
    .expect("a detection");
    let same_rule = sqlx::query(
        "insert into detections (team_id, name, rule_id, created_at, updated_at) values ($1, 'Again', 'r-1', now(), now())",
    )
    .bind(team)
    .execute(&pool)
    .await
    .expect_err("a rule id once per team, without regard to case");
    assert!(same_rule.as_database_error().is_some_and(|e| e.is_unique_violation()), "{same_rule}");

    sqlx::query("delete from teams where id = $1").bind(team).execute(&pool).await.expect("the team goes");
    for table in ["systems", "history", "detections"] {
        let left: i64 =
            sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(&pool).await.expect("a count");
        assert_eq!(left, 0, "{table}: deleting a team removes what it owns");
    }
}

/// Runs every test of this binary again with its servers on PostgreSQL (a
/// database of their own each), the same test bodies: the back ends must
/// behave alike. Left out: the real-browser and fuzzer tests (what they
/// check does not depend on the back end, and they are the slowest) and
/// this module (it runs here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_test_again_on_postgres() {
    let Some(_) = server_url() else { return };
    let binary = std::env::current_exe().expect("this test binary");
    let output = tokio::process::Command::new(binary)
        .args(["--skip", "postgres::", "--skip", "browser::", "--skip", "projector::", "--skip", "contract::"])
        .env("ATLASCOPE_TEST_BACKEND", "postgres")
        .output()
        .await
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().filter(|line| line.starts_with("test result:")).collect::<Vec<_>>().join("\n");
    eprintln!("on PostgreSQL: {summary}");
    if !output.status.success() {
        let failures: Vec<&str> = stdout.lines().filter(|line| line.ends_with("FAILED")).collect();
        let tail: String =
            stdout.lines().rev().take(200).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        panic!(
            "tests failed on PostgreSQL:\n{}\n\n{tail}\n{}",
            failures.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(summary.contains(" passed"), "the PostgreSQL run ran tests: {stdout}");
}

/// `atlascope` with these arguments; its exit status and output.
async fn atlascope(args: &[&str], database_url: Option<&str>) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_atlascope"));
    command.args(args).env("RUST_LOG", "info").env_remove("ATLASCOPE_DATABASE_URL");
    if let Some(url) = database_url {
        command.env("ATLASCOPE_DATABASE_URL", url);
    }
    let output = command.output().await.expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_bad_database_url_stops_start_up_naming_the_host_and_cause_but_never_the_password() {
    let Some(cluster) = server_url() else { return };
    let (base, _) = cluster.rsplit_once('/').expect("a URL with a database");
    let host_port = base.rsplit_once('@').map_or(base, |(_, host)| host);
    let unreachable = "postgres://ops:hunter2-secret@127.0.0.1:1/atlas".to_string();
    let unknown_database = format!("postgres://ops:hunter2-secret@{host_port}/no_such_database_{}", std::process::id());
    let malformed = "postgres://ops:hunter2-secret@db.internal:port/atlas".to_string();
    // The test cluster speaks no TLS: a URL that requires it is refused.
    let tls_required = format!("postgres://ops:hunter2-secret@{host_port}/postgres?sslmode=require");
    let cases = [
        (unreachable, "127.0.0.1:1", "cannot reach the server"),
        (unknown_database, host_port, "does not exist"),
        (malformed, "db.internal", "malformed"),
        (tls_required, host_port, "TLS"),
    ];
    for (url, host, cause) in cases {
        for command in [&["user", "list"][..], &["init"][..]] {
            let (ok, out, err) = atlascope(command, Some(&url)).await;
            assert!(!ok, "{command:?} with {host}: refused");
            assert!(err.contains(host) && err.contains(cause), "{command:?}: names {host} and {cause}: {err}");
            assert!(!err.contains("hunter2") && !out.contains("hunter2"), "{command:?}: no password: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    // A database atlascope never set up is refused by every command but
    // `init` and `serve`, as a data directory without a database is.
    let empty = fresh_postgres_database().await;
    let (ok, _, err) = atlascope(&["user", "list"], Some(&empty)).await;
    assert!(!ok && err.contains("holds no atlascope database"), "{err}");
    let (ok, out, err) = atlascope(&["init"], Some(&empty)).await;
    assert!(ok, "{err}");
    assert!(out.contains("created") && out.contains("PostgreSQL at"), "{out}");
    let (ok, _, err) = atlascope(&["user", "list"], Some(&empty)).await;
    assert!(ok, "an initialised database: {err}");
    // A newer atlascope's schema is refused, and left as it was.
    let pool = PgPool::connect(&empty).await.expect("the database");
    sqlx::query(
        "insert into _sqlx_migrations (version, description, success, checksum, execution_time) \
         values (99990101000000, 'from the future', true, '\\x00', 0)",
    )
    .execute(&pool)
    .await
    .expect("a newer migration recorded");
    let (ok, _, err) = atlascope(&["user", "list"], Some(&empty)).await;
    assert!(!ok && err.contains("newer atlascope") && err.contains("99990101000000"), "{err}");
    let still: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where version = 99990101000000")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(still, 1, "the newer schema is left as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_copy_moves_an_installation_to_postgres_and_back_and_refuses_a_non_empty_target() {
    let Some(_) = server_url() else { return };
    let app = TestApp::spawn().await;
    let system = crate::helpers::team_and_system(&app, "Support Chatbot").await;
    let id = system.trim_start_matches("/systems/").to_string();
    for (technique, applicability) in [("AML.T0051", "applies"), ("AML.T0024", "not_applicable")] {
        let reply = app
            .put_json(
                &format!("/api/v1/systems/{id}/assessments/{technique}"),
                &serde_json::json!({ "applicability": applicability, "rationale": "reviewed in the workshop" }),
            )
            .await;
        assert_eq!(reply.status, crate::helpers::StatusCode::OK, "{}", reply.body);
    }
    let admin = atlascope::db::accounts::user_by_name(&app.state.db, crate::helpers::ADMIN).await.unwrap().unwrap();
    let token = atlascope::service::accounts::create_token(
        &app.state,
        admin.id,
        "ci",
        atlascope::domain::accounts::TokenScope::Read,
        None,
        30,
    )
    .await
    .expect("a token")
    .secret;
    let coverage_before = app.get(&format!("/api/v1/systems/{id}/coverage")).await.body;
    let history_before = app.get(&format!("/api/v1/systems/{id}/history")).await.body;
    let dir = app.stop().await.expect("the data directory");
    let sqlite = dir.path().to_str().expect("a UTF-8 path").to_string();

    let postgres = fresh_postgres_database().await;
    let (ok, out, err) = atlascope(&["db", "copy", "--from", &sqlite, "--to", &postgres], None).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("history") && out.contains("api_tokens"), "the counts are listed: {out}");
    assert!(!out.contains(&postgres) || !postgres.contains('@'), "no URL with credentials is echoed");
    let (ok, _, err) = atlascope(&["db", "copy", "--from", &sqlite, "--to", &postgres], None).await;
    assert!(!ok && err.contains("already holds data"), "a second copy is refused: {err}");

    // A server on the copy serves the same coverage and history, and the token still works.
    let location = atlascope::db::Location::parse(&postgres).expect("a URL");
    let on_postgres = TestApp::spawn_on(location).await;
    assert_eq!(on_postgres.state.db.backend_name(), "PostgreSQL");
    let bearer = format!("Bearer {token}");
    let coverage = on_postgres.get_with(&format!("/api/v1/systems/{id}/coverage"), &[("authorization", &bearer)]).await;
    assert_eq!(coverage.status, crate::helpers::StatusCode::OK, "the token was copied: {}", coverage.body);
    assert_eq!(coverage.body, coverage_before);
    let history = on_postgres.get_with(&format!("/api/v1/systems/{id}/history"), &[("authorization", &bearer)]).await;
    assert_eq!(history.body, history_before, "the history is copied entry by entry, ids and times included");
    // New rows take ids after the copied ones.
    let team = on_postgres.post_json("/api/v1/teams", &serde_json::json!({ "name": "Blue Team" })).await;
    assert_eq!(team.status, crate::helpers::StatusCode::CREATED, "{}", team.body);
    on_postgres.stop().await;

    // And back into a fresh data directory.
    let back = tempfile::tempdir().expect("a folder");
    let back_path = back.path().to_str().expect("UTF-8").to_string();
    let (ok, out, err) =
        atlascope(&["db", "copy", "--from", &postgres, "--to", &format!("sqlite:{back_path}")], None).await;
    assert!(ok, "{out}{err}");
    let original = atlascope::db::copy::counts(&atlascope::db::open(dir.path()).await.unwrap()).await.unwrap();
    let on_postgres = atlascope::db::Location::parse(&postgres).unwrap().open(false).await.unwrap();
    let moved = atlascope::db::copy::counts(&on_postgres).await.unwrap();
    let returned = atlascope::db::copy::counts(&atlascope::db::open(back.path()).await.unwrap()).await.unwrap();
    assert_eq!(moved, returned, "every table made the way back");
    assert!(original["history"] >= 2 && original["api_tokens"] == 1 && original["sessions"] >= 1, "{original:?}");
    assert_eq!(returned["teams"], original["teams"] + 1, "with the team made on PostgreSQL");
}

/// Reads a stream until `wanted` arrives; the text read, or a panic after 5 s.
async fn read_until(stream: &mut hyper::body::Incoming, wanted: &str) -> String {
    use http_body_util::BodyExt;
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !received.contains(wanted) {
        let frame = tokio::time::timeout_at(deadline, stream.frame())
            .await
            .unwrap_or_else(|_| panic!("`{wanted}` within 5 s; got {received}"));
        if let Some(Ok(frame)) = frame
            && let Ok(data) = frame.into_data()
        {
            received.push_str(&String::from_utf8_lossy(&data));
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_share_changes_snapshots_conflicts_and_sign_outs() {
    use crate::helpers::StatusCode;
    let Some(_) = server_url() else { return };
    let url = fresh_postgres_database().await;
    let location = || atlascope::db::Location::parse(&url).expect("a URL");
    let first = TestApp::spawn_on(location()).await;
    let second = TestApp::spawn_on(location()).await;
    let system = crate::helpers::team_and_system(&first, "Support Chatbot").await;

    // The second instance has the system's snapshot cached and a stream open.
    let coverage = format!("/api/v1{system}/assessments/AML.T0051");
    assert_eq!(second.get(&coverage).await.json()["version"], 0);
    let mut stream = second.open_stream(&format!("{system}/events")).await;

    // A change through the first reaches the second's stream and its snapshot.
    let saved = first.post_htmx(&format!("{system}/techniques/AML.T0051"), "applicability=applies&version=0").await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let received = read_until(&mut stream, "event: item-AML_T0051").await;
    assert!(received.contains("event: state-AML_T0051"), "{received}");
    let seen = second.get(&coverage).await.json();
    assert_eq!(
        (seen["applicability"].as_str(), seen["version"].as_i64()),
        (Some("applies"), Some(1)),
        "no stale snapshot"
    );

    // A write through the second that read the version before is refused.
    let stale = second
        .request(
            axum::http::Method::PUT,
            &coverage,
            &[("if-match", "\"0\""), ("content-type", "application/json")],
            br#"{"applicability": "not_applicable"}"#.to_vec(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
    let form =
        second.post_htmx(&format!("{system}/techniques/AML.T0051"), "applicability=not_applicable&version=0").await;
    assert!(
        form.body.contains("changed") || form.status == StatusCode::CONFLICT,
        "the workshop form too: {}",
        form.body
    );
    assert_eq!(first.get(&coverage).await.json()["applicability"], "applies", "the first write stands");

    // Signing out on one instance ends the session on the other at once
    // (not after the principal cache's time to live).
    let cookie = first.member("vic", 1, Some(atlascope::auth::Role::Editor)).await;
    assert_eq!(second.get_with(&coverage, &[("cookie", &cookie)]).await.status, StatusCode::OK, "cached there now");
    first.sign_out(&cookie).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let status = second.get_with(&coverage, &[("cookie", &cookie)]).await.status;
        if status == StatusCode::UNAUTHORIZED || status.is_redirection() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the ended session still works on the other instance");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // An instance that commits and dies before it can say so still leaves no
    // stale snapshot: the commit itself carries the word. (A core whose
    // relay never started writes as such an instance would.)
    assert_eq!(second.get(&coverage).await.json()["risk"], serde_json::Value::Null, "cached on the second");
    let database = location().open(false).await.expect("the database");
    let catalog = atlascope::releases::load_catalog(&database, None).await.expect("the releases");
    let silent = atlascope::core::Core::new(database, std::sync::Arc::new(catalog));
    let system_id: i64 = system.trim_start_matches("/systems/").parse().expect("an id");
    let rated = atlascope::domain::records::AssessmentChange {
        risk: Some(Some(atlascope::domain::Rating::High)),
        ..Default::default()
    };
    let actor = atlascope::service::Actor("ana".into());
    atlascope::service::decisions::set_assessment(&silent, system_id, "AML.T0051", rated, None, &actor)
        .await
        .expect("written");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while second.get(&coverage).await.json()["risk"] != "high" {
        assert!(tokio::time::Instant::now() < deadline, "the second instance still serves its old snapshot");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A release imported through one instance is served by the other at once.
    if let Some(atlas) = crate::helpers::shared_atlas() {
        let file = crate::helpers::official(&atlas, "ATLAS-4.9.1.yaml");
        let added = first.post("/api/v1/frameworks?filename=ATLAS-4.9.1.yaml", file).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while !second.get("/api/v1/frameworks").await.body.contains("\"4.9.1\"") {
            assert!(tokio::time::Instant::now() < deadline, "the other instance serves the imported release");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    first.stop().await;
    second.stop().await;
}

/// A PostgreSQL cluster of a test's own (to restart under load without
/// disturbing the other tests), under `/tmp`, stopped when dropped.
struct OwnCluster {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    settings: String,
}

impl OwnCluster {
    /// Starts one, or `None` when PostgreSQL's server programs are not
    /// installed here (under `CI` they must be).
    fn start() -> Option<OwnCluster> {
        OwnCluster::start_with(&[])
    }

    /// Starts one with these server settings (`-c name=value` each).
    fn start_with(settings: &[String]) -> Option<OwnCluster> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .max();
        let Some(bin) = bin else {
            assert!(std::env::var_os("CI").is_none(), "CI must have PostgreSQL's server programs");
            eprintln!("skipped: no PostgreSQL server programs under /usr/lib/postgresql");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("atlascope-restart-pg").tempdir_in("/tmp").expect("a folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
        let cluster = OwnCluster { bin, dir, port, settings: settings.join(" ") };
        if cluster.as_root() {
            let chown = std::process::Command::new("chown").arg("postgres:postgres").arg(cluster.dir.path()).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown");
        }
        let data = cluster.dir.path().join("data");
        let init = cluster
            .command("initdb")
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        cluster.pg_ctl("start");
        Some(cluster)
    }

    fn as_root(&self) -> bool {
        std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"))
    }

    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        if self.as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            std::process::Command::new(path)
        }
    }

    /// `pg_ctl start`, `restart` or `stop`, waiting until it is done.
    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} {}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        let output = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "30", "-m", "fast", "-o", &options, action])
            .output()
            .expect("pg_ctl runs");
        assert!(output.status.success(), "pg_ctl {action}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_under_load_loses_no_acknowledged_write_and_the_instances_recover() {
    use crate::helpers::StatusCode;
    let Some(_) = server_url() else { return };
    let Some(cluster) = OwnCluster::start() else { return };
    let location = || atlascope::db::Location::parse(&cluster.url()).expect("a URL");
    let first = std::sync::Arc::new(TestApp::spawn_on(location()).await);
    let second = std::sync::Arc::new(TestApp::spawn_on(location()).await);
    let system = crate::helpers::team_and_system(&first, "Support Chatbot").await;
    let mut stream = second.open_stream(&format!("{system}/events")).await;
    let techniques: Vec<String> = first
        .get("/api/v1/frameworks/2026.05/techniques")
        .await
        .json()
        .as_array()
        .expect("techniques")
        .iter()
        .take(40)
        .map(|t| t["id"].as_str().expect("an id").to_string())
        .collect();

    // Two editors, one per instance, write without pause; every answered
    // write is noted with the version it was given.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let editor = |app: std::sync::Arc<TestApp>, offset: usize| {
        let (stop, techniques, system) = (stop.clone(), techniques.clone(), system.clone());
        tokio::spawn(async move {
            let mut acknowledged: Vec<(String, i64)> = Vec::new();
            let mut refused: Vec<u16> = Vec::new();
            let mut n = offset;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let technique = &techniques[n % techniques.len()];
                let choice = if n.is_multiple_of(3) { "applies" } else { "not_applicable" };
                let reply = app
                    .put_json(
                        &format!("/api/v1{system}/assessments/{technique}"),
                        &serde_json::json!({ "applicability": choice }),
                    )
                    .await;
                if reply.status == StatusCode::OK {
                    acknowledged.push((technique.clone(), reply.json()["version"].as_i64().expect("a version")));
                } else {
                    refused.push(reply.status.as_u16());
                }
                n += 2;
            }
            (acknowledged, refused)
        })
    };
    let writers = [editor(first.clone(), 0), editor(second.clone(), 1)];
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    cluster.pg_ctl("restart");
    // Both instances write again once PostgreSQL is back.
    for app in [&first, &second] {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let reply = app.get(&format!("/api/v1{system}/coverage")).await;
            if reply.status == StatusCode::OK {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the instance did not recover: {}", reply.body);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for writer in writers {
        let (written, refused) = writer.await.expect("the editor");
        eprintln!("an editor: {} writes answered, {} refused during the restart", written.len(), refused.len());
        acknowledged.extend(written);
        assert!(
            refused.iter().all(|status| *status == 503),
            "while PostgreSQL restarts a write is answered 503 (try again), never 500: {refused:?}"
        );
    }
    assert!(acknowledged.len() > 10, "the editors wrote: {}", acknowledged.len());
    for (technique, version) in &acknowledged {
        let stored = first.get(&format!("/api/v1{system}/assessments/{technique}")).await.json();
        assert!(
            stored["version"].as_i64().unwrap_or(0) >= *version,
            "{technique}: version {version} was acknowledged, the database holds {stored}"
        );
    }
    // Each acknowledged change (a new version of a technique; an unchanged
    // value answers with the version it had) left its history entry.
    let changes: std::collections::BTreeSet<&(String, i64)> = acknowledged.iter().collect();
    let entries = crate::helpers::count(&first, "select count(*) from history where entity = 'assessment'").await;
    assert!(entries >= changes.len() as i64, "{entries} history entries for {} acknowledged changes", changes.len());

    // The second instance listens again: it told its stream to re-sync, and
    // a change through the first reaches it.
    read_until(&mut stream, "event: resync").await;
    let technique = &techniques[0];
    let saved = first
        .put_json(&format!("/api/v1{system}/assessments/{technique}"), &serde_json::json!({ "rationale": "after" }))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    read_until(&mut stream, &format!("event: item-{}", technique.replace('.', "_"))).await;
}

#[tokio::test]
async fn a_database_url_asking_for_verified_tls_connects_over_tls_and_refuses_an_unknown_certificate() {
    let Some(_) = server_url() else { return };
    let certificates = tempfile::Builder::new().prefix("atlascope-tls").tempdir_in("/tmp").expect("a folder");
    let path = |name: &str| certificates.path().join(name).display().to_string();
    let (ca, ca_key, cert, key) = (path("ca.crt"), path("ca.key"), path("server.crt"), path("server.key"));
    let extensions = path("server.ext");
    std::fs::write(&extensions, "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n").expect("extensions");
    for args in [
        vec!["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=atlascope test CA"]
            .into_iter()
            .chain(["-keyout", &ca_key, "-out", &ca])
            .collect::<Vec<_>>(),
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &path("server.csr"),
        ],
        vec!["x509", "-req", "-days", "1", "-in", &path("server.csr"), "-CA", &ca, "-CAkey", &ca_key]
            .into_iter()
            .chain(["-CAcreateserial", "-extfile", &extensions, "-out", &cert])
            .collect(),
    ] {
        let made = std::process::Command::new("openssl").args(&args).output().expect("openssl runs");
        assert!(made.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&made.stderr));
    }
    // The server reads its key as the postgres user, and only a private one.
    let _ = std::process::Command::new("chown").arg("-R").arg("postgres:postgres").arg(certificates.path()).status();
    let _ = std::process::Command::new("chmod").arg("0600").arg(&key).status();
    let _ = std::process::Command::new("chmod").arg("0755").arg(certificates.path()).status();
    let settings = [format!("-c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}")];
    let Some(cluster) = OwnCluster::start_with(&settings) else { return };
    let verified = format!("{}?sslmode=verify-full&sslrootcert={ca}", cluster.url());
    let app = TestApp::spawn_on(atlascope::db::Location::parse(&verified).expect("a URL")).await;
    let pool = app.state.db.postgres().expect("PostgreSQL").clone();
    let encrypted: bool = sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("the connection's TLS state");
    assert!(encrypted, "the connection is encrypted");
    app.stop().await;
    // Without the certificate among the trusted ones, verification fails and says so.
    let (ok, _, err) = atlascope(&["user", "list"], Some(&format!("{}?sslmode=verify-full", cluster.url()))).await;
    assert!(!ok && err.contains("127.0.0.1") && err.contains("TLS"), "{err}");
}
