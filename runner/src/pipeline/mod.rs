//! From a schedule spec to what is reviewed and run: the generated Airflow DAG, the preview of
//! everything a submission commits, the trial run, and the review branch (with an optional push
//! and pull request).

pub mod assets;
pub mod codehost;
pub mod command;
pub mod dag;
mod exec_args;
pub mod preview;
pub mod review;
pub mod settings;
pub mod testplan;
pub mod trial;
