//! Schedules: the declarative spec kept in git next to the notebook, and the parameter macros
//! rendered for each run.

pub mod cadence;
pub mod command;
pub mod spec;
pub mod template;
pub mod trigger;

pub use cadence::next_runs;
pub use spec::{Parameter, ReadOn, Spec, SpecError, load, parse};
