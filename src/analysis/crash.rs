//! Ties the crash in the dump to its cause: the last oops in the kernel log,
//! the CPU and task it names (checked against the per-CPU current task), the
//! page table that CPU ran on (QEMU's CR3 note, else `cpu_tlbstate.loaded_mm`,
//! else the task's mm), and the fault address walked in that table and in
//! init_mm's.

use std::collections::HashMap;

use crate::arch::x86_64::paging::{Level, Walk, WalkOutcome, walk};
use crate::arch::x86_64::{PgdIndex, PhysAddr, Region, VirtAddr};
use crate::kernel::percpu::{CpuState, resolve_cr3};
use crate::kernel::{Kernel, Task};

use super::oops::{LogLine, Oops, parse_last_oops};
use super::{Analysis, FindingKind};

/// How the crashing CPU's page table was found, most direct first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PgdSource {
    /// The CR3 recorded in the dump (QEMU's per-CPU note).
    Cr3,
    /// The CPU's `cpu_tlbstate.loaded_mm`.
    CpuLoadedMm,
    /// The crashing task's mm (or active_mm for a kernel thread).
    TaskMm,
}

impl PgdSource {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PgdSource::Cr3 => "cr3",
            PgdSource::CpuLoadedMm => "cpu_loaded_mm",
            PgdSource::TaskMm => "task_mm",
        }
    }
}

/// Why a crash is, or is not, explained by a missing top-level sync. The
/// JSON carries [`Explanation::code`] next to the sentence
/// ([`Crash::verdict`]) so that no user has to match on English; the codes
/// are stable (docs/json-schema.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Explanation {
    /// The page table the crashing CPU ran on lacks the fault's top-level
    /// slot, init_mm has it, and the check found that slot missing in that
    /// table: the missing kernel page-table sync.
    MissingSync,
    /// The last oops names no fault address (not a page fault, or the line
    /// that names it was lost).
    NoFaultAddress,
    /// The fault address is not canonical for the paging mode.
    NonCanonical,
    /// The page table the crashing CPU ran on could not be found.
    PageTableUnknown,
    /// The fault's top-level slot is empty in init_mm too: no sync could have
    /// helped.
    EmptyInInitMm,
    /// The top-level entry is there; the walk stops at `level`, below it.
    StopsBelowTop { level: Level },
    /// The crashing table lacks a top-level slot init_mm has, but the check
    /// has no missing finding for that table and slot: a slot below the
    /// compared kernel range, or a table the check did not compare.
    SlotNotCompared,
    /// The fault address is mapped in the crashing page table.
    AddressMapped,
    /// The crashing page table cannot be read at `level`.
    WalkUnreadable { level: Level },
}

impl Explanation {
    /// The stable kebab-case code of the JSON report.
    pub fn code(self) -> &'static str {
        match self {
            Explanation::MissingSync => "missing-sync",
            Explanation::NoFaultAddress => "no-fault-address",
            Explanation::NonCanonical => "non-canonical",
            Explanation::PageTableUnknown => "page-table-unknown",
            Explanation::EmptyInInitMm => "empty-in-init-mm",
            Explanation::StopsBelowTop { .. } => "stops-below-top",
            Explanation::SlotNotCompared => "slot-not-compared",
            Explanation::AddressMapped => "address-mapped",
            Explanation::WalkUnreadable { .. } => "walk-unreadable",
        }
    }

    /// Decides from the walks: `crash_walk` is the fault address in the table
    /// the crashing CPU ran on (`None` when that table is unknown),
    /// `init_mm_walk` the same address in init_mm's, `missing_finding` whether
    /// the check found the fault's slot missing in that table.
    pub(crate) fn decide(
        fault_address: Option<u64>,
        slot: Option<PgdIndex>,
        crash_walk: Option<&Walk>,
        init_mm_walk: Option<&Walk>,
        missing_finding: bool,
    ) -> Explanation {
        let top_missing = |w: Option<&Walk>| {
            matches!(
                w.map(|w| &w.outcome),
                Some(WalkOutcome::NotPresent { level: Level::Pgd })
            )
        };
        if fault_address.is_none() {
            return Explanation::NoFaultAddress;
        }
        if missing_finding && top_missing(crash_walk) && !top_missing(init_mm_walk) {
            return Explanation::MissingSync;
        }
        if slot.is_none() {
            return Explanation::NonCanonical;
        }
        let Some(w) = crash_walk else {
            return Explanation::PageTableUnknown;
        };
        match &w.outcome {
            WalkOutcome::NotPresent { level: Level::Pgd } if top_missing(init_mm_walk) => {
                Explanation::EmptyInInitMm
            }
            WalkOutcome::NotPresent { level: Level::Pgd } => Explanation::SlotNotCompared,
            WalkOutcome::NotPresent { level } => Explanation::StopsBelowTop { level: *level },
            WalkOutcome::Mapped { .. } => Explanation::AddressMapped,
            WalkOutcome::Unreadable { level, .. } => Explanation::WalkUnreadable { level: *level },
            WalkOutcome::NonCanonical => Explanation::NonCanonical,
        }
    }
}

/// The crash section of the report.
#[derive(Debug, Clone)]
pub struct Crash {
    pub oops: Oops,
    pub fault_address: Option<u64>,
    pub slot: Option<PgdIndex>,
    pub regions: Vec<Region>,
    pub cpu: Option<u32>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    /// The table the crashing CPU ran on: pgd (va, pa) and how it was found.
    pub pgd_va: Option<VirtAddr>,
    pub pgd_pa: Option<PhysAddr>,
    pub pgd_source: Option<PgdSource>,
    /// The fault address walked in that table, and in init_mm's.
    pub walk: Option<Walk>,
    pub init_mm_walk: Option<Walk>,
    /// Why the crash is or is not explained; [`Crash::verdict`] says it in
    /// a sentence.
    pub explanation: Explanation,
    /// One line for people, built from `explanation`.
    pub verdict: String,
    /// Where the sources disagreed (log vs per-CPU state vs notes).
    pub notes: Vec<String>,
}

impl Crash {
    /// The crashing table lacks the fault's slot while init_mm has it.
    pub(crate) fn explained(&self) -> bool {
        self.explanation == Explanation::MissingSync
    }
}

/// Finds and explains the last oops; `None` when the log holds none.
pub fn attribute(k: &Kernel<'_>, a: &Analysis, log: &[LogLine]) -> Option<Crash> {
    let oops = parse_last_oops(log)?;
    let fault_address = oops.fault_address();
    let cpus = k.cpus().cpus;
    let culprit = culprit(k, a, &cpus, &oops);
    let table = crashing_table(k, a, culprit.cpu_state, culprit.task);

    let mode = k.layout.mode;
    let slot = fault_address
        .filter(|&va| mode.is_canonical(va))
        .map(|va| mode.pgd_index(va));
    let regions = slot
        .map(|s| k.layout.regions_in_slot(s))
        .unwrap_or_default();
    let mem = k.memory();
    let walk_in = |root: PhysAddr| {
        fault_address.map(|va| walk(mem, mode, k.xlate.sme_mask, root, VirtAddr::new(va)))
    };
    let crash_walk = table.and_then(|(_, pa, _)| walk_in(pa));
    let init_walk = walk_in(k.xlate.root_pa);
    let missing_finding = slot.is_some_and(|s| {
        table.is_some_and(|(_, pa, _)| {
            a.findings
                .iter()
                .any(|f| f.slot == s && f.pgd_pa == pa && f.kind == FindingKind::Missing)
        })
    });
    let explanation = Explanation::decide(
        fault_address,
        slot,
        crash_walk.as_ref(),
        init_walk.as_ref(),
        missing_finding,
    );

    let pid = culprit.log_pid.or(culprit.task.map(|t| t.pid));
    let who = match (pid, culprit.comm.as_deref()) {
        (Some(p), Some(c)) => format!("pid {p} ({c})"),
        (Some(p), None) => format!("pid {p}"),
        _ => "an unknown task".into(),
    };
    let facts = SentenceFacts {
        fault_address: fault_address.unwrap_or(0),
        slot,
        region_names: regions
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join("+"),
        cpu: culprit.cpu,
        who,
        paging_levels: mode.levels(),
        missing_in_slot: slot.map_or(0, |s| {
            a.findings
                .iter()
                .filter(|f| f.slot == s && f.kind == FindingKind::Missing)
                .count()
        }),
        compared_tables: a.compared_tables(),
        has_sync_fix: k.has_sync_fix(),
    };
    let verdict = sentence(explanation, &facts);
    Some(Crash {
        fault_address,
        slot,
        regions,
        cpu: culprit.cpu,
        pid,
        comm: culprit.comm,
        pgd_va: table.map(|t| t.0),
        pgd_pa: table.map(|t| t.1),
        pgd_source: table.map(|t| t.2),
        walk: crash_walk,
        init_mm_walk: init_walk,
        explanation,
        verdict,
        notes: culprit.notes,
        oops,
    })
}

/// Who crashed, and on which CPU, as the log and the per-CPU state say.
struct Culprit<'a> {
    cpu: Option<u32>,
    cpu_state: Option<&'a CpuState>,
    /// The pid the log names.
    log_pid: Option<i32>,
    /// The log's task, else the CPU's current task.
    task: Option<&'a Task>,
    comm: Option<String>,
    /// Where the sources disagreed.
    notes: Vec<String>,
}

fn culprit<'a>(k: &Kernel<'_>, a: &'a Analysis, cpus: &'a [CpuState], oops: &Oops) -> Culprit<'a> {
    let mut notes = Vec::new();
    let log_cpu = oops.task.as_ref().and_then(|t| t.cpu);
    let log_pid = oops.task.as_ref().and_then(|t| t.pid).map(|p| p as i32);

    // The crashing CPU: the log's, else the CPU whose current task has the log's pid.
    // Indexed once: looking tasks up per CPU would be CPUs x tasks.
    let by_addr: HashMap<u64, &Task> = a.tasks.iter().rev().map(|t| (t.addr, t)).collect();
    let task_of = |addr: u64| by_addr.get(&addr).copied();
    let cpu = log_cpu.or_else(|| {
        let pid = log_pid?;
        cpus.iter()
            .find(|c| {
                c.current_task
                    .and_then(task_of)
                    .is_some_and(|t| t.pid == pid)
            })
            .map(|c| c.cpu)
    });
    let cpu_state = cpu.and_then(|c| cpus.iter().find(|s| s.cpu == c));
    let current = cpu_state.and_then(|s| s.current_task).and_then(task_of);
    if let (Some(cur), Some(pid)) = (current, log_pid) {
        if cur.pid != pid {
            notes.push(format!(
                "the log names pid {pid} but CPU {}'s current task is pid {} ({}): the CPU moved on after the oops",
                cpu.unwrap_or(0),
                cur.pid,
                cur.comm
            ));
        }
    }
    // kdump's PRSTATUS pr_pid is the task on that CPU; in QEMU dumps it is the
    // vCPU index + 1, so it is only a witness when no QEMU note exists.
    if let (Some(st), Some(pid)) = (cpu_state, log_pid) {
        let qemu = k
            .dump
            .cpus
            .get(st.cpu as usize)
            .is_some_and(|c| c.from_qemu);
        if let (false, Some(pr)) = (qemu, st.prstatus_pid) {
            if pr as i32 != pid {
                notes.push(format!(
                    "NT_PRSTATUS of CPU {} names pid {pr}, the log pid {pid}",
                    st.cpu
                ));
            }
        }
    }
    let task = log_pid
        .and_then(|p| a.tasks.iter().find(|t| t.pid == p))
        .or(current);
    let comm = oops
        .task
        .as_ref()
        .and_then(|t| t.comm.clone())
        .or_else(|| task.map(|t| t.comm.clone()));
    Culprit {
        cpu,
        cpu_state,
        log_pid,
        task,
        comm,
        notes,
    }
}

/// The page table the crashing CPU ran on: (pgd va, pgd pa, how it was
/// found), most direct source first.
fn crashing_table(
    k: &Kernel<'_>,
    a: &Analysis,
    cpu_state: Option<&CpuState>,
    task: Option<&Task>,
) -> Option<(VirtAddr, PhysAddr, PgdSource)> {
    // mm->pgd is a kernel pointer read from the dump; it becomes a VirtAddr here.
    let mm_pgd = |mm: u64| -> Option<(VirtAddr, PhysAddr)> {
        let va = VirtAddr::new(k.read_u64(mm.wrapping_add(k.offsets.mm_pgd)).ok()?);
        Some((va, k.pa(va).ok()?))
    };
    let root_pa = k.xlate.root_pa.get();
    let known = |pa: u64| pa == root_pa || a.tables.iter().any(|t| t.pgd_pa.get() == pa);
    if let Some(pa) = cpu_state
        .and_then(|s| s.cr3_pa)
        .map(|pa| resolve_cr3(pa, known))
    {
        let pa = PhysAddr::new(pa);
        let va = if pa.get() == root_pa {
            VirtAddr::new(k.init_pgd_va)
        } else {
            k.xlate.phys_to_direct(pa).unwrap_or_default()
        };
        return Some((va, pa, PgdSource::Cr3));
    }
    if let Some((va, pa)) = cpu_state
        .and_then(|s| s.loaded_mm)
        .filter(|&m| m != 0)
        .and_then(mm_pgd)
    {
        return Some((va, pa, PgdSource::CpuLoadedMm));
    }
    let mm = task
        .map(|t| if t.mm != 0 { t.mm } else { t.active_mm })
        .filter(|&m| m != 0);
    let (va, pa) = mm.and_then(mm_pgd)?;
    Some((va, pa, PgdSource::TaskMm))
}

/// What the verdict sentence says besides the explanation.
struct SentenceFacts {
    fault_address: u64,
    slot: Option<PgdIndex>,
    /// The slot's regions, joined with `+`.
    region_names: String,
    cpu: Option<u32>,
    /// "pid N (comm)", "pid N" or "an unknown task".
    who: String,
    paging_levels: u8,
    /// Page tables with a missing finding in the fault's slot.
    missing_in_slot: usize,
    /// Page tables compared (skipped ones excluded).
    compared_tables: usize,
    /// The kernel has `arch_sync_kernel_mappings` (the 2025 fix).
    has_sync_fix: bool,
}

/// The one-line verdict: the wording every release so far printed, so that
/// the table and the JSON `verdict` stay the same.
fn sentence(e: Explanation, f: &SentenceFacts) -> String {
    let fa = f.fault_address;
    let (who, region_names) = (&f.who, &f.region_names);
    let s = f.slot.map_or(0, |s| s.0);
    let why = match e {
        Explanation::NoFaultAddress => {
            return "the last oops names no fault address: the page-table check still ran"
                .to_string();
        }
        Explanation::MissingSync => {
            let fix = if f.has_sync_fix {
                "this kernel has arch_sync_kernel_mappings (the 2025 fix), so some path still installs top-level kernel entries without p?d_populate_kernel()"
            } else {
                "a kernel with p4d_populate_kernel()/pgd_populate_kernel() (the 2025 fix) would have synced it"
            };
            return format!(
                "explained: the fault at {fa:#x} on CPU {} by {who} lies in kernel slot {s} ({region_names}), which init_mm has and the page table it ran on lacks (as do {} of {} page tables): a missing kernel page-table sync; {fix}",
                f.cpu.map_or("?".into(), |c| c.to_string()),
                f.missing_in_slot,
                f.compared_tables
            );
        }
        Explanation::NonCanonical if f.slot.is_none() => {
            return format!(
                "not explained: the fault address {fa:#x} is not canonical for {}-level paging",
                f.paging_levels
            );
        }
        Explanation::NonCanonical => "the address is not canonical".to_string(),
        Explanation::PageTableUnknown => {
            "the page table the crashing CPU ran on could not be found".to_string()
        }
        Explanation::EmptyInInitMm => {
            format!("slot {s} is empty in init_mm too, so no sync could have helped")
        }
        Explanation::SlotNotCompared => {
            // The sentence predates the code and names the top level as if
            // it were below it; kept word for word (the code is precise).
            format!(
                "the walk in the crashing page table stops at the {} level, below the top",
                Level::Pgd.name()
            )
        }
        Explanation::StopsBelowTop { level } => format!(
            "the walk in the crashing page table stops at the {} level, below the top",
            level.name()
        ),
        Explanation::AddressMapped => {
            "the address is mapped in the crashing page table".to_string()
        }
        Explanation::WalkUnreadable { level } => format!(
            "the crashing page table cannot be read at the {} level",
            level.name()
        ),
    };
    format!(
        "not explained by a missing top-level slot: the fault at {fa:#x} by {who} lies in slot {s} ({region_names}), but {why}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::ReadError;

    const FAULT: u64 = 0xffff_ea00_0000_0000;

    fn walk_ending(outcome: WalkOutcome) -> Walk {
        Walk {
            va: VirtAddr::new(FAULT),
            root_pa: PhysAddr::new(0x1000),
            steps: Vec::new(),
            outcome,
        }
    }

    fn not_present(level: Level) -> Walk {
        walk_ending(WalkOutcome::NotPresent { level })
    }

    fn mapped() -> Walk {
        walk_ending(WalkOutcome::Mapped {
            pa: PhysAddr::new(0x20_0000),
            page_size: 4096,
        })
    }

    /// `decide` for a canonical fault in slot 468.
    fn decide(crash: Option<&Walk>, init: Option<&Walk>, missing_finding: bool) -> Explanation {
        Explanation::decide(
            Some(FAULT),
            Some(PgdIndex(468)),
            crash,
            init,
            missing_finding,
        )
    }

    fn facts(slot: Option<PgdIndex>) -> SentenceFacts {
        SentenceFacts {
            fault_address: FAULT,
            slot,
            region_names: "vmemmap".into(),
            cpu: Some(1),
            who: "pid 42 (stress)".into(),
            paging_levels: 4,
            missing_in_slot: 3,
            compared_tables: 7,
            has_sync_fix: false,
        }
    }

    /// The sentence for a canonical fault in slot 468.
    fn said(e: Explanation) -> String {
        sentence(e, &facts(Some(PgdIndex(468))))
    }

    const NOT_EXPLAINED: &str = "not explained by a missing top-level slot: the fault at 0xffffea0000000000 by pid 42 (stress) lies in slot 468 (vmemmap), but ";

    #[test]
    fn missing_sync_needs_the_finding_and_both_walks() {
        let (top, init) = (not_present(Level::Pgd), mapped());
        let e = decide(Some(&top), Some(&init), true);
        assert_eq!(e, Explanation::MissingSync);
        assert_eq!(e.code(), "missing-sync");
        assert_eq!(
            said(e),
            "explained: the fault at 0xffffea0000000000 on CPU 1 by pid 42 (stress) lies in kernel slot 468 (vmemmap), which init_mm has and the page table it ran on lacks (as do 3 of 7 page tables): a missing kernel page-table sync; a kernel with p4d_populate_kernel()/pgd_populate_kernel() (the 2025 fix) would have synced it"
        );
        let mut fixed = facts(Some(PgdIndex(468)));
        fixed.has_sync_fix = true;
        assert!(
            sentence(e, &fixed).ends_with("; this kernel has arch_sync_kernel_mappings (the 2025 fix), so some path still installs top-level kernel entries without p?d_populate_kernel()"),
            "{}",
            sentence(e, &fixed)
        );
    }

    #[test]
    fn no_fault_address() {
        let e = Explanation::decide(None, None, None, None, false);
        assert_eq!(e, Explanation::NoFaultAddress);
        assert_eq!(e.code(), "no-fault-address");
        assert_eq!(
            sentence(e, &facts(None)),
            "the last oops names no fault address: the page-table check still ran"
        );
    }

    #[test]
    fn non_canonical_fault_address() {
        let w = walk_ending(WalkOutcome::NonCanonical);
        let e = Explanation::decide(Some(0x8000_0000_0000_0000), None, Some(&w), Some(&w), false);
        assert_eq!(e, Explanation::NonCanonical);
        assert_eq!(e.code(), "non-canonical");
        let mut f = facts(None);
        f.fault_address = 0x8000_0000_0000_0000;
        assert_eq!(
            sentence(e, &f),
            "not explained: the fault address 0x8000000000000000 is not canonical for 4-level paging"
        );
        // A walk that calls a canonical slot's address non-canonical: the
        // same code, said after the slot.
        assert_eq!(
            decide(Some(&w), Some(&mapped()), false),
            Explanation::NonCanonical
        );
        assert_eq!(
            said(Explanation::NonCanonical),
            format!("{NOT_EXPLAINED}the address is not canonical")
        );
    }

    #[test]
    fn page_table_unknown() {
        let e = decide(None, Some(&mapped()), false);
        assert_eq!(e, Explanation::PageTableUnknown);
        assert_eq!(e.code(), "page-table-unknown");
        assert_eq!(
            said(e),
            format!("{NOT_EXPLAINED}the page table the crashing CPU ran on could not be found")
        );
    }

    #[test]
    fn empty_in_init_mm_too() {
        let top = not_present(Level::Pgd);
        // Even with a finding, a slot empty in init_mm explains nothing.
        for finding in [false, true] {
            let e = decide(Some(&top), Some(&top), finding);
            assert_eq!(e, Explanation::EmptyInInitMm);
        }
        let e = Explanation::EmptyInInitMm;
        assert_eq!(e.code(), "empty-in-init-mm");
        assert_eq!(
            said(e),
            format!(
                "{NOT_EXPLAINED}slot 468 is empty in init_mm too, so no sync could have helped"
            )
        );
    }

    #[test]
    fn walk_stops_below_the_top_level() {
        for level in [Level::P4d, Level::Pud, Level::Pmd, Level::Pte] {
            let w = not_present(level);
            // A finding in the slot does not explain a walk that got past it.
            let e = decide(Some(&w), Some(&w), true);
            assert_eq!(e, Explanation::StopsBelowTop { level });
            assert_eq!(e.code(), "stops-below-top");
        }
        assert_eq!(
            said(Explanation::StopsBelowTop { level: Level::Pmd }),
            format!(
                "{NOT_EXPLAINED}the walk in the crashing page table stops at the pmd level, below the top"
            )
        );
    }

    #[test]
    fn slot_not_compared() {
        let e = decide(Some(&not_present(Level::Pgd)), Some(&mapped()), false);
        assert_eq!(e, Explanation::SlotNotCompared);
        assert_eq!(e.code(), "slot-not-compared");
        assert_eq!(
            said(e),
            format!(
                "{NOT_EXPLAINED}the walk in the crashing page table stops at the pgd level, below the top"
            )
        );
    }

    #[test]
    fn address_mapped() {
        let e = decide(Some(&mapped()), Some(&mapped()), true);
        assert_eq!(e, Explanation::AddressMapped);
        assert_eq!(e.code(), "address-mapped");
        assert_eq!(
            said(e),
            format!("{NOT_EXPLAINED}the address is mapped in the crashing page table")
        );
    }

    #[test]
    fn walk_unreadable() {
        let w = walk_ending(WalkOutcome::Unreadable {
            level: Level::Pud,
            error: ReadError::NotInDump {
                paddr: PhysAddr::new(0x5000),
            },
        });
        let e = decide(Some(&w), Some(&mapped()), true);
        assert_eq!(e, Explanation::WalkUnreadable { level: Level::Pud });
        assert_eq!(e.code(), "walk-unreadable");
        assert_eq!(
            said(e),
            format!("{NOT_EXPLAINED}the crashing page table cannot be read at the pud level")
        );
    }
}
