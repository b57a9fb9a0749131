//! Accounts and access as typed records: users, team memberships and their
//! roles, sessions, API tokens, workshop invites and their participants.
//! Secrets appear here only as hashes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::records::Timestamp;

/// A person's role on one team. Ordered: each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads the team's systems, assessments and reports.
    Viewer,
    /// Also assesses: applicability, statuses, acceptances.
    Editor,
    /// Also manages systems, controls, members and invites.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Owner => "Owner",
        }
    }

    pub fn parse(raw: &str) -> Result<Role, String> {
        match raw.trim() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "owner" => Ok(Role::Owner),
            other => {
                Err(format!("`{}` is not one of viewer, editor, owner", other.chars().take(40).collect::<String>()))
            }
        }
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    Read,
    Write,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    pub fn parse(raw: &str) -> Result<TokenScope, String> {
        match raw {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            other => Err(format!("`{other}` is not one of read, write")),
        }
    }
}

/// An account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: Timestamp,
    pub password_changed_at: Timestamp,
    /// Set when the account signs in through an OpenID Connect provider
    /// (and has no password); `None` for a local account.
    pub provider: Option<ProviderIdentity>,
    /// The e-mail address the provider gave (empty for local accounts).
    pub email: String,
    /// Set while an administrator has disabled the account.
    pub disabled_at: Option<Timestamp>,
}

/// Who an account is at its identity provider: the issuer and the subject
/// it names the person by, which together never change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
}

impl User {
    /// Signs in with a password here (not through a provider).
    pub fn is_local(&self) -> bool {
        self.provider.is_none()
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

/// An account's role on a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// A browser session, of an account or of a workshop participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The hash of the cookie's secret.
    pub id_hash: String,
    pub user_id: Option<i64>,
    pub participant_id: Option<i64>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    /// When it ends for being idle (moved on at each request).
    pub expires_at: Timestamp,
    pub user_agent: String,
    /// For a session started through the identity provider: when to ask the
    /// provider again whether the account may still sign in.
    pub provider_recheck_at: Option<Timestamp>,
}

/// An API token (its secret is kept only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The first characters of the token, to tell tokens apart in lists.
    pub prefix: String,
    pub scope: TokenScope,
    /// The one team it is limited to, if any.
    pub team_id: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl ApiToken {
    /// Neither revoked nor expired at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at >= now
    }
}

/// A join link for a workshop: a role on one team for a limited time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub id: i64,
    pub team_id: i64,
    pub role: Role,
    pub label: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

impl Invite {
    /// Neither ended by the team nor expired at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// Someone who joined through an invite, known by the name they gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub id: i64,
    pub invite_id: i64,
    pub display_name: String,
    pub created_at: Timestamp,
    pub removed_at: Option<Timestamp>,
}
