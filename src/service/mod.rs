//! Use cases of coverage assessment, shared by the pages and the API:
//! validated, versioned writes in one transaction each, recorded in the
//! history and announced to live workshops after commit.

pub mod controls;
pub mod decisions;
pub mod snapshot;
pub mod systems;
pub mod teams;

use std::sync::Arc;

use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::app::AppState;
use crate::atlas::Framework;
use crate::db;
use crate::domain::FieldError;

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
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// A stale write: the row moved on since the writer read it.
    #[error("{message}")]
    Conflict { message: String, current_version: i64 },
    /// A name already taken.
    #[error("{0}")]
    Duplicate(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl ServiceError {
    pub fn conflict(what: &str, current_version: i64, expected: i64) -> Self {
        ServiceError::Conflict {
            message: format!(
                "{what} was changed by someone else (you edited version {expected}, it is now at version {current_version}); \
                 review the current value and apply your change again"
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

/// A write transaction that takes the write lock up front, so concurrent
/// writers queue on the busy timeout instead of failing on lock upgrade.
pub(crate) async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

pub(crate) fn now() -> String {
    crate::releases::now_rfc3339()
}

/// A system row with the release it is assessed against.
pub struct SystemContext {
    pub system: db::systems::SystemRow,
    pub framework: Arc<Framework>,
}

/// Loads a system and its release, or a not-found error naming it.
pub async fn system_context(state: &AppState, system_id: i64) -> ServiceResult<SystemContext> {
    let system = db::systems::get(&state.db, system_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("system {system_id} does not exist")))?;
    let framework = state.catalog.get(&system.framework_version).ok_or_else(|| {
        ServiceError::NotFound(format!(
            "ATLAS release {} of system {} is not loaded; import it to work on this system",
            system.framework_version, system.name
        ))
    })?;
    Ok(SystemContext { system, framework })
}

/// Serialises a row for the history.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_string(value).ok()
}
