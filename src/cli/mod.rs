//! The command line: `serve`, the `framework`, `user`, `token`, `backup`,
//! `restore`, `upgrade` and `detections` commands on the local data
//! directory, and `report gaps` and `check`, which also work against a
//! server's API (`--server`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::{self, AppState};
use crate::atlas::bundled;
use crate::atlas::framework::Origin;
use crate::atlas::model::compare_versions;
use crate::atlas::{Framework, read_release};
use crate::auth::oidc::IdentityProvider;
use crate::auth::setup::SetupState;
use crate::client::ApiClient;
use crate::core::{Core, CoreConfig};
use crate::domain::release_diff as diff;
use crate::reports::ReportFormat;
use crate::service::reports::{self as report_service, ReportRequest};
use crate::{db, releases};

mod copy;
mod detections;
mod identity;
mod upgrade;

#[derive(Debug, Parser)]
#[command(name = "atlascope", version, about = "MITRE ATLAS coverage mapping for ML systems")]
pub struct Cli {
    /// Directory holding the SQLite database [default: $XDG_DATA_HOME/atlascope or ~/.local/share/atlascope]
    #[arg(long, global = true, env = "ATLASCOPE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A PostgreSQL database (postgres://user:password@host:port/name) to use instead of the SQLite file in the
    /// data directory; several servers can share one
    #[arg(long, global = true, env = "ATLASCOPE_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy everything (teams, systems, decisions, history, accounts, sessions, tokens, releases) into an empty
    /// database, then check that every table holds as many rows as the source
    Copy {
        /// The source: a postgres:// URL, or a data directory (sqlite:DIR or a path)
        #[arg(long, value_name = "URL")]
        from: String,
        /// The target, which must hold no atlascope data: a postgres:// URL, or a data directory
        #[arg(long, value_name = "URL")]
        to: String,
    },
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
        /// The address people use to reach the server (https://atlas.example.org), when it is not
        /// its bind address: first-run set-up is offered under its host name
        #[arg(long, env = "ATLASCOPE_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
        #[command(flatten)]
        identity: Box<identity::IdentityArgs>,
    },
    /// Create the database in the data directory (`serve` also creates it on first start)
    Init,
    /// Manage the loaded ATLAS releases
    #[command(subcommand)]
    Framework(FrameworkCommand),
    /// Manage accounts
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Write a consistent copy of the database to FILE (safe while the server runs)
    Backup {
        /// Where to write the copy; must not exist yet
        file: PathBuf,
    },
    /// Replace the database with a backup (stop the server first)
    Restore {
        /// A file written by `atlascope backup`
        file: PathBuf,
    },
    /// Move an installation between back ends
    #[command(subcommand)]
    Db(DbCommand),
    /// Write gap reports
    #[command(subcommand)]
    Report(ReportCommand),
    /// Move a system's map, or every system of a team, to another ATLAS release:
    /// prints what carries over, needs review, retires or is new; --apply does it
    Upgrade {
        /// The system: its ID or its name
        #[arg(long, value_name = "NAME-or-ID", required_unless_present = "team", conflicts_with = "team")]
        system: Option<String>,
        /// Every system of this team: its ID or its name
        #[arg(long, value_name = "NAME-or-ID")]
        team: Option<String>,
        /// The loaded release to move to
        #[arg(long, value_name = "VERSION")]
        to: String,
        /// A successor of your choice for a retired technique, over the proposal (repeatable)
        #[arg(long = "successor", value_name = "OLD=NEW")]
        successors: Vec<String>,
        /// Apply the upgrade (without it, only the preview is printed)
        #[arg(long)]
        apply: bool,
    },
    /// Keep a team's detections: import Sigma rules, list them
    #[command(subcommand)]
    Detections(detections::DetectionsCommand),
    /// Check a system's coverage for a CI gate: prints a short summary and
    /// exits non-zero when the system falls short
    Check {
        /// The system: its ID or its name
        #[arg(long, value_name = "NAME-or-ID")]
        system: String,
        /// Lowest acceptable coverage, 0 to 100 (a system where nothing applies yet has none and fails unless this is 0)
        #[arg(long, value_name = "PERCENT")]
        min_coverage: f64,
        /// Also fail while any open gap is on a technique ATLAS rates as realized (seen in real attacks)
        #[arg(long)]
        no_realized_gaps: bool,
        /// Also fail while the system is pinned to a release older than this one (e.g. 2026.05)
        #[arg(long, value_name = "VERSION")]
        require_release: Option<String>,
        /// Also fail while a newer release than the system's is loaded
        #[arg(long)]
        fail_if_behind: bool,
        /// Also fail while any risk acceptance of the system has expired (it counts as a gap again)
        #[arg(long)]
        fail_on_expired_acceptances: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Write a system's gap report: ranked gaps, recommendations, case-study lens
    Gaps {
        /// The system: its ID or its name
        #[arg(long, value_name = "NAME-or-ID")]
        system: String,
        /// html (self-contained), md, csv, json, navigator (an ATLAS Navigator layer) or
        /// navigator-zip (a zip of layers)
        #[arg(long, default_value = "md", value_parser = ReportFormat::parse)]
        format: ReportFormat,
        /// Navigator layer format: 4.5, or 4.3 for the ATLAS Navigator
        #[arg(long, default_value = "4.5", value_parser = crate::reports::navigator::LayerVersion::parse)]
        layer_version: crate::reports::navigator::LayerVersion,
        /// Write to FILE instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

/// Run a command against a server's API instead of the local database.
#[derive(Debug, clap::Args)]
pub struct RemoteArgs {
    /// Ask this atlascope server (http://host:port) instead of the local database
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (see `atlascope token create`)
    #[arg(long, env = "ATLASCOPE_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input
    Add {
        /// User name (letters, digits, . - _ @)
        username: String,
        /// Name shown in pages and the history [default: the user name]
        #[arg(long, default_value = "")]
        display_name: String,
        /// Make the account a site administrator
        #[arg(long)]
        admin: bool,
    },
    /// List accounts
    List,
    /// Lift the sign-in delay that failed attempts put on a user name, from every address
    Unlock {
        /// The user name
        username: String,
    },
    /// Stop an account from signing in (with a password or through the identity provider),
    /// ending its sessions and refusing its API tokens
    Disable {
        /// The user name
        username: String,
    },
    /// Let a disabled account sign in again
    Enable {
        /// The user name
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for an account and print it once
    Create {
        /// The account the token acts for
        username: String,
        /// A name to recognise the token by
        #[arg(long)]
        name: String,
        /// Allow changes (the default is read-only)
        #[arg(long)]
        write: bool,
        /// Limit the token to one team
        #[arg(long, value_name = "TEAM_ID")]
        team: Option<i64>,
        /// Days until the token expires
        #[arg(long, default_value_t = 90)]
        days: i64,
    },
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

/// The exit code of a failed command: `check` tells "the system falls
/// short" (1) from "the check could not run" (2); other commands exit 1.
pub fn exit_code(command_was_check: bool, error: &anyhow::Error) -> u8 {
    match (command_was_check, error.is::<FallsShort>()) {
        (true, false) => 2,
        _ => 1,
    }
}

impl Cli {
    pub fn is_check(&self) -> bool {
        matches!(self.command, Command::Check { .. })
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = data_dir(cli.data_dir);
    let store = db::Location::from_options(data_dir.clone(), cli.database_url.as_deref())
        .context("--database-url (or ATLASCOPE_DATABASE_URL)")?;
    match cli.command {
        Command::Serve { bind, default_release, public_url, identity } => {
            serve(&store, bind, default_release.as_deref(), public_url.as_deref(), &identity).await
        }
        Command::Init => init(&store).await,
        Command::Framework(command) => framework(&store, command).await,
        Command::User(command) => user(&store, command).await,
        Command::Token(command) => token(&store, command).await,
        Command::Backup { file } => backup(&store, &file).await,
        Command::Restore { file } => restore(&store, &file).await,
        Command::Db(DbCommand::Copy { from, to }) => copy::run(&from, &to).await,
        Command::Report(ReportCommand::Gaps { system, format, layer_version, output, remote }) => {
            report_gaps(&store, &system, (format, layer_version), output.as_deref(), remote).await
        }
        Command::Detections(command) => detections::run(&store, command).await,
        Command::Upgrade { system, team, to, successors, apply } => {
            upgrade::upgrade(&store, system.as_deref(), team.as_deref(), to, &successors, apply).await
        }
        Command::Check {
            system,
            min_coverage,
            no_realized_gaps,
            require_release,
            fail_if_behind,
            fail_on_expired_acceptances,
            remote,
        } => {
            let gate =
                Gate { min_coverage, no_realized_gaps, require_release, fail_if_behind, fail_on_expired_acceptances };
            check(&store, &system, gate, remote).await
        }
    }
}

/// `init`: creates the database (or brings an existing one up to date).
async fn init(store: &db::Location) -> anyhow::Result<()> {
    let existed = match store {
        db::Location::SqliteDir(dir) => dir.join(db::DATABASE_FILE).is_file(),
        db::Location::Postgres(_) => store.open(false).await.is_ok(),
    };
    store.open(true).await?.close().await;
    let verb = if existed { "is up to date" } else { "created" };
    println!("atlascope database {verb}: {store}");
    Ok(())
}

/// The core over the local database, for commands that use the services;
/// the data directory must hold a database already.
async fn local_core(store: &db::Location) -> anyhow::Result<Core> {
    Core::open(&CoreConfig { location: store.clone(), default_release: None, create: false }).await
}

async fn user(store: &db::Location, command: UserCommand) -> anyhow::Result<()> {
    let state = local_core(store).await?;
    match command {
        UserCommand::Add { username, display_name, admin } => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password).context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let id = crate::service::accounts::create_user(&state, &username, &display_name, password, admin).await?;
            println!("Created {} {username} (id {id})", if admin { "administrator" } else { "user" });
        }
        UserCommand::Unlock { username } => {
            let cleared = crate::service::accounts::unblock_sign_in(&state, &username).await?;
            println!("Cleared the failed sign-ins of {username} from {cleared} address(es)");
        }
        UserCommand::Disable { username } => {
            let user = crate::service::accounts::user_named(&state, &username).await?;
            crate::service::accounts::set_disabled(&state, None, user.id, true).await?;
            println!("Disabled {username}: its sessions ended and its API tokens are refused");
        }
        UserCommand::Enable { username } => {
            let user = crate::service::accounts::user_named(&state, &username).await?;
            crate::service::accounts::set_disabled(&state, None, user.id, false).await?;
            println!("Enabled {username}");
        }
        UserCommand::List => {
            for user in crate::service::accounts::users(&state).await? {
                let role = if user.is_admin { "administrator" } else { "user" };
                let created = crate::domain::records::format_timestamp(user.created_at);
                let how = match &user.provider {
                    Some(identity) => format!("signs in through {}", identity.issuer),
                    None => "password".to_string(),
                };
                let disabled = if user.disabled_at.is_some() { "; disabled" } else { "" };
                println!("{}  {}  [{role}; {how}; created {created}{disabled}]", user.username, user.display_name);
            }
        }
    }
    state.relay.flush().await;
    Ok(())
}

async fn token(store: &db::Location, command: TokenCommand) -> anyhow::Result<()> {
    let state = local_core(store).await?;
    match command {
        TokenCommand::Create { username, name, write, team, days } => {
            let user = crate::service::accounts::user_named(&state, &username).await?;
            let scope = if write { crate::auth::TokenScope::Write } else { crate::auth::TokenScope::Read };
            let token = crate::service::accounts::create_token(&state, user.id, &name, scope, team, days).await?;
            eprintln!(
                "API token {name} for {username} ({}); shown only now:",
                if write { "read-write" } else { "read-only" }
            );
            println!("{}", token.secret);
        }
    }
    state.relay.flush().await;
    Ok(())
}

/// A consistent copy of the database, even while the server writes.
async fn backup(store: &db::Location, file: &Path) -> anyhow::Result<()> {
    if file.exists() {
        anyhow::bail!("{} exists already; choose a new file", file.display());
    }
    let db = store.open(false).await?;
    db::backup::write(&db, file).await?;
    println!("Backed up {store} to {}", file.display());
    Ok(())
}

/// Checks the backup, then puts it in place of the database in one rename.
/// Refused while a server runs on the data directory: it would go on with
/// the old database and acknowledge writes the restore then loses.
async fn restore(store: &db::Location, file: &Path) -> anyhow::Result<()> {
    let Some(data_dir) = store.sqlite_dir() else {
        anyhow::bail!(
            "`atlascope restore` puts back a SQLite backup; restore PostgreSQL with pg_restore (see the README), \
             or copy a SQLite database into it with `atlascope db copy`"
        );
    };
    std::fs::create_dir_all(data_dir)?;
    let _no_server = db::ServerLock::acquire(data_dir).context("cannot restore while the server runs")?;
    let migrations = db::backup::check(file).await?;
    let database = db::backup::install(data_dir, file)?;
    println!("Restored {} ({migrations} migrations applied) into {}", file.display(), database.display());
    Ok(())
}

/// The host name of a public URL (`https://atlas.example.org:8443/` → `atlas.example.org`).
fn public_host(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .with_context(|| format!("--public-url: `{url}` must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    if host.is_empty() || authority.contains('@') {
        anyhow::bail!("--public-url: `{url}` names no host");
    }
    Ok(host.to_ascii_lowercase())
}

async fn serve(
    store: &db::Location,
    bind: SocketAddr,
    default_release: Option<&str>,
    public_url: Option<&str>,
    identity: &identity::IdentityArgs,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let public_names = public_url.map(public_host).transpose()?.into_iter().collect();
    let provider = identity.settings(public_url, bind)?.map(IdentityProvider::new).transpose()?.map(Arc::new);
    // One server per SQLite file; PostgreSQL is shared by design.
    let _lock = match store.sqlite_dir() {
        Some(data_dir) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
            Some(db::ServerLock::acquire(data_dir)?)
        }
        None => None,
    };
    let config =
        CoreConfig { location: store.clone(), default_release: default_release.map(str::to_string), create: true };
    let mut core = Core::open(&config).await?;
    if let Some(provider) = provider {
        core = identity::signing_in_through(core, provider).await?;
    }
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener.local_addr()?;
    let has_admin = crate::service::accounts::has_administrator(&core).await?;
    let setup = SetupState::new(has_admin).with_names(public_names);
    if !has_admin {
        let code = setup.issue_code();
        tracing::warn!(
            "no administrator yet: until one exists only the set-up page is served. Open http://{address}/setup \
             from this machine, or from elsewhere with the one-time set-up code {code}; or run \
             `atlascope user add NAME --admin`"
        );
    }
    tracing::info!(
        %address,
        database = %store,
        default_release = %core.catalog.default_version(),
        startup_ms = started.elapsed().as_millis() as u64,
        "atlascope is serving on http://{address}/"
    );
    let mut state = AppState::new(core, setup);
    state.local_sign_in = !identity.disable_local_sign_in;
    app::serve(listener, state, app::shutdown_signal()).await?;
    Ok(())
}

async fn framework(store: &db::Location, command: FrameworkCommand) -> anyhow::Result<()> {
    match command {
        FrameworkCommand::Import { file, as_version } => {
            let bytes = read_file(&file)?;
            let db = store.open(false).await?;
            let catalog = releases::load_catalog(&db, None).await?;
            let name = display_name(&file);
            let framework = releases::add_release_file(&db, &catalog, &bytes, &name, as_version.as_deref()).await?;
            println!("Imported ATLAS release {}", framework.version());
            println!("  format: {}", framework.release.format.label());
            println!("  {}", framework.counts());
            println!("  stored in {store}");
        }
        FrameworkCommand::List => {
            let db = store.open(false).await?;
            let catalog = releases::load_catalog(&db, None).await?;
            let default = catalog.default_version();
            for framework in catalog.list() {
                let origin = match &framework.origin {
                    Origin::Bundled => "bundled".to_string(),
                    Origin::Imported { imported_at, file } => {
                        format!("imported from {file} at {}", crate::domain::records::format_timestamp(*imported_at))
                    }
                };
                let marker = if framework.version() == default { " (default)" } else { "" };
                println!("{}{marker}  [{}; {origin}]", framework.version(), framework.release.format.label());
                println!("  {}", framework.counts());
            }
        }
        FrameworkCommand::Diff { old, new } => {
            let db = store.open(false).await?;
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
    if metadata.len() > crate::atlas::MAX_RELEASE_BYTES as u64 {
        anyhow::bail!(
            "{}: the file is {} bytes; the import limit is {} bytes",
            path.display(),
            metadata.len(),
            crate::atlas::MAX_RELEASE_BYTES
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

// ---------------------------------------------------------------- reports and checks

/// `report gaps`: a system's gap report, from the local database or a server.
async fn report_gaps(
    store: &db::Location,
    system: &str,
    (format, layer_version): (ReportFormat, crate::reports::navigator::LayerVersion),
    output: Option<&Path>,
    remote: RemoteArgs,
) -> anyhow::Result<()> {
    let (bytes, name) = match remote.server {
        Some(server) => {
            let client = ApiClient::new(&server, remote.token)?;
            let id = client.system_id(system).await?;
            let query =
                format!("/systems/{id}/gaps?format={}&layer_version={}", format.as_str(), layer_version.as_str());
            (client.get(&query).await?, format!("system {id}"))
        }
        None => {
            let state = local_core(store).await?;
            let found = crate::service::systems::find(&state, system).await?;
            let data = report_service::for_system(&state, found.id).await?;
            let request = ReportRequest { layer_version, ..ReportRequest::new(format) };
            (report_service::render(data, request).await?.bytes, found.name)
        }
    };
    match output {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("Wrote the gap report of {name} ({} bytes) to {}", bytes.len(), path.display());
        }
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            // A reader that went away (`| head`) ends the output quietly.
            let _ = out.write_all(&bytes).and_then(|()| out.flush());
        }
    }
    Ok(())
}

/// What `check` reads from a system's JSON gap report.
#[derive(Debug, serde::Deserialize)]
struct CheckedReport {
    overall: CheckedFigures,
    open_gaps: usize,
    systems: Vec<CheckedSystem>,
    gaps: Vec<CheckedGap>,
}

#[derive(Debug, serde::Deserialize)]
struct CheckedFigures {
    coverage_percent: Option<f64>,
    assessed_percent: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct CheckedSystem {
    name: String,
    framework_version: String,
}

#[derive(Debug, serde::Deserialize)]
struct CheckedGap {
    technique_id: String,
    technique_name: String,
    maturity: Option<crate::atlas::model::Maturity>,
}

/// `check`: prints the system's figures and fails when it falls short.
/// What `check` requires of a system.
struct Gate {
    min_coverage: f64,
    no_realized_gaps: bool,
    require_release: Option<String>,
    fail_if_behind: bool,
    fail_on_expired_acceptances: bool,
}

/// The check ran and the system falls short of it (exit code 1; any other
/// failure of `check` exits with 2).
#[derive(Debug, thiserror::Error)]
#[error("{0} falls short of the check")]
pub struct FallsShort(String);

/// A release listed by `GET /api/v1/frameworks`.
#[derive(Debug, serde::Deserialize)]
struct ListedRelease {
    version: String,
}

async fn check(store: &db::Location, system: &str, gate: Gate, remote: RemoteArgs) -> anyhow::Result<()> {
    let min_coverage = gate.min_coverage;
    if !(0.0..=100.0).contains(&min_coverage) {
        anyhow::bail!("--min-coverage: {min_coverage} is not a percentage from 0 to 100");
    }
    if let Some(required) = &gate.require_release
        && !crate::atlas::read::is_valid_version_label(required)
    {
        anyhow::bail!("--require-release: `{required}` is not a release version (for example 2026.05)");
    }
    let (json, loaded, deadlines) = match remote.server {
        Some(server) => {
            let client = ApiClient::new(&server, remote.token)?;
            let id = client.system_id(system).await?;
            let json =
                client.get(&format!("/systems/{id}/gaps?format=json&techniques=false&recommendations=0")).await?;
            let releases: Vec<ListedRelease> = serde_json::from_slice(&client.get("/frameworks").await?)
                .context("the server's list of releases could not be read")?;
            let deadlines = client.get(&format!("/systems/{id}/deadlines?within=0")).await?;
            (json, releases.into_iter().map(|r| r.version).collect::<Vec<_>>(), deadlines)
        }
        None => {
            let state = local_core(store).await?;
            let found = crate::service::systems::find(&state, system).await?;
            let data = report_service::for_system(&state, found.id).await?;
            let request =
                ReportRequest { recommendations: 0, json_techniques: false, ..ReportRequest::new(ReportFormat::Json) };
            let loaded = state.catalog.list().iter().map(|f| f.version().to_string()).collect();
            let deadlines = serde_json::to_vec(&crate::service::deadlines::for_system(&state, found.id, 0).await?)?;
            (report_service::render(data, request).await?.bytes, loaded, deadlines)
        }
    };
    let no_realized_gaps = gate.no_realized_gaps;
    let report: CheckedReport = serde_json::from_slice(&json).context("the gap report could not be read")?;
    let checked = report.systems.first().context("the gap report names no system")?;
    let realized: Vec<&CheckedGap> =
        report.gaps.iter().filter(|g| g.maturity == Some(crate::atlas::model::Maturity::Realized)).collect();
    let coverage = report.overall.coverage_percent;
    let shown = |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1}%"));
    println!(
        "{} (ATLAS {}): coverage {}, assessed {}, {} open gap(s), {} on realized techniques",
        checked.name,
        checked.framework_version,
        shown(coverage),
        shown(report.overall.assessed_percent),
        report.open_gaps,
        realized.len()
    );
    let mut failures = Vec::new();
    match coverage {
        Some(value) if value + 1e-9 >= min_coverage => {
            println!("PASS coverage {value:.1}% meets the minimum of {min_coverage}%")
        }
        Some(value) => failures.push(format!("coverage {value:.1}% is below the minimum of {min_coverage}%")),
        None if min_coverage <= 0.0 => println!("PASS no coverage yet (nothing assessed applies), minimum 0%"),
        None => failures.push(format!(
            "no coverage yet: no assessed technique applies, so the minimum of {min_coverage}% is not met"
        )),
    }
    if no_realized_gaps {
        if realized.is_empty() {
            println!("PASS no open gap on a realized technique");
        } else {
            let named: Vec<String> =
                realized.iter().map(|g| format!("{} {}", g.technique_id, g.technique_name)).collect();
            failures.push(format!("{} open gap(s) on realized techniques: {}", realized.len(), named.join(", ")));
        }
    }
    let pinned = checked.framework_version.as_str();
    if let Some(required) = &gate.require_release {
        if compare_versions(pinned, required).is_lt() {
            failures.push(format!("pinned to ATLAS {pinned}, older than the required {required}"));
        } else {
            println!("PASS pinned to ATLAS {pinned}, at least the required {required}");
        }
    }
    if gate.fail_if_behind {
        let newest = loaded.iter().max_by(|a, b| compare_versions(a, b)).map(String::as_str).unwrap_or(pinned);
        if compare_versions(pinned, newest).is_lt() {
            failures.push(format!("pinned to ATLAS {pinned} while {newest} is loaded; upgrade the system"));
        } else {
            println!("PASS pinned to ATLAS {pinned}, the newest loaded release");
        }
    }
    if gate.fail_on_expired_acceptances {
        let deadlines: Vec<crate::service::deadlines::DeadlineRead> =
            serde_json::from_slice(&deadlines).context("the system's deadlines could not be read")?;
        let expired: Vec<String> = deadlines
            .iter()
            .filter(|d| d.expired && d.kind == "acceptance")
            .map(|d| format!("{} {} (last day {})", d.item, d.name, d.due))
            .collect();
        if expired.is_empty() {
            println!("PASS no risk acceptance has expired");
        } else {
            failures.push(format!("{} risk acceptance(s) expired: {}", expired.len(), expired.join(", ")));
        }
    }
    for failure in &failures {
        println!("FAIL {failure}");
    }
    if failures.is_empty() { Ok(()) } else { Err(FallsShort(checked.name.clone()).into()) }
}
