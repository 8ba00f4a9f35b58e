//! Replays what a fixed kernel would have done: for every missing slot, the
//! populate call the kernel makes at that level (`p4d_populate_kernel` on
//! 4-level, where the P4D is folded into the PGD; `pgd_populate_kernel` on
//! 5-level) with `arch_sync_kernel_mappings()` per the sync mask, run by the
//! model on a copy-on-write overlay of the dump; then the checker again on the
//! overlay, and the fault address walked again in the crashing page table.

use crate::arch::x86_64::VirtAddr;
use crate::arch::x86_64::paging::Walk;
use crate::kernel::Kernel;
use crate::model::mask::SyncMask;
use crate::model::overlay::Overlay;
use crate::model::populate::{ModelError, PopulateCall};
use crate::model::replay::{MissingSlot, replay_missing_slots, retranslate};
use crate::model::sync::{KernelPageTables, PgdRef};

use super::collect::{Collected, Source};
use super::compare::compare_in;
use super::crash::Crash;
use super::{Analysis, AnalysisError, FindingKind, TableStatus};

/// Why the replay could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("replay")]
    Model(#[from] ModelError),
    #[error("replay: re-running the check on the replayed state")]
    Check(#[from] AnalysisError),
}

/// The replay section of the report.
#[derive(Debug, Clone)]
pub struct Replay {
    pub sync_mask: SyncMask,
    /// The mask as the JSON names it: `pgd`, `p4d` or `none`.
    pub mask_name: &'static str,
    pub calls: Vec<PopulateCall>,
    /// The checker's result on the replayed state.
    pub after: Analysis,
    /// The fault address in the crashing page table, before and after.
    pub fault: Option<(Walk, Walk)>,
    /// The dump's kernel already has the 2025 fix ([`Kernel::has_sync_fix`]):
    /// what the replay installs, that kernel would have synced itself, so
    /// a slot missing in the dump was installed by a path that bypassed
    /// `p?d_populate_kernel()`.
    pub kernel_has_fix: bool,
}

pub fn replay(
    k: &Kernel<'_>,
    before: &Analysis,
    crash: Option<&Crash>,
    mask: SyncMask,
) -> Result<Replay, ReplayError> {
    let pgd = |t: &super::CheckedTable| PgdRef {
        pa: t.pgd_pa,
        va: t.pgd_va,
    };
    let compared = || {
        before
            .tables
            .iter()
            .filter(|t| t.status != TableStatus::Skipped && t.pgd_pa.get() != 0)
    };
    let tables = KernelPageTables {
        mode: k.layout.mode,
        sme_mask: k.xlate.sme_mask,
        init_mm_pgd: PgdRef {
            pa: k.xlate.root_pa,
            va: VirtAddr::new(k.init_pgd_va),
        },
        pgd_list: compared()
            .filter(|t| t.sources.contains(&Source::PgdList))
            .map(pgd)
            .collect(),
        // Owned by a task but not on pgd_list: the sync cannot reach them.
        unlisted: compared()
            .filter(|t| t.sources.contains(&Source::Task) && !t.sources.contains(&Source::PgdList))
            .map(pgd)
            .collect(),
    };
    let missing: Vec<MissingSlot> = before
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Missing)
        .map(|f| MissingSlot {
            pgd_index: f.slot,
            va_start: f.va_start,
            init_mm_entry: f.expected.0,
        })
        .collect();
    let mut overlay = Overlay::new(k.memory());
    let report = replay_missing_slots(&mut overlay, &tables, mask, &missing)?;

    // The same tables, compared again on the overlay.
    let mut again = before.tables.clone();
    for t in &mut again {
        if t.status == TableStatus::Diverged {
            t.status = TableStatus::Consistent;
        }
    }
    let collected = Collected {
        tables: again,
        tasks: before.tasks.clone(),
        problems: before.problems.clone(),
    };
    let after = compare_in(k, &overlay, collected)?;
    let fault = crash.and_then(|c| {
        let (va, root) = (VirtAddr::new(c.fault_address?), c.pgd_pa?);
        let r = retranslate(&overlay, k.layout.mode, k.xlate.sme_mask, root, va);
        Some((r.before, r.after))
    });
    Ok(Replay {
        sync_mask: mask,
        mask_name: mask.effective_name(k.layout.mode),
        calls: report.calls,
        after,
        fault,
        kernel_has_fix: k.has_sync_fix(),
    })
}
