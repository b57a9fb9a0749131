//! Opening a PostgreSQL database: reading the URL, connecting, and applying
//! `migrations/postgres`. Every message names the server (host, port and
//! database) and the cause, and never the password.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::{Database, POSTGRES_MIGRATIONS, refuse_newer_schema};

/// The advisory lock key every write transaction takes (see
/// [`Database::begin_write`]); an arbitrary constant spelling "atlas".
pub(crate) const WRITE_TURN: i64 = 0x61_746c_6173;

/// The channel the instances on one database tell each other about changes on.
pub const CHANNEL: &str = "atlascope_changes";

/// A PostgreSQL transaction, with what it changed for the other instances.
pub struct PgTransaction {
    pub(crate) tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pub(crate) origin: u64,
    systems: std::collections::BTreeSet<i64>,
    teams: std::collections::BTreeSet<i64>,
}

impl std::fmt::Debug for PgTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTransaction").field("systems", &self.systems).field("teams", &self.teams).finish()
    }
}

impl PgTransaction {
    pub(crate) fn new(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> PgTransaction {
        PgTransaction { tx, origin: 0, systems: Default::default(), teams: Default::default() }
    }

    pub(crate) fn touches(&mut self, team_id: i64, system_id: Option<i64>) {
        match system_id {
            Some(system) => self.systems.insert(system),
            None => self.teams.insert(team_id),
        };
    }

    /// Commits; the notification of what changed is sent inside the
    /// transaction, so PostgreSQL delivers it exactly when the commit lands.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        if !self.systems.is_empty() || !self.teams.is_empty() {
            let payload = crate::cluster::stale_payload(
                self.origin,
                std::mem::take(&mut self.systems).into_iter().collect(),
                std::mem::take(&mut self.teams).into_iter().collect(),
            );
            sqlx::query("select pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut *self.tx).await?;
        }
        self.tx.commit().await
    }
}

/// A PostgreSQL database named by a `postgres://` URL, parsed.
#[derive(Clone)]
pub struct PostgresTarget {
    options: PgConnectOptions,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresTarget({self})")
    }
}

impl std::fmt::Display for PostgresTarget {
    /// `host:port/database`, never the user's password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let database = self.options.get_database().unwrap_or(self.options.get_username());
        write!(f, "{}:{}/{}", self.options.get_host(), self.options.get_port(), database)
    }
}

impl PostgresTarget {
    /// Whether `url` names a PostgreSQL database rather than a SQLite file.
    pub fn is_postgres_url(url: &str) -> bool {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
    }

    /// Reads a `postgres://user:password@host:port/database` URL.
    pub fn parse(url: &str) -> anyhow::Result<PostgresTarget> {
        if !PostgresTarget::is_postgres_url(url) {
            anyhow::bail!("the database URL must start with postgres:// or postgresql:// (got `{}`)", scheme_of(url));
        }
        let options = PgConnectOptions::from_str(url).map_err(|error| {
            anyhow::anyhow!("the database URL for {} is malformed: {}", host_of(url), without_url(&error.to_string()))
        })?;
        Ok(PostgresTarget { options: options.application_name("atlascope") })
    }

    pub(crate) fn options(&self) -> &PgConnectOptions {
        &self.options
    }
}

/// Connects to the database and applies the migrations. With `create`
/// false, a database atlascope has never set up is refused, as a missing
/// SQLite file is (a mistyped URL must not be set up by accident).
pub async fn open_postgres(target: &PostgresTarget, create: bool) -> anyhow::Result<Database> {
    // One connection first: a pool retries a refused connection until its
    // timeout and then reports only the timeout, not why.
    let probe = target.options().connect().await.map_err(|error| connect_error(target, &error))?;
    probe.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(target.options().clone())
        .await
        .map_err(|error| connect_error(target, &error))?;
    let set_up: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(&pool)
        .await
        .map_err(|error| connect_error(target, &error))?;
    if set_up {
        let newest: Option<i64> =
            sqlx::query_scalar("select max(version) from _sqlx_migrations").fetch_one(&pool).await?;
        refuse_newer_schema(newest, &POSTGRES_MIGRATIONS)
            .map_err(|error| anyhow::anyhow!("PostgreSQL at {target}: {error}"))?;
    } else if !create {
        anyhow::bail!(
            "PostgreSQL at {target} holds no atlascope database; check --database-url (or ATLASCOPE_DATABASE_URL), \
             or set it up with `atlascope init` or by starting `atlascope serve`"
        );
    }
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .map_err(|error| anyhow::anyhow!("cannot apply migrations to PostgreSQL at {target}: {error}"))?;
    Ok(Database::Postgres(pool))
}

/// Why connecting failed, in words that name the server and not the password.
fn connect_error(target: &PostgresTarget, error: &sqlx::Error) -> anyhow::Error {
    let cause = match error {
        sqlx::Error::Database(database) => match database.code().as_deref() {
            Some("28P01") | Some("28000") => format!("the server refused the credentials ({})", database.message()),
            Some("3D000") => format!("no such database ({})", database.message()),
            _ => database.message().to_string(),
        },
        // rustls reports a refused certificate as invalid data on the socket.
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => format!("TLS failed ({io})"),
        sqlx::Error::Io(io) => format!("cannot reach the server ({io})"),
        sqlx::Error::PoolTimedOut => "no connection within 10 seconds".to_string(),
        sqlx::Error::Tls(tls) => format!("TLS failed ({tls})"),
        other => without_url(&other.to_string()),
    };
    anyhow::anyhow!("cannot connect to PostgreSQL at {target}: {cause}")
}

/// The scheme of a URL, for a message about the wrong one.
fn scheme_of(url: &str) -> &str {
    url.split_once("://").map_or("no scheme", |(scheme, _)| scheme)
}

/// The host part of a URL as written, without user or password.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.is_empty() { "an unnamed host".to_string() } else { host.to_string() }
}

/// A driver message with any URL it quotes cut out (it could hold a password).
fn without_url(message: &str) -> String {
    message
        .split_whitespace()
        .map(|word| if word.contains("://") { "<url>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_names_host_port_and_database_but_never_the_password() {
        let target = PostgresTarget::parse("postgres://ops:s3cret@db.internal:6543/atlas").expect("parses");
        assert_eq!(target.to_string(), "db.internal:6543/atlas");
        assert!(!format!("{target:?}").contains("s3cret"));
    }

    #[test]
    fn a_malformed_url_names_the_host_and_not_the_password() {
        let error = PostgresTarget::parse("postgres://ops:s3cret@db.internal:notaport/atlas").expect_err("bad port");
        let message = error.to_string();
        assert!(message.contains("db.internal"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        let error = PostgresTarget::parse("mysql://ops:s3cret@db/atlas").expect_err("wrong scheme");
        assert!(error.to_string().contains("postgres://"), "{error}");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
