//! Kernel virtual -> physical translation: the kernel text map and the direct
//! map by arithmetic (as the kernel's own `__pa()` does, arch/x86/include/asm/page_64.h),
//! everything else by walking init_mm's page table.

use crate::addr::{PhysAddr, VirtAddr};
use crate::dump::{PhysicalMemory, ReadError};

use super::layout::{DEFAULT_KERNEL_IMAGE_SIZE, START_KERNEL_MAP};
use super::paging::{Level, PagingMode, Walk, WalkOutcome, walk};

/// Why a kernel virtual address could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateError {
    #[error(
        "virtual address {va:#x} is not mapped ({level} entry at physical {entry_pa:#x} is {entry:#x})"
    )]
    NotMapped {
        va: VirtAddr,
        /// The level whose entry is not present.
        level: Level,
        /// Where that entry sits (0 when the walk read no entry).
        entry_pa: PhysAddr,
        entry: u64,
    },
    #[error("virtual address {va:#x} is not canonical")]
    NonCanonical { va: VirtAddr },
    #[error("virtual address {va:#x}")]
    Read {
        va: VirtAddr,
        #[source]
        source: ReadError,
    },
}

impl TranslateError {
    /// The physical address the dump does not hold, when that is the failure.
    pub fn missing_paddr(&self) -> Option<PhysAddr> {
        match self {
            TranslateError::Read {
                source: ReadError::NotInDump { paddr },
                ..
            } => Some(*paddr),
            _ => None,
        }
    }

    /// True when the failure is "the dump does not hold this page" rather
    /// than "the kernel did not map this address".
    pub fn is_missing_from_dump(&self) -> bool {
        matches!(
            self,
            TranslateError::Read {
                source: ReadError::NotInDump { .. },
                ..
            }
        )
    }
}

/// Translates kernel virtual addresses of one dump.
#[derive(Debug, Clone)]
pub struct KernelTranslator {
    pub mode: PagingMode,
    pub phys_base: u64,
    /// SME encryption bit (VMCOREINFO `NUMBER(sme_mask)`), 0 without SME.
    pub sme_mask: u64,
    /// Physical address of init_top_pgt (init_mm's page table).
    pub root_pa: PhysAddr,
    /// `page_offset_base` and the direct map's size, once read from the dump.
    pub direct_map: Option<(u64, u64)>,
}

impl KernelTranslator {
    /// Physical address of a kernel-text address (`__pa_symbol`).
    pub(crate) fn text_pa(&self, va: VirtAddr) -> Option<PhysAddr> {
        let off = va.get().checked_sub(START_KERNEL_MAP)?;
        (off < DEFAULT_KERNEL_IMAGE_SIZE).then(|| PhysAddr::new(off.wrapping_add(self.phys_base)))
    }

    /// Physical address of a direct-map address (`__va` inverse).
    pub(crate) fn direct_map_pa(&self, va: VirtAddr) -> Option<PhysAddr> {
        let (base, size) = self.direct_map?;
        let off = va.get().checked_sub(base)?;
        (off < size).then_some(PhysAddr::new(off))
    }

    /// Direct-map virtual address of a physical address (`__va`).
    pub(crate) fn phys_to_direct(&self, pa: PhysAddr) -> Option<VirtAddr> {
        let (base, size) = self.direct_map?;
        // `page_offset_base` is read from the dump: a corrupt one near the
        // top of the address space must not overflow.
        if pa.get() < size {
            VirtAddr::new(base).checked_add(pa.get())
        } else {
            None
        }
    }

    /// Physical address of an address in one of the linear maps (kernel
    /// text or direct map): arithmetic, no page-table read.
    pub(crate) fn linear_pa(&self, va: VirtAddr) -> Option<PhysAddr> {
        self.text_pa(va).or_else(|| self.direct_map_pa(va))
    }

    pub(crate) fn walk(&self, mem: &dyn PhysicalMemory, va: VirtAddr) -> Walk {
        walk(mem, self.mode, self.sme_mask, self.root_pa, va)
    }

    /// Translates one kernel virtual address.
    pub(crate) fn translate(
        &self,
        mem: &dyn PhysicalMemory,
        va: VirtAddr,
    ) -> Result<PhysAddr, TranslateError> {
        if let Some(pa) = self.linear_pa(va) {
            return Ok(pa);
        }
        let w = self.walk(mem, va);
        match w.outcome {
            WalkOutcome::Mapped { pa, .. } => Ok(pa),
            WalkOutcome::NonCanonical => Err(TranslateError::NonCanonical { va }),
            WalkOutcome::Unreadable { error, .. } => {
                Err(TranslateError::Read { va, source: error })
            }
            WalkOutcome::NotPresent { level } => {
                let last = w.steps.last().copied();
                Err(TranslateError::NotMapped {
                    va,
                    level,
                    entry_pa: last.map_or(PhysAddr::new(0), |s| s.entry_pa),
                    entry: last.map_or(0, |s| s.entry),
                })
            }
        }
    }

    /// Reads kernel virtual memory, page by page.
    pub(crate) fn read(
        &self,
        mem: &dyn PhysicalMemory,
        va: VirtAddr,
        buf: &mut [u8],
    ) -> Result<(), TranslateError> {
        let mut done = 0usize;
        while done < buf.len() {
            let cur = va.wrapping_add(done as u64);
            let pa = self.translate(mem, cur)?;
            let n = ((4096 - cur.page_offset(4096)) as usize).min(buf.len() - done);
            mem.read(pa, &mut buf[done..done + n])
                .map_err(|source| TranslateError::Read { va: cur, source })?;
            done += n;
        }
        Ok(())
    }

    pub(crate) fn read_u64(
        &self,
        mem: &dyn PhysicalMemory,
        va: VirtAddr,
    ) -> Result<u64, TranslateError> {
        let mut b = [0u8; 8];
        self.read(mem, va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
