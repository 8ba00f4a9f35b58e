//! Ties the crash in the dump to its cause: the last oops in the kernel log,
//! the CPU and task it names (checked against the per-CPU current task), the
//! page table that CPU ran on (QEMU's CR3 note, else `cpu_tlbstate.loaded_mm`,
//! else the task's mm), and the fault address walked in that table and in
//! init_mm's.

use crate::arch::x86_64::paging::{Level, Walk, WalkOutcome, walk};
use crate::arch::x86_64::{PgdIndex, Region};
use crate::kernel::Kernel;
use crate::kernel::percpu::resolve_cr3;

use super::oops::{LogLine, Oops, parse_last_oops};
use super::{Analysis, FindingKind};

/// How the crashing CPU's page table was found, most direct first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgdSource {
    /// The CR3 recorded in the dump (QEMU's per-CPU note).
    Cr3,
    /// The CPU's `cpu_tlbstate.loaded_mm`.
    CpuLoadedMm,
    /// The crashing task's mm (or active_mm for a kernel thread).
    TaskMm,
}

impl PgdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PgdSource::Cr3 => "cr3",
            PgdSource::CpuLoadedMm => "cpu_loaded_mm",
            PgdSource::TaskMm => "task_mm",
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
    pub pgd_va: Option<u64>,
    pub pgd_pa: Option<u64>,
    pub pgd_source: Option<PgdSource>,
    /// The fault address walked in that table, and in init_mm's.
    pub walk: Option<Walk>,
    pub init_mm_walk: Option<Walk>,
    /// The table lacks the fault's slot while init_mm has it.
    pub explained: bool,
    pub verdict: String,
    /// Where the sources disagreed (log vs per-CPU state vs notes).
    pub notes: Vec<String>,
}

/// Finds and explains the last oops; `None` when the log holds none.
pub fn attribute(k: &Kernel<'_>, a: &Analysis, log: &[LogLine]) -> Option<Crash> {
    let oops = parse_last_oops(log)?;
    let mut notes = Vec::new();
    let fault_address = oops.fault_address();
    let cpus = k.cpus().cpus;
    let log_cpu = oops.task.as_ref().and_then(|t| t.cpu);
    let log_pid = oops.task.as_ref().and_then(|t| t.pid).map(|p| p as i32);

    // The crashing CPU: the log's, else the CPU whose current task has the log's pid.
    // Indexed once: looking tasks up per CPU would be CPUs x tasks.
    let by_addr: std::collections::HashMap<u64, &crate::kernel::Task> =
        a.tasks.iter().rev().map(|t| (t.addr, t)).collect();
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

    // The page table it ran on.
    let mm_pgd = |mm: u64| -> Option<(u64, u64)> {
        let va = k.read_u64(mm.wrapping_add(k.offsets.mm_pgd)).ok()?;
        Some((va, k.pa(va).ok()?))
    };
    let mut table: Option<(u64, u64, PgdSource)> = None;
    let known = |pa: u64| pa == k.xlate.root_pa || a.tables.iter().any(|t| t.pgd_pa == pa);
    if let Some(pa) = cpu_state
        .and_then(|s| s.cr3_pa)
        .map(|pa| resolve_cr3(pa, known))
    {
        let va = k.xlate.phys_to_direct(pa).unwrap_or(0);
        let va = if pa == k.xlate.root_pa {
            k.init_pgd_va
        } else {
            va
        };
        table = Some((va, pa, PgdSource::Cr3));
    }
    if table.is_none() {
        if let Some((va, pa)) = cpu_state
            .and_then(|s| s.loaded_mm)
            .filter(|&m| m != 0)
            .and_then(mm_pgd)
        {
            table = Some((va, pa, PgdSource::CpuLoadedMm));
        }
    }
    if table.is_none() {
        let mm = task
            .map(|t| if t.mm != 0 { t.mm } else { t.active_mm })
            .filter(|&m| m != 0);
        if let Some((va, pa)) = mm.and_then(mm_pgd) {
            table = Some((va, pa, PgdSource::TaskMm));
        }
    }

    let mode = k.layout.mode;
    let slot = fault_address
        .filter(|&va| mode.is_canonical(va))
        .map(|va| mode.pgd_index(va));
    let regions = slot
        .map(|s| k.layout.regions_in_slot(s))
        .unwrap_or_default();
    let mem = k.memory();
    let walk_in = |root: u64| fault_address.map(|va| walk(mem, mode, k.xlate.sme_mask, root, va));
    let crash_walk = table.and_then(|(_, pa, _)| walk_in(pa));
    let init_walk = walk_in(k.xlate.root_pa);

    let top_missing = |w: &Option<Walk>| {
        matches!(
            w.as_ref().map(|w| &w.outcome),
            Some(WalkOutcome::NotPresent { level: Level::Pgd })
        )
    };
    let finding = slot.and_then(|s| {
        let pa = table.map(|t| t.1)?;
        a.findings
            .iter()
            .find(|f| f.slot == s && f.pgd_pa == pa && f.kind == FindingKind::Missing)
    });
    let explained = finding.is_some() && top_missing(&crash_walk) && !top_missing(&init_walk);

    let who = match (log_pid.or(task.map(|t| t.pid)), comm.as_deref()) {
        (Some(p), Some(c)) => format!("pid {p} ({c})"),
        (Some(p), None) => format!("pid {p}"),
        _ => "an unknown task".into(),
    };
    let region_names = regions
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join("+");
    let verdict = match (fault_address, slot) {
        (None, _) => {
            "the last oops names no fault address: the page-table check still ran".to_string()
        }
        (Some(fa), _) if explained => {
            let s = slot.map_or(0, |s| s.0);
            let diverged = a
                .findings
                .iter()
                .filter(|f| f.slot.0 == s && f.kind == FindingKind::Missing)
                .count();
            let fix = if k.has_sync_fix() {
                "this kernel has arch_sync_kernel_mappings (the 2025 fix), so some path still installs top-level kernel entries without p?d_populate_kernel()"
            } else {
                "a kernel with p4d_populate_kernel()/pgd_populate_kernel() (the 2025 fix) would have synced it"
            };
            format!(
                "explained: the fault at {fa:#x} on CPU {} by {who} lies in kernel slot {s} ({region_names}), which init_mm has and the page table it ran on lacks (as do {diverged} of {} page tables): a missing kernel page-table sync; {fix}",
                cpu.map_or("?".into(), |c| c.to_string()),
                a.compared_tables()
            )
        }
        (Some(fa), Some(s)) => {
            let why = match (&crash_walk, table) {
                (None, None) => {
                    "the page table the crashing CPU ran on could not be found".to_string()
                }
                (Some(w), _) => match &w.outcome {
                    WalkOutcome::NotPresent { level: Level::Pgd } if top_missing(&init_walk) => {
                        format!(
                            "slot {} is empty in init_mm too, so no sync could have helped",
                            s.0
                        )
                    }
                    WalkOutcome::NotPresent { level } => {
                        format!(
                            "the walk in the crashing page table stops at the {} level, below the top",
                            level.name()
                        )
                    }
                    WalkOutcome::Mapped { .. } => {
                        "the address is mapped in the crashing page table".to_string()
                    }
                    WalkOutcome::Unreadable { level, .. } => {
                        format!(
                            "the crashing page table cannot be read at the {} level",
                            level.name()
                        )
                    }
                    WalkOutcome::NonCanonical => "the address is not canonical".to_string(),
                },
                (None, Some(_)) => "the fault address could not be walked".to_string(),
            };
            format!(
                "not explained by a missing top-level slot: the fault at {fa:#x} by {who} lies in slot {} ({region_names}), but {why}",
                s.0
            )
        }
        (Some(fa), None) => format!(
            "not explained: the fault address {fa:#x} is not canonical for {}-level paging",
            mode.levels()
        ),
    };
    Some(Crash {
        fault_address,
        slot,
        regions,
        cpu,
        pid: log_pid.or(task.map(|t| t.pid)),
        comm,
        pgd_va: table.map(|t| t.0),
        pgd_pa: table.map(|t| t.1),
        pgd_source: table.map(|t| t.2),
        walk: crash_walk,
        init_mm_walk: init_walk,
        explained,
        verdict,
        notes,
        oops,
    })
}
