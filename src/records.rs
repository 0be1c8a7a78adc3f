//! Stage 'records' of the benchmark data flow (see lib.rs).
