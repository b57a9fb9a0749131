//! The workshop: a system's ATLAS matrix showing each technique's coverage
//! state, a side panel to decide applicability, statuses and risk
//! acceptance, bulk actions, suggested scope, undo, and live updates over
//! server-sent events so everyone in the room sees every change.

mod bulk;
mod conflict;
mod fragments;
mod history;
mod live;
mod page;
mod panel;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;
use crate::web::is_htmx;

pub use live::{ACCESS_RECHECK, render_live_updates};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/systems/{id}", get(page::workshop_page))
        .route("/systems/{id}/events", get(live::events))
        .route("/systems/{id}/techniques/{technique}", get(panel::item_page).post(panel::save_assessment))
        .route("/systems/{id}/techniques/{technique}/mitigations/{mitigation}", post(panel::save_mitigation_status))
        .route("/systems/{id}/techniques/{technique}/controls/{control}", post(panel::save_control_status))
        .route("/systems/{id}/techniques/{technique}/acceptance", post(panel::save_acceptance))
        .route("/systems/{id}/techniques/{technique}/acceptance/remove", post(panel::remove_acceptance))
        .route("/systems/{id}/techniques/{technique}/review", post(panel::confirm_review))
        .route("/systems/{id}/techniques/{technique}/detection", post(panel::save_detection))
        .route("/systems/{id}/bulk", post(bulk::bulk))
        .route("/systems/{id}/suggest", post(bulk::suggest))
        .route("/systems/{id}/suggest/confirm", post(bulk::confirm_suggestions))
        .route("/systems/{id}/undo/{entry}", post(bulk::undo))
        .route("/systems/{id}/history", get(history::history_page))
}

/// Technique IDs hold dots; DOM ids and event names use underscores.
pub fn dom_id(id: &str) -> String {
    id.replace('.', "_")
}
