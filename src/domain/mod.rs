//! The pure domain of coverage assessment: the vocabularies a team uses to
//! describe its systems and decisions, input limits, and (in [`coverage`])
//! the rules that turn those decisions into coverage. No I/O here.

pub mod accounts;
pub mod coverage;
pub mod detection_import;
pub mod digest;
pub mod gaps;
pub mod group_rules;
pub mod history;
pub mod records;
pub mod release_diff;
pub mod timeline;
pub mod upgrade;

pub use records::format_date;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a closed vocabulary stored as text: parsing names the accepted
/// values, and `as_str` is the stored and serialised form.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal / $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// A human label for pages and reports.
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// Parses the stored form, or explains which values are accepted.
            pub fn parse(raw: &str) -> Result<Self, String> {
                match raw.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "`{}` is not one of {}",
                        other.chars().take(40).collect::<String>(),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Whether an ATLAS technique applies to a system.
    Applicability {
        Unknown => "unknown" / "Not assessed",
        Applies => "applies" / "Applies",
        NotApplicable => "not_applicable" / "Not applicable",
    }
}

vocabulary! {
    /// A team's rating of a risk, or of a system's criticality.
    Rating {
        Low => "low" / "Low",
        Medium => "medium" / "Medium",
        High => "high" / "High",
        Critical => "critical" / "Critical",
    }
}

vocabulary! {
    /// Progress of a mitigation or control on one system.
    ImplementationStatus {
        NotStarted => "not_started" / "Not started",
        Planned => "planned" / "Planned",
        InProgress => "in_progress" / "In progress",
        Implemented => "implemented" / "Implemented",
        NotApplicable => "not_applicable" / "Not applicable",
    }
}

vocabulary! {
    /// How well the security operations centre detects a technique on one
    /// system: the second dimension of coverage, beside prevention.
    DetectionStatus {
        None => "none" / "Not detected",
        Planned => "planned" / "Detection planned",
        Partial => "partial" / "Partly detected",
        Detected => "detected" / "Detected",
    }
}

vocabulary! {
    /// How far a team trusts a detection to fire when the attack happens.
    Confidence {
        Low => "low" / "Low",
        Medium => "medium" / "Medium",
        High => "high" / "High",
    }
}

vocabulary! {
    /// Who can reach a system.
    Exposure {
        Public => "public" / "Public",
        Partner => "partner" / "Partner",
        Internal => "internal" / "Internal",
    }
}

/// Longest accepted values of free-text fields, in characters.
pub mod limits {
    pub const NAME: usize = 200;
    pub const OWNER: usize = 200;
    pub const DESCRIPTION: usize = 4_000;
    pub const RATIONALE: usize = 4_000;
    pub const NOTES: usize = 4_000;
    pub const EVIDENCE: usize = 2_000;
    pub const JUSTIFICATION: usize = 4_000;
    /// Data sources named on one detection or detection status.
    pub const DATA_SOURCES: usize = 50;
    pub const DATA_SOURCE: usize = 200;
    /// A detection's link or rule reference.
    pub const REFERENCE: usize = 2_000;
    /// The source rule file kept with a detection, in bytes.
    pub const RULE_TEXT: usize = 64 * 1024;
    /// Techniques changed by one bulk request.
    pub const BULK_ITEMS: usize = 500;
}

/// A rejected input value, naming the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub kind: FieldErrorKind,
}

/// Why a value was refused: it breaks a rule, or it is well-formed but names
/// something that does not exist (a technique not in the release, a release
/// not loaded). The API answers the first with 422 and the second with 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Invalid,
    Unknown,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into(), kind: FieldErrorKind::Invalid }
    }

    /// A well-formed value naming something that does not exist.
    pub fn unknown(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into(), kind: FieldErrorKind::Unknown }
    }
}

/// Trims a text field and checks its length (and presence, when required).
pub fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, FieldError> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let length = value.chars().count();
    if length > max {
        return Err(FieldError::new(field, format!("is {length} characters; the limit is {max}")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(value.to_string())
}

/// The years a date may fall in: anything else is a typing slip ("0002-03-15").
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// Parses a `YYYY-MM-DD` calendar date from 2000 to 2100.
pub fn date(field: &str, value: &str) -> Result<time::Date, FieldError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value.trim(), &format)
        .map_err(|_| FieldError::new(field, format!("`{}` is not a date of the form YYYY-MM-DD", value.trim())))?;
    if !YEARS.contains(&date.year()) {
        return Err(FieldError::new(
            field,
            format!(
                "{} is not a plausible date: the year must be from {} to {}",
                value.trim(),
                YEARS.start(),
                YEARS.end()
            ),
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_parse_their_stored_form_and_name_the_alternatives() {
        assert_eq!(Applicability::parse("applies"), Ok(Applicability::Applies));
        let err = ImplementationStatus::parse("done").unwrap_err();
        assert!(err.contains("not_started, planned, in_progress, implemented, not_applicable"), "{err}");
    }

    #[test]
    fn text_fields_are_trimmed_and_limited() {
        assert_eq!(text("name", "  x  ", 10, true).unwrap(), "x");
        assert_eq!(text("name", "   ", 10, true).unwrap_err().message, "is required");
        assert!(text("rationale", &"a".repeat(11), 10, false).unwrap_err().message.contains("limit is 10"));
        assert!(text("name", "a\u{0}b", 10, true).is_err());
    }

    #[test]
    fn dates_must_be_real_calendar_days() {
        assert!(date("expires_on", "2026-02-30").is_err());
        assert_eq!(format_date(date("expires_on", "2026-02-28").unwrap()), "2026-02-28");
    }
}
