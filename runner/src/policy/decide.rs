//! The check of a whole run: what each SQL cell reads and which labels that carries, whether the
//! run's purpose is allowed by all of them, and which labels each output inherits.

use std::collections::BTreeSet;

use super::PolicyError;
use super::catalog::Catalog;
use super::config::PolicyConfig;
use super::reads::{TableRead, tables_read};
use super::table::{Dialect, TableId};

/// A `%%sql` cell of the run.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub cell: usize,
    pub name: &'a str,
    pub source: &'a str,
    pub dialect: Dialect,
    pub sql: &'a str,
}

/// A `%%upload` cell of the run. `exists`: the target table is already there (and must already
/// carry the labels the run gives it). It borrows nothing, so unlike `Input` it has no lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub cell: usize,
    pub table: TableId,
    pub exists: bool,
}

/// One way the run breaks the policy, phrased for the notebook's author: shown as
/// "cell N <reason>" (`Display`), or the reason alone where the cell is obvious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub cell: usize,
    /// What the cell does wrong, starting with its verb ("reads ...", "writes ...").
    pub reason: String,
}

impl Violation {
    /// SQL the runner cannot resolve to the tables it reads: refused in every mode (fail closed).
    pub fn unresolvable(cell: usize, why: &str) -> Self {
        Self { cell, reason: format!("has SQL that cannot be resolved to the tables it reads, so it is refused: {why}") }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cell {} {}", self.cell, self.reason)
    }
}

/// What one SQL cell reads and the labels that carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFacts {
    pub cell: usize,
    pub reads: Vec<TableRead>,
    pub labels: BTreeSet<String>,
}

/// The outcome of [`decide`]. In `enforce` mode the caller refuses the run unless `violations`
/// is empty; in `log` mode it runs anyway and records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub inputs: Vec<InputFacts>,
    /// Every label any input carries: what the run's outputs inherit.
    pub run_labels: BTreeSet<String>,
    /// The labels each output gets, after reclassification.
    pub outputs: Vec<(TableId, BTreeSet<String>)>,
    pub violations: Vec<Violation>,
    /// Output, the labels a reviewed entry dropped from it, and the entry's reason.
    pub reclassified: Vec<(TableId, Vec<String>, String)>,
}

/// Checks the whole run. SQL that cannot be resolved to its tables is an error, not a violation,
/// in both modes: the run's lineage would be unknown.
pub fn decide(
    config: &PolicyConfig,
    catalog: &Catalog,
    purpose: Option<&str>,
    inputs: &[Input],
    outputs: &[Output],
) -> Result<Decision, PolicyError> {
    let mut decision =
        Decision { inputs: Vec::new(), run_labels: BTreeSet::new(), outputs: Vec::new(), violations: Vec::new(), reclassified: Vec::new() };
    for input in inputs {
        let reads = tables_read(input.sql, input.source, input.dialect)
            .map_err(|error| PolicyError::Unresolvable { cell: input.cell, reason: error.to_string() })?;
        let mut labels = BTreeSet::new();
        for read in &reads {
            let read_labels = catalog.labels_read(read);
            let refused: Vec<&String> = read_labels.iter().filter(|label| !allows(config, label, purpose)).collect();
            if !refused.is_empty() {
                decision.violations.push(Violation { cell: input.cell, reason: read_reason(config, read, &refused, purpose) });
            }
            labels.extend(read_labels);
        }
        decision.run_labels.extend(labels.iter().cloned());
        decision.inputs.push(InputFacts { cell: input.cell, reads, labels });
    }
    decide_outputs(config, catalog, &mut decision, outputs);
    Ok(decision)
}

/// The outputs' part of [`decide`]: each output inherits `decision.run_labels` minus what a
/// reviewed reclassification drops, and an existing table must already carry them.
pub fn decide_outputs(config: &PolicyConfig, catalog: &Catalog, decision: &mut Decision, outputs: &[Output]) {
    for output in outputs {
        let mut labels = decision.run_labels.clone();
        for entry in config.reclassify.iter().filter(|entry| entry.output == output.table) {
            let dropped: Vec<String> = entry.drop.iter().filter(|label| labels.remove(*label)).cloned().collect();
            if !dropped.is_empty() {
                decision.reclassified.push((output.table.clone(), dropped, entry.reason.clone()));
            }
        }
        if output.exists {
            let current = catalog.table_labels(&output.table);
            let missing: Vec<&String> = labels.difference(&current).collect();
            if !missing.is_empty() {
                decision.violations.push(Violation {
                    cell: output.cell,
                    reason: format!(
                        "writes {}, which lacks {} carried by the run's inputs; label the table or add a reviewed \
                         [[policy.reclassify]] entry",
                        output.table,
                        label_list(&missing)
                    ),
                });
            }
        }
        decision.outputs.push((output.table.clone(), labels));
    }
}

/// A run without a purpose may read only unlabelled data; a label missing from `[policy.labels]`
/// allows nothing.
fn allows(config: &PolicyConfig, label: &str, purpose: Option<&str>) -> bool {
    purpose.is_some_and(|purpose| config.labels.get(label).is_some_and(|purposes| purposes.contains(purpose)))
}

fn read_reason(config: &PolicyConfig, read: &TableRead, refused: &[&String], purpose: Option<&str>) -> String {
    let labels = label_list(refused);
    let Some(purpose) = purpose else {
        return format!("reads {} ({labels}): a run without a purpose may read only unlabeled tables", read.table);
    };
    let verb = if refused.len() == 1 { "does" } else { "do" };
    let mut message = format!("reads {} ({labels}), which {verb} not allow the purpose `{purpose}`", read.table);
    let undeclared: Vec<&String> = refused.iter().copied().filter(|label| !config.labels.contains_key(*label)).collect();
    if !undeclared.is_empty() {
        message.push_str(&format!("; {} not in [policy.labels], so it allows no purpose", quoted(&undeclared)));
    }
    message
}

/// "label `pii`" or "labels `pii`, `finance`".
fn label_list(labels: &[&String]) -> String {
    format!("label{} {}", if labels.len() == 1 { "" } else { "s" }, quoted(labels))
}

fn quoted(labels: &[&String]) -> String {
    labels.iter().map(|label| format!("`{label}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Mode;

    const POLICY: &str = r#"
[policy]
mode = "log"
[policy.labels]
pii = ["fraud_detection", "billing"]
finance = ["reporting", "billing"]
[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]
[[policy.tables]]
table = "warehouse.orders"
[policy.tables.columns]
amount = ["finance"]
[[policy.tables]]
table = "warehouse.secrets"
labels = ["secret"]
[[policy.tables]]
table = "warehouse.report"
labels = ["pii"]
[[policy.reclassify]]
output = "warehouse.daily_totals"
drop = ["pii"]
reason = "aggregates only (review #12)"
"#;

    fn config() -> PolicyConfig {
        PolicyConfig::from_toml(POLICY).unwrap()
    }

    fn input(cell: usize, sql: &str) -> Input<'_> {
        Input { cell, name: "df", source: "warehouse", dialect: Dialect::Sqlite, sql }
    }

    fn output(cell: usize, table: &str, exists: bool) -> Output {
        Output { cell, table: TableId::parse(table).unwrap(), exists }
    }

    fn run(purpose: Option<&str>, inputs: &[Input], outputs: &[Output]) -> Decision {
        let config = config();
        decide(&config, &Catalog::declared(&config), purpose, inputs, outputs).unwrap()
    }

    fn messages(decision: &Decision) -> Vec<String> {
        decision.violations.iter().map(ToString::to_string).collect()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn allowed_purposes_pass() {
        let decision = run(Some("billing"), &[input(1, "SELECT c.id, o.amount FROM customers c JOIN orders o ON o.cid = c.id")], &[]);
        assert!(decision.violations.is_empty(), "{:?}", decision.violations);
        assert_eq!(decision.run_labels, set(&["finance", "pii"]));
        assert_eq!(decision.inputs[0].reads.len(), 2);
    }

    #[test]
    fn a_disallowed_purpose_is_named_with_table_and_label() {
        let decision = run(Some("marketing"), &[input(3, "SELECT id FROM customers")], &[]);
        assert_eq!(messages(&decision), ["cell 3 reads warehouse.customers (label `pii`), which does not allow the purpose `marketing`"]);
        // Column labels only when the column is read.
        assert!(run(Some("fraud_detection"), &[input(1, "SELECT id FROM orders")], &[]).violations.is_empty());
        assert_eq!(run(Some("fraud_detection"), &[input(1, "SELECT sum(amount) FROM orders")], &[]).violations.len(), 1);
        assert_eq!(run(Some("fraud_detection"), &[input(1, "SELECT * FROM orders")], &[]).violations.len(), 1);
    }

    #[test]
    fn a_run_without_purpose_reads_only_unlabeled_tables() {
        let decision = run(None, &[input(2, "SELECT * FROM customers"), input(4, "SELECT id FROM orders")], &[]);
        assert_eq!(
            messages(&decision),
            ["cell 2 reads warehouse.customers (label `pii`): a run without a purpose may read only unlabeled tables"]
        );
    }

    #[test]
    fn an_undeclared_label_allows_no_purpose() {
        let decision = run(Some("billing"), &[input(5, "SELECT * FROM secrets")], &[]);
        assert_eq!(
            messages(&decision),
            ["cell 5 reads warehouse.secrets (label `secret`), which does not allow the purpose `billing`; `secret` not in \
             [policy.labels], so it allows no purpose"]
        );
    }

    #[test]
    fn log_mode_reports_the_same_violations() {
        // `decide` never refuses for a violation; the caller reads the mode.
        assert_eq!(config().mode(), Mode::Log);
        assert_eq!(run(Some("marketing"), &[input(1, "SELECT * FROM customers")], &[]).violations.len(), 1);
    }

    #[test]
    fn unresolvable_sql_is_an_error_not_a_violation() {
        let config = config();
        let error = decide(&config, &Catalog::declared(&config), Some("billing"), &[input(6, "DELETE FROM customers")], &[]).unwrap_err();
        assert!(matches!(error, PolicyError::Unresolvable { cell: 6, .. }), "{error}");
    }

    #[test]
    fn outputs_inherit_the_labels_of_all_inputs() {
        let inputs = [input(1, "SELECT id FROM customers"), input(2, "SELECT amount FROM orders")];
        let decision = run(Some("billing"), &inputs, &[output(7, "warehouse.new_table", false), output(8, "warehouse.report", true)]);
        assert_eq!(decision.outputs[0], (TableId::parse("warehouse.new_table").unwrap(), set(&["finance", "pii"])));
        assert_eq!(
            messages(&decision),
            ["cell 8 writes warehouse.report, which lacks label `finance` carried by the run's inputs; label the table or add a \
             reviewed [[policy.reclassify]] entry"]
        );
        // Labels stored with the table (propagated by an earlier run) count.
        let config = config();
        let mut catalog = Catalog::declared(&config);
        catalog.add_table_labels(TableId::parse("warehouse.report").unwrap(), set(&["finance"]));
        let decision = decide(&config, &catalog, Some("billing"), &inputs, &[output(8, "warehouse.report", true)]).unwrap();
        assert!(decision.violations.is_empty(), "{:?}", decision.violations);
    }

    #[test]
    fn a_reviewed_reclassification_drops_labels_from_its_output_only() {
        let inputs = [input(1, "SELECT count(*) FROM customers")];
        let decision = run(Some("billing"), &inputs, &[output(2, "warehouse.daily_totals", true), output(3, "warehouse.other", false)]);
        assert!(decision.violations.is_empty(), "{:?}", decision.violations);
        assert_eq!(decision.outputs[0].1, set(&[]));
        assert_eq!(decision.outputs[1].1, set(&["pii"]));
        assert_eq!(
            decision.reclassified,
            [(TableId::parse("warehouse.daily_totals").unwrap(), vec!["pii".to_owned()], "aggregates only (review #12)".to_owned())]
        );
    }
}
