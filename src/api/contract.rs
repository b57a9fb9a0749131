//! The parts of the API contract that hold across operations, written into
//! the OpenAPI document in one place so that no operation can miss them:
//!
//! - how callers authenticate (a bearer token or the session cookie), on
//!   every operation;
//! - every error answer an operation can give, from the route's access rule
//!   ([`crate::auth::policy`]) and its shape: 401 and 429 everywhere, 403
//!   where a role or a write is needed, 404 where a path or body names
//!   something, 400 where a parameter or header is read, 409/412/413/415/422
//!   where a body, a write or `If-Match` is involved, each with the error
//!   body;
//! - the shape of the IDs in paths and of `If-Match`, so that a client that
//!   follows the document is never refused for a malformed value.
//!
//! Constraints of request bodies and query parameters sit on their types.

use serde_json::{Map, Value, json};

use crate::auth::policy::{Rule, rule};
use crate::domain::limits;

/// `AML.T0051` or `AML.T0051.001`.
pub const TECHNIQUE_ID: &str = r"^AML\.T[0-9]{4}(\.[0-9]{3})?$";
/// `AML.M0020`.
pub const MITIGATION_ID: &str = r"^AML\.M[0-9]{4}$";
/// `AML.CS0000`.
pub const CASE_STUDY_ID: &str = r"^AML\.CS[0-9]{4}$";
/// `AML.TA0004`.
pub const TACTIC_ID: &str = r"^AML\.TA[0-9]{4}$";
/// A release version as releases are named (`2026.05`, `5.6.0`), or `default` in paths.
pub const RELEASE: &str = r"^[A-Za-z0-9._-]{1,40}$";
/// A release in a system's body; empty means the default release (or, on an edit, the current one).
pub const RELEASE_OR_EMPTY: &str = r"^[A-Za-z0-9._-]{0,40}$";
/// `YYYY-MM-DD` from 2000 to 2100 (the server refuses other years as slips).
pub const DATE: &str = r"^(20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$";
/// `"5"`, `W/"5"`, `5` or `*`.
pub const IF_MATCH: &str = r#"^(\*|(W/)?"[0-9]{1,18}"|[0-9]{1,18})$"#;
/// A required one-line text: no control character, and something besides spaces.
pub const NAME: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// A one-line text, possibly empty.
pub const LINE: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// A text of several lines: no control character but tabs and line breaks.
pub const TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// A required text of several lines: [`TEXT`] with something besides spaces.
pub const REQUIRED_TEXT: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";
/// A name for a new release: a [`RELEASE`] other than the words the pages use.
pub const NEW_RELEASE: &str = r"^(?!(default|switch|diff)$)[A-Za-z0-9._-]{1,40}$";

/// A text field: its pattern and its longest length.
fn text(pattern: &str, max: usize) -> Value {
    json!({"type": "string", "pattern": pattern, "maxLength": max})
}

fn nullable(mut schema: Value) -> Value {
    let kind = schema["type"].clone();
    schema["type"] = json!([kind, "null"]);
    schema
}

fn platforms() -> Value {
    json!({"type": "array", "maxItems": 4, "items": {"type": "string", "enum": crate::atlas::model::PLATFORMS}})
}

fn techniques(min: usize) -> Value {
    json!({"type": "array", "minItems": min, "maxItems": limits::BULK_ITEMS,
           "items": {"type": "string", "pattern": TECHNIQUE_ID}})
}

/// The constraints the server enforces on request body fields, by schema
/// and property; the document states them so that a client following it is
/// never refused for a field's shape.
fn body_constraints() -> Vec<(&'static str, &'static str, Value)> {
    let id = json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX});
    vec![
        ("TeamBody", "name", text(NAME, limits::NAME)),
        ("TeamBody", "description", text(TEXT, limits::DESCRIPTION)),
        ("ControlBody", "name", text(NAME, limits::NAME)),
        ("ControlBody", "description", text(TEXT, limits::DESCRIPTION)),
        ("ControlBody", "techniques", techniques(0)),
        ("NewSystemBody", "team_id", id),
        ("NewSystemBody", "name", text(NAME, limits::NAME)),
        ("NewSystemBody", "description", text(TEXT, limits::DESCRIPTION)),
        ("NewSystemBody", "owner", text(LINE, limits::OWNER)),
        ("NewSystemBody", "platforms", platforms()),
        ("NewSystemBody", "framework_version", nullable(text(RELEASE_OR_EMPTY, 40))),
        ("SystemBody", "name", text(NAME, limits::NAME)),
        ("SystemBody", "description", text(TEXT, limits::DESCRIPTION)),
        ("SystemBody", "owner", text(LINE, limits::OWNER)),
        ("SystemBody", "platforms", platforms()),
        ("SystemBody", "framework_version", nullable(text(RELEASE_OR_EMPTY, 40))),
        ("AssessmentBody", "rationale", nullable(text(TEXT, limits::RATIONALE))),
        ("BulkBody", "techniques", techniques(1)),
        ("StatusBody", "owner", nullable(text(LINE, limits::OWNER))),
        // Empty or null clears the date.
        (
            "StatusBody",
            "target_date",
            json!({"anyOf": [
                {"type": "string", "format": "date", "pattern": DATE}, {"type": "string", "maxLength": 0}, {"type": "null"}
            ]}),
        ),
        ("StatusBody", "evidence", nullable(text(TEXT, limits::EVIDENCE))),
        ("StatusBody", "notes", nullable(text(TEXT, limits::NOTES))),
        ("AcceptanceBody", "justification", text(REQUIRED_TEXT, limits::JUSTIFICATION)),
        ("AcceptanceBody", "accepted_by", nullable(text(LINE, limits::OWNER))),
        ("AcceptanceBody", "expires_on", json!({"type": "string", "format": "date", "pattern": DATE})),
    ]
}

/// The constraints the server enforces on query parameters, by path and name.
fn query_constraints() -> Vec<(&'static str, &'static str, Value)> {
    let gaps_format =
        json!({"type": "string", "enum": ["json", "md", "markdown", "csv", "html", "navigator", "navigator-zip"]});
    let layer_version = json!({"type": "string", "enum": ["4.5", "4.3"]});
    let recommendations =
        json!({"type": "integer", "minimum": 0, "maximum": crate::service::reports::MAX_RECOMMENDATIONS});
    vec![
        ("/api/v1/frameworks", "version", json!({"type": "string", "pattern": NEW_RELEASE})),
        ("/api/v1/frameworks", "filename", text(LINE, 200)),
        ("/api/v1/frameworks/{version}/techniques", "q", text(LINE, 200)),
        ("/api/v1/frameworks/{version}/techniques", "tactic", json!({"type": "string", "pattern": TACTIC_ID})),
        (
            "/api/v1/frameworks/{version}/techniques",
            "maturity",
            json!({"type": "string", "enum": ["feasible", "demonstrated", "realized"]}),
        ),
        (
            "/api/v1/frameworks/{version}/techniques",
            "platform",
            json!({"type": "string", "enum": crate::atlas::model::PLATFORMS}),
        ),
        (
            "/api/v1/systems",
            "team_id",
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX}),
        ),
        ("/api/v1/systems/{id}/history", "item", text(LINE, 100)),
        ("/api/v1/systems/{id}/history", "limit", json!({"type": "integer", "minimum": 1, "maximum": 1000})),
        ("/api/v1/systems/{id}/gaps", "format", gaps_format.clone()),
        ("/api/v1/systems/{id}/gaps", "recommendations", recommendations.clone()),
        ("/api/v1/systems/{id}/gaps", "layer_version", layer_version.clone()),
        ("/api/v1/teams/{id}/gaps", "format", gaps_format),
        ("/api/v1/teams/{id}/gaps", "recommendations", recommendations),
        ("/api/v1/teams/{id}/gaps", "layer_version", layer_version),
        (
            "/api/v1/systems/{id}/recommendations",
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": crate::service::reports::MAX_RECOMMENDATIONS}),
        ),
        ("/api/v1/systems/{id}/import", "format", json!({"type": "string", "enum": ["navigator", "csv"]})),
    ]
}

/// Applies the contract to the document (see the module documentation).
pub fn apply(document: &mut Value) {
    add_security_schemes(document);
    constrain_bodies(document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                continue;
            }
            let Some(operation) = operation.as_object_mut() else { continue };
            operation.insert("security".into(), security());
            constrain_parameters(path, operation);
            constrain_uploads(operation);
            describe_gap_reports(path, operation);
            add_error_responses(method, path, operation);
        }
    }
}

fn security() -> Value {
    json!([{"bearer": []}, {"session": []}])
}

fn add_security_schemes(document: &mut Value) {
    let Some(root) = document.as_object_mut() else { return };
    let components = root.entry("components").or_insert_with(|| json!({}));
    let Some(components) = components.as_object_mut() else { return };
    let schemes = components.entry("securitySchemes").or_insert_with(|| json!({}));
    if let Some(schemes) = schemes.as_object_mut() {
        schemes.insert(
            "bearer".into(),
            json!({"type": "http", "scheme": "bearer", "description":
                "An API token (`acs_…`), made on the Account page or with `atlascope token create`."}),
        );
        schemes.insert(
            "session".into(),
            json!({"type": "apiKey", "in": "cookie", "name": crate::auth::guard::SESSION_COOKIE, "description":
                "The session cookie of a signed-in browser."}),
        );
    }
    root.insert("security".into(), security());
}

/// The schema of a path or header parameter, by its name and route, where
/// the contract fixes one.
fn schema_of_parameter(path: &str, name: &str, current: &Value) -> Option<Value> {
    let integer = current
        .get("type")
        .is_some_and(|t| t == "integer" || t.as_array().is_some_and(|a| a.contains(&json!("integer"))));
    let pattern = |pattern: &str| json!({"type": "string", "pattern": pattern});
    match name {
        "id" | "entry_id" | "control_id" | "team_id" if integer => {
            Some(json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX}))
        }
        "technique_id" => Some(pattern(TECHNIQUE_ID)),
        "mitigation_id" => Some(pattern(MITIGATION_ID)),
        "version" | "other" if path.starts_with("/api/v1/frameworks/") => Some(pattern(RELEASE)),
        "id" if path.starts_with("/api/v1/frameworks/{version}/techniques/") => Some(pattern(TECHNIQUE_ID)),
        "id" if path.starts_with("/api/v1/frameworks/{version}/mitigations/") => Some(pattern(MITIGATION_ID)),
        "id" if path.starts_with("/api/v1/frameworks/{version}/case-studies/") => Some(pattern(CASE_STUDY_ID)),
        "If-Match" => Some(pattern(IF_MATCH)),
        _ => None,
    }
}

fn constrain_parameters(path: &str, operation: &mut Map<String, Value>) {
    let queries = query_constraints();
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters {
        let Some(name) = parameter.get("name").and_then(Value::as_str).map(str::to_string) else { continue };
        let place = parameter.get("in").and_then(Value::as_str).unwrap_or_default().to_string();
        let current = parameter.get("schema").cloned().unwrap_or(Value::Null);
        let schema = match place.as_str() {
            "query" => queries.iter().find(|(p, n, _)| *p == path && *n == name).map(|(_, _, schema)| schema.clone()),
            _ => schema_of_parameter(path, &name, &current),
        };
        if let Some(schema) = schema {
            parameter["schema"] = schema;
        }
    }
}

/// A gap report in JSON is the report, or with `format=navigator` an ATLAS
/// Navigator layer, both `application/json`.
fn describe_gap_reports(path: &str, operation: &mut Map<String, Value>) {
    if !path.ends_with("/gaps") {
        return;
    }
    let schema = operation.get_mut("responses").and_then(|r| r.pointer_mut("/200/content/application~1json/schema"));
    if let Some(schema) = schema {
        *schema = json!({"anyOf": [
            {"$ref": "#/components/schemas/GapReport"}, {"$ref": "#/components/schemas/NavigatorLayer"}
        ]});
    }
}

/// Uploaded files (`application/octet-stream` bodies) are never empty.
fn constrain_uploads(operation: &mut Map<String, Value>) {
    if let Some(schema) =
        operation.get_mut("requestBody").and_then(|b| b.pointer_mut("/content/application~1octet-stream/schema"))
    {
        *schema = json!({"type": "string", "format": "binary", "minLength": 1});
    }
}

fn constrain_bodies(document: &mut Value) {
    let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    for (schema, property, constraint) in body_constraints() {
        if let Some(target) =
            schemas.get_mut(schema).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(property))
        {
            // Keep the field's documentation; replace its shape.
            let description = target.get("description").cloned();
            *target = constraint;
            if let Some(description) = description {
                target["description"] = description;
            }
        }
    }
}

fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

fn add_error_responses(method: &str, path: &str, operation: &mut Map<String, Value>) {
    let parameters: Vec<(String, String)> = operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get("name")?.as_str()?.to_string(), p.get("in")?.as_str()?.to_string())))
        .collect();
    let body = operation.get("requestBody").and_then(|b| b.get("content")).and_then(Value::as_object);
    let json_body = body.is_some_and(|c| c.contains_key("application/json"));
    let has_body = body.is_some();
    let writes = method != "get";
    let route_rule =
        axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok().and_then(|m| rule(&m, path));
    let needs_role = matches!(route_rule, Some(Rule::Team(..) | Rule::Admin | Rule::Account | Rule::CheckedByHandler));

    let mut wanted: Vec<(&str, &str)> = vec![
        ("401", "No valid session or bearer token"),
        ("429", "Too many requests; `Retry-After` says when to try again"),
    ];
    if needs_role || writes {
        wanted.push(("403", "The role or the token's scope does not allow this"));
    }
    if path.contains('{') || json_body || needs_role {
        wanted.push(("404", "Something the path or the body names does not exist, or is not visible to the caller"));
    }
    if !parameters.is_empty() || has_body {
        wanted.push(("400", "A malformed parameter, header or body, named in the message"));
    }
    if json_body {
        wanted.push(("422", "A body field that breaks a rule, named in the message"));
    }
    if has_body {
        wanted.push(("413", "The body is over the size limit"));
        wanted.push(("415", "The body is not of the content type the operation reads"));
    }
    if writes {
        wanted.push(("409", "The change conflicts with the current state (a name taken, an item changed since)"));
    }
    if parameters.iter().any(|(name, place)| name == "If-Match" && place == "header") {
        wanted.push(("412", "`If-Match` names a version that is no longer current; the body has `current_version`"));
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, description) in wanted {
        responses.entry(status).or_insert_with(|| error(description));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_id_checks_take_what_the_patterns_describe() {
        for id in ["AML.T0051", "AML.T0051.001"] {
            assert!(crate::atlas::model::is_technique_id(id), "{id}");
        }
        for id in ["AML.T051", "AML.T0051.01", "aml.t0051", "AML.T0051.001.1", "AML.T0051."] {
            assert!(!crate::atlas::model::is_technique_id(id), "{id}");
        }
        assert!(crate::atlas::model::is_mitigation_id("AML.M0020"));
        assert!(!crate::atlas::model::is_mitigation_id("AML.M20"));
    }

    #[test]
    fn every_operation_gets_security_and_its_error_answers() {
        let mut document = json!({
            "paths": {
                "/api/v1/systems/{id}/assessments/{technique_id}": {
                    "put": {
                        "parameters": [
                            {"name": "id", "in": "path", "schema": {"type": "integer"}},
                            {"name": "technique_id", "in": "path", "schema": {"type": "string"}},
                            {"name": "If-Match", "in": "header", "schema": {"type": ["string", "null"]}}
                        ],
                        "requestBody": {"content": {"application/json": {}}},
                        "responses": {"200": {"description": "ok"}}
                    }
                },
                "/api/v1/frameworks": {"get": {"responses": {"200": {"description": "ok"}}}}
            }
        });
        apply(&mut document);
        let put = &document["paths"]["/api/v1/systems/{id}/assessments/{technique_id}"]["put"];
        let statuses: Vec<&String> = put["responses"].as_object().expect("responses").keys().collect();
        for status in ["200", "400", "401", "403", "404", "409", "412", "413", "415", "422", "429"] {
            assert!(statuses.iter().any(|s| *s == status), "{status} in {statuses:?}");
        }
        assert_eq!(put["parameters"][0]["schema"]["minimum"], 1);
        assert_eq!(put["parameters"][1]["schema"]["pattern"], TECHNIQUE_ID);
        assert_eq!(put["parameters"][2]["schema"]["pattern"], IF_MATCH);
        assert_eq!(put["security"], security());
        let list = &document["paths"]["/api/v1/frameworks"]["get"]["responses"];
        assert!(list.get("401").is_some() && list.get("429").is_some());
        assert!(list.get("403").is_none() && list.get("404").is_none(), "a list any signed-in caller reads");
        assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
