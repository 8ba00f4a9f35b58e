//! Two halves, one input:
//! 1. the page-table walker over arbitrary physical memory: pages the input
//!    places anywhere (SparseMemory), a fuzzed root, 4- or 5-level, an SME
//!    mask, walked for fuzzed virtual addresses;
//! 2. the whole checker (collect + compare + crash attribution + replay)
//!    over a fixture's memory with fuzzed edits: bytes, u64s, zeroed or
//!    removed pages, and pointers (list_heads) aimed at themselves, at other
//!    pages or at unmapped memory.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::page_walk_and_checker::run(data));
