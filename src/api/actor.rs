//! Who makes a change through the API: the signed-in account or the owner
//! of the bearer token, as the guard middleware resolved it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::ApiError;
use crate::auth::Principal;
use crate::service::Actor;

/// The [`Actor`] of an API request.
pub struct ApiActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(principal) if !principal.is_anonymous() => Ok(ApiActor(principal.actor())),
            _ => Err(ApiError::Unauthorized("sign in or send `Authorization: Bearer <token>`".into())),
        }
    }
}
