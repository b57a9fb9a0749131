//! "Since the last workshop" as a use case: the period is read (days, times
//! or snapshot names; by default since the team's newest snapshot), each
//! system's records are replayed at both ends, and the changes in between
//! are read; the digest itself is built in `domain::digest`.

use std::sync::Arc;

use super::team_snapshots::{self, Edge};
use super::{ServiceError, ServiceResult, now};
use crate::atlas::Framework;
use crate::core::Core;
use crate::db::{self, history::Scope};
use crate::domain::FieldError;
use crate::domain::coverage::SystemCoverage;
use crate::domain::digest::{self, Digest, Moment, Side, SystemDigest, describe, system_digest};
use crate::domain::history::HistoryEntry;
use crate::domain::records::{System, Timestamp, format_timestamp};
use crate::domain::timeline::{self, MissingRelease, Replay};

/// Changes listed per system (and for the team's controls); the rest are counted.
pub const LISTED_CHANGES: i64 = 2_000;

/// How far back a digest looks when no `from` is given and the team has no snapshot.
pub const DEFAULT_DAYS: i64 = 30;

/// Reads the period: `to` defaults to now, `from` to the team's newest
/// snapshot before `to`, or else 30 days before it.
pub async fn period(
    core: &Core,
    team_id: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> ServiceResult<(Moment, Moment)> {
    let given = |raw: Option<&str>| raw.filter(|r| !r.trim().is_empty()).map(str::to_string);
    let current = now();
    let to = match given(to) {
        Some(raw) => team_snapshots::moment(core, team_id, "to", &raw, Edge::End).await?,
        None => Moment { at: current, snapshot: None },
    };
    // A day that has not ended yet stands for now.
    let to = if to.at > current && to.at.date() <= current.date() { Moment { at: current, ..to } } else { to };
    if to.at > current {
        return Err(FieldError::new("to", format!("{} is in the future", format_timestamp(to.at))).into());
    }
    let from = match given(from) {
        Some(raw) => team_snapshots::moment(core, team_id, "from", &raw, Edge::Start).await?,
        None => match team_snapshots::latest_before(core, team_id, to.at).await? {
            Some(snapshot) => snapshot,
            None => Moment { at: to.at - time::Duration::days(DEFAULT_DAYS), snapshot: None },
        },
    };
    if from.at >= to.at {
        return Err(
            FieldError::new("from", format!("{} is not before `to` ({})", describe(&from), describe(&to))).into()
        );
    }
    Ok((from, to))
}

/// One system's records at one moment.
struct State {
    framework: Arc<Framework>,
    replay: Replay,
    coverage: SystemCoverage,
}

impl State {
    fn side(&self) -> Side<'_> {
        Side { framework: &self.framework, replay: &self.replay, coverage: &self.coverage }
    }
}

/// Replays a system's records at `at`: `None` before it existed.
fn state_at(
    system: &System,
    entries: &[HistoryEntry],
    at: Timestamp,
    loaded: &[Arc<Framework>],
) -> ServiceResult<Option<State>> {
    let lookup = |version: &str| loaded.iter().find(|f| f.version() == version).map(|f| f.as_ref());
    match timeline::coverage_at(entries, at, lookup) {
        Ok((replay, coverage)) => {
            let framework = loaded
                .iter()
                .find(|f| f.version() == replay.release)
                .cloned()
                .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("release {} vanished", replay.release)))?;
            Ok(Some(State { framework, replay, coverage }))
        }
        Err(MissingRelease(release)) if release.is_empty() => Ok(None),
        Err(MissingRelease(release)) => Err(ServiceError::Refused(format!(
            "system {} was on ATLAS {release} at {}, which is not loaded: add that release to compare with then",
            system.name,
            format_timestamp(at)
        ))),
    }
}

/// Up to [`LISTED_CHANGES`] entries of the period, and how many more there were.
async fn changes(core: &Core, scope: Scope, from: &Moment, to: &Moment) -> ServiceResult<(Vec<HistoryEntry>, usize)> {
    let listed = db::history::between(&core.db, scope, from.at, to.at, LISTED_CHANGES).await?;
    let more = if listed.len() as i64 == LISTED_CHANGES {
        let all = db::history::count_between(&core.db, scope, from.at, to.at).await?;
        usize::try_from(all).unwrap_or(0).saturating_sub(listed.len())
    } else {
        0
    };
    Ok((listed, more))
}

/// A system's part of a digest (`None` when it did not exist at the end):
/// the history is read here, the replays and comparison run on a blocking
/// thread.
async fn system_part(core: &Core, system: System, from: &Moment, to: &Moment) -> ServiceResult<Option<SystemDigest>> {
    let at_end = db::history::latest_records(&core.db, system.id, system.team_id, to.at).await?;
    let at_start = db::history::latest_records(&core.db, system.id, system.team_id, from.at).await?;
    let (entries, not_listed) = changes(core, Scope::System(system.id), from, to).await?;
    let loaded = core.catalog.list();
    let period = (from.at, to.at);
    tokio::task::spawn_blocking(move || {
        let Some(after) = state_at(&system, &at_end, period.1, &loaded)? else { return Ok(None) };
        let before = state_at(&system, &at_start, period.0, &loaded)?;
        Ok(Some(system_digest(
            (system.id, &system.name),
            before.as_ref().map(State::side),
            after.side(),
            &entries,
            not_listed,
            period,
        )))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.into()))?
}

async fn assemble(
    core: &Core,
    team_id: i64,
    system_id: Option<i64>,
    systems: Vec<SystemDigest>,
    (from, to): (Moment, Moment),
) -> ServiceResult<Digest> {
    let team = super::teams::get(core, team_id).await?;
    let (entries, team_changes_not_listed) = changes(core, Scope::TeamControls(team_id), &from, &to).await?;
    Ok(digest::digest((team_id, &team.name), system_id, (from, to), systems, &entries, team_changes_not_listed))
}

/// What changed on one system between `from` and `to`.
pub async fn for_system(core: &Core, system_id: i64, from: Option<&str>, to: Option<&str>) -> ServiceResult<Digest> {
    let system = super::systems::get(core, system_id).await?;
    let period = period(core, system.team_id, from, to).await?;
    let (id, team_id, name) = (system.id, system.team_id, system.name.clone());
    let Some(part) = system_part(core, system, &period.0, &period.1).await? else {
        return Err(FieldError::new("to", format!("system {name} did not exist yet at {}", describe(&period.1))).into());
    };
    assemble(core, team_id, Some(id), vec![part], period).await
}

/// What changed on every system of a team between `from` and `to`.
pub async fn for_team(core: &Core, team_id: i64, from: Option<&str>, to: Option<&str>) -> ServiceResult<Digest> {
    super::teams::get(core, team_id).await?;
    let period = period(core, team_id, from, to).await?;
    let _turn = core.heavy_work.acquire().await.map_err(|e| ServiceError::Internal(e.into()))?;
    let mut systems = Vec::new();
    for system in db::systems::list(&core.db, Some(team_id)).await? {
        if let Some(part) = system_part(core, system, &period.0, &period.1).await? {
            systems.push(part);
        }
    }
    assemble(core, team_id, None, systems, period).await
}
