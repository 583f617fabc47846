//! Functions a SQL cell may not call because they move data the runner cannot see: they read
//! server files, reach other databases, run queries given as strings, or load code.
//!
//! A deny-list can never be complete, so it is one layer of two: sources should also connect with
//! a role that cannot call such functions at all. Names are compared without regard to case or
//! schema (`pg_catalog.PG_READ_FILE` is `pg_read_file`), and both dialects' lists apply to every
//! source, since refusing a harmless name costs less than missing a dangerous one.

/// Whole families: `dblink_exec`, `pg_ls_waldir`, `lo_export`, `pg_file_write`...
const PREFIXES: &[&str] = &["dblink", "pg_ls_", "pg_read_", "pg_file_", "lo_"];

const NAMES: &[&str] = &[
    // PostgreSQL: server files, large objects, queries passed as text.
    "pg_stat_file",
    "pg_logdir_ls",
    "loread",
    "lowrite",
    "ts_stat",
    "ts_rewrite",
    // SQLite (extensions the CLI and common builds load): files, code, queries as text.
    "readfile",
    "writefile",
    "edit",
    "eval",
    "fsdir",
    "lsmode",
    "load_extension",
    "fts3_tokenizer",
];

/// Whether `name` (the function's last name part) is one a SQL cell may not call.
pub fn is_forbidden(name: &str) -> bool {
    let name = name.to_lowercase();
    // query_to_xml, table_to_xmlschema, cursor_to_xml_and_xmlschema...: each runs a query or reads
    // a table named in a string.
    NAMES.contains(&name.as_str()) || PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || name.contains("_to_xml")
}

#[cfg(test)]
mod tests {
    use super::is_forbidden;

    #[test]
    fn file_network_and_dynamic_query_functions_are_forbidden() {
        for name in ["pg_read_file", "PG_READ_BINARY_FILE", "pg_ls_dir", "lo_import", "dblink_exec", "query_to_xml", "readfile"] {
            assert!(is_forbidden(name), "{name}");
        }
        for name in ["sum", "lower", "coalesce", "date_trunc", "xmlagg"] {
            assert!(!is_forbidden(name), "{name}");
        }
    }
}
