//! ELF vmcore open (program headers, PT_LOAD index, PT_NOTE notes,
//! VMCOREINFO) on arbitrary bytes, then physical reads over every range the
//! dump claims. Seeds: fixtures/*/vmcore.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::elf_vmcore::run(data));
