//! CSV files.
