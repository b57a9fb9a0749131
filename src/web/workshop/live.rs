//! Live updates: the renderer task that turns each reported change into
//! HTML fragments once, and the server-sent event stream of one system that
//! delivers them to a viewer for as long as that viewer may see the system.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast;

use super::dom_id;
use super::fragments::{self, ItemNotice, StreamNotice};
use crate::app::AppState;
use crate::auth::Principal;
use crate::live::{Broadcast, Change, LiveEvent, Reported};
use crate::service::snapshot;
use crate::web::WebError;

/// `GET /systems/{id}/events`: the system's live updates as server-sent events.
///
/// A stream lives only as long as the access behind it: whenever access may
/// have changed (a session ended, a member removed, an invite ended, the
/// system or team deleted) and every [`ACCESS_RECHECK`] besides (sessions and
/// invites also run out), it checks again that its viewer may still see the
/// system, and ends with an `access-ended` event when not. It also ends when
/// the server shuts down.
pub(super) async fn events(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    principal: Principal,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let ctx = crate::service::system_context(&state, id).await?;
    let notices = Notices { missed: StreamNotice::Missed.render()?, access_ended: StreamNotice::AccessEnded.render()? };
    let follower = Follower { principal, system_id: id, team_id: ctx.system.team_id };
    let closing = state.live.watch_closing();
    let closed = *closing.borrow();
    let open = StreamState {
        receiver: state.live.subscribe(),
        access: state.principals.watch_access(),
        recheck: tokio::time::interval_at(tokio::time::Instant::now() + ACCESS_RECHECK, ACCESS_RECHECK),
        ended: closed,
        closing,
        queue: VecDeque::new(),
        notices,
        follower,
        state,
    };
    let stream = futures_util::stream::unfold(open, |mut open| async move {
        loop {
            if let Some(event) = open.queue.pop_front() {
                return Some((Ok(event), open));
            }
            if open.ended {
                return None;
            }
            open.next_events().await;
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Most techniques whose panel history one change sends live.
const LIVE_HISTORY_LIMIT: usize = 40;

/// How often an open stream checks that its viewer may still follow it,
/// besides every change of access, which it hears at once.
pub const ACCESS_RECHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// Who follows a system's stream, and the team the system belonged to when
/// the stream opened.
struct Follower {
    principal: Principal,
    system_id: i64,
    team_id: i64,
}

impl Follower {
    /// True while the system still exists in the same team and the principal,
    /// read again from the database, still has a role on that team. A
    /// database error keeps the stream (the next check decides).
    async fn still_allowed(&self, state: &AppState) -> bool {
        match crate::service::systems::team_of(state, self.system_id).await {
            Ok(Some(team)) if team == self.team_id => {}
            Ok(_) => return false,
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's system");
                return true;
            }
        }
        let current = match crate::service::accounts::recheck(state, &self.principal).await {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's viewer");
                return true;
            }
        };
        if current.is_anonymous() {
            return false;
        }
        match crate::auth::guard::team_role(state, &current, self.team_id).await {
            Ok(role) => role.is_some(),
            Err(error) => {
                tracing::warn!(%error, "could not check a live stream's role");
                true
            }
        }
    }
}

/// The notices a stream may send, drawn when it opens.
struct Notices {
    missed: String,
    access_ended: String,
}

struct StreamState {
    state: AppState,
    notices: Notices,
    follower: Follower,
    receiver: broadcast::Receiver<std::sync::Arc<Broadcast>>,
    access: tokio::sync::watch::Receiver<u64>,
    closing: tokio::sync::watch::Receiver<bool>,
    recheck: tokio::time::Interval,
    queue: VecDeque<Event>,
    ended: bool,
}

impl StreamState {
    /// Waits for the next thing that happens to the stream and queues the
    /// events it gives, or ends the stream.
    async fn next_events(&mut self) {
        let check = tokio::select! {
            message = self.receiver.recv() => {
                match message {
                    Ok(broadcast) if broadcast.system_id.is_none_or(|id| id == self.follower.system_id) => {
                        let events = broadcast.events.iter().map(|e| Event::default().event(&e.name).data(&e.data));
                        self.queue.extend(events);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.queue.push_back(Event::default().event("resync").data(&self.notices.missed));
                    }
                    Err(broadcast::error::RecvError::Closed) => self.ended = true,
                }
                false
            }
            changed = self.access.changed() => changed.is_ok(),
            _ = self.recheck.tick() => true,
            _ = self.closing.changed() => {
                self.ended = true;
                false
            }
        };
        if check && !self.follower.still_allowed(&self.state).await {
            self.queue.push_back(Event::default().event("access-ended").data(&self.notices.access_ended));
            self.ended = true;
        }
    }
}

/// The renderer task: turns reported changes into fragments, once per
/// change, and broadcasts them. Changes queued together are merged; when it
/// fell behind and changes were lost, every stream is told to reload.
pub async fn render_live_updates(state: AppState) {
    let mut changes = state.live.changes();
    loop {
        let first = match changes.recv().await {
            Ok(Reported::Change(change)) => change,
            Ok(Reported::Missed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                match StreamNotice::Missed.render() {
                    Ok(data) => {
                        let events = vec![LiveEvent { name: "resync".into(), data }];
                        state.live.publish(Broadcast { system_id: None, events });
                    }
                    Err(error) => tracing::error!(%error, "could not draw the missed-updates notice"),
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let mut by_system: BTreeMap<i64, (BTreeSet<String>, bool, String)> = BTreeMap::new();
        let mut add = |change: Change| {
            let entry = by_system.entry(change.system_id).or_default();
            entry.1 |= change.techniques.is_empty();
            entry.0.extend(change.techniques);
            entry.2 = change.actor;
        };
        add(first);
        let mut missed = false;
        while let Ok(more) = changes.try_recv() {
            match more {
                Reported::Change(change) => add(change),
                Reported::Missed => missed = true,
            }
        }
        if missed {
            state.live.missed_here();
        }
        if state.live.subscriber_count() == 0 {
            continue;
        }
        for (system_id, (techniques, whole_system, actor)) in by_system {
            match live_events(&state, system_id, &techniques, whole_system, &actor).await {
                Ok(events) => state.live.publish(Broadcast { system_id: Some(system_id), events }),
                // The system was deleted since: nothing to draw.
                Err(WebError::NotFound(_)) => {}
                Err(error) => tracing::error!(system_id, %error, "could not draw a live update"),
            }
        }
    }
}

async fn live_events(
    state: &AppState,
    system_id: i64,
    changed: &BTreeSet<String>,
    whole_system: bool,
    actor: &str,
) -> Result<Vec<LiveEvent>, WebError> {
    let snapshot = snapshot::load(state, system_id).await?;
    let framework = &snapshot.framework;
    let by_id = snapshot.coverage.by_id(framework);
    let mut techniques: BTreeSet<&str> = if whole_system {
        framework.techniques().iter().map(|t| t.id.as_str()).collect()
    } else {
        changed.iter().filter_map(|id| framework.technique(id)).map(|t| t.id.as_str()).collect()
    };
    // A sub-technique's change moves its parent's roll-up.
    let parents: Vec<&str> =
        techniques.iter().filter_map(|id| framework.technique(id)).filter_map(|t| t.parent.as_deref()).collect();
    techniques.extend(parents);
    let mut events = Vec::new();
    let mut tactics = BTreeSet::new();
    for id in &techniques {
        let Some(technique) = framework.technique(id) else { continue };
        events.push(LiveEvent {
            name: format!("state-{}", dom_id(id)),
            data: fragments::cell_state(&snapshot, &by_id, technique)?,
        });
        tactics.extend(technique.tactics.iter().cloned());
    }
    for tactic in tactics {
        if let Some(position) = framework.tactic_position(&tactic) {
            events.push(LiveEvent {
                name: format!("tactic-{}", dom_id(&tactic)),
                data: fragments::tactic_counts(&snapshot.coverage.per_tactic[position])?,
            });
        }
    }
    events.push(LiveEvent { name: "summary".into(), data: fragments::summary(&snapshot)? });
    let now = time::OffsetDateTime::now_utc();
    let at = format!("{:02}:{:02}:{:02}", now.hour(), now.minute(), now.second());
    for id in changed {
        let notice = ItemNotice { actor, at: at.clone(), system_id, technique: id };
        events.push(LiveEvent { name: format!("item-{}", dom_id(id)), data: notice.render()? });
    }
    // Open panels show their technique's history as it grows; a bulk change
    // of many techniques only sends the notices above.
    if !whole_system && changed.len() <= LIVE_HISTORY_LIMIT {
        for id in changed.iter().filter(|id| framework.technique(id).is_some()) {
            let data = super::panel::history_html(state, &snapshot, id).await?;
            events.push(LiveEvent { name: format!("history-{}", dom_id(id)), data });
        }
    }
    if whole_system {
        let data = StreamNotice::SystemEdited { actor }.render()?;
        events.push(LiveEvent { name: "resync".into(), data });
    }
    Ok(events)
}
