//! The release diff on small releases written for the purpose: a fold of
//! three techniques into a new parent, a tactic renamed and moved, a reused
//! ID, renames, a move, changed mitigation links and case studies.

use super::*;
use crate::atlas::framework::Origin;
use crate::atlas::model::{
    CaseStudy, Mitigation, MitigationLink, ProcedureStep, Release, SourceFormat, Tactic, parent_from_id,
    tactic_shortname,
};

fn tactic(id: &str, name: &str) -> Tactic {
    Tactic {
        id: id.into(),
        name: name.into(),
        shortname: tactic_shortname(name),
        attack_reference: None,
        created: None,
        modified: None,
        summary: None,
        description: None,
    }
}

fn technique(id: &str, name: &str, tactic: &str) -> Technique {
    Technique {
        id: id.into(),
        name: name.into(),
        parent: parent_from_id(id).map(str::to_string),
        tactics: vec![tactic.into()],
        maturity: None,
        platforms: vec![],
        attack_reference: None,
        created: None,
        modified: None,
        summary: None,
        description: None,
    }
}

fn mitigation(id: &str, name: &str, category: &str, techniques: &[&str]) -> Mitigation {
    Mitigation {
        id: id.into(),
        name: name.into(),
        categories: vec![category.into()],
        lifecycle_phases: vec![],
        techniques: techniques.iter().map(|t| MitigationLink { technique: t.to_string(), description: None }).collect(),
        attack_reference: None,
        created: None,
        modified: None,
        summary: None,
        description: None,
    }
}

fn study(id: &str, technique: &str) -> CaseStudy {
    CaseStudy {
        id: id.into(),
        name: format!("Study {id}"),
        kind: None,
        date: None,
        date_granularity: None,
        target: None,
        actor: None,
        reporter: None,
        steps: vec![ProcedureStep { tactic: "AML.TA0002".into(), technique: technique.into(), description: None }],
        description: None,
    }
}

pub(crate) fn framework(
    version: &str,
    tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    mitigations: Vec<Mitigation>,
    studies: Vec<CaseStudy>,
) -> Framework {
    let release = Release {
        version: version.into(),
        format: SourceFormat::Calendar,
        date: None,
        tactics,
        techniques,
        mitigations,
        case_studies: studies,
    };
    Framework::new(release, Origin::Bundled)
}

pub(crate) fn older() -> Framework {
    framework(
        "2026.05",
        vec![
            tactic("AML.TA0002", "Reconnaissance"),
            tactic("AML.TA0011", "Impact"),
            tactic("AML.TA0001", "AI Attack Staging"),
        ],
        vec![
            technique("AML.T0006", "Replicate ML Model", "AML.TA0001"),
            technique("AML.T0019", "Publish Poisoned Datasets", "AML.TA0001"),
            technique("AML.T0020", "Poison Training Data", "AML.TA0001"),
            technique("AML.T0040", "Inference API Access", "AML.TA0002"),
            technique("AML.T0058", "Publish Poisoned Models", "AML.TA0001"),
            technique("AML.T0072", "Reverse Shell", "AML.TA0011"),
            technique("AML.T0104", "Publish Poisoned AI Agent Tool", "AML.TA0001"),
        ],
        vec![mitigation("AML.M0001", "Limit Queries", "Technical - ML", &["AML.T0019", "AML.T0058", "AML.T0040"])],
        vec![study("AML.CS0001", "AML.T0040")],
    )
}

pub(crate) fn newer() -> Framework {
    let mut dated = technique("AML.T0040", "Inference API Access", "AML.TA0011");
    dated.modified = Some("2026-09-01".into());
    framework(
        "2026.09",
        vec![
            tactic("AML.TA0001", "AI Attack Adaptation"),
            tactic("AML.TA0002", "Reconnaissance"),
            tactic("AML.TA0011", "Impact"),
        ],
        vec![
            technique("AML.T0006", "Active Scanning", "AML.TA0002"),
            technique("AML.T0020", "Training Data Poisoning", "AML.TA0001"),
            dated,
            technique("AML.T0072", "Cyber Communication Channel", "AML.TA0011"),
            technique("AML.T0115", "Publish Poisoned AI Artifacts", "AML.TA0001"),
            technique("AML.T0115.000", "Datasets", "AML.TA0001"),
            technique("AML.T0115.001", "Models", "AML.TA0001"),
            technique("AML.T0115.002", "AI Agent Tools", "AML.TA0001"),
        ],
        vec![
            mitigation(
                "AML.M0001",
                "Limit AI Service Query Volume",
                "Technical - AI",
                &["AML.T0115.000", "AML.T0115.001", "AML.T0040"],
            ),
            mitigation("AML.M0002", "Vet Artifacts", "Policy", &["AML.T0115"]),
        ],
        vec![study("AML.CS0002", "AML.T0040")],
    )
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

#[test]
fn a_fold_into_a_new_parent_proposes_each_sub_technique_as_successor() {
    let diff = diff(&older(), &newer());
    let proposals: Vec<(String, Option<String>)> =
        diff.removed.iter().map(|r| (r.id.clone(), r.successor.as_ref().map(|s| s.id.clone()))).collect();
    assert_eq!(
        proposals,
        [
            ("AML.T0019".to_string(), Some("AML.T0115.000".to_string())),
            ("AML.T0058".to_string(), Some("AML.T0115.001".to_string())),
            ("AML.T0104".to_string(), Some("AML.T0115.002".to_string())),
        ]
    );
    let datasets = diff.removed[0].successor.as_ref().unwrap();
    assert!(datasets.evidence.contains(&Evidence::NameAsSubtechnique), "{datasets:?}");
    assert!(datasets.reason.contains("sub-technique"), "the reason is shown: {}", datasets.reason);
    assert_eq!(ids(&diff.added, |t| &t.id), ["AML.T0115", "AML.T0115.000", "AML.T0115.001", "AML.T0115.002"]);
}

#[test]
fn an_unrelated_name_in_another_tactic_is_possibly_reused_not_renamed() {
    let diff = diff(&older(), &newer());
    assert_eq!(ids(&diff.possibly_reused, |r| &r.id), ["AML.T0006"]);
    assert!(diff.possibly_reused[0].reason.contains("no tactic in common"));
    // A real rename keeps the tactic, even when no word is shared.
    assert_eq!(ids(&diff.renamed, |r| &r.id), ["AML.T0020", "AML.T0072"]);
    assert_eq!(ids(&diff.moved, |m| &m.id), ["AML.T0006", "AML.T0040"]);
}

#[test]
fn tactics_mitigations_links_and_case_studies_are_compared_and_dates_are_not() {
    let diff = diff(&older(), &newer());
    assert_eq!(diff.tactics_renamed.len(), 1);
    assert_eq!(diff.tactics_renamed[0].new_name, "AI Attack Adaptation");
    // Only the tactic that changed column is reported, not those it pushed along.
    assert_eq!(ids(&diff.tactics_reordered, |r| &r.id), ["AML.TA0001"]);
    assert_eq!((diff.tactics_reordered[0].old_position, diff.tactics_reordered[0].new_position), (3, 1));
    assert_eq!(ids(&diff.mitigations_renamed, |r| &r.id), ["AML.M0001"]);
    assert_eq!(ids(&diff.mitigation_categories_changed, |c| &c.id), ["AML.M0001"]);
    assert_eq!(ids(&diff.mitigations_added, |m| &m.id), ["AML.M0002"]);
    let link = |m: &str, t: &str| Link { mitigation_id: m.into(), technique_id: t.into() };
    assert_eq!(diff.links_removed, [link("AML.M0001", "AML.T0019"), link("AML.M0001", "AML.T0058")]);
    assert_eq!(
        diff.links_added,
        [link("AML.M0001", "AML.T0115.000"), link("AML.M0001", "AML.T0115.001"), link("AML.M0002", "AML.T0115")]
    );
    assert_eq!(ids(&diff.case_studies_added, |c| &c.id), ["AML.CS0002"]);
    assert_eq!(ids(&diff.case_studies_removed, |c| &c.id), ["AML.CS0001"]);
    // T0040 only moved; its new `modified` date is not a change of its own.
    let unchanged = framework("same", older().tactics().to_vec(), older().techniques().to_vec(), vec![], vec![]);
    let mut touched: Vec<Technique> = older().techniques().to_vec();
    touched.iter_mut().for_each(|t| t.modified = Some("2027-01-01".into()));
    let retouched = framework("later", older().tactics().to_vec(), touched, vec![], vec![]);
    assert!(super::diff(&unchanged, &retouched).is_empty());
}

#[test]
fn a_retired_technique_with_no_evidence_gets_no_successor() {
    let old = framework(
        "a",
        vec![tactic("AML.TA0002", "Reconnaissance")],
        vec![
            technique("AML.T0001", "Search Open Repositories", "AML.TA0002"),
            technique("AML.T0002", "Gather Artifacts", "AML.TA0002"),
        ],
        vec![],
        vec![],
    );
    let new = framework(
        "b",
        vec![tactic("AML.TA0002", "Reconnaissance")],
        vec![technique("AML.T0002", "Gather Artifacts", "AML.TA0002")],
        vec![],
        vec![],
    );
    let diff = diff(&old, &new);
    assert_eq!(diff.removed.len(), 1);
    assert!(diff.removed[0].successor.is_none());
    assert!(diff.to_string().contains("AML.T0001 Search Open Repositories: no successor in the data"));
}
