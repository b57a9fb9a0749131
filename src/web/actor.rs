//! Who makes a change through the pages: the signed-in account or workshop
//! participant, as the guard middleware resolved it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::Principal;
use crate::service::Actor;

/// The [`Actor`] of a page request.
pub struct WebActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for WebActor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned().unwrap_or(Principal::Anonymous);
        Ok(WebActor(principal.actor()))
    }
}
