//! `POST /api/v1/systems/{id}/upgrade` and `POST /api/v1/teams/{id}/upgrade`:
//! preview (the default) or apply moving a system's map, or every system of
//! a team, to another ATLAS release.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::actor::ApiActor;
use super::extract::{ApiJson, ApiPath};
use super::{ApiResult, ErrorBody};
use crate::app::AppState;
use crate::domain::coverage::CoverageFigures;
use crate::domain::upgrade::{AddedItem, RetiredItem, ReusedItem, ReviewItem};
use crate::service::upgrade::{self, SkippedSystem, UpgradeOutcome, UpgradeRequest};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upgrade_system)).routes(routes!(upgrade_team))
}

fn yes() -> bool {
    true
}

/// What to upgrade to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// The loaded ATLAS release to move to; newer than the system's.
    #[schema(min_length = 1, max_length = 100)]
    pub to: String,
    /// Only preview (the default); `false` applies the upgrade.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub dry_run: bool,
    /// Successors chosen by a person, over the proposals: the retired
    /// technique's ID → a technique ID of the target release, or `""` to
    /// keep it without successor.
    #[serde(default)]
    pub successors: BTreeMap<String, String>,
}

impl UpgradeBody {
    fn request(self) -> UpgradeRequest {
        UpgradeRequest { to: self.to, successors: self.successors, apply: !self.dry_run }
    }
}

/// What an upgrade of one system changes, and whether it was applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpgradeAnswer {
    pub system_id: i64,
    pub from: String,
    pub to: String,
    pub applied: bool,
    /// The history entry that undoes the applied upgrade
    /// (`POST /api/v1/systems/{id}/history/{entry_id}/undo`); null for a preview.
    pub undo_entry: Option<i64>,
    /// Decided techniques that carry over with nothing to look at.
    pub carried: Vec<String>,
    pub review: Vec<ReviewItem>,
    pub retired: Vec<RetiredItem>,
    pub reused: Vec<ReusedItem>,
    pub added: Vec<AddedItem>,
    pub coverage_before: CoverageFigures,
    pub coverage_after: CoverageFigures,
}

impl From<UpgradeOutcome> for UpgradeAnswer {
    fn from(outcome: UpgradeOutcome) -> Self {
        let plan = outcome.plan;
        UpgradeAnswer {
            system_id: plan.system_id,
            from: plan.from,
            to: plan.to,
            applied: outcome.applied,
            undo_entry: outcome.batch,
            carried: plan.carried,
            review: plan.review,
            retired: plan.retired,
            reused: plan.reused,
            added: plan.added,
            coverage_before: plan.coverage_before,
            coverage_after: plan.coverage_after,
        }
    }
}

/// Previews or applies moving a system's map to another release.
///
/// Decided techniques carry over; renamed, moved, re-parented ones, those
/// whose maturity or computed state changes, are listed for review; retired
/// techniques hand their decisions to the proposed (or given) successor;
/// reused IDs are not carried; new techniques are suggested by platform.
/// Applying is one transaction and one history batch that one undo reverses.
#[utoipa::path(post, path = "/systems/{id}/upgrade", tag = "systems", params(("id" = i64, Path)),
    request_body = UpgradeBody,
    responses(
        (status = OK, body = UpgradeAnswer),
        (status = NOT_FOUND, body = ErrorBody),
        (status = PRECONDITION_FAILED, body = ErrorBody, description = "Someone changed the system meanwhile"),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn upgrade_system(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<UpgradeBody>,
) -> ApiResult<Json<UpgradeAnswer>> {
    Ok(Json(upgrade::upgrade(&state, id, &body.request(), &actor).await?.into()))
}

/// The upgrade of every system of a team.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamUpgradeAnswer {
    pub team_id: i64,
    pub to: String,
    pub systems: Vec<UpgradeAnswer>,
    /// Systems left as they are, and why (already on the release or newer,
    /// or changed by someone else while the upgrade ran).
    pub skipped: Vec<SkippedSystem>,
}

/// Previews or applies moving every system of a team to another release.
///
/// Every system is planned first; a refusal (an unknown release, a
/// successor outside it) changes nothing. Applied, each system is upgraded
/// in its own transaction and history batch.
#[utoipa::path(post, path = "/teams/{id}/upgrade", tag = "teams", params(("id" = i64, Path)),
    request_body = UpgradeBody,
    responses(
        (status = OK, body = TeamUpgradeAnswer),
        (status = NOT_FOUND, body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, body = ErrorBody),
    ))]
async fn upgrade_team(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<UpgradeBody>,
) -> ApiResult<Json<TeamUpgradeAnswer>> {
    let to = body.to.clone();
    let outcome = upgrade::upgrade_team(&state, id, &body.request(), &actor).await?;
    Ok(Json(TeamUpgradeAnswer {
        team_id: id,
        to,
        systems: outcome.systems.into_iter().map(UpgradeAnswer::from).collect(),
        skipped: outcome.skipped,
    }))
}
