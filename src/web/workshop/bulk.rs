//! Actions on many techniques at once, answered with a flash message above
//! the matrix: set applicability for a selection or a tactic, suggest scope
//! from the system's platforms and confirm it, and undo a change.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;

use super::{fragments, is_htmx, panel};
use crate::app::AppState;
use crate::domain::Applicability;
use crate::service::decisions;
use crate::service::{ServiceError, ServiceResult};
use crate::web::actor::WebActor;
use crate::web::{WebError, render};

#[derive(Template)]
#[template(path = "partials/flash.html")]
struct Flash {
    system_id: i64,
    message: String,
    undo: Option<i64>,
    error: bool,
}

/// The outcome of a bulk action: a flash message for htmx (with suggested
/// scope's buttons as they now stand), else back to the matrix.
async fn bulk_response(
    state: &AppState,
    headers: &HeaderMap,
    system_id: i64,
    outcome: ServiceResult<(String, Option<i64>)>,
) -> Result<Response, WebError> {
    let (message, undo, error, status) = match outcome {
        Ok((message, undo)) => (message, undo, false, StatusCode::OK),
        Err(ServiceError::Invalid(e)) => {
            (format!("Nothing changed: {e}"), None, true, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(ServiceError::Conflict { message, .. } | ServiceError::Refused(message)) => {
            (message, None, true, StatusCode::CONFLICT)
        }
        Err(other) => return Err(other.into()),
    };
    if is_htmx(headers) {
        let mut html = render(&Flash { system_id, message, undo, error })?.0;
        let snapshot = crate::service::snapshot::load(state, system_id).await?;
        html.push_str(&fragments::scope_actions(&snapshot, true)?);
        return Ok((status, Html(html)).into_response());
    }
    let mut target = format!(
        "/systems/{system_id}?done={}",
        percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC)
    );
    if let Some(undo) = undo {
        target.push_str(&format!("&undo={undo}"));
    }
    Ok(Redirect::to(&target).into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct BulkForm {
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    tactic: String,
    #[serde(default)]
    applicability: String,
}

pub(super) async fn bulk(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<BulkForm>,
) -> Result<Response, WebError> {
    let outcome = async {
        let applicability = Applicability::parse(&form.applicability)
            .map_err(|m| crate::domain::FieldError::new("applicability", m))?;
        let mut techniques = form.techniques.clone();
        if !form.tactic.trim().is_empty() {
            let ctx = crate::service::system_context(&state, id).await?;
            if ctx.framework.tactic(form.tactic.trim()).is_none() {
                return Err(crate::domain::FieldError::new(
                    "tactic",
                    format!("{} is not a tactic of this release", form.tactic),
                )
                .into());
            }
            techniques.extend(
                ctx.framework
                    .techniques()
                    .iter()
                    .filter(|t| t.tactics.iter().any(|x| x == form.tactic.trim()))
                    .map(|t| t.id.clone()),
            );
        }
        techniques.sort();
        techniques.dedup();
        let result = decisions::bulk_applicability(&state, id, &techniques, applicability, &actor).await?;
        Ok((format!("Set {} technique(s) to “{}”.", result.changed.len(), applicability.label()), result.batch))
    }
    .await;
    bulk_response(&state, &headers, id, outcome).await
}

pub(super) async fn suggest(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let outcome = decisions::suggest_scope(&state, id, &actor).await.map(|r| {
        (
            format!(
                "Suggested {} technique(s) whose ATLAS platforms match this system's; confirm them or decide one by one.",
                r.changed.len()
            ),
            r.batch,
        )
    });
    bulk_response(&state, &headers, id, outcome).await
}

pub(super) async fn confirm_suggestions(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let outcome = decisions::confirm_suggestions(&state, id, &actor)
        .await
        .map(|r| (format!("Marked {} suggested technique(s) as applying.", r.changed.len()), r.batch));
    bulk_response(&state, &headers, id, outcome).await
}

#[derive(Debug, Deserialize)]
pub(super) struct UndoForm {
    #[serde(default)]
    technique: String,
    /// `history`: go back to the history page rather than the matrix.
    #[serde(default)]
    back: String,
}

pub(super) async fn undo(
    State(state): State<AppState>,
    Path((id, entry)): Path<(i64, i64)>,
    WebActor(actor): WebActor,
    headers: HeaderMap,
    Form(form): Form<UndoForm>,
) -> Result<Response, WebError> {
    let outcome = decisions::undo(&state, id, entry, &actor).await;
    if !form.technique.is_empty() {
        let submission = panel::Submission {
            subject: panel::Subject::Action,
            action: format!("/systems/{id}/undo/{entry}"),
            fields: Vec::new(),
        };
        let outcome = outcome.map(|r| r.batch);
        return panel::after_write(&state, &headers, id, &form.technique, outcome, submission).await;
    }
    let outcome = outcome.map(|r| (format!("Undid the change to {} item(s).", r.changed.len()), r.batch));
    if form.back == "history" && !is_htmx(&headers) {
        let message = match outcome {
            Ok((message, _)) => message,
            Err(ServiceError::Conflict { message, .. } | ServiceError::Refused(message)) => {
                format!("Not undone: {message}")
            }
            Err(other) => return Err(other.into()),
        };
        let encoded = percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC);
        return Ok(Redirect::to(&format!("/systems/{id}/history?done={encoded}")).into_response());
    }
    bulk_response(&state, &headers, id, outcome).await
}
