//! `extract`: a minimal, self-contained reproduction of one analysis. The
//! analysis runs once more with every physical read recorded; the result is
//! an ELF vmcore holding only those pages (every other page stays "not in
//! dump"), the dump's notes (VMCOREINFO, per-CPU PRSTATUS and CR3), and a
//! small vmlinux whose symbols and DWARF carry exactly the layouts the
//! analysis used, with the original's build-id. `analyze` on it gives the
//! same result as on the original: users attach it to bug reports instead of
//! a multi-GB dump.

use std::collections::BTreeMap;

use crate::analysis::{self, AnalysisError, RunError};
use crate::debuginfo::{DebugInfo, SymbolKind, TypeError, Vmlinux};
use crate::dump::recording::RecordingMemory;
use crate::dump::{CrashDump, PhysAddr};
use crate::kernel::offsets::{Offsets, PgdListLinkage, ThreadLink};
use crate::kernel::{Kernel, KernelError};
use crate::model::mask::SyncMask;
use crate::write::WriteError;
use crate::write::elf::{
    ExecImage, ExecSection, ExecSymbol, ExecSymbolKind, write_core, write_exec,
};
use crate::write::layout::{Base, Layouts, MemberDef, StructDef, Ty};
use crate::write::notes::{note, prstatus, qemu_cpu_state};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error(transparent)]
    Type(#[from] TypeError),
    #[error("writing the reproduction")]
    Write(#[from] WriteError),
    #[error("{0}")]
    Other(String),
}

/// The reproduction's files and what went into them.
pub struct Extracted {
    pub vmcore: Vec<u8>,
    /// The minimal vmlinux; `None` when the analysis ran on the dump's own
    /// kallsyms and BTF, which the vmcore then keeps.
    pub vmlinux: Option<Vec<u8>>,
    /// Pages of physical memory kept.
    pub pages: usize,
}

/// The file format of the reproduction's vmcore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReproFormat {
    /// An ELF core (what QEMU and /proc/vmcore give).
    #[default]
    Elf,
    /// kdump-compressed with zlib pages (what `makedumpfile -c` writes).
    KdumpZlib,
}

/// [`extract_as`] an ELF vmcore.
pub fn extract<'d>(
    dump: &'d CrashDump,
    debuginfo: impl Into<DebugInfo<'d>>,
) -> Result<Extracted, ExtractError> {
    extract_as(dump, debuginfo, ReproFormat::Elf)
}

/// The reproduction, its vmcore in `format`.
pub fn extract_as<'d>(
    dump: &'d CrashDump,
    debuginfo: impl Into<DebugInfo<'d>>,
    format: ReproFormat,
) -> Result<Extracted, ExtractError> {
    let debuginfo = debuginfo.into();
    // 1. Everything `analyze --replay` and `dmesg` read, recorded.
    let rec = RecordingMemory::new(dump.memory());
    let k = Kernel::open_over(dump, &rec, debuginfo)?;
    let options = analysis::Options {
        pids: Vec::new(),
        replay: Some(SyncMask::KernelDefault),
        live: false,
    };
    match analysis::run(&k, &options) {
        // A replay that fails has still read what it needed to fail the
        // same way on the reproduction.
        Ok(_) | Err(RunError::Replay(_)) => {}
        Err(RunError::Check(e)) => return Err(e.into()),
    }
    let _ = k.tasks();

    // 2. Those pages, as the dump holds them; without a vmlinux, also the
    // pages of the kallsyms tables and the BTF, so that the reproduction
    // carries its own debug information.
    let mut kept: std::collections::BTreeSet<u64> = rec.pages_read().into_iter().collect();
    if let DebugInfo::Dump(d) = debuginfo {
        kept.extend(d.pages_read());
    }
    let mut pages: Vec<(u64, Box<[u8; 4096]>)> = Vec::new();
    for pfn in kept {
        let mut page = Box::new([0u8; 4096]);
        if dump
            .memory()
            .read(PhysAddr::new(pfn << 12), &mut page[..])
            .is_ok()
        {
            pages.push((pfn, page));
        }
    }
    let notes = notes(dump)?;
    let vmcore = match format {
        ReproFormat::Elf => write_core(&notes, pages.iter().map(|(pfn, p)| (*pfn, &**p)))?,
        ReproFormat::KdumpZlib => kdump_zlib(dump, notes, &pages),
    };

    // 3. A vmlinux describing exactly what was used.
    let vmlinux_bytes = match debuginfo.vmlinux() {
        Some(v) => Some(minimal_vmlinux(&k, v)?),
        None => None,
    };
    Ok(Extracted {
        vmcore,
        vmlinux: vmlinux_bytes,
        pages: pages.len(),
    })
}

/// The kept pages as a kdump-compressed file: every other page excluded,
/// as the ELF reproduction leaves it out.
fn kdump_zlib(dump: &CrashDump, notes: Vec<u8>, pages: &[(u64, Box<[u8; 4096]>)]) -> Vec<u8> {
    use crate::write::kdump::{Compression, KdumpSpec, write_kdump};
    // One bitmap block is 32768 pages; cover the highest kept page.
    const BLOCK: u64 = 8 * 4096;
    let last = pages.last().map_or(0, |(pfn, _)| *pfn);
    let max_mapnr = (last + 1).div_ceil(BLOCK) * BLOCK;
    let info = dump.vmcoreinfo.as_ref();
    let spec = KdumpSpec {
        compression: Compression::Zlib,
        max_mapnr,
        ram: vec![(0, max_mapnr)],
        notes,
        release: info.and_then(|i| i.osrelease.clone()).unwrap_or_default(),
        phys_base: info
            .and_then(|i| i.number("phys_base"))
            .map_or(0, |v| v as u64),
        nr_cpus: i32::try_from(dump.cpus.len()).unwrap_or(i32::MAX),
        ..KdumpSpec::default()
    };
    let by_pfn: std::collections::BTreeMap<u64, &[u8; 4096]> =
        pages.iter().map(|(pfn, p)| (*pfn, &**p)).collect();
    let page = |pfn: u64| by_pfn.get(&pfn).map(|p| p.to_vec());
    write_kdump(&spec, &page).0
}

/// VMCOREINFO as parsed, and each CPU's PRSTATUS (pid, rip, rsp) and, where
/// the dump had one, QEMU's CPU state (CR3).
fn notes(dump: &CrashDump) -> Result<Vec<u8>, ExtractError> {
    let mut n = Vec::new();
    for c in &dump.cpus {
        let (rip, rsp) = (c.rip.unwrap_or(0), c.rsp.unwrap_or(0));
        n.extend(note(
            "CORE",
            1,
            &prstatus(c.prstatus_pid.unwrap_or(0), rip, rsp),
        ));
    }
    for c in dump.cpus.iter().filter(|c| c.from_qemu) {
        let (rip, rsp) = (c.rip.unwrap_or(0), c.rsp.unwrap_or(0));
        n.extend(note(
            "QEMU",
            0,
            &qemu_cpu_state(rip, rsp, c.cr3.unwrap_or(0), 0),
        ));
    }
    let info = dump
        .vmcoreinfo
        .as_ref()
        .ok_or_else(|| ExtractError::Other("the dump has no VMCOREINFO to carry over".into()))?;
    n.extend(note("VMCOREINFO", 0, info.to_text().as_bytes()));
    Ok(n)
}

fn member(name: &str, offset: u64, ty: Ty) -> MemberDef {
    MemberDef {
        name: Some(name.to_string()),
        offset,
        ty,
    }
}

fn list_head() -> Ty {
    Ty::Struct("list_head")
}

/// A struct with the given members; its size is the real one, or just large
/// enough when that is unknown.
fn def(name: &'static str, size: Option<u64>, members: Vec<MemberDef>) -> StructDef {
    let end = members.iter().map(|m| m.offset + 8).max().unwrap_or(8);
    StructDef {
        name: Some(name),
        is_union: false,
        size: size.unwrap_or(end).max(end),
        members,
    }
}

/// The reproduction's vmlinux: the struct layouts the analysis used as
/// DWARF, every symbol the kernel layer looks up, and the original's
/// build-id.
fn minimal_vmlinux(k: &Kernel<'_>, v: &Vmlinux) -> Result<Vec<u8>, ExtractError> {
    let layouts = used_layouts(k)?;
    let debug = crate::write::dwarf::write_dwarf(&layouts, 5)?;
    let (syms, sections) = wanted_symbols(v);
    let build_id = build_id_bytes(v);
    Ok(write_exec(
        &ExecImage {
            build_id: &build_id,
            syms: &syms,
            sections: &sections,
            compress_debug: false,
        },
        &debug,
    )?)
}

/// The structs and members the analysis read, at the offsets it used.
fn used_layouts(k: &Kernel<'_>) -> Result<Layouts, ExtractError> {
    let types = k.debuginfo.types().map_err(KernelError::from)?;
    let size_of = |n: &str| types.struct_type(n).ok().map(|s| s.size);
    let o = &k.offsets;
    let list = types.struct_type("list_head")?;
    let prev = list
        .member("prev")
        .map(|m| m.offset)
        .unwrap_or(if o.list_next == 0 { 8 } else { 0 });
    let mut structs = vec![StructDef {
        name: Some("list_head"),
        is_union: false,
        size: 16,
        members: vec![
            member("next", o.list_next, Ty::VoidPtr),
            member("prev", prev, Ty::VoidPtr),
        ],
    }];
    structs.extend(task_structs(o, &size_of));
    structs.push(def(
        "mm_struct",
        size_of("mm_struct"),
        vec![member("pgd", o.mm_pgd, Ty::VoidPtr)],
    ));
    structs.extend(pgd_list_structs(o));
    if let Some(off) = o.tlb_loaded_mm {
        structs.push(def(
            "tlb_state",
            size_of("tlb_state"),
            vec![member("loaded_mm", off, Ty::VoidPtr)],
        ));
    }
    if let Some(off) = o.pcpu_hot_current_task {
        structs.push(def(
            "pcpu_hot",
            size_of("pcpu_hot"),
            vec![member("current_task", off, Ty::VoidPtr)],
        ));
    }
    Ok(Layouts {
        typedefs: Vec::new(),
        structs,
        declared: Vec::new(),
    })
}

/// `signal_struct` (when threads hang off its `thread_head`), then
/// `task_struct` with the thread link the analysis followed.
fn task_structs(o: &Offsets, size_of: &dyn Fn(&str) -> Option<u64>) -> Vec<StructDef> {
    let flags_ty = Ty::Base(if o.task.flags_size == 8 {
        Base::ULong
    } else {
        Base::UInt
    });
    let mut task = vec![
        member("tasks", o.task.tasks, list_head()),
        member("pid", o.task.pid, Ty::Base(Base::Int)),
        member("tgid", o.task.tgid, Ty::Base(Base::Int)),
        member(
            "comm",
            o.task.comm,
            Ty::Array(Box::new(Ty::Base(Base::Char)), o.task.comm_len),
        ),
        member("mm", o.task.mm, Ty::VoidPtr),
        member("active_mm", o.task.active_mm, Ty::VoidPtr),
        member("flags", o.task.flags, flags_ty),
        member("signal", o.task.signal, Ty::VoidPtr),
    ];
    let mut structs = Vec::new();
    match o.task.threads {
        ThreadLink::SignalThreadHead {
            task_thread_node,
            signal_thread_head,
        } => {
            task.push(member("thread_node", task_thread_node, list_head()));
            structs.push(def(
                "signal_struct",
                size_of("signal_struct"),
                vec![member("thread_head", signal_thread_head, list_head())],
            ));
        }
        ThreadLink::ThreadGroup { task_thread_group } => {
            task.push(member("thread_group", task_thread_group, list_head()));
        }
    }
    structs.push(def("task_struct", size_of("task_struct"), task));
    structs
}

/// struct page, and struct ptdesc when the analysis went through it, so
/// that the reader takes the same path (kernel/offsets.rs).
fn pgd_list_structs(o: &Offsets) -> Vec<StructDef> {
    let pl = o.pgd_list;
    match pl.via {
        PgdListLinkage::PtdescPtListPtMm => vec![
            def(
                "page",
                Some(o.page_size),
                vec![member("lru", pl.link, list_head())],
            ),
            def(
                "ptdesc",
                Some(o.page_size),
                vec![
                    member("pt_list", pl.link, list_head()),
                    member("pt_mm", pl.owner, Ty::VoidPtr),
                ],
            ),
        ],
        PgdListLinkage::PageLruIndex => vec![def(
            "page",
            Some(o.page_size),
            vec![
                member("lru", pl.link, list_head()),
                member("index", pl.owner, Ty::Base(Base::ULong)),
            ],
        )],
        PgdListLinkage::PageLruPtMm => vec![def(
            "page",
            Some(o.page_size),
            vec![
                member("lru", pl.link, list_head()),
                member("pt_mm", pl.owner, Ty::VoidPtr),
            ],
        )],
    }
}

/// Every symbol the kernel layer looks up, at its link address, and the
/// sections that span them.
fn wanted_symbols(v: &Vmlinux) -> (Vec<ExecSymbol>, BTreeMap<ExecSection, (u64, u64)>) {
    let map = v.find_symbols(crate::kernel::symbols::WANTED);
    let mut syms: Vec<ExecSymbol> = map
        .iter()
        .map(|(name, s)| ExecSymbol {
            name: name.to_string(),
            link: s.address,
            size: s.size,
            kind: match s.kind {
                SymbolKind::Func => ExecSymbolKind::Func,
                SymbolKind::Object => ExecSymbolKind::Object,
                _ => ExecSymbolKind::NoType,
            },
            sect: if s.kind == SymbolKind::Func {
                ExecSection::Text
            } else if s.address < 0x100_0000 {
                ExecSection::Percpu
            } else {
                ExecSection::Data
            },
        })
        .collect();
    syms.sort_by(|a, b| (a.link, &a.name).cmp(&(b.link, &b.name)));
    let mut sections: BTreeMap<ExecSection, (u64, u64)> = BTreeMap::new();
    for s in &syms {
        let e = sections.entry(s.sect).or_insert((s.link & !0xfff, 0));
        let start = e.0.min(s.link & !0xfff);
        let end = (e.0 + e.1).max(s.link + s.size.max(8));
        *e = (start, end - start);
    }
    (syms, sections)
}

/// The original's build-id as bytes (empty when it has none).
fn build_id_bytes(v: &Vmlinux) -> Vec<u8> {
    v.build_id()
        .map(|h| {
            (0..h.len() / 2)
                .filter_map(|i| {
                    h.get(2 * i..2 * i + 2)
                        .and_then(|b| u8::from_str_radix(b, 16).ok())
                })
                .collect()
        })
        .unwrap_or_default()
}
