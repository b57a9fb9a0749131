//! The PostgreSQL schema on a real PostgreSQL server: the same tables and
//! columns as the SQLite schema, and the same meaning (case-insensitive
//! names, cascades, checks, the append-only history), with time stored as
//! time. `.ci/run` starts a throw-away cluster and names it in
//! `ATLASCOPE_TEST_POSTGRES`; without it these tests say so and pass, except
//! under `CI`, where they must run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{Connection, Executor, PgPool, Row};

/// The server's URL, or `None` (with a word on stderr) when there is none here.
fn server_url() -> Option<String> {
    match std::env::var("ATLASCOPE_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must run the PostgreSQL tests: ATLASCOPE_TEST_POSTGRES is not set (.ci/run starts a cluster)")
        }
        _ => {
            eprintln!(
                "PostgreSQL tests skipped: ATLASCOPE_TEST_POSTGRES is not set (.ci/run starts a throw-away cluster)"
            );
            None
        }
    }
}

/// A new, empty database on the server, with the PostgreSQL migrations applied.
async fn migrated_database(url: &str) -> PgPool {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!("atlascope_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let mut admin = sqlx::PgConnection::connect(url).await.expect("the test server answers");
    admin.execute(format!("drop database if exists {name}").as_str()).await.expect("drop");
    admin.execute(format!("create database {name}").as_str()).await.expect("a database");
    let (base, _) = url.rsplit_once('/').expect("a URL ending in the database name");
    let pool = PgPool::connect(&format!("{base}/{name}")).await.expect("the new database");
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
    let Some(url) = server_url() else { return };
    let pool = migrated_database(&url).await;
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
    let Some(url) = server_url() else { return };
    let pool = migrated_database(&url).await;
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
