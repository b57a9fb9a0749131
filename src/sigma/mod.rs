//! Reading detection rules: Sigma rule files (one rule, or several YAML
//! documents in one file), many files, or a zip of them, and the
//! Sigma-like rule packs public ATLAS rule sets publish (no `logsource`,
//! a top-level `atlas:` list, `references.mitre_atlas`, tags given as a
//! map). Every rule keeps the file and line it came from; every departure
//! from strict Sigma is a warning on the rule; a file that is not YAML is
//! refused naming the file and line. Pure: the caller passes the bytes.
//!
//! Budgets: [`MAX_UPLOAD_BYTES`] in all, [`MAX_FILES`] files (a zip's
//! entries counted), [`MAX_RULES`] rules, and the YAML budgets of
//! [`crate::atlas::yaml_budget`] (nesting depth, no aliases) per file.

pub mod tags;

use std::collections::BTreeSet;
use std::io::Read;

use yaml_serde::Value;

pub use tags::{TechniqueRef, technique_ref};

/// Most bytes read in one import, a zip's unpacked entries counted.
pub const MAX_UPLOAD_BYTES: usize = 8 * 1024 * 1024;
/// Most files in one import.
pub const MAX_FILES: usize = 5_000;
/// Most rules in one import.
pub const MAX_RULES: usize = 10_000;
/// Longest rule title kept (Sigma allows 256 characters).
const MAX_TITLE: usize = 256;

/// A file as uploaded: its name and bytes.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// One rule as read, before it is matched against ATLAS.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub file: String,
    /// 1-based line of the file where the rule's document starts.
    pub line: usize,
    pub id: String,
    pub title: String,
    pub description: String,
    /// `product`, `category` and `service` of the `logsource`, as "key: value".
    pub data_sources: Vec<String>,
    /// The first reference that is a link.
    pub reference: String,
    /// Technique references in the order they were found, each once.
    pub techniques: Vec<TechniqueRef>,
    /// The rule's YAML document, kept with the detection.
    pub text: String,
    pub warnings: Vec<String>,
}

impl Rule {
    /// "rules/a.yml line 12".
    pub fn at(&self) -> String {
        format!("{} line {}", self.file, self.line)
    }
}

/// A document that is not a usable rule, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub at: String,
    pub title: String,
    pub reason: String,
}

/// Everything read from an upload.
#[derive(Debug, Clone, Default)]
pub struct ReadRules {
    pub files: usize,
    pub rules: Vec<Rule>,
    /// Documents without an id or title, rule collections, …
    pub skipped: Vec<Skipped>,
    /// Things about the upload as a whole (a zip entry that is not YAML).
    pub warnings: Vec<String>,
}

/// Why an upload is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(file: &str, line: Option<usize>, message: impl std::fmt::Display) -> Refused {
    match line {
        Some(line) => Refused(format!("{file} line {line}: {message}")),
        None => Refused(format!("{file}: {message}")),
    }
}

/// True for bytes that start a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Reads every rule of the files (a zip is opened and its YAML entries read).
pub fn read(files: Vec<RuleFile>) -> Result<ReadRules, Refused> {
    let mut read = ReadRules::default();
    let mut budget = MAX_UPLOAD_BYTES;
    let mut queue: Vec<RuleFile> = Vec::new();
    for file in files {
        if is_zip(&file.bytes) {
            queue.extend(unzip(&file, &mut budget, &mut read.warnings)?);
        } else {
            budget = budget.checked_sub(file.bytes.len()).ok_or_else(|| over_size(&file.name))?;
            queue.push(file);
        }
        if queue.len() > MAX_FILES {
            return Err(Refused(format!("more than {MAX_FILES} files in one import")));
        }
    }
    for file in queue {
        read.files += 1;
        read_file(&file, &mut read)?;
        if read.rules.len() > MAX_RULES {
            return Err(Refused(format!("more than {MAX_RULES} rules in one import")));
        }
    }
    if read.rules.is_empty() {
        let first = read.skipped.first().map(|s| format!(" ({}: {})", s.at, s.reason)).unwrap_or_default();
        return Err(Refused(format!("no rule was found: no document has both an `id` and a `title`{first}")));
    }
    check_unique_ids(&read.rules)?;
    Ok(read)
}

fn over_size(name: &str) -> Refused {
    refused(name, None, format!("the import is larger than its limit of {} MB", MAX_UPLOAD_BYTES / (1024 * 1024)))
}

fn is_yaml_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yml") || lower.ends_with(".yaml")
}

/// The YAML entries of a zip, unpacked within the byte budget.
fn unzip(file: &RuleFile, budget: &mut usize, warnings: &mut Vec<String>) -> Result<Vec<RuleFile>, Refused> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&file.bytes))
        .map_err(|e| refused(&file.name, None, format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_FILES {
        return Err(refused(&file.name, None, format!("holds more than {MAX_FILES} files")));
    }
    let mut entries = Vec::new();
    for index in 0..archive.len() {
        let mut entry =
            archive.by_index(index).map_err(|e| refused(&file.name, None, format!("entry {index} unreadable: {e}")))?;
        let inner = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {index}"));
        let name = format!("{}/{inner}", file.name);
        if entry.is_dir() {
            continue;
        }
        if !is_yaml_name(&inner) {
            warnings.push(format!("{name}: not a .yml or .yaml file; left out"));
            continue;
        }
        // The declared size may lie: read at most what the budget has left, plus one byte to notice.
        let mut bytes = Vec::new();
        (&mut entry)
            .take(*budget as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refused(&name, None, format!("cannot be unpacked: {e}")))?;
        *budget = budget.checked_sub(bytes.len()).ok_or_else(|| over_size(&name))?;
        entries.push(RuleFile { name, bytes });
    }
    Ok(entries)
}

/// The 1-based line of each YAML document's first content line (comments
/// and blank lines skipped), documents being split at `---` markers.
fn document_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut waiting = true;
    for (index, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            waiting = true;
            continue;
        }
        let trimmed = line.trim();
        if waiting && !trimmed.is_empty() && !trimmed.starts_with('#') {
            starts.push(index + 1);
            waiting = false;
        }
    }
    starts
}

/// The text of each document, split at the `---` markers.
fn document_texts(text: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        if line.starts_with("---") {
            documents.push(String::new());
            continue;
        }
        let current = documents.last_mut().expect("one document at least");
        current.push_str(line);
        current.push('\n');
    }
    documents.retain(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    documents
}

fn read_file(file: &RuleFile, read: &mut ReadRules) -> Result<(), Refused> {
    let text = std::str::from_utf8(&file.bytes).map_err(|e| {
        let line = file.bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        refused(&file.name, Some(line), "is not UTF-8 text")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::atlas::yaml_budget::check(text).map_err(|over| refused(&file.name, Some(over.line), over.message))?;
    let mut values = Vec::new();
    for document in yaml_serde::Deserializer::from_str(text) {
        let value = <Value as serde::Deserialize>::deserialize(document).map_err(|e| {
            let line = e.location().map(|l| l.line());
            refused(&file.name, line, format!("is not valid YAML: {}", first_sentence(&e.to_string())))
        })?;
        if !value.is_null() {
            values.push(value);
        }
    }
    let lines = document_lines(text);
    let texts = document_texts(text);
    for (index, value) in values.into_iter().enumerate() {
        let line = lines.get(index).copied().unwrap_or(1);
        let document = texts.get(index).cloned().unwrap_or_default();
        match rule(&file.name, line, &value, document) {
            Ok(rule) => read.rules.push(rule),
            Err(skipped) => read.skipped.push(skipped),
        }
    }
    Ok(())
}

/// The parser's message without its repeated location.
fn first_sentence(message: &str) -> String {
    message.split(" at line ").next().unwrap_or(message).to_string()
}

/// Top-level keys of the Sigma rule specification.
const SIGMA_KEYS: [&str; 19] = [
    "title",
    "id",
    "related",
    "name",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "logsource",
    "detection",
    "fields",
    "falsepositives",
    "level",
    "tags",
    "scope",
];

/// Keys outside Sigma that rule packs use to name ATLAS techniques.
const TECHNIQUE_KEYS: [&str; 3] = ["atlas", "mitre_atlas", "atlas_techniques"];

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every string of a value: itself, a list's items, a map's values (nested once).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        Value::Mapping(map) => map.values().flat_map(strings).collect(),
        other => scalar_text(other).into_iter().collect(),
    }
}

fn rule(file: &str, line: usize, value: &Value, text: String) -> Result<Rule, Skipped> {
    let at = format!("{file} line {line}");
    let Value::Mapping(map) = value else {
        return Err(Skipped { at, title: String::new(), reason: "the document is not a mapping of keys".into() });
    };
    let get = |key: &str| map.get(key);
    let title = get("title").and_then(scalar_text).map(|t| t.trim().to_string()).unwrap_or_default();
    if get("action").and_then(scalar_text).is_some_and(|a| a == "global" || a == "reset" || a == "repeat") {
        return Err(Skipped { at, title, reason: "Sigma rule collections (`action: global`) are not read".into() });
    }
    let id = get("id").and_then(scalar_text).map(|t| t.trim().to_string()).unwrap_or_default();
    if id.is_empty() || title.is_empty() {
        let missing = match (id.is_empty(), title.is_empty()) {
            (true, true) => "an `id` and a `title`",
            (true, false) => "an `id`",
            _ => "a `title`",
        };
        return Err(Skipped { at, title, reason: format!("the rule lacks {missing}") });
    }
    if id.chars().count() > 200 || id.chars().any(char::is_control) {
        return Err(Skipped { at, title, reason: "the rule's `id` is not a short single-line value".into() });
    }
    let mut warnings = Vec::new();
    let title = if title.chars().count() > MAX_TITLE {
        warnings.push(format!("the title is longer than {MAX_TITLE} characters; cut"));
        title.chars().take(MAX_TITLE).collect()
    } else {
        title
    };

    let mut found: Vec<String> = Vec::new();
    match get("tags") {
        None => {}
        Some(Value::Sequence(items)) => {
            for item in items {
                match scalar_text(item) {
                    Some(tag) => {
                        if tag.chars().any(|c| c.is_ascii_uppercase()) && technique_ref(&tag).is_some() {
                            warnings.push(format!("tag `{tag}` is not lower case, as Sigma requires"));
                        }
                        found.push(tag);
                    }
                    None => warnings.push("`tags` holds an entry that is not a text; ignored".into()),
                }
            }
        }
        Some(Value::Mapping(groups)) => {
            warnings.push("`tags` is a map, not the list Sigma requires; its values were read".into());
            // A map of lists names the namespace in its key (`attack: [t1566.001]`).
            for (key, value) in groups {
                let key = scalar_text(key).unwrap_or_default();
                for tag in strings(value) {
                    found.push(format!("{key}.{tag}"));
                    found.push(tag);
                }
            }
        }
        Some(other) => {
            warnings.push("`tags` is a single value, not the list Sigma requires".into());
            found.extend(strings(other));
        }
    }
    for key in TECHNIQUE_KEYS {
        if let Some(value) = get(key) {
            warnings.push(format!("top-level `{key}` is not a Sigma key; its technique IDs were read"));
            found.extend(strings(value));
        }
    }
    let mut reference = String::new();
    match get("references") {
        Some(Value::Sequence(items)) => {
            reference = items.iter().filter_map(scalar_text).find(|r| is_link(r)).unwrap_or_default();
        }
        Some(Value::Mapping(refs)) => {
            warnings.push("`references` is a map, not the list of links Sigma requires".into());
            for (key, value) in refs {
                let key = scalar_text(key).unwrap_or_default();
                if TECHNIQUE_KEYS.contains(&key.as_str()) {
                    found.extend(strings(value));
                } else if reference.is_empty() {
                    reference = strings(value).into_iter().find(|r| is_link(r)).unwrap_or_default();
                }
            }
        }
        _ => {}
    }
    let mut seen = BTreeSet::new();
    let techniques: Vec<TechniqueRef> =
        found.iter().filter_map(|raw| technique_ref(raw)).filter(|r| seen.insert(r.clone())).collect();

    let mut data_sources = Vec::new();
    match get("logsource") {
        Some(Value::Mapping(source)) => {
            for key in ["product", "category", "service"] {
                if let Some(value) = source.get(key).and_then(scalar_text) {
                    data_sources.push(format!("{key}: {}", value.trim()));
                }
            }
        }
        Some(_) => warnings.push("`logsource` is not a mapping".into()),
        None => warnings.push("no `logsource`: the data it needs is not stated".into()),
    }
    if get("detection").is_none() {
        warnings.push("no `detection` section".into());
    }
    let extra: Vec<String> = map
        .keys()
        .filter_map(scalar_text)
        .filter(|k| !SIGMA_KEYS.contains(&k.as_str()) && !TECHNIQUE_KEYS.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        warnings.push(format!("keys outside Sigma: {}", extra.join(", ")));
    }
    let description = get("description").and_then(scalar_text).unwrap_or_default().trim().to_string();
    Ok(Rule {
        file: file.to_string(),
        line,
        id,
        title,
        description,
        data_sources,
        reference,
        techniques,
        text,
        warnings,
    })
}

fn is_link(text: &str) -> bool {
    let lower = text.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// Refuses an upload naming one rule id twice (ids are compared without regard to case).
fn check_unique_ids(rules: &[Rule]) -> Result<(), Refused> {
    let mut first: std::collections::HashMap<String, &Rule> = std::collections::HashMap::new();
    for rule in rules {
        if let Some(earlier) = first.insert(rule.id.to_lowercase(), rule) {
            return Err(Refused(format!(
                "rule id {} is given twice: {} and {}; each rule needs its own id",
                rule.id,
                earlier.at(),
                rule.at()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> RuleFile {
        let path = format!("{}/tests/fixtures/sigma/{name}", env!("CARGO_MANIFEST_DIR"));
        RuleFile { name: name.to_string(), bytes: std::fs::read(&path).expect("fixture") }
    }

    fn atlas(id: &str) -> TechniqueRef {
        TechniqueRef::Atlas(id.to_string())
    }

    #[test]
    fn strict_sigma_list_tags_read_without_warnings() {
        let read = read(vec![fixture("list_tags.yml")]).unwrap();
        let rule = &read.rules[0];
        assert_eq!(rule.id, "6c1f0e7a-2d4b-4c61-9d52-0a7f3f1b9e01");
        assert_eq!(rule.techniques, vec![atlas("AML.T0051.000")], "the tactic tag names no technique");
        assert_eq!(rule.data_sources, ["product: llm_gateway", "category: prompt"]);
        assert_eq!(rule.reference, "https://example.org/detections/prompt-override");
        assert!(rule.warnings.is_empty(), "{:?}", rule.warnings);
        assert_eq!((rule.line, rule.file.as_str()), (1, "list_tags.yml"));
    }

    #[test]
    fn sigma_like_packs_read_with_a_warning_per_deviation() {
        let read = read(vec![fixture("map_tags.yaml")]).unwrap();
        let rule = &read.rules[0];
        assert_eq!(
            rule.techniques,
            vec![atlas("AML.T0053"), TechniqueRef::Attack("T1566.002".into()), atlas("AML.T0051.001")],
            "a map of lists names the namespace in its key"
        );
        assert_eq!(rule.line, 2, "the document starts after the comment");
        assert_eq!(rule.reference, "https://example.org/detections/tool-poisoning");
        for expected in ["`tags` is a map", "no `logsource`", "`references` is a map", "keys outside Sigma: severity"] {
            assert!(rule.warnings.iter().any(|w| w.contains(expected)), "{expected}: {:?}", rule.warnings);
        }
    }

    #[test]
    fn documents_of_one_file_keep_their_lines_and_attack_tags() {
        let read = read(vec![fixture("attack_tags.yml")]).unwrap();
        assert_eq!(read.rules.len(), 2);
        assert_eq!(read.rules[0].techniques, vec![TechniqueRef::Attack("T1566.002".into())]);
        assert_eq!(read.rules[1].line, 16);
        assert_eq!(read.rules[1].techniques, vec![TechniqueRef::Attack("T1552.001".into()), atlas("AML.T0055")]);
        assert!(read.rules[1].text.starts_with("title: Model registry"), "{}", read.rules[1].text);
    }

    #[test]
    fn a_malformed_file_is_refused_naming_file_and_line() {
        let error = read(vec![fixture("list_tags.yml"), fixture("malformed.yml")]).unwrap_err();
        assert!(error.0.starts_with("malformed.yml line "), "{error}");
        assert!(error.0.contains("not valid YAML"), "{error}");
    }

    #[test]
    fn a_rule_id_given_twice_is_refused_naming_both_places() {
        let error = read(vec![fixture("list_tags.yml"), fixture("duplicate_id.yml")]).unwrap_err();
        assert!(error.0.contains("list_tags.yml line 1") && error.0.contains("duplicate_id.yml line 1"), "{error}");
    }

    #[test]
    fn documents_without_id_or_title_and_rule_collections_are_skipped() {
        let text =
            "title: no id\n---\nid: x\n---\naction: global\ntitle: t\nid: y\n---\n- a list\n---\ntitle: r\nid: r\n";
        let read = read(vec![RuleFile { name: "odd.yml".into(), bytes: text.into() }]).unwrap();
        assert_eq!(read.rules.len(), 1);
        let reasons: Vec<&str> = read.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert_eq!(reasons[0], "the rule lacks an `id`");
        assert!(reasons[2].contains("collections"), "{reasons:?}");
        assert_eq!(read.skipped[3].at, "odd.yml line 9");
    }

    #[test]
    fn an_upload_without_any_rule_is_refused() {
        let error = read(vec![RuleFile { name: "x.yml".into(), bytes: b"{}\n".to_vec() }]).unwrap_err();
        assert!(error.0.starts_with("no rule was found"), "{error}");
        assert!(error.0.contains("x.yml line 1"), "{error}");
    }

    #[test]
    fn a_zip_of_rules_reads_its_yaml_entries() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        for name in ["list_tags.yml", "attack_tags.yml"] {
            zip.start_file(format!("rules/{name}"), options).unwrap();
            zip.write_all(&fixture(name).bytes).unwrap();
        }
        zip.start_file("README.md", options).unwrap();
        zip.write_all(b"not a rule").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let read = read(vec![RuleFile { name: "pack.zip".into(), bytes }]).unwrap();
        assert_eq!((read.files, read.rules.len()), (2, 3));
        assert_eq!(read.rules[0].file, "pack.zip/rules/list_tags.yml");
        assert!(read.warnings[0].contains("README.md"), "{:?}", read.warnings);
    }

    #[test]
    fn a_zip_that_unpacks_past_the_budget_is_refused_without_reading_it_all() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("bomb.yml", options).unwrap();
        let comment = vec![b'#'; 1024 * 1024];
        for _ in 0..(MAX_UPLOAD_BYTES / comment.len() + 1) {
            zip.write_all(&comment).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        assert!(bytes.len() < 64 * 1024, "a small upload: {} bytes", bytes.len());
        let error = read(vec![RuleFile { name: "pack.zip".into(), bytes }]).unwrap_err();
        assert!(error.0.starts_with("pack.zip/bomb.yml: the import is larger than its limit"), "{error}");
    }

    #[test]
    fn aliases_and_binary_files_are_refused() {
        let alias = "title: &t x\nid: a\ntags: [*t]\n";
        let error = read(vec![RuleFile { name: "a.yml".into(), bytes: alias.into() }]).unwrap_err();
        assert!(error.0.starts_with("a.yml line 3"), "{error}");
        let error = read(vec![RuleFile { name: "b.yml".into(), bytes: b"title: x\n\xff\xfe".to_vec() }]).unwrap_err();
        assert_eq!(error.0, "b.yml line 2: is not UTF-8 text");
    }
}
