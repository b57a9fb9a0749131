//! What changed between two ATLAS releases, computed from their content:
//! ATLAS marks no deprecation and its `modified` dates are not a reliable
//! signal, so no date is compared. Techniques, tactics, mitigations, the
//! mitigation → technique links and case studies are compared by ID; a
//! technique whose ID stays but whose name and placement are unrelated is
//! reported as possibly reused rather than renamed; and each removed
//! technique gets a proposed successor with the evidence behind it.
//!
//! Pure: both releases are passed in.

mod display;
pub mod names;
mod successors;

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use crate::atlas::Framework;
use crate::atlas::model::{Maturity, Technique};

pub use successors::{Evidence, Successor};

/// An object of a release, by ID and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemRef {
    pub id: String,
    pub name: String,
}

/// A technique the new release no longer has, and what may replace it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Retired {
    pub id: String,
    pub name: String,
    /// The proposed successor in the new release, or `null` when the data
    /// offers no evidence for one. A person confirms it or picks another.
    pub successor: Option<Successor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Renamed {
    pub id: String,
    pub old_name: String,
    pub new_name: String,
}

/// The same ID now names something unrelated: its old decisions must not
/// be carried without a person looking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reused {
    pub id: String,
    pub old_name: String,
    pub new_name: String,
    /// Why it looks reused.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Moved {
    pub id: String,
    pub name: String,
    pub old_tactics: Vec<String>,
    pub new_tactics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reparented {
    pub id: String,
    pub name: String,
    pub old_parent: Option<String>,
    pub new_parent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MaturityChange {
    pub id: String,
    pub name: String,
    pub old_maturity: Option<Maturity>,
    pub new_maturity: Option<Maturity>,
}

/// A list-valued field that changed (platforms, categories, lifecycle phases).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ListChange {
    pub id: String,
    pub name: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

/// A tactic at another column of the matrix (positions count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reordered {
    pub id: String,
    pub name: String,
    pub old_position: usize,
    pub new_position: usize,
}

/// "This mitigation mitigates this technique".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct Link {
    pub mitigation_id: String,
    pub technique_id: String,
}

/// Every difference between two releases, each list in ID order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    /// Techniques and sub-techniques.
    pub added: Vec<ItemRef>,
    pub removed: Vec<Retired>,
    pub renamed: Vec<Renamed>,
    pub possibly_reused: Vec<Reused>,
    pub moved: Vec<Moved>,
    pub reparented: Vec<Reparented>,
    pub maturity_changed: Vec<MaturityChange>,
    pub platforms_changed: Vec<ListChange>,
    pub tactics_added: Vec<ItemRef>,
    pub tactics_removed: Vec<ItemRef>,
    pub tactics_renamed: Vec<Renamed>,
    pub tactics_reordered: Vec<Reordered>,
    pub mitigations_added: Vec<ItemRef>,
    pub mitigations_removed: Vec<ItemRef>,
    pub mitigations_renamed: Vec<Renamed>,
    pub mitigation_categories_changed: Vec<ListChange>,
    pub mitigation_lifecycle_changed: Vec<ListChange>,
    pub links_added: Vec<Link>,
    pub links_removed: Vec<Link>,
    pub case_studies_added: Vec<ItemRef>,
    pub case_studies_removed: Vec<ItemRef>,
}

impl ReleaseDiff {
    pub fn is_empty(&self) -> bool {
        *self == ReleaseDiff { from: self.from.clone(), to: self.to.clone(), ..ReleaseDiff::default() }
    }
}

fn item(id: &str, name: &str) -> ItemRef {
    ItemRef { id: id.to_string(), name: name.to_string() }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

/// Below this word similarity a kept ID's new name counts as unrelated.
const UNRELATED_NAME: f64 = 0.25;

/// Why a technique that kept its ID looks like a different technique, or
/// `None` when it reads as the same one (perhaps renamed or moved).
fn reuse_reason(before: &Technique, after: &Technique) -> Option<String> {
    if names::similarity(&before.name, &after.name) >= UNRELATED_NAME {
        return None;
    }
    let same_attack = matches!((&before.attack_reference, &after.attack_reference), (Some(a), Some(b)) if a.id == b.id);
    if same_attack {
        return None;
    }
    let shared_tactic = before.tactics.iter().any(|t| after.tactics.contains(t));
    if shared_tactic && before.parent == after.parent {
        return None;
    }
    let placement = if shared_tactic { "a different parent" } else { "no tactic in common" };
    Some(format!("the name shares no meaningful word with the old one, and the technique has {placement}"))
}

/// Compares two releases.
pub fn diff(old: &Framework, new: &Framework) -> ReleaseDiff {
    let mut out = ReleaseDiff { from: old.version().to_string(), to: new.version().to_string(), ..Default::default() };
    compare_techniques(old, new, &mut out);
    compare_tactics(old, new, &mut out);
    compare_mitigations(old, new, &mut out);
    for study in new.case_studies() {
        if old.case_study(&study.id).is_none() {
            out.case_studies_added.push(item(&study.id, &study.name));
        }
    }
    for study in old.case_studies() {
        if new.case_study(&study.id).is_none() {
            out.case_studies_removed.push(item(&study.id, &study.name));
        }
    }
    out
}

fn compare_techniques(old: &Framework, new: &Framework, out: &mut ReleaseDiff) {
    for before in old.techniques() {
        let Some(after) = new.technique(&before.id) else {
            let successor = successors::propose(old, new, before);
            out.removed.push(Retired { id: before.id.clone(), name: before.name.clone(), successor });
            continue;
        };
        if before.name != after.name {
            match reuse_reason(before, after) {
                Some(reason) => out.possibly_reused.push(Reused {
                    id: after.id.clone(),
                    old_name: before.name.clone(),
                    new_name: after.name.clone(),
                    reason,
                }),
                None => out.renamed.push(Renamed {
                    id: after.id.clone(),
                    old_name: before.name.clone(),
                    new_name: after.name.clone(),
                }),
            }
        }
        let (old_tactics, new_tactics) = (sorted(&before.tactics), sorted(&after.tactics));
        if old_tactics != new_tactics {
            out.moved.push(Moved { id: after.id.clone(), name: after.name.clone(), old_tactics, new_tactics });
        }
        if before.parent != after.parent {
            out.reparented.push(Reparented {
                id: after.id.clone(),
                name: after.name.clone(),
                old_parent: before.parent.clone(),
                new_parent: after.parent.clone(),
            });
        }
        // A release without maturity (4.x, STIX) says nothing about it.
        if before.maturity.is_some() && after.maturity.is_some() && before.maturity != after.maturity {
            out.maturity_changed.push(MaturityChange {
                id: after.id.clone(),
                name: after.name.clone(),
                old_maturity: before.maturity,
                new_maturity: after.maturity,
            });
        }
        // Likewise for platforms, which older releases do not list.
        let (old_platforms, new_platforms) = (sorted(&before.platforms), sorted(&after.platforms));
        if !old_platforms.is_empty() && !new_platforms.is_empty() && old_platforms != new_platforms {
            out.platforms_changed.push(ListChange {
                id: after.id.clone(),
                name: after.name.clone(),
                old: old_platforms,
                new: new_platforms,
            });
        }
    }
    for after in new.techniques() {
        if old.technique(&after.id).is_none() {
            out.added.push(item(&after.id, &after.name));
        }
    }
}

/// Which of `positions` (new columns of the kept tactics, in old order)
/// moved: those outside one longest increasing run, so a tactic added or
/// removed elsewhere moves nothing, and a tactic that changed column is the
/// only one reported.
fn moved_columns(positions: &[usize]) -> Vec<bool> {
    // Longest increasing subsequence, quadratic: a matrix has about 16 columns.
    let mut length = vec![1usize; positions.len()];
    let mut previous = vec![None; positions.len()];
    for i in 0..positions.len() {
        for j in 0..i {
            if positions[j] < positions[i] && length[j] + 1 > length[i] {
                length[i] = length[j] + 1;
                previous[i] = Some(j);
            }
        }
    }
    let mut moved = vec![true; positions.len()];
    let mut at = (0..positions.len()).max_by_key(|&i| (length[i], std::cmp::Reverse(i)));
    while let Some(i) = at {
        moved[i] = false;
        at = previous[i];
    }
    moved
}

fn compare_tactics(old: &Framework, new: &Framework, out: &mut ReleaseDiff) {
    let mut kept = Vec::new();
    for (old_index, before) in old.tactics().iter().enumerate() {
        let Some(new_index) = new.tactic_position(&before.id) else {
            out.tactics_removed.push(item(&before.id, &before.name));
            continue;
        };
        let after = &new.tactics()[new_index];
        if before.name != after.name {
            out.tactics_renamed.push(Renamed {
                id: after.id.clone(),
                old_name: before.name.clone(),
                new_name: after.name.clone(),
            });
        }
        kept.push((old_index, new_index, after));
    }
    let positions: Vec<usize> = kept.iter().map(|(_, new_index, _)| *new_index).collect();
    for ((old_index, new_index, after), moved) in kept.into_iter().zip(moved_columns(&positions)) {
        if moved {
            out.tactics_reordered.push(Reordered {
                id: after.id.clone(),
                name: after.name.clone(),
                old_position: old_index + 1,
                new_position: new_index + 1,
            });
        }
    }
    for after in new.tactics() {
        if old.tactic(&after.id).is_none() {
            out.tactics_added.push(item(&after.id, &after.name));
        }
    }
}

fn links(framework: &Framework) -> BTreeSet<Link> {
    framework
        .mitigations()
        .iter()
        .flat_map(|m| {
            m.techniques.iter().map(|l| Link { mitigation_id: m.id.clone(), technique_id: l.technique.clone() })
        })
        .collect()
}

fn compare_mitigations(old: &Framework, new: &Framework, out: &mut ReleaseDiff) {
    for before in old.mitigations() {
        let Some(after) = new.mitigation(&before.id) else {
            out.mitigations_removed.push(item(&before.id, &before.name));
            continue;
        };
        if before.name != after.name {
            out.mitigations_renamed.push(Renamed {
                id: after.id.clone(),
                old_name: before.name.clone(),
                new_name: after.name.clone(),
            });
        }
        let change = |old: &[String], new: &[String]| {
            let (old, new) = (sorted(old), sorted(new));
            (old != new).then(|| ListChange { id: after.id.clone(), name: after.name.clone(), old, new })
        };
        out.mitigation_categories_changed.extend(change(&before.categories, &after.categories));
        out.mitigation_lifecycle_changed.extend(change(&before.lifecycle_phases, &after.lifecycle_phases));
    }
    for after in new.mitigations() {
        if old.mitigation(&after.id).is_none() {
            out.mitigations_added.push(item(&after.id, &after.name));
        }
    }
    let (before, after) = (links(old), links(new));
    out.links_added = after.difference(&before).cloned().collect();
    out.links_removed = before.difference(&after).cloned().collect();
}

#[cfg(test)]
pub(crate) mod tests;
