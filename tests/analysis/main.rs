//! Tests of the analysis and model layers (src/analysis, src/model): crash attribution, the populate/sync replay, seeded random plans.
//!
//! One test binary per layer (`cargo test --test analysis`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../common/mod.rs"]
mod common;

mod crash_fixtures;
mod model_replay;
mod property;
