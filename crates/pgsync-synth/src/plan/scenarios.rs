//! The committed fixtures: one plan per directory of `fixtures/`, each
//! built from the standard cast of tasks and mms with what its scenario
//! plants.

use super::super::formats::ExtraFormat;
use super::*;

/// The standard cast: kthreadd and a few kworkers, systemd, a threaded
/// daemon, a shell. Returns the tasks; mms 0.. are used by index.
fn cast(with_kthread_use_mm: Option<usize>, lazy: Option<usize>) -> Vec<TaskPlan> {
    let mut t = vec![
        TaskPlan::user(1, 1, "systemd", 0),
        TaskPlan::kthread(2, "kthreadd"),
        TaskPlan::kthread(3, "rcu_gp"),
        TaskPlan {
            lazy_mm: lazy,
            ..TaskPlan::kthread(7, "kworker/0:1")
        },
        TaskPlan::user(412, 412, "systemd-journal", 1),
        TaskPlan::user(640, 640, "dbus-daemon", 2),
        TaskPlan::user(641, 640, "gdbus", 2),
        TaskPlan::user(642, 640, "gmain", 2),
        TaskPlan::user(1234, 1234, "ndctl", 3),
        TaskPlan::user(1240, 1240, "bash", 4),
    ];
    if let Some(mm) = with_kthread_use_mm {
        t.insert(
            4,
            TaskPlan {
                mm: Some(mm),
                ..TaskPlan::kthread(88, "kvfio-irqfd")
            },
        );
    }
    t
}

fn five_process_mms() -> Vec<MmPlan> {
    (0..5).map(|_| MmPlan::process()).collect()
}

fn cpus(specs: &[(Option<u32>, Loaded)]) -> Vec<CpuPlan> {
    specs
        .iter()
        .enumerate()
        .map(|(i, &(current, loaded))| CpuPlan {
            current,
            loaded,
            pcid: (i as u16 + 1) & 0xfff,
            user_cr3: false,
        })
        .collect()
}

/// The committed fixtures, by directory name.
pub fn scenarios() -> Vec<Plan> {
    let mut out = vec![
        healthy_4l(),
        missing_4l(),
        healthy_5l(),
        missing_5l(),
        kaslr_randomized(),
        mismatch(),
        ldt_slot(),
        orphan_pgd_list(),
        incomplete(),
        crash_unexplained(),
        legacy_log_buf(),
        wrapped_log(),
        no_oops(),
        unlisted_pgd(),
        dump_only(),
    ];
    // Every dump format (35-50 KB each), except for orphan-pgd-list whose
    // image sits above 3 GiB: its bitmaps alone are 220 KB, so one format.
    for p in out.iter_mut() {
        p.formats = match p.name.as_str() {
            "orphan-pgd-list" => vec![ExtraFormat::ZlibD31],
            _ => ExtraFormat::all().to_vec(),
        };
    }
    out
}

/// healthy-4l: everything in sync; efi_mm loaded on CPU 1 (skipped).
fn healthy_4l() -> Plan {
    let mut p = Plan::base("healthy-4l", 0x4c_0001);
    p.mms = five_process_mms();
    p.mms.push(MmPlan {
        role: MmRole::Efi,
        on_pgd_list: false,
        ..MmPlan::process()
    });
    p.tasks = cast(None, Some(4));
    p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (None, Loaded::Mm(5))]);
    p.has_sync_fix = true;
    p
}

/// missing-4l: the seed bug. A vmemmap block populated late in slot 469;
/// synced into init_mm only. Tables of ndctl (mm 3), dbus (mm 2, three
/// threads), the kthread using mm 2's sibling and an exited mm miss it.
fn missing_4l() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("missing-4l", 0x4c_0002);
    p.late_in_next_slot(0);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[2].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms[3].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    // mm 5: used by a kthread through kthread_use_mm, missing it too.
    p.mms.push(MmPlan::process().with_edits(&[(late, Missing)]));
    // mm 6: exited task's mm, still on pgd_list, missing it.
    p.mms.push(MmPlan::process().with_edits(&[(late, Missing)]));
    p.tasks = cast(Some(5), Some(1));
    p.cpus = cpus(&[
        (Some(1234), Loaded::Mm(3)),
        (Some(88), Loaded::Mm(5)),
        (None, Loaded::Mm(6)),
    ]);
    p.thread_link = ThreadLists::SignalThreadHead;
    p.pgd_owner = PgdOwner::PagePtMm;
    p.dwarf_version = 5;
    // ndctl (CPU 0) faults on a struct page of the late block: "PGD 0 P4D 0".
    p.crash = Some(CrashPlan {
        cpu: 0,
        fault_va: p.late_va(0x34).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}

/// dump-only: the seed bug of missing-4l on a 7.x-style kernel (per-CPU
/// symbols relocated, kallsyms offsets relative to each entry), committed
/// without its vmlinux: the analysis runs on the dump's own kallsyms and BTF.
fn dump_only() -> Plan {
    let mut p = missing_4l();
    p.name = "dump-only".into();
    p.seed = 0x4c_0011;
    p.layout_seed = 0x4c_0011u64.wrapping_mul(31).wrapping_add(7);
    p.osrelease = "7.3.0-synth".into();
    p.kaslr_offset = 0x3c00_0000;
    p.percpu = PercpuScheme::Relative;
    p.kallsyms = KallsymsStyle::PlaceRelative;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.vmlinux_beside = false;
    p
}

/// healthy-5l
fn healthy_5l() -> Plan {
    let mut p = Plan::base("healthy-5l", 0x5c_0003);
    p.set_levels5();
    p.mms = five_process_mms();
    p.tasks = cast(None, None);
    p.cpus = cpus(&[
        (Some(1), Loaded::Mm(0)),
        (None, Loaded::InitMm),
        (Some(640), Loaded::Mm(2)),
    ]);
    p.thread_link = ThreadLists::ThreadGroup;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.percpu = PercpuScheme::Relative;
    p.dwarf_version = 4;
    p.l5_in_vmcoreinfo = false;
    p.notes = NoteStyle::Qemu;
    p.osrelease = "6.15.2-synth".into();
    p.kallsyms = KallsymsStyle::RelativeBase;
    p.has_sync_fix = true;
    p
}

/// missing-5l: late vmemmap block in slot 469 (5-level), missing in two tables.
fn missing_5l() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("missing-5l", 0x5c_0004);
    p.set_levels5();
    p.late_in_next_slot(0x20_0000);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[1].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms[3].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.tasks = cast(None, Some(3));
    p.cpus = cpus(&[(Some(1234), Loaded::Mm(3)), (Some(7), Loaded::Mm(3))]);
    p.thread_link = ThreadLists::Both;
    p.pgd_owner = PgdOwner::PageIndex;
    p.percpu = PercpuScheme::ZeroBased;
    p.notes = NoteStyle::Qemu;
    p.dwarf_version = 5;
    p.vmemmap_pages = VmemmapPages::Small4k;
    p.osrelease = "5.15.0-synth".into();
    // Before 6.0: no kallsyms in VMCOREINFO, a System.map beside the dump.
    p.kallsyms = KallsymsStyle::None;
    // ndctl on CPU 0, its table found through the QEMU note's CR3: "PGD 0".
    p.crash = Some(CrashPlan {
        cpu: 0,
        fault_va: p.late_va(0x834).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}

/// kaslr-randomized: KASLR + CONFIG_RANDOMIZE_MEMORY; the vmemmap starts
/// 2 GiB before a slot boundary and the late block crosses into the next.
fn kaslr_randomized() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("kaslr-randomized", 0x4c_0005);
    p.kaslr_offset = 0x2e00_0000;
    p.phys_base = 0x0600_0000;
    p.ram_bytes = 6 * GIB;
    let slot = 1u64 << 39;
    p.page_offset_base = 0xffff_9a4d_4000_0000 & !(GIB - 1);
    p.vmalloc_base = 0xffff_b7e2_8000_0000 & !(GIB - 1);
    // 2 GiB below the start of a slot.
    let vmemmap_slot_start = (0xffff_e1f0_0000_0000u64 & !(slot - 1)) + slot;
    p.vmemmap_base = vmemmap_slot_start - 2 * GIB;
    p.late_vmemmap_offset = Some(2 * GIB + 0x40_0000);
    let late = p.late_slot().unwrap_or(0);
    p.mms = five_process_mms();
    p.mms[0].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms[4].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms.push(MmPlan {
        role: MmRole::Poking,
        ..MmPlan::process()
    });
    p.tasks = cast(None, Some(0));
    p.cpus = cpus(&[
        (Some(1240), Loaded::Mm(4)),
        (Some(412), Loaded::Mm(1)),
        (None, Loaded::Mm(0)),
        (Some(2), Loaded::InitMm),
    ]);
    p.percpu = PercpuScheme::Relative;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.thread_link = ThreadLists::SignalThreadHead;
    p.mm_pgd_in_anon_struct = false;
    p.dwarf_version = 4;
    p.compress_debug = true;
    p.osrelease = "6.16.0-synth".into();
    p.kallsyms = KallsymsStyle::PlaceRelative;
    // bash on CPU 0 faults in the slot the vmemmap crossed into (the
    // seed's ffffe7..34 shape); 6.16 prints "UID:" and "Oops: Oops:".
    p.crash = Some(CrashPlan {
        cpu: 0,
        fault_va: p.late_va(0x34).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}

/// mismatch: slot 402 (vmalloc) points elsewhere in one table; a stale
/// entry in slot 470 (empty in init_mm) in another.
fn mismatch() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("mismatch", 0x4c_0006);
    p.mms = five_process_mms();
    p.mms[1].edits = vec![SlotEdit {
        slot: 402,
        kind: Mismatch,
    }];
    p.mms[4].edits = vec![SlotEdit {
        slot: 470,
        kind: Stale,
    }];
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(412), Loaded::Mm(1)), (Some(1240), Loaded::Mm(4))]);
    p.thread_link = ThreadLists::ThreadGroup;
    p.pgd_owner = PgdOwner::PageIndex;
    p.notes = NoteStyle::Qemu;
    p.dwarf_version = 4;
    p.osrelease = "5.10.0-synth".into();
    p.kallsyms = KallsymsStyle::None;
    p
}

/// ldt-slot: PTI, one process has the LDT remap slot 272: not a finding.
fn ldt_slot() -> Plan {
    let mut p = Plan::base("ldt-slot", 0x4c_0007);
    p.mms = five_process_mms();
    p.mms[4].ldt_slot = true;
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (None, Loaded::InitMm)]);
    p.pti = true;
    p.kasan = true;
    p.percpu = PercpuScheme::ZeroBased;
    p.pgd_owner = PgdOwner::PagePtMm;
    p.thread_link = ThreadLists::SignalThreadHead;
    p.vmemmap_pages = VmemmapPages::Small4k;
    p
}

/// orphan-pgd-list: an mm no task owns, on pgd_list, loaded on CPU 1,
/// missing the late vmemmap slot.
fn orphan_pgd_list() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("orphan-pgd-list", 0x4c_0008);
    p.late_in_next_slot(0x60_0000);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms.push(MmPlan::process().with_edits(&[(late, Missing)]));
    p.tasks = cast(None, Some(5));
    p.cpus = cpus(&[(Some(1), Loaded::Mm(0)), (Some(7), Loaded::Mm(5))]);
    p.kaslr_offset = 0x2a00_0000;
    // The image lands just above 4 GiB physical.
    p.phys_base = 0xd5e0_0000;
    p.ram_bytes = 8 * GIB;
    p.notes = NoteStyle::Qemu;
    p.percpu = PercpuScheme::Relative;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.thread_link = ThreadLists::SignalThreadHead;
    p.has_sync_fix = false;
    p.osrelease = "6.12.0-synth".into();
    p
}

/// incomplete: one table's pgd page (bash, mm 4) is not in the dump.
fn incomplete() -> Plan {
    let mut p = Plan::base("incomplete", 0x4c_0009);
    p.mms = five_process_mms();
    p.mms[4].pgd_in_dump = false;
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (Some(1), Loaded::Mm(0))]);
    p.pti = false;
    p.thread_link = ThreadLists::Both;
    p.pgd_owner = PgdOwner::PageIndex;
    p.dwarf_version = 4;
    p
}

/// crash-unexplained: a fault in the vmalloc slot, present in every
/// table; the walk stops at the PMD. A missing late vmemmap slot in
/// another table is a finding that does not explain the crash.
fn crash_unexplained() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("crash-unexplained", 0x4c_000a);
    p.late_in_next_slot(0);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[1].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(412), Loaded::Mm(1)), (Some(1234), Loaded::Mm(3))]);
    p.thread_link = ThreadLists::SignalThreadHead;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.percpu = PercpuScheme::Relative;
    p.osrelease = "6.12.0-synth".into();
    p.has_sync_fix = true;
    p.crash = Some(CrashPlan {
        cpu: 1,
        fault_va: p.vmalloc_base + 0x2f5c_1a08,
        rip_function: "ioread32".into(),
    });
    p
}

/// legacy-log-buf: a 5.4 kernel: log_buf of struct printk_log records,
/// wrapped (a zero-length wrap marker, the oldest records dropped); the
/// oops names the missing late vmemmap slot.
fn legacy_log_buf() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("legacy-log-buf", 0x4c_000b);
    p.late_in_next_slot(0x20_0000);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[3].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1), Loaded::Mm(0)), (Some(1234), Loaded::Mm(3))]);
    p.thread_link = ThreadLists::Both;
    p.pgd_owner = PgdOwner::PageIndex;
    p.dwarf_version = 4;
    p.osrelease = "5.4.0-synth".into();
    p.kallsyms = KallsymsStyle::None;
    p.log = Some(LogPlan {
        format: LogFormat::LogBuf,
        size_bits: 12,
        boot_lines: 40,
        ..LogPlan::prb(0)
    });
    p.crash = Some(CrashPlan {
        cpu: 1,
        fault_va: p.late_va(0x7_2040).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}

/// wrapped-log: prb moved to printk_rb_dynamic (log_buf_len=) in the
/// direct map; both rings wrapped, a data block wrapping around the end
/// of the text ring, an empty line; QEMU notes with the PTI user CR3.
fn wrapped_log() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("wrapped-log", 0x4c_000c);
    p.late_in_next_slot(0x40_0000);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[2].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (Some(641), Loaded::Mm(2))]);
    p.cpus[1].user_cr3 = true;
    p.notes = NoteStyle::Qemu;
    p.kaslr_offset = 0x1c00_0000;
    p.thread_link = ThreadLists::SignalThreadHead;
    p.pgd_owner = PgdOwner::Ptdesc;
    p.osrelease = "6.8.0-synth".into();
    p.log = Some(LogPlan {
        dynamic: true,
        count_bits: 5,
        size_bits: 11,
        boot_lines: 60,
        empty_line: true,
        ..LogPlan::prb(0)
    });
    p.crash = Some(CrashPlan {
        cpu: 1,
        fault_va: p.late_va(0x1_2008).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}

/// no-oops: a missing slot, and a log that ends in a sysrq panic without
/// an oops (crash null); VMCOREINFO without the printk entries, so the
/// reader needs the symbol table and DWARF.
fn no_oops() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("no-oops", 0x5c_000d);
    p.set_levels5();
    p.late_in_next_slot(0);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[4].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (None, Loaded::InitMm)]);
    p.thread_link = ThreadLists::ThreadGroup;
    p.pgd_owner = PgdOwner::PagePtMm;
    p.dwarf_version = 4;
    p.osrelease = "6.6.0-synth".into();
    p.log = Some(LogPlan {
        in_vmcoreinfo: false,
        ..LogPlan::prb(30)
    });
    p
}

/// unlisted-pgd: ndctl's table is owned by its task but not on pgd_list,
/// and misses the late slot: the fix's sync cannot reach it (replay:
/// `unreachable`), so even a fixed kernel crashes there.
fn unlisted_pgd() -> Plan {
    use EditKind::*;
    let mut p = Plan::base("unlisted-pgd", 0x4c_000e);
    p.late_in_next_slot(0);
    let late = p.late_slot().unwrap_or(469);
    p.mms = five_process_mms();
    p.mms[1].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms[3].edits = vec![SlotEdit {
        slot: late,
        kind: Missing,
    }];
    p.mms[3].on_pgd_list = false;
    p.tasks = cast(None, None);
    p.cpus = cpus(&[(Some(1), Loaded::Mm(0)), (Some(1234), Loaded::Mm(3))]);
    p.thread_link = ThreadLists::Both;
    p.pgd_owner = PgdOwner::PagePtMm;
    p.has_sync_fix = true;
    p.osrelease = "6.12.0-synth".into();
    p.crash = Some(CrashPlan {
        cpu: 1,
        fault_va: p.late_va(0x40).unwrap_or(0),
        rip_function: "memmap_init_zone_device".into(),
    });
    p
}
