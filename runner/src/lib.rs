//! Tiffin's runner: executes Jupyter notebooks on a real kernel, and checks them for scheduling.

pub mod api;
pub mod cli;
pub mod data;
pub mod exec;
pub mod git;
pub mod interactive;
pub mod kernel;
pub mod lineage;
pub mod lint;
pub mod notebook;
pub mod notify;
pub mod pipeline;
pub mod policy;
pub mod sandbox;
pub mod schedule;
pub mod serve;
