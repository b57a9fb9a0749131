//! A system's whole change history as a page: every decision on techniques,
//! mitigations, controls, acceptances and the system itself, filterable by
//! item, person and period, each change with its undo.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{Principal, Role};
use crate::db::history::HistoryQuery;
use crate::domain::history::{Entity, HistoryEntry};
use crate::service::decisions;
use crate::service::snapshot::{self, Snapshot};
use crate::web::filters;
use crate::web::{Chrome, WebError, render};

/// Entries one page shows.
const PAGE: i64 = 100;

#[derive(Debug, Default, Deserialize)]
pub(super) struct HistoryParams {
    #[serde(default)]
    item: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
    done: Option<String>,
}

/// One change as the page lists it.
pub struct Row {
    pub entry: HistoryEntry,
    /// What the item is called ("Phishing: Spearphishing …", a mitigation's name).
    pub item_name: String,
    pub undoable: bool,
}

#[derive(Template)]
#[template(path = "pages/history.html")]
struct HistoryPage<'a> {
    chrome: Chrome,
    snapshot: &'a Snapshot,
    params: &'a HistoryParams,
    actors: Vec<String>,
    rows: Vec<Row>,
    filter_error: Option<String>,
    /// The query of the next (older) page, when there is one.
    older: Option<String>,
    can_edit: bool,
}

/// The name of what a history entry changed, read from the system's release and team.
fn item_name(snapshot: &Snapshot, entry: &HistoryEntry) -> String {
    let framework = &snapshot.framework;
    match entry.entity {
        Entity::Assessment | Entity::Acceptance | Entity::DetectionStatus => {
            framework.technique(&entry.item).map(|t| framework.full_name(t)).unwrap_or_default()
        }
        Entity::Mitigation => framework.mitigation(&entry.item).map(|m| m.name.clone()).unwrap_or_default(),
        Entity::ControlStatus | Entity::Control => snapshot
            .controls
            .iter()
            .find(|c| c.id.to_string() == entry.item)
            .map(|c| c.name.clone())
            .unwrap_or_default(),
        Entity::Detection => snapshot
            .detections
            .iter()
            .find(|d| d.id.to_string() == entry.item)
            .map(|d| d.name.clone())
            .unwrap_or_default(),
        Entity::System => snapshot.system.name.clone(),
        Entity::Team => String::new(),
    }
}

/// The query as the database reads it, or the field that is wrong.
fn parse(params: &HistoryParams) -> Result<HistoryQuery, String> {
    let day = |field: &str, value: &str| -> Result<Option<time::Date>, String> {
        match value.trim() {
            "" => Ok(None),
            raw => crate::domain::date(field, raw).map(Some).map_err(|e| e.to_string()),
        }
    };
    let from = day("from", &params.from)?;
    let to = day("to", &params.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(format!("from: {from} is after to ({to})"));
    }
    let midnight = |d: time::Date| d.midnight().assume_utc();
    Ok(HistoryQuery {
        items: Some(params.item.trim()).filter(|i| !i.is_empty()).map(|i| vec![i.to_string()]).unwrap_or_default(),
        actor: Some(params.actor.trim()).filter(|a| !a.is_empty()).map(str::to_string),
        from: from.map(midnight),
        until: to.and_then(|d| d.next_day()).map(midnight),
        before_id: params.before,
    })
}

pub(super) async fn history_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<HistoryParams>,
    principal: Principal,
) -> Result<Response, WebError> {
    let snapshot = snapshot::load(&state, id).await?;
    let role = crate::auth::guard::team_role(&state, &principal, snapshot.system.team_id).await?;
    let can_edit = role.is_some_and(|r| r >= Role::Editor);
    let (query, filter_error) = match parse(&params) {
        Ok(query) => (query, None),
        Err(e) => (HistoryQuery { before_id: params.before, ..Default::default() }, Some(e)),
    };
    let entries = decisions::search_history(&state, id, &query, PAGE).await?;
    let older = (entries.len() as i64 == PAGE).then(|| {
        let last = entries.last().map_or(0, |e| e.id);
        let encode = |v: &str| percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!(
            "item={}&actor={}&from={}&to={}&before={last}",
            encode(&params.item),
            encode(&params.actor),
            encode(&params.from),
            encode(&params.to)
        )
    });
    let rows = entries
        .into_iter()
        .map(|entry| Row {
            item_name: item_name(&snapshot, &entry),
            undoable: can_edit && !matches!(entry.entity, Entity::Team | Entity::Control | Entity::Detection),
            entry,
        })
        .collect();
    let page = HistoryPage {
        chrome: Chrome::new(&state, &snapshot.framework, ""),
        actors: crate::db::history::actors(&state.db, id).await.map_err(|e| WebError::Internal(e.into()))?,
        snapshot: &snapshot,
        params: &params,
        rows,
        filter_error,
        older,
        can_edit,
    };
    Ok(render(&page)?.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_reads_as_whole_days_and_refuses_to_run_backwards() {
        let params = HistoryParams { from: "2026-11-01".into(), to: "2026-11-30".into(), ..Default::default() };
        let query = parse(&params).expect("a valid period");
        assert_eq!(query.from.map(|f| f.to_string()), Some("2026-11-01 0:00:00.0 +00:00:00".to_string()));
        assert_eq!(query.until.map(|u| u.date().to_string()), Some("2026-12-01".to_string()));
        let backwards = HistoryParams { from: "2026-12-01".into(), to: "2026-11-01".into(), ..Default::default() };
        assert!(parse(&backwards).unwrap_err().starts_with("from:"));
        let typo = HistoryParams { from: "0002-03-15".into(), ..Default::default() };
        assert!(parse(&typo).unwrap_err().contains("from"));
    }
}
