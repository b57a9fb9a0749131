//! Account pages: password, sessions and API tokens of the signed-in
//! account; user administration; a team's members and workshop invites.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::filters;
use super::{Chrome, WebError, render};
use crate::app::AppState;
use crate::auth::{Principal, Role, TokenScope, Via};
use crate::domain::FieldError;
use crate::domain::accounts::{ApiToken, Invite, Member, Participant, Session, User};
use crate::domain::records::{Team, Timestamp};
use crate::service::{ServiceError, accounts};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/sessions/revoke", post(revoke_other_sessions))
        .route("/account/sessions/{session}/revoke", post(revoke_session))
        .route("/account/tokens", post(create_token))
        .route("/account/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/users", get(users_page).post(create_user))
        .route("/admin/users/{id}/delete", post(delete_user))
        .route("/admin/users/{id}/admin", post(set_admin))
        .route("/admin/users/{id}/disabled", post(set_disabled))
        .route("/teams/{id}/members", get(members_page).post(set_member))
        .route("/teams/{id}/members/{user}/remove", post(remove_member))
        .route("/teams/{id}/invites", post(create_invite))
        .route("/teams/{id}/invites/{invite}/end", post(end_invite))
        .route("/teams/{id}/participants/{participant}/remove", post(remove_participant))
}

/// The signed-in account of a session (account routes admit nothing else).
fn account(principal: &Principal) -> Result<(i64, String), WebError> {
    match principal {
        Principal::User { id, via: Via::Session { id_hash }, .. } => Ok((*id, id_hash.clone())),
        _ => Err(WebError::Forbidden("account settings need a signed-in account".into())),
    }
}

/// A form failure shown on the page, or a real error.
fn shown(error: ServiceError) -> Result<String, WebError> {
    match error {
        ServiceError::Invalid(e) => Ok(format!("{e}.")),
        ServiceError::Duplicate(m) | ServiceError::Conflict { message: m, .. } => Ok(m),
        other => Err(other.into()),
    }
}

// ---------------------------------------------------------------- the account page

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage {
    chrome: Chrome,
    user: User,
    current_session: String,
    sessions: Vec<Session>,
    tokens: Vec<ApiToken>,
    /// Tokens neither revoked nor expired.
    live_tokens: usize,
    teams: Vec<Team>,
    new_token: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

async fn account_view(state: &AppState, principal: &Principal) -> Result<AccountPage, WebError> {
    let (user_id, current_session) = account(principal)?;
    let user = accounts::user(state, user_id).await?;
    let visible = crate::auth::guard::visible_teams(state, principal).await?;
    let teams = crate::service::teams::list(state)
        .await?
        .into_iter()
        .filter(|t| visible.as_ref().is_none_or(|v| v.contains(&t.id)))
        .collect();
    let tokens = accounts::tokens_of(state, user_id).await?;
    let now = time::OffsetDateTime::now_utc();
    let live_tokens = tokens.iter().filter(|t| t.is_live(now)).count();
    Ok(AccountPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        sessions: accounts::sessions_of(state, user_id).await?,
        tokens,
        live_tokens,
        teams,
        user,
        current_session,
        new_token: None,
        message: None,
        error: None,
    })
}

async fn account_page(State(state): State<AppState>, principal: Principal) -> Result<Response, WebError> {
    Ok(render(&account_view(&state, &principal).await?)?.into_response())
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm: String,
    /// Present when the account's API tokens should be revoked too.
    revoke_tokens: Option<String>,
}

async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<PasswordForm>,
) -> Result<Response, WebError> {
    let (user_id, session) = account(&principal)?;
    let outcome = if form.new_password != form.confirm {
        Err("confirm: the two new passwords differ.".to_string())
    } else {
        let revoke = form.revoke_tokens.is_some();
        match accounts::change_password(
            &state,
            user_id,
            &form.current_password,
            &form.new_password,
            Some(&session),
            revoke,
        )
        .await
        {
            Ok(revoked) => Ok(revoked),
            Err(e) => Err(shown(e)?),
        }
    };
    let mut page = account_view(&state, &principal).await?;
    match outcome {
        Ok(revoked) => {
            let tokens = match (form.revoke_tokens.is_some(), revoked) {
                (false, _) => String::new(),
                (true, 1) => " Your API token was revoked.".into(),
                (true, n) => format!(" {n} API tokens were revoked."),
            };
            page.message = Some(format!("Password changed. Your other sessions were signed out.{tokens}"));
            Ok(render(&page)?.into_response())
        }
        Err(message) => {
            page.error = Some(message);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn revoke_other_sessions(State(state): State<AppState>, principal: Principal) -> Result<Response, WebError> {
    let (user_id, session) = account(&principal)?;
    accounts::revoke_other_sessions(&state, user_id, &session).await?;
    Ok(Redirect::to("/account").into_response())
}

async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(session): Path<String>,
) -> Result<Response, WebError> {
    let (user_id, _) = account(&principal)?;
    accounts::end_own_session(&state, user_id, &session).await?;
    Ok(Redirect::to("/account").into_response())
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    valid_days: String,
}

/// Days a token is valid for when the form leaves it empty.
const DEFAULT_TOKEN_DAYS: i64 = 90;

impl TokenForm {
    /// The scope, team and validity, or the field that is wrong: a team
    /// that is not a number must not widen the token to every team.
    fn checked(&self) -> Result<(TokenScope, Option<i64>, i64), FieldError> {
        let scope = match self.scope.trim() {
            "" | "read" => TokenScope::Read,
            "write" => TokenScope::Write,
            other => return Err(FieldError::new("scope", format!("`{other}` is not read or write"))),
        };
        let team_id = match self.team_id.trim() {
            "" => None,
            raw => Some(raw.parse::<i64>().map_err(|_| FieldError::new("team_id", format!("`{raw}` is not a team")))?),
        };
        let days = match self.valid_days.trim() {
            "" => DEFAULT_TOKEN_DAYS,
            raw => raw
                .parse::<i64>()
                .map_err(|_| FieldError::new("valid_days", format!("`{raw}` is not a number of days")))?,
        };
        Ok((scope, team_id, days))
    }
}

async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<TokenForm>,
) -> Result<Response, WebError> {
    let (user_id, _) = account(&principal)?;
    let created = match form.checked() {
        Ok((scope, team_id, days)) => accounts::create_token(&state, user_id, &form.name, scope, team_id, days).await,
        Err(e) => Err(e.into()),
    };
    let mut page = account_view(&state, &principal).await?;
    match created {
        Ok(token) => {
            page.new_token = Some(token.secret);
            let mut response = render(&page)?.into_response();
            // The page shows a secret: never keep it in a cache.
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(e) => {
            page.error = Some(shown(e)?);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let (user_id, _) = account(&principal)?;
    accounts::revoke_token(&state, user_id, id).await?;
    Ok(Redirect::to("/account").into_response())
}

// ---------------------------------------------------------------- users (administrators)

#[derive(Template)]
#[template(path = "pages/admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<User>,
    me: i64,
    error: Option<String>,
    /// What the identity provider's group rules decide, when there are any.
    provider_rules: Option<String>,
}

/// Says which rights the provider's groups decide at each sign-in (a change
/// made here to those is undone at the account's next sign-in).
fn provider_rules(rules: &crate::domain::group_rules::GroupRules) -> Option<String> {
    let mut decided = Vec::new();
    if !rules.admin_groups.is_empty() {
        decided.push(format!("site administration (groups {})", rules.admin_groups.join(", ")));
    }
    let mut teams: Vec<&str> = rules.team_roles.iter().map(|r| r.team.as_str()).collect();
    teams.dedup();
    if !teams.is_empty() {
        decided.push(format!("the roles on {}", teams.join(", ")));
    }
    (!decided.is_empty()).then(|| {
        format!("For accounts of the identity provider, its groups decide {} at every sign-in.", decided.join(" and "))
    })
}

async fn users_view(state: &AppState, principal: &Principal, error: Option<String>) -> Result<UsersPage, WebError> {
    Ok(UsersPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        users: accounts::users(state).await?,
        me: principal.user_id().unwrap_or_default(),
        error,
        provider_rules: state.identity.as_ref().and_then(|p| provider_rules(&p.settings().rules)),
    })
}

async fn users_page(State(state): State<AppState>, principal: Principal) -> Result<Response, WebError> {
    Ok(render(&users_view(&state, &principal, None).await?)?.into_response())
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: Option<String>,
}

async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<NewUserForm>,
) -> Result<Response, WebError> {
    match accounts::create_user(&state, &form.username, &form.display_name, &form.password, form.admin.is_some()).await
    {
        Ok(_) => Ok(Redirect::to("/admin/users").into_response()),
        Err(e) => {
            let page = users_view(&state, &principal, Some(shown(e)?)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    accounts::delete_user(&state, principal.user_id(), id).await.map_err(refusal)?;
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize)]
struct AdminForm {
    #[serde(default)]
    admin: String,
}

async fn set_admin(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Form(form): Form<AdminForm>,
) -> Result<Response, WebError> {
    let is_admin = match form.admin.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(WebError::BadRequest(format!("admin: `{other}` is not true or false"))),
    };
    accounts::set_admin(&state, principal.user_id(), id, is_admin).await.map_err(refusal)?;
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize)]
struct DisabledForm {
    #[serde(default)]
    disabled: String,
}

async fn set_disabled(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Form(form): Form<DisabledForm>,
) -> Result<Response, WebError> {
    let disabled = match form.disabled.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(WebError::BadRequest(format!("disabled: `{other}` is not true or false"))),
    };
    accounts::set_disabled(&state, principal.user_id(), id, disabled).await.map_err(refusal)?;
    Ok(Redirect::to("/admin/users").into_response())
}

/// A refused administration action as a page saying why.
fn refusal(error: ServiceError) -> WebError {
    match error {
        ServiceError::Invalid(e) => WebError::BadRequest(e.message),
        other => other.into(),
    }
}

// ---------------------------------------------------------------- members and invites

#[derive(Template)]
#[template(path = "pages/members.html")]
struct MembersPage {
    chrome: Chrome,
    team: Team,
    members: Vec<Member>,
    invites: Vec<Invite>,
    participants: Vec<Participant>,
    roles: [Role; 3],
    now: Timestamp,
    new_link: Option<String>,
    error: Option<String>,
}

async fn members_view(state: &AppState, team_id: i64) -> Result<MembersPage, WebError> {
    let team = crate::service::teams::get(state, team_id).await?;
    let access = accounts::team_access(state, team_id).await?;
    Ok(MembersPage {
        chrome: Chrome::new(state, &state.catalog.default_release(), ""),
        members: access.members,
        invites: access.invites,
        participants: access.participants,
        roles: Role::ALL,
        now: time::OffsetDateTime::now_utc(),
        new_link: None,
        error: None,
        team,
    })
}

async fn members_page(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, WebError> {
    Ok(render(&members_view(&state, id).await?)?.into_response())
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

async fn set_member(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Result<Response, WebError> {
    let outcome: Result<(), String> = match Role::parse(&form.role) {
        Ok(role) => match accounts::set_member(&state, id, &form.username, role).await {
            Ok(()) => Ok(()),
            Err(e) => Err(shown(e)?),
        },
        Err(m) => Err(format!("role: {m}.")),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/teams/{id}/members")).into_response()),
        Err(message) => {
            let mut page = members_view(&state, id).await?;
            page.error = Some(message);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn remove_member(
    State(state): State<AppState>,
    Path((id, user)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    accounts::remove_member(&state, id, user).await?;
    Ok(Redirect::to(&format!("/teams/{id}/members")).into_response())
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    valid_hours: String,
    #[serde(default)]
    label: String,
}

impl InviteForm {
    fn checked(&self) -> Result<(Role, i64), FieldError> {
        let role = Role::parse(&self.role).map_err(|m| FieldError::new("role", m))?;
        let raw = self.valid_hours.trim();
        let hours = raw
            .parse::<i64>()
            .map_err(|_| FieldError::new("valid_hours", format!("`{raw}` is not a number of hours")))?;
        Ok((role, hours))
    }
}

async fn create_invite(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<InviteForm>,
) -> Result<Response, WebError> {
    let created = match form.checked() {
        Ok((role, hours)) => accounts::create_invite(&state, id, role, &form.label, hours, principal.user_id()).await,
        Err(e) => Err(e.into()),
    };
    let mut page = members_view(&state, id).await?;
    match created {
        Ok(code) => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            let scheme = if headers.get("x-forwarded-proto").is_some_and(|v| v == "https") { "https" } else { "http" };
            page.new_link = Some(format!("{scheme}://{host}/join/{code}"));
            let mut response = render(&page)?.into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            Ok(response)
        }
        Err(e) => {
            page.error = Some(shown(e)?);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
    }
}

async fn end_invite(State(state): State<AppState>, Path((id, invite)): Path<(i64, i64)>) -> Result<Response, WebError> {
    accounts::end_invite(&state, id, invite).await?;
    Ok(Redirect::to(&format!("/teams/{id}/members")).into_response())
}

async fn remove_participant(
    State(state): State<AppState>,
    Path((id, participant)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    accounts::remove_participant(&state, id, participant).await?;
    Ok(Redirect::to(&format!("/teams/{id}/members")).into_response())
}
