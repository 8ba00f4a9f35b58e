//! Benchmark: `analyze` on a large synthetic dump (issues 2 and 5, "Speed").
//!
//! `cargo bench --bench analyze` (harness = false; never run by `cargo test`).
//!
//! 1. Builds `pgsync_synth::large_plan` (default 20,000 tasks in 5,000 mms, 5-level)
//!    and the same shape twice as large, into a cache directory: the ELF
//!    vmcore from the builder, then kdump-compressed zlib and zstd copies
//!    written by `write::kdump` from the ELF's PT_LOADs and notes.
//!    The ELF is rebuilt every time (about a second) and compared with the
//!    cached one; the kdump copies are reused while it is unchanged.
//! 2. Checks that `analyze` of every file gives expected.json's summary.
//! 3. Times `analyze` in-process by phase (open; vmlinux + symbols + DWARF +
//!    layout; collecting tasks/pgd_list/CPUs; comparing page tables; JSON)
//!    and end to end through the release binary (process start, JSON to
//!    /dev/null), median and min of N warm runs; peak RSS of the binary from
//!    `/usr/bin/time -f %M` (resident pages, mapped file pages included);
//!    physical reads per page table through a counting wrapper.
//!
//! Environment: PGSYNC_BENCH_TASKS, PGSYNC_BENCH_MMS, PGSYNC_BENCH_LEVELS,
//! PGSYNC_BENCH_SEED, PGSYNC_BENCH_RUNS (default 11), PGSYNC_BENCH_DIR
//! (default: cargo's target tmpdir), PGSYNC_BENCH_NO_2X=1 (skip the 2x dump).
//! Results also go to DIR/results.json. Numbers depend on the machine and on
//! what else runs on it: run it when the machine is quiet.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use pgsync_dump::analysis::{collect, compare};
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::{self, CrashDump, PhysAddr, PhysRange, PhysicalMemory, ReadError};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::report::{self, DumpFacts};
use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::kdump::{Compression, KdumpSpec, write_kdump};
use pgsync_synth as synth;
use pgsync_synth::formats::zstd_page;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const PAGE: u64 = 4096;
const BIN: &str = env!("CARGO_BIN_EXE_pgsync-dump");

struct Config {
    tasks: usize,
    mms: usize,
    levels: u8,
    seed: u64,
    runs: usize,
    dir: PathBuf,
    /// (scale, padded): the plan at 1x / 2x the tasks and mms; padded: the
    /// 1x machine with as many unreferenced pages again (2x the file, same
    /// work).
    variants: Vec<(usize, bool)>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Config {
        let dir = std::env::var_os("PGSYNC_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pgsync-bench"));
        let no2x = std::env::var("PGSYNC_BENCH_NO_2X").is_ok_and(|v| v == "1");
        Config {
            tasks: env_or("PGSYNC_BENCH_TASKS", 20_000),
            mms: env_or("PGSYNC_BENCH_MMS", 5_000),
            levels: env_or("PGSYNC_BENCH_LEVELS", 5),
            seed: env_or("PGSYNC_BENCH_SEED", 0x00be_0c44),
            runs: env_or("PGSYNC_BENCH_RUNS", 11usize).max(1),
            dir,
            variants: if no2x {
                vec![(1, false)]
            } else {
                vec![(1, false), (1, true), (2, false)]
            },
        }
    }
}

/// Peak resident set of this process (kB), from /proc/self/status.
fn vm_hwm_kb() -> Option<u64> {
    let s = fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM (Linux >= 4.0: writing 5 to clear_refs).
fn reset_hwm() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_min(v: &[Duration]) -> (f64, f64) {
    let mut s: Vec<f64> = v.iter().map(|d| ms(*d)).collect();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0])
}

/// Writes `path` through a temporary file and a rename.
fn write_atomic(path: &Path, data: &[u8]) -> Res<()> {
    let tmp = path.with_extension("tmp");
    fs::File::create(&tmp)?.write_all(data)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

// ---- ELF -> kdump-compressed ----

struct Segment {
    start: u64,
    mem_end: u64,
    file_off: u64,
    filesz: u64,
}

/// Converts an ELF vmcore into a kdump-compressed one: the RAM bitmap covers
/// pfns `0..ram_pfns`, the dumpable bitmap the pages of the PT_LOADs (pages
/// outside them are excluded, as with makedumpfile's filtering); the notes
/// (PRSTATUS, VMCOREINFO) are copied.
fn elf_to_kdump(elf: &[u8], spec: KdumpSpec) -> Res<Vec<u8>> {
    use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
    let e = goblin::elf::Elf::parse(elf)?;
    let mut segs = Vec::new();
    let mut notes = Vec::new();
    for ph in &e.program_headers {
        match ph.p_type {
            PT_LOAD => segs.push(Segment {
                start: ph.p_paddr,
                mem_end: ph.p_paddr + ph.p_memsz,
                file_off: ph.p_offset,
                filesz: ph.p_filesz,
            }),
            PT_NOTE => {
                let (o, n) = (ph.p_offset as usize, ph.p_filesz as usize);
                notes.extend_from_slice(elf.get(o..o + n).ok_or("PT_NOTE past EOF")?);
            }
            _ => {}
        }
    }
    segs.sort_by_key(|s| s.start);
    let page = |pfn: u64| -> Option<Vec<u8>> {
        let pa = pfn * PAGE;
        let i = segs.partition_point(|s| s.mem_end <= pa);
        let s = segs.get(i).filter(|s| s.start <= pa)?;
        let off = pa - s.start;
        let mut p = vec![0u8; PAGE as usize];
        if off < s.filesz {
            let n = (s.filesz - off).min(PAGE) as usize;
            let at = (s.file_off + off) as usize;
            p[..n].copy_from_slice(elf.get(at..at + n)?);
        }
        Some(p)
    };
    let spec = KdumpSpec { notes, ..spec };
    Ok(write_kdump(&spec, &page).0)
}

/// The same ELF vmcore with one more PT_LOAD: `len` bytes of filler pages
/// (compressible, non-zero, never referenced) at physical `at`, which must
/// not overlap the existing segments.
fn pad_elf(elf: &[u8], at: u64, len: u64) -> Res<Vec<u8>> {
    use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
    let e = goblin::elf::Elf::parse(elf)?;
    let mut notes: &[u8] = &[];
    let mut loads: Vec<(u64, u64, &[u8])> = Vec::new();
    for ph in &e.program_headers {
        let (o, n) = (ph.p_offset as usize, ph.p_filesz as usize);
        let data = elf.get(o..o + n).ok_or("segment past EOF")?;
        match ph.p_type {
            PT_NOTE => notes = data,
            PT_LOAD => {
                if ph.p_paddr < at + len && at < ph.p_paddr + ph.p_memsz {
                    return Err(format!("padding at {at:#x} overlaps a PT_LOAD").into());
                }
                loads.push((ph.p_paddr, ph.p_memsz, data));
            }
            _ => {}
        }
    }
    let mut filler = vec![0u8; len as usize];
    for (i, c) in filler.chunks_mut(8).enumerate() {
        // Page-number-and-offset words: compresses like real data, roughly.
        let v = ((i as u64 / 512) << 16 | (i as u64 % 512)).wrapping_mul(0x0101_0001);
        c.copy_from_slice(&v.to_le_bytes()[..c.len()]);
    }
    loads.push((at, len, &filler));
    let segments: Vec<CoreSegment<'_>> = loads
        .iter()
        .map(|&(paddr, memsz, data)| CoreSegment {
            paddr,
            vaddr: 0,
            data,
            memsz,
        })
        .collect();
    let layout = CoreLayout {
        segment_align: PAGE,
        load_p_align: PAGE,
        ..CoreLayout::default()
    };
    Ok(write_core_segments(notes, &segments, &layout)?)
}

// ---- the dumps ----

struct Dumps {
    label: String,
    tasks: usize,
    mms: usize,
    vmlinux: PathBuf,
    files: Vec<(&'static str, PathBuf)>,
    expected: Value,
    build_s: f64,
    build_hwm_mb: Option<f64>,
    convert_s: Vec<(&'static str, f64)>,
}

fn prepare(cfg: &Config, scale: usize, padded: bool) -> Res<Dumps> {
    let (tasks, mms) = (cfg.tasks * scale, cfg.mms * scale);
    reset_hwm();
    let t0 = Instant::now();
    let plan = synth::large_plan(tasks, mms, cfg.levels, cfg.seed);
    let built = synth::build(&plan)?;
    let build_s = t0.elapsed().as_secs_f64();
    let build_hwm_mb = vm_hwm_kb().map(|k| k as f64 / 1024.0);
    let (name, vmcore) = if padded {
        // Filler above everything the builder allocates (objects sit in the
        // first GiB or two, device frames in the last GiB of RAM).
        let pad_at = plan.ram_bytes / 2;
        let len = built.vmcore.len() as u64;
        (
            format!("{}-pad", plan.name),
            pad_elf(&built.vmcore, pad_at, len.next_multiple_of(PAGE))?,
        )
    } else {
        (plan.name.clone(), built.vmcore.clone())
    };

    let dir = cfg.dir.join(&name);
    fs::create_dir_all(&dir)?;
    let elf_path = dir.join("vmcore.elf");
    let fresh = fs::read(&elf_path).map_or(true, |old| old != vmcore);
    if fresh {
        for f in ["vmcore.zlib", "vmcore.zstd"] {
            let _ = fs::remove_file(dir.join(f));
        }
        write_atomic(&elf_path, &vmcore)?;
    }
    let vmlinux = dir.join("vmlinux");
    write_atomic(&vmlinux, &built.vmlinux)?;
    write_atomic(
        &dir.join("expected.json"),
        &synth::to_json(&built.expected)?,
    )?;

    let mut files = vec![("elf", elf_path.clone())];
    let mut convert_s = Vec::new();
    for (fmt, name, comp) in [
        ("kdump-zlib", "vmcore.zlib", Compression::Zlib),
        ("kdump-zstd", "vmcore.zstd", Compression::Zstd(zstd_page)),
    ] {
        let path = dir.join(name);
        if !path.exists() {
            let t = Instant::now();
            let spec = KdumpSpec {
                compression: comp,
                max_mapnr: plan.ram_bytes / PAGE,
                ram: vec![(0, plan.ram_bytes / PAGE)],
                release: plan.osrelease.clone(),
                phys_base: plan.phys_base,
                dump_level: 31,
                nr_cpus: plan.cpus.len() as i32,
                ..KdumpSpec::default()
            };
            let bytes = elf_to_kdump(&vmcore, spec)?;
            write_atomic(&path, &bytes)?;
            convert_s.push((fmt, t.elapsed().as_secs_f64()));
        }
        files.push((fmt, path));
    }
    Ok(Dumps {
        label: format!(
            "large-{}l {}x{}",
            cfg.levels,
            scale,
            if padded { "+pad" } else { "" }
        ),
        tasks,
        mms,
        vmlinux,
        files,
        expected: built.expected,
        build_s,
        build_hwm_mb,
        convert_s,
    })
}

// ---- in-process runs ----

#[derive(Default, Clone)]
struct Phases {
    open: Duration,
    kernel: Duration,
    collect: Duration,
    compare: Duration,
    report: Duration,
    total: Duration,
}

struct Outcome {
    phases: Phases,
    tables: usize,
    summary: Value,
}

/// One in-process analyze, as the CLI does it, timed by phase.
fn analyze_once(vmcore: &Path, vmlinux: &Path) -> Res<Outcome> {
    let t0 = Instant::now();
    let d = dump::open(&[vmcore.to_path_buf()])?;
    let t1 = Instant::now();
    let out = analyze_opened(&d, vmlinux)?;
    let mut p = out.phases;
    p.open = t1 - t0;
    p.total = t0.elapsed();
    Ok(Outcome { phases: p, ..out })
}

/// Read counters of a [`Counting`] memory.
#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    pages: Mutex<HashSet<u64>>,
}

impl Counts {
    fn take(&self) -> (u64, usize) {
        let calls = self.calls.swap(0, Ordering::Relaxed);
        let mut p = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.len();
        p.clear();
        (calls, n)
    }
}

/// Physical memory that counts reads and distinct pages.
struct Counting {
    inner: &'static dyn PhysicalMemory,
    counts: Arc<Counts>,
}

impl PhysicalMemory for Counting {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        self.counts.calls.fetch_add(1, Ordering::Relaxed);
        if !buf.is_empty() {
            let paddr = paddr.get();
            let mut p = self.counts.pages.lock().unwrap_or_else(|e| e.into_inner());
            for pfn in paddr / PAGE..=(paddr + buf.len() as u64 - 1) / PAGE {
                p.insert(pfn);
            }
        }
        self.inner.read(paddr, buf)
    }
    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.ranges()
    }
}

/// `(calls, distinct pages)` per phase: kernel setup, collect, compare.
type ReadCounts = [(u64, usize); 3];

fn analyze_opened(d: &CrashDump, vmlinux: &Path) -> Res<Outcome> {
    let t1 = Instant::now();
    let v = Vmlinux::open(vmlinux)?;
    let k = Kernel::open(d, &v)?;
    let t2 = Instant::now();
    let c = collect::collect(&k)?;
    let t3 = Instant::now();
    let a = compare::compare(&k, c)?;
    let t4 = Instant::now();
    let facts = DumpFacts::from_kernel(&k);
    let r = report::json::report(&facts, &a, None, None);
    let s = serde_json::to_string_pretty(&r)?;
    let t5 = Instant::now();
    std::hint::black_box(&s);
    let v: Value = serde_json::to_value(&r)?;
    Ok(Outcome {
        phases: Phases {
            kernel: t2 - t1,
            collect: t3 - t2,
            compare: t4 - t3,
            report: t5 - t4,
            ..Phases::default()
        },
        tables: a.tables.len(),
        summary: v["summary"].clone(),
    })
}

/// Physical reads by phase, through a counting wrapper around the dump.
fn count_reads(vmcore: &Path, vmlinux: &Path) -> Res<ReadCounts> {
    let d: &'static CrashDump = Box::leak(Box::new(dump::open(&[vmcore.to_path_buf()])?));
    let counts = Arc::new(Counts::default());
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = d.vmcoreinfo().cloned();
    notes.cpus = d.cpus().to_vec();
    notes.warnings = d.warnings().to_vec();
    let wrapped = CrashDump::new(
        d.path().to_path_buf(),
        d.format(),
        d.compression(),
        Box::new(Counting {
            inner: d.memory(),
            counts: counts.clone(),
        }),
        notes,
    );
    // Count each phase: snapshot after setup, after collect, after compare.
    let mut out = [(0, 0); 3];
    let t = Instant::now();
    let v = Vmlinux::open(vmlinux)?;
    let k = Kernel::open(&wrapped, &v)?;
    out[0] = counts.take();
    let c = collect::collect(&k)?;
    out[1] = counts.take();
    let a = compare::compare(&k, c)?;
    out[2] = counts.take();
    std::hint::black_box((&a, t.elapsed()));
    Ok(out)
}

// ---- the release binary ----

struct BinRuns {
    /// Wall time of each timed run.
    times: Vec<Duration>,
    /// User + system CPU time of each timed run (from /usr/bin/time).
    cpu: Vec<Duration>,
    max_rss_kb: Option<u64>,
}

/// Runs the binary `runs` times after one warm-up run (page cache), each
/// under `/usr/bin/time -f "%M %U %S"` when it exists (max RSS in kB, user
/// and system CPU seconds); wall time around the whole child.
fn run_binary(vmcore: &Path, vmlinux: &Path, runs: usize) -> Res<BinRuns> {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let report = std::env::temp_dir().join(format!("pgsync-bench-time-{}", std::process::id()));
    let command = || {
        let mut c = if gnu_time {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M %U %S", "-o"]).arg(&report).arg(BIN);
            c
        } else {
            Command::new(BIN)
        };
        c.arg("analyze")
            .arg(vmcore)
            .arg("--vmlinux")
            .arg(vmlinux)
            .args(["--format", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let check = |code: Option<i32>| -> Res<()> {
        match code {
            Some(0 | 1 | 3) => Ok(()),
            other => Err(format!("{BIN} analyze {} exited {other:?}", vmcore.display()).into()),
        }
    };
    check(command().status()?.code())?;
    let mut out = BinRuns {
        times: Vec::with_capacity(runs),
        cpu: Vec::with_capacity(runs),
        max_rss_kb: None,
    };
    for _ in 0..runs {
        let mut c = command();
        let t = Instant::now();
        let st = c.status()?;
        out.times.push(t.elapsed());
        check(st.code())?;
        if gnu_time {
            let text = fs::read_to_string(&report)?;
            let f: Vec<f64> = text
                .lines()
                .last()
                .unwrap_or("")
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [rss, user, sys] = f[..] {
                out.max_rss_kb = out.max_rss_kb.max(Some(rss as u64));
                out.cpu.push(Duration::from_secs_f64(user + sys));
            }
        }
    }
    let _ = fs::remove_file(&report);
    Ok(out)
}

// ---- main ----

struct Row {
    dump: String,
    format: &'static str,
    size_mb: f64,
    tables: usize,
    phases_med: Phases,
    inproc: (f64, f64),
    bin: (f64, f64),
    cpu_med: Option<f64>,
    rss_mb: Option<f64>,
    reads: ReadCounts,
}

fn phase_medians(all: &[Phases]) -> Phases {
    let m = |f: fn(&Phases) -> Duration| {
        let v: Vec<Duration> = all.iter().map(f).collect();
        Duration::from_secs_f64(median_min(&v).0 / 1e3)
    };
    Phases {
        open: m(|p| p.open),
        kernel: m(|p| p.kernel),
        collect: m(|p| p.collect),
        compare: m(|p| p.compare),
        report: m(|p| p.report),
        total: m(|p| p.total),
    }
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` / `--all-targets`
    // runs this binary without it: do nothing then (this is not a test).
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/analyze.rs: run it with `cargo bench --bench analyze`; skipped");
        return Ok(());
    }
    let cfg = Config::from_env();
    println!(
        "pgsync-dump analyze benchmark: {} tasks / {} mms, {}-level, seed {:#x}, {} runs each, cache {}",
        cfg.tasks,
        cfg.mms,
        cfg.levels,
        cfg.seed,
        cfg.runs,
        cfg.dir.display()
    );
    println!("binary: {BIN}");
    let mut rows = Vec::new();
    let mut builds = Vec::new();
    for &(scale, padded) in &cfg.variants {
        let d = prepare(&cfg, scale, padded)?;
        println!(
            "\n{}: {} tasks, {} mms; builder {:.2} s, builder peak RSS {}; kdump conversion {}",
            d.label,
            d.tasks,
            d.mms,
            d.build_s,
            d.build_hwm_mb.map_or("?".into(), |m| format!("{m:.0} MB")),
            if d.convert_s.is_empty() {
                "cached".to_string()
            } else {
                d.convert_s
                    .iter()
                    .map(|(f, s)| format!("{f} {s:.1} s"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        builds.push(json!({
            "dump": d.label, "tasks": d.tasks, "mms": d.mms,
            "build_s": d.build_s, "build_peak_rss_mb": d.build_hwm_mb,
            "convert_s": d.convert_s.iter().map(|(f, s)| json!({"format": f, "s": s})).collect::<Vec<_>>(),
        }));
        let want = &d.expected["summary"];
        for (fmt, path) in &d.files {
            // Correctness first: the summary must be the plan's.
            let first = analyze_once(path, &d.vmlinux)?;
            for key in ["page_tables", "tasks", "diverged", "findings", "verdict"] {
                if first.summary[key] != want[key] {
                    return Err(format!(
                        "{}: summary.{key} is {} but expected.json says {}",
                        path.display(),
                        first.summary[key],
                        want[key]
                    )
                    .into());
                }
            }
            let mut all = Vec::with_capacity(cfg.runs);
            for _ in 0..cfg.runs {
                all.push(analyze_once(path, &d.vmlinux)?.phases);
            }
            let totals: Vec<Duration> = all.iter().map(|p| p.total).collect();
            let reads = count_reads(path, &d.vmlinux)?;
            let bin = run_binary(path, &d.vmlinux, cfg.runs)?;
            let row = Row {
                dump: d.label.clone(),
                format: fmt,
                size_mb: fs::metadata(path)?.len() as f64 / 1048576.0,
                tables: first.tables,
                phases_med: phase_medians(&all),
                inproc: median_min(&totals),
                bin: median_min(&bin.times),
                cpu_med: (!bin.cpu.is_empty()).then(|| median_min(&bin.cpu).0),
                rss_mb: bin.max_rss_kb.map(|k| k as f64 / 1024.0),
                reads,
            };
            println!(
                "  {fmt:<10} {:>7.1} MB  binary median {:>6.1} ms (min {:>6.1}, CPU {}), in-process {:>6.1} ms, max RSS {}",
                row.size_mb,
                row.bin.0,
                row.bin.1,
                row.cpu_med.map_or("?".into(), |c| format!("{c:.1} ms")),
                row.inproc.0,
                row.rss_mb.map_or("?".into(), |m| format!("{m:.1} MB"))
            );
            rows.push(row);
        }
    }

    // Extra dumps (real kernels): in-process phases only, no expected summary.
    // PGSYNC_BENCH_EXTRA="LABEL=VMCORE:VMLINUX,..." (bench.sh sets it).
    let extra = std::env::var("PGSYNC_BENCH_EXTRA").unwrap_or_default();
    for item in extra.split(',').filter(|s| !s.is_empty()) {
        let (label, files) = item.split_once('=').unwrap_or((item, item));
        let Some((vmcore, vmlinux)) = files.split_once(':') else {
            return Err(format!("PGSYNC_BENCH_EXTRA: {item:?} is not LABEL=VMCORE:VMLINUX").into());
        };
        let (vmcore, vmlinux) = (Path::new(vmcore), Path::new(vmlinux));
        let first = analyze_once(vmcore, vmlinux)?;
        let mut all = Vec::with_capacity(cfg.runs);
        for _ in 0..cfg.runs {
            all.push(analyze_once(vmcore, vmlinux)?.phases);
        }
        let totals: Vec<Duration> = all.iter().map(|p| p.total).collect();
        let bin = run_binary(vmcore, vmlinux, cfg.runs)?;
        rows.push(Row {
            dump: label.to_string(),
            // The file's extension (vmcore.elf, vmcore.zlib, ...), leaked:
            // a handful of rows in a short-lived bench process.
            format: Box::leak(
                vmcore
                    .extension()
                    .map_or("file".into(), |e| e.to_string_lossy().into_owned())
                    .into_boxed_str(),
            ),
            size_mb: fs::metadata(vmcore)?.len() as f64 / 1048576.0,
            tables: first.tables,
            phases_med: phase_medians(&all),
            inproc: median_min(&totals),
            bin: median_min(&bin.times),
            cpu_med: (!bin.cpu.is_empty()).then(|| median_min(&bin.cpu).0),
            rss_mb: bin.max_rss_kb.map(|k| k as f64 / 1024.0),
            reads: count_reads(vmcore, vmlinux)?,
        });
    }

    print_tables(&rows);
    let results = json!({
        "config": {"tasks": cfg.tasks, "mms": cfg.mms, "levels": cfg.levels, "seed": cfg.seed, "runs": cfg.runs},
        "builds": builds,
        "rows": rows.iter().map(|r| json!({
            "dump": r.dump, "format": r.format, "size_mb": r.size_mb, "page_tables": r.tables,
            "binary_median_ms": r.bin.0, "binary_min_ms": r.bin.1, "binary_cpu_median_ms": r.cpu_med,
            "inprocess_median_ms": r.inproc.0, "inprocess_min_ms": r.inproc.1,
            "max_rss_mb": r.rss_mb,
            "phases_median_ms": {
                "open": ms(r.phases_med.open), "vmlinux_symbols_dwarf": ms(r.phases_med.kernel),
                "collect": ms(r.phases_med.collect), "compare": ms(r.phases_med.compare),
                "report_json": ms(r.phases_med.report),
            },
            "reads": {"setup": r.reads[0], "collect": r.reads[1], "compare": r.reads[2]},
        })).collect::<Vec<_>>(),
    });
    let out = cfg.dir.join("results.json");
    write_atomic(&out, &synth::to_json(&results)?)?;
    println!("\nresults: {}", out.display());
    Ok(())
}

fn print_tables(rows: &[Row]) {
    println!("\n== end to end (release binary, --format json > /dev/null) ==");
    println!(
        "{:<22} {:<10} {:>8} {:>7} {:>10} {:>8} {:>8} {:>8} {:>11} {:>10}",
        "dump",
        "format",
        "size MB",
        "tables",
        "median ms",
        "min ms",
        "CPU ms",
        "RSS MB",
        "vs ELF CPU",
        "RSS vs 1x"
    );
    for r in rows {
        let elf = rows
            .iter()
            .find(|x| x.dump == r.dump && x.format == "elf")
            .and_then(|x| x.cpu_med.or(Some(x.bin.0)));
        // Synthetic rows only: "large-5l 2x" against "large-5l 1x".
        let base = r.dump.split_once(' ').and_then(|(shape, _)| {
            rows.iter()
                .find(|x| x.format == r.format && x.dump == format!("{shape} 1x"))
                .and_then(|x| x.rss_mb)
        });
        println!(
            "{:<22} {:<10} {:>8.1} {:>7} {:>10.1} {:>8.1} {:>8} {:>8} {:>11} {:>10}",
            r.dump,
            r.format,
            r.size_mb,
            r.tables,
            r.bin.0,
            r.bin.1,
            r.cpu_med.map_or("?".into(), |c| format!("{c:.1}")),
            r.rss_mb.map_or("?".into(), |m| format!("{m:.1}")),
            elf.filter(|&e| e > 0.0).map_or("-".into(), |e| format!(
                "{:.2}x",
                r.cpu_med.unwrap_or(r.bin.0) / e
            )),
            match (r.rss_mb, base) {
                (Some(a), Some(b)) => format!("{:.2}x", a / b),
                _ => "-".into(),
            }
        );
    }
    println!("\n== in-process phases (median ms) and physical reads ==");
    println!(
        "{:<22} {:<10} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>9} {:>13} {:>13}",
        "dump",
        "format",
        "open",
        "sym+DW",
        "collect",
        "compare",
        "json",
        "total",
        "us/table",
        "pages/table",
        "reads/table"
    );
    for r in rows {
        let p = &r.phases_med;
        let n = r.tables.max(1) as f64;
        println!(
            "{:<22} {:<10} {:>7.2} {:>7.2} {:>7.1} {:>8.1} {:>7.1} {:>7.1} {:>9.2} {:>13.2} {:>13.2}",
            r.dump,
            r.format,
            ms(p.open),
            ms(p.kernel),
            ms(p.collect),
            ms(p.compare),
            ms(p.report),
            ms(p.total),
            ms(p.compare) * 1e3 / n,
            r.reads[2].1 as f64 / n,
            r.reads[2].0 as f64 / n,
        );
    }
    println!(
        "(us/table, pages/table, reads/table: the compare phase, per compared page table; collect reads: {})",
        rows.first().map_or("-".into(), |r| format!(
            "{} calls / {} pages for {} tables",
            r.reads[1].0, r.reads[1].1, r.tables
        ))
    );
}
