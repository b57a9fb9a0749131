//! Request extractors of the JSON API that answer every rejection as an
//! [`ApiError`] (JSON body, honest status), the `If-Match` precondition and
//! the `ETag` of versioned responses.

use axum::Json;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::ApiError;

/// A JSON object as the request body. Malformed JSON is a `400`, another
/// content type a `415`; a body that is no object, or a missing, unknown or
/// mistyped field, is a `422` whose message names the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state).await.map_err(json_rejection)?;
        if !value.is_object() {
            return Err(ApiError::InvalidBody("the request body must be a JSON object".into()));
        }
        serde_path_to_error::deserialize(value).map(ApiJson).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner().to_string();
            ApiError::InvalidBody(if path == "." { inner } else { format!("{path}: {inner}") })
        })
    }
}

/// Reads a JSON number that is a whole number (`255` or `255.0`, both
/// integers to JSON Schema) into an `i64`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(value) = number.as_i64() {
        return Ok(value);
    }
    match number.as_f64() {
        Some(value) if value.fract() == 0.0 && value >= i64::MIN as f64 && value < i64::MAX as f64 => Ok(value as i64),
        _ => Err(serde::de::Error::custom(format!("{number} is not a whole number within 64 bits"))),
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        // serde_path_to_error's text: "platforms[1]: invalid type: …", "missing field `name`".
        JsonRejection::JsonDataError(e) => ApiError::InvalidBody(without_position(
            e.body_text().trim_start_matches("Failed to deserialize the JSON body into the target type: "),
        )),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
            "the request body is not valid JSON: {}",
            e.body_text().trim_start_matches("Failed to parse the request body as JSON: ")
        )),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedFormat("send the request body as JSON, with `Content-Type: application/json`".into())
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge("the request body is over the size limit".into())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Drops serde_json's " at line 1 column 42" from a message.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// Query parameters; a value of the wrong type is a `400` naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::BadRequest(
                rejection.body_text().trim_start_matches("Failed to deserialize query string: ").to_string(),
            )),
        }
    }
}

/// Path parameters; an ID that is not a number is a `400` naming the parameter.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let rejection = match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => return Ok(ApiPath(value)),
            Err(rejection) => rejection,
        };
        let raw = RawPathParams::from_request_parts(parts, state).await.ok();
        let key_at = |index: usize| raw.as_ref().and_then(|r| r.iter().nth(index)).map(|(k, _)| k.to_string());
        let key_of =
            |value: &str| raw.as_ref().and_then(|r| r.iter().find(|(_, v)| *v == value)).map(|(k, _)| k.to_string());
        let (key, value, expected) = match &rejection {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::ParseErrorAtKey { key, value, expected_type } => (Some(key.clone()), value, *expected_type),
                ErrorKind::ParseErrorAtIndex { index, value, expected_type } => (key_at(*index), value, *expected_type),
                ErrorKind::ParseError { value, expected_type } => (key_of(value), value, *expected_type),
                _ => return Err(ApiError::BadRequest(rejection.body_text())),
            },
            _ => return Err(ApiError::BadRequest(rejection.body_text())),
        };
        let expected = if expected.starts_with('i') || expected.starts_with('u') { "a number" } else { expected };
        let value: String = value.chars().take(40).collect();
        Err(ApiError::BadRequest(match key {
            Some(key) => format!("{key}: `{value}` in the path is not {expected}"),
            None => format!("`{value}` in the path is not {expected}"),
        }))
    }
}

/// The version a write is based on, from `If-Match: "5"` (also `W/"5"` or
/// `5`). Absent or `*`: the write is unconditional.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter();
        let Some(value) = values.next() else { return Ok(IfMatch(None)) };
        let invalid = |message: String| ApiError::InvalidHeader { header: "If-Match", message };
        if values.next().is_some() {
            return Err(invalid("send one If-Match header with one version".into()));
        }
        let raw = value.to_str().map_err(|_| invalid("is not readable text".into()))?.trim();
        if raw == "*" {
            return Ok(IfMatch(None));
        }
        parse_version(raw).map(|v| IfMatch(Some(v))).ok_or_else(|| {
            invalid(format!(
                "`{}` is not a version; send the ETag of the resource, e.g. \"5\"",
                raw.chars().take(40).collect::<String>()
            ))
        })
    }
}

fn parse_version(raw: &str) -> Option<i64> {
    let tag = raw.strip_prefix("W/").unwrap_or(raw);
    let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    tag.parse().ok()
}

/// The `ETag` of a resource at a version: `"5"`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a number is a valid header value")
}

/// A JSON response for a versioned resource, with its `ETag` (and
/// `Location` when it was just created).
pub struct Versioned<T> {
    status: StatusCode,
    version: i64,
    location: Option<String>,
    body: T,
}

impl<T> Versioned<T> {
    pub fn ok(version: i64, body: T) -> Self {
        Versioned { status: StatusCode::OK, version, location: None, body }
    }

    pub fn created(version: i64, location: String, body: T) -> Self {
        Versioned { status: StatusCode::CREATED, version, location: Some(location), body }
    }
}

impl<T: Serialize> IntoResponse for Versioned<T> {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, etag(self.version));
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        (self.status, headers, Json(self.body)).into_response()
    }
}

/// Headers of a write, for the OpenAPI document (read by [`IfMatch`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct WriteHeaders {
    /// The `ETag` the change is based on (`"5"`, `W/"5"` or `5`). When the
    /// resource has moved on, the write is refused with `412` and the
    /// current version. Without it the write is unconditional.
    #[param(rename = "If-Match")]
    if_match: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_strong_weak_and_bare_tags() {
        assert_eq!(parse_version("\"5\""), Some(5));
        assert_eq!(parse_version("W/\"12\""), Some(12));
        assert_eq!(parse_version("7"), Some(7));
        assert_eq!(parse_version("\"abc\""), None);
        assert_eq!(parse_version("-1"), None);
        assert_eq!(parse_version("\"\""), None);
    }

    #[test]
    fn positions_are_dropped_from_serde_messages() {
        assert_eq!(without_position("missing field `name` at line 1 column 2"), "missing field `name`");
        assert_eq!(without_position("name: is required"), "name: is required");
    }
}
