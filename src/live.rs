//! Live updates for workshops. Writes report which items of which system
//! changed; the web's renderer task turns each change into HTML fragments
//! once and broadcasts them to every open event stream of that system. The
//! hub is part of the core, so every entry point reports its changes; where
//! no renderer listens (the command line), a report goes nowhere but to the
//! other instances ([`crate::cluster`]), whose changes arrive here too.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::cluster::{Relay, Signal};

/// Something changed on a system: these techniques (empty: the whole system).
#[derive(Debug, Clone)]
pub struct Change {
    pub system_id: i64,
    pub techniques: Vec<String>,
    pub actor: String,
}

/// What the renderer is told.
#[derive(Debug, Clone)]
pub enum Reported {
    Change(Change),
    /// Changes may have been missed (another instance's word was lost):
    /// every stream must re-sync.
    Missed,
}

/// One server-sent event, already rendered.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub name: String,
    pub data: String,
}

/// The rendered events of one change, for the streams of one system
/// (`None`: of every system, when changes were missed).
#[derive(Debug)]
pub struct Broadcast {
    pub system_id: Option<i64>,
    pub events: Vec<LiveEvent>,
}

/// Reported changes waiting for the renderer; past this many it skips ahead
/// and tells every stream to reload.
const CHANGE_BACKLOG: usize = 4096;

#[derive(Clone)]
pub struct LiveHub {
    changes: broadcast::Sender<Reported>,
    broadcasts: broadcast::Sender<Arc<Broadcast>>,
    /// Set when the server shuts down: every open stream ends.
    closing: watch::Sender<bool>,
    relay: Relay,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub::new()
    }
}

impl LiveHub {
    pub fn new() -> LiveHub {
        LiveHub {
            changes: broadcast::Sender::new(CHANGE_BACKLOG),
            broadcasts: broadcast::Sender::new(1024),
            closing: watch::Sender::new(false),
            relay: Relay::default(),
        }
    }

    /// The hub, with its reports also relayed to the other instances.
    pub fn relaying(self, relay: Relay) -> LiveHub {
        LiveHub { relay, ..self }
    }

    /// Reports a committed change, here and to the other instances; never
    /// blocks the writer.
    pub fn changed(&self, change: Change) {
        self.relay.send(Signal::Changed {
            system_id: change.system_id,
            techniques: change.techniques.clone(),
            actor: change.actor.clone(),
        });
        self.changed_here(change);
    }

    /// Reports a change to this process only (another instance made it).
    pub fn changed_here(&self, change: Change) {
        let _ = self.changes.send(Reported::Change(change));
    }

    /// Tells this process's streams that changes may have been missed.
    pub fn missed_here(&self) {
        let _ = self.changes.send(Reported::Missed);
    }

    /// The reported changes, for the renderer.
    pub fn changes(&self) -> broadcast::Receiver<Reported> {
        self.changes.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Broadcast>> {
        self.broadcasts.subscribe()
    }

    pub fn publish(&self, broadcast: Broadcast) {
        let _ = self.broadcasts.send(Arc::new(broadcast));
    }

    pub fn subscriber_count(&self) -> usize {
        self.broadcasts.receiver_count()
    }

    /// Ends every open stream (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A receiver that sees `true` once the hub closes.
    pub fn watch_closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }
}
