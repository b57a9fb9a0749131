//! `atlascope db copy`: moving an installation between SQLite and PostgreSQL.

use crate::db;

/// Opens both sides (applying migrations, creating the target's schema),
/// copies, and prints each table's row count.
pub(super) async fn run(from: &str, to: &str) -> anyhow::Result<()> {
    let (from, to) = (db::Location::parse(from)?, db::Location::parse(to)?);
    let source = from.open(false).await.map_err(|error| error.context(format!("--from {from}")))?;
    let target = to.open(true).await.map_err(|error| error.context(format!("--to {to}")))?;
    let copied = db::copy::copy(&source, &target).await;
    source.close().await;
    target.close().await;
    let copied = copied?;
    println!("Copied {from} to {to}; every table holds as many rows as the source:");
    for (table, rows) in copied {
        println!("  {table:<22} {rows:>8}");
    }
    Ok(())
}
