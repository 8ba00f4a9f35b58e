//! Reads back what the builder wrote WITHOUT the product's analyzer: the
//! vmcore through `dump::open` + `paging::walk`, the vmlinux through
//! `object` and a small gimli walk written here.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use object::{Object, ObjectSection, ObjectSymbol};

use super::kernel::Machine;
use super::plan::{MmRole, PgdOwner, Plan, scenarios};
use super::{build_with_machine, random_plan};
use pgsync_dump::arch::x86_64::paging::{PagingMode, WalkOutcome, walk};
use pgsync_dump::arch::x86_64::{PhysAddr, VirtAddr};
use pgsync_dump::dump::{self, PhysicalMemoryExt};

/// Every DIE of interest, flattened (tag, name, size, member offset, type ref, children).
#[derive(Debug, Default, Clone)]
struct Die {
    tag: u16,
    name: Option<String>,
    byte_size: Option<u64>,
    location: Option<u64>,
    type_ref: Option<usize>,
    declaration: bool,
    children: Vec<usize>,
}

/// An independent DWARF reader: struct name -> (size, flattened member offsets).
fn dwarf_structs(vmlinux: &[u8]) -> BTreeMap<String, (u64, BTreeMap<String, u64>)> {
    let obj = object::File::parse(vmlinux).expect("vmlinux parses");
    let load = |id: gimli::SectionId| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(obj
            .section_by_name(id.name())
            .map(|s| s.uncompressed_data().expect("section data"))
            .unwrap_or(Cow::Borrowed(&[])))
    };
    let sections = gimli::DwarfSections::load(load).expect("load");
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, gimli::LittleEndian));
    let mut out = BTreeMap::new();
    let mut units = dwarf.units();
    while let Some(h) = units.next().expect("unit header") {
        let unit = dwarf.unit(h).expect("unit");
        let mut dies: Vec<Die> = Vec::new();
        let mut by_off: BTreeMap<usize, usize> = BTreeMap::new();
        let mut stack: Vec<(isize, usize)> = Vec::new();
        let mut cur = unit.entries();
        while let Some(e) = cur.next_dfs().expect("dfs") {
            let depth = e.depth();
            let mut d = Die {
                tag: e.tag().0,
                ..Die::default()
            };
            if let Some(v) = e.attr_value(gimli::DW_AT_name) {
                d.name = Some(
                    dwarf
                        .attr_string(&unit, v)
                        .expect("name")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            d.byte_size = e
                .attr_value(gimli::DW_AT_byte_size)
                .and_then(|v| v.udata_value());
            d.location = e
                .attr_value(gimli::DW_AT_data_member_location)
                .and_then(|v| v.udata_value());
            if let Some(gimli::AttributeValue::UnitRef(o)) = e.attr_value(gimli::DW_AT_type) {
                d.type_ref = Some(o.0);
            }
            d.declaration = e.attr_value(gimli::DW_AT_declaration).is_some();
            let idx = dies.len();
            by_off.insert(e.offset().0, idx);
            while stack.last().is_some_and(|&(dep, _)| dep >= depth) {
                stack.pop();
            }
            if let Some(&(_, p)) = stack.last() {
                dies[p].children.push(idx);
            }
            stack.push((depth, idx));
            dies.push(d);
        }
        fn strip(dies: &[Die], by_off: &BTreeMap<usize, usize>, mut i: usize) -> usize {
            // Typedefs are looked through.
            while dies[i].tag == gimli::DW_TAG_typedef.0 {
                i = by_off[&dies[i].type_ref.expect("typedef target")];
            }
            i
        }
        fn members(
            dies: &[Die],
            by_off: &BTreeMap<usize, usize>,
            s: usize,
            base: u64,
            out: &mut BTreeMap<String, u64>,
        ) {
            for &c in &dies[s].children {
                let m = &dies[c];
                if m.tag != gimli::DW_TAG_member.0 {
                    continue;
                }
                let off = base + m.location.unwrap_or(0);
                match &m.name {
                    Some(n) => {
                        out.entry(n.clone()).or_insert(off);
                    }
                    None => {
                        let t = strip(dies, by_off, by_off[&m.type_ref.expect("anon type")]);
                        members(dies, by_off, t, off, out);
                    }
                }
            }
        }
        for (i, d) in dies.iter().enumerate() {
            let is_struct = d.tag == gimli::DW_TAG_structure_type.0;
            if let (true, Some(n), false) = (is_struct, &d.name, d.declaration) {
                let mut m = BTreeMap::new();
                members(&dies, &by_off, i, 0, &mut m);
                out.insert(n.clone(), (d.byte_size.expect("size"), m));
            }
        }
    }
    out
}

fn symbols(vmlinux: &[u8]) -> BTreeMap<String, u64> {
    let obj = object::File::parse(vmlinux).expect("vmlinux parses");
    obj.symbols()
        .map(|s| (s.name().expect("name").to_string(), s.address()))
        .collect()
}

struct Reader {
    dump: dump::CrashDump,
    mode: PagingMode,
    root: u64,
}

impl Reader {
    fn pa(&self, va: u64) -> PhysAddr {
        let w = walk(
            self.dump.memory(),
            self.mode,
            0,
            PhysAddr::new(self.root),
            VirtAddr::new(va),
        );
        match w.outcome {
            WalkOutcome::Mapped { pa, .. } => pa,
            o => panic!("{va:#x} does not translate: {o:?}"),
        }
    }
    fn u64(&self, va: u64) -> u64 {
        self.dump.memory().read_u64(self.pa(va)).expect("read")
    }
    fn u32(&self, va: u64) -> u32 {
        let mut b = [0u8; 4];
        self.dump.memory().read(self.pa(va), &mut b).expect("read");
        u32::from_le_bytes(b)
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgsync-synth-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp");
    d
}

/// Struct name -> (size, flattened member offsets), as [`dwarf_structs`] reads them.
type Structs = BTreeMap<String, (u64, BTreeMap<String, u64>)>;

/// What one plan's read-back checks share: the plan, the machine the
/// builder made, the dump reader, and the vmlinux's symbols and structs.
struct ReadBack<'a> {
    plan: &'a Plan,
    m: &'a Machine,
    r: Reader,
    root_va: u64,
    syms: BTreeMap<String, u64>,
    types: Structs,
}

impl ReadBack<'_> {
    /// Runtime address of an image symbol.
    fn rt(&self, n: &str) -> u64 {
        self.syms[n].wrapping_add(self.plan.kaslr_offset)
    }

    /// A member offset from the DWARF.
    fn off(&self, s: &str, f: &str) -> u64 {
        *self
            .types
            .get(s)
            .unwrap_or_else(|| panic!("no struct {s}"))
            .1
            .get(f)
            .unwrap_or_else(|| panic!("no {s}.{f}"))
    }

    /// The text map translates through the walk like the arithmetic, and
    /// the variables hold the plan's values.
    fn check_image_variables(&self) {
        let (plan, r) = (self.plan, &self.r);
        for n in [
            "init_mm",
            "init_task",
            "page_offset_base",
            "pgd_list",
            "__per_cpu_offset",
            "_stext",
        ] {
            assert_eq!(
                r.pa(self.rt(n)).get(),
                self.rt(n) - 0xffff_ffff_8000_0000 + plan.phys_base,
                "{n}"
            );
        }
        if plan.pgd_symbols {
            assert_eq!(self.rt("init_top_pgt"), self.root_va);
        }
        assert_eq!(r.u64(self.rt("page_offset_base")), plan.page_offset_base);
        assert_eq!(r.u64(self.rt("vmalloc_base")), plan.vmalloc_base);
        assert_eq!(r.u64(self.rt("vmemmap_base")), plan.vmemmap_base);
        assert_eq!(r.u64(self.rt("max_pfn")), plan.ram_bytes / 4096);
        assert_eq!(r.u32(self.rt("nr_cpu_ids")) as usize, plan.cpus.len());
        if let Some(&a) = self.syms.get("__pgtable_l5_enabled") {
            assert_eq!(r.u32(a + plan.kaslr_offset), u32::from(plan.levels == 5));
        }
    }

    /// Struct layouts, read with gimli, agree with the builder's.
    fn check_layouts(&self) {
        let (plan, m, types) = (self.plan, self.m, &self.types);
        for (s, f) in [
            ("task_struct", "pid"),
            ("task_struct", "tasks"),
            ("task_struct", "comm"),
            ("mm_struct", "pgd"),
            ("page", "lru"),
        ] {
            assert_eq!(
                self.off(s, f),
                m.layouts.off(s, f).expect("layout"),
                "{s}.{f}"
            );
        }
        assert_eq!(types["page"].0, m.layouts.size("page").expect("size"));
        assert_eq!(
            types.contains_key("ptdesc"),
            plan.pgd_owner == PgdOwner::Ptdesc
        );
        assert_eq!(
            types["page"].1.contains_key("pt_mm"),
            plan.pgd_owner == PgdOwner::PagePtMm
        );
        // init_mm.pgd -> init_top_pgt.
        assert_eq!(
            self.r
                .u64(self.rt("init_mm") + self.off("mm_struct", "pgd")),
            self.root_va
        );
    }

    /// Walks pgd_list through the vmemmap, with offsets from DWARF: each
    /// node's mm points at the pgd of its page, and the list holds exactly
    /// the tables on it.
    fn check_pgd_list(&self) {
        let (plan, r) = (self.plan, &self.r);
        let (lru, owner) = match plan.pgd_owner {
            PgdOwner::PagePtMm => (self.off("page", "lru"), self.off("page", "pt_mm")),
            PgdOwner::Ptdesc => (self.off("ptdesc", "pt_list"), self.off("ptdesc", "pt_mm")),
            PgdOwner::PageIndex => (self.off("page", "lru"), self.off("page", "index")),
        };
        let page_size = self.types["page"].0;
        let head = self.rt("pgd_list");
        let mut node = r.u64(head);
        let mut seen = BTreeSet::new();
        while node != head {
            let page = node - lru;
            let pfn = (page - plan.vmemmap_base) / page_size;
            let mm = r.u64(page + owner);
            // The pgd in the direct map, and mm->pgd pointing at it.
            let pgd_va = plan.page_offset_base + pfn * 4096;
            assert_eq!(r.u64(mm + self.off("mm_struct", "pgd")), pgd_va);
            seen.insert(mm);
            // next->prev comes back here.
            assert_eq!(r.u64(r.u64(node) + 8), node);
            node = r.u64(node);
            assert!(seen.len() <= plan.mms.len(), "pgd_list loops");
        }
        let on_list: BTreeSet<u64> = self
            .m
            .tables
            .iter()
            .filter(|t| t.on_pgd_list)
            .map(|t| t.mm_va)
            .collect();
        assert_eq!(seen, on_list);
    }

    /// The tasks list from init_task: the leaders in plan order, each with
    /// its flags and mm.
    fn check_tasks_list(&self) {
        let (plan, r) = (self.plan, &self.r);
        let o_tasks = self.off("task_struct", "tasks");
        let init_task = self.rt("init_task");
        let mut t = r.u64(init_task + o_tasks) - o_tasks;
        let mut leaders = Vec::new();
        while t != init_task {
            let pid = r.u32(t + self.off("task_struct", "pid"));
            let mm = r.u64(t + self.off("task_struct", "mm"));
            let flags = r.u32(t + self.off("task_struct", "flags"));
            let p = plan.tasks.iter().find(|x| x.pid == pid).expect("known pid");
            assert_eq!(flags & 0x0020_0000 != 0, p.kthread);
            assert_eq!(mm, p.mm.map_or(0, |i| self.m.tables[i].mm_va));
            leaders.push(pid);
            t = r.u64(t + o_tasks) - o_tasks;
        }
        let want: Vec<u32> = plan
            .tasks
            .iter()
            .filter(|x| x.pid == x.tgid)
            .map(|x| x.pid)
            .collect();
        assert_eq!(leaders, want);
    }

    /// Per-cpu: cpu_tlbstate.loaded_mm and current_task for each CPU.
    fn check_percpu(&self) {
        let (plan, r) = (self.plan, &self.r);
        let pcpu = |n: &str| {
            self.syms[n].wrapping_add(if plan.percpu == super::PercpuScheme::Relative {
                plan.kaslr_offset
            } else {
                0
            })
        };
        for (i, c) in plan.cpus.iter().enumerate() {
            let offset = r.u64(self.rt("__per_cpu_offset") + 8 * i as u64);
            let loaded = r.u64(
                pcpu("cpu_tlbstate").wrapping_add(offset) + self.off("tlb_state", "loaded_mm"),
            );
            let want = match c.loaded {
                super::Loaded::InitMm => self.rt("init_mm"),
                super::Loaded::Mm(k) => self.m.tables[k].mm_va,
            };
            assert_eq!(loaded, want, "cpu {i}");
            let cur = r.u64(pcpu("current_task").wrapping_add(offset));
            if let Some(pid) = c.current {
                assert_eq!(r.u32(cur + self.off("task_struct", "pid")), pid);
            }
        }
    }

    /// Top-level entries in the dump equal what expected.json was derived from.
    fn check_top_level_entries(&self) {
        let r = &self.r;
        for tb in &self.m.tables {
            let mut b = [0u8; 8];
            let res = r.dump.memory().read(PhysAddr::new(tb.pgd_pa), &mut b);
            if !tb.in_dump {
                assert!(res.is_err());
                continue;
            }
            for s in 256..512u64 {
                assert_eq!(
                    r.dump
                        .memory()
                        .read_u64(PhysAddr::new(tb.pgd_pa + 8 * s))
                        .expect("pgd"),
                    tb.entries[s as usize]
                );
            }
            if tb.role == MmRole::Efi {
                assert!(!tb.on_pgd_list);
            }
        }
    }
}

/// Opens the vmcore with pgsync-dump's reader and checks what its headers
/// and VMCOREINFO say; returns a reader walking init_top_pgt and its VA.
fn open_dump(plan: &Plan, vmcore: &[u8], m: &Machine) -> (Reader, u64) {
    let dir = tmpdir(&plan.name);
    let core = dir.join("vmcore");
    std::fs::write(&core, vmcore).expect("write");
    let d = dump::open(std::slice::from_ref(&core)).expect("vmcore opens");
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    assert_eq!(d.cpus().len(), plan.cpus.len());
    let vi = d.vmcoreinfo().cloned().expect("VMCOREINFO");
    assert_eq!(vi.kerneloffset, Some(plan.kaslr_offset));
    assert_eq!(vi.number("phys_base"), Some(plan.phys_base as i64));
    assert_eq!(vi.page_size, Some(4096));
    let bid: String = m.build_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(vi.build_id.as_deref(), Some(bid.as_str()));
    let root_va = vi.symbol("init_top_pgt").expect("SYMBOL(init_top_pgt)");
    assert_eq!(vi.symbol("swapper_pg_dir"), Some(root_va));
    // __pa_symbol: text map arithmetic.
    let root = root_va - 0xffff_ffff_8000_0000 + plan.phys_base;
    let mode = if plan.levels == 5 {
        PagingMode::FiveLevel
    } else {
        PagingMode::FourLevel
    };
    std::fs::remove_dir_all(&dir).ok();
    (
        Reader {
            dump: d,
            mode,
            root,
        },
        root_va,
    )
}

/// Checks one plan end to end through outside readers.
fn read_back(plan: &Plan) {
    let (built, m) = build_with_machine(plan).unwrap_or_else(|e| panic!("{}: {e}", plan.name));
    let (r, root_va) = open_dump(plan, &built.vmcore, &m);
    let rb = ReadBack {
        plan,
        m: &m,
        r,
        root_va,
        syms: symbols(&built.vmlinux),
        types: dwarf_structs(&built.vmlinux),
    };
    rb.check_image_variables();
    rb.check_layouts();
    rb.check_pgd_list();
    rb.check_tasks_list();
    rb.check_percpu();
    rb.check_top_level_entries();
}

#[test]
fn scenarios_read_back_through_outside_readers() {
    for plan in scenarios() {
        read_back(&plan);
    }
}

#[test]
fn random_plans_read_back() {
    for seed in 0..40 {
        read_back(&random_plan(seed));
    }
}
