//! Tests of the dump layer (src/dump): ELF and kdump-compressed readers, flattened and split files, checked against files our writers, makedumpfile, QEMU and libkdumpfile wrote.
//!
//! One test binary per layer (`cargo test --test dump`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../kdump_support/mod.rs"]
mod kdump_support;

mod elf_vmcore;
mod kcore;
mod kdump_bad_input;
mod kdump_makedumpfile;
mod kdump_roundtrip;
mod libkdumpfile_dumps;
mod qemu_formats;
