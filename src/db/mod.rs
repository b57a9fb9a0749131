//! The database layer: opening the database, migrations, and one module of
//! queries per table group. SQL lives only here, and rows leave it only as
//! the typed records of [`crate::domain`]: a stored value that does not
//! decode is an error naming its table, row and column ([`DecodeError`]).
//!
//! # The storage seam
//!
//! [`Database`] is an enum over the back ends: SQLite (one file, the
//! default) and PostgreSQL (several instances on one database). A query
//! runs on an [`Exec`]: the pool, or the connection of an open [`Tx`].
//! Every query function is written once, as a body that the
//! [`on_backend!`] macro instantiates for each back end's executor, so SQL
//! text shared by the back ends (placeholders are `$1`, `$2`, …, which both
//! read) is written once; a statement whose dialect differs matches on
//! [`Exec::is_postgres`] instead. Values stored differently by the two
//! (times, days, JSON) are bound and read through [`value`]. Each back end
//! has its own migrations with the same meaning; services do not know which
//! one they run on.

pub mod accounts;
pub mod backup;
pub mod controls;
pub mod copy;
pub mod decisions;
pub mod detections;
pub mod history;
pub mod identity;
pub mod releases;
pub mod reviews;
pub mod systems;
pub mod team_snapshots;
pub mod teams;
pub mod value;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqlitePool};

pub use postgres::{CHANNEL, PostgresTarget, open_postgres};

mod postgres;

/// The database the application works on: a pool of one back end.
#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Database {
    /// Starts a write transaction that holds the database's write turn at
    /// once, so that what it reads stays true until it commits, whichever
    /// process writes beside it: SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a
    /// transaction-scoped advisory lock that every writer of every instance
    /// takes (released by commit or rollback, never held by a dead process).
    pub async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Database::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("select pg_advisory_xact_lock($1)").bind(postgres::WRITE_TURN).execute(&mut *tx).await?;
                Ok(Tx::Postgres(Box::new(postgres::PgTransaction::new(tx))))
            }
        }
    }

    /// Starts a read transaction: one consistent view of the data.
    pub async fn begin_read(&self) -> Result<Tx, sqlx::Error> {
        match self {
            Database::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin().await?)),
            Database::Postgres(pool) => {
                let tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?;
                Ok(Tx::Postgres(Box::new(postgres::PgTransaction::new(tx))))
            }
        }
    }

    /// The SQLite pool, where one is in use (backups, tests).
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match self {
            Database::Sqlite(pool) => Some(pool),
            Database::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, where one is in use (notifications, tests).
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Database::Postgres(pool) => Some(pool),
            Database::Sqlite(_) => None,
        }
    }

    /// The back end's name, for messages and the health report.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "SQLite",
            Database::Postgres(_) => "PostgreSQL",
        }
    }

    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// An open transaction; it rolls back when dropped uncommitted.
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(Box<postgres::PgTransaction>),
}

impl Tx {
    /// Notes that this transaction changes what a system's coverage is
    /// built from (`system_id`), or a team's definitions every system of
    /// the team reads (`None`). On PostgreSQL the other instances are told
    /// by the commit itself, so that no crash between the commit and a later
    /// word can leave them a stale snapshot.
    pub fn touches(&mut self, team_id: i64, system_id: Option<i64>) {
        if let Tx::Postgres(tx) = self {
            tx.touches(team_id, system_id);
        }
    }

    /// Names the instance whose transaction this is (its own notifications
    /// are ignored when they come back).
    pub fn from_instance(&mut self, origin: u64) {
        if let Tx::Postgres(tx) = self {
            tx.origin = origin;
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.rollback().await,
            Tx::Postgres(tx) => tx.tx.rollback().await,
        }
    }
}

/// Where a query runs: a pool, or the connection of an open transaction.
pub enum Exec<'a> {
    SqlitePool(&'a SqlitePool),
    Sqlite(&'a mut SqliteConnection),
    PostgresPool(&'a PgPool),
    Postgres(&'a mut PgConnection),
}

impl Exec<'_> {
    /// The same place for one more query (a transaction's connection is
    /// lent again; a pool is shared).
    pub fn reborrow(&mut self) -> Exec<'_> {
        match self {
            Exec::SqlitePool(pool) => Exec::SqlitePool(pool),
            Exec::Sqlite(connection) => Exec::Sqlite(connection),
            Exec::PostgresPool(pool) => Exec::PostgresPool(pool),
            Exec::Postgres(connection) => Exec::Postgres(connection),
        }
    }

    /// Whether the query runs on PostgreSQL, for the few statements whose
    /// dialect differs.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Exec::PostgresPool(_) | Exec::Postgres(_))
    }
}

impl<'a> From<&'a Database> for Exec<'a> {
    fn from(database: &'a Database) -> Self {
        match database {
            Database::Sqlite(pool) => Exec::SqlitePool(pool),
            Database::Postgres(pool) => Exec::PostgresPool(pool),
        }
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        match tx {
            Tx::Sqlite(tx) => Exec::Sqlite(&mut *tx),
            Tx::Postgres(tx) => Exec::Postgres(&mut tx.tx),
        }
    }
}

/// Runs `$body` with `$executor` bound to the back end's executor of an
/// [`Exec`]: the body is written once and compiled for every back end.
macro_rules! on_backend {
    ($exec:expr, $executor:ident => $body:expr) => {
        match $exec {
            $crate::db::Exec::SqlitePool($executor) => $body,
            $crate::db::Exec::Sqlite($executor) => $body,
            $crate::db::Exec::PostgresPool($executor) => $body,
            $crate::db::Exec::Postgres($executor) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Whether an error says the database cannot be reached at the moment (a
/// PostgreSQL restart, a dropped connection, an exhausted pool) rather than
/// that the request or the data is wrong: the request may succeed again.
pub fn is_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // A connection cut off mid-message reads as a protocol error.
        sqlx::Error::Protocol(_) => true,
        // Class 08: connection exception; 57P0x: the server is shutting down or starting.
        sqlx::Error::Database(database) => {
            database.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
        }
        _ => false,
    }
}

/// A stored value that does not decode into its record.
#[derive(Debug, thiserror::Error)]
#[error("table {table}, row {row}, column {column}: {problem}")]
pub struct DecodeError {
    pub table: &'static str,
    /// The row's key, e.g. `id 7` or `system 3, AML.T0051`.
    pub row: String,
    pub column: &'static str,
    pub problem: String,
}

/// A [`DecodeError`] as the query's error.
pub(crate) fn decode_error(
    table: &'static str,
    row: impl std::fmt::Display,
    column: &'static str,
    problem: impl std::fmt::Display,
) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(DecodeError { table, row: row.to_string(), column, problem: problem.to_string() }))
}

/// Decodes a stored vocabulary value (`applies`, `planned`, …).
pub(crate) fn decode_word<T>(
    parse: impl Fn(&str) -> Result<T, String>,
    raw: &str,
    table: &'static str,
    row: impl std::fmt::Display,
    column: &'static str,
) -> Result<T, sqlx::Error> {
    parse(raw).map_err(|problem| decode_error(table, row, column, problem))
}

/// Decodes a stored RFC 3339 time.
pub(crate) fn decode_time(
    raw: &str,
    table: &'static str,
    row: impl std::fmt::Display,
    column: &'static str,
) -> Result<crate::domain::records::Timestamp, sqlx::Error> {
    crate::domain::records::parse_timestamp(raw)
        .ok_or_else(|| decode_error(table, row, column, format!("`{raw}` is not an RFC 3339 time")))
}

/// Decodes a stored `YYYY-MM-DD` day.
pub(crate) fn decode_day(
    raw: &str,
    table: &'static str,
    row: impl std::fmt::Display,
    column: &'static str,
) -> Result<time::Date, sqlx::Error> {
    time::Date::parse(raw, &time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| decode_error(table, row, column, format!("`{raw}` is not a date (YYYY-MM-DD)")))
}

/// A time to bind (stored in UTC, to the second).
pub(crate) fn time_param(at: crate::domain::records::Timestamp) -> value::TimeParam {
    value::TimeParam(at)
}

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "atlascope.sqlite";

/// Where an installation keeps its data: the SQLite file in a data
/// directory (the default), or a PostgreSQL database that several
/// instances share.
#[derive(Debug, Clone)]
pub enum Location {
    SqliteDir(PathBuf),
    Postgres(Box<PostgresTarget>),
}

impl Location {
    /// The data directory, unless a database URL is given: `postgres://…`
    /// selects PostgreSQL; `sqlite:DIR` (or a bare path) a data directory.
    pub fn from_options(data_dir: PathBuf, database_url: Option<&str>) -> anyhow::Result<Location> {
        match database_url.map(str::trim).filter(|url| !url.is_empty()) {
            None => Ok(Location::SqliteDir(data_dir)),
            Some(url) => Location::parse(url),
        }
    }

    /// A location written as a URL or a path (`db copy --from/--to`): a
    /// `postgres://` URL, or a data directory as `sqlite:DIR`, `sqlite://DIR`
    /// or a plain path (a path to the database file names its directory).
    pub fn parse(text: &str) -> anyhow::Result<Location> {
        if PostgresTarget::is_postgres_url(text) {
            return Ok(Location::Postgres(Box::new(PostgresTarget::parse(text)?)));
        }
        let path = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")).unwrap_or(text);
        if path.contains("://") {
            anyhow::bail!(
                "`{}` is neither a postgres:// URL nor a data directory (sqlite:DIR)",
                path.split("://").next().unwrap_or_default()
            );
        }
        if path.is_empty() {
            anyhow::bail!("a sqlite: location needs a data directory (sqlite:/var/lib/atlascope)");
        }
        let path = PathBuf::from(path);
        if path.file_name().is_some_and(|name| name == DATABASE_FILE) {
            return Ok(Location::SqliteDir(path.parent().map(Path::to_path_buf).unwrap_or_default()));
        }
        Ok(Location::SqliteDir(path))
    }

    /// Opens the database and applies migrations. With `create` false a
    /// location without an atlascope database is refused (a mistyped
    /// `--data-dir` or URL must not set up an empty one).
    pub async fn open(&self, create: bool) -> anyhow::Result<Database> {
        match self {
            Location::SqliteDir(dir) if create => open(dir).await,
            Location::SqliteDir(dir) => open_existing(dir).await,
            Location::Postgres(target) => open_postgres(target, create).await,
        }
    }

    /// The data directory, when the data lives in SQLite.
    pub fn sqlite_dir(&self) -> Option<&Path> {
        match self {
            Location::SqliteDir(dir) => Some(dir),
            Location::Postgres(_) => None,
        }
    }
}

impl std::fmt::Display for Location {
    /// For messages and the log: the file, or the server without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::SqliteDir(dir) => write!(f, "{}", dir.join(DATABASE_FILE).display()),
            Location::Postgres(target) => write!(f, "PostgreSQL at {target}"),
        }
    }
}

/// Opens the database in `data_dir` and applies migrations; refuses a data
/// directory without a database (a mistyped `--data-dir` must not create an
/// empty one). [`open`] makes a new one.
pub async fn open_existing(data_dir: &Path) -> anyhow::Result<Database> {
    let path = data_dir.join(DATABASE_FILE);
    if !path.is_file() {
        anyhow::bail!(
            "{} holds no atlascope database ({DATABASE_FILE}); check --data-dir (or ATLASCOPE_DATA_DIR), \
             or create one with `atlascope init` or by starting `atlascope serve`",
            data_dir.display()
        );
    }
    open(data_dir).await
}

/// Opens the database in `data_dir`, creating it on first use, and applies migrations.
pub async fn open(data_dir: &Path) -> anyhow::Result<Database> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join(DATABASE_FILE);
    let options = SqliteConnectOptions::from_str("sqlite://")?
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    migrate(options.clone()).await.with_context(|| format!("cannot apply migrations to {}", path.display()))?;
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .after_release(|connection, _| Box::pin(release_outside_transaction(connection)))
        .connect_with(options)
        .await
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    Ok(Database::Sqlite(pool))
}

/// `(owner id, technique ID)` rows grouped by owner, in the rows' order:
/// the techniques each control or detection maps to.
pub(crate) fn techniques_by_owner(links: Vec<(i64, String)>) -> std::collections::HashMap<i64, Vec<String>> {
    let mut grouped: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
    for (owner, technique) in links {
        grouped.entry(owner).or_default().push(technique);
    }
    grouped
}

/// Refuses a database whose newest applied migration this atlascope does not
/// know: a newer atlascope migrated it, and running an older one on it could
/// lose what the newer schema holds.
pub fn refuse_newer_schema(newest_applied: Option<i64>, known: &sqlx::migrate::Migrator) -> anyhow::Result<()> {
    let newest_known = known.iter().map(|m| m.version).max().unwrap_or(0);
    match newest_applied {
        Some(applied) if applied > newest_known => anyhow::bail!(
            "the database was migrated by a newer atlascope (schema version {applied}; this atlascope knows up to \
             {newest_known}): run that atlascope or a newer one, or restore a backup made by this one"
        ),
        _ => Ok(()),
    }
}

/// The PostgreSQL schema (`migrations/postgres`): the same meaning as the
/// SQLite migrations, for the PostgreSQL back end.
pub static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Applies the migrations on a connection of its own with foreign keys off,
/// so that a migration can rebuild a table the way SQLite documents
/// (`0004`), then checks every foreign key.
async fn migrate(options: SqliteConnectOptions) -> anyhow::Result<()> {
    let mut connection = options.foreign_keys(false).connect().await?;
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let recorded: i64 =
        sqlx::query_scalar("select count(*) from sqlite_master where type = 'table' and name = '_sqlx_migrations'")
            .fetch_one(&mut connection)
            .await?;
    if recorded > 0 {
        let newest: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations").fetch_one(&mut connection).await?;
        refuse_newer_schema(newest, &migrator)?;
    }
    migrator.run(&mut connection).await?;
    let broken: Vec<(String, i64, String)> =
        sqlx::query_as("select \"table\", rowid, parent from pragma_foreign_key_check")
            .fetch_all(&mut connection)
            .await?;
    if let Some((table, row, parent)) = broken.first() {
        anyhow::bail!(
            "after the migrations, row {row} of table {table} refers to a missing row of {parent} ({} such rows)",
            broken.len()
        );
    }
    connection.close().await?;
    Ok(())
}

/// Keeps a connection out of the pool while it is still inside a
/// transaction. A dropped `Transaction` queues its rollback, which the ping
/// flushes; a transaction that nothing will ever end (sqlx 0.8 leaks one
/// when `begin_with` is cancelled between `BEGIN IMMEDIATE` and its check)
/// would hold SQLite's write lock for good, so that connection is closed,
/// which rolls the transaction back.
async fn release_outside_transaction(connection: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    connection.ping().await?;
    if connection.is_in_transaction() {
        tracing::warn!("a connection came back inside a transaction; closing it to roll the transaction back");
        return Ok(false);
    }
    Ok(true)
}

/// The lock a running server holds on its data directory, so that commands
/// that must not run beside it (`restore`) can refuse.
pub struct ServerLock {
    _file: std::fs::File,
}

/// File name of the server lock inside the data directory.
pub const LOCK_FILE: &str = "atlascope.lock";

impl ServerLock {
    /// Takes the lock for this process, writing its pid into the file; fails
    /// when another process holds it.
    pub fn acquire(data_dir: &Path) -> anyhow::Result<ServerLock> {
        use std::io::Write;
        let path = data_dir.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        if file.try_lock().is_err() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another atlascope server (pid {}) is running on {}; stop it first",
                holder.trim(),
                data_dir.display()
            );
        }
        file.set_len(0)?;
        write!(file, "{}", std::process::id())?;
        Ok(ServerLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_newer_than_every_known_migration_is_refused_on_both_back_ends() {
        let sqlite = sqlx::migrate!("./migrations/sqlite");
        for known in [&sqlite, &POSTGRES_MIGRATIONS] {
            let newest = known.iter().map(|m| m.version).max().expect("migrations");
            assert!(refuse_newer_schema(None, known).is_ok(), "a new database");
            assert!(refuse_newer_schema(Some(newest), known).is_ok(), "this atlascope's own schema");
            let error = refuse_newer_schema(Some(newest + 1), known).expect_err("a newer schema");
            assert!(error.to_string().contains(&format!("schema version {}", newest + 1)), "{error}");
        }
    }
}
