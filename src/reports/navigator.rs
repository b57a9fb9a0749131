//! ATLAS Navigator layers: the layer format (4.5) as atlascope writes and
//! reads it, and the export of a gap report as layers.
//!
//! The shape mirrors the official ATLAS layers (`atlas_layer_matrix.json`):
//! domain `atlas-atlas`, `techniqueID` = the ATLAS ID, one entry per
//! (top-level technique, tactic) with `tactic` = the tactic's shortname and
//! `showSubtechniques: true`, and one entry per sub-technique without a
//! tactic. The layer's `metadata` carries `atlas_data_version` (the release),
//! `system`, `atlascope_system_id`, `generator: atlascope` and `exported_on`.
//!
//! Each technique's state is written as a score and a colour:
//!
//! | state | score | colour | enabled |
//! |---|---|---|---|
//! | covered | 100 | `#66bb6a` | true |
//! | accepted risk | 75 | `#64b5f6` | true |
//! | partially covered | 50 | `#ffca28` | true |
//! | gap | 25 | `#ef5350` | true |
//! | gap without known mitigation | 0 | `#ab47bc` | true |
//! | not applicable | none | `#bdbdbd` | **false** |
//! | not assessed | none | `#eceff1` | true |
//!
//! Not applicable and not assessed techniques are left unscored, so
//! Navigator keeps them out of aggregate scores. The gradient runs from red
//! (0) through amber (50) to green (100); the explicit colours take
//! precedence over it. `comment` carries the team's rationale, and each
//! entry's `metadata` names the state (and the risk rating when set), for
//! reading only. A team report is written as a list of layers, one per
//! system (new in format 4.5); a system report as one layer.

use serde::{Deserialize, Serialize};

use super::{GapReport, SystemReport, state_colour};
use crate::domain::coverage::CoverageState;

pub const LAYER_FORMAT: &str = "4.5";
pub const NAVIGATOR_VERSION: &str = "5.1.0";
pub const DOMAIN: &str = "atlas-atlas";
/// Metadata naming the ATLAS release, as in the official layers.
pub const RELEASE_METADATA: &str = "atlas_data_version";
/// Metadata marking a layer written by atlascope (value [`GENERATOR`]).
pub const GENERATOR_METADATA: &str = "generator";
pub const GENERATOR: &str = "atlascope";
/// Metadata carrying the system's ID, to pick a system's layer out of a list.
pub const SYSTEM_ID_METADATA: &str = "atlascope_system_id";
pub const SYSTEM_METADATA: &str = "system";

/// A Navigator layer: what atlascope writes, and (leniently, unknown fields
/// ignored) what it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Versions>,
    pub domain: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub techniques: Vec<LayerTechnique>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient: Option<Gradient>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legend_items: Vec<LegendItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Metadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navigator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
}

/// One technique annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerTechnique {
    #[serde(rename = "techniqueID")]
    pub technique_id: String,
    /// Tactic shortname; absent means every tactic of the technique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_subtechniques: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Gradient {
    pub colors: Vec<String>,
    pub min_value: f64,
    pub max_value: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegendItem {
    pub label: String,
    pub color: String,
}

/// A metadata entry; a divider (`{"divider": true}`) reads as one without name or value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

impl Metadata {
    fn new(name: &str, value: impl Into<String>) -> Self {
        Metadata { name: name.to_string(), value: value.into() }
    }
}

impl Layer {
    /// The value of a layer metadata entry.
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata.iter().find(|m| m.name == name).map(|m| m.value.as_str())
    }

    /// True when atlascope wrote the layer (its scores and colours map back exactly).
    pub fn is_atlascope(&self) -> bool {
        self.metadata_value(GENERATOR_METADATA) == Some(GENERATOR)
    }
}

/// The score a state is written with (see the module table).
pub fn state_score(state: CoverageState) -> Option<f64> {
    match state {
        CoverageState::Covered => Some(100.0),
        CoverageState::AcceptedRisk => Some(75.0),
        CoverageState::PartiallyCovered => Some(50.0),
        CoverageState::Gap => Some(25.0),
        CoverageState::GapNoKnownMitigation => Some(0.0),
        CoverageState::NotApplicable | CoverageState::NotAssessed => None,
    }
}

/// The state of an entry of an atlascope layer, from its colour when it is
/// one of the state colours, else from its score; `None` when neither is
/// atlascope's.
pub fn state_of_annotation(score: Option<f64>, colour: Option<&str>) -> Option<CoverageState> {
    let colour = colour.map(normalise_colour).filter(|c| !c.is_empty());
    if let Some(colour) = colour
        && let Some(state) = CoverageState::ALL.into_iter().find(|s| state_colour(*s) == colour)
    {
        return Some(state);
    }
    let score = score?;
    CoverageState::ALL.into_iter().find(|s| state_score(*s) == Some(score))
}

/// `#ABCDEF`, `#abcdefff` → `#abcdef` (an opaque alpha is dropped).
pub(crate) fn normalise_colour(colour: &str) -> String {
    let colour = colour.trim().to_ascii_lowercase();
    match colour.strip_suffix("ff") {
        Some(opaque) if colour.len() == 9 && colour.starts_with('#') => opaque.to_string(),
        _ => colour,
    }
}

/// The layer of one system of a report.
pub fn layer(report: &GapReport, system: &SystemReport) -> Layer {
    let shortnames: std::collections::HashMap<&str, &str> =
        report.heat_map.tactics.iter().map(|t| (t.id.as_str(), t.shortname.as_str())).collect();
    let mut techniques = Vec::new();
    for row in &system.techniques {
        let mut metadata = vec![Metadata::new("state", row.state.label())];
        if let Some(risk) = row.risk {
            metadata.push(Metadata::new("risk", risk.as_str()));
        }
        let entry = LayerTechnique {
            technique_id: row.technique_id.to_string(),
            tactic: None,
            score: state_score(row.state),
            color: Some(state_colour(row.state).to_string()),
            comment: (!row.rationale.is_empty()).then(|| row.rationale.to_string()),
            enabled: (row.state == CoverageState::NotApplicable).then_some(false),
            metadata,
            show_subtechniques: None,
        };
        if row.parent.is_some() {
            techniques.push(entry);
        } else {
            for tactic in row.tactics {
                let Some(shortname) = shortnames.get(tactic.as_str()) else { continue };
                techniques.push(LayerTechnique {
                    tactic: Some(shortname.to_string()),
                    show_subtechniques: Some(true),
                    ..entry.clone()
                });
            }
        }
    }
    let scores = [
        CoverageState::Covered,
        CoverageState::AcceptedRisk,
        CoverageState::PartiallyCovered,
        CoverageState::Gap,
        CoverageState::GapNoKnownMitigation,
    ]
    .map(|s| format!("{} {}", s.as_str(), state_score(s).unwrap_or_default()))
    .join(", ");
    Layer {
        name: format!("atlascope: {}", system.name),
        versions: Some(Versions {
            layer: Some(LAYER_FORMAT.to_string()),
            navigator: Some(NAVIGATOR_VERSION.to_string()),
            attack: None,
        }),
        domain: DOMAIN.to_string(),
        description: format!(
            "ATLAS {} coverage of {} on {}, exported by atlascope. Scores: {scores}; \
             not applicable (disabled) and not assessed are unscored. Comments carry the team's rationale.",
            system.framework_version, system.name, report.generated_on
        ),
        techniques,
        gradient: Some(Gradient {
            colors: vec![
                state_colour(CoverageState::Gap).to_string(),
                state_colour(CoverageState::PartiallyCovered).to_string(),
                state_colour(CoverageState::Covered).to_string(),
            ],
            min_value: 0.0,
            max_value: 100.0,
        }),
        legend_items: CoverageState::ALL
            .into_iter()
            .map(|s| LegendItem { label: s.label().to_string(), color: state_colour(s).to_string() })
            .collect(),
        metadata: vec![
            Metadata::new(RELEASE_METADATA, system.framework_version.clone()),
            Metadata::new(SYSTEM_METADATA, system.name.clone()),
            Metadata::new(SYSTEM_ID_METADATA, system.system_id.to_string()),
            Metadata::new(GENERATOR_METADATA, GENERATOR),
            Metadata::new("exported_on", report.generated_on.clone()),
        ],
    }
}

/// The report as Navigator JSON: one layer for a system report, a list of
/// layers (one per system) for a team report.
pub fn render(report: &GapReport) -> Result<String, serde_json::Error> {
    let layers: Vec<Layer> = report.systems.iter().map(|system| layer(report, system)).collect();
    match (report.is_team(), layers.as_slice()) {
        (false, [single]) => serde_json::to_string_pretty(single),
        _ => serde_json::to_string_pretty(&layers),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::Fixture;
    use super::super::{TeamRef, system_report, team_report};
    use super::*;

    #[test]
    fn every_state_maps_back_from_its_own_score_and_colour() {
        for state in CoverageState::ALL {
            assert_eq!(state_of_annotation(state_score(state), Some(state_colour(state))), Some(state), "{state:?}");
            assert_eq!(state_of_annotation(None, Some(&state_colour(state).to_uppercase())), Some(state));
            if let Some(score) = state_score(state) {
                assert_eq!(state_of_annotation(Some(score), None), Some(state), "score alone: {state:?}");
            }
        }
        assert_eq!(state_of_annotation(Some(25.0), Some("#ef5350ff")), Some(CoverageState::Gap));
        assert_eq!(state_of_annotation(Some(3.0), Some("#123456")), None);
    }

    #[test]
    fn a_layer_mirrors_the_official_atlas_layer_shape() {
        let fixture = Fixture::realistic();
        let report = system_report(&fixture.source(), &fixture.options());
        let text = render(&report).expect("a layer");
        let layer: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(layer["versions"], serde_json::json!({"layer": "4.5", "navigator": "5.1.0"}));
        assert_eq!(layer["domain"], "atlas-atlas");
        assert_eq!(layer["metadata"][0], serde_json::json!({"name": "atlas_data_version", "value": "2026.05"}));
        assert_eq!(layer["legendItems"].as_array().map(Vec::len), Some(7));
        assert_eq!(layer["gradient"]["minValue"], 0.0);

        // Same (techniqueID, tactic) pairs as the official matrix layer, which
        // has one entry per top-level technique and tactic and one per sub-technique.
        let framework = fixture.framework();
        let entries = layer["techniques"].as_array().expect("techniques");
        let top_level_pairs: usize =
            framework.techniques().iter().filter(|t| t.parent.is_none()).map(|t| t.tactics.len()).sum();
        let subs = framework.techniques().iter().filter(|t| t.parent.is_some()).count();
        assert_eq!(entries.len(), top_level_pairs + subs);
        let first = &entries[0];
        assert_eq!(first["techniqueID"], "AML.T0000");
        assert_eq!(first["tactic"], "reconnaissance");
        assert_eq!(first["showSubtechniques"], true);
        let sub = entries.iter().find(|e| e["techniqueID"] == "AML.T0051.000").expect("a sub-technique entry");
        assert!(sub.get("tactic").is_none());
        assert_eq!(sub["score"], 100.0);
        assert_eq!(sub["color"], "#66bb6a");
        let disabled = entries.iter().filter(|e| e["enabled"] == false).count();
        let not_applicable = report.systems[0].techniques.iter().filter(|r| r.state == CoverageState::NotApplicable);
        let expected: usize = not_applicable.map(|r| if r.parent.is_some() { 1 } else { r.tactics.len() }).sum();
        assert_eq!(disabled, expected);
        assert!(entries.iter().any(|e| e["comment"].as_str().is_some_and(|c| c.contains("\"quoted\""))));
    }

    #[test]
    fn a_team_exports_one_layer_per_system_as_a_list() {
        let (a, b) = (Fixture::realistic(), Fixture::second_system());
        let report = team_report(&TeamRef { id: 1, name: "T".into() }, &[a.source(), b.source()], &a.options());
        let layers: Vec<Layer> = serde_json::from_str(&render(&report).expect("layers")).expect("a list");
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[1].metadata_value(SYSTEM_ID_METADATA), Some("2"));
        assert!(layers.iter().all(Layer::is_atlascope));
    }
}
