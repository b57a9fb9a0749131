//! Named moments of a team (`team_snapshots`).

use sqlx::FromRow;

use super::value::TimeText;
use super::{Exec, decode_time, on_backend, time_param};
use crate::domain::records::{TeamSnapshot, Timestamp};

#[derive(FromRow)]
struct SnapshotRow {
    id: i64,
    team_id: i64,
    name: String,
    at: TimeText,
    created_by: String,
    created_at: TimeText,
}

impl TryFrom<SnapshotRow> for TeamSnapshot {
    type Error = sqlx::Error;

    fn try_from(row: SnapshotRow) -> Result<TeamSnapshot, sqlx::Error> {
        let key = format!("id {}", row.id);
        Ok(TeamSnapshot {
            at: decode_time(&row.at, "team_snapshots", &key, "at")?,
            created_at: decode_time(&row.created_at, "team_snapshots", &key, "created_at")?,
            id: row.id,
            team_id: row.team_id,
            name: row.name,
            created_by: row.created_by,
        })
    }
}

const COLUMNS: &str = "id, team_id, name, at, created_by, created_at";

/// A team's snapshots, newest moment first.
pub async fn list(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<TeamSnapshot>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from team_snapshots where team_id = $1 order by at desc, id desc");
    let rows: Vec<SnapshotRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(team_id).fetch_all(e).await)?;
    rows.into_iter().map(TeamSnapshot::try_from).collect()
}

/// The snapshot of a team with this name (without regard to case).
pub async fn by_name(db: impl Into<Exec<'_>>, team_id: i64, name: &str) -> Result<Option<TeamSnapshot>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from team_snapshots where team_id = $1 and lower(name) = lower($2)");
    let row: Option<SnapshotRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(team_id).bind(name.trim()).fetch_optional(e).await)?;
    row.map(TeamSnapshot::try_from).transpose()
}

/// The team's newest snapshot strictly before `before`.
pub async fn latest_before(
    db: impl Into<Exec<'_>>,
    team_id: i64,
    before: Timestamp,
) -> Result<Option<TeamSnapshot>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from team_snapshots where team_id = $1 and at < $2 order by at desc, id desc limit 1"
    );
    let row: Option<SnapshotRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(team_id)
        .bind(time_param(before))
        .fetch_optional(e)
        .await)?;
    row.map(TeamSnapshot::try_from).transpose()
}

pub async fn insert(
    db: impl Into<Exec<'_>>,
    team_id: i64,
    name: &str,
    at: Timestamp,
    created_by: &str,
    now: Timestamp,
) -> Result<TeamSnapshot, sqlx::Error> {
    let sql = format!(
        "insert into team_snapshots (team_id, name, at, created_by, created_at) values ($1, $2, $3, $4, $5) \
         returning {COLUMNS}"
    );
    let row: SnapshotRow = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(team_id)
        .bind(name)
        .bind(time_param(at))
        .bind(created_by)
        .bind(time_param(now))
        .fetch_one(e)
        .await)?;
    TeamSnapshot::try_from(row)
}

/// Removes a snapshot of the team; false when there was none.
pub async fn delete(db: impl Into<Exec<'_>>, team_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = on_backend!(db.into(), e => sqlx::query("delete from team_snapshots where team_id = $1 and id = $2")
        .bind(team_id)
        .bind(id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(done > 0)
}
