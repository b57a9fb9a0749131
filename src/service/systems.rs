//! Creating, editing and deleting ML systems.

use super::{Actor, ServiceError, ServiceResult, begin_write, duplicate, now, system_context};
use crate::atlas::model::PLATFORMS;
use crate::core::Core;
use crate::db::{self, history::NewEntry, systems::SystemFields};
use crate::domain::history::{Entity, Recorded};
use crate::domain::records::System;
use crate::domain::{Exposure, FieldError, Rating, limits, text};

/// What a user submits to create or edit a system; checked by [`validate`].
#[derive(Debug, Clone, Default)]
pub struct SystemInput {
    pub name: String,
    pub description: String,
    pub owner: String,
    pub platforms: Vec<String>,
    pub exposure: String,
    pub criticality: String,
    /// `None` or empty: the default release on creation, the current one on an edit.
    pub framework_version: Option<String>,
}

struct Valid {
    name: String,
    description: String,
    owner: String,
    platforms: Vec<&'static str>,
    exposure: Exposure,
    criticality: Rating,
    framework_version: String,
}

fn validate(core: &Core, input: &SystemInput) -> ServiceResult<Valid> {
    if input.platforms.len() > PLATFORMS.len() {
        return Err(FieldError::new("platforms", format!("at most {} platforms", PLATFORMS.len())).into());
    }
    let mut platforms = Vec::new();
    for (n, raw) in input.platforms.iter().enumerate() {
        let platform = PLATFORMS.iter().find(|p| p.eq_ignore_ascii_case(raw.trim())).ok_or_else(|| {
            FieldError::new(format!("platforms[{n}]"), format!("`{raw}` is not one of {}", PLATFORMS.join(", ")))
        })?;
        if !platforms.contains(platform) {
            platforms.push(*platform);
        }
    }
    platforms.sort_by_key(|p| PLATFORMS.iter().position(|q| q == p));
    let framework_version = match input.framework_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => core.catalog.default_version(),
        Some(version) => core.catalog.get(version).map(|f| f.version().to_string()).ok_or_else(|| {
            FieldError::unknown("framework_version", format!("ATLAS release {version} is not loaded"))
        })?,
    };
    Ok(Valid {
        name: text("name", &input.name, limits::NAME, true)?,
        description: text("description", &input.description, limits::DESCRIPTION, false)?,
        owner: text("owner", &input.owner, limits::OWNER, false)?,
        platforms,
        exposure: Exposure::parse(&input.exposure).map_err(|m| FieldError::new("exposure", m))?,
        criticality: Rating::parse(&input.criticality).map_err(|m| FieldError::new("criticality", m))?,
        framework_version,
    })
}

impl Valid {
    fn fields(&self) -> SystemFields<'_> {
        SystemFields {
            name: &self.name,
            description: &self.description,
            owner: &self.owner,
            platforms: &self.platforms,
            exposure: self.exposure,
            criticality: self.criticality,
            framework_version: &self.framework_version,
        }
    }
}

pub async fn get(core: &Core, id: i64) -> ServiceResult<System> {
    Ok(system_context(core, id).await?.system)
}

/// The team a system belongs to now, read from the database (not from a
/// cached snapshot), or `None` once it is deleted: what a live stream checks.
pub async fn team_of(core: &Core, id: i64) -> ServiceResult<Option<i64>> {
    Ok(crate::db::systems::team_of(&core.db, id).await?)
}

pub async fn list(core: &Core, team_id: Option<i64>) -> ServiceResult<Vec<System>> {
    Ok(db::systems::list(&core.db, team_id).await?)
}

/// A system named by its ID or its name (any case): the command line's
/// `--system`. A name several teams use is refused, listing their IDs.
pub async fn find(core: &Core, name_or_id: &str) -> ServiceResult<System> {
    let wanted = name_or_id.trim();
    let systems = list(core, None).await?;
    if let Ok(id) = wanted.parse::<i64>()
        && let Some(system) = systems.iter().find(|s| s.id == id)
    {
        return Ok(system.clone());
    }
    let named: Vec<&System> = systems.iter().filter(|s| s.name.eq_ignore_ascii_case(wanted)).collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ServiceError::NotFound(format!("no system has the ID or name `{wanted}`"))),
        several => {
            let ids: Vec<String> = several.iter().map(|s| format!("{} (team {})", s.id, s.team_id)).collect();
            Err(FieldError::new(
                "system",
                format!("{} systems are called `{wanted}`: IDs {}; give the ID", several.len(), ids.join(", ")),
            )
            .into())
        }
    }
}

pub async fn create(core: &Core, team_id: i64, input: SystemInput, actor: &Actor) -> ServiceResult<System> {
    let valid = validate(core, &input)?;
    let at = now();
    let mut tx = begin_write(core).await?;
    if db::teams::get(&mut tx, team_id).await?.is_none() {
        return Err(FieldError::unknown("team_id", format!("team {team_id} does not exist")).into());
    }
    let system = db::systems::insert(&mut tx, team_id, &valid.fields(), at)
        .await
        .map_err(|e| duplicate(e, || format!("name: the team already has a system called {}", valid.name)))?;
    db::history::append(
        &mut tx,
        NewEntry {
            team_id,
            system_id: Some(system.id),
            actor: actor.name(),
            at,
            entity: Entity::System,
            item: "",
            summary: &format!("created system {}", system.name),
            before: None,
            after: Some(&Recorded::System(system.clone())),
            batch: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(system)
}

pub async fn update(
    core: &Core,
    id: i64,
    expected_version: Option<i64>,
    mut input: SystemInput,
    actor: &Actor,
) -> ServiceResult<System> {
    let at = now();
    let mut tx = begin_write(core).await?;
    let current = db::systems::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("system {id} does not exist")))?;
    // An edit that names no release keeps the system's release (rather than
    // moving it to the default one, which is what creation picks).
    match input.framework_version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => input.framework_version = Some(current.framework_version.clone()),
        Some(other) if other != current.framework_version => {
            return Err(FieldError::new(
                "framework_version",
                format!(
                    "moving {} from ATLAS {} to {other} is an upgrade, which carries its decisions over: preview \
                     and apply it at /systems/{id}/upgrade or with POST /api/v1/systems/{id}/upgrade",
                    current.name, current.framework_version
                ),
            )
            .into());
        }
        Some(_) => {}
    }
    let valid = validate(core, &input)?;
    let expected = expected_version.unwrap_or(current.version);
    if expected != current.version {
        return Err(ServiceError::conflict(&format!("system {}", current.name), current.version, expected));
    }
    let system = db::systems::update(&mut tx, id, expected, &valid.fields(), at)
        .await
        .map_err(|e| duplicate(e, || format!("name: the team already has a system called {}", valid.name)))?
        .ok_or_else(|| ServiceError::conflict("the system", current.version, expected))?;
    db::history::append(
        &mut tx,
        NewEntry {
            team_id: system.team_id,
            system_id: Some(id),
            actor: actor.name(),
            at,
            entity: Entity::System,
            item: "",
            summary: &format!("edited system {}", system.name),
            before: Some(&Recorded::System(current.clone())),
            after: Some(&Recorded::System(system.clone())),
            batch: None,
        },
    )
    .await?;
    tx.commit().await?;
    core.snapshots.invalidate(id);
    core.live.changed(crate::live::Change { system_id: id, techniques: Vec::new(), actor: actor.name().to_string() });
    Ok(system)
}

/// Deletes a system with all its decisions and history, in one transaction.
pub async fn delete(core: &Core, id: i64) -> ServiceResult<System> {
    delete_if_current(core, id, None).await
}

/// [`delete`], refused with a conflict when `expected_version` is given and stale.
pub async fn delete_if_current(core: &Core, id: i64, expected_version: Option<i64>) -> ServiceResult<System> {
    let mut tx = begin_write(core).await?;
    let system = db::systems::get(&mut tx, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("system {id} does not exist")))?;
    if let Some(expected) = expected_version.filter(|e| *e != system.version) {
        return Err(ServiceError::conflict(&format!("system {}", system.name), system.version, expected));
    }
    db::systems::delete(&mut tx, id).await?;
    tx.commit().await?;
    core.snapshots.invalidate(id);
    // The system's open live streams end.
    core.principals.access_changed();
    Ok(system)
}
