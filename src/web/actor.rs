//! Who is editing, for the pages: until accounts exist, a display name the
//! visitor gives once and keeps in a cookie. Recorded in the history.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Router, routing::post};
use serde::Deserialize;

use crate::app::AppState;
use crate::domain::{limits, text};
use crate::service::Actor;

const COOKIE: &str = "atlascope_name";

/// The visitor's display name, or "anonymous".
pub struct WebActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for WebActor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(WebActor(Actor(display_name(&parts.headers).unwrap_or_else(|| "anonymous".to_string()))))
    }
}

/// The name stored in the cookie, if any.
pub fn display_name(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| percent_encoding::percent_decode_str(value).decode_utf8().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn router() -> Router<AppState> {
    Router::new().route("/me/name", post(set_name))
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
    #[serde(default)]
    back: String,
}

async fn set_name(Form(form): Form<NameForm>) -> Response {
    let back = if form.back.starts_with('/') && !form.back.starts_with("//") { form.back } else { "/".to_string() };
    let Ok(name) = text("name", &form.name, limits::OWNER, true) else {
        return Redirect::to(&back).into_response();
    };
    let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC).to_string();
    let cookie = format!("{COOKIE}={encoded}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly");
    let mut response = Redirect::to(&back).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
