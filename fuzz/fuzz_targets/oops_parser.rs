//! The oops parser over arbitrary kernel-log text (plain `dmesg` form) and
//! as printk records (the form the ring-buffer reader will hand it).
//! Seeds: the oopses of the parser's own tests.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::oops_parser::run(data));
