//! What the check could not read, said plainly: which kinds of objects were
//! lost, whether that could change the verdict, and, when the dump's page
//! filter removed them, what to capture with instead.

use std::collections::BTreeMap;

use crate::dump::kdump::dump_level_excludes;
use crate::dump::{PhysAddr, PhysicalMemory};
use crate::kernel::ProblemScope;

use super::{Analysis, TableStatus};

/// The `-d` value to recapture with: everything `-d 31` leaves out but user
/// data. User-data filtering (`-d 8`) is what loses slab pages when
/// makedumpfile misreads the kernel's page types; on the harness's 6.12.117,
/// 7.2.13 and 7.3.4 dumps makedumpfile 1.7.2 at `-d 23` kept every object
/// the check reads, within 0.2 MB of the `-d 31` size (docs/checker.md).
pub const SAFE_DUMP_LEVEL: i32 = 23;

/// The objects a dump's page filter removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterLoss {
    /// makedumpfile's `-d` value from the kdump header.
    pub dump_level: i32,
    /// The page kinds that value excludes.
    pub excludes: Vec<&'static str>,
    /// Lost objects (problems, unreadable page tables) whose page the
    /// filter left out (RAM the dump does not hold).
    pub objects: usize,
    /// What to capture with instead.
    pub advice: String,
}

/// Counts of lost objects by what they were, in a stable order.
pub fn lost_by_scope(a: &Analysis) -> BTreeMap<ProblemScope, usize> {
    let mut by: BTreeMap<ProblemScope, usize> = BTreeMap::new();
    for p in &a.problems {
        *by.entry(p.scope).or_default() += 1;
    }
    by
}

/// "23 thread lists, 1 task": the lost objects in words.
pub fn describe_lost(a: &Analysis) -> String {
    lost_by_scope(a)
        .into_iter()
        .map(|(scope, n)| {
            let what = match scope {
                ProblemScope::PgdList => "pgd_list link(s)",
                ProblemScope::PgdOwner => "pgd_list owner(s) (pt_mm)",
                ProblemScope::TaskList => "task list link(s)",
                ProblemScope::Threads => "thread list(s)",
                ProblemScope::Task => "task_struct(s)",
                ProblemScope::Mm => "mm_struct(s)",
                ProblemScope::Cpu => "per-CPU value(s)",
            };
            format!("{n} {what}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// When the dump's filter (a kdump `dump_level` other than 0) left out pages
/// the check needed: which, and what to capture with instead. Only pages
/// `mem` says were RAM left out by the filter count (not holes, not pages
/// past the dump's end). `None` when there are none, or the dump records no
/// filter (ELF).
pub fn filter_loss(
    a: &Analysis,
    dump_level: Option<i32>,
    mem: &dyn PhysicalMemory,
) -> Option<FilterLoss> {
    let dump_level = dump_level.filter(|&l| l != 0)?;
    let filtered = |pa: Option<PhysAddr>| pa.is_some_and(|pa| mem.left_out_by_filter(pa.get()));
    let objects = a
        .problems
        .iter()
        .filter(|p| filtered(p.missing_paddr))
        .count()
        + a.tables
            .iter()
            .filter(|t| t.status == TableStatus::Unreadable && t.not_in_dump)
            .filter(|t| filtered(Some(t.pgd_pa)))
            .count();
    if objects == 0 {
        return None;
    }
    let advice = format!(
        "capture with `makedumpfile -d {SAFE_DUMP_LEVEL}` (all but user data, which is where slab pages go when the kernel's page types are misread), or with a makedumpfile that knows this kernel's page layout: 1.7.2 misreads slab pages as user data on 6.10+, and releases up to 1.7.9 drop compound tail pages on 7.1+ (fixed by makedumpfile commit f50c015)"
    );
    Some(FilterLoss {
        dump_level,
        excludes: dump_level_excludes(dump_level),
        objects,
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Reference, Verdict};
    use crate::arch::x86_64::{PgdIndex, VirtAddr};
    use crate::dump::{PhysRange, ReadError};
    use crate::kernel::ReadProblem;

    /// Memory whose pages below 0x10000 were left out by a filter; others
    /// are holes.
    struct Filtered;
    impl PhysicalMemory for Filtered {
        fn read(&self, paddr: PhysAddr, _: &mut [u8]) -> Result<(), ReadError> {
            Err(ReadError::NotInDump { paddr })
        }
        fn ranges(&self) -> Vec<PhysRange> {
            Vec::new()
        }
        fn left_out_by_filter(&self, paddr: u64) -> bool {
            paddr < 0x10000
        }
    }

    fn analysis(problems: Vec<ReadProblem>) -> Analysis {
        Analysis {
            reference: Reference {
                pgd_va: VirtAddr::new(0),
                pgd_pa: PhysAddr::new(0),
                present_kernel_slots: 0,
                first_slot: PgdIndex(273),
            },
            tables: Vec::new(),
            findings: Vec::new(),
            tasks: Vec::new(),
            problems,
        }
    }

    #[test]
    fn lost_thread_lists_leave_the_verdict_and_blame_the_filter() {
        let lost = |n: u64| {
            ReadProblem::new(
                ProblemScope::Threads,
                format!("threads of task {n:#x}"),
                "not in the dump",
            )
            .missing_page(Some(PhysAddr::new(n * 0x1000)))
        };
        // Two pages the filter left out, one hole beyond RAM.
        let a = analysis(vec![lost(1), lost(2), lost(0x20)]);
        assert_eq!(a.verdict(), Verdict::Consistent);
        assert!(a.partial_attribution());
        assert_eq!(describe_lost(&a), "3 thread list(s)");
        let f = filter_loss(&a, Some(31), &Filtered).expect("filtered");
        assert_eq!(f.objects, 2);
        assert_eq!(
            f.excludes,
            vec![
                "zero pages",
                "page cache",
                "private page cache",
                "user data",
                "free pages"
            ]
        );
        assert_eq!(filter_loss(&a, Some(0), &Filtered), None);
        assert_eq!(filter_loss(&a, None, &Filtered), None);
        let holes = analysis(vec![lost(0x20)]);
        assert_eq!(filter_loss(&holes, Some(31), &Filtered), None);
    }

    #[test]
    fn a_broken_pgd_list_makes_it_incomplete() {
        let a = analysis(vec![
            ReadProblem::new(ProblemScope::Threads, "threads", "x"),
            ReadProblem::new(ProblemScope::PgdList, "pgd_list", "entry #3 ...")
                .missing_page(Some(PhysAddr::new(0x3000))),
        ]);
        assert_eq!(a.verdict(), Verdict::Incomplete);
        assert!(!a.partial_attribution());
        assert_eq!(describe_lost(&a), "1 pgd_list link(s), 1 thread list(s)");
        assert_eq!(
            filter_loss(&a, Some(8), &Filtered).map(|f| f.objects),
            Some(1)
        );
    }
}
