//! The map over time as use cases: a system's coverage at any past moment,
//! system and team trends by day, week or month, read from the history and
//! the loaded releases (the replay itself is pure, in `domain::timeline`).

use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::team_snapshots::{self, Edge};
use super::{ServiceError, ServiceResult};
use crate::atlas::Framework;
use crate::core::{Core, today};
use crate::db;
use crate::domain::FieldError;
use crate::domain::coverage::{CoverageFigures, StateCounts, SystemCoverage};
use crate::domain::history::HistoryEntry;
use crate::domain::records::{Timestamp, parse_timestamp};
use crate::domain::timeline::{self, Point, Step};

/// Most points one trend may have (ten years by month, about four by week,
/// three by day).
pub const MAX_POINTS: usize = 1_100;

/// The last moment of a day (UTC).
pub fn end_of(day: Date) -> Timestamp {
    day.with_hms_nano(23, 59, 59, 999_999_999).map_or_else(|_| day.midnight().assume_utc(), |t| t.assume_utc())
}

/// A period and step, checked.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub from: Date,
    pub to: Date,
    pub step: Step,
}

impl Range {
    /// Reads `from`, `to` (days, `YYYY-MM-DD`; default the last 90 days) and
    /// `step`; a wrong one (an empty one included) is named.
    pub fn parse(from: Option<&str>, to: Option<&str>, step: Option<&str>) -> ServiceResult<Range> {
        let day = |field: &str, raw: Option<&str>| -> ServiceResult<Option<Date>> {
            match raw.map(str::trim) {
                None => Ok(None),
                Some(raw) => crate::domain::date(field, raw).map(Some).map_err(Into::into),
            }
        };
        let to = day("to", to)?.unwrap_or_else(today);
        let from = day("from", from)?.unwrap_or_else(|| to - time::Duration::days(89));
        let step = Step::parse(step.unwrap_or("day")).map_err(|m| FieldError::new("step", m))?;
        if from > to {
            return Err(FieldError::new("from", format!("{from} is after `to` ({to})")).into());
        }
        let range = Range { from, to, step };
        let points = timeline::periods(from, to, step).len();
        if points > MAX_POINTS {
            return Err(FieldError::new(
                "step",
                format!("{points} {} points from {from} to {to} are more than {MAX_POINTS}: take a longer step or a shorter range", step.as_str()),
            )
            .into());
        }
        Ok(range)
    }
}

/// [`Range::parse`] where `from` and `to` may also name a snapshot of the
/// team (or give an RFC 3339 time): the day it falls on is taken. A value
/// shaped like a day is read as one, so a wrong day is named as such.
pub async fn range_of_team(
    core: &Core,
    team_id: i64,
    from: Option<&str>,
    to: Option<&str>,
    step: Option<&str>,
) -> ServiceResult<Range> {
    let looks_like_a_day = |raw: &str| {
        let bytes = raw.as_bytes();
        bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
    };
    let mut days: [Option<String>; 2] = [None, None];
    for (slot, field, raw, edge) in [(0, "from", from, Edge::Start), (1, "to", to, Edge::End)] {
        days[slot] = match raw.map(str::trim) {
            Some(raw) if !raw.is_empty() && (!looks_like_a_day(raw) || parse_timestamp(raw).is_some()) => {
                let moment = team_snapshots::moment(core, team_id, field, raw, edge).await?;
                Some(crate::domain::format_date(moment.at.date()))
            }
            other => other.map(str::to_string),
        };
    }
    Range::parse(days[0].as_deref(), days[1].as_deref(), step)
}

/// One point of a trend, as the API and the pages show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    /// First day of the period (`YYYY-MM-DD`).
    #[schema(value_type = String, format = Date)]
    pub period_start: String,
    /// Last day of the period the figures are taken at (its end, UTC).
    #[schema(value_type = String, format = Date)]
    pub as_of: String,
    /// The ATLAS release the system was pinned to then (empty before it existed;
    /// for a team, the releases joined by commas).
    pub release: String,
    pub figures: CoverageFigures,
}

/// A system's trend.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemTrend {
    pub system_id: i64,
    pub name: String,
    pub step: String,
    pub points: Vec<TrendPoint>,
}

/// A team's trend: the systems' counts added up, and each system's own.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TeamTrend {
    pub team_id: i64,
    pub step: String,
    pub points: Vec<TrendPoint>,
    pub systems: Vec<SystemTrend>,
}

fn releases(core: &Core) -> Vec<std::sync::Arc<Framework>> {
    core.catalog.list()
}

fn lookup<'a>(loaded: &'a [std::sync::Arc<Framework>]) -> impl Fn(&str) -> Option<&'a Framework> + Copy {
    move |version: &str| loaded.iter().find(|f| f.version() == version).map(|f| f.as_ref())
}

/// A system's coverage as it was at `at`, with the release it was pinned to then.
pub async fn coverage_at(core: &Core, system_id: i64, at: OffsetDateTime) -> ServiceResult<(String, SystemCoverage)> {
    let system = super::systems::get(core, system_id).await?;
    let history = db::history::latest_records(&core.db, system.id, system.team_id, at).await?;
    let loaded = releases(core);
    match timeline::coverage_at(&history, at, lookup(&loaded)) {
        Ok((replay, coverage)) => Ok((replay.release, coverage)),
        Err(timeline::MissingRelease(release)) if release.is_empty() => Err(FieldError::new(
            "at",
            format!("system {} did not exist yet at {}", system.name, crate::domain::records::format_timestamp(at)),
        )
        .into()),
        Err(timeline::MissingRelease(release)) => Err(ServiceError::Refused(format!(
            "system {} was on ATLAS {release} then, which is not loaded: add that release to see its past coverage",
            system.name
        ))),
    }
}

fn points(periods: &[(Date, Date)], computed: Vec<Point>) -> Vec<TrendPoint> {
    periods
        .iter()
        .zip(computed)
        .map(|((start, last), point)| TrendPoint {
            period_start: crate::domain::format_date(*start),
            as_of: crate::domain::format_date(*last),
            release: point.release,
            figures: CoverageFigures::from(point.overall),
        })
        .collect()
}

/// A system's coverage at the end of each period of `range`.
pub async fn system_trend(core: &Core, system_id: i64, range: &Range) -> ServiceResult<SystemTrend> {
    let system = super::systems::get(core, system_id).await?;
    let history = db::history::timeline(&core.db, system.id, system.team_id, Some(end_of(range.to))).await?;
    let loaded = releases(core);
    let periods = timeline::periods(range.from, range.to, range.step);
    let computed = timeline::trend(&history, &periods, lookup(&loaded), end_of);
    Ok(SystemTrend {
        system_id: system.id,
        name: system.name,
        step: range.step.as_str().to_string(),
        points: points(&periods, computed),
    })
}

/// Every system of a team over `range`, and their sum. The replay runs on a
/// blocking thread, one team at a time per core.
pub async fn team_trend(core: &Core, team_id: i64, range: &Range) -> ServiceResult<TeamTrend> {
    if db::teams::get(&core.db, team_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("team {team_id} does not exist")));
    }
    let systems = db::systems::list(&core.db, Some(team_id)).await?;
    // Reading and decoding the histories is most of the work: two at a
    // time keep both of the database's reader threads busy.
    let until = Some(end_of(range.to));
    let histories: Vec<(crate::domain::records::System, Vec<HistoryEntry>)> =
        futures_util::stream::iter(systems.into_iter().map(|system| async move {
            let history = db::history::timeline(&core.db, system.id, team_id, until).await?;
            Ok::<_, ServiceError>((system, history))
        }))
        .buffered(2)
        .try_collect()
        .await?;
    let loaded = releases(core);
    let range = *range;
    let _turn = core.heavy_work.acquire().await.map_err(|e| ServiceError::Internal(e.into()))?;
    tokio::task::spawn_blocking(move || team_trend_of(team_id, &histories, &loaded, &range))
        .await
        .map_err(|e| ServiceError::Internal(e.into()))
}

/// [`team_trend`] once the histories are read.
pub fn team_trend_of(
    team_id: i64,
    histories: &[(crate::domain::records::System, Vec<HistoryEntry>)],
    loaded: &[std::sync::Arc<Framework>],
    range: &Range,
) -> TeamTrend {
    let periods = timeline::periods(range.from, range.to, range.step);
    let mut totals = vec![StateCounts::default(); periods.len()];
    let mut release_sets = vec![std::collections::BTreeSet::new(); periods.len()];
    let mut systems = Vec::with_capacity(histories.len());
    for (system, history) in histories {
        let computed = timeline::trend(history, &periods, lookup(loaded), end_of);
        for (i, point) in computed.iter().enumerate() {
            totals[i].merge(&point.overall);
            if !point.release.is_empty() {
                release_sets[i].insert(point.release.clone());
            }
        }
        systems.push(SystemTrend {
            system_id: system.id,
            name: system.name.clone(),
            step: range.step.as_str().to_string(),
            points: points(&periods, computed),
        });
    }
    let points = periods
        .iter()
        .zip(totals.into_iter().zip(release_sets))
        .map(|((start, last), (counts, releases))| TrendPoint {
            period_start: crate::domain::format_date(*start),
            as_of: crate::domain::format_date(*last),
            release: releases.into_iter().collect::<Vec<_>>().join(", "),
            figures: CoverageFigures::from(counts),
        })
        .collect();
    TeamTrend { team_id, step: range.step.as_str().to_string(), points, systems }
}

/// A trend as CSV: one row per point (and per system for a team).
pub fn trend_csv(rows: &[(&str, &TrendPoint)]) -> String {
    let mut out = String::from(
        "system,period_start,as_of,release,coverage_percent,assessed_percent,covered,partially_covered,gap,\
         gap_no_known_mitigation,accepted_risk,not_applicable,not_assessed\n",
    );
    for (system, point) in rows {
        let counts = &point.figures.counts;
        let percent = |p: Option<f64>| p.map(|p| format!("{p:.1}")).unwrap_or_default();
        let quoted = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            quoted(system),
            point.period_start,
            point.as_of,
            quoted(&point.release),
            percent(point.figures.coverage_percent),
            percent(point.figures.assessed_percent),
            counts.covered,
            counts.partially_covered,
            counts.gap,
            counts.gap_no_known_mitigation,
            counts.accepted_risk,
            counts.not_applicable,
            counts.not_assessed
        ));
    }
    out
}
