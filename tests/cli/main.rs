//! Tests of the command line (src/cli, src/report): subcommands, extract, terminal conventions.
//!
//! One test binary per layer (`cargo test --test cli`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../common/mod.rs"]
mod common;

mod batch;
mod extract;
mod subcommands;
mod terminal_cli;
mod terminal_width;
