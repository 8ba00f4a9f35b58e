//! Terminal conventions: how wide the report may be, and `--quiet`.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: warnings and notes on stderr are dropped (errors are not).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A warning or note for a person: on stderr, unless `--quiet`.
pub fn note(line: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("{line}");
    }
}

/// The columns tables must fit, or `None` for full rows. Only a terminal
/// on stdout has a width: piped or redirected output keeps full rows, so
/// scripts see the same bytes whatever terminal they were started from.
/// On a terminal, `COLUMNS` (when set to a number) wins over the size the
/// terminal reports, then 80.
pub fn report_width() -> Option<u16> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c > 0);
    Some(
        from_env
            .or_else(|| comfy_table::Table::new().width())
            .unwrap_or(80),
    )
}
