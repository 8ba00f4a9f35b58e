//! What a synthetic machine looks like: a serializable [`Plan`], the committed
//! [`scenarios`], and seeded [`random_plan`]s for property tests.
//!
//! A plan names everything that decides the expected analysis (which page
//! tables exist, which slots are planted, who owns what); what does not
//! matter to the verdict (exact object addresses, padding, A/D noise, struct
//! layouts) is drawn from `seed` / `layout_seed` by the builder.

use serde::{Deserialize, Serialize};

use super::formats::ExtraFormat;
use super::rng::Rng;

/// 4-level defaults (Documentation/arch/x86/x86_64/mm.rst).
pub const L4_PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
pub const L4_VMALLOC: u64 = 0xffff_c900_0000_0000;
pub const L4_VMEMMAP: u64 = 0xffff_ea00_0000_0000;
/// 5-level defaults.
pub const L5_PAGE_OFFSET: u64 = 0xff11_0000_0000_0000;
pub const L5_VMALLOC: u64 = 0xffa0_0000_0000_0000;
pub const L5_VMEMMAP: u64 = 0xffd4_0000_0000_0000;
/// Start of the cpu_entry_area (the end of what kaslr.c may randomize into).
pub const CPU_ENTRY_AREA: u64 = 0xffff_fe00_0000_0000;

const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

/// How the threads of a thread group are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThreadLists {
    /// `signal_struct.thread_head` <-> `task_struct.thread_node` only (6.7+).
    SignalThreadHead,
    /// `task_struct.thread_group` only (before 3.14).
    ThreadGroup,
    /// Both lists, consistent (3.14 .. 6.6).
    Both,
}

/// Where the owner mm of a pgd page is stored and how pgd_list links it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgdOwner {
    /// `page.lru` + `page.pt_mm` (6.1-like; pt_mm in an anonymous struct in
    /// an anonymous union).
    PagePtMm,
    /// No `page.pt_mm`; `struct ptdesc { pt_list, pt_mm }` overlays the page
    /// (6.5+): pt_list at lru's offset, pt_mm at index's offset.
    Ptdesc,
    /// `page.lru` + `page.index` holding the mm pointer (old kernels).
    PageIndex,
}

/// How per-cpu symbols are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PercpuScheme {
    /// Up to 6.14: `.data..percpu` linked at 0, not relocated by KASLR;
    /// `__per_cpu_offset[n]` is the area's address.
    ZeroBased,
    /// 6.15+: per-cpu symbols are kernel addresses (KASLR applies);
    /// `__per_cpu_offset[n]` is relative to them.
    Relative,
}

/// Which producer's per-CPU notes the dump carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteStyle {
    /// /proc/vmcore: one NT_PRSTATUS per CPU, pr_pid = pid running there.
    Kdump,
    /// QEMU dump-guest-memory: pr_pid = cpu + 1, plus a "QEMU" note with CR3.
    Qemu,
}

/// Page size used to map the vmemmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmemmapPages {
    Small4k,
    Huge2m,
}

/// What kind of mm an [`MmPlan`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MmRole {
    /// A process's mm (or an exited one: owned by no task).
    Process,
    /// Pointed to by the `poking_mm` variable; on pgd_list, no task.
    Poking,
    /// The `efi_mm` symbol itself: own pgd with its own slot-511 table, not
    /// on pgd_list; never a finding ("skipped").
    Efi,
}

/// A planted difference in one top-level slot of one page table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EditKind {
    /// Zero here, present in init_mm.
    Missing,
    /// Present in both, pointing to a different next-level table.
    Mismatch,
    /// Present here, zero in init_mm.
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotEdit {
    pub slot: u16,
    pub kind: EditKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmPlan {
    pub role: MmRole,
    /// Linked on pgd_list (every process mm is, unless a plan says otherwise).
    pub on_pgd_list: bool,
    /// False: the pgd page is left out of the dump (table "unreadable").
    pub pgd_in_dump: bool,
    /// Slot 272 (LDT remap under PTI) present in this table: never a finding.
    pub ldt_slot: bool,
    pub edits: Vec<SlotEdit>,
}

impl MmPlan {
    pub fn process() -> MmPlan {
        MmPlan {
            role: MmRole::Process,
            on_pgd_list: true,
            pgd_in_dump: true,
            ldt_slot: false,
            edits: vec![],
        }
    }
    pub fn with_edits(mut self, edits: &[(u16, EditKind)]) -> MmPlan {
        self.edits = edits
            .iter()
            .map(|&(slot, kind)| SlotEdit { slot, kind })
            .collect();
        self
    }
}

/// One task. A thread-group leader has `pid == tgid`; other tasks are its
/// threads, in plan order. Leaders appear on the tasks list in plan order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskPlan {
    pub pid: u32,
    pub tgid: u32,
    pub comm: String,
    /// PF_KTHREAD.
    pub kthread: bool,
    /// Index into `Plan::mms` (`task->mm`); a kthread with an mm is inside
    /// kthread_use_mm and counts as a user of it.
    pub mm: Option<usize>,
    /// `task->active_mm` when it differs from `mm`: a kthread lazily
    /// borrowing a user mm (does NOT count). None: `mm`, or init_mm.
    pub lazy_mm: Option<usize>,
}

impl TaskPlan {
    pub fn user(pid: u32, tgid: u32, comm: &str, mm: usize) -> TaskPlan {
        TaskPlan {
            pid,
            tgid,
            comm: comm.into(),
            kthread: false,
            mm: Some(mm),
            lazy_mm: None,
        }
    }
    pub fn kthread(pid: u32, comm: &str) -> TaskPlan {
        TaskPlan {
            pid,
            tgid: pid,
            comm: comm.into(),
            kthread: true,
            mm: None,
            lazy_mm: None,
        }
    }
}

/// What `cpu_tlbstate.loaded_mm` holds on a CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loaded {
    InitMm,
    Mm(usize),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuPlan {
    /// Pid of the task running there (`current_task`); None: that CPU's idle
    /// task (swapper/N, not on the tasks list).
    pub current: Option<u32>,
    pub loaded: Loaded,
    /// PCID in CR3 bits 0..11 (QEMU notes only).
    pub pcid: u16,
    /// CR3 holds the PTI user copy (bit 12 set).
    pub user_cr3: bool,
}

/// Which printk buffer the kernel has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// The lockless ring buffer `prb` (5.10+, kernel/printk/printk_ringbuffer.h).
    Prb,
    /// `log_buf` of `struct printk_log` records (3.11-5.9).
    LogBuf,
}

/// The kernel log (printk buffer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPlan {
    pub format: LogFormat,
    /// prb only: `prb` points at `printk_rb_dynamic` (`log_buf_len=` on the
    /// command line: buffers memblock-allocated in the direct map) rather
    /// than `printk_rb_static` (buffers in the image).
    pub dynamic: bool,
    /// prb only: `1 << count_bits` descriptors.
    pub count_bits: u32,
    /// prb: the text data ring is `1 << size_bits` bytes; log_buf:
    /// `log_buf_len`.
    pub size_bits: u32,
    /// Boot-time lines printed before the end of the log; more than the
    /// buffer holds wraps it (the oldest records are gone).
    pub boot_lines: u32,
    /// One record is an empty line (prb: `EMPTY_LINE_LPOS`, no data block).
    pub empty_line: bool,
    /// VMCOREINFO carries the printk SYMBOL/SIZE/OFFSET entries; without
    /// them a reader needs the symbol table and DWARF.
    pub in_vmcoreinfo: bool,
    /// How the log ends when there is no crash: the panic message (no
    /// oops: "sysrq triggered crash").
    pub panic: String,
}

impl LogPlan {
    pub fn prb(boot_lines: u32) -> LogPlan {
        LogPlan {
            format: LogFormat::Prb,
            dynamic: false,
            count_bits: 7,
            size_bits: 13,
            boot_lines,
            empty_line: false,
            in_vmcoreinfo: true,
            panic: "sysrq triggered crash".into(),
        }
    }
}

/// The oops at the end of the log: a kernel-mode read of `fault_va` by the
/// task running on `cpu` (its `current`), on the page table loaded there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashPlan {
    pub cpu: u32,
    pub fault_va: u64,
    /// The function in the "RIP: 0010:func+off/size" line.
    pub rip_function: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// Drives everything the plan does not spell out (addresses, padding, A/D noise).
    pub seed: u64,
    /// Drives the struct layouts (member order, padding, anonymous wrappers).
    pub layout_seed: u64,
    pub osrelease: String,
    /// 4 or 5.
    pub levels: u8,
    /// KERNELOFFSET (multiple of 2 MiB).
    pub kaslr_offset: u64,
    /// 2 MiB aligned.
    pub phys_base: u64,
    /// RAM size; max_pfn = ram_bytes / 4096.
    pub ram_bytes: u64,
    pub page_offset_base: u64,
    pub vmalloc_base: u64,
    pub vmemmap_base: u64,
    /// `kasan_early_shadow_page` exists and the shadow slots are mapped
    /// (only with default bases).
    pub kasan: bool,
    /// Page-table isolation: 8 KiB pgds (kernel + user copy).
    pub pti: bool,
    /// `arch_sync_kernel_mappings` is in the symbol table.
    pub has_sync_fix: bool,
    /// VMCOREINFO carries NUMBER(pgtable_l5_enabled); otherwise the reader
    /// must read the `__pgtable_l5_enabled` variable.
    pub l5_in_vmcoreinfo: bool,
    /// The vmlinux has `init_top_pgt` and `swapper_pg_dir` symbols (else
    /// only VMCOREINFO and `init_mm.pgd` tell where the table is).
    pub pgd_symbols: bool,
    /// The vmlinux has the `__pgtable_l5_enabled` variable (always when
    /// VMCOREINFO lacks NUMBER(pgtable_l5_enabled)).
    pub l5_variable: bool,
    /// 4 or 5.
    pub dwarf_version: u16,
    /// SHF_COMPRESSED (zlib) .debug_* sections.
    pub compress_debug: bool,
    pub thread_link: ThreadLists,
    /// `mm_struct.pgd` sits inside an anonymous struct.
    pub mm_pgd_in_anon_struct: bool,
    pub pgd_owner: PgdOwner,
    pub percpu: PercpuScheme,
    pub notes: NoteStyle,
    pub vmemmap_pages: VmemmapPages,
    /// A vmemmap block populated after the page tables were copied
    /// (device-dax hotplug): offset from vmemmap_base, 2 MiB aligned.
    pub late_vmemmap_offset: Option<u64>,
    /// NR_CPUS: the length of `__per_cpu_offset`.
    pub nr_cpus_max: u32,
    pub mms: Vec<MmPlan>,
    pub tasks: Vec<TaskPlan>,
    pub cpus: Vec<CpuPlan>,
    /// The printk buffer; None: the kernel has none (no `prb`/`log_buf`).
    #[serde(default)]
    pub log: Option<LogPlan>,
    /// The oops the log ends with; None: the log ends without one.
    #[serde(default)]
    pub crash: Option<CrashPlan>,
    /// Extra dump files of the same memory (kdump-compressed, filtered,
    /// flattened), next to the ELF `vmcore`.
    #[serde(default)]
    pub formats: Vec<ExtraFormat>,
}

impl Plan {
    /// First byte of the late vmemmap block plus `off` (a fault inside it).
    pub fn late_va(&self, off: u64) -> Option<u64> {
        self.late_vmemmap_offset
            .map(|o| self.vmemmap_base.wrapping_add(o).wrapping_add(off))
    }

    pub fn pgdir_shift(&self) -> u32 {
        if self.levels == 5 { 48 } else { 39 }
    }

    /// Top-level slot of an address in this plan's paging mode.
    pub fn slot_of(&self, va: u64) -> u16 {
        ((va >> self.pgdir_shift()) & 511) as u16
    }

    /// The slot of the late vmemmap block, if any.
    pub fn late_slot(&self) -> Option<u16> {
        self.late_vmemmap_offset
            .map(|o| self.slot_of(self.vmemmap_base.wrapping_add(o)))
    }

    pub fn default_bases(levels: u8) -> (u64, u64, u64) {
        if levels == 5 {
            (L5_PAGE_OFFSET, L5_VMALLOC, L5_VMEMMAP)
        } else {
            (L4_PAGE_OFFSET, L4_VMALLOC, L4_VMEMMAP)
        }
    }

    pub fn bases_are_default(&self) -> bool {
        Plan::default_bases(self.levels)
            == (self.page_offset_base, self.vmalloc_base, self.vmemmap_base)
    }

    /// A base plan every scenario starts from: 4-level, default bases, no
    /// KASLR, one process, two CPUs.
    pub(crate) fn base(name: &str, seed: u64) -> Plan {
        Plan {
            name: name.into(),
            seed,
            layout_seed: seed.wrapping_mul(31).wrapping_add(7),
            osrelease: "6.1.0-synth-amd64".into(),
            levels: 4,
            kaslr_offset: 0,
            phys_base: 0x0020_0000,
            ram_bytes: 4 * GIB,
            page_offset_base: L4_PAGE_OFFSET,
            vmalloc_base: L4_VMALLOC,
            vmemmap_base: L4_VMEMMAP,
            kasan: false,
            pti: true,
            has_sync_fix: false,
            l5_in_vmcoreinfo: true,
            pgd_symbols: true,
            l5_variable: true,
            dwarf_version: 5,
            compress_debug: false,
            thread_link: ThreadLists::Both,
            mm_pgd_in_anon_struct: true,
            pgd_owner: PgdOwner::PagePtMm,
            percpu: PercpuScheme::ZeroBased,
            notes: NoteStyle::Kdump,
            vmemmap_pages: VmemmapPages::Huge2m,
            late_vmemmap_offset: None,
            nr_cpus_max: 64,
            mms: vec![],
            tasks: vec![],
            cpus: vec![],
            log: Some(LogPlan::prb(24)),
            crash: None,
            formats: vec![],
        }
    }

    pub(crate) fn set_levels5(&mut self) {
        self.levels = 5;
        let (a, b, c) = Plan::default_bases(5);
        self.page_offset_base = a;
        self.vmalloc_base = b;
        self.vmemmap_base = c;
    }

    /// Late vmemmap block starting `extra` bytes into the slot after the
    /// one holding vmemmap_base.
    pub(crate) fn late_in_next_slot(&mut self, extra: u64) {
        let size = 1u64 << self.pgdir_shift();
        let next = (self.vmemmap_base & !(size - 1)).wrapping_add(size);
        self.late_vmemmap_offset = Some(next.wrapping_sub(self.vmemmap_base) + extra);
    }
}

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
    use EditKind::*;
    let mut out = Vec::new();

    // healthy-4l: everything in sync; efi_mm loaded on CPU 1 (skipped).
    {
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
        out.push(p);
    }

    // missing-4l: the seed bug. A vmemmap block populated late in slot 469;
    // synced into init_mm only. Tables of ndctl (mm 3), dbus (mm 2, three
    // threads), the kthread using mm 2's sibling and an exited mm miss it.
    {
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
        out.push(p);
    }

    // healthy-5l
    {
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
        p.has_sync_fix = true;
        out.push(p);
    }

    // missing-5l: late vmemmap block in slot 469 (5-level), missing in two tables.
    {
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
        // ndctl on CPU 0, its table found through the QEMU note's CR3: "PGD 0".
        p.crash = Some(CrashPlan {
            cpu: 0,
            fault_va: p.late_va(0x834).unwrap_or(0),
            rip_function: "memmap_init_zone_device".into(),
        });
        out.push(p);
    }

    // kaslr-randomized: KASLR + CONFIG_RANDOMIZE_MEMORY; the vmemmap starts
    // 2 GiB before a slot boundary and the late block crosses into the next.
    {
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
        // bash on CPU 0 faults in the slot the vmemmap crossed into (the
        // seed's ffffe7..34 shape); 6.16 prints "UID:" and "Oops: Oops:".
        p.crash = Some(CrashPlan {
            cpu: 0,
            fault_va: p.late_va(0x34).unwrap_or(0),
            rip_function: "memmap_init_zone_device".into(),
        });
        out.push(p);
    }

    // mismatch: slot 402 (vmalloc) points elsewhere in one table; a stale
    // entry in slot 470 (empty in init_mm) in another.
    {
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
        out.push(p);
    }

    // ldt-slot: PTI, one process has the LDT remap slot 272: not a finding.
    {
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
        out.push(p);
    }

    // orphan-pgd-list: an mm no task owns, on pgd_list, loaded on CPU 1,
    // missing the late vmemmap slot.
    {
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
        out.push(p);
    }

    // incomplete: one table's pgd page (bash, mm 4) is not in the dump.
    {
        let mut p = Plan::base("incomplete", 0x4c_0009);
        p.mms = five_process_mms();
        p.mms[4].pgd_in_dump = false;
        p.tasks = cast(None, None);
        p.cpus = cpus(&[(Some(1240), Loaded::Mm(4)), (Some(1), Loaded::Mm(0))]);
        p.pti = false;
        p.thread_link = ThreadLists::Both;
        p.pgd_owner = PgdOwner::PageIndex;
        p.dwarf_version = 4;
        out.push(p);
    }

    // crash-unexplained: a fault in the vmalloc slot, present in every
    // table; the walk stops at the PMD. A missing late vmemmap slot in
    // another table is a finding that does not explain the crash.
    {
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
        out.push(p);
    }

    // legacy-log-buf: a 5.4 kernel: log_buf of struct printk_log records,
    // wrapped (a zero-length wrap marker, the oldest records dropped); the
    // oops names the missing late vmemmap slot.
    {
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
        out.push(p);
    }

    // wrapped-log: prb moved to printk_rb_dynamic (log_buf_len=) in the
    // direct map; both rings wrapped, a data block wrapping around the end
    // of the text ring, an empty line; QEMU notes with the PTI user CR3.
    {
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
        out.push(p);
    }

    // no-oops: a missing slot, and a log that ends in a sysrq panic without
    // an oops (crash null); VMCOREINFO without the printk entries, so the
    // reader needs the symbol table and DWARF.
    {
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
        out.push(p);
    }

    // unlisted-pgd: ndctl's table is owned by its task but not on pgd_list,
    // and misses the late slot: the fix's sync cannot reach it (replay:
    // `unreachable`), so even a fixed kernel crashes there.
    {
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
        out.push(p);
    }
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
    if r.chance(1, 2) {
        randomize_memory(&mut p, &mut r);
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

    // mms and tasks.
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
    // CPUs.
    let n_cpu = r.range(1, 5) as usize;
    for i in 0..n_cpu {
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
        let _ = i;
    }
    // Planted slots: chosen against the kernel half the builder will make.
    if let Ok(present) = super::kernel::init_present_slots(&p) {
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
    random_log(&mut p, seed);
    p
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
