//! A successor for a retired technique, proposed from the evidence the two
//! releases offer: the same ATT&CK technique, the old name now carried by a
//! sub-technique, a similar name, and the mitigations they share. The
//! strongest candidate is proposed with every piece of evidence for it;
//! with no evidence there is no proposal.

use std::collections::BTreeSet;

use serde::Serialize;
use utoipa::ToSchema;

use super::names;
use crate::atlas::Framework;
use crate::atlas::model::Technique;

/// One reason to think a technique took over from a retired one.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Both map to this ATT&CK technique.
    SameAttackTechnique { attack_id: String },
    /// The retired name is now the name of a sub-technique (a fold into a new parent).
    NameAsSubtechnique,
    /// The names share this share of their words (0 to 1).
    SimilarName { similarity: f64 },
    /// Mitigations linked to both, of those linked to either.
    SharedMitigations { shared: usize, of: usize },
}

impl Evidence {
    fn weight(&self) -> f64 {
        match self {
            Evidence::SameAttackTechnique { .. } => 3.0,
            Evidence::NameAsSubtechnique => 3.0,
            Evidence::SimilarName { similarity } => 2.0 * similarity,
            Evidence::SharedMitigations { shared, of } => *shared as f64 / (*of).max(1) as f64,
        }
    }

    /// The evidence in a sentence, as the upgrade preview shows it.
    pub fn describe(&self) -> String {
        match self {
            Evidence::SameAttackTechnique { attack_id } => format!("both map to ATT&CK {attack_id}"),
            Evidence::NameAsSubtechnique => "its name is now a sub-technique's".to_string(),
            Evidence::SimilarName { similarity } => {
                format!("similar name ({:.0}% of words shared)", similarity * 100.0)
            }
            Evidence::SharedMitigations { shared, of } => format!("shares {shared} of {of} mitigations"),
        }
    }
}

/// A proposed successor and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Successor {
    pub id: String,
    pub name: String,
    pub evidence: Vec<Evidence>,
    /// The evidence in words, joined.
    pub reason: String,
}

/// Name similarity that counts as evidence on its own.
const SIMILAR_NAME: f64 = 0.5;
/// The least total weight a proposal needs.
const ENOUGH: f64 = 1.0;

fn mitigations_of(framework: &Framework, technique: &str) -> BTreeSet<String> {
    framework.mitigations_for(technique).map(|m| m.id.clone()).collect()
}

/// True when `candidate` is a sub-technique that carries the retired name:
/// the same words, or its parent's words and its own together (ATLAS folds
/// "Publish Poisoned Datasets" into "Publish Poisoned AI Artifacts: Datasets").
fn named_as_subtechnique(retired: &Technique, new: &Framework, candidate: &Technique) -> bool {
    let Some(parent) = candidate.parent.as_deref().and_then(|id| new.technique(id)) else {
        return false;
    };
    let (retired_words, own) = (names::words(&retired.name), names::words(&candidate.name));
    if retired_words == own {
        return true;
    }
    let parent_words = names::words(&parent.name);
    !own.is_empty() && own.is_subset(&retired_words) && retired_words.difference(&own).all(|w| parent_words.contains(w))
}

fn evidence(
    retired: &Technique,
    retired_mitigations: &BTreeSet<String>,
    new: &Framework,
    candidate: &Technique,
) -> Vec<Evidence> {
    let mut found = Vec::new();
    if let (Some(a), Some(b)) = (&retired.attack_reference, &candidate.attack_reference)
        && a.id == b.id
    {
        found.push(Evidence::SameAttackTechnique { attack_id: a.id.clone() });
    }
    let similarity = names::similarity(&retired.name, &candidate.name);
    if named_as_subtechnique(retired, new, candidate) {
        found.push(Evidence::NameAsSubtechnique);
    } else if similarity >= SIMILAR_NAME {
        found.push(Evidence::SimilarName { similarity: (similarity * 1000.0).round() / 1000.0 });
    }
    if !retired_mitigations.is_empty() {
        let theirs = mitigations_of(new, &candidate.id);
        let shared = retired_mitigations.intersection(&theirs).count();
        let of = retired_mitigations.union(&theirs).count();
        if shared >= 2 && shared * 2 >= of {
            found.push(Evidence::SharedMitigations { shared, of });
        }
    }
    found
}

/// The best-supported successor of `retired` (a technique of `old`) in
/// `new`, if any candidate has enough evidence. Ties go to the technique
/// the old release did not have (a new home), then to the lower ID.
pub fn propose(old: &Framework, new: &Framework, retired: &Technique) -> Option<Successor> {
    let retired_mitigations = mitigations_of(old, &retired.id);
    let mut best: Option<(f64, bool, &Technique, Vec<Evidence>)> = None;
    for candidate in new.techniques() {
        let found = evidence(retired, &retired_mitigations, new, candidate);
        let weight: f64 = found.iter().map(Evidence::weight).sum();
        if weight < ENOUGH {
            continue;
        }
        let is_new = old.technique(&candidate.id).is_none();
        let better = match &best {
            None => true,
            Some((w, n, _, _)) => weight > *w || (weight == *w && is_new && !n),
        };
        if better {
            best = Some((weight, is_new, candidate, found));
        }
    }
    best.map(|(_, _, technique, evidence)| Successor {
        id: technique.id.clone(),
        name: technique.name.clone(),
        reason: evidence.iter().map(Evidence::describe).collect::<Vec<_>>().join("; "),
        evidence,
    })
}
