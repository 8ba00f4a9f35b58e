//! `pgd_populate_kernel()` and `p4d_populate_kernel()`
//! (include/linux/pgalloc.h, commit f2d2f9598ebb "mm: introduce and use
//! {pgd,p4d}_populate_kernel()"):
//!
//! ```text
//! pgd_populate_kernel(addr, pgd, p4d):
//!     pgd_populate(&init_mm, pgd, p4d);
//!     if (ARCH_PAGE_TABLE_SYNC_MASK & PGTBL_PGD_MODIFIED)
//!         arch_sync_kernel_mappings(addr, addr);
//! p4d_populate_kernel(addr, p4d, pud): the same one level down, with
//!     p4d_populate() and PGTBL_P4D_MODIFIED.
//! ```
//!
//! x86-64's populate helpers (arch/x86/include/asm/pgalloc.h):
//! `pgd_populate()` returns at once when `!pgtable_l5_enabled()` (4-level:
//! the P4D is folded, there is no separate PGD entry to write) and otherwise
//! sets the PGD entry to `_PAGE_TABLE | __pa(p4d)`; `p4d_populate()` sets the
//! P4D entry to `_PAGE_TABLE | __pa(pud)`. With 4-level paging the P4D entry
//! is the top-level entry itself (`p4d_offset(pgd, addr) == pgd`); with
//! 5-level it lives in the P4D table the PGD entry points to.

use crate::arch::x86_64::{PageTableEntry, PagingMode, PgdIndex};
use crate::dump::{PhysAddr, PhysicalMemory, ReadError};

use super::mask::PgtblModMask;
use super::overlay::{Overlay, OverlayError, Pfn};
use super::sync::{KernelPageTables, PgdRef, SyncReport, arch_sync_kernel_mappings};

/// `_PAGE_TABLE` without the encryption bit: Present, RW, User, Accessed,
/// Dirty (arch/x86/include/asm/pgtable_types.h; printed as `...067` in oops
/// walks).
pub(crate) const PAGE_TABLE_FLAGS: u64 = 0x67;

/// Why the model could not run a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("reading {what} at physical address {paddr:#x}")]
    Read {
        what: &'static str,
        paddr: u64,
        #[source]
        source: ReadError,
    },
    #[error(transparent)]
    Overlay(#[from] OverlayError),
    #[error(
        "p4d_populate at {addr:#x} on 5-level paging needs init_mm's PGD entry for slot {} to point to a P4D table, but it is {pgd_entry:#x}",
        pgd_index.0
    )]
    NoP4dTable {
        addr: u64,
        pgd_index: PgdIndex,
        pgd_entry: u64,
    },
    #[error("address {addr:#x} is not canonical for this paging mode")]
    NonCanonical { addr: u64 },
    #[error(
        "init_mm's entry for slot {} is {actual:#x} in memory but the finding says {expected:#x}",
        pgd_index.0
    )]
    InitMmEntryDiffers {
        pgd_index: PgdIndex,
        expected: u64,
        actual: u64,
    },
}

/// Which `*_populate_kernel()` helper was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PopulateKind {
    PgdPopulateKernel,
    P4dPopulateKernel,
}

impl PopulateKind {
    /// The kernel's name for the helper, as in JSON `replay.calls[].call`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PopulateKind::PgdPopulateKernel => "pgd_populate_kernel",
            PopulateKind::P4dPopulateKernel => "p4d_populate_kernel",
        }
    }

    /// The `PGTBL_*_MODIFIED` bit the helper tests before syncing.
    pub(crate) fn modified_bit(self) -> PgtblModMask {
        match self {
            PopulateKind::PgdPopulateKernel => PgtblModMask::PGD_MODIFIED,
            PopulateKind::P4dPopulateKernel => PgtblModMask::P4D_MODIFIED,
        }
    }
}

/// What one populate call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopulateCall {
    pub kind: PopulateKind,
    pub addr: u64,
    /// Top-level slot of `addr`.
    pub pgd_index: PgdIndex,
    /// Where the populate wrote in init_mm's tables; `None` when it wrote
    /// nothing (`pgd_populate()` on 4-level paging).
    pub written_entry_pa: Option<PhysAddr>,
    /// The entry value installed.
    pub entry: u64,
    /// The sync mask in force.
    pub mask: PgtblModMask,
    /// The sync, when the mask has the helper's bit; `None` when the helper
    /// skipped `arch_sync_kernel_mappings()`.
    pub sync: Option<SyncReport>,
}

impl PopulateCall {
    /// Number of page tables the sync wrote (JSON `synced`).
    pub fn synced(&self) -> usize {
        self.sync.as_ref().map_or(0, |s| s.written.len())
    }

    /// Page tables that would have hit BUG_ON (JSON `bug_on`).
    pub fn bug_on(&self) -> Vec<PgdRef> {
        self.sync
            .as_ref()
            .map_or_else(Vec::new, |s| s.bug_on.iter().map(|b| b.pgd).collect())
    }

    /// Page tables off `pgd_list` the sync could not reach (JSON `unreachable`).
    pub fn unreachable(&self) -> Vec<PgdRef> {
        self.sync
            .as_ref()
            .map_or_else(Vec::new, |s| s.unreachable.clone())
    }
}

/// The entry `pgd_populate()` / `p4d_populate()` write for a next-level
/// table: `_PAGE_TABLE | __pa(table)`, `_PAGE_TABLE` carrying the SME bit
/// (`_ENC`) when memory encryption is on.
pub fn table_entry_for(table: Pfn, sme_mask: u64) -> u64 {
    table.paddr().get() | PAGE_TABLE_FLAGS | sme_mask
}

fn read_entry(
    mem: &dyn PhysicalMemory,
    what: &'static str,
    paddr: PhysAddr,
) -> Result<u64, ModelError> {
    let mut b = [0u8; 8];
    mem.read(paddr, &mut b).map_err(|source| ModelError::Read {
        what,
        paddr: paddr.get(),
        source,
    })?;
    Ok(u64::from_le_bytes(b))
}

fn check_canonical(mode: PagingMode, addr: u64) -> Result<(), ModelError> {
    if mode.is_canonical(addr) {
        Ok(())
    } else {
        Err(ModelError::NonCanonical { addr })
    }
}

/// `pgd_populate_kernel(addr, pgd_offset_k(addr), p4d)`: installs `entry`
/// (the PGD entry pointing to a P4D table) in init_mm, then syncs when
/// `mask` has `PGTBL_PGD_MODIFIED`. On 4-level paging `pgd_populate()` is a
/// no-op, so nothing is written, but the sync still follows the mask.
pub fn pgd_populate_kernel(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    mask: PgtblModMask,
    addr: u64,
    entry: u64,
) -> Result<PopulateCall, ModelError> {
    let mode = tables.mode;
    check_canonical(mode, addr)?;
    let pgd_index = mode.pgd_index(addr);
    let written_entry_pa = match mode {
        PagingMode::FourLevel => None,
        PagingMode::FiveLevel => {
            let pa = tables
                .init_mm_pgd
                .pa
                .wrapping_add(u64::from(pgd_index.0) * 8);
            mem.write_u64(pa, entry)?;
            Some(pa)
        }
    };
    finish(
        mem,
        tables,
        mask,
        PopulateKind::PgdPopulateKernel,
        addr,
        written_entry_pa,
        entry,
    )
}

/// `p4d_populate_kernel(addr, p4d_offset(pgd_offset_k(addr), addr), pud)`:
/// installs `entry` (the P4D entry pointing to a PUD table) in init_mm, then
/// syncs when `mask` has `PGTBL_P4D_MODIFIED`. On 4-level paging the P4D
/// entry is the top-level entry; on 5-level it is in the P4D table that
/// init_mm's PGD entry points to, which must then be present.
pub fn p4d_populate_kernel(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    mask: PgtblModMask,
    addr: u64,
    entry: u64,
) -> Result<PopulateCall, ModelError> {
    let mode = tables.mode;
    check_canonical(mode, addr)?;
    let pgd_index = mode.pgd_index(addr);
    let top_pa = tables
        .init_mm_pgd
        .pa
        .wrapping_add(u64::from(pgd_index.0) * 8);
    let pa = match mode {
        PagingMode::FourLevel => top_pa,
        PagingMode::FiveLevel => {
            let pgd_entry = read_entry(mem, "init_mm's PGD entry", top_pa)?;
            if !PageTableEntry(pgd_entry).present() {
                return Err(ModelError::NoP4dTable {
                    addr,
                    pgd_index,
                    pgd_entry,
                });
            }
            let p4d_table = PageTableEntry(pgd_entry).table_pa(tables.sme_mask);
            p4d_table.wrapping_add(((addr >> 39) & 511) * 8)
        }
    };
    mem.write_u64(pa, entry)?;
    finish(
        mem,
        tables,
        mask,
        PopulateKind::P4dPopulateKernel,
        addr,
        Some(pa),
        entry,
    )
}

fn finish(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    mask: PgtblModMask,
    kind: PopulateKind,
    addr: u64,
    written_entry_pa: Option<PhysAddr>,
    entry: u64,
) -> Result<PopulateCall, ModelError> {
    let sync = if mask.intersects(kind.modified_bit()) {
        Some(arch_sync_kernel_mappings(mem, tables, addr, addr)?)
    } else {
        None
    };
    Ok(PopulateCall {
        kind,
        addr,
        pgd_index: tables.mode.pgd_index(addr),
        written_entry_pa,
        entry,
        mask,
        sync,
    })
}
