//! A small client of atlascope's own REST API, for the command line's
//! `--server` mode: plain HTTP/1.1 with a bearer token; an error answer is
//! read back from its JSON body.

use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// An atlascope server reached over HTTP.
pub struct ApiClient {
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Empty<Bytes>>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: String,
}

#[derive(Deserialize)]
struct ListedSystem {
    id: i64,
    name: String,
    team_id: i64,
}

impl ApiClient {
    /// A client of the server at `server` (`http://host:port`); HTTPS is not supported.
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Self> {
        let base = server.trim().trim_end_matches('/').to_string();
        if base.starts_with("https://") {
            bail!("--server: only plain http:// is supported; reach an HTTPS server through a local tunnel or proxy");
        }
        if !base.starts_with("http://") || base.len() <= "http://".len() {
            bail!("--server: `{base}` is not a URL of the form http://host:port");
        }
        Ok(ApiClient { base, token, http: Client::builder(TokioExecutor::new()).build_http() })
    }

    /// GETs a path under `/api/v1` (with its query) and returns the body of a `2xx` answer.
    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}/api/v1{path_and_query}", self.base);
        let mut request = Request::get(&url);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.trim()));
        }
        let request = request.body(Empty::new()).with_context(|| format!("{url} is not a valid URL"))?;
        let response = tokio::time::timeout(TIMEOUT, self.http.request(request))
            .await
            .with_context(|| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))?
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let body = tokio::time::timeout(TIMEOUT, response.into_body().collect())
            .await
            .with_context(|| format!("{url}: the answer did not complete within {} s", TIMEOUT.as_secs()))?
            .with_context(|| format!("{url}: the answer broke off"))?
            .to_bytes();
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|e| e.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(300).collect());
        let hint = match status {
            StatusCode::UNAUTHORIZED if self.token.is_none() => " (give a token with --token or ATLASCOPE_TOKEN)",
            _ => "",
        };
        bail!("the server answered {status}: {message}{hint}")
    }

    /// The ID of a system named by its ID or its name (any case), among the systems the token may see.
    pub async fn system_id(&self, name_or_id: &str) -> anyhow::Result<i64> {
        let wanted = name_or_id.trim();
        let systems: Vec<ListedSystem> =
            serde_json::from_slice(&self.get("/systems").await?).context("the server's list of systems")?;
        if let Ok(id) = wanted.parse::<i64>()
            && systems.iter().any(|s| s.id == id)
        {
            return Ok(id);
        }
        let named: Vec<&ListedSystem> = systems.iter().filter(|s| s.name.eq_ignore_ascii_case(wanted)).collect();
        match named.as_slice() {
            [one] => Ok(one.id),
            [] => bail!("the server has no system with the ID or name `{wanted}` that this token may see"),
            several => {
                let ids: Vec<String> = several.iter().map(|s| format!("{} (team {})", s.id, s.team_id)).collect();
                bail!("{} systems are called `{wanted}`: IDs {}; give the ID", several.len(), ids.join(", "))
            }
        }
    }
}
