//! Controls a team defines itself and maps to ATLAS techniques.

use sqlx::FromRow;

use super::value::TimeText;
use super::{Exec, Tx, decode_time, on_backend, time_param};
use crate::domain::records::{Control, Timestamp};

#[derive(FromRow)]
struct ControlRow {
    id: i64,
    team_id: i64,
    name: String,
    description: String,
    version: i64,
    created_at: TimeText,
    updated_at: TimeText,
}

impl ControlRow {
    fn into_control(self, techniques: Vec<String>) -> Result<Control, sqlx::Error> {
        let key = format!("id {}", self.id);
        Ok(Control {
            created_at: decode_time(&self.created_at, "controls", &key, "created_at")?,
            updated_at: decode_time(&self.updated_at, "controls", &key, "updated_at")?,
            id: self.id,
            team_id: self.team_id,
            name: self.name,
            description: self.description,
            techniques,
            version: self.version,
        })
    }
}

const COLUMNS: &str = "id, team_id, name, description, version, created_at, updated_at";

/// Joins controls with their mapped techniques (in ID order).
fn assemble(rows: Vec<ControlRow>, links: Vec<(i64, String)>) -> Result<Vec<Control>, sqlx::Error> {
    let mut techniques = super::techniques_by_owner(links);
    rows.into_iter()
        .map(|row| {
            let mapped = techniques.remove(&row.id).unwrap_or_default();
            row.into_control(mapped)
        })
        .collect()
}

/// The controls of a team, by name.
pub async fn list(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<Control>, sqlx::Error> {
    let mut exec = db.into();
    let sql = format!("select {COLUMNS} from controls where team_id = $1 order by name");
    let rows: Vec<ControlRow> =
        on_backend!(exec.reborrow(), e => sqlx::query_as(&sql).bind(team_id).fetch_all(e).await)?;
    let links: Vec<(i64, String)> = on_backend!(exec.reborrow(), e => sqlx::query_as(
        "select t.control_id, t.technique_id from control_techniques t join controls c on c.id = t.control_id
         where c.team_id = $1 order by t.technique_id",
    )
    .bind(team_id)
    .fetch_all(e)
    .await)?;
    assemble(rows, links)
}

pub async fn get(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<Control>, sqlx::Error> {
    let mut exec = db.into();
    let sql = format!("select {COLUMNS} from controls where id = $1");
    let row: Option<ControlRow> =
        on_backend!(exec.reborrow(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    let Some(row) = row else { return Ok(None) };
    let links: Vec<(i64, String)> = on_backend!(exec.reborrow(), e => sqlx::query_as(
        "select control_id, technique_id from control_techniques where control_id = $1 order by technique_id",
    )
    .bind(id)
    .fetch_all(e)
    .await)?;
    Ok(assemble(vec![row], links)?.pop())
}

pub async fn insert(
    tx: &mut Tx,
    team_id: i64,
    name: &str,
    description: &str,
    techniques: &[String],
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let now = time_param(now);
    let id: i64 = on_backend!(Exec::from(&mut *tx), e => sqlx::query_scalar(
        "insert into controls (team_id, name, description, created_at, updated_at) values ($1, $2, $3, $4, $4)
         returning id",
    )
    .bind(team_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .fetch_one(e)
    .await)?;
    set_techniques(tx, id, techniques).await?;
    Ok(id)
}

/// Updates when the stored version is `expected`; false means it was not.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    expected: i64,
    name: &str,
    description: &str,
    techniques: &[String],
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let now = time_param(now);
    let updated = on_backend!(Exec::from(&mut *tx), e => sqlx::query(
        "update controls set name = $1, description = $2, version = version + 1, updated_at = $3
         where id = $4 and version = $5",
    )
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(id)
    .bind(expected)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    if updated > 0 {
        set_techniques(tx, id, techniques).await?;
    }
    Ok(updated > 0)
}

async fn set_techniques(tx: &mut Tx, id: i64, techniques: &[String]) -> Result<(), sqlx::Error> {
    on_backend!(Exec::from(&mut *tx), e => sqlx::query("delete from control_techniques where control_id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|_| ()))?;
    for technique in techniques {
        on_backend!(Exec::from(&mut *tx), e => sqlx::query(
            "insert into control_techniques (control_id, technique_id) values ($1, $2) on conflict do nothing",
        )
        .bind(id)
        .bind(technique)
        .execute(e)
        .await
        .map(|_| ()))?;
    }
    Ok(())
}

pub async fn delete(db: impl Into<Exec<'_>>, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = on_backend!(db.into(), e => sqlx::query("delete from controls where id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(deleted > 0)
}

/// The team a control belongs to.
pub async fn team_of(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar("select team_id from controls where id = $1")
        .bind(id)
        .fetch_optional(e)
        .await)
}
