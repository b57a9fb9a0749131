//! The append-only change history.

use sqlx::FromRow;

use super::value::{JsonParam, JsonText, TimeParam, TimeText};
use super::{Exec, Tx, decode_error, decode_time, decode_word, on_backend, time_param};
use crate::domain::history::{Entity, HistoryEntry, Recorded};
use crate::domain::records::Timestamp;

#[derive(FromRow)]
struct EntryRow {
    id: i64,
    team_id: i64,
    system_id: Option<i64>,
    actor: String,
    at: TimeText,
    entity: String,
    item: String,
    summary: String,
    before: Option<JsonText>,
    after: Option<JsonText>,
    batch: Option<i64>,
}

impl TryFrom<EntryRow> for HistoryEntry {
    type Error = sqlx::Error;

    fn try_from(row: EntryRow) -> Result<HistoryEntry, sqlx::Error> {
        let key = format!("id {}", row.id);
        let entity = decode_word(Entity::parse, &row.entity, "history", &key, "entity")?;
        let record = |json: Option<JsonText>, column: &'static str| {
            json.map(|json| {
                Recorded::decode(entity, &json).map_err(|e| {
                    decode_error("history", &key, column, format!("not a {} record: {e}", entity.as_str()))
                })
            })
            .transpose()
        };
        Ok(HistoryEntry {
            at: decode_time(&row.at, "history", &key, "at")?,
            before: record(row.before, "before")?,
            after: record(row.after, "after")?,
            id: row.id,
            team_id: row.team_id,
            system_id: row.system_id,
            actor: row.actor,
            entity,
            item: row.item,
            summary: row.summary,
            batch: row.batch,
        })
    }
}

/// An entry to append.
pub struct NewEntry<'a> {
    pub team_id: i64,
    pub system_id: Option<i64>,
    pub actor: &'a str,
    pub at: Timestamp,
    pub entity: Entity,
    pub item: &'a str,
    pub summary: &'a str,
    pub before: Option<&'a Recorded>,
    pub after: Option<&'a Recorded>,
    pub batch: Option<i64>,
}

const COLUMNS: &str = "id, team_id, system_id, actor, at, entity, item, summary, before, after, batch";

pub async fn append(tx: &mut Tx, entry: NewEntry<'_>) -> Result<i64, sqlx::Error> {
    tx.touches(entry.team_id, entry.system_id);
    let at = time_param(entry.at);
    let (before, after) = (entry.before.map(|r| JsonParam(r.encode())), entry.after.map(|r| JsonParam(r.encode())));
    on_backend!(Exec::from(tx), e => sqlx::query_scalar(
        "insert into history (team_id, system_id, actor, at, entity, item, summary, before, after, batch)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
    )
    .bind(entry.team_id)
    .bind(entry.system_id)
    .bind(entry.actor)
    .bind(at)
    .bind(entry.entity.as_str())
    .bind(entry.item)
    .bind(entry.summary)
    .bind(&before)
    .bind(&after)
    .bind(entry.batch)
    .fetch_one(e)
    .await)
}

/// The id the next entry will get: the entries of one bulk action carry it
/// as their batch (the history is append-only, so it cannot be set after).
/// Safe only while the caller holds the write lock.
pub async fn next_id(tx: &mut Tx) -> Result<i64, sqlx::Error> {
    on_backend!(Exec::from(tx), e => sqlx::query_scalar("select coalesce(max(id), 0) + 1 from history")
        .fetch_one(e)
        .await)
}

fn decode_all(rows: Vec<EntryRow>) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    rows.into_iter().map(HistoryEntry::try_from).collect()
}

/// A system's history, newest first; narrowed to one item when given.
pub async fn for_system(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    item: Option<&str>,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    // Two statements rather than `($2 is null or item = $2)`, which keeps
    // SQLite from using the (system_id, item, id) index.
    let rows: Vec<EntryRow> = match item {
        Some(item) => {
            let sql =
                format!("select {COLUMNS} from history where system_id = $1 and item = $2 order by id desc limit $3");
            on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).bind(item).bind(limit).fetch_all(e).await)?
        }
        None => {
            let sql = format!("select {COLUMNS} from history where system_id = $1 order by id desc limit $2");
            on_backend!(db.into(), e => sqlx::query_as(&sql).bind(system_id).bind(limit).fetch_all(e).await)?
        }
    };
    decode_all(rows)
}

/// Which entries of a system's history to read.
#[derive(Debug, Default, Clone)]
pub struct HistoryQuery {
    /// Only changes to these techniques, mitigations or controls (any item when empty).
    pub items: Vec<String>,
    /// Only changes by this person (compared without regard to case).
    pub actor: Option<String>,
    /// Only changes at or after this moment.
    pub from: Option<Timestamp>,
    /// Only changes before this moment.
    pub until: Option<Timestamp>,
    /// Only entries older than this one (the next page).
    pub before_id: Option<i64>,
}

/// A value a history search compares with.
enum SearchParam {
    Text(String),
    Time(TimeParam),
}

/// A system's history narrowed by `query`, newest first.
pub async fn search(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    query: &HistoryQuery,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let mut sql = format!("select {COLUMNS} from history where system_id = $1");
    let mut params: Vec<SearchParam> = Vec::new();
    let mut next = 2;
    let mut placeholder = |sql: &mut String, clause: &str| {
        sql.push_str(&clause.replace('?', &format!("${next}")));
        next += 1;
    };
    if !query.items.is_empty() {
        sql.push_str(" and item in (");
        for (i, item) in query.items.iter().enumerate() {
            placeholder(&mut sql, if i == 0 { "?" } else { ", ?" });
            params.push(SearchParam::Text(item.clone()));
        }
        sql.push(')');
    }
    if let Some(actor) = &query.actor {
        placeholder(&mut sql, " and lower(actor) = lower(?)");
        params.push(SearchParam::Text(actor.clone()));
    }
    if let Some(from) = query.from {
        placeholder(&mut sql, " and at >= ?");
        params.push(SearchParam::Time(time_param(from)));
    }
    if let Some(until) = query.until {
        placeholder(&mut sql, " and at < ?");
        params.push(SearchParam::Time(time_param(until)));
    }
    let before = query.before_id.unwrap_or(i64::MAX);
    placeholder(&mut sql, " and id < ?");
    placeholder(&mut sql, " order by id desc limit ?");
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => {
        let mut q = sqlx::query_as(&sql).bind(system_id);
        for param in &params {
            q = match param {
                SearchParam::Text(text) => q.bind(text),
                SearchParam::Time(at) => q.bind(at),
            };
        }
        q.bind(before).bind(limit).fetch_all(e).await
    })?;
    decode_all(rows)
}

/// The newest `limit` entries of a system about any of `items`, newest
/// first, in one statement of indexed lookups (one per item, each through
/// the (system, item, id) index): a plain `item in (…)` makes SQLite walk
/// the system's whole history in id order instead.
pub async fn recent_for_items(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    items: &[String],
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let limit_at = items.len() + 2;
    let lookups: Vec<String> = (0..items.len())
        .map(|i| {
            format!(
                "select * from (select {COLUMNS} from history where system_id = $1 and item = ${} \
                 order by id desc limit ${limit_at}) as lookup{i}",
                i + 2
            )
        })
        .collect();
    let sql =
        format!("select {COLUMNS} from ({}) as recent order by id desc limit ${limit_at}", lookups.join(" union all "));
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => {
        let mut query = sqlx::query_as(&sql).bind(system_id);
        for item in items {
            query = query.bind(item);
        }
        query.bind(limit).fetch_all(e).await
    })?;
    decode_all(rows)
}

/// Everything that shaped a system's coverage up to `until` (all of it
/// when `None`), oldest first: its own entries and its team's control
/// definitions. A replay needs only what each entry recorded after the
/// change, so the `before` records, the actor and the summary are not read.
///
/// The entries come back packed by the database into one JSON array:
/// materialising ten thousand rows value by value costs more than the
/// replay itself, and one text value of the same entries a third of that.
pub async fn timeline(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    team_id: i64,
    until: Option<Timestamp>,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let mut db = db.into();
    let sql = if db.is_postgres() {
        let packed = "jsonb_build_array(id, team_id, system_id, \
                      to_char(at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), entity, item, after, batch)";
        format!(
            "select coalesce(jsonb_agg(entry order by id), '[]'::jsonb)::text from (\
             select id, {packed} as entry from history where system_id = $1 and at <= $3 \
             union all select id, {packed} as entry from history \
             where system_id is null and team_id = $2 and entity = 'control' and at <= $3) as entries"
        )
    } else {
        let packed = "json_array(id, team_id, system_id, at, entity, item, json(after), batch)";
        format!(
            "select coalesce(json_group_array(json(entry) order by id), '[]') from (\
             select id, {packed} as entry from history where system_id = $1 and at <= $3 \
             union all select id, {packed} as entry from history \
             where system_id is null and team_id = $2 and entity = 'control' and at <= $3)"
        )
    };
    let until = time_param(until.unwrap_or(END_OF_TIME));
    let text: String = on_backend!(db.reborrow(), e => sqlx::query_scalar(&sql)
        .bind(system_id)
        .bind(team_id)
        .bind(until)
        .fetch_one(e)
        .await)?;
    unpack(&text, system_id)
}

/// Later than any entry: the bound of a timeline read to the end.
const END_OF_TIME: Timestamp = time::macros::datetime!(9999-12-31 23:59:59 UTC);

/// One entry as [`timeline`] packs it.
type PackedEntry<'a> =
    (i64, i64, Option<i64>, &'a str, &'a str, String, Option<&'a serde_json::value::RawValue>, Option<i64>);

fn unpack(text: &str, system_id: i64) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let key = format!("system {system_id}");
    let packed: Vec<PackedEntry<'_>> = serde_json::from_str(text)
        .map_err(|e| decode_error("history", &key, "after", format!("the packed history does not read: {e}")))?;
    packed
        .into_iter()
        .map(|(id, team_id, system_id, at, entity, item, after, batch)| {
            let key = format!("id {id}");
            let entity = decode_word(Entity::parse, entity, "history", &key, "entity")?;
            let after = after
                .map(|json| {
                    Recorded::decode(entity, json.get()).map_err(|e| {
                        decode_error("history", &key, "after", format!("not a {} record: {e}", entity.as_str()))
                    })
                })
                .transpose()?;
            Ok(HistoryEntry {
                at: decode_time(at, "history", &key, "at")?,
                id,
                team_id,
                system_id,
                actor: String::new(),
                entity,
                item,
                summary: String::new(),
                before: None,
                after,
                batch,
            })
        })
        .collect()
}

/// What a replay up to `until` ends with, and no more: the newest entry of
/// each record of the system (and of each of its team's control
/// definitions) at or before `until`, oldest first. Replaying these gives
/// the same records as replaying the whole [`timeline`], because each entry
/// holds the whole record after its change; a system with 10,000 changes to
/// a few hundred records decodes a few hundred.
pub async fn latest_records(
    db: impl Into<Exec<'_>>,
    system_id: i64,
    team_id: i64,
    until: Timestamp,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let columns = replay_columns();
    let sql = format!(
        "select {columns} from history where id in (\
         select max(id) from history where system_id = $1 and at <= $3 group by entity, item \
         union all select max(id) from history where system_id is null and team_id = $2 and entity = 'control' \
         and at <= $3 group by item) order by id"
    );
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(system_id)
        .bind(team_id)
        .bind(time_param(until))
        .fetch_all(e)
        .await)?;
    decode_all(rows)
}

/// The columns a replay reads: neither the record before a change, nor who
/// made it and how it was summed up.
fn replay_columns() -> String {
    COLUMNS
        .replace("before,", "null as before,")
        .replace("actor,", "'' as actor,")
        .replace("summary,", "'' as summary,")
}

/// Where the changes of a period come from.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// A system's own entries.
    System(i64),
    /// A team's control definitions (entries of no system).
    TeamControls(i64),
}

impl Scope {
    fn clause(self) -> (&'static str, i64) {
        match self {
            Scope::System(id) => ("system_id = $1", id),
            Scope::TeamControls(id) => ("system_id is null and team_id = $1 and entity = 'control'", id),
        }
    }
}

/// The entries after `from` up to and including `to`, oldest first, at most `limit`.
pub async fn between(
    db: impl Into<Exec<'_>>,
    scope: Scope,
    from: Timestamp,
    to: Timestamp,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let (clause, id) = scope.clause();
    let sql = format!("select {COLUMNS} from history where {clause} and at > $2 and at <= $3 order by id limit $4");
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(id)
        .bind(time_param(from))
        .bind(time_param(to))
        .bind(limit)
        .fetch_all(e)
        .await)?;
    decode_all(rows)
}

/// How many entries [`between`] would find without a limit.
pub async fn count_between(
    db: impl Into<Exec<'_>>,
    scope: Scope,
    from: Timestamp,
    to: Timestamp,
) -> Result<i64, sqlx::Error> {
    let (clause, id) = scope.clause();
    let sql = format!("select count(*) from history where {clause} and at > $2 and at <= $3");
    on_backend!(db.into(), e => sqlx::query_scalar(&sql)
        .bind(id)
        .bind(time_param(from))
        .bind(time_param(to))
        .fetch_one(e)
        .await)
}

/// The people who changed a system, for the history page's filter.
pub async fn actors(db: impl Into<Exec<'_>>, system_id: i64) -> Result<Vec<String>, sqlx::Error> {
    on_backend!(db.into(), e => sqlx::query_scalar(
        "select distinct actor from history where system_id = $1 order by actor"
    ).bind(system_id).fetch_all(e).await)
}

/// A team's own entries (of no system) of one kind, newest first.
pub async fn for_team_entity(
    db: impl Into<Exec<'_>>,
    team_id: i64,
    entity: Entity,
    limit: i64,
) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let sql = format!(
        "select {COLUMNS} from history where team_id = $1 and system_id is null and entity = $2 \
         order by id desc limit $3"
    );
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => sqlx::query_as(&sql)
        .bind(team_id)
        .bind(entity.as_str())
        .bind(limit)
        .fetch_all(e)
        .await)?;
    decode_all(rows)
}

/// The entries of one bulk action.
pub async fn batch(db: impl Into<Exec<'_>>, batch: i64) -> Result<Vec<HistoryEntry>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from history where batch = $1 order by id");
    let rows: Vec<EntryRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(batch).fetch_all(e).await)?;
    decode_all(rows)
}

pub async fn get(db: impl Into<Exec<'_>>, id: i64) -> Result<Option<HistoryEntry>, sqlx::Error> {
    let sql = format!("select {COLUMNS} from history where id = $1");
    let row: Option<EntryRow> = on_backend!(db.into(), e => sqlx::query_as(&sql).bind(id).fetch_optional(e).await)?;
    row.map(HistoryEntry::try_from).transpose()
}
