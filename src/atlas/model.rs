//! The normalised ATLAS release model shared by every reader, the bundled
//! facts file, the database copy of imported releases and the JSON API.
//!
//! Readers translate each official distribution into a [`Release`]; nothing
//! downstream knows which file format a release came from.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Base address of the official ATLAS website, used for object pages and for
/// pointing site-relative links of official descriptions at the real site.
pub const OFFICIAL_SITE: &str = "https://atlas.mitre.org";

/// Which official distribution a release was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// `ATLAS.yaml`, versions 4.x and 5.x (`matrices` at the top level).
    Legacy,
    /// The monthly calendar format (`format-version: 6.x`).
    Calendar,
    /// A STIX 2.1 bundle.
    Stix,
}

impl SourceFormat {
    pub fn label(self) -> &'static str {
        match self {
            SourceFormat::Legacy => "legacy ATLAS.yaml",
            SourceFormat::Calendar => "calendar format 6.x",
            SourceFormat::Stix => "STIX 2.1 bundle",
        }
    }
}

/// Technique maturity as ATLAS grades it, weakest evidence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Maturity {
    Feasible,
    Demonstrated,
    Realized,
}

impl Maturity {
    pub const ALL: [Maturity; 3] = [Maturity::Feasible, Maturity::Demonstrated, Maturity::Realized];

    /// Accepts both the legacy lower-case and the calendar capitalised spelling.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "feasible" => Some(Maturity::Feasible),
            "demonstrated" => Some(Maturity::Demonstrated),
            "realized" => Some(Maturity::Realized),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Maturity::Feasible => "feasible",
            Maturity::Demonstrated => "demonstrated",
            Maturity::Realized => "realized",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Maturity::Feasible => "Feasible",
            Maturity::Demonstrated => "Demonstrated",
            Maturity::Realized => "Realized",
        }
    }
}

/// The four ATLAS platforms, in the order the official files list them.
pub const PLATFORMS: [&str; 4] = ["Predictive AI", "Generative AI", "Agentic AI", "Enterprise"];

/// Whether a case study reports a real incident or a research exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStudyKind {
    Incident,
    Exercise,
}

impl CaseStudyKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "incident" => Some(CaseStudyKind::Incident),
            "exercise" => Some(CaseStudyKind::Exercise),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CaseStudyKind::Incident => "Incident",
            CaseStudyKind::Exercise => "Exercise",
        }
    }
}

/// How much of a case study's date is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateGranularity {
    Year,
    Month,
    Day,
}

impl DateGranularity {
    /// Legacy files say `YEAR`/`MONTH`/`DATE`, calendar files `Year`/`Month`/`Day`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "year" => Some(DateGranularity::Year),
            "month" => Some(DateGranularity::Month),
            "day" | "date" => Some(DateGranularity::Day),
            _ => None,
        }
    }
}

/// A reference to the matching ATT&CK object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttackReference {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tactic {
    pub id: String,
    pub name: String,
    /// The kebab-case tactic name used by STIX kill chains and Navigator layers.
    pub shortname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Technique {
    pub id: String,
    pub name: String,
    /// Parent technique of a sub-technique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Tactic IDs; a sub-technique carries its parent's when the file omits them.
    pub tactics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<Maturity>,
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One mitigation → technique link. The official text saying how the
/// mitigation applies is only present for imported releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MitigationLink {
    pub technique: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Mitigation {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub lifecycle_phases: Vec<String>,
    pub techniques: Vec<MitigationLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack_reference: Option<AttackReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One step of a case study's procedure, in attack order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcedureStep {
    pub tactic: String,
    pub technique: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseStudy {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CaseStudyKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_granularity: Option<DateGranularity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    pub steps: Vec<ProcedureStep>,
    /// The official narrative; only present for imported releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A whole ATLAS release as the readers produce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: String,
    pub format: SourceFormat,
    /// Content date of the release when the file states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Tactics in matrix (kill-chain) order.
    pub tactics: Vec<Tactic>,
    /// Techniques and sub-techniques in ID order.
    pub techniques: Vec<Technique>,
    pub mitigations: Vec<Mitigation>,
    pub case_studies: Vec<CaseStudy>,
}

impl Release {
    /// True when the release carries MITRE's own descriptions.
    pub fn has_official_text(&self) -> bool {
        self.tactics.iter().any(|t| t.description.is_some()) || self.techniques.iter().any(|t| t.description.is_some())
    }

    /// The release reduced to the facts atlascope may redistribute: every
    /// identifier, name, relation and date, without MITRE's prose.
    pub fn facts_only(&self) -> Release {
        let mut facts = self.clone();
        for tactic in &mut facts.tactics {
            tactic.description = None;
            tactic.summary = None;
        }
        for technique in &mut facts.techniques {
            technique.description = None;
            technique.summary = None;
        }
        for mitigation in &mut facts.mitigations {
            mitigation.description = None;
            mitigation.summary = None;
            for link in &mut mitigation.techniques {
                link.description = None;
            }
        }
        for case_study in &mut facts.case_studies {
            case_study.description = None;
            for step in &mut case_study.steps {
                step.description = None;
            }
        }
        facts
    }
}

/// Official page of an ATLAS object, derived from its ID.
pub fn official_url(id: &str) -> String {
    let section = if id.starts_with("AML.TA") {
        "tactics"
    } else if id.starts_with("AML.CS") {
        "studies"
    } else if id.starts_with("AML.M") {
        "mitigations"
    } else {
        "techniques"
    };
    format!("{OFFICIAL_SITE}/{section}/{id}")
}

/// `Lateral Movement` → `lateral-movement`, the rule every official file follows.
pub fn tactic_shortname(name: &str) -> String {
    name.trim().to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join("-")
}

/// The shape of a technique ID: `AML.T0051` or `AML.T0051.001`
/// (the OpenAPI document states it as a pattern).
pub fn is_technique_id(id: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match id.strip_prefix("AML.T") {
        Some(rest) => match rest.split_once('.') {
            Some((number, sub)) => digits(number, 4) && digits(sub, 3),
            None => digits(rest, 4),
        },
        None => false,
    }
}

/// The shape of a mitigation ID: `AML.M0020`.
pub fn is_mitigation_id(id: &str) -> bool {
    id.strip_prefix("AML.M").is_some_and(|n| n.len() == 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The parent ID implied by a sub-technique ID (`AML.T0051.001` → `AML.T0051`).
pub fn parent_from_id(id: &str) -> Option<&str> {
    let (head, tail) = id.rsplit_once('.')?;
    (head.starts_with("AML.T") && head.matches('.').count() == 1 && tail.chars().all(|c| c.is_ascii_digit()))
        .then_some(head)
}

/// Orders release versions: numeric components compare as numbers, so
/// `2026.05` > `5.6.0` > `4.9.1` and `2025.11.2` > `2025.11`.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<Result<u64, String>> {
        v.split(['.', '-']).map(|p| p.parse::<u64>().map_err(|_| p.to_string())).collect()
    };
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(pb.iter()) {
        let ord = match (x, y) {
            (Ok(x), Ok(y)) => x.cmp(y),
            (Ok(_), Err(_)) => std::cmp::Ordering::Greater,
            (Err(_), Ok(_)) => std::cmp::Ordering::Less,
            (Err(x), Err(y)) => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_derived_only_from_sub_technique_ids() {
        assert_eq!(parent_from_id("AML.T0051.001"), Some("AML.T0051"));
        assert_eq!(parent_from_id("AML.T0051"), None);
        assert_eq!(parent_from_id("AML.TA0001"), None);
        assert_eq!(parent_from_id("AML.M0001"), None);
    }

    #[test]
    fn calendar_releases_sort_after_legacy_ones() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("2026.05", "5.6.0"), Greater);
        assert_eq!(compare_versions("5.6.0", "5.5.0"), Greater);
        assert_eq!(compare_versions("2025.11.2", "2025.11"), Greater);
        assert_eq!(compare_versions("4.9.1", "4.9.1"), Equal);
    }

    #[test]
    fn official_urls_follow_the_site_layout() {
        assert_eq!(official_url("AML.TA0002"), "https://atlas.mitre.org/tactics/AML.TA0002");
        assert_eq!(official_url("AML.T0051.001"), "https://atlas.mitre.org/techniques/AML.T0051.001");
        assert_eq!(official_url("AML.M0004"), "https://atlas.mitre.org/mitigations/AML.M0004");
        assert_eq!(official_url("AML.CS0002"), "https://atlas.mitre.org/studies/AML.CS0002");
    }

    #[test]
    fn shortnames_are_kebab_case_names() {
        assert_eq!(tactic_shortname("AI Attack Staging"), "ai-attack-staging");
        assert_eq!(tactic_shortname("Command and Control"), "command-and-control");
    }
}
