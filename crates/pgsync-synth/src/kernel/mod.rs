//! Lays out the synthetic kernel: the image (variables, init_mm, init_task,
//! the kernel page table), objects in the direct map (tasks, mms, signal
//! structs, pgds, per-cpu areas), struct pages in the vmemmap, and the
//! symbols and VMCOREINFO that describe them. Everything is written through
//! the [`Layouts`] the DWARF is made from.
//!
//! [`build_machine`] runs the steps in a fixed order over one `Builder`
//! (the random stream, the memory, the image and the allocators they
//! share); each step lives with its concern: `image` (symbols and
//! variables), `page_tables` (init_mm's table, the text map, KASAN, the
//! vmemmap, process tables), `tasks` (task_structs, signal structs,
//! mm_structs), `percpu` (per-CPU areas and CPU notes), `pgd_list` (struct
//! pages of the pgds), `log` (the printk buffer), `vmcoreinfo`.

mod dump_debuginfo;
mod image;
mod log;
mod page_tables;
mod percpu;
mod pgd_list;
mod tasks;
mod validate;
mod vmcoreinfo;

use std::collections::BTreeMap;

pub use pgsync_dump::arch::x86_64::layout::START_KERNEL_MAP;
use pgsync_dump::write::elf::{ExecSection, ExecSymbol};

use super::SynthError;
use super::layouts::{self, Layouts};
use super::memory::*;
use super::plan::{MmRole, Plan};
use super::rng::Rng;

use image::Image;
pub use log::BuiltLog;
use validate::{check, validate};

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
    /// The kallsyms tables' VMCOREINFO entries, or the System.map that
    /// stands in for them.
    pub dump_debuginfo: dump_debuginfo::DumpDebugInfo,
}

impl Machine {
    pub fn sym(&self, name: &str) -> Option<&ExecSymbol> {
        self.syms.iter().find(|s| s.name == name)
    }
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

/// Builds the whole machine. The steps draw from one random stream in this
/// order, so the order is part of every fixture's bytes.
pub fn build_machine(plan: &Plan) -> Result<Machine, SynthError> {
    validate(plan)?;
    let mut b = Builder::new(plan)?;
    let mut text = b.text_symbols();
    let vars = b.kernel_variables();
    let percpu = b.percpu_areas(&vars)?;
    let mms = b.allocate_mms(&vars)?;
    b.map_init_mm(vars.init_pgd_pa)?;
    b.map_kernel_text(&vars)?;
    if plan.kasan {
        b.map_kasan_shadow(vars.init_pgd_pa);
    }
    b.map_vmemmap(vars.init_pgd_pa, &mms)?;
    let init_entries = b.init_entries(vars.init_pgd_pa);
    let tables = b.process_tables(&init_entries, &mms)?;
    let tasks = b.tasks(&vars, &mms)?;
    b.mm_structs(&vars, &mms, &tasks.task_va)?;
    b.pgd_list(&vars, &mms)?;
    let mut cpus = b.cpu_states(&vars, &percpu, &mms, &tasks, &text)?;
    let user_pages = b.user_pages()?;
    let log = b.kernel_log(&vars, &percpu, &mms, &mut text, &mut cpus)?;
    let built = Built {
        vars,
        percpu_section: (percpu.base_link, percpu.size),
        init_entries,
        tables,
        cpus,
        task_va: tasks.task_va,
        log,
        user_pages,
    };
    b.finish(built)
}

/// Sizes of the objects the builder allocates, from the layouts.
struct Sizes {
    page: u64,
    mm: u64,
    task: u64,
    signal: u64,
    tlb: u64,
    /// One page, two with PTI (the user copy).
    pgd: u64,
}

/// Where one planned mm and its pgd went (addresses first, contents later).
struct MmAlloc {
    mm_va: u64,
    pgd_pa: u64,
}

/// The state every step shares: the plan, its random stream, the struct
/// layouts, the physical memory, the image being linked and the RAM
/// allocators (`small` for objects and tables, `huge` for 2 MiB vmemmap
/// frames).
struct Builder<'p> {
    plan: &'p Plan,
    r: Rng,
    l: Layouts,
    pg: Paging,
    /// page_offset_base: the direct map.
    pob: u64,
    mem: PhysMem,
    img: Image,
    small: RamAlloc,
    huge: RamAlloc,
    sizes: Sizes,
}

/// What the steps produced, for [`Builder::finish`].
struct Built {
    vars: image::Variables,
    percpu_section: (u64, u64),
    init_entries: Vec<u64>,
    tables: Vec<BuiltTable>,
    cpus: Vec<BuiltCpu>,
    task_va: Vec<u64>,
    log: Option<BuiltLog>,
    user_pages: Vec<u64>,
}

impl<'p> Builder<'p> {
    fn new(plan: &'p Plan) -> Result<Builder<'p>, SynthError> {
        let mut r = Rng::new(plan.seed);
        let l = layouts::generate(plan)?;
        let img = Image::new(plan.kaslr_offset, plan.phys_base);
        let image_pa = img.pa(TEXT_LINK);
        let image_end_pa = img.pa(IMAGE_END);
        check(image_end_pa <= plan.ram_bytes, || {
            "the kernel image does not fit in RAM".into()
        })?;
        let sizes = Sizes {
            page: l.size("page")?,
            mm: l.size("mm_struct")?,
            task: l.size("task_struct")?,
            signal: l.size("signal_struct")?,
            tlb: l.size("tlb_state")?,
            pgd: if plan.pti { 2 * PAGE } else { PAGE },
        };

        // RAM for direct-map objects and page tables: after the image when
        // there is room, else below it. 256 MiB unless the plan needs more
        // (large benchmark plans): the first half holds objects and tables,
        // the second 2 MiB vmemmap frames.
        let region = object_region(plan, &sizes);
        let start = if image_end_pa + MIB2 * 8 + region <= plan.ram_bytes {
            (image_end_pa.div_ceil(MIB2) + r.range(1, 8)) * MIB2
        } else if image_pa >= region + (64 << 20) {
            (64 << 20) + r.range(0, 8) * MIB2
        } else {
            return Err(SynthError::Plan("no room in RAM for objects".into()));
        };
        Ok(Builder {
            plan,
            r,
            l,
            pg: Paging {
                levels: plan.levels,
            },
            pob: plan.page_offset_base,
            mem: PhysMem::default(),
            img,
            small: RamAlloc::new(start, start + region / 2),
            huge: RamAlloc::new(start + region / 2, start + region),
            sizes,
        })
    }

    /// Physical address of a direct-map or kernel-image address.
    fn pa_of(&self, va: u64) -> u64 {
        direct_pa(self.plan, va)
    }

    /// Anonymous user memory: two pages of process data (a `-d 31` dump
    /// leaves them out; nothing the analysis reads is there). Draws from its
    /// own random stream.
    fn user_pages(&mut self) -> Result<Vec<u64>, SynthError> {
        let mut user_pages = Vec::new();
        let mut ur = Rng::new(self.plan.seed ^ 0x05e7_da7a);
        for k in 0..2u64 {
            self.small.alloc(PAGE * ur.range(0, 4), PAGE)?;
            let pa = self.small.alloc(PAGE, PAGE)?;
            let mut page = vec![0u8; PAGE as usize];
            for (i, b) in page.iter_mut().enumerate().take(1024 + 512 * k as usize) {
                *b = (ur.next_u64() >> (i % 7)) as u8;
            }
            page[..4].copy_from_slice(b"\x7fELF");
            self.mem.write(pa, &page);
            user_pages.push(pa / PAGE);
        }
        Ok(user_pages)
    }

    /// The last image variable, the build-id, the sections, the sorted
    /// symbols and VMCOREINFO.
    fn finish(mut self, built: Built) -> Result<Machine, SynthError> {
        let plan = self.plan;
        // empty_zero_page last: an all-zero page that ends a PT_LOAD run, so
        // that one segment has p_filesz < p_memsz.
        let zp = self
            .img
            .var(&mut self.r, "empty_zero_page", PAGE, PAGE, true);
        self.mem.touch(self.img.pa(zp));

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
        sections.insert(ExecSection::Percpu, built.percpu_section);
        sections.insert(ExecSection::Bss, (BSS_LINK, IMAGE_END - BSS_LINK));
        let mut syms = self.img.into_symbols();
        let dump_debuginfo = dump_debuginfo::place(plan, &self.l, &mut self.mem, &mut syms)?;
        syms.sort_by(|a, b| (a.sect, a.link, &a.name).cmp(&(b.sect, b.link, &b.name)));

        let mut m = Machine {
            mem: self.mem,
            syms,
            layouts: self.l,
            init_pgd_pa: built.vars.init_pgd_pa,
            init_pgd_va: built.vars.init_pgd_va,
            init_entries: built.init_entries,
            tables: built.tables,
            cpus: built.cpus,
            build_id,
            vmcoreinfo: String::new(),
            task_va: built.task_va,
            init_task_va: built.vars.init_task_va,
            init_mm_va: built.vars.init_mm_va,
            sections,
            log: built.log,
            user_pages: built.user_pages,
            dump_debuginfo,
        };
        m.vmcoreinfo = vmcoreinfo::vmcoreinfo(plan, &m)?;
        Ok(m)
    }
}

/// Physical address of `va` in the direct map or the kernel image.
fn direct_pa(plan: &Plan, va: u64) -> u64 {
    if va >= START_KERNEL_MAP {
        va.wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(plan.phys_base)
    } else {
        va - plan.page_offset_base
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
fn object_region(plan: &Plan, sizes: &Sizes) -> u64 {
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
    let need = mms * (2 * sizes.pgd + 3 * PAGE + slack(sizes.mm))
        + tasks * slack(sizes.task)
        + leaders * slack(sizes.signal)
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
