//! The crashed kernel as objects: one [`Kernel`] ties a dump, its vmlinux
//! and the x86-64 layout together and reads tasks, mms, `pgd_list` and
//! per-CPU state, and the kernel log ([`printk`]). Every struct layout comes from DWARF ([`offsets`]), every
//! address from the symbol table plus KASLR, or from VMCOREINFO.

pub mod error;
pub mod list;
pub mod offsets;
pub mod percpu;
pub mod pgd_list;
pub mod printk;
pub mod setup;
pub mod symbols;
pub mod tasks;

use crate::arch::x86_64::{KernelLayout, KernelTranslator, PhysAddr, TranslateError, VirtAddr};
use crate::debuginfo::Vmlinux;
use crate::dump::{CrashDump, PhysicalMemory};

pub use error::KernelError;
pub use offsets::Offsets;
pub use percpu::CpuState;
pub use pgd_list::PgdListEntry;
pub use printk::{KernelLog, LogRecord, format_dmesg};
pub use symbols::KernelSymbols;
pub use tasks::{Task, TaskWalk};

/// A problem met while reading kernel objects that did not stop the
/// analysis but makes its result incomplete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    /// What was being read ("task list", "pgd_list", "CPU 3 cpu_tlbstate").
    pub what: String,
    /// The error, with the address it happened at.
    pub detail: String,
}

/// The crashed kernel: dump + debuginfo + layout.
pub struct Kernel<'d> {
    pub dump: &'d CrashDump,
    /// The physical memory every read goes through: the dump's, or an
    /// adapter over it (recording pages for `extract`).
    mem: &'d dyn PhysicalMemory,
    pub vmlinux: &'d Vmlinux,
    pub symbols: KernelSymbols,
    pub offsets: Offsets,
    pub xlate: KernelTranslator,
    pub layout: KernelLayout,
    pub kaslr_offset: u64,
    pub phys_base: u64,
    /// Runtime address of init_mm's page table (`init_top_pgt`).
    pub init_pgd_va: u64,
    /// Runtime address of `init_mm`, when the symbol exists.
    pub init_mm: Option<u64>,
    /// Non-fatal oddities found while setting up.
    pub warnings: Vec<String>,
}

impl<'d> Kernel<'d> {
    pub fn memory(&self) -> &'d dyn PhysicalMemory {
        self.mem
    }

    // Kernel objects' addresses are plain numbers read from other objects'
    // members; they become typed virtual addresses here, at the translator.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError> {
        self.xlate.read(self.mem, VirtAddr::new(va), buf)
    }

    pub fn read_u64(&self, va: u64) -> Result<u64, TranslateError> {
        self.xlate.read_u64(self.mem, VirtAddr::new(va))
    }

    pub fn read_u32(&self, va: u64) -> Result<u32, TranslateError> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads an integer member of `size` bytes (1, 2, 4 or 8), zero-extended.
    pub fn read_uint(&self, va: u64, size: u64) -> Result<u64, TranslateError> {
        let mut b = [0u8; 8];
        let n = (size as usize).clamp(1, 8);
        self.read(va, &mut b[..n])?;
        Ok(u64::from_le_bytes(b))
    }

    /// Physical address of a kernel virtual address.
    pub fn pa(&self, va: VirtAddr) -> Result<PhysAddr, TranslateError> {
        self.xlate.translate(self.mem, va)
    }

    /// Whether the kernel carries the 2025 sync fix: an out-of-line
    /// `arch_sync_kernel_mappings` on x86-64 (include/linux/pgalloc.h).
    pub fn has_sync_fix(&self) -> bool {
        self.symbols.arch_sync_kernel_mappings
    }
}
