//! The release diff as plain text, for the command line.

use std::fmt;

use super::{ItemRef, ListChange, ReleaseDiff, Renamed};
use crate::atlas::model::Maturity;

fn section(f: &mut fmt::Formatter<'_>, title: &str, lines: Vec<String>) -> fmt::Result {
    if lines.is_empty() {
        return Ok(());
    }
    writeln!(f, "{title} ({}):", lines.len())?;
    lines.iter().try_for_each(|line| writeln!(f, "  {line}"))
}

fn items(items: &[ItemRef]) -> Vec<String> {
    items.iter().map(|t| format!("{} {}", t.id, t.name)).collect()
}

fn renames(renamed: &[Renamed]) -> Vec<String> {
    renamed.iter().map(|r| format!("{}: {} -> {}", r.id, r.old_name, r.new_name)).collect()
}

fn lists(changes: &[ListChange]) -> Vec<String> {
    changes.iter().map(|c| format!("{} {}: [{}] -> [{}]", c.id, c.name, c.old.join(", "), c.new.join(", "))).collect()
}

impl fmt::Display for ReleaseDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Changes from {} to {}", self.from, self.to)?;
        if self.is_empty() {
            return writeln!(f, "  nothing changed");
        }
        let none = "(none)".to_string();
        section(f, "Techniques added", items(&self.added))?;
        section(
            f,
            "Techniques removed",
            self.removed
                .iter()
                .map(|r| match &r.successor {
                    Some(s) => format!("{} {}: proposed successor {} {} ({})", r.id, r.name, s.id, s.name, s.reason),
                    None => format!("{} {}: no successor in the data", r.id, r.name),
                })
                .collect(),
        )?;
        section(f, "Renamed", renames(&self.renamed))?;
        section(
            f,
            "Possibly reused IDs",
            self.possibly_reused
                .iter()
                .map(|r| format!("{}: {} -> {} ({})", r.id, r.old_name, r.new_name, r.reason))
                .collect(),
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
                    let parent = |p: &Option<String>| p.clone().unwrap_or_else(|| none.clone());
                    format!("{} {}: {} -> {}", r.id, r.name, parent(&r.old_parent), parent(&r.new_parent))
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
        section(f, "Platforms changed", lists(&self.platforms_changed))?;
        section(f, "Tactics added", items(&self.tactics_added))?;
        section(f, "Tactics removed", items(&self.tactics_removed))?;
        section(f, "Tactics renamed", renames(&self.tactics_renamed))?;
        section(
            f,
            "Tactics re-ordered",
            self.tactics_reordered
                .iter()
                .map(|r| format!("{} {}: column {} -> {}", r.id, r.name, r.old_position, r.new_position))
                .collect(),
        )?;
        section(f, "Mitigations added", items(&self.mitigations_added))?;
        section(f, "Mitigations removed", items(&self.mitigations_removed))?;
        section(f, "Mitigations renamed", renames(&self.mitigations_renamed))?;
        section(f, "Mitigation categories changed", lists(&self.mitigation_categories_changed))?;
        section(f, "Mitigation lifecycle changed", lists(&self.mitigation_lifecycle_changed))?;
        let links = |links: &[super::Link]| {
            links.iter().map(|l| format!("{} mitigates {}", l.mitigation_id, l.technique_id)).collect()
        };
        section(f, "Mitigation links added", links(&self.links_added))?;
        section(f, "Mitigation links removed", links(&self.links_removed))?;
        section(f, "Case studies added", items(&self.case_studies_added))?;
        section(f, "Case studies removed", items(&self.case_studies_removed))
    }
}
