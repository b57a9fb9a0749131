//! Differences between two releases. ATLAS marks no deprecations, so
//! retirements, renames and moves are computed from the data.

use serde::Serialize;
use utoipa::ToSchema;

use super::framework::Framework;
use super::model::Maturity;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TechniqueRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Renamed {
    pub id: String,
    pub old_name: String,
    pub new_name: String,
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReleaseDiff {
    pub from: String,
    pub to: String,
    pub added: Vec<TechniqueRef>,
    pub removed: Vec<TechniqueRef>,
    pub renamed: Vec<Renamed>,
    pub moved: Vec<Moved>,
    pub reparented: Vec<Reparented>,
    pub maturity_changed: Vec<MaturityChange>,
    pub mitigations_added: Vec<TechniqueRef>,
    pub mitigations_removed: Vec<TechniqueRef>,
}

impl ReleaseDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.renamed.is_empty()
            && self.moved.is_empty()
            && self.reparented.is_empty()
            && self.maturity_changed.is_empty()
            && self.mitigations_added.is_empty()
            && self.mitigations_removed.is_empty()
    }
}

pub fn diff(old: &Framework, new: &Framework) -> ReleaseDiff {
    let mut out = ReleaseDiff { from: old.version().to_string(), to: new.version().to_string(), ..Default::default() };
    let reference = |id: &str, name: &str| TechniqueRef { id: id.to_string(), name: name.to_string() };
    for before in old.techniques() {
        let Some(after) = new.technique(&before.id) else {
            out.removed.push(reference(&before.id, &before.name));
            continue;
        };
        if before.name != after.name {
            out.renamed.push(Renamed {
                id: after.id.clone(),
                old_name: before.name.clone(),
                new_name: after.name.clone(),
            });
        }
        let mut old_tactics = before.tactics.clone();
        let mut new_tactics = after.tactics.clone();
        old_tactics.sort();
        new_tactics.sort();
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
    }
    for after in new.techniques() {
        if old.technique(&after.id).is_none() {
            out.added.push(reference(&after.id, &after.name));
        }
    }
    for m in new.mitigations() {
        if old.mitigation(&m.id).is_none() {
            out.mitigations_added.push(reference(&m.id, &m.name));
        }
    }
    for m in old.mitigations() {
        if new.mitigation(&m.id).is_none() {
            out.mitigations_removed.push(reference(&m.id, &m.name));
        }
    }
    out
}

impl std::fmt::Display for ReleaseDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Changes from {} to {}", self.from, self.to)?;
        if self.is_empty() {
            return writeln!(f, "  no technique or mitigation changes");
        }
        let section = |f: &mut std::fmt::Formatter<'_>, title: &str, lines: Vec<String>| -> std::fmt::Result {
            if lines.is_empty() {
                return Ok(());
            }
            writeln!(f, "{title} ({}):", lines.len())?;
            lines.iter().try_for_each(|line| writeln!(f, "  {line}"))
        };
        let refs = |items: &[TechniqueRef]| items.iter().map(|t| format!("{} {}", t.id, t.name)).collect();
        let none = "(none)".to_string();
        section(f, "Techniques added", refs(&self.added))?;
        section(f, "Techniques removed", refs(&self.removed))?;
        section(
            f,
            "Renamed",
            self.renamed.iter().map(|r| format!("{}: {} -> {}", r.id, r.old_name, r.new_name)).collect(),
        )?;
        section(
            f,
            "Moved between tactics",
            self.moved
                .iter()
                .map(|m| {
                    format!("{} {}: [{}] -> [{}]", m.id, m.name, m.old_tactics.join(", "), m.new_tactics.join(", "))
                })
                .collect(),
        )?;
        section(
            f,
            "Re-parented",
            self.reparented
                .iter()
                .map(|r| {
                    format!(
                        "{} {}: {} -> {}",
                        r.id,
                        r.name,
                        r.old_parent.as_ref().unwrap_or(&none),
                        r.new_parent.as_ref().unwrap_or(&none)
                    )
                })
                .collect(),
        )?;
        section(
            f,
            "Maturity changed",
            self.maturity_changed
                .iter()
                .map(|m| {
                    let label = |v: Option<Maturity>| v.map_or("unknown", Maturity::as_str);
                    format!("{} {}: {} -> {}", m.id, m.name, label(m.old_maturity), label(m.new_maturity))
                })
                .collect(),
        )?;
        section(f, "Mitigations added", refs(&self.mitigations_added))?;
        section(f, "Mitigations removed", refs(&self.mitigations_removed))
    }
}
