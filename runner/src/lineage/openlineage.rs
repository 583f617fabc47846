//! OpenLineage 2-0-2 RunEvents for a run: START when the data starts moving, then COMPLETE, FAIL
//! or ABORT. Datasets carry the standard `dataSource`, `schema` and `tags` facets (the policy's
//! labels are the tags), the job the `sql` facet, and the run the `tiffin` facet (purpose,
//! notebook, tables read and written as `source.table`, status) that `runner lineage` reads.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::manifest::{Manifest, Status};
use crate::data::config::{Config, SourceConfig};
use crate::data::schema::Schema;

const RUN_EVENT: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const DATASOURCE_FACET: &str = "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet";
const SCHEMA_FACET: &str = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
const TAGS_FACET: &str = "https://openlineage.io/spec/facets/1-0-0/TagsDatasetFacet.json#/$defs/TagsDatasetFacet";
const SQL_FACET: &str = "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json#/$defs/SQLJobFacet";
/// The `tiffin` run facet's schema, in this repository.
pub const TIFFIN_FACET: &str = "https://github.com/tiffin-notebooks/tiffin/blob/main/docs/lineage/TiffinRunFacet.json";
/// Who produced the events: this runner, by version.
pub const PRODUCER: &str = concat!("https://github.com/tiffin-notebooks/tiffin/tree/v", env!("CARGO_PKG_VERSION"), "/runner");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Start,
    Complete,
    Fail,
    Abort,
}

impl EventType {
    fn name(self) -> &'static str {
        match self {
            Self::Start => "START",
            Self::Complete => "COMPLETE",
            Self::Fail => "FAIL",
            Self::Abort => "ABORT",
        }
    }

    /// The event that ends a run with this status.
    pub fn ending(status: Status) -> Self {
        match status {
            Status::Completed => Self::Complete,
            Status::Interrupted => Self::Abort,
            _ => Self::Fail,
        }
    }
}

/// The job's name: the notebook's path relative to the directory of the tiffin.toml in force
/// (the project), else its file name.
pub fn job_name(manifest: &Manifest, config: &Config) -> String {
    let path = &manifest.notebook.path;
    let project = config.path.as_ref().and_then(|p| p.parent());
    project
        .and_then(|dir| path.strip_prefix(dir).ok())
        .or_else(|| path.file_name().map(std::path::Path::new))
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// The schema each unqualified PostgreSQL table lives in, by `(source, table)`.
pub type Schemas = BTreeMap<(String, String), String>;

/// The `(source, table)` pairs of every dataset the manifest names.
pub fn datasets(manifest: &Manifest) -> BTreeSet<(String, String)> {
    let inputs = manifest.inputs.iter().flat_map(|input| {
        input.tables.iter().map(|t| (input.source.clone(), t.table.split_once('.').map_or(t.table.clone(), |(_, path)| path.to_owned())))
    });
    inputs.chain(manifest.outputs.iter().map(|o| (o.source.clone(), o.table.clone()))).collect()
}

pub fn event(kind: EventType, at: DateTime<Utc>, manifest: &Manifest, config: &Config, schemas: &Schemas) -> Value {
    let inputs: Vec<Value> = manifest
        .inputs
        .iter()
        .flat_map(|input| {
            input.tables.iter().map(move |table| {
                // The fetched columns are the table's own only when the cell reads the whole table.
                let whole_table = input.tables.len() == 1 && table.columns.is_none();
                let fields = match (&input.fetch, &table.columns) {
                    (Some(fetch), None) if whole_table => schema_fields(&fetch.schema),
                    (_, Some(columns)) => columns.iter().map(|name| json!({"name": name})).collect(),
                    _ => Vec::new(),
                };
                let path = table.table.split_once('.').map_or(table.table.as_str(), |(_, path)| path);
                dataset(config, schemas, &input.source, path, fields, &table.labels)
            })
        })
        .collect();
    let outputs: Vec<Value> = manifest
        .outputs
        .iter()
        .map(|output| {
            let fields = output.upload.as_ref().map(|upload| schema_fields(&upload.schema)).unwrap_or_default();
            let mut dataset = dataset(config, schemas, &output.source, &output.table, fields, &output.labels);
            if let Some(rows) = output.upload.as_ref().map(|upload| upload.rows) {
                dataset["outputFacets"] = json!({"outputStatistics": {
                    "_producer": PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                    "rowCount": rows,
                }});
            }
            dataset
        })
        .collect();
    let mut job_facets = serde_json::Map::new();
    if !manifest.inputs.is_empty() {
        let queries: Vec<String> =
            manifest.inputs.iter().map(|input| format!("-- cell {}: {}\n{}", input.cell, input.name, input.query.trim())).collect();
        let dialects: BTreeSet<&str> = manifest.inputs.iter().map(|input| input.source_type).collect();
        let mut sql = json!({"_producer": PRODUCER, "_schemaURL": SQL_FACET, "query": queries.join(";\n\n")});
        if let [dialect] = dialects.into_iter().collect::<Vec<_>>()[..] {
            sql["dialect"] = json!(dialect);
        }
        job_facets.insert("sql".into(), sql);
    }
    let reads: BTreeSet<&str> = manifest.inputs.iter().flat_map(|i| i.tables.iter().map(|t| t.table.as_str())).collect();
    let writes: BTreeSet<String> = manifest.outputs.iter().map(|o| format!("{}.{}", o.source, o.table)).collect();
    let mut tiffin = json!({
        "_producer": PRODUCER,
        "_schemaURL": TIFFIN_FACET,
        "notebook": manifest.notebook.path,
        "notebookSha256": manifest.notebook.sha256,
        "purpose": manifest.purpose,
        "parameters": manifest.parameters,
        "reads": reads,
        "writes": writes,
    });
    if kind != EventType::Start {
        tiffin["status"] = json!(manifest.status);
        tiffin["message"] = json!(manifest.message);
    }
    json!({
        "eventType": kind.name(),
        "eventTime": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": manifest.run_id, "facets": {"tiffin": tiffin}},
        "job": {"namespace": config.lineage.namespace, "name": job_name(manifest, config), "facets": job_facets},
        "inputs": inputs,
        "outputs": outputs,
    })
}

fn schema_fields(schema: &Schema) -> Vec<Value> {
    schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let kind = serde_json::to_value(column.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let kind = if column.db_type.is_empty() { kind } else { column.db_type.clone() };
            json!({"name": column.name, "type": kind, "ordinal_position": i + 1})
        })
        .collect()
}

/// A dataset named as OpenLineage's naming spec has it: `postgres://host:port` and
/// `database.schema.table` (an unqualified table in the schema the server resolves it to); SQLite,
/// which the spec does not name, as `sqlite://<file>` and the table.
fn dataset(config: &Config, schemas: &Schemas, source: &str, path: &str, fields: Vec<Value>, labels: &BTreeSet<String>) -> Value {
    let (namespace, name) = match config.source(Some(source)).map(|(_, s)| s) {
        Some(SourceConfig::Postgres { url, .. }) => {
            let schema = schemas.get(&(source.to_owned(), path.to_owned())).map_or("public", String::as_str);
            postgres_dataset(url, schema, path)
        }
        Some(SourceConfig::Sqlite { path: file }) => (format!("sqlite://{}", file.display()), path.to_owned()),
        None => (format!("tiffin://{source}"), path.to_owned()),
    };
    let mut facets = json!({
        "dataSource": {"_producer": PRODUCER, "_schemaURL": DATASOURCE_FACET, "name": source, "uri": namespace},
    });
    if !fields.is_empty() {
        facets["schema"] = json!({"_producer": PRODUCER, "_schemaURL": SCHEMA_FACET, "fields": fields});
    }
    if !labels.is_empty() {
        let tags: Vec<Value> = labels.iter().map(|label| json!({"key": label, "value": "true", "source": "TIFFIN_POLICY"})).collect();
        facets["tags"] = json!({"_producer": PRODUCER, "_schemaURL": TAGS_FACET, "tags": tags});
    }
    json!({"namespace": namespace, "name": name, "facets": facets})
}

pub(crate) fn postgres_dataset(url: &str, schema: &str, path: &str) -> (String, String) {
    let parsed: Option<tokio_postgres::Config> = url.parse().ok();
    let host = parsed
        .as_ref()
        .and_then(|c| c.get_hosts().first().cloned())
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name,
            tokio_postgres::config::Host::Unix(dir) => dir.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = parsed.as_ref().and_then(|c| c.get_ports().first().copied()).unwrap_or(5432);
    let database = parsed.as_ref().and_then(|c| c.get_dbname().map(str::to_owned)).unwrap_or_else(|| "postgres".into());
    let qualified = if path.contains('.') { path.to_owned() } else { format!("{schema}.{path}") };
    (format!("postgres://{host}:{port}"), format!("{database}.{qualified}"))
}
