//! Accounts, memberships, sessions, API tokens, invites and participants.
//! Secret values arrive here already hashed.

use sqlx::{FromRow, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: String,
    pub password_changed_at: String,
}

const USER: &str = "id, username, display_name, password_hash, is_admin, created_at, \
                    password_changed_at";

pub async fn count_users(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users").fetch_one(db).await
}

pub async fn count_admins(db: impl SqliteExecutor<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users where is_admin = 1").fetch_one(db).await
}

pub async fn users(db: impl SqliteExecutor<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER} from users order by username")).fetch_all(db).await
}

pub async fn user_by_name(db: impl SqliteExecutor<'_>, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER} from users where username = ?")).bind(username).fetch_optional(db).await
}

pub async fn user(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {USER} from users where id = ?")).bind(id).fetch_optional(db).await
}

pub async fn insert_user(
    db: impl SqliteExecutor<'_>,
    username: &str,
    display_name: &str,
    password_hash: &str,
    is_admin: bool,
    now: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into users (username, display_name, password_hash, is_admin, created_at, password_changed_at)
         values (?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(is_admin)
    .bind(now)
    .bind(now)
    .fetch_one(db)
    .await
}

pub async fn set_password(
    db: impl SqliteExecutor<'_>,
    id: i64,
    password_hash: &str,
    now: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update users set password_hash = ?, password_changed_at = ? where id = ?")
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_admin(db: impl SqliteExecutor<'_>, id: i64, is_admin: bool) -> Result<(), sqlx::Error> {
    sqlx::query("update users set is_admin = ? where id = ?").bind(is_admin).bind(id).execute(db).await?;
    Ok(())
}

pub async fn delete_user(db: impl SqliteExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from users where id = ?").bind(id).execute(db).await?.rows_affected() > 0)
}

/// Records a failed login; locks the account until `lock_until` once `threshold` is reached.
/// Failed sign-ins of a (user name, address) pair and until when it must wait.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct SignInFailures {
    pub failures: i64,
    pub blocked_until: i64,
}

pub async fn sign_in_failures(
    db: impl SqliteExecutor<'_>,
    username: &str,
    address: &str,
) -> Result<Option<SignInFailures>, sqlx::Error> {
    sqlx::query_as("select failures, blocked_until from sign_in_failures where username = ? and address = ?")
        .bind(username)
        .bind(address)
        .fetch_optional(db)
        .await
}

/// Moves a pair from `seen` failures (0: no row yet) to `seen + 1`, blocked
/// until `blocked_until`; false when another attempt moved it first.
pub async fn count_sign_in_failure(
    db: impl SqliteExecutor<'_>,
    username: &str,
    address: &str,
    seen: i64,
    blocked_until: i64,
) -> Result<bool, sqlx::Error> {
    let result = if seen == 0 {
        sqlx::query(
            "insert into sign_in_failures (username, address, failures, blocked_until) values (?, ?, 1, ?)
             on conflict (username, address) do update set failures = 1, blocked_until = excluded.blocked_until
             where sign_in_failures.failures = 0",
        )
        .bind(username)
        .bind(address)
        .bind(blocked_until)
        .execute(db)
        .await?
    } else {
        sqlx::query(
            "update sign_in_failures set failures = failures + 1, blocked_until = ?
             where username = ? and address = ? and failures = ?",
        )
        .bind(blocked_until)
        .bind(username)
        .bind(address)
        .bind(seen)
        .execute(db)
        .await?
    };
    Ok(result.rows_affected() == 1)
}

/// Forgets a pair's failures (it signed in).
pub async fn clear_sign_in_failures(
    db: impl SqliteExecutor<'_>,
    username: &str,
    address: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from sign_in_failures where username = ? and address = ?")
        .bind(username)
        .bind(address)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets every failure counted against a user name (an administrator unlocks it).
pub async fn unblock_user_name(db: impl SqliteExecutor<'_>, username: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sign_in_failures where username = ?").bind(username).execute(db).await?.rows_affected())
}

/// Forgets failures whose delay ran out before `before` (Unix seconds).
pub async fn forget_old_sign_in_failures(db: impl SqliteExecutor<'_>, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sign_in_failures where blocked_until < ?")
        .bind(before)
        .execute(db)
        .await?
        .rows_affected())
}

// ---------------------------------------------------------------- memberships

#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
}

pub async fn role(db: impl SqliteExecutor<'_>, team_id: i64, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("select role from memberships where team_id = ? and user_id = ?")
        .bind(team_id)
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Team id → role of one user.
pub async fn roles_of(db: impl SqliteExecutor<'_>, user_id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("select team_id, role from memberships where user_id = ?").bind(user_id).fetch_all(db).await
}

pub async fn members(db: impl SqliteExecutor<'_>, team_id: i64) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "select u.id as user_id, u.username, u.display_name, m.role from memberships m join users u on u.id = m.user_id
         where m.team_id = ? order by u.username",
    )
    .bind(team_id)
    .fetch_all(db)
    .await
}

pub async fn set_role(db: impl SqliteExecutor<'_>, team_id: i64, user_id: i64, role: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into memberships (team_id, user_id, role) values (?, ?, ?)
         on conflict (team_id, user_id) do update set role = excluded.role",
    )
    .bind(team_id)
    .bind(user_id)
    .bind(role)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn remove_member(db: impl SqliteExecutor<'_>, team_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from memberships where team_id = ? and user_id = ?")
        .bind(team_id)
        .bind(user_id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

// ---------------------------------------------------------------- sessions

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: Option<i64>,
    pub participant_id: Option<i64>,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub user_agent: String,
}

const SESSION: &str = "id_hash, user_id, participant_id, created_at, last_seen_at, expires_at, user_agent";

pub async fn insert_session(db: impl SqliteExecutor<'_>, row: &SessionRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into sessions (id_hash, user_id, participant_id, created_at, last_seen_at, expires_at, user_agent)
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&row.id_hash)
    .bind(row.user_id)
    .bind(row.participant_id)
    .bind(&row.created_at)
    .bind(&row.last_seen_at)
    .bind(&row.expires_at)
    .bind(&row.user_agent)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn session(db: impl SqliteExecutor<'_>, id_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {SESSION} from sessions where id_hash = ?")).bind(id_hash).fetch_optional(db).await
}

pub async fn sessions_of(db: impl SqliteExecutor<'_>, user_id: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {SESSION} from sessions where user_id = ? order by last_seen_at desc"))
        .bind(user_id)
        .fetch_all(db)
        .await
}

pub async fn touch_session(
    db: impl SqliteExecutor<'_>,
    id_hash: &str,
    now: &str,
    expires_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update sessions set last_seen_at = ?, expires_at = ? where id_hash = ?")
        .bind(now)
        .bind(expires_at)
        .bind(id_hash)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn delete_session(db: impl SqliteExecutor<'_>, id_hash: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where id_hash = ?").bind(id_hash).execute(db).await?.rows_affected() > 0)
}

/// Deletes a user's sessions, keeping one (the current) when given.
pub async fn delete_sessions_of(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
    keep: Option<&str>,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where user_id = ? and (? is null or id_hash <> ?)")
        .bind(user_id)
        .bind(keep)
        .bind(keep)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn delete_expired_sessions(db: impl SqliteExecutor<'_>, now: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("delete from sessions where expires_at < ?").bind(now).execute(db).await?.rows_affected())
}

// ---------------------------------------------------------------- API tokens

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub scope: String,
    pub team_id: Option<i64>,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

const TOKEN: &str = "id, user_id, name, prefix, scope, team_id, created_at, expires_at, last_used_at, revoked_at";

#[allow(clippy::too_many_arguments)]
pub async fn insert_token(
    db: impl SqliteExecutor<'_>,
    user_id: i64,
    name: &str,
    token_hash: &str,
    prefix: &str,
    scope: &str,
    team_id: Option<i64>,
    now: &str,
    expires_at: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into api_tokens (user_id, name, token_hash, prefix, scope, team_id, created_at, expires_at)
         values (?, ?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(prefix)
    .bind(scope)
    .bind(team_id)
    .bind(now)
    .bind(expires_at)
    .fetch_one(db)
    .await
}

pub async fn token_by_hash(db: impl SqliteExecutor<'_>, token_hash: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {TOKEN} from api_tokens where token_hash = ?"))
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

pub async fn token(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {TOKEN} from api_tokens where id = ?")).bind(id).fetch_optional(db).await
}

pub async fn tokens_of(db: impl SqliteExecutor<'_>, user_id: i64) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {TOKEN} from api_tokens where user_id = ? order by created_at desc"))
        .bind(user_id)
        .fetch_all(db)
        .await
}

pub async fn mark_token_used(db: impl SqliteExecutor<'_>, id: i64, now: &str) -> Result<(), sqlx::Error> {
    sqlx::query("update api_tokens set last_used_at = ? where id = ?").bind(now).bind(id).execute(db).await?;
    Ok(())
}

/// Revokes every live token of an account; returns how many.
pub async fn revoke_tokens_of(db: impl SqliteExecutor<'_>, user_id: i64, now: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("update api_tokens set revoked_at = ? where user_id = ? and revoked_at is null")
        .bind(now)
        .bind(user_id)
        .execute(db)
        .await?
        .rows_affected())
}

pub async fn revoke_token(db: impl SqliteExecutor<'_>, id: i64, user_id: i64, now: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("update api_tokens set revoked_at = ? where id = ? and user_id = ? and revoked_at is null")
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

// ---------------------------------------------------------------- invites

#[derive(Debug, Clone, FromRow)]
pub struct InviteRow {
    pub id: i64,
    pub team_id: i64,
    pub role: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub ended_at: Option<String>,
}

const INVITE: &str = "id, team_id, role, label, created_at, expires_at, ended_at";

#[allow(clippy::too_many_arguments)]
pub async fn insert_invite(
    db: impl SqliteExecutor<'_>,
    team_id: i64,
    code_hash: &str,
    role: &str,
    label: &str,
    created_by: Option<i64>,
    now: &str,
    expires_at: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into invites (team_id, code_hash, role, label, created_by, created_at, expires_at)
         values (?, ?, ?, ?, ?, ?, ?) returning id",
    )
    .bind(team_id)
    .bind(code_hash)
    .bind(role)
    .bind(label)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .fetch_one(db)
    .await
}

pub async fn invite_by_hash(db: impl SqliteExecutor<'_>, code_hash: &str) -> Result<Option<InviteRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {INVITE} from invites where code_hash = ?"))
        .bind(code_hash)
        .fetch_optional(db)
        .await
}

pub async fn invite(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<InviteRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {INVITE} from invites where id = ?")).bind(id).fetch_optional(db).await
}

pub async fn invites_of(db: impl SqliteExecutor<'_>, team_id: i64) -> Result<Vec<InviteRow>, sqlx::Error> {
    sqlx::query_as(&format!("select {INVITE} from invites where team_id = ? order by created_at desc"))
        .bind(team_id)
        .fetch_all(db)
        .await
}

pub async fn end_invite(db: impl SqliteExecutor<'_>, id: i64, now: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("update invites set ended_at = ? where id = ? and ended_at is null")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

#[derive(Debug, Clone, FromRow)]
pub struct ParticipantRow {
    pub id: i64,
    pub invite_id: i64,
    pub display_name: String,
    pub created_at: String,
    pub removed_at: Option<String>,
}

pub async fn insert_participant(
    db: impl SqliteExecutor<'_>,
    invite_id: i64,
    name: &str,
    now: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("insert into participants (invite_id, display_name, created_at) values (?, ?, ?) returning id")
        .bind(invite_id)
        .bind(name)
        .bind(now)
        .fetch_one(db)
        .await
}

pub async fn participant(db: impl SqliteExecutor<'_>, id: i64) -> Result<Option<ParticipantRow>, sqlx::Error> {
    sqlx::query_as("select id, invite_id, display_name, created_at, removed_at from participants where id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn participants_of(db: impl SqliteExecutor<'_>, team_id: i64) -> Result<Vec<ParticipantRow>, sqlx::Error> {
    sqlx::query_as(
        "select p.id, p.invite_id, p.display_name, p.created_at, p.removed_at from participants p
         join invites i on i.id = p.invite_id where i.team_id = ? order by p.created_at desc",
    )
    .bind(team_id)
    .fetch_all(db)
    .await
}

pub async fn remove_participant(db: impl SqliteExecutor<'_>, id: i64, now: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("update participants set removed_at = ? where id = ? and removed_at is null")
        .bind(now)
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}
