//! Text outputs of `compare` and `summarize`: CSV files and terminal tables.

pub mod csv;
pub mod table;
