//! The one middleware that guards every route: first-run set-up, who is
//! asking (session cookie or bearer token), API rate limits, and the route's
//! access rule from [`super::policy`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::policy::{Rule, TeamFrom, rule};
use super::{Principal, Role};
use crate::api::ApiError;
use crate::app::AppState;
use crate::service::accounts;
use crate::web::WebError;

pub const SESSION_COOKIE: &str = "atlascope_session";

/// Where the request is refused, and how to say it for pages or the API.
enum Refusal {
    SignIn,
    Forbidden(String),
    NotFound,
    NotSetUp,
    TooMany(u64),
    BadToken,
    Internal(anyhow::Error),
}

/// Who is refused: the API, a page, or htmx on a page.
struct Asker<'a> {
    api: bool,
    uri: &'a axum::http::Uri,
    /// htmx on a page, which wants a sentence rather than a page.
    htmx: bool,
}

impl<'a> Asker<'a> {
    fn of(uri: &'a axum::http::Uri, headers: &HeaderMap) -> Self {
        Asker { api: uri.path().starts_with("/api/"), uri, htmx: crate::web::is_htmx(headers) }
    }
}

/// The sign-in page, coming back to `next` (a local path) afterwards.
fn sign_in_location(next: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC);
    format!("/login?next={encoded}")
}

fn refuse(asker: &Asker, refusal: Refusal) -> Response {
    let (api, uri) = (asker.api, asker.uri);
    if api {
        let error = match refusal {
            Refusal::SignIn => ApiError::Unauthorized("sign in or send `Authorization: Bearer <token>`".into()),
            Refusal::BadToken => ApiError::Unauthorized("the bearer token is unknown, revoked or expired".into()),
            Refusal::Forbidden(why) => ApiError::Forbidden(why),
            Refusal::NotFound => ApiError::NotFound(format!("nothing at {}", uri.path())),
            Refusal::NotSetUp => ApiError::Unavailable(
                "atlascope is not set up yet: create the first administrator at /setup or with `atlascope user add --admin`"
                    .into(),
            ),
            Refusal::TooMany(seconds) => ApiError::TooManyRequests(seconds),
            Refusal::Internal(e) if crate::service::is_unreachable(&e) => ApiError::StorageUnavailable,
            Refusal::Internal(e) => ApiError::Internal(e),
        };
        return error.into_response();
    }
    match refusal {
        Refusal::SignIn | Refusal::BadToken => match asker.htmx {
            // htmx would swap the sign-in page into the panel: say in words,
            // where the person acted, that the session ended.
            true => (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Not saved: your session has ended (you signed out, it expired, or your workshop invite ended).",
            )
                .into_response(),
            false => {
                Redirect::to(&sign_in_location(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))).into_response()
            }
        },
        Refusal::NotSetUp => Redirect::to("/setup").into_response(),
        Refusal::Forbidden(why) => WebError::Forbidden(why).into_response(),
        Refusal::NotFound => WebError::NotFound(format!("There is no page at {}.", uri.path())).into_response(),
        Refusal::TooMany(seconds) => {
            let mut response = WebError::TooManyRequests(seconds).into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Refusal::Internal(e) if crate::service::is_unreachable(&e) => WebError::StorageUnavailable.into_response(),
        Refusal::Internal(e) => WebError::Internal(e).into_response(),
    }
}

/// The session cookie's value, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE).filter(|v| !v.is_empty()).map(str::to_string)
}

/// The value of the request cookie called `name`, if sent.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

pub async fn guard(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let uri = request.uri().clone();
    let api = uri.path().starts_with("/api/");
    let method = request.method().clone();
    let path = matched.as_ref().map(|m| m.as_str().to_string()).unwrap_or_default();
    let Some(rule) = rule(&method, &path) else {
        let allowed: Vec<&str> = [Method::GET, Method::POST, Method::PUT, Method::DELETE]
            .iter()
            .filter(|m| super::policy::rule(m, &path).is_some())
            .flat_map(|m| if *m == Method::GET { vec!["GET", "HEAD"] } else { vec![m.as_str()] })
            .collect();
        if !allowed.is_empty() {
            // Another method of this route has a rule: this one is not served.
            let mut response = if api {
                ApiError::MethodNotAllowed(format!("{} does not accept {method}", uri.path())).into_response()
            } else {
                StatusCode::METHOD_NOT_ALLOWED.into_response()
            };
            if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            return response;
        }
        tracing::error!(%method, path, "route has no access rule; refused");
        return refuse(&Asker::of(&uri, request.headers()), Refusal::Forbidden("this route has no access rule".into()));
    };

    if !state.setup.is_done() && !matches!(path.as_str(), "/setup" | "/static/{*path}" | "/healthz") {
        match accounts::has_administrator(&state).await {
            Ok(false) => return refuse(&Asker::of(&uri, request.headers()), Refusal::NotSetUp),
            Ok(true) => state.setup.mark_done(),
            Err(e) => return refuse(&Asker::of(&uri, request.headers()), Refusal::Internal(e.into())),
        }
    }

    let principal = match authenticate(&state, request.headers()).await {
        Ok(Some(principal)) => principal,
        Ok(None) => {
            // Guessing tokens costs like guessing passwords.
            if let Err(wait) = state.login_limiter.check(&format!("bad-token:{}", client_address(&request))) {
                return refuse(&Asker::of(&uri, request.headers()), Refusal::TooMany(wait.as_secs().max(1)));
            }
            return refuse(&Asker::of(&uri, request.headers()), Refusal::BadToken);
        }
        Err(e) => return refuse(&Asker::of(&uri, request.headers()), Refusal::Internal(e)),
    };

    if api && !matches!(rule, Rule::Public) {
        let key = match &principal {
            Principal::User { id, via: super::Via::Token { id: token, .. }, .. } => format!("token:{token}:{id}"),
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::Participant { id, .. } => format!("guest:{id}"),
            Principal::Anonymous => client_address(&request),
        };
        if let Err(wait) = state.api_limiter.check(&key) {
            return refuse(&Asker::of(&uri, request.headers()), Refusal::TooMany(wait.as_secs().max(1)));
        }
    }

    if let Err(refusal) = authorize(&state, &principal, &method, rule, &params).await {
        return refuse(&Asker::of(&uri, request.headers()), refusal);
    }
    let viewer = crate::web::viewer::Viewer::of(&principal, &uri, request.headers());
    request.extensions_mut().insert(principal);
    crate::web::viewer::scope(viewer, next.run(request)).await
}

/// The client's address, for per-address limits.
pub fn client_address(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The principal of a request; `None` for a bearer token that is not valid.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> anyhow::Result<Option<Principal>> {
    if let Some(token) = bearer(headers) {
        return Ok(accounts::principal_for_token(state, token).await?);
    }
    match session_cookie(headers) {
        Some(secret) => Ok(Some(accounts::principal_for_session(state, &secret).await?)),
        None => Ok(Some(Principal::Anonymous)),
    }
}

async fn authorize(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    rule: Rule,
    params: &RawPathParams,
) -> Result<(), Refusal> {
    if rule == Rule::Public {
        return Ok(());
    }
    if principal.is_anonymous() {
        return Err(Refusal::SignIn);
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if principal.read_only() && !safe {
        return Err(Refusal::Forbidden("this API token is read-only".into()));
    }
    match rule {
        Rule::Public | Rule::SignedIn | Rule::CheckedByHandler => Ok(()),
        Rule::Account => match principal {
            Principal::User { via: super::Via::Session { .. }, .. } => Ok(()),
            _ => Err(Refusal::Forbidden("account settings need a signed-in account".into())),
        },
        Rule::Admin => {
            if principal.read_only() {
                Err(Refusal::Forbidden("administration needs more than a read-only token".into()))
            } else if principal.is_admin() {
                Ok(())
            } else {
                Err(Refusal::Forbidden("this needs a site administrator".into()))
            }
        }
        Rule::Team(need, from) => {
            let Some(id) = params.iter().find(|(name, _)| *name == "id").and_then(|(_, v)| v.parse::<i64>().ok())
            else {
                return Ok(()); // the handler answers a malformed id
            };
            let team = match team_of(state, from, id).await {
                Ok(Some(team)) => team,
                Ok(None) => return Ok(()), // the handler answers 404
                Err(e) => return Err(Refusal::Internal(e)),
            };
            let role = team_role(state, principal, team).await.map_err(Refusal::Internal)?;
            match role {
                None => Err(Refusal::NotFound),
                Some(role) if role < need => Err(Refusal::Forbidden(format!(
                    "this needs the {} role on the team; you are {}",
                    need.as_str(),
                    role.as_str()
                ))),
                Some(_) => Ok(()),
            }
        }
    }
}

async fn team_of(state: &AppState, from: TeamFrom, id: i64) -> anyhow::Result<Option<i64>> {
    Ok(match from {
        TeamFrom::Team => crate::db::teams::get(&state.db, id).await?.map(|t| t.id),
        TeamFrom::System => {
            let (_, cached) = state.snapshots.get(id, state.catalog.generation());
            match cached {
                Some(snapshot) => Some(snapshot.system.team_id),
                None => crate::db::systems::team_of(&state.db, id).await?,
            }
        }
        TeamFrom::Control => crate::db::controls::team_of(&state.db, id).await?,
        TeamFrom::Detection => crate::db::detections::team_of(&state.db, id).await?,
    })
}

/// The role a principal has on a team (memberships are looked up once and remembered briefly).
pub async fn team_role(state: &AppState, principal: &Principal, team_id: i64) -> anyhow::Result<Option<Role>> {
    let membership = match principal {
        Principal::User { id, is_admin: false, .. } => match state.principals.role(*id, team_id) {
            Some(role) => role,
            None => {
                let role = crate::db::accounts::role(&state.db, team_id, *id).await?;
                state.principals.remember_role(*id, team_id, role);
                role
            }
        },
        _ => None,
    };
    Ok(principal.effective_role(team_id, membership))
}

/// Answers `401`/`403` for handlers that check a role themselves.
pub async fn require_role(state: &AppState, principal: &Principal, team_id: i64, need: Role) -> Result<(), StatusCode> {
    match team_role(state, principal, team_id).await {
        Ok(Some(role)) if role >= need => Ok(()),
        Ok(Some(_)) => Err(StatusCode::FORBIDDEN),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// The teams a principal may see; `None` means every team (administrators).
pub async fn visible_teams(state: &AppState, principal: &Principal) -> anyhow::Result<Option<Vec<i64>>> {
    Ok(match principal {
        Principal::Anonymous => Some(Vec::new()),
        Principal::Participant { team_id, .. } => Some(vec![*team_id]),
        Principal::User {
            is_admin: true,
            via: super::Via::Token { team: None, .. } | super::Via::Session { .. },
            ..
        } => None,
        Principal::User { id, via, .. } => {
            let restricted = match via {
                super::Via::Token { team, .. } => *team,
                super::Via::Session { .. } => None,
            };
            let mut teams: Vec<i64> = if principal.is_admin() {
                restricted.into_iter().collect()
            } else {
                crate::db::accounts::roles_of(&state.db, *id).await?.into_iter().map(|(team, _)| team).collect()
            };
            if let Some(only) = restricted {
                teams.retain(|t| *t == only);
            }
            Some(teams)
        }
    })
}
