//! Creating, renaming and deleting teams.

use super::{Actor, ServiceError, ServiceResult, begin_write, duplicate, now};
use crate::core::Core;
use crate::db::{self, history::NewEntry};
use crate::domain::history::{Entity, Recorded};
use crate::domain::records::Team;
use crate::domain::{limits, text};

pub struct TeamInput {
    pub name: String,
    pub description: String,
}

fn validate(input: &TeamInput) -> ServiceResult<(String, String)> {
    Ok((
        text("name", &input.name, limits::NAME, true)?,
        text("description", &input.description, limits::DESCRIPTION, false)?,
    ))
}

pub async fn list(core: &Core) -> ServiceResult<Vec<Team>> {
    Ok(db::teams::list(&core.db).await?)
}

pub async fn get(core: &Core, id: i64) -> ServiceResult<Team> {
    db::teams::get(&core.db, id).await?.ok_or_else(|| ServiceError::NotFound(format!("team {id} does not exist")))
}

pub async fn create(core: &Core, input: TeamInput, actor: &Actor) -> ServiceResult<Team> {
    let (name, description) = validate(&input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let team = db::teams::insert(&mut tx, &name, &description, at)
        .await
        .map_err(|e| duplicate(e, || format!("name: a team called {name} already exists")))?;
    db::history::append(
        &mut tx,
        NewEntry {
            team_id: team.id,
            system_id: None,
            actor: actor.name(),
            at,
            entity: Entity::Team,
            item: "",
            summary: &format!("created team {name}"),
            before: None,
            after: Some(&Recorded::Team(team.clone())),
            batch: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(team)
}

pub async fn update(
    core: &Core,
    id: i64,
    expected_version: Option<i64>,
    input: TeamInput,
    actor: &Actor,
) -> ServiceResult<Team> {
    let (name, description) = validate(&input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::teams::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("team {id} does not exist")))?;
    let expected = expected_version.unwrap_or(current.version);
    if expected != current.version {
        return Err(ServiceError::conflict(&format!("team {}", current.name), current.version, expected));
    }
    let team = db::teams::update(&mut tx, id, expected, &name, &description, at)
        .await
        .map_err(|e| duplicate(e, || format!("name: a team called {name} already exists")))?
        .ok_or_else(|| ServiceError::conflict("the team", current.version, expected))?;
    db::history::append(
        &mut tx,
        NewEntry {
            team_id: id,
            system_id: None,
            actor: actor.name(),
            at,
            entity: Entity::Team,
            item: "",
            summary: &format!("edited team {name}"),
            before: Some(&Recorded::Team(current.clone())),
            after: Some(&Recorded::Team(team.clone())),
            batch: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(team)
}

/// Deletes a team with its systems, controls, decisions and history, in one transaction.
pub async fn delete(core: &Core, id: i64) -> ServiceResult<Team> {
    delete_if_current(core, id, None).await
}

/// [`delete`], refused with a conflict when `expected_version` is given and stale.
pub async fn delete_if_current(core: &Core, id: i64, expected_version: Option<i64>) -> ServiceResult<Team> {
    let mut tx = begin_write(core).await?;
    let team = db::teams::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("team {id} does not exist")))?;
    if let Some(expected) = expected_version.filter(|e| *e != team.version) {
        return Err(ServiceError::conflict(&format!("team {}", team.name), team.version, expected));
    }
    let systems = db::systems::list(&mut tx, Some(id)).await?;
    db::teams::delete(&mut tx, id).await?;
    tx.commit().await?;
    for system in systems {
        core.snapshots.invalidate(system.id);
    }
    // Roles remembered on the team go, and its open live streams end.
    core.principals.clear();
    Ok(team)
}
