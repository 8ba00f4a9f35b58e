//! Lays out the synthetic kernel: the image (variables, init_mm, init_task,
//! the kernel page table), objects in the direct map (tasks, mms, signal
//! structs, pgds, per-cpu areas), struct pages in the vmemmap, and the
//! symbols and VMCOREINFO that describe them. Everything is written through
//! the [`Layouts`] the DWARF is made from.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

pub use pgsync_dump::arch::x86_64::layout::START_KERNEL_MAP;
use pgsync_dump::write::elf::{ExecSection, ExecSymbol, ExecSymbolKind};

use super::SynthError;
use super::layouts::release_at_least;
use super::layouts::{self, Layouts};
use super::memory::*;
use super::plan::{
    EditKind, Loaded, LogFormat, LogPlan, MmRole, NoteStyle, PercpuScheme, PgdOwner, Plan,
    TaskPlan, VmemmapPages,
};
use super::printk::{
    Ending, OopsCtx, PrbPlace, Rec, Stored, compose, walk_line, write_log_buf, write_prb,
};
use super::rng::Rng;

/// Link address of the kernel text (`_text`).
pub const TEXT_LINK: u64 = 0xffff_ffff_8100_0000;
const TEXT_SIZE: u64 = 0x00c0_0000;
const DATA_LINK: u64 = TEXT_LINK + TEXT_SIZE;
const DATA_SIZE: u64 = 0x0020_0000;
const PERCPU_LOAD: u64 = DATA_LINK + DATA_SIZE;
const PERCPU_SIZE_MAX: u64 = 0x0004_0000;
const BSS_LINK: u64 = PERCPU_LOAD + PERCPU_SIZE_MAX;
const IMAGE_END: u64 = TEXT_LINK + 0x0100_0000;
pub const CPU_ENTRY_AREA_BASE: u64 = 0xffff_fe00_0000_0000;
pub const ESPFIX_BASE: u64 = 0xffff_ff00_0000_0000;
const EFI_VA_END: u64 = 0xffff_ffef_0000_0000;
const LDT_BASE_L4: u64 = 0xffff_8800_0000_0000;
const LDT_BASE_L5: u64 = 0xff10_0000_0000_0000;

const PF_IDLE: u32 = 0x2;
const PF_FORKNOEXEC: u32 = 0x40;
const PF_NOFREEZE: u32 = 0x8000;
pub const PF_KTHREAD: u32 = 0x0020_0000;
const PF_RANDOMIZE: u32 = 0x0040_0000;

/// One page table the builder made (not init_mm's).
#[derive(Debug, Clone)]
pub struct BuiltTable {
    pub mm_index: usize,
    pub role: MmRole,
    pub mm_va: u64,
    pub pgd_pa: u64,
    pub pgd_va: u64,
    pub in_dump: bool,
    pub on_pgd_list: bool,
    /// Raw top-level entries of the kernel copy.
    pub entries: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct BuiltCpu {
    pub prstatus_pid: u32,
    pub rip: u64,
    pub rsp: u64,
    /// Raw CR3 for the QEMU note.
    pub cr3: u64,
}

/// The synthetic machine, ready for the ELF writers.
#[derive(Debug, Clone)]
pub struct Machine {
    pub mem: PhysMem,
    pub syms: Vec<ExecSymbol>,
    pub layouts: Layouts,
    pub init_pgd_pa: u64,
    /// Runtime address of init_top_pgt.
    pub init_pgd_va: u64,
    pub init_entries: Vec<u64>,
    pub tables: Vec<BuiltTable>,
    pub cpus: Vec<BuiltCpu>,
    pub build_id: [u8; 20],
    pub vmcoreinfo: String,
    /// Runtime task_struct address per plan task (same order).
    pub task_va: Vec<u64>,
    pub init_task_va: u64,
    pub init_mm_va: u64,
    /// (link start, size) per section.
    pub sections: BTreeMap<ExecSection, (u64, u64)>,
    /// The printk buffer, when the plan has one.
    pub log: Option<BuiltLog>,
    /// PT_LOAD pages that hold only user memory (makedumpfile `-d 8`).
    pub user_pages: Vec<u64>,
}

impl Machine {
    pub fn sym(&self, name: &str) -> Option<&ExecSymbol> {
        self.syms.iter().find(|s| s.name == name)
    }
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), SynthError> {
    if cond {
        Ok(())
    } else {
        Err(SynthError::Plan(msg()))
    }
}

fn validate(plan: &Plan) -> Result<(), SynthError> {
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

/// Which top-level slots init_mm's table has present (for planting edits).
pub fn init_present_slots(plan: &Plan) -> Result<Vec<u16>, SynthError> {
    let mut p = plan.clone();
    for m in p.mms.iter_mut() {
        m.edits.clear();
    }
    let m = build_machine(&p)?;
    let boundary = p.slot_of(p.page_offset_base) as usize;
    Ok((boundary..512)
        .filter(|&s| m.init_entries[s] & P != 0)
        .map(|s| s as u16)
        .collect())
}

pub(super) struct Image {
    kaslr: u64,
    phys_base: u64,
    data_next: u64,
    bss_next: u64,
    syms: Vec<ExecSymbol>,
}

impl Image {
    fn pa(&self, link: u64) -> u64 {
        link.wrapping_add(self.kaslr)
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(self.phys_base)
    }
    fn runtime(&self, link: u64) -> u64 {
        link.wrapping_add(self.kaslr)
    }
    fn var(&mut self, r: &mut Rng, name: &str, size: u64, align: u64, bss: bool) -> u64 {
        let next = if bss {
            &mut self.bss_next
        } else {
            &mut self.data_next
        };
        *next += align.max(8) * r.range(0, 3);
        let a = next.div_ceil(align) * align;
        *next = a + size;
        self.syms.push(ExecSymbol {
            name: name.into(),
            link: a,
            size,
            kind: ExecSymbolKind::Object,
            sect: if bss {
                ExecSection::Bss
            } else {
                ExecSection::Data
            },
        });
        a
    }
    fn sym(&mut self, name: &str, link: u64, size: u64, kind: ExecSymbolKind, sect: ExecSection) {
        self.syms.push(ExecSymbol {
            name: name.into(),
            link,
            size,
            kind,
            sect,
        });
    }
}

/// Writes a list_head at `at` (VA known to the caller) linking `next`/`prev`.
fn write_list(mem: &mut PhysMem, at_pa: u64, next: u64, prev: u64) {
    mem.write_u64(at_pa, next);
    mem.write_u64(at_pa + 8, prev);
}

/// Links circular list nodes: `nodes` = (pa of the list_head, va of it).
fn link_circular(mem: &mut PhysMem, nodes: &[(u64, u64)]) {
    let split: Vec<(u64, u64, u64)> = nodes.iter().map(|&(pa, va)| (pa, pa + 8, va)).collect();
    link_circular_split(mem, &split);
}

/// Same, with the `prev` field's physical address given separately (a
/// list_head may straddle two non-adjacent pages).
fn link_circular_split(mem: &mut PhysMem, nodes: &[(u64, u64, u64)]) {
    let n = nodes.len();
    for i in 0..n {
        mem.write_u64(nodes[i].0, nodes[(i + 1) % n].2);
        mem.write_u64(nodes[i].1, nodes[(i + n - 1) % n].2);
    }
}

/// Size of the RAM region for direct-map objects and page tables: 256 MiB
/// (what every committed fixture uses), or twice an upper bound of what the
/// plan's objects need when that is more.
fn object_region(plan: &Plan, sz_task: u64, sz_mm: u64, sz_sig: u64, pgd_size: u64) -> u64 {
    const BASE: u64 = 256 << 20;
    // alloc_scattered leaves up to 3 * align before an object, plus alignment.
    let slack = |size: u64| size.next_multiple_of(64) + 4 * 64;
    let mms = plan.mms.len() as u64;
    let tasks = (plan.tasks.len() + plan.cpus.len()) as u64;
    let leaders = plan.tasks.iter().filter(|t| t.pid == t.tgid).count() as u64;
    let extra_tables: u64 = plan
        .mms
        .iter()
        .map(|m| m.edits.len() as u64 + u64::from(m.ldt_slot) + 1)
        .sum();
    let need = mms * (2 * pgd_size + 3 * PAGE + slack(sz_mm))
        + tasks * slack(sz_task)
        + leaders * slack(sz_sig)
        + plan.cpus.len() as u64 * 2 * 0x40000
        // tables (efi, mismatch, stale, LDT) and 4 KiB vmemmap pages with theirs
        + extra_tables * PAGE
        + mms * 3 * PAGE
        + (16 << 20);
    if 2 * need <= BASE {
        BASE
    } else {
        (2 * need).next_multiple_of(MIB2)
    }
}

/// Builds the whole machine.
pub fn build_machine(plan: &Plan) -> Result<Machine, SynthError> {
    validate(plan)?;
    let mut r = Rng::new(plan.seed);
    let l = layouts::generate(plan)?;
    let pg = Paging {
        levels: plan.levels,
    };
    let pob = plan.page_offset_base;
    let mut mem = PhysMem::default();
    let mut img = Image {
        kaslr: plan.kaslr_offset,
        phys_base: plan.phys_base,
        data_next: DATA_LINK,
        bss_next: BSS_LINK,
        syms: vec![],
    };
    let image_pa = img.pa(TEXT_LINK);
    let image_end_pa = img.pa(IMAGE_END);
    check(image_end_pa <= plan.ram_bytes, || {
        "the kernel image does not fit in RAM".into()
    })?;

    let sz_page = l.size("page")?;
    let sz_mm = l.size("mm_struct")?;
    let sz_task = l.size("task_struct")?;
    let sz_sig = l.size("signal_struct")?;
    let sz_tlb = l.size("tlb_state")?;
    let pgd_size = if plan.pti { 2 * PAGE } else { PAGE };

    // RAM for direct-map objects and page tables: after the image when
    // there is room, else below it. 256 MiB unless the plan needs more
    // (large benchmark plans): the first half holds objects and tables,
    // the second 2 MiB vmemmap frames.
    let region = object_region(plan, sz_task, sz_mm, sz_sig, pgd_size);
    let start = if image_end_pa + MIB2 * 8 + region <= plan.ram_bytes {
        (image_end_pa.div_ceil(MIB2) + r.range(1, 8)) * MIB2
    } else if image_pa >= region + (64 << 20) {
        (64 << 20) + r.range(0, 8) * MIB2
    } else {
        return Err(SynthError::Plan("no room in RAM for objects".into()));
    };
    let mut small = RamAlloc::new(start, start + region / 2);
    let mut huge = RamAlloc::new(start + region / 2, start + region);

    // ---- text symbols ----
    img.sym(
        "_text",
        TEXT_LINK,
        0,
        ExecSymbolKind::NoType,
        ExecSection::Text,
    );
    img.sym(
        "startup_64",
        TEXT_LINK,
        0x60,
        ExecSymbolKind::Func,
        ExecSection::Text,
    );
    let stext = TEXT_LINK + 0x1000;
    img.sym(
        "_stext",
        stext,
        0,
        ExecSymbolKind::NoType,
        ExecSection::Text,
    );
    let mut fpos = stext + 0x4000 * r.range(1, 8);
    let mut funcs = vec![
        "start_kernel",
        "sync_global_pgds",
        "pgd_alloc",
        "vmemmap_populate",
        "__schedule",
        "do_page_fault",
    ];
    if plan.has_sync_fix {
        funcs.push("arch_sync_kernel_mappings");
    }
    let mut func_addr = BTreeMap::new();
    for f in funcs {
        let size = 0x40 * r.range(2, 40);
        img.sym(f, fpos, size, ExecSymbolKind::Func, ExecSection::Text);
        func_addr.insert(f, fpos);
        fpos += size + 0x10 * r.range(1, 200);
    }
    img.sym(
        "_etext",
        TEXT_LINK + TEXT_SIZE - 0x1000,
        0,
        ExecSymbolKind::NoType,
        ExecSection::Text,
    );

    // ---- data: page tables first (page aligned) ----
    let init_pgt = img.var(&mut r, "init_top_pgt", pgd_size, pgd_size, false);
    if plan.pgd_symbols {
        // swapper_pg_dir is the same table under another name.
        img.sym(
            "swapper_pg_dir",
            init_pgt,
            pgd_size,
            ExecSymbolKind::Object,
            ExecSection::Data,
        );
    } else {
        img.syms.retain(|s| s.name != "init_top_pgt");
    }
    let mut text_tables = Vec::new();
    let names: &[&str] = if plan.levels == 5 {
        &[
            "level4_kernel_pgt",
            "level3_kernel_pgt",
            "level2_kernel_pgt",
        ]
    } else {
        &["level3_kernel_pgt", "level2_kernel_pgt"]
    };
    for n in names {
        let a = img.var(&mut r, n, PAGE, PAGE, false);
        text_tables.push(img.pa(a));
    }
    let init_pgd_pa = img.pa(init_pgt);
    let init_pgd_va = img.runtime(init_pgt);
    mem.touch(init_pgd_pa);

    // ---- variables ----
    let v_pob = img.var(&mut r, "page_offset_base", 8, 8, false);
    let v_vmalloc = img.var(&mut r, "vmalloc_base", 8, 8, false);
    let v_vmemmap = img.var(&mut r, "vmemmap_base", 8, 8, false);
    let v_phys_base = img.var(&mut r, "phys_base", 8, 8, false);
    let v_max_pfn = img.var(&mut r, "max_pfn", 8, 8, true);
    let v_nr_cpu_ids = img.var(&mut r, "nr_cpu_ids", 4, 4, false);
    let v_pco = img.var(
        &mut r,
        "__per_cpu_offset",
        8 * u64::from(plan.nr_cpus_max),
        64,
        false,
    );
    let v_l5 = if plan.l5_variable {
        Some(img.var(&mut r, "__pgtable_l5_enabled", 4, 4, false))
    } else {
        None
    };
    let v_pgd_list = img.var(&mut r, "pgd_list", 16, 8, false);
    let v_init_mm = img.var(&mut r, "init_mm", sz_mm, 64, false);
    let v_init_task = img.var(&mut r, "init_task", sz_task, 64, false);
    let v_init_signals = img.var(&mut r, "init_signals", sz_sig, 64, false);
    let v_poking = if plan.mms.iter().any(|m| m.role == MmRole::Poking) {
        Some(img.var(&mut r, "poking_mm", 8, 8, true))
    } else {
        None
    };
    let v_efi_mm = if plan.mms.iter().any(|m| m.role == MmRole::Efi) {
        Some(img.var(&mut r, "efi_mm", sz_mm, 64, false))
    } else {
        None
    };
    let init_mm_va = img.runtime(v_init_mm);
    let init_task_va = img.runtime(v_init_task);

    mem.write_u64(img.pa(v_pob), pob);
    mem.write_u64(img.pa(v_vmalloc), plan.vmalloc_base);
    mem.write_u64(img.pa(v_vmemmap), plan.vmemmap_base);
    mem.write_u64(img.pa(v_phys_base), plan.phys_base);
    mem.write_u64(img.pa(v_max_pfn), plan.ram_bytes / PAGE);
    mem.write_u32(img.pa(v_nr_cpu_ids), plan.cpus.len() as u32);
    if let Some(v) = v_l5 {
        mem.write_u32(img.pa(v), u32::from(plan.levels == 5));
    }

    // ---- per-cpu section ----
    let pc_tlb = (0x1f000 + 0x40 * r.range(0, 64)).min(PERCPU_SIZE_MAX - 0x2000);
    let pc_current = 0x40 * r.range(8, 0x300);
    let pc_cpu_number = pc_current + 0x40 * r.range(1, 8);
    let pc_size = (pc_tlb + sz_tlb).div_ceil(PAGE) * PAGE + PAGE * r.range(0, 4);
    let pc_base_link = match plan.percpu {
        PercpuScheme::ZeroBased => 0,
        PercpuScheme::Relative => PERCPU_LOAD,
    };
    let pc_base_runtime = match plan.percpu {
        PercpuScheme::ZeroBased => 0,
        PercpuScheme::Relative => img.runtime(PERCPU_LOAD),
    };
    img.sym(
        "__per_cpu_start",
        pc_base_link,
        0,
        ExecSymbolKind::NoType,
        ExecSection::Percpu,
    );
    img.sym(
        "__per_cpu_end",
        pc_base_link + pc_size,
        0,
        ExecSymbolKind::NoType,
        ExecSection::Percpu,
    );
    img.sym(
        "cpu_tlbstate",
        pc_base_link + pc_tlb,
        sz_tlb,
        ExecSymbolKind::Object,
        ExecSection::Percpu,
    );
    img.sym(
        "current_task",
        pc_base_link + pc_current,
        8,
        ExecSymbolKind::Object,
        ExecSection::Percpu,
    );
    img.sym(
        "cpu_number",
        pc_base_link + pc_cpu_number,
        4,
        ExecSymbolKind::Object,
        ExecSection::Percpu,
    );
    if plan.percpu == PercpuScheme::ZeroBased {
        img.sym(
            "__per_cpu_load",
            PERCPU_LOAD,
            0,
            ExecSymbolKind::NoType,
            ExecSection::Data,
        );
    }
    let mut pc_area = Vec::new();
    for i in 0..plan.cpus.len() {
        let a = small.alloc(pc_size.max(0x40000), 0x40000)?;
        pc_area.push(pob + a);
        let off = (pob + a).wrapping_sub(pc_base_runtime);
        mem.write_u64(img.pa(v_pco) + 8 * i as u64, off);
    }

    // ---- allocate pgds and mms (addresses first, contents later) ----
    struct MmAlloc {
        mm_va: u64,
        pgd_pa: u64,
    }
    let mut mm_alloc = Vec::new();
    for m in &plan.mms {
        let pgd_pa = small.alloc(pgd_size, pgd_size)?;
        small.alloc(0, PAGE * r.range(1, 4))?;
        let mm_va = match m.role {
            MmRole::Efi => img.runtime(v_efi_mm.unwrap_or(0)),
            _ => pob + small.alloc_scattered(&mut r, sz_mm, 64)?,
        };
        mm_alloc.push(MmAlloc { mm_va, pgd_pa });
    }
    if let (Some(v), Some(i)) = (
        v_poking,
        plan.mms.iter().position(|m| m.role == MmRole::Poking),
    ) {
        mem.write_u64(img.pa(v), mm_alloc[i].mm_va);
    }

    // ---- init_mm's page table ----
    {
        let mut tab = || -> Result<u64, SynthError> { small.alloc(PAGE, PAGE) };
        // Direct map: first GiB with 2 MiB pages, the rest with 1 GiB pages.
        for g in 0..plan.ram_bytes / GIB {
            if g == 0 {
                for k in 0..512 {
                    pg.map(
                        &mut mem,
                        &mut tab,
                        init_pgd_pa,
                        pob + k * MIB2,
                        k * MIB2,
                        MIB2,
                        KERNEL_LARGE,
                        PAGE_TABLE,
                    )?;
                }
            } else {
                pg.map(
                    &mut mem,
                    &mut tab,
                    init_pgd_pa,
                    pob + g * GIB,
                    g * GIB,
                    GIB,
                    KERNEL_LARGE,
                    PAGE_TABLE,
                )?;
            }
        }
        // vmalloc: one mapped page.
        // Leaf frames come from a separate allocator (they are not dumped).
        let mut frames = RamAlloc::new(plan.ram_bytes - GIB, plan.ram_bytes);
        let vpage = frames.alloc(PAGE, PAGE)?;
        let vva = plan.vmalloc_base + (r.range(1, 4096) << 12);
        pg.map(
            &mut mem,
            &mut tab,
            init_pgd_pa,
            vva,
            vpage,
            PAGE,
            KERNEL_4K,
            PAGE_TABLE,
        )?;
        // cpu_entry_area and espfix.
        let cea = frames.alloc(PAGE, PAGE)?;
        pg.map(
            &mut mem,
            &mut tab,
            init_pgd_pa,
            CPU_ENTRY_AREA_BASE + (r.range(0, 16) << 12),
            cea,
            PAGE,
            KERNEL_4K,
            KERNPG_TABLE,
        )?;
        let esp = frames.alloc(PAGE, PAGE)?;
        pg.map(
            &mut mem,
            &mut tab,
            init_pgd_pa,
            ESPFIX_BASE + (r.range(0, 1024) << 12),
            esp,
            PAGE,
            KERNEL_4K,
            KERNPG_TABLE,
        )?;
    }
    // Kernel text map through the image's own tables.
    {
        let mut it = text_tables.clone().into_iter();
        let mut tab = || -> Result<u64, SynthError> {
            it.next()
                .ok_or_else(|| SynthError::Plan("text map needs more tables".into()))
        };
        let mut va = img.runtime(TEXT_LINK);
        while va < img.runtime(IMAGE_END) {
            let flags = if va < img.runtime(DATA_LINK) {
                KERNEL_LARGE_EXEC
            } else {
                KERNEL_LARGE
            };
            pg.map(
                &mut mem,
                &mut tab,
                init_pgd_pa,
                va,
                img.pa(va - plan.kaslr_offset),
                MIB2,
                flags,
                KERNPG_TABLE,
            )?;
            va += MIB2;
        }
    }
    // KASAN early shadow: every slot fully inside the shadow points at the
    // same chain of early shadow tables.
    if plan.kasan {
        let (ks, ke) = if plan.levels == 5 {
            (0xffdf_0000_0000_0000u64, 0xffff_fc00_0000_0000u64)
        } else {
            (0xffff_ec00_0000_0000u64, 0xffff_fc00_0000_0000u64)
        };
        let page = img.var(&mut r, "kasan_early_shadow_page", PAGE, PAGE, true);
        let pte = img.var(&mut r, "kasan_early_shadow_pte", PAGE, PAGE, true);
        let pmd = img.var(&mut r, "kasan_early_shadow_pmd", PAGE, PAGE, true);
        let pud = img.var(&mut r, "kasan_early_shadow_pud", PAGE, PAGE, true);
        let mut chain = vec![
            (pte, img.pa(page) | KERNEL_4K & !NX & !RW),
            (pmd, img.pa(pte) | KERNPG_TABLE),
            (pud, img.pa(pmd) | KERNPG_TABLE),
        ];
        let mut top_target = img.pa(pud);
        if plan.levels == 5 {
            let p4d = img.var(&mut r, "kasan_early_shadow_p4d", PAGE, PAGE, true);
            chain.push((p4d, img.pa(pud) | KERNPG_TABLE));
            top_target = img.pa(p4d);
        }
        mem.touch(img.pa(page));
        for (table, entry) in chain {
            for i in 0..512 {
                mem.write_u64(img.pa(table) + 8 * i, entry);
            }
        }
        let shift = plan.pgdir_shift();
        let first = plan.slot_of(ks) as u64;
        let last = plan.slot_of(ke) as u64; // exclusive: the slot holding the end
        for s in first..last {
            if s >= 511 {
                break;
            }
            let _ = shift;
            mem.write_u64(init_pgd_pa + 8 * s, top_target | KERNPG_TABLE);
        }
    }

    // vmemmap: struct pages of every pgd on pgd_list.
    let vmemmap_chunk = match plan.vmemmap_pages {
        VmemmapPages::Small4k => PAGE,
        VmemmapPages::Huge2m => MIB2,
    };
    let mut vmemmap_frames: BTreeMap<u64, u64> = BTreeMap::new();
    let mut struct_page_pa = |mem: &mut PhysMem,
                              small: &mut RamAlloc,
                              huge: &mut RamAlloc,
                              pfn: u64|
     -> Result<u64, SynthError> {
        let va = plan.vmemmap_base + pfn * sz_page;
        let mut first = None;
        let mut a = va & !(vmemmap_chunk - 1);
        while a < va + sz_page {
            let frame = match vmemmap_frames.get(&a) {
                Some(&f) => f,
                None => {
                    let f = if vmemmap_chunk == MIB2 {
                        huge.alloc(MIB2, MIB2)?
                    } else {
                        small.alloc(PAGE, PAGE)?
                    };
                    let mut tab = || -> Result<u64, SynthError> { small.alloc(PAGE, PAGE) };
                    let flags = if vmemmap_chunk == MIB2 {
                        KERNEL_LARGE
                    } else {
                        KERNEL_4K
                    };
                    pg.map(
                        mem,
                        &mut tab,
                        init_pgd_pa,
                        a,
                        f,
                        vmemmap_chunk,
                        flags,
                        PAGE_TABLE,
                    )?;
                    vmemmap_frames.insert(a, f);
                    f
                }
            };
            if first.is_none() {
                first = Some(frame + (va - a));
            }
            a += vmemmap_chunk;
        }
        // Struct pages are contiguous in physical memory when they straddle
        // two 4 KiB chunks only if the frames are; write through VA instead.
        first.ok_or_else(|| SynthError::Plan("empty struct page".into()))
    };
    let mut page_pa_of = BTreeMap::new();
    for (i, m) in plan.mms.iter().enumerate() {
        if m.on_pgd_list {
            let pfn = mm_alloc[i].pgd_pa / PAGE;
            let pa = struct_page_pa(&mut mem, &mut small, &mut huge, pfn)?;
            page_pa_of.insert(i, pa);
        }
    }
    // Late vmemmap block (device memory hot-added after the tables were
    // copied): mapped in init_mm only. Its frame is device memory, not dumped.
    if let Some(off) = plan.late_vmemmap_offset {
        check(off % MIB2 == 0, || {
            "late_vmemmap_offset must be 2 MiB aligned".into()
        })?;
        let va = plan.vmemmap_base.wrapping_add(off);
        let frame = if vmemmap_chunk == MIB2 {
            huge.alloc(MIB2, MIB2)?
        } else {
            small.alloc(PAGE, PAGE)?
        };
        let mut tab = || -> Result<u64, SynthError> { small.alloc(PAGE, PAGE) };
        let flags = if vmemmap_chunk == MIB2 {
            KERNEL_LARGE
        } else {
            KERNEL_4K
        };
        pg.map(
            &mut mem,
            &mut tab,
            init_pgd_pa,
            va,
            frame,
            vmemmap_chunk,
            flags,
            PAGE_TABLE,
        )?;
    }
    let init_entries: Vec<u64> = (0..512)
        .map(|i| mem.read_u64(init_pgd_pa + 8 * i))
        .collect();
    let boundary = plan.slot_of(pob) as usize;
    // PTI user copy of init_top_pgt: only the cpu_entry_area slot.
    if plan.pti {
        let s = plan.slot_of(CPU_ENTRY_AREA_BASE) as u64;
        mem.write_u64(init_pgd_pa + PAGE + 8 * s, init_entries[s as usize]);
    }

    // ---- process page tables ----
    let ldt_slot = plan.slot_of(if plan.levels == 5 {
        LDT_BASE_L5
    } else {
        LDT_BASE_L4
    }) as usize;
    let mut tables = Vec::new();
    for (i, m) in plan.mms.iter().enumerate() {
        let mut e = vec![0u64; 512];
        e[boundary..512].copy_from_slice(&init_entries[boundary..512]);
        if m.role != MmRole::Efi {
            // A few user mappings.
            for _ in 0..r.range(1, 4) {
                let s = *r.pick(&[0usize, 0, 1, 170, 254, 255]);
                e[s] = (r.range(0x10000, 0x40000) << 12) | PAGE_TABLE;
            }
        } else {
            // efi_pgd: its own table for the EFI runtime region (slot 511's
            // next level is a private copy).
            let s = plan.slot_of(EFI_VA_END) as usize;
            let t = small.alloc(PAGE, PAGE)?;
            let src = init_entries[s] & ADDR_MASK;
            for k in 0..512 {
                mem.write_u64(t + 8 * k, mem.read_u64(src + 8 * k));
            }
            if plan.levels == 4 {
                let k = (EFI_VA_END >> 30) & 511;
                mem.write_u64(t + 8 * k, (r.range(0x1000, 0x8000) << 12) | PAGE_TABLE);
            }
            e[s] = t | (init_entries[s] & !ADDR_MASK);
        }
        if m.ldt_slot {
            let t = small.alloc(PAGE, PAGE)?;
            mem.touch(t);
            e[ldt_slot] = t | KERNPG_TABLE;
        }
        // Hardware-set A/D differences: never findings.
        if m.role != MmRole::Efi {
            for v in e.iter_mut().skip(boundary) {
                if *v & P != 0 && r.chance(1, 4) {
                    let bits = *r.pick(&[ACCESSED, DIRTY, ACCESSED | DIRTY]);
                    *v &= !bits;
                }
            }
        }
        for ed in &m.edits {
            let s = usize::from(ed.slot);
            check(s >= boundary && s < 512, || {
                format!("mm {i}: slot {s} is outside the compared range {boundary}..511")
            })?;
            match ed.kind {
                EditKind::Missing => {
                    check(init_entries[s] & P != 0, || {
                        format!("mm {i}: slot {s} is empty in init_mm, cannot be missing")
                    })?;
                    e[s] = 0;
                }
                EditKind::Mismatch => {
                    check(init_entries[s] & P != 0, || {
                        format!("mm {i}: slot {s} is empty in init_mm, cannot mismatch")
                    })?;
                    let t = small.alloc(PAGE, PAGE)?;
                    let src = init_entries[s] & ADDR_MASK;
                    mem.touch(t);
                    for k in 0..512 {
                        let v = mem.read_u64(src + 8 * k);
                        if v != 0 {
                            mem.write_u64(t + 8 * k, v);
                        }
                    }
                    e[s] = t | (init_entries[s] & !ADDR_MASK);
                }
                EditKind::Stale => {
                    check(init_entries[s] & P == 0, || {
                        format!("mm {i}: slot {s} is present in init_mm, cannot be stale")
                    })?;
                    let t = small.alloc(PAGE, PAGE)?;
                    mem.touch(t);
                    mem.write_u64(
                        t + 8 * r.range(0, 512),
                        (r.range(0x1000, 0x8000) << 12) | PAGE_TABLE,
                    );
                    e[s] = t | PAGE_TABLE;
                }
            }
        }
        let pa = mm_alloc[i].pgd_pa;
        for (k, v) in e.iter().enumerate() {
            if *v != 0 {
                mem.write_u64(pa + 8 * k as u64, *v);
            }
        }
        mem.touch(pa);
        if plan.pti {
            // User copy: the user half and the cpu_entry_area slot.
            for (k, v) in e.iter().enumerate().take(256) {
                if *v != 0 {
                    mem.write_u64(pa + PAGE + 8 * k as u64, *v);
                }
            }
            let s = plan.slot_of(CPU_ENTRY_AREA_BASE) as usize;
            mem.write_u64(pa + PAGE + 8 * s as u64, init_entries[s]);
        }
        if !m.pgd_in_dump {
            mem.exclude(pa, pgd_size);
        }
        tables.push(BuiltTable {
            mm_index: i,
            role: m.role,
            mm_va: mm_alloc[i].mm_va,
            pgd_pa: pa,
            pgd_va: pob + pa,
            in_dump: m.pgd_in_dump,
            on_pgd_list: m.on_pgd_list,
            entries: e,
        });
    }

    // ---- tasks ----
    let mut task_va = Vec::new();
    for _ in &plan.tasks {
        task_va.push(pob + small.alloc_scattered(&mut r, sz_task, 64)?);
    }
    let pa_of = |va: u64| -> u64 {
        if va >= START_KERNEL_MAP {
            va.wrapping_sub(START_KERNEL_MAP)
                .wrapping_add(plan.phys_base)
        } else {
            va - pob
        }
    };
    let mm_va_of = |m: Option<usize>| m.map_or(0, |i| mm_alloc[i].mm_va);
    let mut signal_of: BTreeMap<u32, u64> = BTreeMap::new();
    signal_of.insert(0, img.runtime(v_init_signals));
    for t in &plan.tasks {
        if t.pid == t.tgid {
            signal_of.insert(t.tgid, pob + small.alloc_scattered(&mut r, sz_sig, 64)?);
        }
    }
    let o_tasks = l.off("task_struct", "tasks")?;
    let o_pid = l.off("task_struct", "pid")?;
    let o_tgid = l.off("task_struct", "tgid")?;
    let o_comm = l.off("task_struct", "comm")?;
    let o_mm = l.off("task_struct", "mm")?;
    let o_amm = l.off("task_struct", "active_mm")?;
    let o_flags = l.off("task_struct", "flags")?;
    let o_signal = l.off("task_struct", "signal")?;
    let o_leader = l.off("task_struct", "group_leader")?;
    let o_tnode = l.off("task_struct", "thread_node").ok();
    let o_tgroup = l.off("task_struct", "thread_group").ok();
    let o_thead = l.off("signal_struct", "thread_head").ok();
    let o_nthreads = l.off("signal_struct", "nr_threads")?;
    let self_lists: Vec<u64> = ["children", "sibling"]
        .iter()
        .filter_map(|n| l.off("task_struct", n).ok())
        .collect();

    struct T<'a> {
        va: u64,
        pid: u32,
        tgid: u32,
        comm: &'a str,
        flags: u32,
        mm: u64,
        active_mm: u64,
    }
    let mut all: Vec<T> = vec![T {
        va: init_task_va,
        pid: 0,
        tgid: 0,
        comm: "swapper/0",
        flags: PF_KTHREAD | PF_IDLE,
        mm: 0,
        active_mm: init_mm_va,
    }];
    for (t, &va) in plan.tasks.iter().zip(&task_va) {
        let extra = if t.kthread {
            PF_KTHREAD | PF_NOFREEZE
        } else {
            (PF_FORKNOEXEC * (r.range(0, 2) as u32)) | PF_RANDOMIZE
        };
        let mm = mm_va_of(t.mm);
        let active = if t.mm.is_some() {
            mm
        } else if let Some(b) = t.lazy_mm {
            mm_alloc[b].mm_va
        } else {
            init_mm_va
        };
        all.push(T {
            va,
            pid: t.pid,
            tgid: t.tgid,
            comm: &t.comm,
            flags: extra,
            mm,
            active_mm: active,
        });
    }
    // Idle tasks of the other CPUs (not on the tasks list).
    let mut idle_va = Vec::new();
    for (i, c) in plan.cpus.iter().enumerate() {
        if i == 0 {
            idle_va.push(init_task_va);
            continue;
        }
        let va = pob + small.alloc_scattered(&mut r, sz_task, 64)?;
        idle_va.push(va);
        let _ = c;
    }
    let idle_comms: Vec<String> = (0..plan.cpus.len())
        .map(|i| format!("swapper/{i}"))
        .collect();
    let idle_tasks: Vec<T> = plan
        .cpus
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, c)| T {
            va: idle_va[i],
            pid: 0,
            tgid: 0,
            comm: &idle_comms[i],
            flags: PF_KTHREAD | PF_IDLE,
            mm: 0,
            active_mm: match c.loaded {
                Loaded::InitMm => init_mm_va,
                Loaded::Mm(m) => mm_alloc[m].mm_va,
            },
        })
        .collect();
    // First task of each pid (group leaders) and each group's members in
    // order, looked up instead of scanned.
    let mut va_of_pid: HashMap<u32, u64> = HashMap::with_capacity(all.len());
    let mut members_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (k, t) in all.iter().enumerate() {
        va_of_pid.entry(t.pid).or_insert(t.va);
        members_of.entry(t.tgid).or_default().push(k);
    }
    for t in all.iter().chain(idle_tasks.iter()) {
        let pa = pa_of(t.va);
        mem.write_u32(pa + o_pid, t.pid);
        mem.write_u32(pa + o_tgid, t.tgid);
        let mut comm = [0u8; 16];
        comm[..t.comm.len().min(15)].copy_from_slice(&t.comm.as_bytes()[..t.comm.len().min(15)]);
        mem.write(pa + o_comm, &comm);
        mem.write_u32(pa + o_flags, t.flags);
        mem.write_u64(pa + o_mm, t.mm);
        mem.write_u64(pa + o_amm, t.active_mm);
        mem.write_u64(
            pa + o_signal,
            *signal_of.get(&t.tgid).unwrap_or(&signal_of[&0]),
        );
        let leader = va_of_pid.get(&t.tgid).copied().unwrap_or(t.va);
        mem.write_u64(pa + o_leader, if t.pid == 0 { t.va } else { leader });
        for &o in &self_lists {
            write_list(&mut mem, pa + o, t.va + o, t.va + o);
        }
        // Until linked below, thread lists point at themselves.
        for o in [o_tnode, o_tgroup].into_iter().flatten() {
            write_list(&mut mem, pa + o, t.va + o, t.va + o);
        }
        write_list(&mut mem, pa + o_tasks, t.va + o_tasks, t.va + o_tasks);
    }
    // The tasks list: init_task, then leaders in plan order.
    let leaders: Vec<(u64, u64)> = all
        .iter()
        .filter(|t| t.pid == t.tgid)
        .map(|t| (pa_of(t.va) + o_tasks, t.va + o_tasks))
        .collect();
    link_circular(&mut mem, &leaders);
    // Thread groups.
    for (&tgid, &sig_va) in &signal_of {
        let members: Vec<&T> = members_of
            .get(&tgid)
            .map_or(&[][..], |v| &v[..])
            .iter()
            .map(|&k| &all[k])
            .collect();
        let sig_pa = pa_of(sig_va);
        mem.write_u32(sig_pa + o_nthreads, members.len() as u32);
        if let (Some(on), Some(oh)) = (o_tnode, o_thead) {
            let mut nodes = vec![(sig_pa + oh, sig_va + oh)];
            nodes.extend(members.iter().map(|t| (pa_of(t.va) + on, t.va + on)));
            link_circular(&mut mem, &nodes);
        }
        if let Some(og) = o_tgroup {
            let nodes: Vec<(u64, u64)> = members
                .iter()
                .map(|t| (pa_of(t.va) + og, t.va + og))
                .collect();
            link_circular(&mut mem, &nodes);
        }
    }

    // ---- mm_structs ----
    let o_pgd = l.off("mm_struct", "pgd")?;
    let o_users = l.off("mm_struct", "mm_users")?;
    let o_count = l.off("mm_struct", "mm_count")?;
    let o_map_count = l.off("mm_struct", "map_count")?;
    let o_total_vm = l.off("mm_struct", "total_vm")?;
    let o_owner = l.off("mm_struct", "owner").ok();
    let write_mm = |mem: &mut PhysMem,
                    r: &mut Rng,
                    va: u64,
                    pgd_va: u64,
                    users: u32,
                    count: u32,
                    owner: u64| {
        let pa = pa_of(va);
        mem.write_u64(pa + o_pgd, pgd_va);
        mem.write_u32(pa + o_users, users);
        mem.write_u32(pa + o_count, count);
        mem.write_u32(pa + o_map_count, r.range(20, 400) as u32);
        mem.write_u64(pa + o_total_vm, r.range(1000, 900_000));
        if let Some(o) = o_owner {
            mem.write_u64(pa + o, owner);
        }
    };
    write_mm(&mut mem, &mut r, init_mm_va, init_pgd_va, 2, 1, 0);
    // Users and owner (first non-kthread leader) of each mm, in one pass.
    let mut users_of = vec![0u32; plan.mms.len()];
    let mut owner_of: Vec<Option<usize>> = vec![None; plan.mms.len()];
    for (k, t) in plan.tasks.iter().enumerate() {
        if let Some(i) = t.mm {
            users_of[i] += 1;
            if t.pid == t.tgid && !t.kthread && owner_of[i].is_none() {
                owner_of[i] = Some(k);
            }
        }
    }
    for (i, m) in plan.mms.iter().enumerate() {
        let users = users_of[i];
        let lazies = plan
            .cpus
            .iter()
            .filter(|c| c.loaded == Loaded::Mm(i))
            .count() as u32;
        let owner = owner_of[i].map_or(0, |k| task_va[k]);
        let _ = m;
        write_mm(
            &mut mem,
            &mut r,
            mm_alloc[i].mm_va,
            pob + mm_alloc[i].pgd_pa,
            users,
            1 + lazies,
            owner,
        );
    }

    // ---- struct pages and pgd_list ----
    let o_lru = match plan.pgd_owner {
        PgdOwner::Ptdesc => l.off("ptdesc", "pt_list")?,
        _ => l.off("page", "lru")?,
    };
    let o_owner_mm = match plan.pgd_owner {
        PgdOwner::PagePtMm => l.off("page", "pt_mm")?,
        PgdOwner::Ptdesc => l.off("ptdesc", "pt_mm")?,
        PgdOwner::PageIndex => l.off("page", "index")?,
    };
    let o_pflags = l.off("page", "flags")?;
    let o_refcount = l.off("page", "_refcount")?;
    // list_add() puts each new pgd at the head: newest first.
    let pgd_list_va = img.runtime(v_pgd_list);
    let mut nodes = vec![(img.pa(v_pgd_list), img.pa(v_pgd_list) + 8, pgd_list_va)];
    for (i, _) in plan.mms.iter().enumerate().rev() {
        if page_pa_of.contains_key(&i) {
            let sva = plan.vmemmap_base + (mm_alloc[i].pgd_pa / PAGE) * sz_page;
            // Through the vmemmap mapping: a struct page may straddle two
            // 4 KiB vmemmap pages that are not physically adjacent.
            let at = |mem: &PhysMem, off: u64| -> Result<u64, SynthError> {
                pg.translate(mem, init_pgd_pa, sva + off).ok_or_else(|| {
                    SynthError::Plan(format!("struct page at {sva:#x} is not mapped"))
                })
            };
            // PG_head for order-1 (PTI) pgds, plus zone bits in the top.
            let flags =
                (3u64 << 62) | (r.range(0, 4) << 54) | if plan.pti { 1 << 16 } else { 0 } | 1 << 10;
            let a = at(&mem, o_pflags)?;
            mem.write_u64(a, flags);
            let a = at(&mem, o_refcount)?;
            mem.write_u32(a, 1);
            let a = at(&mem, o_owner_mm)?;
            mem.write_u64(a, mm_alloc[i].mm_va);
            let a = at(&mem, o_lru)?;
            // lru.prev may sit on the next vmemmap page.
            let b = at(&mem, o_lru + 8)?;
            nodes.push((a, b, sva + o_lru));
        }
    }
    link_circular_split(&mut mem, &nodes);

    // ---- per-cpu contents and CPU notes ----
    let o_loaded = l.off("tlb_state", "loaded_mm")?;
    let pid_va = |pid: u32| -> u64 {
        plan.tasks
            .iter()
            .position(|t| t.pid == pid)
            .map_or(0, |k| task_va[k])
    };
    let mut cpus = Vec::new();
    for (i, c) in plan.cpus.iter().enumerate() {
        let area_pa = pc_area[i] - pob;
        let loaded_va = match c.loaded {
            Loaded::InitMm => init_mm_va,
            Loaded::Mm(m) => mm_alloc[m].mm_va,
        };
        mem.write_u64(area_pa + pc_tlb + o_loaded, loaded_va);
        let cur = c.current.map_or(idle_va[i], pid_va);
        mem.write_u64(area_pa + pc_current, cur);
        mem.write_u32(area_pa + pc_cpu_number, i as u32);
        let loaded_pgd_pa = match c.loaded {
            Loaded::InitMm => init_pgd_pa,
            Loaded::Mm(m) => mm_alloc[m].pgd_pa,
        };
        let cr3 = loaded_pgd_pa
            | u64::from(c.pcid & 0xfff)
            | if c.user_cr3 && plan.pti { 1 << 12 } else { 0 };
        let prstatus_pid = match plan.notes {
            NoteStyle::Kdump => c.current.unwrap_or(0),
            NoteStyle::Qemu => i as u32 + 1,
        };
        let rip =
            img.runtime(*func_addr.get("__schedule").unwrap_or(&stext)) + 0x10 * r.range(1, 8);
        let rsp = pob + small.alloc(0, 16)? + 0x3f00;
        cpus.push(BuiltCpu {
            prstatus_pid,
            rip,
            rsp,
            cr3,
        });
    }

    // ---- anonymous user memory: two pages of process data (a `-d 31`
    // dump leaves them out; nothing the analysis reads is there) ----
    let mut user_pages = Vec::new();
    {
        let mut ur = Rng::new(plan.seed ^ 0x05e7_da7a);
        for k in 0..2u64 {
            small.alloc(PAGE * ur.range(0, 4), PAGE)?;
            let pa = small.alloc(PAGE, PAGE)?;
            let mut page = vec![0u8; PAGE as usize];
            for (i, b) in page.iter_mut().enumerate().take(1024 + 512 * k as usize) {
                *b = (ur.next_u64() >> (i % 7)) as u8;
            }
            page[..4].copy_from_slice(b"\x7fELF");
            mem.write(pa, &page);
            user_pages.push(pa / PAGE);
        }
    }

    // ---- the kernel log ----
    let log = match &plan.log {
        Some(lp) => {
            let mut lr = Rng::new(plan.seed ^ 0x10_6b0f);
            // The crash: the walk the kernel printed, in the table the CPU ran on.
            let ending = match &plan.crash {
                Some(c) => {
                    let ci = c.cpu as usize;
                    let cp = &plan.cpus[ci];
                    let pid = cp.current.unwrap_or(0);
                    let comm = plan
                        .tasks
                        .iter()
                        .find(|t| t.pid == pid)
                        .map_or_else(|| format!("swapper/{ci}"), |t| t.comm.clone());
                    let root = match cp.loaded {
                        Loaded::InitMm => init_pgd_pa,
                        Loaded::Mm(m) => mm_alloc[m].pgd_pa,
                    };
                    let size = 0x40 * lr.range(4, 16);
                    img.sym(
                        &c.rip_function,
                        fpos,
                        size,
                        ExecSymbolKind::Func,
                        ExecSection::Text,
                    );
                    let off = 0x4 * lr.range(4, size / 4 - 1);
                    let rip = img.runtime(fpos) + off;
                    fpos += size + 0x10 * lr.range(1, 64);
                    cpus[ci].rip = rip;
                    Ending::Oops(OopsCtx {
                        fault_va: c.fault_va,
                        walk_line: walk_line(&mem, plan.levels, root, c.fault_va),
                        cpu: c.cpu,
                        pid,
                        comm,
                        rip_function: c.rip_function.clone(),
                        rip_offset: off,
                        rip_size: size,
                        rsp: cpus[ci].rsp,
                        cr3: root | u64::from(cp.pcid & 0xfff),
                        gs_base: pc_area[ci],
                    })
                }
                None => {
                    let ci = plan.cpus.iter().position(|c| c.current.is_some());
                    let (cpu, pid) =
                        ci.map_or((0, 0), |i| (i as u32, plan.cpus[i].current.unwrap_or(0)));
                    let comm = plan
                        .tasks
                        .iter()
                        .find(|t| t.pid == pid)
                        .map_or_else(|| "swapper/0".to_string(), |t| t.comm.clone());
                    Ending::Panic {
                        message: lp.panic.clone(),
                        cpu,
                        pid,
                        comm,
                    }
                }
            };
            img.sym(
                "panic",
                fpos,
                0x200,
                ExecSymbolKind::Func,
                ExecSection::Text,
            );
            let recs = compose(plan, lp.boot_lines, lp.empty_line, &ending);
            Some(build_log(
                plan, lp, &l, &mut img, &mut lr, &mut mem, &mut small, &pa_of, recs,
            )?)
        }
        None => None,
    };

    // empty_zero_page last: an all-zero page that ends a PT_LOAD run, so
    // that one segment has p_filesz < p_memsz.
    let zp = img.var(&mut r, "empty_zero_page", PAGE, PAGE, true);
    mem.touch(img.pa(zp));

    // Build-id from the plan (stable).
    let mut h = Rng::new(plan.seed ^ plan.layout_seed.rotate_left(17) ^ u64::from(plan.levels));
    let mut build_id = [0u8; 20];
    for c in build_id.chunks_mut(8) {
        let v = h.next_u64().to_le_bytes();
        c.copy_from_slice(&v[..c.len()]);
    }

    let mut sections = BTreeMap::new();
    sections.insert(ExecSection::Text, (TEXT_LINK, TEXT_SIZE));
    sections.insert(ExecSection::Data, (DATA_LINK, DATA_SIZE));
    sections.insert(ExecSection::Percpu, (pc_base_link, pc_size));
    sections.insert(ExecSection::Bss, (BSS_LINK, IMAGE_END - BSS_LINK));
    let mut syms = img.syms;
    syms.sort_by(|a, b| (a.sect, a.link, &a.name).cmp(&(b.sect, b.link, &b.name)));

    let mut m = Machine {
        mem,
        syms,
        layouts: l,
        init_pgd_pa,
        init_pgd_va,
        init_entries,
        tables,
        cpus,
        build_id,
        vmcoreinfo: String::new(),
        task_va,
        init_task_va,
        init_mm_va,
        sections,
        log,
        user_pages,
    };
    m.vmcoreinfo = vmcoreinfo(plan, &m)?;
    Ok(m)
}

/// The kernel log as built: what a reader must find.
#[derive(Debug, Clone)]
pub struct BuiltLog {
    pub format: LogFormat,
    /// Records still in the buffer, oldest first.
    pub survivors: Vec<Stored>,
    /// Records printed since boot (the first survivor may be later).
    pub printed: u64,
    /// The buffer wrapped: older records are gone (prb: ids and data
    /// positions past the first wrap; log_buf: a wrap marker).
    pub wrapped: bool,
    /// prb: a surviving data block wraps around the end of the text ring.
    pub wrapping_block: bool,
    /// VMCOREINFO lines for the buffer (empty when the plan leaves them out).
    pub vmcoreinfo: Vec<String>,
    /// `prb` (or `log_buf`) variable, runtime address.
    pub pointer_va: u64,
}

/// Allocates the printk buffer's variables and arrays and stores `recs`.
#[allow(clippy::too_many_arguments)]
fn build_log(
    plan: &Plan,
    lp: &LogPlan,
    l: &Layouts,
    img: &mut Image,
    lr: &mut Rng,
    mem: &mut PhysMem,
    small: &mut RamAlloc,
    pa_of: &dyn Fn(u64) -> u64,
    recs: Vec<Rec>,
) -> Result<BuiltLog, SynthError> {
    let printed = recs.len() as u64;
    let mut vi: Vec<String> = Vec::new();
    match lp.format {
        LogFormat::Prb => {
            check(release_at_least(&plan.osrelease, 5, 10), || {
                "the prb ring buffer needs a 5.10+ osrelease".into()
            })?;
            check(
                (3..=16).contains(&lp.count_bits) && (9..=20).contains(&lp.size_bits),
                || "count_bits 3..=16, size_bits 9..=20".into(),
            )?;
            let rb_size = l.size("printk_ringbuffer")?;
            let ds = l.size("prb_desc")?;
            let is = l.size("printk_info")?;
            let v_prb = img.var(lr, "prb", 8, 8, false);
            let v_static = img.var(lr, "printk_rb_static", rb_size, 64, false);
            // The static ring's arrays (_DEFINE_PRINTKRB): with log_buf_len=
            // the kernel moved to a dynamic ring and the static one keeps its
            // bootstrap state in this model.
            let (scb, ssb) = if lp.dynamic {
                (7, 12)
            } else {
                (lp.count_bits, lp.size_bits)
            };
            let v_sdescs = img.var(lr, "_printk_rb_static_descs", ds << scb, 64, false);
            let v_sinfos = img.var(lr, "_printk_rb_static_infos", is << scb, 64, false);
            let v_logbuf = img.var(lr, "__log_buf", 1 << ssb, 64, true);
            let v_log_buf_ptr = img.var(lr, "log_buf", 8, 8, false);
            let v_log_buf_len = img.var(lr, "log_buf_len", 4, 4, false);
            let v_clear = img.var(lr, "clear_seq", 24, 8, true);
            let v_dynamic = img.var(lr, "printk_rb_dynamic", rb_size, 64, true);
            let rt = |v: u64| img.runtime(v);
            let static_place = PrbPlace {
                rb: rt(v_static),
                descs: rt(v_sdescs),
                infos: rt(v_sinfos),
                data: rt(v_logbuf),
                count_bits: scb,
                size_bits: ssb,
            };
            let (place, out) = if lp.dynamic {
                write_prb(mem, pa_of, l, &static_place, &[])?;
                let pob = plan.page_offset_base;
                let data = pob + small.alloc(1 << lp.size_bits, PAGE)?;
                let descs = pob + small.alloc(ds << lp.count_bits, PAGE)?;
                let infos = pob + small.alloc(is << lp.count_bits, PAGE)?;
                let place = PrbPlace {
                    rb: rt(v_dynamic),
                    descs,
                    infos,
                    data,
                    count_bits: lp.count_bits,
                    size_bits: lp.size_bits,
                };
                (place, write_prb(mem, pa_of, l, &place, &recs)?)
            } else {
                (
                    static_place,
                    write_prb(mem, pa_of, l, &static_place, &recs)?,
                )
            };
            // Every page of the arrays is RAM the dump holds (zeros or not).
            for (va, len) in [
                (place.descs, ds << place.count_bits),
                (place.infos, is << place.count_bits),
                (place.data, 1 << place.size_bits),
            ] {
                let mut a = va & !(PAGE - 1);
                while a < va + len {
                    mem.touch(pa_of(a));
                    a += PAGE;
                }
            }
            mem.write_u64(pa_of(rt(v_prb)), place.rb);
            mem.write_u64(pa_of(rt(v_log_buf_ptr)), place.data);
            mem.write_u32(pa_of(rt(v_log_buf_len)), 1 << place.size_bits);
            mem.write_u64(pa_of(rt(v_clear)), 0);
            // kernel/printk/printk.c log_buf_vmcoreinfo_setup() (5.10+).
            let off = |s: &str, m: &str| l.off(s, m);
            vi.push(format!("SYMBOL(prb)={:x}", rt(v_prb)));
            vi.push(format!("SYMBOL(printk_rb_static)={:x}", rt(v_static)));
            vi.push(format!("SYMBOL(clear_seq)={:x}", rt(v_clear)));
            vi.push(format!("SIZE(printk_ringbuffer)={rb_size}"));
            for m in ["desc_ring", "text_data_ring", "fail"] {
                vi.push(format!(
                    "OFFSET(printk_ringbuffer.{m})={}",
                    off("printk_ringbuffer", m)?
                ));
            }
            vi.push(format!("SIZE(prb_desc_ring)={}", l.size("prb_desc_ring")?));
            for m in ["count_bits", "descs", "infos", "head_id", "tail_id"] {
                vi.push(format!(
                    "OFFSET(prb_desc_ring.{m})={}",
                    off("prb_desc_ring", m)?
                ));
            }
            vi.push(format!("SIZE(prb_desc)={ds}"));
            for m in ["state_var", "text_blk_lpos"] {
                vi.push(format!("OFFSET(prb_desc.{m})={}", off("prb_desc", m)?));
            }
            vi.push(format!(
                "SIZE(prb_data_blk_lpos)={}",
                l.size("prb_data_blk_lpos")?
            ));
            for m in ["begin", "next"] {
                vi.push(format!(
                    "OFFSET(prb_data_blk_lpos.{m})={}",
                    off("prb_data_blk_lpos", m)?
                ));
            }
            vi.push(format!("SIZE(printk_info)={is}"));
            for m in ["seq", "ts_nsec", "text_len", "caller_id", "dev_info"] {
                vi.push(format!(
                    "OFFSET(printk_info.{m})={}",
                    off("printk_info", m)?
                ));
            }
            vi.push(format!(
                "SIZE(dev_printk_info)={}",
                l.size("dev_printk_info")?
            ));
            vi.push(format!(
                "OFFSET(dev_printk_info.subsystem)={}",
                off("dev_printk_info", "subsystem")?
            ));
            vi.push("LENGTH(printk_info_subsystem)=16".into());
            vi.push(format!(
                "OFFSET(dev_printk_info.device)={}",
                off("dev_printk_info", "device")?
            ));
            vi.push("LENGTH(printk_info_device)=48".into());
            vi.push(format!("SIZE(prb_data_ring)={}", l.size("prb_data_ring")?));
            for m in ["size_bits", "data", "head_lpos", "tail_lpos"] {
                vi.push(format!(
                    "OFFSET(prb_data_ring.{m})={}",
                    off("prb_data_ring", m)?
                ));
            }
            vi.push("SIZE(atomic_long_t)=8".into());
            vi.push("OFFSET(atomic_long_t.counter)=0".into());
            if release_at_least(&plan.osrelease, 5, 14) {
                vi.push("SIZE(latched_seq)=24".into());
                vi.push("OFFSET(latched_seq.val)=8".into());
            }
            let count = 1u64 << lp.count_bits;
            let desc0 = 0u64.wrapping_sub(count + 1) & !(3u64 << 62);
            let wrapped = out.dropped > 0 || out.head_id.wrapping_sub(desc0) >= count;
            Ok(BuiltLog {
                format: lp.format,
                survivors: out.survivors,
                printed,
                wrapped,
                wrapping_block: out.wrapping_block,
                vmcoreinfo: if lp.in_vmcoreinfo { vi } else { Vec::new() },
                pointer_va: rt(v_prb),
            })
        }
        LogFormat::LogBuf => {
            check(!release_at_least(&plan.osrelease, 5, 10), || {
                "log_buf is the format of kernels before 5.10".into()
            })?;
            check((10..=20).contains(&lp.size_bits), || {
                "log_buf size_bits 10..=20".into()
            })?;
            let len = 1u64 << lp.size_bits;
            let v_buf = img.var(lr, "__log_buf", len, 8, true);
            let v_ptr = img.var(lr, "log_buf", 8, 8, false);
            let v_len = img.var(lr, "log_buf_len", 4, 4, false);
            let v_first_seq = img.var(lr, "log_first_seq", 8, 8, true);
            let v_first_idx = img.var(lr, "log_first_idx", 4, 4, true);
            let v_next_seq = img.var(lr, "log_next_seq", 8, 8, true);
            let v_next_idx = img.var(lr, "log_next_idx", 4, 4, true);
            let v_clear_seq = img.var(lr, "clear_seq", 8, 8, true);
            let v_clear_idx = img.var(lr, "clear_idx", 4, 4, true);
            let rt = |v: u64| img.runtime(v);
            let out = write_log_buf(mem, pa_of, rt(v_buf), len, &recs)?;
            mem.write_u64(pa_of(rt(v_ptr)), rt(v_buf));
            mem.write_u32(pa_of(rt(v_len)), len as u32);
            mem.write_u64(pa_of(rt(v_first_seq)), out.first_seq);
            mem.write_u32(pa_of(rt(v_first_idx)), out.first_idx);
            mem.write_u64(pa_of(rt(v_next_seq)), out.next_seq);
            mem.write_u32(pa_of(rt(v_next_idx)), out.next_idx);
            mem.write_u64(pa_of(rt(v_clear_seq)), 0);
            mem.write_u32(pa_of(rt(v_clear_idx)), 0);
            // kernel/printk/printk.c log_buf_vmcoreinfo_setup() (3.11-5.9).
            vi.push(format!("SYMBOL(log_buf)={:x}", rt(v_ptr)));
            vi.push(format!("SYMBOL(log_buf_len)={:x}", rt(v_len)));
            vi.push(format!("SYMBOL(log_first_idx)={:x}", rt(v_first_idx)));
            vi.push(format!("SYMBOL(clear_idx)={:x}", rt(v_clear_idx)));
            vi.push(format!("SYMBOL(log_next_idx)={:x}", rt(v_next_idx)));
            vi.push(format!("SIZE(printk_log)={}", l.size("printk_log")?));
            for m in ["ts_nsec", "len", "text_len", "dict_len", "caller_id"] {
                vi.push(format!(
                    "OFFSET(printk_log.{m})={}",
                    l.off("printk_log", m)?
                ));
            }
            Ok(BuiltLog {
                format: lp.format,
                printed,
                wrapped: out.wrapped,
                wrapping_block: false,
                survivors: out.survivors,
                vmcoreinfo: if lp.in_vmcoreinfo { vi } else { Vec::new() },
                pointer_va: rt(v_ptr),
            })
        }
    }
}

fn vmcoreinfo(plan: &Plan, m: &Machine) -> Result<String, SynthError> {
    use std::fmt::Write;
    let l = &m.layouts;
    let rt = |name: &str| m.sym(name).map(|s| s.link.wrapping_add(plan.kaslr_offset));
    let stext = rt("_stext").ok_or_else(|| SynthError::Plan("no _stext".into()))?;
    let mut s = String::new();
    let bid: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
    let _ = writeln!(s, "OSRELEASE={}", plan.osrelease);
    let _ = writeln!(s, "BUILD-ID={bid}");
    let _ = writeln!(s, "PAGESIZE=4096");
    let _ = writeln!(s, "SYMBOL(swapper_pg_dir)={:x}", m.init_pgd_va);
    let _ = writeln!(s, "SYMBOL(_stext)={stext:x}");
    let _ = writeln!(s, "SIZE(page)={}", l.size("page")?);
    let _ = writeln!(s, "SIZE(list_head)=16");
    let _ = writeln!(s, "OFFSET(page.flags)={}", l.off("page", "flags")?);
    let _ = writeln!(s, "OFFSET(page._refcount)={}", l.off("page", "_refcount")?);
    let _ = writeln!(s, "OFFSET(page.mapping)={}", l.off("page", "mapping")?);
    let _ = writeln!(s, "OFFSET(page.lru)={}", l.off("page", "lru")?);
    let _ = writeln!(s, "OFFSET(list_head.next)=0");
    let _ = writeln!(s, "OFFSET(list_head.prev)=8");
    let _ = writeln!(s, "NUMBER(phys_base)={}", plan.phys_base as i64);
    let _ = writeln!(s, "SYMBOL(init_top_pgt)={:x}", m.init_pgd_va);
    if plan.l5_in_vmcoreinfo {
        let _ = writeln!(
            s,
            "NUMBER(pgtable_l5_enabled)={}",
            u8::from(plan.levels == 5)
        );
    }
    let _ = writeln!(s, "KERNELOFFSET={:x}", plan.kaslr_offset);
    let _ = writeln!(s, "NUMBER(KERNEL_IMAGE_SIZE)={}", GIB);
    let _ = writeln!(s, "NUMBER(sme_mask)=0");
    if let Some(log) = &m.log {
        for line in &log.vmcoreinfo {
            let _ = writeln!(s, "{line}");
        }
    }
    let _ = writeln!(s, "CRASHTIME={}", 1_700_000_000 + plan.seed % 10_000_000);
    Ok(s)
}
