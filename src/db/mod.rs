//! The database layer: the SQLite connection pool, migrations, and one
//! module of queries per table group. SQL lives only here.

pub mod accounts;
pub mod controls;
pub mod decisions;
pub mod history;
pub mod releases;
pub mod systems;
pub mod teams;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::sqlite::SqliteConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqlitePool};

/// The database the application works on.
pub type Database = SqlitePool;

/// File name of the database inside the data directory.
pub const DATABASE_FILE: &str = "atlascope.sqlite";

/// Opens the database in `data_dir` and applies migrations; refuses a data
/// directory without a database (a mistyped `--data-dir` must not create an
/// empty one). [`create`] makes a new one.
pub async fn open_existing(data_dir: &Path) -> anyhow::Result<SqlitePool> {
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
pub async fn open(data_dir: &Path) -> anyhow::Result<SqlitePool> {
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
    Ok(pool)
}

/// Applies the migrations on a connection of its own with foreign keys off,
/// so that a migration can rebuild a table the way SQLite documents
/// (`0004`), then checks every foreign key.
async fn migrate(options: SqliteConnectOptions) -> anyhow::Result<()> {
    let mut connection = options.foreign_keys(false).connect().await?;
    sqlx::migrate!().run(&mut connection).await?;
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
