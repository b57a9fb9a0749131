//! The core every entry point opens: the database, the loaded ATLAS
//! releases, the turn writers take, the cached system snapshots, the
//! live-update hub and the cache of resolved principals. The server, every
//! command of the command line, the tests and the benchmarks open it with
//! [`Core::open`]; the web state ([`crate::app::AppState`]) adds only what
//! pages and the API need on top.

use std::sync::Arc;

use crate::atlas::Catalog;
use crate::auth::cache::PrincipalCache;
use crate::auth::oidc::IdentityProvider;
use crate::cluster::Relay;
use crate::db::Database;
use crate::live::LiveHub;
use crate::service::snapshot::SnapshotCache;
use crate::{db, releases};

/// What opening the core needs.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Where the data lives: a SQLite data directory or a PostgreSQL database.
    pub location: db::Location,
    /// The release shown when none is named; the bundled one when `None`.
    pub default_release: Option<String>,
    /// Create the database when the data directory has none (`serve`, `init`);
    /// otherwise a missing database is an error naming the directory.
    pub create: bool,
}

impl CoreConfig {
    /// A core that creates its database when there is none, on the bundled release.
    pub fn creating(location: db::Location) -> CoreConfig {
        CoreConfig { location, default_release: None, create: true }
    }
}

/// Everything use cases need, shared by every entry point; cheap to clone.
#[derive(Clone)]
pub struct Core {
    pub db: Database,
    pub catalog: Arc<Catalog>,
    /// Writers of this process take turns here before opening a write
    /// transaction (SQLite admits one writer at a time, and waiting in line
    /// here is cheaper than in SQLite's busy handler).
    pub writes: Arc<tokio::sync::Mutex<()>>,
    pub snapshots: Arc<SnapshotCache>,
    pub live: LiveHub,
    pub principals: Arc<PrincipalCache>,
    /// Hands what this process's caches are told to the other instances
    /// on the same PostgreSQL database ([`crate::cluster`]).
    pub relay: Relay,
    /// This process among the instances (its own notifications come back).
    pub origin: u64,
    /// Turns for CPU-heavy work on blocking threads (reading imported files),
    /// one per core, so a few large files cannot take the whole machine.
    pub heavy_work: Arc<tokio::sync::Semaphore>,
    /// The OpenID Connect provider people sign in through, when one is
    /// configured: sessions it started ask it again from time to time.
    pub identity: Option<Arc<IdentityProvider>>,
}

impl Core {
    /// Opens the database (applying migrations) and loads the releases.
    pub async fn open(config: &CoreConfig) -> anyhow::Result<Core> {
        let db = config.location.open(config.create).await?;
        let catalog = releases::load_catalog(&db, config.default_release.as_deref()).await?;
        let core = Core::new(db, Arc::new(catalog));
        crate::cluster::start(&core);
        Ok(core)
    }

    /// A core over an open database and a loaded catalog.
    pub fn new(db: Database, catalog: Arc<Catalog>) -> Core {
        let relay = Relay::default();
        let mut origin = [0u8; 8];
        // Two instances drawing the same number would ignore each other; a
        // failed draw falls back to the process id, unique on one host.
        let origin = match getrandom::fill(&mut origin) {
            Ok(()) => u64::from_le_bytes(origin),
            Err(_) => u64::from(std::process::id()),
        };
        Core {
            db,
            catalog,
            writes: Arc::new(tokio::sync::Mutex::new(())),
            snapshots: Arc::new(SnapshotCache::relaying(relay.clone())),
            live: LiveHub::new().relaying(relay.clone()),
            principals: Arc::new(PrincipalCache::relaying(relay.clone())),
            relay,
            origin,
            heavy_work: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            )),
            identity: None,
        }
    }

    /// The same core, signing people in through `provider`.
    pub fn with_identity_provider(mut self, provider: Arc<IdentityProvider>) -> Core {
        self.identity = Some(provider);
        self
    }
}

/// Today's date (UTC): the day risk acceptances are checked against. The
/// pure domain takes the day as an argument; this is where it is read.
pub fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}
