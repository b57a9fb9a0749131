//! Teams.

use sqlx::FromRow;

use super::value::TimeText;
use super::{Exec, decode_time, on_backend, time_param};
use crate::domain::records::{Team, Timestamp};

#[derive(FromRow)]
struct TeamRow {
    id: i64,
    name: String,
    description: String,
    version: i64,
    created_at: TimeText,
    updated_at: TimeText,
}

impl TryFrom<TeamRow> for Team {
    type Error = sqlx::Error;

    fn try_from(row: TeamRow) -> Result<Team, sqlx::Error> {
        let key = format!("id {}", row.id);
        Ok(Team {
            created_at: decode_time(&row.created_at, "teams", &key, "created_at")?,
            updated_at: decode_time(&row.updated_at, "teams", &key, "updated_at")?,
            id: row.id,
            name: row.name,
            description: row.description,
            version: row.version,
        })
    }
}

const COLUMNS: &str = "id, name, description, version, created_at, updated_at";

pub async fn list(db: impl Into<Exec<'_>>) -> Result<Vec<Team>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from teams order by name");
    let rows: Vec<TeamRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).fetch_all(e).await)?;
    rows.into_iter().map(Team::try_from).collect()
}

pub async fn get(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<Team>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from teams where id = $1");
    let row: Option<TeamRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(Team::try_from).transpose()
}

pub async fn insert(
    db: impl Into<Exec<'_>>,
    name: &str,
    description: &str,
    now: Timestamp,
) -> Result<Team, sqlx::Error> {
    let sql = format!(
        "insert into teams (name, description, created_at, updated_at) values ($1, $2, $3, $3) returning {COLUMNS}"
    );
    let now = time_param(now);
    let row: TeamRow = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_one(e)
        .await)?;
    Team::try_from(row)
}

/// Updates when the stored version is `expected`; `None` means it was not.
pub async fn update(
    db: impl Into<Exec<'_>>,
    id: i64,
    expected: i64,
    name: &str,
    description: &str,
    now: Timestamp,
) -> Result<Option<Team>, sqlx::Error> {
    let sql = format!(
        "update teams set name = $1, description = $2, version = version + 1, updated_at = $3
         where id = $4 and version = $5 returning {COLUMNS}"
    );
    let now = time_param(now);
    let row: Option<TeamRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(name)
        .bind(description)
        .bind(now)
        .bind(id)
        .bind(expected)
        .fetch_optional(e)
        .await)?;
    row.map(Team::try_from).transpose()
}

/// Deletes the team and, through the foreign keys, everything it owns.
pub async fn delete(db: impl Into<Exec<'_>>, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = on_backend!(db.into(), e => sqlx::query("delete from teams where id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(deleted > 0)
}
