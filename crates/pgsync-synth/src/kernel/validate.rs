//! Checks a plan before anything is laid out: what the builder cannot
//! represent is refused with a message that names the offending part.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::super::SynthError;
use super::super::memory::{GIB, MIB2};
use super::super::plan::{Loaded, MmRole, Plan, TaskPlan};
use super::{IMAGE_END, START_KERNEL_MAP, TEXT_LINK};

pub(super) fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), SynthError> {
    if cond {
        Ok(())
    } else {
        Err(SynthError::Plan(msg()))
    }
}

pub(super) fn validate(plan: &Plan) -> Result<(), SynthError> {
    check(plan.levels == 4 || plan.levels == 5, || {
        format!("levels {} is not 4 or 5", plan.levels)
    })?;
    check(plan.kaslr_offset % MIB2 == 0, || {
        "kaslr_offset must be a multiple of 2 MiB".into()
    })?;
    check(plan.phys_base % MIB2 == 0, || {
        "phys_base must be 2 MiB aligned".into()
    })?;
    check(
        TEXT_LINK - START_KERNEL_MAP + plan.kaslr_offset + (IMAGE_END - TEXT_LINK) <= GIB,
        || "kaslr_offset too large".into(),
    )?;
    check(
        plan.ram_bytes % GIB == 0 && plan.ram_bytes >= 2 * GIB,
        || "ram_bytes must be whole GiB, at least 2".into(),
    )?;
    check(plan.page_offset_base % GIB == 0, || {
        "page_offset_base must be 1 GiB aligned".into()
    })?;
    check(
        plan.page_offset_base < plan.vmalloc_base && plan.vmalloc_base < plan.vmemmap_base,
        || "bases out of order".into(),
    )?;
    check(plan.dwarf_version == 4 || plan.dwarf_version == 5, || {
        "dwarf_version must be 4 or 5".into()
    })?;
    check(plan.l5_in_vmcoreinfo || plan.l5_variable, || {
        "the paging level must be findable".into()
    })?;
    check(!plan.kasan || plan.bases_are_default(), || {
        "KASAN only with default bases".into()
    })?;
    check(
        !plan.cpus.is_empty() && plan.cpus.len() as u32 <= plan.nr_cpus_max,
        || "1..=nr_cpus_max CPUs".into(),
    )?;
    let mut pids = BTreeSet::new();
    // First task of each pid and the pids of thread-group leaders (maps, not
    // scans: large plans have tens of thousands of tasks).
    let mut first_of: HashMap<u32, &TaskPlan> = HashMap::with_capacity(plan.tasks.len());
    let mut leader_pids: HashSet<u32> = HashSet::new();
    for t in &plan.tasks {
        first_of.entry(t.pid).or_insert(t);
        if t.pid == t.tgid {
            leader_pids.insert(t.pid);
        }
    }
    for t in &plan.tasks {
        check(t.pid != 0 && pids.insert(t.pid), || {
            format!("pid {} is 0 or duplicated", t.pid)
        })?;
        if t.pid != t.tgid {
            check(leader_pids.contains(&t.tgid), || {
                format!("task {} has no leader {}", t.pid, t.tgid)
            })?;
            let leader = first_of.get(&t.tgid);
            check(leader.map(|l| l.mm) == Some(t.mm), || {
                format!("thread {} does not share its leader's mm", t.pid)
            })?;
        }
        for m in [t.mm, t.lazy_mm].into_iter().flatten() {
            check(m < plan.mms.len(), || {
                format!("task {} names mm {m}", t.pid)
            })?;
            check(plan.mms[m].role == MmRole::Process, || {
                format!("task {} uses a non-process mm", t.pid)
            })?;
        }
        check(t.comm.len() < 16, || format!("comm {:?} too long", t.comm))?;
        check(t.kthread || t.mm.is_some(), || {
            format!("user task {} needs an mm", t.pid)
        })?;
        check(t.lazy_mm.is_none() || (t.kthread && t.mm.is_none()), || {
            "only kthreads without mm borrow lazily".into()
        })?;
    }
    check(
        plan.mms.iter().filter(|m| m.role == MmRole::Efi).count() <= 1,
        || "one efi_mm at most".into(),
    )?;
    check(
        plan.mms.iter().filter(|m| m.role == MmRole::Poking).count() <= 1,
        || "one poking_mm at most".into(),
    )?;
    for c in &plan.cpus {
        if let Some(pid) = c.current {
            check(pids.contains(&pid), || {
                format!("CPU runs unknown pid {pid}")
            })?;
        }
        if let Loaded::Mm(m) = c.loaded {
            check(m < plan.mms.len(), || format!("CPU loads mm {m}"))?;
        }
    }
    if let Some(c) = &plan.crash {
        check(plan.log.is_some(), || "a crash needs a log".into())?;
        let cpu = plan.cpus.get(c.cpu as usize);
        let pid = cpu.and_then(|p| p.current);
        check(pid.is_some(), || {
            format!("crash CPU {} runs no planned task", c.cpu)
        })?;
        let task = plan.tasks.iter().find(|t| Some(t.pid) == pid);
        let loaded = cpu.map(|p| p.loaded);
        check(task.and_then(|t| t.mm).map(Loaded::Mm) == loaded, || {
            "the crashing CPU must have its task's mm loaded".into()
        })?;
        let top = c.fault_va >> (plan.pgdir_shift() + 8);
        check(top == (u64::MAX >> (plan.pgdir_shift() + 8)), || {
            format!(
                "fault address {:#x} is not a canonical kernel address",
                c.fault_va
            )
        })?;
    }
    for m in &plan.mms {
        check(m.role != MmRole::Efi || !m.on_pgd_list, || {
            "efi_mm is never on pgd_list".into()
        })?;
        check(!m.ldt_slot || plan.pti, || {
            "the LDT remap slot needs PTI".into()
        })?;
    }
    Ok(())
}
