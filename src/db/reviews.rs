//! Review flags: techniques an upgrade asks a person to look at.

use super::{Exec, Tx, on_backend, time_param};
use crate::domain::records::Timestamp;

/// A technique flagged for review, and why.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReviewFlag {
    pub technique_id: String,
    pub reason: String,
}

/// Flags a technique (replacing an older flag on it).
pub async fn put(
    tx: &mut Tx,
    system_id: i64,
    technique_id: &str,
    reason: &str,
    batch: i64,
    at: Timestamp,
) -> Result<(), sqlx::Error> {
    on_backend!(Exec::from(tx), e => sqlx::query(
        "insert into review_flags (system_id, technique_id, reason, batch, flagged_at) values ($1, $2, $3, $4, $5)
         on conflict (system_id, technique_id) do update set reason = excluded.reason, batch = excluded.batch,
           flagged_at = excluded.flagged_at",
    )
    .bind(system_id)
    .bind(technique_id)
    .bind(reason)
    .bind(batch)
    .bind(time_param(at))
    .execute(e)
    .await
    .map(|_| ()))
}

/// A system's flags, by technique ID.
pub async fn list(db: impl Into<Exec<'_>>, system_id: i64) -> Result<Vec<ReviewFlag>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_as(
        "select technique_id, reason from review_flags where system_id = $1 order by technique_id",
    )
    .bind(system_id)
    .fetch_all(e)
    .await)
}

/// Clears one technique's flag; false when it had none.
pub async fn clear(db: impl Into<Exec<'_>>, system_id: i64, technique_id: &str) -> Result<bool, sqlx::Error> {
    let done = on_backend!(db.into(), e => sqlx::query(
        "delete from review_flags where system_id = $1 and technique_id = $2",
    )
    .bind(system_id)
    .bind(technique_id)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done > 0)
}

/// Clears the flags an upgrade raised (when it is undone).
pub async fn clear_batch(tx: &mut Tx, system_id: i64, batch: i64) -> Result<(), sqlx::Error> {
    on_backend!(Exec::from(tx), e => sqlx::query("delete from review_flags where system_id = $1 and batch = $2")
        .bind(system_id)
        .bind(batch)
        .execute(e)
        .await
        .map(|_| ()))
}
