//! Third-party tools the tests drive: Python programs from the pinned
//! `tests/tools/requirements.txt`, installed on first use into a virtual
//! environment under `target/pytools` (reinstalled when the pins change).
//! Without Python they are skipped with a note, except under `CI`, where a
//! missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `bin` directory of the tools' virtual environment, or `None` (with a
/// note) where Python cannot be had outside CI.
pub fn python_tools() -> Option<&'static Path> {
    static TOOLS: OnceLock<Option<PathBuf>> = OnceLock::new();
    TOOLS.get_or_init(install).as_deref()
}

/// A script of `tests/tools`.
pub fn script(name: &str) -> PathBuf {
    manifest_dir().join("tests/tools").join(name)
}

fn unavailable(why: String) -> Option<PathBuf> {
    assert!(std::env::var_os("CI").is_none(), "CI is set but the Python test tools are unavailable: {why}");
    eprintln!("SKIPPED: the Python test tools are unavailable ({why}), so the tests driving them did not run");
    None
}

fn install() -> Option<PathBuf> {
    let requirements = manifest_dir().join("tests/tools/requirements.txt");
    let pins = std::fs::read_to_string(&requirements).expect("tests/tools/requirements.txt is readable");
    let venv = manifest_dir().join("target/pytools");
    // The PostgreSQL half of the suite runs this binary again beside this
    // one: one process installs while the other waits, then finds it done.
    let _ = std::fs::create_dir_all(manifest_dir().join("target"));
    let lock = std::fs::File::create(manifest_dir().join("target/pytools.lock")).expect("the install lock");
    lock.lock().expect("the install lock is taken");
    let stamp = venv.join("installed-requirements.txt");
    let bin = venv.join("bin");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == pins) && bin.join("python").exists() {
        return Some(bin);
    }
    let _ = std::fs::remove_dir_all(&venv);
    match Command::new("python3").args(["-m", "venv"]).arg(&venv).output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => {
            return unavailable(format!("python3 -m venv failed: {}", String::from_utf8_lossy(&output.stderr)));
        }
        Err(error) => return unavailable(format!("python3 cannot be run: {error}")),
    }
    eprintln!("installing the Python test tools into {} (once)", venv.display());
    let pip = Command::new(bin.join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"])
        .arg(&requirements)
        .output();
    match pip {
        Ok(output) if output.status.success() => {}
        Ok(output) => return unavailable(format!("pip install failed: {}", String::from_utf8_lossy(&output.stderr))),
        Err(error) => return unavailable(format!("pip cannot be run: {error}")),
    }
    std::fs::write(&stamp, pins).expect("the install is recorded");
    Some(bin)
}
