//! The append-only change history.

use serde::Serialize;
use sqlx::{FromRow, SqliteExecutor};
use utoipa::ToSchema;

#[derive(Debug, Clone, FromRow, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub id: i64,
    pub team_id: i64,
    pub system_id: Option<i64>,
    pub actor: String,
    pub at: String,
    /// `assessment`, `mitigation`, `control_status`, `acceptance`, `system`, `team` or `control`.
    pub entity: String,
    /// The technique, mitigation or control the change is about.
    pub item: String,
    /// One line saying what changed.
    pub summary: String,
    /// The value before the change (JSON), absent for a creation.
    pub before: Option<String>,
    /// The value after the change (JSON), absent for a deletion.
    pub after: Option<String>,
    /// Shared by the entries of one bulk action.
    pub batch: Option<i64>,
}

pub struct NewEntry<'a> {
    pub team_id: i64,
    pub system_id: Option<i64>,
    pub actor: &'a str,
    pub at: &'a str,
    pub entity: &'a str,
    pub item: &'a str,
    pub summary: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
    pub batch: Option<i64>,
}

const COLUMNS: &str = "id, team_id, system_id, actor, at, entity, item, summary, before, after, batch";

pub async fn append(db: impl SqliteExecutor<'_>, entry: NewEntry<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into history (team_id, system_id, actor, at, entity, item, summary, before, after, batch)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(entry.team_id)
    .bind(entry.system_id)
    .bind(entry.actor)
    .bind(entry.at)
    .bind(entry.entity)
    .bind(entry.item)
    .bind(entry.summary)
    .bind(entry.before)
    .bind(entry.after)
    .bind(entry.batch)
    .fetch_one(db)
    .await
}

/// A system's history, newest first; narrowed to one item when given.
pub async fn for_system(
    db: impl SqliteExecutor<'_>,
    system_id: i64,
    item: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    // Two statements rather than `(?2 is null or item = ?2)`, which keeps
    // SQLite from using the (system_id, item, id) index.
    match item {
        Some(item) => {
            sqlx::query_as(&format!(
                "select {COLUMNS} from history where system_id = ? and item = ? order by id desc limit ?"
            ))
            .bind(system_id)
            .bind(item)
            .bind(limit)
            .fetch_all(db)
            .await
        }
        None => {
            sqlx::query_as(&format!("select {COLUMNS} from history where system_id = ? order by id desc limit ?"))
                .bind(system_id)
                .bind(limit)
                .fetch_all(db)
                .await
        }
    }
}

/// The entries of one bulk action.
pub async fn batch(db: impl SqliteExecutor<'_>, batch: i64) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from history where batch = ? order by id"))
        .bind(batch)
        .fetch_all(db)
        .await
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<HistoryEntry>, sqlx::Error> {
    sqlx::query_as(&format!("select {COLUMNS} from history where id = ?")).bind(id).fetch_optional(db).await
}
