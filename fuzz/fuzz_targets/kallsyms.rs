//! The kallsyms decoder over fuzzed memory and table addresses, and the
//! System.map parser with its VMCOREINFO check.
//! Seeds: the encoder's tables for every layout (`bodies::kallsyms::seeds`).
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::kallsyms::run(data));
