//! The command-line definition, and only that: clap and std, no library
//! types. The binary includes it as `cli::args`, and the xtask
//! (crates/xtask) includes the same file to generate the man pages and the
//! shell completions from it (`cargo xtask gen`), so they cannot drift from
//! the parser. The version is set by the includer (the binary adds the git
//! commit; the generated files carry the release only).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "pgsync-dump",
    version,
    about = "Find missing kernel page-table syncs in x86-64 Linux crash dumps"
)]
pub struct Cli {
    /// For scripts: results only. No progress bar and no warnings or notes on stderr;
    /// errors are still reported on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `analyze`'s formats: those of every subcommand, plus JSON Lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    Table,
    Json,
    /// One JSON object per dump per line (archive mode; docs/fleet.md).
    Jsonl,
}

/// `analyze` over a crash archive: several dumps or directories, or
/// `--format jsonl` (docs/fleet.md).
#[derive(clap::Args, Debug)]
pub struct ArchiveArgs {
    /// Archive mode: dumps analyzed at once [default: the number of CPUs].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Archive mode: seconds one dump may take before it becomes an error line (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub timeout: u64,
}

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// The dump (several files: the parts of one split dump), or /proc/kcore.
    #[arg(required_unless_present = "live", value_name = "VMCORE")]
    pub vmcore: Vec<PathBuf>,
    /// Read the running kernel: short for /proc/kcore (needs root).
    #[arg(long, conflicts_with = "vmcore")]
    pub live: bool,
    #[command(flatten)]
    pub debuginfo: DebuginfoArgs,
}

/// Where the kernel's symbols and types come from (docs/debuginfo.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DebuginfoMode {
    /// A DWARF vmlinux if one is found, else the dump's own kallsyms and BTF.
    Auto,
    /// Only a DWARF vmlinux.
    Dwarf,
    /// Only the dump's kallsyms (or --system-map) and BTF (or --btf): no vmlinux.
    Btf,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DebuginfoArgs {
    /// vmlinux with DWARF; default: searched next to the dump, in the standard debug paths, the
    /// debuginfod cache, then on the DEBUGINFOD_URLS servers.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
    /// Never use the network: no debuginfod download (its cache is still read).
    #[arg(long)]
    pub offline: bool,
    /// Where symbols and types come from: a DWARF vmlinux, or the dump's own tables.
    #[arg(long, value_enum, default_value_t = DebuginfoMode::Auto, value_name = "SOURCE")]
    pub debuginfo: DebuginfoMode,
    /// Symbols from this System.map when the dump has no kallsyms in VMCOREINFO (before
    /// Linux 6.0); default: System.map next to the dump, else /boot/System.map-RELEASE.
    #[arg(long, value_name = "FILE")]
    pub system_map: Option<PathBuf>,
    /// Types from this BTF file (e.g. a copy of /sys/kernel/btf/vmlinux) when the dump's
    /// memory holds none.
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare every page table's kernel half with init_mm's and give a verdict.
    ///
    /// Exit status: 0 consistent, 1 findings, 3 incomplete, 2 error.
    ///
    /// Archive mode (a directory, several dumps that are not the parts of one
    /// split dump, or --format jsonl): every dump found, one JSON line each, a
    /// summary on stderr; exit status the most severe of 2, 1, 3, 0 present.
    Analyze {
        #[command(flatten)]
        dump: DumpArgs,
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
        format: AnalyzeFormat,
        /// Limit the report to the page tables of these tasks (the check still reads everything).
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<i32>,
        /// Replay the fixed kernel's p?d_populate_kernel() + arch_sync_kernel_mappings() over
        /// the findings (on a copy-on-write overlay; the dump is never written).
        #[arg(long)]
        replay: bool,
        /// Replay with another ARCH_PAGE_TABLE_SYNC_MASK (a counterfactual); default: the
        /// kernel's own (p4d on 4-level, pgd on 5-level).
        #[arg(long, value_name = "MASK", requires = "replay", value_parser = ["pgd", "p4d", "none"])]
        sync_mask: Option<String>,
        #[command(flatten)]
        archive: ArchiveArgs,
    },
    /// What the dump is: format, release, build-id, paging, KASLR, CPUs.
    Info {
        #[command(flatten)]
        dump: DumpArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The kernel log from the printk ring buffer, with timestamps like dmesg.
    Dmesg {
        #[command(flatten)]
        dump: DumpArgs,
    },
    /// Every task: pid, comm, mm, pgd, CPU it ran on, whether its page table diverged.
    Tasks {
        #[command(flatten)]
        dump: DumpArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Write a minimal self-contained reproduction of the analysis.
    ///
    /// DIR/vmcore with only the pages the
    /// analysis reads, DIR/vmlinux with only the symbols and layouts it uses (same build-id).
    #[cfg(feature = "write")]
    Extract {
        #[command(flatten)]
        dump: DumpArgs,
        /// Output directory (created if needed).
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: PathBuf,
        /// Write DIR/vmcore kdump-compressed (zlib pages, as `makedumpfile -c` does) instead
        /// of ELF: a third of the size, e.g. when it keeps the kallsyms and BTF pages.
        #[arg(long)]
        kdump: bool,
    },
    /// Translate a virtual address level by level, with raw entries and their addresses.
    Vtop {
        /// The dump (several files: the parts of one split dump), then the address.
        #[arg(required = true, num_args = 1.., value_name = "VMCORE")]
        vmcore: Vec<PathBuf>,
        /// Virtual address (hex, 0x optional).
        #[arg(value_name = "ADDR", required = true)]
        addr: String,
        /// Walk this task's page table instead of init_mm's.
        #[arg(long)]
        pid: Option<i32>,
        #[command(flatten)]
        debuginfo: DebuginfoArgs,
    },
}
