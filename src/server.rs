//! The HTTP server: accepts connections and serves the router over HTTP/1.1
//! with the limits a server facing a network needs, which `axum::serve`
//! does not set:
//!
//! - a connection must send a whole request head within [`Limits::header_timeout`]
//!   (a slow or silent client is closed), and a kept-alive connection that
//!   starts no new request within that time is closed too;
//! - at most [`Limits::max_connections`] connections are open at once, kept
//!   below the process's open-file limit; past it, new connections wait in
//!   the listen queue until one closes;
//! - on shutdown it stops accepting, lets requests in flight finish and
//!   closes idle connections, and returns after [`Limits::drain_timeout`]
//!   whatever is still open.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tower::ServiceExt;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub drain_timeout: Duration,
}

/// Open files kept free for the database, logs and imports.
const RESERVED_FILES: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: open_file_limit().map_or(960, |limit| limit.saturating_sub(RESERVED_FILES).max(16)),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// The process's soft limit on open files, where the system says (Linux).
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Serves `router` on `listener` until `shutdown` completes, then drains
/// (see the module documentation).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, _) = watch::channel(false);
    // Every connection task holds a sender; when all are gone, all are closed.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let mut closing = closing.subscribe();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "connection ended with an error");
                        }
                        break;
                    }
                    changed = closing.changed(), if !*closing.borrow() => {
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop((slot, open));
        });
    }
    drop(listener);
    closing.send_replace(true);
    drop(open_tx);
    if tokio::time::timeout(limits.drain_timeout, open_rx.recv()).await.is_err() {
        tracing::warn!(
            seconds = limits.drain_timeout.as_secs(),
            "connections were still open when the shutdown time ran out; closing them"
        );
    }
    Ok(())
}
