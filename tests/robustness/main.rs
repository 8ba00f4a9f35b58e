//! Tests of bad input: one-line errors and exit codes, the corruption campaign, the fuzz regressions.
//!
//! One test binary per layer (`cargo test --test robustness`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../../fuzz/fuzz_targets/bodies/mod.rs"]
mod bodies;
#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod corruption_campaign;
mod fuzz_regressions;
