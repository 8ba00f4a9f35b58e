//! Errors of the kernel layer: what could not be set up, and where.

use crate::arch::x86_64::{PhysAddr, TranslateError};
use crate::debuginfo::{DebugInfoError, TypeError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    #[error(
        "the dump has no VMCOREINFO note: cannot tell the kernel's physical base and KASLR offset (was the dump taken with -device vmcoreinfo / by kdump?)"
    )]
    NoVmcoreinfo,
    #[error("VMCOREINFO lacks {what}")]
    MissingVmcoreinfo { what: &'static str },
    #[error("symbol {name} not found in {vmlinux}")]
    MissingSymbol { name: &'static str, vmlinux: String },
    #[error(
        "{vmlinux} does not match this dump: VMCOREINFO says init_top_pgt is at {dump:#x}, the vmlinux puts it at {ours:#x} (KERNELOFFSET {kaslr:#x})"
    )]
    WrongVmlinux {
        vmlinux: String,
        dump: u64,
        ours: u64,
        kaslr: u64,
    },
    #[error(transparent)]
    DebugInfo(#[from] DebugInfoError),
    #[error(transparent)]
    Type(#[from] TypeError),
    #[error("{what}")]
    Read {
        what: String,
        #[source]
        source: TranslateError,
    },
    #[error("{what}: {detail}")]
    Inconsistent { what: String, detail: String },
    #[error(transparent)]
    Printk(#[from] super::printk::PrintkError),
}

impl KernelError {
    /// The physical address the dump does not hold, when the error is a
    /// read of such a page.
    pub fn missing_paddr(&self) -> Option<PhysAddr> {
        match self {
            KernelError::Read { source, .. } => source.missing_paddr(),
            _ => None,
        }
    }
}
