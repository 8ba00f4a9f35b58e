//! `pgsync-dump`: the command-line front end. Errors become one line on
//! stderr and exit status 2; `analyze` exits 0/1/3 by verdict (docs/cli.md).

mod cli;

use std::process::ExitCode;

use clap::Parser;

static PROGRESS: cli::TerminalProgress = cli::TerminalProgress::new();

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    pgsync_dump::dump::progress::set_sink(&PROGRESS);
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pgsync-dump: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
