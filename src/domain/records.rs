//! What a team records, as typed values: teams, ML systems, controls, and a
//! system's decisions (technique assessments, mitigation and control
//! statuses, risk acceptances). The database layer decodes its rows into
//! these once; the use cases, pages, API, reports and the history all work
//! on them. Pure: times are values handed in, never read here.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use super::{
    Applicability, Confidence, DetectionStatus, Exposure, FieldError, ImplementationStatus, Rating, limits, text,
};

/// A moment, stored and shown as RFC 3339 (UTC, whole seconds).
pub type Timestamp = OffsetDateTime;

/// A team: who owns systems and controls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i64,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// An ML system, assessed against one ATLAS release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct System {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    pub owner: String,
    /// ATLAS platforms: Predictive AI, Generative AI, Agentic AI, Enterprise.
    pub platforms: Vec<String>,
    pub exposure: Exposure,
    pub criticality: Rating,
    /// The ATLAS release the system is assessed against.
    pub framework_version: String,
    pub version: i64,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A measure a team defines itself and maps to ATLAS techniques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Control {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    /// ATLAS technique IDs the control addresses, in ID order.
    pub techniques: Vec<String>,
    pub version: i64,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A detection a team's security operations centre runs (a Sigma rule, a
/// SIEM query, an alert), mapped to the ATLAS techniques it detects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Detection {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    /// The log sources it needs ("proxy logs", "LLM gateway prompts").
    pub data_sources: Vec<String>,
    /// A link to the rule or a reference in the team's rule repository.
    pub reference: String,
    /// The `id` of the Sigma rule it was imported from; imports match on it.
    pub rule_id: Option<String>,
    /// The rule file as imported (one YAML document).
    pub rule_text: Option<String>,
    /// ATLAS technique IDs it detects, in ID order.
    pub techniques: Vec<String>,
    pub version: i64,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl Detection {
    /// The same definition, ignoring the version and times.
    pub fn same_definition(&self, other: &Detection) -> bool {
        (&self.name, &self.description, &self.data_sources, &self.reference, &self.rule_id, &self.rule_text)
            == (
                &other.name,
                &other.description,
                &other.data_sources,
                &other.reference,
                &other.rule_id,
                &other.rule_text,
            )
            && self.techniques == other.techniques
    }
}

/// A list of data source names: trimmed, empty ones dropped, duplicates
/// (ignoring case) removed, each and the count limited.
pub fn data_sources(field: &str, raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut sources: Vec<String> = Vec::new();
    for source in raw {
        let source = text(field, source, limits::DATA_SOURCE, false)?;
        if !source.is_empty() && !sources.iter().any(|s| s.eq_ignore_ascii_case(&source)) {
            sources.push(source);
        }
    }
    if sources.len() > limits::DATA_SOURCES {
        return Err(FieldError::new(field, format!("at most {} data sources", limits::DATA_SOURCES)));
    }
    Ok(sources)
}

/// How a technique is detected on a system: the detection dimension of
/// its coverage, kept beside the mitigations and controls that prevent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionRecord {
    pub technique_id: String,
    pub status: DetectionStatus,
    pub confidence: Option<Confidence>,
    /// The data sources the system actually has for detecting it.
    pub data_sources: Vec<String>,
    pub owner: String,
    pub evidence: String,
    pub notes: String,
    /// 0 while nothing was recorded.
    pub version: i64,
    #[serde(flatten)]
    pub changed: Changed,
}

impl DetectionRecord {
    /// What every technique has before anyone records its detection (version 0).
    pub fn undetected(technique_id: &str) -> Self {
        DetectionRecord {
            technique_id: technique_id.to_string(),
            status: DetectionStatus::None,
            confidence: None,
            data_sources: Vec::new(),
            owner: String::new(),
            evidence: String::new(),
            notes: String::new(),
            version: 0,
            changed: Changed::default(),
        }
    }

    /// This record with a change applied; texts are checked.
    pub fn with(&self, change: &DetectionChange) -> Result<DetectionRecord, FieldError> {
        let mut next = self.clone();
        if let Some(status) = change.status {
            next.status = status;
        }
        if let Some(confidence) = change.confidence {
            next.confidence = confidence;
        }
        if let Some(sources) = &change.data_sources {
            next.data_sources = data_sources("data_sources", sources)?;
        }
        if let Some(owner) = &change.owner {
            next.owner = text("owner", owner, limits::OWNER, false)?;
        }
        if let Some(evidence) = &change.evidence {
            next.evidence = text("evidence", evidence, limits::EVIDENCE, false)?;
        }
        if let Some(notes) = &change.notes {
            next.notes = text("notes", notes, limits::NOTES, false)?;
        }
        Ok(next)
    }

    /// The same decision, ignoring who made it and the version.
    pub fn same_decision(&self, other: &DetectionRecord) -> bool {
        (self.status, self.confidence, &self.data_sources, &self.owner, &self.evidence, &self.notes)
            == (other.status, other.confidence, &other.data_sources, &other.owner, &other.evidence, &other.notes)
    }
}

/// Fields to change on a technique's detection; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectionChange {
    pub status: Option<DetectionStatus>,
    /// `Some(None)` clears the confidence.
    pub confidence: Option<Option<Confidence>>,
    pub data_sources: Option<Vec<String>>,
    pub owner: Option<String>,
    pub evidence: Option<String>,
    pub notes: Option<String>,
}

/// A moment of a team named by people ("Q3 review"), which comparisons and
/// digests can start or end at. The map at that moment is replayed from
/// the history; the snapshot holds only the name and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TeamSnapshot {
    pub id: i64,
    pub team_id: i64,
    /// Unique within the team, compared without regard to case.
    pub name: String,
    /// The moment it names.
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub created_by: String,
    #[serde(with = "stamp")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Who last changed a decision, and when; nobody yet for a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// Empty until someone decides.
    pub updated_by: String,
    #[serde(with = "optional_stamp", default)]
    pub updated_at: Option<Timestamp>,
}

impl Changed {
    pub fn by(actor: &str, at: Timestamp) -> Self {
        Changed { updated_by: actor.to_string(), updated_at: Some(at) }
    }
}

/// A technique's assessment on a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub technique_id: String,
    pub applicability: Applicability,
    /// Proposed by "suggested scope" from the system's platforms, not yet decided.
    pub suggested: bool,
    pub rationale: String,
    pub risk: Option<Rating>,
    /// 0 while nothing was recorded.
    pub version: i64,
    #[serde(flatten)]
    pub changed: Changed,
}

impl Assessment {
    /// The assessment every technique has before anyone decides (version 0).
    pub fn unassessed(technique_id: &str) -> Self {
        Assessment {
            technique_id: technique_id.to_string(),
            applicability: Applicability::Unknown,
            suggested: false,
            rationale: String::new(),
            risk: None,
            version: 0,
            changed: Changed::default(),
        }
    }

    /// This assessment with a change applied; the text is checked.
    pub fn with(&self, change: &AssessmentChange) -> Result<Assessment, FieldError> {
        let mut next = self.clone();
        if let Some(applicability) = change.applicability {
            next.applicability = applicability;
            // A decision replaces the suggestion.
            next.suggested = next.suggested && applicability == Applicability::Unknown;
        }
        if let Some(rationale) = &change.rationale {
            next.rationale = text("rationale", rationale, limits::RATIONALE, false)?;
        }
        if let Some(risk) = change.risk {
            next.risk = risk;
        }
        Ok(next)
    }

    /// The same decisions, ignoring who made them and the version.
    pub fn same_decision(&self, other: &Assessment) -> bool {
        (self.applicability, self.suggested, &self.rationale, self.risk)
            == (other.applicability, other.suggested, &other.rationale, other.risk)
    }
}

/// Fields to change on a technique assessment; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssessmentChange {
    pub applicability: Option<Applicability>,
    pub rationale: Option<String>,
    /// `Some(None)` clears the rating.
    pub risk: Option<Option<Rating>>,
}

/// How far a mitigation (`item` = its ATLAS ID) or a team control (`item` =
/// its numeric ID) is on a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    pub item: String,
    pub status: ImplementationStatus,
    pub owner: String,
    #[serde(with = "optional_date", default)]
    pub target_date: Option<Date>,
    pub evidence: String,
    pub notes: String,
    /// 0 while nothing was recorded.
    pub version: i64,
    #[serde(flatten)]
    pub changed: Changed,
}

impl StatusRecord {
    /// The status every mitigation or control has before anyone sets it (version 0).
    pub fn not_started(item: &str) -> Self {
        StatusRecord {
            item: item.to_string(),
            status: ImplementationStatus::NotStarted,
            owner: String::new(),
            target_date: None,
            evidence: String::new(),
            notes: String::new(),
            version: 0,
            changed: Changed::default(),
        }
    }

    /// This status with a change applied; texts and the date are checked.
    pub fn with(&self, change: &StatusChange) -> Result<StatusRecord, FieldError> {
        let mut next = self.clone();
        if let Some(status) = change.status {
            next.status = status;
        }
        if let Some(owner) = &change.owner {
            next.owner = text("owner", owner, limits::OWNER, false)?;
        }
        if let Some(target) = &change.target_date {
            next.target_date = match target.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => None,
                Some(raw) => Some(super::date("target_date", raw)?),
            };
        }
        if let Some(evidence) = &change.evidence {
            next.evidence = text("evidence", evidence, limits::EVIDENCE, false)?;
        }
        if let Some(notes) = &change.notes {
            next.notes = text("notes", notes, limits::NOTES, false)?;
        }
        Ok(next)
    }

    /// The same status, ignoring who set it and the version.
    pub fn same_decision(&self, other: &StatusRecord) -> bool {
        (self.status, &self.owner, self.target_date, &self.evidence, &self.notes)
            == (other.status, &other.owner, other.target_date, &other.evidence, &other.notes)
    }
}

/// Fields to change on a mitigation or control status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusChange {
    pub status: Option<ImplementationStatus>,
    pub owner: Option<String>,
    /// `Some(None)` clears the date; dates are `YYYY-MM-DD`.
    pub target_date: Option<Option<String>>,
    pub evidence: Option<String>,
    pub notes: Option<String>,
}

/// A risk accepted on a technique until a day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub technique_id: String,
    pub justification: String,
    pub accepted_by: String,
    /// The last day the acceptance holds.
    #[serde(with = "date")]
    pub expires_on: Date,
    pub version: i64,
    #[serde(flatten)]
    pub changed: Changed,
}

impl Acceptance {
    /// The one rule for whether an acceptance counts on a day: up to and
    /// including its last day. Afterwards the technique is a gap again.
    pub fn is_active(&self, day: Date) -> bool {
        accepted_through(self.expires_on, day)
    }

    /// The same acceptance, ignoring who made it and the version.
    pub fn same_decision(&self, other: &Acceptance) -> bool {
        (&self.justification, &self.accepted_by, self.expires_on)
            == (&other.justification, &other.accepted_by, other.expires_on)
    }
}

/// Whether a risk accepted through `last_day` still holds on `day`: the one
/// rule behind [`Acceptance::is_active`] and the coverage rules.
pub fn accepted_through(last_day: Date, day: Date) -> bool {
    last_day >= day
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

/// RFC 3339 in UTC, whole seconds (`2026-12-01T06:02:36Z`).
pub fn format_timestamp(at: Timestamp) -> String {
    let at = at.to_offset(time::UtcOffset::UTC).replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Reads [`format_timestamp`]'s form (any RFC 3339 time).
pub fn parse_timestamp(raw: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339).ok()
}

/// Serde for timestamps as RFC 3339 text.
pub mod stamp {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Timestamp, format_timestamp, parse_timestamp};

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_timestamp(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse_timestamp(&raw).ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not an RFC 3339 time")))
    }

    /// An optional time: the text, or null.
    pub fn serialize_option<S: Serializer>(at: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&format_timestamp(*at)),
            None => serializer.serialize_none(),
        }
    }
}

/// Serde for an optional timestamp: RFC 3339 text, or empty (also `null`) for none.
pub mod optional_stamp {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Timestamp, format_timestamp, parse_timestamp};

    pub fn serialize<S: Serializer>(at: &Option<Timestamp>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.map(format_timestamp).unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => parse_timestamp(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not an RFC 3339 time"))),
        }
    }
}

/// Serde for a calendar day as `YYYY-MM-DD`.
pub mod date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    use super::format_date;

    pub fn serialize<S: Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_date(*date))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse(&raw).ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not a date (YYYY-MM-DD)")))
    }

    pub(super) fn parse(raw: &str) -> Option<Date> {
        Date::parse(raw.trim(), &time::macros::format_description!("[year]-[month]-[day]")).ok()
    }
}

/// Serde for an optional day: `YYYY-MM-DD`, or `null` (also empty) for none.
pub mod optional_date {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Date;

    use super::format_date;

    pub fn serialize<S: Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
        match date {
            Some(date) => serializer.serialize_str(&format_date(*date)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Date>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => super::date::parse(&raw)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not a date (YYYY-MM-DD)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acceptance_holds_through_its_last_day() {
        let day = time::macros::date!(2026 - 12 - 01);
        let acceptance = Acceptance {
            technique_id: "AML.T0051".into(),
            justification: "j".into(),
            accepted_by: "a".into(),
            expires_on: day,
            version: 1,
            changed: Changed::default(),
        };
        assert!(acceptance.is_active(day));
        assert!(acceptance.is_active(day.previous_day().unwrap()));
        assert!(!acceptance.is_active(day.next_day().unwrap()));
    }

    #[test]
    fn records_read_what_the_history_stored_before_they_were_typed() {
        let old = r#"{"technique_id":"AML.T0051","applicability":"unknown","suggested":false,"rationale":"",
                      "risk":null,"version":0,"updated_by":"","updated_at":""}"#;
        let assessment: Assessment = serde_json::from_str(old).expect("an unassessed row as stored");
        assert_eq!(assessment, Assessment::unassessed("AML.T0051"));
        let status = r#"{"item":"AML.M0020","status":"planned","owner":"Dana","target_date":"2027-03-15",
                         "evidence":"","notes":"","version":2,"updated_by":"ana","updated_at":"2026-11-25T10:00:00Z"}"#;
        let status: StatusRecord = serde_json::from_str(status).expect("a status row as stored");
        assert_eq!(status.target_date, Some(time::macros::date!(2027 - 03 - 15)));
        assert_eq!(status.changed.updated_at.map(format_timestamp).as_deref(), Some("2026-11-25T10:00:00Z"));
        let again: StatusRecord = serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
        assert_eq!(again, status, "what is written reads back the same");
    }

    #[test]
    fn changes_apply_checked_values() {
        let base = StatusRecord::not_started("AML.M0020");
        let change = StatusChange { target_date: Some(Some("0002-03-15".into())), ..Default::default() };
        assert_eq!(base.with(&change).unwrap_err().field, "target_date");
        let change = StatusChange { status: Some(ImplementationStatus::Implemented), ..Default::default() };
        assert_eq!(base.with(&change).unwrap().status, ImplementationStatus::Implemented);
        let suggested = Assessment { suggested: true, ..Assessment::unassessed("AML.T0051") };
        let decided = suggested
            .with(&AssessmentChange { applicability: Some(Applicability::Applies), ..Default::default() })
            .unwrap();
        assert!(!decided.suggested, "a decision replaces the suggestion");
    }
}
