//! Text outputs of `compare` and `summarize`: CSV files and terminal tables.

pub mod csv;
pub mod html;
pub mod table;
