//! The detections a team's security operations centre runs, mapped to
//! ATLAS techniques: kept by hand, or imported from Sigma rules (a preview
//! first, then one transaction recorded as one undoable change).

use std::collections::BTreeSet;

use super::{Actor, ServiceError, ServiceResult, begin_write, mapped_techniques, now};
use crate::atlas::Framework;
use crate::atlas::model::compare_versions;
use crate::core::Core;
use crate::db::{self, history::NewEntry};
use crate::domain::detection_import::{self, ImportPlan, RuleAction};
use crate::domain::history::{Entity, HistoryEntry, Recorded};
use crate::domain::records::{Detection, Timestamp, data_sources};
use crate::domain::{FieldError, limits, text};
use crate::sigma::{self, RuleFile};

/// A detection as a person writes it.
pub struct DetectionInput {
    pub name: String,
    pub description: String,
    pub data_sources: Vec<String>,
    pub reference: String,
    pub techniques: Vec<String>,
}

fn validate(core: &Core, team_id: i64, input: &DetectionInput) -> ServiceResult<Detection> {
    let name = text("name", &input.name, limits::NAME, true)?;
    let description = text("description", &input.description, limits::DESCRIPTION, false)?;
    let reference = text("reference", &input.reference, limits::REFERENCE, false)?;
    let sources = data_sources("data_sources", &input.data_sources)?;
    if input.techniques.iter().all(|t| t.trim().is_empty()) {
        return Err(FieldError::new("techniques", "map the detection to at least one technique").into());
    }
    let techniques = mapped_techniques(core, &input.techniques)?;
    let at = now();
    Ok(Detection {
        id: 0,
        team_id,
        name,
        description,
        data_sources: sources,
        reference,
        rule_id: None,
        rule_text: None,
        techniques,
        version: 0,
        created_at: at,
        updated_at: at,
    })
}

pub async fn list(core: &Core, team_id: i64) -> ServiceResult<Vec<Detection>> {
    super::teams::get(core, team_id).await?;
    Ok(db::detections::list(&core.db, team_id).await?)
}

pub async fn get(core: &Core, id: i64) -> ServiceResult<Detection> {
    db::detections::get(&core.db, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("detection {id} does not exist")))
}

/// Tells every system of the team that detections mapped to these techniques changed.
async fn announce(core: &Core, team_id: i64, techniques: BTreeSet<String>, actor: &Actor) -> ServiceResult<()> {
    super::announce_team(core, team_id, techniques.into_iter().collect(), actor).await
}

struct Entry<'a> {
    team_id: i64,
    item: String,
    summary: String,
    before: Option<&'a Detection>,
    after: Option<&'a Detection>,
    batch: Option<i64>,
}

async fn record(tx: &mut super::WriteTx, actor: &Actor, at: Timestamp, entry: Entry<'_>) -> ServiceResult<i64> {
    let before = entry.before.cloned().map(Recorded::Detection);
    let after = entry.after.cloned().map(Recorded::Detection);
    Ok(db::history::append(
        tx,
        NewEntry {
            team_id: entry.team_id,
            system_id: None,
            actor: actor.name(),
            at,
            entity: Entity::Detection,
            item: &entry.item,
            summary: &entry.summary,
            before: before.as_ref(),
            after: after.as_ref(),
            batch: entry.batch,
        },
    )
    .await?)
}

fn vanished(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("detection {id} does not exist"))
}

pub async fn create(core: &Core, team_id: i64, input: DetectionInput, actor: &Actor) -> ServiceResult<Detection> {
    let draft = validate(core, team_id, &input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    if db::teams::get(&mut tx, team_id).await?.is_none() {
        return Err(FieldError::unknown("team_id", format!("team {team_id} does not exist")).into());
    }
    let id = db::detections::insert(&mut tx, &draft, at).await?;
    let detection = db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?;
    let summary = format!("created detection {}", detection.name);
    let entry = Entry { team_id, item: id.to_string(), summary, before: None, after: Some(&detection), batch: None };
    record(&mut tx, actor, at, entry).await?;
    tx.commit().await?;
    announce(core, team_id, detection.techniques.iter().cloned().collect(), actor).await?;
    Ok(detection)
}

/// Edits a detection's definition; an imported one keeps its rule id and text.
pub async fn update(
    core: &Core,
    id: i64,
    expected_version: Option<i64>,
    input: DetectionInput,
    actor: &Actor,
) -> ServiceResult<Detection> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?;
    let draft = validate(core, current.team_id, &input)?;
    let expected = expected_version.unwrap_or(current.version);
    if expected != current.version {
        return Err(ServiceError::conflict(&format!("detection {}", current.name), current.version, expected));
    }
    let next = Detection { id, rule_id: current.rule_id.clone(), rule_text: current.rule_text.clone(), ..draft };
    if next.same_definition(&current) {
        return Ok(current);
    }
    if !db::detections::update(&mut tx, expected, &next, at).await? {
        return Err(ServiceError::conflict("the detection", current.version + 1, expected));
    }
    let detection = db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?;
    let summary = format!("edited detection {}", detection.name);
    let entry = Entry {
        team_id: current.team_id,
        item: id.to_string(),
        summary,
        before: Some(&current),
        after: Some(&detection),
        batch: None,
    };
    record(&mut tx, actor, at, entry).await?;
    tx.commit().await?;
    let affected = current.techniques.iter().chain(&detection.techniques).cloned().collect();
    announce(core, current.team_id, affected, actor).await?;
    Ok(detection)
}

/// Deletes a detection; a stale `expected_version` is refused as a conflict.
pub async fn delete(core: &Core, id: i64, expected_version: Option<i64>, actor: &Actor) -> ServiceResult<Detection> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?;
    if let Some(expected) = expected_version.filter(|e| *e != current.version) {
        return Err(ServiceError::conflict(&format!("detection {}", current.name), current.version, expected));
    }
    db::detections::delete(&mut tx, id).await?;
    let summary = format!("deleted detection {}", current.name);
    let entry = Entry {
        team_id: current.team_id,
        item: id.to_string(),
        summary,
        before: Some(&current),
        after: None,
        batch: None,
    };
    record(&mut tx, actor, at, entry).await?;
    tx.commit().await?;
    announce(core, current.team_id, current.techniques.iter().cloned().collect(), actor).await?;
    Ok(current)
}

/// The release rules are matched against (the one new systems start on),
/// and the older loaded releases, which name retired techniques.
fn releases(core: &Core) -> (std::sync::Arc<Framework>, Vec<std::sync::Arc<Framework>>) {
    let release = core.catalog.default_release();
    let older =
        core.catalog.list().into_iter().filter(|f| compare_versions(f.version(), release.version()).is_lt()).collect();
    (release, older)
}

/// What importing these rule files would do, without changing anything.
pub async fn preview_import(core: &Core, team_id: i64, files: Vec<RuleFile>) -> ServiceResult<ImportPlan> {
    if files.is_empty() {
        return Err(FieldError::new("file", "choose at least one rule file").into());
    }
    let existing = list(core, team_id).await?;
    let (release, older) = releases(core);
    // Reading thousands of rules takes a while: off the async runtime, a few at a time.
    let _turn = core.heavy_work.acquire().await.map_err(|e| ServiceError::Internal(e.into()))?;
    let at = now();
    tokio::task::spawn_blocking(move || {
        let read = sigma::read(files)?;
        let older: Vec<&Framework> = older.iter().map(|f| f.as_ref()).collect();
        Ok::<_, sigma::Refused>(detection_import::plan(read, team_id, &release, &older, &existing, at))
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("reading the rules failed: {e}")))?
    .map_err(|refused| ServiceError::InvalidFile(refused.0))
}

/// An applied import: its plan and the change to undo it.
#[derive(Debug, Clone)]
pub struct AppliedImport {
    pub plan: ImportPlan,
    /// `None` when nothing changed.
    pub history_id: Option<i64>,
}

/// Applies an import in one transaction, recorded as one batch (one undo).
/// A detection changed by someone since the preview is refused as a conflict.
pub async fn apply_import(
    core: &Core,
    team_id: i64,
    files: Vec<RuleFile>,
    actor: &Actor,
) -> ServiceResult<AppliedImport> {
    let plan = preview_import(core, team_id, files).await?;
    if !plan.changes_anything() {
        return Ok(AppliedImport { plan, history_id: None });
    }
    let at = now();
    let mut tx = begin_write(core).await?;
    let batch = db::history::next_id(&mut tx).await?;
    let mut affected = BTreeSet::new();
    for rule in plan.rules.iter().filter(|r| r.action != RuleAction::Unchanged) {
        let (stored, summary) = match &rule.replaces {
            None => {
                let id = db::detections::insert(&mut tx, &rule.detection, at).await?;
                (db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?, "imported detection")
            }
            Some(current) => {
                if !db::detections::update(&mut tx, current.version, &rule.detection, at).await? {
                    return Err(ServiceError::conflict(
                        &format!("detection {} (rule {})", current.name, rule.rule_id),
                        current.version + 1,
                        current.version,
                    ));
                }
                let id = current.id;
                (db::detections::get(&mut tx, id).await?.ok_or_else(|| vanished(id))?, "re-imported detection")
            }
        };
        affected.extend(stored.techniques.iter().cloned());
        if let Some(before) = &rule.replaces {
            affected.extend(before.techniques.iter().cloned());
        }
        let entry = Entry {
            team_id,
            item: stored.id.to_string(),
            summary: format!("{summary} {} from rule {}", stored.name, rule.rule_id),
            before: rule.replaces.as_ref(),
            after: Some(&stored),
            batch: Some(batch),
        };
        record(&mut tx, actor, at, entry).await?;
    }
    tx.commit().await?;
    announce(core, team_id, affected, actor).await?;
    Ok(AppliedImport { plan, history_id: Some(batch) })
}

/// The team's changes to detections (imports, edits), newest first.
pub async fn history(core: &Core, team_id: i64, limit: i64) -> ServiceResult<Vec<HistoryEntry>> {
    super::teams::get(core, team_id).await?;
    Ok(db::history::for_team_entity(&core.db, team_id, Entity::Detection, limit).await?)
}

/// Reverts a change to the team's detections (an import as a whole, or
/// one edit), provided nobody changed those detections since. The revert
/// is recorded in the history like any change.
pub async fn undo(core: &Core, team_id: i64, history_id: i64, actor: &Actor) -> ServiceResult<usize> {
    let entry = db::history::get(&core.db, history_id)
        .await?
        .filter(|e| e.team_id == team_id && e.system_id.is_none() && e.entity == Entity::Detection)
        .ok_or_else(|| {
            ServiceError::NotFound(format!("change {history_id} is not a change to this team's detections"))
        })?;
    let entries = match entry.batch {
        Some(batch) => db::history::batch(&core.db, batch).await?,
        None => vec![entry],
    };
    let at = now();
    let mut tx = begin_write(core).await?;
    let undo_batch = (entries.len() > 1).then_some(db::history::next_id(&mut tx).await?);
    let mut affected = BTreeSet::new();
    for entry in entries.iter().rev() {
        let id: i64 =
            entry.item.parse().map_err(|_| ServiceError::Refused(format!("change {} names no detection", entry.id)))?;
        let as_detection = |r: &Option<Recorded>| match r {
            Some(Recorded::Detection(d)) => Some(d.clone()),
            _ => None,
        };
        let (before, after) = (as_detection(&entry.before), as_detection(&entry.after));
        let current = db::detections::get(&mut tx, id).await?;
        let expected = after.as_ref().map(|a| a.version);
        if current.as_ref().map(|c| c.version) != expected {
            let what = format!("detection {}", before.as_ref().or(after.as_ref()).map_or("?", |d| d.name.as_str()));
            return Err(match (current, expected) {
                (Some(current), Some(expected)) => ServiceError::conflict(&what, current.version, expected),
                _ => ServiceError::Refused(format!("{what} was deleted or re-created since change {}", entry.id)),
            });
        }
        let restored = match &before {
            // It was created by the change: undoing deletes it.
            None => {
                db::detections::delete(&mut tx, id).await?;
                None
            }
            Some(before) => {
                let target = Detection { id, ..before.clone() };
                if !db::detections::update(&mut tx, expected.unwrap_or(0), &target, at).await? {
                    return Err(ServiceError::Refused(format!(
                        "detection {} was deleted; change {} cannot be undone",
                        before.name, entry.id
                    )));
                }
                db::detections::get(&mut tx, id).await?
            }
        };
        for detection in [&before, &after].into_iter().flatten() {
            affected.extend(detection.techniques.iter().cloned());
        }
        let record_entry = Entry {
            team_id,
            item: entry.item.clone(),
            summary: format!("undid change #{}: {}", entry.id, entry.summary),
            before: after.as_ref(),
            after: restored.as_ref(),
            batch: undo_batch,
        };
        record(&mut tx, actor, at, record_entry).await?;
    }
    tx.commit().await?;
    announce(core, team_id, affected, actor).await?;
    Ok(entries.len())
}
