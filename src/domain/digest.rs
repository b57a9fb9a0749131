//! "Since the last workshop": what changed on a system between two moments.
//! Every recorded change grouped by the technique, mitigation or control it
//! is about; coverage before and after, overall and per tactic; gaps that
//! opened and closed; risk acceptances added or run out; release upgrades.
//! Pure: the caller passes the replayed records and coverage at both
//! moments and the history entries in between.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::coverage::{CoverageFigures, CoverageState, StateCounts, SystemCoverage};
use super::history::{Entity, HistoryEntry, Recorded};
use super::records::{Timestamp, format_date, format_timestamp, stamp};
use super::timeline::Replay;
use crate::atlas::Framework;

/// One end of a digest: a moment, and the snapshot that named it if one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Moment {
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The team snapshot this moment was given as.
    pub snapshot: Option<String>,
}

/// A system at one end of a digest.
pub struct Side<'a> {
    pub framework: &'a Framework,
    pub replay: &'a Replay,
    pub coverage: &'a SystemCoverage,
}

/// Figures at both ends, and the change of the coverage percentage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FiguresDelta {
    pub before: CoverageFigures,
    pub after: CoverageFigures,
    /// After minus before, in percentage points (null when either has none).
    pub coverage_points: Option<f64>,
}

impl FiguresDelta {
    pub fn new(before: StateCounts, after: StateCounts) -> FiguresDelta {
        let (before, after) = (CoverageFigures::from(before), CoverageFigures::from(after));
        let coverage_points = match (before.coverage_percent, after.coverage_percent) {
            (Some(b), Some(a)) => Some(((a - b) * 10.0).round() / 10.0),
            _ => None,
        };
        FiguresDelta { before, after, coverage_points }
    }

    /// True when no count moved.
    pub fn is_unchanged(&self) -> bool {
        self.before.counts == self.after.counts
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TacticDelta {
    pub tactic_id: String,
    pub name: String,
    #[serde(flatten)]
    pub delta: FiguresDelta,
}

/// A technique whose state crossed between open gap and not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct StateChange {
    pub technique_id: String,
    pub name: String,
    /// Null when the technique was not in the release then (or the system did not exist).
    pub before: Option<CoverageState>,
    /// Null when the technique is no longer in the release.
    pub after: Option<CoverageState>,
}

/// A risk acceptance added, renewed, or run out in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AcceptanceNote {
    pub technique_id: String,
    pub name: String,
    /// The last day it holds (`YYYY-MM-DD`).
    pub expires_on: String,
    pub accepted_by: String,
    /// Who recorded it, and when (null for one that ran out).
    pub recorded_by: Option<String>,
    #[serde(serialize_with = "stamp::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recorded_at: Option<Timestamp>,
    /// True when it replaced an acceptance already in force.
    pub renewed: bool,
}

/// A move to another ATLAS release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpgradeNote {
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub from_release: String,
    pub to_release: String,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DigestChange {
    pub history_id: i64,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    /// The kind of record changed ("Assessment", "Mitigation", …).
    pub what: String,
    /// What changed, before → after.
    pub summary: String,
    /// Shared by the changes of one bulk action, import or upgrade.
    pub batch: Option<i64>,
}

/// The changes to one technique, mitigation, control or the system itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChangeGroup {
    /// `technique`, `mitigation`, `control` or `system`.
    pub kind: String,
    /// The technique or mitigation ID, or the control's number ('' for the system).
    pub item: String,
    pub title: String,
    /// Oldest first.
    pub changes: Vec<DigestChange>,
}

/// What changed on one system between two moments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemDigest {
    pub system_id: i64,
    pub system_name: String,
    /// The release the system was on at the start (null: it did not exist yet).
    pub release_before: Option<String>,
    pub release_after: String,
    pub overall: FiguresDelta,
    /// In the matrix order of the release at the end.
    pub tactics: Vec<TacticDelta>,
    pub new_gaps: Vec<StateChange>,
    pub closed_gaps: Vec<StateChange>,
    pub acceptances_added: Vec<AcceptanceNote>,
    pub acceptances_expired: Vec<AcceptanceNote>,
    pub upgrades: Vec<UpgradeNote>,
    /// Techniques first (in matrix order), then mitigations, controls, the system.
    pub groups: Vec<ChangeGroup>,
    /// Changes in the period, listed or not.
    pub change_count: usize,
    /// Changes made but not listed (past the listing limit; the newest are left out).
    pub changes_not_listed: usize,
    /// Who changed something, most changes first.
    pub people: Vec<PersonCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PersonCount {
    pub actor: String,
    pub changes: usize,
}

/// What changed on a system or a whole team between two moments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Digest {
    pub team_id: i64,
    pub team_name: String,
    /// The system it was asked for (null for a team's digest).
    pub system_id: Option<i64>,
    pub from: Moment,
    pub to: Moment,
    /// Every system's counts added up, at both ends.
    pub overall: FiguresDelta,
    pub change_count: usize,
    pub people: Vec<PersonCount>,
    /// Changes to the team's control definitions.
    pub team_changes: Vec<ChangeGroup>,
    pub team_changes_not_listed: usize,
    /// One per system that existed at the end, by name.
    pub systems: Vec<SystemDigest>,
}

impl Digest {
    /// The title it is shown and downloaded under.
    pub fn title(&self) -> String {
        let scope = match (self.system_id, self.systems.first()) {
            (Some(_), Some(system)) => system.system_name.clone(),
            _ => format!("team {}", self.team_name),
        };
        format!("Changes to {scope} since {}", describe(&self.from))
    }
}

/// "Q3 review (2026-09-30 16:00 UTC)" or the time alone.
pub fn describe(moment: &Moment) -> String {
    let at = format_timestamp(moment.at).replacen('T', " ", 1).replace('Z', " UTC");
    match &moment.snapshot {
        Some(name) => format!("{name} ({at})"),
        None => at,
    }
}

/// Puts the systems' digests and the team's own changes together.
pub fn digest(
    team: (i64, &str),
    system_id: Option<i64>,
    (from, to): (Moment, Moment),
    systems: Vec<SystemDigest>,
    team_entries: &[HistoryEntry],
    team_changes_not_listed: usize,
) -> Digest {
    let (mut before, mut after) = (StateCounts::default(), StateCounts::default());
    for system in &systems {
        before.merge(&system.overall.before.counts);
        after.merge(&system.overall.after.counts);
    }
    let team_people = people(team_entries);
    let everyone = all_people(systems.iter().map(|s| s.people.as_slice()).chain([team_people.as_slice()]));
    Digest {
        team_id: team.0,
        team_name: team.1.to_string(),
        system_id,
        from,
        to,
        overall: FiguresDelta::new(before, after),
        change_count: systems.iter().map(|s| s.change_count).sum::<usize>()
            + team_entries.len()
            + team_changes_not_listed,
        people: everyone,
        team_changes: change_groups(team_entries, &Names::default()),
        team_changes_not_listed,
        systems,
    }
}

/// Builds a system's digest. `changes` are the entries between the two
/// moments, oldest first (at most the listing limit; `not_listed` more).
pub fn system_digest(
    system: (i64, &str),
    before: Option<Side<'_>>,
    after: Side<'_>,
    changes: &[HistoryEntry],
    not_listed: usize,
    period: (Timestamp, Timestamp),
) -> SystemDigest {
    let (from, to) = period;
    let before_counts = before.as_ref().map(|b| b.coverage.overall).unwrap_or_default();
    let before_tactics: HashMap<&str, StateCounts> = before
        .as_ref()
        .map(|b| {
            b.framework.tactics().iter().map(|t| t.id.as_str()).zip(b.coverage.per_tactic.iter().copied()).collect()
        })
        .unwrap_or_default();
    let tactics = after
        .framework
        .tactics()
        .iter()
        .zip(&after.coverage.per_tactic)
        .map(|(tactic, counts)| TacticDelta {
            tactic_id: tactic.id.clone(),
            name: tactic.name.clone(),
            delta: FiguresDelta::new(before_tactics.get(tactic.id.as_str()).copied().unwrap_or_default(), *counts),
        })
        .collect();
    let (new_gaps, closed_gaps) = gap_changes(before.as_ref(), &after);
    let names = Names::of(&after, before.as_ref());
    let name_of = |id: &str| names.technique(id);
    SystemDigest {
        system_id: system.0,
        system_name: system.1.to_string(),
        release_before: before.as_ref().map(|b| b.framework.version().to_string()),
        release_after: after.framework.version().to_string(),
        overall: FiguresDelta::new(before_counts, after.coverage.overall),
        tactics,
        new_gaps,
        closed_gaps,
        acceptances_added: acceptances_added(changes, name_of),
        acceptances_expired: acceptances_expired(&after, before.as_ref(), from, to, name_of),
        upgrades: upgrades(changes),
        groups: change_groups(changes, &names),
        change_count: changes.len() + not_listed,
        changes_not_listed: not_listed,
        people: people(changes),
    }
}

/// Where names come from: the releases and records at either end.
#[derive(Default)]
pub struct Names<'a> {
    pub frameworks: Vec<&'a Framework>,
    pub replays: Vec<&'a Replay>,
}

impl<'a> Names<'a> {
    fn of(after: &Side<'a>, before: Option<&Side<'a>>) -> Names<'a> {
        let sides = std::iter::once(after).chain(before);
        let (frameworks, replays) = sides.map(|s| (s.framework, s.replay)).unzip();
        Names { frameworks, replays }
    }

    fn technique(&self, id: &str) -> String {
        self.frameworks.iter().find_map(|f| f.technique(id).map(|t| f.full_name(t))).unwrap_or_else(|| id.to_string())
    }

    fn mitigation(&self, id: &str) -> String {
        let name = self.frameworks.iter().find_map(|f| f.mitigation(id).map(|m| m.name.as_str())).unwrap_or_default();
        format!("{id} {name}").trim_end().to_string()
    }

    fn control(&self, entry: &HistoryEntry) -> String {
        let recorded = [&entry.after, &entry.before].into_iter().find_map(|r| match r {
            Some(Recorded::Control(control)) => Some(control.name.clone()),
            _ => None,
        });
        let known = || {
            let id: i64 = entry.item.parse().ok()?;
            self.replays.iter().find_map(|r| r.controls.get(&id).map(|c| c.name.clone()))
        };
        recorded.or_else(known).unwrap_or_else(|| format!("#{}", entry.item))
    }
}

/// Techniques that became an open gap, and those that stopped being one
/// (a technique the release dropped counts as closed, with no state after).
fn gap_changes(before: Option<&Side<'_>>, after: &Side<'_>) -> (Vec<StateChange>, Vec<StateChange>) {
    let states_before: HashMap<&str, CoverageState> = before.map(|b| b.coverage.by_id(b.framework)).unwrap_or_default();
    let states_after = after.coverage.by_id(after.framework);
    let open = |s: Option<CoverageState>| s.is_some_and(CoverageState::is_gap);
    let mut new_gaps = Vec::new();
    for technique in after.framework.techniques() {
        let (was, is) =
            (states_before.get(technique.id.as_str()).copied(), states_after.get(technique.id.as_str()).copied());
        if open(is) && !open(was) {
            new_gaps.push(StateChange {
                technique_id: technique.id.clone(),
                name: after.framework.full_name(technique),
                before: was,
                after: is,
            });
        }
    }
    let mut closed_gaps = Vec::new();
    if let Some(before) = before {
        for technique in before.framework.techniques() {
            let (was, is) =
                (states_before.get(technique.id.as_str()).copied(), states_after.get(technique.id.as_str()).copied());
            if open(was) && !open(is) {
                closed_gaps.push(StateChange {
                    technique_id: technique.id.clone(),
                    name: Names::of(after, Some(before)).technique(&technique.id),
                    before: was,
                    after: is,
                });
            }
        }
    }
    (new_gaps, closed_gaps)
}

fn acceptances_added(changes: &[HistoryEntry], name_of: impl Fn(&str) -> String) -> Vec<AcceptanceNote> {
    changes
        .iter()
        .filter(|e| e.entity == Entity::Acceptance)
        .filter_map(|entry| {
            let Some(Recorded::Acceptance(after)) = &entry.after else { return None };
            let renewed = match &entry.before {
                Some(Recorded::Acceptance(before)) if before.expires_on == after.expires_on => return None,
                Some(Recorded::Acceptance(_)) => true,
                _ => false,
            };
            Some(AcceptanceNote {
                technique_id: after.technique_id.clone(),
                name: name_of(&after.technique_id),
                expires_on: format_date(after.expires_on),
                accepted_by: after.accepted_by.clone(),
                recorded_by: Some(entry.actor.clone()),
                recorded_at: Some(entry.at),
                renewed,
            })
        })
        .collect()
}

/// Acceptances whose last day fell inside the period, so they stopped
/// counting before its end: those in force at the end, and those in force
/// at the start that no later change replaced or withdrew early.
fn acceptances_expired(
    after: &Side<'_>,
    before: Option<&Side<'_>>,
    from: Timestamp,
    to: Timestamp,
    name_of: impl Fn(&str) -> String,
) -> Vec<AcceptanceNote> {
    let lapsed_in_period = |last_day: time::Date| last_day >= from.date() && last_day < to.date();
    let mut found: BTreeMap<&str, &super::records::Acceptance> = BTreeMap::new();
    for acceptance in after.replay.acceptances.values() {
        if lapsed_in_period(acceptance.expires_on) {
            found.insert(&acceptance.technique_id, acceptance);
        }
    }
    for acceptance in before.map(|b| b.replay.acceptances.values()).into_iter().flatten() {
        let still_same = after.replay.acceptances.get(&acceptance.technique_id) == Some(acceptance);
        if still_same && lapsed_in_period(acceptance.expires_on) {
            found.entry(&acceptance.technique_id).or_insert(acceptance);
        }
    }
    found
        .into_values()
        .map(|a| AcceptanceNote {
            technique_id: a.technique_id.clone(),
            name: name_of(&a.technique_id),
            expires_on: format_date(a.expires_on),
            accepted_by: a.accepted_by.clone(),
            recorded_by: None,
            recorded_at: None,
            renewed: false,
        })
        .collect()
}

fn upgrades(changes: &[HistoryEntry]) -> Vec<UpgradeNote> {
    changes
        .iter()
        .filter_map(|entry| match (&entry.before, &entry.after) {
            (Some(Recorded::System(before)), Some(Recorded::System(after)))
                if before.framework_version != after.framework_version =>
            {
                Some(UpgradeNote {
                    at: entry.at,
                    actor: entry.actor.clone(),
                    from_release: before.framework_version.clone(),
                    to_release: after.framework_version.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// Where a group sorts: techniques in matrix order, then mitigations by ID,
/// controls by name, the system last.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Technique(usize, String),
    Mitigation(String),
    Control(String, String),
    Detection(String, String),
    System,
}

/// Changes grouped by what they are about, each group oldest first.
pub fn change_groups(changes: &[HistoryEntry], names: &Names<'_>) -> Vec<ChangeGroup> {
    let technique_order: HashMap<&str, usize> = names
        .frameworks
        .first()
        .map(|f| f.techniques().iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect())
        .unwrap_or_default();
    let mut grouped: BTreeMap<GroupKey, ChangeGroup> = BTreeMap::new();
    for entry in changes {
        let (key, kind, title) = match entry.entity {
            Entity::Assessment | Entity::Acceptance | Entity::DetectionStatus => {
                let order = technique_order.get(entry.item.as_str()).copied().unwrap_or(usize::MAX);
                let title = format!("{} {}", entry.item, names.technique(&entry.item));
                (GroupKey::Technique(order, entry.item.clone()), "technique", title)
            }
            Entity::Mitigation => {
                (GroupKey::Mitigation(entry.item.clone()), "mitigation", names.mitigation(&entry.item))
            }
            Entity::ControlStatus | Entity::Control => {
                let name = names.control(entry);
                (GroupKey::Control(name.to_lowercase(), entry.item.clone()), "control", format!("Control {name}"))
            }
            Entity::Detection => {
                let name = [&entry.after, &entry.before]
                    .into_iter()
                    .find_map(|r| match r {
                        Some(Recorded::Detection(detection)) => Some(detection.name.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| format!("#{}", entry.item));
                let key = GroupKey::Detection(name.to_lowercase(), entry.item.clone());
                (key, "detection", format!("Detection rule {name}"))
            }
            Entity::System | Entity::Team => (GroupKey::System, "system", "The system itself".to_string()),
        };
        let item = if matches!(key, GroupKey::System) { String::new() } else { entry.item.clone() };
        grouped
            .entry(key)
            .or_insert_with(|| ChangeGroup { kind: kind.to_string(), item, title, changes: Vec::new() })
            .changes
            .push(DigestChange {
                history_id: entry.id,
                at: entry.at,
                actor: entry.actor.clone(),
                what: entry.entity.label().to_string(),
                summary: entry.summary.clone(),
                batch: entry.batch,
            });
    }
    grouped.into_values().collect()
}

/// Who made `changes`, most changes first.
pub fn people(changes: &[HistoryEntry]) -> Vec<PersonCount> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in changes {
        *counts.entry(entry.actor.clone()).or_default() += 1;
    }
    ranked(counts)
}

/// The people of several digests together, most changes first.
pub fn all_people<'a>(digests: impl IntoIterator<Item = &'a [PersonCount]>) -> Vec<PersonCount> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for person in digests.into_iter().flatten() {
        *counts.entry(person.actor.clone()).or_default() += person.changes;
    }
    ranked(counts)
}

fn ranked(counts: BTreeMap<String, usize>) -> Vec<PersonCount> {
    let mut people: Vec<PersonCount> =
        counts.into_iter().map(|(actor, changes)| PersonCount { actor, changes }).collect();
    people.sort_by(|a, b| b.changes.cmp(&a.changes).then_with(|| a.actor.cmp(&b.actor)));
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::{Acceptance, Changed};
    use crate::domain::timeline::tests::system;
    use time::macros::{date, datetime};

    fn accepted(until: time::Date) -> Recorded {
        Recorded::Acceptance(Acceptance {
            technique_id: "AML.T0051".into(),
            justification: "ok".into(),
            accepted_by: "ana".into(),
            expires_on: until,
            version: 1,
            changed: Changed::default(),
        })
    }

    fn entry(id: i64, actor: &str, entity: Entity, before: Option<Recorded>, after: Option<Recorded>) -> HistoryEntry {
        HistoryEntry {
            id,
            team_id: 1,
            system_id: Some(1),
            actor: actor.into(),
            at: datetime!(2026-11-10 09:00 UTC),
            entity,
            item: if entity == Entity::System { String::new() } else { "AML.T0051".into() },
            summary: String::new(),
            before,
            after,
            batch: None,
        }
    }

    #[test]
    fn an_upgrade_a_renewal_and_an_unchanged_save_are_told_apart() {
        let changes = [
            entry(1, "ana", Entity::System, Some(system("5.6.0")), Some(system("2026.05"))),
            entry(2, "bo", Entity::System, Some(system("2026.05")), Some(system("2026.05"))),
            entry(3, "bo", Entity::Acceptance, None, Some(accepted(date!(2026 - 12 - 31)))),
            entry(
                4,
                "bo",
                Entity::Acceptance,
                Some(accepted(date!(2026 - 12 - 31))),
                Some(accepted(date!(2027 - 03 - 31))),
            ),
            entry(
                5,
                "cy",
                Entity::Acceptance,
                Some(accepted(date!(2027 - 03 - 31))),
                Some(accepted(date!(2027 - 03 - 31))),
            ),
        ];
        let moves = upgrades(&changes);
        assert_eq!(moves.len(), 1, "an edit that keeps the release is no upgrade");
        assert_eq!((moves[0].from_release.as_str(), moves[0].to_release.as_str()), ("5.6.0", "2026.05"));
        let added = acceptances_added(&changes, |id| id.to_string());
        let told: Vec<(bool, &str)> = added.iter().map(|a| (a.renewed, a.expires_on.as_str())).collect();
        assert_eq!(told, [(false, "2026-12-31"), (true, "2027-03-31")], "a save that keeps the last day adds nothing");
        let who: Vec<(String, usize)> = people(&changes).into_iter().map(|p| (p.actor, p.changes)).collect();
        assert_eq!(who, [("bo".to_string(), 3), ("ana".to_string(), 1), ("cy".to_string(), 1)]);
        let groups = change_groups(&changes, &Names::default());
        let kinds: Vec<(&str, usize)> = groups.iter().map(|g| (g.kind.as_str(), g.changes.len())).collect();
        assert_eq!(kinds, [("technique", 3), ("system", 2)], "techniques first, the system last");
    }
}
