//! CSV export: one row per system × technique, in the release's ID order,
//! RFC 4180 (comma, double quotes where needed, CRLF), UTF-8. The header is
//! stable ([`HEADER`]):
//!
//! | column | content |
//! |---|---|
//! | `system_id`, `system` | the system's ID and name |
//! | `technique_id`, `technique_name` | the ATLAS technique or sub-technique |
//! | `tactics` | tactic names, `; `-separated |
//! | `state` | coverage state (`covered`, `gap`, …) |
//! | `applicability` | `applies`, `not_applicable` or `unknown` |
//! | `risk` | `low`, `medium`, `high`, `critical` or empty |
//! | `rationale` | the team's rationale |
//! | `mitigations` | mapped ATLAS mitigations: `AML.M0015 Name (status, owner: X)`, `; `-separated |
//! | `controls` | mapped team controls: `#12 Name (status, owner: X)`, `; `-separated |
//! | `acceptance_until` | last day of a recorded risk acceptance (`YYYY-MM-DD`) |
//! | `priority` | the gap's priority; empty when the technique is not a gap |
//! | `detection` | how the SOC detects it: `none`, `planned`, `partial`, `detected` |
//! | `detection_confidence` | `low`, `medium`, `high` or empty |
//! | `combined_state` | prevention and detection: `both`, `prevented_only`, `detected_only`, `neither`, … |
//! | `detections` | the team's detections mapped to it, `; `-separated |
//!
//! Editing `applicability`, `risk` and `rationale` in a spreadsheet and
//! importing the file back changes those fields ([`super::import`]). A cell
//! whose text would start a spreadsheet formula (`=`, `+`, `-`, `@`, tab,
//! carriage return) is written with a leading `'`, which the import removes.

use std::fmt::Write;

use super::{GapReport, number};
use crate::domain::{ImplementationStatus, format_date};

/// The header row, in column order.
pub const HEADER: [&str; 17] = [
    "system_id",
    "system",
    "technique_id",
    "technique_name",
    "tactics",
    "state",
    "applicability",
    "risk",
    "rationale",
    "mitigations",
    "controls",
    "acceptance_until",
    "priority",
    "detection",
    "detection_confidence",
    "combined_state",
    "detections",
];

/// True when a spreadsheet could read the cell as a formula (or when it
/// already starts with the guard, so that the guard round-trips).
fn needs_guard(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        Some('\'') => needs_guard(&cell[1..]),
        _ => false,
    }
}

/// The cell as written: with a leading `'` when it could start a formula.
pub(crate) fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    if needs_guard(cell) { format!("'{cell}").into() } else { cell.into() }
}

/// The inverse of [`guard`].
pub(crate) fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => cell,
    }
}

/// `AML.M0015 Name (in_progress, owner: Alex)` or `#12 Name (planned)`.
fn measure(out: &mut String, id: &dyn std::fmt::Display, name: &str, status: ImplementationStatus, owner: &str) {
    if !out.is_empty() {
        out.push_str("; ");
    }
    let _ = write!(out, "{id} {name} ({}", status.as_str());
    if !owner.is_empty() {
        let _ = write!(out, ", owner: {owner}");
    }
    out.push(')');
}

/// Writes every system's techniques.
pub fn render(report: &GapReport) -> Result<Vec<u8>, ::csv::Error> {
    let mut writer = ::csv::WriterBuilder::new().terminator(::csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(HEADER)?;
    let (mut tactics, mut mitigations, mut controls) = (String::new(), String::new(), String::new());
    for system in &report.systems {
        let system_id = system.system_id.to_string();
        for row in &system.techniques {
            tactics.clear();
            for (i, tactic) in row.tactics.iter().enumerate() {
                if i > 0 {
                    tactics.push_str("; ");
                }
                tactics.push_str(report.tactic_name(tactic));
            }
            mitigations.clear();
            for m in &row.mitigations {
                measure(&mut mitigations, &m.id, m.name, m.status, m.owner);
            }
            controls.clear();
            for c in &row.controls {
                measure(&mut controls, &format_args!("#{}", c.id), c.name, c.status, c.owner);
            }
            let priority = row.priority.map_or_else(String::new, number);
            let acceptance_until = row.acceptance_until.map(format_date).unwrap_or_default();
            let detections = row.detections.join("; ");
            let cells: [&str; 17] = [
                &system_id,
                &system.name,
                row.technique_id,
                row.technique_name,
                &tactics,
                row.state.as_str(),
                row.applicability.as_str(),
                row.risk.map_or("", |r| r.as_str()),
                row.rationale,
                &mitigations,
                &controls,
                &acceptance_until,
                &priority,
                row.detection.as_str(),
                row.detection_confidence.map_or("", |c| c.as_str()),
                row.combined.as_str(),
                &detections,
            ];
            for cell in cells {
                writer.write_field(guard(cell).as_bytes())?;
            }
            writer.write_record(None::<&[u8]>)?;
        }
    }
    writer.into_inner().map_err(|e| ::csv::Error::from(e.into_error()))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::Fixture;
    use super::super::system_report;
    use super::*;

    #[test]
    fn the_guard_round_trips_and_defuses_formulas() {
        for cell in ["=SUM(A1)", "-1", "'=x", "''=x", "plain", "'quoted'", "", "@cmd", "+"] {
            assert_eq!(unguard(&guard(cell)), cell, "{cell:?}");
        }
        assert_eq!(guard("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(guard("'=x"), "''=x");
        assert_eq!(guard("it's"), "it's");
    }

    #[test]
    fn rows_follow_the_documented_header_with_correct_quoting() {
        let fixture = Fixture::realistic();
        let report = system_report(&fixture.source(), &fixture.options());
        let bytes = render(&report).expect("a CSV");
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        assert!(text.starts_with(
            "system_id,system,technique_id,technique_name,tactics,state,applicability,risk,rationale,\
             mitigations,controls,acceptance_until,priority,detection,detection_confidence,combined_state,detections\r\n"
        ));
        let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
        let records: Vec<::csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("parses back");
        assert_eq!(records.len(), 170);
        assert!(records.iter().all(|r| r.len() == HEADER.len()));
        let direct = records.iter().find(|r| &r[2] == "AML.T0051.000").expect("a row");
        assert_eq!(&direct[1], "Support chatbot");
        assert_eq!(&direct[5], "covered");
        assert_eq!(&direct[10], "#11 Prompt <firewall> (implemented, owner: Dana)");
        assert!(records.iter().any(|r| &r[8] == "Two lines:\nfirst; second"), "new lines survive quoting");
        assert!(records.iter().any(|r| &r[8] == "'=SUM(A1:A2) is not a formula here"), "formulas are defused");
        assert!(records.iter().any(|r| &r[8] == "Reachable by any user, see ticket SEC-12, \"quoted\""));
        let jailbreak = records.iter().find(|r| &r[2] == "AML.T0054").expect("a row");
        assert_eq!((&jailbreak[5], &jailbreak[11]), ("accepted_risk", "2027-03-31"));
        assert!(
            records.iter().any(|r| r[9].contains("(not_started, owner: Alex, Sec)")),
            "mitigation owners are listed"
        );
    }
}
