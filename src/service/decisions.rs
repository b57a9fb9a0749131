//! Recording a team's decisions on one system: technique applicability,
//! mitigation and control statuses, risk acceptances, bulk changes,
//! suggested scope, and undo.

use std::collections::HashMap;

use serde_json::Value;

use super::{Actor, ServiceError, ServiceResult, SystemContext, begin_write, now, system_context, to_json};
use crate::atlas::model::is_technique_id;
use crate::core::Core;
use crate::db::decisions::{AcceptanceRow, AssessmentRow, StatusKind, StatusRow};
use crate::db::{self, history::NewEntry};
use crate::domain::{Applicability, FieldError, ImplementationStatus, Rating, date, format_date, limits, text};
use crate::live::Change;

/// A write that went through, with the history entry that records it.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub row: T,
    /// `None` when nothing changed (no entry was written).
    pub history_id: Option<i64>,
    /// True when the write made the item (none was in force before).
    pub created: bool,
}

/// Fields to change on a technique assessment; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AssessmentChange {
    pub applicability: Option<Applicability>,
    pub rationale: Option<String>,
    /// `Some(None)` clears the rating.
    pub risk: Option<Option<Rating>>,
}

/// Fields to change on a mitigation or control status.
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    pub status: Option<ImplementationStatus>,
    pub owner: Option<String>,
    /// `Some(None)` clears the date; dates are `YYYY-MM-DD`.
    pub target_date: Option<Option<String>>,
    pub evidence: Option<String>,
    pub notes: Option<String>,
}

pub struct AcceptanceInput {
    pub justification: String,
    /// Defaults to the actor.
    pub accepted_by: Option<String>,
    pub expires_on: String,
}

fn check_technique(ctx: &SystemContext, technique_id: &str) -> ServiceResult<()> {
    if ctx.framework.technique(technique_id).is_none() {
        return Err(FieldError::unknown(
            "technique_id",
            format!("{technique_id} is not a technique of ATLAS release {}", ctx.framework.version()),
        )
        .into());
    }
    Ok(())
}

fn check_version(what: &str, current: i64, expected: Option<i64>) -> ServiceResult<()> {
    match expected {
        Some(expected) if expected != current => Err(ServiceError::conflict(what, current, expected)),
        _ => Ok(()),
    }
}

/// "applicability: unknown → applies; rationale edited", from two row JSONs.
fn describe(before: Option<&str>, after: Option<&str>) -> String {
    let parse = |s: Option<&str>| s.and_then(|s| serde_json::from_str::<Value>(s).ok()).unwrap_or(Value::Null);
    let (before, after) = (parse(before), parse(after));
    let Some(fields) = after.as_object().or(before.as_object()) else { return String::new() };
    let mut parts = Vec::new();
    for key in fields.keys() {
        if matches!(key.as_str(), "version" | "updated_by" | "updated_at" | "technique_id" | "item") {
            continue;
        }
        let old = before.get(key).unwrap_or(&Value::Null);
        let new = after.get(key).unwrap_or(&Value::Null);
        if old == new {
            continue;
        }
        let show = |v: &Value| match v {
            Value::Null => "none".to_string(),
            Value::String(s) if s.is_empty() => "none".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if matches!(key.as_str(), "rationale" | "notes" | "evidence" | "justification") {
            parts.push(format!("{key} edited"));
        } else {
            parts.push(format!("{key}: {} → {}", show(old), show(new)));
        }
    }
    parts.join("; ")
}

#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &mut sqlx::SqliteConnection,
    ctx: &SystemContext,
    actor: &Actor,
    at: &str,
    entity: &str,
    item: &str,
    label: &str,
    before: Option<String>,
    after: Option<String>,
    batch: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let change = describe(before.as_deref(), after.as_deref());
    let summary = if after.is_none() { format!("{label}: removed") } else { format!("{label}: {change}") };
    let id = db::history::append(
        &mut *tx,
        NewEntry {
            team_id: ctx.system.team_id,
            system_id: Some(ctx.system.id),
            actor: actor.name(),
            at,
            entity,
            item,
            summary: &summary,
            before,
            after,
            batch,
        },
    )
    .await?;
    Ok(id)
}

fn announce(core: &Core, system_id: i64, techniques: Vec<String>, actor: &Actor) {
    core.live.changed(Change { system_id, techniques, actor: actor.name().to_string() });
}

pub async fn set_assessment(
    core: &Core,
    system_id: i64,
    technique_id: &str,
    change: AssessmentChange,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<AssessmentRow>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let rationale = change.rationale.as_deref().map(|r| text("rationale", r, limits::RATIONALE, false)).transpose()?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::decisions::assessment(&mut *tx, system_id, technique_id)
        .await?
        .unwrap_or_else(|| AssessmentRow::unassessed(technique_id));
    check_version(&format!("the assessment of {technique_id}"), current.version, expected_version)?;
    let mut next = current.clone();
    apply_assessment_change(&mut next, &AssessmentChange { rationale, ..change });
    if next == current {
        return Ok(Written { row: current, history_id: None, created: false });
    }
    let created = current.version == 0;
    next.updated_by = actor.name().to_string();
    next.updated_at = at.clone();
    let row = db::decisions::put_assessment(&mut tx, system_id, &next).await?;
    let before = to_json(&current);
    let name = ctx.framework.technique(technique_id).map(|t| t.name.as_str()).unwrap_or(technique_id);
    let label = format!("{technique_id} {name}");
    let history_id =
        record(&mut tx, &ctx, actor, &at, "assessment", technique_id, &label, before, to_json(&row), None).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(system_id, |s| {
        s.assessments.insert(row.technique_id.clone(), row.clone());
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Written { row, history_id: Some(history_id), created })
}

/// Applies a checked change to an assessment row.
fn apply_assessment_change(row: &mut AssessmentRow, change: &AssessmentChange) {
    if let Some(applicability) = change.applicability {
        row.applicability = applicability.as_str().to_string();
        // A decision replaces the suggestion.
        row.suggested = row.suggested && applicability == Applicability::Unknown;
    }
    if let Some(rationale) = &change.rationale {
        rationale.clone_into(&mut row.rationale);
    }
    if let Some(risk) = change.risk {
        row.risk = risk.map(|r| r.as_str().to_string());
    }
}

/// Validates a status change against the limits and the date format.
fn apply_status_change(current: &StatusRow, change: StatusChange) -> ServiceResult<StatusRow> {
    let mut next = current.clone();
    if let Some(status) = change.status {
        next.status = status.as_str().to_string();
    }
    if let Some(owner) = change.owner {
        next.owner = text("owner", &owner, limits::OWNER, false)?;
    }
    if let Some(target) = change.target_date {
        next.target_date = match target.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(raw) => Some(format_date(date("target_date", raw)?)),
        };
    }
    if let Some(evidence) = change.evidence {
        next.evidence = text("evidence", &evidence, limits::EVIDENCE, false)?;
    }
    if let Some(notes) = change.notes {
        next.notes = text("notes", &notes, limits::NOTES, false)?;
    }
    Ok(next)
}

pub async fn set_mitigation_status(
    core: &Core,
    system_id: i64,
    mitigation_id: &str,
    change: StatusChange,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<StatusRow>> {
    let ctx = system_context(core, system_id).await?;
    let Some(mitigation) = ctx.framework.mitigation(mitigation_id) else {
        return Err(FieldError::unknown(
            "mitigation_id",
            format!("{mitigation_id} is not a mitigation of ATLAS release {}", ctx.framework.version()),
        )
        .into());
    };
    let affected: Vec<String> = mitigation.techniques.iter().map(|l| l.technique.clone()).collect();
    let label = format!("{} {}", mitigation.id, mitigation.name);
    write_status(core, &ctx, StatusKind::Mitigation, mitigation_id, &label, change, expected_version, actor, affected)
        .await
}

pub async fn set_control_status(
    core: &Core,
    system_id: i64,
    control_id: i64,
    change: StatusChange,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<StatusRow>> {
    let ctx = system_context(core, system_id).await?;
    let control = db::controls::get(&core.db, control_id)
        .await?
        .filter(|c| c.team_id == ctx.system.team_id)
        .ok_or_else(|| {
            FieldError::unknown("control_id", format!("control {control_id} is not a control of this system's team"))
        })?;
    let label = format!("control {}", control.name);
    let affected = control.technique_ids();
    let item = control_id.to_string();
    write_status(core, &ctx, StatusKind::Control, &item, &label, change, expected_version, actor, affected).await
}

#[allow(clippy::too_many_arguments)]
async fn write_status(
    core: &Core,
    ctx: &SystemContext,
    kind: StatusKind,
    item: &str,
    label: &str,
    change: StatusChange,
    expected_version: Option<i64>,
    actor: &Actor,
    affected: Vec<String>,
) -> ServiceResult<Written<StatusRow>> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::decisions::status(&mut *tx, kind, ctx.system.id, item)
        .await?
        .unwrap_or_else(|| StatusRow::not_started(item));
    check_version(&format!("the status of {label}"), current.version, expected_version)?;
    let mut next = apply_status_change(&current, change)?;
    if next == current {
        return Ok(Written { row: current, history_id: None, created: false });
    }
    next.updated_by = actor.name().to_string();
    next.updated_at = at.clone();
    let row = db::decisions::put_status(&mut tx, kind, ctx.system.id, &next).await?;
    let before = to_json(&current);
    let entity = match kind {
        StatusKind::Mitigation => "mitigation",
        StatusKind::Control => "control_status",
    };
    let history_id = record(&mut tx, ctx, actor, &at, entity, item, label, before, to_json(&row), None).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(ctx.system.id, |s| {
        let statuses = match kind {
            StatusKind::Mitigation => &mut s.mitigation_statuses,
            StatusKind::Control => &mut s.control_statuses,
        };
        statuses.insert(row.item.clone(), row.clone());
    });
    drop(turn);
    announce(core, ctx.system.id, affected, actor);
    Ok(Written { row, history_id: Some(history_id), created: current.version == 0 })
}

pub async fn set_acceptance(
    core: &Core,
    system_id: i64,
    technique_id: &str,
    input: AcceptanceInput,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<AcceptanceRow>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let justification = text("justification", &input.justification, limits::JUSTIFICATION, true)?;
    let accepted_by = match input.accepted_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => text("accepted_by", name, limits::OWNER, true)?,
        None => actor.name().to_string(),
    };
    // A date already past is accepted: the acceptance is recorded as expired
    // (a gap again), which is how one records a decision that has lapsed.
    let expires = date("expires_on", &input.expires_on)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::decisions::acceptance(&mut *tx, system_id, technique_id).await?;
    let version = db::decisions::acceptance_version(&mut *tx, system_id, technique_id).await?;
    check_version(&format!("the risk acceptance of {technique_id}"), version, expected_version)?;
    let next = AcceptanceRow {
        technique_id: technique_id.to_string(),
        justification,
        accepted_by,
        expires_on: format_date(expires),
        version: current.as_ref().map_or(0, |c| c.version),
        updated_by: actor.name().to_string(),
        updated_at: at.clone(),
    };
    if let Some(current) = current.as_ref().filter(|c| {
        c.justification == next.justification && c.accepted_by == next.accepted_by && c.expires_on == next.expires_on
    }) {
        return Ok(Written { row: current.clone(), history_id: None, created: false });
    }
    let row = db::decisions::put_acceptance(&mut tx, system_id, &next).await?;
    let label = format!("risk acceptance of {technique_id}");
    let before = current.as_ref().and_then(to_json);
    let history_id =
        record(&mut tx, &ctx, actor, &at, "acceptance", technique_id, &label, before, to_json(&row), None).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(system_id, |s| {
        s.acceptances.insert(row.technique_id.clone(), row.clone());
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Written { row, history_id: Some(history_id), created: current.is_none() })
}

pub async fn remove_acceptance(
    core: &Core,
    system_id: i64,
    technique_id: &str,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Option<i64>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let Some(current) = db::decisions::acceptance(&mut *tx, system_id, technique_id).await? else {
        return Err(ServiceError::NotFound(format!("{technique_id} has no risk acceptance on this system")));
    };
    check_version(&format!("the risk acceptance of {technique_id}"), current.version, expected_version)?;
    db::decisions::delete_acceptance(&mut tx, system_id, technique_id, actor.name(), &at).await?;
    let label = format!("risk acceptance of {technique_id}");
    let history_id =
        record(&mut tx, &ctx, actor, &at, "acceptance", technique_id, &label, to_json(&current), None, None).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(system_id, |s| {
        s.acceptances.remove(technique_id);
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Some(history_id))
}

/// Checks a list of technique IDs against the system's release, listing every unknown one.
fn check_techniques(ctx: &SystemContext, techniques: &[String]) -> ServiceResult<()> {
    if techniques.is_empty() {
        return Err(FieldError::new("techniques", "choose at least one technique").into());
    }
    if techniques.len() > limits::BULK_ITEMS {
        return Err(FieldError::new("techniques", format!("at most {} per request", limits::BULK_ITEMS)).into());
    }
    let malformed: Vec<&str> = techniques.iter().filter(|t| !is_technique_id(t)).map(String::as_str).take(10).collect();
    if !malformed.is_empty() {
        return Err(FieldError::new(
            "techniques",
            format!("not technique IDs (AML.T0000 or AML.T0000.000): {}", malformed.join(", ")),
        )
        .into());
    }
    let unknown: Vec<&str> =
        techniques.iter().filter(|t| ctx.framework.technique(t).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(FieldError::unknown(
            "techniques",
            format!("not in ATLAS release {}: {}", ctx.framework.version(), unknown.join(", ")),
        )
        .into());
    }
    Ok(())
}

/// One bulk change of assessments, all or nothing, recorded as one batch.
async fn write_batch(
    core: &Core,
    ctx: &SystemContext,
    techniques: &[String],
    actor: &Actor,
    mut edit: impl FnMut(&mut AssessmentRow),
) -> ServiceResult<BatchResult> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let batch = next_history_id(&mut tx).await?;
    let mut changed = Vec::new();
    let mut rows = Vec::new();
    for technique_id in techniques {
        let current = db::decisions::assessment(&mut *tx, ctx.system.id, technique_id)
            .await?
            .unwrap_or_else(|| AssessmentRow::unassessed(technique_id));
        let mut next = current.clone();
        edit(&mut next);
        if next == current {
            continue;
        }
        next.updated_by = actor.name().to_string();
        next.updated_at = at.clone();
        let row = db::decisions::put_assessment(&mut tx, ctx.system.id, &next).await?;
        let before = to_json(&current);
        let name = ctx.framework.technique(technique_id).map(|t| t.name.as_str()).unwrap_or(technique_id);
        let label = format!("{technique_id} {name}");
        record(&mut tx, ctx, actor, &at, "assessment", technique_id, &label, before, to_json(&row), Some(batch))
            .await?;
        changed.push(technique_id.clone());
        rows.push(row);
    }
    let turn = tx.commit().await?;
    core.snapshots.patch(ctx.system.id, |s| {
        for row in rows {
            s.assessments.insert(row.technique_id.clone(), row);
        }
    });
    drop(turn);
    if changed.is_empty() {
        return Ok(BatchResult { changed, batch: None });
    }
    announce(core, ctx.system.id, changed.clone(), actor);
    Ok(BatchResult { changed, batch: Some(batch) })
}

#[derive(Debug, Clone)]
pub struct BatchResult {
    pub changed: Vec<String>,
    /// The history entry to pass to [`undo`] to revert this change.
    pub batch: Option<i64>,
}

/// The id the next history entry will get: entries of one bulk action carry
/// it as their batch (the history is append-only, so it cannot be set after).
/// Safe because the caller holds the write lock.
async fn next_history_id(tx: &mut sqlx::SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select coalesce(max(id), 0) + 1 from history").fetch_one(&mut *tx).await
}

/// Changes the assessments of many techniques, each in its own way (an
/// import): every technique and value is checked first, then everything is
/// written in one transaction and recorded as one batch in the history, so
/// one undo reverts it. A technique named twice is refused.
pub async fn set_assessments(
    core: &Core,
    system_id: i64,
    changes: &[(String, AssessmentChange)],
    actor: &Actor,
) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    if changes.is_empty() {
        return Ok(BatchResult { changed: Vec::new(), batch: None });
    }
    let techniques: Vec<String> = changes.iter().map(|(technique, _)| technique.clone()).collect();
    check_techniques(&ctx, &techniques)?;
    let mut checked: HashMap<&str, AssessmentChange> = HashMap::with_capacity(changes.len());
    for (technique, change) in changes {
        let rationale = change
            .rationale
            .as_deref()
            .map(|r| text(&format!("{technique}: rationale"), r, limits::RATIONALE, false))
            .transpose()?;
        let change = AssessmentChange { rationale, ..change.clone() };
        if checked.insert(technique.as_str(), change).is_some() {
            return Err(FieldError::new("techniques", format!("{technique} is given more than once")).into());
        }
    }
    write_batch(core, &ctx, &techniques, actor, |row| {
        if let Some(change) = checked.get(row.technique_id.as_str()) {
            apply_assessment_change(row, change);
        }
    })
    .await
}

/// Sets one applicability on many techniques.
pub async fn bulk_applicability(
    core: &Core,
    system_id: i64,
    techniques: &[String],
    applicability: Applicability,
    actor: &Actor,
) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    check_techniques(&ctx, techniques)?;
    write_batch(core, &ctx, techniques, actor, |row| {
        row.applicability = applicability.as_str().to_string();
        row.suggested = row.suggested && applicability == Applicability::Unknown;
    })
    .await
}

/// Marks as likely-applicable (suggested) every not-yet-assessed technique
/// whose ATLAS platforms share one with the system's platforms.
pub async fn suggest_scope(core: &Core, system_id: i64, actor: &Actor) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    let system = super::systems::System::from(ctx.system.clone());
    if system.platforms.is_empty() {
        return Err(
            FieldError::new("platforms", "the system names no ATLAS platform to match techniques against").into()
        );
    }
    let assessed: std::collections::HashSet<String> = db::decisions::assessments(&core.db, system_id)
        .await?
        .into_iter()
        .filter(|a| a.applicability != Applicability::Unknown.as_str() || a.suggested)
        .map(|a| a.technique_id)
        .collect();
    let matching: Vec<String> = ctx
        .framework
        .techniques()
        .iter()
        .filter(|t| t.platforms.iter().any(|p| system.platforms.contains(p)))
        .filter(|t| !assessed.contains(&t.id))
        .map(|t| t.id.clone())
        .collect();
    if matching.is_empty() {
        return Ok(BatchResult { changed: Vec::new(), batch: None });
    }
    write_batch(core, &ctx, &matching, actor, |row| {
        if row.applicability == Applicability::Unknown.as_str() {
            row.suggested = true;
        }
    })
    .await
}

/// Turns every suggestion into "applies".
pub async fn confirm_suggestions(core: &Core, system_id: i64, actor: &Actor) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    let suggested: Vec<String> = db::decisions::assessments(&core.db, system_id)
        .await?
        .into_iter()
        .filter(|a| a.suggested && a.applicability == Applicability::Unknown.as_str())
        .map(|a| a.technique_id)
        .collect();
    if suggested.is_empty() {
        return Ok(BatchResult { changed: Vec::new(), batch: None });
    }
    write_batch(core, &ctx, &suggested, actor, |row| {
        row.applicability = Applicability::Applies.as_str().to_string();
        row.suggested = false;
    })
    .await
}

/// A system's change history, newest first, optionally of one item
/// (technique, mitigation or control ID). Readable even when the system's
/// release is not loaded.
pub async fn history(
    core: &Core,
    system_id: i64,
    item: Option<&str>,
    limit: i64,
) -> ServiceResult<Vec<db::history::HistoryEntry>> {
    if db::systems::get(&core.db, system_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("system {system_id} does not exist")));
    }
    Ok(db::history::for_system(&core.db, system_id, item, limit).await?)
}

/// Reverts a change (one history entry, or the whole bulk action it belongs
/// to), provided nobody changed the same items since. The revert is itself
/// recorded in the history.
pub async fn undo(core: &Core, system_id: i64, history_id: i64, actor: &Actor) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    let entry = db::history::get(&core.db, history_id)
        .await?
        .filter(|e| e.system_id == Some(system_id))
        .ok_or_else(|| ServiceError::NotFound(format!("change {history_id} is not in this system's history")))?;
    let entries = match entry.batch {
        Some(batch) => db::history::batch(&core.db, batch).await?,
        None => vec![entry],
    };
    let at = now();
    let mut tx = begin_write(core).await?;
    let mut changed = Vec::new();
    let first_id = next_history_id(&mut tx).await?;
    let undo_batch = (entries.len() > 1).then_some(first_id);
    for entry in entries.iter().rev() {
        let version_after = entry
            .after
            .as_deref()
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .and_then(|v| v.get("version").and_then(Value::as_i64));
        let restored_after: Option<String>;
        match entry.entity.as_str() {
            "assessment" => {
                let current = db::decisions::assessment(&mut *tx, system_id, &entry.item).await?;
                check_version(
                    &format!("the assessment of {}", entry.item),
                    current.as_ref().map_or(0, |c| c.version),
                    version_after,
                )?;
                let mut target: AssessmentRow = match entry.before.as_deref() {
                    Some(before) => serde_json::from_str(before)
                        .map_err(|e| ServiceError::Database(sqlx::Error::Decode(Box::new(e))))?,
                    None => AssessmentRow::unassessed(&entry.item),
                };
                target.updated_by = actor.name().to_string();
                target.updated_at = at.clone();
                restored_after = to_json(&db::decisions::put_assessment(&mut tx, system_id, &target).await?);
                changed.push(entry.item.clone());
            }
            "mitigation" | "control_status" => {
                let kind = if entry.entity == "mitigation" { StatusKind::Mitigation } else { StatusKind::Control };
                let current = db::decisions::status(&mut *tx, kind, system_id, &entry.item).await?;
                check_version(
                    &format!("the status of {}", entry.item),
                    current.as_ref().map_or(0, |c| c.version),
                    version_after,
                )?;
                let mut target: StatusRow = match entry.before.as_deref() {
                    Some(before) => serde_json::from_str(before)
                        .map_err(|e| ServiceError::Database(sqlx::Error::Decode(Box::new(e))))?,
                    None => StatusRow::not_started(&entry.item),
                };
                target.updated_by = actor.name().to_string();
                target.updated_at = at.clone();
                restored_after = to_json(&db::decisions::put_status(&mut tx, kind, system_id, &target).await?);
                changed.extend(affected_by_status(core, &ctx, kind, &entry.item).await?);
            }
            "acceptance" => {
                // A withdrawal left the acceptance one version past the one it withdrew.
                let version_before = entry
                    .before
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<Value>(b).ok())
                    .and_then(|v| v.get("version").and_then(Value::as_i64));
                let expected = version_after.or(version_before.map(|v| v + 1)).unwrap_or(0);
                let current = db::decisions::acceptance_version(&mut *tx, system_id, &entry.item).await?;
                check_version(&format!("the risk acceptance of {}", entry.item), current, Some(expected))?;
                restored_after = match entry.before.as_deref() {
                    Some(before) => {
                        let mut target: AcceptanceRow = serde_json::from_str(before)
                            .map_err(|e| ServiceError::Database(sqlx::Error::Decode(Box::new(e))))?;
                        target.updated_by = actor.name().to_string();
                        target.updated_at = at.clone();
                        to_json(&db::decisions::put_acceptance(&mut tx, system_id, &target).await?)
                    }
                    None => {
                        db::decisions::delete_acceptance(&mut tx, system_id, &entry.item, actor.name(), &at).await?;
                        None
                    }
                };
                changed.push(entry.item.clone());
            }
            other => {
                return Err(ServiceError::Refused(format!(
                    "change {history_id} is a change to a {other}, which cannot be undone here"
                )));
            }
        }
        let summary = format!("undid change #{}: {}", entry.id, entry.summary);
        db::history::append(
            &mut *tx,
            NewEntry {
                team_id: ctx.system.team_id,
                system_id: Some(system_id),
                actor: actor.name(),
                at: &at,
                entity: &entry.entity,
                item: &entry.item,
                summary: &summary,
                before: entry.after.clone(),
                after: restored_after,
                batch: undo_batch,
            },
        )
        .await?;
    }
    tx.commit().await?;
    core.snapshots.invalidate(system_id);
    announce(core, system_id, changed.clone(), actor);
    Ok(BatchResult { changed, batch: Some(first_id) })
}

async fn affected_by_status(
    core: &Core,
    ctx: &SystemContext,
    kind: StatusKind,
    item: &str,
) -> ServiceResult<Vec<String>> {
    Ok(match kind {
        StatusKind::Mitigation => ctx
            .framework
            .mitigation(item)
            .map(|m| m.techniques.iter().map(|l| l.technique.clone()).collect())
            .unwrap_or_default(),
        StatusKind::Control => match item.parse::<i64>() {
            Ok(id) => db::controls::get(&core.db, id).await?.map(|c| c.technique_ids()).unwrap_or_default(),
            Err(_) => Vec::new(),
        },
    })
}
