//! A team's overview: every system's coverage, open gaps and weighted gap,
//! and a systems × tactics heat map, sortable by any column.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::{Download, downloads};
use crate::app::AppState;
use crate::reports::html::heat_class;
use crate::reports::{GapReport, LeftOut, ReportFormat, number, percent};
use crate::service::reports::{self as report_service, ReportRequest};
use crate::web::filters;
use crate::web::{Chrome, WebError};

/// How the heat map is sorted: a column and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SortKey {
    Name,
    Coverage,
    Gaps,
    Weighted,
    /// A tactic's coverage, by tactic ID.
    Tactic(String),
}

impl SortKey {
    fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim).unwrap_or("") {
            "coverage" => SortKey::Coverage,
            "gaps" => SortKey::Gaps,
            "weighted" => SortKey::Weighted,
            "" | "name" => SortKey::Name,
            tactic => SortKey::Tactic(tactic.to_string()),
        }
    }

    fn as_param(&self) -> &str {
        match self {
            SortKey::Name => "name",
            SortKey::Coverage => "coverage",
            SortKey::Gaps => "gaps",
            SortKey::Weighted => "weighted",
            SortKey::Tactic(id) => id,
        }
    }

    /// The first direction of a column: names A to Z, the least covered and
    /// the most open first.
    fn natural_descending(&self) -> bool {
        matches!(self, SortKey::Gaps | SortKey::Weighted)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct OverviewQuery {
    sort: Option<String>,
    /// `asc` or `desc`.
    order: Option<String>,
}

/// A sortable column header.
struct SortHeader {
    label: String,
    href: String,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    aria_sort: &'static str,
    /// ▲ or ▼ on the sorted column.
    arrow: &'static str,
}

fn sort_header(label: &str, team_id: i64, key: SortKey, current: &SortKey, descending: bool) -> SortHeader {
    let sorted = &key == current;
    let next_descending = if sorted { !descending } else { key.natural_descending() };
    let order = if next_descending { "desc" } else { "asc" };
    let encoded = percent_encoding::utf8_percent_encode(key.as_param(), percent_encoding::NON_ALPHANUMERIC);
    SortHeader {
        label: label.to_string(),
        href: format!("/teams/{team_id}/overview?sort={encoded}&order={order}"),
        aria_sort: match (sorted, descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        },
        arrow: match (sorted, descending) {
            (false, _) => "",
            (true, false) => "▲",
            (true, true) => "▼",
        },
    }
}

struct HeatCellView {
    class: &'static str,
    text: String,
    gaps: usize,
    href: String,
    label: String,
}

struct OverviewRow {
    system_id: i64,
    name: String,
    release: String,
    coverage: String,
    detected: String,
    neither: String,
    open_gaps: usize,
    weighted: String,
    cells: Vec<HeatCellView>,
    /// Coverage over the last weeks, as a line.
    spark: String,
}

#[derive(Template)]
#[template(path = "pages/team_overview.html")]
struct OverviewPage {
    chrome: Chrome,
    team_id: i64,
    team_name: String,
    coverage: String,
    detected: String,
    neither: String,
    assessed: String,
    open_gaps: usize,
    weighted_gap: String,
    systems: usize,
    downloads: Vec<Download>,
    fixed_headers: Vec<SortHeader>,
    tactic_headers: Vec<SortHeader>,
    rows: Vec<OverviewRow>,
    left_out: Vec<LeftOut>,
    buckets: [(&'static str, &'static str); 6],
    team_spark: String,
}

/// A percentage as a sort key: no percentage sorts after every number.
fn sortable(value: Option<f64>, descending: bool) -> (bool, f64) {
    match value {
        None => (true, 0.0),
        Some(v) if descending => (false, -v),
        Some(v) => (false, v),
    }
}

impl OverviewPage {
    fn new(
        report: &GapReport,
        chrome: Chrome,
        team_id: i64,
        sort: SortKey,
        descending: bool,
        trends: &std::collections::HashMap<i64, Vec<Option<f64>>>,
    ) -> Self {
        let line = |values: &[Option<f64>], what: &str| crate::reports::charts::coverage_line(values, what);
        let tactics = &report.heat_map.tactics;
        // Unknown tactic: sort by name.
        let sort = match &sort {
            SortKey::Tactic(id) if !tactics.iter().any(|t| &t.id == id) => SortKey::Name,
            _ => sort,
        };
        let mut order: Vec<usize> = (0..report.systems.len()).collect();
        let column = match &sort {
            SortKey::Tactic(id) => tactics.iter().position(|t| &t.id == id),
            _ => None,
        };
        order.sort_by(|&a, &b| {
            let (x, y) = (&report.systems[a], &report.systems[b]);
            let by_name = x.name.to_lowercase().cmp(&y.name.to_lowercase());
            let flip = |o: std::cmp::Ordering| if descending { o.reverse() } else { o };
            let ordering = match &sort {
                SortKey::Name => flip(by_name),
                SortKey::Coverage => sortable(x.coverage.coverage_percent, descending)
                    .partial_cmp(&sortable(y.coverage.coverage_percent, descending))
                    .unwrap_or(std::cmp::Ordering::Equal),
                SortKey::Gaps => flip(x.open_gaps.cmp(&y.open_gaps)),
                SortKey::Weighted => flip(x.weighted_gap.total_cmp(&y.weighted_gap)),
                SortKey::Tactic(_) => {
                    let cell = |i: usize| {
                        column
                            .and_then(|c| report.heat_map.rows.get(i).and_then(|r| r.cells.get(c)).cloned().flatten())
                            .and_then(|cell| cell.coverage_percent)
                    };
                    sortable(cell(a), descending)
                        .partial_cmp(&sortable(cell(b), descending))
                        .unwrap_or(std::cmp::Ordering::Equal)
                }
            };
            ordering.then(by_name)
        });
        let rows = order
            .into_iter()
            .filter_map(|i| Some((report.systems.get(i)?, report.heat_map.rows.get(i)?)))
            .map(|(system, heat)| OverviewRow {
                system_id: system.system_id,
                name: system.name.clone(),
                release: system.framework_version.clone(),
                coverage: percent(system.coverage.coverage_percent),
                detected: percent(system.detection.detection_percent),
                neither: percent(system.detection.neither_percent),
                open_gaps: system.open_gaps,
                weighted: number(system.weighted_gap),
                spark: line(
                    trends.get(&system.system_id).map_or(&[][..], Vec::as_slice),
                    &format!("coverage of {} week by week", system.name),
                ),
                cells: heat
                    .cells
                    .iter()
                    .zip(tactics)
                    .map(|(cell, tactic)| match cell {
                        None => HeatCellView {
                            class: "h-none",
                            text: "–".into(),
                            gaps: 0,
                            href: format!("/systems/{}", system.system_id),
                            label: format!("{}: {} is not in this system's release", system.name, tactic.name),
                        },
                        Some(cell) => HeatCellView {
                            class: heat_class(cell.coverage_percent),
                            text: cell.coverage_percent.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}%")),
                            gaps: cell.open_gaps,
                            href: format!(
                                "/systems/{}?tactic={}",
                                system.system_id,
                                percent_encoding::utf8_percent_encode(&tactic.id, percent_encoding::NON_ALPHANUMERIC)
                            ),
                            label: format!(
                                "{}, {}: coverage {}, {} open gap(s); open the workshop on this tactic",
                                system.name,
                                tactic.name,
                                percent(cell.coverage_percent),
                                cell.open_gaps
                            ),
                        },
                    })
                    .collect(),
            })
            .collect();
        let header = |label: &str, key: SortKey| sort_header(label, team_id, key, &sort, descending);
        OverviewPage {
            chrome,
            team_id,
            team_name: match &report.scope {
                crate::reports::ReportScope::Team { team_name, .. } => team_name.clone(),
                crate::reports::ReportScope::System { .. } => String::new(),
            },
            coverage: percent(report.overall.coverage_percent),
            detected: percent(report.detection.detection_percent),
            neither: percent(report.detection.neither_percent),
            assessed: percent(report.overall.assessed_percent),
            open_gaps: report.open_gaps,
            weighted_gap: number(report.weighted_gap),
            systems: report.systems.len(),
            downloads: downloads(&format!("/teams/{team_id}/report"), true),
            fixed_headers: vec![
                header("System", SortKey::Name),
                header("Coverage", SortKey::Coverage),
                header("Open gaps", SortKey::Gaps),
                header("Weighted gap", SortKey::Weighted),
            ],
            tactic_headers: tactics.iter().map(|t| header(&t.name, SortKey::Tactic(t.id.clone()))).collect(),
            rows,
            left_out: report.left_out.clone(),
            team_spark: report
                .trend
                .as_ref()
                .map(|t| line(&t.coverage_percent, "the team's coverage week by week"))
                .unwrap_or_default(),
            buckets: [
                ("h0", "under 20%"),
                ("h1", "20–39%"),
                ("h2", "40–59%"),
                ("h3", "60–79%"),
                ("h4", "80% or more"),
                ("h-na", "n/a: nothing applies yet"),
            ],
        }
    }
}

pub(super) async fn team_overview(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<OverviewQuery>,
) -> Result<Response, WebError> {
    let data = report_service::for_team(&state, id).await?;
    let sort = SortKey::parse(query.sort.as_deref());
    let descending = match query.order.as_deref() {
        Some("desc") => true,
        Some("asc") => false,
        _ => sort.natural_descending(),
    };
    let chrome = Chrome::new(&state, &state.catalog.default_release(), "");
    let request = ReportRequest { recommendations: 0, ..ReportRequest::new(ReportFormat::Html) };
    let trends: std::collections::HashMap<i64, Vec<Option<f64>>> =
        data.snapshots().iter().map(|s| (s.system.id, data.system_trend(s.system.id).to_vec())).collect();
    let html = report_service::with_report(data, request.options(), move |report| {
        OverviewPage::new(report, chrome, id, sort, descending, &trends).render()
    })
    .await?;
    Ok(Html(html?).into_response())
}
