//! Named moments of a team ("Q3 review"), and reading the `from` and `to`
//! of a comparison: a day, an RFC 3339 time, or the name of a snapshot.

use super::trends::end_of;
use super::{Actor, ServiceError, ServiceResult, begin_write, duplicate, now};
use crate::core::Core;
use crate::db;
use crate::domain::digest::Moment;
use crate::domain::records::{TeamSnapshot, Timestamp, format_timestamp, parse_timestamp};
use crate::domain::{FieldError, limits, text};

pub struct SnapshotInput {
    pub name: String,
    /// A day (its end), an RFC 3339 time, or nothing for now.
    pub at: Option<String>,
}

/// Which end of a period a day stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// A day as a start means from the beginning of that day.
    Start,
    /// A day as an end means up to the end of that day.
    End,
}

/// A day or a time written in a field, if it is one.
fn time_in(field: &str, raw: &str, edge: Edge) -> Option<Timestamp> {
    if let Ok(day) = crate::domain::date(field, raw) {
        return Some(match edge {
            Edge::Start => day.previous_day().map_or_else(|| day.midnight().assume_utc(), end_of),
            Edge::End => end_of(day),
        });
    }
    parse_timestamp(raw)
}

pub async fn list(core: &Core, team_id: i64) -> ServiceResult<Vec<TeamSnapshot>> {
    super::teams::get(core, team_id).await?;
    Ok(db::team_snapshots::list(&core.db, team_id).await?)
}

/// Names a moment of the team: now, or a past day or time.
pub async fn create(core: &Core, team_id: i64, input: SnapshotInput, actor: &Actor) -> ServiceResult<TeamSnapshot> {
    let name = text("name", &input.name, limits::NAME, true)?;
    if time_in("name", &name, Edge::End).is_some() {
        return Err(FieldError::new(
            "name",
            format!("`{name}` reads as a day or a time, so comparisons could not tell it from one: add a word"),
        )
        .into());
    }
    let recorded = now();
    let at = match input.at.as_deref().map(str::trim).filter(|raw| !raw.is_empty()) {
        None => recorded,
        Some(raw) => time_in("at", raw, Edge::End).ok_or_else(|| {
            FieldError::new("at", format!("`{raw}` is neither a day (YYYY-MM-DD) nor an RFC 3339 time"))
        })?,
    };
    // A day that has not ended yet names the moment it is taken.
    let at = if at > recorded && at.date() == recorded.date() { recorded } else { at };
    if at > recorded {
        return Err(FieldError::new("at", format!("{} is in the future", format_timestamp(at))).into());
    }
    let mut tx = begin_write(core).await?;
    if db::teams::get(&mut tx, team_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("team {team_id} does not exist")));
    }
    let snapshot = db::team_snapshots::insert(&mut tx, team_id, &name, at, actor.name(), recorded)
        .await
        .map_err(|e| duplicate(e, || format!("name: this team already has a snapshot called {name}")))?;
    tx.commit().await?;
    Ok(snapshot)
}

pub async fn delete(core: &Core, team_id: i64, snapshot_id: i64) -> ServiceResult<()> {
    let mut tx = begin_write(core).await?;
    if !db::team_snapshots::delete(&mut tx, team_id, snapshot_id).await? {
        return Err(ServiceError::NotFound(format!("team {team_id} has no snapshot {snapshot_id}")));
    }
    tx.commit().await?;
    Ok(())
}

/// Reads one end of a comparison given in `field`: a day, an RFC 3339
/// time, or a snapshot of the team by name (an unknown name is not found,
/// naming the field).
pub async fn moment(core: &Core, team_id: i64, field: &'static str, raw: &str, edge: Edge) -> ServiceResult<Moment> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(FieldError::new(field, "is empty: give a day, a time or a snapshot name").into());
    }
    if let Some(at) = time_in(field, raw, edge) {
        return Ok(Moment { at, snapshot: None });
    }
    match db::team_snapshots::by_name(&core.db, team_id, raw).await? {
        Some(snapshot) => Ok(Moment { at: snapshot.at, snapshot: Some(snapshot.name) }),
        None => Err(FieldError::unknown(
            field,
            format!("`{raw}` is neither a day (YYYY-MM-DD), an RFC 3339 time, nor the name of a snapshot of this team"),
        )
        .into()),
    }
}

/// The newest snapshot of the team before `before`, as a moment.
pub async fn latest_before(core: &Core, team_id: i64, before: Timestamp) -> ServiceResult<Option<Moment>> {
    Ok(db::team_snapshots::latest_before(&core.db, team_id, before)
        .await?
        .map(|s| Moment { at: s.at, snapshot: Some(s.name) }))
}
