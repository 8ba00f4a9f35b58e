//! Seeded random plans for property tests: random paging, bases, KASLR,
//! layouts, variants, processes, threads, kthreads, CPUs and planted slots.

use super::super::rng::Rng;
use super::*;

pub(crate) const COMMS: &[&str] = &[
    "sshd",
    "cron",
    "nginx",
    "postgres",
    "python3",
    "java",
    "containerd",
    "udevd",
    "rsyslogd",
    "agetty",
    "qemu-kvm",
    "ndctl",
    "daxctl",
    "vim",
    "make",
    "cc1",
    "ld",
    "chronyd",
];
pub(crate) const KCOMMS: &[&str] = &[
    "kworker/u8:2",
    "ksoftirqd/0",
    "migration/1",
    "kcompactd0",
    "khugepaged",
    "kswapd0",
    "jbd2/sda1-8",
];

/// A random, valid plan: random paging level, bases, KASLR, layouts,
/// variants, processes, threads, kthreads, CPUs and planted slots.
pub fn random_plan(seed: u64) -> Plan {
    let mut r = Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ 0xabcdef);
    let mut p = Plan::base(&format!("random-{seed}"), seed);
    random_platform(&mut p, &mut r);
    random_tasks(&mut p, &mut r);
    random_cpus(&mut p, &mut r);
    random_edits(&mut p, &mut r);
    random_log(&mut p, seed);
    p
}

/// Paging level, RAM, KASLR, variants, bases and the late vmemmap block.
fn random_platform(p: &mut Plan, r: &mut Rng) {
    p.layout_seed = r.next_u64();
    if r.chance(1, 3) {
        p.set_levels5();
    }
    p.ram_bytes = r.range(2, 9) * GIB;
    p.kaslr_offset = if r.chance(1, 3) {
        0
    } else {
        r.range(0, 256) << 21
    };
    p.phys_base = r.range(0, 128) << 21;
    // The kernel image must sit in RAM with room to spare.
    while p.phys_base + 0x100_0000 + p.kaslr_offset + 512 * 1024 * 1024 > p.ram_bytes {
        p.ram_bytes += GIB;
    }
    p.pti = r.chance(2, 3);
    p.has_sync_fix = r.chance(1, 2);
    p.l5_in_vmcoreinfo = r.chance(2, 3);
    p.l5_variable = !p.l5_in_vmcoreinfo || r.chance(1, 2);
    p.pgd_symbols = r.chance(3, 4);
    p.dwarf_version = if r.chance(1, 2) { 4 } else { 5 };
    p.compress_debug = r.chance(1, 4);
    p.thread_link = *r.pick(&[
        ThreadLists::SignalThreadHead,
        ThreadLists::ThreadGroup,
        ThreadLists::Both,
    ]);
    p.mm_pgd_in_anon_struct = r.chance(1, 2);
    p.pgd_owner = *r.pick(&[PgdOwner::PagePtMm, PgdOwner::Ptdesc, PgdOwner::PageIndex]);
    p.percpu = *r.pick(&[PercpuScheme::ZeroBased, PercpuScheme::Relative]);
    p.notes = *r.pick(&[NoteStyle::Kdump, NoteStyle::Qemu]);
    p.vmemmap_pages = *r.pick(&[VmemmapPages::Small4k, VmemmapPages::Huge2m]);
    p.osrelease = format!("6.{}.0-random", r.range(1, 17));
    // From values already drawn, so the random stream is unchanged.
    p.kallsyms = match (p.percpu, p.seed % 4) {
        (_, 0) => KallsymsStyle::None,
        (PercpuScheme::ZeroBased, _) => KallsymsStyle::AbsolutePercpu,
        (_, 1) => KallsymsStyle::RelativeBase,
        _ => KallsymsStyle::PlaceRelative,
    };
    if r.chance(1, 2) {
        randomize_memory(p, r);
    } else {
        p.kasan = r.chance(1, 3);
    }
    // Late vmemmap block: in the next slot when the region reaches it.
    if r.chance(2, 3) {
        let size = 1u64 << p.pgdir_shift();
        let next = (p.vmemmap_base & !(size - 1)).wrapping_add(size);
        let off = next.wrapping_sub(p.vmemmap_base) + (r.range(0, 16) << 21);
        if off < TIB && next != 0 {
            p.late_vmemmap_offset = Some(off);
        } else {
            p.late_vmemmap_offset = Some((r.range(64, 512)) << 21);
        }
    }
}

/// Processes with their threads, exited mms, poking_mm, kthreads (some
/// using or borrowing an mm), efi_mm, LDT slots and pgds left out of the
/// dump.
fn random_tasks(p: &mut Plan, r: &mut Rng) {
    let n_proc = r.range(1, 7) as usize;
    p.mms = (0..n_proc).map(|_| MmPlan::process()).collect();
    let mut pid = 1u32;
    let mut tasks = Vec::new();
    for mm in 0..n_proc {
        let leader = pid;
        tasks.push(TaskPlan::user(leader, leader, r.pick::<&str>(COMMS), mm));
        pid += 1;
        for _ in 0..r.range(0, 4) {
            tasks.push(TaskPlan::user(pid, leader, r.pick::<&str>(COMMS), mm));
            pid += 1;
        }
        pid += r.range(0, 300) as u32;
    }
    // Exited mms (pgd_list only) and poking_mm.
    for _ in 0..r.range(0, 3) {
        p.mms.push(MmPlan::process());
    }
    if r.chance(1, 2) {
        p.mms.push(MmPlan {
            role: MmRole::Poking,
            ..MmPlan::process()
        });
    }
    let n_k = r.range(1, 5);
    for _ in 0..n_k {
        let mut k = TaskPlan::kthread(pid, r.pick::<&str>(KCOMMS));
        pid += 1 + r.range(0, 5) as u32;
        if r.chance(1, 4) {
            k.mm = Some(r.below(n_proc));
        } else if r.chance(1, 3) {
            k.lazy_mm = Some(r.below(n_proc));
        }
        tasks.push(k);
    }
    r.shuffle(&mut tasks[..]);
    // Keep each group's leader before its threads.
    tasks.sort_by_key(|t| (t.tgid, t.pid != t.tgid));
    p.tasks = tasks;
    if r.chance(1, 3) {
        p.mms.push(MmPlan {
            role: MmRole::Efi,
            on_pgd_list: false,
            ..MmPlan::process()
        });
    }
    for m in p.mms.iter_mut() {
        if m.role == MmRole::Process && p.pti && r.chance(1, 5) {
            m.ldt_slot = true;
        }
        if r.chance(1, 12) {
            m.pgd_in_dump = false;
        }
        if m.role == MmRole::Efi {
            m.pgd_in_dump = true;
        }
    }
}

/// 1 to 4 CPUs, each running a task or idle, with an mm or init_mm loaded.
fn random_cpus(p: &mut Plan, r: &mut Rng) {
    let n_cpu = r.range(1, 5) as usize;
    for _ in 0..n_cpu {
        let current = if r.chance(1, 3) {
            None
        } else {
            Some(p.tasks[r.below(p.tasks.len())].pid)
        };
        let loaded = if r.chance(1, 4) {
            Loaded::InitMm
        } else {
            Loaded::Mm(r.below(p.mms.len()))
        };
        p.cpus.push(CpuPlan {
            current,
            loaded,
            pcid: r.range(0, 4096) as u16,
            user_cr3: p.pti && r.chance(1, 3),
        });
    }
}

/// Planted slots: chosen against the kernel half the builder will make.
fn random_edits(p: &mut Plan, r: &mut Rng) {
    if let Ok(present) = super::super::kernel::init_present_slots(p) {
        let boundary = p.slot_of(p.page_offset_base);
        let empty: Vec<u16> = (boundary..512).filter(|s| !present.contains(s)).collect();
        let n_mm = p.mms.len();
        for i in 0..n_mm {
            if p.mms[i].role == MmRole::Efi || !r.chance(1, 2) {
                continue;
            }
            let mut edits: Vec<SlotEdit> = Vec::new();
            for _ in 0..r.range(1, 3) {
                let kind = *r.pick(&[
                    EditKind::Missing,
                    EditKind::Missing,
                    EditKind::Mismatch,
                    EditKind::Stale,
                ]);
                let slot = match kind {
                    EditKind::Stale if !empty.is_empty() => *r.pick(&empty),
                    EditKind::Stale => continue,
                    _ => match p
                        .late_slot()
                        .filter(|s| present.contains(s) && r.chance(1, 2))
                    {
                        Some(s) => s,
                        None => *r.pick(&present),
                    },
                };
                if edits.iter().all(|e| e.slot != slot) {
                    edits.push(SlotEdit { slot, kind });
                }
            }
            p.mms[i].edits = edits;
        }
    }
}

/// The log and (often) a crash, from a generator of their own so that the
/// draws above stay as they were.
fn random_log(p: &mut Plan, seed: u64) {
    let mut r = Rng::new(seed ^ 0x0106_cafe);
    if r.chance(1, 8) {
        p.log = None;
        return;
    }
    let mut log = LogPlan::prb(r.range(4, 90) as u32);
    log.count_bits = r.range(5, 9) as u32;
    log.size_bits = r.range(11, 15) as u32;
    log.dynamic = r.chance(1, 3);
    log.empty_line = r.chance(1, 4);
    log.in_vmcoreinfo = r.chance(3, 4);
    if r.chance(1, 4) {
        log.format = LogFormat::LogBuf;
        log.size_bits = r.range(11, 15) as u32;
        log.empty_line = false;
        p.osrelease = format!("5.{}.0-random", r.range(1, 10));
    }
    p.log = Some(log);
    // A crash on a CPU whose current task runs on its own, readable table.
    let candidates: Vec<usize> = (0..p.cpus.len())
        .filter(|&i| {
            let c = &p.cpus[i];
            let t = p.tasks.iter().find(|t| Some(t.pid) == c.current);
            match (t.and_then(|t| t.mm), c.loaded) {
                (Some(m), Loaded::Mm(l)) => m == l && p.mms[m].pgd_in_dump,
                _ => false,
            }
        })
        .collect();
    if candidates.is_empty() || r.chance(1, 4) {
        return;
    }
    let cpu = candidates[r.below(candidates.len())];
    let Loaded::Mm(mm) = p.cpus[cpu].loaded else {
        return;
    };
    let late_missing = p.late_slot().filter(|&s| {
        p.mms[mm]
            .edits
            .iter()
            .any(|e| e.slot == s && e.kind == EditKind::Missing)
    });
    let fault_va = match (late_missing, p.late_va(8 * r.range(0, 512))) {
        (Some(_), Some(va)) if r.chance(3, 4) => va,
        // The vmalloc slot: its first GiB is mapped down to the PMD.
        _ => p.vmalloc_base + 0x2f5c_1a08,
    };
    p.crash = Some(CrashPlan {
        cpu: cpu as u32,
        fault_va,
        rip_function: "memmap_init_zone_device".into(),
    });
}

/// CONFIG_RANDOMIZE_MEMORY: the direct map, vmalloc and vmemmap bases move
/// in order, 1 GiB (4-level) or 512 GiB (5-level) aligned.
fn randomize_memory(p: &mut Plan, r: &mut Rng) {
    let l5 = p.levels == 5;
    let align = if l5 { 512 * GIB } else { GIB };
    let (start, _, _) = Plan::default_bases(p.levels);
    let direct = (p.ram_bytes.div_ceil(TIB) + 10) * TIB;
    let vmalloc = if l5 { 12800 * TIB } else { 32 * TIB };
    let vmemmap = TIB;
    let end = CPU_ENTRY_AREA;
    let slack = end - start - direct - vmalloc - vmemmap;
    // Split the slack in three random gaps.
    let mut cuts = [r.range(0, slack), r.range(0, slack), r.range(0, slack)];
    cuts.sort_unstable();
    let gaps = [cuts[0], cuts[1] - cuts[0], cuts[2] - cuts[1]];
    let mut cur = start;
    cur += gaps[0] / align * align;
    p.page_offset_base = cur;
    cur += direct + gaps[1] / align * align;
    p.vmalloc_base = cur;
    cur += vmalloc + gaps[2] / align * align;
    // Half the time, pull the vmemmap to just below a slot boundary so that
    // it spans two slots.
    let slot = 1u64 << p.pgdir_shift();
    let next = (cur & !(slot - 1)).wrapping_add(slot);
    if r.chance(1, 2) && next > cur + align && next - align + vmemmap <= end && next != 0 {
        cur = next - align * r.range(1, 3);
    }
    p.vmemmap_base = cur;
    p.kasan = false;
}
