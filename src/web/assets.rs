//! Static assets embedded in the binary: the project's own `static/` files
//! and the npm-installed htmx files. Served under content-hashed URLs with
//! long cache lifetimes, ETags and pre-compressed gzip bodies.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, OnceLock};

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256, Sha384};

static STATIC_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");
const HTMX: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/npm/node_modules/htmx.org/dist/htmx.min.js"));
const HTMX_SSE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/npm/node_modules/htmx-ext-sse/dist/sse.min.js"));

pub struct Asset {
    pub body: &'static [u8],
    content_type: &'static str,
    etag: String,
    /// `sha384-…`, for the `integrity` attribute of script tags.
    pub integrity: String,
    /// The versioned URL pages link to.
    pub url: String,
    gzip: OnceLock<Vec<u8>>,
}

pub struct Assets {
    by_name: HashMap<String, Asset>,
}

static ASSETS: LazyLock<Assets> = LazyLock::new(Assets::load);

impl Assets {
    fn load() -> Self {
        let mut by_name = HashMap::new();
        let mut add = |name: &str, body: &'static [u8]| {
            let digest = Sha256::digest(body);
            let short: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            let integrity =
                format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body)));
            by_name.insert(
                name.to_string(),
                Asset {
                    body,
                    content_type: content_type(name),
                    etag: format!("\"{short}\""),
                    integrity,
                    url: format!("/static/{name}?v={short}"),
                    gzip: OnceLock::new(),
                },
            );
        };
        for file in STATIC_DIR.files() {
            if let Some(name) = file.path().to_str() {
                add(name, file.contents());
            }
        }
        for dir in STATIC_DIR.dirs() {
            for file in dir.files() {
                if let Some(name) = file.path().to_str() {
                    add(name, file.contents());
                }
            }
        }
        add("vendor/htmx.min.js", HTMX);
        add("vendor/htmx-ext-sse.min.js", HTMX_SSE);
        Assets { by_name }
    }
}

/// The embedded asset with this name (`app.css`, `vendor/htmx.min.js`).
pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.by_name.get(name)
}

/// The versioned URL of an asset; panics on a name the project does not ship.
pub fn url(name: &str) -> &'static str {
    &get(name).unwrap_or_else(|| panic!("no embedded asset {name}")).url
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /static/{*path}`
pub async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = get(&path) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        response_headers.insert(header::ETAG, etag);
    }
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == asset.etag));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    if accepts_gzip && asset.body.len() > 512 {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        return (response_headers, asset.gzip().to_vec()).into_response();
    }
    (response_headers, asset.body).into_response()
}

impl Asset {
    /// The gzip body, compressed once on first use.
    pub fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(self.body).expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        })
    }
}
