//! Terminal tables.
