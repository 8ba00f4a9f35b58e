//! Subcommands. Each opens the dump, finds the vmlinux, builds the kernel
//! view and hands the result to the report layer.

mod args;
mod batch;
mod commands;
pub(crate) mod debuginfo;
mod progress;
mod terminal;
mod vmlinux;

pub use args::{
    AnalyzeFormat, ArchiveArgs, Cli, Command, DebuginfoArgs, DebuginfoMode, DumpArgs, Format,
};
pub use progress::TerminalProgress;
pub use terminal::{is_quiet, note, report_width, set_quiet};

pub use commands::run;

/// `pgsync-dump --version`: the release and the git commit it was built from
/// (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("PGSYNC_GIT_COMMIT"),
    ")"
);
