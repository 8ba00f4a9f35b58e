//! Large synthetic machines for benchmarks: tens of thousands of tasks in
//! thousands of mms, each mm with its own page table on pgd_list, some of
//! them missing the late vmemmap slot (the seed bug at scale).
//!
//! Everything else (struct layouts, DWARF, symbols, VMCOREINFO) is what the
//! fixture builder makes for any plan; only the counts are large.

use super::plan::{
    COMMS, CpuPlan, EditKind, KCOMMS, Loaded, MmPlan, MmRole, Plan, SlotEdit, TaskPlan,
};
use super::rng::Rng;

const GIB: u64 = 1 << 30;

/// One in `MISSING_ONE_IN` process mms misses the late vmemmap slot.
pub const MISSING_ONE_IN: u64 = 8;

/// A large machine: `tasks` tasks (thread-group leaders, threads and a few
/// kthreads) in `mms` process mms, `levels`-level paging (4 or 5), PTI (8
/// KiB pgds), default bases, a late vmemmap block in the slot after
/// `vmemmap_base` that about one mm in [`MISSING_ONE_IN`] misses, two exited
/// mms on pgd_list only, `poking_mm`, and 8 CPUs running random tasks.
///
/// `tasks` is raised to `mms` if smaller (every mm has a leader). The plan
/// is a pure function of its arguments; `seed` drives the shuffling and the
/// builder's addresses, layouts follow from it as for any plan.
pub fn large_plan(tasks: usize, mms: usize, levels: u8, seed: u64) -> Plan {
    let mms = mms.max(1);
    let tasks = tasks.max(mms);
    let mut r = Rng::new(seed ^ 0x1a_76e0_0000);
    let mut p = Plan::base(&format!("large-{levels}l-{tasks}t-{mms}mm"), seed);
    if levels == 5 {
        p.set_levels5();
    } else {
        p.levels = levels;
    }
    // Room for the objects (see kernel::object_region) and a realistic
    // direct map (1 GiB pages beyond the first GiB: cheap).
    p.ram_bytes = 16 * GIB;
    p.osrelease = "6.1.0-large-amd64".into();
    p.has_sync_fix = false;
    p.late_in_next_slot(0);
    let late = p.late_slot().unwrap_or(469);

    // Process mms, about one in MISSING_ONE_IN missing the late slot.
    p.mms = (0..mms)
        .map(|_| {
            let m = MmPlan::process();
            if r.chance(1, MISSING_ONE_IN) {
                m.with_edits(&[(late, EditKind::Missing)])
            } else {
                m
            }
        })
        .collect();
    // Two exited mms (pgd_list only; one missing the slot) and poking_mm.
    p.mms.push(MmPlan::process());
    p.mms.push(MmPlan {
        edits: vec![SlotEdit {
            slot: late,
            kind: EditKind::Missing,
        }],
        ..MmPlan::process()
    });
    p.mms.push(MmPlan {
        role: MmRole::Poking,
        ..MmPlan::process()
    });

    // Tasks: one leader per mm, ~2% kthreads, the rest threads spread
    // unevenly (a few big thread pools, many single-threaded processes).
    let n_k = (tasks / 50).max(4).min(tasks - mms);
    let n_threads = tasks - mms - n_k;
    let mut threads = vec![0usize; mms];
    for _ in 0..n_threads {
        // Half the threads go to the first 1/16 of the mms (thread pools).
        let i = if r.chance(1, 2) {
            r.below(mms.div_ceil(16))
        } else {
            r.below(mms)
        };
        threads[i] += 1;
    }
    let mut pid = 1u32;
    let mut out = Vec::with_capacity(tasks);
    let mut kthreads_left = n_k;
    for (mm, &nt) in threads.iter().enumerate() {
        // Kthreads interleaved with processes, as pids are handed out.
        if kthreads_left > 0 && r.chance(n_k as u64, mms as u64) {
            out.push(kthread(&mut r, &mut pid, mms));
            kthreads_left -= 1;
        }
        let leader = pid;
        let comm = *r.pick(COMMS);
        out.push(TaskPlan::user(leader, leader, comm, mm));
        pid += 1;
        for _ in 0..nt {
            out.push(TaskPlan::user(pid, leader, comm, mm));
            pid += 1;
        }
        pid += r.range(0, 8) as u32;
    }
    while kthreads_left > 0 {
        out.push(kthread(&mut r, &mut pid, mms));
        kthreads_left -= 1;
    }
    p.tasks = out;

    // 8 CPUs: running random tasks, loading their mms (one idle on init_mm,
    // one lazily on an exited mm).
    p.cpus = (0..8)
        .map(|i| {
            let t = &p.tasks[r.below(p.tasks.len())];
            let (current, loaded) = match i {
                1 => (None, Loaded::InitMm),
                2 => (None, Loaded::Mm(mms + 1)),
                _ => (
                    Some(t.pid),
                    t.mm.or(t.lazy_mm).map_or(Loaded::InitMm, Loaded::Mm),
                ),
            };
            CpuPlan {
                current,
                loaded,
                pcid: (i as u16 + 1) & 0xfff,
                user_cr3: false,
            }
        })
        .collect();
    p
}

fn kthread(r: &mut Rng, pid: &mut u32, mms: usize) -> TaskPlan {
    let mut k = TaskPlan::kthread(*pid, r.pick::<&str>(KCOMMS));
    *pid += 1;
    if r.chance(1, 20) {
        k.mm = Some(r.below(mms));
    } else if r.chance(1, 4) {
        k.lazy_mm = Some(r.below(mms));
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small instances of the large shape build, and the planted findings
    /// are what expected.json reports (the benchmark checks the big ones).
    #[test]
    fn large_plan_builds_and_plants_missing_slots() {
        for (levels, seed) in [(4u8, 1u64), (5, 2)] {
            let p = large_plan(400, 100, levels, seed);
            assert_eq!(p.tasks.len(), 400);
            assert_eq!(p.levels, levels);
            // 100 process mms + two exited + poking_mm.
            assert_eq!(p.mms.len(), 103);
            let planted = p.mms.iter().filter(|m| !m.edits.is_empty()).count();
            assert!(planted >= 2, "some mms miss the late slot");
            let built = crate::build(&p).expect("large plan builds");
            let s = &built.expected["summary"];
            assert_eq!(s["findings"], planted);
            assert_eq!(s["diverged"], planted);
            assert_eq!(s["verdict"], "missing-sync");
            assert_eq!(s["tasks"], 401);
        }
    }
}
