//! The fuzz targets' bodies, shared by the libFuzzer binaries (one per
//! target, `fuzz/fuzz_targets/*.rs`) and the regression test that replays
//! every input a campaign found (`tests/robustness/fuzz_regressions.rs`): each `run`
//! takes the raw input bytes exactly as libFuzzer hands them over.
#![allow(dead_code)]

pub mod fixtures;

pub mod btf;
pub mod dwarf_types;
pub mod elf_vmcore;
pub mod kallsyms;
pub mod kdump;
pub mod oops_parser;
pub mod page_walk_and_checker;
pub mod task_walk;
pub mod vmcoreinfo_notes;
