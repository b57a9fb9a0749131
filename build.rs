//! Build script: installs the pinned front-end packages (htmx and its SSE
//! extension, and axe-core for the browser tests) from the npm registry into
//! `OUT_DIR`, so the binary can embed htmx without any third-party script
//! being kept in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

const NPM_FILES: [&str; 2] = ["package.json", "package-lock.json"];
const REQUIRED_ASSETS: [&str; 3] = [
    "node_modules/htmx.org/dist/htmx.min.js",
    "node_modules/htmx-ext-sse/dist/sse.min.js",
    "node_modules/axe-core/axe.min.js",
];

fn main() {
    for path in ["migrations", "atlas-data", "static", "templates", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed={path}");
    }
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    install_front_end_packages(&manifest_dir, &out_dir.join("npm"));
}

fn install_front_end_packages(manifest_dir: &Path, npm_dir: &Path) {
    fs::create_dir_all(npm_dir).expect("create OUT_DIR/npm");
    let mut lock_changed = false;
    for name in NPM_FILES {
        let wanted = fs::read(manifest_dir.join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
        let target = npm_dir.join(name);
        if fs::read(&target).ok().as_deref() != Some(wanted.as_slice()) {
            fs::write(&target, &wanted).expect("copy npm manifest into OUT_DIR");
            lock_changed = true;
        }
    }
    let complete = REQUIRED_ASSETS.iter().all(|asset| npm_dir.join(asset).is_file());
    if complete && !lock_changed {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(npm_dir)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "atlascope embeds htmx from the npm registry, but `npm` could not be run ({e}). \
                 Install Node.js and npm (Debian: apt-get install nodejs npm) and build again."
            )
        });
    assert!(status.success(), "`npm ci` failed in {}: {status}", npm_dir.display());
    for asset in REQUIRED_ASSETS {
        assert!(npm_dir.join(asset).is_file(), "npm ci did not produce {asset}");
    }
}
