//! The purpose policy: which data a run may read for its purpose, and which labels its outputs
//! inherit.
//!
//! A catalog gives labels to tables (and columns); `[policy.labels]` says which purposes each label
//! allows. Before any data moves, every `%%sql` cell is parsed to the tables and columns it reads
//! ([`tables_read`]); a run may read a labelled table only if each of its labels allows the run's
//! purpose, and a run without a purpose only unlabelled tables. Outputs inherit every input label,
//! minus those a reviewed `[[policy.reclassify]]` entry drops. SQL that cannot be resolved is
//! refused outright: the runner must know every data flow ([`decide`]).

mod catalog;
pub mod command;
mod config;
mod decide;
mod edit;
mod error;
mod functions;
mod reads;
mod run;
mod table;

pub use catalog::Catalog;
pub use config::{CatalogEntry, Mode, PolicyConfig, Reclassification};
pub use decide::{Decision, Input, InputFacts, Output, Violation, decide, decide_outputs};
pub use error::PolicyError;
pub use reads::{Columns, TableRead, tables_read};
pub use run::{RunCheck, RunCheckError, check};
pub use table::{Dialect, TableId};
