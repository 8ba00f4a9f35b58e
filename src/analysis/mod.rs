//! The checker: init_mm's page table against every other page table the
//! dump holds, slot by slot over what `pgd_ctor()` copies.
//!
//! [`collect`] finds the page tables (tasks, pgd_list, per-CPU loaded mms,
//! CR3) and [`compare`] turns differences into [`Finding`]s. [`run`] is the
//! whole chain: the check, the kernel log, the crash, the replay.

#[doc(hidden)] // the stages of `run`, public for benches/analyze.rs to time them
pub mod collect;
#[doc(hidden)] // the stages of `run`, public for benches/analyze.rs to time them
pub mod compare;
pub mod crash;
pub mod live;
pub mod lost;
pub mod oops;
mod pipeline;
pub mod replay;

use std::collections::BTreeSet;

use crate::arch::x86_64::{PageTableEntry, PgdIndex, PhysAddr, Region, VirtAddr};
use crate::kernel::{Kernel, KernelError, ReadProblem, Task};

pub use collect::Source;
pub use pipeline::{Options, Outcome, RunError, run};

/// Why the check could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("init_mm's page table at physical {pa:#x} cannot be read: {detail}")]
    Reference { pa: PhysAddr, detail: String },
}

/// A task using a page table (task->mm is the table's mm).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskRef {
    pub pid: i32,
    pub comm: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableStatus {
    Consistent,
    Diverged,
    Unreadable,
    /// A table that is special by design (efi_mm): listed, never compared.
    Skipped,
    /// Read from a running kernel, it changed (or its owner exited) between
    /// the check and the re-check ([`live::recheck`]): no finding.
    Changed,
}

impl TableStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TableStatus::Consistent => "consistent",
            TableStatus::Diverged => "diverged",
            TableStatus::Unreadable => "unreadable",
            TableStatus::Skipped => "skipped",
            TableStatus::Changed => "changed",
        }
    }
}

/// One distinct page table and everything known about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedTable {
    /// `mm->pgd` (direct-map address); 0 when not even that could be read.
    pub pgd_va: VirtAddr,
    pub pgd_pa: PhysAddr,
    pub mm: Option<VirtAddr>,
    pub tasks: Vec<TaskRef>,
    pub sources: BTreeSet<Source>,
    /// CPUs that had it loaded (cpu_tlbstate.loaded_mm or CR3).
    pub cpus: BTreeSet<u32>,
    pub status: TableStatus,
    pub reason: Option<String>,
    /// Unreadable because the dump does not hold a page it needs.
    pub not_in_dump: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FindingKind {
    /// init_mm's slot is present, this table's is none: the missing-sync bug.
    Missing,
    /// Both present, different next-level tables: sync_global_pgds() BUG_ON.
    Mismatch,
    /// Present here, none in init_mm.
    Stale,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Missing => "missing",
            FindingKind::Mismatch => "mismatch",
            FindingKind::Stale => "stale",
        }
    }
}

/// One (page table, slot) difference, with the raw evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub slot: PgdIndex,
    pub va_start: VirtAddr,
    pub regions: Vec<Region>,
    pub pgd_va: VirtAddr,
    pub pgd_pa: PhysAddr,
    pub mm: Option<VirtAddr>,
    pub pids: Vec<i32>,
    /// init_mm's entry and where it was read.
    pub expected: PageTableEntry,
    pub expected_pa: PhysAddr,
    /// This table's entry and where it was read.
    pub actual: PageTableEntry,
    pub actual_pa: PhysAddr,
}

/// init_mm's page table: the reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub pgd_va: VirtAddr,
    pub pgd_pa: PhysAddr,
    /// Present slots from the boundary to 511.
    pub present_kernel_slots: usize,
    /// `KERNEL_PGD_BOUNDARY`: the first compared slot.
    pub first_slot: PgdIndex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    Consistent,
    MissingSync,
    Inconsistent,
    Incomplete,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Consistent => "consistent",
            Verdict::MissingSync => "missing-sync",
            Verdict::Inconsistent => "inconsistent",
            Verdict::Incomplete => "incomplete",
        }
    }

    /// Exit status of `analyze` (docs/cli.md).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Consistent => 0,
            Verdict::MissingSync | Verdict::Inconsistent => 1,
            Verdict::Incomplete => 3,
        }
    }
}

/// The result of the check.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub reference: Reference,
    /// Sorted by pgd_va.
    pub tables: Vec<CheckedTable>,
    /// Sorted by (slot, pgd_va).
    pub findings: Vec<Finding>,
    /// Every task_struct reached (init_task, leaders, threads).
    pub tasks: Vec<Task>,
    /// What could not be read (lists that broke, CPUs, pointers).
    pub problems: Vec<ReadProblem>,
}

impl Analysis {
    pub fn verdict(&self) -> Verdict {
        if self.findings.iter().any(|f| f.kind != FindingKind::Missing) {
            Verdict::Inconsistent
        } else if !self.findings.is_empty() {
            Verdict::MissingSync
        } else if self.verdict_at_risk() {
            Verdict::Incomplete
        } else {
            Verdict::Consistent
        }
    }

    /// Whether something lost could hide a difference: a page table that
    /// could not be read, or a break in `pgd_list` (the list of every pgd;
    /// [`ProblemScope::can_change_verdict`](crate::kernel::ProblemScope::can_change_verdict)).
    pub fn verdict_at_risk(&self) -> bool {
        self.tables
            .iter()
            .any(|t| t.status == TableStatus::Unreadable)
            || self.problems.iter().any(|p| p.scope.can_change_verdict())
    }

    /// Every page table was read but some tasks, threads, mms or CPU states
    /// were not: the verdict stands, the tasks named per table may be short.
    pub fn partial_attribution(&self) -> bool {
        !self.verdict_at_risk() && !self.problems.is_empty()
    }

    /// Page tables compared (the skipped ones are listed but not counted).
    pub(crate) fn compared_tables(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.status != TableStatus::Skipped)
            .count()
    }

    /// Tables of a running kernel that changed under the reader.
    pub fn changed_tables(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.status == TableStatus::Changed)
            .count()
    }

    pub(crate) fn diverged_tables(&self) -> usize {
        self.tables
            .iter()
            .filter(|t| t.status == TableStatus::Diverged)
            .count()
    }

    /// Keeps only the page tables used by one of `pids`, and their findings.
    /// The check itself already ran over everything.
    pub(crate) fn retain_pids(&mut self, pids: &[i32]) {
        if pids.is_empty() {
            return;
        }
        self.tables
            .retain(|t| t.tasks.iter().any(|r| pids.contains(&r.pid)));
        let kept: BTreeSet<PhysAddr> = self.tables.iter().map(|t| t.pgd_pa).collect();
        self.findings.retain(|f| kept.contains(&f.pgd_pa));
    }
}

/// Runs the check over everything the dump holds.
pub fn check(kernel: &Kernel<'_>) -> Result<Analysis, AnalysisError> {
    let collected = collect::collect(kernel)?;
    compare::compare(kernel, collected)
}
