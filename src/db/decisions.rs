//! A team's decisions about one system: technique assessments, mitigation
//! and control statuses, and risk acceptances. Each row carries a version;
//! writes name the version they expect and bump it.

use serde::{Deserialize, Serialize};
use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

#[derive(Debug, Clone, FromRow, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentRow {
    pub technique_id: String,
    pub applicability: String,
    pub suggested: bool,
    pub rationale: String,
    pub risk: Option<String>,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: String,
}

/// Status of a mitigation (`item` = its ATLAS ID) or a control (`item` = its numeric ID).
#[derive(Debug, Clone, FromRow, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRow {
    pub item: String,
    pub status: String,
    pub owner: String,
    pub target_date: Option<String>,
    pub evidence: String,
    pub notes: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptanceRow {
    pub technique_id: String,
    pub justification: String,
    pub accepted_by: String,
    pub expires_on: String,
    pub version: i64,
    pub updated_by: String,
    pub updated_at: String,
}

impl AssessmentRow {
    /// The row every technique has before anyone decides (version 0, not stored).
    pub fn unassessed(technique_id: &str) -> Self {
        AssessmentRow {
            technique_id: technique_id.to_string(),
            applicability: "unknown".into(),
            suggested: false,
            rationale: String::new(),
            risk: None,
            version: 0,
            updated_by: String::new(),
            updated_at: String::new(),
        }
    }
}

impl StatusRow {
    /// The status every mitigation or control has before anyone sets it (version 0, not stored).
    pub fn not_started(item: &str) -> Self {
        StatusRow {
            item: item.to_string(),
            status: "not_started".into(),
            owner: String::new(),
            target_date: None,
            evidence: String::new(),
            notes: String::new(),
            version: 0,
            updated_by: String::new(),
            updated_at: String::new(),
        }
    }
}

const ASSESSMENT: &str = "technique_id, applicability, suggested, rationale, risk, version, updated_by, updated_at";
const ACCEPTANCE: &str = "technique_id, justification, accepted_by, expires_on, version, updated_by, updated_at";

/// Which status table a [`StatusRow`] lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    Mitigation,
    Control,
}

impl StatusKind {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            StatusKind::Mitigation => ("mitigation_statuses", "mitigation_id"),
            StatusKind::Control => ("control_statuses", "control_id"),
        }
    }
}

pub async fn assessments(db: impl SqliteExecutor<'_>, system_id: i64) -> Result<Vec<AssessmentRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {ASSESSMENT} from assessments where system_id = ?"))
        .bind(system_id)
        .fetch_all(db)
        .await
}

pub async fn assessment(
    db: impl SqliteExecutor<'_>,
    system_id: i64,
    technique_id: &str,
) -> Result<Option<AssessmentRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {ASSESSMENT} from assessments where system_id = ? and technique_id = ?"))
        .bind(system_id)
        .bind(technique_id)
        .fetch_optional(db)
        .await
}

/// Writes an assessment row (version + 1, or 1 for a new row).
pub async fn put_assessment(
    db: &mut SqliteConnection,
    system_id: i64,
    row: &AssessmentRow,
) -> Result<AssessmentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into assessments (system_id, technique_id, applicability, suggested, rationale, risk, updated_by, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (system_id, technique_id) do update set
           applicability = excluded.applicability, suggested = excluded.suggested, rationale = excluded.rationale,
           risk = excluded.risk, version = assessments.version + 1, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at
         returning {ASSESSMENT}"
    ))
    .bind(system_id)
    .bind(&row.technique_id)
    .bind(&row.applicability)
    .bind(row.suggested)
    .bind(&row.rationale)
    .bind(&row.risk)
    .bind(&row.updated_by)
    .bind(&row.updated_at)
    .fetch_one(db)
    .await
}

pub async fn statuses(
    db: impl SqliteExecutor<'_>,
    kind: StatusKind,
    system_id: i64,
) -> Result<Vec<StatusRow>, sqlx::Error> {
    let (table, key) = kind.table();
    sqlx::query_as(&format!(
        "select cast({key} as text) as item, status, owner, target_date, evidence, notes, version, updated_by, updated_at
         from {table} where system_id = ?"
    ))
    .bind(system_id)
    .fetch_all(db)
    .await
}

pub async fn status(
    db: impl SqliteExecutor<'_>,
    kind: StatusKind,
    system_id: i64,
    item: &str,
) -> Result<Option<StatusRow>, sqlx::Error> {
    let (table, key) = kind.table();
    sqlx::query_as(&format!(
        "select cast({key} as text) as item, status, owner, target_date, evidence, notes, version, updated_by, updated_at
         from {table} where system_id = ? and cast({key} as text) = ?"
    ))
    .bind(system_id)
    .bind(item)
    .fetch_optional(db)
    .await
}

pub async fn put_status(
    db: &mut SqliteConnection,
    kind: StatusKind,
    system_id: i64,
    row: &StatusRow,
) -> Result<StatusRow, sqlx::Error> {
    let (table, key) = kind.table();
    sqlx::query_as(&format!(
        "insert into {table} (system_id, {key}, status, owner, target_date, evidence, notes, updated_by, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (system_id, {key}) do update set
           status = excluded.status, owner = excluded.owner, target_date = excluded.target_date,
           evidence = excluded.evidence, notes = excluded.notes, version = {table}.version + 1,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at
         returning cast({key} as text) as item, status, owner, target_date, evidence, notes, version, updated_by, updated_at"
    ))
    .bind(system_id)
    // A control ID arrives as text; the INTEGER column converts it losslessly.
    .bind(&row.item)
    .bind(&row.status)
    .bind(&row.owner)
    .bind(&row.target_date)
    .bind(&row.evidence)
    .bind(&row.notes)
    .bind(&row.updated_by)
    .bind(&row.updated_at)
    .fetch_one(db)
    .await
}

/// The acceptances in force or expired; withdrawn ones are left out.
pub async fn acceptances(db: impl SqliteExecutor<'_>, system_id: i64) -> Result<Vec<AcceptanceRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {ACCEPTANCE} from risk_acceptances where system_id = ? and withdrawn_at is null"))
        .bind(system_id)
        .fetch_all(db)
        .await
}

pub async fn acceptance(
    db: impl SqliteExecutor<'_>,
    system_id: i64,
    technique_id: &str,
) -> Result<Option<AcceptanceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "select {ACCEPTANCE} from risk_acceptances where system_id = ? and technique_id = ? and withdrawn_at is null"
    ))
    .bind(system_id)
    .bind(technique_id)
    .fetch_optional(db)
    .await
}

/// The version of a technique's acceptance, withdrawn or not; 0 when there
/// never was one. Versions never repeat, so a stale write is always caught.
pub async fn acceptance_version(
    db: impl SqliteExecutor<'_>,
    system_id: i64,
    technique_id: &str,
) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query_scalar("select version from risk_acceptances where system_id = ? and technique_id = ?")
        .bind(system_id)
        .bind(technique_id)
        .fetch_optional(db)
        .await?
        .unwrap_or(0))
}

pub async fn put_acceptance(
    db: &mut SqliteConnection,
    system_id: i64,
    row: &AcceptanceRow,
) -> Result<AcceptanceRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "insert into risk_acceptances (system_id, technique_id, justification, accepted_by, expires_on, updated_by, updated_at)
         values (?, ?, ?, ?, ?, ?, ?)
         on conflict (system_id, technique_id) do update set
           justification = excluded.justification, accepted_by = excluded.accepted_by,
           expires_on = excluded.expires_on, version = risk_acceptances.version + 1,
           updated_by = excluded.updated_by, updated_at = excluded.updated_at, withdrawn_at = null
         returning {ACCEPTANCE}"
    ))
    .bind(system_id)
    .bind(&row.technique_id)
    .bind(&row.justification)
    .bind(&row.accepted_by)
    .bind(&row.expires_on)
    .bind(&row.updated_by)
    .bind(&row.updated_at)
    .fetch_one(db)
    .await
}

/// Withdraws an acceptance: the row stays, marked withdrawn, with its version bumped.
pub async fn delete_acceptance(
    db: &mut SqliteConnection,
    system_id: i64,
    technique_id: &str,
    updated_by: &str,
    updated_at: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update risk_acceptances set withdrawn_at = ?, version = version + 1, updated_by = ?, updated_at = ?
         where system_id = ? and technique_id = ? and withdrawn_at is null",
    )
    .bind(updated_at)
    .bind(updated_by)
    .bind(updated_at)
    .bind(system_id)
    .bind(technique_id)
    .execute(db)
    .await?
    .rows_affected()
        > 0)
}
