//! Controls a team defines itself and maps to ATLAS techniques.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct ControlRow {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Mapped technique IDs, comma-separated (aggregated by the query).
    pub techniques: String,
}

impl ControlRow {
    pub fn technique_ids(&self) -> Vec<String> {
        self.techniques.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect()
    }
}

const SELECT: &str = "select c.id, c.team_id, c.name, c.description, c.version, c.created_at, c.updated_at,
       coalesce((select group_concat(technique_id, ',') from
                   (select technique_id from control_techniques where control_id = c.id order by technique_id)), '')
         as techniques
     from controls c";

pub async fn list(db: impl SqliteExecutor<'_>, team_id: i64) -> Result<Vec<ControlRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} where c.team_id = ? order by c.name")).bind(team_id).fetch_all(db).await
}

pub async fn get(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<ControlRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} where c.id = ?")).bind(id).fetch_optional(db).await
}

pub async fn insert(
    db: &mut SqliteConnection,
    team_id: i64,
    name: &str,
    description: &str,
    techniques: &[String],
    now: &str,
) -> Result<i64, sqlx::Error> {
    let id: i64 = sqlx::query_scalar(
        "insert into controls (team_id, name, description, created_at, updated_at) values (?, ?, ?, ?, ?) returning id",
    )
    .bind(team_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(now)
    .fetch_one(&mut *db)
    .await?;
    set_techniques(db, id, techniques).await?;
    Ok(id)
}

/// Updates when the stored version is `expected`; false means it was not.
pub async fn update(
    db: &mut SqliteConnection,
    id: i64,
    expected: i64,
    name: &str,
    description: &str,
    techniques: &[String],
    now: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "update controls set name = ?, description = ?, version = version + 1, updated_at = ? where id = ? and version = ?",
    )
    .bind(name)
    .bind(description)
    .bind(now)
    .bind(id)
    .bind(expected)
    .execute(&mut *db)
    .await?
    .rows_affected()
        > 0;
    if updated {
        set_techniques(db, id, techniques).await?;
    }
    Ok(updated)
}

async fn set_techniques(db: &mut SqliteConnection, id: i64, techniques: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("delete from control_techniques where control_id = ?").bind(id).execute(&mut *db).await?;
    for technique in techniques {
        sqlx::query("insert or ignore into control_techniques (control_id, technique_id) values (?, ?)")
            .bind(id)
            .bind(technique)
            .execute(&mut *db)
            .await?;
    }
    Ok(())
}

pub async fn delete(db: impl SqliteExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from controls where id = ?").bind(id).execute(db).await?.rows_affected() > 0)
}

/// The team a control belongs to.
pub async fn team_of(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("select team_id from controls where id = ?").bind(id).fetch_optional(db).await
}
