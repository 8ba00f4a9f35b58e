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

#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// The dump (several files: the parts of one split dump), or /proc/kcore.
    #[arg(required_unless_present = "live", value_name = "VMCORE")]
    pub vmcore: Vec<PathBuf>,
    /// Read the running kernel: short for /proc/kcore (needs root).
    #[arg(long, conflicts_with = "vmcore")]
    pub live: bool,
    /// vmlinux with DWARF; default: searched next to the dump and in the standard debug paths.
    #[arg(long, value_name = "FILE")]
    pub vmlinux: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compare every page table's kernel half with init_mm's and give a verdict.
    ///
    /// Exit status: 0 consistent, 1 findings, 3 incomplete, 2 error.
    Analyze {
        #[command(flatten)]
        dump: DumpArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
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
        #[arg(long, value_name = "FILE")]
        vmlinux: Option<PathBuf>,
    },
}
