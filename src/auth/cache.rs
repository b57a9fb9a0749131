//! A short-lived memory of resolved sessions and team roles, so a busy
//! workshop does not look them up on every request. Changes made through
//! this server forget the affected entries at once, and on PostgreSQL the
//! other instances forget them too ([`crate::cluster`]); entries also
//! expire after [`TTL`], which bounds how long a change whose word was lost
//! (or made by another process on a SQLite file) takes to apply.
//!
//! Every change of access (a session ended, an account changed or deleted,
//! members, invites or participants changed, a team or system deleted) also
//! moves a counter that open live streams watch, so each stream checks
//! again, at once, whether the person behind it may still follow it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Principal, Role};
use crate::cluster::{Relay, Signal};

pub const TTL: Duration = Duration::from_secs(30);

/// (user, team) → when looked up, and the membership role then.
type RoleMemory = HashMap<(i64, i64), (Instant, Option<Role>)>;

pub struct PrincipalCache {
    sessions: Mutex<HashMap<String, (Instant, Principal)>>,
    roles: Mutex<RoleMemory>,
    access_changes: watch::Sender<u64>,
    relay: Relay,
}

impl Default for PrincipalCache {
    fn default() -> Self {
        PrincipalCache::relaying(Relay::default())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl PrincipalCache {
    /// The cache, with what it forgets also forgotten by the other instances.
    pub fn relaying(relay: Relay) -> PrincipalCache {
        PrincipalCache {
            sessions: Mutex::default(),
            roles: Mutex::default(),
            access_changes: watch::Sender::new(0),
            relay,
        }
    }

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
        self.relay.send(Signal::SessionEnded { session_hash: session_hash.to_string() });
        self.forget_session_here(session_hash);
    }

    pub fn forget_session_here(&self, session_hash: &str) {
        lock(&self.sessions).remove(session_hash);
        self.access_changed_here();
    }

    /// Forgets everything known about an account (password, admin flag or deletion changed).
    pub fn forget_user(&self, user_id: i64) {
        self.relay.send(Signal::UserChanged { user_id });
        self.forget_user_here(user_id);
    }

    pub fn forget_user_here(&self, user_id: i64) {
        lock(&self.sessions).retain(|_, (_, p)| p.user_id() != Some(user_id));
        lock(&self.roles).retain(|(user, _), _| *user != user_id);
        self.access_changed_here();
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

    /// Forgets everything (invites ended, participants removed, members
    /// changed, a team deleted).
    pub fn clear(&self) {
        self.relay.send(Signal::AccessChanged);
        self.clear_here();
    }

    pub fn clear_here(&self) {
        lock(&self.sessions).clear();
        lock(&self.roles).clear();
        self.access_changed_here();
    }

    /// Says that access may have changed (a token revoked, a system deleted)
    /// without anything cached to forget.
    pub fn access_changed(&self) {
        self.relay.send(Signal::AccessMoved);
        self.access_changed_here();
    }

    pub fn access_changed_here(&self) {
        self.access_changes.send_modify(|generation| *generation += 1);
    }

    /// A receiver that wakes whenever access may have changed.
    pub fn watch_access(&self) -> watch::Receiver<u64> {
        self.access_changes.subscribe()
    }
}
