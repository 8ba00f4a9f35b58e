//! Writers, the counterpart of [`crate::dump`] (behind the default-on `write`
//! feature, as `object` separates `read` from `write`): ELF core and exec
//! files ([`elf`]), their notes ([`notes`]), DWARF and BTF from struct layouts
//! ([`dwarf`], [`btf`], [`layout`]), kdump-compressed files ([`kdump`]),
//! makedumpfile's flattened form ([`flatten`]) and a kernel's kallsyms
//! tables ([`kallsyms`]).
//!
//! `extract` writes its reproduction with them, and the fixture builder
//! (crates/pgsync-synth) and the tests build every file they need on them:
//! one writer of each kind in the workspace.

pub mod btf;
pub mod dwarf;
pub mod elf;
pub mod flatten;
pub mod kallsyms;
pub mod kdump;
pub mod layout;
pub mod notes;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// A struct layout refers to a type it does not define.
    #[error("struct layout: {0}")]
    Layout(String),
    #[error("writing DWARF")]
    Dwarf(#[from] gimli::write::Error),
    #[error("writing ELF")]
    Elf(#[from] object::write::Error),
    #[error("compressing a debug section")]
    Compress(#[source] std::io::Error),
}
