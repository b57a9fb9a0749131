//! A team's decisions about one system: technique assessments, mitigation
//! and control statuses, and risk acceptances. Each row carries a version;
//! writes bump it, and it never repeats for an item (a withdrawn
//! acceptance keeps its row, marked withdrawn).

use sqlx::FromRow;

use super::value::{DayParam, DayText, JsonParam, TimeParam, TimeText};
use super::{Exec, Tx, decode_day, decode_error, decode_time, decode_word, on_backend, time_param};
use crate::domain::history::Entity;
use crate::domain::records::{Acceptance, Assessment, Changed, StatusRecord};
use crate::domain::{Applicability, ImplementationStatus, Rating};

#[derive(FromRow)]
struct AssessmentRow {
    technique_id: String,
    applicability: String,
    suggested: bool,
    rationale: String,
    risk: Option<String>,
    version: i64,
    updated_by: String,
    updated_at: TimeText,
}

/// Who changed a decision and when, as stored.
fn changed(table: &'static str, key: &str, by: String, at: &str) -> Result<Changed, sqlx::Error> {
    Ok(Changed { updated_by: by, updated_at: Some(decode_time(at, table, key, "updated_at")?) })
}

impl AssessmentRow {
    fn decode(self, system_id: i64) -> Result<Assessment, sqlx::Error> {
        let key = format!("system {system_id}, {}", self.technique_id);
        let table = "assessments";
        Ok(Assessment {
            applicability: decode_word(Applicability::parse, &self.applicability, table, &key, "applicability")?,
            risk: self.risk.as_deref().map(|r| decode_word(Rating::parse, r, table, &key, "risk")).transpose()?,
            changed: changed(table, &key, self.updated_by, &self.updated_at)?,
            technique_id: self.technique_id,
            suggested: self.suggested,
            rationale: self.rationale,
            version: self.version,
        })
    }
}

#[derive(FromRow)]
struct StatusRow {
    item: String,
    status: String,
    owner: String,
    target_date: Option<DayText>,
    evidence: String,
    notes: String,
    version: i64,
    updated_by: String,
    updated_at: TimeText,
}

impl StatusRow {
    fn decode(self, kind: StatusKind, system_id: i64) -> Result<StatusRecord, sqlx::Error> {
        let (table, _) = kind.table();
        let key = format!("system {system_id}, {}", self.item);
        Ok(StatusRecord {
            status: decode_word(ImplementationStatus::parse, &self.status, table, &key, "status")?,
            target_date: self.target_date.as_deref().map(|d| decode_day(d, table, &key, "target_date")).transpose()?,
            changed: changed(table, &key, self.updated_by, &self.updated_at)?,
            item: self.item,
            owner: self.owner,
            evidence: self.evidence,
            notes: self.notes,
            version: self.version,
        })
    }
}

#[derive(FromRow)]
struct AcceptanceRow {
    technique_id: String,
    justification: String,
    accepted_by: String,
    expires_on: DayText,
    version: i64,
    updated_by: String,
    updated_at: TimeText,
}

impl AcceptanceRow {
    fn decode(self, system_id: i64) -> Result<Acceptance, sqlx::Error> {
        let key = format!("system {system_id}, {}", self.technique_id);
        let table = "risk_acceptances";
        Ok(Acceptance {
            expires_on: decode_day(&self.expires_on, table, &key, "expires_on")?,
            changed: changed(table, &key, self.updated_by, &self.updated_at)?,
            technique_id: self.technique_id,
            justification: self.justification,
            accepted_by: self.accepted_by,
            version: self.version,
        })
    }
}

const ASSESSMENT: &str = "technique_id, applicability, suggested, rationale, risk, version, updated_by, updated_at";
const ACCEPTANCE: &str = "technique_id, justification, accepted_by, expires_on, version, updated_by, updated_at";

/// Which status table a [`StatusRecord`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Mitigation,
    Control,
}

impl StatusKind {
    /// What the history calls a change of this kind of status.
    pub fn entity(self) -> Entity {
        match self {
            StatusKind::Mitigation => Entity::Mitigation,
            StatusKind::Control => Entity::ControlStatus,
        }
    }

    fn table(self) -> (&'static str, &'static str) {
        match self {
            StatusKind::Mitigation => ("mitigation_statuses", "mitigation_id"),
            StatusKind::Control => ("control_statuses", "control_id"),
        }
    }

    fn columns(self) -> String {
        let (_, key) = self.table();
        format!(
            "cast({key} as text) as item, status, owner, target_date, evidence, notes, version, updated_by, updated_at"
        )
    }
}

/// The written fields of a decision: who and when must be set.
fn stamp(changed: &Changed, table: &'static str, item: &str) -> Result<(String, TimeParam), sqlx::Error> {
    let at = changed.updated_at.ok_or_else(|| decode_error(table, item, "updated_at", "a write without a time"))?;
    Ok((changed.updated_by.clone(), time_param(at)))
}

pub async fn assessments(db: impl Into<Exec<'_>>, system_id: i64) -> Result<Vec<Assessment>, sqlx::Error> {
    let sql = format!("select {ASSESSMENT} from assessments where system_id = $1");
    let rows: Vec<AssessmentRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).fetch_all(e).await)?;
    rows.into_iter().map(|row| row.decode(system_id)).collect()
}

pub async fn assessment(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    technique_id: &str,
) -> Result<Option<Assessment>, sqlx::Error> {
    let sql = format!("select {ASSESSMENT} from assessments where system_id = $1 and technique_id = $2");
    let row: Option<AssessmentRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(technique_id)
        .fetch_optional(e)
        .await)?;
    row.map(|row| row.decode(system_id)).transpose()
}

/// Writes an assessment (version + 1, or 1 for a new row) and returns it as stored.
pub async fn put_assessment(tx: &mut Tx, system_id: i64, assessment: &Assessment) -> Result<Assessment, sqlx::Error> {
    let sql = format!(
        "insert into assessments (system_id, technique_id, applicability, suggested, rationale, risk, updated_by, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (system_id, technique_id) do update set
           applicability = excluded.applicability, suggested = excluded.suggested, rationale = excluded.rationale,
           risk = excluded.risk, version = assessments.version + 1, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at
         returning {ASSESSMENT}"
    );
    let (by, at) = stamp(&assessment.changed, "assessments", &assessment.technique_id)?;
    let row: AssessmentRow = on_backend!(Exec::from(tx), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(&assessment.technique_id)
        .bind(assessment.applicability.as_str())
        .bind(assessment.suggested)
        .bind(&assessment.rationale)
        .bind(assessment.risk.map(Rating::as_str))
        .bind(&by)
        .bind(at)
        .fetch_one(e)
        .await)?;
    row.decode(system_id)
}

/// An assessment change prepared in full before it is written: the row
/// expected after it (version and time included) and its history entry.
pub struct PreparedAssessment<'a> {
    pub system_id: i64,
    pub team_id: i64,
    /// The stored version the change was made from (0: no row yet).
    pub from_version: i64,
    pub next: &'a Assessment,
    pub actor: &'a str,
    pub summary: &'a str,
    pub before: &'a crate::domain::history::Recorded,
    pub after: &'a crate::domain::history::Recorded,
}

/// Writes an assessment and its history entry on SQLite in one statement
/// batch, sent to the connection's thread once (`BEGIN IMMEDIATE`, a
/// guarded upsert, the entry, `COMMIT`), instead of one round trip per
/// statement. Nothing is written unless the stored version is still
/// `from_version`; then `None`, and the caller takes the ordinary path.
/// Returns the stored row and the history entry's id.
pub async fn put_assessment_in_one_trip(
    pool: &sqlx::SqlitePool,
    change: &PreparedAssessment<'_>,
) -> Result<Option<(Assessment, i64)>, sqlx::Error> {
    use sqlx::Row;
    let script = format!(
        "BEGIN IMMEDIATE;
         INSERT INTO assessments (system_id, technique_id, applicability, suggested, rationale, risk, updated_by, updated_at)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8
           WHERE coalesce((SELECT version FROM assessments WHERE system_id = $1 AND technique_id = $2), 0) = $9
         ON CONFLICT (system_id, technique_id) DO UPDATE SET
           applicability = excluded.applicability, suggested = excluded.suggested, rationale = excluded.rationale,
           risk = excluded.risk, version = assessments.version + 1, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at
         RETURNING {ASSESSMENT};
         INSERT INTO history (team_id, system_id, actor, at, entity, item, summary, before, after, batch)
           SELECT $10, $1, $7, $8, 'assessment', $2, $11, $12, $13, NULL WHERE changes() = 1
         RETURNING id;
         COMMIT;"
    );
    let next = change.next;
    let at = next
        .changed
        .updated_at
        .ok_or_else(|| decode_error("assessments", &next.technique_id, "updated_at", "a write without a time"))?;
    let mut connection = pool.acquire().await?;
    let outcome: Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> = sqlx::query(&script)
        .bind(change.system_id)
        .bind(&next.technique_id)
        .bind(next.applicability.as_str())
        .bind(next.suggested)
        .bind(&next.rationale)
        .bind(next.risk.map(Rating::as_str))
        .bind(change.actor)
        .bind(time_param(at))
        .bind(change.from_version)
        .bind(change.team_id)
        .bind(change.summary)
        .bind(JsonParam(change.before.encode()))
        .bind(JsonParam(change.after.encode()))
        .fetch_all(&mut *connection)
        .await;
    let rows = match outcome {
        Ok(rows) => rows,
        Err(error) => {
            // A statement failed between BEGIN and COMMIT: end the transaction here.
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            return Err(error);
        }
    };
    let mut stored = None;
    let mut entry = None;
    for row in rows {
        if row.len() == 1 {
            entry = Some(row.try_get::<i64, _>(0)?);
        } else {
            stored = Some(AssessmentRow::from_row(&row)?.decode(change.system_id)?);
        }
    }
    Ok(stored.zip(entry))
}

pub async fn statuses(
    db: impl Into<Exec<'_>>,
    kind: StatusKind,
    system_id: i64,
) -> Result<Vec<StatusRecord>, sqlx::Error> {
    let (table, _) = kind.table();
    let sql = format!("select {} from {table} where system_id = $1", kind.columns());
    let rows: Vec<StatusRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).fetch_all(e).await)?;
    rows.into_iter().map(|row| row.decode(kind, system_id)).collect()
}

pub async fn status(
    db: impl Into<Exec<'_>>,
    kind: StatusKind,
    system_id: i64,
    item: &str,
) -> Result<Option<StatusRecord>, sqlx::Error> {
    let (table, key) = kind.table();
    let sql = format!("select {} from {table} where system_id = $1 and cast({key} as text) = $2", kind.columns());
    let row: Option<StatusRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(item)
        .fetch_optional(e)
        .await)?;
    row.map(|row| row.decode(kind, system_id)).transpose()
}

pub async fn put_status(
    tx: &mut Tx,
    kind: StatusKind,
    system_id: i64,
    record: &StatusRecord,
) -> Result<StatusRecord, sqlx::Error> {
    let (table, key) = kind.table();
    let sql = format!(
        "insert into {table} (system_id, {key}, status, owner, target_date, evidence, notes, updated_by, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (system_id, {key}) do update set
           status = excluded.status, owner = excluded.owner, target_date = excluded.target_date,
           evidence = excluded.evidence, notes = excluded.notes, version = {table}.version + 1,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at
         returning {}",
        kind.columns()
    );
    let (by, at) = stamp(&record.changed, table, &record.item)?;
    let target_date = record.target_date.map(DayParam);
    let row: StatusRow = match kind {
        StatusKind::Mitigation => on_backend!(Exec::from(tx), e => sqlx::query_as(&sql)
            .bind(system_id)
            .bind(&record.item)
            .bind(record.status.as_str())
            .bind(&record.owner)
            .bind(target_date)
            .bind(&record.evidence)
            .bind(&record.notes)
            .bind(&by)
            .bind(at)
            .fetch_one(e)
            .await)?,
        StatusKind::Control => {
            let control: i64 =
                record.item.parse().map_err(|_| decode_error(table, &record.item, key, "not a control ID"))?;
            on_backend!(Exec::from(tx), e => sqlx::query_as(&sql)
                .bind(system_id)
                .bind(control)
                .bind(record.status.as_str())
                .bind(&record.owner)
                .bind(target_date)
                .bind(&record.evidence)
                .bind(&record.notes)
                .bind(&by)
                .bind(at)
                .fetch_one(e)
                .await)?
        }
    };
    row.decode(kind, system_id)
}

/// The acceptances in force or expired; withdrawn ones are left out.
pub async fn acceptances(db: impl Into<Exec<'_>>, system_id: i64) -> Result<Vec<Acceptance>, sqlx::Error> {
    let sql = format!("select {ACCEPTANCE} from risk_acceptances where system_id = $1 and withdrawn_at is null");
    let rows: Vec<AcceptanceRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).fetch_all(e).await)?;
    rows.into_iter().map(|row| row.decode(system_id)).collect()
}

pub async fn acceptance(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    technique_id: &str,
) -> Result<Option<Acceptance>, sqlx::Error> {
    let sql = format!(
        "select {ACCEPTANCE} from risk_acceptances where system_id = $1 and technique_id = $2 and withdrawn_at is null"
    );
    let row: Option<AcceptanceRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(technique_id)
        .fetch_optional(e)
        .await)?;
    row.map(|row| row.decode(system_id)).transpose()
}

/// The version of a technique's acceptance, withdrawn or not; 0 when there
/// never was one. Versions never repeat, so a stale write is always caught.
pub async fn acceptance_version(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    technique_id: &str,
) -> Result<i64, sqlx::Error> {
    let version: Option<i64> = on_backend!(db.into(), e => sqlx::query_scalar(
        "select version from risk_acceptances where system_id = $1 and technique_id = $2",
    )
    .bind(system_id)
    .bind(technique_id)
    .fetch_optional(e)
    .await)?;
    Ok(version.unwrap_or(0))
}

pub async fn put_acceptance(tx: &mut Tx, system_id: i64, acceptance: &Acceptance) -> Result<Acceptance, sqlx::Error> {
    let sql = format!(
        "insert into risk_acceptances (system_id, technique_id, justification, accepted_by, expires_on, updated_by, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (system_id, technique_id) do update set
           justification = excluded.justification, accepted_by = excluded.accepted_by,
           expires_on = excluded.expires_on, version = risk_acceptances.version + 1,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at, withdrawn_at = null
         returning {ACCEPTANCE}"
    );
    let (by, at) = stamp(&acceptance.changed, "risk_acceptances", &acceptance.technique_id)?;
    let row: AcceptanceRow = on_backend!(Exec::from(tx), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(&acceptance.technique_id)
        .bind(&acceptance.justification)
        .bind(&acceptance.accepted_by)
        .bind(DayParam(acceptance.expires_on))
        .bind(&by)
        .bind(at)
        .fetch_one(e)
        .await)?;
    row.decode(system_id)
}

/// Withdraws an acceptance: the row stays, marked withdrawn, with its version bumped.
pub async fn withdraw_acceptance(
    tx: &mut Tx,
    system_id: i64,
    technique_id: &str,
    changed: &Changed,
) -> Result<bool, sqlx::Error> {
    let (by, at) = stamp(changed, "risk_acceptances", technique_id)?;
    let withdrawn = on_backend!(Exec::from(tx), e => sqlx::query(
        "update risk_acceptances set withdrawn_at = $1, version = version + 1, updated_by = $2, updated_at = $1
         where system_id = $3 and technique_id = $4 and withdrawn_at is null",
    )
    .bind(at)
    .bind(&by)
    .bind(system_id)
    .bind(technique_id)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(withdrawn > 0)
}
