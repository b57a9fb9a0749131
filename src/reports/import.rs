//! Imports with a preview: a Navigator layer or the CSV export, read against
//! one system's current assessments into the changes they would make.
//! Nothing is applied here; a caller applies [`ImportPreview::assessment_changes`]
//! only when [`ImportPreview::errors`] is empty and the user confirmed.
//!
//! A file that cannot be read at all (not JSON, another Navigator domain, no
//! `technique_id` column, …) is refused with
//! an [`ImportRefused`] naming the place and the reason. Problems with single
//! entries or rows are listed in the preview: `errors` (naming the row or
//! entry and the field) and `unknown_techniques` (never dropped silently).
//!
//! # Navigator layers
//!
//! The file holds one layer or a list (format 4.5). In a list, the layer
//! whose metadata `atlascope_system_id` is the system's ID is read, else the
//! one whose `system` metadata or name names the system; a single layer is
//! read whatever it names. The layer must have domain `atlas-atlas`, a
//! format version 4.x when it states one. A layer made for another release
//! than the system's, loaded or not (ATLAS publishes one a month), is read
//! with a warning: techniques are matched by ID, and the IDs the system's
//! release lacks are listed as unknown.
//!
//! Each technique entry gives an opinion on applicability:
//!
//! 1. `enabled: false` → `not_applicable`;
//! 2. in a layer atlascope wrote (metadata `generator: atlascope`), a state
//!    colour, else a state score, maps back to its state exactly (see
//!    [`super::navigator`]): not applicable → `not_applicable`, not assessed
//!    → `unknown`, every other state → `applies`;
//! 3. otherwise a score above 0 or any colour → `applies`;
//! 4. otherwise no opinion (applicability unchanged).
//!
//! A technique annotated several times (once per tactic) applies if any
//! entry says so, else is not applicable if any entry says so. A non-empty
//! `comment` becomes the rationale (distinct comments of one technique are
//! joined by a blank line); an empty or absent comment leaves it unchanged.
//! Risk ratings are not read from layers.
//!
//! # CSV
//!
//! The header names the columns (any order, any case); `technique_id` is
//! required, and `applicability`, `risk` and `rationale` are authoritative
//! where present (an empty `risk` clears the rating, an empty `rationale`
//! clears the rationale). Values may be the stored form or the label
//! (`not_applicable` or `Not applicable`). Other columns are ignored, except
//! `system_id` (else `system`): rows for another system are skipped, with a
//! warning. Rows are numbered as a spreadsheet shows them (the header is
//! row 1).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::SystemSource;
use super::csv::unguard;
use super::navigator::{
    self, DOMAIN, LayerTechnique, Metadata, RELEASE_METADATA, SYSTEM_ID_METADATA, SYSTEM_METADATA, Versions,
};
use crate::atlas::model::Technique;
use crate::domain::coverage::CoverageState;
use crate::domain::records::AssessmentChange;
use crate::domain::{Applicability, Rating, limits, text};

/// Which file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Navigator,
    Csv,
}

/// Largest file an import reads, in bytes.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

impl ImportFormat {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "navigator" => Ok(ImportFormat::Navigator),
            "csv" => Ok(ImportFormat::Csv),
            other => Err(format!("`{}` is not one of navigator, csv", other.chars().take(40).collect::<String>())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::Navigator => "navigator",
            ImportFormat::Csv => "csv",
        }
    }

    /// Guesses the format of a file: JSON (a layer object or a list of
    /// layers, starting with `{` or `[`) is a Navigator layer, anything else CSV.
    pub fn detect(bytes: &[u8]) -> Self {
        let text = as_utf8(bytes).unwrap_or(Cow::Borrowed(bytes));
        match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => ImportFormat::Navigator,
            _ => ImportFormat::Csv,
        }
    }
}

/// The assessment field a change touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeField {
    Applicability,
    Risk,
    Rationale,
}

impl ChangeField {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeField::Applicability => "applicability",
            ChangeField::Risk => "risk",
            ChangeField::Rationale => "rationale",
        }
    }
}

/// One field of one technique that the import would change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PlannedChange {
    pub technique_id: String,
    pub technique_name: String,
    pub field: ChangeField,
    /// The current value (stored form; empty for no risk or rationale).
    pub from: String,
    pub to: String,
}

/// A technique ID the system's release does not have, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnknownTechnique {
    /// `row 7` or `techniques[12]`.
    pub at: String,
    pub technique_id: String,
}

/// A row or entry that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportIssue {
    /// `row 7, applicability` or `techniques[12].comment`.
    pub at: String,
    pub message: String,
}

/// What an import would change, computed against the system's current
/// assessments. Nothing is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportPreview {
    pub format: ImportFormat,
    pub system_id: i64,
    pub framework_version: String,
    /// In the file's order for CSV, in the release's order for layers.
    pub changes: Vec<PlannedChange>,
    pub unknown_techniques: Vec<UnknownTechnique>,
    /// Rows or entries that could not be read. An import with errors must not be applied.
    pub errors: Vec<ImportIssue>,
    /// Things the user should know that do not stop the import.
    pub warnings: Vec<String>,
}

impl ImportPreview {
    /// True when the preview may be applied (no errors; unknown techniques are listed, not applied).
    pub fn is_applicable(&self) -> bool {
        self.errors.is_empty()
    }

    /// The changes grouped per technique, in order, as the assessment service takes them.
    pub fn assessment_changes(&self) -> Vec<(String, AssessmentChange)> {
        let mut grouped: Vec<(String, AssessmentChange)> = Vec::new();
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for change in &self.changes {
            let at = *positions.entry(change.technique_id.as_str()).or_insert_with(|| {
                grouped.push((change.technique_id.clone(), AssessmentChange::default()));
                grouped.len() - 1
            });
            let entry = &mut grouped[at].1;
            match change.field {
                ChangeField::Applicability => entry.applicability = Applicability::parse(&change.to).ok(),
                ChangeField::Risk => entry.risk = Some(Rating::parse(&change.to).ok()),
                ChangeField::Rationale => entry.rationale = Some(change.to.clone()),
            }
        }
        grouped
    }
}

/// A file refused as a whole, naming where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct ImportRefused {
    /// `line 3, column 14`, `domain`, `metadata.atlas_data_version`, `header`, …
    pub at: String,
    pub reason: String,
}

impl ImportRefused {
    fn new(at: impl Into<String>, reason: impl Into<String>) -> Self {
        ImportRefused { at: at.into(), reason: reason.into() }
    }
}

/// Collects the changes against the system's current assessments.
struct Planner<'a> {
    target: &'a SystemSource<'a>,
    preview: ImportPreview,
    errors_not_listed: usize,
    unknown_not_listed: usize,
}

/// Adds a warning for each unknown technique that an older release had and
/// the system's release retired, naming its proposed successor when the
/// data offers one. `retired` comes from the release diffs; the first
/// mention of an ID wins.
pub fn note_retired(preview: &mut ImportPreview, retired: &[crate::domain::release_diff::Retired]) {
    let mut seen = std::collections::HashSet::new();
    for unknown in &preview.unknown_techniques {
        let Some(gone) = retired.iter().find(|r| r.id == unknown.technique_id) else { continue };
        if !seen.insert(gone.id.as_str()) {
            continue;
        }
        let successor = match &gone.successor {
            Some(s) => format!("its proposed successor is {} {} ({})", s.id, s.name, s.reason),
            None => "the data offers no successor".to_string(),
        };
        preview.warnings.push(format!(
            "{} {} was retired before release {}; {successor}; it is not applied",
            gone.id, gone.name, preview.framework_version
        ));
    }
}

/// Most errors, and most unknown techniques, a preview lists; the rest are counted.
pub const MAX_LISTED: usize = 1000;

impl<'a> Planner<'a> {
    fn new(target: &'a SystemSource<'a>, format: ImportFormat) -> Self {
        Planner {
            target,
            preview: ImportPreview {
                format,
                system_id: target.system.id,
                framework_version: target.framework.version().to_string(),
                changes: Vec::new(),
                unknown_techniques: Vec::new(),
                errors: Vec::new(),
                warnings: Vec::new(),
            },
            errors_not_listed: 0,
            unknown_not_listed: 0,
        }
    }

    fn plan(&mut self, technique: &Technique, field: ChangeField, from: String, to: String) {
        if from != to {
            self.preview.changes.push(PlannedChange {
                technique_id: technique.id.clone(),
                technique_name: technique.name.clone(),
                field,
                from,
                to,
            });
        }
    }

    fn applicability(&mut self, technique: &Technique, to: Applicability) {
        let from = self.target.applicability(&technique.id);
        self.plan(technique, ChangeField::Applicability, from.as_str().into(), to.as_str().into());
    }

    fn risk(&mut self, technique: &Technique, to: Option<Rating>) {
        let show = |r: Option<Rating>| r.map_or_else(String::new, |r| r.as_str().to_string());
        let from = self.target.risk(&technique.id);
        self.plan(technique, ChangeField::Risk, show(from), show(to));
    }

    /// Checks the text like the assessment service does, then plans it.
    fn rationale(&mut self, technique: &Technique, at: String, to: &str) {
        match text("rationale", to, limits::RATIONALE, false) {
            Ok(to) => {
                let from = self.target.rationale(&technique.id).to_string();
                self.plan(technique, ChangeField::Rationale, from, to);
            }
            Err(e) => self.error(at, e.message),
        }
    }

    fn error(&mut self, at: String, message: impl Into<String>) {
        if self.preview.errors.len() < MAX_LISTED {
            self.preview.errors.push(ImportIssue { at, message: message.into() });
        } else {
            self.errors_not_listed += 1;
        }
    }

    fn unknown(&mut self, at: String, technique_id: &str) {
        if self.preview.unknown_techniques.len() < MAX_LISTED {
            self.preview.unknown_techniques.push(UnknownTechnique { at, technique_id: technique_id.to_string() });
        } else {
            self.unknown_not_listed += 1;
        }
    }

    /// The preview, saying how many problems went unlisted past [`MAX_LISTED`].
    fn finish(mut self) -> ImportPreview {
        if self.errors_not_listed > 0 {
            // One more error keeps the preview from being applied whatever the listed ones say.
            self.preview.errors.push(ImportIssue {
                at: "file".into(),
                message: format!("and {} more rows or entries that cannot be read", self.errors_not_listed),
            });
        }
        if self.unknown_not_listed > 0 {
            let more = self.unknown_not_listed;
            self.warn(format!("and {more} more unknown technique IDs, not listed"));
        }
        self.preview
    }

    fn warn(&mut self, warning: String) {
        self.preview.warnings.push(warning);
    }
}

/// The file as UTF-8 text. A UTF-8 byte-order mark is dropped; UTF-16
/// (which Excel and mitreattack-python write) is decoded, known by its mark
/// or, without one, by a first character of one ASCII byte and one zero
/// byte. UTF-32 and broken UTF-16 are refused, naming the encoding.
pub fn as_utf8(bytes: &[u8]) -> Result<Cow<'_, [u8]>, ImportRefused> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return Ok(Cow::Borrowed(rest));
    }
    if bytes.starts_with(b"\xFF\xFE\0\0") || bytes.starts_with(b"\0\0\xFE\xFF") {
        return Err(ImportRefused::new("file", "the file is in UTF-32; save it as UTF-8 or UTF-16"));
    }
    let (little_endian, body, name) = match bytes {
        [0xFF, 0xFE, rest @ ..] => (true, rest, "UTF-16LE"),
        [0xFE, 0xFF, rest @ ..] => (false, rest, "UTF-16BE"),
        [first, 0, ..] if *first != 0 && first.is_ascii() => (true, bytes, "UTF-16LE"),
        [0, second, ..] if *second != 0 && second.is_ascii() => (false, bytes, "UTF-16BE"),
        _ => return Ok(Cow::Borrowed(bytes)),
    };
    if body.len() % 2 != 0 {
        return Err(ImportRefused::new("file", format!("the file looks like {name} but has an odd number of bytes")));
    }
    let units = body.chunks_exact(2).map(|pair| {
        if little_endian { u16::from_le_bytes([pair[0], pair[1]]) } else { u16::from_be_bytes([pair[0], pair[1]]) }
    });
    let mut text = String::with_capacity(body.len() / 2);
    for (index, decoded) in char::decode_utf16(units).enumerate() {
        match decoded {
            Ok(c) => text.push(c),
            Err(_) => {
                return Err(ImportRefused::new(
                    "file",
                    format!("the file is not valid {name} (a broken surrogate pair at byte {})", index * 2),
                ));
            }
        }
    }
    Ok(Cow::Owned(text.into_bytes()))
}

/// The layer fields read before its techniques.
#[derive(Debug, serde::Deserialize)]
struct LayerHead {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    versions: Option<Versions>,
    #[serde(default)]
    metadata: Vec<Metadata>,
    #[serde(default)]
    techniques: Option<Value>,
}

impl LayerHead {
    fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata.iter().find(|m| m.name == name).map(|m| m.value.trim())
    }
}

/// Picks the layer to read out of the file (see the module documentation).
fn choose_layer(value: Value, target: &SystemSource) -> Result<(String, LayerHead), ImportRefused> {
    let (prefix, layers): (bool, Vec<Value>) = match value {
        Value::Array(layers) => (true, layers),
        layer @ Value::Object(_) => (false, vec![layer]),
        _ => return Err(ImportRefused::new("file", "a Navigator file holds a layer object or a list of layers")),
    };
    let mut heads = Vec::with_capacity(layers.len());
    for (i, layer) in layers.into_iter().enumerate() {
        let at = if prefix { format!("[{i}]") } else { "layer".to_string() };
        if !layer.is_object() {
            return Err(ImportRefused::new(at, "is not a layer object"));
        }
        let head: LayerHead =
            serde_json::from_value(layer).map_err(|e| ImportRefused::new(at.clone(), e.to_string()))?;
        let path = if prefix { format!("[{i}].") } else { String::new() };
        heads.push((path, head));
    }
    if heads.len() <= 1 {
        return heads.pop().ok_or_else(|| ImportRefused::new("file", "the list holds no layer"));
    }
    let system = target.system;
    let id = system.id.to_string();
    let by_id: Vec<usize> =
        (0..heads.len()).filter(|&i| heads[i].1.metadata_value(SYSTEM_ID_METADATA) == Some(&id)).collect();
    let picked = if by_id.is_empty() {
        let named = format!("atlascope: {}", system.name);
        (0..heads.len())
            .filter(|&i| {
                let head = &heads[i].1;
                head.metadata_value(SYSTEM_METADATA) == Some(system.name.as_str())
                    || head.name.as_deref().map(str::trim) == Some(named.as_str())
            })
            .collect()
    } else {
        by_id
    };
    match picked.as_slice() {
        [one] => Ok(heads.swap_remove(*one)),
        _ => {
            let names: Vec<String> =
                heads.iter().map(|(_, h)| format!("`{}`", h.name.as_deref().unwrap_or("(unnamed)"))).collect();
            let how = if picked.is_empty() { "none is" } else { "several are" };
            Err(ImportRefused::new(
                "file",
                format!(
                    "the file holds {} layers ({}) and {how} for system {} (ID {}); import a single layer",
                    heads.len(),
                    names.join(", "),
                    system.name,
                    system.id
                ),
            ))
        }
    }
}

/// An entry's opinion on applicability (rules 1 to 4 of the module documentation).
fn opinion(entry: &LayerTechnique, atlascope: bool) -> Option<Applicability> {
    if entry.enabled == Some(false) {
        return Some(Applicability::NotApplicable);
    }
    if atlascope {
        match navigator::state_of_annotation(entry.score, entry.color.as_deref()) {
            Some(CoverageState::NotApplicable) => return Some(Applicability::NotApplicable),
            Some(CoverageState::NotAssessed) => return Some(Applicability::Unknown),
            Some(_) => return Some(Applicability::Applies),
            None => {}
        }
    }
    let coloured = entry.color.as_deref().is_some_and(|c| !c.trim().is_empty());
    (entry.score.is_some_and(|s| s > 0.0) || coloured).then_some(Applicability::Applies)
}

/// Strength of an opinion when one technique has several entries.
fn precedence(applicability: Applicability) -> u8 {
    match applicability {
        Applicability::Applies => 3,
        Applicability::NotApplicable => 2,
        Applicability::Unknown => 1,
    }
}

#[derive(Default)]
struct Merged {
    applicability: Option<Applicability>,
    comments: Vec<String>,
    seen_comments: HashSet<String>,
    /// Where the first comment came from, to name it in errors.
    comment_at: String,
}

/// Previews a Navigator layer against a system. `loaded_releases` are the
/// ATLAS versions the application has loaded.
pub fn preview_navigator(
    bytes: &[u8],
    target: &SystemSource,
    loaded_releases: &[&str],
) -> Result<ImportPreview, ImportRefused> {
    let bytes = as_utf8(bytes)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Eof => "the file ends early (truncated JSON)",
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Data | serde_json::error::Category::Io => "could not be read as JSON",
        };
        ImportRefused::new(format!("line {}, column {}", e.line(), e.column()), reason)
    })?;
    let (path, head) = choose_layer(value, target)?;

    match head.domain.as_deref().map(str::trim) {
        Some(DOMAIN) => {}
        Some(other) => {
            return Err(ImportRefused::new(
                format!("{path}domain"),
                format!(
                    "the layer is for domain `{}`; atlascope reads ATLAS layers (`{DOMAIN}`)",
                    other.chars().take(60).collect::<String>()
                ),
            ));
        }
        None => {
            return Err(ImportRefused::new(format!("{path}domain"), format!("missing; ATLAS layers have `{DOMAIN}`")));
        }
    }
    if let Some(version) = head.versions.as_ref().and_then(|v| v.layer.as_deref())
        && version.trim().split('.').next() != Some("4")
    {
        return Err(ImportRefused::new(
            format!("{path}versions.layer"),
            format!("layer format `{}` is not supported (4.0 to {})", version.trim(), navigator::LAYER_FORMAT),
        ));
    }

    let mut planner = Planner::new(target, ImportFormat::Navigator);
    let framework = target.framework;
    match head.metadata_value(RELEASE_METADATA) {
        Some(release) if !loaded_releases.contains(&release) => planner.warn(format!(
            "the layer is for ATLAS release {}, which is not loaded (loaded: {}); techniques are matched by ID \
             against release {}, and IDs it lacks are listed as unknown",
            release.chars().take(40).collect::<String>(),
            loaded_releases.join(", "),
            framework.version()
        )),
        Some(release) if release != framework.version() => planner.warn(format!(
            "the layer is for ATLAS release {release} and the system is assessed against {}; techniques are matched by ID",
            framework.version()
        )),
        Some(_) => {}
        None => planner.warn(format!(
            "the layer names no ATLAS release ({RELEASE_METADATA}); techniques are matched against release {}",
            framework.version()
        )),
    }
    let atlascope = head.metadata_value(navigator::GENERATOR_METADATA) == Some(navigator::GENERATOR);

    let entries = match head.techniques {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(ImportRefused::new(format!("{path}techniques"), "must be a list of techniques")),
    };
    let index: HashMap<&str, usize> =
        framework.techniques().iter().enumerate().map(|(i, t)| (t.id.as_str(), i)).collect();
    let mut merged: BTreeMap<usize, Merged> = BTreeMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("{path}techniques[{i}]");
        let entry: LayerTechnique = match serde_json::from_value(entry) {
            Ok(entry) => entry,
            Err(e) => {
                planner.error(at, e.to_string());
                continue;
            }
        };
        let id = entry.technique_id.trim();
        if id.is_empty() {
            planner.error(format!("{at}.techniqueID"), "is empty");
            continue;
        }
        let Some(&position) = index.get(id) else {
            planner.unknown(at, id);
            continue;
        };
        let technique = &framework.techniques()[position];
        if let Some(tactic) = entry.tactic.as_deref() {
            let known = technique.tactics.iter().any(|t| framework.tactic(t).is_some_and(|t| t.shortname == tactic));
            if !known {
                planner.warn(format!(
                    "{at}: `{}` is not a tactic of {id} in release {}; the entry is read anyway",
                    tactic.chars().take(60).collect::<String>(),
                    framework.version()
                ));
            }
        }
        let slot = merged.entry(position).or_default();
        if let Some(new) = opinion(&entry, atlascope)
            && slot.applicability.is_none_or(|old| precedence(new) > precedence(old))
        {
            slot.applicability = Some(new);
        }
        let comment = entry.comment.as_deref().map(str::trim).unwrap_or_default();
        if !comment.is_empty() && slot.seen_comments.insert(comment.to_string()) {
            if slot.comments.is_empty() {
                slot.comment_at = format!("{at}.comment");
            }
            slot.comments.push(comment.to_string());
        }
    }
    for (position, slot) in merged {
        let technique = &framework.techniques()[position];
        if let Some(applicability) = slot.applicability {
            planner.applicability(technique, applicability);
        }
        if !slot.comments.is_empty() {
            planner.rationale(technique, slot.comment_at, &slot.comments.join("\n\n"));
        }
    }
    Ok(planner.finish())
}

/// Parses the stored form or the label, in any case (`not_applicable`, `Not applicable`).
fn parse_choice<T: Copy>(
    raw: &str,
    all: &[T],
    stored: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Result<T, String> {
    let raw = raw.trim();
    all.iter().copied().find(|&v| stored(v).eq_ignore_ascii_case(raw) || label(v).eq_ignore_ascii_case(raw)).ok_or_else(
        || {
            let choices: Vec<&str> = all.iter().map(|&v| stored(v)).collect();
            format!("`{}` is not one of {}", raw.chars().take(40).collect::<String>(), choices.join(", "))
        },
    )
}

/// Line numbers of CSV records, counted forward from the last record, so
/// that naming every row of a file costs one pass over it.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// A byte offset and the line it is on.
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter { bytes, offset: 0, line: 1 }
    }

    /// The line a record starts on. Its position can fall on the end of the
    /// previous line (CRLF); its line is where its text starts.
    fn line_of(&mut self, byte: u64) -> usize {
        let mut start = usize::try_from(byte).map_or(self.bytes.len(), |b| b.min(self.bytes.len()));
        while self.bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            start += 1;
        }
        if start < self.offset {
            // Positions only move forward; start over if one did not.
            (self.offset, self.line) = (0, 1);
        }
        self.line += self.bytes[self.offset..start].iter().filter(|&&b| b == b'\n').count();
        self.offset = start;
        self.line
    }

    /// Names a row as a spreadsheet shows it, and its line when a quoted new line shifts them.
    fn place(&mut self, row: usize, position: Option<&::csv::Position>) -> String {
        match position.map(|p| self.line_of(p.byte())) {
            Some(line) if line != row => format!("row {row} (line {line})"),
            _ => format!("row {row}"),
        }
    }
}

/// Previews the CSV (in the export's shape) against a system.
pub fn preview_csv(bytes: &[u8], target: &SystemSource) -> Result<ImportPreview, ImportRefused> {
    let bytes = as_utf8(bytes)?;
    let bytes: &[u8] = &bytes;
    let mut reader = ::csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| ImportRefused::new("row 1 (header)", e.to_string()))?.clone();
    let column = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let Some(technique_column) = column("technique_id") else {
        return Err(ImportRefused::new(
            "row 1 (header)",
            format!("no `technique_id` column; the export's header is {}", super::csv::HEADER.join(",")),
        ));
    };
    let (applicability_column, risk_column, rationale_column) =
        (column("applicability"), column("risk"), column("rationale"));
    let mut planner = Planner::new(target, ImportFormat::Csv);
    if applicability_column.is_none() && risk_column.is_none() && rationale_column.is_none() {
        return Err(ImportRefused::new(
            "row 1 (header)",
            "none of the columns applicability, risk, rationale is present",
        ));
    }
    for (name, present) in
        [("applicability", applicability_column), ("risk", risk_column), ("rationale", rationale_column)]
    {
        if present.is_none() {
            planner.warn(format!("no `{name}` column: {name} is left as it is"));
        }
    }
    let (system_id_column, system_column) = (column("system_id"), column("system"));
    let system = target.system;
    let system_id = system.id.to_string();
    let framework = target.framework;

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut skipped = 0usize;
    let mut lines = LineCounter::new(bytes);
    for (n, record) in reader.records().enumerate() {
        let row = n + 2;
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let at = lines.place(row, e.position());
                match e.kind() {
                    ::csv::ErrorKind::Utf8 { err, .. } => {
                        let column =
                            header.get(err.field()).map_or_else(|| err.field().to_string(), |h| h.trim().to_string());
                        planner.error(format!("{at}, {column}"), "is not UTF-8 text");
                    }
                    _ => planner.error(at, e.to_string()),
                }
                continue;
            }
        };
        let at = lines.place(row, record.position());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let cell = |column: Option<usize>| column.and_then(|c| record.get(c)).map(|v| unguard(v).trim());
        let for_system = match (cell(system_id_column).filter(|v| !v.is_empty()), cell(system_column)) {
            (Some(id), _) => id == system_id,
            (None, Some(name)) if !name.is_empty() => name == system.name,
            _ => true,
        };
        if !for_system {
            skipped += 1;
            continue;
        }
        let needed = [Some(technique_column), applicability_column, risk_column, rationale_column];
        if let Some(missing) = needed.into_iter().flatten().find(|&c| c >= record.len()) {
            planner.error(
                at,
                format!(
                    "has {} fields, the header has {}; `{}` is missing",
                    record.len(),
                    header.len(),
                    header.get(missing).unwrap_or_default().trim()
                ),
            );
            continue;
        }
        let technique_id = cell(Some(technique_column)).unwrap_or_default();
        if technique_id.is_empty() {
            planner.error(format!("{at}, technique_id"), "is empty");
            continue;
        }
        let Some(technique) = framework.technique(technique_id) else {
            planner.unknown(at, technique_id);
            continue;
        };
        if let Some(first) = seen.get(technique_id) {
            planner.error(format!("{at}, technique_id"), format!("{technique_id} is already given in row {first}"));
            continue;
        }
        seen.insert(technique_id.to_string(), row);

        if let Some(raw) = cell(applicability_column) {
            match parse_choice(raw, Applicability::ALL, Applicability::as_str, Applicability::label) {
                Ok(applicability) => planner.applicability(technique, applicability),
                Err(message) => planner.error(format!("{at}, applicability"), message),
            }
        }
        if let Some(raw) = cell(risk_column) {
            let risk = if raw.is_empty() {
                Ok(None)
            } else {
                parse_choice(raw, Rating::ALL, Rating::as_str, Rating::label).map(Some)
            };
            match risk {
                Ok(risk) => planner.risk(technique, risk),
                Err(message) => planner.error(format!("{at}, risk"), message),
            }
        }
        if let Some(raw) = cell(rationale_column) {
            planner.rationale(technique, format!("{at}, rationale"), raw);
        }
    }
    if skipped > 0 {
        planner.warn(format!("rows for other systems skipped: {skipped}"));
        if seen.is_empty() {
            planner.warn(format!("no row is for system {} (ID {})", system.name, system.id));
        }
    }
    Ok(planner.finish())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::Fixture;
    use super::super::{ReportFormat, TeamRef, render, system_report, team_report};
    use super::*;

    const LOADED: [&str; 2] = ["2026.05", "5.6.0"];

    fn changes(preview: &ImportPreview) -> Vec<(&str, ChangeField, &str, &str)> {
        preview.changes.iter().map(|c| (c.technique_id.as_str(), c.field, c.from.as_str(), c.to.as_str())).collect()
    }

    fn at(issues: &[ImportIssue]) -> Vec<&str> {
        issues.iter().map(|i| i.at.as_str()).collect()
    }

    #[test]
    fn csv_export_then_import_changes_nothing() {
        let fixture = Fixture::realistic();
        let csv = render(&system_report(&fixture.source(), &fixture.options()), ReportFormat::Csv).expect("CSV");
        let preview = preview_csv(&csv, &fixture.source()).expect("a preview");
        assert_eq!(preview.changes, vec![]);
        assert_eq!((preview.errors.len(), preview.unknown_techniques.len()), (0, 0));
        assert_eq!(preview.warnings, Vec::<String>::new());
    }

    #[test]
    fn navigator_export_then_import_changes_nothing() {
        let fixture = Fixture::realistic();
        let layer =
            render(&system_report(&fixture.source(), &fixture.options()), ReportFormat::Navigator).expect("layer");
        let preview = preview_navigator(&layer, &fixture.source(), &LOADED).expect("a preview");
        assert_eq!(preview.changes, vec![]);
        assert_eq!((preview.errors.len(), preview.unknown_techniques.len()), (0, 0));
        assert_eq!(preview.warnings, Vec::<String>::new());
    }

    #[test]
    fn a_list_of_layers_is_read_for_the_right_system() {
        let (a, mut b) = (Fixture::realistic(), Fixture::second_system());
        let report = team_report(&TeamRef { id: 1, name: "T".into() }, &[a.source(), b.source()], &a.options());
        // A file holding a list of layers (format 4.5; atlascope wrote team exports so before).
        let list: Vec<navigator::Layer> =
            report.systems.iter().map(|system| navigator::layer(&report, system, Default::default())).collect();
        let layers = serde_json::to_vec(&list).expect("layers");
        assert_eq!(preview_navigator(&layers, &b.source(), &LOADED).expect("a preview").changes, vec![]);
        // Another system of the same team is named in neither layer.
        b.system.id = 3;
        b.system.name = "Other".into();
        let refused = preview_navigator(&layers, &b.source(), &LOADED).unwrap_err();
        assert_eq!(refused.at, "file");
        assert!(
            refused.reason.contains("2 layers") && refused.reason.contains("none is for system Other"),
            "{refused}"
        );
    }

    #[test]
    fn layers_and_csv_in_utf16_or_with_a_byte_order_mark_are_read() {
        let fixture = Fixture::realistic();
        let layer =
            render(&system_report(&fixture.source(), &fixture.options()), ReportFormat::Navigator).expect("layer");
        let text = String::from_utf8(layer).expect("UTF-8");
        let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for (name, bytes) in [
            ("UTF-8 with a mark", [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat()),
            ("UTF-16LE with a mark", [b"\xFF\xFE".as_slice(), &utf16le].concat()),
            ("UTF-16BE with a mark", [b"\xFE\xFF".as_slice(), &utf16be].concat()),
            ("UTF-16LE without a mark", utf16le.clone()),
        ] {
            assert_eq!(ImportFormat::detect(&bytes), ImportFormat::Navigator, "{name}");
            let preview = preview_navigator(&bytes, &fixture.source(), &LOADED).expect(name);
            assert_eq!(preview.changes, vec![], "{name}");
        }
        let csv = "technique_id,applicability\nAML.T0043,applies\n";
        let csv16: Vec<u8> =
            [b"\xFF\xFE".as_slice(), &csv.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>()].concat();
        assert_eq!(preview_csv(&csv16, &fixture.source()).expect("a preview").changes.len(), 1);

        let utf32 = [b"\xFF\xFE\0\0".as_slice(), b"{\0\0\0"].concat();
        assert!(preview_navigator(&utf32, &fixture.source(), &LOADED).unwrap_err().reason.contains("UTF-32"));
        let broken = [b"\xFF\xFE".as_slice(), &[0x00, 0xD8, b'{', 0]].concat();
        let refused = preview_navigator(&broken, &fixture.source(), &LOADED).unwrap_err();
        assert!(refused.reason.contains("not valid UTF-16LE"), "{refused}");
        let odd = [b"\xFF\xFE".as_slice(), b"{\0["].concat();
        assert!(preview_navigator(&odd, &fixture.source(), &LOADED).unwrap_err().reason.contains("odd number"));
    }

    #[test]
    fn csv_edits_become_planned_changes_and_bad_rows_are_named() {
        let fixture = Fixture::second_system();
        let csv = "\u{feff}Technique_ID,Applicability,Risk,Rationale,system_id,notes\r\n\
                   AML.T0043,Applies,HIGH,Adversarial inputs at scoring time,2,ignored\r\n\
                   AML.T0020,not_applicable,,'=1+1,2,\r\n\
                   AML.T0051,Not assessed,Critical,,,\r\n\
                   AML.T0043,applies,,,2,\r\n\
                   AML.T9999,applies,,,2,\r\n\
                   AML.T0000,perhaps,extreme,,2,\r\n\
                   AML.T0001,applies\r\n\
                   AML.T0002,applies,,\"spans\ntwo lines\",7,\r\n\
                   ,applies,,,2,\r\n";
        let preview = preview_csv(csv.as_bytes(), &fixture.source()).expect("a preview");
        assert_eq!(
            changes(&preview),
            vec![
                ("AML.T0020", ChangeField::Applicability, "applies", "not_applicable"),
                ("AML.T0020", ChangeField::Rationale, "", "=1+1"),
                ("AML.T0051", ChangeField::Applicability, "not_applicable", "unknown"),
                ("AML.T0051", ChangeField::Risk, "", "critical"),
                ("AML.T0051", ChangeField::Rationale, "No LLM", ""),
            ]
        );
        assert_eq!(
            at(&preview.errors),
            vec![
                "row 5, technique_id",
                "row 7, applicability",
                "row 7, risk",
                "row 8",
                "row 10 (line 11), technique_id",
            ]
        );
        assert!(preview.errors[0].message.contains("already given in row 2"));
        assert!(preview.errors[1].message.contains("applies, not_applicable"), "{}", preview.errors[1].message);
        assert_eq!(
            preview.unknown_techniques,
            vec![UnknownTechnique { at: "row 6".into(), technique_id: "AML.T9999".into() }]
        );
        assert_eq!(preview.warnings, vec!["rows for other systems skipped: 1".to_string()]);
        assert!(!preview.is_applicable());
        let grouped = preview.assessment_changes();
        assert_eq!(grouped.len(), 2);
        assert_eq!(grouped[1].1.risk, Some(Some(Rating::Critical)));
        assert_eq!(grouped[1].1.applicability, Some(Applicability::Unknown));
        assert_eq!(grouped[1].1.rationale.as_deref(), Some(""));
    }

    #[test]
    fn a_csv_without_the_technique_column_is_refused() {
        let fixture = Fixture::second_system();
        let refused = preview_csv(b"id,applicability\nAML.T0043,applies\n", &fixture.source()).unwrap_err();
        assert_eq!(refused.at, "row 1 (header)");
        assert!(refused.reason.contains("technique_id"));
        let refused = preview_csv(b"technique_id,name\nAML.T0043,x\n", &fixture.source()).unwrap_err();
        assert!(refused.reason.contains("none of the columns"));
    }

    #[test]
    fn a_csv_with_invalid_utf8_names_the_row() {
        let fixture = Fixture::second_system();
        let preview =
            preview_csv(b"technique_id,rationale\nAML.T0043,ok\nAML.T0020,caf\xe9\n", &fixture.source()).expect("read");
        assert_eq!(at(&preview.errors), vec!["row 3, rationale"]);
        assert_eq!(preview.errors[0].message, "is not UTF-8 text");
        assert_eq!(preview.changes.len(), 1, "the readable row is still previewed");
    }

    fn layer(techniques: &str) -> String {
        format!(
            r#"{{"name": "Workshop", "domain": "atlas-atlas", "versions": {{"layer": "4.3", "navigator": "4.6.4"}},
               "metadata": [{{"name": "atlas_data_version", "value": "2026.05"}}, {{"divider": true}}],
               "techniques": [{techniques}]}}"#
        )
    }

    #[test]
    fn an_unknown_id_an_older_release_retired_is_named_with_its_successor() {
        use crate::domain::release_diff::{Evidence, Retired, Successor};
        let fixture = Fixture::second_system();
        let text = layer(r#"{"techniqueID": "AML.T0998", "score": 1}, {"techniqueID": "AML.T0999", "score": 1}"#);
        let mut preview = preview_navigator(text.as_bytes(), &fixture.source(), &LOADED).expect("read");
        assert_eq!(preview.unknown_techniques.len(), 2, "unknown IDs stay listed");
        let retired = [
            Retired {
                id: "AML.T0998".into(),
                name: "Publish Poisoned Datasets".into(),
                successor: Some(Successor {
                    id: "AML.T0115.000".into(),
                    name: "Datasets".into(),
                    evidence: vec![Evidence::NameAsSubtechnique],
                    reason: "its name is now a sub-technique's".into(),
                }),
            },
            Retired { id: "AML.T0999".into(), name: "Gone".into(), successor: None },
        ];
        note_retired(&mut preview, &retired);
        let notes: Vec<&String> = preview.warnings.iter().filter(|w| w.contains("was retired")).collect();
        assert_eq!(notes.len(), 2, "{:?}", preview.warnings);
        assert!(notes[0].contains("AML.T0998 Publish Poisoned Datasets was retired before release 2026.05"));
        assert!(notes[0].contains("its proposed successor is AML.T0115.000 Datasets"));
        assert!(notes[1].contains("the data offers no successor"));
    }

    #[test]
    fn a_foreign_layer_maps_enabled_score_colour_and_comment() {
        let fixture = Fixture::second_system();
        let text = layer(
            r##"{"techniqueID": "AML.T0000", "tactic": "reconnaissance", "enabled": false, "comment": "No public footprint"},
                {"techniqueID": "AML.T0043", "tactic": "ai-attack-staging", "score": 3},
                {"techniqueID": "AML.T0010", "tactic": "initial-access", "color": "#ff0000"},
                {"techniqueID": "AML.T0024", "tactic": "exfiltration", "score": 0, "comment": "  "},
                {"techniqueID": "AML.T9999", "score": 1},
                {"techniqueID": "AML.T0051", "score": "high"},
                {"techniqueID": "AML.T0015", "tactic": "initial-access", "enabled": false, "comment": "Seen in drills"},
                {"techniqueID": "AML.T0015", "tactic": "impact", "score": 5, "comment": "Seen in drills"},
                {"techniqueID": "AML.T0015", "tactic": "nowhere", "comment": "And in prod"}"##,
        );
        let preview = preview_navigator(text.as_bytes(), &fixture.source(), &LOADED).expect("a preview");
        assert_eq!(
            changes(&preview),
            vec![
                ("AML.T0000", ChangeField::Applicability, "unknown", "not_applicable"),
                ("AML.T0000", ChangeField::Rationale, "", "No public footprint"),
                ("AML.T0010", ChangeField::Applicability, "unknown", "applies"),
                ("AML.T0015", ChangeField::Applicability, "unknown", "applies"),
                ("AML.T0015", ChangeField::Rationale, "", "Seen in drills\n\nAnd in prod"),
            ]
        );
        assert_eq!(
            preview.unknown_techniques,
            vec![UnknownTechnique { at: "techniques[4]".into(), technique_id: "AML.T9999".into() }]
        );
        assert_eq!(at(&preview.errors), vec!["techniques[5]"]);
        assert!(preview.errors[0].message.contains("invalid type"), "{}", preview.errors[0].message);
        assert_eq!(preview.warnings.len(), 1, "{:?}", preview.warnings);
        assert!(preview.warnings[0].contains("`nowhere` is not a tactic of AML.T0015"));
    }

    #[test]
    fn layers_for_another_domain_are_refused_and_for_another_release_read_by_id() {
        let fixture = Fixture::second_system();
        let attack = layer("").replace("atlas-atlas", "enterprise-attack");
        let refused = preview_navigator(attack.as_bytes(), &fixture.source(), &LOADED).unwrap_err();
        assert_eq!(refused.at, "domain");
        assert!(refused.reason.contains("`enterprise-attack`"));

        let future = layer("").replace("2026.05", "2031.01");
        let preview = preview_navigator(future.as_bytes(), &fixture.source(), &LOADED).expect("read by ID");
        assert!(preview.warnings[0].contains("2031.01, which is not loaded (loaded: 2026.05, 5.6.0)"));
        assert!(preview.warnings[0].contains("matched by ID"), "{:?}", preview.warnings);

        let older = layer("").replace("2026.05", "5.6.0");
        let preview = preview_navigator(older.as_bytes(), &fixture.source(), &LOADED).expect("a known release");
        assert!(preview.warnings[0].contains("matched by ID"));

        let v3 = layer("").replace("\"4.3\"", "\"3.0\"");
        assert_eq!(preview_navigator(v3.as_bytes(), &fixture.source(), &LOADED).unwrap_err().at, "versions.layer");
    }

    #[test]
    fn malformed_layers_name_the_line() {
        let fixture = Fixture::second_system();
        let text = layer(r#"{"techniqueID": "AML.T0043", "score": 3}"#);
        let truncated = &text[..text.len() - 10];
        let refused = preview_navigator(truncated.as_bytes(), &fixture.source(), &LOADED).unwrap_err();
        assert!(refused.at.starts_with("line 3, column"), "{refused}");
        assert!(refused.reason.contains("truncated"));
        let refused = preview_navigator(b"{\n  \"name\": ,\n}", &fixture.source(), &LOADED).unwrap_err();
        assert_eq!(refused.at, "line 2, column 11");
        let refused = preview_navigator(b"[]", &fixture.source(), &LOADED).unwrap_err();
        assert!(refused.reason.contains("no layer"));
        let refused = preview_navigator(
            br#"{"name": "x", "domain": "atlas-atlas", "techniques": {}}"#,
            &fixture.source(),
            &LOADED,
        )
        .unwrap_err();
        assert_eq!(refused.at, "techniques");
    }

    #[test]
    fn an_atlascope_layer_edited_in_navigator_maps_states_back() {
        let fixture = Fixture::second_system();
        let report = system_report(&fixture.source(), &fixture.options());
        let mut layer: navigator::Layer =
            serde_json::from_slice(&render(&report, ReportFormat::Navigator).expect("layer")).expect("a layer");
        for entry in &mut layer.techniques {
            match entry.technique_id.as_str() {
                // Marked not applicable in Navigator by disabling it.
                "AML.T0043" => entry.enabled = Some(false),
                // Recoloured as a gap: it applies.
                "AML.T0000.000" => entry.color = Some("#EF5350".into()),
                // Given the not-assessed colour: back to unknown.
                "AML.T0020" => entry.color = Some("#eceff1".into()),
                _ => {}
            }
        }
        let bytes = serde_json::to_vec(&layer).expect("JSON");
        let preview = preview_navigator(&bytes, &fixture.source(), &LOADED).expect("a preview");
        assert_eq!(
            changes(&preview),
            vec![
                ("AML.T0000.000", ChangeField::Applicability, "unknown", "applies"),
                ("AML.T0020", ChangeField::Applicability, "applies", "unknown"),
                ("AML.T0043", ChangeField::Applicability, "applies", "not_applicable"),
            ]
        );
    }
}
