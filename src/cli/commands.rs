//! The subcommands' bodies.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use pgsync_dump::analysis::{self, TableStatus};
use pgsync_dump::arch::x86_64::VirtAddr;
use pgsync_dump::arch::x86_64::paging::{WalkOutcome, walk};
use pgsync_dump::dump::{self, CrashDump};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::kernel::printk::format_dmesg;
use pgsync_dump::model::mask::SyncMask;
use pgsync_dump::report::info::{InfoReport, KernelInfo};
use pgsync_dump::report::{self, DumpFacts, hex};

use super::debuginfo::{Resolution, resolve};
use super::{
    AnalyzeFormat, Cli, Command, DebuginfoArgs, DumpArgs, Format, batch, note, report_width,
};

/// Standard output that a closed pipe (`analyze ... | head`) ends quietly:
/// further output is dropped and the command finishes with its own status,
/// where `println!` would panic.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

pub(super) fn emit(s: &str) -> Result<()> {
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

/// Whether a reader closed standard output (further output is dropped).
pub(super) fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
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
            archive,
        } => {
            let options = analysis_options(&pids, replay, sync_mask.as_deref())?;
            match format {
                AnalyzeFormat::Jsonl => batch::run(&dump, format, &options, &archive),
                _ if batch::archive_mode(&dump.vmcore) => {
                    batch::run(&dump, format, &options, &archive)
                }
                AnalyzeFormat::Table => analyze(&dump, Format::Table, &options),
                AnalyzeFormat::Json => analyze(&dump, Format::Json, &options),
            }
        }
        Command::Info { dump, format } => info(&dump, format),
        Command::Dmesg { dump } => dmesg(&dump),
        #[cfg(feature = "write")]
        Command::Extract {
            dump,
            output,
            kdump,
        } => extract(&dump, &output, kdump),
        Command::Tasks { dump, format } => tasks(&dump, format),
        Command::Vtop {
            vmcore,
            addr,
            pid,
            debuginfo,
        } => vtop(&vmcore, &addr, pid, &debuginfo),
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
    d.format() == dump::DumpFormat::Kcore
}

/// `--replay` and `--sync-mask` as the analysis takes them.
fn analysis_options(
    pids: &[i32],
    replay: bool,
    sync_mask: Option<&str>,
) -> Result<analysis::Options> {
    let replay = if replay {
        Some(match sync_mask {
            None => SyncMask::KernelDefault,
            Some(m) => m.parse::<SyncMask>().map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    } else {
        None
    };
    Ok(analysis::Options {
        pids: pids.to_vec(),
        replay,
        // Set per dump by `analyzed` (a /proc/kcore is live).
        live: false,
    })
}

/// The analysis of one dump with its debug information, handed to `f` with
/// the facts the reports print: `analyze`'s body, shared with the archive
/// mode.
pub(super) fn analyzed<R>(
    d: &CrashDump,
    v: &Resolution,
    options: &analysis::Options,
    f: impl FnOnce(&DumpFacts, &analysis::Outcome) -> R,
) -> Result<R> {
    let k = Kernel::open(d, v.handle())
        .with_context(|| format!("{}: cannot set up the kernel view", d.path().display()))?;
    let options = analysis::Options {
        live: is_live(d),
        ..options.clone()
    };
    let outcome = analysis::run(&k, &options)?;
    let mut facts = DumpFacts::from_kernel(&k);
    v.annotate(&mut facts.debuginfo);
    facts.warnings.extend(outcome.log_warnings.iter().cloned());
    facts.filter_loss = outcome.filter_loss.clone();
    Ok(f(&facts, &outcome))
}

fn analyze(args: &DumpArgs, format: Format, options: &analysis::Options) -> Result<u8> {
    let d = open_args(args)?;
    let v = resolve(&d, &args.debuginfo)?;
    analyzed(&d, &v, options, |facts, outcome| {
        let (a, crash, replayed) = (
            &outcome.analysis,
            outcome.crash.as_ref(),
            outcome.replay.as_ref(),
        );
        match format {
            Format::Json => {
                let r = report::json::report(facts, a, crash, replayed);
                outln!("{}", serde_json::to_string_pretty(&r)?);
            }
            Format::Table => out!(
                "{}",
                report::table::render_to_width(facts, a, crash, replayed, report_width())
            ),
        }
        Ok(a.verdict().exit_code() as u8)
    })?
}

#[cfg(feature = "write")]
fn extract(args: &DumpArgs, out: &std::path::Path, kdump: bool) -> Result<u8> {
    let d = open_args(args)?;
    let v = resolve(&d, &args.debuginfo)?;
    let format = if kdump {
        pgsync_dump::extract::ReproFormat::KdumpZlib
    } else {
        pgsync_dump::extract::ReproFormat::Elf
    };
    let x = pgsync_dump::extract::extract_as(&d, v.handle(), format)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write("vmcore", &x.vmcore)?;
    let vmlinux = match &x.vmlinux {
        Some(v) => {
            write("vmlinux", v)?;
            format!("vmlinux {} KiB", v.len() / 1024)
        }
        None => "no vmlinux (the vmcore keeps the kernel's kallsyms and BTF)".into(),
    };
    outln!(
        "{}: vmcore {} KiB ({} pages), {vmlinux}; run: pgsync-dump analyze {}",
        out.display(),
        x.vmcore.len() / 1024,
        x.pages,
        out.join("vmcore").display()
    );
    Ok(0)
}

fn dmesg(args: &DumpArgs) -> Result<u8> {
    let d = open_args(args)?;
    let v = resolve(&d, &args.debuginfo)?;
    let k = Kernel::open(&d, v.handle())?;
    let log = k.kernel_log()?;
    out!("{}", format_dmesg(&log.records));
    for w in &log.warnings {
        note(&format!("warning: {w}"));
    }
    Ok(0)
}

fn info(args: &DumpArgs, format: Format) -> Result<u8> {
    let d = open_args(args)?;
    let kernel = resolve(&d, &args.debuginfo).and_then(|v| {
        let k = Kernel::open(&d, v.handle())?;
        let mut info = KernelInfo::new(&k);
        v.annotate(&mut info.debuginfo);
        Ok(info)
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
    let v = resolve(&d, &args.debuginfo)?;
    let k = Kernel::open(&d, v.handle())?;
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

fn vtop(vmcore: &[PathBuf], addr: &str, pid: Option<i32>, debuginfo: &DebuginfoArgs) -> Result<u8> {
    let va = VirtAddr::new(parse_addr(addr)?);
    let d = open_dump(vmcore)?;
    let v = resolve(&d, debuginfo)?;
    let k = Kernel::open(&d, v.handle())?;
    let (root_pa, what) = match pid {
        None => (
            k.translator().root_pa,
            format!("init_mm ({})", hex(k.init_pgd_va())),
        ),
        Some(p) => {
            let tw = k.tasks()?;
            let Some(t) = tw.tasks.iter().find(|t| t.pid == p) else {
                bail!("no task with pid {p} in {}", d.path().display());
            };
            if t.mm == 0 {
                bail!(
                    "task {p} ({}) is a kernel thread without an mm of its own",
                    t.comm
                );
            }
            let pgd = k
                .read_u64(t.mm + k.offsets().mm_pgd)
                .context("reading mm->pgd")?;
            (
                k.pa(VirtAddr::new(pgd))?,
                format!("pid {p} ({}) mm {} pgd {}", t.comm, hex(t.mm), hex(pgd)),
            )
        }
    };
    let w = walk(
        d.memory(),
        k.layout().mode,
        k.translator().sme_mask,
        root_pa,
        va,
    );
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
    outln!("  region: {}", k.layout().region_of(va.get()).name());
    Ok(0)
}
