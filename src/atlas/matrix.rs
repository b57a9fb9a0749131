//! The ATLAS matrix as pages and the API show it: tactics as columns in
//! official order, top-level techniques in each, their sub-techniques
//! beneath, narrowed by a [`TechniqueFilter`].

use super::framework::Framework;
use super::model::{Maturity, PLATFORMS, Tactic, Technique};

/// Narrows the techniques shown. Every field is optional; all given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TechniqueFilter {
    /// Case-insensitive text matched against ID, name and summary.
    pub text: Option<String>,
    pub tactic: Option<String>,
    pub maturity: Option<Maturity>,
    pub platform: Option<String>,
}

/// A filter value that could not be understood, with the field it came from.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FilterError {
    pub field: &'static str,
    pub message: String,
    /// The value is well-formed but names what the release does not have (a tactic).
    pub unknown: bool,
}

impl TechniqueFilter {
    /// Builds a filter from raw query values, checking them against the release.
    pub fn parse(
        framework: &Framework,
        text: Option<&str>,
        tactic: Option<&str>,
        maturity: Option<&str>,
        platform: Option<&str>,
    ) -> Result<Self, FilterError> {
        let text = present(text).map(|t| t.to_lowercase());
        if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
            return Err(FilterError {
                field: "q",
                message: "the search text is limited to 200 characters".into(),
                unknown: false,
            });
        }
        let tactic = match present(tactic) {
            None => None,
            Some(id) if framework.tactic(id).is_some() => Some(id.to_string()),
            Some(id) => {
                return Err(FilterError {
                    field: "tactic",
                    message: format!("{id} is not a tactic of release {}", framework.version()),
                    unknown: true,
                });
            }
        };
        let maturity = match present(maturity) {
            None => None,
            Some(raw) => Some(Maturity::parse(raw).ok_or_else(|| FilterError {
                field: "maturity",
                message: format!("`{raw}` is not one of feasible, demonstrated, realized"),
                unknown: false,
            })?),
        };
        let platform = match present(platform) {
            None => None,
            Some(raw) => {
                Some(PLATFORMS.iter().find(|p| p.eq_ignore_ascii_case(raw)).map(|p| p.to_string()).ok_or_else(
                    || FilterError {
                        field: "platform",
                        message: format!("`{raw}` is not one of {}", PLATFORMS.join(", ")),
                        unknown: false,
                    },
                )?)
            }
        };
        Ok(TechniqueFilter { text, tactic, maturity, platform })
    }

    pub fn is_empty(&self) -> bool {
        self == &TechniqueFilter::default()
    }

    /// Whether the technique itself matches (tactic aside, which selects columns).
    pub fn matches(&self, technique: &Technique) -> bool {
        if let Some(maturity) = self.maturity
            && technique.maturity != Some(maturity)
        {
            return false;
        }
        if let Some(platform) = &self.platform
            && !technique.platforms.iter().any(|p| p == platform)
        {
            return false;
        }
        if let Some(text) = &self.text {
            let hit = technique.id.to_lowercase().contains(text)
                || technique.name.to_lowercase().contains(text)
                || technique.summary.as_ref().is_some_and(|s| s.to_lowercase().contains(text));
            if !hit {
                return false;
            }
        }
        true
    }
}

pub struct Matrix<'a> {
    pub columns: Vec<Column<'a>>,
    /// Techniques and sub-techniques shown, counting each once.
    pub shown: usize,
}

pub struct Column<'a> {
    pub tactic: &'a Tactic,
    pub cells: Vec<Cell<'a>>,
}

pub struct Cell<'a> {
    pub technique: &'a Technique,
    pub case_studies: usize,
    /// False when the cell is shown only because a sub-technique matched.
    pub matched: bool,
    pub subtechniques: Vec<SubCell<'a>>,
    /// Number of sub-techniques the release has, shown or not.
    pub subtechnique_total: usize,
}

pub struct SubCell<'a> {
    pub technique: &'a Technique,
    pub case_studies: usize,
}

/// Lays out the matrix for a release under a filter. A parent stays when one
/// of its sub-techniques matches, so the match keeps its context.
pub fn build<'a>(framework: &'a Framework, filter: &TechniqueFilter) -> Matrix<'a> {
    let mut shown = std::collections::HashSet::new();
    let columns = framework
        .tactics()
        .iter()
        .enumerate()
        .filter(|(_, tactic)| filter.tactic.as_ref().is_none_or(|t| t == &tactic.id))
        .map(|(position, tactic)| {
            let cells = framework
                .column(position)
                .filter_map(|technique| {
                    let all_subs: Vec<&Technique> = framework.subtechniques(&technique.id).collect();
                    let matched = filter.matches(technique);
                    let subtechniques: Vec<SubCell> = all_subs
                        .iter()
                        .filter(|sub| filter.is_empty() || filter.matches(sub))
                        .map(|sub| SubCell { technique: sub, case_studies: framework.case_study_count(&sub.id) })
                        .collect();
                    if !matched && subtechniques.is_empty() {
                        return None;
                    }
                    shown.insert(technique.id.as_str());
                    shown.extend(subtechniques.iter().map(|s| s.technique.id.as_str()));
                    Some(Cell {
                        technique,
                        case_studies: framework.case_study_count(&technique.id),
                        matched,
                        subtechnique_total: all_subs.len(),
                        subtechniques,
                    })
                })
                .collect();
            Column { tactic, cells }
        })
        .collect();
    Matrix { columns, shown: shown.len() }
}
