//! Moving a system's map to another ATLAS release: which decisions carry
//! over as they are, which need a look (the technique was renamed, moved,
//! re-parented, its maturity changed, or its computed state changes), which
//! technique was retired (and to which successor its decisions go), which ID
//! was reused (its old decision is not carried), and which techniques are
//! new (suggested when their platforms match the system's). The plan also
//! holds the records to write and the coverage before and after.
//!
//! Pure: the releases, the system's records, the diff and the day are
//! passed in.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use super::FieldError;
use super::coverage::{CoverageFigures, CoverageState, Decisions, evaluate};
use super::records::{Acceptance, Assessment, Control, StatusRecord, System};
use super::release_diff::ReleaseDiff;
use crate::atlas::Framework;
use crate::atlas::model::compare_versions;

/// A system's records as the upgrade reads them.
pub struct MapToUpgrade<'a> {
    pub system: &'a System,
    pub assessments: &'a HashMap<String, Assessment>,
    pub mitigation_statuses: &'a HashMap<String, StatusRecord>,
    pub controls: &'a [Control],
    pub control_statuses: &'a HashMap<String, StatusRecord>,
    pub acceptances: &'a HashMap<String, Acceptance>,
}

/// A decided technique that carries over but needs a look.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewItem {
    pub technique_id: String,
    pub name: String,
    /// Why, in words ("renamed from …", "moved to …", "state gap → covered").
    pub reasons: Vec<String>,
    pub state_before: CoverageState,
    pub state_after: CoverageState,
}

/// A retired technique the system had decided on.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RetiredItem {
    pub technique_id: String,
    pub name: String,
    /// Where its decisions go, or `null`: then they stay readable in the
    /// history and the archive, and the new release has nothing of them.
    pub successor: Option<String>,
    /// Why this successor: the evidence, or "chosen by a person".
    pub reason: Option<String>,
}

/// A decided technique whose ID now names something unrelated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReusedItem {
    pub technique_id: String,
    pub old_name: String,
    pub new_name: String,
}

/// A technique the new release adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AddedItem {
    pub technique_id: String,
    pub name: String,
    /// Proposed by suggested scope: its platforms match the system's.
    pub suggested: bool,
}

/// A record the upgrade writes: its value before (none when new) and after
/// (none when withdrawn).
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite<T> {
    pub item: String,
    pub before: Option<T>,
    pub after: Option<T>,
    /// The technique it came from, when carried to a successor.
    pub carried_from: Option<String>,
}

/// What upgrading a system to another release changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpgradePlan {
    pub system_id: i64,
    pub from: String,
    pub to: String,
    /// Decided techniques that carry over with nothing to look at.
    pub carried: Vec<String>,
    pub review: Vec<ReviewItem>,
    pub retired: Vec<RetiredItem>,
    pub reused: Vec<ReusedItem>,
    pub added: Vec<AddedItem>,
    pub coverage_before: CoverageFigures,
    pub coverage_after: CoverageFigures,
    #[serde(skip)]
    pub assessments: Vec<Rewrite<Assessment>>,
    #[serde(skip)]
    pub acceptances: Vec<Rewrite<Acceptance>>,
}

/// Plans the upgrade of `map` from `old` to `new`; `successors` overrides
/// the proposed successors (old ID → new ID, or an empty ID for none). Refuses a target older than
/// the pinned release and a successor that is not in the target.
pub fn plan(
    old: &Framework,
    new: &Framework,
    diff: &ReleaseDiff,
    map: &MapToUpgrade<'_>,
    successors: &BTreeMap<String, String>,
    today: time::Date,
) -> Result<UpgradePlan, FieldError> {
    if compare_versions(new.version(), old.version()).is_lt() {
        return Err(FieldError::new(
            "to",
            format!(
                "{} is older than the pinned release {}; a system only moves forward",
                new.version(),
                old.version()
            ),
        ));
    }
    let retired_ids: HashSet<&str> = diff.removed.iter().map(|r| r.id.as_str()).collect();
    for (from, to) in successors {
        if !retired_ids.contains(from.as_str()) {
            return Err(FieldError::new("successors", format!("{from} is not a technique {} retires", new.version())));
        }
        if !to.is_empty() && new.technique(to).is_none() {
            return Err(FieldError::unknown(
                "successors",
                format!("{to} (the successor given for {from}) is not a technique of ATLAS release {}", new.version()),
            ));
        }
    }

    let decided = |id: &str| map.assessments.get(id).is_some_and(|a| a.version > 0);
    let mut assessments = map.assessments.clone();
    let mut acceptances = map.acceptances.clone();
    let mut assessment_writes = Vec::new();
    let mut acceptance_writes = Vec::new();

    // Reused IDs: the old decision is not carried.
    let mut reused = Vec::new();
    for r in &diff.possibly_reused {
        if let Some(before) = map.assessments.get(&r.id).filter(|a| a.version > 0) {
            let after = Assessment { version: before.version, ..Assessment::unassessed(&r.id) };
            assessments.insert(r.id.clone(), after.clone());
            assessment_writes.push(Rewrite {
                item: r.id.clone(),
                before: Some(before.clone()),
                after: Some(after),
                carried_from: None,
            });
            reused.push(ReusedItem {
                technique_id: r.id.clone(),
                old_name: r.old_name.clone(),
                new_name: r.new_name.clone(),
            });
        }
        if let Some(before) = acceptances.remove(&r.id) {
            acceptance_writes.push(Rewrite {
                item: r.id.clone(),
                before: Some(before),
                after: None,
                carried_from: None,
            });
        }
    }

    // Retired techniques: their decisions go to the successor, if any.
    let mut retired = Vec::new();
    for gone in &diff.removed {
        if !decided(&gone.id) && !map.acceptances.contains_key(&gone.id) {
            continue;
        }
        // A person's choice wins; an empty choice means "no successor".
        let successor = match successors.get(&gone.id) {
            Some(id) if id.is_empty() => None,
            Some(id) => Some((id.clone(), "chosen by a person".to_string())),
            None => gone.successor.as_ref().map(|s| (s.id.clone(), s.reason.clone())),
        };
        let target = successor.as_ref().map(|(id, _)| id.clone());
        retired.push(RetiredItem {
            technique_id: gone.id.clone(),
            name: gone.name.clone(),
            successor: target.clone(),
            reason: successor.map(|(_, reason)| reason),
        });
        let Some(target) = target else { continue };
        if let Some(before) = map.assessments.get(&gone.id).filter(|a| a.version > 0)
            && !decided(&target)
        {
            let existing = assessments.get(&target).cloned();
            let after = Assessment {
                technique_id: target.clone(),
                suggested: false,
                version: existing.as_ref().map_or(0, |a| a.version),
                ..before.clone()
            };
            assessments.insert(target.clone(), after.clone());
            assessment_writes.push(Rewrite {
                item: target.clone(),
                before: existing,
                after: Some(after),
                carried_from: Some(gone.id.clone()),
            });
        }
        if let Some(before) = map.acceptances.get(&gone.id)
            && !acceptances.contains_key(&target)
        {
            let after = Acceptance { technique_id: target.clone(), version: 0, ..before.clone() };
            acceptances.insert(target.clone(), after.clone());
            acceptance_writes.push(Rewrite {
                item: target.clone(),
                before: None,
                after: Some(after),
                carried_from: Some(gone.id.clone()),
            });
        }
    }

    // New techniques: suggested when their platforms match the system's.
    let mut added = Vec::new();
    for item in &diff.added {
        let Some(technique) = new.technique(&item.id) else { continue };
        let already = assessments.get(&item.id).is_some_and(|a| a.version > 0 || a.suggested);
        let suggested = !already && technique.platforms.iter().any(|p| map.system.platforms.contains(p));
        if suggested {
            let before = assessments.get(&item.id).cloned();
            let after =
                Assessment { suggested: true, ..before.clone().unwrap_or_else(|| Assessment::unassessed(&item.id)) };
            assessments.insert(item.id.clone(), after.clone());
            assessment_writes.push(Rewrite { item: item.id.clone(), before, after: Some(after), carried_from: None });
        }
        added.push(AddedItem { technique_id: item.id.clone(), name: item.name.clone(), suggested });
    }

    let decisions_before = Decisions::from_records(
        map.assessments.values(),
        map.mitigation_statuses.values(),
        map.controls,
        map.control_statuses,
        map.acceptances.values(),
    );
    let decisions_after = Decisions::from_records(
        assessments.values(),
        map.mitigation_statuses.values(),
        map.controls,
        map.control_statuses,
        acceptances.values(),
    );
    let before = evaluate(old, &decisions_before, today);
    let after = evaluate(new, &decisions_after, today);

    // Kept techniques with a decision: carried, or carried for review.
    let reused_ids: HashSet<&str> = diff.possibly_reused.iter().map(|r| r.id.as_str()).collect();
    let mut carried = Vec::new();
    let mut review = Vec::new();
    for technique in new.techniques() {
        if !decided(&technique.id) || reused_ids.contains(technique.id.as_str()) {
            continue;
        }
        let (Some(state_before), Some(state_after)) =
            (before.state_of(old, &technique.id), after.state_of(new, &technique.id))
        else {
            continue;
        };
        let mut reasons = Vec::new();
        if let Some(r) = diff.renamed.iter().find(|r| r.id == technique.id) {
            reasons.push(format!("renamed from “{}”", r.old_name));
        }
        if let Some(m) = diff.moved.iter().find(|m| m.id == technique.id) {
            reasons.push(format!("tactics {} → {}", m.old_tactics.join(", "), m.new_tactics.join(", ")));
        }
        if let Some(r) = diff.reparented.iter().find(|r| r.id == technique.id) {
            let parent = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".into());
            reasons.push(format!("parent {} → {}", parent(&r.old_parent), parent(&r.new_parent)));
        }
        if let Some(m) = diff.maturity_changed.iter().find(|m| m.id == technique.id) {
            let label = |v: Option<crate::atlas::Maturity>| v.map_or("not graded", |m| m.label());
            reasons.push(format!("maturity {} → {}", label(m.old_maturity), label(m.new_maturity)));
        }
        if state_before != state_after {
            reasons.push(format!("state {} → {}", state_before.label(), state_after.label()));
        }
        if reasons.is_empty() {
            carried.push(technique.id.clone());
        } else {
            review.push(ReviewItem {
                technique_id: technique.id.clone(),
                name: technique.name.clone(),
                reasons,
                state_before,
                state_after,
            });
        }
    }

    Ok(UpgradePlan {
        system_id: map.system.id,
        from: old.version().to_string(),
        to: new.version().to_string(),
        carried,
        review,
        retired,
        reused,
        added,
        coverage_before: CoverageFigures::from(before.overall),
        coverage_after: CoverageFigures::from(after.overall),
        assessments: assessment_writes,
        acceptances: acceptance_writes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::records::Changed;
    use crate::domain::release_diff::diff;
    use crate::domain::release_diff::tests::{newer, older};
    use crate::domain::{Applicability, Exposure, Rating};

    fn day() -> time::Date {
        crate::domain::date("test", "2026-11-25").expect("a date")
    }

    fn system() -> System {
        System {
            id: 7,
            team_id: 1,
            name: "Chatbot".into(),
            description: String::new(),
            owner: String::new(),
            platforms: vec!["Agentic AI".into()],
            exposure: Exposure::Public,
            criticality: Rating::High,
            framework_version: "2026.05".into(),
            version: 3,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn decided(id: &str, applicability: Applicability, risk: Option<Rating>) -> Assessment {
        Assessment {
            applicability,
            risk,
            rationale: format!("why {id}"),
            version: 2,
            changed: Changed { updated_by: "ana".into(), updated_at: None },
            ..Assessment::unassessed(id)
        }
    }

    struct Map {
        system: System,
        assessments: HashMap<String, Assessment>,
        acceptances: HashMap<String, Acceptance>,
        none: HashMap<String, StatusRecord>,
    }

    impl Map {
        fn new() -> Map {
            let assessments = [
                decided("AML.T0019", Applicability::Applies, Some(Rating::High)),
                decided("AML.T0006", Applicability::Applies, None),
                decided("AML.T0040", Applicability::Applies, None),
                decided("AML.T0072", Applicability::NotApplicable, None),
            ]
            .into_iter()
            .map(|a| (a.technique_id.clone(), a))
            .collect();
            let acceptance = Acceptance {
                technique_id: "AML.T0019".into(),
                justification: "vendor fix due".into(),
                accepted_by: "CISO".into(),
                expires_on: crate::domain::date("test", "2027-01-31").unwrap(),
                version: 1,
                changed: Changed::default(),
            };
            Map {
                system: system(),
                assessments,
                acceptances: [("AML.T0019".to_string(), acceptance)].into_iter().collect(),
                none: HashMap::new(),
            }
        }

        fn view(&self) -> MapToUpgrade<'_> {
            MapToUpgrade {
                system: &self.system,
                assessments: &self.assessments,
                mitigation_statuses: &self.none,
                controls: &[],
                control_statuses: &self.none,
                acceptances: &self.acceptances,
            }
        }
    }

    fn planned(successors: &[(&str, &str)]) -> Result<UpgradePlan, FieldError> {
        let (old, new) = (older(), newer());
        let changes = diff(&old, &new);
        let successors = successors.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        plan(&old, &new, &changes, &Map::new().view(), &successors, day())
    }

    #[test]
    fn a_retired_technique_carries_its_decision_and_acceptance_to_its_successor() {
        let plan = planned(&[]).unwrap();
        assert_eq!(plan.retired.len(), 1, "only decided techniques are listed: {:?}", plan.retired);
        assert_eq!(plan.retired[0].successor.as_deref(), Some("AML.T0115.000"));
        let carried = plan.assessments.iter().find(|w| w.item == "AML.T0115.000").expect("written");
        let after = carried.after.as_ref().unwrap();
        assert_eq!(
            (after.applicability, after.risk, after.rationale.as_str()),
            (Applicability::Applies, Some(Rating::High), "why AML.T0019")
        );
        assert_eq!(carried.carried_from.as_deref(), Some("AML.T0019"));
        let accepted = plan.acceptances.iter().find(|w| w.item == "AML.T0115.000").expect("acceptance carried");
        assert_eq!(accepted.after.as_ref().unwrap().accepted_by, "CISO");
        assert_eq!(plan.coverage_after.counts.accepted_risk, 1, "the acceptance still holds on the successor");
    }

    #[test]
    fn a_reused_id_is_not_carried_and_changed_techniques_are_flagged_for_review() {
        let plan = planned(&[]).unwrap();
        assert_eq!(plan.reused.len(), 1);
        let reset = plan.assessments.iter().find(|w| w.item == "AML.T0006").expect("reset");
        assert_eq!(reset.after.as_ref().unwrap().applicability, Applicability::Unknown);
        let review: Vec<&str> = plan.review.iter().map(|r| r.technique_id.as_str()).collect();
        assert_eq!(review, ["AML.T0040", "AML.T0072"]);
        assert!(plan.review[0].reasons.iter().any(|r| r.starts_with("tactics")), "{:?}", plan.review[0]);
        assert!(plan.review[1].reasons.iter().any(|r| r.contains("renamed from “Reverse Shell”")));
        assert!(plan.carried.is_empty());
        assert_eq!(plan.added.len(), 4);
    }

    #[test]
    fn a_person_picks_another_successor_and_bad_choices_are_refused() {
        let plan = planned(&[("AML.T0019", "AML.T0115")]).unwrap();
        assert_eq!(plan.retired[0].successor.as_deref(), Some("AML.T0115"));
        assert_eq!(plan.retired[0].reason.as_deref(), Some("chosen by a person"));
        let none = planned(&[("AML.T0019", "")]).unwrap();
        assert_eq!(none.retired[0].successor, None, "a person may keep it without successor");
        assert!(none.assessments.iter().all(|w| w.item != "AML.T0115.000"));
        let err = planned(&[("AML.T0019", "AML.T9999")]).unwrap_err();
        assert!(err.to_string().contains("AML.T9999"), "{err}");
        let err = planned(&[("AML.T0040", "AML.T0115")]).unwrap_err();
        assert!(err.to_string().contains("AML.T0040 is not a technique"), "{err}");
        let (old, new) = (older(), newer());
        let backwards = plan_backwards(&old, &new);
        assert!(backwards.contains("older than the pinned release"), "{backwards}");
    }

    fn plan_backwards(old: &Framework, new: &Framework) -> String {
        let changes = diff(new, old);
        plan(new, old, &changes, &Map::new().view(), &BTreeMap::new(), day()).unwrap_err().to_string()
    }
}
