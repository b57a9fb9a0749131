//! Reader for the legacy single-file `ATLAS.yaml`, versions 4.x and 5.x.
//!
//! Quirks handled (see the project notes on the official files):
//! sub-techniques listed away from their parent, tactics present only on
//! top-level techniques, mitigation links misplaced inside `ml-lifecycle`
//! (recovered as links), duplicate links, and the older key spellings
//! `ML-lifecycle`, `tags` and `reported-by`.

use serde::Deserialize;
use yaml_serde::Value;

use super::error::{ReadError, ReadErrorKind, yaml_error};
use super::model::{
    AttackReference, CaseStudy, CaseStudyKind, DateGranularity, Maturity, Mitigation, MitigationLink, ProcedureStep,
    Release, SourceFormat, Tactic, Technique, tactic_shortname,
};

#[derive(Deserialize)]
struct File {
    version: Value,
    matrices: Vec<Matrix>,
    /// Always the last key of a release file, so its absence means truncation.
    #[serde(rename = "case-studies")]
    case_studies: Vec<LegacyCaseStudy>,
}

#[derive(Deserialize)]
struct Matrix {
    tactics: Vec<LegacyTactic>,
    techniques: Vec<LegacyTechnique>,
    #[serde(default)]
    mitigations: Vec<LegacyMitigation>,
}

#[derive(Deserialize)]
struct LegacyTactic {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "ATT&CK-reference", default)]
    attack_reference: Option<AttackReference>,
    #[serde(default)]
    created_date: Option<Value>,
    #[serde(default)]
    modified_date: Option<Value>,
}

#[derive(Deserialize)]
struct LegacyTechnique {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tactics: Vec<String>,
    #[serde(rename = "subtechnique-of", default)]
    subtechnique_of: Option<String>,
    #[serde(default)]
    maturity: Option<String>,
    #[serde(rename = "ATT&CK-reference", default)]
    attack_reference: Option<AttackReference>,
    #[serde(default)]
    created_date: Option<Value>,
    #[serde(default)]
    modified_date: Option<Value>,
}

#[derive(Deserialize)]
struct LegacyLink {
    id: String,
    #[serde(rename = "use", default)]
    use_text: Option<String>,
}

#[derive(Deserialize)]
struct LegacyMitigation {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    techniques: Vec<LegacyLink>,
    #[serde(rename = "ml-lifecycle", alias = "ML-lifecycle", default)]
    ml_lifecycle: Vec<Value>,
    #[serde(default)]
    category: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(rename = "ATT&CK-reference", default)]
    attack_reference: Option<AttackReference>,
    #[serde(default)]
    created_date: Option<Value>,
    #[serde(default)]
    modified_date: Option<Value>,
}

#[derive(Deserialize)]
struct LegacyStep {
    tactic: String,
    technique: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct LegacyCaseStudy {
    id: String,
    name: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(rename = "incident-date", default)]
    incident_date: Option<Value>,
    #[serde(rename = "incident-date-granularity", default)]
    granularity: Option<String>,
    #[serde(default)]
    procedure: Vec<LegacyStep>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default, alias = "reported-by")]
    reporter: Option<Value>,
    #[serde(rename = "case-study-type", default)]
    case_study_type: Option<String>,
}

pub fn read(text: &str, file: &str) -> Result<Release, ReadError> {
    let parsed: File = yaml_serde::from_str(text).map_err(|e| yaml_error(file, e))?;
    let version = scalar_string(&parsed.version)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ReadError::new(file, ReadErrorKind::Invalid, "top-level `version` is missing or empty"))?;
    let matrix = parsed
        .matrices
        .into_iter()
        .next()
        .ok_or_else(|| ReadError::new(file, ReadErrorKind::Invalid, "`matrices` is empty"))?;

    let tactics = matrix
        .tactics
        .into_iter()
        .map(|t| Tactic {
            shortname: tactic_shortname(&t.name),
            id: t.id,
            name: t.name,
            attack_reference: t.attack_reference,
            created: t.created_date.as_ref().and_then(scalar_string),
            modified: t.modified_date.as_ref().and_then(scalar_string),
            summary: None,
            description: t.description,
        })
        .collect();

    let mut techniques = Vec::with_capacity(matrix.techniques.len());
    for t in matrix.techniques {
        let maturity = match t.maturity.as_deref() {
            None => None,
            Some(raw) => Some(Maturity::parse(raw).ok_or_else(|| {
                ReadError::new(file, ReadErrorKind::Invalid, format!("technique {}: unknown maturity `{raw}`", t.id))
            })?),
        };
        techniques.push(Technique {
            parent: t.subtechnique_of,
            tactics: t.tactics,
            maturity,
            platforms: Vec::new(),
            attack_reference: t.attack_reference,
            created: t.created_date.as_ref().and_then(scalar_string),
            modified: t.modified_date.as_ref().and_then(scalar_string),
            summary: None,
            description: t.description,
            id: t.id,
            name: t.name,
        });
    }

    let mitigations = matrix.mitigations.into_iter().map(read_mitigation).collect();

    let mut case_studies = Vec::with_capacity(parsed.case_studies.len());
    for cs in parsed.case_studies {
        let kind = match cs.case_study_type.as_deref() {
            None => None,
            Some(raw) => Some(CaseStudyKind::parse(raw).ok_or_else(|| {
                ReadError::new(
                    file,
                    ReadErrorKind::Invalid,
                    format!("case study {}: unknown case-study-type `{raw}`", cs.id),
                )
            })?),
        };
        let date_granularity = match cs.granularity.as_deref() {
            None => None,
            Some(raw) => Some(DateGranularity::parse(raw).ok_or_else(|| {
                ReadError::new(
                    file,
                    ReadErrorKind::Invalid,
                    format!("case study {}: unknown incident-date-granularity `{raw}`", cs.id),
                )
            })?),
        };
        case_studies.push(CaseStudy {
            kind,
            date: cs.incident_date.as_ref().and_then(scalar_string),
            date_granularity,
            target: cs.target.filter(|s| !s.trim().is_empty()),
            actor: cs.actor.filter(|s| !s.trim().is_empty()),
            reporter: cs.reporter.as_ref().and_then(scalar_string).filter(|s| !s.trim().is_empty()),
            steps: cs
                .procedure
                .into_iter()
                .map(|s| ProcedureStep { tactic: s.tactic, technique: s.technique, description: s.description })
                .collect(),
            description: cs.summary,
            id: cs.id,
            name: cs.name,
        });
    }

    Ok(Release { version, format: SourceFormat::Legacy, date: None, tactics, techniques, mitigations, case_studies })
}

fn read_mitigation(m: LegacyMitigation) -> Mitigation {
    let mut links: Vec<MitigationLink> =
        m.techniques.into_iter().map(|l| MitigationLink { technique: l.id, description: l.use_text }).collect();
    let mut lifecycle_phases = Vec::new();
    for item in m.ml_lifecycle {
        match item {
            Value::String(phase) => lifecycle_phases.push(phase),
            // A technique link that slipped into the lifecycle list in the
            // official data: recover it as the link it was meant to be.
            Value::Mapping(map) => {
                let get = |key: &str| map.get(Value::String(key.to_string())).and_then(scalar_string);
                if let Some(technique) = get("id") {
                    links.push(MitigationLink { technique, description: get("use") });
                }
            }
            _ => {}
        }
    }
    let categories = if m.category.is_empty() { m.tags } else { m.category };
    Mitigation {
        id: m.id,
        name: m.name,
        categories,
        lifecycle_phases,
        techniques: links,
        attack_reference: m.attack_reference,
        created: m.created_date.as_ref().and_then(scalar_string),
        modified: m.modified_date.as_ref().and_then(scalar_string),
        summary: None,
        description: m.description,
    }
}

/// Strings, numbers and booleans as text (`version: 4.0` may load as a number).
pub(crate) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar_string(&tagged.value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::read::read_release;

    const FIXTURE: &str = include_str!("../../tests/fixtures/legacy-mini.yaml");

    #[test]
    fn reads_the_legacy_layout_and_survives_its_quirks() {
        let release = read_release(FIXTURE.as_bytes(), "fixture.yaml", None).expect("fixture reads");
        assert_eq!(release.version, "9.1.0");
        assert_eq!(release.format, SourceFormat::Legacy);
        let order: Vec<_> = release.tactics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, ["AML.TA0002", "AML.TA0000"], "matrix order is kept");
        let sub = release.techniques.iter().find(|t| t.id == "AML.T0000.001").unwrap();
        assert_eq!(sub.parent.as_deref(), Some("AML.T0000"));
        assert_eq!(sub.tactics, ["AML.TA0002"], "a sub inherits its parent's tactics");
        assert_eq!(sub.maturity, Some(Maturity::Feasible));
        let m = &release.mitigations[0];
        let linked: Vec<_> = m.techniques.iter().map(|l| l.technique.as_str()).collect();
        assert_eq!(linked, ["AML.T0000", "AML.T0000.001"], "duplicate dropped, misplaced link recovered");
        assert_eq!(m.lifecycle_phases, ["Deployment"]);
        let cs = &release.case_studies[0];
        assert_eq!(cs.kind, Some(CaseStudyKind::Incident));
        assert_eq!(cs.date_granularity, Some(DateGranularity::Day));
        assert_eq!(cs.date.as_deref(), Some("2020-01-01"));
        assert_eq!(cs.steps.len(), 2);
    }

    #[test]
    fn a_dangling_parent_is_named_in_the_error() {
        let broken = FIXTURE.replace("subtechnique-of: AML.T0000", "subtechnique-of: AML.T0099");
        let err = read_release(broken.as_bytes(), "fixture.yaml", None).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Invalid);
        assert!(err.to_string().contains("fixture.yaml"), "{err}");
        assert!(err.to_string().contains("AML.T0000.001") && err.to_string().contains("AML.T0099"), "{err}");
    }

    #[test]
    fn a_truncated_file_reports_the_line() {
        // Cut inside a quoted string: a syntax error.
        let cut = format!("{}'Listed after", &FIXTURE[..FIXTURE.find("Listed after").unwrap()]);
        let err = read_release(cut.as_bytes(), "cut.yaml", None).unwrap_err();
        assert!(err.to_string().starts_with("cut.yaml: line "), "{err}");
        // Cut cleanly between two techniques: still refused, since every
        // release file ends with its case studies.
        let cut = &FIXTURE[..FIXTURE.find("  - id: AML.T0000.001").unwrap()];
        let err = read_release(cut.as_bytes(), "cut.yaml", None).unwrap_err();
        assert!(err.to_string().contains("case-studies"), "{err}");
    }
}
