//! Application wiring: shared state, the router with its middleware stack,
//! and serving on a listener with graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::limiter::RateLimiter;
use crate::auth::setup::SetupState;
use crate::core::Core;
use crate::web::page_cache::PageCache;
use crate::{api, server, web};

/// The state of the web server: the [`Core`] every entry point shares, and
/// what only pages and the API need. Cheap to clone. It dereferences to the
/// core, so handlers hand it to use cases that ask for a `&Core`.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    /// The rendered unfiltered matrix pages.
    pub pages: Arc<PageCache>,
    pub setup: Arc<SetupState>,
    /// Sign-in attempts (and invalid bearer tokens) per client address.
    pub login_limiter: Arc<RateLimiter>,
    /// API requests per caller.
    pub api_limiter: Arc<RateLimiter>,
    /// Sign-ins through the identity provider started per client address.
    pub provider_limiter: Arc<RateLimiter>,
    /// Whether accounts may sign in with a password (`serve
    /// --disable-local-sign-in` leaves only the identity provider).
    pub local_sign_in: bool,
}

impl std::ops::Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

impl AppState {
    /// Builds the web state over a core and starts the task that renders
    /// live updates. Must be called inside a Tokio runtime.
    pub fn new(core: Core, setup: SetupState) -> Self {
        let state = AppState {
            core,
            pages: Arc::new(PageCache::default()),
            setup: Arc::new(setup),
            login_limiter: Arc::new(RateLimiter::new(LOGIN_ATTEMPTS_PER_MINUTE / 60.0, LOGIN_BURST)),
            api_limiter: Arc::new(RateLimiter::new(API_REQUESTS_PER_SECOND, API_BURST)),
            provider_limiter: Arc::new(RateLimiter::new(PROVIDER_SIGN_INS_PER_MINUTE / 60.0, PROVIDER_SIGN_IN_BURST)),
            local_sign_in: true,
        };
        tokio::spawn(crate::web::workshop::render_live_updates(state.clone()));
        tokio::spawn(pick_up_stored_releases(state.core.clone()));
        tokio::spawn(crate::cluster::follow(state.core.clone()));
        state
    }
}

/// Serves the releases another process stores (`atlascope framework
/// import` beside a running server) without a restart, until shutdown.
async fn pick_up_stored_releases(core: Core) {
    let mut closing = core.live.watch_closing();
    let mut tick = tokio::time::interval(crate::releases::STORED_RELEASES_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = closing.changed() => return,
        }
        if *closing.borrow() {
            return;
        }
        match crate::releases::pick_up_stored(&core.db, &core.catalog).await {
            Ok(added) => {
                for version in added {
                    tracing::info!(version, "a release stored by another process is now served");
                }
            }
            Err(error) => tracing::warn!(%error, "could not look for newly stored releases"),
        }
    }
}

/// Sign-in attempts allowed per client address: a burst, then this many a minute.
pub const LOGIN_BURST: u32 = 10;
pub const LOGIN_ATTEMPTS_PER_MINUTE: f64 = 10.0;
/// Sign-ins through the identity provider started per client address: a
/// burst, then this many a minute. Each keeps a small row for ten minutes;
/// a workshop room behind one address must all get in at once.
pub const PROVIDER_SIGN_IN_BURST: u32 = 60;
pub const PROVIDER_SIGN_INS_PER_MINUTE: f64 = 60.0;
/// API requests allowed per caller: a burst, then this many a second.
pub const API_BURST: u32 = 600;
pub const API_REQUESTS_PER_SECOND: f64 = 200.0;

/// The Content-Security-Policy of every response: no inline script or
/// style, nothing from other origins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

pub fn router(state: AppState) -> Router {
    let security_headers = (
        SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        SetResponseHeaderLayer::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    );
    Router::new()
        .merge(web::router())
        .nest("/api", api::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard))
        .fallback(web::not_found)
        .layer((
            TraceLayer::new_for_http().make_span_with(request_span),
            axum::middleware::from_fn(finish_response),
            CatchPanicLayer::new(),
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)),
            CompressionLayer::new().quality(CompressionLevel::Fastest),
            security_headers,
            // Refuses state-changing requests a browser sends from another site.
            tower_http::csrf::CsrfLayer::new(),
            axum::middleware::from_fn(run_writes_to_completion),
            tower_http::limit::RequestBodyLimitLayer::new(crate::atlas::MAX_RELEASE_BYTES + 64 * 1024),
        ))
        .with_state(state)
}

/// A failure the server must look into, attached to its answer by the
/// error types of pages and the API; [`finish_response`] logs it once.
#[derive(Clone)]
pub struct FailureReport(pub Arc<anyhow::Error>);

/// The sentence an error answer says to a person, attached by the page
/// errors; an htmx request gets it as the whole answer, to show where the
/// person acted.
#[derive(Clone)]
pub struct ShownMessage(pub String);

/// What every response gets on its way out: its failure logged once; HSTS
/// when the request came over HTTPS; under `/api` the documented JSON error
/// body on a failure answered before any handler ran (body over the limit,
/// timeout, panic), which the layers below write as plain text; and for an
/// htmx request that failed, the message alone as text, which the page
/// shows beside the control that sent it.
async fn finish_response(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let https = crate::auth::served_over_https(request.headers());
    let api = request.uri().path().starts_with("/api/");
    let htmx = web::is_htmx(request.headers());
    let method = request.method().clone();
    let path = shown_path(request.uri().path()).to_string();
    let mut response = next.run(request).await;
    let status = response.status();
    if let Some(FailureReport(error)) = response.extensions_mut().remove::<FailureReport>() {
        tracing::error!(%method, path, status = status.as_u16(), error = ?error, "request failed");
    }
    let json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if api && (status.is_client_error() || status.is_server_error()) && !json {
        let mut headers = std::mem::take(response.headers_mut());
        for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
            headers.remove(name);
        }
        response = api::error_for_status(status);
        response.headers_mut().extend(headers);
    }
    if htmx && let Some(ShownMessage(message)) = response.extensions_mut().remove::<ShownMessage>() {
        let mut headers = std::mem::take(response.headers_mut());
        for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING] {
            headers.remove(name);
        }
        response = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message).into_response();
        response.headers_mut().extend(headers);
    }
    if https {
        response
            .headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    response
}

/// Runs every state-changing request in a task of its own. A client that
/// leaves (a closed laptop, a reloaded tab) or the request timeout drops the
/// request's future; a write must then still complete or roll back as a
/// whole (row, history, cache, live update), never stop half-way.
async fn run_writes_to_completion(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "a write request's task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The log span of a request. It names the route, never the query string or
/// a secret in the path (invite codes), and no header (cookies, tokens).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %shown_path(request.uri().path()))
}

/// A request path as the log may show it: invite codes are secrets.
fn shown_path(path: &str) -> &str {
    if path.starts_with("/join/") { "/join/{code}" } else { path }
}

/// Serves until `shutdown` completes, then ends every live stream and drains
/// open requests, within the default [`server::Limits`].
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, server::Limits::default(), shutdown).await
}

/// [`serve`] with its connection limits given.
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    limits: server::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let live = state.live.clone();
    let shutdown = async move {
        shutdown.await;
        // Open event streams would keep their connections busy for ever.
        live.close();
    };
    server::serve(listener, router(state), limits, shutdown).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::web::WebError;

    /// Collects what the log writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_failure_is_logged_once_with_its_route_and_never_shown_to_the_person() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _log = tracing::subscriber::set_default(subscriber);
        let router: Router = Router::new()
            .route(
                "/broken",
                axum::routing::get(|| async { WebError::Internal(anyhow::anyhow!("disk on fire")).into_response() }),
            )
            .layer(axum::middleware::from_fn(finish_response));
        for htmx in [false, true] {
            let mut request = Request::get("/broken");
            if htmx {
                request = request.header("hx-request", "true");
            }
            let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            let body = String::from_utf8_lossy(&body);
            assert!(!body.contains("disk on fire"), "the cause stays in the log: {body}");
            assert_eq!(body.contains("<html"), !htmx, "a page, or one sentence for htmx: {body}");
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(log.matches("disk on fire").count(), 2, "once per failed request: {log}");
        assert!(log.contains("path=\"/broken\"") && log.contains("status=500"), "{log}");
    }
}
