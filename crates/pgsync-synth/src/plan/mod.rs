//! What a synthetic machine looks like: a serializable [`Plan`], the committed
//! [`scenarios()`], and seeded [`random_plan`]s for property tests.
//!
//! A plan names everything that decides the expected analysis (which page
//! tables exist, which slots are planted, who owns what); what does not
//! matter to the verdict (exact object addresses, padding, A/D noise, struct
//! layouts) is drawn from `seed` / `layout_seed` by the builder.

use serde::{Deserialize, Serialize};

use super::formats::ExtraFormat;

mod random;
mod scenarios;

pub use random::random_plan;
pub(crate) use random::{COMMS, KCOMMS};
pub use scenarios::scenarios;

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

/// How the kernel's kallsyms tables are laid out and whether VMCOREINFO
/// points at them (Linux 6.0+); without them a System.map stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KallsymsStyle {
    /// Before 6.0: no kallsyms in VMCOREINFO; the fixture has a System.map.
    None,
    /// CONFIG_KALLSYMS_ABSOLUTE_PERCPU (x86-64 up to 6.14).
    #[default]
    AbsolutePercpu,
    /// Offsets from `kallsyms_relative_base`.
    RelativeBase,
    /// Offsets relative to each entry, no relative base (7.x).
    PlaceRelative,
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
    /// The kallsyms tables in memory (the BTF is always there).
    #[serde(default)]
    pub kallsyms: KallsymsStyle,
    /// The fixture directory gets the vmlinux (false: the dump alone).
    #[serde(default = "yes")]
    pub vmlinux_beside: bool,
}

fn yes() -> bool {
    true
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
            kallsyms: KallsymsStyle::AbsolutePercpu,
            vmlinux_beside: true,
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
