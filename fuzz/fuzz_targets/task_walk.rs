//! The kernel layer over a mutated fixture vmcore: KASLR and paging-mode
//! setup, the task list and thread lists, pgd_list through the vmemmap, and
//! per-CPU state. The vmlinux is the fixture's whose build-id the dump names
//! (so that mutations reach the walks instead of stopping at a mismatch).
//! Seeds: fixtures/*/vmcore.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::task_walk::run(data));
