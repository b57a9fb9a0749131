//! Keeping several instances on one PostgreSQL database in step. What a
//! process keeps in memory (system snapshots, resolved principals, the
//! live-update hub) is told about every change made through it; on
//! PostgreSQL each such word is also relayed to the other instances as a
//! `NOTIFY` on one channel, and each instance applies what the others say
//! as if it had happened here (forgetting, never patching: the database
//! decides what is true). A notification sent while an instance's listening
//! connection is down is lost, so after every reconnect the instance forgets
//! every snapshot and principal and tells every open stream to re-sync.
//! Releases stored through another instance are loaded at once (and every
//! instance still looks for stored releases every few seconds).
//! On SQLite there is one process and nothing is relayed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{mpsc, oneshot};

use crate::core::Core;
use crate::live::Change;

use crate::db::CHANNEL;

/// PostgreSQL refuses payloads of 8000 bytes or more; a change naming more
/// techniques than fit is sent as a change of the whole system.
const PAYLOAD_LIMIT: usize = 7900;

/// What one instance tells the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// These techniques of a system changed (none named: the whole system).
    Changed { system_id: i64, techniques: Vec<String>, actor: String },
    /// A system's snapshot is out of date (no live update to draw).
    Stale { system_id: i64 },
    /// A session ended.
    SessionEnded { session_hash: String },
    /// An account changed (password, administrator flag, tokens, deletion).
    UserChanged { user_id: i64 },
    /// Memberships, invites or participants changed: forget every principal.
    AccessChanged,
    /// Access may have changed with nothing to forget: streams check again.
    AccessMoved,
    /// A release was stored: load it (and so drop the pages drawn without it).
    ReleasesStored,
    /// Committed changes to these systems, and to the definitions of these
    /// teams (which every system of the team reads), sent by the commit
    /// itself; `everything` when the list did not fit.
    Committed { systems: Vec<i64>, teams: Vec<i64>, everything: bool },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The instance that sent it; an instance ignores its own words.
    from: u64,
    #[serde(flatten)]
    signal: Signal,
}

enum Outgoing {
    Signal(Signal),
    /// Answered once everything queued before it was sent.
    Flush(oneshot::Sender<()>),
}

/// Where the caches and the hub hand what they were told, to be relayed to
/// the other instances; does nothing until [`start`] connects it.
#[derive(Clone, Default)]
pub struct Relay {
    outbox: Arc<OnceLock<mpsc::UnboundedSender<Outgoing>>>,
}

impl Relay {
    /// Queues a word for the other instances; never blocks.
    pub fn send(&self, signal: Signal) {
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(Outgoing::Signal(signal));
        }
    }

    /// Waits until everything queued so far has been sent (a command-line
    /// process does before it exits).
    pub async fn flush(&self) {
        let Some(outbox) = self.outbox.get() else { return };
        let (done, sent) = oneshot::channel();
        if outbox.send(Outgoing::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), sent).await;
        }
    }
}

/// Connects the core's relay to PostgreSQL: what this process is told goes
/// out as notifications. A server also calls [`follow`].
pub fn start(core: &Core) {
    let Some(pool) = core.db.postgres().cloned() else { return };
    let (outbox, queued) = mpsc::unbounded_channel();
    if core.relay.outbox.set(outbox).is_ok() {
        tokio::spawn(publish(pool, core.origin, queued));
    }
}

async fn publish(pool: PgPool, origin: u64, mut queued: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(outgoing) = queued.recv().await {
        let signal = match outgoing {
            Outgoing::Signal(signal) => signal,
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        let payload = encode(origin, signal);
        // A failed send is lost like a notification during a reconnect; the
        // other instances' entries still end with their time to live.
        if let Err(error) = sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(&payload).execute(&pool).await {
            tracing::warn!(%error, "could not tell the other instances about a change");
        }
    }
}

/// The words a commit sends about what it changed ([`Signal::Committed`]).
pub fn stale_payload(origin: u64, systems: Vec<i64>, teams: Vec<i64>) -> String {
    let text = serde_json::to_string(&Envelope {
        from: origin,
        signal: Signal::Committed { systems, teams, everything: false },
    })
    .unwrap_or_default();
    if text.len() < PAYLOAD_LIMIT {
        return text;
    }
    let everything = Signal::Committed { systems: Vec::new(), teams: Vec::new(), everything: true };
    serde_json::to_string(&Envelope { from: origin, signal: everything }).unwrap_or_default()
}

fn encode(origin: u64, signal: Signal) -> String {
    let text = serde_json::to_string(&Envelope { from: origin, signal: signal.clone() }).unwrap_or_default();
    if text.len() < PAYLOAD_LIMIT {
        return text;
    }
    let whole = match signal {
        Signal::Changed { system_id, actor, .. } => Signal::Changed { system_id, techniques: Vec::new(), actor },
        other => other,
    };
    serde_json::to_string(&Envelope { from: origin, signal: whole }).unwrap_or_default()
}

/// Applies what the other instances say, until the server shuts down;
/// reconnects when the listening connection drops, then re-syncs.
pub async fn follow(core: Core) {
    let Some(pool) = core.db.postgres().cloned() else { return };
    let mut closing = core.live.watch_closing();
    let mut first = true;
    loop {
        let mut listener = tokio::select! {
            listener = listen(&pool) => listener,
            _ = closing.changed() => return,
        };
        if !first {
            tracing::info!("listening to the other instances again; re-reading what may have been missed");
            resync(&core);
        }
        first = false;
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = closing.changed() => return,
            };
            match received {
                Ok(Some(notification)) => apply(&core, notification.payload()),
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the connection that listens to the other instances");
                    break;
                }
            }
        }
    }
}

/// A listening connection, retried every half second until PostgreSQL answers.
async fn listen(pool: &PgPool) -> PgListener {
    loop {
        match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => return listener,
                Err(error) => tracing::warn!(%error, "cannot listen to the other instances"),
            },
            Err(error) => tracing::warn!(%error, "cannot connect to listen to the other instances"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Forgets everything that another instance's lost word could have made stale.
fn resync(core: &Core) {
    core.snapshots.invalidate_all_here();
    core.principals.clear_here();
    core.live.missed_here();
}

fn apply(core: &Core, payload: &str) {
    let envelope: Envelope = match serde_json::from_str(payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::warn!(%error, "a notification that does not read; re-syncing");
            resync(core);
            return;
        }
    };
    if envelope.from == core.origin {
        return;
    }
    match envelope.signal {
        Signal::Changed { system_id, techniques, actor } => {
            core.snapshots.invalidate_here(system_id);
            core.live.changed_here(Change { system_id, techniques, actor });
        }
        Signal::Stale { system_id } => core.snapshots.invalidate_here(system_id),
        Signal::SessionEnded { session_hash } => core.principals.forget_session_here(&session_hash),
        Signal::UserChanged { user_id } => core.principals.forget_user_here(user_id),
        Signal::AccessChanged => core.principals.clear_here(),
        Signal::AccessMoved => core.principals.access_changed_here(),
        Signal::Committed { everything: true, .. } => core.snapshots.invalidate_all_here(),
        Signal::Committed { systems, teams, .. } => {
            for system_id in systems {
                core.snapshots.invalidate_here(system_id);
            }
            for team_id in teams {
                core.snapshots.invalidate_team_here(team_id);
            }
        }
        Signal::ReleasesStored => {
            let core = core.clone();
            tokio::spawn(async move {
                if let Err(error) = crate::releases::pick_up_stored(&core.db, &core.catalog).await {
                    tracing::warn!(%error, "could not load a release another instance stored");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_too_large_for_one_notification_goes_out_as_a_change_of_the_whole_system() {
        let techniques: Vec<String> = (0..2000).map(|i| format!("AML.T{i:04}")).collect();
        let payload = encode(7, Signal::Changed { system_id: 3, techniques, actor: "ana".into() });
        assert!(payload.len() < PAYLOAD_LIMIT);
        let envelope: Envelope = serde_json::from_str(&payload).expect("reads");
        assert_eq!(envelope.signal, Signal::Changed { system_id: 3, techniques: Vec::new(), actor: "ana".into() });
        assert_eq!(envelope.from, 7);
    }
}
