//! Reader for the monthly calendar format (`format-version: 6.x`).
//!
//! Objects sit in maps keyed by ID; every relation lives in the
//! `relationships` map keyed by source ID: `sequences` (tactic order),
//! `achieves` (technique → tactic), `specializes` (sub → parent),
//! `mitigates` and `employs` (case-study steps, stored out of step order).
//! Historical migrated files lack sub-technique relationships and
//! platforms; the parent then comes from the ID and the tactics from it.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use yaml_serde::Value;

use super::error::{ReadError, ReadErrorKind, yaml_error};
use super::legacy::scalar_string;
use super::model::{
    AttackReference, CaseStudy, CaseStudyKind, DateGranularity, Maturity, Mitigation, MitigationLink, ProcedureStep,
    Release, SourceFormat, Tactic, Technique, parent_from_id, tactic_shortname,
};

#[derive(Deserialize)]
struct File {
    #[serde(rename = "format-version")]
    format_version: Value,
    collection: Collection,
    tactics: BTreeMap<String, Object>,
    techniques: BTreeMap<String, Object>,
    mitigations: BTreeMap<String, Object>,
    #[serde(rename = "case-studies")]
    case_studies: BTreeMap<String, Object>,
    relationships: BTreeMap<String, BTreeMap<String, Vec<Relationship>>>,
}

#[derive(Deserialize)]
struct Collection {
    version: Value,
    #[serde(rename = "modified-date", default)]
    modified_date: Option<String>,
}

/// The union of the fields of every object type; each type uses its own.
#[derive(Deserialize)]
struct Object {
    id: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(rename = "created-date", default)]
    created_date: Option<String>,
    #[serde(rename = "modified-date", default)]
    modified_date: Option<String>,
    #[serde(rename = "attack-reference", default)]
    attack_reference: Option<AttackReference>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    maturity: Option<String>,
    #[serde(rename = "lifecycle-phases", default)]
    lifecycle_phases: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(rename = "type", default)]
    case_study_type: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    reporter: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(rename = "date-granularity", default)]
    date_granularity: Option<String>,
}

#[derive(Deserialize)]
struct Relationship {
    source: String,
    target: String,
    #[serde(rename = "relationship-type")]
    relationship_type: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tactic: Option<String>,
    #[serde(rename = "step-id", default)]
    step_id: Option<String>,
    #[serde(default)]
    position: Option<i64>,
}

pub fn read(text: &str, file: &str) -> Result<Release, ReadError> {
    let parsed: File = yaml_serde::from_str(text).map_err(|e| yaml_error(file, e))?;
    let invalid = |message: String| ReadError::new(file, ReadErrorKind::Invalid, message);

    let format_version = scalar_string(&parsed.format_version).unwrap_or_default();
    if format_version.split('.').next() != Some("6") {
        return Err(invalid(format!("format-version `{format_version}` is not supported (atlascope reads 6.x)")));
    }
    let version = scalar_string(&parsed.collection.version)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid("`collection.version` is missing or empty".into()))?;

    for (section, map) in [
        ("tactics", &parsed.tactics),
        ("techniques", &parsed.techniques),
        ("mitigations", &parsed.mitigations),
        ("case-studies", &parsed.case_studies),
    ] {
        for (key, object) in map {
            if key != &object.id {
                return Err(invalid(format!("{section}: the entry under key {key} has id {}", object.id)));
            }
        }
    }

    let mut positions: HashMap<String, i64> = HashMap::new();
    let mut achieves: HashMap<String, Vec<String>> = HashMap::new();
    let mut specializes: HashMap<String, String> = HashMap::new();
    let mut mitigates: HashMap<String, Vec<MitigationLink>> = HashMap::new();
    let mut employs: HashMap<String, Vec<(u32, ProcedureStep)>> = HashMap::new();

    for (source, by_type) in parsed.relationships {
        for (kind, entries) in by_type {
            for entry in entries {
                if entry.source != source {
                    return Err(invalid(format!(
                        "relationships.{source}.{kind}: an entry has source {} instead of {source}",
                        entry.source
                    )));
                }
                if entry.relationship_type != kind {
                    return Err(invalid(format!(
                        "relationships.{source}.{kind}: an entry has relationship-type {}",
                        entry.relationship_type
                    )));
                }
                match kind.as_str() {
                    "sequences" => {
                        let position = entry.position.ok_or_else(|| {
                            invalid(format!(
                                "relationships.{source}.sequences: the entry for {} has no position",
                                entry.target
                            ))
                        })?;
                        positions.insert(entry.target, position);
                    }
                    "achieves" => achieves.entry(source.clone()).or_default().push(entry.target),
                    "specializes" => {
                        specializes.insert(source.clone(), entry.target);
                    }
                    "mitigates" => mitigates
                        .entry(source.clone())
                        .or_default()
                        .push(MitigationLink { technique: entry.target, description: entry.description }),
                    "employs" => {
                        let step_id = entry.step_id.clone().unwrap_or_default();
                        let order = step_id.trim_start_matches('S').parse::<u32>().map_err(|_| {
                            invalid(format!(
                                "relationships.{source}.employs: step-id `{step_id}` is not of the form S00"
                            ))
                        })?;
                        let tactic = entry.tactic.ok_or_else(|| {
                            invalid(format!("relationships.{source}.employs: step {step_id} has no tactic"))
                        })?;
                        employs.entry(source.clone()).or_default().push((
                            order,
                            ProcedureStep { tactic, technique: entry.target, description: entry.description },
                        ));
                    }
                    // Types added by a later 6.x release are not needed for coverage.
                    _ => {}
                }
            }
        }
    }

    let mut tactics: Vec<(i64, Tactic)> = parsed
        .tactics
        .into_values()
        .map(|t| {
            let position = positions.get(&t.id).copied().unwrap_or(i64::MAX);
            (
                position,
                Tactic {
                    shortname: tactic_shortname(&t.name),
                    id: t.id,
                    name: t.name,
                    attack_reference: t.attack_reference,
                    created: t.created_date,
                    modified: t.modified_date,
                    summary: None,
                    description: t.description,
                },
            )
        })
        .collect();
    if !positions.is_empty()
        && let Some((_, missing)) = tactics.iter().find(|(position, _)| *position == i64::MAX)
    {
        return Err(invalid(format!(
            "relationships.ATLAS-matrix.sequences: tactic {} has no position (is the file complete?)",
            missing.id
        )));
    }
    // Without any `sequences` the ID order is the only order there is.
    tactics.sort_by(|(pa, a), (pb, b)| pa.cmp(pb).then_with(|| a.id.cmp(&b.id)));

    let mut techniques = Vec::with_capacity(parsed.techniques.len());
    for t in parsed.techniques.into_values() {
        let maturity = match t.maturity.as_deref() {
            None => None,
            Some(raw) => Some(
                Maturity::parse(raw).ok_or_else(|| invalid(format!("technique {}: unknown maturity `{raw}`", t.id)))?,
            ),
        };
        let parent = specializes.remove(&t.id).or_else(|| parent_from_id(&t.id).map(str::to_string));
        techniques.push(Technique {
            tactics: achieves.remove(&t.id).unwrap_or_default(),
            parent,
            maturity,
            platforms: t.platforms,
            attack_reference: t.attack_reference,
            created: t.created_date,
            modified: t.modified_date,
            summary: None,
            description: t.description,
            id: t.id,
            name: t.name,
        });
    }

    let mitigations = parsed
        .mitigations
        .into_values()
        .map(|m| Mitigation {
            techniques: mitigates.remove(&m.id).unwrap_or_default(),
            categories: m.categories,
            lifecycle_phases: m.lifecycle_phases,
            attack_reference: m.attack_reference,
            created: m.created_date,
            modified: m.modified_date,
            summary: None,
            description: m.description,
            id: m.id,
            name: m.name,
        })
        .collect();

    let mut case_studies = Vec::with_capacity(parsed.case_studies.len());
    for cs in parsed.case_studies.into_values() {
        let kind = match cs.case_study_type.as_deref() {
            None => None,
            Some(raw) => Some(
                CaseStudyKind::parse(raw)
                    .ok_or_else(|| invalid(format!("case study {}: unknown type `{raw}`", cs.id)))?,
            ),
        };
        let date_granularity = match cs.date_granularity.as_deref() {
            None => None,
            Some(raw) => Some(
                DateGranularity::parse(raw)
                    .ok_or_else(|| invalid(format!("case study {}: unknown date-granularity `{raw}`", cs.id)))?,
            ),
        };
        let mut steps = employs.remove(&cs.id).unwrap_or_default();
        steps.sort_by_key(|(order, _)| *order);
        case_studies.push(CaseStudy {
            kind,
            date: cs.date,
            date_granularity,
            target: cs.target.filter(|s| !s.trim().is_empty()),
            actor: cs.actor.filter(|s| !s.trim().is_empty()),
            reporter: cs.reporter.filter(|s| !s.trim().is_empty()),
            steps: steps.into_iter().map(|(_, step)| step).collect(),
            description: cs.description,
            id: cs.id,
            name: cs.name,
        });
    }

    if let Some(orphan) = achieves.keys().chain(specializes.keys()).next() {
        return Err(invalid(format!("relationships: source {orphan} is not a technique in the file")));
    }
    if let Some(orphan) = mitigates.keys().next() {
        return Err(invalid(format!("relationships: source {orphan} is not a mitigation in the file")));
    }
    if let Some(orphan) = employs.keys().next() {
        return Err(invalid(format!("relationships: source {orphan} is not a case study in the file")));
    }

    Ok(Release {
        version,
        format: SourceFormat::Calendar,
        date: parsed.collection.modified_date,
        tactics: tactics.into_iter().map(|(_, t)| t).collect(),
        techniques,
        mitigations,
        case_studies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::read::read_release;

    /// Invented data in the calendar layout, with the quirks a reader meets:
    /// steps stored out of order, a sub-technique without relationships.
    const FIXTURE: &str = include_str!("../../tests/fixtures/calendar-mini.yaml");

    #[test]
    fn reads_the_calendar_layout() {
        let release = read_release(FIXTURE.as_bytes(), "fixture.yaml", None).expect("fixture reads");
        assert_eq!(release.version, "2099.01");
        assert_eq!(release.format, SourceFormat::Calendar);
        assert_eq!(release.date.as_deref(), Some("2099-01-31"));
        let order: Vec<_> = release.tactics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, ["AML.TA0002", "AML.TA0000"], "tactics follow `sequences` positions");
        let child = release.techniques.iter().find(|t| t.id == "AML.T0001.000").unwrap();
        assert_eq!(child.parent.as_deref(), Some("AML.T0001"), "parent derived from the ID");
        assert_eq!(child.tactics, ["AML.TA0000"], "tactics inherited from the parent");
        assert_eq!(child.maturity, Some(Maturity::Feasible));
        assert_eq!(release.mitigations[0].techniques.len(), 1, "duplicate link dropped");
        let steps: Vec<_> = release.case_studies[0].steps.iter().map(|s| s.technique.as_str()).collect();
        assert_eq!(steps, ["AML.T0001.000", "AML.T0001"], "steps in step-id order");
        assert_eq!(release.case_studies[0].kind, Some(CaseStudyKind::Exercise));
    }

    #[test]
    fn a_relationship_under_the_wrong_source_is_refused() {
        let broken = FIXTURE.replace("    - source: AML.T0001\n", "    - source: AML.T0002\n");
        let err = read_release(broken.as_bytes(), "fixture.yaml", None).unwrap_err();
        assert!(err.message.contains("relationships.AML.T0001.achieves"), "{err}");
    }

    #[test]
    fn an_unsupported_format_version_is_named() {
        let newer = FIXTURE.replace("format-version: 6.0.0", "format-version: 7.0.0");
        let err = read_release(newer.as_bytes(), "fixture.yaml", None).unwrap_err();
        assert!(err.message.contains("7.0.0"), "{err}");
    }
}
