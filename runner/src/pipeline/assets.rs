//! The Airflow Assets of a schedule: the tables its `%%upload` cells write (the run's outlets) and
//! the tables its `[trigger]` waits for. Each Asset is named `<source>.<table>` as Tiffin names
//! it, with a URI made from the dataset the runner's OpenLineage events name (`lineage::
//! openlineage`), so that two DAGs generated from the same `tiffin.toml` agree on an Asset, and
//! Airflow's Asset and the runner's lineage name the same table.

use std::path::{Path, PathBuf};

use crate::data::config::{Config, SourceConfig};
use crate::lineage::openlineage::postgres_dataset;

/// The schema an unqualified PostgreSQL table is taken to be in: the lineage event names the
/// schema the server resolved, which the generator cannot ask without connecting.
const DEFAULT_PG_SCHEMA: &str = "public";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    /// `<source>.<table>`.
    pub name: String,
    pub uri: Uri,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Fixed(String),
    /// A SQLite file inside the repository: its URI depends on where the DAG's checkout is
    /// (`sqlite://` + the absolute file path + `/` + the table), as the runner's lineage on that
    /// worker names it.
    SqliteInRepo {
        file: PathBuf,
        table: String,
    },
}

/// The Asset of `source.table` (`source` as the cell or spec names it; empty: the default).
pub fn asset(config: &Config, repo_root: &Path, source: &str, table: &str) -> Asset {
    let (source_name, found) = match config.source(Some(source).filter(|s| !s.is_empty())) {
        Some((name, found)) => (name.to_owned(), Some(found)),
        None => (source.to_owned(), None),
    };
    let uri = match found {
        Some(SourceConfig::Postgres { url, .. }) => {
            let (namespace, name) = postgres_dataset(url, DEFAULT_PG_SCHEMA, table);
            // Airflow's own form for a PostgreSQL table (`postgres://host:port/db/schema/table`),
            // which its OpenLineage integration turns back into the runner's namespace and name.
            Uri::Fixed(format!("{namespace}/{}", name.replace('.', "/")))
        }
        Some(SourceConfig::Sqlite { path }) => {
            let root = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_path_buf());
            let file = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            match file.strip_prefix(&root) {
                Ok(inside) => Uri::SqliteInRepo { file: inside.to_path_buf(), table: table.to_owned() },
                Err(_) => Uri::Fixed(format!("sqlite://{}/{table}", file.display())),
            }
        }
        None => Uri::Fixed(format!("tiffin://{source_name}/{table}")),
    };
    Asset { name: format!("{source_name}.{table}"), uri }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_tables_take_airflows_uri_form() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("tiffin.toml");
        std::fs::write(&file, "[sources.pg]\ntype = \"postgres\"\nurl = \"postgresql://ana@db.example.com:5433/sales\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let config = Config::load(&file, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let found = asset(&config, Path::new("/repo"), "pg", "orders");
        assert_eq!(found.name, "pg.orders");
        assert_eq!(found.uri, Uri::Fixed("postgres://db.example.com:5433/sales/public/orders".into()));
        let qualified = asset(&config, Path::new("/repo"), "pg", "mart.totals");
        assert_eq!(qualified.uri, Uri::Fixed("postgres://db.example.com:5433/sales/mart/totals".into()));
    }
}
