//! The releases loaded side by side, each known by its version string, with
//! one marked as the default. Shared by every request; imports add to it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::framework::Framework;
use super::model::compare_versions;

/// The alias that always names the default release in URLs and the API.
pub const DEFAULT_ALIAS: &str = "default";

#[derive(Debug)]
pub struct Catalog {
    state: RwLock<State>,
    /// Bumped on every change, so caches of rendered pages know they are stale.
    generation: AtomicU64,
}

#[derive(Debug)]
struct State {
    releases: BTreeMap<String, Arc<Framework>>,
    default: String,
}

impl Catalog {
    pub fn new(default: Framework) -> Self {
        let version = default.version().to_string();
        let mut releases = BTreeMap::new();
        releases.insert(version.clone(), Arc::new(default));
        Catalog { state: RwLock::new(State { releases, default: version }), generation: AtomicU64::new(0) }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Looks a release up by version; `default` names the default release.
    pub fn get(&self, version: &str) -> Option<Arc<Framework>> {
        let state = self.read();
        let version = if version == DEFAULT_ALIAS { state.default.as_str() } else { version };
        state.releases.get(version).cloned()
    }

    pub fn default_release(&self) -> Arc<Framework> {
        let state = self.read();
        state.releases[&state.default].clone()
    }

    pub fn default_version(&self) -> String {
        self.read().default.clone()
    }

    pub fn contains(&self, version: &str) -> bool {
        self.get(version).is_some()
    }

    /// All releases, newest version first.
    pub fn list(&self) -> Vec<Arc<Framework>> {
        let mut all: Vec<_> = self.read().releases.values().cloned().collect();
        all.sort_by(|a, b| compare_versions(b.version(), a.version()));
        all
    }

    /// Adds or replaces a release.
    pub fn insert(&self, framework: Framework) -> Arc<Framework> {
        let framework = Arc::new(framework);
        self.write().releases.insert(framework.version().to_string(), framework.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        framework
    }

    /// Changes whenever a release is added or the default changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Makes a loaded release the default; false when it is not loaded.
    pub fn set_default(&self, version: &str) -> bool {
        let mut state = self.write();
        if state.releases.contains_key(version) {
            state.default = version.to_string();
            self.generation.fetch_add(1, Ordering::AcqRel);
            true
        } else {
            false
        }
    }
}
