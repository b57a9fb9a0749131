//! The default release shipped inside the binary: the facts of ATLAS
//! 2026.05 (`atlas-data/`) plus the project's own one-sentence summaries.

use std::collections::HashMap;

use super::framework::{Framework, Origin};
use super::model::Release;

pub const BUNDLED_VERSION: &str = "2026.05";
const FACTS: &str = include_str!("../../atlas-data/atlas-2026.05.json");
const SUMMARIES: &str = include_str!("../../atlas-data/summaries.json");

/// The bundled facts, exactly as stored (no summaries).
pub fn facts() -> Release {
    serde_json::from_str(FACTS).expect("atlas-data/atlas-2026.05.json is valid (checked by tests)")
}

/// The project's summaries by ATLAS ID.
pub fn summaries() -> HashMap<String, String> {
    serde_json::from_str(SUMMARIES).expect("atlas-data/summaries.json is valid (checked by tests)")
}

/// The bundled release, ready to serve.
pub fn framework() -> Framework {
    let mut release = facts();
    apply_summaries(&mut release, &summaries());
    Framework::new(release, Origin::Bundled)
}

/// Fills in the project's summaries for every object the release shares with them.
pub fn apply_summaries(release: &mut Release, summaries: &HashMap<String, String>) {
    for tactic in &mut release.tactics {
        tactic.summary = summaries.get(&tactic.id).cloned();
    }
    for technique in &mut release.techniques {
        technique.summary = summaries.get(&technique.id).cloned();
    }
    for mitigation in &mut release.mitigations {
        mitigation.summary = summaries.get(&mitigation.id).cloned();
    }
}

/// Serialises a release's facts as stored in `atlas-data/`.
pub fn facts_json(release: &Release) -> String {
    let mut text = serde_json::to_string_pretty(&release.facts_only()).expect("a release always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_object_has_a_summary_and_nothing_else_does() {
        let release = facts();
        let summaries = summaries();
        let ids: Vec<&String> = release
            .tactics
            .iter()
            .map(|t| &t.id)
            .chain(release.techniques.iter().map(|t| &t.id))
            .chain(release.mitigations.iter().map(|m| &m.id))
            .collect();
        for id in &ids {
            let summary = summaries.get(*id).unwrap_or_else(|| panic!("{id} has no summary"));
            assert!(summary.ends_with('.') && summary.len() < 300, "{id}: one sentence expected");
        }
        assert_eq!(summaries.len(), ids.len(), "summaries for IDs that are not in the release");
    }

    #[test]
    fn the_bundled_release_holds_facts_only() {
        let release = facts();
        assert_eq!(release, release.facts_only());
        assert_eq!(release.version, BUNDLED_VERSION);
    }
}
