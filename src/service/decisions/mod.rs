//! Recording a team's decisions on one system: technique applicability,
//! mitigation and control statuses, risk acceptances, bulk changes and
//! suggested scope; reading the history and undoing a change of it
//! ([`history`]).

use std::collections::HashMap;

use serde_json::Value;

use super::{Actor, ServiceError, ServiceResult, SystemContext, WriteTx, begin_write, now, system_context};
use crate::atlas::model::is_technique_id;
use crate::core::Core;
pub use crate::db::decisions::StatusKind;
use crate::db::{self, history::NewEntry};
use crate::domain::history::{Entity, Recorded};
use crate::domain::records::{Acceptance, Assessment, Changed, DetectionRecord, StatusRecord, Timestamp};
pub use crate::domain::records::{AssessmentChange, DetectionChange, StatusChange};
use crate::domain::{Applicability, FieldError, date, limits, text};
use crate::live::Change;

mod history;
pub use history::{history, search_history, technique_history, undo};

/// A write that went through, with the history entry that records it.
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub row: T,
    /// `None` when nothing changed (no entry was written).
    pub history_id: Option<i64>,
    /// True when the write made the item (none was in force before).
    pub created: bool,
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

/// "applicability: unknown → applies; rationale edited", from two records.
fn describe(before: Option<&Recorded>, after: Option<&Recorded>) -> String {
    let as_value = |r: Option<&Recorded>| r.map(Recorded::to_value).unwrap_or(Value::Null);
    let (before, after) = (as_value(before), as_value(after));
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

/// A decision's change, as the history records it.
struct Recording<'a> {
    entity: Entity,
    item: &'a str,
    /// The technique, mitigation or control as people know it.
    label: &'a str,
    before: Option<Recorded>,
    after: Option<Recorded>,
    batch: Option<i64>,
}

/// How the history sums a change up: "AML.T0051 …: applicability: unknown → applies".
fn summary(label: &str, before: Option<&Recorded>, after: Option<&Recorded>) -> String {
    match after {
        None => format!("{label}: removed"),
        Some(_) => format!("{label}: {}", describe(before, after)),
    }
}

async fn record(
    tx: &mut WriteTx,
    ctx: &SystemContext,
    actor: &Actor,
    at: Timestamp,
    change: Recording<'_>,
) -> Result<i64, sqlx::Error> {
    let summary = summary(change.label, change.before.as_ref(), change.after.as_ref());
    db::history::append(
        tx,
        NewEntry {
            team_id: ctx.system.team_id,
            system_id: Some(ctx.system.id),
            actor: actor.name(),
            at,
            entity: change.entity,
            item: change.item,
            summary: &summary,
            before: change.before.as_ref(),
            after: change.after.as_ref(),
            batch: change.batch,
        },
    )
    .await
}

fn technique_label(ctx: &SystemContext, technique_id: &str) -> String {
    let name = ctx.framework.technique(technique_id).map(|t| t.name.as_str()).unwrap_or(technique_id);
    format!("{technique_id} {name}")
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
) -> ServiceResult<Written<Assessment>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let at = now();
    if let Some(written) =
        set_assessment_in_one_trip(core, &ctx, technique_id, &change, expected_version, actor, at).await?
    {
        return Ok(written);
    }
    let mut tx = begin_write(core).await?;
    let current = db::decisions::assessment(&mut tx, system_id, technique_id)
        .await?
        .unwrap_or_else(|| Assessment::unassessed(technique_id));
    check_version(&format!("the assessment of {technique_id}"), current.version, expected_version)?;
    let next = current.with(&change)?;
    if next.same_decision(&current) {
        return Ok(Written { row: current, history_id: None, created: false });
    }
    let next = Assessment { changed: Changed::by(actor.name(), at), ..next };
    let row = db::decisions::put_assessment(&mut tx, system_id, &next).await?;
    let label = technique_label(&ctx, technique_id);
    let recording = Recording {
        entity: Entity::Assessment,
        item: technique_id,
        label: &label,
        before: Some(Recorded::Assessment(current.clone())),
        after: Some(Recorded::Assessment(row.clone())),
        batch: None,
    };
    let history_id = record(&mut tx, &ctx, actor, at, recording).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(system_id, |s| {
        s.assessments.insert(row.technique_id.clone(), row.clone());
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Written { row, history_id: Some(history_id), created: current.version == 0 })
}

/// [`set_assessment`] on SQLite when the system's snapshot is cached: the
/// current assessment is read from the snapshot (patched in commit order
/// under the turn to write), and the change and its history entry are
/// written in one trip to the database ([`db::decisions::put_assessment_in_one_trip`]),
/// guarded by the version the snapshot holds. `None` when this does not
/// apply or the database holds another version (another process wrote):
/// the caller takes the ordinary path, which reads the database.
async fn set_assessment_in_one_trip(
    core: &Core,
    ctx: &SystemContext,
    technique_id: &str,
    change: &AssessmentChange,
    expected_version: Option<i64>,
    actor: &Actor,
    at: Timestamp,
) -> ServiceResult<Option<Written<Assessment>>> {
    let Some(pool) = core.db.sqlite() else { return Ok(None) };
    let system_id = ctx.system.id;
    let turn = core.writes.clone().lock_owned().await;
    let (_, Some(snapshot)) = core.snapshots.get(system_id, core.catalog.generation()) else { return Ok(None) };
    let current =
        snapshot.assessments.get(technique_id).cloned().unwrap_or_else(|| Assessment::unassessed(technique_id));
    if expected_version.is_some_and(|expected| expected != current.version) {
        // A conflict is confirmed against the database.
        return Ok(None);
    }
    let next = current.with(change)?;
    if next.same_decision(&current) {
        return Ok(Some(Written { row: current, history_id: None, created: false }));
    }
    let whole_second = at.replace_nanosecond(0).unwrap_or(at);
    let next = Assessment { version: current.version + 1, changed: Changed::by(actor.name(), whole_second), ..next };
    let (before, after) = (Recorded::Assessment(current.clone()), Recorded::Assessment(next.clone()));
    let summary = summary(&technique_label(ctx, technique_id), Some(&before), Some(&after));
    let prepared = db::decisions::PreparedAssessment {
        system_id,
        team_id: ctx.system.team_id,
        from_version: current.version,
        next: &next,
        actor: actor.name(),
        summary: &summary,
        before: &before,
        after: &after,
    };
    let Some((row, history_id)) = db::decisions::put_assessment_in_one_trip(pool, &prepared).await? else {
        return Ok(None);
    };
    core.snapshots.patch(system_id, |s| {
        s.assessments.insert(row.technique_id.clone(), row.clone());
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Some(Written { row, history_id: Some(history_id), created: current.version == 0 }))
}

/// Records how a technique is detected on the system (the detection
/// dimension), versioned and in the history like every decision.
pub async fn set_detection_status(
    core: &Core,
    system_id: i64,
    technique_id: &str,
    change: DetectionChange,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<DetectionRecord>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::detections::status(&mut tx, system_id, technique_id)
        .await?
        .unwrap_or_else(|| DetectionRecord::undetected(technique_id));
    check_version(&format!("the detection of {technique_id}"), current.version, expected_version)?;
    let next = current.with(&change)?;
    if next.same_decision(&current) {
        return Ok(Written { row: current, history_id: None, created: false });
    }
    let next = DetectionRecord { changed: Changed::by(actor.name(), at), ..next };
    let row = db::detections::put_status(&mut tx, system_id, &next).await?;
    let label = format!("detection of {}", technique_label(&ctx, technique_id));
    let recording = Recording {
        entity: Entity::DetectionStatus,
        item: technique_id,
        label: &label,
        before: Some(Recorded::DetectionStatus(current.clone())),
        after: Some(Recorded::DetectionStatus(row.clone())),
        batch: None,
    };
    let history_id = record(&mut tx, &ctx, actor, at, recording).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(system_id, |s| {
        s.detection_statuses.insert(row.technique_id.clone(), row.clone());
    });
    drop(turn);
    announce(core, system_id, vec![technique_id.to_string()], actor);
    Ok(Written { row, history_id: Some(history_id), created: current.version == 0 })
}

pub async fn set_mitigation_status(
    core: &Core,
    system_id: i64,
    mitigation_id: &str,
    change: StatusChange,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Written<StatusRecord>> {
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
) -> ServiceResult<Written<StatusRecord>> {
    let ctx = system_context(core, system_id).await?;
    let control = db::controls::get(&core.db, control_id)
        .await?
        .filter(|c| c.team_id == ctx.system.team_id)
        .ok_or_else(|| {
            FieldError::unknown("control_id", format!("control {control_id} is not a control of this system's team"))
        })?;
    let label = format!("control {}", control.name);
    let affected = control.techniques;
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
) -> ServiceResult<Written<StatusRecord>> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::decisions::status(&mut tx, kind, ctx.system.id, item)
        .await?
        .unwrap_or_else(|| StatusRecord::not_started(item));
    check_version(&format!("the status of {label}"), current.version, expected_version)?;
    let next = current.with(&change)?;
    if next.same_decision(&current) {
        return Ok(Written { row: current, history_id: None, created: false });
    }
    let next = StatusRecord { changed: Changed::by(actor.name(), at), ..next };
    let row = db::decisions::put_status(&mut tx, kind, ctx.system.id, &next).await?;
    let recording = Recording {
        entity: kind.entity(),
        item,
        label,
        before: Some(Recorded::Status(current.clone())),
        after: Some(Recorded::Status(row.clone())),
        batch: None,
    };
    let history_id = record(&mut tx, ctx, actor, at, recording).await?;
    let turn = tx.commit().await?;
    core.snapshots.patch(ctx.system.id, |s| {
        s.statuses_mut(kind).insert(row.item.clone(), row.clone());
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
) -> ServiceResult<Written<Acceptance>> {
    let ctx = system_context(core, system_id).await?;
    check_technique(&ctx, technique_id)?;
    let justification = text("justification", &input.justification, limits::JUSTIFICATION, true)?;
    let accepted_by = match input.accepted_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => text("accepted_by", name, limits::OWNER, true)?,
        None => actor.name().to_string(),
    };
    // A date already past is accepted: the acceptance is recorded as expired
    // (a gap again), which is how one records a decision that has lapsed.
    let expires_on = date("expires_on", &input.expires_on)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::decisions::acceptance(&mut tx, system_id, technique_id).await?;
    let version = db::decisions::acceptance_version(&mut tx, system_id, technique_id).await?;
    check_version(&format!("the risk acceptance of {technique_id}"), version, expected_version)?;
    let next = Acceptance {
        technique_id: technique_id.to_string(),
        justification,
        accepted_by,
        expires_on,
        version,
        changed: Changed::by(actor.name(), at),
    };
    if let Some(current) = current.as_ref().filter(|c| c.same_decision(&next)) {
        return Ok(Written { row: current.clone(), history_id: None, created: false });
    }
    let row = db::decisions::put_acceptance(&mut tx, system_id, &next).await?;
    let label = format!("risk acceptance of {technique_id}");
    let recording = Recording {
        entity: Entity::Acceptance,
        item: technique_id,
        label: &label,
        before: current.clone().map(Recorded::Acceptance),
        after: Some(Recorded::Acceptance(row.clone())),
        batch: None,
    };
    let history_id = record(&mut tx, &ctx, actor, at, recording).await?;
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
    let Some(current) = db::decisions::acceptance(&mut tx, system_id, technique_id).await? else {
        return Err(ServiceError::NotFound(format!("{technique_id} has no risk acceptance on this system")));
    };
    check_version(&format!("the risk acceptance of {technique_id}"), current.version, expected_version)?;
    db::decisions::withdraw_acceptance(&mut tx, system_id, technique_id, &Changed::by(actor.name(), at)).await?;
    let label = format!("risk acceptance of {technique_id}");
    let recording = Recording {
        entity: Entity::Acceptance,
        item: technique_id,
        label: &label,
        before: Some(Recorded::Acceptance(current)),
        after: None,
        batch: None,
    };
    let history_id = record(&mut tx, &ctx, actor, at, recording).await?;
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
    mut edit: impl FnMut(&Assessment) -> Result<Assessment, FieldError>,
) -> ServiceResult<BatchResult> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let batch = db::history::next_id(&mut tx).await?;
    let mut changed = Vec::new();
    let mut rows = Vec::new();
    for technique_id in techniques {
        let current = db::decisions::assessment(&mut tx, ctx.system.id, technique_id)
            .await?
            .unwrap_or_else(|| Assessment::unassessed(technique_id));
        let next = edit(&current)?;
        if next.same_decision(&current) {
            continue;
        }
        let next = Assessment { changed: Changed::by(actor.name(), at), ..next };
        let row = db::decisions::put_assessment(&mut tx, ctx.system.id, &next).await?;
        let label = technique_label(ctx, technique_id);
        let recording = Recording {
            entity: Entity::Assessment,
            item: technique_id,
            label: &label,
            before: Some(Recorded::Assessment(current)),
            after: Some(Recorded::Assessment(row.clone())),
            batch: Some(batch),
        };
        record(&mut tx, ctx, actor, at, recording).await?;
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
    write_batch(core, &ctx, &techniques, actor, |row| match checked.get(row.technique_id.as_str()) {
        Some(change) => row.with(change),
        None => Ok(row.clone()),
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
    let change = AssessmentChange { applicability: Some(applicability), ..AssessmentChange::default() };
    write_batch(core, &ctx, techniques, actor, |row| row.with(&change)).await
}

/// Marks as likely-applicable (suggested) every not-yet-assessed technique
/// whose ATLAS platforms share one with the system's platforms.
pub async fn suggest_scope(core: &Core, system_id: i64, actor: &Actor) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    let system = &ctx.system;
    if system.platforms.is_empty() {
        return Err(
            FieldError::new("platforms", "the system names no ATLAS platform to match techniques against").into()
        );
    }
    let assessed: std::collections::HashSet<String> = db::decisions::assessments(&core.db, system_id)
        .await?
        .into_iter()
        .filter(|a| a.applicability != Applicability::Unknown || a.suggested)
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
        Ok(Assessment { suggested: row.suggested || row.applicability == Applicability::Unknown, ..row.clone() })
    })
    .await
}

/// Turns every suggestion into "applies".
pub async fn confirm_suggestions(core: &Core, system_id: i64, actor: &Actor) -> ServiceResult<BatchResult> {
    let ctx = system_context(core, system_id).await?;
    let suggested: Vec<String> = db::decisions::assessments(&core.db, system_id)
        .await?
        .into_iter()
        .filter(|a| a.suggested && a.applicability == Applicability::Unknown)
        .map(|a| a.technique_id)
        .collect();
    if suggested.is_empty() {
        return Ok(BatchResult { changed: Vec::new(), batch: None });
    }
    let confirm = AssessmentChange { applicability: Some(Applicability::Applies), ..AssessmentChange::default() };
    write_batch(core, &ctx, &suggested, actor, |row| row.with(&confirm)).await
}
