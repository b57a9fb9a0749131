//! The workshop page: the system's matrix with each technique's state, the
//! filters, the bulk-action bar and the (empty) panel.

use std::collections::{BTreeSet, HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{dom_id, fragments};
use crate::app::AppState;
use crate::atlas::matrix::{self, Cell as MatrixCell, TechniqueFilter};
use crate::atlas::model::{Maturity, Tactic, Technique};
use crate::auth::{Principal, Role};
use crate::domain::Applicability;
use crate::domain::coverage::CoverageState;
use crate::service::deadlines::{Deadline, DeadlineKind};
use crate::service::snapshot::{self, Snapshot};
use crate::web::filters;
use crate::web::viewer::MatrixLayout;
use crate::web::{Chrome, WebError, render};

pub struct Cell<'a> {
    pub technique: &'a Technique,
    pub dom: String,
    /// The part of the ID the compact layout leaves out ("AML." of a
    /// technique, the parent's ID of a sub-technique) and the part it shows.
    pub id_head: String,
    pub id_tail: String,
    pub state_html: String,
    pub context_only: bool,
    pub subs: Vec<Cell<'a>>,
    pub sub_total: usize,
    pub open: bool,
}

pub struct Column<'a> {
    pub tactic: &'a Tactic,
    pub dom: String,
    pub counts_html: String,
    pub cells: Vec<Cell<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WorkshopQuery {
    q: Option<String>,
    tactic: Option<String>,
    maturity: Option<String>,
    platform: Option<String>,
    state: Option<String>,
    done: Option<String>,
    undo: Option<i64>,
    /// `1`: only the techniques flagged for review by an upgrade.
    review: Option<String>,
    /// Which dimension the matrix shows: `prevention` (default), `detection` or `combined`.
    view: Option<String>,
}

/// The dimension of coverage the matrix shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixView {
    Prevention,
    Detection,
    Combined,
}

impl MatrixView {
    pub const ALL: [MatrixView; 3] = [MatrixView::Prevention, MatrixView::Detection, MatrixView::Combined];

    pub fn as_str(self) -> &'static str {
        match self {
            MatrixView::Prevention => "prevention",
            MatrixView::Detection => "detection",
            MatrixView::Combined => "combined",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            MatrixView::Prevention => "Prevention",
            MatrixView::Detection => "Detection",
            MatrixView::Combined => "Both",
        }
    }

    fn parse(raw: Option<&str>) -> MatrixView {
        MatrixView::ALL.into_iter().find(|v| Some(v.as_str()) == raw.map(str::trim)).unwrap_or(MatrixView::Prevention)
    }
}

impl WorkshopQuery {
    /// This page's address in another view, keeping the filters.
    fn in_view(&self, system_id: i64, view: MatrixView) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("q", &self.q),
            ("tactic", &self.tactic),
            ("maturity", &self.maturity),
            ("platform", &self.platform),
            ("state", &self.state),
            ("review", &self.review),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (k, v)))
        .collect();
        if view != MatrixView::Prevention {
            pairs.push(("view", view.as_str()));
        }
        let query: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| {
                format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC))
            })
            .collect();
        if query.is_empty() {
            format!("/systems/{system_id}")
        } else {
            format!("/systems/{system_id}?{}", query.join("&"))
        }
    }
}

#[derive(Template)]
#[template(path = "pages/workshop.html")]
struct WorkshopPage<'a> {
    chrome: Chrome,
    snapshot: &'a Snapshot,
    team_name: String,
    summary_html: String,
    columns: Vec<Column<'a>>,
    shown: usize,
    query: &'a WorkshopQuery,
    filtered: bool,
    filter_error: Option<String>,
    states: [CoverageState; 7],
    applicabilities: &'static [Applicability],
    maturities: [Maturity; 3],
    platforms: Vec<&'static str>,
    actor: String,
    flash: Option<String>,
    undo: Option<i64>,
    review_count: usize,
    scope_html: String,
    layout: &'static str,
    compact: bool,
    can_edit: bool,
    can_own: bool,
    tactic_chart: TacticChart,
    deadlines: Vec<Deadline>,
    expired_count: usize,
    due_soon: usize,
    show_system: bool,
    view: MatrixView,
    /// Each view with the address that shows it.
    views: Vec<(MatrixView, String)>,
}

/// Stacked bars of the states per tactic, with the numbers behind them.
pub struct TacticChart {
    pub svg: String,
    pub legend: Vec<CoverageState>,
    pub rows: Vec<(String, crate::domain::coverage::StateCounts)>,
}

impl TacticChart {
    fn of(snapshot: &Snapshot) -> Self {
        let rows: Vec<(String, crate::domain::coverage::StateCounts)> = snapshot
            .framework
            .tactics()
            .iter()
            .zip(&snapshot.coverage.per_tactic)
            .map(|(tactic, counts)| (tactic.name.clone(), *counts))
            .collect();
        TacticChart { svg: crate::reports::charts::tactic_bars(&rows), legend: crate::reports::charts::legend(), rows }
    }
}

/// The filters of the query, or the reason they were not understood (the
/// page then shows everything and says why).
fn parse_filters(
    snapshot: &Snapshot,
    query: &WorkshopQuery,
) -> (TechniqueFilter, Option<CoverageState>, Option<String>) {
    let parsed = TechniqueFilter::parse(
        &snapshot.framework,
        query.q.as_deref(),
        query.tactic.as_deref(),
        query.maturity.as_deref(),
        query.platform.as_deref(),
    );
    let state_filter = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| CoverageState::parse(s).ok_or_else(|| format!("state: `{s}` is not a coverage state")));
    match (parsed, state_filter.transpose()) {
        (Ok(f), Ok(s)) => (f, s, None),
        (Err(e), _) => (TechniqueFilter::default(), None, Some(e.to_string())),
        (_, Err(e)) => (TechniqueFilter::default(), None, Some(e)),
    }
}

/// The matrix cells that pass the filters: a technique shown for its
/// matching sub-techniques alone is marked as context.
struct Layout<'s> {
    snapshot: &'s Snapshot,
    by_id: HashMap<&'s str, CoverageState>,
    state_filter: Option<CoverageState>,
    /// Only these techniques (those flagged for review), when set.
    only: Option<HashSet<String>>,
    open_parents: bool,
    shown: BTreeSet<&'s str>,
}

impl<'s> Layout<'s> {
    fn keeps(&self, technique: &Technique) -> bool {
        self.state_filter.is_none_or(|s| self.by_id[technique.id.as_str()] == s)
            && self.only.as_ref().is_none_or(|only| only.contains(&technique.id))
    }

    fn leaf(&self, technique: &'s Technique) -> askama::Result<Cell<'s>> {
        let split = match technique.parent.as_deref() {
            Some(parent) if technique.id.starts_with(parent) => parent.len(),
            _ => technique.id.find('.').map_or(0, |dot| dot + 1),
        };
        let (id_head, id_tail) = technique.id.split_at(split);
        Ok(Cell {
            technique,
            dom: dom_id(&technique.id),
            id_head: id_head.to_string(),
            id_tail: id_tail.to_string(),
            state_html: fragments::cell_state(self.snapshot, &self.by_id, technique)?,
            context_only: false,
            subs: Vec::new(),
            sub_total: 0,
            open: false,
        })
    }

    fn cell(&mut self, cell: MatrixCell<'s>) -> askama::Result<Option<Cell<'s>>> {
        let mut subs = Vec::new();
        for sub in cell.subtechniques.iter().filter(|sub| self.keeps(sub.technique)) {
            subs.push(self.leaf(sub.technique)?);
        }
        let matched = cell.matched && self.keeps(cell.technique);
        if !matched && subs.is_empty() {
            return Ok(None);
        }
        self.shown.insert(cell.technique.id.as_str());
        self.shown.extend(subs.iter().map(|s| s.technique.id.as_str()));
        let open = self.open_parents && !subs.is_empty();
        Ok(Some(Cell {
            context_only: !matched,
            sub_total: cell.subtechnique_total,
            open,
            subs,
            ..self.leaf(cell.technique)?
        }))
    }
}

pub(super) async fn workshop_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<WorkshopQuery>,
    principal: Principal,
) -> Result<Response, WebError> {
    let snapshot = snapshot::load(&state, id).await?;
    let team = crate::service::teams::get(&state, snapshot.system.team_id).await?;
    let role = crate::auth::guard::team_role(&state, &principal, team.id).await?;
    let chosen_layout = crate::web::viewer::current().layout;
    let framework = &snapshot.framework;
    let (filter, state_filter, filter_error) = parse_filters(&snapshot, &query);
    let flags = crate::service::upgrade::flags(&state, id).await?;
    let only = (query.review.as_deref() == Some("1"))
        .then(|| flags.iter().map(|f| f.technique_id.clone()).collect::<HashSet<String>>());
    let mut layout = Layout {
        snapshot: &snapshot,
        by_id: snapshot.coverage.by_id(framework),
        state_filter,
        open_parents: state_filter.is_some() || filter.text.is_some() || only.is_some(),
        only,
        shown: BTreeSet::new(),
    };
    let mut columns = Vec::new();
    for column in matrix::build(framework, &filter).columns {
        let position = framework.tactic_position(&column.tactic.id).unwrap_or(0);
        let mut cells = Vec::new();
        for cell in column.cells {
            cells.extend(layout.cell(cell)?);
        }
        columns.push(Column {
            tactic: column.tactic,
            dom: dom_id(&column.tactic.id),
            counts_html: fragments::tactic_counts(&snapshot.coverage.per_tactic[position])?,
            cells,
        });
    }
    let deadlines = crate::service::deadlines::of_system(&snapshot, crate::core::today(), 30);
    let page = WorkshopPage {
        chrome: Chrome::new(&state, framework, ""),
        team_name: team.name,
        summary_html: fragments::summary(&snapshot)?,
        shown: layout.shown.len(),
        columns,
        query: &query,
        filtered: !filter.is_empty() || state_filter.is_some() || layout.only.is_some(),
        filter_error,
        states: CoverageState::ALL,
        applicabilities: Applicability::ALL,
        maturities: Maturity::ALL,
        platforms: framework.platforms(),
        actor: principal.actor().0,
        flash: query.done.clone(),
        undo: query.undo,
        review_count: flags.len(),
        scope_html: fragments::scope_actions(&snapshot, false)?,
        layout: chosen_layout.as_str(),
        compact: chosen_layout == MatrixLayout::Compact,
        can_edit: role.is_some_and(|r| r >= Role::Editor),
        can_own: role.is_some_and(|r| r >= Role::Owner),
        tactic_chart: TacticChart::of(&snapshot),
        expired_count: deadlines.iter().filter(|d| d.expired).count(),
        due_soon: deadlines.iter().filter(|d| !d.expired).count(),
        deadlines,
        show_system: false,
        view: MatrixView::parse(query.view.as_deref()),
        views: MatrixView::ALL.into_iter().map(|v| (v, query.in_view(id, v))).collect(),
        snapshot: &snapshot,
    };
    Ok(render(&page)?.into_response())
}
