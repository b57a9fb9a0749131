//! Who makes a change through the API. Until accounts exist, the caller
//! names itself in the `X-Atlascope-Actor` header; without it the change is
//! recorded as made by `api`. Real authentication replaces this extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;
use crate::domain::{limits, text};
use crate::service::Actor;

pub const ACTOR_HEADER: &str = "X-Atlascope-Actor";

/// The actor recorded when the request names none.
pub const DEFAULT_ACTOR: &str = "api";

/// The [`Actor`] of an API request.
pub struct ApiActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(ACTOR_HEADER).iter();
        let Some(value) = values.next() else { return Ok(ApiActor(Actor(DEFAULT_ACTOR.to_string()))) };
        let invalid = |message: String| ApiError::InvalidHeader { header: ACTOR_HEADER, message };
        if values.next().is_some() {
            return Err(invalid("send the header once".into()));
        }
        // UTF-8 is accepted, so names need not be ASCII.
        let raw = std::str::from_utf8(value.as_bytes()).map_err(|_| invalid("is not UTF-8 text".into()))?;
        let name = text(ACTOR_HEADER, raw, limits::OWNER, true).map_err(|e| invalid(e.message))?;
        Ok(ApiActor(Actor(name)))
    }
}
