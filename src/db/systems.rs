//! ML systems, each belonging to a team and assessed against one ATLAS release.

use sqlx::FromRow;

use super::value::{JsonParam, JsonText, TimeText};
use super::{Exec, decode_error, decode_time, decode_word, on_backend, time_param};
use crate::domain::records::{System, Timestamp};
use crate::domain::{Exposure, Rating};

#[derive(FromRow)]
struct SystemRow {
    id: i64,
    team_id: i64,
    name: String,
    description: String,
    owner: String,
    /// JSON array of platform names.
    platforms: JsonText,
    exposure: String,
    criticality: String,
    framework_version: String,
    version: i64,
    created_at: TimeText,
    updated_at: TimeText,
}

impl TryFrom<SystemRow> for System {
    type Error = sqlx::Error;

    fn try_from(row: SystemRow) -> Result<System, sqlx::Error> {
        let key = format!("id {}", row.id);
        Ok(System {
            platforms: serde_json::from_str(&row.platforms)
                .map_err(|e| decode_error("systems", &key, "platforms", format!("not a JSON list of names: {e}")))?,
            exposure: decode_word(Exposure::parse, &row.exposure, "systems", &key, "exposure")?,
            criticality: decode_word(Rating::parse, &row.criticality, "systems", &key, "criticality")?,
            created_at: decode_time(&row.created_at, "systems", &key, "created_at")?,
            updated_at: decode_time(&row.updated_at, "systems", &key, "updated_at")?,
            id: row.id,
            team_id: row.team_id,
            name: row.name,
            description: row.description,
            owner: row.owner,
            framework_version: row.framework_version,
            version: row.version,
        })
    }
}

/// The values a system is created or updated with, checked by the caller.
pub struct SystemFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub owner: &'a str,
    pub platforms: &'a [&'a str],
    pub exposure: Exposure,
    pub criticality: Rating,
    pub framework_version: &'a str,
}

impl SystemFields<'_> {
    fn platforms_json(&self) -> JsonParam {
        JsonParam(serde_json::to_string(self.platforms).unwrap_or_else(|_| "[]".into()))
    }
}

const COLUMNS: &str = "id, team_id, name, description, owner, platforms, exposure, criticality, framework_version, \
                       version, created_at, updated_at";

fn decode_all(rows: Vec<SystemRow>) -> Result<Vec<System>, sqlx::Error> {
    rows.into_iter().map(System::try_from).collect()
}

/// Every system, or those of one team, by name.
pub async fn list(db: impl Into<Exec<'_>>, team_id: Option<i64>) -> Result<Vec<System>, sqlx::Error> {
    let rows: Vec<SystemRow> = match team_id {
        Some(team_id) => {
            let sql = format!("select {COLUMNS} from systems where team_id = $1 order by name");
            on_backend!(db.into(), e => sqlx::query_as(&sql).bind(team_id).fetch_all(e).await)?
        }
        None => {
            let sql = format!("select {COLUMNS} from systems order by name");
            on_backend!(db.into(), e => sqlx::query_as(&sql).fetch_all(e).await)?
        }
    };
    decode_all(rows)
}

pub async fn get(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<System>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from systems where id = $1");
    let row: Option<SystemRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(System::try_from).transpose()
}

pub async fn insert(
    db: impl Into<Exec<'_>>,
    team_id: i64,
    fields: &SystemFields<'_>,
    now: Timestamp,
) -> Result<System, sqlx::Error> {
    let sql = format!(
        "insert into systems (team_id, name, description, owner, platforms, exposure, criticality, framework_version,
           created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) returning {COLUMNS}"
    );
    let (platforms, now) = (fields.platforms_json(), time_param(now));
    let row: SystemRow = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(team_id)
        .bind(fields.name)
        .bind(fields.description)
        .bind(fields.owner)
        .bind(&platforms)
        .bind(fields.exposure.as_str())
        .bind(fields.criticality.as_str())
        .bind(fields.framework_version)
        .bind(now)
        .fetch_one(e)
        .await)?;
    System::try_from(row)
}

/// Updates when the stored version is `expected`; `None` means it was not.
pub async fn update(
    db: impl Into<Exec<'_>>,
    id: i64,
    expected: i64,
    fields: &SystemFields<'_>,
    now: Timestamp,
) -> Result<Option<System>, sqlx::Error> {
    let sql = format!(
        "update systems set name = $1, description = $2, owner = $3, platforms = $4, exposure = $5, criticality = $6,
           framework_version = $7, version = version + 1, updated_at = $8
         where id = $9 and version = $10 returning {COLUMNS}"
    );
    let (platforms, now) = (fields.platforms_json(), time_param(now));
    let row: Option<SystemRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(fields.name)
        .bind(fields.description)
        .bind(fields.owner)
        .bind(&platforms)
        .bind(fields.exposure.as_str())
        .bind(fields.criticality.as_str())
        .bind(fields.framework_version)
        .bind(now)
        .bind(id)
        .bind(expected)
        .fetch_optional(e)
        .await)?;
    row.map(System::try_from).transpose()
}

/// Moves a system to another ATLAS release (an upgrade or its undo), if it
/// is still at `expected`; nothing else about it changes.
pub async fn repin(
    db: impl Into<Exec<'_>>,
    id: i64,
    expected: i64,
    framework_version: &str,
    now: Timestamp,
) -> Result<Option<System>, sqlx::Error> {
    let sql = format!(
        "update systems set framework_version = $1, version = version + 1, updated_at = $2
         where id = $3 and version = $4 returning {COLUMNS}"
    );
    let now = time_param(now);
    let row: Option<SystemRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(framework_version)
        .bind(now)
        .bind(id)
        .bind(expected)
        .fetch_optional(e)
        .await)?;
    row.map(System::try_from).transpose()
}

/// Deletes the system and, through the foreign keys, all its decisions and history.
pub async fn delete(db: impl Into<Exec<'_>>, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = on_backend!(db.into(), e => sqlx::query("delete from systems where id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(deleted > 0)
}

/// The team a system belongs to.
pub async fn team_of(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar("select team_id from systems where id = $1")
        .bind(id)
        .fetch_optional(e)
        .await)
}
