//! Reading an ATLAS release file: format detection, the size limit, then
//! the reader of that format, normalisation and validation of the result.
//! Every error names the file and the object or line at fault.

use std::collections::{HashMap, HashSet};

use super::error::{ReadError, ReadErrorKind};
use super::model::{Release, SourceFormat, parent_from_id};
use super::{calendar, legacy, stix};

/// Largest release file accepted (official files are under 1 MiB).
pub const MAX_RELEASE_BYTES: usize = 16 * 1024 * 1024;

/// Reads any official ATLAS distribution, detecting its format.
///
/// `version_override` names the release when the file does not (STIX
/// bundles carry no ATLAS data version) or when the user wants another name.
pub fn read_release(bytes: &[u8], file: &str, version_override: Option<&str>) -> Result<Release, ReadError> {
    if bytes.len() > MAX_RELEASE_BYTES {
        return Err(ReadError::new(
            file,
            ReadErrorKind::TooLarge,
            format!("the file is {} bytes; the import limit is {} bytes", bytes.len(), MAX_RELEASE_BYTES),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ReadError::new(
            file,
            ReadErrorKind::UnknownFormat,
            format!("the file is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if looks_like_navigator_layer(text) {
        return Err(ReadError::new(
            file,
            ReadErrorKind::UnknownFormat,
            "this is an ATLAS Navigator layer (an annotation of techniques), not an ATLAS release; \
             import a release file such as ATLAS.yaml, ATLAS-2026.05.yaml or stix-atlas.json",
        ));
    }
    let format = detect_format(text).ok_or_else(|| {
        ReadError::new(
            file,
            ReadErrorKind::UnknownFormat,
            "unknown format: expected a legacy ATLAS.yaml (top-level `matrices`), a calendar-format file \
             (`format-version: 6.x`) or a STIX 2.1 bundle (`\"type\": \"bundle\"`)",
        )
    })?;
    if matches!(format, SourceFormat::Legacy | SourceFormat::Calendar)
        && let Err(over) = super::yaml_budget::check(text)
    {
        return Err(ReadError::new(file, ReadErrorKind::Invalid, format!("line {}: {}", over.line, over.message)));
    }
    let mut release = match format {
        SourceFormat::Legacy => legacy::read(text, file)?,
        SourceFormat::Calendar => calendar::read(text, file)?,
        SourceFormat::Stix => stix::read(text, file, version_override)?,
    };
    if let Some(version) = version_override {
        let version = version.trim();
        if !is_valid_version_label(version) {
            return Err(ReadError::new(
                file,
                ReadErrorKind::Invalid,
                format!("release version `{version}` must be 1-40 letters, digits, dots, dashes or underscores"),
            ));
        }
        release.version = version.to_string();
    }
    normalise(&mut release);
    validate(&release, file)?;
    Ok(release)
}

/// A release version is used in URLs and file names, so keep it plain.
pub fn is_valid_version_label(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 40
        && !matches!(version, "default" | "switch" | "diff")
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn looks_like_navigator_layer(text: &str) -> bool {
    let head: String = text.chars().take(4096).collect();
    text.trim_start().starts_with(['{', '['])
        && head.contains("\"domain\"")
        && (head.contains("\"techniqueID\"") || head.contains("\"versions\""))
        && !head.contains("\"bundle\"")
}

fn detect_format(text: &str) -> Option<SourceFormat> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return trimmed.contains("\"bundle\"").then_some(SourceFormat::Stix);
    }
    // Both YAML layouts put their distinguishing key at column 0.
    for line in text.lines() {
        if line.starts_with("format-version:") {
            return Some(SourceFormat::Calendar);
        }
        if line.starts_with("matrices:") {
            return Some(SourceFormat::Legacy);
        }
    }
    None
}

/// Puts a freshly read release into canonical shape: objects in ID order,
/// sub-techniques carrying their parent's tactics, duplicate links dropped.
pub(crate) fn normalise(release: &mut Release) {
    release.techniques.sort_by(|a, b| a.id.cmp(&b.id));
    release.mitigations.sort_by(|a, b| a.id.cmp(&b.id));
    release.case_studies.sort_by(|a, b| a.id.cmp(&b.id));

    let parent_tactics: HashMap<String, Vec<String>> =
        release.techniques.iter().filter(|t| t.parent.is_none()).map(|t| (t.id.clone(), t.tactics.clone())).collect();
    for technique in &mut release.techniques {
        dedup_in_order(&mut technique.tactics);
        if technique.tactics.is_empty()
            && let Some(parent) = technique.parent.as_ref().and_then(|p| parent_tactics.get(p))
        {
            technique.tactics = parent.clone();
        }
    }
    for mitigation in &mut release.mitigations {
        let mut seen = HashSet::new();
        mitigation.techniques.retain(|link| seen.insert(link.technique.clone()));
    }
}

fn dedup_in_order(items: &mut Vec<String>) {
    let mut seen = HashSet::new();
    items.retain(|item| seen.insert(item.clone()));
}

/// Checks that every reference in the release points at an object it holds.
pub(crate) fn validate(release: &Release, file: &str) -> Result<(), ReadError> {
    let invalid = |message: String| Err(ReadError::new(file, ReadErrorKind::Invalid, message));
    if release.tactics.is_empty() {
        return invalid("the file holds no tactics".into());
    }
    if release.techniques.is_empty() {
        return invalid("the file holds no techniques".into());
    }
    let mut ids = HashSet::new();
    let all_ids = release
        .tactics
        .iter()
        .map(|t| &t.id)
        .chain(release.techniques.iter().map(|t| &t.id))
        .chain(release.mitigations.iter().map(|m| &m.id))
        .chain(release.case_studies.iter().map(|c| &c.id));
    for id in all_ids {
        if id.trim().is_empty() {
            return invalid("an object has an empty `id`".into());
        }
        if !ids.insert(id.as_str()) {
            return invalid(format!("the ID {id} is used by more than one object"));
        }
    }
    let tactics: HashSet<&str> = release.tactics.iter().map(|t| t.id.as_str()).collect();
    let techniques: HashMap<&str, &super::model::Technique> =
        release.techniques.iter().map(|t| (t.id.as_str(), t)).collect();
    for technique in &release.techniques {
        if let Some(parent) = &technique.parent {
            match techniques.get(parent.as_str()) {
                None => {
                    return invalid(format!("technique {}: its parent {parent} is not in the file", technique.id));
                }
                Some(p) if p.parent.is_some() => {
                    return invalid(format!(
                        "technique {}: its parent {parent} is itself a sub-technique",
                        technique.id
                    ));
                }
                Some(_) => {}
            }
        } else if parent_from_id(&technique.id).is_some() {
            return invalid(format!("technique {}: a sub-technique ID without a parent technique", technique.id));
        }
        if technique.tactics.is_empty() {
            return invalid(format!("technique {}: no tactic is given for it", technique.id));
        }
        for tactic in &technique.tactics {
            if !tactics.contains(tactic.as_str()) {
                return invalid(format!("technique {}: tactic {tactic} is not in the file", technique.id));
            }
        }
    }
    for mitigation in &release.mitigations {
        for link in &mitigation.techniques {
            if !techniques.contains_key(link.technique.as_str()) {
                return invalid(format!(
                    "mitigation {}: technique {} is not in the file",
                    mitigation.id, link.technique
                ));
            }
        }
    }
    for case_study in &release.case_studies {
        for (n, step) in case_study.steps.iter().enumerate() {
            if !techniques.contains_key(step.technique.as_str()) {
                return invalid(format!(
                    "case study {} step {}: technique {} is not in the file",
                    case_study.id,
                    n + 1,
                    step.technique
                ));
            }
            if !tactics.contains(step.tactic.as_str()) {
                return invalid(format!(
                    "case study {} step {}: tactic {} is not in the file",
                    case_study.id,
                    n + 1,
                    step.tactic
                ));
            }
        }
    }
    Ok(())
}
