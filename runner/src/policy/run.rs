//! The policy check of one run's data plan, before any data moves: the catalog as declared plus the
//! labels earlier runs stored with their outputs, every `%%sql` cell resolved to what it reads, and
//! every `%%upload` target checked against what it already carries.

use std::collections::{BTreeMap, BTreeSet};

use crate::data::{self, DataError, Flavor, Plan};

use super::{Catalog, Decision, Dialect, Input, Mode, Output, PolicyConfig, PolicyError, TableId, decide, decide_outputs};

/// The checked run: the decision, and whether the mode lets a run with violations go ahead.
#[derive(Debug, Clone)]
pub struct RunCheck {
    pub purpose: Option<String>,
    pub mode: Mode,
    pub decision: Decision,
    /// The labels as the check saw them (declared and stored), for the lineage's tags.
    pub catalog: Catalog,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RunCheckError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Data(#[from] DataError),
}

impl RunCheck {
    /// Enforce mode with violations: the run must not move any data.
    pub fn refused(&self) -> bool {
        self.mode == Mode::Enforce && !self.decision.violations.is_empty()
    }

    /// The labels each output gets, by `source.table`, as the upload stores them.
    pub fn output_labels(&self) -> BTreeMap<String, BTreeSet<String>> {
        self.decision.outputs.iter().map(|(table, labels)| (table.to_string(), labels.clone())).collect()
    }

    /// The labels the input of this (1-based) cell carries.
    pub fn input_labels(&self, cell: usize) -> BTreeSet<String> {
        self.decision.inputs.iter().find(|facts| facts.cell == cell).map(|facts| facts.labels.clone()).unwrap_or_default()
    }
}

/// Checks the plan; `inherited` holds labels the outputs inherit from inputs outside this
/// plan (an interactive session's earlier fetches).
pub async fn check(plan: &Plan, purpose: Option<&str>, inherited: &BTreeSet<String>) -> Result<RunCheck, RunCheckError> {
    let config = PolicyConfig::from_table(&plan.config.policy)?;
    let mut catalog = Catalog::declared(&config);
    let sources: BTreeSet<&str> =
        plan.queries.iter().map(|q| q.source.as_str()).chain(plan.uploads.iter().map(|u| u.source.as_str())).collect();
    for (table, labels) in data::stored_labels(&plan.config, &sources).await? {
        catalog.add_table_labels(TableId::parse(&table)?, labels);
    }
    let existing = data::existing_tables(plan).await?;
    let inputs: Vec<Input> = plan
        .queries
        .iter()
        .map(|query| Input {
            cell: query.cell.index + 1,
            name: &query.cell.name,
            source: &query.source,
            dialect: dialect(query.flavor),
            sql: &query.sql,
        })
        .collect();
    let outputs = plan
        .uploads
        .iter()
        .map(|upload| {
            let table = TableId::new(&upload.source, &upload.cell.table.to_string())?;
            let exists = existing.contains(&table.to_string());
            Ok(Output { cell: upload.cell.index + 1, table, exists })
        })
        .collect::<Result<Vec<_>, PolicyError>>()?;
    let mut decision = decide(&config, &catalog, purpose, &inputs, &[])?;
    decision.run_labels.extend(inherited.iter().cloned());
    decide_outputs(&config, &catalog, &mut decision, &outputs);
    Ok(RunCheck { purpose: purpose.map(str::to_owned), mode: config.mode(), decision, catalog })
}

fn dialect(flavor: Flavor) -> Dialect {
    match flavor {
        Flavor::Sqlite => Dialect::Sqlite,
        Flavor::Postgres => Dialect::Postgres,
    }
}
