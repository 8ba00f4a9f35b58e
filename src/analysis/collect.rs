//! Finding every page table: each task's `mm->pgd`, each pgd on
//! `pgd_list`, each CPU's `cpu_tlbstate.loaded_mm`, and each CPU's CR3 when
//! the dump records it; each table listed once with all its sources.

use crate::ErrorChain;
use std::collections::{BTreeMap, BTreeSet};

use crate::arch::x86_64::{PhysAddr, VirtAddr};
use crate::kernel::percpu::resolve_cr3;
use crate::kernel::{Kernel, KernelError, ProblemScope, ReadProblem, Task};

use super::{CheckedTable, TableStatus, TaskRef};

/// How a page table was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Source {
    Task,
    PgdList,
    CpuLoadedMm,
    Cr3,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Task => "task",
            Source::PgdList => "pgd_list",
            Source::CpuLoadedMm => "cpu_loaded_mm",
            Source::Cr3 => "cr3",
        }
    }
}

/// Everything gathered before comparing.
#[derive(Debug, Clone)]
pub struct Collected {
    pub tables: Vec<CheckedTable>,
    pub tasks: Vec<Task>,
    pub problems: Vec<ReadProblem>,
}

struct Builder<'k, 'd> {
    k: &'k Kernel<'d>,
    by_pa: BTreeMap<PhysAddr, CheckedTable>,
    /// mms whose pgd pointer could not be read.
    broken_mms: BTreeMap<u64, CheckedTable>,
    /// mm -> pgd pointer, read once per mm.
    mm_pgd: BTreeMap<u64, Option<u64>>,
    problems: Vec<ReadProblem>,
}

impl Builder<'_, '_> {
    fn new_table(pgd_va: VirtAddr, pgd_pa: PhysAddr, mm: Option<VirtAddr>) -> CheckedTable {
        CheckedTable {
            pgd_va,
            pgd_pa,
            mm,
            tasks: Vec::new(),
            sources: BTreeSet::new(),
            cpus: BTreeSet::new(),
            status: TableStatus::Consistent,
            reason: None,
            not_in_dump: false,
        }
    }

    /// Adds (or merges into) the table at `pgd_pa`.
    fn add_pgd(
        &mut self,
        pgd_va: VirtAddr,
        pgd_pa: PhysAddr,
        mm: Option<VirtAddr>,
        src: Source,
        cpu: Option<u32>,
    ) {
        let t = self
            .by_pa
            .entry(pgd_pa)
            .or_insert_with(|| Self::new_table(pgd_va, pgd_pa, mm));
        if t.mm.is_none() {
            t.mm = mm;
        }
        if t.pgd_va.get() == 0 {
            t.pgd_va = pgd_va;
        }
        t.sources.insert(src);
        if let Some(c) = cpu {
            t.cpus.insert(c);
        }
    }

    /// Adds the table of `mm` (reading `mm->pgd` once).
    fn add_mm(&mut self, mm: u64, src: Source, cpu: Option<u32>) {
        let k = self.k;
        let pgd = *self.mm_pgd.entry(mm).or_insert_with(|| {
            match k.read_u64(mm.wrapping_add(k.offsets.mm_pgd)) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.problems.push(
                        ReadProblem::new(
                            ProblemScope::Mm,
                            format!("mm_struct {mm:#x}"),
                            format!("mm->pgd: {}", ErrorChain(&e)),
                        )
                        .missing_page(e.missing_paddr()),
                    );
                    None
                }
            }
        });
        let Some(pgd_va) = pgd else {
            let t = self.broken_mms.entry(mm).or_insert_with(|| {
                let mut t =
                    Self::new_table(VirtAddr::new(0), PhysAddr::new(0), Some(VirtAddr::new(mm)));
                t.status = TableStatus::Unreadable;
                t.reason = Some(format!("mm_struct {mm:#x}: its pgd pointer cannot be read"));
                t
            });
            t.sources.insert(src);
            return;
        };
        let pgd_va = VirtAddr::new(pgd_va);
        match k.pa(pgd_va) {
            Ok(pa) => self.add_pgd(pgd_va, pa, Some(VirtAddr::new(mm)), src, cpu),
            Err(e) => {
                let t = self.broken_mms.entry(mm).or_insert_with(|| {
                    let mut t = Self::new_table(pgd_va, PhysAddr::new(0), Some(VirtAddr::new(mm)));
                    t.status = TableStatus::Unreadable;
                    t.reason = Some(format!(
                        "mm->pgd {pgd_va:#x} does not translate: {}",
                        ErrorChain(&e)
                    ));
                    t.not_in_dump = e.is_missing_from_dump();
                    t
                });
                t.sources.insert(src);
            }
        }
    }
}

pub fn collect(k: &Kernel<'_>) -> Result<Collected, KernelError> {
    let mut b = Builder {
        k,
        by_pa: BTreeMap::new(),
        broken_mms: BTreeMap::new(),
        mm_pgd: BTreeMap::new(),
        problems: Vec::new(),
    };
    let task_walk = k.tasks()?;
    b.problems.extend(task_walk.problems);
    let init_mm = k.init_mm;
    let efi_mm = k.symbols.efi_mm;

    // Tasks: each distinct user mm (task->mm; lazy active_mm borrowing is not use).
    let mms: BTreeSet<u64> = task_walk
        .tasks
        .iter()
        .map(|t| t.mm)
        .filter(|&mm| mm != 0)
        .collect();
    // Every mm is known now: ask for all their `pgd` members at once, so
    // that with a cold page cache they are read together.
    k.will_need_each(mms.iter().map(|mm| mm.wrapping_add(k.offsets.mm_pgd)), 8);
    for &mm in &mms {
        if Some(mm) != init_mm {
            b.add_mm(mm, super::Source::Task, None);
        }
    }

    // pgd_list.
    match k.pgd_list() {
        Ok(walk) => {
            b.problems.extend(walk.problems);
            for e in walk.entries {
                let owner = (e.owner_mm.get() != 0).then_some(e.owner_mm);
                b.add_pgd(e.pgd_va, e.pgd_pa, owner, Source::PgdList, None);
            }
        }
        Err(e) => b.problems.push(
            ReadProblem::new(
                ProblemScope::PgdList,
                "pgd_list",
                ErrorChain(&e).to_string(),
            )
            .missing_page(e.missing_paddr()),
        ),
    }

    // Per-CPU loaded mm and CR3.
    let cpus = k.cpus();
    b.problems.extend(cpus.problems);
    for c in &cpus.cpus {
        if let Some(mm) = c.loaded_mm.filter(|&mm| mm != 0 && Some(mm) != init_mm) {
            b.add_mm(mm, Source::CpuLoadedMm, Some(c.cpu));
        }
    }
    // CR3 last, so that a PTI user copy resolves to a table already known.
    for c in &cpus.cpus {
        let Some(raw) = c.cr3_pa else { continue };
        let root_pa = k.xlate.root_pa.get();
        let pa = resolve_cr3(raw, |pa| {
            pa == root_pa || b.by_pa.contains_key(&PhysAddr::new(pa))
        });
        if pa != root_pa {
            let pa = PhysAddr::new(pa);
            let va = k.xlate.phys_to_direct(pa).unwrap_or_default();
            b.add_pgd(va, pa, None, Source::Cr3, Some(c.cpu));
        }
    }

    // efi_mm: its own page table with EFI regions; named, never compared.
    let efi_pgd_pa = efi_mm.and_then(|mm| {
        let pgd = k.read_u64(mm.wrapping_add(k.offsets.mm_pgd)).ok()?;
        k.pa(VirtAddr::new(pgd)).ok()
    });

    // An mm whose own pgd pointer is unreadable (its mm_struct page filtered
    // out, say) may still be known through pgd_list, which records each pgd's
    // owner: merge it there rather than report the same table twice.
    let pa_of_mm: BTreeMap<VirtAddr, PhysAddr> = b
        .by_pa
        .iter()
        .filter_map(|(&pa, t)| t.mm.map(|mm| (mm, pa)))
        .collect();
    let broken: Vec<CheckedTable> = std::mem::take(&mut b.broken_mms).into_values().collect();
    let mut unmatched = Vec::new();
    for t in broken {
        let home =
            t.mm.and_then(|mm| pa_of_mm.get(&mm))
                .and_then(|pa| b.by_pa.get_mut(pa));
        match home {
            Some(x) => x.sources.extend(t.sources),
            None => unmatched.push(t),
        }
    }
    let mut tables: Vec<CheckedTable> = b.by_pa.into_values().chain(unmatched).collect();
    // Tasks grouped by mm once: tables x tasks would be quadratic in what a
    // corrupt dump can make both numbers.
    let mut tasks_of_mm: BTreeMap<u64, Vec<TaskRef>> = BTreeMap::new();
    for task in &task_walk.tasks {
        tasks_of_mm.entry(task.mm).or_default().push(TaskRef {
            pid: task.pid,
            comm: task.comm.clone(),
        });
    }
    for t in &mut tables {
        // A table found only through CR3 gets its mm from whoever else names it.
        if let Some(mm) = t.mm {
            t.tasks = tasks_of_mm.get(&mm.get()).cloned().unwrap_or_default();
            t.tasks.sort();
        }
        if efi_pgd_pa.is_some_and(|pa| pa == t.pgd_pa)
            || (efi_mm.is_some() && t.mm == efi_mm.map(VirtAddr::new))
        {
            t.status = TableStatus::Skipped;
            t.reason = Some("efi_mm: maps EFI runtime services with regions of its own; not on pgd_list by design".into());
        }
    }
    Ok(Collected {
        tables,
        tasks: task_walk.tasks,
        problems: b.problems,
    })
}
