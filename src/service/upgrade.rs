//! Upgrading a system's map to another ATLAS release: the preview (the
//! domain's plan on the system's snapshot), and applying it in one
//! transaction recorded as one history batch (the new pin first, then every
//! assessment and risk acceptance the plan rewrites), which one undo
//! reverses. Two people upgrading the same system at once get one success
//! and one conflict: the system's version decides.

use std::collections::BTreeMap;

use super::{Actor, ServiceError, ServiceResult, begin_write, now, snapshot};
use crate::core::{Core, today};
use crate::db::{self, history::NewEntry};
use crate::domain::FieldError;
use crate::domain::history::{Entity, Recorded};
use crate::domain::records::{Acceptance, Assessment, Changed, System};
use crate::domain::release_diff::diff;
use crate::domain::upgrade::{MapToUpgrade, Rewrite, UpgradePlan, plan};

/// What to upgrade to.
#[derive(Debug, Clone, Default)]
pub struct UpgradeRequest {
    /// The target release's version.
    pub to: String,
    /// Successors chosen by a person (retired ID → new ID), over the proposals.
    pub successors: BTreeMap<String, String>,
    /// Apply the plan; otherwise only preview it.
    pub apply: bool,
}

/// The plan, and whether it was applied (with the history batch to undo).
#[derive(Debug, Clone)]
pub struct UpgradeOutcome {
    pub plan: UpgradePlan,
    pub applied: bool,
    pub batch: Option<i64>,
}

/// Previews, or applies, the upgrade of one system.
pub async fn upgrade(
    core: &Core,
    system_id: i64,
    request: &UpgradeRequest,
    actor: &Actor,
) -> ServiceResult<UpgradeOutcome> {
    let current = snapshot::load(core, system_id).await?;
    let target = core
        .catalog
        .get(request.to.trim())
        .ok_or_else(|| FieldError::unknown("to", format!("ATLAS release {} is not loaded", request.to.trim())))?;
    if target.version() == current.framework.version() {
        return Err(FieldError::new("to", format!("the system is already pinned to {}", target.version())).into());
    }
    let (old, snapshot) = (current.framework.clone(), current.clone());
    let successors = request.successors.clone();
    let planned = tokio::task::spawn_blocking(move || {
        let changes = diff(&old, &target);
        let map = MapToUpgrade {
            system: &snapshot.system,
            assessments: &snapshot.assessments,
            mitigation_statuses: &snapshot.mitigation_statuses,
            controls: &snapshot.controls,
            control_statuses: &snapshot.control_statuses,
            acceptances: &snapshot.acceptances,
        };
        plan(&old, &target, &changes, &map, &successors, today())
    })
    .await
    .map_err(|e| ServiceError::Internal(e.into()))??;
    if !request.apply {
        return Ok(UpgradeOutcome { plan: planned, applied: false, batch: None });
    }
    let batch = apply(core, &current.system, &planned, actor).await?;
    Ok(UpgradeOutcome { plan: planned, applied: true, batch: Some(batch) })
}

async fn apply(core: &Core, system: &System, planned: &UpgradePlan, actor: &Actor) -> ServiceResult<i64> {
    let at = now();
    let changed = Changed::by(actor.name(), at);
    let mut tx = begin_write(core).await?;
    let Some(pinned) = db::systems::repin(&mut tx, system.id, system.version, &planned.to, at).await? else {
        let now_version = db::systems::get(&mut tx, system.id).await?.map_or(0, |s| s.version);
        return Err(ServiceError::conflict(&format!("system {}", system.name), now_version, system.version));
    };
    let entry = |entity: Entity, item: &str, summary: String, before: Option<Recorded>, after: Option<Recorded>| {
        (entity, item.to_string(), summary, before, after)
    };
    let mut entries = vec![entry(
        Entity::System,
        &system.id.to_string(),
        format!("upgraded from ATLAS {} to {}", planned.from, planned.to),
        Some(Recorded::System(system.clone())),
        Some(Recorded::System(pinned)),
    )];
    for rewrite in &planned.assessments {
        let written = write_assessment(&mut tx, system.id, rewrite, &changed).await?;
        let summary = match &rewrite.carried_from {
            Some(from) => format!("{}: carried from {from} by the upgrade to {}", rewrite.item, planned.to),
            None => format!("{}: set by the upgrade to {}", rewrite.item, planned.to),
        };
        entries.push(entry(
            Entity::Assessment,
            &rewrite.item,
            summary,
            rewrite.before.clone().map(Recorded::Assessment),
            Some(Recorded::Assessment(written)),
        ));
    }
    for rewrite in &planned.acceptances {
        let written = write_acceptance(&mut tx, system.id, rewrite, &changed).await?;
        let summary = match (&rewrite.carried_from, &written) {
            (Some(from), _) => format!("{}: risk acceptance carried from {from}", rewrite.item),
            (None, None) => format!("{}: risk acceptance withdrawn, the ID names another technique", rewrite.item),
            (None, Some(_)) => format!("{}: risk acceptance set by the upgrade", rewrite.item),
        };
        entries.push(entry(
            Entity::Acceptance,
            &rewrite.item,
            summary,
            rewrite.before.clone().map(Recorded::Acceptance),
            written.map(Recorded::Acceptance),
        ));
    }
    let batch = db::history::next_id(&mut tx).await?;
    for (entity, item, summary, before, after) in &entries {
        db::history::append(
            &mut tx,
            NewEntry {
                team_id: system.team_id,
                system_id: Some(system.id),
                actor: actor.name(),
                at,
                entity: *entity,
                item,
                summary,
                before: before.as_ref(),
                after: after.as_ref(),
                batch: Some(batch),
            },
        )
        .await?;
    }
    for (technique, reason) in review_flags(planned) {
        db::reviews::put(&mut tx, system.id, &technique, &reason, batch, at).await?;
    }
    tx.commit().await?;
    core.snapshots.invalidate(system.id);
    core.live.changed(crate::live::Change { system_id: system.id, techniques: Vec::new(), actor: actor.name().into() });
    Ok(batch)
}

/// The techniques an applied plan asks a person to look at, and why.
fn review_flags(planned: &UpgradePlan) -> Vec<(String, String)> {
    let mut flags: Vec<(String, String)> =
        planned.review.iter().map(|r| (r.technique_id.clone(), r.reasons.join("; "))).collect();
    for rewrite in &planned.assessments {
        if let Some(from) = &rewrite.carried_from {
            flags.push((rewrite.item.clone(), format!("decisions carried from {from}, which {} retires", planned.to)));
        }
    }
    for reused in &planned.reused {
        flags.push((
            reused.technique_id.clone(),
            format!("this ID named “{}” in {}; its old decision was not carried", reused.old_name, planned.from),
        ));
    }
    flags
}

/// The techniques of a system flagged for review by an upgrade.
pub async fn flags(core: &Core, system_id: i64) -> ServiceResult<Vec<db::reviews::ReviewFlag>> {
    Ok(db::reviews::list(&core.db, system_id).await?)
}

/// A person looked at a flagged technique: the flag goes.
pub async fn confirm_review(core: &Core, system_id: i64, technique_id: &str, actor: &Actor) -> ServiceResult<()> {
    super::system_context(core, system_id).await?;
    if !db::reviews::clear(&core.db, system_id, technique_id).await? {
        return Err(ServiceError::NotFound(format!("{technique_id} is not flagged for review on this system")));
    }
    core.live.changed(crate::live::Change {
        system_id,
        techniques: vec![technique_id.to_string()],
        actor: actor.name().into(),
    });
    Ok(())
}

async fn write_assessment(
    tx: &mut crate::service::WriteTx,
    system_id: i64,
    rewrite: &Rewrite<Assessment>,
    changed: &Changed,
) -> ServiceResult<Assessment> {
    let current = db::decisions::assessment(&mut **tx, system_id, &rewrite.item).await?;
    let expected = rewrite.before.as_ref().map_or(0, |b| b.version);
    let found = current.as_ref().map_or(0, |c| c.version);
    if found != expected {
        return Err(ServiceError::conflict(&format!("the assessment of {}", rewrite.item), found, expected));
    }
    let after = rewrite.after.clone().unwrap_or_else(|| Assessment::unassessed(&rewrite.item));
    Ok(db::decisions::put_assessment(tx, system_id, &Assessment { changed: changed.clone(), ..after }).await?)
}

async fn write_acceptance(
    tx: &mut crate::service::WriteTx,
    system_id: i64,
    rewrite: &Rewrite<Acceptance>,
    changed: &Changed,
) -> ServiceResult<Option<Acceptance>> {
    Ok(match &rewrite.after {
        Some(after) => Some(
            db::decisions::put_acceptance(tx, system_id, &Acceptance { changed: changed.clone(), ..after.clone() })
                .await?,
        ),
        None => {
            db::decisions::withdraw_acceptance(tx, system_id, &rewrite.item, changed).await?;
            None
        }
    })
}

/// A system a team upgrade left as it is, and why.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SkippedSystem {
    pub system_id: i64,
    pub name: String,
    pub reason: String,
}

/// The upgrades of a team's systems.
#[derive(Debug, Clone)]
pub struct TeamUpgrade {
    pub systems: Vec<UpgradeOutcome>,
    pub skipped: Vec<SkippedSystem>,
}

/// Previews, or applies, the upgrade of every system of a team that is on
/// an older release. Every system is planned first, so a refusal changes
/// nothing; applied, each system is its own transaction, and one changed
/// meanwhile by someone else is skipped with the reason.
pub async fn upgrade_team(
    core: &Core,
    team_id: i64,
    request: &UpgradeRequest,
    actor: &Actor,
) -> ServiceResult<TeamUpgrade> {
    super::teams::get(core, team_id).await?;
    let target = core
        .catalog
        .get(request.to.trim())
        .ok_or_else(|| FieldError::unknown("to", format!("ATLAS release {} is not loaded", request.to.trim())))?;
    let mut eligible = Vec::new();
    let mut skipped = Vec::new();
    for system in super::systems::list(core, Some(team_id)).await? {
        let order = crate::atlas::model::compare_versions(&system.framework_version, target.version());
        if order.is_lt() {
            eligible.push(system);
        } else {
            let reason = if order.is_eq() { "already on this release" } else { "on a newer release" };
            skipped.push(SkippedSystem { system_id: system.id, name: system.name, reason: reason.into() });
        }
    }
    let preview = UpgradeRequest { apply: false, ..request.clone() };
    let mut systems = Vec::new();
    for system in &eligible {
        systems.push(upgrade(core, system.id, &preview, actor).await?);
    }
    if !request.apply {
        return Ok(TeamUpgrade { systems, skipped });
    }
    let mut applied = Vec::new();
    for system in eligible {
        match upgrade(core, system.id, request, actor).await {
            Ok(outcome) => applied.push(outcome),
            Err(ServiceError::Conflict { message, .. }) => {
                skipped.push(SkippedSystem { system_id: system.id, name: system.name, reason: message })
            }
            Err(other) => return Err(other),
        }
    }
    Ok(TeamUpgrade { systems: applied, skipped })
}
