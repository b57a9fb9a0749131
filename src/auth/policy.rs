//! Who may call which route: one explicit rule per served (method, path),
//! enforced by one middleware for the whole application. A route without a
//! rule is refused (and the route × role test fails), so access is never
//! granted by omission.

use axum::http::Method;

use super::Role;

/// Where the team a route acts on comes from: the `{id}` path parameter of a
/// team, a system, a control or a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamFrom {
    Team,
    System,
    Control,
    Detection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, signed in or not (sign-in, set-up, assets, joining a workshop).
    Public,
    /// Any account, workshop participant or API token.
    SignedIn,
    /// An account signed in with a session (account settings, tokens).
    Account,
    /// A site administrator: teams, users, framework imports.
    Admin,
    /// At least this role on the team the path names.
    Team(Role, TeamFrom),
    /// Signed in; the handler checks the team named in the request body.
    CheckedByHandler,
}

use Rule::*;
use TeamFrom::{Control, Detection, System, Team as TeamId};

const VIEW: Role = Role::Viewer;
const EDIT: Role = Role::Editor;
const OWN: Role = Role::Owner;

/// The rule of a route, by method and the route's path pattern.
pub fn rule(method: &Method, path: &str) -> Option<Rule> {
    let get = method == Method::GET || method == Method::HEAD;
    let m = if get { "GET" } else { method.as_str() };
    Some(match (m, path) {
        // Public.
        ("GET", "/static/{*path}") | ("GET", "/healthz") | ("GET", "/api/openapi.json") => Public,
        ("GET" | "POST", "/login") | ("GET" | "POST", "/setup") | ("GET" | "POST", "/join/{code}") => Public,
        ("POST", "/logout") => Public,
        // Sign-in through the identity provider, and its answer.
        ("GET", "/auth/oidc/start" | "/auth/oidc/callback") => Public,
        // A display preference kept in this browser's cookies.
        ("POST", "/preferences/view") => Public,

        // The ATLAS knowledge base.
        ("GET", "/" | "/frameworks" | "/frameworks/switch" | "/frameworks/diff" | "/frameworks/{version}") => SignedIn,
        ("GET", "/frameworks/{version}/tactics/{id}")
        | ("GET", "/frameworks/{version}/techniques/{id}")
        | ("GET", "/frameworks/{version}/mitigations")
        | ("GET", "/frameworks/{version}/mitigations/{id}")
        | ("GET", "/frameworks/{version}/case-studies")
        | ("GET", "/frameworks/{version}/case-studies/{id}")
        | ("GET", "/help/coverage") => SignedIn,
        ("GET", "/api/v1/frameworks")
        | ("GET", "/api/v1/frameworks/{version}")
        | ("GET", "/api/v1/frameworks/{version}/matrix")
        | ("GET", "/api/v1/frameworks/{version}/techniques")
        | ("GET", "/api/v1/frameworks/{version}/techniques/{id}")
        | ("GET", "/api/v1/frameworks/{version}/mitigations")
        | ("GET", "/api/v1/frameworks/{version}/mitigations/{id}")
        | ("GET", "/api/v1/frameworks/{version}/case-studies")
        | ("GET", "/api/v1/frameworks/{version}/case-studies/{id}")
        | ("GET", "/api/v1/frameworks/{version}/diff/{other}") => SignedIn,
        ("POST", "/api/v1/frameworks") | ("POST", "/frameworks") => Admin,

        // Accounts.
        ("GET", "/account") => Account,
        ("POST", "/account/password" | "/account/sessions/revoke" | "/account/tokens") => Account,
        ("POST", "/account/sessions/{session}/revoke" | "/account/tokens/{id}/revoke") => Account,
        ("GET" | "POST", "/admin/users") => Admin,
        ("POST", "/admin/users/{id}/delete" | "/admin/users/{id}/admin" | "/admin/users/{id}/disabled") => Admin,

        // Teams.
        ("GET", "/teams") | ("GET", "/api/v1/teams") => SignedIn,
        ("POST", "/teams") | ("POST", "/api/v1/teams") => Admin,
        ("GET", "/teams/{id}") | ("GET", "/api/v1/teams/{id}") | ("GET", "/api/v1/teams/{id}/controls") => {
            Team(VIEW, TeamId)
        }
        ("GET", "/api/v1/teams/{id}/coverage/trend" | "/api/v1/teams/{id}/deadlines") => Team(VIEW, TeamId),
        // Named moments of a team, and what changed since one.
        ("GET", "/api/v1/teams/{id}/snapshots" | "/api/v1/teams/{id}/digest" | "/teams/{id}/digest") => {
            Team(VIEW, TeamId)
        }
        ("POST", "/api/v1/teams/{id}/snapshots" | "/teams/{id}/snapshots") => Team(EDIT, TeamId),
        ("DELETE", "/api/v1/teams/{id}/snapshots/{snapshot}") => Team(OWN, TeamId),
        ("POST", "/teams/{id}/snapshots/{snapshot}/delete") => Team(OWN, TeamId),
        ("POST", "/teams/{id}") | ("PUT", "/api/v1/teams/{id}") => Team(OWN, TeamId),
        ("GET" | "POST", "/teams/{id}/delete") | ("DELETE", "/api/v1/teams/{id}") => Admin,
        ("POST", "/teams/{id}/systems" | "/teams/{id}/controls") | ("POST", "/api/v1/teams/{id}/controls") => {
            Team(OWN, TeamId)
        }
        ("GET" | "POST", "/teams/{id}/members") => Team(OWN, TeamId),
        ("POST", "/teams/{id}/members/{user}/remove") => Team(OWN, TeamId),
        ("POST", "/teams/{id}/invites" | "/teams/{id}/invites/{invite}/end") => Team(OWN, TeamId),
        ("POST", "/teams/{id}/participants/{participant}/remove") => Team(OWN, TeamId),

        // Controls.
        ("GET", "/controls/{id}") | ("GET", "/api/v1/controls/{id}") => Team(VIEW, Control),
        ("POST", "/controls/{id}" | "/controls/{id}/delete") => Team(OWN, Control),
        ("PUT" | "DELETE", "/api/v1/controls/{id}") => Team(OWN, Control),

        // Detections: the team's rules, kept and imported by editors (the SOC).
        ("GET", "/teams/{id}/detections" | "/api/v1/teams/{id}/detections") => Team(VIEW, TeamId),
        (
            "POST",
            "/teams/{id}/detections" | "/teams/{id}/detections/import" | "/teams/{id}/detections/import/apply",
        )
        | ("POST", "/teams/{id}/detections/undo/{entry}")
        | ("POST", "/api/v1/teams/{id}/detections" | "/api/v1/teams/{id}/detections/import")
        | ("POST", "/api/v1/teams/{id}/detections/history/{entry_id}/undo") => Team(EDIT, TeamId),
        ("GET", "/detections/{id}") | ("GET", "/api/v1/detections/{id}") => Team(VIEW, Detection),
        ("POST", "/detections/{id}" | "/detections/{id}/delete") => Team(EDIT, Detection),
        ("PUT" | "DELETE", "/api/v1/detections/{id}") => Team(EDIT, Detection),

        // Systems.
        ("GET", "/api/v1/systems") => SignedIn,
        ("POST", "/api/v1/systems") => CheckedByHandler,
        ("GET", "/systems/{id}" | "/systems/{id}/events" | "/systems/{id}/techniques/{technique}") => {
            Team(VIEW, System)
        }
        ("GET", "/systems/{id}/edit" | "/systems/{id}/delete") => Team(OWN, System),
        ("POST", "/systems/{id}/edit" | "/systems/{id}/delete") => Team(OWN, System),
        ("GET" | "POST", "/systems/{id}/upgrade") => Team(OWN, System),
        ("GET", "/systems/{id}/archive" | "/systems/{id}/history" | "/systems/{id}/trend" | "/systems/{id}/digest") => {
            Team(VIEW, System)
        }
        ("GET" | "POST", "/teams/{id}/upgrade") => Team(OWN, TeamId),
        ("PUT" | "DELETE", "/api/v1/systems/{id}") | ("POST", "/api/v1/systems/{id}/upgrade") => Team(OWN, System),
        ("POST", "/api/v1/teams/{id}/upgrade") => Team(OWN, TeamId),
        ("GET", "/api/v1/systems/{id}") => Team(VIEW, System),

        // A system's decisions.
        ("POST", "/systems/{id}/techniques/{technique}")
        | ("POST", "/systems/{id}/techniques/{technique}/mitigations/{mitigation}")
        | ("POST", "/systems/{id}/techniques/{technique}/controls/{control}")
        | ("POST", "/systems/{id}/techniques/{technique}/acceptance")
        | ("POST", "/systems/{id}/techniques/{technique}/acceptance/remove")
        | ("POST", "/systems/{id}/techniques/{technique}/review")
        | ("POST", "/systems/{id}/techniques/{technique}/detection")
        | ("POST", "/systems/{id}/bulk" | "/systems/{id}/suggest" | "/systems/{id}/suggest/confirm")
        | ("POST", "/systems/{id}/undo/{entry}") => Team(EDIT, System),
        ("GET", "/api/v1/systems/{id}/assessments")
        | ("GET", "/api/v1/systems/{id}/assessments/{technique_id}")
        | ("GET", "/api/v1/systems/{id}/mitigations")
        | ("GET", "/api/v1/systems/{id}/mitigations/{mitigation_id}")
        | ("GET", "/api/v1/systems/{id}/controls")
        | ("GET", "/api/v1/systems/{id}/controls/{control_id}")
        | ("GET", "/api/v1/systems/{id}/acceptances")
        | ("GET", "/api/v1/systems/{id}/acceptances/{technique_id}")
        | ("GET", "/api/v1/systems/{id}/detections")
        | ("GET", "/api/v1/systems/{id}/detections/{technique_id}")
        | ("GET", "/api/v1/systems/{id}/coverage")
        | ("GET", "/api/v1/systems/{id}/coverage/trend")
        | ("GET", "/api/v1/systems/{id}/deadlines")
        | ("GET", "/api/v1/systems/{id}/digest")
        | ("GET", "/api/v1/systems/{id}/history") => Team(VIEW, System),
        ("PUT", "/api/v1/systems/{id}/assessments/{technique_id}")
        | ("POST", "/api/v1/systems/{id}/assessments/bulk")
        | ("PUT", "/api/v1/systems/{id}/mitigations/{mitigation_id}")
        | ("PUT", "/api/v1/systems/{id}/controls/{control_id}")
        | ("PUT", "/api/v1/systems/{id}/detections/{technique_id}")
        | ("PUT" | "DELETE", "/api/v1/systems/{id}/acceptances/{technique_id}")
        | ("POST", "/api/v1/systems/{id}/history/{entry_id}/undo") => Team(EDIT, System),

        // Gap reports, recommendations and imports.
        ("GET", "/systems/{id}/gaps" | "/systems/{id}/report") => Team(VIEW, System),
        ("GET", "/teams/{id}/overview" | "/teams/{id}/report") => Team(VIEW, TeamId),
        ("GET" | "POST", "/systems/{id}/import") | ("POST", "/systems/{id}/import/apply") => Team(EDIT, System),
        ("GET", "/api/v1/systems/{id}/gaps" | "/api/v1/systems/{id}/recommendations") => Team(VIEW, System),
        ("GET", "/api/v1/teams/{id}/gaps") => Team(VIEW, TeamId),
        ("POST", "/api/v1/systems/{id}/import") => Team(EDIT, System),

        _ => return None,
    })
}
