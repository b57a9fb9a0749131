//! A system's change history as people read it (all of it, a search, what
//! shaped one technique), and undoing one change or bulk action of it.

use super::{BatchResult, StatusKind, announce, check_version};
use crate::core::Core;
use crate::db::{self, history::NewEntry};
use crate::domain::history::{Entity, HistoryEntry, Recorded};
use crate::domain::records::{Acceptance, Assessment, Changed, DetectionRecord, StatusRecord};
use crate::service::{Actor, ServiceError, ServiceResult, SystemContext, begin_write, now, system_context};

/// A system's change history, newest first, optionally of one item
/// (technique, mitigation or control ID). Readable even when the system's
/// release is not loaded.
pub async fn history(core: &Core, system_id: i64, item: Option<&str>, limit: i64) -> ServiceResult<Vec<HistoryEntry>> {
    if db::systems::get(&core.db, system_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("system {system_id} does not exist")));
    }
    Ok(db::history::for_system(&core.db, system_id, item, limit).await?)
}

/// A system's history narrowed by a query (items, person, period), newest first.
pub async fn search_history(
    core: &Core,
    system_id: i64,
    query: &db::history::HistoryQuery,
    limit: i64,
) -> ServiceResult<Vec<HistoryEntry>> {
    if db::systems::get(&core.db, system_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("system {system_id} does not exist")));
    }
    Ok(db::history::search(&core.db, system_id, query, limit).await?)
}

/// Everything that changed what a technique's state is made of: its own
/// assessment and acceptance, and the status of every mitigation and
/// control that covers it (a status shared with other techniques included).
pub async fn technique_history(
    core: &Core,
    snapshot: &crate::service::snapshot::Snapshot,
    technique_id: &str,
    limit: i64,
) -> ServiceResult<Vec<HistoryEntry>> {
    let mut items = vec![technique_id.to_string()];
    items.extend(snapshot.framework.mitigations_for(technique_id).map(|m| m.id.clone()));
    items.extend(snapshot.controls_for(technique_id).map(|c| c.id.to_string()));
    Ok(db::history::recent_for_items(&core.db, snapshot.system.id, &items, limit).await?)
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
    let changed_now = Changed::by(actor.name(), at);
    let mut tx = begin_write(core).await?;
    let mut changed = Vec::new();
    let first_id = db::history::next_id(&mut tx).await?;
    let undo_batch = (entries.len() > 1).then_some(first_id);
    let mut repinned = false;
    for entry in entries.iter().rev() {
        let version_after = entry.after.as_ref().map(Recorded::version);
        let restored = match (entry.entity, entry.before.as_ref()) {
            (Entity::Assessment, before) => {
                let current = db::decisions::assessment(&mut tx, system_id, &entry.item).await?;
                let what = format!("the assessment of {}", entry.item);
                check_version(&what, current.as_ref().map_or(0, |c| c.version), version_after)?;
                let target = match before {
                    Some(Recorded::Assessment(before)) => before.clone(),
                    None => Assessment::unassessed(&entry.item),
                    Some(_) => return Err(unreadable(entry)),
                };
                let target = Assessment { changed: changed_now.clone(), ..target };
                changed.push(entry.item.clone());
                Some(Recorded::Assessment(db::decisions::put_assessment(&mut tx, system_id, &target).await?))
            }
            (Entity::Mitigation | Entity::ControlStatus, before) => {
                let kind =
                    if entry.entity == Entity::Mitigation { StatusKind::Mitigation } else { StatusKind::Control };
                let current = db::decisions::status(&mut tx, kind, system_id, &entry.item).await?;
                let what = format!("the status of {}", entry.item);
                check_version(&what, current.as_ref().map_or(0, |c| c.version), version_after)?;
                let target = match before {
                    Some(Recorded::Status(before)) => before.clone(),
                    None => StatusRecord::not_started(&entry.item),
                    Some(_) => return Err(unreadable(entry)),
                };
                let target = StatusRecord { changed: changed_now.clone(), ..target };
                changed.extend(affected_by_status(core, &ctx, kind, &entry.item).await?);
                Some(Recorded::Status(db::decisions::put_status(&mut tx, kind, system_id, &target).await?))
            }
            (Entity::Acceptance, before) => {
                // A withdrawal left the acceptance one version past the one it withdrew.
                let expected = version_after.or(before.map(|b| b.version() + 1)).unwrap_or(0);
                let current = db::decisions::acceptance_version(&mut tx, system_id, &entry.item).await?;
                check_version(&format!("the risk acceptance of {}", entry.item), current, Some(expected))?;
                changed.push(entry.item.clone());
                match before {
                    Some(Recorded::Acceptance(before)) => {
                        let target = Acceptance { changed: changed_now.clone(), ..before.clone() };
                        Some(Recorded::Acceptance(db::decisions::put_acceptance(&mut tx, system_id, &target).await?))
                    }
                    None => {
                        db::decisions::withdraw_acceptance(&mut tx, system_id, &entry.item, &changed_now).await?;
                        None
                    }
                    Some(_) => return Err(unreadable(entry)),
                }
            }
            (Entity::DetectionStatus, before) => {
                let current = db::detections::status(&mut tx, system_id, &entry.item).await?;
                let what = format!("the detection of {}", entry.item);
                check_version(&what, current.as_ref().map_or(0, |c| c.version), version_after)?;
                let target = match before {
                    Some(Recorded::DetectionStatus(before)) => before.clone(),
                    None => DetectionRecord::undetected(&entry.item),
                    Some(_) => return Err(unreadable(entry)),
                };
                let target = DetectionRecord { changed: changed_now.clone(), ..target };
                changed.push(entry.item.clone());
                Some(Recorded::DetectionStatus(db::detections::put_status(&mut tx, system_id, &target).await?))
            }
            (Entity::System, Some(Recorded::System(before))) if is_pin_change(entry) => {
                let current = db::systems::get(&mut tx, system_id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(format!("system {system_id}")))?;
                check_version(&format!("system {}", current.name), current.version, version_after)?;
                let restored = db::systems::repin(&mut tx, system_id, current.version, &before.framework_version, at)
                    .await?
                    .ok_or_else(|| ServiceError::conflict("the system", current.version + 1, current.version))?;
                repinned = true;
                Some(Recorded::System(restored))
            }
            (other @ (Entity::System | Entity::Team | Entity::Control | Entity::Detection), _) => {
                return Err(ServiceError::Refused(format!(
                    "change {history_id} is a change to a {}, which cannot be undone here",
                    other.as_str()
                )));
            }
        };
        let summary = format!("undid change #{}: {}", entry.id, entry.summary);
        db::history::append(
            &mut tx,
            NewEntry {
                team_id: ctx.system.team_id,
                system_id: Some(system_id),
                actor: actor.name(),
                at,
                entity: entry.entity,
                item: &entry.item,
                summary: &summary,
                before: entry.after.as_ref(),
                after: restored.as_ref(),
                batch: undo_batch,
            },
        )
        .await?;
    }
    if repinned && let Some(batch) = entries.first().and_then(|e| e.batch) {
        // The upgrade's review flags go with it.
        db::reviews::clear_batch(&mut tx, system_id, batch).await?;
    }
    tx.commit().await?;
    core.snapshots.invalidate(system_id);
    // A new pin changes the whole matrix.
    announce(core, system_id, if repinned { Vec::new() } else { changed.clone() }, actor);
    Ok(BatchResult { changed, batch: Some(first_id) })
}

/// True for a history entry that changed only a system's release (an
/// upgrade), which undo can reverse; other system edits are undone by
/// editing the system again.
fn is_pin_change(entry: &HistoryEntry) -> bool {
    let unpinned = |record: Option<&Recorded>| match record {
        Some(Recorded::System(system)) => Some(crate::domain::records::System {
            framework_version: String::new(),
            version: 0,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
            ..system.clone()
        }),
        _ => None,
    };
    let (before, after) = (unpinned(entry.before.as_ref()), unpinned(entry.after.as_ref()));
    before.is_some() && before == after
}

/// A history entry whose record is of another kind than its entity says.
fn unreadable(entry: &HistoryEntry) -> ServiceError {
    ServiceError::Refused(format!(
        "change {} records a {} with a record of another kind; it cannot be undone",
        entry.id,
        entry.entity.as_str()
    ))
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
            Ok(id) => db::controls::get(&core.db, id).await?.map(|c| c.techniques).unwrap_or_default(),
            Err(_) => Vec::new(),
        },
    })
}
