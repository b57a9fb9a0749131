//! The write paths as every entry point reaches them: the service functions
//! over a core opened by the one start-up function, with no HTTP in between.

use atlascope::core::{Core, CoreConfig};
use atlascope::domain::coverage::CoverageState;
use atlascope::domain::records::{AssessmentChange, StatusChange};
use atlascope::domain::{Applicability, ImplementationStatus, Rating};
use atlascope::service::decisions::{self, AcceptanceInput};
use atlascope::service::systems::SystemInput;
use atlascope::service::teams::TeamInput;
use atlascope::service::upgrade::{self, UpgradeRequest};
use atlascope::service::{Actor, ServiceError, snapshot, systems, teams};

/// A fresh core on its own data directory, with one team and one system.
async fn core_with_system() -> (Core, i64, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = CoreConfig::creating(atlascope::db::Location::SqliteDir(dir.path().to_path_buf()));
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

/// A core with the official releases of the chain loaded, and a system
/// pinned to the oldest, with decisions of every kind.
async fn system_on_4_9_1() -> Option<(Core, i64, tempfile::TempDir)> {
    let atlas = crate::helpers::shared_atlas()?;
    let (core, _, data) = core_with_system().await;
    for name in ["ATLAS-4.9.1.yaml", "ATLAS-5.5.0.yaml", "ATLAS-5.6.0.yaml", "ATLAS-2026.04.yaml"] {
        let bytes = crate::helpers::official(&atlas, name);
        atlascope::releases::add_release_file(&core.db, &core.catalog, &bytes, name, None).await.expect("loads");
    }
    let ana = Actor("ana".into());
    let input = SystemInput {
        name: "Legacy".into(),
        platforms: vec!["Generative AI".into()],
        exposure: "internal".into(),
        criticality: "medium".into(),
        framework_version: Some("4.9.1".into()),
        ..SystemInput::default()
    };
    let team = teams::list(&core).await.unwrap()[0].id;
    let system = systems::create(&core, team, input, &ana).await.expect("system on 4.9.1").id;
    let rated = AssessmentChange {
        applicability: Some(Applicability::Applies),
        risk: Some(Some(Rating::Critical)),
        rationale: Some("public chat endpoint".into()),
    };
    decisions::set_assessment(&core, system, "AML.T0051", rated, None, &ana).await.unwrap();
    decisions::set_assessment(&core, system, "AML.T0053", applies(), None, &ana).await.unwrap();
    let na = AssessmentChange { applicability: Some(Applicability::NotApplicable), ..Default::default() };
    decisions::set_assessment(&core, system, "AML.T0024", na, None, &ana).await.unwrap();
    let implemented = StatusChange { status: Some(ImplementationStatus::Implemented), ..Default::default() };
    decisions::set_mitigation_status(&core, system, "AML.M0020", implemented, None, &ana).await.unwrap();
    let accept =
        AcceptanceInput { justification: "plugin retired".into(), accepted_by: None, expires_on: "2099-01-01".into() };
    decisions::set_acceptance(&core, system, "AML.T0053", accept, None, &ana).await.unwrap();
    Some((core, system, data))
}

#[tokio::test]
async fn a_system_upgrades_along_the_official_chain_keeping_every_decision_and_one_undo_reverses_a_step() {
    let Some((core, system, _data)) = system_on_4_9_1().await else { return };
    let ana = Actor("ana".into());
    let before = snapshot::load(&core, system).await.unwrap();
    let mut last_batch = None;
    for to in ["5.5.0", "5.6.0", "2026.04", "2026.05"] {
        let request = UpgradeRequest { to: to.into(), apply: true, ..UpgradeRequest::default() };
        let outcome = upgrade::upgrade(&core, system, &request, &ana).await.unwrap_or_else(|e| panic!("{to}: {e}"));
        assert!(outcome.applied);
        assert!(outcome.plan.retired.is_empty() && outcome.plan.reused.is_empty(), "{to}: {:?}", outcome.plan);
        last_batch = outcome.batch;
    }
    let after = snapshot::load(&core, system).await.unwrap();
    assert_eq!(after.system.framework_version, "2026.05");
    for technique in ["AML.T0051", "AML.T0053", "AML.T0024"] {
        let (was, is) = (&before.assessments[technique], &after.assessments[technique]);
        assert_eq!(
            (was.applicability, was.risk, &was.rationale),
            (is.applicability, is.risk, &is.rationale),
            "{technique}"
        );
    }
    assert_eq!(after.acceptances["AML.T0053"].justification, "plugin retired");
    assert_eq!(after.mitigation_statuses["AML.M0020"].status, ImplementationStatus::Implemented);
    assert!(!state_of(&core, system, "AML.T0053").await.is_gap(), "covered or accepted, as before");

    // One undo takes the last step back, pin included.
    decisions::undo(&core, system, last_batch.expect("a batch"), &ana).await.expect("undo");
    assert_eq!(systems::get(&core, system).await.unwrap().framework_version, "2026.04");
}

#[tokio::test]
async fn an_upgrade_is_refused_backwards_to_an_unknown_release_or_twice_from_the_same_version() {
    let Some((core, system, _data)) = system_on_4_9_1().await else { return };
    let ana = Actor("ana".into());
    let ask = |to: &str, apply: bool| UpgradeRequest { to: to.into(), apply, ..UpgradeRequest::default() };
    let unknown = upgrade::upgrade(&core, system, &ask("2031.01", true), &ana).await;
    assert!(matches!(unknown, Err(ServiceError::Invalid(ref e)) if e.to_string().contains("2031.01")), "{unknown:?}");
    let preview = upgrade::upgrade(&core, system, &ask("5.6.0", false), &ana).await.unwrap();
    assert!(!preview.applied && preview.plan.carried.len() + preview.plan.review.len() == 3, "{:?}", preview.plan);
    assert_eq!(systems::get(&core, system).await.unwrap().framework_version, "4.9.1", "a preview changes nothing");
    let bad_successor = UpgradeRequest {
        successors: [("AML.T0051".to_string(), "AML.T0051.000".to_string())].into_iter().collect(),
        ..ask("5.6.0", true)
    };
    assert!(matches!(upgrade::upgrade(&core, system, &bad_successor, &ana).await, Err(ServiceError::Invalid(_))));
    upgrade::upgrade(&core, system, &ask("5.6.0", true), &ana).await.expect("forward");
    let backwards = upgrade::upgrade(&core, system, &ask("5.5.0", true), &ana).await;
    assert!(matches!(backwards, Err(ServiceError::Invalid(ref e)) if e.to_string().contains("older")), "{backwards:?}");

    // Two people upgrade at once: one wins, the other is told it conflicts.
    let (to_april, to_may, ben) = (ask("2026.04", true), ask("2026.05", true), Actor("ben".into()));
    let (a, b) =
        tokio::join!(upgrade::upgrade(&core, system, &to_april, &ana), upgrade::upgrade(&core, system, &to_may, &ben),);
    let conflicts = [&a, &b].iter().filter(|r| matches!(r, Err(ServiceError::Conflict { .. }))).count();
    assert_eq!((a.is_ok() as usize + b.is_ok() as usize, conflicts), (1, 1), "{a:?} {b:?}");
}
