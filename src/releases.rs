//! Release management shared by the CLI, the pages and the API: building
//! the catalog at start-up (bundled release plus every stored import) and
//! importing an official file (read, check, persist, register).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::atlas::bundled::{self, BUNDLED_VERSION};
use crate::atlas::framework::Origin;
use crate::atlas::{Catalog, Framework, ReadError, read_release};
use crate::db::{self, Database};

#[derive(Debug, thiserror::Error)]
pub enum AddReleaseFailure {
    #[error(transparent)]
    Unreadable(#[from] ReadError),
    #[error("{file}: release {version} is already loaded{detail}")]
    AlreadyLoaded { file: String, version: String, detail: String },
    #[error("storing the release failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The reader's thread failed (a bug, never the file's fault).
    #[error("reading the release failed: {0}")]
    Reader(String),
}

/// Builds the catalog: the bundled release, then every stored import (an
/// import of the bundled version replaces it), then the chosen default.
pub async fn load_catalog(db: &Database, default_version: Option<&str>) -> anyhow::Result<Catalog> {
    let catalog = Catalog::new(bundled::framework());
    let summaries = bundled::summaries();
    for stored in db::releases::list(db).await? {
        let mut release = stored.release;
        bundled::apply_summaries(&mut release, &summaries);
        catalog.insert(Framework::new(
            release,
            Origin::Imported { imported_at: stored.imported_at, file: stored.file_name },
        ));
    }
    if let Some(version) = default_version
        && !catalog.set_default(version)
    {
        let known: Vec<String> = catalog.list().iter().map(|f| f.version().to_string()).collect();
        anyhow::bail!("the default release {version} is not loaded (loaded: {})", known.join(", "));
    }
    Ok(catalog)
}

/// Registers the releases stored since the catalog was built (for example
/// by `atlascope framework import` while a server runs); returns their
/// versions. An import of the bundled version replaces the bundled copy.
pub async fn pick_up_stored(db: &Database, catalog: &Catalog) -> anyhow::Result<Vec<String>> {
    let mut added = Vec::new();
    for version in db::releases::versions(db).await? {
        let known = catalog.get(&version).is_some_and(|f| f.origin != Origin::Bundled);
        if known {
            continue;
        }
        let Some(stored) = db::releases::get(db, &version).await? else { continue };
        let mut release = stored.release;
        bundled::apply_summaries(&mut release, &bundled::summaries());
        catalog.insert(Framework::new(
            release,
            Origin::Imported { imported_at: stored.imported_at, file: stored.file_name },
        ));
        added.push(version);
    }
    Ok(added)
}

/// [`add_release_file`] for a running server: the other instances on the
/// same database are told at once (they would otherwise find it at their
/// next look for stored releases).
pub async fn add_release(
    core: &crate::core::Core,
    bytes: &[u8],
    file: &str,
    version_override: Option<&str>,
) -> Result<Arc<Framework>, AddReleaseFailure> {
    let framework = add_release_file(&core.db, &core.catalog, bytes, file, version_override).await?;
    core.relay.send(crate::cluster::Signal::ReleasesStored);
    Ok(framework)
}

/// How often a server looks for releases stored by another process.
pub const STORED_RELEASES_POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// Adds a release from an official file. Nothing is stored or registered unless the
/// whole file reads and validates.
///
/// Adding the official file of the bundled release is allowed once: it
/// must hold the same facts, and it adds MITRE's full text.
pub async fn add_release_file(
    db: &Database,
    catalog: &Catalog,
    bytes: &[u8],
    file: &str,
    version_override: Option<&str>,
) -> Result<Arc<Framework>, AddReleaseFailure> {
    // Parsing a large file takes a while: off the async runtime.
    let (owned, name, version) = (bytes.to_vec(), file.to_string(), version_override.map(str::to_string));
    let mut release = tokio::task::spawn_blocking(move || read_release(&owned, &name, version.as_deref()))
        .await
        .map_err(|e| AddReleaseFailure::Reader(e.to_string()))??;
    if let Some(existing) = catalog.get(&release.version) {
        let upgrades_bundled = existing.origin == Origin::Bundled && release.version == BUNDLED_VERSION;
        if !upgrades_bundled {
            return Err(AddReleaseFailure::AlreadyLoaded {
                file: file.to_string(),
                version: release.version.clone(),
                detail: String::new(),
            });
        }
        if existing.release.facts_only() != release.facts_only() {
            return Err(AddReleaseFailure::AlreadyLoaded {
                file: file.to_string(),
                version: release.version.clone(),
                detail: " as the bundled release, and this file's facts differ from it; import it under another \
                         version name"
                    .to_string(),
            });
        }
    }
    let sha256 = hex(&Sha256::digest(bytes));
    let now = time::OffsetDateTime::now_utc();
    let imported_at = now.replace_nanosecond(0).unwrap_or(now);
    match db::releases::insert(db, &release, file, &sha256, imported_at).await {
        Ok(()) => {}
        // Another import of the same version won the race.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(AddReleaseFailure::AlreadyLoaded {
                file: file.to_string(),
                version: release.version.clone(),
                detail: String::new(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    bundled::apply_summaries(&mut release, &bundled::summaries());
    Ok(catalog.insert(Framework::new(release, Origin::Imported { imported_at, file: file.to_string() })))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
