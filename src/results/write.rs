//! Writing the users' result format (used by run and sweep).
