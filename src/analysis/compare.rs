//! Slot-by-slot comparison with init_mm, over the slots `pgd_ctor()` clones:
//! from `KERNEL_PGD_BOUNDARY` (the slot of page_offset_base) to 511
//! (arch/x86/mm/pgtable.c `clone_pgd_range`). Slots below it (guard hole,
//! per-mm LDT remap) differ by design. Accessed/Dirty are hardware-written.

use crate::arch::x86_64::{PageTable, PageTableEntry, PgdIndex, VirtAddr};
use crate::dump::PhysicalMemory;
use crate::kernel::Kernel;

use super::collect::Collected;
use super::{Analysis, AnalysisError, Finding, FindingKind, Reference, TableStatus};

/// Classifies one slot: `None` when the two entries agree.
pub(crate) fn classify(
    reference: PageTableEntry,
    actual: PageTableEntry,
    sme_mask: u64,
) -> Option<FindingKind> {
    match (reference.present(), actual.present()) {
        (true, false) if actual.is_none() => Some(FindingKind::Missing),
        // A non-zero but not-present entry is not what pgd_ctor copies either.
        (true, false) => Some(FindingKind::Mismatch),
        // sync_global_pgds() BUG_ONs when the next-level tables differ
        // (arch/x86/mm/init_64.c); flag-only differences it tolerates.
        (true, true) if reference.table_pa(sme_mask) != actual.table_pa(sme_mask) => {
            Some(FindingKind::Mismatch)
        }
        (true, true) => None,
        (false, true) => Some(FindingKind::Stale),
        (false, false) => None,
    }
}

/// Compares the collected tables as they are in the dump.
pub fn compare(k: &Kernel<'_>, collected: Collected) -> Result<Analysis, AnalysisError> {
    compare_in(k, k.memory(), collected)
}

/// Compares the collected tables as they are in `mem`: the dump itself, or
/// an overlay of it on which the populate_kernel model has run (replay).
pub(crate) fn compare_in(
    k: &Kernel<'_>,
    mem: &dyn PhysicalMemory,
    collected: Collected,
) -> Result<Analysis, AnalysisError> {
    let ref_pa = k.xlate.root_pa;
    // Every table to compare is known now: ask for all their pages at once,
    // so that with a cold page cache the disk reads them together instead
    // of one fault after another.
    crate::dump::will_need_pages(
        mem,
        std::iter::once(ref_pa.get()).chain(
            collected
                .tables
                .iter()
                .filter(|t| t.status == TableStatus::Consistent)
                .map(|t| t.pgd_pa.get()),
        ),
    );
    let reference = PageTable::read(mem, ref_pa).map_err(|e| AnalysisError::Reference {
        pa: ref_pa,
        detail: e.to_string(),
    })?;
    let first = k.layout.kernel_pgd_boundary();
    let slots = || (first.0..512).map(PgdIndex);
    let present_kernel_slots = slots().filter(|&s| reference.entry(s).present()).count();

    let Collected {
        mut tables,
        tasks,
        problems,
    } = collected;
    let mut findings = Vec::new();
    for t in &mut tables {
        if t.status != TableStatus::Consistent {
            continue;
        }
        let table = match PageTable::read(mem, t.pgd_pa) {
            Ok(tb) => tb,
            Err(e) => {
                t.status = TableStatus::Unreadable;
                t.reason = Some(e.to_string());
                t.not_in_dump = matches!(e, crate::dump::ReadError::NotInDump { .. });
                continue;
            }
        };
        let pids: Vec<i32> = t.tasks.iter().map(|r| r.pid).collect();
        for slot in slots() {
            let (exp, act) = (reference.entry(slot), table.entry(slot));
            if let Some(kind) = classify(exp, act, k.xlate.sme_mask) {
                t.status = TableStatus::Diverged;
                findings.push(Finding {
                    kind,
                    slot,
                    va_start: VirtAddr::new(k.layout.mode.slot_start(slot)),
                    regions: k.layout.regions_in_slot(slot),
                    pgd_va: t.pgd_va,
                    pgd_pa: t.pgd_pa,
                    mm: t.mm,
                    pids: pids.clone(),
                    expected: exp,
                    expected_pa: ref_pa.wrapping_add(u64::from(slot.0) * 8),
                    actual: act,
                    actual_pa: t.pgd_pa.wrapping_add(u64::from(slot.0) * 8),
                });
            }
        }
    }
    tables.sort_by_key(|t| (t.pgd_va, t.pgd_pa, t.mm));
    findings.sort_by_key(|f| (f.slot, f.pgd_va, f.pgd_pa));
    Ok(Analysis {
        reference: Reference {
            pgd_va: VirtAddr::new(k.init_pgd_va),
            pgd_pa: ref_pa,
            present_kernel_slots,
            first_slot: first,
        },
        tables,
        findings,
        tasks,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let e = |v| PageTableEntry(v);
        assert_eq!(classify(e(0x1063), e(0), 0), Some(FindingKind::Missing));
        assert_eq!(
            classify(e(0x1063), e(0x1003), 0),
            None,
            "A/D and flag-only differences are tolerated"
        );
        assert_eq!(
            classify(e(0x1063), e(0x2063), 0),
            Some(FindingKind::Mismatch)
        );
        assert_eq!(classify(e(0), e(0x2063), 0), Some(FindingKind::Stale));
        assert_eq!(classify(e(0), e(0), 0), None);
        assert_eq!(
            classify(e(0x1063), e(0x1062), 0),
            Some(FindingKind::Mismatch)
        );
        // The SME bit is not part of the table address.
        assert_eq!(classify(e(0x1063 | 1 << 47), e(0x1063), 1 << 47), None);
    }
}
