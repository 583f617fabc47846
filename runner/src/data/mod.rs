//! The data path: the runner, outside the sandbox, fetches each `%%sql` cell's result into a CSV
//! file the kernel reads, and after a successful run loads each `%%upload` cell's CSV into its
//! table, all outputs of a source in one transaction.

pub mod arrivals;
mod bind;
pub mod cells;
pub mod config;
pub mod csv_sink;
mod iso;
mod pg_numeric;
mod postgres;
pub mod rewrite;
pub mod schema;
mod sqlite;
mod target;
mod upload;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

pub use bind::Flavor;
use cells::{DataCell, SqlCell, UploadCell};
use config::{Config, SourceConfig};
use schema::Schema;
pub use upload::{LABELS_TABLE, Uploaded, existing_tables, stored_labels, upload_all};

/// A data problem, tied to the cell (1-based) it comes from when there is one.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}{message}", cell.map(|c| format!("cell {c}: ")).unwrap_or_default())]
pub struct DataError {
    pub cell: Option<usize>,
    pub message: String,
}

impl DataError {
    pub fn at(cell_index: usize, message: impl Into<String>) -> Self {
        Self { cell: Some(cell_index + 1), message: message.into() }
    }
}

/// A SQL cell ready to fetch: its source resolved and its parameters bound.
#[derive(Debug, Clone)]
pub struct PlannedQuery {
    pub cell: SqlCell,
    pub source: String,
    pub flavor: Flavor,
    pub sql: String,
    pub parameters: Map<String, Value>,
    values: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct PlannedUpload {
    pub cell: UploadCell,
    pub source: String,
    pub flavor: Flavor,
    /// The partition column's value, for `--mode partition`.
    pub partition_value: Option<Value>,
}

/// Everything the data path will do in a run, decided before anything moves.
#[derive(Debug, Clone)]
pub struct Plan {
    pub config: Config,
    pub queries: Vec<PlannedQuery>,
    pub uploads: Vec<PlannedUpload>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty() && self.uploads.is_empty()
    }
}

fn flavor(source: &SourceConfig) -> Flavor {
    match source {
        SourceConfig::Sqlite { .. } => Flavor::Sqlite,
        SourceConfig::Postgres { .. } => Flavor::Postgres,
    }
}

/// Resolves every data cell's source and binds its parameters (`params`: the run's values).
pub fn plan(cells: Vec<DataCell>, config: Config, params: &Map<String, Value>) -> Result<Plan, DataError> {
    let mut queries = Vec::new();
    let mut uploads = Vec::new();
    for cell in cells {
        let index = cell.index();
        let wanted = match &cell {
            DataCell::Sql(c) => c.source.as_deref(),
            DataCell::Upload(c) => c.source.as_deref(),
        };
        let (source, source_config) = config.source(wanted).ok_or_else(|| {
            let known: Vec<&str> = config.sources.keys().map(String::as_str).collect();
            let file = config.path.as_ref().map_or_else(|| "no tiffin.toml was found".to_owned(), |p| format!("see {}", p.display()));
            DataError::at(index, format!("unknown source `{}` (known: {}; {file})", wanted.unwrap_or_default(), known.join(", ")))
        })?;
        let (source, flavor) = (source.to_owned(), flavor(source_config));
        match cell {
            DataCell::Sql(cell) => {
                let bound = bind::bind(&cell.query, flavor, params).map_err(|e| DataError::at(index, e))?;
                let parameters = bound.names.iter().cloned().zip(bound.values.iter().cloned()).collect();
                queries.push(PlannedQuery { cell, source, flavor, sql: bound.sql, parameters, values: bound.values });
            }
            DataCell::Upload(cell) => {
                if flavor == Flavor::Sqlite && cell.table.schema.is_some() {
                    return Err(DataError::at(
                        index,
                        format!("{source} is a SQLite source, which has no schemas: write to a plain table name"),
                    ));
                }
                let partition_value = match &cell.mode {
                    cells::UploadMode::Partition { param, .. } => Some(params.get(param).cloned().ok_or_else(|| {
                        DataError::at(
                            index,
                            format!("--partition uses parameter `{param}`, which has no value: pass it with -p {param} VALUE"),
                        )
                    })?),
                    _ => None,
                };
                uploads.push(PlannedUpload { cell, source, flavor, partition_value });
            }
        }
    }
    Ok(Plan { config, queries, uploads })
}

/// What fetching one query gave (the query itself is in the plan).
#[derive(Debug, Clone, Serialize)]
pub struct Fetched {
    /// 1-based cell number.
    #[serde(skip)]
    pub cell: usize,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    pub schema: Schema,
    pub seconds: f64,
    #[serde(skip)]
    pub csv: PathBuf,
}

/// Fetches every query into `in_dir/<name>.csv` (+ its schema sidecar), in cell order, adding
/// each to `fetched` as it completes (so a failure still leaves the record of what came before).
pub async fn fetch_all(plan: &Plan, in_dir: &Path, fetched: &mut Vec<Fetched>) -> Result<(), DataError> {
    for query in &plan.queries {
        let index = query.cell.index;
        let csv = in_dir.join(format!("{}.csv", query.cell.name));
        let started = Instant::now();
        let Some((_, source)) = plan.config.source(Some(&query.source)) else { continue };
        let result = match source {
            SourceConfig::Sqlite { path } => sqlite::fetch(path, &query.sql, &query.values, &csv),
            SourceConfig::Postgres { url, password } => match postgres::connect(url, password.as_ref()).await {
                Ok(mut client) => postgres::fetch(&mut client, &query.sql, &query.values, &csv).await,
                Err(error) => Err(error),
            },
        };
        let (schema, written) =
            result.map_err(|e| DataError::at(index, format!("fetching `{}` from {}: {e}", query.cell.name, query.source)))?;
        schema.write(&csv).map_err(|e| DataError::at(index, format!("cannot write the schema of {}: {e}", csv.display())))?;
        tracing::info!(cell = index + 1, rows = written.rows, "fetched");
        fetched.push(Fetched {
            cell: index + 1,
            rows: written.rows,
            bytes: written.bytes,
            sha256: written.sha256,
            schema,
            seconds: started.elapsed().as_secs_f64(),
            csv,
        });
    }
    Ok(())
}

/// For lineage names: the schema each unqualified table of a PostgreSQL source resolves to, by
/// `(source, table)`. A source that cannot be reached is left out (and named in a warning).
pub async fn postgres_schemas(plan: &Plan, tables: &BTreeSet<(String, String)>) -> BTreeMap<(String, String), String> {
    let mut schemas = BTreeMap::new();
    let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (source, table) in tables.iter().filter(|(_, table)| !table.contains('.')) {
        by_source.entry(source).or_default().push(table);
    }
    for (source, tables) in by_source {
        let Some((_, SourceConfig::Postgres { url, password })) = plan.config.source(Some(source)) else { continue };
        let client = match postgres::connect(url, password.as_ref()).await {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(source, %error, "cannot resolve table schemas for lineage");
                continue;
            }
        };
        for table in tables {
            match postgres::schema_of(&client, table).await {
                Ok(schema) => {
                    schemas.insert((source.to_owned(), table.to_owned()), schema);
                }
                Err(error) => tracing::warn!(source, table, %error, "cannot resolve a table's schema for lineage"),
            }
        }
    }
    schemas
}
