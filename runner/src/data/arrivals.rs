//! Data arrival. Every upload leaves a row in the source's `tiffin_uploads` table, written in the
//! upload's own transaction, so "has this table been written since T" is answered by the warehouse
//! itself, on any machine, and never by a record that could disagree with the data. A schedule
//! waiting for its inputs asks that, or whether a table has rows for its logical date.

use super::cells::TableName;
use super::config::SourceConfig;
use super::{postgres, sqlite};

pub const UPLOADS_TABLE: &str = "tiffin_uploads";

/// Instants as stored in tables (upload times here, the scheduler's state): RFC 3339 UTC with
/// microseconds and a `Z`, so they compare as text.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn ddl() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {UPLOADS_TABLE} (table_name TEXT NOT NULL, run_id TEXT NOT NULL, \
         uploaded_at TEXT NOT NULL, row_count BIGINT NOT NULL, PRIMARY KEY (table_name, run_id))"
    )
}

fn rows_i64(rows: u64) -> i64 {
    i64::try_from(rows).unwrap_or(i64::MAX)
}

/// Records an upload in the transaction open on `connection`.
pub fn record_sqlite(connection: &rusqlite::Connection, table: &TableName, run_id: &str, rows: u64) -> Result<(), String> {
    connection.execute_batch(&ddl()).map_err(|e| e.to_string())?;
    connection
        .execute(
            &format!("INSERT OR REPLACE INTO {UPLOADS_TABLE} VALUES (?1, ?2, ?3, ?4)"),
            rusqlite::params![table.to_string(), run_id, timestamp(chrono::Utc::now()), rows_i64(rows)],
        )
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Records an upload in the transaction open on `client`.
pub async fn record_postgres(client: &tokio_postgres::Client, table: &TableName, run_id: &str, rows: u64) -> Result<(), String> {
    client.batch_execute(&ddl()).await.map_err(|e| postgres::describe_error(&e))?;
    client
        .execute(
            &format!(
                "INSERT INTO {UPLOADS_TABLE} VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (table_name, run_id) DO UPDATE SET uploaded_at = EXCLUDED.uploaded_at, row_count = EXCLUDED.row_count"
            ),
            &[&table.to_string(), &run_id, &timestamp(chrono::Utc::now()), &rows_i64(rows)],
        )
        .await
        .map_err(|e| postgres::describe_error(&e))?;
    Ok(())
}

/// When a Tiffin upload last wrote `table` (see [`timestamp`]), if ever.
pub async fn last_upload(source: &SourceConfig, table: &TableName) -> Result<Option<String>, String> {
    let query = format!("SELECT max(uploaded_at) FROM {UPLOADS_TABLE} WHERE table_name = ");
    match source {
        SourceConfig::Sqlite { path } => {
            if !path.is_file() {
                return Ok(None);
            }
            let connection = sqlite::open_read_only(path)?;
            if !sqlite_table_exists(&connection, UPLOADS_TABLE)? {
                return Ok(None);
            }
            connection.query_row(&format!("{query}?1"), [table.to_string()], |r| r.get(0)).map_err(|e| e.to_string())
        }
        SourceConfig::Postgres { url, password } => {
            let client = postgres::connect(url, password.as_ref()).await?;
            let exists = client
                .query_one(&format!("SELECT to_regclass('{UPLOADS_TABLE}') IS NOT NULL"), &[])
                .await
                .map_err(|e| postgres::describe_error(&e))?;
            if !exists.get::<_, bool>(0) {
                return Ok(None);
            }
            let row = client.query_one(&format!("{query}$1"), &[&table.to_string()]).await.map_err(|e| postgres::describe_error(&e))?;
            Ok(row.get(0))
        }
    }
}

/// Whether `table` has a row whose `column`, as text, is `value` (a partition such as a day).
/// A missing table has no partitions.
pub async fn has_partition(source: &SourceConfig, table: &TableName, column: &str, value: &str) -> Result<bool, String> {
    let column = format!("\"{}\"", column.replace('"', "\"\""));
    let query = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE CAST({column} AS TEXT) = ", table.quoted());
    match source {
        SourceConfig::Sqlite { path } => {
            if !path.is_file() {
                return Ok(false);
            }
            let connection = sqlite::open_read_only(path)?;
            if sqlite::describe(&connection, table)?.is_none() {
                return Ok(false);
            }
            connection.query_row(&format!("{query}?1)"), [value], |r| r.get(0)).map_err(|e| e.to_string())
        }
        SourceConfig::Postgres { url, password } => {
            let client = postgres::connect(url, password.as_ref()).await?;
            if postgres::describe(&client, table).await?.is_none() {
                return Ok(false);
            }
            let row = client.query_one(&format!("{query}$1)"), &[&value]).await.map_err(|e| postgres::describe_error(&e))?;
            Ok(row.get(0))
        }
    }
}

fn sqlite_table_exists(connection: &rusqlite::Connection, name: &str) -> Result<bool, String> {
    connection.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1", [name], |r| r.get(0)).map_err(|e| e.to_string())
}
