//! Tests of the analysis and model layers (src/analysis, src/model): crash attribution, the
//! populate/sync replay, what a filtered dump's lost pages do to the verdict, seeded random plans.
//!
//! One test binary per layer (`cargo test --test analysis`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../common/mod.rs"]
mod common;

mod crash_fixtures;
mod filtered_dumps;
mod live;
mod model_replay;
mod property;
