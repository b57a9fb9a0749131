//! Detections a team keeps (mapped to ATLAS techniques) and how each
//! technique is detected on each system.

use sqlx::FromRow;

use super::value::{JsonParam, JsonText, TimeText};
use super::{Exec, Tx, decode_error, decode_time, decode_word, on_backend, time_param};
use crate::domain::records::{Changed, Detection, DetectionRecord, Timestamp};
use crate::domain::{Confidence, DetectionStatus};

#[derive(FromRow)]
struct DetectionRow {
    id: i64,
    team_id: i64,
    name: String,
    description: String,
    data_sources: JsonText,
    reference: String,
    rule_id: Option<String>,
    rule_text: Option<String>,
    version: i64,
    created_at: TimeText,
    updated_at: TimeText,
}

fn decode_sources(raw: &str, table: &'static str, key: &str) -> Result<Vec<String>, sqlx::Error> {
    serde_json::from_str(raw)
        .map_err(|e| decode_error(table, key, "data_sources", format!("not a JSON list of names: {e}")))
}

fn encode_sources(sources: &[String]) -> JsonParam {
    JsonParam(serde_json::to_string(sources).unwrap_or_else(|_| "[]".to_string()))
}

impl DetectionRow {
    fn into_detection(self, techniques: Vec<String>) -> Result<Detection, sqlx::Error> {
        let key = format!("id {}", self.id);
        Ok(Detection {
            data_sources: decode_sources(&self.data_sources, "detections", &key)?,
            created_at: decode_time(&self.created_at, "detections", &key, "created_at")?,
            updated_at: decode_time(&self.updated_at, "detections", &key, "updated_at")?,
            id: self.id,
            team_id: self.team_id,
            name: self.name,
            description: self.description,
            reference: self.reference,
            rule_id: self.rule_id,
            rule_text: self.rule_text,
            techniques,
            version: self.version,
        })
    }
}

const COLUMNS: &str =
    "id, team_id, name, description, data_sources, reference, rule_id, rule_text, version, created_at, updated_at";

fn assemble(rows: Vec<DetectionRow>, links: Vec<(i64, String)>) -> Result<Vec<Detection>, sqlx::Error> {
    let mut techniques = super::techniques_by_owner(links);
    rows.into_iter()
        .map(|row| {
            let mapped = techniques.remove(&row.id).unwrap_or_default();
            row.into_detection(mapped)
        })
        .collect()
}

/// The detections of a team, by name.
pub async fn list(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<Detection>, sqlx::Error> {
    let mut exec = db.into();
    let sql = format!("select {COLUMNS} from detections where team_id = $1 order by name, id");
    let rows: Vec<DetectionRow> =
        on_backend!(exec.reborrow(), e => sqlx::query_as(&sql).bind(team_id).fetch_all(e).await)?;
    let links: Vec<(i64, String)> = on_backend!(exec.reborrow(), e => sqlx::query_as(
        "select t.detection_id, t.technique_id from detection_techniques t join detections d on d.id = t.detection_id
         where d.team_id = $1 order by t.technique_id",
    )
    .bind(team_id)
    .fetch_all(e)
    .await)?;
    assemble(rows, links)
}

pub async fn get(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<Detection>, sqlx::Error> {
    let mut exec = db.into();
    let sql = format!("select {COLUMNS} from detections where id = $1");
    let row: Option<DetectionRow> =
        on_backend!(exec.reborrow(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    let Some(row) = row else { return Ok(None) };
    let links: Vec<(i64, String)> = on_backend!(exec.reborrow(), e => sqlx::query_as(
        "select detection_id, technique_id from detection_techniques where detection_id = $1 order by technique_id",
    )
    .bind(id)
    .fetch_all(e)
    .await)?;
    Ok(assemble(vec![row], links)?.pop())
}

/// Stores a new detection (its id, version and times are assigned here) and returns its id.
pub async fn insert(tx: &mut Tx, detection: &Detection, now: Timestamp) -> Result<i64, sqlx::Error> {
    let now = time_param(now);
    let id: i64 = on_backend!(Exec::from(&mut *tx), e => sqlx::query_scalar(
        "insert into detections (team_id, name, description, data_sources, reference, rule_id, rule_text,
                                 created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning id",
    )
    .bind(detection.team_id)
    .bind(&detection.name)
    .bind(&detection.description)
    .bind(encode_sources(&detection.data_sources))
    .bind(&detection.reference)
    .bind(&detection.rule_id)
    .bind(&detection.rule_text)
    .bind(now)
    .fetch_one(e)
    .await)?;
    set_techniques(tx, id, &detection.techniques).await?;
    Ok(id)
}

/// Writes a detection's definition when its stored version is `expected`;
/// false means it was not (someone changed or deleted it meanwhile).
pub async fn update(tx: &mut Tx, expected: i64, detection: &Detection, now: Timestamp) -> Result<bool, sqlx::Error> {
    let now = time_param(now);
    let updated = on_backend!(Exec::from(&mut *tx), e => sqlx::query(
        "update detections set name = $1, description = $2, data_sources = $3, reference = $4, rule_id = $5,
                rule_text = $6, version = version + 1, updated_at = $7
         where id = $8 and version = $9",
    )
    .bind(&detection.name)
    .bind(&detection.description)
    .bind(encode_sources(&detection.data_sources))
    .bind(&detection.reference)
    .bind(&detection.rule_id)
    .bind(&detection.rule_text)
    .bind(now)
    .bind(detection.id)
    .bind(expected)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    if updated > 0 {
        set_techniques(tx, detection.id, &detection.techniques).await?;
    }
    Ok(updated > 0)
}

async fn set_techniques(tx: &mut Tx, id: i64, techniques: &[String]) -> Result<(), sqlx::Error> {
    on_backend!(Exec::from(&mut *tx), e => sqlx::query("delete from detection_techniques where detection_id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|_| ()))?;
    for technique in techniques {
        on_backend!(Exec::from(&mut *tx), e => sqlx::query(
            "insert into detection_techniques (detection_id, technique_id) values ($1, $2) on conflict do nothing",
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
    let deleted = on_backend!(db.into(), e => sqlx::query("delete from detections where id = $1")
        .bind(id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(deleted > 0)
}

/// The team a detection belongs to.
pub async fn team_of(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<i64>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar("select team_id from detections where id = $1")
        .bind(id)
        .fetch_optional(e)
        .await)
}

#[derive(FromRow)]
struct StatusRow {
    technique_id: String,
    status: String,
    confidence: Option<String>,
    data_sources: JsonText,
    owner: String,
    evidence: String,
    notes: String,
    version: i64,
    updated_by: String,
    updated_at: TimeText,
}

impl StatusRow {
    fn decode(self, system_id: i64) -> Result<DetectionRecord, sqlx::Error> {
        let table = "detection_statuses";
        let key = format!("system {system_id}, {}", self.technique_id);
        Ok(DetectionRecord {
            status: decode_word(DetectionStatus::parse, &self.status, table, &key, "status")?,
            confidence: self
                .confidence
                .as_deref()
                .map(|c| decode_word(Confidence::parse, c, table, &key, "confidence"))
                .transpose()?,
            data_sources: decode_sources(&self.data_sources, table, &key)?,
            changed: Changed {
                updated_at: Some(decode_time(&self.updated_at, table, &key, "updated_at")?),
                updated_by: self.updated_by,
            },
            technique_id: self.technique_id,
            owner: self.owner,
            evidence: self.evidence,
            notes: self.notes,
            version: self.version,
        })
    }
}

const STATUS_COLUMNS: &str =
    "technique_id, status, confidence, data_sources, owner, evidence, notes, version, updated_by, updated_at";

/// Every recorded detection status of a system.
pub async fn statuses(db: impl Into<Exec<'_>>, system_id: i64) -> Result<Vec<DetectionRecord>, sqlx::Error> {
    let sql = format!("select {STATUS_COLUMNS} from detection_statuses where system_id = $1 order by technique_id");
    let rows: Vec<StatusRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).fetch_all(e).await)?;
    rows.into_iter().map(|row| row.decode(system_id)).collect()
}

pub async fn status(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    technique_id: &str,
) -> Result<Option<DetectionRecord>, sqlx::Error> {
    let sql = format!("select {STATUS_COLUMNS} from detection_statuses where system_id = $1 and technique_id = $2");
    let row: Option<StatusRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(technique_id)
        .fetch_optional(e)
        .await)?;
    row.map(|row| row.decode(system_id)).transpose()
}

/// Writes a technique's detection (version + 1, or 1 for a new row) and returns it as stored.
pub async fn put_status(tx: &mut Tx, system_id: i64, record: &DetectionRecord) -> Result<DetectionRecord, sqlx::Error> {
    let sql = format!(
        "insert into detection_statuses (system_id, technique_id, status, confidence, data_sources, owner, evidence,
                                         notes, updated_by, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (system_id, technique_id) do update set
           status = excluded.status, confidence = excluded.confidence, data_sources = excluded.data_sources,
           owner = excluded.owner, evidence = excluded.evidence, notes = excluded.notes,
           version = detection_statuses.version + 1, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at
         returning {STATUS_COLUMNS}"
    );
    let at = record.changed.updated_at.ok_or_else(|| {
        decode_error("detection_statuses", &record.technique_id, "updated_at", "a write without a time")
    })?;
    let row: StatusRow = on_backend!(Exec::from(tx), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(&record.technique_id)
        .bind(record.status.as_str())
        .bind(record.confidence.map(Confidence::as_str))
        .bind(encode_sources(&record.data_sources))
        .bind(&record.owner)
        .bind(&record.evidence)
        .bind(&record.notes)
        .bind(&record.changed.updated_by)
        .bind(time_param(at))
        .fetch_one(e)
        .await)?;
    row.decode(system_id)
}
