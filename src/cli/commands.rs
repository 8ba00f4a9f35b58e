//! The subcommands' bodies.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use pgsync_dump::analysis::oops::LogLine;
use pgsync_dump::analysis::{self, TableStatus};
use pgsync_dump::arch::x86_64::paging::{WalkOutcome, walk};
use pgsync_dump::debuginfo::{Vmlinux, finder::find_vmlinux};
use pgsync_dump::dump::{self, CrashDump};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::kernel::printk::format_dmesg;
use pgsync_dump::model::mask::SyncMask;
use pgsync_dump::report::{self, DumpFacts, hex};

use super::{Cli, Command, DumpArgs, Format};

/// Standard output that a closed pipe (`analyze ... | head`) ends quietly:
/// further output is dropped and the command finishes with its own status,
/// where `println!` would panic.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

fn emit(s: &str) -> Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => Ok(r?),
    }
}

macro_rules! out {
    ($($t:tt)*) => { emit(&format!($($t)*))? };
}

macro_rules! outln {
    () => { emit("\n")? };
    ($($t:tt)*) => { emit(&(format!($($t)*) + "\n"))? };
}

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Analyze {
            dump,
            format,
            pids,
            replay,
            sync_mask,
        } => analyze(&dump, format, &pids, replay, sync_mask.as_deref()),
        Command::Info { dump, format } => info(&dump, format),
        Command::Dmesg { dump } => dmesg(&dump),
        #[cfg(feature = "write")]
        Command::Extract { dump, output } => extract(&dump, &output),
        Command::Tasks { dump, format } => tasks(&dump, format),
        Command::Vtop {
            vmcore,
            addr,
            pid,
            vmlinux,
        } => vtop(&vmcore, &addr, pid, vmlinux.as_deref()),
    }
}

fn open_dump(paths: &[PathBuf]) -> Result<CrashDump> {
    Ok(dump::open(paths)?)
}

fn open_vmlinux(d: &CrashDump, explicit: Option<&Path>) -> Result<Vmlinux> {
    let info = d.vmcoreinfo.as_ref();
    if info.is_none() && explicit.is_none() {
        bail!(
            "{}: the dump has no VMCOREINFO note, so neither its kernel release nor its build-id is known: pass --vmlinux",
            d.path.display()
        );
    }
    let v = find_vmlinux(
        explicit,
        &d.path,
        info.and_then(|i| i.osrelease.as_deref()),
        info.and_then(|i| i.build_id.as_deref()),
    )?;
    Ok(v)
}

fn analyze(
    args: &DumpArgs,
    format: Format,
    pids: &[i32],
    replay: bool,
    sync_mask: Option<&str>,
) -> Result<u8> {
    let d = open_dump(&args.vmcore)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)
        .with_context(|| format!("{}: cannot set up the kernel view", d.path.display()))?;
    let mut a = analysis::check(&k)?;
    let mut log_warnings = Vec::new();
    let log = kernel_log_lines(&k, &mut log_warnings);
    let crash = analysis::crash::attribute(&k, &a, &log);
    let replayed = if replay {
        let mask = match sync_mask {
            None => SyncMask::KernelDefault,
            Some(m) => m.parse::<SyncMask>().map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        Some(analysis::replay::replay(&k, &a, crash.as_ref(), mask)?)
    } else {
        None
    };
    a.retain_pids(pids);
    let mut facts = DumpFacts::from_kernel(&k);
    facts.warnings.extend(log_warnings);
    match format {
        Format::Json => {
            let r = report::json::report(&facts, &a, crash.as_ref(), replayed.as_ref());
            outln!("{}", serde_json::to_string_pretty(&r)?);
        }
        Format::Table => out!(
            "{}",
            report::table::render(&facts, &a, crash.as_ref(), replayed.as_ref())
        ),
    }
    Ok(a.verdict().exit_code() as u8)
}

/// The kernel log as the oops parser reads it. A log that cannot be read
/// does not stop the page-table check: the crash section is then null and
/// the reason a warning.
fn kernel_log_lines(k: &Kernel<'_>, warnings: &mut Vec<String>) -> Vec<LogLine> {
    match k.kernel_log() {
        Ok(log) => {
            warnings.extend(log.warnings.iter().map(|w| format!("kernel log: {w}")));
            log.records.iter().map(LogLine::from).collect()
        }
        Err(e) => {
            warnings.push(format!("kernel log not read: {e}"));
            Vec::new()
        }
    }
}

/// The last "Kernel panic - not syncing" line of the kernel log, else the
/// last "BUG:" line, so that `info` says why the machine died.
fn panic_line(k: &Kernel<'_>) -> Option<String> {
    let log = k.kernel_log().ok()?;
    let lines = || {
        log.records
            .iter()
            .rev()
            .flat_map(|r| r.lines().collect::<Vec<_>>().into_iter().rev())
    };
    lines()
        .find(|l| l.contains("Kernel panic - not syncing"))
        .or_else(|| lines().find(|l| l.starts_with("BUG:")))
        .map(|l| l.trim().to_string())
}

#[cfg(feature = "write")]
fn extract(args: &DumpArgs, out: &Path) -> Result<u8> {
    let d = open_dump(&args.vmcore)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let x = pgsync_dump::extract::extract(&d, &v)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write("vmcore", &x.vmcore)?;
    write("vmlinux", &x.vmlinux)?;
    outln!(
        "{}: vmcore {} KiB ({} pages), vmlinux {} KiB; run: pgsync-dump analyze {}",
        out.display(),
        x.vmcore.len() / 1024,
        x.pages,
        x.vmlinux.len() / 1024,
        out.join("vmcore").display()
    );
    Ok(0)
}

fn dmesg(args: &DumpArgs) -> Result<u8> {
    let d = open_dump(&args.vmcore)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)?;
    let log = k.kernel_log()?;
    out!("{}", format_dmesg(&log.records));
    for w in &log.warnings {
        eprintln!("warning: {w}");
    }
    Ok(0)
}

fn info(args: &DumpArgs, format: Format) -> Result<u8> {
    let d = open_dump(&args.vmcore)?;
    let mut obj = serde_json::json!({
        "path": d.path.display().to_string(),
        "format": d.format.as_str(),
        "compression": d.compression,
        "cpus": d.cpus.len(),
        "osrelease": d.vmcoreinfo.as_ref().and_then(|i| i.osrelease.clone()),
        "build_id": d.vmcoreinfo.as_ref().and_then(|i| i.build_id.clone()),
        "vmcoreinfo": d.vmcoreinfo.is_some(),
        "physical_ranges": d.memory().ranges().len(),
        "warnings": d.warnings,
    });
    let kernel = open_vmlinux(&d, args.vmlinux.as_deref()).and_then(|v| {
        let k = Kernel::open(&d, &v)?;
        Ok(serde_json::json!({
            "vmlinux": v.path().display().to_string(),
            "vmlinux_build_id": v.build_id(),
            "paging_levels": k.layout.mode.levels(),
            "kaslr_offset": hex(k.kaslr_offset),
            "phys_base": hex(k.phys_base),
            "page_offset_base": hex(k.layout.page_offset_base),
            "vmalloc_base": hex(k.layout.vmalloc_base),
            "vmemmap_base": hex(k.layout.vmemmap_base),
            "memory_randomized": k.layout.randomized,
            "init_top_pgt": hex(k.init_pgd_va),
            "has_sync_fix": k.has_sync_fix(),
            "pgd_list_linkage": k.offsets.pgd_list.via,
            "panic": panic_line(&k),
        }))
    });
    match kernel {
        Ok(kj) => obj["kernel"] = kj,
        Err(e) => obj["kernel_error"] = serde_json::Value::String(format!("{e:#}")),
    }
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&obj)?),
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::NOTHING);
            flatten("", &obj, &mut t);
            outln!("{t}");
        }
    }
    Ok(0)
}

fn flatten(prefix: &str, v: &serde_json::Value, t: &mut comfy_table::Table) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, t);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, t);
            }
        }
        serde_json::Value::String(s) => {
            t.add_row(vec![prefix.to_string(), s.clone()]);
        }
        other => {
            t.add_row(vec![prefix.to_string(), other.to_string()]);
        }
    }
}

fn tasks(args: &DumpArgs, format: Format) -> Result<u8> {
    let d = open_dump(&args.vmcore)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)?;
    let a = analysis::check(&k)?;
    let cpus = k.cpus().cpus;
    // Indexed once (first match wins, as a linear search would): a lookup
    // per task would be tasks x tables and tasks x CPUs.
    let mut table_of_mm = std::collections::HashMap::new();
    for x in &a.tables {
        if let Some(mm) = x.mm {
            table_of_mm.entry(mm).or_insert(x);
        }
    }
    let mut cpu_of_task = std::collections::HashMap::new();
    for c in &cpus {
        if let Some(task) = c.current_task {
            cpu_of_task.entry(task).or_insert(c.cpu);
        }
    }
    let mut rows = Vec::new();
    for t in &a.tasks {
        let table = (t.mm != 0)
            .then(|| table_of_mm.get(&t.mm).copied())
            .flatten();
        let cpu = cpu_of_task.get(&t.addr).copied();
        rows.push(serde_json::json!({
            "pid": t.pid,
            "tgid": t.tgid,
            "comm": t.comm,
            "task": hex(t.addr),
            "kthread": t.is_kthread(),
            "mm": (t.mm != 0).then(|| hex(t.mm)),
            "active_mm": (t.active_mm != 0).then(|| hex(t.active_mm)),
            "pgd": table.map(|x| hex(x.pgd_va)),
            "cpu": cpu,
            "page_table": table.map(|x| x.status.as_str()),
        }));
    }
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => {
            let mut t = comfy_table::Table::new();
            t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "pid",
                "tgid",
                "comm",
                "mm",
                "pgd",
                "cpu",
                "page table",
            ]);
            for (r, task) in rows.iter().zip(&a.tasks) {
                let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                t.add_row(vec![
                    task.pid.to_string(),
                    task.tgid.to_string(),
                    task.comm.clone(),
                    s("mm"),
                    s("pgd"),
                    r["cpu"].as_u64().map_or("-".into(), |c| c.to_string()),
                    s("page_table"),
                ]);
            }
            outln!("{t}");
        }
    }
    let bad = a
        .tables
        .iter()
        .filter(|t| t.status == TableStatus::Unreadable)
        .count();
    if bad > 0 || !a.problems.is_empty() {
        eprintln!(
            "note: {bad} page table(s) and {} structure(s) could not be read; run analyze for details",
            a.problems.len()
        );
    }
    Ok(0)
}

fn parse_addr(s: &str) -> Result<u64> {
    let t = s
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .replace('_', "");
    u64::from_str_radix(&t, 16).with_context(|| format!("{s:?} is not a hexadecimal address"))
}

fn vtop(vmcore: &[PathBuf], addr: &str, pid: Option<i32>, vmlinux: Option<&Path>) -> Result<u8> {
    let va = parse_addr(addr)?;
    let d = open_dump(vmcore)?;
    let v = open_vmlinux(&d, vmlinux)?;
    let k = Kernel::open(&d, &v)?;
    let (root_pa, what) = match pid {
        None => (k.xlate.root_pa, format!("init_mm ({})", hex(k.init_pgd_va))),
        Some(p) => {
            let tw = k.tasks()?;
            let Some(t) = tw.tasks.iter().find(|t| t.pid == p) else {
                bail!("no task with pid {p} in {}", d.path.display());
            };
            if t.mm == 0 {
                bail!(
                    "task {p} ({}) is a kernel thread without an mm of its own",
                    t.comm
                );
            }
            let pgd = k
                .read_u64(t.mm + k.offsets.mm_pgd)
                .context("reading mm->pgd")?;
            (
                k.pa(pgd)?,
                format!("pid {p} ({}) mm {} pgd {}", t.comm, hex(t.mm), hex(pgd)),
            )
        }
    };
    let w = walk(d.memory(), k.layout.mode, k.xlate.sme_mask, root_pa, va);
    outln!(
        "{} in the page table of {what}, root at physical {}:",
        hex(va),
        hex(root_pa)
    );
    for s in &w.steps {
        outln!(
            "  {:<4} entry at {:>18} = {:>18}",
            s.level.name().to_uppercase(),
            hex(s.entry_pa),
            hex(s.entry)
        );
    }
    match &w.outcome {
        WalkOutcome::Mapped { pa, page_size } => {
            outln!("  -> physical {} ({} KiB page)", hex(*pa), page_size / 1024);
        }
        WalkOutcome::NotPresent { level } => outln!(
            "  -> not present at the {} level",
            level.name().to_uppercase()
        ),
        WalkOutcome::Unreadable { level, error } => {
            outln!(
                "  -> the {} table cannot be read: {error}",
                level.name().to_uppercase()
            )
        }
        WalkOutcome::NonCanonical => outln!("  -> not a canonical address"),
    }
    outln!("  region: {}", k.layout.region_of(va).name());
    Ok(0)
}
