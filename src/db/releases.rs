//! Imported ATLAS releases, stored as their normalised model.

use sqlx::FromRow;

use super::value::TimeText;
use super::{Exec, decode_error, decode_time, on_backend, time_param};
use crate::atlas::Release;
use crate::domain::records::Timestamp;

#[derive(FromRow)]
struct ReleaseRow {
    version: String,
    file_name: String,
    model_json: String,
    imported_at: TimeText,
}

/// A stored release, read back.
pub struct StoredRelease {
    pub release: Release,
    pub file_name: String,
    pub imported_at: Timestamp,
}

impl TryFrom<ReleaseRow> for StoredRelease {
    type Error = sqlx::Error;

    fn try_from(row: ReleaseRow) -> Result<StoredRelease, sqlx::Error> {
        let key = format!("version {}", row.version);
        Ok(StoredRelease {
            release: serde_json::from_str(&row.model_json)
                .map_err(|e| decode_error("framework_releases", &key, "model_json", e))?,
            imported_at: decode_time(&row.imported_at, "framework_releases", &key, "imported_at")?,
            file_name: row.file_name,
        })
    }
}

/// Stores a release; a second release with the same version is refused by
/// the primary key (a unique violation).
pub async fn insert(
    db: impl Into<Exec<'_>>,
    release: &Release,
    file_name: &str,
    sha256: &str,
    imported_at: Timestamp,
) -> Result<(), sqlx::Error> {
    let format = serde_json::to_value(release.format).ok().and_then(|v| v.as_str().map(str::to_string));
    let model_json = serde_json::to_string(release).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let imported_at = time_param(imported_at);
    on_backend!(db.into(), e => sqlx::query(
        "insert into framework_releases (version, format, file_name, sha256, model_json, imported_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&release.version)
    .bind(&format)
    .bind(file_name)
    .bind(sha256)
    .bind(&model_json)
    .bind(imported_at)
    .execute(e)
    .await
    .map(|_| ()))
}

pub async fn list(db: impl Into<Exec<'_>>) -> Result<Vec<StoredRelease>, sqlx::Error> {
    let rows: Vec<ReleaseRow> = on_backend!(db.into(), e => sqlx::query_as(
        "select version, file_name, model_json, imported_at from framework_releases order by version",
    )
    .fetch_all(e)
    .await)?;
    rows.into_iter().map(StoredRelease::try_from).collect()
}

/// The versions stored, without their content (cheap enough to poll).
pub async fn versions(db: impl Into<Exec<'_>>) -> Result<Vec<String>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar("select version from framework_releases order by version")
        .fetch_all(e)
        .await)
}

/// One stored release.
pub async fn get(db: impl Into<Exec<'_>>, version: &str) -> Result<Option<StoredRelease>, sqlx::Error> {
    let row: Option<ReleaseRow> = on_backend!(db.into(), e => sqlx::query_as(
        "select version, file_name, model_json, imported_at from framework_releases where version = $1",
    )
    .bind(version)
    .fetch_optional(e)
    .await)?;
    row.map(StoredRelease::try_from).transpose()
}
