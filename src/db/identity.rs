//! Sign-in through an OpenID Connect provider: accounts by their provider
//! identity, sign-ins sent to the provider and not yet back, and what a
//! provider session needs to ask the provider again.

use sqlx::FromRow;

use super::accounts::{USER, UserRow};
use super::value::TimeText;
use super::{Exec, decode_time, decode_word, on_backend, time_param};
use crate::domain::accounts::{ProviderIdentity, Role, User};
use crate::domain::records::Timestamp;

/// The account the provider knows by this issuer and subject.
pub async fn user_by_identity(
    db: impl Into<Exec<'_>>,
    identity: &ProviderIdentity,
) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {USER} from users where issuer = $1 and subject = $2");
    let row: Option<UserRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .fetch_optional(e)
        .await)?;
    row.map(User::try_from).transpose()
}

/// Creates an account for a provider identity; it has no password.
pub async fn insert_provider_user(
    db: impl Into<Exec<'_>>,
    username: &str,
    display_name: &str,
    email: &str,
    identity: &ProviderIdentity,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let now = time_param(now);
    on_backend!(db.into(), e => sqlx::query_scalar(
        "insert into users (username, display_name, password_hash, is_admin, created_at, password_changed_at,
                            issuer, subject, email)
         values ($1, $2, '', $3, $4, $4, $5, $6, $7) returning id",
    )
    .bind(username)
    .bind(display_name)
    .bind(false)
    .bind(now)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(email)
    .fetch_one(e)
    .await)
}

/// Takes the display name and e-mail address the provider gives now.
pub async fn update_profile(
    db: impl Into<Exec<'_>>,
    user_id: i64,
    display_name: &str,
    email: &str,
) -> Result<(), sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query("update users set display_name = $1, email = $2 where id = $3")
        .bind(display_name)
        .bind(email)
        .bind(user_id)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Whether a user name is taken, in any case.
pub async fn username_taken(db: impl Into<Exec<'_>>, username: &str) -> Result<bool, sqlx::Error> {
    let count: i64 = on_backend!(db.into(), e => sqlx::query_scalar(
        "select count(*) from users where lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_one(e)
    .await)?;
    Ok(count > 0)
}

/// An account's roles, by team id.
pub async fn roles_of(db: impl Into<Exec<'_>>, user_id: i64) -> Result<Vec<(i64, Role)>, sqlx::Error> {
    let rows: Vec<(i64, String)> = on_backend!(db.into(), e => sqlx::query_as(
        "select team_id, role from memberships where user_id = $1 order by team_id",
    )
    .bind(user_id)
    .fetch_all(e)
    .await)?;
    rows.into_iter()
        .map(|(team, role)| Ok((team, decode_word(Role::parse, &role, "memberships", format!("team {team}"), "role")?)))
        .collect()
}

// ---------------------------------------------------------------- sign-ins under way

/// A sign-in sent to the provider: what its callback needs.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Where to go once signed in (a path of this site).
    pub next: String,
    pub expires_at: Timestamp,
}

#[derive(FromRow)]
struct PendingRow {
    state_hash: String,
    nonce: String,
    pkce_verifier: String,
    next: String,
    expires_at: TimeText,
}

pub async fn insert_pending(db: impl Into<Exec<'_>>, pending: &PendingSignIn) -> Result<(), sqlx::Error> {
    let expires_at = time_param(pending.expires_at);
    on_backend!(db.into(), e => sqlx::query(
        "insert into provider_sign_ins (state_hash, nonce, pkce_verifier, next, expires_at) values ($1, $2, $3, $4, $5)",
    )
    .bind(&pending.state_hash)
    .bind(&pending.nonce)
    .bind(&pending.pkce_verifier)
    .bind(&pending.next)
    .bind(expires_at)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Removes and returns the sign-in of this state, so it serves once; `None`
/// when there is none. Sign-ins that ran out before `now` are removed too.
pub async fn take_pending(
    db: impl Into<Exec<'_>>,
    state_hash: &str,
    now: Timestamp,
) -> Result<Option<PendingSignIn>, sqlx::Error> {
    let mut exec = db.into();
    let now = time_param(now);
    let row: Option<PendingRow> = on_backend!(exec.reborrow(), e => sqlx::query_as(
        "delete from provider_sign_ins where state_hash = $1
         returning state_hash, nonce, pkce_verifier, next, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(e)
    .await)?;
    on_backend!(exec, e => sqlx::query("delete from provider_sign_ins where expires_at < $1")
        .bind(now)
        .execute(e)
        .await
        .map(|done| done.rows_affected()))?;
    row.map(|row| {
        let key = "a sign-in under way";
        Ok(PendingSignIn {
            expires_at: decode_time(&row.expires_at, "provider_sign_ins", key, "expires_at")?,
            state_hash: row.state_hash,
            nonce: row.nonce,
            pkce_verifier: row.pkce_verifier,
            next: row.next,
        })
    })
    .transpose()
}

// ---------------------------------------------------------------- provider sessions

/// Records what a provider session needs to ask the provider again: the
/// encrypted refresh token (if the provider gave one) and when.
pub async fn set_session_refresh(
    db: impl Into<Exec<'_>>,
    id_hash: &str,
    refresh: Option<&str>,
    recheck_at: Option<Timestamp>,
) -> Result<(), sqlx::Error> {
    let recheck_at = recheck_at.map(time_param);
    on_backend!(db.into(), e => sqlx::query(
        "update sessions set provider_refresh = $1, provider_recheck_at = $2 where id_hash = $3",
    )
    .bind(refresh)
    .bind(recheck_at)
    .bind(id_hash)
    .execute(e)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Claims the recheck of a session that was due at `due`, moving it to
/// `until`, and returns the stored refresh token; `None` when another
/// request claimed it first (or the session is gone), so one request asks
/// the provider, never two with the same refresh token.
pub async fn claim_recheck(
    db: impl Into<Exec<'_>>,
    id_hash: &str,
    due: Timestamp,
    until: Timestamp,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let (due, until) = (time_param(due), time_param(until));
    let claimed: Option<(Option<String>,)> = on_backend!(db.into(), e => sqlx::query_as(
        "update sessions set provider_recheck_at = $1 where id_hash = $2 and provider_recheck_at = $3
         returning provider_refresh",
    )
    .bind(until)
    .bind(id_hash)
    .bind(due)
    .fetch_optional(e)
    .await)?;
    Ok(claimed.map(|(refresh,)| refresh))
}
