//! The subcommands' bodies.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use pgsync_dump::analysis::{self, TableStatus};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::arch::x86_64::paging::{WalkOutcome, walk};
use pgsync_dump::debuginfo::{Vmlinux, finder::find_vmlinux};
use pgsync_dump::dump::{self, CrashDump};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::kernel::printk::format_dmesg;
use pgsync_dump::model::mask::SyncMask;
use pgsync_dump::report::info::{InfoReport, KernelInfo};
use pgsync_dump::report::{self, DumpFacts, hex};

use super::{Cli, Command, DumpArgs, Format, note, report_width};

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

/// The dump `args` name: its files, or the running kernel's for `--live`.
fn open_args(args: &DumpArgs) -> Result<CrashDump> {
    if args.live {
        return open_dump(&[PathBuf::from(dump::PROC_KCORE)]);
    }
    open_dump(&args.vmcore)
}

/// Whether the dump is a running kernel's memory, read while it runs.
fn is_live(d: &CrashDump) -> bool {
    d.format == dump::DumpFormat::Kcore
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
    let d = open_args(args)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)
        .with_context(|| format!("{}: cannot set up the kernel view", d.path.display()))?;
    let replay = if replay {
        Some(match sync_mask {
            None => SyncMask::KernelDefault,
            Some(m) => m.parse::<SyncMask>().map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    } else {
        None
    };
    let options = analysis::Options {
        pids: pids.to_vec(),
        replay,
        live: is_live(&d),
    };
    let outcome = analysis::run(&k, &options)?;
    let (a, crash, replayed) = (
        &outcome.analysis,
        outcome.crash.as_ref(),
        outcome.replay.as_ref(),
    );
    let mut facts = DumpFacts::from_kernel(&k);
    facts.warnings.extend(outcome.log_warnings.iter().cloned());
    facts.filter_loss = outcome.filter_loss.clone();
    match format {
        Format::Json => {
            let r = report::json::report(&facts, a, crash, replayed);
            outln!("{}", serde_json::to_string_pretty(&r)?);
        }
        Format::Table => out!(
            "{}",
            report::table::render_to_width(&facts, a, crash, replayed, report_width())
        ),
    }
    Ok(a.verdict().exit_code() as u8)
}

#[cfg(feature = "write")]
fn extract(args: &DumpArgs, out: &Path) -> Result<u8> {
    let d = open_args(args)?;
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
    let d = open_args(args)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)?;
    let log = k.kernel_log()?;
    out!("{}", format_dmesg(&log.records));
    for w in &log.warnings {
        note(&format!("warning: {w}"));
    }
    Ok(0)
}

fn info(args: &DumpArgs, format: Format) -> Result<u8> {
    let d = open_args(args)?;
    let kernel = open_vmlinux(&d, args.vmlinux.as_deref()).and_then(|v| {
        let k = Kernel::open(&d, &v)?;
        Ok(KernelInfo::new(&v, &k))
    });
    let r = InfoReport::new(&d, kernel.map_err(|e| format!("{e:#}")));
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&r)?),
        Format::Table => outln!("{}", r.table(report_width())?),
    }
    Ok(0)
}

fn tasks(args: &DumpArgs, format: Format) -> Result<u8> {
    let d = open_args(args)?;
    let v = open_vmlinux(&d, args.vmlinux.as_deref())?;
    let k = Kernel::open(&d, &v)?;
    let a = if is_live(&d) {
        analysis::live::check(&k)?
    } else {
        analysis::check(&k)?
    };
    let rows = report::tasks::task_rows(&a, &k.cpus().cpus);
    match format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&rows)?),
        Format::Table => outln!("{}", report::tasks::table(&rows, report_width())),
    }
    let bad = a
        .tables
        .iter()
        .filter(|t| t.status == TableStatus::Unreadable)
        .count();
    if bad > 0 || !a.problems.is_empty() {
        note(&format!(
            "note: {bad} page table(s) and {} structure(s) could not be read; run analyze for details",
            a.problems.len()
        ));
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
    let va = VirtAddr::new(parse_addr(addr)?);
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
                k.pa(VirtAddr::new(pgd))?,
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
    outln!("  region: {}", k.layout.region_of(va.get()).name());
    Ok(0)
}
