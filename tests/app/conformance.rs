//! Conformance against the official ATLAS files in `../shared/atlas`: the
//! bundled data holds exactly the facts of 2026.05, and every reader gives
//! the same facts for the same content.

use std::collections::{BTreeMap, BTreeSet};

use atlascope::atlas::bundled;
use atlascope::atlas::framework::{Counts, Framework, Origin};
use atlascope::atlas::{Release, read_release};

use crate::helpers::{official, shared_atlas};

fn read(name: &str, version: Option<&str>) -> Option<Release> {
    let dir = shared_atlas()?;
    Some(read_release(&official(&dir, name), name, version).unwrap_or_else(|e| panic!("{e}")))
}

fn counts(release: Release) -> Counts {
    Framework::new(release, Origin::Bundled).counts()
}

#[test]
fn bundled_data_equals_the_facts_of_the_official_2026_05_file() {
    let Some(official) = read("ATLAS-2026.05.yaml", None) else {
        return;
    };
    let bundled = bundled::facts();
    let official = official.facts_only();
    // Compare section by section first, so a failure names what differs.
    assert_eq!(bundled.version, official.version);
    assert_eq!(bundled.tactics, official.tactics, "tactics (IDs, names, order, ATT&CK references, dates)");
    for (b, o) in bundled.techniques.iter().zip(&official.techniques) {
        assert_eq!(b, o, "technique {}", o.id);
    }
    assert_eq!(bundled.techniques.len(), official.techniques.len());
    assert_eq!(bundled.mitigations, official.mitigations, "mitigations and their technique links");
    assert_eq!(bundled.case_studies, official.case_studies, "case studies and their ordered steps");
    assert_eq!(bundled, official);
}

#[test]
fn reference_counts_of_2026_05_and_5_6_0() {
    let expected = Counts {
        tactics: 16,
        techniques: 101,
        subtechniques: 69,
        mitigations: 35,
        case_studies: 57,
        procedure_steps: 449,
    };
    let Some(calendar) = read("ATLAS-2026.05.yaml", None) else {
        return;
    };
    assert_eq!(counts(calendar), expected);
    assert_eq!(counts(bundled::facts()), expected);
    let legacy = read("ATLAS-5.6.0.yaml", None).expect("present with 2026.05");
    assert_eq!(legacy.version, "5.6.0");
    assert_eq!(counts(legacy), expected);
}

#[test]
fn older_legacy_releases_read_with_their_own_counts() {
    let Some(r550) = read("ATLAS-5.5.0.yaml", None) else {
        return;
    };
    assert_eq!(
        counts(r550),
        Counts {
            tactics: 16,
            techniques: 101,
            subtechniques: 66,
            mitigations: 35,
            case_studies: 57,
            procedure_steps: 447
        }
    );
    let r491 = read("ATLAS-4.9.1.yaml", None).expect("present");
    assert_eq!(r491.version, "4.9.1");
    assert!(r491.techniques.iter().all(|t| t.maturity.is_none()), "4.9.1 has no maturity");
    assert_eq!(
        counts(r491),
        Counts {
            tactics: 15,
            techniques: 68,
            subtechniques: 47,
            mitigations: 26,
            case_studies: 32,
            procedure_steps: 225
        }
    );
}

type Links = BTreeSet<(String, String)>;

fn links(release: &Release) -> Links {
    release
        .mitigations
        .iter()
        .flat_map(|m| m.techniques.iter().map(move |l| (m.id.clone(), l.technique.clone())))
        .collect()
}

fn placement(release: &Release) -> BTreeMap<String, (String, Option<String>, BTreeSet<String>)> {
    release
        .techniques
        .iter()
        .map(|t| (t.id.clone(), (t.name.clone(), t.parent.clone(), t.tactics.iter().cloned().collect())))
        .collect()
}

#[test]
fn legacy_and_stix_readers_give_the_same_facts_for_5_6_0() {
    let Some(legacy) = read("ATLAS-5.6.0.yaml", None) else {
        return;
    };
    let stix = read("stix-atlas.json", Some("5.6.0")).expect("present");
    let tactic_facts =
        |r: &Release| r.tactics.iter().map(|t| (t.id.clone(), t.name.clone(), t.shortname.clone())).collect::<Vec<_>>();
    assert_eq!(tactic_facts(&legacy), tactic_facts(&stix), "tactics and their matrix order");
    assert_eq!(placement(&legacy), placement(&stix), "technique names, parents and tactics");
    let names = |r: &Release| r.mitigations.iter().map(|m| (m.id.clone(), m.name.clone())).collect::<Vec<_>>();
    assert_eq!(names(&legacy), names(&stix));

    // The legacy reader recovers the two links the official data misplaced
    // inside `ml-lifecycle`; the official STIX build lost them. Otherwise equal.
    let (legacy_links, stix_links) = (links(&legacy), links(&stix));
    let recovered: Links = legacy_links.difference(&stix_links).cloned().collect();
    let expected: Links = [("AML.M0018", "AML.T0052.001"), ("AML.M0034", "AML.T0052.001")]
        .into_iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect();
    assert_eq!(recovered, expected);
    assert!(stix_links.is_subset(&legacy_links));
    assert_eq!(legacy_links.len(), 246);
}

#[test]
fn the_calendar_2026_04_file_matches_legacy_5_6_0() {
    let Some(legacy) = read("ATLAS-5.6.0.yaml", None) else {
        return;
    };
    let calendar = read("ATLAS-2026.04.yaml", None).expect("present");
    // 2026.04 is 5.6.0 migrated: sub-techniques lack relationships there,
    // so parents and tactics come from the IDs and the parents.
    assert_eq!(placement(&legacy), placement(&calendar));
    assert_eq!(links(&legacy), links(&calendar));
    let steps = |r: &Release| {
        r.case_studies
            .iter()
            .map(|c| {
                (c.id.clone(), c.steps.iter().map(|s| (s.tactic.clone(), s.technique.clone())).collect::<Vec<_>>())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&legacy), steps(&calendar), "case-study steps in attack order");
}

#[test]
fn calendar_steps_are_rebuilt_in_attack_order() {
    let Some(release) = read("ATLAS-2026.05.yaml", None) else {
        return;
    };
    let cs0000 = release.case_studies.iter().find(|c| c.id == "AML.CS0000").expect("AML.CS0000");
    // The file stores steps sorted by technique; S00 uses AML.T0000.001.
    assert_eq!(cs0000.steps[0].technique, "AML.T0000.001");
    assert_eq!(cs0000.steps[1].technique, "AML.T0002.000");
}

#[test]
fn the_diff_of_5_5_0_to_2026_05_finds_the_three_new_sub_techniques() {
    let Some(old) = read("ATLAS-5.5.0.yaml", None) else {
        return;
    };
    let new = read("ATLAS-2026.05.yaml", None).expect("present");
    let changes = atlascope::domain::release_diff::diff(
        &Framework::new(old, Origin::Bundled),
        &Framework::new(new, Origin::Bundled),
    );
    let added: Vec<_> = changes.added.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(added, ["AML.T0002.002", "AML.T0052.001", "AML.T0095.000"]);
    assert!(changes.removed.is_empty() && changes.renamed.is_empty() && changes.reparented.is_empty());
}

#[test]
fn the_4_9_1_to_5_6_0_diff_finds_the_known_rename_and_moves() {
    let Some(old) = read("ATLAS-4.9.1.yaml", None) else {
        return;
    };
    let new = read("ATLAS-5.6.0.yaml", None).expect("present");
    let changes = atlascope::domain::release_diff::diff(
        &Framework::new(old, Origin::Bundled),
        &Framework::new(new, Origin::Bundled),
    );
    assert!(
        changes.renamed.iter().any(|r| r.id == "AML.T0053" && r.new_name == "AI Agent Tool Invocation"),
        "{changes}"
    );
    let moved: Vec<_> = changes.moved.iter().map(|m| m.id.as_str()).collect();
    assert!(moved.contains(&"AML.T0012") && moved.contains(&"AML.T0052"), "{moved:?}");
    assert!(changes.maturity_changed.is_empty(), "4.9.1 states no maturity, so none can change");
}

#[test]
fn the_official_chain_from_4_9_1_to_2026_05_reuses_no_id_and_loses_no_technique() {
    let Some(first) = read("ATLAS-4.9.1.yaml", None) else {
        return;
    };
    let mut previous = Framework::new(first, Origin::Bundled);
    for name in ["ATLAS-5.5.0.yaml", "ATLAS-5.6.0.yaml", "ATLAS-2026.04.yaml", "ATLAS-2026.05.yaml"] {
        let next = Framework::new(read(name, None).expect("present"), Origin::Bundled);
        let changes = atlascope::domain::release_diff::diff(&previous, &next);
        assert!(changes.possibly_reused.is_empty(), "{name}: {changes}");
        assert!(changes.removed.is_empty(), "{name}: no technique was retired in this chain: {changes}");
        assert!(changes.tactics_removed.is_empty() && changes.tactics_reordered.is_empty(), "{name}: {changes}");
        previous = next;
    }
    // 2026.04 and 2026.05 hold the same techniques, tactics and mitigations.
    let april = Framework::new(read("ATLAS-2026.04.yaml", None).expect("present"), Origin::Bundled);
    let changes = atlascope::domain::release_diff::diff(&april, &previous);
    assert!(
        changes.added.is_empty() && changes.renamed.is_empty() && changes.mitigations_renamed.is_empty(),
        "{changes}"
    );
}

#[test]
fn official_navigator_layers_are_refused_with_the_reason() {
    let Some(dir) = shared_atlas() else { return };
    let err = read_release(&official(&dir, "atlas_layer_matrix.json"), "atlas_layer_matrix.json", None).unwrap_err();
    assert!(err.to_string().contains("Navigator layer"), "{err}");
}

#[test]
fn a_truncated_official_file_names_the_file_and_line() {
    let Some(dir) = shared_atlas() else { return };
    let bytes = official(&dir, "ATLAS-2026.05.yaml");
    let cut = &bytes[..bytes.len() / 3];
    let err = read_release(cut, "ATLAS-2026.05.yaml", None).unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("ATLAS-2026.05.yaml: "), "{message}");
    assert!(message.contains("line ") || message.contains("missing field"), "{message}");
}
