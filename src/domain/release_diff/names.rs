//! How alike two ATLAS names are. Names are compared as sets of words,
//! lower-cased, with "ML" and "machine learning" read as "AI" (ATLAS renamed
//! them wholesale in 2025), common short words left out, and a few English
//! endings dropped so that "Poison" and "Poisoning" meet.

use std::collections::BTreeSet;

const STOP_WORDS: [&str; 14] =
    ["a", "an", "and", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to", "via"];

/// The words of a name that carry meaning.
pub fn words(name: &str) -> BTreeSet<String> {
    let lower = name.to_lowercase().replace("machine learning", "ai");
    lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && !STOP_WORDS.contains(word))
        .map(|word| if word == "ml" { "ai".to_string() } else { stem(word) })
        .collect()
}

fn stem(word: &str) -> String {
    for ending in ["ing", "ed", "es", "s"] {
        if let Some(stem) = word.strip_suffix(ending)
            && stem.chars().count() >= 4
        {
            return stem.to_string();
        }
    }
    word.to_string()
}

/// The share of words two names have in common, from 0 (none) to 1 (the
/// same words): twice the shared words over the words of both.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (words(a), words(b));
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.intersection(&b).count();
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_atlas_made_read_as_alike_and_unrelated_names_do_not() {
        assert_eq!(similarity("ML Model Inference API Access", "AI Model Inference API Access"), 1.0);
        assert_eq!(similarity("Machine Learning Supply Chain", "AI Supply Chain"), 1.0);
        assert!(similarity("Poison Training Data", "Training Data Poisoning") > 0.9);
        assert!(similarity("Publish Poisoned Datasets", "Publish Poisoned AI Artifacts") >= 0.5);
        assert_eq!(similarity("Replicate ML Model", "Active Scanning"), 0.0);
        assert_eq!(similarity("Reverse Shell", "Cyber Communication Channel"), 0.0);
    }
}
