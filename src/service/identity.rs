//! Sign-in through the OpenID Connect provider: a sign-in sent out and its
//! return, accounts created just in time from the provider's stable claims,
//! the operator's group rules applied at every sign-in, and sessions that
//! ask the provider again whether the account may still sign in.

use time::Duration;

use super::accounts::now;
use super::{ServiceError, ServiceResult, begin_write};
use crate::auth::oidc::{IdentityProvider, ProviderClaims, ProviderError};
use crate::auth::secrets::{hash_token, new_token, open_for_session, seal_for_session};
use crate::core::Core;
use crate::db::{self, identity::PendingSignIn};
use crate::domain::accounts::Session;
use crate::domain::group_rules::GroupRules;
use crate::domain::limits;

/// How long a sign-in may stay at the provider before its return is refused.
pub const SIGN_IN_WINDOW: Duration = Duration::minutes(10);
/// When the provider cannot be reached, a session asks again after this long.
const RETRY_RECHECK: Duration = Duration::minutes(1);

/// Why a sign-in through the provider did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum ProviderSignInError {
    #[error("sign-in through an identity provider is not set up on this server")]
    NotConfigured,
    /// The answer names no sign-in this server is waiting for: used before,
    /// too old, or never started here.
    #[error("this sign-in answer was already used, is more than ten minutes old, or was not started here")]
    UnknownState,
    /// The provider let the person in, but an administrator here disabled the account.
    #[error("your atlascope account is disabled; ask an administrator")]
    AccountDisabled,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<sqlx::Error> for ProviderSignInError {
    fn from(error: sqlx::Error) -> Self {
        ProviderSignInError::Service(error.into())
    }
}

fn provider(core: &Core) -> Result<&IdentityProvider, ProviderSignInError> {
    core.identity.as_deref().ok_or(ProviderSignInError::NotConfigured)
}

/// A sign-in to send the browser out with.
pub struct Outgoing {
    /// The provider's authorization URL.
    pub url: String,
    /// The `state` this browser must bring back (kept in its cookie).
    pub state: String,
}

/// Starts a sign-in: keeps what its return needs and says where to go.
pub async fn begin(core: &Core, next: &str) -> Result<Outgoing, ProviderSignInError> {
    let authorization = provider(core)?.begin().await?;
    db::identity::insert_pending(
        &core.db,
        &PendingSignIn {
            state_hash: hash_token(&authorization.state),
            nonce: authorization.nonce,
            pkce_verifier: authorization.pkce_verifier,
            next: next.to_string(),
            expires_at: now() + SIGN_IN_WINDOW,
        },
    )
    .await?;
    Ok(Outgoing { url: authorization.url, state: authorization.state })
}

/// Ends a sign-in the provider answered with an error; returns where the
/// person was going, if the sign-in was one of ours.
pub async fn abandon(core: &Core, state: &str) -> ServiceResult<Option<String>> {
    Ok(db::identity::take_pending(&core.db, &hash_token(state), now()).await?.map(|p| p.next))
}

/// A finished sign-in: the new session's secret and where to go.
pub struct Arrived {
    pub session_secret: String,
    pub next: String,
    pub user_id: i64,
}

/// Finishes a sign-in from the provider's answer: the `state` must be one
/// this server sent and has not seen back; the code is traded, the ID token
/// checked, the account found or created and the group rules applied.
pub async fn finish(core: &Core, state: &str, code: &str, user_agent: &str) -> Result<Arrived, ProviderSignInError> {
    let provider = provider(core)?;
    let pending = db::identity::take_pending(&core.db, &hash_token(state), now())
        .await?
        .filter(|p| p.expires_at >= now())
        .ok_or(ProviderSignInError::UnknownState)?;
    let signed_in = provider.finish(code, &pending.pkce_verifier, &pending.nonce).await?;
    let user_id = account_for(core, &signed_in.claims, &provider.settings().rules).await?;
    let session_secret = super::accounts::start_session(core, Some(user_id), None, user_agent).await?;
    let sealed = signed_in.refresh_token.as_deref().map(|token| seal_for_session(&session_secret, token));
    let recheck_at = sealed.as_ref().map(|_| now() + signed_in.recheck_in);
    db::identity::set_session_refresh(&core.db, &hash_token(&session_secret), sealed.as_deref(), recheck_at).await?;
    Ok(Arrived { session_secret, next: pending.next, user_id })
}

/// The account of the provider's claims: found by issuer and subject (never
/// by e-mail address or user name) and brought up to date, or created; then
/// the group rules decide its administrator flag and the team roles they name.
pub async fn account_for(core: &Core, claims: &ProviderClaims, rules: &GroupRules) -> Result<i64, ProviderSignInError> {
    let display_name = clip(&claims.display_name, limits::OWNER);
    let email = clip(&claims.email, 254);
    let grants = rules.grants(&claims.groups);
    let mut tx = begin_write(core).await?;
    let (user_id, created) = match db::identity::user_by_identity(&mut tx, &claims.identity).await? {
        Some(user) if user.disabled_at.is_some() => return Err(ProviderSignInError::AccountDisabled),
        Some(user) => {
            let display_name = if display_name.is_empty() { user.username.clone() } else { display_name };
            db::identity::update_profile(&mut tx, user.id, &display_name, &email).await?;
            (user.id, false)
        }
        None => {
            let username = free_username(&mut tx, &claims.username_hint).await?;
            let display_name = if display_name.is_empty() { username.clone() } else { display_name };
            let id =
                db::identity::insert_provider_user(&mut tx, &username, &display_name, &email, &claims.identity, now())
                    .await?;
            (id, true)
        }
    };
    if let Some(admin) = grants.admin {
        db::accounts::set_admin(&mut tx, user_id, admin).await?;
    }
    if !grants.teams.is_empty() {
        let teams = db::teams::list(&mut tx).await?;
        for (name, role) in &grants.teams {
            let Some(team) = teams.iter().find(|t| t.name.eq_ignore_ascii_case(name)) else {
                tracing::warn!(team = %name, "an --oidc-team-role rule names a team that does not exist; it was skipped");
                continue;
            };
            match role {
                Some(role) => db::accounts::set_role(&mut tx, team.id, user_id, *role).await?,
                None => {
                    db::accounts::remove_member(&mut tx, team.id, user_id).await?;
                }
            }
        }
    }
    tx.commit().await?;
    core.principals.forget_user(user_id);
    tracing::info!(user_id, created, groups = claims.groups.len(), "signed in through the identity provider");
    Ok(user_id)
}

/// The teams the group rules name that no team is called (in any case):
/// their rules grant nothing until such a team exists.
pub async fn teams_missing_for_rules(core: &Core, rules: &GroupRules) -> ServiceResult<Vec<String>> {
    let teams = db::teams::list(&core.db).await?;
    let mut missing: Vec<String> = rules
        .team_roles
        .iter()
        .map(|rule| rule.team.clone())
        .filter(|named| !teams.iter().any(|team| team.name.eq_ignore_ascii_case(named)))
        .collect();
    missing.dedup();
    Ok(missing)
}

fn clip(text: &str, chars: usize) -> String {
    text.trim().chars().filter(|c| !c.is_control()).take(chars).collect()
}

/// A user name made of the provider's hint (letters, digits and `. - _ @`),
/// with `-2`, `-3` … added when an account already has it.
async fn free_username(tx: &mut super::WriteTx, hint: &str) -> ServiceResult<String> {
    let base = username_base(hint);
    for n in 1..=50 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        if !db::identity::username_taken(&mut *tx, &candidate).await? {
            return Ok(candidate);
        }
    }
    Ok(format!("{base}-{}", &new_token("")[..8]))
}

/// The part of a provider's user name hint a user name may hold.
pub fn username_base(hint: &str) -> String {
    let mut base: String = hint
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') { c } else { '-' })
        .take(48)
        .collect();
    base = base.trim_matches('-').to_string();
    if base.is_empty() { "user".to_string() } else { base }
}

/// Asks the provider whether a session it started may go on, once its
/// recheck time has passed. Returns false when the session must end: the
/// provider refused the refresh, the refresh token cannot be read, or no
/// provider is configured any more. A provider that cannot be reached keeps
/// the session (asked again a minute later).
pub async fn session_may_go_on(core: &Core, session: &Session, session_secret: &str) -> ServiceResult<bool> {
    let at = now();
    let Some(due) = session.provider_recheck_at.filter(|due| *due <= at) else { return Ok(true) };
    let Some(provider) = core.identity.as_deref() else {
        tracing::info!(user_id = ?session.user_id, "a session from the identity provider ended: no provider is configured now");
        return Ok(false);
    };
    let Some(sealed) = db::identity::claim_recheck(&core.db, &session.id_hash, due, at + RETRY_RECHECK).await? else {
        // Another request is asking the provider right now.
        return Ok(true);
    };
    let Some(refresh_token) = sealed.as_deref().and_then(|sealed| open_for_session(session_secret, sealed)) else {
        return Ok(false);
    };
    match provider.renew(&refresh_token).await {
        Ok(renewed) => {
            let sealed = seal_for_session(session_secret, &renewed.refresh_token);
            db::identity::set_session_refresh(&core.db, &session.id_hash, Some(&sealed), Some(at + renewed.recheck_in))
                .await?;
            Ok(true)
        }
        Err(error) if error.is_unreachable() => {
            tracing::warn!(%error, "could not ask the identity provider whether a session may go on; asking again in a minute");
            Ok(true)
        }
        Err(error) => {
            tracing::info!(user_id = ?session.user_id, %error, "the identity provider refused to renew a session; it ended");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_keep_what_a_user_name_may_hold() {
        assert_eq!(username_base("ana.lopez@example.org"), "ana.lopez@example.org");
        assert_eq!(username_base("Ana López"), "Ana-L-pez");
        assert_eq!(username_base("  "), "user");
        assert_eq!(username_base("日本"), "user");
        assert_eq!(username_base(&"x".repeat(100)).len(), 48);
    }
}
