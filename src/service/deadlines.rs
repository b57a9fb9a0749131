//! Decisions that run out: risk acceptances whose last day has passed or
//! comes within a number of days, and mitigation or control target dates
//! due by then while the measure is not in place. Read from the systems'
//! snapshots; nothing here changes anything.

use serde::Serialize;
use time::Date;
use utoipa::ToSchema;

use super::snapshot::{self, Snapshot};
use super::{ServiceError, ServiceResult};
use crate::core::{Core, today};
use crate::db;
use crate::domain::ImplementationStatus;
use crate::domain::format_date;

/// Most days ahead a list may look.
pub const MAX_WITHIN: i64 = 3_650;

/// What kind of decision runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// A risk acceptance's last day.
    Acceptance,
    /// The target date of an ATLAS mitigation not yet implemented.
    MitigationTarget,
    /// The target date of a team control not yet implemented.
    ControlTarget,
}

/// One decision that has run out or will within the window.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deadline {
    pub system_id: i64,
    pub system: String,
    pub kind: DeadlineKind,
    /// The technique (acceptance), mitigation ID or control ID.
    pub item: String,
    /// What the item is called.
    pub name: String,
    /// `YYYY-MM-DD`: the acceptance's last day, or the target date.
    #[schema(value_type = String, format = Date)]
    pub due: String,
    /// Already past: an expired acceptance counts as a gap again.
    pub expired: bool,
    /// Days from today (negative once past).
    pub days_left: i64,
}

/// A deadline as a client reads it back from JSON (the command line's
/// `check`, locally or through the API).
#[derive(Debug, serde::Deserialize)]
pub struct DeadlineRead {
    pub kind: String,
    pub item: String,
    pub name: String,
    pub due: String,
    pub expired: bool,
}

/// The decisions of one system that ran out or run out by `today + within`.
pub fn of_system(snapshot: &Snapshot, today: Date, within: i64) -> Vec<Deadline> {
    let horizon = today + time::Duration::days(within);
    let framework = &snapshot.framework;
    let mut found = Vec::new();
    let mut add = |kind: DeadlineKind, item: &str, name: String, due: Date, expired: bool| {
        found.push(Deadline {
            system_id: snapshot.system.id,
            system: snapshot.system.name.clone(),
            kind,
            item: item.to_string(),
            name,
            due: format_date(due),
            expired,
            days_left: (due - today).whole_days(),
        });
    };
    for acceptance in snapshot.acceptances.values() {
        if acceptance.expires_on <= horizon {
            let name =
                framework.technique(&acceptance.technique_id).map(|t| framework.full_name(t)).unwrap_or_default();
            let expired = !acceptance.is_active(today);
            add(DeadlineKind::Acceptance, &acceptance.technique_id, name, acceptance.expires_on, expired);
        }
    }
    let open = |status: ImplementationStatus| {
        !matches!(status, ImplementationStatus::Implemented | ImplementationStatus::NotApplicable)
    };
    for row in snapshot.mitigation_statuses.values() {
        if let Some(due) = row.target_date.filter(|d| *d <= horizon && open(row.status)) {
            let name = framework.mitigation(&row.item).map(|m| m.name.clone()).unwrap_or_default();
            add(DeadlineKind::MitigationTarget, &row.item, name, due, due < today);
        }
    }
    for row in snapshot.control_statuses.values() {
        if let Some(due) = row.target_date.filter(|d| *d <= horizon && open(row.status)) {
            let name = snapshot.controls.iter().find(|c| c.id.to_string() == row.item).map(|c| c.name.clone());
            add(DeadlineKind::ControlTarget, &row.item, name.unwrap_or_default(), due, due < today);
        }
    }
    found.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.item.cmp(&b.item)));
    found
}

fn window(within: i64) -> ServiceResult<i64> {
    if (0..=MAX_WITHIN).contains(&within) {
        Ok(within)
    } else {
        Err(crate::domain::FieldError::new("within", format!("{within} is outside 0 to {MAX_WITHIN} days")).into())
    }
}

/// A system's deadlines within `within` days (and every one already past).
pub async fn for_system(core: &Core, system_id: i64, within: i64) -> ServiceResult<Vec<Deadline>> {
    let within = window(within)?;
    let snapshot = snapshot::load(core, system_id).await?;
    Ok(of_system(&snapshot, today(), within))
}

/// Every system's deadlines of a team, soonest first. A system whose
/// release is not loaded is skipped.
pub async fn for_team(core: &Core, team_id: i64, within: i64) -> ServiceResult<Vec<Deadline>> {
    let within = window(within)?;
    if db::teams::get(&core.db, team_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("team {team_id} does not exist")));
    }
    let mut all = Vec::new();
    for system in db::systems::list(&core.db, Some(team_id)).await? {
        match snapshot::load(core, system.id).await {
            Ok(snapshot) => all.extend(of_system(&snapshot, today(), within)),
            Err(ServiceError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    all.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.system.cmp(&b.system)));
    Ok(all)
}
