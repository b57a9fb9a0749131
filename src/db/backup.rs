//! Backups of the SQLite database and putting one back in place.

use std::path::Path;

use anyhow::Context;

use super::{DATABASE_FILE, Database};

/// Writes a consistent copy of the database to `file` (`VACUUM INTO` reads
/// one snapshot, even while the server writes).
pub async fn write(db: &Database, file: &Path) -> anyhow::Result<()> {
    let target = file.to_str().context("the backup path must be valid UTF-8")?;
    match db {
        Database::Sqlite(pool) => {
            sqlx::query("vacuum into $1")
                .bind(target)
                .execute(pool)
                .await
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        Database::Postgres(_) => anyhow::bail!(
            "`atlascope backup` copies a SQLite database; back up PostgreSQL with pg_dump (see the README), \
             or copy it into a SQLite file with `atlascope db copy`"
        ),
    }
    Ok(())
}

/// Checks that `file` is an atlascope database that passes SQLite's
/// integrity check; answers how many migrations it has applied.
pub async fn check(file: &Path) -> anyhow::Result<i64> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(file).read_only(true);
    let pool =
        sqlx::SqlitePool::connect_with(options).await.with_context(|| format!("cannot open {}", file.display()))?;
    let migrations: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .with_context(|| format!("{} is not an atlascope database", file.display()))?;
    let integrity: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&pool).await?;
    pool.close().await;
    if integrity != "ok" {
        anyhow::bail!("{} fails SQLite's integrity check: {integrity}", file.display());
    }
    Ok(migrations)
}

/// Puts a checked backup in place of the data directory's database in one
/// rename; the caller makes sure no server runs on it.
pub fn install(data_dir: &Path, file: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let database = data_dir.join(DATABASE_FILE);
    let staged = data_dir.join(format!("{DATABASE_FILE}.restoring"));
    std::fs::copy(file, &staged).with_context(|| format!("cannot copy {}", file.display()))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(data_dir.join(format!("{DATABASE_FILE}{suffix}")));
    }
    std::fs::rename(&staged, &database)?;
    Ok(database)
}
