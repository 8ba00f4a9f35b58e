//! The crashed kernel as objects: one [`Kernel`] ties a dump, its vmlinux
//! and the x86-64 layout together and reads tasks, mms, `pgd_list` and
//! per-CPU state, and the kernel log ([`printk`]). Every struct layout comes from DWARF ([`offsets`]), every
//! address from the symbol table plus KASLR, or from VMCOREINFO.

pub(crate) mod error;
pub(crate) mod list;
pub mod offsets;
pub(crate) mod percpu;
pub(crate) mod pgd_list;
pub mod printk;
pub(crate) mod setup;
#[doc(hidden)] // public for the dwarf_types fuzz body
pub mod symbols;
pub(crate) mod tasks;

use crate::arch::x86_64::{KernelLayout, KernelTranslator, PhysAddr, TranslateError, VirtAddr};
use crate::debuginfo::DebugInfo;
use crate::dump::{CrashDump, PhysicalMemory};

pub use error::KernelError;
pub use offsets::Offsets;
pub(crate) use percpu::CpuState;
pub(crate) use printk::LogRecord;
pub(crate) use symbols::KernelSymbols;
pub(crate) use tasks::Task;

/// What a lost object was part of: decides whether losing it could change
/// the verdict (docs/checker.md, "Incomplete is not consistent").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProblemScope {
    /// `pgd_list` itself or an entry's page: a page table may go unchecked.
    PgdList,
    /// The owner mm recorded in a pgd_list entry's page (`pt_mm`).
    PgdOwner,
    /// `init_task.tasks`: thread-group leaders.
    TaskList,
    /// One group's thread list (`signal->thread_head` or `thread_group`).
    Threads,
    /// One task_struct's fields.
    Task,
    /// An mm_struct's `pgd` pointer.
    Mm,
    /// Per-CPU state: `nr_cpu_ids`, `__per_cpu_offset`, `cpu_tlbstate`, current.
    Cpu,
}

impl ProblemScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemScope::PgdList => "pgd_list",
            ProblemScope::PgdOwner => "pgd_owner",
            ProblemScope::TaskList => "task_list",
            ProblemScope::Threads => "threads",
            ProblemScope::Task => "task",
            ProblemScope::Mm => "mm",
            ProblemScope::Cpu => "cpu",
        }
    }

    /// Whether losing it can hide a page table from the check. Every pgd
    /// `pgd_alloc()` makes is put on `pgd_list` by `pgd_ctor()`
    /// (arch/x86/mm/pgtable.c; x86-64 has SHARED_KERNEL_PMD 0, and kernels
    /// without that macro add unconditionally), and threads share their
    /// leader's mm: so with `pgd_list` walked to its head, a lost task, thread
    /// list, mm pointer or CPU state only changes who is named. An mm whose
    /// pgd cannot be found on `pgd_list` is reported as an unreadable table,
    /// which does make the result incomplete.
    pub fn can_change_verdict(self) -> bool {
        matches!(self, ProblemScope::PgdList)
    }
}

/// A problem met while reading kernel objects that did not stop the
/// analysis but makes its result incomplete, or its attribution partial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProblem {
    /// What was being read ("task list", "pgd_list", "CPU 3 cpu_tlbstate").
    pub what: String,
    /// The error, with the address it happened at.
    pub detail: String,
    pub scope: ProblemScope,
    /// The read failed because the dump does not hold the page (filtered
    /// out, or never recorded), not because the kernel's data was bad.
    pub not_in_dump: bool,
    /// That page's physical address, when known.
    pub missing_paddr: Option<PhysAddr>,
}

impl ReadProblem {
    pub fn new(scope: ProblemScope, what: impl Into<String>, detail: impl Into<String>) -> Self {
        ReadProblem {
            what: what.into(),
            detail: detail.into(),
            scope,
            not_in_dump: false,
            missing_paddr: None,
        }
    }

    /// The same problem, caused by the dump not holding the page at
    /// `paddr` (when `Some`).
    pub fn missing_page(mut self, paddr: Option<PhysAddr>) -> Self {
        self.not_in_dump = paddr.is_some();
        self.missing_paddr = paddr;
        self
    }
}

/// The crashed kernel: dump + debuginfo + layout.
pub struct Kernel<'d> {
    pub(crate) dump: &'d CrashDump,
    /// The physical memory every read goes through: the dump's, or an
    /// adapter over it (recording pages for `extract`).
    mem: &'d dyn PhysicalMemory,
    /// Where symbols and types came from (a DWARF vmlinux, or the dump's own tables).
    pub(crate) debuginfo: DebugInfo<'d>,
    pub(crate) symbols: KernelSymbols,
    pub(crate) offsets: Offsets,
    pub(crate) xlate: KernelTranslator,
    pub(crate) layout: KernelLayout,
    pub(crate) kaslr_offset: u64,
    pub(crate) phys_base: u64,
    /// Runtime address of init_mm's page table (`init_top_pgt`).
    pub(crate) init_pgd_va: u64,
    /// Runtime address of `init_mm`, when the symbol exists.
    pub(crate) init_mm: Option<u64>,
    /// Non-fatal oddities found while setting up.
    pub(crate) warnings: Vec<String>,
}

/// Read-only views of what [`Kernel::open`] found. The fields stay
/// crate-private so that setup is the only place that decides them.
impl<'d> Kernel<'d> {
    /// The crash dump this kernel is read from.
    pub fn dump(&self) -> &'d CrashDump {
        self.dump
    }

    /// Where symbols and types came from: a DWARF vmlinux, or the dump's
    /// own BTF and kallsyms.
    pub fn debuginfo(&self) -> &DebugInfo<'d> {
        &self.debuginfo
    }

    /// The kernel symbols the analysis uses, relocated by the KASLR offset.
    pub fn symbols(&self) -> &KernelSymbols {
        &self.symbols
    }

    /// The struct member offsets and sizes read from the debug info.
    pub fn offsets(&self) -> &Offsets {
        &self.offsets
    }

    /// The kernel virtual-to-physical translator (direct map, kernel text,
    /// and page-table walks through init_mm).
    pub fn translator(&self) -> &KernelTranslator {
        &self.xlate
    }

    /// The x86-64 address-space layout of this kernel (paging levels,
    /// direct-map and vmalloc bases).
    pub fn layout(&self) -> &KernelLayout {
        &self.layout
    }

    /// The KASLR slide of the kernel text: runtime minus link-time address.
    pub fn kaslr_offset(&self) -> u64 {
        self.kaslr_offset
    }

    /// `phys_base`: the physical address the kernel text was loaded at,
    /// minus its link-time physical address.
    pub fn phys_base(&self) -> u64 {
        self.phys_base
    }

    /// Runtime virtual address of init_mm's top-level page table
    /// (`init_top_pgt`).
    pub fn init_pgd_va(&self) -> u64 {
        self.init_pgd_va
    }

    /// Runtime virtual address of `init_mm`, when the symbol exists.
    pub fn init_mm(&self) -> Option<u64> {
        self.init_mm
    }

    /// Non-fatal oddities found while setting up, in the order met.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl<'d> Kernel<'d> {
    pub(crate) fn memory(&self) -> &'d dyn PhysicalMemory {
        self.mem
    }

    // Kernel objects' addresses are plain numbers read from other objects'
    // members; they become typed virtual addresses here, at the translator.
    pub(crate) fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), TranslateError> {
        self.xlate.read(self.mem, VirtAddr::new(va), buf)
    }

    pub fn read_u64(&self, va: u64) -> Result<u64, TranslateError> {
        self.xlate.read_u64(self.mem, VirtAddr::new(va))
    }

    pub(crate) fn read_u32(&self, va: u64) -> Result<u32, TranslateError> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads an integer member of `size` bytes (1, 2, 4 or 8), zero-extended.
    pub(crate) fn read_uint(&self, va: u64, size: u64) -> Result<u64, TranslateError> {
        let mut b = [0u8; 8];
        let n = (size as usize).clamp(1, 8);
        self.read(va, &mut b[..n])?;
        Ok(u64::from_le_bytes(b))
    }

    /// Hints that `len` bytes at kernel address `va` will be read next
    /// ([`PhysicalMemory::will_need`]): with a cold page cache, the pages of
    /// an object are then read together rather than one fault at a time.
    /// Only the linear maps (the direct map, where slab objects live, and
    /// the kernel text map) are placed: anywhere else it would take
    /// page-table reads, the very waits the hint is meant to overlap. A hint
    /// changes no result.
    pub(crate) fn will_need(&self, va: u64, len: u64) {
        let Some(last) = va.checked_add(len.saturating_sub(1)) else {
            return;
        };
        let linear = |a: u64| self.xlate.linear_pa(VirtAddr::new(a));
        if let (Some(start), Some(end)) = (linear(va), linear(last)) {
            // Both ends in one linear map, in order: the range between is
            // contiguous in physical memory too.
            if end.get().checked_sub(start.get()) == Some(last - va) {
                self.mem.will_need(start, len);
            }
        }
    }

    /// [`Kernel::will_need`] for `len` bytes at each of `vas` (objects of
    /// the linear maps), asked for as few page ranges as possible.
    pub(crate) fn will_need_each(&self, vas: impl IntoIterator<Item = u64>, len: u64) {
        let linear_pa = |va: u64| self.xlate.linear_pa(VirtAddr::new(va)).map(PhysAddr::get);
        let pages = vas.into_iter().flat_map(|va| {
            // The first and last byte: `len` is a member's size, well under
            // a page, so these are all the pages it touches.
            let last = va.saturating_add(len.saturating_sub(1));
            [linear_pa(va), linear_pa(last)].into_iter().flatten()
        });
        crate::dump::will_need_pages(self.mem, pages);
    }

    /// Physical address of a kernel virtual address.
    pub fn pa(&self, va: VirtAddr) -> Result<PhysAddr, TranslateError> {
        self.xlate.translate(self.mem, va)
    }

    /// Whether the kernel carries the 2025 sync fix. `p?d_populate_kernel()`
    /// are macros (include/linux/pgalloc.h) and leave no symbol or DWARF
    /// entry (none in the 5.10.223 ... 7.3.4 vmlinux files); the fix's other
    /// half, x86-64's out-of-line `arch_sync_kernel_mappings()` (commit
    /// 6659d0279980, v6.17; in 6.1.151+ and 6.12 stable), is a symbol. x86-64
    /// had an unrelated one before: added in v5.8 ("x86/mm/64: Implement
    /// arch_sync_kernel_mappings()") and removed in v5.10 by 58a18fe95e83
    /// ("x86/mm/64: Do not sync vmalloc/ioremap mappings"), so on 5.8 and 5.9
    /// the symbol is not the fix. Only the release can tell those apart.
    pub fn has_sync_fix(&self) -> bool {
        let release = self
            .dump
            .vmcoreinfo
            .as_ref()
            .and_then(|i| i.osrelease.as_deref());
        self.symbols.arch_sync_kernel_mappings && !release.is_some_and(predates_sync_fix_symbol)
    }
}

/// Whether `release` ("5.9.16-1-amd64") is 5.8 or 5.9, whose x86-64
/// `arch_sync_kernel_mappings()` predates the 2025 fix (see
/// [`Kernel::has_sync_fix`]). Unparsable releases are not.
pub(crate) fn predates_sync_fix_symbol(release: &str) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u32>().ok());
    matches!((major, minor), (Some(5), Some(8 | 9)))
}

#[cfg(test)]
mod tests {
    use super::predates_sync_fix_symbol;

    #[test]
    fn only_5_8_and_5_9_have_the_older_arch_sync_kernel_mappings() {
        for r in ["5.8.0-3-amd64", "5.9.16", "5.9"] {
            assert!(predates_sync_fix_symbol(r), "{r}");
        }
        for r in [
            "5.10.0-32-cloud-amd64",
            "6.1.0-57-cloud-amd64",
            "6.12.117+deb12-cloud-amd64",
            "7.3.4+deb13-cloud-amd64",
            "5.80.1",
            "",
            "linux",
        ] {
            assert!(!predates_sync_fix_symbol(r), "{r}");
        }
    }
}
