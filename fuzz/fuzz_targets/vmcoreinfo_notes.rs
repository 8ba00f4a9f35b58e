//! ELF note parsing as the dump readers do it (goblin's note iterator with
//! 4-byte alignment) feeding `DumpNotes` (NT_PRSTATUS, QEMU CPU state,
//! VMCOREINFO), and the VMCOREINFO text parser on its own.
//! Seeds: note areas and VMCOREINFO texts cut from the fixtures.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::vmcoreinfo_notes::run(data));
