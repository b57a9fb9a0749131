//! Owned system data for report tests: realistic decisions on the bundled
//! release, with the awkward text a spreadsheet or a browser must survive
//! (commas, quotes, new lines, markup, a leading `=`).

use std::collections::HashMap;

use super::{ReportOptions, SystemSource};
use crate::atlas::{Framework, bundled};
use crate::domain::records::{Acceptance, Assessment, Changed, Control, StatusRecord, System};
use crate::domain::{Applicability, Exposure, ImplementationStatus, Rating, date};

pub(crate) const TODAY: &str = "2026-11-25";

pub(crate) struct Fixture {
    pub system: System,
    pub framework: Framework,
    pub assessments: HashMap<String, Assessment>,
    pub mitigation_statuses: HashMap<String, StatusRecord>,
    pub controls: Vec<Control>,
    pub control_statuses: HashMap<String, StatusRecord>,
    pub acceptances: HashMap<String, Acceptance>,
    pub detection_statuses: HashMap<String, crate::domain::records::DetectionRecord>,
    pub detections: Vec<crate::domain::records::Detection>,
}

fn system(id: i64, name: &str, exposure: Exposure, criticality: Rating) -> System {
    System {
        id,
        team_id: 1,
        name: name.into(),
        description: String::new(),
        owner: "Platform team".into(),
        platforms: vec!["Generative AI".into()],
        exposure,
        criticality,
        framework_version: bundled::BUNDLED_VERSION.into(),
        version: 1,
        created_at: time::macros::datetime!(2026-11-01 10:00 UTC),
        updated_at: time::macros::datetime!(2026-11-01 10:00 UTC),
    }
}

fn control(id: i64, name: &str, techniques: &[&str]) -> Control {
    Control {
        id,
        team_id: 1,
        name: name.into(),
        description: String::new(),
        techniques: techniques.iter().map(|t| t.to_string()).collect(),
        version: 1,
        created_at: time::macros::datetime!(2026-11-01 10:00 UTC),
        updated_at: time::macros::datetime!(2026-11-01 10:00 UTC),
    }
}

fn status(item: &str, status: ImplementationStatus, owner: &str) -> StatusRecord {
    StatusRecord { status, owner: owner.into(), version: 1, ..StatusRecord::not_started(item) }
}

impl Fixture {
    fn empty(system: System) -> Self {
        Fixture {
            system,
            framework: bundled::framework(),
            assessments: HashMap::new(),
            mitigation_statuses: HashMap::new(),
            controls: Vec::new(),
            control_statuses: HashMap::new(),
            acceptances: HashMap::new(),
            detection_statuses: HashMap::new(),
            detections: Vec::new(),
        }
    }

    pub fn assess(&mut self, technique: &str, applicability: Applicability, risk: Option<Rating>, rationale: &str) {
        self.assessments.insert(
            technique.into(),
            Assessment {
                applicability,
                risk,
                rationale: rationale.into(),
                version: 1,
                ..Assessment::unassessed(technique)
            },
        );
    }

    /// A public, critical chatbot: every Generative AI technique applies,
    /// every fourth other technique is not applicable, the rest unassessed;
    /// mitigations at every status, three team controls, a running and an
    /// expired risk acceptance.
    pub fn realistic() -> Self {
        let mut fixture = Fixture::empty(system(1, "Support chatbot", Exposure::Public, Rating::Critical));
        let risks = Rating::ALL;
        let rationales = [
            "",
            "Reachable by any user, see ticket SEC-12, \"quoted\"",
            "Two lines:\nfirst; second",
            "=SUM(A1:A2) is not a formula here",
            "Modèle exposé: données ≠ code",
        ];
        let techniques: Vec<(String, bool)> = fixture
            .framework
            .techniques()
            .iter()
            .map(|t| (t.id.clone(), t.platforms.iter().any(|p| p == "Generative AI")))
            .collect();
        for (i, (id, generative)) in techniques.iter().enumerate() {
            if *generative {
                let risk = (i % 3 != 0).then(|| risks[i % risks.len()]);
                fixture.assess(id, Applicability::Applies, risk, rationales[i % rationales.len()]);
            } else if i % 4 == 0 {
                fixture.assess(id, Applicability::NotApplicable, None, "No training pipeline in scope");
            }
        }
        let statuses = ImplementationStatus::ALL;
        let mitigations: Vec<String> = fixture.framework.mitigations().iter().map(|m| m.id.clone()).collect();
        for (i, id) in mitigations.iter().enumerate() {
            if i % 2 == 0 {
                let owner = if i % 4 == 0 { "Alex, Sec" } else { "" };
                fixture.mitigation_statuses.insert(id.clone(), status(id, statuses[i % statuses.len()], owner));
            }
        }
        fixture.controls = vec![
            control(11, "Prompt <firewall>", &["AML.T0051.000"]),
            control(12, "Egress review, \"strict\"", &["AML.T0024", "AML.T0025", "AML.T0057"]),
            control(13, "Red team drills", &["AML.T0054", "AML.T0051.001"]),
        ];
        fixture.control_statuses.insert("11".into(), status("11", ImplementationStatus::Implemented, "Dana"));
        fixture.control_statuses.insert("12".into(), status("12", ImplementationStatus::InProgress, "Eve"));
        for (technique, until) in
            [("AML.T0054", time::macros::date!(2027 - 03 - 31)), ("AML.T0057", time::macros::date!(2026 - 01 - 31))]
        {
            fixture.acceptances.insert(
                technique.into(),
                Acceptance {
                    technique_id: technique.into(),
                    justification: "Vendor fix due".into(),
                    accepted_by: "CISO".into(),
                    expires_on: until,
                    version: 1,
                    changed: Changed::default(),
                },
            );
        }
        fixture
    }

    /// An internal, low-criticality classifier with a few decisions.
    pub fn second_system() -> Self {
        let mut fixture = Fixture::empty(system(2, "Fraud model", Exposure::Internal, Rating::Low));
        fixture.assess("AML.T0043", Applicability::Applies, Some(Rating::High), "Adversarial inputs at scoring time");
        fixture.assess("AML.T0020", Applicability::Applies, None, "");
        fixture.assess("AML.T0051", Applicability::NotApplicable, None, "No LLM");
        fixture
    }

    pub fn framework(&self) -> &Framework {
        &self.framework
    }

    pub fn source(&self) -> SystemSource<'_> {
        SystemSource {
            system: &self.system,
            framework: &self.framework,
            assessments: &self.assessments,
            mitigation_statuses: &self.mitigation_statuses,
            controls: &self.controls,
            control_statuses: &self.control_statuses,
            acceptances: &self.acceptances,
            detection_statuses: &self.detection_statuses,
            detections: &self.detections,
            decisions: None,
            coverage: None,
        }
    }

    pub fn options(&self) -> ReportOptions {
        ReportOptions::new(date("test", TODAY).expect("a date"))
    }
}
