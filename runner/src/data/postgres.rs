//! PostgreSQL sources: queries stream their rows in a READ ONLY transaction; uploads go through
//! binary COPY inside the caller's transaction. Values are converted to each column's exact wire
//! type, so a bound parameter or an uploaded value is never turned into SQL text.

use std::error::Error;
use std::pin::pin;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::iso;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Row};

use super::cells::TableName;
use super::config::Secret;
use super::csv_sink::{CsvSink, Written};
use super::pg_numeric;
use super::schema::{Column, Kind, Schema};
use super::target::{TargetColumn, TargetTable};
use super::values::Typed;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn connect(url: &str, password: Option<&Secret>) -> Result<Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("bad url: {e}"))?;
    if let Some(secret) = password {
        config.password(secret.read()?);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("tiffin-runner");
    let (client, connection) = config.connect(NoTls).await.map_err(|e| format!("cannot connect: {}", describe_error(&e)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "postgres connection ended");
        }
    });
    Ok(client)
}

/// The server's own message when there is one (it names the table, column or syntax at fault).
pub fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("{}{detail}", db.message())
        }
        None => error.source().map_or_else(|| error.to_string(), |source| format!("{error}: {source}")),
    }
}

/// A column's class, for the types the runner carries through CSV.
fn kind_of(ty: &Type) -> Option<Kind> {
    Some(match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Kind::Int,
        Type::FLOAT4 | Type::FLOAT8 => Kind::Float,
        Type::NUMERIC => Kind::Decimal,
        Type::BOOL => Kind::Bool,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON | Type::JSONB | Type::UUID => Kind::Text,
        Type::DATE => Kind::Date,
        Type::TIMESTAMP => Kind::Timestamp,
        Type::TIMESTAMPTZ => Kind::Timestamptz,
        _ => return None,
    })
}

/// Runs the (bound) query in a read-only transaction and streams its rows to `csv`.
pub async fn fetch(client: &mut Client, sql: &str, params: &[Value], csv: &std::path::Path) -> Result<(Schema, Written), String> {
    let transaction = client.build_transaction().read_only(true).start().await.map_err(|e| describe_error(&e))?;
    let statement = transaction.prepare(sql).await.map_err(|e| describe_error(&e))?;
    let mut bound = Vec::with_capacity(params.len());
    for (position, (value, ty)) in params.iter().zip(statement.params()).enumerate() {
        bound.push(PgValue::from_param(value, ty).map_err(|e| format!("parameter ${}: {e}", position + 1))?);
    }
    let mut columns = Vec::new();
    for column in statement.columns() {
        let kind = kind_of(column.type_()).ok_or_else(|| {
            format!(
                "column `{}` has type {}, which the runner does not fetch; cast it in the query, e.g. {}::text",
                column.name(),
                column.type_(),
                column.name()
            )
        })?;
        columns.push(Column { name: column.name().to_owned(), kind, db_type: column.type_().name().to_owned(), escaped: false });
    }
    let header: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let io = |e: std::io::Error| format!("cannot write {}: {e}", csv.display());
    let mut sink = CsvSink::create(csv, &header).map_err(io)?;
    let rows = transaction.query_raw(&statement, bound.iter()).await.map_err(|e| describe_error(&e))?;
    let mut rows = pin!(rows);
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| describe_error(&e))?;
        for (i, column) in columns.iter_mut().enumerate() {
            write_field(&row, i, column, &mut sink).map_err(|e| format!("column `{}`: {e}", column.name))?;
        }
        sink.end_row().map_err(io)?;
    }
    transaction.commit().await.map_err(|e| describe_error(&e))?;
    let written = sink.finish().map_err(io)?;
    Ok((Schema { columns, rows: written.rows }, written))
}

fn write_field(row: &Row, i: usize, column: &mut Column, sink: &mut CsvSink) -> Result<(), Box<dyn Error + Sync + Send>> {
    let ty = row.columns()[i].type_().clone();
    macro_rules! get {
        ($t:ty) => {
            row.try_get::<_, Option<$t>>(i)?
        };
    }
    let result = match ty {
        Type::INT2 => get!(i16).map(|v| sink.display(v)),
        Type::INT4 => get!(i32).map(|v| sink.display(v)),
        Type::INT8 => get!(i64).map(|v| sink.display(v)),
        Type::OID => get!(u32).map(|v| sink.display(v)),
        Type::FLOAT4 => get!(f32).map(|v| sink.float(v)),
        Type::FLOAT8 => get!(f64).map(|v| sink.float(v)),
        Type::BOOL => get!(bool).map(|v| sink.plain(if v { "True" } else { "False" })),
        Type::DATE => get!(NaiveDate).map(|v| sink.display(iso::Date(v))),
        Type::TIMESTAMP => get!(NaiveDateTime).map(|v| sink.display(iso::Timestamp(v))),
        Type::TIMESTAMPTZ => get!(DateTime<Utc>).map(|v| sink.display(iso::Utc00(v))),
        Type::NUMERIC | Type::JSON | Type::JSONB | Type::UUID => get!(RawText).map(|v| {
            column.escaped |= super::schema::escape_text(&v.0).len() != v.0.len();
            sink.text(&v.0)
        }),
        _ => get!(&str).map(|v| {
            column.escaped |= super::schema::escape_text(v).len() != v.len();
            sink.text(v)
        }),
    };
    result.unwrap_or_else(|| sink.null())?;
    Ok(())
}

/// The text of the types the runner reads as text but whose wire form is not plain text.
struct RawText(String);

impl<'a> FromSql<'a> for RawText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Self(match *ty {
            Type::NUMERIC => pg_numeric::decode(raw)?,
            Type::JSONB => std::str::from_utf8(raw.strip_prefix(&[1]).ok_or("unknown jsonb version")?)?.to_owned(),
            Type::UUID => uuid::Uuid::from_slice(raw)?.hyphenated().to_string(),
            _ => std::str::from_utf8(raw)?.to_owned(),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::NUMERIC | Type::JSON | Type::JSONB | Type::UUID)
    }
}

/// A value for a parameter or a COPY field, encoded as the column's exact type wants.
#[derive(Debug)]
pub struct PgValue(Typed);

impl PgValue {
    pub fn new(value: Typed) -> Self {
        Self(value)
    }

    /// A notebook parameter for a placeholder the server typed `ty`.
    fn from_param(value: &Value, ty: &Type) -> Result<Self, String> {
        let text = match value {
            Value::Null => return Ok(Self(Typed::Null)),
            Value::String(s) => s.clone(),
            Value::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => return Err("only single values (not lists or mappings) can be bound to a query".into()),
        };
        let kind = kind_of(ty).ok_or_else(|| format!("the query compares it with type {ty}, which parameters cannot have"))?;
        if kind == Kind::Text && !matches!(value, Value::String(_)) {
            return Err(format!("{value} is not text but the query compares it with {ty}"));
        }
        let typed = super::values::parse(Some(&text), kind).map_err(|e| format!("{e} (the query compares it with {ty})"))?;
        Ok(Self(typed))
    }
}

impl ToSql for PgValue {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match (&self.0, ty) {
            (Typed::Null, _) => Ok(IsNull::Yes),
            (Typed::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Typed::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Typed::Int(v), &Type::OID) => u32::try_from(*v)?.to_sql(ty, out),
            (Typed::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Typed::Int(v), &Type::NUMERIC) => numeric(&v.to_string(), out),
            (Typed::Int(v), _) => v.to_sql(ty, out),
            (Typed::Float(v), &Type::FLOAT4) => (*v as f32).to_sql(ty, out),
            (Typed::Float(v), &Type::NUMERIC) => numeric(&format!("{v}"), out),
            (Typed::Float(v), _) => v.to_sql(ty, out),
            (Typed::Decimal(v), &Type::NUMERIC) => numeric(v, out),
            (Typed::Decimal(v), &Type::FLOAT8 | &Type::FLOAT4) => v.parse::<f64>()?.to_sql(ty, out),
            (Typed::Bool(v), _) => v.to_sql(ty, out),
            (Typed::Text(v), &Type::JSONB) => {
                out.extend_from_slice(&[1]);
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            (Typed::Text(v), &Type::JSON) => {
                out.extend_from_slice(v.as_bytes());
                Ok(IsNull::No)
            }
            (Typed::Text(v), &Type::UUID) => {
                out.extend_from_slice(uuid::Uuid::parse_str(v)?.as_bytes());
                Ok(IsNull::No)
            }
            (Typed::Text(v) | Typed::Decimal(v), _) => v.as_str().to_sql(ty, out),
            (Typed::Date(v), _) => v.to_sql(ty, out),
            (Typed::Timestamp(v), &Type::DATE) => v.date().to_sql(ty, out),
            (Typed::Timestamp(v), &Type::TIMESTAMPTZ) => v.and_utc().to_sql(ty, out),
            (Typed::Timestamp(v), _) => v.to_sql(ty, out),
            (Typed::Timestamptz(v), _) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn numeric(text: &str, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
    let mut raw = Vec::new();
    pg_numeric::encode(text, &mut raw)?;
    out.extend_from_slice(&raw);
    Ok(IsNull::No)
}

/// The table's columns and their wire types, or `None` if it does not exist.
pub async fn describe(client: &Client, table: &TableName) -> Result<Option<(TargetTable, Vec<Type>)>, String> {
    let rows = client
        .query(
            "SELECT a.attname::text, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attnotnull AND NOT a.atthasdef \
             FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&table.quoted()],
        )
        .await
        .map_err(|e| describe_error(&e))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut columns = Vec::new();
    let mut types = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let ty = Type::from_oid(row.get(1)).unwrap_or(Type::UNKNOWN);
        let db_type: String = row.get(2);
        let kind = kind_of(&ty).ok_or_else(|| format!("{table}.{name} has type {db_type}, which the runner cannot write"))?;
        columns.push(TargetColumn { name, kind, db_type, required: row.get(3) });
        types.push(ty);
    }
    Ok(Some((TargetTable { columns }, types)))
}

pub fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "bigint",
        Kind::Float => "double precision",
        Kind::Bool => "boolean",
        Kind::Text => "text",
        Kind::Decimal => "numeric",
        Kind::Date => "date",
        Kind::Timestamp => "timestamp",
        Kind::Timestamptz => "timestamptz",
    }
}

/// Streams rows into the table with binary COPY (the caller holds the transaction).
pub async fn copy_in(
    client: &Client,
    table: &TableName,
    columns: &[String],
    types: &[Type],
    rows: impl Iterator<Item = Result<Vec<Typed>, String>>,
) -> Result<u64, String> {
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary)", table.quoted(), quoted.join(", "));
    let sink = client.copy_in::<_, bytes::Bytes>(&sql).await.map_err(|e| describe_error(&e))?;
    let writer = BinaryCopyInWriter::new(sink, types);
    let mut writer = pin!(writer);
    let mut count = 0u64;
    for row in rows {
        let values: Vec<PgValue> = row?.into_iter().map(PgValue::new).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        writer.as_mut().write(&refs).await.map_err(|e| format!("row {}: {}", count + 1, describe_error(&e)))?;
        count += 1;
    }
    writer.finish().await.map_err(|e| describe_error(&e))?;
    Ok(count)
}

/// The schema an unqualified table name resolves to on this connection (its search_path): the
/// table's own when it exists, else the one a CREATE would put it in.
pub async fn schema_of(client: &Client, path: &str) -> Result<String, String> {
    let row = client
        .query_one(
            "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1)), current_schema())::text",
            &[&path],
        )
        .await
        .map_err(|e| describe_error(&e))?;
    Ok(row.get(0))
}
