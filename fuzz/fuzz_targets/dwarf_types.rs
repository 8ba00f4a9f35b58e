//! vmlinux parsing on mutated files: the section table, `.symtab` lookups,
//! the build-id note, compressed debug sections, and DWARF struct layouts
//! (unit scan, typedef/qualifier chains, arrays, nested and anonymous
//! members, dotted member paths) as the kernel layer resolves them.
//! Seeds: fixtures/*/vmlinux.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::dwarf_types::run(data));
