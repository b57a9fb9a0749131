//! Accounts and access: the first administrator, users, sign-in with
//! lock-out, sessions, API tokens, team members, workshop invites.

use time::{Duration, OffsetDateTime};

use super::{ServiceError, ServiceResult, duplicate};
use crate::auth::secrets::{dummy_hash, hash_password, hash_token, new_token, verify_password};
use crate::auth::{Principal, Role, TokenScope, Via};
use crate::core::Core;
use crate::db::{self, accounts::NewInvite};
use crate::domain::accounts::{ApiToken, Invite, Member, Participant, Session, User};
use crate::domain::records::format_timestamp;
use crate::domain::{FieldError, limits, text};

/// Sessions end after this long without a request…
pub const SESSION_IDLE: Duration = Duration::hours(12);
/// …and this long after sign-in in any case.
pub const SESSION_MAX: Duration = Duration::days(7);
/// Failed sign-ins of one user name from one address that cost nothing…
pub const FREE_FAILURES: i64 = 3;
/// …after which each one doubles the wait before the next attempt, from
/// [`FIRST_WAIT_SECS`] up to this many.
pub const LONGEST_WAIT_SECS: i64 = 15 * 60;
pub const FIRST_WAIT_SECS: i64 = 5;
pub const MIN_PASSWORD: usize = 12;

/// Now, in whole seconds (as times are stored).
pub(super) fn now() -> OffsetDateTime {
    let at = OffsetDateTime::now_utc();
    at.replace_nanosecond(0).unwrap_or(at)
}

fn check_password(password: &str) -> ServiceResult<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(FieldError::new("password", format!("must be at least {MIN_PASSWORD} characters")).into());
    }
    if password.chars().count() > 1024 {
        return Err(FieldError::new("password", "must be at most 1024 characters").into());
    }
    Ok(())
}

fn check_username(username: &str) -> ServiceResult<String> {
    let username = text("username", username, 64, true)?;
    if !username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')) {
        return Err(FieldError::new("username", "use letters, digits and . - _ @ only").into());
    }
    Ok(username)
}

/// Creates an account. The first account of a fresh installation must be an administrator.
/// True once some account is a site administrator (first-run set-up is done).
pub async fn has_administrator(core: &Core) -> ServiceResult<bool> {
    Ok(db::accounts::count_admins(&core.db).await? > 0)
}

pub async fn create_user(
    core: &Core,
    username: &str,
    display_name: &str,
    password: &str,
    is_admin: bool,
) -> ServiceResult<i64> {
    let username = check_username(username)?;
    let display_name = match display_name.trim() {
        "" => username.clone(),
        name => text("display_name", name, limits::OWNER, true)?,
    };
    check_password(password)?;
    let hash = hash_password(password.to_string())
        .await
        .map_err(|e| ServiceError::Database(sqlx::Error::Protocol(e.to_string())))?;
    let id = db::accounts::insert_user(&core.db, &username, &display_name, &hash, is_admin, now())
        .await
        .map_err(|e| duplicate(e, || format!("username: {username} is taken")))?;
    Ok(id)
}

/// An account, or not found.
pub async fn user(core: &Core, user_id: i64) -> ServiceResult<User> {
    db::accounts::user(&core.db, user_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("this account no longer exists".into()))
}

/// The account with this user name (case-insensitive), or not found.
pub async fn user_named(core: &Core, username: &str) -> ServiceResult<User> {
    db::accounts::user_by_name(&core.db, username)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("no account is called {username}")))
}

/// Every account, by user name.
pub async fn users(core: &Core) -> ServiceResult<Vec<User>> {
    Ok(db::accounts::users(&core.db).await?)
}

/// An account's sessions, most recently used first.
pub async fn sessions_of(core: &Core, user_id: i64) -> ServiceResult<Vec<Session>> {
    Ok(db::accounts::sessions_of(&core.db, user_id).await?)
}

/// An account's API tokens, revoked and expired ones included.
pub async fn tokens_of(core: &Core, user_id: i64) -> ServiceResult<Vec<ApiToken>> {
    Ok(db::accounts::tokens_of(&core.db, user_id).await?)
}

/// Who has access to a team: its members, its workshop invites and the
/// people who joined through them.
pub struct TeamAccess {
    pub members: Vec<Member>,
    pub invites: Vec<Invite>,
    pub participants: Vec<Participant>,
}

pub async fn team_access(core: &Core, team_id: i64) -> ServiceResult<TeamAccess> {
    Ok(TeamAccess {
        members: db::accounts::members(&core.db, team_id).await?,
        invites: db::accounts::invites_of(&core.db, team_id).await?,
        participants: db::accounts::participants_of(&core.db, team_id).await?,
    })
}

/// Why a sign-in failed. Neither says whether the name exists.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the user name or password is wrong")]
    Wrong,
    /// Too many failures of this name from this address: wait.
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The password is right but an administrator disabled the account.
    #[error("this account is disabled")]
    Disabled,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// How long a (user name, address) pair waits after `failures` failures:
/// nothing for the free ones, then 5 s, 10 s, 20 s … up to [`LONGEST_WAIT_SECS`].
pub fn sign_in_wait_secs(failures: i64) -> i64 {
    if failures <= FREE_FAILURES {
        return 0;
    }
    let doublings = u32::try_from(failures - FREE_FAILURES - 1).unwrap_or(u32::MAX).min(20);
    (FIRST_WAIT_SECS << doublings).min(LONGEST_WAIT_SECS)
}

/// Checks a password for a sign-in from `address`. Each attempt is counted
/// as a failure of its (user name, address) pair before the password is
/// checked, in one compare-and-set, so concurrent attempts cannot all slip
/// past the wait; a right password then clears the count. Unknown names are
/// counted and answered exactly like known ones. Returns the user id.
pub async fn verify_sign_in(core: &Core, username: &str, password: &str, address: &str) -> Result<i64, SignInError> {
    let name: String = username.trim().chars().take(64).collect::<String>().to_lowercase();
    claim_sign_in_attempt(core, &name, address).await?;
    let user = db::accounts::user_by_name(&core.db, &name).await?;
    // An account from the identity provider has no password here.
    let Some(user) = user.filter(|user| user.is_local()) else {
        // Spend the same time as for a real account.
        verify_password(password.to_string(), dummy_hash().await.to_string()).await;
        return Err(SignInError::Wrong);
    };
    if !verify_password(password.to_string(), user.password_hash.clone()).await {
        return Err(SignInError::Wrong);
    }
    db::accounts::clear_sign_in_failures(&core.db, &name, address).await?;
    if user.disabled_at.is_some() {
        return Err(SignInError::Disabled);
    }
    let a_day_ago = now().unix_timestamp() - 86_400;
    db::accounts::forget_old_sign_in_failures(&core.db, a_day_ago).await?;
    Ok(user.id)
}

async fn claim_sign_in_attempt(core: &Core, name: &str, address: &str) -> Result<(), SignInError> {
    for _ in 0..8 {
        let at = now().unix_timestamp();
        let seen = db::accounts::sign_in_failures(&core.db, name, address).await?;
        let (failures, blocked_until) = seen.map_or((0, 0), |s| (s.failures, s.blocked_until));
        if blocked_until > at {
            return Err(SignInError::Throttled { retry_after_secs: (blocked_until - at) as u64 });
        }
        let next_block = at + sign_in_wait_secs(failures + 1);
        if db::accounts::count_sign_in_failure(&core.db, name, address, failures, next_block).await? {
            return Ok(());
        }
        // Another attempt of the same pair counted first; look again.
    }
    Err(SignInError::Throttled { retry_after_secs: 1 })
}

/// Forgets the failed sign-ins counted against a user name, from every
/// address (`atlascope user unlock`). Returns how many pairs were cleared.
pub async fn unblock_sign_in(core: &Core, username: &str) -> ServiceResult<u64> {
    Ok(db::accounts::unblock_user_name(&core.db, &username.trim().to_lowercase()).await?)
}

/// Starts a session; returns the secret for the cookie.
pub async fn start_session(
    core: &Core,
    user_id: Option<i64>,
    participant_id: Option<i64>,
    user_agent: &str,
) -> ServiceResult<String> {
    let secret = new_token("");
    let at = now();
    db::accounts::insert_session(
        &core.db,
        &Session {
            id_hash: hash_token(&secret),
            user_id,
            participant_id,
            created_at: at,
            last_seen_at: at,
            expires_at: at + SESSION_IDLE,
            user_agent: user_agent.chars().take(200).collect(),
            provider_recheck_at: None,
        },
    )
    .await?;
    Ok(secret)
}

/// Ends one of an account's own sessions (from its list of sessions).
pub async fn end_own_session(core: &Core, user_id: i64, secret_hash: &str) -> ServiceResult<()> {
    let owned = db::accounts::sessions_of(&core.db, user_id).await?;
    if !owned.iter().any(|s| s.id_hash == secret_hash) {
        return Err(ServiceError::NotFound("no such session of yours".into()));
    }
    end_session(core, secret_hash).await
}

pub async fn end_session(core: &Core, secret_hash: &str) -> ServiceResult<()> {
    db::accounts::delete_session(&core.db, secret_hash).await?;
    core.principals.forget_session(secret_hash);
    Ok(())
}

/// Resolves a session cookie to its principal, extending the session's idle
/// time; expired sessions are removed.
pub async fn principal_for_session(core: &Core, secret: &str) -> ServiceResult<Principal> {
    let id_hash = hash_token(secret);
    if let Some(principal) = core.principals.get(&id_hash) {
        return Ok(principal);
    }
    let principal = session_principal(core, &id_hash, Some(secret)).await?;
    if !principal.is_anonymous() {
        core.principals.remember(&id_hash, principal.clone());
    }
    Ok(principal)
}

/// The principal of a stored session, from the database; anonymous once the
/// session ended, expired or its account or invite is gone. With the
/// cookie's `secret` (a request) it extends the session's idle time and, for
/// a session from the identity provider, asks the provider again when due;
/// without it the session is only read (a check).
async fn session_principal(core: &Core, id_hash: &str, secret: Option<&str>) -> ServiceResult<Principal> {
    let Some(session) = db::accounts::session(&core.db, id_hash).await? else { return Ok(Principal::Anonymous) };
    let at = now();
    let hard_end = session.created_at + SESSION_MAX;
    if session.expires_at < at || hard_end < at {
        db::accounts::delete_session(&core.db, id_hash).await?;
        return Ok(Principal::Anonymous);
    }
    let principal = if let Some(user_id) = session.user_id {
        match db::accounts::user(&core.db, user_id).await? {
            Some(user) if user.disabled_at.is_none() => Principal::User {
                id: user.id,
                username: user.username,
                display_name: user.display_name,
                is_admin: user.is_admin,
                via: Via::Session { id_hash: id_hash.to_string() },
            },
            _ => Principal::Anonymous,
        }
    } else if let Some(participant_id) = session.participant_id {
        participant_principal(core, participant_id, id_hash).await?
    } else {
        Principal::Anonymous
    };
    let refused_by_provider = match secret {
        Some(secret) if !principal.is_anonymous() => {
            !super::identity::session_may_go_on(core, &session, secret).await?
        }
        _ => false,
    };
    if principal.is_anonymous() || refused_by_provider {
        db::accounts::delete_session(&core.db, id_hash).await?;
        if refused_by_provider {
            core.principals.forget_session(id_hash);
        }
        return Ok(Principal::Anonymous);
    }
    if secret.is_some() {
        let idle_end = (at + SESSION_IDLE).min(hard_end);
        db::accounts::touch_session(&core.db, id_hash, at, idle_end).await?;
    }
    Ok(principal)
}

/// The principal as it stands now, read again from the database (not the
/// cache): anonymous once its session ended or expired, its token was
/// revoked or expired, or its account or invite is gone. Open live streams
/// check with this whenever access may have changed.
pub async fn recheck(core: &Core, principal: &Principal) -> ServiceResult<Principal> {
    match principal {
        Principal::Anonymous => Ok(Principal::Anonymous),
        Principal::User { via: Via::Session { id_hash }, .. }
        | Principal::Participant { session_hash: id_hash, .. } => session_principal(core, id_hash, None).await,
        Principal::User { via: Via::Token { id, .. }, .. } => {
            let Some(row) = db::accounts::token(&core.db, *id).await? else { return Ok(Principal::Anonymous) };
            Ok(token_principal(core, row).await?.unwrap_or(Principal::Anonymous))
        }
    }
}

async fn participant_principal(core: &Core, participant_id: i64, id_hash: &str) -> ServiceResult<Principal> {
    let Some(participant) = db::accounts::participant(&core.db, participant_id).await? else {
        return Ok(Principal::Anonymous);
    };
    let Some(invite) = db::accounts::invite(&core.db, participant.invite_id).await? else {
        return Ok(Principal::Anonymous);
    };
    let live = participant.removed_at.is_none() && invite.is_open(now());
    Ok(if live {
        Principal::Participant {
            id: participant.id,
            display_name: participant.display_name,
            team_id: invite.team_id,
            role: invite.role,
            session_hash: id_hash.to_string(),
        }
    } else {
        Principal::Anonymous
    })
}

/// Resolves a bearer token. `None` when it is unknown, revoked or expired.
pub async fn principal_for_token(core: &Core, token: &str) -> ServiceResult<Option<Principal>> {
    let Some(row) = db::accounts::token_by_hash(&core.db, &hash_token(token)).await? else { return Ok(None) };
    let (id, last_used_at) = (row.id, row.last_used_at);
    let principal = token_principal(core, row).await?;
    // Record use at most once a minute.
    let stale = last_used_at.is_none_or(|used| now() - used > Duration::minutes(1));
    if principal.is_some() && stale {
        db::accounts::mark_token_used(&core.db, id, now()).await?;
    }
    Ok(principal)
}

async fn token_principal(core: &Core, token: ApiToken) -> ServiceResult<Option<Principal>> {
    if !token.is_live(now()) {
        return Ok(None);
    }
    let user = db::accounts::user(&core.db, token.user_id).await?;
    let Some(user) = user.filter(|user| user.disabled_at.is_none()) else { return Ok(None) };
    Ok(Some(Principal::User {
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        is_admin: user.is_admin,
        via: Via::Token { id: token.id, scope: token.scope, team: token.team_id },
    }))
}

/// Changes an account's password; every other session ends, and with
/// `revoke_tokens` every API token of the account too. Returns how many
/// tokens were revoked.
pub async fn change_password(
    core: &Core,
    user_id: i64,
    current: &str,
    new: &str,
    keep_session: Option<&str>,
    revoke_tokens: bool,
) -> ServiceResult<u64> {
    let user = db::accounts::user(&core.db, user_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("the account no longer exists".into()))?;
    if !user.is_local() {
        return Err(FieldError::new(
            "current_password",
            "this account signs in through the identity provider, which keeps its password",
        )
        .into());
    }
    if !verify_password(current.to_string(), user.password_hash).await {
        return Err(FieldError::new("current_password", "is not your current password").into());
    }
    check_password(new)?;
    let hash = hash_password(new.to_string())
        .await
        .map_err(|e| ServiceError::Database(sqlx::Error::Protocol(e.to_string())))?;
    db::accounts::set_password(&core.db, user_id, &hash, now()).await?;
    // Every other session ends with the old password.
    db::accounts::delete_sessions_of(&core.db, user_id, keep_session).await?;
    let revoked = if revoke_tokens { db::accounts::revoke_tokens_of(&core.db, user_id, now()).await? } else { 0 };
    core.principals.forget_user(user_id);
    Ok(revoked)
}

pub async fn revoke_other_sessions(core: &Core, user_id: i64, keep: &str) -> ServiceResult<u64> {
    let count = db::accounts::delete_sessions_of(&core.db, user_id, Some(keep)).await?;
    core.principals.forget_user(user_id);
    Ok(count)
}

/// A new API token; the secret is returned once and stored only hashed.
pub struct NewToken {
    pub id: i64,
    pub secret: String,
}

pub async fn create_token(
    core: &Core,
    user_id: i64,
    name: &str,
    scope: TokenScope,
    team_id: Option<i64>,
    valid_days: i64,
) -> ServiceResult<NewToken> {
    let name = text("name", name, limits::NAME, true)?;
    if !(1..=366).contains(&valid_days) {
        return Err(FieldError::new("valid_days", "must be between 1 and 366").into());
    }
    if let Some(team) = team_id
        && db::teams::get(&core.db, team).await?.is_none()
    {
        return Err(FieldError::unknown("team_id", format!("team {team} does not exist")).into());
    }
    let secret = new_token("acs_");
    let prefix: String = secret.chars().take(10).collect();
    let at = now();
    let token = db::accounts::NewToken {
        user_id,
        name: &name,
        token_hash: &hash_token(&secret),
        prefix: &prefix,
        scope,
        team_id,
        created_at: at,
        expires_at: at + Duration::days(valid_days),
    };
    let id = db::accounts::insert_token(&core.db, &token).await?;
    Ok(NewToken { id, secret })
}

/// Adds or changes a member's role, by user name.
pub async fn set_member(core: &Core, team_id: i64, username: &str, role: Role) -> ServiceResult<()> {
    let user = db::accounts::user_by_name(&core.db, username.trim())
        .await?
        .ok_or_else(|| FieldError::new("username", format!("no account is called {}", username.trim())))?;
    db::accounts::set_role(&core.db, team_id, user.id, role).await?;
    core.principals.forget_user(user.id);
    Ok(())
}

/// Removes an account from a team.
pub async fn remove_member(core: &Core, team_id: i64, user_id: i64) -> ServiceResult<()> {
    if !db::accounts::remove_member(&core.db, team_id, user_id).await? {
        return Err(ServiceError::NotFound(format!("user {user_id} is not a member of team {team_id}")));
    }
    core.principals.forget_user(user_id);
    Ok(())
}

/// Deletes an account (an administrator's action; never one's own).
pub async fn delete_user(core: &Core, acting_user: Option<i64>, user_id: i64) -> ServiceResult<()> {
    if acting_user == Some(user_id) {
        return Err(FieldError::new("user", "you cannot delete your own account").into());
    }
    if !db::accounts::delete_user(&core.db, user_id).await? {
        return Err(ServiceError::NotFound(format!("no user {user_id}")));
    }
    core.principals.forget_user(user_id);
    Ok(())
}

/// Grants or withdraws site administration (never one's own).
pub async fn set_admin(core: &Core, acting_user: Option<i64>, user_id: i64, is_admin: bool) -> ServiceResult<()> {
    if acting_user == Some(user_id) {
        return Err(FieldError::new("user", "you cannot change your own administrator rights").into());
    }
    if db::accounts::user(&core.db, user_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("no user {user_id}")));
    }
    db::accounts::set_admin(&core.db, user_id, is_admin).await?;
    core.principals.forget_user(user_id);
    Ok(())
}

/// Disables an account (or enables it again): while disabled it cannot sign
/// in, its sessions are ended and its API tokens are refused. An
/// administrator's action, never on their own account.
pub async fn set_disabled(core: &Core, acting_user: Option<i64>, user_id: i64, disabled: bool) -> ServiceResult<()> {
    if acting_user == Some(user_id) {
        return Err(FieldError::new("user", "you cannot disable your own account").into());
    }
    if db::accounts::user(&core.db, user_id).await?.is_none() {
        return Err(ServiceError::NotFound(format!("no user {user_id}")));
    }
    db::accounts::set_disabled(&core.db, user_id, disabled.then(now)).await?;
    if disabled {
        db::accounts::delete_sessions_of(&core.db, user_id, None).await?;
    }
    core.principals.forget_user(user_id);
    Ok(())
}

/// Revokes one of an account's API tokens.
pub async fn revoke_token(core: &Core, user_id: i64, token_id: i64) -> ServiceResult<()> {
    if !db::accounts::revoke_token(&core.db, token_id, user_id, now()).await? {
        return Err(ServiceError::NotFound(format!("token {token_id} is not one of yours, or already revoked")));
    }
    core.principals.access_changed();
    Ok(())
}

/// A new workshop invite; the code is returned once and stored only hashed.
pub async fn create_invite(
    core: &Core,
    team_id: i64,
    role: Role,
    label: &str,
    valid_hours: i64,
    created_by: Option<i64>,
) -> ServiceResult<String> {
    if role == Role::Owner {
        return Err(FieldError::new("role", "an invite grants viewer or editor").into());
    }
    if !(1..=24 * 14).contains(&valid_hours) {
        return Err(FieldError::new("valid_hours", "must be between 1 and 336 (two weeks)").into());
    }
    let label = text("label", label, limits::NAME, false)?;
    let code = new_token("");
    let at = now();
    let invite = NewInvite {
        team_id,
        code_hash: &hash_token(&code),
        role,
        label: &label,
        created_by,
        created_at: at,
        expires_at: at + Duration::hours(valid_hours),
    };
    db::accounts::insert_invite(&core.db, &invite).await?;
    Ok(code)
}

/// Joins a workshop through an invite code; returns the session secret.
pub async fn join(core: &Core, code: &str, display_name: &str, user_agent: &str) -> ServiceResult<String> {
    let invite = usable_invite(core, code).await?;
    let name = text("display_name", display_name, limits::OWNER, true)?;
    let participant = db::accounts::insert_participant(&core.db, invite.id, &name, now()).await?;
    start_session(core, None, Some(participant), user_agent).await
}

/// The invite behind a code, if it can still be used.
pub async fn usable_invite(core: &Core, code: &str) -> ServiceResult<Invite> {
    let invite = db::accounts::invite_by_hash(&core.db, &hash_token(code.trim()))
        .await?
        .ok_or_else(|| ServiceError::NotFound("this invite link is not valid".into()))?;
    if invite.ended_at.is_some() {
        return Err(ServiceError::Gone("this invite link was ended by the team".into()));
    }
    if !invite.is_open(now()) {
        return Err(ServiceError::Gone(format!("this invite link expired at {}", format_timestamp(invite.expires_at))));
    }
    Ok(invite)
}

pub async fn end_invite(core: &Core, team_id: i64, invite_id: i64) -> ServiceResult<()> {
    let invite = db::accounts::invite(&core.db, invite_id)
        .await?
        .filter(|i| i.team_id == team_id)
        .ok_or_else(|| ServiceError::NotFound(format!("invite {invite_id} is not one of this team's")))?;
    db::accounts::end_invite(&core.db, invite.id, now()).await?;
    core.principals.clear();
    Ok(())
}

pub async fn remove_participant(core: &Core, team_id: i64, participant_id: i64) -> ServiceResult<()> {
    let participants = db::accounts::participants_of(&core.db, team_id).await?;
    if !participants.iter().any(|p| p.id == participant_id) {
        return Err(ServiceError::NotFound(format!("participant {participant_id} is not in this team's workshops")));
    }
    db::accounts::remove_participant(&core.db, participant_id, now()).await?;
    core.principals.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_wait_doubles_after_the_free_failures_up_to_a_cap() {
        let waits: Vec<i64> = (0..=FREE_FAILURES + 4).map(sign_in_wait_secs).collect();
        assert_eq!(waits, vec![0, 0, 0, 0, 5, 10, 20, 40]);
        assert_eq!(sign_in_wait_secs(50), LONGEST_WAIT_SECS);
        assert_eq!(sign_in_wait_secs(i64::MAX), LONGEST_WAIT_SECS);
    }
}
