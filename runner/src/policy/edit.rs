//! Edits of the `[policy]` table in `tiffin.toml` text, keeping the rest of the file (comments,
//! order, formatting) as it was. Both `[[policy.tables]]` and inline `tables = [{...}]` are
//! understood. Every edit is checked by parsing the result as a policy before it is returned, so
//! a file is never written into a state the runner would refuse.

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, TableLike, Value};

use super::PolicyError;
use super::config::PolicyConfig;
use super::table::TableId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
}

/// The edited text and the items actually added or removed (an item already in the wanted state
/// is left alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub text: String,
    pub changed: Vec<String>,
}

/// Adds labels to (or removes them from) a catalog table, or one of its columns. A missing entry
/// is created; an entry left with no labels at all is removed.
pub fn label(text: &str, table: &TableId, column: Option<&str>, labels: &[String], op: Op) -> Result<Edit, PolicyError> {
    let labels = clean(labels, "label")?;
    let mut document = parse(text)?;
    let (policy, inline) = policy_table(&mut document)?;
    if op == Op::Remove && !policy.contains_key("tables") {
        return Ok(unchanged(text));
    }
    let empty_entries = if inline { Item::Value(Value::Array(Array::new())) } else { Item::ArrayOfTables(ArrayOfTables::new()) };
    let changed = match policy.entry("tables").or_insert(empty_entries) {
        Item::ArrayOfTables(entries) => {
            let found = entries.iter().position(|entry| names(entry, table));
            let index = match found {
                Some(index) => index,
                None if op == Op::Add => {
                    let mut entry = Table::new();
                    entry.insert("table", toml_edit::value(table.to_string()));
                    entries.push(entry);
                    entries.len() - 1
                }
                None => return Ok(unchanged(text)),
            };
            let entry = entries.get_mut(index).ok_or_else(|| PolicyError::Config("catalog entry vanished".into()))?;
            let changed = edit_entry(entry, false, column, &labels, op)?;
            if is_empty(entry) {
                entries.remove(index);
            }
            changed
        }
        Item::Value(Value::Array(entries)) => {
            let found = entries.iter().position(|entry| entry.as_inline_table().is_some_and(|entry| names(entry, table)));
            let index = match found {
                Some(index) => index,
                None if op == Op::Add => {
                    let mut entry = InlineTable::new();
                    entry.insert("table", table.to_string().into());
                    entries.push(entry);
                    entries.len() - 1
                }
                None => return Ok(unchanged(text)),
            };
            let entry = entries
                .get_mut(index)
                .and_then(Value::as_inline_table_mut)
                .ok_or_else(|| PolicyError::Config("`policy.tables` must hold tables".into()))?;
            let changed = edit_entry(entry, true, column, &labels, op)?;
            if is_empty(entry) {
                entries.remove(index);
            }
            changed
        }
        _ => return Err(PolicyError::Config("`policy.tables` must be an array of tables".into())),
    };
    finish(text, document, changed)
}

/// Lets a label allow purposes (or stop allowing them). A label left allowing nothing stays
/// declared, which is also what an undeclared label means.
pub fn allow(text: &str, label: &str, purposes: &[String], op: Op) -> Result<Edit, PolicyError> {
    let label = clean(&[label.to_owned()], "label")?.remove(0);
    let purposes = clean(purposes, "purpose")?;
    let mut document = parse(text)?;
    let (policy, inline) = policy_table(&mut document)?;
    if op == Op::Remove && !policy.contains_key("labels") {
        return Ok(unchanged(text));
    }
    let labels = policy
        .entry("labels")
        .or_insert_with(|| new_table(inline))
        .as_table_like_mut()
        .ok_or_else(|| PolicyError::Config("`policy.labels` must be a table".into()))?;
    let changed = edit_array(labels, &label, &purposes, op, false)?;
    finish(text, document, changed)
}

fn parse(text: &str) -> Result<DocumentMut, PolicyError> {
    text.parse().map_err(|e: toml_edit::TomlError| PolicyError::Config(e.to_string()))
}

/// The `[policy]` table, created (implicit, so no empty header appears) if missing, and whether
/// it is an inline table, whose sub-tables must be inline too.
fn policy_table(document: &mut DocumentMut) -> Result<(&mut dyn TableLike, bool), PolicyError> {
    let item = document.as_table_mut().entry("policy").or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    let inline = item.is_inline_table();
    let table = item.as_table_like_mut().ok_or_else(|| PolicyError::Config("`policy` must be a table".into()))?;
    Ok((table, inline))
}

fn new_table(inline: bool) -> Item {
    if inline { Item::Value(Value::InlineTable(InlineTable::new())) } else { Item::Table(Table::new()) }
}

fn names(entry: &dyn TableLike, table: &TableId) -> bool {
    entry.get("table").and_then(Item::as_str).and_then(|name| TableId::parse(name).ok()).as_ref() == Some(table)
}

fn is_empty(entry: &dyn TableLike) -> bool {
    !entry.contains_key("labels") && !entry.contains_key("columns")
}

fn edit_entry(
    entry: &mut dyn TableLike,
    inline: bool,
    column: Option<&str>,
    labels: &[String],
    op: Op,
) -> Result<Vec<String>, PolicyError> {
    let Some(column) = column else {
        return edit_array(entry, "labels", labels, op, true);
    };
    if op == Op::Remove && !entry.contains_key("columns") {
        return Ok(Vec::new());
    }
    let columns = entry
        .entry("columns")
        .or_insert_with(|| new_table(inline))
        .as_table_like_mut()
        .ok_or_else(|| PolicyError::Config("`columns` of a catalog entry must be a table".into()))?;
    // Column names compare without regard to case: edit the key already there.
    let wanted = column.trim().to_lowercase();
    let key = columns.iter().map(|(key, _)| key.to_owned()).find(|key| key.to_lowercase() == wanted).unwrap_or(wanted);
    let changed = edit_array(columns, &key, labels, op, true)?;
    if columns.is_empty() {
        entry.remove("columns");
    }
    Ok(changed)
}

/// Adds `items` to the string array at `key` (created if missing) or removes them from it.
fn edit_array(table: &mut dyn TableLike, key: &str, items: &[String], op: Op, drop_empty: bool) -> Result<Vec<String>, PolicyError> {
    if op == Op::Remove && !table.contains_key(key) {
        return Ok(Vec::new());
    }
    let array = table
        .entry(key)
        .or_insert_with(|| toml_edit::value(Array::new()))
        .as_array_mut()
        .ok_or_else(|| PolicyError::Config(format!("`{key}` must be an array of strings")))?;
    let present = |array: &Array, item: &str| array.iter().any(|value| value.as_str() == Some(item));
    let mut changed = Vec::new();
    for item in items {
        match op {
            Op::Add if !present(array, item) => {
                array.push(item.as_str());
                changed.push(item.clone());
            }
            Op::Remove if present(array, item) => {
                array.retain(|value| value.as_str() != Some(item));
                changed.push(item.clone());
            }
            _ => {}
        }
    }
    if op == Op::Remove && !changed.is_empty() {
        // Removing the first item leaves its neighbour's leading space behind.
        array.fmt();
    }
    if drop_empty && array.is_empty() {
        table.remove(key);
    }
    Ok(changed)
}

fn clean(names: &[String], what: &str) -> Result<Vec<String>, PolicyError> {
    names
        .iter()
        .map(|name| match name.trim() {
            "" => Err(PolicyError::Config(format!("an empty {what} name"))),
            name => Ok(name.to_owned()),
        })
        .collect()
}

fn unchanged(text: &str) -> Edit {
    Edit { text: text.to_owned(), changed: Vec::new() }
}

fn finish(text: &str, document: DocumentMut, changed: Vec<String>) -> Result<Edit, PolicyError> {
    if changed.is_empty() {
        return Ok(unchanged(text));
    }
    let text = document.to_string();
    PolicyConfig::from_toml(&text)?;
    Ok(Edit { text, changed })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# Tiffin settings
[sources.warehouse]   # the embedded default
path = "warehouse.db"

[policy]
mode = "enforce"  # refuse violations

# Who may use what.
[policy.labels]
pii = ["fraud_detection"]   # reviewed 2024-05

# Customers: personal data.
[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]
"#;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn id(text: &str) -> TableId {
        TableId::parse(text).unwrap()
    }

    #[test]
    fn labelling_keeps_comments_and_formatting() {
        let edit = label(FILE, &id("warehouse.Customers"), None, &strings(&["finance", "pii"]), Op::Add).unwrap();
        assert_eq!(edit.changed, ["finance"]);
        assert_eq!(edit.text, FILE.replace(r#"labels = ["pii"]"#, r#"labels = ["pii", "finance"]"#));
        let config = PolicyConfig::from_toml(&edit.text).unwrap();
        assert_eq!(config.tables[0].labels.len(), 2);
    }

    #[test]
    fn a_missing_entry_is_created_and_an_emptied_one_removed() {
        let edit = label(FILE, &id("pg.sales.orders"), Some("Amount"), &strings(&["finance"]), Op::Add).unwrap();
        assert!(edit.text.starts_with(FILE), "{}", edit.text);
        assert!(
            edit.text.ends_with("[[policy.tables]]\ntable = \"pg.sales.orders\"\n\n[policy.tables.columns]\namount = [\"finance\"]\n"),
            "{}",
            edit.text
        );
        let config = PolicyConfig::from_toml(&edit.text).unwrap();
        assert_eq!(config.tables[1].columns["amount"].len(), 1);
        let back = label(&edit.text, &id("pg.sales.orders"), Some("AMOUNT"), &strings(&["finance"]), Op::Remove).unwrap();
        assert_eq!(back.text, FILE);
    }

    #[test]
    fn unlabelling_removes_only_what_was_there() {
        let edit = label(FILE, &id("warehouse.customers"), None, &strings(&["pii", "other"]), Op::Remove).unwrap();
        assert_eq!(edit.changed, ["pii"]);
        assert!(!edit.text.contains("warehouse.customers"), "empty entry kept:\n{}", edit.text);
        assert!(edit.text.contains("# reviewed 2024-05"));
        let nothing = label(FILE, &id("warehouse.orders"), None, &strings(&["pii"]), Op::Remove).unwrap();
        assert_eq!((nothing.text.as_str(), nothing.changed.len()), (FILE, 0));
    }

    #[test]
    fn allowing_edits_the_label_in_place() {
        let edit = allow(FILE, "pii", &strings(&["billing"]), Op::Add).unwrap();
        assert_eq!(edit.text, FILE.replace(r#"pii = ["fraud_detection"]"#, r#"pii = ["fraud_detection", "billing"]"#));
        let edit = allow(&edit.text, "pii", &strings(&["fraud_detection"]), Op::Remove).unwrap();
        assert!(edit.text.contains("pii = [\"billing\"]   # reviewed 2024-05"), "{}", edit.text);
        let new = allow(FILE, "finance", &strings(&["reporting"]), Op::Add).unwrap();
        assert!(new.text.contains("pii = [\"fraud_detection\"]   # reviewed 2024-05\nfinance = [\"reporting\"]\n"), "{}", new.text);
    }

    #[test]
    fn a_file_without_policy_gets_one() {
        let edit = label("[sources.w]\npath = \"w.db\"\n", &id("w.t"), None, &strings(&["pii"]), Op::Add).unwrap();
        assert_eq!(edit.text, "[sources.w]\npath = \"w.db\"\n\n[[policy.tables]]\ntable = \"w.t\"\nlabels = [\"pii\"]\n");
        let inline = label("policy = { tables = [] }\n", &id("w.t"), Some("c"), &strings(&["pii"]), Op::Add).unwrap();
        assert_eq!(PolicyConfig::from_toml(&inline.text).unwrap().tables[0].columns["c"].len(), 1, "{}", inline.text);
    }

    #[test]
    fn edits_that_would_break_the_policy_are_refused() {
        assert!(label("[policy]\nlables = 1\n", &id("w.t"), None, &strings(&["pii"]), Op::Add).is_err());
        assert!(label(FILE, &id("w.t"), None, &strings(&[" "]), Op::Add).is_err());
        assert!(label("[policy\n", &id("w.t"), None, &strings(&["pii"]), Op::Add).is_err());
    }
}
