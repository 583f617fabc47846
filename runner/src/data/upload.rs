//! Loading a run's outputs: every `%%upload` CSV is checked against its table and loaded, all
//! outputs of one source in one transaction, and the transactions are committed only once every
//! output of every source has loaded. The labels the outputs inherit are written in the same
//! transaction (table `tiffin_labels`), so data and labels change together or not at all; so is
//! the record of the upload itself (`tiffin_uploads`, see `arrivals`).
//!
//! Two sources cannot share one transaction: should the second commit fail after the first
//! succeeded, the first source keeps its load (the manifest says which committed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::cells::{TableName, UploadMode};
use super::config::{Config, SourceConfig};
use super::schema::{Kind, Schema, decode_field};
use super::target::{TargetTable, match_columns};
use super::values::{Typed, parse};
use super::{DataError, Plan, PlannedUpload, arrivals, postgres, sqlite};

pub const LABELS_TABLE: &str = "tiffin_labels";

/// What loading one output did (the target and its mode are in the plan).
#[derive(Debug, Clone, Serialize)]
pub struct Uploaded {
    /// 1-based cell number.
    #[serde(skip)]
    pub cell: usize,
    pub rows: u64,
    pub created: bool,
    /// The DataFrame's columns and types.
    pub schema: Schema,
    pub seconds: f64,
}

/// An open, uncommitted transaction on one source.
enum Pending {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
}

impl Pending {
    async fn finish(&self, commit: bool) -> Result<(), String> {
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        match self {
            Self::Sqlite(connection) => connection.execute_batch(sql).map_err(|e| e.to_string()),
            Self::Postgres(client) => client.batch_execute(sql).await.map_err(|e| postgres::describe_error(&e)),
        }
    }
}

/// Loads every output in `out_dir`; `labels` gives each output's labels by `source.table`.
/// Without `commit` every load is checked and done, then rolled back: a dry run.
pub async fn upload_all(
    plan: &Plan,
    out_dir: &Path,
    labels: &BTreeMap<String, BTreeSet<String>>,
    run_id: &str,
    commit: bool,
) -> Result<Vec<Uploaded>, DataError> {
    let mut by_source: BTreeMap<&str, Vec<&PlannedUpload>> = BTreeMap::new();
    for upload in &plan.uploads {
        by_source.entry(upload.source.as_str()).or_default().push(upload);
    }
    let mut pending = Vec::new();
    let mut done = Vec::new();
    let mut failure = None;
    for (source_name, uploads) in by_source {
        let Some((_, source)) = plan.config.source(Some(source_name)) else { continue };
        match load_source(source_name, source, &uploads, out_dir, labels, run_id, &mut pending).await {
            Ok(mut loaded) => done.append(&mut loaded),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if let Some(error) = failure {
        for transaction in &pending {
            if let Err(rollback) = transaction.finish(false).await {
                tracing::warn!(%rollback, "rollback failed (the server discards the transaction when the connection closes)");
            }
        }
        return Err(error);
    }
    for (i, transaction) in pending.iter().enumerate() {
        transaction.finish(commit).await.map_err(|e| DataError {
            cell: None,
            message: if commit {
                format!("commit failed after {i} of {} sources had committed: {e}", pending.len())
            } else {
                format!("rolling back the dry run: {e}")
            },
        })?;
    }
    done.sort_by_key(|u| u.cell);
    Ok(done)
}

async fn load_source(
    source_name: &str,
    source: &SourceConfig,
    uploads: &[&PlannedUpload],
    out_dir: &Path,
    labels: &BTreeMap<String, BTreeSet<String>>,
    run_id: &str,
    pending: &mut Vec<Pending>,
) -> Result<Vec<Uploaded>, DataError> {
    let first = uploads.first().map_or(0, |u| u.cell.index);
    let mut loaded = Vec::new();
    match source {
        SourceConfig::Sqlite { path } => {
            let connection = sqlite::open_read_write(path).map_err(|e| DataError::at(first, e))?;
            connection.execute_batch("BEGIN IMMEDIATE").map_err(|e| DataError::at(first, format!("{source_name}: {e}")))?;
            // Dropped on an error, the connection rolls its transaction back.
            for upload in uploads {
                let started = Instant::now();
                let (frame, csv) = read_frame(upload, out_dir)?;
                let at = |e: String| DataError::at(upload.cell.index, format!("uploading to {source_name}.{}: {e}", upload.cell.table));
                let existing = sqlite::describe(&connection, &upload.cell.table).map_err(at)?;
                let created = existing.is_none();
                let table = match existing {
                    Some(table) => table,
                    None => {
                        let ddl = create_table_sql(&upload.cell.table, &frame, sqlite::type_name);
                        connection.execute_batch(&ddl).map_err(|e| at(e.to_string()))?;
                        sqlite::describe(&connection, &upload.cell.table)
                            .map_err(at)?
                            .ok_or_else(|| at("the table vanished after CREATE".into()))?
                    }
                };
                let prepared = Prepared::new(upload, &frame, &table, source_name).map_err(at)?;
                if let Some(delete) = prepared.delete_sql(&upload.cell.table, "?1") {
                    connection
                        .execute(&delete, rusqlite::params_from_iter(prepared.partition.iter().map(|(_, v)| v)))
                        .map_err(|e| at(e.to_string()))?;
                }
                let rows = sqlite::insert(&connection, &upload.cell.table.quoted(), &prepared.columns, prepared.rows(&csv)?).map_err(at)?;
                let table_labels = labels.get(&format!("{source_name}.{}", upload.cell.table)).cloned().unwrap_or_default();
                record_labels_sqlite(&connection, &upload.cell.table, &table_labels, run_id).map_err(at)?;
                arrivals::record_sqlite(&connection, &upload.cell.table, run_id, rows).map_err(at)?;
                loaded.push(uploaded(upload, frame, rows, created, started));
            }
            pending.push(Pending::Sqlite(connection));
        }
        SourceConfig::Postgres { url, password } => {
            let client =
                postgres::connect(url, password.as_ref()).await.map_err(|e| DataError::at(first, format!("{source_name}: {e}")))?;
            client.batch_execute("BEGIN").await.map_err(|e| DataError::at(first, postgres::describe_error(&e)))?;
            // Dropped on an error, the connection closes and the server rolls back.
            for upload in uploads {
                let started = Instant::now();
                let (frame, csv) = read_frame(upload, out_dir)?;
                let at = |e: String| DataError::at(upload.cell.index, format!("uploading to {source_name}.{}: {e}", upload.cell.table));
                let existing = postgres::describe(&client, &upload.cell.table).await.map_err(at)?;
                let created = existing.is_none();
                let (table, types) = match existing {
                    Some(found) => found,
                    None => {
                        let ddl = create_table_sql(&upload.cell.table, &frame, postgres::type_name);
                        client.batch_execute(&ddl).await.map_err(|e| at(postgres::describe_error(&e)))?;
                        postgres::describe(&client, &upload.cell.table)
                            .await
                            .map_err(at)?
                            .ok_or_else(|| at("the table vanished after CREATE".into()))?
                    }
                };
                let prepared = Prepared::new(upload, &frame, &table, source_name).map_err(at)?;
                if let Some(delete) = prepared.delete_sql(&upload.cell.table, "$1") {
                    let values: Vec<postgres::PgValue> =
                        prepared.partition.iter().map(|(_, v)| postgres::PgValue::new(v.clone())).collect();
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                    client.execute(&delete, &refs).await.map_err(|e| at(postgres::describe_error(&e)))?;
                }
                let column_types: Vec<_> = prepared.targets.iter().map(|&i| types[i].clone()).collect();
                let rows = postgres::copy_in(&client, &upload.cell.table, &prepared.columns, &column_types, prepared.rows(&csv)?)
                    .await
                    .map_err(at)?;
                let table_labels = labels.get(&format!("{source_name}.{}", upload.cell.table)).cloned().unwrap_or_default();
                record_labels_postgres(&client, &upload.cell.table, &table_labels, run_id).await.map_err(at)?;
                arrivals::record_postgres(&client, &upload.cell.table, run_id, rows).await.map_err(at)?;
                loaded.push(uploaded(upload, frame, rows, created, started));
            }
            pending.push(Pending::Postgres(client));
        }
    }
    Ok(loaded)
}

fn uploaded(upload: &PlannedUpload, frame: Schema, rows: u64, created: bool, started: Instant) -> Uploaded {
    Uploaded { cell: upload.cell.index + 1, rows, created, schema: frame, seconds: started.elapsed().as_secs_f64() }
}

/// The DataFrame's schema and CSV as the kernel left them in the outputs dir.
fn read_frame(upload: &PlannedUpload, out_dir: &Path) -> Result<(Schema, std::path::PathBuf), DataError> {
    let csv = out_dir.join(format!("{}.csv", upload.cell.table.file_stem()));
    if !csv.is_file() {
        return Err(DataError::at(upload.cell.index, format!("the cell left no {} to upload", csv.display())));
    }
    let schema = Schema::read(&csv).map_err(|e| DataError::at(upload.cell.index, e))?;
    Ok((schema, csv))
}

fn create_table_sql(table: &TableName, frame: &Schema, type_name: fn(Kind) -> &'static str) -> String {
    let columns: Vec<String> = frame.columns.iter().map(|c| format!("\"{}\" {}", c.name.to_ascii_lowercase(), type_name(c.kind))).collect();
    format!("CREATE TABLE {} ({})", table.quoted(), columns.join(", "))
}

/// An upload checked against its table: which column each CSV field goes to, with its type.
struct Prepared {
    /// Target column names, in CSV order.
    columns: Vec<String>,
    /// Target column positions, in CSV order.
    targets: Vec<usize>,
    kinds: Vec<Kind>,
    /// For `--mode partition`: the CSV position of the partition column and its value.
    partition: Option<(usize, Typed)>,
    replace: bool,
    partition_column: Option<String>,
    cell: usize,
}

impl Prepared {
    fn new(upload: &PlannedUpload, frame: &Schema, table: &TargetTable, source: &str) -> Result<Self, String> {
        let table_name = format!("{source}.{}", upload.cell.table);
        let matched = match_columns(&frame.columns, table, &table_name)?;
        let targets: Vec<usize> = matched.iter().map(|m| table.columns.iter().position(|c| c.name == m.name).unwrap_or_default()).collect();
        let columns: Vec<String> = matched.iter().map(|m| m.name.clone()).collect();
        let kinds: Vec<Kind> = matched.iter().map(|m| m.kind).collect();
        let (partition, partition_column) = match (&upload.cell.mode, &upload.partition_value) {
            (UploadMode::Partition { column, param }, Some(value)) => {
                let position =
                    columns.iter().position(|c| c == column).ok_or_else(|| format!("the DataFrame has no partition column `{column}`"))?;
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let typed = parse(Some(&text), kinds[position]).map_err(|e| format!("parameter `{param}`: {e}"))?;
                (Some((position, typed)), Some(column.clone()))
            }
            _ => (None, None),
        };
        Ok(Self {
            columns,
            targets,
            kinds,
            partition,
            replace: upload.cell.mode == UploadMode::Replace,
            partition_column,
            cell: upload.cell.index,
        })
    }

    /// The DELETE that `replace` and `partition` modes run before loading.
    fn delete_sql(&self, table: &TableName, placeholder: &str) -> Option<String> {
        match (&self.partition_column, self.replace) {
            (Some(column), _) => Some(format!("DELETE FROM {} WHERE \"{column}\" = {placeholder}", table.quoted())),
            (None, true) => Some(format!("DELETE FROM {}", table.quoted())),
            (None, false) => None,
        }
    }

    /// The CSV's rows as checked values; errors name the row, the column and the value.
    fn rows<'a>(&'a self, csv: &Path) -> Result<impl Iterator<Item = Result<Vec<Typed>, String>> + 'a, DataError> {
        let at = |e: String| DataError::at(self.cell, e);
        let mut reader =
            csv::ReaderBuilder::new().has_headers(true).from_path(csv).map_err(|e| at(format!("cannot read {}: {e}", csv.display())))?;
        let header: Vec<String> = reader.headers().map_err(|e| at(e.to_string()))?.iter().map(str::to_ascii_lowercase).collect();
        if header != self.columns {
            return Err(at(format!("{} has columns {header:?}, its schema says {:?}", csv.display(), self.columns)));
        }
        // One record reused for every row: a million rows are a million allocations fewer.
        let mut record = csv::StringRecord::new();
        let mut row = 0;
        Ok(std::iter::from_fn(move || {
            row += 1;
            match reader.read_record(&mut record) {
                Ok(true) => Some(self.typed_row(&record, row)),
                Ok(false) => None,
                Err(e) => Some(Err(format!("row {row}: {e}"))),
            }
        }))
    }

    /// One CSV row as checked values.
    fn typed_row(&self, record: &csv::StringRecord, row: usize) -> Result<Vec<Typed>, String> {
        let mut values = Vec::with_capacity(self.kinds.len());
        for (position, (field, kind)) in record.iter().zip(&self.kinds).enumerate() {
            let value = parse(decode_field(field), *kind).map_err(|e| format!("row {row}, column `{}`: {e}", self.columns[position]))?;
            if let Some((partition_position, expected)) = &self.partition
                && *partition_position == position
                && value != *expected
            {
                return Err(format!(
                    "row {row} has {} = `{field}`, outside the partition being replaced ({:?})",
                    self.columns[position], expected
                ));
            }
            values.push(value);
        }
        Ok(values)
    }
}

fn labels_ddl() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {LABELS_TABLE} (table_name TEXT NOT NULL, label TEXT NOT NULL, run_id TEXT NOT NULL, \
         labeled_at TEXT NOT NULL, PRIMARY KEY (table_name, label))"
    )
}

fn record_labels_sqlite(
    connection: &rusqlite::Connection,
    table: &TableName,
    labels: &BTreeSet<String>,
    run_id: &str,
) -> Result<(), String> {
    if labels.is_empty() {
        return Ok(());
    }
    connection.execute_batch(&labels_ddl()).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now().to_rfc3339();
    for label in labels {
        connection
            .execute(
                &format!("INSERT INTO {LABELS_TABLE} VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING"),
                rusqlite::params![table.to_string(), label, run_id, now],
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn record_labels_postgres(
    client: &tokio_postgres::Client,
    table: &TableName,
    labels: &BTreeSet<String>,
    run_id: &str,
) -> Result<(), String> {
    if labels.is_empty() {
        return Ok(());
    }
    client.batch_execute(&labels_ddl()).await.map_err(|e| postgres::describe_error(&e))?;
    let now = chrono::Utc::now().to_rfc3339();
    for label in labels {
        client
            .execute(
                &format!("INSERT INTO {LABELS_TABLE} VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"),
                &[&table.to_string(), label, &run_id, &now],
            )
            .await
            .map_err(|e| postgres::describe_error(&e))?;
    }
    Ok(())
}

/// The labels earlier runs gave to tables of these sources, by `source.table`.
pub async fn stored_labels(config: &Config, sources: &BTreeSet<&str>) -> Result<BTreeMap<String, BTreeSet<String>>, DataError> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let query = format!("SELECT table_name, label FROM {LABELS_TABLE}");
    for &name in sources {
        let Some((_, source)) = config.source(Some(name)) else { continue };
        let error = |e: String| DataError { cell: None, message: format!("reading the labels of {name}: {e}") };
        let pairs: Vec<(String, String)> = match source {
            SourceConfig::Sqlite { path } => {
                if !path.is_file() {
                    continue;
                }
                let connection = sqlite::open_read_only(path).map_err(error)?;
                let exists: bool = connection
                    .query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = ?1", [LABELS_TABLE], |r| r.get(0))
                    .map_err(|e| error(e.to_string()))?;
                if !exists {
                    continue;
                }
                let mut statement = connection.prepare(&query).map_err(|e| error(e.to_string()))?;
                statement
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(|e| error(e.to_string()))?
                    .collect::<Result<_, _>>()
                    .map_err(|e| error(e.to_string()))?
            }
            SourceConfig::Postgres { url, password } => {
                let client = postgres::connect(url, password.as_ref()).await.map_err(error)?;
                let exists = client
                    .query_one(&format!("SELECT to_regclass('{LABELS_TABLE}') IS NOT NULL"), &[])
                    .await
                    .map_err(|e| error(e.to_string()))?;
                if !exists.get::<_, bool>(0) {
                    continue;
                }
                client
                    .query(&query, &[])
                    .await
                    .map_err(|e| error(postgres::describe_error(&e)))?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect()
            }
        };
        for (table, label) in pairs {
            found.entry(format!("{name}.{table}")).or_default().insert(label);
        }
    }
    Ok(found)
}

/// Whether each upload's table exists already, by `source.table`.
pub async fn existing_tables(plan: &Plan) -> Result<BTreeSet<String>, DataError> {
    let mut existing = BTreeSet::new();
    for upload in &plan.uploads {
        let Some((_, source)) = plan.config.source(Some(&upload.source)) else { continue };
        let at = |e: String| DataError::at(upload.cell.index, format!("{}: {e}", upload.source));
        let exists = match source {
            SourceConfig::Sqlite { path } => {
                path.is_file() && sqlite::describe(&sqlite::open_read_only(path).map_err(at)?, &upload.cell.table).map_err(at)?.is_some()
            }
            SourceConfig::Postgres { url, password } => {
                let client = postgres::connect(url, password.as_ref()).await.map_err(at)?;
                postgres::describe(&client, &upload.cell.table).await.map_err(at)?.is_some()
            }
        };
        if exists {
            existing.insert(format!("{}.{}", upload.source, upload.cell.table));
        }
    }
    Ok(existing)
}
