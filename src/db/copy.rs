//! Copying an installation between back ends (`atlascope db copy`): every
//! table, row by row with its ids, into an empty database in one
//! transaction, then the row counts of both sides compared. The column
//! types come from the PostgreSQL side's schema, which names times, days,
//! flags and JSON that SQLite stores as plain values.

use std::collections::BTreeMap;

use sqlx::Row;

use super::value::{DayParam, DayText, JsonParam, JsonText, TimeParam, TimeText};
use super::{Database, Exec, Tx, on_backend};
use crate::domain::records::parse_timestamp;

/// Every table, parents before the rows that refer to them, and the columns
/// that order its rows (so ids and history come out as they went in).
const TABLES: &[(&str, &str)] = &[
    ("framework_releases", "version"),
    ("teams", "id"),
    ("users", "id"),
    ("systems", "id"),
    ("invites", "id"),
    ("participants", "id"),
    ("sessions", "id_hash"),
    ("provider_sign_ins", "state_hash"),
    ("api_tokens", "id"),
    ("memberships", "team_id, user_id"),
    ("sign_in_failures", "username, address"),
    ("assessments", "system_id, technique_id"),
    ("mitigation_statuses", "system_id, mitigation_id"),
    ("controls", "id"),
    ("control_techniques", "control_id, technique_id"),
    ("control_statuses", "system_id, control_id"),
    ("risk_acceptances", "system_id, technique_id"),
    ("history", "id"),
    ("review_flags", "system_id, technique_id"),
    ("team_snapshots", "id"),
    ("detections", "id"),
    ("detection_techniques", "detection_id, technique_id"),
    ("detection_statuses", "system_id, technique_id"),
];

/// Tables whose ids come from an identity column on PostgreSQL: after a copy
/// its sequence must continue after the highest copied id.
const IDENTITY_TABLES: &[&str] = &[
    "teams",
    "users",
    "systems",
    "invites",
    "participants",
    "api_tokens",
    "controls",
    "history",
    "team_snapshots",
    "detections",
];

/// How a column is stored, as the PostgreSQL schema declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Text,
    Flag,
    Time,
    Day,
    Json,
}

impl Kind {
    fn of(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            "bigint" | "integer" | "smallint" => Kind::Integer,
            "text" | "character varying" => Kind::Text,
            "boolean" => Kind::Flag,
            "timestamp with time zone" => Kind::Time,
            "date" => Kind::Day,
            "jsonb" | "json" => Kind::Json,
            _ => return None,
        })
    }
}

/// One stored value on its way between the back ends.
enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Flag(Option<bool>),
    Time(Option<TimeParam>),
    Day(Option<DayParam>),
    Json(Option<JsonParam>),
}

/// How many rows each table holds, by table.
pub type Counts = BTreeMap<&'static str, i64>;

/// Copies everything in `from` into `to`, which must be empty. Exactly one
/// of them is PostgreSQL (between two SQLite files use `backup` and
/// `restore`; between two PostgreSQL databases, `pg_dump`). Nothing is
/// written to `to` unless every row copies.
pub async fn copy(from: &Database, to: &Database) -> anyhow::Result<Counts> {
    let postgres = match (from, to) {
        (Database::Postgres(pool), Database::Sqlite(_)) | (Database::Sqlite(_), Database::Postgres(pool)) => pool,
        (Database::Sqlite(_), Database::Sqlite(_)) => {
            anyhow::bail!("both are SQLite: copy a SQLite database with `atlascope backup` and `atlascope restore`")
        }
        (Database::Postgres(_), Database::Postgres(_)) => {
            anyhow::bail!("both are PostgreSQL: copy between PostgreSQL databases with pg_dump and pg_restore")
        }
    };
    let columns = column_kinds(postgres).await?;
    let target_counts = counts(to).await?;
    if let Some((table, rows)) = target_counts.iter().find(|(_, rows)| **rows > 0) {
        anyhow::bail!("the target already holds data ({table}: {rows} rows); copy only into an empty database");
    }
    let mut source = from.begin_read().await?;
    let mut target = to.begin_write().await?;
    let mut copied = Counts::new();
    for &(table, order) in TABLES {
        let table_columns =
            columns.get(table).ok_or_else(|| anyhow::anyhow!("the PostgreSQL schema has no table {table}"))?;
        let rows = read_table(&mut source, table, order, table_columns).await?;
        copied.insert(table, rows.len() as i64);
        write_table(&mut target, table, table_columns, rows).await?;
    }
    if let Database::Postgres(_) = to {
        for table in IDENTITY_TABLES {
            let sql = format!(
                "select setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) from {table}"
            );
            on_backend!(Exec::from(&mut target), e => sqlx::query(&sql).execute(e).await.map(|_| ()))?;
        }
    }
    target.commit().await?;
    source.rollback().await?;
    let written = counts(to).await?;
    for (table, rows) in &copied {
        let landed = written.get(table).copied().unwrap_or(0);
        if landed != *rows {
            anyhow::bail!("{table}: read {rows} rows but the target holds {landed}");
        }
    }
    Ok(copied)
}

/// How many rows each table holds.
pub async fn counts(db: &Database) -> anyhow::Result<Counts> {
    let mut counts = Counts::new();
    for &(table, _) in TABLES {
        let sql = format!("select count(*) from {table}");
        let rows: i64 = on_backend!(Exec::from(db), e => sqlx::query_scalar(&sql).fetch_one(e).await)?;
        counts.insert(table, rows);
    }
    Ok(counts)
}

/// The columns of every table with how each is stored; refuses a schema
/// with a table the copy does not know (a newer migration must add it here).
async fn column_kinds(pool: &sqlx::PgPool) -> anyhow::Result<BTreeMap<String, Vec<(String, Kind)>>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text, data_type::text from information_schema.columns \
         where table_schema = current_schema() and table_name <> '_sqlx_migrations' \
         order by table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
    for (table, column, data_type) in rows {
        let kind = Kind::of(&data_type)
            .ok_or_else(|| anyhow::anyhow!("{table}.{column}: the copy does not know the type {data_type}"))?;
        tables.entry(table).or_default().push((column, kind));
    }
    if let Some(unknown) = tables.keys().find(|table| !TABLES.iter().any(|(known, _)| known == table)) {
        anyhow::bail!("the table {unknown} is not in the copy's list; this atlascope cannot copy it");
    }
    Ok(tables)
}

async fn read_table(
    source: &mut Tx,
    table: &'static str,
    order: &str,
    columns: &[(String, Kind)],
) -> anyhow::Result<Vec<Vec<Value>>> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let sql = format!("select {} from {table} order by {order}", names.join(", "));
    let mut values = Vec::new();
    match Exec::from(source) {
        Exec::Sqlite(connection) => {
            for row in sqlx::query(&sql).fetch_all(connection).await? {
                values.push(read_row(&row, table, columns)?);
            }
        }
        Exec::Postgres(connection) => {
            for row in sqlx::query(&sql).fetch_all(connection).await? {
                values.push(read_row(&row, table, columns)?);
            }
        }
        Exec::SqlitePool(_) | Exec::PostgresPool(_) => anyhow::bail!("the copy reads inside a transaction"),
    }
    Ok(values)
}

/// One row's values, read by the column's kind on either back end.
fn read_row<R>(row: &R, table: &'static str, columns: &[(String, Kind)]) -> anyhow::Result<Vec<Value>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<TimeText>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<DayText>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<JsonText>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    columns
        .iter()
        .enumerate()
        .map(|(index, (name, kind))| {
            let unreadable = |error: sqlx::Error| anyhow::anyhow!("{table}.{name}: {error}");
            Ok(match kind {
                Kind::Integer => Value::Integer(row.try_get(index).map_err(unreadable)?),
                Kind::Text => Value::Text(row.try_get(index).map_err(unreadable)?),
                Kind::Flag => Value::Flag(row.try_get(index).map_err(unreadable)?),
                Kind::Time => Value::Time(
                    row.try_get::<Option<TimeText>, _>(index)
                        .map_err(unreadable)?
                        .map(|raw| parse_timestamp(&raw).map(TimeParam).ok_or_else(|| not_a(table, name, &raw, "time")))
                        .transpose()?,
                ),
                Kind::Day => Value::Day(
                    row.try_get::<Option<DayText>, _>(index)
                        .map_err(unreadable)?
                        .map(|raw| {
                            time::Date::parse(&raw, &time::macros::format_description!("[year]-[month]-[day]"))
                                .map(DayParam)
                                .map_err(|_| not_a(table, name, &raw, "day"))
                        })
                        .transpose()?,
                ),
                Kind::Json => Value::Json(
                    row.try_get::<Option<JsonText>, _>(index)
                        .map_err(unreadable)?
                        .map(|raw| JsonParam(raw.to_string())),
                ),
            })
        })
        .collect()
}

/// A stored value that does not read as what its column holds.
fn not_a(table: &str, column: &str, raw: &str, what: &str) -> anyhow::Error {
    anyhow::anyhow!("{table}.{column}: `{raw}` is not a {what}")
}

async fn write_table(
    target: &mut Tx,
    table: &'static str,
    columns: &[(String, Kind)],
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let sql = format!("insert into {table} ({}) values ({})", names.join(", "), placeholders.join(", "));
    for row in rows {
        on_backend!(Exec::from(&mut *target), e => {
            let mut query = sqlx::query(&sql);
            for value in row {
                query = match value {
                    Value::Integer(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                    Value::Flag(v) => query.bind(v),
                    Value::Time(v) => query.bind(v),
                    Value::Day(v) => query.bind(v),
                    Value::Json(v) => query.bind(v),
                };
            }
            query.execute(e).await.map(|_| ())
        })
        .map_err(|error| anyhow::anyhow!("cannot copy a row of {table}: {error}"))?;
    }
    Ok(())
}
