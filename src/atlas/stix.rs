//! Reader for the ATLAS STIX 2.1 bundle.
//!
//! STIX carries tactics, techniques, mitigations and their relations, but no
//! maturity, platforms, case studies or data version. Relationship ids are
//! not unique in the official bundle, so relations are keyed by
//! (source, target, type), never by id.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use super::error::{ReadError, ReadErrorKind, json_error};
use super::model::{Mitigation, MitigationLink, Release, SourceFormat, Tactic, Technique, tactic_shortname};

#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    objects: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ExternalReference {
    source_name: String,
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Deserialize)]
struct KillChainPhase {
    kill_chain_name: String,
    phase_name: String,
}

#[derive(Deserialize)]
struct Domain {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    external_references: Vec<ExternalReference>,
    #[serde(default)]
    kill_chain_phases: Vec<KillChainPhase>,
    #[serde(default)]
    x_mitre_shortname: Option<String>,
    #[serde(default)]
    x_mitre_is_subtechnique: bool,
    #[serde(default)]
    tactic_refs: Vec<String>,
    #[serde(default)]
    source_ref: Option<String>,
    #[serde(default)]
    target_ref: Option<String>,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default)]
    x_mitre_deprecated: bool,
}

impl Domain {
    fn atlas_id(&self) -> Option<String> {
        self.external_references.iter().find(|r| r.source_name == "mitre-atlas").and_then(|r| r.external_id.clone())
    }
}

pub fn read(text: &str, file: &str, version: Option<&str>) -> Result<Release, ReadError> {
    let bundle: Bundle = serde_json::from_str(text).map_err(|e| json_error(file, e))?;
    let invalid = |message: String| ReadError::new(file, ReadErrorKind::Invalid, message);
    if bundle.kind != "bundle" {
        return Err(ReadError::new(
            file,
            ReadErrorKind::UnknownFormat,
            format!("`type` is `{}`, not `bundle`", bundle.kind),
        ));
    }

    let mut tactics_by_ref: HashMap<String, Tactic> = HashMap::new();
    let mut techniques_by_ref: HashMap<String, (Technique, bool, Vec<String>)> = HashMap::new();
    let mut mitigations_by_ref: HashMap<String, Mitigation> = HashMap::new();
    let mut relationships: Vec<(String, String, String, Option<String>)> = Vec::new();
    let mut tactic_order: Vec<String> = Vec::new();
    let mut newest_modified: Option<String> = None;

    for (index, raw) in bundle.objects.into_iter().enumerate() {
        let kind = raw.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_string();
        if !matches!(
            kind.as_str(),
            "x-mitre-tactic" | "attack-pattern" | "course-of-action" | "relationship" | "x-mitre-matrix"
        ) {
            continue;
        }
        let object: Domain =
            serde_json::from_value(raw).map_err(|e| invalid(format!("objects[{index}] ({kind}): {e}")))?;
        if object.revoked || object.x_mitre_deprecated {
            continue;
        }
        let day = |stamp: &Option<String>| stamp.as_ref().map(|s| s.chars().take(10).collect::<String>());
        if kind != "x-mitre-matrix" && object.modified > newest_modified {
            newest_modified = object.modified.clone();
        }
        let needs_id = || invalid(format!("objects[{index}] ({kind} {}): no mitre-atlas external_id", object.id));
        match kind.as_str() {
            "x-mitre-tactic" => {
                let id = object.atlas_id().ok_or_else(needs_id)?;
                tactics_by_ref.insert(
                    object.id.clone(),
                    Tactic {
                        shortname: object.x_mitre_shortname.clone().unwrap_or_else(|| tactic_shortname(&object.name)),
                        id,
                        name: object.name.clone(),
                        attack_reference: None,
                        created: day(&object.created),
                        modified: day(&object.modified),
                        summary: None,
                        description: object.description.clone(),
                    },
                );
            }
            "attack-pattern" => {
                let id = object.atlas_id().ok_or_else(needs_id)?;
                let phases = object
                    .kill_chain_phases
                    .iter()
                    .filter(|p| p.kill_chain_name == "mitre-atlas")
                    .map(|p| p.phase_name.clone())
                    .collect();
                techniques_by_ref.insert(
                    object.id.clone(),
                    (
                        Technique {
                            id,
                            name: object.name.clone(),
                            parent: None,
                            tactics: Vec::new(),
                            maturity: None,
                            platforms: Vec::new(),
                            attack_reference: None,
                            created: day(&object.created),
                            modified: day(&object.modified),
                            summary: None,
                            description: object.description.clone(),
                        },
                        object.x_mitre_is_subtechnique,
                        phases,
                    ),
                );
            }
            "course-of-action" => {
                let id = object.atlas_id().ok_or_else(needs_id)?;
                mitigations_by_ref.insert(
                    object.id.clone(),
                    Mitigation {
                        id,
                        name: object.name.clone(),
                        categories: Vec::new(),
                        lifecycle_phases: Vec::new(),
                        techniques: Vec::new(),
                        attack_reference: None,
                        created: day(&object.created),
                        modified: day(&object.modified),
                        summary: None,
                        description: object.description.clone(),
                    },
                );
            }
            "relationship" => {
                let (Some(source), Some(target), Some(rel)) =
                    (object.source_ref, object.target_ref, object.relationship_type)
                else {
                    return Err(invalid(format!(
                        "objects[{index}] (relationship {}): needs source_ref, target_ref and relationship_type",
                        object.id
                    )));
                };
                relationships.push((source, target, rel, object.description));
            }
            "x-mitre-matrix" => tactic_order = object.tactic_refs,
            _ => {}
        }
    }

    let shortname_to_tactic: HashMap<String, String> =
        tactics_by_ref.values().map(|t| (t.shortname.clone(), t.id.clone())).collect();

    let mut seen = HashSet::new();
    for (source, target, rel, description) in relationships {
        if !seen.insert((source.clone(), target.clone(), rel.clone())) {
            continue;
        }
        match rel.as_str() {
            "mitigates" => {
                let technique = techniques_by_ref.get(&target).map(|(t, _, _)| t.id.clone()).ok_or_else(|| {
                    invalid(format!(
                        "relationship mitigates {source} → {target}: the target is not a technique in the bundle"
                    ))
                })?;
                let mitigation = mitigations_by_ref.get_mut(&source).ok_or_else(|| {
                    invalid(format!(
                        "relationship mitigates {source} → {target}: the source is not a mitigation in the bundle"
                    ))
                })?;
                mitigation.techniques.push(MitigationLink { technique, description });
            }
            "subtechnique-of" => {
                let parent = techniques_by_ref.get(&target).map(|(t, _, _)| t.id.clone()).ok_or_else(|| {
                    invalid(format!(
                        "relationship subtechnique-of {source} → {target}: the parent is not in the bundle"
                    ))
                })?;
                let (child, _, _) = techniques_by_ref.get_mut(&source).ok_or_else(|| {
                    invalid(format!(
                        "relationship subtechnique-of {source} → {target}: the sub-technique is not in the bundle"
                    ))
                })?;
                child.parent = Some(parent);
            }
            _ => {}
        }
    }

    let mut tactics = Vec::with_capacity(tactics_by_ref.len());
    for reference in &tactic_order {
        match tactics_by_ref.remove(reference) {
            Some(tactic) => tactics.push(tactic),
            None => {
                return Err(invalid(format!(
                    "x-mitre-matrix: tactic_refs names {reference}, which is not a tactic in the bundle"
                )));
            }
        }
    }
    let mut unplaced: Vec<Tactic> = tactics_by_ref.into_values().collect();
    unplaced.sort_by(|a, b| a.id.cmp(&b.id));
    tactics.extend(unplaced);

    let mut techniques = Vec::with_capacity(techniques_by_ref.len());
    for (mut technique, is_sub, phases) in techniques_by_ref.into_values() {
        if is_sub && technique.parent.is_none() {
            return Err(invalid(format!(
                "technique {}: marked as a sub-technique but no subtechnique-of relationship",
                technique.id
            )));
        }
        for phase in phases {
            let tactic = shortname_to_tactic.get(&phase).ok_or_else(|| {
                invalid(format!("technique {}: kill chain phase `{phase}` matches no tactic", technique.id))
            })?;
            technique.tactics.push(tactic.clone());
        }
        techniques.push(technique);
    }

    let version = match version {
        Some(v) => v.to_string(),
        None => match newest_modified.as_deref() {
            None => "stix-unversioned".to_string(),
            Some(modified) => format!(
                "stix-{}",
                date_prefix(modified).ok_or_else(|| invalid(format!(
                    "the bundle names no ATLAS version, and its newest `modified` value `{}` does not start with a \
                     date (YYYY-MM-DD) to name it by; give the version explicitly",
                    modified.chars().take(40).collect::<String>()
                )))?
            ),
        },
    };
    Ok(Release {
        version,
        format: SourceFormat::Stix,
        date: None,
        tactics,
        techniques,
        mitigations: mitigations_by_ref.into_values().collect(),
        case_studies: Vec::new(),
    })
}

/// The `YYYY-MM-DD` a STIX timestamp starts with, if it does.
fn date_prefix(stamp: &str) -> Option<&str> {
    let prefix = stamp.get(..10)?;
    let shape = prefix.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shape.then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::read::read_release;

    fn fixture() -> String {
        let ext = |id: &str| {
            format!(r#"[{{"source_name":"mitre-atlas","external_id":"{id}","url":"https://atlas.mitre.org/x/{id}"}}]"#)
        };
        format!(
            r#"{{"type":"bundle","id":"bundle--1","objects":[
{{"type":"x-mitre-tactic","id":"x-mitre-tactic--b","name":"Impact","x_mitre_shortname":"impact","external_references":{t1}}},
{{"type":"x-mitre-tactic","id":"x-mitre-tactic--a","name":"Reconnaissance","x_mitre_shortname":"reconnaissance","external_references":{t2}}},
{{"type":"attack-pattern","id":"attack-pattern--p","name":"Parent","kill_chain_phases":[{{"kill_chain_name":"mitre-atlas","phase_name":"impact"}}],"external_references":{p}}},
{{"type":"attack-pattern","id":"attack-pattern--s","name":"Sub","x_mitre_is_subtechnique":true,"kill_chain_phases":[{{"kill_chain_name":"mitre-atlas","phase_name":"impact"}}],"external_references":{s}}},
{{"type":"course-of-action","id":"course-of-action--m","name":"Mitigation","external_references":{m}}},
{{"type":"relationship","id":"relationship--same","relationship_type":"mitigates","source_ref":"course-of-action--m","target_ref":"attack-pattern--p","description":"same text"}},
{{"type":"relationship","id":"relationship--same","relationship_type":"mitigates","source_ref":"course-of-action--m","target_ref":"attack-pattern--s","description":"same text"}},
{{"type":"relationship","id":"relationship--sub","relationship_type":"subtechnique-of","source_ref":"attack-pattern--s","target_ref":"attack-pattern--p"}},
{{"type":"x-mitre-matrix","id":"x-mitre-matrix--1","name":"ATLAS Matrix","tactic_refs":["x-mitre-tactic--a","x-mitre-tactic--b"]}}
]}}"#,
            t1 = ext("AML.TA0011"),
            t2 = ext("AML.TA0002"),
            p = ext("AML.T0001"),
            s = ext("AML.T0001.000"),
            m = ext("AML.M0001"),
        )
    }

    #[test]
    fn relationships_sharing_an_id_are_both_kept() {
        let release = read_release(fixture().as_bytes(), "bundle.json", Some("5.6.0")).expect("fixture reads");
        assert_eq!(release.version, "5.6.0");
        assert_eq!(release.format, SourceFormat::Stix);
        let order: Vec<_> = release.tactics.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(order, ["AML.TA0002", "AML.TA0011"], "matrix order from tactic_refs");
        assert_eq!(release.mitigations[0].techniques.len(), 2);
        let sub = release.techniques.iter().find(|t| t.id == "AML.T0001.000").unwrap();
        assert_eq!(sub.parent.as_deref(), Some("AML.T0001"));
        assert_eq!(sub.tactics, ["AML.TA0011"]);
    }

    #[test]
    fn truncated_json_is_reported_with_its_line() {
        let text = fixture();
        let cut = &text[..text.len() / 2];
        let err = read_release(cut.as_bytes(), "bundle.json", None).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Syntax);
        assert!(err.message.starts_with("line "), "{err}");
    }

    #[test]
    fn an_unversioned_bundle_is_named_by_its_newest_date_and_a_garbled_date_is_refused() {
        let dated =
            fixture().replace(r#""name":"Parent","#, r#""name":"Parent","modified":"2025-03-04T05:06:07.000Z","#);
        let release = read_release(dated.as_bytes(), "bundle.json", None).expect("a dated bundle reads");
        assert_eq!(release.version, "stix-2025-03-04");
        // A multi-byte character across the tenth byte once crashed the reader.
        for garbled in ["2025-0€-01T00:00:00Z", "2025-03-0€", "€€€€", "2025/03/04"] {
            let text = fixture().replace(r#""name":"Parent","#, &format!(r#""name":"Parent","modified":"{garbled}","#));
            let err = read_release(text.as_bytes(), "bundle.json", None).expect_err(garbled);
            assert_eq!(err.kind, ReadErrorKind::Invalid, "{garbled}");
            assert!(err.to_string().starts_with("bundle.json: ") && err.message.contains("modified"), "{err}");
        }
        let named = fixture().replace(r#""name":"Parent","#, r#""name":"Parent","modified":"2025-0€-01","#);
        assert!(read_release(named.as_bytes(), "bundle.json", Some("5.6.0")).is_ok(), "a named version needs no date");
    }
}
