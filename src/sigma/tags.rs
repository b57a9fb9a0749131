//! Technique references as rule sets write them, read into ATLAS or ATT&CK
//! technique IDs. Sigma has no `atlas` namespace, so public rule sets spell
//! ATLAS techniques many ways: `atlas.aml.t0051.000`, `AML.T0051.000`,
//! `attack.atlas.aml.t0051`, `mitre.atlas.aml.t0051`, `aml_t0051_000`,
//! `AML.T0051 - LLM Prompt Injection`. ATT&CK techniques are
//! `attack.t1566.001`. Tactic tags (`atlas.aml.ta0005`, `attack.execution`)
//! and every other namespace name no technique.

/// A technique a tag names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TechniqueRef {
    /// An ATLAS technique ID in its official form (`AML.T0051.000`).
    Atlas(String),
    /// An ATT&CK technique ID (`T1566.001`).
    Attack(String),
}

/// Prefixes a reference may carry before the ID, in any order.
const NAMESPACES: [&str; 4] = ["mitre", "atlas", "attack", "mitre-atlas"];

/// Reads one tag or reference; `None` when it names no technique.
pub fn technique_ref(raw: &str) -> Option<TechniqueRef> {
    // "AML.T0051 - LLM Prompt Injection": the ID is the first word.
    let word = raw.trim().split(|c: char| c.is_whitespace()).next()?.to_ascii_lowercase();
    let word = word.trim_end_matches([',', ';', ':']);
    let mut rest = word;
    let mut namespaces = Vec::new();
    let separated =
        |rest: &str, ns: &str| rest.strip_prefix(ns).is_some_and(|after| after.starts_with(['.', '_', '-', ':']));
    while let Some(ns) = NAMESPACES.iter().find(|ns| separated(rest, ns)) {
        namespaces.push(*ns);
        rest = &rest[ns.len() + 1..];
    }
    if let Some(id) = rest.strip_prefix("aml").and_then(|r| r.strip_prefix(['.', '_', '-'])) {
        return numbered(id, 4).map(|(number, sub)| TechniqueRef::Atlas(official("AML.T", &number, sub.as_deref())));
    }
    // A bare `t1566` is ATT&CK only under the `attack` namespace, alone.
    if namespaces == ["attack"] {
        return numbered(rest, 4).map(|(number, sub)| TechniqueRef::Attack(official("T", &number, sub.as_deref())));
    }
    None
}

/// `t0051`, `t0051.000`, `t0051_000`: the number and the optional
/// sub-technique number, each of the given width, and nothing after.
fn numbered(text: &str, width: usize) -> Option<(String, Option<String>)> {
    let digits = text.strip_prefix('t')?;
    let number: String = digits.chars().take_while(char::is_ascii_digit).collect();
    if number.len() != width {
        return None;
    }
    let after = &digits[number.len()..];
    if after.is_empty() {
        return Some((number, None));
    }
    let sub = after.strip_prefix(['.', '_', '-'])?;
    (sub.len() == 3 && sub.chars().all(|c| c.is_ascii_digit())).then(|| (number, Some(sub.to_string())))
}

fn official(prefix: &str, number: &str, sub: Option<&str>) -> String {
    match sub {
        Some(sub) => format!("{prefix}{number}.{sub}"),
        None => format!("{prefix}{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atlas(id: &str) -> Option<TechniqueRef> {
        Some(TechniqueRef::Atlas(id.to_string()))
    }

    #[test]
    fn atlas_ids_are_read_in_any_case_and_separator_form() {
        for raw in [
            "AML.T0051.000",
            "aml.t0051.000",
            "atlas.aml.t0051.000",
            "atlas.AML.T0051.000",
            "attack.atlas.aml.t0051.000",
            "mitre.atlas.aml.t0051.000",
            "MITRE.ATLAS.AML.T0051.000",
            "aml_t0051_000",
            "atlas.aml-t0051-000",
            "  AML.T0051.000 - Direct  ",
        ] {
            assert_eq!(technique_ref(raw), atlas("AML.T0051.000"), "{raw}");
        }
        assert_eq!(technique_ref("AML.T0051 - LLM Prompt Injection"), atlas("AML.T0051"));
    }

    #[test]
    fn attack_techniques_are_read_and_tactics_and_other_namespaces_are_not() {
        assert_eq!(technique_ref("attack.t1566.001"), Some(TechniqueRef::Attack("T1566.001".into())));
        assert_eq!(technique_ref("attack.T1059"), Some(TechniqueRef::Attack("T1059".into())));
        for raw in [
            "attack.execution",
            "atlas.aml.ta0005",
            "attack.g0001",
            "owasp.llm01",
            "cve.2021-44228",
            "t1566",
            "AML.T051",
            "AML.T0051.0001",
            "AML.T00512",
            "atlas.aml.t0051x",
            "",
        ] {
            assert_eq!(technique_ref(raw), None, "{raw}");
        }
    }
}
