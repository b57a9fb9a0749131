//! Pages to manage teams, their ML systems and their own controls. Deleting
//! a team or a system asks for its name to be typed as confirmation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::Form;
use serde::Deserialize;

use super::actor::WebActor;
use super::filters;
use super::technique_picker::{self, PickerOption};
use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::atlas::model::PLATFORMS;
use crate::auth::Principal;
use crate::auth::Role;
use crate::auth::guard::{team_role, visible_teams};
use crate::domain::records::{Control, System, Team, TeamSnapshot};
use crate::domain::{Exposure, Rating};
use crate::service::controls::ControlInput;
use crate::service::deadlines::{Deadline, DeadlineKind};
use crate::service::snapshot::{self, CoverageFigures};
use crate::service::systems::SystemInput;
use crate::service::teams::TeamInput;
use crate::service::{self, ServiceError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/teams", get(teams_page).post(create_team))
        .route("/teams/{id}", get(team_page).post(edit_team))
        .route("/teams/{id}/delete", get(confirm_delete_team).post(delete_team))
        .route("/teams/{id}/systems", axum::routing::post(create_system))
        .route("/teams/{id}/controls", axum::routing::post(create_control))
        .route("/teams/{id}/snapshots", axum::routing::post(create_snapshot))
        .route("/teams/{id}/snapshots/{snapshot}/delete", axum::routing::post(delete_snapshot))
        .route("/systems/{id}/edit", get(edit_system_page).post(edit_system))
        .route("/systems/{id}/delete", get(confirm_delete_system).post(delete_system))
        .route("/controls/{id}", get(control_page).post(edit_control))
        .route("/controls/{id}/delete", axum::routing::post(delete_control))
}

/// A service failure on a form: the message to show and the status to answer.
pub(super) fn form_error(error: ServiceError) -> Result<(StatusCode, String), WebError> {
    match error {
        ServiceError::Invalid(e) => Ok((StatusCode::UNPROCESSABLE_ENTITY, e.to_string())),
        ServiceError::Duplicate(m) | ServiceError::Refused(m) => Ok((StatusCode::CONFLICT, m)),
        ServiceError::Conflict { message, .. } => Ok((StatusCode::CONFLICT, message)),
        ServiceError::InvalidFile(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        ServiceError::NotFound(m) => Err(WebError::NotFound(m)),
        ServiceError::Gone(m) => Err(WebError::Gone(m)),
        ServiceError::Database(e) => Err(WebError::Internal(e.into())),
        ServiceError::Internal(e) => Err(WebError::Internal(e)),
    }
}

fn with_status(status: StatusCode, html: axum::response::Html<String>) -> Response {
    (status, html).into_response()
}

// ---------------------------------------------------------------- teams

/// Days ahead the team and workshop pages list deadlines for.
pub(super) const DEADLINE_DAYS: i64 = 30;

pub struct TeamRow {
    pub team: Team,
    pub systems: usize,
}

#[derive(Template)]
#[template(path = "pages/teams.html")]
struct TeamsPage {
    chrome: Chrome,
    teams: Vec<TeamRow>,
    error: Option<String>,
    form: TeamFormValues,
    can_create: bool,
}

#[derive(Debug, Default, Deserialize)]
struct TeamFormValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: Option<i64>,
}

async fn teams_view(
    state: &AppState,
    principal: &Principal,
    error: Option<String>,
    form: TeamFormValues,
) -> Result<TeamsPage, WebError> {
    let systems = service::systems::list(state, None).await?;
    let visible = visible_teams(state, principal).await?;
    let teams = service::teams::list(state)
        .await?
        .into_iter()
        .filter(|team| visible.as_ref().is_none_or(|v| v.contains(&team.id)))
        .map(|team| TeamRow { systems: systems.iter().filter(|s| s.team_id == team.id).count(), team })
        .collect();
    Ok(TeamsPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        teams,
        error,
        form,
        can_create: principal.is_admin(),
    })
}

async fn teams_page(State(state): State<AppState>, principal: Principal) -> Result<Response, WebError> {
    Ok(render(&teams_view(&state, &principal, None, TeamFormValues::default()).await?)?.into_response())
}

async fn create_team(
    State(state): State<AppState>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<TeamFormValues>,
) -> Result<Response, WebError> {
    let input = TeamInput { name: form.name.clone(), description: form.description.clone() };
    match service::teams::create(&state, input, &actor).await {
        Ok(team) => Ok(Redirect::to(&format!("/teams/{}", team.id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            Ok(with_status(status, render(&teams_view(&state, &principal, Some(message), form).await?)?))
        }
    }
}

/// A system on its team's page, with its coverage when it could be computed.
pub struct SystemCard {
    pub system: System,
    pub figures: Option<CoverageFigures>,
    /// What upgrading to the newest loaded release would change, when the
    /// system is on an older one.
    pub behind: Option<Behind>,
}

/// An upgrade waiting for a system, in figures.
pub struct Behind {
    pub to: String,
    pub review: usize,
    pub retired: usize,
    pub reused: usize,
    pub added: usize,
}

/// What upgrading `system` to `newest` would change, or `None` when it is
/// on that release already or the preview cannot be made.
async fn behind(state: &AppState, system: &System, newest: &str) -> Option<Behind> {
    if !crate::atlas::model::compare_versions(&system.framework_version, newest).is_lt() {
        return None;
    }
    let request = service::upgrade::UpgradeRequest { to: newest.to_string(), ..Default::default() };
    let preview = service::upgrade::upgrade(state, system.id, &request, &service::Actor("preview".into())).await;
    preview.ok().map(|outcome| Behind {
        to: newest.to_string(),
        review: outcome.plan.review.len(),
        retired: outcome.plan.retired.len(),
        reused: outcome.plan.reused.len(),
        added: outcome.plan.added.len(),
    })
}

#[derive(Template)]
#[template(path = "pages/team.html")]
struct TeamPage {
    chrome: Chrome,
    team: Team,
    systems: Vec<SystemCard>,
    /// How many of them are on an older release than the newest loaded.
    behind: usize,
    controls: Vec<Control>,
    releases: Vec<String>,
    platforms: [&'static str; 4],
    exposures: &'static [Exposure],
    ratings: &'static [Rating],
    error: Option<String>,
    system_form: SystemFormValues,
    control_form: ControlFormValues,
    team_form: TeamFormValues,
    /// Every technique of the default release, to map a new control.
    picker: Vec<PickerOption>,
    picker_id: &'static str,
    /// Owners manage systems, controls, members and the team's settings.
    can_own: bool,
    /// Only site administrators delete a team.
    can_delete: bool,
    /// Acceptances and target dates that ran out or run out within 30 days.
    deadlines: Vec<Deadline>,
    show_system: bool,
    /// Named moments, newest first.
    snapshots: Vec<TeamSnapshot>,
    snapshot_form: SnapshotFormValues,
    /// Editors name moments.
    can_edit: bool,
}

async fn team_view(state: &AppState, principal: &Principal, id: i64) -> Result<TeamPage, WebError> {
    let team = service::teams::get(state, id).await?;
    let role = team_role(state, principal, id).await?;
    let newest = state.catalog.list().first().map(|f| f.version().to_string()).unwrap_or_default();
    let mut systems = Vec::new();
    for system in service::systems::list(state, Some(id)).await? {
        let figures = snapshot::load(state, system.id).await.ok().map(|s| CoverageFigures::from(s.coverage.overall));
        let behind = behind(state, &system, &newest).await;
        systems.push(SystemCard { system, figures, behind });
    }
    let team_form =
        TeamFormValues { name: team.name.clone(), description: team.description.clone(), version: Some(team.version) };
    Ok(TeamPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        behind: systems.iter().filter(|s| s.behind.is_some()).count(),
        systems,
        controls: service::controls::list(state, id).await?,
        releases: state.catalog.list().iter().map(|f| f.version().to_string()).collect(),
        platforms: PLATFORMS,
        exposures: Exposure::ALL,
        ratings: Rating::ALL,
        error: None,
        system_form: SystemFormValues {
            framework_version: state.catalog.default_version(),
            criticality: Rating::Medium.as_str().to_string(),
            exposure: Exposure::Internal.as_str().to_string(),
            ..SystemFormValues::default()
        },
        control_form: ControlFormValues::default(),
        team_form,
        team,
        picker: technique_picker::options(&state.catalog.default_release(), &[]),
        picker_id: "new-control",
        can_own: role.is_some_and(|r| r >= Role::Owner),
        can_delete: principal.is_admin(),
        deadlines: service::deadlines::for_team(state, id, DEADLINE_DAYS).await?,
        show_system: true,
        snapshots: service::team_snapshots::list(state, id).await?,
        snapshot_form: SnapshotFormValues::default(),
        can_edit: role.is_some_and(|r| r >= Role::Editor),
    })
}

async fn team_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Response, WebError> {
    Ok(render(&team_view(&state, &principal, id).await?)?.into_response())
}

async fn edit_team(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<TeamFormValues>,
) -> Result<Response, WebError> {
    let input = TeamInput { name: form.name.clone(), description: form.description.clone() };
    match service::teams::update(&state, id, form.version, input, &actor).await {
        Ok(team) => Ok(Redirect::to(&format!("/teams/{}", team.id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = team_view(&state, &principal, id).await?;
            page.error = Some(message);
            page.team_form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

#[derive(Template)]
#[template(path = "pages/confirm_delete.html")]
struct ConfirmDeletePage {
    chrome: Chrome,
    what: &'static str,
    name: String,
    consequences: String,
    action: String,
    back: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

async fn confirm_delete_team(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    let team = service::teams::get(&state, id).await?;
    let systems = service::systems::list(&state, Some(id)).await?.len();
    let page = ConfirmDeletePage {
        chrome: Chrome::new(&state, &state.catalog.default_release(), ""),
        what: "team",
        consequences: format!(
            "This deletes the team, its {systems} system(s), its controls, every assessment, status, risk acceptance and \
             the history of all of them. It cannot be undone."
        ),
        action: format!("/teams/{id}/delete"),
        back: format!("/teams/{id}"),
        name: team.name,
        error: None,
    };
    Ok(render(&page)?.into_response())
}

async fn delete_team(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let team = service::teams::get(&state, id).await?;
    if !form.confirm.trim().eq_ignore_ascii_case(&team.name) {
        let page = ConfirmDeletePage {
            chrome: Chrome::new(&state, &state.catalog.default_release(), ""),
            what: "team",
            consequences: "Nothing was deleted.".into(),
            action: format!("/teams/{id}/delete"),
            back: format!("/teams/{id}"),
            name: team.name,
            error: Some("The name you typed does not match.".into()),
        };
        return Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, render(&page)?));
    }
    service::teams::delete(&state, id).await?;
    Ok(Redirect::to("/teams").into_response())
}

// ---------------------------------------------------------------- systems

#[derive(Debug, Default, Deserialize, Clone)]
struct SystemFormValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    exposure: String,
    #[serde(default)]
    criticality: String,
    #[serde(default)]
    framework_version: String,
    #[serde(default)]
    version: Option<i64>,
}

impl SystemFormValues {
    fn input(&self) -> SystemInput {
        SystemInput {
            name: self.name.clone(),
            description: self.description.clone(),
            owner: self.owner.clone(),
            platforms: self.platforms.clone(),
            exposure: self.exposure.clone(),
            criticality: self.criticality.clone(),
            framework_version: Some(self.framework_version.clone()),
        }
    }

    fn has_platform(&self, platform: &&str) -> bool {
        self.platforms.iter().any(|p| p == platform)
    }
}

async fn create_system(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<SystemFormValues>,
) -> Result<Response, WebError> {
    match service::systems::create(&state, team_id, form.input(), &actor).await {
        Ok(system) => Ok(Redirect::to(&format!("/systems/{}", system.id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = team_view(&state, &principal, team_id).await?;
            page.error = Some(message);
            page.system_form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

#[derive(Template)]
#[template(path = "pages/system_edit.html")]
struct SystemEditPage {
    chrome: Chrome,
    system: System,
    form: SystemFormValues,
    releases: Vec<String>,
    platforms: [&'static str; 4],
    exposures: &'static [Exposure],
    ratings: &'static [Rating],
    error: Option<String>,
}

async fn system_edit_view(state: &AppState, id: i64) -> Result<SystemEditPage, WebError> {
    let system = service::systems::get(state, id).await?;
    let form = SystemFormValues {
        name: system.name.clone(),
        description: system.description.clone(),
        owner: system.owner.clone(),
        platforms: system.platforms.clone(),
        exposure: system.exposure.as_str().to_string(),
        criticality: system.criticality.as_str().to_string(),
        framework_version: system.framework_version.clone(),
        version: Some(system.version),
    };
    Ok(SystemEditPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        system,
        form,
        // The release changes only through an upgrade.
        releases: Vec::new(),
        platforms: PLATFORMS,
        exposures: Exposure::ALL,
        ratings: Rating::ALL,
        error: None,
    })
}

async fn edit_system_page(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    Ok(render(&system_edit_view(&state, id).await?)?.into_response())
}

async fn edit_system(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    Form(form): Form<SystemFormValues>,
) -> Result<Response, WebError> {
    match service::systems::update(&state, id, form.version, form.input(), &actor).await {
        Ok(system) => Ok(Redirect::to(&format!("/systems/{}", system.id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = system_edit_view(&state, id).await?;
            page.error = Some(message);
            page.form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

async fn confirm_delete_system(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    let system = service::systems::get(&state, id).await?;
    let page = ConfirmDeletePage {
        chrome: Chrome::new(&state, &state.catalog.default_release(), ""),
        what: "system",
        consequences: "This deletes the system with every assessment, mitigation and control status, risk acceptance \
                       and its history. It cannot be undone."
            .into(),
        action: format!("/systems/{id}/delete"),
        back: format!("/systems/{id}"),
        name: system.name,
        error: None,
    };
    Ok(render(&page)?.into_response())
}

async fn delete_system(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    let system = service::systems::get(&state, id).await?;
    if !form.confirm.trim().eq_ignore_ascii_case(&system.name) {
        let page = ConfirmDeletePage {
            chrome: Chrome::new(&state, &state.catalog.default_release(), ""),
            what: "system",
            consequences: "Nothing was deleted.".into(),
            action: format!("/systems/{id}/delete"),
            back: format!("/systems/{id}"),
            name: system.name,
            error: Some("The name you typed does not match.".into()),
        };
        return Ok(with_status(StatusCode::UNPROCESSABLE_ENTITY, render(&page)?));
    }
    service::systems::delete(&state, id).await?;
    Ok(Redirect::to(&format!("/teams/{}", system.team_id)).into_response())
}

// ---------------------------------------------------------------- snapshots

#[derive(Debug, Default, Deserialize, Clone)]
struct SnapshotFormValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    at: String,
}

async fn create_snapshot(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<SnapshotFormValues>,
) -> Result<Response, WebError> {
    let input = service::team_snapshots::SnapshotInput { name: form.name.clone(), at: Some(form.at.clone()) };
    match service::team_snapshots::create(&state, team_id, input, &actor).await {
        Ok(_) => Ok(Redirect::to(&format!("/teams/{team_id}#snapshots")).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = team_view(&state, &principal, team_id).await?;
            page.error = Some(format!("Snapshot not saved: {message}"));
            page.snapshot_form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

async fn delete_snapshot(
    State(state): State<AppState>,
    Path((team_id, snapshot)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    service::team_snapshots::delete(&state, team_id, snapshot).await?;
    Ok(Redirect::to(&format!("/teams/{team_id}#snapshots")).into_response())
}

// ---------------------------------------------------------------- controls

#[derive(Debug, Default, Deserialize, Clone)]
struct ControlFormValues {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// The ticked techniques (each may also be a list typed by hand).
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    version: Option<i64>,
}

impl ControlFormValues {
    fn input(&self) -> ControlInput {
        ControlInput {
            name: self.name.clone(),
            description: self.description.clone(),
            techniques: technique_picker::chosen_ids(&self.techniques),
        }
    }
}

async fn create_control(
    State(state): State<AppState>,
    Path(team_id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<ControlFormValues>,
) -> Result<Response, WebError> {
    match service::controls::create(&state, team_id, form.input(), &actor).await {
        Ok(_) => Ok(Redirect::to(&format!("/teams/{team_id}#controls")).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = team_view(&state, &principal, team_id).await?;
            page.error = Some(message);
            page.picker = technique_picker::options(&state.catalog.default_release(), &form.techniques);
            page.control_form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

#[derive(Template)]
#[template(path = "pages/control.html")]
struct ControlPage {
    chrome: Chrome,
    control: Control,
    team: Team,
    form: ControlFormValues,
    error: Option<String>,
    picker: Vec<PickerOption>,
    picker_id: &'static str,
    can_own: bool,
}

async fn control_view(state: &AppState, principal: &Principal, id: i64) -> Result<ControlPage, WebError> {
    let control = service::controls::get(state, id).await?;
    let team = service::teams::get(state, control.team_id).await?;
    let can_own = team_role(state, principal, team.id).await?.is_some_and(|r| r >= Role::Owner);
    let form = ControlFormValues {
        name: control.name.clone(),
        description: control.description.clone(),
        techniques: control.techniques.clone(),
        version: Some(control.version),
    };
    Ok(ControlPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        control,
        team,
        picker: technique_picker::options(&state.catalog.default_release(), &form.techniques),
        picker_id: "control",
        can_own,
        form,
        error: None,
    })
}

async fn control_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Response, WebError> {
    Ok(render(&control_view(&state, &principal, id).await?)?.into_response())
}

async fn edit_control(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
    WebActor(actor): WebActor,
    Form(form): Form<ControlFormValues>,
) -> Result<Response, WebError> {
    match service::controls::update(&state, id, form.version, form.input(), &actor).await {
        Ok(control) => Ok(Redirect::to(&format!("/teams/{}#controls", control.team_id)).into_response()),
        Err(e) => {
            let (status, message) = form_error(e)?;
            let mut page = control_view(&state, &principal, id).await?;
            page.error = Some(message);
            page.picker = technique_picker::options(&state.catalog.default_release(), &form.techniques);
            page.form = form;
            Ok(with_status(status, render(&page)?))
        }
    }
}

async fn delete_control(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
) -> Result<Response, WebError> {
    let control = service::controls::delete(&state, id, &actor).await?;
    Ok(Redirect::to(&format!("/teams/{}#controls", control.team_id)).into_response())
}
