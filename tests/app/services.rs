//! The write paths as every entry point reaches them: the service functions
//! over a core opened by the one start-up function, with no HTTP in between.

use atlascope::core::{Core, CoreConfig};
use atlascope::domain::coverage::CoverageState;
use atlascope::domain::records::{AssessmentChange, StatusChange};
use atlascope::domain::{Applicability, ImplementationStatus, Rating};
use atlascope::service::decisions::{self, AcceptanceInput};
use atlascope::service::systems::SystemInput;
use atlascope::service::teams::TeamInput;
use atlascope::service::{Actor, ServiceError, snapshot, systems, teams};

/// A fresh core on its own data directory, with one team and one system.
async fn core_with_system() -> (Core, i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig { data_dir: dir.path().to_path_buf(), default_release: None, create: true };
    let core = Core::open(&config).await.expect("the core opens");
    let actor = Actor("ana".into());
    let team =
        teams::create(&core, TeamInput { name: "Red".into(), description: String::new() }, &actor).await.expect("team");
    let input = SystemInput {
        name: "Chatbot".into(),
        platforms: vec!["Generative AI".into()],
        exposure: "public".into(),
        criticality: "high".into(),
        ..SystemInput::default()
    };
    let system = systems::create(&core, team.id, input, &actor).await.expect("system");
    (core, system.id, dir)
}

fn applies() -> AssessmentChange {
    AssessmentChange { applicability: Some(Applicability::Applies), ..AssessmentChange::default() }
}

async fn state_of(core: &Core, system: i64, technique: &str) -> CoverageState {
    let snapshot = snapshot::load(core, system).await.expect("snapshot");
    snapshot.coverage.state_of(&snapshot.framework, technique).expect("a technique of the release")
}

#[tokio::test]
async fn an_assessment_is_versioned_recorded_and_a_stale_version_changes_nothing() {
    let (core, system, _dir) = core_with_system().await;
    let (ana, ben) = (Actor("ana".into()), Actor("ben".into()));
    let first = decisions::set_assessment(&core, system, "AML.T0051", applies(), Some(0), &ana).await.unwrap();
    assert_eq!((first.row.version, first.created), (1, true));
    assert_eq!(first.row.changed.updated_by, "ana");
    assert!(first.history_id.is_some());
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::Gap);

    let rated = AssessmentChange { risk: Some(Some(Rating::High)), ..AssessmentChange::default() };
    let second = decisions::set_assessment(&core, system, "AML.T0051", rated, Some(1), &ben).await.unwrap();
    assert_eq!(second.row.version, 2);
    assert_eq!(second.row.applicability, Applicability::Applies, "fields not given are kept");

    let stale = AssessmentChange { applicability: Some(Applicability::NotApplicable), ..Default::default() };
    match decisions::set_assessment(&core, system, "AML.T0051", stale, Some(1), &ana).await {
        Err(ServiceError::Conflict { current_version, .. }) => assert_eq!(current_version, 2),
        other => panic!("a stale version must conflict: {:?}", other.map(|w| w.row)),
    }
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::Gap, "nothing changed");
    let history = decisions::history(&core, system, Some("AML.T0051"), 10).await.unwrap();
    assert_eq!(history.len(), 2, "one entry per accepted write");

    // The same decision again writes nothing.
    let same = decisions::set_assessment(&core, system, "AML.T0051", applies(), None, &ana).await.unwrap();
    assert_eq!((same.row.version, same.history_id), (2, None));
}

#[tokio::test]
async fn a_mitigation_covers_its_techniques_and_undo_restores_the_state_before() {
    let (core, system, _dir) = core_with_system().await;
    let ana = Actor("ana".into());
    decisions::set_assessment(&core, system, "AML.T0051", applies(), None, &ana).await.unwrap();
    let implemented = StatusChange { status: Some(ImplementationStatus::Implemented), ..StatusChange::default() };
    let written = decisions::set_mitigation_status(&core, system, "AML.M0020", implemented, None, &ana).await.unwrap();
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::Covered);

    decisions::undo(&core, system, written.history_id.expect("recorded"), &ana).await.expect("undo");
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::Gap);
    let history = decisions::history(&core, system, None, 10).await.unwrap();
    assert!(history.len() >= 3, "the undo is recorded too, nothing is erased");

    let bad_date = StatusChange { target_date: Some(Some("15.03.2027".into())), ..StatusChange::default() };
    let refused = decisions::set_mitigation_status(&core, system, "AML.M0020", bad_date, None, &ana).await;
    assert!(matches!(refused, Err(ServiceError::Invalid(_))), "a date that is no date is refused");
    let unknown = decisions::set_mitigation_status(&core, system, "AML.M9999", StatusChange::default(), None, &ana);
    assert!(matches!(unknown.await, Err(ServiceError::Invalid(_) | ServiceError::NotFound(_))));
}

#[tokio::test]
async fn a_risk_acceptance_holds_through_its_last_day_and_a_bulk_change_undoes_as_one() {
    let (core, system, _dir) = core_with_system().await;
    let ana = Actor("ana".into());
    decisions::set_assessment(&core, system, "AML.T0051", applies(), None, &ana).await.unwrap();
    let today = atlascope::core::today();
    let accept = |expires_on: time::Date| AcceptanceInput {
        justification: "Vendor fix due".into(),
        accepted_by: None,
        expires_on: atlascope::domain::format_date(expires_on),
    };
    let written = decisions::set_acceptance(&core, system, "AML.T0051", accept(today), None, &ana).await.unwrap();
    assert!(written.row.is_active(today), "an acceptance holds on its last day");
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::AcceptedRisk);
    let yesterday = today.previous_day().expect("a day");
    // A date already past is recorded as an expired acceptance, which no longer holds.
    let past = decisions::set_acceptance(&core, system, "AML.T0051", accept(yesterday), Some(1), &ana).await.unwrap();
    assert!(!past.row.is_active(today));
    assert_eq!(state_of(&core, system, "AML.T0051").await, CoverageState::Gap, "expired: a gap again");

    let techniques = ["AML.T0000".to_string(), "AML.T0001".to_string(), "AML.T0006".to_string()];
    let bulk =
        decisions::bulk_applicability(&core, system, &techniques, Applicability::NotApplicable, &ana).await.unwrap();
    assert_eq!(bulk.changed.len(), 3);
    for technique in &techniques {
        assert_eq!(state_of(&core, system, technique).await, CoverageState::NotApplicable);
    }
    let undone = decisions::undo(&core, system, bulk.batch.expect("one batch"), &ana).await.unwrap();
    assert_eq!(undone.changed.len(), 3, "one undo reverts the whole batch");
    for technique in &techniques {
        assert_eq!(state_of(&core, system, technique).await, CoverageState::NotAssessed);
    }
}
