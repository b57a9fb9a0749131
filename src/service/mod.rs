//! Use cases of coverage assessment, shared by the pages and the API:
//! validated, versioned writes in one transaction each, recorded in the
//! history and announced to live workshops after commit.

pub mod accounts;
pub mod controls;
pub mod deadlines;
pub mod decisions;
pub mod detections;
pub mod digest;
pub mod identity;
pub mod reports;
pub mod snapshot;
pub mod systems;
pub mod team_snapshots;
pub mod teams;
pub mod trends;
pub mod upgrade;

use std::sync::Arc;

use crate::atlas::Framework;
use crate::core::Core;
use crate::db::{self, Exec, Tx};
use crate::domain::FieldError;
use crate::domain::records::{System, Timestamp};

/// Who makes a change, as recorded in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// Why a use case refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    /// Something that existed and no longer holds (an expired or ended invite).
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A stale write: the row moved on since the writer read it.
    #[error("{message}")]
    Conflict { message: String, current_version: i64 },
    /// A name already taken.
    #[error("{0}")]
    Duplicate(String),
    /// What was asked cannot be done to the item as it is (a kind of change
    /// that cannot be undone).
    #[error("{0}")]
    Refused(String),
    /// A file that cannot be read or applied (an import), naming the line,
    /// row, entry or field at fault.
    #[error("{0}")]
    InvalidFile(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A failure that is not the caller's (a report that could not be written).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ServiceError {
    pub fn conflict(what: &str, current_version: i64, expected: i64) -> Self {
        ServiceError::Conflict {
            message: format!(
                "{what} was changed by someone else after you opened it (your edit started from revision {expected}; \
                 the saved one is revision {current_version}); review the saved value and apply your change again"
            ),
            current_version,
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Maps a unique-constraint violation to a friendly duplicate error.
pub(crate) fn duplicate(error: sqlx::Error, message: impl FnOnce() -> String) -> ServiceError {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => ServiceError::Duplicate(message()),
        _ => ServiceError::Database(error),
    }
}

/// A write transaction. Writers of this process queue in order on an async
/// lock first (SQLite admits one writer at a time, and its busy handler
/// sleeps in coarse steps); the back end's write transaction then takes its
/// write lock up front, so another process (a CLI import) cannot make a lock
/// upgrade fail.
pub(crate) struct WriteTx {
    tx: Tx,
    turn: WriteTurn,
}

/// The turn to write, still held after a commit while caches are patched.
pub(crate) type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

impl WriteTx {
    /// Commits, handing back the turn so the writer can patch caches in commit order.
    pub async fn commit(self) -> Result<WriteTurn, sqlx::Error> {
        self.tx.commit().await?;
        Ok(self.turn)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;

    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl<'a> From<&'a mut WriteTx> for Exec<'a> {
    fn from(tx: &'a mut WriteTx) -> Self {
        Exec::from(&mut tx.tx)
    }
}

pub(crate) async fn begin_write(core: &Core) -> Result<WriteTx, sqlx::Error> {
    let turn = core.writes.clone().lock_owned().await;
    let mut tx = core.db.begin_write().await?;
    tx.from_instance(core.origin);
    Ok(WriteTx { tx, turn })
}

/// Whether an error, however it was wrapped, says the database cannot be
/// reached at the moment ([`db::is_unreachable`]).
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    match (error.downcast_ref::<ServiceError>(), error.downcast_ref::<sqlx::Error>()) {
        (Some(ServiceError::Database(e)), _) | (_, Some(e)) => crate::db::is_unreachable(e),
        _ => false,
    }
}

/// Technique IDs a team maps one of its own measures (a control, a
/// detection) to: trimmed, each well-formed and in some loaded release,
/// sorted, each once.
pub(crate) fn mapped_techniques(core: &Core, raw: &[String]) -> ServiceResult<Vec<String>> {
    if raw.len() > crate::domain::limits::BULK_ITEMS {
        let limit = crate::domain::limits::BULK_ITEMS;
        return Err(crate::domain::FieldError::new("techniques", format!("at most {limit} techniques")).into());
    }
    let mut techniques: Vec<String> = raw.iter().map(|t| t.trim().to_string()).collect();
    let malformed: Vec<&str> =
        techniques.iter().filter(|t| !crate::atlas::model::is_technique_id(t)).map(String::as_str).take(10).collect();
    if !malformed.is_empty() {
        return Err(crate::domain::FieldError::new(
            "techniques",
            format!("not technique IDs (AML.T0000 or AML.T0000.000): `{}`", malformed.join("`, `")),
        )
        .into());
    }
    techniques.sort();
    techniques.dedup();
    let releases = core.catalog.list();
    let unknown: Vec<&str> =
        techniques.iter().filter(|t| !releases.iter().any(|f| f.technique(t).is_some())).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(crate::domain::FieldError::unknown(
            "techniques",
            format!("not an ATLAS technique in any loaded release: {}", unknown.join(", ")),
        )
        .into());
    }
    Ok(techniques)
}

/// Tells every system of a team that the team's measures for these
/// techniques changed: their cached snapshots go, and open workshops
/// redraw the techniques.
pub(crate) async fn announce_team(
    core: &Core,
    team_id: i64,
    techniques: Vec<String>,
    actor: &Actor,
) -> ServiceResult<()> {
    for system in crate::db::systems::list(&core.db, Some(team_id)).await? {
        core.snapshots.invalidate(system.id);
        core.live.changed(crate::live::Change {
            system_id: system.id,
            techniques: techniques.clone(),
            actor: actor.name().to_string(),
        });
    }
    Ok(())
}

/// The time a change is recorded with.
pub(crate) fn now() -> Timestamp {
    time::OffsetDateTime::now_utc()
}

/// A system with the release it is assessed against.
pub struct SystemContext {
    pub system: System,
    pub framework: Arc<Framework>,
}

/// Loads a system and its release, or a not-found error naming it.
pub async fn system_context(core: &Core, system_id: i64) -> ServiceResult<SystemContext> {
    let (_, cached) = core.snapshots.get(system_id, core.catalog.generation());
    if let Some(snapshot) = cached {
        return Ok(SystemContext { system: snapshot.system.clone(), framework: snapshot.framework.clone() });
    }
    let system = db::systems::get(&core.db, system_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("system {system_id} does not exist")))?;
    let framework = core.catalog.get(&system.framework_version).ok_or_else(|| {
        ServiceError::NotFound(format!(
            "ATLAS release {} of system {} is not loaded; import it to work on this system",
            system.framework_version, system.name
        ))
    })?;
    Ok(SystemContext { system, framework })
}
