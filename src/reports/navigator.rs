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
//! reading only. Numbers are written as the format's integers (`0`, not
//! `0.0`), and `showSubtechniques` only on techniques that have sub-techniques.
//!
//! A detection layer ([`detection_layer`]) scores each applicable technique
//! by how the SOC detects it instead: detected 100 (`#42a5f5`), partly
//! detected 50 (`#ffca28`), detection planned 25 (`#ffab91`), not detected
//! 0 (`#ef5350`); not applicable and not assessed techniques stay unscored.
//! A team's detection layer averages the systems' scores.
//!
//! A Navigator opens one layer per file. A system's export is its layer; a
//! team's is one aggregate layer ([`team_layer`]), or a zip holding the
//! aggregate and one layer per system ([`render_zip`]). Layers are written
//! in format 4.5, or 4.3 for the ATLAS Navigator deployment (Navigator
//! 4.7.1), which warns on 4.5; the two differ only in their version stamps
//! for what atlascope writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use super::{GapReport, SystemReport, state_colour};
use crate::domain::DetectionStatus;
use crate::domain::coverage::CoverageState;

/// The newest layer format atlascope writes, and reads up to.
pub const LAYER_FORMAT: &str = "4.5";

/// The layer format a file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub enum LayerVersion {
    /// Layer 4.5 (ATT&CK Navigator 5.x).
    #[default]
    #[serde(rename = "4.5")]
    V4_5,
    /// Layer 4.3 (ATLAS Navigator 4.x).
    #[serde(rename = "4.3")]
    V4_3,
}

impl LayerVersion {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "4.5" => Ok(LayerVersion::V4_5),
            "4.3" => Ok(LayerVersion::V4_3),
            other => Err(format!("`{}` is not one of 4.5, 4.3", other.chars().take(20).collect::<String>())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LayerVersion::V4_5 => "4.5",
            LayerVersion::V4_3 => "4.3",
        }
    }

    /// The Navigator version the layer says it was made for (the lowest each
    /// format's specification accepts).
    fn navigator(self) -> &'static str {
        match self {
            LayerVersion::V4_5 => "5.1.0",
            LayerVersion::V4_3 => "4.6.5",
        }
    }
}
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorLayer)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorVersions)]
pub struct Versions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub navigator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
}

/// One technique annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorTechnique)]
#[serde(rename_all = "camelCase")]
pub struct LayerTechnique {
    #[serde(rename = "techniqueID")]
    pub technique_id: String,
    /// Tactic shortname; absent means every tactic of the technique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", serialize_with = "optional_number")]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorGradient)]
#[serde(rename_all = "camelCase")]
pub struct Gradient {
    pub colors: Vec<String>,
    #[serde(serialize_with = "number")]
    pub min_value: f64,
    #[serde(serialize_with = "number")]
    pub max_value: f64,
}

/// A whole number as an integer (`100`, not `100.0`): layer readers such as
/// mitreattack-python refuse a float where the format has an integer.
fn number<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

fn optional_number<S: Serializer>(value: &Option<f64>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => number(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorLegendItem)]
pub struct LegendItem {
    pub label: String,
    pub color: String,
}

/// A metadata entry; a divider (`{"divider": true}`) reads as one without name or value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = NavigatorMetadata)]
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

/// Tactic shortnames by tactic ID, from the report's heat map columns.
fn shortnames<'r>(report: &'r GapReport) -> HashMap<&'r str, &'r str> {
    report.heat_map.tactics.iter().map(|t| (t.id.as_str(), t.shortname.as_str())).collect()
}

/// One entry per tactic for a top-level technique (with `showSubtechniques`
/// when it has sub-techniques), one entry without tactic for a sub-technique.
fn place(
    entry: LayerTechnique,
    parent: Option<&str>,
    tactics: &[String],
    has_subtechniques: bool,
    shortnames: &HashMap<&str, &str>,
    into: &mut Vec<LayerTechnique>,
) {
    if parent.is_some() {
        into.push(entry);
        return;
    }
    for tactic in tactics {
        let Some(shortname) = shortnames.get(tactic.as_str()) else { continue };
        into.push(LayerTechnique {
            tactic: Some(shortname.to_string()),
            show_subtechniques: has_subtechniques.then_some(true),
            ..entry.clone()
        });
    }
}

fn scored_states() -> [CoverageState; 5] {
    [
        CoverageState::Covered,
        CoverageState::AcceptedRisk,
        CoverageState::PartiallyCovered,
        CoverageState::Gap,
        CoverageState::GapNoKnownMitigation,
    ]
}

fn gradient() -> Gradient {
    Gradient {
        colors: vec![
            state_colour(CoverageState::Gap).to_string(),
            state_colour(CoverageState::PartiallyCovered).to_string(),
            state_colour(CoverageState::Covered).to_string(),
        ],
        min_value: 0.0,
        max_value: 100.0,
    }
}

fn versions(version: LayerVersion) -> Versions {
    Versions {
        layer: Some(version.as_str().to_string()),
        navigator: Some(version.navigator().to_string()),
        attack: None,
    }
}

/// The layer of one system of a report.
pub fn layer(report: &GapReport, system: &SystemReport, version: LayerVersion) -> Layer {
    let shortnames = shortnames(report);
    let parents: HashSet<&str> = system.techniques.iter().filter_map(|row| row.parent).collect();
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
        let has_subtechniques = parents.contains(row.technique_id);
        place(entry, row.parent, row.tactics, has_subtechniques, &shortnames, &mut techniques);
    }
    let scores = scored_states().map(|s| format!("{} {}", s.as_str(), state_score(s).unwrap_or_default())).join(", ");
    Layer {
        name: format!("atlascope: {}", system.name),
        versions: Some(versions(version)),
        domain: DOMAIN.to_string(),
        description: format!(
            "ATLAS {} coverage of {} on {}, exported by atlascope. Scores: {scores}; \
             not applicable (disabled) and not assessed are unscored. Comments carry the team's rationale.",
            system.framework_version, system.name, report.generated_on
        ),
        techniques,
        gradient: Some(gradient()),
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

/// A technique of a team layer: its parent, its tactics, and each system's state.
type Placed<'r> = (Option<&'r str>, &'r [String], Vec<(&'r str, CoverageState)>);

/// The aggregate layer of a team: per technique, the average of its scores
/// over the systems where it is scored (so 100 means covered everywhere it
/// applies), unscored where no system scores it, disabled where it applies
/// to none; the comment counts the systems in each state and names them.
/// Techniques are matched by ID across systems; the layer's release is the
/// one most systems are assessed against.
pub fn team_layer(report: &GapReport, version: LayerVersion) -> Layer {
    let shortnames = shortnames(report);
    let mut releases: BTreeMap<&str, usize> = BTreeMap::new();
    for system in &report.systems {
        *releases.entry(system.framework_version.as_str()).or_default() += 1;
    }
    let release = releases.iter().max_by_key(|(_, n)| **n).map(|(r, _)| r.to_string()).unwrap_or_default();
    // Per technique ID, in first-seen order: where it sits, and each system's state.
    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, Placed> = HashMap::new();
    let mut parents: HashSet<&str> = HashSet::new();
    for system in &report.systems {
        for row in &system.techniques {
            if let Some(parent) = row.parent {
                parents.insert(parent);
            }
            let slot = seen.entry(row.technique_id).or_insert_with(|| {
                order.push(row.technique_id);
                (row.parent, row.tactics, Vec::new())
            });
            slot.2.push((system.name.as_str(), row.state));
        }
    }
    let mut techniques = Vec::new();
    for id in order {
        let (parent, tactics, states) = &seen[id];
        let scores: Vec<f64> = states.iter().filter_map(|(_, s)| state_score(*s)).collect();
        let score = (!scores.is_empty()).then(|| (scores.iter().sum::<f64>() / scores.len() as f64).round());
        let all_not_applicable = states.iter().all(|(_, s)| *s == CoverageState::NotApplicable);
        let mut metadata = Vec::new();
        let mut parts = Vec::new();
        for state in CoverageState::ALL {
            let names: Vec<&str> = states.iter().filter(|(_, s)| *s == state).map(|(n, _)| *n).collect();
            if names.is_empty() {
                continue;
            }
            metadata.push(Metadata::new(state.as_str(), names.len().to_string()));
            parts.push(format!("{} in {} of {} ({})", state.label(), names.len(), states.len(), names.join(", ")));
        }
        let entry = LayerTechnique {
            technique_id: id.to_string(),
            tactic: None,
            score,
            color: None,
            comment: Some(format!("{}.", parts.join("; "))),
            enabled: all_not_applicable.then_some(false),
            metadata,
            show_subtechniques: None,
        };
        place(entry, *parent, tactics, parents.contains(id), &shortnames, &mut techniques);
    }
    let team = match &report.scope {
        super::ReportScope::Team { team_name, .. } => team_name.clone(),
        super::ReportScope::System { .. } => report.systems.first().map(|s| s.name.clone()).unwrap_or_default(),
    };
    let mixed = if releases.len() > 1 {
        format!(
            " Systems are assessed against releases {}; techniques are matched by ID.",
            releases.keys().copied().collect::<Vec<_>>().join(", ")
        )
    } else {
        String::new()
    };
    Layer {
        name: format!("atlascope: {team} (all systems)"),
        versions: Some(versions(version)),
        domain: DOMAIN.to_string(),
        description: format!(
            "ATLAS coverage of the {} systems of {team} on {}, exported by atlascope. Each technique's score is \
             the average of its systems' scores (covered 100, accepted risk 75, partially covered 50, gap 25, \
             gap without known mitigation 0), over the systems where it is scored; comments count the systems \
             in each state.{mixed}",
            report.systems.len(),
            report.generated_on
        ),
        techniques,
        gradient: Some(gradient()),
        legend_items: vec![
            LegendItem {
                label: "Covered in every system where it applies".into(),
                color: gradient().colors[2].clone(),
            },
            LegendItem { label: "Partly covered across systems".into(), color: gradient().colors[1].clone() },
            LegendItem { label: "A gap across systems".into(), color: gradient().colors[0].clone() },
        ],
        metadata: vec![
            Metadata::new(RELEASE_METADATA, release),
            Metadata::new("team", team),
            Metadata::new("systems", report.systems.len().to_string()),
            Metadata::new(GENERATOR_METADATA, GENERATOR),
            Metadata::new("exported_on", report.generated_on.clone()),
        ],
    }
}

/// The score and colour of a technique in a detection layer; `None` when it is not scored.
pub fn detection_score(state: CoverageState, detection: DetectionStatus) -> Option<(f64, &'static str)> {
    if matches!(state, CoverageState::NotApplicable | CoverageState::NotAssessed) {
        return None;
    }
    Some(match detection {
        DetectionStatus::Detected => (100.0, "#42a5f5"),
        DetectionStatus::Partial => (50.0, "#ffca28"),
        DetectionStatus::Planned => (25.0, "#ffab91"),
        DetectionStatus::None => (0.0, "#ef5350"),
    })
}

/// A technique of a detection layer: its parent, its tactics, its systems' scores and what each says.
type Scored<'r> = (Option<&'r str>, &'r [String], Vec<f64>, Vec<String>);

/// The detection layer of one system (see the module documentation), or
/// of a team: each technique's average detection score over the systems
/// where it applies.
pub fn detection_layer(report: &GapReport, systems: &[SystemReport], version: LayerVersion) -> Layer {
    let shortnames = shortnames(report);
    let mut order: Vec<&str> = Vec::new();
    let mut seen: HashMap<&str, Scored> = HashMap::new();
    let mut parents: HashSet<&str> = HashSet::new();
    for system in systems {
        for row in &system.techniques {
            if let Some(parent) = row.parent {
                parents.insert(parent);
            }
            let slot = seen.entry(row.technique_id).or_insert_with(|| {
                order.push(row.technique_id);
                (row.parent, row.tactics, Vec::new(), Vec::new())
            });
            if let Some((score, _)) = detection_score(row.state, row.detection) {
                slot.2.push(score);
                let named = if row.detections.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", row.detections.join(", "))
                };
                slot.3.push(format!("{}: {}{named}", system.name, row.detection.label()));
            }
        }
    }
    let single = systems.len() == 1;
    let mut techniques = Vec::new();
    for id in order {
        let (parent, tactics, scores, notes) = &seen[id];
        let score = (!scores.is_empty()).then(|| (scores.iter().sum::<f64>() / scores.len() as f64).round());
        let colour = match (single, score) {
            (true, Some(score)) => DetectionStatus::ALL
                .iter()
                .filter_map(|d| detection_score(CoverageState::Gap, *d))
                .find(|(s, _)| *s == score)
                .map(|(_, c)| c.to_string()),
            _ => None,
        };
        let entry = LayerTechnique {
            technique_id: id.to_string(),
            tactic: None,
            score,
            color: colour,
            comment: (!notes.is_empty()).then(|| notes.join("; ")),
            enabled: None,
            metadata: Vec::new(),
            show_subtechniques: None,
        };
        place(entry, *parent, tactics, parents.contains(id), &shortnames, &mut techniques);
    }
    let (name, release) = match systems {
        [system] => (system.name.clone(), system.framework_version.clone()),
        _ => (
            match &report.scope {
                super::ReportScope::Team { team_name, .. } => format!("{team_name} (all systems)"),
                super::ReportScope::System { .. } => "systems".into(),
            },
            systems.first().map(|s| s.framework_version.clone()).unwrap_or_default(),
        ),
    };
    Layer {
        name: format!("atlascope detection: {name}"),
        versions: Some(versions(version)),
        domain: DOMAIN.to_string(),
        description: format!(
            "How the SOC detects each applicable ATLAS technique of {name} on {}, exported by atlascope. \
             Scores: detected 100, partly detected 50, detection planned 25, not detected 0; not applicable and \
             not assessed are unscored{}.",
            report.generated_on,
            if single { "" } else { "; a team's score is the average over its systems" }
        ),
        techniques,
        gradient: Some(Gradient {
            colors: vec!["#ef5350".into(), "#ffca28".into(), "#42a5f5".into()],
            min_value: 0.0,
            max_value: 100.0,
        }),
        legend_items: DetectionStatus::ALL
            .iter()
            .rev()
            .filter_map(|d| detection_score(CoverageState::Gap, *d).map(|(_, c)| (d, c)))
            .map(|(d, c)| LegendItem { label: d.label().to_string(), color: c.to_string() })
            .collect(),
        metadata: vec![
            Metadata::new(RELEASE_METADATA, release),
            Metadata::new("dimension", "detection"),
            Metadata::new(GENERATOR_METADATA, GENERATOR),
            Metadata::new("exported_on", report.generated_on.clone()),
        ],
    }
}

/// The report's detection layer: a system's, or a team's aggregate.
pub fn render_detection(report: &GapReport, version: LayerVersion) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&detection_layer(report, &report.systems, version))
}

/// The report as one Navigator layer: a system's layer, or a team's aggregate layer.
pub fn render(report: &GapReport, version: LayerVersion) -> Result<String, serde_json::Error> {
    let layer = match (report.is_team(), report.systems.as_slice()) {
        (false, [system]) => layer(report, system, version),
        _ => team_layer(report, version),
    };
    serde_json::to_string_pretty(&layer)
}

/// Why a zip of layers could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A zip of layers, one file each: one per system (`<system>.layer.json`)
/// and, for a team, the aggregate (`<team> (all systems).layer.json`).
pub fn render_zip(report: &GapReport, version: LayerVersion) -> Result<Vec<u8>, ZipError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut names = HashSet::new();
    let mut add = |zip: &mut zip::ZipWriter<_>, name: String, layer: &Layer| -> Result<(), ZipError> {
        let mut file_name = format!("{}.layer.json", super::slug(&name));
        let mut n = 2;
        while !names.insert(file_name.clone()) {
            file_name = format!("{}-{n}.layer.json", super::slug(&name));
            n += 1;
        }
        zip.start_file(file_name, options)?;
        zip.write_all(serde_json::to_string_pretty(layer)?.as_bytes())?;
        Ok(())
    };
    if report.is_team() {
        let team = team_layer(report, version);
        add(&mut zip, team.name.trim_start_matches("atlascope: ").to_string(), &team)?;
    }
    for system in &report.systems {
        add(&mut zip, system.name.clone(), &layer(report, system, version))?;
        let detection = detection_layer(report, std::slice::from_ref(system), version);
        add(&mut zip, format!("{} detection", system.name), &detection)?;
    }
    Ok(zip.finish()?.into_inner())
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
        let text = render(&report, LayerVersion::V4_5).expect("a layer");
        let layer: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(layer["versions"], serde_json::json!({"layer": "4.5", "navigator": "5.1.0"}));
        assert_eq!(layer["domain"], "atlas-atlas");
        assert_eq!(layer["metadata"][0], serde_json::json!({"name": "atlas_data_version", "value": "2026.05"}));
        assert_eq!(layer["legendItems"].as_array().map(Vec::len), Some(7));
        assert!(
            text.contains("\"minValue\": 0,") && text.contains("\"maxValue\": 100"),
            "integers, as the format has them"
        );
        assert!(!text.contains(".0,") && !text.contains(".0\n"), "no number is written as a float");

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
        assert_eq!(first["showSubtechniques"], true, "AML.T0000 has sub-techniques");
        for entry in entries {
            let id = entry["techniqueID"].as_str().expect("an id");
            let has_subs = framework.subtechniques(id).next().is_some();
            assert_eq!(entry.get("showSubtechniques").is_some(), has_subs, "showSubtechniques on {id}");
        }
        let sub = entries.iter().find(|e| e["techniqueID"] == "AML.T0051.000").expect("a sub-technique entry");
        assert!(sub.get("tactic").is_none());
        assert_eq!(sub["score"], 100);
        assert_eq!(sub["color"], "#66bb6a");
        let disabled = entries.iter().filter(|e| e["enabled"] == false).count();
        let not_applicable = report.systems[0].techniques.iter().filter(|r| r.state == CoverageState::NotApplicable);
        let expected: usize = not_applicable.map(|r| if r.parent.is_some() { 1 } else { r.tactics.len() }).sum();
        assert_eq!(disabled, expected);
        assert!(entries.iter().any(|e| e["comment"].as_str().is_some_and(|c| c.contains("\"quoted\""))));

        let older: serde_json::Value =
            serde_json::from_str(&render(&report, LayerVersion::V4_3).expect("a layer")).expect("JSON");
        assert_eq!(older["versions"], serde_json::json!({"layer": "4.3", "navigator": "4.6.5"}));
        assert_eq!(older["techniques"], layer["techniques"]);
    }

    #[test]
    fn a_team_exports_an_aggregate_layer_and_a_zip_of_one_layer_per_system() {
        let (a, b) = (Fixture::realistic(), Fixture::second_system());
        let report = team_report(&TeamRef { id: 1, name: "T".into() }, &[a.source(), b.source()], &a.options());
        let team: Layer =
            serde_json::from_str(&render(&report, LayerVersion::V4_5).expect("a layer")).expect("one layer");
        assert_eq!(team.name, "atlascope: T (all systems)");
        assert!(team.is_atlascope());
        let entry = team.techniques.iter().find(|t| t.technique_id == "AML.T0051.000").expect("an entry");
        let states: Vec<CoverageState> = report
            .systems
            .iter()
            .filter_map(|s| s.techniques.iter().find(|r| r.technique_id == "AML.T0051.000").map(|r| r.state))
            .collect();
        let scores: Vec<f64> = states.iter().filter_map(|s| state_score(*s)).collect();
        let expected = (!scores.is_empty()).then(|| (scores.iter().sum::<f64>() / scores.len() as f64).round());
        assert_eq!(entry.score, expected, "the average over the systems where it is scored");
        assert!(entry.comment.as_deref().is_some_and(|c| c.contains(" of 2 (")), "{:?}", entry.comment);

        let zip = render_zip(&report, LayerVersion::V4_3).expect("a zip");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip archive");
        let mut names: Vec<String> = archive.file_names().map(|n| n.expect("a name").into_owned()).collect();
        names.sort();
        assert_eq!(names.len(), 5, "the aggregate, and each system's prevention and detection layers: {names:?}");
        for name in names {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut archive.by_name(&name).expect("a file"), &mut text).expect("UTF-8");
            let layer: Layer = serde_json::from_str(&text).expect("each file holds one layer");
            assert_eq!(layer.versions.and_then(|v| v.layer).as_deref(), Some("4.3"));
        }
    }
}
