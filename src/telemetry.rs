//! Logging: `tracing` to stderr, filtered by `RUST_LOG`.
//!
//! Whatever `RUST_LOG` asks for, a few library targets that would write
//! request URIs (which may carry an invite code) stay at `info`: no secret
//! is ever written to the log.

use tracing_subscriber::EnvFilter;

/// Targets kept at `info` or quieter because they log full URIs.
const URI_LOGGING_TARGETS: [&str; 1] = ["tower_http::csrf"];

pub fn init() {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("atlascope=info,tower_http=warn"));
    for target in URI_LOGGING_TARGETS {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
