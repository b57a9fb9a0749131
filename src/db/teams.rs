//! Teams.

use serde::Serialize;
use sqlx::{FromRow, SqliteExecutor};
use utoipa::ToSchema;

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, name, description, version, created_at, updated_at";

pub async fn list(db: impl SqliteExecutor<'_>) -> Result<Vec<Team>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from teams order by name")).fetch_all(db).await
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<Team>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from teams where id = ?")).bind(id).fetch_optional(db).await
}

pub async fn insert(
    db: impl SqliteExecutor<'_>,
    name: &str,
    description: &str,
    now: &str,
) -> Result<Team, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into teams (name, description, created_at, updated_at) values (?, ?, ?, ?) returning {COLUMNS}"
    ))
    .bind(name)
    .bind(description)
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
    name: &str,
    description: &str,
    now: &str,
) -> Result<Option<Team>, sqlx::Error> {
    sqlx::query_as(&format!(
        "update teams set name = ?, description = ?, version = version + 1, updated_at = ?
         where id = ? and version = ? returning {COLUMNS}"
    ))
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(id)
    .bind(expected)
    .fetch_optional(db)
    .await
}

/// Deletes the team and, through the foreign keys, everything it owns.
pub async fn delete(db: impl SqliteExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from teams where id = ?").bind(id).execute(db).await?.rows_affected() > 0)
}
