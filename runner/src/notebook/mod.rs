//! The nbformat v4 notebook: model, file format, parameters.

pub mod cell_magic;
mod io;
mod model;
pub mod params;
pub mod python;
mod text;

pub use io::{Destination, NotebookFileError, read, to_file_text};
pub use model::{Cell, CellType, ModelError, Notebook};
