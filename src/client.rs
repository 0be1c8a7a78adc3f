//! Stage 'client' of the benchmark data flow (see lib.rs).
