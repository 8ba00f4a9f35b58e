//! Replay: from the missing slots the checker found, the populate call the
//! kernel made, re-run over the overlay with a sync mask, and the walk of an
//! address before and after.
//!
//! Which call installs a top-level slot (mm/sparse-vmemmap.c, the vmemmap
//! path of the seed bug; mm/percpu.c and mm/kasan/init.c follow the same
//! pattern): `vmemmap_populate_address()` goes through
//! `vmemmap_pgd_populate()` -> `pgd_populate_kernel()` only when
//! `pgd_none(*pgd)`, then `vmemmap_p4d_populate()` -> `p4d_populate_kernel()`
//! when `p4d_none(*p4d)`.
//! - 4-level: `pgd_none()` is always false (the P4D is folded,
//!   arch/x86/include/asm/pgtable.h), so `pgd_populate_kernel()` never runs;
//!   `p4d_offset(pgd, addr)` is the top-level entry and
//!   `p4d_populate_kernel()` is what fills the slot.
//! - 5-level: the top-level entry is a real PGD entry and
//!   `pgd_populate_kernel()` fills it (`p4d_populate_kernel()` then writes
//!   inside the P4D table, which every page table sharing the slot sees).
//!
//! In the dump init_mm already holds the entry (the populate happened; the
//! sync did not), so the replay re-runs the populate as a write of the same
//! value into init_mm (a no-op on memory) and then the sync the mask asks for.

use crate::arch::x86_64::paging::{Walk, walk};
use crate::arch::x86_64::{PagingMode, PgdIndex, VirtAddr};
use crate::dump::{PhysAddr, PhysicalMemory};

use super::mask::{PgtblModMask, SyncMask};
use super::overlay::Overlay;
use super::populate::{
    ModelError, PopulateCall, PopulateKind, p4d_populate_kernel, pgd_populate_kernel,
};
use super::sync::KernelPageTables;

/// A `missing` finding, as the model needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSlot {
    pub pgd_index: PgdIndex,
    /// First virtual address of the slot.
    pub va_start: VirtAddr,
    /// init_mm's entry for the slot, as the checker read it.
    pub init_mm_entry: u64,
}

/// The populate helper that installs a top-level kernel slot in this mode.
pub fn derive_populate_kind(mode: PagingMode) -> PopulateKind {
    match mode {
        PagingMode::FourLevel => PopulateKind::P4dPopulateKernel,
        PagingMode::FiveLevel => PopulateKind::PgdPopulateKernel,
    }
}

/// The replay of every missing slot under one sync mask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub mode: PagingMode,
    pub sync_mask: SyncMask,
    /// The bits `sync_mask` stands for in `mode`.
    pub mask_bits: PgtblModMask,
    /// One call per distinct missing slot, in slot order.
    pub calls: Vec<PopulateCall>,
}

/// Replays the populate call for each missing slot (each slot once, in slot
/// order) on the overlay.
pub fn replay_missing_slots(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    sync_mask: SyncMask,
    missing: &[MissingSlot],
) -> Result<ReplayReport, ModelError> {
    let mode = tables.mode;
    let mask_bits = sync_mask.resolve(mode);
    let kind = derive_populate_kind(mode);
    let mut slots: Vec<MissingSlot> = missing.to_vec();
    slots.sort_by_key(|m| m.pgd_index);
    slots.dedup_by_key(|m| m.pgd_index);
    let mut calls = Vec::with_capacity(slots.len());
    for slot in slots {
        let entry_pa = tables
            .init_mm_pgd
            .pa
            .wrapping_add(u64::from(slot.pgd_index.0 & 511) * 8);
        let mut b = [0u8; 8];
        mem.read(entry_pa, &mut b)
            .map_err(|source| ModelError::Read {
                what: "init_mm's top-level entry",
                paddr: entry_pa.get(),
                source,
            })?;
        let actual = u64::from_le_bytes(b);
        if actual != slot.init_mm_entry {
            return Err(ModelError::InitMmEntryDiffers {
                pgd_index: slot.pgd_index,
                expected: slot.init_mm_entry,
                actual,
            });
        }
        let addr = mode.slot_start(slot.pgd_index);
        let call = match kind {
            PopulateKind::PgdPopulateKernel => {
                pgd_populate_kernel(mem, tables, mask_bits, addr, actual)?
            }
            PopulateKind::P4dPopulateKernel => {
                p4d_populate_kernel(mem, tables, mask_bits, addr, actual)?
            }
        };
        calls.push(call);
    }
    Ok(ReplayReport {
        mode,
        sync_mask,
        mask_bits,
        calls,
    })
}

/// An address walked in one page table before the replay (the dump) and
/// after (the overlay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRetranslation {
    pub va: VirtAddr,
    pub root_pa: PhysAddr,
    pub before: Walk,
    pub after: Walk,
}

/// Walks `va` in the page table at `root_pa`, in the dump and in the overlay.
pub fn retranslate(
    mem: &Overlay<'_>,
    mode: PagingMode,
    sme_mask: u64,
    root_pa: PhysAddr,
    va: VirtAddr,
) -> FaultRetranslation {
    let before = walk(mem.dump(), mode, sme_mask, root_pa, va);
    let after = walk(mem, mode, sme_mask, root_pa, va);
    FaultRetranslation {
        va,
        root_pa,
        before,
        after,
    }
}
