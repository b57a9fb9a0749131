//! Sign-in through the OpenID Connect provider: `/auth/oidc/start` sends
//! the browser to the provider and `/auth/oidc/callback` takes its answer.
//!
//! The `state` travels twice: in the provider's redirect and in a cookie of
//! the browser that started the sign-in (`SameSite=Lax`, so it comes back
//! on the provider's top-level redirect), one cookie per sign-in, named
//! after its state, so sign-ins started in two tabs both finish. An answer
//! whose `state` this browser did not start is refused (someone else's
//! sign-in pushed into this browser), and a `state` already seen is refused
//! (a replayed answer).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::auth::{LoginPage, safe_next, signed_in, user_agent};
use super::{WebError, capitalise, render};
use crate::app::AppState;
use crate::auth::guard::cookie;
use crate::auth::secrets::{constant_time_eq, hash_token};
use crate::service::identity::{self, ProviderSignInError, SIGN_IN_WINDOW};

/// The cookies that tie a provider's answer to the browser that asked:
/// this prefix and the start of the state's hash.
const STATE_COOKIE_PREFIX: &str = "atlascope_oidc_";

fn state_cookie_name(sign_in_state: &str) -> String {
    format!("{STATE_COOKIE_PREFIX}{}", &hash_token(sign_in_state)[..16])
}

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/oidc/start", get(start)).route("/auth/oidc/callback", get(callback))
}

/// The cookie of the sign-in with this state: set (`Some(max_age)`) or cleared.
fn state_cookie(sign_in_state: &str, max_age: Option<i64>, headers: &HeaderMap) -> Option<HeaderValue> {
    let secure = if crate::auth::served_over_https(headers) { "; Secure" } else { "" };
    let name = state_cookie_name(sign_in_state);
    let (value, max_age) = match max_age {
        Some(seconds) => (sign_in_state, seconds),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// The sign-in page again, saying what went wrong; the sign-in of
/// `sign_in_state` is over (its cookie is cleared).
fn refused(
    state: &AppState,
    sign_in_state: &str,
    status: StatusCode,
    next: &str,
    message: String,
) -> Result<Response, WebError> {
    let mut response = sign_in_page(state, status, next, message)?;
    if let Some(clear) = state_cookie(sign_in_state, None, &HeaderMap::new()) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}

/// The sign-in page saying what went wrong, leaving this browser's sign-ins
/// under way alone: an answer that is not theirs must not cancel them.
fn sign_in_page(state: &AppState, status: StatusCode, next: &str, message: String) -> Result<Response, WebError> {
    Ok((status, render(&LoginPage::new(state, next, Some(message)))?).into_response())
}

/// What a failed sign-in says, and with which status.
fn explain(error: ProviderSignInError) -> Result<(StatusCode, String), WebError> {
    use crate::auth::oidc::ProviderError;
    Ok(match error {
        ProviderSignInError::NotConfigured => (StatusCode::NOT_FOUND, capitalise(&error.to_string())),
        ProviderSignInError::AccountDisabled => (StatusCode::FORBIDDEN, capitalise(&error.to_string())),
        ProviderSignInError::UnknownState => {
            (StatusCode::BAD_REQUEST, capitalise(&format!("the sign-in did not finish: {error}. Start again")))
        }
        ProviderSignInError::Provider(ProviderError::Unreachable { .. }) => {
            tracing::warn!(%error, "sign-in through the identity provider failed");
            (StatusCode::BAD_GATEWAY, capitalise(&format!("{error}. Try again in a moment")))
        }
        ProviderSignInError::Provider(ProviderError::Refused(_)) => {
            (StatusCode::FORBIDDEN, capitalise(&error.to_string()))
        }
        ProviderSignInError::Provider(ProviderError::Invalid(_)) => {
            tracing::warn!(%error, "an answer of the identity provider failed a check");
            (StatusCode::BAD_GATEWAY, capitalise(&format!("{error}; nobody was signed in")))
        }
        ProviderSignInError::Service(e) => return Err(e.into()),
    })
}

#[derive(Debug, Default, Deserialize)]
struct StartQuery {
    #[serde(default)]
    next: String,
}

async fn start(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(&query.next);
    // Each start keeps a row for ten minutes: one address may not pile them up.
    if let Err(wait) = state.provider_limiter.check(&peer.ip().to_string()) {
        let seconds = wait.as_secs().max(1);
        let message = format!("Too many sign-in attempts; wait {seconds} s.");
        let mut response = sign_in_page(&state, StatusCode::TOO_MANY_REQUESTS, &next, message)?;
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    match identity::begin(&state, &next).await {
        Ok(outgoing) => {
            let mut response = Redirect::to(&outgoing.url).into_response();
            if let Some(cookie) = state_cookie(&outgoing.state, Some(SIGN_IN_WINDOW.whole_seconds()), &headers) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(error) => {
            let (status, message) = explain(error)?;
            sign_in_page(&state, status, &next, message)
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    /// RFC 9207: the issuer that answered, when the provider says.
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(answer): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let Some(provider) = state.identity.clone() else {
        let (status, message) = explain(ProviderSignInError::NotConfigured)?;
        return sign_in_page(&state, status, "/", message);
    };
    let started_here = cookie(&headers, &state_cookie_name(&answer.state))
        .is_some_and(|ours| !answer.state.is_empty() && constant_time_eq(ours, &answer.state));
    if !started_here {
        return sign_in_page(
            &state,
            StatusCode::BAD_REQUEST,
            "/",
            "The sign-in did not finish: the identity provider's answer belongs to no sign-in this browser started \
             (it was started in another browser, more than ten minutes ago, or cookies are blocked). Start again."
                .into(),
        );
    }
    if let Some(error) = answer.error.as_deref() {
        let next = identity::abandon(&state, &answer.state).await?.unwrap_or_else(|| "/".into());
        let said = words_of(error, answer.error_description.as_deref());
        return refused(
            &state,
            &answer.state,
            StatusCode::FORBIDDEN,
            &next,
            format!("The identity provider refused the sign-in: {said}."),
        );
    }
    if answer.iss.as_deref().is_some_and(|iss| iss != provider.settings().issuer) {
        identity::abandon(&state, &answer.state).await?;
        return refused(
            &state,
            &answer.state,
            StatusCode::BAD_REQUEST,
            "/",
            "The sign-in did not finish: the answer came from another issuer than the configured provider.".into(),
        );
    }
    match identity::finish(&state, &answer.state, &answer.code, &user_agent(&headers)).await {
        Ok(arrived) => {
            let mut response = signed_in(&safe_next(&arrived.next), &arrived.session_secret, &headers);
            if let Some(clear) = state_cookie(&answer.state, None, &headers) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
        Err(error) => {
            let (status, message) = explain(error)?;
            refused(&state, &answer.state, status, "/", message)
        }
    }
}

/// A provider's error code and description, in words, clipped and without
/// control characters (they come from the address bar).
fn words_of(error: &str, description: Option<&str>) -> String {
    let clean = |text: &str| text.chars().filter(|c| !c.is_control()).take(300).collect::<String>();
    let known = match error {
        "access_denied" => "access was denied",
        "login_required" | "interaction_required" => "you need to sign in at the provider first",
        "consent_required" => "atlascope was not given consent",
        "temporarily_unavailable" => "the provider is busy; try again in a moment",
        "server_error" => "the provider had an internal error",
        _ => "",
    };
    match (description.map(clean).filter(|d| !d.trim().is_empty()), known) {
        (Some(description), _) => format!("{description} ({})", clean(error)),
        (None, "") => clean(error),
        (None, known) => format!("{known} ({})", clean(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_errors_are_put_in_words_without_control_characters() {
        assert_eq!(words_of("access_denied", None), "access was denied (access_denied)");
        assert_eq!(words_of("access_denied", Some("Account disabled\n")), "Account disabled (access_denied)");
        assert_eq!(words_of("odd_error", Some("  ")), "odd_error");
        assert_eq!(words_of(&"x".repeat(1000), None).len(), 300);
    }
}
