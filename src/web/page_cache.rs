//! Rendered bytes of pages that depend only on the loaded releases (the
//! unfiltered matrix), kept with a gzip copy so the most visited page costs
//! neither rendering nor compression. Entries are dropped when the catalog
//! changes.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
pub struct PageCache {
    entries: Mutex<HashMap<String, Arc<CachedPage>>>,
}

pub struct CachedPage {
    generation: u64,
    html: Bytes,
    gzip: Bytes,
}

impl PageCache {
    /// The page stored under `key` for this catalog generation, rendering it on a miss.
    pub fn get_or_render<E>(
        &self,
        key: &str,
        generation: u64,
        render: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<CachedPage>, E> {
        if let Some(page) = self.lock().get(key).filter(|p| p.generation == generation) {
            return Ok(page.clone());
        }
        let html = render()?;
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(html.len() / 4), flate2::Compression::best());
        encoder.write_all(html.as_bytes()).expect("writing to a Vec cannot fail");
        let gzip = encoder.finish().expect("writing to a Vec cannot fail");
        let page = Arc::new(CachedPage { generation, html: Bytes::from(html), gzip: Bytes::from(gzip) });
        self.lock().insert(key.to_string(), page.clone());
        Ok(page)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<CachedPage>>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl CachedPage {
    /// The HTML, gzip-encoded when the client accepts it.
    pub fn response(&self, request_headers: &HeaderMap) -> Response {
        let accepts_gzip = request_headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding, hx-request, hx-target"));
        if accepts_gzip {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (headers, self.gzip.clone()).into_response()
        } else {
            (headers, self.html.clone()).into_response()
        }
    }
}
