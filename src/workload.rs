//! Stage 'workload' of the benchmark data flow (see lib.rs).
