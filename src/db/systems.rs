//! ML systems, each belonging to a team and assessed against one ATLAS release.

use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct SystemRow {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    pub owner: String,
    /// JSON array of platform names.
    pub platforms: String,
    pub exposure: String,
    pub criticality: String,
    pub framework_version: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// The values a system is created or updated with.
pub struct SystemFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub owner: &'a str,
    pub platforms_json: &'a str,
    pub exposure: &'a str,
    pub criticality: &'a str,
    pub framework_version: &'a str,
}

const COLUMNS: &str = "id, team_id, name, description, owner, platforms, exposure, criticality, framework_version, \
                       version, created_at, updated_at";

pub async fn list(db: impl SqliteExecutor<'_>, team_id: Option<i64>) -> Result<Vec<SystemRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from systems where ?1 is null or team_id = ?1 order by name"))
        .bind(team_id)
        .fetch_all(db)
        .await
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<SystemRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from systems where id = ?")).bind(id).fetch_optional(db).await
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    team_id: i64,
    fields: &SystemFields<'_>,
    now: &str,
) -> Result<SystemRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into systems (team_id, name, description, owner, platforms, exposure, criticality, framework_version,
           created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning {COLUMNS}"
    ))
    .bind(team_id)
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.owner)
    .bind(fields.platforms_json)
    .bind(fields.exposure)
    .bind(fields.criticality)
    .bind(fields.framework_version)
    .bind(now)
    .bind(now)
    .fetch_one(db)
    .await
}

/// Updates when the stored version is `expected`; `None` means it was not.
pub async fn update(
    db: impl SqliteExecutor<'_>,
    id: i64,
    expected: i64,
    fields: &SystemFields<'_>,
    now: &str,
) -> Result<Option<SystemRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update systems set name = ?, description = ?, owner = ?, platforms = ?, exposure = ?, criticality = ?,
           framework_version = ?, version = version + 1, updated_at = ?
         where id = ? and version = ? returning {COLUMNS}"
    ))
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.owner)
    .bind(fields.platforms_json)
    .bind(fields.exposure)
    .bind(fields.criticality)
    .bind(fields.framework_version)
    .bind(now)
    .bind(id)
    .bind(expected)
    .fetch_optional(db)
    .await
}

/// Deletes the system and, through the foreign keys, all its decisions and history.
pub async fn delete(db: impl SqliteExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from systems where id = ?").bind(id).execute(db).await?.rows_affected() > 0)
}

/// The team a system belongs to.
pub async fn team_of(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select team_id from systems where id = ?").bind(id).fetch_optional(db).await
}
