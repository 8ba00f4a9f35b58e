//! `pgsync-dump`: the command-line front end. Errors become one line on
//! stderr and exit status 2; `analyze` exits 0/1/3 by verdict (docs/cli.md).

mod cli;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

static PROGRESS: cli::TerminalProgress = cli::TerminalProgress::new();

fn main() -> ExitCode {
    // The definition (cli/args.rs) is shared with the man-page generator,
    // which has no git commit; the binary's --version adds it here.
    let mut command = cli::Cli::command().version(cli::VERSION);
    let matches = command.get_matches_mut();
    let args =
        cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut command).exit());
    cli::set_quiet(args.quiet);
    // Progress bars are for a person watching a terminal: not with --quiet,
    // not into a log file or pipe.
    if !args.quiet && std::io::stderr().is_terminal() {
        pgsync_dump::dump::progress::set_sink(&PROGRESS);
    }
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("pgsync-dump: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
