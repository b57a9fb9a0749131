//! The change history as typed values: what kind of thing changed, and the
//! record before and after. Undo, the pages and the API read the same type;
//! the database stores each record as JSON beside its kind.

use serde::Serialize;

use super::records::{
    Acceptance, Assessment, Control, Detection, DetectionRecord, StatusRecord, System, Team, Timestamp,
};

/// What a history entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    Assessment,
    /// A mitigation's status on the system.
    Mitigation,
    /// A team control's status on the system.
    ControlStatus,
    Acceptance,
    System,
    Team,
    Control,
    /// How a technique is detected on the system.
    DetectionStatus,
    /// A team's detection definition (a rule), created, edited, imported or deleted.
    Detection,
}

impl Entity {
    pub const ALL: [Entity; 9] = [
        Entity::Assessment,
        Entity::Mitigation,
        Entity::ControlStatus,
        Entity::Acceptance,
        Entity::System,
        Entity::Team,
        Entity::Control,
        Entity::DetectionStatus,
        Entity::Detection,
    ];

    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Assessment => "assessment",
            Entity::Mitigation => "mitigation",
            Entity::ControlStatus => "control_status",
            Entity::Acceptance => "acceptance",
            Entity::System => "system",
            Entity::Team => "team",
            Entity::Control => "control",
            Entity::DetectionStatus => "detection_status",
            Entity::Detection => "detection",
        }
    }

    /// How people call it.
    pub fn label(self) -> &'static str {
        match self {
            Entity::Assessment => "Assessment",
            Entity::Mitigation => "Mitigation",
            Entity::ControlStatus => "Control",
            Entity::Acceptance => "Risk acceptance",
            Entity::System => "System",
            Entity::Team => "Team",
            Entity::Control => "Control definition",
            Entity::DetectionStatus => "Detection",
            Entity::Detection => "Detection rule",
        }
    }

    pub fn parse(raw: &str) -> Result<Entity, String> {
        Entity::ALL.into_iter().find(|e| e.as_str() == raw).ok_or_else(|| format!("`{raw}` is not a kind of change"))
    }
}

/// A record as a history entry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Recorded {
    Assessment(Assessment),
    Status(StatusRecord),
    Acceptance(Acceptance),
    System(System),
    Team(Team),
    Control(Control),
    DetectionStatus(DetectionRecord),
    Detection(Detection),
}

impl Recorded {
    /// Reads the JSON stored for an entity.
    pub fn decode(entity: Entity, json: &str) -> Result<Recorded, serde_json::Error> {
        Ok(match entity {
            Entity::Assessment => Recorded::Assessment(serde_json::from_str(json)?),
            Entity::Mitigation | Entity::ControlStatus => Recorded::Status(serde_json::from_str(json)?),
            Entity::Acceptance => Recorded::Acceptance(serde_json::from_str(json)?),
            Entity::System => Recorded::System(serde_json::from_str(json)?),
            Entity::Team => Recorded::Team(serde_json::from_str(json)?),
            Entity::Control => Recorded::Control(serde_json::from_str(json)?),
            Entity::DetectionStatus => Recorded::DetectionStatus(serde_json::from_str(json)?),
            Entity::Detection => Recorded::Detection(serde_json::from_str(json)?),
        })
    }

    /// The JSON to store.
    pub fn encode(&self) -> String {
        // Records are plain data; writing them as JSON cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record's version (0 for a default that was never stored).
    pub fn version(&self) -> i64 {
        match self {
            Recorded::Assessment(r) => r.version,
            Recorded::Status(r) => r.version,
            Recorded::Acceptance(r) => r.version,
            Recorded::System(r) => r.version,
            Recorded::Team(r) => r.version,
            Recorded::Control(r) => r.version,
            Recorded::DetectionStatus(r) => r.version,
            Recorded::Detection(r) => r.version,
        }
    }

    /// The record as JSON, for the API.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub id: i64,
    pub team_id: i64,
    pub system_id: Option<i64>,
    /// The account or workshop guest who made the change.
    pub actor: String,
    pub at: Timestamp,
    pub entity: Entity,
    /// The technique, mitigation or control the change is about ('' for the system or team itself).
    pub item: String,
    /// One line saying what changed.
    pub summary: String,
    /// The record before the change; `None` for a creation.
    pub before: Option<Recorded>,
    /// The record after the change; `None` for a deletion.
    pub after: Option<Recorded>,
    /// Shared by the entries of one bulk action (or one undo of it).
    pub batch: Option<i64>,
}
