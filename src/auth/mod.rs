//! Authentication and authorisation: who is asking ([`Principal`], from a
//! session cookie or a bearer token), what they may do on a team ([`Role`]),
//! the per-route access rules ([`policy`]), secrets and rate limits.

pub mod cache;
pub mod guard;
pub mod limiter;
pub mod oidc;
pub mod policy;
pub mod secrets;
pub mod setup;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::service::Actor;

/// Served over HTTPS: the server sits behind a TLS proxy that says so
/// (`X-Forwarded-Proto: https` or `Forwarded: proto=https`).
pub fn served_over_https(headers: &axum::http::HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
        || headers
            .get(axum::http::header::FORWARDED)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"))
}

pub use crate::domain::accounts::{Role, TokenScope};

/// How a signed-in account reached us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session { id_hash: String },
    Token { id: i64, scope: TokenScope, team: Option<i64> },
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        id: i64,
        username: String,
        display_name: String,
        is_admin: bool,
        via: Via,
    },
    /// Someone who joined a workshop through an invite link.
    Participant {
        id: i64,
        display_name: String,
        team_id: i64,
        role: Role,
        session_hash: String,
    },
}

impl Principal {
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }

    /// Site administrator (a read-only token keeps only read rights).
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::User { is_admin: true, .. })
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// The name the change history records.
    pub fn actor(&self) -> Actor {
        Actor(match self {
            Principal::Anonymous => "anonymous".to_string(),
            Principal::User { username, .. } => username.clone(),
            Principal::Participant { display_name, .. } => format!("{display_name} (guest)"),
        })
    }

    /// The name shown in the page header.
    pub fn display_name(&self) -> String {
        match self {
            Principal::Anonymous => String::new(),
            Principal::User { display_name, .. } => display_name.clone(),
            Principal::Participant { display_name, .. } => format!("{display_name} (guest)"),
        }
    }

    /// Only safe methods are allowed: a read-only token.
    pub fn read_only(&self) -> bool {
        matches!(self, Principal::User { via: Via::Token { scope: TokenScope::Read, .. }, .. })
    }

    /// The role this principal has on a team, given the account's membership
    /// role there (`None` for no membership).
    pub fn effective_role(&self, team_id: i64, membership: Option<Role>) -> Option<Role> {
        match self {
            Principal::Anonymous => None,
            Principal::Participant { team_id: invited, role, .. } => (*invited == team_id).then_some(*role),
            Principal::User { is_admin, via, .. } => {
                let mut role = if *is_admin { Some(Role::Owner) } else { membership };
                if let Via::Token { scope, team, .. } = via {
                    if team.is_some_and(|t| t != team_id) {
                        return None;
                    }
                    if *scope == TokenScope::Read {
                        role = role.map(|r| r.min(Role::Viewer));
                    }
                }
                role
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Principal>().cloned().unwrap_or(Principal::Anonymous))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(is_admin: bool, via: Via) -> Principal {
        Principal::User { id: 1, username: "ana".into(), display_name: "Ana".into(), is_admin, via }
    }

    #[test]
    fn tokens_narrow_the_account_role() {
        let session = Via::Session { id_hash: "x".into() };
        assert_eq!(user(false, session.clone()).effective_role(7, Some(Role::Editor)), Some(Role::Editor));
        assert_eq!(user(true, session).effective_role(7, None), Some(Role::Owner), "an administrator owns every team");
        let read = Via::Token { id: 1, scope: TokenScope::Read, team: None };
        assert_eq!(user(false, read).effective_role(7, Some(Role::Owner)), Some(Role::Viewer));
        let one_team = Via::Token { id: 1, scope: TokenScope::Write, team: Some(3) };
        assert_eq!(user(false, one_team.clone()).effective_role(7, Some(Role::Owner)), None);
        assert_eq!(user(false, one_team).effective_role(3, Some(Role::Editor)), Some(Role::Editor));
    }

    #[test]
    fn participants_act_only_on_their_invite_team() {
        let guest = Principal::Participant {
            id: 1,
            display_name: "Sam".into(),
            team_id: 3,
            role: Role::Editor,
            session_hash: "x".into(),
        };
        assert_eq!(guest.effective_role(3, None), Some(Role::Editor));
        assert_eq!(guest.effective_role(4, Some(Role::Owner)), None);
        assert_eq!(guest.actor().name(), "Sam (guest)");
    }
}
