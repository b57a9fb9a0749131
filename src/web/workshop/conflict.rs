//! A panel save refused because someone else saved the same record first:
//! the record's saved values are compared field by field with what was
//! sent, so the person sees who changed what, both values, and keeps the
//! text they typed.

use super::panel::{Conflict, ConflictRow, Subject, Submission};
use crate::domain::records::{Changed, StatusRecord, format_date};
use crate::domain::{Applicability, Confidence, DetectionStatus, ImplementationStatus, Rating};
use crate::service::snapshot::Snapshot;

/// The fields the form carries, with how people read them.
const FIELDS: [(&str, &str, bool); 14] = [
    ("applicability", "Applies", false),
    ("risk", "Risk rating", false),
    ("rationale", "Rationale", true),
    ("status", "Status", false),
    ("owner", "Owner", true),
    ("target_date", "Target date", false),
    ("evidence", "Evidence", true),
    ("notes", "Notes", true),
    ("justification", "Justification", true),
    ("accepted_by", "Accepted by", true),
    ("expires_on", "Until", false),
    ("detection_status", "Detection", false),
    ("confidence", "Confidence", false),
    ("data_sources", "Data sources", true),
];

/// The saved values of the record a form writes, and who saved them.
fn saved(
    snapshot: &Snapshot,
    technique_id: &str,
    subject: Subject<'_>,
) -> Option<(Vec<(&'static str, String)>, Changed)> {
    let status = |row: Option<&StatusRecord>| {
        let row = row?;
        Some((
            vec![
                ("status", row.status.as_str().to_string()),
                ("owner", row.owner.clone()),
                ("target_date", row.target_date.map(format_date).unwrap_or_default()),
                ("evidence", row.evidence.clone()),
                ("notes", row.notes.clone()),
            ],
            row.changed.clone(),
        ))
    };
    match subject {
        Subject::Assessment => snapshot.assessments.get(technique_id).map(|a| {
            (
                vec![
                    ("applicability", a.applicability.as_str().to_string()),
                    ("risk", a.risk.map(|r| r.as_str().to_string()).unwrap_or_default()),
                    ("rationale", a.rationale.clone()),
                ],
                a.changed.clone(),
            )
        }),
        Subject::Mitigation(id) => status(snapshot.mitigation_statuses.get(id)),
        Subject::Control(id) => status(snapshot.control_statuses.get(&id.to_string())),
        Subject::Acceptance => snapshot.acceptances.get(technique_id).map(|a| {
            (
                vec![
                    ("justification", a.justification.clone()),
                    ("accepted_by", a.accepted_by.clone()),
                    ("expires_on", format_date(a.expires_on)),
                ],
                a.changed.clone(),
            )
        }),
        Subject::Detection => snapshot.detection_statuses.get(technique_id).map(|d| {
            (
                vec![
                    ("detection_status", d.status.as_str().to_string()),
                    ("confidence", d.confidence.map(|c| c.as_str().to_string()).unwrap_or_default()),
                    ("data_sources", d.data_sources.join("\n")),
                    ("owner", d.owner.clone()),
                    ("evidence", d.evidence.clone()),
                    ("notes", d.notes.clone()),
                ],
                d.changed.clone(),
            )
        }),
        Subject::Action => None,
    }
}

/// A value as a person reads it: labels for coded values, a dash for nothing.
fn shown(key: &str, value: &str) -> String {
    let value = value.trim();
    let label = match key {
        "applicability" => Applicability::parse(value).ok().map(Applicability::label),
        "risk" => Rating::parse(value).ok().map(Rating::label),
        "status" => ImplementationStatus::parse(value).ok().map(ImplementationStatus::label),
        "detection_status" => DetectionStatus::parse(value).ok().map(DetectionStatus::label),
        "confidence" => Confidence::parse(value).ok().map(Confidence::label),
        _ => None,
    };
    match (label, value.is_empty()) {
        (Some(label), _) => label.to_string(),
        (None, true) => "—".to_string(),
        (None, false) => value.to_string(),
    }
}

/// Both sides of a refused save, or `None` when the saved record cannot be
/// found (it was deleted): the plain message then says what happened.
pub fn describe(
    snapshot: &Snapshot,
    technique_id: &str,
    submission: Submission<'_>,
    current_version: i64,
) -> Option<Conflict> {
    let (values, changed) = saved(snapshot, technique_id, submission.subject)?;
    let mut rows = Vec::new();
    let mut hidden = vec![("version".to_string(), current_version.to_string())];
    for (key, yours) in submission.fields.into_iter().filter(|(k, _)| k != "version") {
        let theirs = values.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str()).unwrap_or_default();
        let field = FIELDS.iter().find(|(k, _, _)| *k == key);
        match field {
            Some((_, label, editable)) if yours.trim() != theirs.trim() => {
                rows.push(ConflictRow { theirs: shown(&key, theirs), label, editable: *editable, key, yours })
            }
            _ => hidden.push((key, yours)),
        }
    }
    Some(Conflict {
        who: if changed.updated_by.is_empty() { "Someone".to_string() } else { changed.updated_by },
        at: changed.updated_at,
        rows,
        action: submission.action,
        hidden,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_values_read_as_labels_and_nothing_as_a_dash() {
        assert_eq!(shown("applicability", "not_applicable"), "Not applicable");
        assert_eq!(shown("status", "implemented"), "Implemented");
        assert_eq!(shown("notes", "  "), "—");
        assert_eq!(shown("notes", "rate limit"), "rate limit");
    }
}
