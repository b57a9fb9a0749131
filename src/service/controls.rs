//! Controls a team defines itself and maps to ATLAS techniques: how a team
//! covers techniques ATLAS has no mitigation for, or records its own measures.

use super::{Actor, ServiceError, ServiceResult, announce_team, begin_write, duplicate, mapped_techniques, now};
use crate::core::Core;
use crate::db::{self, history::NewEntry};
use crate::domain::history::{Entity, Recorded};
use crate::domain::records::{Control, Timestamp};
use crate::domain::{FieldError, limits, text};

pub struct ControlInput {
    pub name: String,
    pub description: String,
    pub techniques: Vec<String>,
}

fn validate(core: &Core, input: &ControlInput) -> ServiceResult<(String, String, Vec<String>)> {
    let name = text("name", &input.name, limits::NAME, true)?;
    let description = text("description", &input.description, limits::DESCRIPTION, false)?;
    let techniques = mapped_techniques(core, &input.techniques)?;
    Ok((name, description, techniques))
}

pub async fn list(core: &Core, team_id: i64) -> ServiceResult<Vec<Control>> {
    Ok(db::controls::list(&core.db, team_id).await?)
}

pub async fn get(core: &Core, id: i64) -> ServiceResult<Control> {
    db::controls::get(&core.db, id).await?.ok_or_else(|| ServiceError::NotFound(format!("control {id} does not exist")))
}

fn entry<'a>(team_id: i64, actor: &'a Actor, at: Timestamp, item: &'a str, summary: &'a str) -> NewEntry<'a> {
    NewEntry {
        team_id,
        system_id: None,
        actor: actor.name(),
        at,
        entity: Entity::Control,
        item,
        summary,
        before: None,
        after: None,
        batch: None,
    }
}

pub async fn create(core: &Core, team_id: i64, input: ControlInput, actor: &Actor) -> ServiceResult<Control> {
    let (name, description, techniques) = validate(core, &input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    if db::teams::get(&mut tx, team_id).await?.is_none() {
        return Err(FieldError::unknown("team_id", format!("team {team_id} does not exist")).into());
    }
    let id = db::controls::insert(&mut tx, team_id, &name, &description, &techniques, at)
        .await
        .map_err(|e| duplicate(e, || format!("name: the team already has a control called {name}")))?;
    let control =
        db::controls::get(&mut tx, id).await?.ok_or_else(|| ServiceError::NotFound("control vanished".into()))?;
    let item = id.to_string();
    let summary = format!("created control {name}");
    db::history::append(
        &mut tx,
        NewEntry { after: Some(&Recorded::Control(control.clone())), ..entry(team_id, actor, at, &item, &summary) },
    )
    .await?;
    tx.commit().await?;
    announce_team(core, team_id, control.techniques.clone(), actor).await?;
    Ok(control)
}

pub async fn update(
    core: &Core,
    id: i64,
    expected_version: Option<i64>,
    input: ControlInput,
    actor: &Actor,
) -> ServiceResult<Control> {
    let (name, description, techniques) = validate(core, &input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::controls::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("control {id} does not exist")))?;
    let expected = expected_version.unwrap_or(current.version);
    if expected != current.version {
        return Err(ServiceError::conflict(&format!("control {}", current.name), current.version, expected));
    }
    let updated = db::controls::update(&mut tx, id, expected, &name, &description, &techniques, at)
        .await
        .map_err(|e| duplicate(e, || format!("name: the team already has a control called {name}")))?;
    if !updated {
        return Err(ServiceError::conflict("the control", current.version, expected));
    }
    let control =
        db::controls::get(&mut tx, id).await?.ok_or_else(|| ServiceError::NotFound("control vanished".into()))?;
    let item = id.to_string();
    let summary = format!("edited control {name}");
    db::history::append(
        &mut tx,
        NewEntry {
            before: Some(&Recorded::Control(current.clone())),
            after: Some(&Recorded::Control(control.clone())),
            ..entry(control.team_id, actor, at, &item, &summary)
        },
    )
    .await?;
    tx.commit().await?;
    let mut affected = current.techniques.clone();
    affected.extend(control.techniques.iter().cloned());
    affected.sort();
    affected.dedup();
    announce_team(core, control.team_id, affected, actor).await?;
    Ok(control)
}

/// Deletes a control with its statuses on every system.
pub async fn delete(core: &Core, id: i64, actor: &Actor) -> ServiceResult<Control> {
    delete_if_current(core, id, None, actor).await
}

/// [`delete`], refused with a conflict when `expected_version` is given and stale.
pub async fn delete_if_current(
    core: &Core,
    id: i64,
    expected_version: Option<i64>,
    actor: &Actor,
) -> ServiceResult<Control> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::controls::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("control {id} does not exist")))?;
    if let Some(expected) = expected_version.filter(|e| *e != current.version) {
        return Err(ServiceError::conflict(&format!("control {}", current.name), current.version, expected));
    }
    db::controls::delete(&mut tx, id).await?;
    let item = id.to_string();
    let summary = format!("deleted control {}", current.name);
    db::history::append(
        &mut tx,
        NewEntry {
            before: Some(&Recorded::Control(current.clone())),
            ..entry(current.team_id, actor, at, &item, &summary)
        },
    )
    .await?;
    tx.commit().await?;
    announce_team(core, current.team_id, current.techniques.clone(), actor).await?;
    Ok(current)
}
