//! pgsync-dump: offline x86-64 Linux crash-dump analyzer for missing kernel
//! top-level page-table syncs.
//!
//! Layers, data flowing one way (lower layers never name higher ones):
//! [`dump`] (physical memory) -> [`arch::x86_64`] (paging, translation) ->
//! [`debuginfo`] (symbols, DWARF types) -> [`kernel`] (tasks, mms, pgd_list) ->
//! [`analysis`] (the checker) -> [`report`] (table, JSON). [`synth`] writes
//! synthetic kernels and dumps (fixtures, property tests, `extract`).
#![deny(unsafe_code)]

pub mod analysis;
pub mod arch;
pub mod debuginfo;
pub mod dump;
pub mod extract;
pub mod kernel;
pub mod model;
pub mod report;
pub mod synth;
