//! A short-lived memory of resolved sessions and team roles, so a busy
//! workshop does not look them up on every request. Changes made through
//! this server forget the affected entries at once; entries also expire
//! after [`TTL`], which bounds how long a change made elsewhere (another
//! process on the same database) takes to apply.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Principal, Role};

pub const TTL: Duration = Duration::from_secs(30);

/// (user, team) → when looked up, and the membership role then.
type RoleMemory = HashMap<(i64, i64), (Instant, Option<Role>)>;

#[derive(Default)]
pub struct PrincipalCache {
    sessions: Mutex<HashMap<String, (Instant, Principal)>>,
    roles: Mutex<RoleMemory>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl PrincipalCache {
    pub fn get(&self, session_hash: &str) -> Option<Principal> {
        let sessions = lock(&self.sessions);
        sessions.get(session_hash).filter(|(at, _)| at.elapsed() < TTL).map(|(_, p)| p.clone())
    }

    pub fn remember(&self, session_hash: &str, principal: Principal) {
        let mut sessions = lock(&self.sessions);
        if sessions.len() > 10_000 {
            sessions.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        sessions.insert(session_hash.to_string(), (Instant::now(), principal));
    }

    pub fn forget_session(&self, session_hash: &str) {
        lock(&self.sessions).remove(session_hash);
    }

    /// Forgets everything known about an account (password, admin flag or deletion changed).
    pub fn forget_user(&self, user_id: i64) {
        lock(&self.sessions).retain(|_, (_, p)| p.user_id() != Some(user_id));
        lock(&self.roles).retain(|(user, _), _| *user != user_id);
    }

    pub fn role(&self, user_id: i64, team_id: i64) -> Option<Option<Role>> {
        lock(&self.roles).get(&(user_id, team_id)).filter(|(at, _)| at.elapsed() < TTL).map(|(_, r)| *r)
    }

    pub fn remember_role(&self, user_id: i64, team_id: i64, role: Option<Role>) {
        let mut roles = lock(&self.roles);
        if roles.len() > 10_000 {
            roles.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        roles.insert((user_id, team_id), (Instant::now(), role));
    }

    /// Forgets everything (invites ended, participants removed, members changed).
    pub fn clear(&self) {
        lock(&self.sessions).clear();
        lock(&self.roles).clear();
    }
}
