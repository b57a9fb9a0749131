//! Live updates for workshops. Writes report which items of which system
//! changed; one renderer task turns each change into HTML fragments once
//! and broadcasts them to every open event stream of that system.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

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

/// The rendered events of one change, for the streams of one system.
#[derive(Debug)]
pub struct Broadcast {
    pub system_id: i64,
    pub events: Vec<LiveEvent>,
}

#[derive(Clone)]
pub struct LiveHub {
    changes: mpsc::UnboundedSender<Change>,
    broadcasts: broadcast::Sender<Arc<Broadcast>>,
    /// Set when the server shuts down: every open stream ends.
    closing: watch::Sender<bool>,
}

impl LiveHub {
    /// The hub and the receiving end of changes, for the renderer task.
    pub fn new() -> (LiveHub, mpsc::UnboundedReceiver<Change>) {
        let (changes, receiver) = mpsc::unbounded_channel();
        let (broadcasts, _) = broadcast::channel(1024);
        (LiveHub { changes, broadcasts, closing: watch::Sender::new(false) }, receiver)
    }

    /// Reports a committed change; never blocks the writer.
    pub fn changed(&self, change: Change) {
        let _ = self.changes.send(change);
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
