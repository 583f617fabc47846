//! The labels of tables and columns: declared in the configuration, or found elsewhere (labels
//! earlier runs propagated to their outputs, stored in the source databases).
//!
//! Reads are matched generously and writes exactly, both to fail closed. A read of `orders` may be
//! `public.orders` or `sales.orders` depending on the search path, and SQLite ignores case even in
//! quoted names, so a read carries the labels of every catalog table it could be: same source, the
//! shorter path a suffix of the longer, compared without regard to case. An output's current
//! labels, which can only excuse it, come from its exact name alone.

use std::collections::{BTreeMap, BTreeSet};

use super::config::PolicyConfig;
use super::reads::{Columns, TableRead};
use super::table::TableId;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Labels {
    table: BTreeSet<String>,
    columns: BTreeMap<String, BTreeSet<String>>,
}

/// Labels per table and per column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: BTreeMap<TableId, Labels>,
}

impl Catalog {
    /// The catalog `[[policy.tables]]` declares; entries naming the same table are merged.
    pub fn declared(config: &PolicyConfig) -> Self {
        let mut catalog = Self::default();
        for entry in &config.tables {
            let labels = catalog.tables.entry(entry.table.clone()).or_default();
            labels.table.extend(entry.labels.iter().cloned());
            for (column, column_labels) in &entry.columns {
                labels.columns.entry(column.clone()).or_default().extend(column_labels.iter().cloned());
            }
        }
        catalog
    }

    /// Labels found elsewhere (propagated by earlier runs, stored in the source databases).
    pub fn add_table_labels(&mut self, table: TableId, labels: BTreeSet<String>) {
        self.tables.entry(table).or_default().table.extend(labels);
    }

    /// The labels a read carries: its table's labels and those of the columns it reads
    /// (`Columns::All` reads every labelled column).
    pub fn labels_read(&self, read: &TableRead) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for (_, labels) in self.tables.iter().filter(|(table, _)| may_be_same(table, &read.table)) {
            found.extend(labels.table.iter().cloned());
            for (column, column_labels) in &labels.columns {
                let reached = match &read.columns {
                    Columns::All => true,
                    Columns::Some(names) => names.contains(&column.to_lowercase()),
                };
                if reached {
                    found.extend(column_labels.iter().cloned());
                }
            }
        }
        found
    }

    /// The table-level labels of exactly this table (used to check outputs).
    pub fn table_labels(&self, table: &TableId) -> BTreeSet<String> {
        self.tables.get(table).map(|labels| labels.table.clone()).unwrap_or_default()
    }

    /// Every table the catalog knows, with its table and column labels, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = (&TableId, &BTreeSet<String>, &BTreeMap<String, BTreeSet<String>>)> {
        self.tables.iter().map(|(table, labels)| (table, &labels.table, &labels.columns))
    }
}

/// Whether a catalog table and a table read may be the same table (see the module comment).
fn may_be_same(catalog: &TableId, read: &TableId) -> bool {
    if catalog.source != read.source {
        return false;
    }
    let fold = |id: &TableId| id.parts().into_iter().map(|part| part.to_lowercase()).collect::<Vec<_>>();
    let (a, b) = (fold(catalog), fold(read));
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    long.ends_with(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> TableId {
        TableId::parse(text).unwrap()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn catalog() -> Catalog {
        let config = PolicyConfig::from_toml(
            r#"
[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]
[[policy.tables]]
table = "warehouse.customers"
labels = ["contract"]
[policy.tables.columns]
card = ["pci"]
[[policy.tables]]
table = "pg.sales.orders"
labels = ["finance"]
"#,
        )
        .unwrap();
        Catalog::declared(&config)
    }

    #[test]
    fn column_labels_apply_only_to_reads_of_those_columns() {
        let catalog = catalog();
        let some = |cols: &[&str]| TableRead { table: id("warehouse.customers"), columns: Columns::Some(set(cols)) };
        assert_eq!(catalog.labels_read(&some(&["id", "name"])), set(&["pii", "contract"]));
        assert_eq!(catalog.labels_read(&some(&["id", "card"])), set(&["pii", "contract", "pci"]));
        let all = TableRead { table: id("warehouse.customers"), columns: Columns::All };
        assert_eq!(catalog.labels_read(&all), set(&["pii", "contract", "pci"]));
    }

    #[test]
    fn reads_match_every_table_they_could_be() {
        let catalog = catalog();
        let read = |name: &str| catalog.labels_read(&TableRead { table: id(name), columns: Columns::All });
        assert_eq!(read("pg.orders"), set(&["finance"]), "unqualified: any schema");
        assert_eq!(read(r#"pg.SALES."ORDERS""#), set(&["finance"]), "case never hides a label");
        assert_eq!(read("pg.mydb.sales.orders"), set(&["finance"]));
        assert!(read("pg.hr.orders").is_empty(), "another schema");
        assert!(read("other.sales.orders").is_empty(), "another source");
    }

    #[test]
    fn outputs_use_the_exact_table_and_added_labels() {
        let mut catalog = catalog();
        assert!(catalog.table_labels(&id("pg.orders")).is_empty());
        assert_eq!(catalog.table_labels(&id("pg.sales.orders")), set(&["finance"]));
        catalog.add_table_labels(id("warehouse.report"), set(&["pii"]));
        assert_eq!(catalog.table_labels(&id("warehouse.report")), set(&["pii"]));
    }
}
