//! Sign-in, sign-out, first-run set-up and joining a workshop by invite.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::Form;
use serde::Deserialize;

use super::{Chrome, WebError, filters, render};
use crate::app::AppState;
use crate::auth::guard::{SESSION_COOKIE, session_cookie};
use crate::auth::secrets::hash_token;
use crate::auth::{Principal, Role};
use crate::service::ServiceError;
use crate::service::accounts::{self, SESSION_MAX, SignInError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/setup", get(setup_page).post(setup))
        .route("/join/{code}", get(join_page).post(join))
}

/// Only a clean path of this site is followed after sign-in: it starts with
/// one `/` and holds no backslash, space or control character (browsers
/// drop tabs and new lines, so `/\t/evil.example` would read as
/// `//evil.example`), and decoding its escapes does not make it start with
/// `//` or `/\` or hold a control character; anything else goes to `/`.
pub(super) fn safe_next(next: &str) -> String {
    let local = |path: &str| path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\");
    let clean = local(next) && !next.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control());
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    let still_clean = local(&decoded) && !decoded.chars().any(char::is_control);
    if clean && still_clean && next.len() <= 2048 { next.to_string() } else { "/".into() }
}

fn session_cookie_header(secret: &str, headers: &HeaderMap) -> Option<HeaderValue> {
    let secure = if crate::auth::served_over_https(headers) { "; Secure" } else { "" };
    let max_age = SESSION_MAX.whole_seconds();
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

pub(super) fn signed_in(to: &str, secret: &str, headers: &HeaderMap) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(cookie) = session_cookie_header(secret, headers) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) fn user_agent(headers: &HeaderMap) -> String {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

// ---------------------------------------------------------------- sign in

#[derive(Template)]
#[template(path = "pages/login.html")]
pub(super) struct LoginPage {
    chrome: Chrome,
    next: String,
    username: String,
    error: Option<String>,
    /// The identity provider's name, when one is configured.
    provider: Option<String>,
    /// Whether accounts may sign in with a password here.
    local: bool,
    /// Just signed out of a provider account: where to sign out at the
    /// provider too (someone else may use this browser next).
    provider_sign_out: Option<String>,
}

impl LoginPage {
    pub(super) fn new(state: &AppState, next: &str, error: Option<String>) -> LoginPage {
        LoginPage {
            chrome: Chrome::bare(),
            next: safe_next(next),
            username: String::new(),
            error,
            provider: state.identity.as_ref().map(|p| p.settings().display_name.clone()),
            local: state.local_sign_in,
            provider_sign_out: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: String,
    /// `provider` right after a provider account signed out.
    #[serde(default)]
    signed_out: String,
}

async fn login_page(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Result<Response, WebError> {
    let mut page = LoginPage::new(&state, &query.next, None);
    if query.signed_out == "provider"
        && let Some(provider) = &state.identity
    {
        page.provider_sign_out = provider.sign_out_url().await;
    }
    Ok(render(&page)?.into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(&form.next);
    let refused = |status: StatusCode, message: String, retry: Option<u64>| -> Result<Response, WebError> {
        let page = LoginPage { username: form.username.clone(), ..LoginPage::new(&state, &next, Some(message)) };
        let mut response = (status, render(&page)?).into_response();
        if let Some(seconds) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        Ok(response)
    };
    if !state.local_sign_in {
        return refused(
            StatusCode::FORBIDDEN,
            "Signing in with a password is turned off on this server; sign in through the identity provider.".into(),
            None,
        );
    }
    if let Err(wait) = state.login_limiter.check(&peer.ip().to_string()) {
        let seconds = wait.as_secs().max(1);
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many sign-in attempts; wait {seconds} s."),
            Some(seconds),
        );
    }
    match accounts::verify_sign_in(&state, &form.username, &form.password, &peer.ip().to_string()).await {
        Ok(user_id) => {
            let secret = accounts::start_session(&state, Some(user_id), None, &user_agent(&headers)).await?;
            Ok(signed_in(&next, &secret, &headers))
        }
        Err(SignInError::Wrong) => {
            refused(StatusCode::UNAUTHORIZED, "The user name or password is wrong.".into(), None)
        }
        Err(SignInError::Disabled) => {
            refused(StatusCode::FORBIDDEN, "This account is disabled; ask an administrator.".into(), None)
        }
        Err(SignInError::Throttled { retry_after_secs }) => refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins with this user name from your address; wait {retry_after_secs} s and try again."
            ),
            Some(retry_after_secs),
        ),
        Err(SignInError::Database(e)) => Err(WebError::Internal(e.into())),
    }
}

async fn logout(State(state): State<AppState>, principal: Principal, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(secret) = session_cookie(&headers) {
        accounts::end_session(&state, &hash_token(&secret)).await?;
    }
    let from_provider = match principal.user_id() {
        Some(id) if state.identity.is_some() => accounts::user(&state, id).await.is_ok_and(|user| !user.is_local()),
        _ => false,
    };
    let to = if from_provider { "/login?signed_out=provider" } else { "/login" };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("atlascope_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

// ---------------------------------------------------------------- first-run set-up

#[derive(Template)]
#[template(path = "pages/setup.html")]
struct SetupPage {
    chrome: Chrome,
    needs_code: bool,
    username: String,
    display_name: String,
    error: Option<String>,
}

/// Refuses set-up under a name the server does not answer to (see [`crate::auth::setup`]).
fn check_setup_host(state: &AppState, headers: &HeaderMap) -> Result<(), WebError> {
    let host = headers.get(header::HOST).map(|h| h.to_str().unwrap_or("(not text)"));
    if state.setup.host_allowed(host) {
        return Ok(());
    }
    Err(WebError::BadRequest(format!(
        "Set-up is not offered under the name {}: open this server by its IP address or localhost, \
         or start it with --public-url naming it",
        host.unwrap_or_default().chars().take(100).collect::<String>()
    )))
}

async fn setup_page(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if is_set_up(&state).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    check_setup_host(&state, &headers)?;
    let page = SetupPage {
        chrome: Chrome::bare(),
        needs_code: !peer.ip().is_loopback(),
        username: String::new(),
        display_name: String::new(),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

async fn is_set_up(state: &AppState) -> Result<bool, WebError> {
    if state.setup.is_done() {
        return Ok(true);
    }
    let done = crate::service::accounts::has_administrator(state).await?;
    if done {
        state.setup.mark_done();
    }
    Ok(done)
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    code: String,
}

async fn setup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, WebError> {
    if is_set_up(&state).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    check_setup_host(&state, &headers)?;
    let needs_code = !peer.ip().is_loopback();
    let refused = |status: StatusCode, message: String| -> Result<Response, WebError> {
        let page = SetupPage {
            chrome: Chrome::bare(),
            needs_code,
            username: form.username.clone(),
            display_name: form.display_name.clone(),
            error: Some(message),
        };
        Ok((status, render(&page)?).into_response())
    };
    if needs_code {
        if let Err(wait) = state.login_limiter.check(&peer.ip().to_string()) {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts; wait {} s.", wait.as_secs().max(1)),
            );
        }
        if !state.setup.code_matches(&form.code) {
            return refused(StatusCode::FORBIDDEN, "The set-up code does not match the one in the server log.".into());
        }
    }
    if form.password != form.confirm {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "confirm: the two passwords differ.".into());
    }
    match accounts::create_user(&state, &form.username, &form.display_name, &form.password, true).await {
        Ok(user_id) => {
            state.setup.mark_done();
            let secret = accounts::start_session(&state, Some(user_id), None, &user_agent(&headers)).await?;
            Ok(signed_in("/teams", &secret, &headers))
        }
        Err(ServiceError::Invalid(e)) => refused(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}.")),
        Err(ServiceError::Duplicate(m)) => refused(StatusCode::CONFLICT, m),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------- joining a workshop

#[derive(Template)]
#[template(path = "pages/join.html")]
struct JoinPage {
    chrome: Chrome,
    code: String,
    team: String,
    role: Role,
    label: String,
    expires_at: crate::domain::records::Timestamp,
    display_name: String,
    error: Option<String>,
}

async fn join_view(state: &AppState, code: &str) -> Result<JoinPage, WebError> {
    let invite = accounts::usable_invite(state, code).await?;
    let team = crate::service::teams::get(state, invite.team_id).await?;
    Ok(JoinPage {
        chrome: Chrome::bare(),
        code: code.to_string(),
        team: team.name,
        role: invite.role,
        label: invite.label,
        expires_at: invite.expires_at,
        display_name: String::new(),
        error: None,
    })
}

async fn join_page(State(state): State<AppState>, Path(code): Path<String>) -> Result<Response, WebError> {
    Ok(render(&join_view(&state, &code).await?)?.into_response())
}

#[derive(Deserialize)]
struct JoinForm {
    #[serde(default)]
    display_name: String,
}

async fn join(
    State(state): State<AppState>,
    Path(code): Path<String>,
    principal: Principal,
    headers: HeaderMap,
    Form(form): Form<JoinForm>,
) -> Result<Response, WebError> {
    let invite = accounts::usable_invite(&state, &code).await?;
    if let Some(secret) = session_cookie(&headers).filter(|_| !principal.is_anonymous()) {
        // Joining replaces whatever session this browser had.
        accounts::end_session(&state, &hash_token(&secret)).await?;
    }
    match accounts::join(&state, &code, &form.display_name, &user_agent(&headers)).await {
        Ok(secret) => Ok(signed_in(&format!("/teams/{}", invite.team_id), &secret, &headers)),
        Err(ServiceError::Invalid(e)) => {
            let mut page = join_view(&state, &code).await?;
            page.error = Some(format!("{e}."));
            page.display_name = form.display_name;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
