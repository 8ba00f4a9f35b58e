//! Corruption campaign: every committed fixture, damaged thousands of ways
//! (seeded, reproducible), analysed in-process through the library and a
//! few hundred times through the binary. Required of every run:
//! - an exit code in {0, 1, 2, 3} (in-process: the code `analyze` would
//!   return), never a panic (in-process runs are under `catch_unwind`);
//! - under [`PER_RUN`] of wall time;
//! - the process's peak resident memory (VmHWM) under [`MAX_HWM_MB`];
//! - when only *user pages* were damaged, the same result as the intact
//!   dump: same verdict, findings and page-table statuses.
//!
//! "User pages" is defined concretely: pages of the dump that the intact
//! analysis never reads. They are found by running the intact analysis once
//! over the dump's pages behind a read-tracing memory, and are checked to be
//! disjoint from every page the builder put a kernel structure or top-level
//! page table in (init_mm's and each mm's pgd, each task_struct, mm_struct,
//! the pgd_list struct pages) as the intact kernel view locates them.
//!
//! Budget: about a minute on two cores for the whole file (debug build).
//! `CAMPAIGN_SCALE=4 cargo test --release --test robustness corruption_campaign:: --
//! --nocapture` runs four times as many mutations.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goblin::elf::Elf;
use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
use pgsync_dump::analysis::{self, Analysis, TableStatus};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::sparse::SparseMemory;
use pgsync_dump::dump::{
    self, CrashDump, DumpFormat, PhysAddr, PhysRange, PhysicalMemory, ReadError,
};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::report::{self, DumpFacts};

const PER_RUN: Duration = Duration::from_secs(2);
const MAX_HWM_MB: u64 = 512;
/// In-process mutations per fixture, before [`scale`].
const MUTATIONS_PER_FIXTURE: usize = 1200;
/// Binary runs per fixture, before [`scale`].
const BINARY_RUNS_PER_FIXTURE: usize = 40;

fn scale() -> usize {
    std::env::var("CAMPAIGN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

// ---- a small deterministic RNG (splitmix64) ---------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        v.get(self.below(v.len() as u64) as usize)
    }
}

// ---- the analysis, as `analyze` runs it -------------------------------------

/// What a run produced, in the terms the invariants compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    code: i32,
    verdict: String,
    /// (kind, slot, pgd_pa) of each finding.
    findings: Vec<(String, u16, u64)>,
    /// (pgd_pa, status) of each page table.
    tables: Vec<(u64, String)>,
    error: Option<String>,
}

fn outcome_of(a: &Analysis) -> Outcome {
    Outcome {
        code: a.verdict().exit_code(),
        verdict: a.verdict().as_str().to_string(),
        findings: a
            .findings
            .iter()
            .map(|f| (f.kind.as_str().to_string(), f.slot.0, f.pgd_pa.get()))
            .collect(),
        tables: a
            .tables
            .iter()
            .map(|t| (t.pgd_pa.get(), t.status.as_str().to_string()))
            .collect(),
        error: None,
    }
}

fn failed(e: impl std::fmt::Display) -> Outcome {
    Outcome {
        code: 2,
        verdict: String::new(),
        findings: vec![],
        tables: vec![],
        error: Some(e.to_string()),
    }
}

/// `analyze` without the process: open, set up, [`analysis::run`] (check,
/// kernel log, crash attribution), report.
fn analyze_dump(d: &CrashDump, v: &Vmlinux) -> Outcome {
    let k = match Kernel::open(d, v) {
        Ok(k) => k,
        Err(e) => return failed(e),
    };
    let run = match analysis::run(&k, &analysis::Options::default()) {
        Ok(run) => run,
        Err(e) => return failed(e),
    };
    let (a, crash) = (&run.analysis, run.crash.as_ref());
    // The report is part of the run: it formats every address it was given.
    let mut facts = DumpFacts::from_kernel(&k);
    facts.warnings.extend(run.log_warnings.iter().cloned());
    let json = report::json::report(&facts, a, crash, None);
    let _ = serde_json::to_string(&json);
    let _ = report::table::render(&facts, a, crash, None);
    outcome_of(a)
}

fn analyze_bytes(name: &str, bytes: Vec<u8>, v: &Vmlinux) -> Outcome {
    match dump::open_bytes(Path::new(name), bytes) {
        Ok(d) => analyze_dump(&d, v),
        Err(e) => failed(e),
    }
}

// ---- read tracing (which pages does the intact analysis read?) --------------

struct Traced {
    inner: SparseMemory,
    pages: Arc<Mutex<BTreeSet<u64>>>,
}

impl PhysicalMemory for Traced {
    fn read(&self, addr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let paddr = addr.get();
        if let Ok(mut p) = self.pages.lock() {
            let last = paddr.saturating_add(buf.len().max(1) as u64 - 1);
            let mut pg = paddr & !0xfff;
            while pg <= last {
                p.insert(pg);
                match pg.checked_add(4096) {
                    Some(n) => pg = n,
                    None => break,
                }
            }
        }
        self.inner.read(addr, buf)
    }
    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.ranges()
    }
}

// ---- the fixtures and where their parts are ---------------------------------

#[derive(Debug, Clone, Copy)]
struct Segment {
    paddr: u64,
    offset: u64,
    filesz: u64,
    memsz: u64,
}

struct Fixture {
    name: String,
    dir: PathBuf,
    vmcore: Vec<u8>,
    vmlinux: Vmlinux,
    intact: Outcome,
    segments: Vec<Segment>,
    /// File offsets where truncation is tried: every region boundary.
    boundaries: Vec<u64>,
    /// Physical pages the dump holds.
    pages: Vec<u64>,
    /// Page tables (top level) the intact analysis compared, and init_mm's.
    pgd_pages: Vec<u64>,
    /// (physical address, length) of kernel structures: task_structs,
    /// mm_structs, pgd_list struct pages.
    structs: Vec<(u64, u64)>,
    /// Physical addresses of list_head `next` pointers (tasks, threads,
    /// pgd_list), and the direct-map base to forge pointers with.
    list_nexts: Vec<u64>,
    page_offset_base: u64,
    /// An address past the end of RAM, in the direct map: unmapped.
    unmapped_va: u64,
    /// Pages the intact analysis never reads (see the module docs).
    user_pages: Vec<u64>,
}

impl Fixture {
    fn file_offset(&self, pa: u64) -> Option<u64> {
        self.segments.iter().find_map(|s| {
            (pa >= s.paddr && pa - s.paddr < s.filesz).then(|| s.offset + (pa - s.paddr))
        })
    }
}

fn load(dir: &Path) -> Fixture {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let vmcore = std::fs::read(dir.join("vmcore")).expect("read vmcore");
    let vmlinux = Vmlinux::open(&dir.join("vmlinux")).expect("open vmlinux");
    let elf = Elf::parse(&vmcore).expect("fixture vmcore is ELF");
    let mut segments = Vec::new();
    let mut boundaries = BTreeSet::from([0u64, 1, 63, 64]);
    boundaries.insert(elf.header.e_phoff);
    boundaries.insert(
        elf.header.e_phoff + u64::from(elf.header.e_phnum) * u64::from(elf.header.e_phentsize),
    );
    for ph in &elf.program_headers {
        if ph.p_type == PT_LOAD || ph.p_type == PT_NOTE {
            for b in [ph.p_offset, ph.p_offset + ph.p_filesz] {
                boundaries.extend([b.saturating_sub(1), b, b + 1]);
            }
        }
        if ph.p_type == PT_LOAD {
            segments.push(Segment {
                paddr: ph.p_paddr,
                offset: ph.p_offset,
                filesz: ph.p_filesz,
                memsz: ph.p_memsz,
            });
        }
    }
    boundaries.retain(|&b| b < vmcore.len() as u64);

    let d = dump::open_bytes(&dir.join("vmcore"), vmcore.clone()).expect("open fixture");
    // The dump's pages as sparse memory, read through a tracer.
    let mut sparse = SparseMemory::new();
    let mut pages = Vec::new();
    let mut buf = [0u8; 4096];
    for r in d.memory().ranges() {
        let mut pa = r.start & !0xfff;
        while pa < r.end {
            if d.memory().read(PhysAddr::new(pa), &mut buf).is_ok() {
                sparse.add_page(pa).copy_from_slice(&buf);
                pages.push(pa);
            }
            pa += 4096;
        }
    }
    let read = Arc::new(Mutex::new(BTreeSet::new()));
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = d.vmcoreinfo().cloned();
    notes.cpus = d.cpus().to_vec();
    let traced = CrashDump::new(
        d.path().to_path_buf(),
        DumpFormat::Elf,
        None,
        Box::new(Traced {
            inner: sparse,
            pages: read.clone(),
        }),
        notes,
    );
    let intact = analyze_dump(&d, &vmlinux);
    assert_eq!(
        analyze_dump(&traced, &vmlinux),
        intact,
        "{name}: the traced copy must analyse like the file"
    );
    let read: BTreeSet<u64> = read.lock().unwrap().clone();

    // Where the kernel objects are, from the intact kernel view.
    let k = Kernel::open(&d, &vmlinux).expect("intact kernel");
    let a = analysis::check(&k).expect("intact check");
    let types = vmlinux.types().expect("types");
    let size = |s: &str| types.struct_type(s).map(|t| t.size).unwrap_or(64);
    let (task_size, mm_size, page_size) = (size("task_struct"), size("mm_struct"), size("page"));
    let pa = |va: u64| k.pa(VirtAddr::new(va)).ok().map(PhysAddr::get);
    let mut pgd_pages: Vec<u64> = a
        .tables
        .iter()
        .map(|t| t.pgd_pa.get())
        .filter(|&p| p != 0)
        .collect();
    pgd_pages.push(k.translator().root_pa.get());
    let mut structs = Vec::new();
    let mut list_nexts = Vec::new();
    let o = k.offsets();
    for t in &a.tasks {
        if let Some(p) = pa(t.addr) {
            structs.push((p, task_size));
        }
        if let Some(p) = pa(t.addr + o.task.tasks + o.list_next) {
            list_nexts.push(p);
        }
        let node = match o.task.threads {
            pgsync_dump::kernel::offsets::ThreadLink::SignalThreadHead {
                task_thread_node, ..
            } => task_thread_node,
            pgsync_dump::kernel::offsets::ThreadLink::ThreadGroup { task_thread_group } => {
                task_thread_group
            }
            other => panic!("the campaign does not know the thread linkage {other:?}"),
        };
        if let Some(p) = pa(t.addr + node + o.list_next) {
            list_nexts.push(p);
        }
        if t.mm != 0 {
            if let Some(p) = pa(t.mm) {
                structs.push((p, mm_size));
            }
        }
    }
    if let Ok(w) = k.pgd_list() {
        for e in &w.entries {
            if let Some(p) = pa(e.page.get()) {
                structs.push((p, page_size));
            }
            if let Some(p) = pa(e.page.get() + o.pgd_list.link + o.list_next) {
                list_nexts.push(p);
            }
        }
    }
    let max_pa = pages.last().copied().unwrap_or(0) + 4096;
    let page_offset_base = k.layout().page_offset_base;
    let unmapped_va = page_offset_base + max_pa + (64 << 20);

    // User pages: never read by the intact analysis, and holding nothing the
    // builder placed a kernel structure or top-level page table in.
    // (efi_mm's table is listed but by design never compared, so not read.)
    let mut kernel_pages: BTreeSet<u64> = a
        .tables
        .iter()
        .filter(|t| t.status != TableStatus::Skipped && t.pgd_pa.get() != 0)
        .map(|t| t.pgd_pa.get() & !0xfff)
        .chain([k.translator().root_pa.get() & !0xfff])
        .collect();
    for &(p, len) in &structs {
        let mut pg = p & !0xfff;
        while pg < p + len {
            kernel_pages.insert(pg);
            pg += 4096;
        }
    }
    let in_file = |pa: u64| {
        segments
            .iter()
            .any(|s| pa >= s.paddr && pa + 4096 <= s.paddr + s.filesz)
    };
    // (Only pages with bytes in the file can be damaged there.)
    let user_pages: Vec<u64> = pages
        .iter()
        .copied()
        .filter(|&p| !read.contains(&p) && in_file(p))
        .collect();
    let overlap: Vec<&u64> = user_pages
        .iter()
        .filter(|p| kernel_pages.contains(p))
        .collect();
    assert!(
        overlap.is_empty(),
        "{name}: pages the analysis never reads hold kernel structures: {overlap:x?} structs {:x?}",
        structs
            .iter()
            .filter(|(p, l)| overlap.iter().any(|o| **o < p + l && **o + 4096 > *p))
            .collect::<Vec<_>>()
    );
    Fixture {
        name,
        dir: dir.to_path_buf(),
        vmcore,
        vmlinux,
        intact,
        segments,
        boundaries: boundaries.into_iter().collect(),
        pages,
        pgd_pages,
        structs,
        list_nexts,
        page_offset_base,
        unmapped_va,
        user_pages,
    }
}

// ---- mutations -------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    PageTableBits,
    StructBits,
    Truncate,
    ZeroPage,
    ListSelf,
    ListUnmapped,
    UserPages,
    /// A PT_LOAD added to the program header table (copied to the end of
    /// the file) over an existing segment: zero fill only (first in the
    /// table), an identical copy or other file bytes at the same start
    /// (last in the table).
    /// The existing segment wins each time (file bytes over zero fill;
    /// equal starts, the earlier entry), so the result must not change.
    OverlapSegments,
}

/// Applies one mutation of `kind`; `None` when the fixture offers no target.
fn mutate(f: &Fixture, kind: Kind, rng: &mut Rng) -> Option<Vec<u8>> {
    let mut b = f.vmcore.clone();
    let flip = |b: &mut Vec<u8>, off: u64, bit: u64| {
        if let Some(x) = b.get_mut(off as usize) {
            *x ^= 1 << (bit % 8);
        }
    };
    let put_u64 = |b: &mut Vec<u8>, off: u64, v: u64| {
        if let Some(s) = b.get_mut(off as usize..off as usize + 8) {
            s.copy_from_slice(&v.to_le_bytes());
        }
    };
    match kind {
        Kind::PageTableBits => {
            let pg = *rng.pick(&f.pgd_pages)?;
            for _ in 0..1 + rng.below(8) {
                // Mostly the kernel half (slots 256..511), where the check looks.
                let slot = if rng.below(4) == 0 {
                    rng.below(512)
                } else {
                    256 + rng.below(256)
                };
                let off = f.file_offset(pg + slot * 8 + rng.below(8))?;
                flip(&mut b, off, rng.next());
            }
        }
        Kind::StructBits => {
            let &(p, len) = rng.pick(&f.structs)?;
            for _ in 0..1 + rng.below(8) {
                let off = f.file_offset(p + rng.below(len.max(1)))?;
                flip(&mut b, off, rng.next());
            }
        }
        Kind::Truncate => {
            let at = *rng.pick(&f.boundaries)?;
            b.truncate(at as usize);
        }
        Kind::ZeroPage => {
            let pg = *rng.pick(&f.pages)?;
            let off = f.file_offset(pg)? as usize;
            if let Some(s) = b.get_mut(off..off + 4096) {
                s.fill(0);
            }
        }
        Kind::ListSelf | Kind::ListUnmapped => {
            let at = *rng.pick(&f.list_nexts)?;
            let v = if kind == Kind::ListSelf {
                // The node's own address: `next` names the list_head itself.
                f.page_offset_base + at
            } else {
                f.unmapped_va + rng.below(1 << 20) * 8
            };
            put_u64(&mut b, f.file_offset(at)?, v);
        }
        Kind::OverlapSegments => return overlap_segment(f, rng),
        Kind::UserPages => {
            for _ in 0..1 + rng.below(16) {
                let pg = *rng.pick(&f.user_pages)?;
                let off = f.file_offset(pg)? as usize;
                let Some(s) = b.get_mut(off..off + 4096) else {
                    continue;
                };
                match rng.below(3) {
                    0 => s.fill(0),
                    1 => s.iter_mut().for_each(|x| *x = rng.next() as u8),
                    _ => {
                        for _ in 0..64 {
                            let i = rng.below(4096) as usize;
                            s[i] ^= 1 << rng.below(8);
                        }
                    }
                }
            }
        }
    }
    Some(b)
}

/// [`Kind::OverlapSegments`]: the fixture with one more PT_LOAD.
fn overlap_segment(f: &Fixture, rng: &mut Rng) -> Option<Vec<u8>> {
    let with_data: Vec<Segment> = f
        .segments
        .iter()
        .copied()
        .filter(|s| s.filesz > 0)
        .collect();
    let j = *rng.pick(&with_data)?;
    // Zero fill goes first in the table (by the old rule, "earlier wins",
    // it would hide the segment's bytes); file bytes go last, so that the
    // existing segment is the earlier entry at the same start.
    let (offset, filesz, first) = match rng.below(3) {
        0 => (0, 0, true),
        1 => (j.offset, j.filesz, false),
        _ => {
            let k = *rng.pick(&with_data)?;
            (k.offset, k.filesz.min(j.filesz), false)
        }
    };
    let mut b = f.vmcore.clone();
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let phoff = u64::from_le_bytes(b[32..40].try_into().ok()?) as usize;
    let phnum = u16_at(&b, 56) as usize;
    let table = b.get(phoff..phoff + phnum * 56)?.to_vec();
    b.resize(b.len().next_multiple_of(8), 0);
    let new_phoff = b.len() as u64;
    let mut ph = [0u8; 56];
    ph[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
    ph[8..16].copy_from_slice(&offset.to_le_bytes());
    ph[24..32].copy_from_slice(&j.paddr.to_le_bytes());
    ph[32..40].copy_from_slice(&filesz.to_le_bytes());
    ph[40..48].copy_from_slice(&j.memsz.to_le_bytes());
    if first {
        b.extend_from_slice(&ph);
        b.extend_from_slice(&table);
    } else {
        b.extend_from_slice(&table);
        b.extend_from_slice(&ph);
    }
    b[32..40].copy_from_slice(&new_phoff.to_le_bytes());
    b[56..58].copy_from_slice(&(phnum as u16 + 1).to_le_bytes());
    Some(b)
}

const KINDS: [Kind; 8] = [
    Kind::PageTableBits,
    Kind::StructBits,
    Kind::Truncate,
    Kind::ZeroPage,
    Kind::ListSelf,
    Kind::ListUnmapped,
    Kind::UserPages,
    Kind::OverlapSegments,
];

fn vm_hwm_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

#[derive(Default)]
struct Stats {
    runs: usize,
    codes: BTreeMap<i32, usize>,
    by_kind: BTreeMap<String, usize>,
    slowest: (Duration, String),
    user_page_runs: usize,
    overlap_runs: usize,
    failures: Vec<String>,
}

impl Stats {
    fn record(&mut self, what: String, code: i32, took: Duration) {
        self.runs += 1;
        *self.codes.entry(code).or_default() += 1;
        if took > self.slowest.0 {
            self.slowest = (took, what.clone());
        }
        if !(0..=3).contains(&code) {
            self.failures.push(format!("{what}: exit code {code}"));
        }
        if took > PER_RUN {
            self.failures.push(format!("{what}: took {took:?}"));
        }
    }
}

#[test]
fn corruption_campaign() {
    let t0 = Instant::now();
    let dirs: Vec<PathBuf> = {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("vmcore").is_file() && p.join("vmlinux").is_file())
            .collect();
        v.sort();
        v
    };
    assert!(!dirs.is_empty());
    let fixtures: Vec<Fixture> = dirs.iter().map(|d| load(d)).collect();
    let mut stats = Stats::default();
    let quiet = std::panic::take_hook();
    // Panics are failures reported below; keep their messages short.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));

    // In-process runs.
    for (fi, f) in fixtures.iter().enumerate() {
        let mut rng = Rng(0x5eed_0000 + fi as u64);
        // Every truncation boundary once, then seeded mutations of every kind.
        let mut plan: Vec<Kind> = vec![Kind::Truncate; f.boundaries.len()];
        for i in 0..MUTATIONS_PER_FIXTURE * scale() {
            plan.push(KINDS[i % KINDS.len()]);
        }
        let mut boundary = f.boundaries.iter();
        for (i, kind) in plan.into_iter().enumerate() {
            let bytes = if let (Kind::Truncate, Some(&at)) = (kind, boundary.next()) {
                Some(f.vmcore[..at as usize].to_vec())
            } else {
                mutate(f, kind, &mut rng)
            };
            let Some(bytes) = bytes else { continue };
            let what = format!("{} #{i} {kind:?}", f.name);
            let start = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| {
                analyze_bytes(&f.name, bytes, &f.vmlinux)
            }));
            let took = start.elapsed();
            *stats.by_kind.entry(format!("{kind:?}")).or_default() += 1;
            match r {
                Ok(out) => {
                    stats.record(what.clone(), out.code, took);
                    if kind == Kind::UserPages {
                        stats.user_page_runs += 1;
                        if out != f.intact {
                            stats.failures.push(format!(
                                "{what}: only user pages were damaged but the result changed:\n  intact {:?}\n  now    {out:?}",
                                f.intact
                            ));
                        }
                    }
                    if kind == Kind::OverlapSegments {
                        stats.overlap_runs += 1;
                        if out != f.intact {
                            stats.failures.push(format!(
                                "{what}: an added segment that loses every overlap changed the result:\n  intact {:?}\n  now    {out:?}",
                                f.intact
                            ));
                        }
                    }
                }
                Err(_) => {
                    stats.record(what.clone(), 101, took);
                    stats.failures.push(format!("{what}: panicked"));
                }
            }
        }
    }
    std::panic::set_hook(quiet);
    let in_process = stats.runs;

    // Through the binary: exit codes and no panic message, as a user sees it.
    let tmp = std::env::temp_dir().join(format!("pgsync-campaign-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = env!("CARGO_BIN_EXE_pgsync-dump");
    for (fi, f) in fixtures.iter().enumerate() {
        let mut rng = Rng(0xb1_0000 + fi as u64);
        for i in 0..BINARY_RUNS_PER_FIXTURE * scale() {
            let kind = KINDS[i % KINDS.len()];
            let Some(bytes) = mutate(f, kind, &mut rng) else {
                continue;
            };
            let path = tmp.join(format!("{}-{i}", f.name));
            std::fs::write(&path, &bytes).unwrap();
            let start = Instant::now();
            let out = Command::new(bin)
                .args(["analyze", "--format", "json", "--vmlinux"])
                .arg(f.dir.join("vmlinux"))
                .arg(&path)
                .output()
                .expect("run pgsync-dump");
            let took = start.elapsed();
            let code = out.status.code().unwrap_or(-1);
            let what = format!("binary {} #{i} {kind:?}", f.name);
            stats.record(what.clone(), code, took);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("panicked") {
                stats.failures.push(format!("{what}: {stderr}"));
            }
            if matches!(kind, Kind::UserPages | Kind::OverlapSegments) && code != f.intact.code {
                stats.failures.push(format!(
                    "{what}: exit {code}, intact dump exits {}",
                    f.intact.code
                ));
            }
            let _ = std::fs::remove_file(&path);
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let hwm = vm_hwm_mb();
    let user_pages: usize = fixtures.iter().map(|f| f.user_pages.len()).sum();
    let all_pages: usize = fixtures.iter().map(|f| f.pages.len()).sum();
    println!(
        "corruption campaign: {} runs ({in_process} in-process, {} binary) over {} fixtures in {:.1?}",
        stats.runs,
        stats.runs - in_process,
        fixtures.len(),
        t0.elapsed()
    );
    println!("  by mutation: {:?}", stats.by_kind);
    println!("  exit codes: {:?}", stats.codes);
    println!(
        "  slowest run: {:?} ({}); peak memory (VmHWM): {hwm} MB",
        stats.slowest.0, stats.slowest.1
    );
    let per_fixture: Vec<String> = fixtures
        .iter()
        .map(|f| format!("{} {}/{}", f.name, f.user_pages.len(), f.pages.len()))
        .collect();
    println!(
        "  user pages: {user_pages} of {all_pages} dumped pages ({}); {} runs damaged only them",
        per_fixture.join(", "),
        stats.user_page_runs
    );
    println!(
        "  {} runs added a PT_LOAD overlapping an existing one (result unchanged required)",
        stats.overlap_runs
    );
    assert!(
        stats.failures.is_empty(),
        "{} failures:\n{}",
        stats.failures.len(),
        stats.failures.join("\n")
    );
    assert!(
        hwm < MAX_HWM_MB,
        "peak memory {hwm} MB over {MAX_HWM_MB} MB"
    );
    assert!(stats.user_page_runs > 0, "no user-page damage was tried");
    assert!(stats.overlap_runs > 0, "no overlapping segment was tried");
}

/// The kdump-compressed, flattened (kdump and ELF) and split dumps
/// makedumpfile wrote (fixtures/formats) and libkdumpfile's generators
/// wrote (fixtures/formats/libkdumpfile), truncated at every 512-byte boundary and one byte
/// either side, and with a 4 KiB block zeroed: open, read every page of
/// every range. Required: an error or a result, never a panic, each under
/// [`PER_RUN`].
#[test]
fn kdump_formats_truncated_and_zeroed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmcore."))
        })
        .collect();
    // Dumps from libkdumpfile's generators: overlapping and flattened ELF,
    // a kdump file without a sub-header, split parts.
    let outside = dir.join("libkdumpfile");
    files.extend(
        std::fs::read_dir(&outside)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e != "md" && e != "data")),
    );
    files.sort();
    assert!(!files.is_empty());
    let read_all = |d: &CrashDump| {
        let mut page = [0u8; 4096];
        let mut ok = 0usize;
        for r in d.memory().ranges() {
            let mut pa = r.start;
            while pa < r.end {
                ok += usize::from(d.memory().read(PhysAddr::new(pa), &mut page).is_ok());
                pa += 4096;
            }
        }
        ok
    };
    let (mut runs, mut opened, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let mut failures = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut cuts: BTreeSet<usize> = BTreeSet::new();
        for b in (0..bytes.len()).step_by(512) {
            cuts.extend([b.saturating_sub(1), b, b + 1]);
        }
        let mut variants: Vec<(String, Vec<u8>)> = cuts
            .into_iter()
            .filter(|&c| c < bytes.len())
            .map(|c| (format!("{name} cut at {c}"), bytes[..c].to_vec()))
            .collect();
        for b in (0..bytes.len()).step_by(4096) {
            let mut z = bytes.clone();
            let end = (b + 4096).min(z.len());
            z[b..end].fill(0);
            variants.push((format!("{name} block at {b} zeroed"), z));
        }
        for (what, v) in variants {
            let start = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| {
                dump::open_bytes(Path::new(&name), v).map(|d| read_all(&d))
            }));
            let took = start.elapsed();
            runs += 1;
            slowest = slowest.max(took);
            match r {
                Ok(Ok(_)) => opened += 1,
                Ok(Err(_)) => {}
                Err(_) => failures.push(format!("{what}: panicked")),
            }
            if took > PER_RUN {
                failures.push(format!("{what}: took {took:?}"));
            }
        }
    }
    println!(
        "kdump formats: {runs} truncated or zeroed files, {opened} opened, slowest {slowest:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The BTF the fixture builder derives from every committed scenario's
/// layouts (`write::btf`), truncated at every 12-byte boundary and damaged
/// thousands of seeded ways (bytes, whole u32 fields set to 0, 1, 0xffff,
/// 0xffffffff or a random id/offset, records' vlen and kind bits, header
/// lengths), then queried as the kernel layer queries it (every struct and
/// member path the fuzz target reads). Required: a result or an error,
/// never a panic, each under [`PER_RUN`]. Once `Kernel::open` takes BTF
/// from the dump's memory, the campaign above covers it through the dump
/// pages holding it too.
#[test]
fn btf_blobs_truncated_and_mutated() {
    let mut blobs = Vec::new();
    for plan in pgsync_synth::scenarios() {
        let l = pgsync_synth::layouts::generate(&plan).expect("layouts");
        let btf = pgsync_dump::write::btf::write_btf(&l).expect("write BTF");
        blobs.push((plan.name, btf));
    }
    let mut rng = Rng(0xb7f0_0000);
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    let mut mutations = 0;
    for (name, blob) in &blobs {
        // Every 12-byte record boundary and the byte before it.
        for cut in (0..blob.len())
            .step_by(12)
            .flat_map(|c| [c.saturating_sub(1), c])
        {
            variants.push((format!("{name} cut at {cut}"), blob[..cut].to_vec()));
        }
        for i in 0..300 * scale() {
            let mut b = blob.clone();
            let words = (b.len() / 4) as u64;
            for _ in 0..=rng.below(3) {
                let at = rng.below(words) as usize * 4;
                let value: u32 = match rng.below(8) {
                    0 => 0,
                    1 => 1,
                    2 => 0xffff,
                    3 => u32::MAX,
                    // A type id or offset near what the blob holds.
                    4 => rng.below(b.len() as u64 / 8 + 2) as u32,
                    // info: a random kind (0-31), kind_flag, vlen.
                    5 => (rng.below(32) as u32) << 24 | rng.below(0x1_0000) as u32,
                    6 => rng.next() as u32,
                    _ => {
                        let byte = at + rng.below(4) as usize;
                        b[byte] ^= 1 << rng.below(8);
                        continue;
                    }
                };
                b[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            variants.push((format!("{name} mutation #{i}"), b));
            mutations += 1;
        }
    }
    let structs = [
        "task_struct",
        "mm_struct",
        "list_head",
        "page",
        "ptdesc",
        "signal_struct",
        "tlb_state",
        "printk_info",
        "prb_desc_ring",
        "printk_log",
        "pgd_t",
    ];
    let (mut parsed, mut answered, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let mut failures = Vec::new();
    let runs = variants.len();
    for (what, bytes) in variants {
        let start = Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| {
            let Ok(btf) = pgsync_dump::debuginfo::btf::Btf::parse(bytes, "campaign.btf") else {
                return (false, 0);
            };
            let mut ok = 0;
            for s in structs {
                if let Ok(t) = btf.struct_type(s) {
                    ok += 1;
                    for p in t.member_paths() {
                        let _ = t.member(&p).map(|m| m.ty.size());
                    }
                }
            }
            (true, ok)
        }));
        let took = start.elapsed();
        slowest = slowest.max(took);
        match r {
            Ok((p, ok)) => {
                parsed += usize::from(p);
                answered += ok;
            }
            Err(_) => failures.push(format!("{what}: panicked")),
        }
        if took > PER_RUN {
            failures.push(format!("{what}: took {took:?}"));
        }
    }
    println!(
        "BTF: {runs} truncated or mutated blobs, {parsed} parsed, {answered} struct answers, slowest {slowest:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(parsed > mutations / 2, "most mutations keep a valid header");
    assert!(answered > 0);
}

/// The analysis without a vmlinux reads the kallsyms tables and the BTF
/// from the dump's own memory: those pages, damaged (words overwritten with
/// edge values, bits flipped, whole pages zeroed) and the file cut inside
/// them, must give an error or a result, never a panic, within the per-run
/// bound.
#[test]
fn dump_debuginfo_pages_mutated() {
    use pgsync_dump::debuginfo::{DumpDebugInfo, DumpSourceOptions};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("vmcore").is_file() && p.join("plan.json").is_file())
        .collect();
    dirs.sort();
    let (mut runs, mut errors, mut slowest) = (0usize, 0usize, Duration::ZERO);
    let mut failures = Vec::new();
    let mut rng = Rng(0xd1_5e00);
    for dir in &dirs {
        let vmcore = std::fs::read(dir.join("vmcore")).unwrap();
        let opts = DumpSourceOptions {
            system_map: Some(dir.join("System.map")).filter(|p| p.is_file()),
            symbols_hint: pgsync_dump::kernel::symbols::WANTED.to_vec(),
            ..DumpSourceOptions::default()
        };
        let analyze = |bytes: Vec<u8>| -> Result<u8, String> {
            let d = dump::open_bytes(&dir.join("vmcore"), bytes).map_err(|e| e.to_string())?;
            let dd = DumpDebugInfo::load(&d, d.memory(), &opts).map_err(|e| e.to_string())?;
            let k = Kernel::open(&d, &dd).map_err(|e| e.to_string())?;
            let run =
                analysis::run(&k, &analysis::Options::default()).map_err(|e| e.to_string())?;
            Ok(run.analysis.verdict().exit_code() as u8)
        };
        // The pages the intact load reads, and where they are in the file.
        let d = dump::open_bytes(&dir.join("vmcore"), vmcore.clone()).unwrap();
        let dd = DumpDebugInfo::load(&d, d.memory(), &opts).unwrap();
        let elf = Elf::parse(&vmcore).unwrap();
        let offsets: Vec<u64> = dd
            .pages_read()
            .filter_map(|pfn| {
                let pa = pfn << 12;
                elf.program_headers.iter().find_map(|ph| {
                    (ph.p_type == PT_LOAD && pa >= ph.p_paddr && pa - ph.p_paddr < ph.p_filesz)
                        .then(|| ph.p_offset + (pa - ph.p_paddr))
                })
            })
            .collect();
        assert!(!offsets.is_empty(), "{}", dir.display());
        for i in 0..60 * scale() {
            let page = offsets[rng.below(offsets.len() as u64) as usize] as usize;
            let mut b = vmcore.clone();
            match i % 5 {
                // Cut the file inside the tables.
                0 => b.truncate(page + rng.below(4096) as usize),
                // A whole page of zeroes.
                1 => b[page..page + 4096].fill(0),
                _ => {
                    for _ in 0..=rng.below(4) {
                        let at = page + rng.below(1024) as usize * 4;
                        let v: u32 = match rng.below(6) {
                            0 => 0,
                            1 => u32::MAX,
                            2 => 0x8000_0000,
                            3 => rng.below(0x10000) as u32,
                            4 => rng.next() as u32,
                            _ => {
                                b[at] ^= 1 << rng.below(8);
                                continue;
                            }
                        };
                        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            let start = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| analyze(b)));
            let took = start.elapsed();
            slowest = slowest.max(took);
            runs += 1;
            let what = format!("{} #{i}", dir.display());
            match r {
                Err(_) => failures.push(format!("{what}: panicked")),
                Ok(Err(_)) => errors += 1,
                Ok(Ok(_)) => {}
            }
            if took > PER_RUN {
                failures.push(format!("{what}: took {took:?}"));
            }
        }
    }
    eprintln!(
        "dump debuginfo campaign: {runs} runs over {} fixtures, {errors} errors, slowest {slowest:?}",
        dirs.len()
    );
    assert!(runs >= 60 * dirs.len());
    assert!(failures.is_empty(), "{failures:#?}");
}
