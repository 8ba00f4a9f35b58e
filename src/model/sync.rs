//! `arch_sync_kernel_mappings()` on x86-64: `sync_global_pgds()`.
//!
//! arch/x86/mm/init_64.c: `arch_sync_kernel_mappings(start, end)` calls
//! `sync_global_pgds(start, end)`, which calls `sync_global_pgds_l5()` when
//! `pgtable_l5_enabled()` and `sync_global_pgds_l4()` otherwise. Both walk
//! `[start, end]` one top-level slot at a time
//! (`addr = ALIGN(addr + 1, PGDIR_SIZE)`), take the reference entry from
//! init_mm (`pgd_offset_k(addr)`), skip the slot if that entry is none, and
//! then, under `pgd_lock`, for every pgd on `pgd_list`:
//! - both entries present and pointing to different tables: `BUG_ON`;
//! - the pgd's entry none: `set_pgd()` / `set_p4d()` with init_mm's entry.
//!
//! `_l5` works on the PGD entry with `pgd_none()` (entry == 0); `_l4` works on
//! the folded P4D entry, which *is* the top-level entry (`p4d_offset(pgd, a)`
//! returns `pgd` when the P4D is folded), with `p4d_none()`, which ignores the
//! Accessed and Dirty bits (`_PAGE_KNL_ERRATUM_MASK`,
//! arch/x86/include/asm/pgtable.h and pgtable_types.h).
//!
//! The model records a BUG_ON instead of stopping, and goes on with the next
//! page table (the real kernel would have died at the first one).
//!
//! Page tables that a task owns but that are not on `pgd_list` are not
//! visited by the kernel; the model names those still out of step with init_mm
//! as `unreachable`.

use crate::arch::x86_64::PagingMode;
use crate::arch::x86_64::entry::{KNL_ERRATUM_MASK, PageTableEntry};
use crate::arch::x86_64::{PhysAddr, VirtAddr};
use crate::dump::{PhysicalMemory, ReadError};

use super::overlay::Overlay;
use super::populate::ModelError;

/// One page table (top-level table), by physical and virtual address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PgdRef {
    /// Physical address of the top-level table.
    pub pa: PhysAddr,
    /// Its kernel virtual address (direct map), as `mm->pgd` holds it.
    pub va: VirtAddr,
}

/// The page tables the model works on: plain data the caller read from the
/// dump (init_mm, `pgd_list`, the tasks' mms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPageTables {
    pub mode: PagingMode,
    /// SME encryption bit (VMCOREINFO `NUMBER(sme_mask)`), 0 without SME.
    pub sme_mask: u64,
    /// init_mm's table (`swapper_pg_dir`, `init_top_pgt`): the reference.
    pub init_mm_pgd: PgdRef,
    /// Every pgd on `pgd_list`: what `sync_global_pgds()` visits.
    pub pgd_list: Vec<PgdRef>,
    /// Page tables owned by a task but absent from `pgd_list`.
    pub unlisted: Vec<PgdRef>,
}

/// A `BUG_ON(p?d_page_vaddr(*p?d) != p?d_page_vaddr(*p?d_ref))` the sync
/// would have hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugOn {
    pub pgd: PgdRef,
    /// Address of the conflicting entry in that table.
    pub entry_pa: PhysAddr,
    /// Its value.
    pub entry: u64,
    /// init_mm's entry for the same slot.
    pub reference: u64,
}

/// What one `arch_sync_kernel_mappings(start, end)` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    pub start: u64,
    pub end: u64,
    /// Tables whose entry was none and now holds init_mm's entry.
    pub written: Vec<PgdRef>,
    /// Tables with a present entry pointing elsewhere: BUG_ON, left as is.
    pub bug_on: Vec<BugOn>,
    /// Tables off `pgd_list` whose entry differs from init_mm's after the
    /// sync: the sync cannot reach them.
    pub unreachable: Vec<PgdRef>,
    /// Tables the model could not read (not in the dump, or broken).
    pub unreadable: Vec<(PgdRef, ReadError)>,
}

/// Whether a top-level entry counts as none for the sync of this mode:
/// `pgd_none()` on 5-level, `p4d_none()` (ignoring A/D) on 4-level.
pub(crate) fn top_level_entry_none(mode: PagingMode, entry: u64) -> bool {
    match mode {
        PagingMode::FiveLevel => entry == 0,
        PagingMode::FourLevel => entry & !KNL_ERRATUM_MASK == 0,
    }
}

/// Next-table address of an entry (`p?d_page_vaddr()` before `__va`).
fn table_address(entry: u64, sme_mask: u64) -> PhysAddr {
    PageTableEntry(entry).table_pa(sme_mask)
}

fn read_entry(mem: &dyn PhysicalMemory, paddr: PhysAddr) -> Result<u64, ReadError> {
    let mut b = [0u8; 8];
    mem.read(paddr, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// `arch_sync_kernel_mappings(start, end)` = `sync_global_pgds(start, end)`
/// on x86-64, over the overlay.
pub fn arch_sync_kernel_mappings(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    start: u64,
    end: u64,
) -> Result<SyncReport, ModelError> {
    let mode = tables.mode;
    let pgdir_size = mode.slot_size();
    let mut report = SyncReport {
        start,
        end,
        ..SyncReport::default()
    };
    let mut addr = start;
    // At most one step per top-level slot, whatever the range.
    for _ in 0..=crate::arch::x86_64::paging::ENTRIES_PER_TABLE {
        if addr > end {
            break;
        }
        sync_one_slot(mem, tables, addr, &mut report)?;
        // addr = ALIGN(addr + 1, PGDIR_SIZE), stopping on overflow as
        // sync_global_pgds_l5's "Check for overflow" does.
        let Some(next) = addr
            .checked_add(1)
            .and_then(|a| a.checked_add(pgdir_size - 1))
            .map(|a| a & !(pgdir_size - 1))
        else {
            break;
        };
        if next <= addr {
            break;
        }
        addr = next;
    }
    Ok(report)
}

fn sync_one_slot(
    mem: &mut Overlay<'_>,
    tables: &KernelPageTables,
    addr: u64,
    report: &mut SyncReport,
) -> Result<(), ModelError> {
    let mode = tables.mode;
    let slot_offset = u64::from(mode.pgd_index(addr).0) * 8;
    // The tables' addresses come from the dump; as before, an entry past
    // 2^64 wraps (and then reads as not in the dump) rather than panicking.
    let ref_pa = tables.init_mm_pgd.pa.wrapping_add(slot_offset);
    let reference = read_entry(mem, ref_pa).map_err(|source| ModelError::Read {
        what: "init_mm's top-level entry",
        paddr: ref_pa.get(),
        source,
    })?;
    if top_level_entry_none(mode, reference) {
        return Ok(());
    }
    let ref_table = table_address(reference, tables.sme_mask);
    for pgd in &tables.pgd_list {
        let entry_pa = pgd.pa.wrapping_add(slot_offset);
        let entry = match read_entry(mem, entry_pa) {
            Ok(e) => e,
            Err(error) => {
                report.unreadable.push((*pgd, error));
                continue;
            }
        };
        if top_level_entry_none(mode, entry) {
            mem.write_u64(entry_pa, reference)?;
            if !report.written.contains(pgd) {
                report.written.push(*pgd);
            }
        } else if table_address(entry, tables.sme_mask) != ref_table {
            report.bug_on.push(BugOn {
                pgd: *pgd,
                entry_pa,
                entry,
                reference,
            });
        }
    }
    for pgd in &tables.unlisted {
        if tables.pgd_list.iter().any(|l| l.pa == pgd.pa) {
            continue;
        }
        let entry_pa = pgd.pa.wrapping_add(slot_offset);
        match read_entry(mem, entry_pa) {
            Ok(entry) => {
                let out_of_step = top_level_entry_none(mode, entry)
                    || table_address(entry, tables.sme_mask) != ref_table;
                if out_of_step && !report.unreachable.contains(pgd) {
                    report.unreachable.push(*pgd);
                }
            }
            Err(error) => report.unreadable.push((*pgd, error)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_semantics_per_mode() {
        // p4d_none() ignores stray A/D bits; pgd_none() does not.
        assert!(top_level_entry_none(PagingMode::FourLevel, 0x60));
        assert!(!top_level_entry_none(PagingMode::FiveLevel, 0x60));
        assert!(top_level_entry_none(PagingMode::FiveLevel, 0));
        assert!(!top_level_entry_none(PagingMode::FourLevel, 0x1067));
    }
}
