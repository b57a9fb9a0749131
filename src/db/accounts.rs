//! Accounts, memberships, sessions, API tokens, invites and participants.
//! Secret values arrive here already hashed.

use sqlx::FromRow;

use super::value::TimeText;
use super::{Exec, decode_time, decode_word, on_backend, time_param};
use crate::domain::accounts::{
    ApiToken, Invite, Member, Participant, ProviderIdentity, Role, Session, TokenScope, User,
};
use crate::domain::records::Timestamp;

/// An optional stored time.
fn decode_optional_time(
    raw: Option<&str>,
    table: &'static str,
    key: &str,
    column: &'static str,
) -> Result<Option<Timestamp>, sqlx::Error> {
    raw.map(|raw| decode_time(raw, table, key, column)).transpose()
}

/// Runs a statement that changes rows and says how many it changed.
macro_rules! changed_rows {
    ($db:expr, $query:expr) => {
        on_backend!($db, e => $query.execute(e).await.map(|done| done.rows_affected()))
    };
}

// ---------------------------------------------------------------- users

#[derive(FromRow)]
pub(super) struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    password_hash: String,
    is_admin: bool,
    created_at: TimeText,
    password_changed_at: TimeText,
    issuer: Option<String>,
    subject: Option<String>,
    email: String,
    disabled_at: Option<TimeText>,
}

impl TryFrom<UserRow> for User {
    type Error = sqlx::Error;

    fn try_from(row: UserRow) -> Result<User, sqlx::Error> {
        let key = format!("id {}", row.id);
        Ok(User {
            created_at: decode_time(&row.created_at, "users", &key, "created_at")?,
            password_changed_at: decode_time(&row.password_changed_at, "users", &key, "password_changed_at")?,
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            password_hash: row.password_hash,
            is_admin: row.is_admin,
            provider: match (row.issuer, row.subject) {
                (Some(issuer), Some(subject)) => Some(ProviderIdentity { issuer, subject }),
                _ => None,
            },
            email: row.email,
            disabled_at: decode_optional_time(row.disabled_at.as_deref(), "users", &key, "disabled_at")?,
        })
    }
}

pub(super) const USER: &str = "id, username, display_name, password_hash, is_admin, created_at, password_changed_at, issuer, subject, email, \
     disabled_at";

pub async fn count_admins(db: impl Into<Exec<'_>>) -> Result<i64, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar("select count(*) from users where is_admin = $1")
        .bind(true)
        .fetch_one(e)
        .await)
}

pub async fn users(db: impl Into<Exec<'_>>) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!("select {USER} from users order by username");
    let rows: Vec<UserRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).fetch_all(e).await)?;
    rows.into_iter().map(User::try_from).collect()
}

/// The account of a user name, in any case.
pub async fn user_by_name(db: impl Into<Exec<'_>>, username: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {USER} from users where lower(username) = lower($1)");
    let row: Option<UserRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(username).fetch_optional(e).await)?;
    row.map(User::try_from).transpose()
}

pub async fn user(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("select {USER} from users where id = $1");
    let row: Option<UserRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(User::try_from).transpose()
}

pub async fn insert_user(
    db: impl Into<Exec<'_>>,
    username: &str,
    display_name: &str,
    password_hash: &str,
    is_admin: bool,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let now = time_param(now);
    on_backend!(db.into(), e => sqlx::query_scalar(
        "insert into users (username, display_name, password_hash, is_admin, created_at, password_changed_at)
         values ($1, $2, $3, $4, $5, $5) returning id",
    )
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(is_admin)
    .bind(now)
    .fetch_one(e)
    .await)
}

pub async fn set_password(
    db: impl Into<Exec<'_>>,
    id: i64,
    password_hash: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let now = time_param(now);
    changed_rows!(
        db.into(),
        sqlx::query("update users set password_hash = $1, password_changed_at = $2 where id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(id)
    )?;
    Ok(())
}

pub async fn set_admin(db: impl Into<Exec<'_>>, id: i64, is_admin: bool) -> Result<(), sqlx::Error> {
    changed_rows!(db.into(), sqlx::query("update users set is_admin = $1 where id = $2").bind(is_admin).bind(id))?;
    Ok(())
}

/// Disables an account from `at`, or enables it again (`None`).
pub async fn set_disabled(db: impl Into<Exec<'_>>, id: i64, at: Option<Timestamp>) -> Result<(), sqlx::Error> {
    let at = at.map(time_param);
    changed_rows!(db.into(), sqlx::query("update users set disabled_at = $1 where id = $2").bind(at).bind(id))?;
    Ok(())
}

pub async fn delete_user(db: impl Into<Exec<'_>>, id: i64) -> Result<bool, sqlx::Error> {
    Ok(changed_rows!(db.into(), sqlx::query("delete from users where id = $1").bind(id))? > 0)
}

// ---------------------------------------------------------------- failed sign-ins

/// Failed sign-ins of a (user name, address) pair and until when it must wait.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct SignInFailures {
    pub failures: i64,
    /// Unix seconds.
    pub blocked_until: i64,
}

/// How a user name is kept in the failure counts: folded to lower case, so
/// `Ada` and `ada` share one count on both back ends.
fn failure_key(username: &str) -> String {
    username.to_lowercase()
}

pub async fn sign_in_failures(
    db: impl Into<Exec<'_>>,
    username: &str,
    address: &str,
) -> Result<Option<SignInFailures>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_as(
        "select failures, blocked_until from sign_in_failures where username = $1 and address = $2",
    )
    .bind(failure_key(username))
    .bind(address)
    .fetch_optional(e)
    .await)
}

/// Moves a pair from `seen` failures (0: no row yet) to `seen + 1`, blocked
/// until `blocked_until`; false when another attempt moved it first.
pub async fn count_sign_in_failure(
    db: impl Into<Exec<'_>>,
    username: &str,
    address: &str,
    seen: i64,
    blocked_until: i64,
) -> Result<bool, sqlx::Error> {
    let moved = if seen == 0 {
        changed_rows!(
            db.into(),
            sqlx::query(
                "insert into sign_in_failures (username, address, failures, blocked_until) values ($1, $2, 1, $3)
             on conflict (username, address) do update set failures = 1, blocked_until = excluded.blocked_until
             where sign_in_failures.failures = 0",
            )
            .bind(failure_key(username))
            .bind(address)
            .bind(blocked_until)
        )?
    } else {
        changed_rows!(
            db.into(),
            sqlx::query(
                "update sign_in_failures set failures = failures + 1, blocked_until = $1
             where username = $2 and address = $3 and failures = $4",
            )
            .bind(blocked_until)
            .bind(failure_key(username))
            .bind(address)
            .bind(seen)
        )?
    };
    Ok(moved == 1)
}

/// Forgets a pair's failures (it signed in).
pub async fn clear_sign_in_failures(db: impl Into<Exec<'_>>, username: &str, address: &str) -> Result<(), sqlx::Error> {
    changed_rows!(
        db.into(),
        sqlx::query("delete from sign_in_failures where username = $1 and address = $2")
            .bind(failure_key(username))
            .bind(address)
    )?;
    Ok(())
}

/// Forgets every failure counted against a user name (an administrator unlocks it).
pub async fn unblock_user_name(db: impl Into<Exec<'_>>, username: &str) -> Result<u64, sqlx::Error> {
    changed_rows!(
        db.into(),
        sqlx::query("delete from sign_in_failures where username = $1").bind(failure_key(username))
    )
}

/// Forgets failures whose delay ran out before `before` (Unix seconds).
pub async fn forget_old_sign_in_failures(db: impl Into<Exec<'_>>, before: i64) -> Result<u64, sqlx::Error> {
    changed_rows!(db.into(), sqlx::query("delete from sign_in_failures where blocked_until < $1").bind(before))
}

// ---------------------------------------------------------------- memberships

#[derive(FromRow)]
struct MemberRow {
    user_id: i64,
    username: String,
    display_name: String,
    role: String,
}

fn decode_role(raw: &str, team_id: i64, user_id: i64) -> Result<Role, sqlx::Error> {
    decode_word(Role::parse, raw, "memberships", format!("team {team_id}, user {user_id}"), "role")
}

pub async fn role(db: impl Into<Exec<'_>>, team_id: i64, user_id: i64) -> Result<Option<Role>, sqlx::Error> {
    let role: Option<String> = on_backend!(db.into(), e => sqlx::query_scalar(
        "select role from memberships where team_id = $1 and user_id = $2",
    )
    .bind(team_id)
    .bind(user_id)
    .fetch_optional(e)
    .await)?;
    role.map(|role| decode_role(&role, team_id, user_id)).transpose()
}

/// Team id → role, of one user.
pub async fn roles_of(db: impl Into<Exec<'_>>, user_id: i64) -> Result<Vec<(i64, Role)>, sqlx::Error> {
    let rows: Vec<(i64, String)> = on_backend!(db.into(), e => sqlx::query_as(
        "select team_id, role from memberships where user_id = $1",
    )
    .bind(user_id)
    .fetch_all(e)
    .await)?;
    rows.into_iter().map(|(team, role)| Ok((team, decode_role(&role, team, user_id)?))).collect()
}

pub async fn members(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<Member>, sqlx::Error> {
    let rows: Vec<MemberRow> = on_backend!(db.into(), e => sqlx::query_as(
        "select u.id as user_id, u.username, u.display_name, m.role from memberships m join users u on u.id = m.user_id
         where m.team_id = $1 order by u.username",
    )
    .bind(team_id)
    .fetch_all(e)
    .await)?;
    rows.into_iter()
        .map(|row| {
            Ok(Member {
                role: decode_role(&row.role, team_id, row.user_id)?,
                user_id: row.user_id,
                username: row.username,
                display_name: row.display_name,
            })
        })
        .collect()
}

pub async fn set_role(db: impl Into<Exec<'_>>, team_id: i64, user_id: i64, role: Role) -> Result<(), sqlx::Error> {
    changed_rows!(
        db.into(),
        sqlx::query(
            "insert into memberships (team_id, user_id, role) values ($1, $2, $3)
         on conflict (team_id, user_id) do update set role = excluded.role",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(role.as_str())
    )?;
    Ok(())
}

pub async fn remove_member(db: impl Into<Exec<'_>>, team_id: i64, user_id: i64) -> Result<bool, sqlx::Error> {
    Ok(changed_rows!(
        db.into(),
        sqlx::query("delete from memberships where team_id = $1 and user_id = $2").bind(team_id).bind(user_id)
    )? > 0)
}

// ---------------------------------------------------------------- sessions

#[derive(FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: Option<i64>,
    participant_id: Option<i64>,
    created_at: TimeText,
    last_seen_at: TimeText,
    expires_at: TimeText,
    user_agent: String,
    provider_recheck_at: Option<TimeText>,
}

impl TryFrom<SessionRow> for Session {
    type Error = sqlx::Error;

    fn try_from(row: SessionRow) -> Result<Session, sqlx::Error> {
        // Sessions are named by the start of their hash, never the whole of it.
        let key = format!("id {}…", row.id_hash.chars().take(8).collect::<String>());
        Ok(Session {
            created_at: decode_time(&row.created_at, "sessions", &key, "created_at")?,
            last_seen_at: decode_time(&row.last_seen_at, "sessions", &key, "last_seen_at")?,
            expires_at: decode_time(&row.expires_at, "sessions", &key, "expires_at")?,
            provider_recheck_at: decode_optional_time(
                row.provider_recheck_at.as_deref(),
                "sessions",
                &key,
                "provider_recheck_at",
            )?,
            id_hash: row.id_hash,
            user_id: row.user_id,
            participant_id: row.participant_id,
            user_agent: row.user_agent,
        })
    }
}

const SESSION: &str =
    "id_hash, user_id, participant_id, created_at, last_seen_at, expires_at, user_agent, provider_recheck_at";

pub async fn insert_session(db: impl Into<Exec<'_>>, session: &Session) -> Result<(), sqlx::Error> {
    let (created, seen, expires) =
        (time_param(session.created_at), time_param(session.last_seen_at), time_param(session.expires_at));
    changed_rows!(
        db.into(),
        sqlx::query(
            "insert into sessions (id_hash, user_id, participant_id, created_at, last_seen_at, expires_at, user_agent)
         values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&session.id_hash)
        .bind(session.user_id)
        .bind(session.participant_id)
        .bind(created)
        .bind(seen)
        .bind(expires)
        .bind(&session.user_agent)
    )?;
    Ok(())
}

pub async fn session(db: impl Into<Exec<'_>>, id_hash: &str) -> Result<Option<Session>, sqlx::Error> {
    let sql = format!("select {SESSION} from sessions where id_hash = $1");
    let row: Option<SessionRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id_hash).fetch_optional(e).await)?;
    row.map(Session::try_from).transpose()
}

pub async fn sessions_of(db: impl Into<Exec<'_>>, user_id: i64) -> Result<Vec<Session>, sqlx::Error> {
    let sql = format!("select {SESSION} from sessions where user_id = $1 order by last_seen_at desc");
    let rows: Vec<SessionRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(user_id).fetch_all(e).await)?;
    rows.into_iter().map(Session::try_from).collect()
}

pub async fn touch_session(
    db: impl Into<Exec<'_>>,
    id_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), sqlx::Error> {
    let (now, expires_at) = (time_param(now), time_param(expires_at));
    changed_rows!(
        db.into(),
        sqlx::query("update sessions set last_seen_at = $1, expires_at = $2 where id_hash = $3")
            .bind(now)
            .bind(expires_at)
            .bind(id_hash)
    )?;
    Ok(())
}

pub async fn delete_session(db: impl Into<Exec<'_>>, id_hash: &str) -> Result<bool, sqlx::Error> {
    Ok(changed_rows!(db.into(), sqlx::query("delete from sessions where id_hash = $1").bind(id_hash))? > 0)
}

/// Deletes a user's sessions, keeping one (the current) when given.
pub async fn delete_sessions_of(db: impl Into<Exec<'_>>, user_id: i64, keep: Option<&str>) -> Result<u64, sqlx::Error> {
    match keep {
        Some(keep) => changed_rows!(
            db.into(),
            sqlx::query("delete from sessions where user_id = $1 and id_hash <> $2").bind(user_id).bind(keep)
        ),
        None => changed_rows!(db.into(), sqlx::query("delete from sessions where user_id = $1").bind(user_id)),
    }
}

// ---------------------------------------------------------------- API tokens

#[derive(FromRow)]
struct TokenRow {
    id: i64,
    user_id: i64,
    name: String,
    prefix: String,
    scope: String,
    team_id: Option<i64>,
    created_at: TimeText,
    expires_at: TimeText,
    last_used_at: Option<TimeText>,
    revoked_at: Option<TimeText>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = sqlx::Error;

    fn try_from(row: TokenRow) -> Result<ApiToken, sqlx::Error> {
        let key = format!("id {}", row.id);
        let table = "api_tokens";
        Ok(ApiToken {
            scope: decode_word(TokenScope::parse, &row.scope, table, &key, "scope")?,
            created_at: decode_time(&row.created_at, table, &key, "created_at")?,
            expires_at: decode_time(&row.expires_at, table, &key, "expires_at")?,
            last_used_at: decode_optional_time(row.last_used_at.as_deref(), table, &key, "last_used_at")?,
            revoked_at: decode_optional_time(row.revoked_at.as_deref(), table, &key, "revoked_at")?,
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            prefix: row.prefix,
            team_id: row.team_id,
        })
    }
}

const TOKEN: &str = "id, user_id, name, prefix, scope, team_id, created_at, expires_at, last_used_at, revoked_at";

/// A token to store: its hash and what it may do.
pub struct NewToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub scope: TokenScope,
    pub team_id: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_token(db: impl Into<Exec<'_>>, token: &NewToken<'_>) -> Result<i64, sqlx::Error> {
    let (created, expires) = (time_param(token.created_at), time_param(token.expires_at));
    on_backend!(db.into(), e => sqlx::query_scalar(
        "insert into api_tokens (user_id, name, token_hash, prefix, scope, team_id, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(token.user_id)
    .bind(token.name)
    .bind(token.token_hash)
    .bind(token.prefix)
    .bind(token.scope.as_str())
    .bind(token.team_id)
    .bind(created)
    .bind(expires)
    .fetch_one(e)
    .await)
}

pub async fn token_by_hash(db: impl Into<Exec<'_>>, token_hash: &str) -> Result<Option<ApiToken>, sqlx::Error> {
    let sql = format!("select {TOKEN} from api_tokens where token_hash = $1");
    let row: Option<TokenRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(token_hash).fetch_optional(e).await)?;
    row.map(ApiToken::try_from).transpose()
}

pub async fn token(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<ApiToken>, sqlx::Error> {
    let sql = format!("select {TOKEN} from api_tokens where id = $1");
    let row: Option<TokenRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(ApiToken::try_from).transpose()
}

pub async fn tokens_of(db: impl Into<Exec<'_>>, user_id: i64) -> Result<Vec<ApiToken>, sqlx::Error> {
    let sql = format!("select {TOKEN} from api_tokens where user_id = $1 order by created_at desc");
    let rows: Vec<TokenRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(user_id).fetch_all(e).await)?;
    rows.into_iter().map(ApiToken::try_from).collect()
}

pub async fn mark_token_used(db: impl Into<Exec<'_>>, id: i64, now: Timestamp) -> Result<(), sqlx::Error> {
    let now = time_param(now);
    changed_rows!(db.into(), sqlx::query("update api_tokens set last_used_at = $1 where id = $2").bind(now).bind(id))?;
    Ok(())
}

/// Revokes every live token of an account; returns how many.
pub async fn revoke_tokens_of(db: impl Into<Exec<'_>>, user_id: i64, now: Timestamp) -> Result<u64, sqlx::Error> {
    let now = time_param(now);
    changed_rows!(
        db.into(),
        sqlx::query("update api_tokens set revoked_at = $1 where user_id = $2 and revoked_at is null",)
            .bind(now)
            .bind(user_id)
    )
}

pub async fn revoke_token(db: impl Into<Exec<'_>>, id: i64, user_id: i64, now: Timestamp) -> Result<bool, sqlx::Error> {
    let now = time_param(now);
    Ok(changed_rows!(
        db.into(),
        sqlx::query("update api_tokens set revoked_at = $1 where id = $2 and user_id = $3 and revoked_at is null",)
            .bind(now)
            .bind(id)
            .bind(user_id)
    )? > 0)
}

// ---------------------------------------------------------------- invites

#[derive(FromRow)]
struct InviteRow {
    id: i64,
    team_id: i64,
    role: String,
    label: String,
    created_at: TimeText,
    expires_at: TimeText,
    ended_at: Option<TimeText>,
}

impl TryFrom<InviteRow> for Invite {
    type Error = sqlx::Error;

    fn try_from(row: InviteRow) -> Result<Invite, sqlx::Error> {
        let key = format!("id {}", row.id);
        let table = "invites";
        Ok(Invite {
            role: decode_word(Role::parse, &row.role, table, &key, "role")?,
            created_at: decode_time(&row.created_at, table, &key, "created_at")?,
            expires_at: decode_time(&row.expires_at, table, &key, "expires_at")?,
            ended_at: decode_optional_time(row.ended_at.as_deref(), table, &key, "ended_at")?,
            id: row.id,
            team_id: row.team_id,
            label: row.label,
        })
    }
}

const INVITE: &str = "id, team_id, role, label, created_at, expires_at, ended_at";

/// An invite to store, its code kept only as a hash.
pub struct NewInvite<'a> {
    pub team_id: i64,
    pub code_hash: &'a str,
    pub role: Role,
    pub label: &'a str,
    pub created_by: Option<i64>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

pub async fn insert_invite(db: impl Into<Exec<'_>>, invite: &NewInvite<'_>) -> Result<i64, sqlx::Error> {
    let (created, expires) = (time_param(invite.created_at), time_param(invite.expires_at));
    on_backend!(db.into(), e => sqlx::query_scalar(
        "insert into invites (team_id, code_hash, role, label, created_by, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
    )
    .bind(invite.team_id)
    .bind(invite.code_hash)
    .bind(invite.role.as_str())
    .bind(invite.label)
    .bind(invite.created_by)
    .bind(created)
    .bind(expires)
    .fetch_one(e)
    .await)
}

pub async fn invite_by_hash(db: impl Into<Exec<'_>>, code_hash: &str) -> Result<Option<Invite>, sqlx::Error> {
    let sql = format!("select {INVITE} from invites where code_hash = $1");
    let row: Option<InviteRow> =
        on_backend!(db.into(), e => sqlx::query_as(&sql).bind(code_hash).fetch_optional(e).await)?;
    row.map(Invite::try_from).transpose()
}

pub async fn invite(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<Invite>, sqlx::Error> {
    let sql = format!("select {INVITE} from invites where id = $1");
    let row: Option<InviteRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(Invite::try_from).transpose()
}

pub async fn invites_of(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<Invite>, sqlx::Error> {
    let sql = format!("select {INVITE} from invites where team_id = $1 order by created_at desc");
    let rows: Vec<InviteRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(team_id).fetch_all(e).await)?;
    rows.into_iter().map(Invite::try_from).collect()
}

pub async fn end_invite(db: impl Into<Exec<'_>>, id: i64, now: Timestamp) -> Result<bool, sqlx::Error> {
    let now = time_param(now);
    Ok(changed_rows!(
        db.into(),
        sqlx::query("update invites set ended_at = $1 where id = $2 and ended_at is null").bind(now).bind(id)
    )? > 0)
}

#[derive(FromRow)]
struct ParticipantRow {
    id: i64,
    invite_id: i64,
    display_name: String,
    created_at: TimeText,
    removed_at: Option<TimeText>,
}

impl TryFrom<ParticipantRow> for Participant {
    type Error = sqlx::Error;

    fn try_from(row: ParticipantRow) -> Result<Participant, sqlx::Error> {
        let key = format!("id {}", row.id);
        Ok(Participant {
            created_at: decode_time(&row.created_at, "participants", &key, "created_at")?,
            removed_at: decode_optional_time(row.removed_at.as_deref(), "participants", &key, "removed_at")?,
            id: row.id,
            invite_id: row.invite_id,
            display_name: row.display_name,
        })
    }
}

pub async fn insert_participant(
    db: impl Into<Exec<'_>>,
    invite_id: i64,
    name: &str,
    now: Timestamp,
) -> Result<i64, sqlx::Error> {
    let now = time_param(now);
    on_backend!(db.into(), e => sqlx::query_scalar(
        "insert into participants (invite_id, display_name, created_at) values ($1, $2, $3) returning id",
    )
    .bind(invite_id)
    .bind(name)
    .bind(now)
    .fetch_one(e)
    .await)
}

pub async fn participant(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<Participant>, sqlx::Error> {
    let row: Option<ParticipantRow> = on_backend!(db.into(), e => sqlx::query_as(
        "select id, invite_id, display_name, created_at, removed_at from participants where id = $1",
    )
    .bind(id)
    .fetch_optional(e)
    .await)?;
    row.map(Participant::try_from).transpose()
}

pub async fn participants_of(db: impl Into<Exec<'_>>, team_id: i64) -> Result<Vec<Participant>, sqlx::Error> {
    let rows: Vec<ParticipantRow> = on_backend!(db.into(), e => sqlx::query_as(
        "select p.id, p.invite_id, p.display_name, p.created_at, p.removed_at from participants p
         join invites i on i.id = p.invite_id where i.team_id = $1 order by p.created_at desc",
    )
    .bind(team_id)
    .fetch_all(e)
    .await)?;
    rows.into_iter().map(Participant::try_from).collect()
}

pub async fn remove_participant(db: impl Into<Exec<'_>>, id: i64, now: Timestamp) -> Result<bool, sqlx::Error> {
    let now = time_param(now);
    Ok(changed_rows!(
        db.into(),
        sqlx::query("update participants set removed_at = $1 where id = $2 and removed_at is null",).bind(now).bind(id)
    )? > 0)
}
