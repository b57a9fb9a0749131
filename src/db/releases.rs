//! Imported ATLAS releases, stored as their normalised model.

use sqlx::{FromRow, SqliteExecutor};

use crate::atlas::Release;

#[derive(Debug, FromRow)]
pub struct StoredRelease {
    pub version: String,
    pub file_name: String,
    pub model_json: String,
    pub imported_at: String,
}

/// Stores a release; a second release with the same version is refused by
/// the primary key (a unique violation).
pub async fn insert(
    db: impl SqliteExecutor<'_>,
    release: &Release,
    file_name: &str,
    sha256: &str,
    imported_at: &str,
) -> Result<(), sqlx::Error> {
    let format = serde_json::to_value(release.format).ok().and_then(|v| v.as_str().map(str::to_string));
    let model_json = serde_json::to_string(release).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "insert into framework_releases (version, format, file_name, sha256, model_json, imported_at)
         values (?, ?, ?, ?, ?, ?)",
    )
    .bind(&release.version)
    .bind(format)
    .bind(file_name)
    .bind(sha256)
    .bind(model_json)
    .bind(imported_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(db: impl SqliteExecutor<'_>) -> Result<Vec<StoredRelease>, sqlx::Error> {
    sqlx::query_as("select version, file_name, model_json, imported_at from framework_releases order by version")
        .fetch_all(db)
        .await
}
