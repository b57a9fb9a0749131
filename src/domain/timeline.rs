//! The map over time, replayed from the append-only history: a system's
//! decisions and the release it was pinned to at any moment ([`Replay`]),
//! and its coverage kept up to date change by change ([`Tracker`]) so a
//! trend of hundreds of points costs a few microseconds per change rather
//! than a full evaluation per point. Pure: the caller passes the history,
//! the releases and the moments.

use std::collections::{BTreeMap, HashMap, HashSet};

use time::Date;

use super::coverage::{self, CoverageState, Decisions, StateCounts, SystemCoverage};
use super::history::{Entity, HistoryEntry, Recorded};
use super::records::{Acceptance, Assessment, Control, DetectionRecord, StatusRecord, Timestamp};
use super::{Applicability, ImplementationStatus};
use crate::atlas::Framework;

/// A system's records as they stood after some prefix of its history.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// The release the system was pinned to (empty before its creation).
    pub release: String,
    pub assessments: HashMap<String, Assessment>,
    pub mitigation_statuses: HashMap<String, StatusRecord>,
    pub control_statuses: HashMap<String, StatusRecord>,
    pub acceptances: HashMap<String, Acceptance>,
    /// The team's controls by ID, with the techniques each maps to.
    pub controls: BTreeMap<i64, Control>,
    /// How each technique was detected, by technique ID.
    pub detections: HashMap<String, DetectionRecord>,
}

/// What one history entry changed, for whoever keeps coverage current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// The release changed: everything must be evaluated again.
    Release,
    Technique(String),
    Mitigation(String),
    ControlStatus(i64),
    /// A control's mapping: the techniques before and after.
    ControlMapping(Vec<String>),
    Nothing,
}

fn put<T>(map: &mut HashMap<String, T>, key: &str, value: Option<T>) {
    match value {
        Some(value) => {
            map.insert(key.to_string(), value);
        }
        None => {
            map.remove(key);
        }
    }
}

impl Replay {
    /// Applies one entry (in history order) and says what it touched.
    pub fn apply(&mut self, entry: &HistoryEntry) -> Touched {
        match (entry.entity, entry.after.clone()) {
            (Entity::System, Some(Recorded::System(system))) => {
                let moved = system.framework_version != self.release;
                self.release = system.framework_version;
                if moved { Touched::Release } else { Touched::Nothing }
            }
            (Entity::Assessment, after) => {
                let after = match after {
                    Some(Recorded::Assessment(a)) => Some(a),
                    _ => None,
                };
                put(&mut self.assessments, &entry.item, after);
                Touched::Technique(entry.item.clone())
            }
            (Entity::Acceptance, after) => {
                let after = match after {
                    Some(Recorded::Acceptance(a)) => Some(a),
                    _ => None,
                };
                put(&mut self.acceptances, &entry.item, after);
                Touched::Technique(entry.item.clone())
            }
            (Entity::Mitigation, after) => {
                let after = match after {
                    Some(Recorded::Status(s)) => Some(s),
                    _ => None,
                };
                put(&mut self.mitigation_statuses, &entry.item, after);
                Touched::Mitigation(entry.item.clone())
            }
            (Entity::ControlStatus, after) => {
                let after = match after {
                    Some(Recorded::Status(s)) => Some(s),
                    _ => None,
                };
                put(&mut self.control_statuses, &entry.item, after);
                entry.item.parse().map_or(Touched::Nothing, Touched::ControlStatus)
            }
            (Entity::Control, after) => {
                let Ok(id) = entry.item.parse::<i64>() else { return Touched::Nothing };
                let mut techniques = self.controls.get(&id).map(|c| c.techniques.clone()).unwrap_or_default();
                match after {
                    Some(Recorded::Control(control)) => {
                        techniques.extend(control.techniques.iter().cloned());
                        self.controls.insert(id, control);
                    }
                    _ => {
                        self.controls.remove(&id);
                        self.control_statuses.remove(&entry.item);
                    }
                }
                Touched::ControlMapping(techniques)
            }
            (Entity::DetectionStatus, after) => {
                let after = match after {
                    Some(Recorded::DetectionStatus(d)) => Some(d),
                    _ => None,
                };
                put(&mut self.detections, &entry.item, after);
                // Detection does not move a technique's prevention state.
                Touched::Nothing
            }
            (Entity::System | Entity::Team | Entity::Detection, _) => Touched::Nothing,
        }
    }

    /// The decisions as the coverage rules take them.
    pub fn decisions(&self) -> Decisions {
        let controls: Vec<Control> = self.controls.values().cloned().collect();
        Decisions::from_records(
            self.assessments.values(),
            self.mitigation_statuses.values(),
            &controls,
            &self.control_statuses,
            self.acceptances.values(),
        )
        .with_detections(self.detections.values())
    }
}

/// The records of a system after every entry at or before `at`.
pub fn replay_until(history: &[HistoryEntry], at: Timestamp) -> Replay {
    let mut replay = Replay::default();
    for entry in history.iter().take_while(|e| e.at <= at) {
        replay.apply(entry);
    }
    replay
}

/// A system's coverage at one moment: the rules applied to the replayed
/// records, against the release it was pinned to then, on that day.
pub fn coverage_at<'f>(
    history: &[HistoryEntry],
    at: Timestamp,
    release: impl Fn(&str) -> Option<&'f Framework>,
) -> Result<(Replay, SystemCoverage), MissingRelease> {
    let replay = replay_until(history, at);
    let framework = release(&replay.release).ok_or_else(|| MissingRelease(replay.release.clone()))?;
    let coverage = coverage::evaluate(framework, &replay.decisions(), at.date());
    Ok((replay, coverage))
}

/// The history names a release that is not loaded (or the system did not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRelease(pub String);

/// Coverage kept current while a history is replayed forward: each entry
/// re-evaluates only the techniques it touched, and moving to a later day
/// only those whose risk acceptance lapsed in between.
pub struct Tracker<'f, R: Fn(&str) -> Option<&'f Framework>> {
    releases: R,
    framework: Option<&'f Framework>,
    replay: Replay,
    day: Date,
    states: Vec<CoverageState>,
    overall: StateCounts,
    per_tactic: Vec<StateCounts>,
    index: HashMap<String, usize>,
    /// Per technique (by index): the tactic positions it counts under.
    tactics: Vec<Vec<usize>>,
    /// Control → techniques, and technique → controls, from the replay.
    controls_of: HashMap<String, Vec<i64>>,
}

/// The coverage of a system at one point of a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The release the system was pinned to (empty before it existed).
    pub release: String,
    pub overall: StateCounts,
    pub per_tactic: Vec<StateCounts>,
}

impl<'f, R: Fn(&str) -> Option<&'f Framework>> Tracker<'f, R> {
    pub fn new(releases: R, day: Date) -> Self {
        Tracker {
            releases,
            framework: None,
            replay: Replay::default(),
            day,
            states: Vec::new(),
            overall: StateCounts::default(),
            per_tactic: Vec::new(),
            index: HashMap::new(),
            tactics: Vec::new(),
            controls_of: HashMap::new(),
        }
    }

    /// The records replayed so far.
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    fn rebuild(&mut self) {
        self.rebuild_control_index();
        let Some(framework) = (self.releases)(&self.replay.release) else {
            self.framework = None;
            self.states.clear();
            self.overall = StateCounts::default();
            self.per_tactic.clear();
            return;
        };
        self.framework = Some(framework);
        self.index = framework.techniques().iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect();
        self.tactics = framework
            .techniques()
            .iter()
            .map(|t| t.tactics.iter().filter_map(|tactic| framework.tactic_position(tactic)).collect())
            .collect();
        let evaluated = coverage::evaluate(framework, &self.replay.decisions(), self.day);
        self.states = evaluated.states;
        self.overall = evaluated.overall;
        self.per_tactic = evaluated.per_tactic;
    }

    fn rebuild_control_index(&mut self) {
        self.controls_of.clear();
        for control in self.replay.controls.values() {
            for technique in &control.techniques {
                self.controls_of.entry(technique.clone()).or_default().push(control.id);
            }
        }
    }

    /// Evaluates one technique again and moves it between the counts.
    fn refresh(&mut self, technique: &str) {
        let (Some(framework), Some(&i)) = (self.framework, self.index.get(technique)) else { return };
        let status = |item: &str, of: &HashMap<String, StatusRecord>| {
            of.get(item).map_or(ImplementationStatus::NotStarted, |s| s.status)
        };
        let mitigations = framework.mitigations_for(technique).map(|m| status(&m.id, &self.replay.mitigation_statuses));
        let controls = self
            .controls_of
            .get(technique)
            .into_iter()
            .flatten()
            .map(|id| status(&id.to_string(), &self.replay.control_statuses));
        let state = coverage::technique_state(
            self.replay.assessments.get(technique).map_or(Applicability::Unknown, |a| a.applicability),
            mitigations.chain(controls),
            self.replay.acceptances.get(technique).map(|a| a.expires_on),
            self.day,
        );
        let before = self.states[i];
        if before == state {
            return;
        }
        self.states[i] = state;
        self.overall.remove(before);
        self.overall.add(state);
        for &position in &self.tactics[i] {
            self.per_tactic[position].remove(before);
            self.per_tactic[position].add(state);
        }
    }

    /// Replays one entry (entries must come in history order).
    pub fn apply(&mut self, entry: &HistoryEntry) {
        match self.replay.apply(entry) {
            Touched::Release => self.rebuild(),
            Touched::Technique(technique) => self.refresh(&technique),
            Touched::Mitigation(mitigation) => {
                let Some(framework) = self.framework else { return };
                let Some(found) = framework.mitigation(&mitigation) else { return };
                for link in &found.techniques {
                    self.refresh(&link.technique);
                }
            }
            Touched::ControlStatus(id) => {
                let techniques = self.replay.controls.get(&id).map(|c| c.techniques.clone()).unwrap_or_default();
                for technique in techniques {
                    self.refresh(&technique);
                }
            }
            Touched::ControlMapping(techniques) => {
                self.rebuild_control_index();
                let unique: HashSet<String> = techniques.into_iter().collect();
                for technique in unique {
                    self.refresh(&technique);
                }
            }
            Touched::Nothing => {}
        }
    }

    /// Moves to a later day: acceptances whose last day fell in between lapse.
    pub fn advance_to(&mut self, day: Date) {
        if day <= self.day {
            return;
        }
        let previous = self.day;
        self.day = day;
        let lapsed: Vec<String> = self
            .replay
            .acceptances
            .values()
            .filter(|a| a.expires_on >= previous && a.expires_on < day)
            .map(|a| a.technique_id.clone())
            .collect();
        for technique in lapsed {
            self.refresh(&technique);
        }
    }

    /// The coverage now.
    pub fn point(&self) -> Point {
        Point { release: self.replay.release.clone(), overall: self.overall, per_tactic: self.per_tactic.clone() }
    }

    /// The state of every technique now, by ID (empty before the system existed).
    pub fn states(&self) -> HashMap<&str, CoverageState> {
        match self.framework {
            Some(framework) => {
                framework.techniques().iter().zip(&self.states).map(|(t, s)| (t.id.as_str(), *s)).collect()
            }
            None => HashMap::new(),
        }
    }
}

/// How far apart the points of a trend are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Day,
    Week,
    Month,
}

impl Step {
    pub fn parse(raw: &str) -> Result<Step, String> {
        match raw.trim() {
            "day" => Ok(Step::Day),
            "week" => Ok(Step::Week),
            "month" => Ok(Step::Month),
            other => Err(format!("`{other}` is not a step: use day, week or month")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }

    /// The first day of the period after the one `day` falls in (days from
    /// midnight UTC; weeks start on Monday; months on the 1st).
    pub fn next_start(self, day: Date) -> Option<Date> {
        match self {
            Step::Day => day.next_day(),
            Step::Week => {
                let into_week = day.weekday().number_days_from_monday();
                day.checked_add(time::Duration::days(7 - i64::from(into_week)))
            }
            Step::Month => {
                let (year, month) = match day.month() {
                    time::Month::December => (day.year() + 1, time::Month::January),
                    other => (day.year(), other.next()),
                };
                Date::from_calendar_date(year, month, 1).ok()
            }
        }
    }
}

/// The periods of a trend from `from` to `to` (both days included): each
/// period's first day and the last day it covers (clipped to `to`).
pub fn periods(from: Date, to: Date, step: Step) -> Vec<(Date, Date)> {
    let mut periods = Vec::new();
    let mut start = from;
    while start <= to {
        let Some(next) = step.next_start(start) else { break };
        let last = next.previous_day().map_or(to, |d| d.min(to));
        periods.push((start, last));
        start = next;
    }
    periods
}

/// The trend of one system: its coverage at the end of each period (the
/// history must be in order; `end_of` gives the last moment of a day).
pub fn trend<'f>(
    history: &[HistoryEntry],
    periods: &[(Date, Date)],
    releases: impl Fn(&str) -> Option<&'f Framework>,
    end_of: impl Fn(Date) -> Timestamp,
) -> Vec<Point> {
    let Some(&(first, _)) = periods.first() else { return Vec::new() };
    let mut tracker = Tracker::new(releases, first);
    let mut pending = history.iter().peekable();
    let mut points = Vec::with_capacity(periods.len());
    for &(_, last) in periods {
        let end = end_of(last);
        tracker.advance_to(last);
        while let Some(entry) = pending.next_if(|e| e.at <= end) {
            tracker.apply(entry);
        }
        points.push(tracker.point());
    }
    points
}

/// Team figures at one point: every system's counts added up.
pub fn sum(points: &[&Point]) -> StateCounts {
    let mut total = StateCounts::default();
    for point in points {
        total.merge(&point.overall);
    }
    total
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::atlas::bundled;
    use crate::domain::records::{Changed, System};
    use crate::domain::{Exposure, Rating};
    use time::macros::{date, datetime};

    /// A system record pinned to `release`, for histories written by hand.
    pub(crate) fn system(release: &str) -> Recorded {
        Recorded::System(System {
            id: 1,
            team_id: 1,
            name: "Chatbot".into(),
            description: String::new(),
            owner: String::new(),
            platforms: Vec::new(),
            exposure: Exposure::Public,
            criticality: Rating::High,
            framework_version: release.into(),
            version: 1,
            created_at: datetime!(2026-01-01 00:00 UTC),
            updated_at: datetime!(2026-01-01 00:00 UTC),
        })
    }

    fn entry(id: i64, at: Timestamp, entity: Entity, item: &str, after: Option<Recorded>) -> HistoryEntry {
        HistoryEntry {
            id,
            team_id: 1,
            system_id: Some(1),
            actor: "ana".into(),
            at,
            entity,
            item: item.into(),
            summary: String::new(),
            before: None,
            after,
            batch: None,
        }
    }

    fn applies(technique: &str) -> Option<Recorded> {
        Some(Recorded::Assessment(Assessment {
            applicability: Applicability::Applies,
            version: 1,
            ..Assessment::unassessed(technique)
        }))
    }

    fn status(item: &str, status: ImplementationStatus) -> Option<Recorded> {
        Some(Recorded::Status(StatusRecord { status, version: 1, ..StatusRecord::not_started(item) }))
    }

    fn accepted(technique: &str, until: Date) -> Option<Recorded> {
        Some(Recorded::Acceptance(Acceptance {
            technique_id: technique.into(),
            justification: "ok".into(),
            accepted_by: "ana".into(),
            expires_on: until,
            version: 1,
            changed: Changed::default(),
        }))
    }

    fn history(framework: &Framework) -> Vec<HistoryEntry> {
        let shared = framework.mitigations_for("AML.T0051").next().expect("a mitigation").id.clone();
        vec![
            entry(1, datetime!(2026-11-02 09:00 UTC), Entity::System, "", Some(system(framework.version()))),
            entry(2, datetime!(2026-11-02 10:00 UTC), Entity::Assessment, "AML.T0051", applies("AML.T0051")),
            entry(3, datetime!(2026-11-02 10:05 UTC), Entity::Assessment, "AML.T0048", applies("AML.T0048")),
            entry(
                4,
                datetime!(2026-11-03 11:00 UTC),
                Entity::Mitigation,
                &shared,
                status(&shared, ImplementationStatus::Implemented),
            ),
            entry(
                5,
                datetime!(2026-11-04 12:00 UTC),
                Entity::Acceptance,
                "AML.T0048",
                accepted("AML.T0048", date!(2026 - 11 - 06)),
            ),
            entry(6, datetime!(2026-11-05 08:00 UTC), Entity::Assessment, "AML.T0051", None),
        ]
    }

    #[test]
    fn the_tracker_agrees_with_a_full_evaluation_after_every_entry_and_every_day() {
        let framework = bundled::framework();
        let releases = |v: &str| (v == framework.version()).then_some(&framework);
        let history = history(&framework);
        let mut tracker = Tracker::new(releases, date!(2026 - 11 - 02));
        for (i, entry) in history.iter().enumerate() {
            tracker.advance_to(entry.at.date());
            tracker.apply(entry);
            let full =
                coverage::evaluate(&framework, &replay_until(&history[..=i], entry.at).decisions(), entry.at.date());
            assert_eq!(tracker.point().overall, full.overall, "after entry {}", entry.id);
            assert_eq!(tracker.point().per_tactic, full.per_tactic, "per tactic after entry {}", entry.id);
        }
        // The acceptance runs through 6 November and lapses on the 7th.
        tracker.advance_to(date!(2026 - 11 - 06));
        assert_eq!(tracker.point().overall.accepted_risk, 1);
        tracker.advance_to(date!(2026 - 11 - 07));
        assert_eq!(tracker.point().overall.accepted_risk, 0);
        assert_eq!(tracker.point().overall.gap_no_known_mitigation, 1, "the lapsed acceptance is a gap again");
    }

    #[test]
    fn coverage_at_a_moment_uses_only_what_was_recorded_by_then() {
        let framework = bundled::framework();
        let releases = |v: &str| (v == framework.version()).then_some(&framework);
        let history = history(&framework);
        let before = coverage_at(&history, datetime!(2026-11-01 00:00 UTC), releases);
        assert_eq!(before.err(), Some(MissingRelease(String::new())), "the system did not exist yet");
        let (_, first_day) = coverage_at(&history, datetime!(2026-11-02 23:59 UTC), releases).expect("coverage");
        assert_eq!(first_day.overall.not_assessed, framework.techniques().len() - 2);
        let (replay, later) = coverage_at(&history, datetime!(2026-11-05 09:00 UTC), releases).expect("coverage");
        assert!(!replay.assessments.contains_key("AML.T0051"), "the assessment was withdrawn");
        assert_eq!(later.overall.accepted_risk, 1);
    }

    #[test]
    fn a_trend_has_one_point_per_period_and_follows_the_history() {
        let framework = bundled::framework();
        let releases = |v: &str| (v == framework.version()).then_some(&framework);
        let days = periods(date!(2026 - 11 - 01), date!(2026 - 11 - 08), Step::Day);
        assert_eq!(days.len(), 8);
        let end_of = |d: Date| d.with_hms(23, 59, 59).expect("a time").assume_utc();
        let points = trend(&history(&framework), &days, releases, end_of);
        assert_eq!(points[0].release, "", "nothing before the system existed");
        assert_eq!(points[1].overall.total(), framework.techniques().len());
        let accepted: Vec<usize> = points.iter().map(|p| p.overall.accepted_risk).collect();
        assert_eq!(accepted, [0, 0, 0, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn periods_are_whole_weeks_from_monday_and_calendar_months_clipped_to_the_range() {
        let weeks = periods(date!(2026 - 11 - 04), date!(2026 - 11 - 20), Step::Week);
        assert_eq!(
            weeks,
            [
                (date!(2026 - 11 - 04), date!(2026 - 11 - 08)),
                (date!(2026 - 11 - 09), date!(2026 - 11 - 15)),
                (date!(2026 - 11 - 16), date!(2026 - 11 - 20)),
            ]
        );
        let months = periods(date!(2026 - 11 - 15), date!(2027 - 01 - 10), Step::Month);
        assert_eq!(
            months,
            [
                (date!(2026 - 11 - 15), date!(2026 - 11 - 30)),
                (date!(2026 - 12 - 01), date!(2026 - 12 - 31)),
                (date!(2027 - 01 - 01), date!(2027 - 01 - 10)),
            ]
        );
        assert!(Step::parse("fortnight").unwrap_err().contains("day, week or month"));
    }
}
