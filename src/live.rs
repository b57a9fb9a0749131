//! Live updates for workshops. Writes report which items of which system
//! changed; the web's renderer task turns each change into HTML fragments
//! once and broadcasts them to every open event stream of that system. The
//! hub is part of the core, so every entry point reports its changes; where
//! no renderer listens (the command line), a report goes nowhere.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

/// Something changed on a system: these techniques (empty: the whole system).
#[derive(Debug, Clone)]
pub struct Change {
    pub system_id: i64,
    pub techniques: Vec<String>,
    pub actor: String,
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
    changes: broadcast::Sender<Change>,
    broadcasts: broadcast::Sender<Arc<Broadcast>>,
    /// Set when the server shuts down: every open stream ends.
    closing: watch::Sender<bool>,
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
        }
    }

    /// Reports a committed change; never blocks the writer.
    pub fn changed(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    /// The reported changes, for the renderer.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
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
