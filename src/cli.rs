//! The command line: `serve` and the `framework` commands, all working on
//! the local data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{self, AppState};
use crate::atlas::bundled;
use crate::atlas::framework::Origin;
use crate::atlas::{Framework, diff, read_release};
use crate::{db, releases};

#[derive(Debug, Parser)]
#[command(name = "atlascope", version, about = "MITRE ATLAS coverage mapping for ML systems")]
pub struct Cli {
    /// Directory holding the SQLite database [default: $XDG_DATA_HOME/atlascope or ~/.local/share/atlascope]
    #[arg(long, global = true, env = "ATLASCOPE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (pages and REST API)
    Serve {
        /// Address and port to listen on
        #[arg(long, env = "ATLASCOPE_BIND", default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
        bind: SocketAddr,
        /// Release shown when none is named [default: the bundled 2026.05]
        #[arg(long, env = "ATLASCOPE_DEFAULT_RELEASE", value_name = "VERSION")]
        default_release: Option<String>,
    },
    /// Manage the loaded ATLAS releases
    #[command(subcommand)]
    Framework(FrameworkCommand),
}

#[derive(Debug, Subcommand)]
pub enum FrameworkCommand {
    /// Import an official ATLAS file (legacy YAML, calendar YAML or STIX JSON)
    Import {
        /// The file to import
        file: PathBuf,
        /// Name for the release (needed for STIX bundles, which state no version)
        #[arg(long = "as", value_name = "VERSION")]
        as_version: Option<String>,
    },
    /// List the loaded releases with their counts
    List,
    /// Show what changed between two releases (loaded versions or files)
    Diff {
        /// Older release: a loaded version or a file
        old: String,
        /// Newer release: a loaded version or a file
        new: String,
    },
    /// Write the facts of an official file as atlas-data JSON (for maintainers)
    #[command(hide = true)]
    ExportFacts {
        file: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// The data directory: the flag or variable, else the XDG data home.
pub fn data_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("atlascope");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/atlascope");
    }
    PathBuf::from("atlascope-data")
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = data_dir(cli.data_dir);
    match cli.command {
        Command::Serve { bind, default_release } => serve(&data_dir, bind, default_release.as_deref()).await,
        Command::Framework(command) => framework(&data_dir, command).await,
    }
}

async fn serve(data_dir: &Path, bind: SocketAddr, default_release: Option<&str>) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = db::open(data_dir).await?;
    let catalog = Arc::new(releases::load_catalog(&db, default_release).await?);
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener.local_addr()?;
    tracing::info!(
        %address,
        data_dir = %data_dir.display(),
        default_release = %catalog.default_version(),
        startup_ms = started.elapsed().as_millis() as u64,
        "atlascope is serving on http://{address}/"
    );
    app::serve(listener, AppState::new(db, catalog), app::shutdown_signal()).await?;
    Ok(())
}

async fn framework(data_dir: &Path, command: FrameworkCommand) -> anyhow::Result<()> {
    match command {
        FrameworkCommand::Import { file, as_version } => {
            let bytes = read_file(&file)?;
            let db = db::open(data_dir).await?;
            let catalog = releases::load_catalog(&db, None).await?;
            let name = display_name(&file);
            let framework = releases::import(&db, &catalog, &bytes, &name, as_version.as_deref()).await?;
            println!("Imported ATLAS release {}", framework.version());
            println!("  format: {}", framework.release.format.label());
            println!("  {}", framework.counts());
            println!("  stored in {}", data_dir.join(db::DATABASE_FILE).display());
        }
        FrameworkCommand::List => {
            let db = db::open(data_dir).await?;
            let catalog = releases::load_catalog(&db, None).await?;
            let default = catalog.default_version();
            for framework in catalog.list() {
                let origin = match &framework.origin {
                    Origin::Bundled => "bundled".to_string(),
                    Origin::Imported { imported_at, file } => {
                        format!("imported from {file} at {imported_at}")
                    }
                };
                let marker = if framework.version() == default { " (default)" } else { "" };
                println!("{}{marker}  [{}; {origin}]", framework.version(), framework.release.format.label());
                println!("  {}", framework.counts());
            }
        }
        FrameworkCommand::Diff { old, new } => {
            let db = db::open(data_dir).await?;
            let catalog = releases::load_catalog(&db, None).await?;
            let resolve = |name: &str| -> anyhow::Result<Arc<Framework>> {
                if let Some(framework) = catalog.get(name) {
                    return Ok(framework);
                }
                let path = Path::new(name);
                if path.is_file() {
                    let release = read_release(&read_file(path)?, &display_name(path), None)?;
                    return Ok(Arc::new(Framework::new(release, Origin::Bundled)));
                }
                let known: Vec<String> = catalog.list().iter().map(|f| f.version().to_string()).collect();
                anyhow::bail!("{name} is neither a loaded release ({}) nor a file", known.join(", "))
            };
            let (old, new) = (resolve(&old)?, resolve(&new)?);
            print_out(&diff::diff(&old, &new).to_string());
        }
        FrameworkCommand::ExportFacts { file, output } => {
            let release = read_release(&read_file(&file)?, &display_name(&file), None)?;
            std::fs::write(&output, bundled::facts_json(&release))
                .with_context(|| format!("cannot write {}", output.display()))?;
            println!("Wrote the facts of ATLAS {} to {}", release.version, output.display());
        }
    }
    Ok(())
}

/// Writes to stdout, ending quietly when the reader has gone (`| head`).
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if metadata.len() > crate::atlas::MAX_IMPORT_BYTES as u64 {
        anyhow::bail!(
            "{}: the file is {} bytes; the import limit is {} bytes",
            path.display(),
            metadata.len(),
            crate::atlas::MAX_IMPORT_BYTES
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}
