//! What importing detection rules would change: each rule read matched
//! against an ATLAS release (ATLAS IDs directly, ATT&CK IDs through the
//! ATT&CK references ATLAS carries) and against the team's detections
//! (keyed by the rule's `id`), as a plan a person previews before it is
//! applied. Pure: the caller passes the rules, the releases and the
//! team's detections.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use utoipa::ToSchema;

use super::limits;
use super::records::{Detection, Timestamp};
use crate::atlas::Framework;
use crate::sigma::{ReadRules, Rule, TechniqueRef};

/// What applying does with one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// A new detection.
    Create,
    /// The team's detection with this rule id changes.
    Update,
    /// The team's detection already says the same.
    Unchanged,
}

/// One rule that maps to at least one technique.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PlannedRule {
    /// File and line.
    pub at: String,
    pub rule_id: String,
    pub title: String,
    pub action: RuleAction,
    /// The team's detection it updates or leaves unchanged.
    pub detection_id: Option<i64>,
    /// ATLAS technique IDs it maps to, in ID order.
    pub technique_ids: Vec<String>,
    /// ATT&CK technique → the ATLAS techniques it was mapped to through.
    pub via_attack: BTreeMap<String, Vec<String>>,
    pub warnings: Vec<String>,
    /// The detection as it will be stored.
    #[serde(skip)]
    pub detection: Detection,
    /// The stored version it replaces (for an update).
    #[serde(skip)]
    pub replaces: Option<Detection>,
}

/// A rule imported as nothing: no reference it carries names a technique of the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnmappedRule {
    pub at: String,
    pub rule_id: String,
    pub title: String,
    pub reason: String,
}

/// A technique ID a rule names that the release does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnknownId {
    pub at: String,
    pub rule_id: String,
    pub technique_id: String,
    /// Present when an older loaded release had the technique: retired,
    /// with the name it had and the proposed successor (not applied).
    pub retired_name: Option<String>,
    pub successor: Option<String>,
}

/// A document that is not a usable rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkippedDocument {
    pub at: String,
    pub title: String,
    pub reason: String,
}

/// The preview of an import, and what applying it writes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ImportPlan {
    /// The ATLAS release the rules were matched against.
    pub release: String,
    pub files: usize,
    /// Rules read in all.
    pub rules_read: usize,
    pub rules: Vec<PlannedRule>,
    pub unmapped: Vec<UnmappedRule>,
    pub unknown_ids: Vec<UnknownId>,
    pub retired_ids: Vec<UnknownId>,
    pub skipped: Vec<SkippedDocument>,
    pub warnings: Vec<String>,
    pub creates: usize,
    pub updates: usize,
    pub unchanged: usize,
}

impl ImportPlan {
    /// True when applying would write something.
    pub fn changes_anything(&self) -> bool {
        self.creates + self.updates > 0
    }
}

/// ATT&CK technique ID → the ATLAS techniques that reference it.
fn attack_index(framework: &Framework) -> HashMap<&str, Vec<&str>> {
    let mut index: HashMap<&str, Vec<&str>> = HashMap::new();
    for technique in framework.techniques() {
        if let Some(reference) = &technique.attack_reference {
            index.entry(reference.id.as_str()).or_default().push(technique.id.as_str());
        }
    }
    index
}

/// Matches the rules read against `release` (older releases name retired
/// techniques) and the team's detections.
pub fn plan(
    read: ReadRules,
    team_id: i64,
    release: &Framework,
    older: &[&Framework],
    existing: &[Detection],
    now: Timestamp,
) -> ImportPlan {
    let attack = attack_index(release);
    let by_rule: HashMap<String, &Detection> =
        existing.iter().filter_map(|d| d.rule_id.as_ref().map(|r| (r.to_lowercase(), d))).collect();
    let retired: HashMap<String, (String, Option<String>)> = older
        .iter()
        .flat_map(|old| super::release_diff::diff(old, release).removed)
        .map(|r| (r.id.clone(), (r.name.clone(), r.successor.map(|s| s.id))))
        .collect();
    let mut plan = ImportPlan {
        release: release.version().to_string(),
        files: read.files,
        rules_read: read.rules.len() + read.skipped.len(),
        rules: Vec::new(),
        unmapped: Vec::new(),
        unknown_ids: Vec::new(),
        retired_ids: Vec::new(),
        skipped: read
            .skipped
            .into_iter()
            .map(|s| SkippedDocument { at: s.at, title: s.title, reason: s.reason })
            .collect(),
        warnings: read.warnings,
        creates: 0,
        updates: 0,
        unchanged: 0,
    };
    for rule in read.rules {
        let mut warnings = rule.warnings.clone();
        let mut techniques = BTreeSet::new();
        let mut via_attack = BTreeMap::new();
        for reference in &rule.techniques {
            match reference {
                TechniqueRef::Atlas(id) if release.technique(id).is_some() => {
                    techniques.insert(id.clone());
                }
                TechniqueRef::Atlas(id) => {
                    let note = UnknownId {
                        at: rule.at(),
                        rule_id: rule.id.clone(),
                        technique_id: id.clone(),
                        retired_name: retired.get(id).map(|(name, _)| name.clone()),
                        successor: retired.get(id).and_then(|(_, s)| s.clone()),
                    };
                    if note.retired_name.is_some() {
                        plan.retired_ids.push(note);
                    } else {
                        plan.unknown_ids.push(note);
                    }
                }
                TechniqueRef::Attack(id) => {
                    // A sub-technique ATLAS does not reference maps through its parent.
                    let parent = id.split('.').next().unwrap_or(id);
                    match attack.get(id.as_str()).or_else(|| attack.get(parent)) {
                        Some(mapped) => {
                            techniques.extend(mapped.iter().map(|t| t.to_string()));
                            via_attack.insert(id.clone(), mapped.iter().map(|t| t.to_string()).collect());
                        }
                        None => warnings.push(format!("ATT&CK technique {id} has no ATLAS counterpart")),
                    }
                }
            }
        }
        if techniques.is_empty() {
            let reason = if rule.techniques.is_empty() {
                "no tag or key names an ATLAS or ATT&CK technique".to_string()
            } else {
                format!("none of the techniques it names is in ATLAS release {}", release.version())
            };
            plan.unmapped.push(UnmappedRule { at: rule.at(), rule_id: rule.id, title: rule.title, reason });
            continue;
        }
        let current = by_rule.get(&rule.id.to_lowercase()).copied();
        let detection = detection_of(&rule, team_id, techniques.into_iter().collect(), current, now, &mut warnings);
        let action = match current {
            None => RuleAction::Create,
            Some(stored) if stored.same_definition(&detection) => RuleAction::Unchanged,
            Some(_) => RuleAction::Update,
        };
        match action {
            RuleAction::Create => plan.creates += 1,
            RuleAction::Update => plan.updates += 1,
            RuleAction::Unchanged => plan.unchanged += 1,
        }
        plan.rules.push(PlannedRule {
            at: rule.at(),
            rule_id: rule.id.clone(),
            title: detection.name.clone(),
            action,
            detection_id: current.map(|d| d.id),
            technique_ids: detection.techniques.clone(),
            via_attack,
            warnings,
            replaces: current.cloned(),
            detection,
        });
    }
    plan
}

/// The detection a rule becomes (keeping the id, version and creation time
/// of the one it updates).
fn detection_of(
    rule: &Rule,
    team_id: i64,
    techniques: Vec<String>,
    current: Option<&Detection>,
    now: Timestamp,
    warnings: &mut Vec<String>,
) -> Detection {
    let clip = |text: &str, limit: usize, what: &str, warnings: &mut Vec<String>| -> String {
        if text.chars().count() <= limit {
            return text.to_string();
        }
        warnings.push(format!("the {what} is longer than {limit} characters; cut"));
        text.chars().take(limit).collect()
    };
    let clean = |text: &str| text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect::<String>();
    let name = clip(&clean(&rule.title), limits::NAME, "title", warnings);
    let description = clip(&clean(&rule.description), limits::DESCRIPTION, "description", warnings);
    let reference = clip(&clean(&rule.reference), limits::REFERENCE, "reference", warnings);
    let mut data_sources: Vec<String> = Vec::new();
    for source in &rule.data_sources {
        let source = clip(&clean(source), limits::DATA_SOURCE, "data source", warnings);
        if !source.is_empty() && !data_sources.contains(&source) {
            data_sources.push(source);
        }
    }
    let rule_text = if rule.text.len() > limits::RULE_TEXT {
        warnings.push(format!("the rule text is longer than {} KiB; not kept", limits::RULE_TEXT / 1024));
        None
    } else {
        Some(rule.text.clone())
    };
    Detection {
        id: current.map_or(0, |d| d.id),
        team_id,
        name,
        description,
        data_sources,
        reference,
        rule_id: Some(rule.id.clone()),
        rule_text,
        techniques,
        version: current.map_or(0, |d| d.version),
        created_at: current.map_or(now, |d| d.created_at),
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlas::bundled;
    use crate::sigma::{RuleFile, read};

    fn rules(text: &str) -> ReadRules {
        read(vec![RuleFile { name: "rules.yml".into(), bytes: text.as_bytes().to_vec() }]).expect("readable")
    }

    const NOW: Timestamp = time::macros::datetime!(2026-12-02 10:00 UTC);

    #[test]
    fn rules_map_by_atlas_and_attack_ids_and_report_the_rest() {
        let framework = bundled::framework();
        let attack_mapped = framework
            .techniques()
            .iter()
            .find(|t| t.attack_reference.is_some())
            .expect("ATLAS references ATT&CK techniques");
        let attack_id = attack_mapped.attack_reference.as_ref().unwrap().id.to_lowercase();
        let text = format!(
            "title: Prompt injection\nid: r-1\nlogsource: {{product: llm_gateway}}\ndetection: {{x: 1}}\n\
             tags: [atlas.aml.t0051.000, attack.{attack_id}, attack.t9999]\n---\n\
             title: Nothing usable\nid: r-2\ntags: [attack.execution]\n---\n\
             title: Unknown only\nid: r-3\natlas: [AML.T9999]\n"
        );
        let plan = plan(rules(&text), 1, &framework, &[], &[], NOW);
        assert_eq!(plan.rules.len(), 1);
        let first = &plan.rules[0];
        assert!(first.technique_ids.contains(&"AML.T0051.000".to_string()));
        assert!(first.technique_ids.contains(&attack_mapped.id), "{:?}", first.technique_ids);
        assert!(first.warnings.iter().any(|w| w.contains("T9999")), "{:?}", first.warnings);
        assert_eq!(first.detection.data_sources, vec!["product: llm_gateway".to_string()]);
        assert_eq!(plan.unmapped.iter().map(|u| u.rule_id.as_str()).collect::<Vec<_>>(), ["r-2", "r-3"]);
        assert_eq!(plan.unknown_ids.len(), 1);
        assert_eq!(plan.unknown_ids[0].at, "rules.yml line 11");
        assert_eq!((plan.creates, plan.updates, plan.unchanged), (1, 0, 0));
    }

    #[test]
    fn a_rule_already_imported_is_unchanged_and_an_edited_one_updates() {
        let framework = bundled::framework();
        let text = "title: A\nid: R-1\nlogsource: {product: p}\ndetection: {x: 1}\ntags: [atlas.aml.t0051]\n";
        let first = plan(rules(text), 1, &framework, &[], &[], NOW);
        let stored = Detection { id: 7, version: 1, ..first.rules[0].detection.clone() };
        let again = plan(rules(text), 1, &framework, &[], std::slice::from_ref(&stored), NOW);
        assert_eq!(again.rules[0].action, RuleAction::Unchanged);
        let edited = text.replace("title: A", "title: B").replace("R-1", "r-1");
        let changed = plan(rules(&edited), 1, &framework, &[], &[stored], NOW);
        assert_eq!((changed.rules[0].action, changed.rules[0].detection_id), (RuleAction::Update, Some(7)));
    }
}
