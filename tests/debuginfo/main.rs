//! Tests of the debuginfo layer (src/debuginfo): the vmlinux ELF reader, symbols, DWARF types (gcc as the outside oracle), the search order and the debuginfod client (elfutils' server as the outside oracle).
//!
//! One test binary per layer (`cargo test --test debuginfo`); each module tests
//! what its name says, as drgn's tests/ mirror its sources.

#[path = "../common/mod.rs"]
mod common;

mod btf;
mod btf_real;
mod debuginfod;
mod gcc_oracle;
mod kallsyms;
mod real_kallsyms;
mod real_vmlinux;
mod system_map;
mod unit;
