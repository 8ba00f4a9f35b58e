//! The terminal progress bar behind `dump::progress`: drawn on stderr only
//! when stderr is a terminal and a step has run for more than a second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgsync_dump::dump::progress::ProgressSink;

/// Steps shorter than this never show a bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// Set by the archive mode, whose bar over dumps replaces the bars of
/// steps (several workers' steps would draw over each other).
static SUPPRESSED: AtomicBool = AtomicBool::new(false);

/// No step draws a bar from now on.
pub fn suppress() {
    SUPPRESSED.store(true, Ordering::Relaxed);
}

pub struct TerminalProgress {
    state: Mutex<Option<(ProgressBar, Instant, bool)>>,
}

impl TerminalProgress {
    pub const fn new() -> TerminalProgress {
        TerminalProgress {
            state: Mutex::new(None),
        }
    }
}

impl ProgressSink for TerminalProgress {
    fn begin(&self, what: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        if let Ok(mut s) = self.state.lock() {
            *s = Some((bar, Instant::now(), false));
        }
    }

    fn set(&self, done: u64) {
        if let Ok(mut s) = self.state.lock() {
            if let Some((bar, start, shown)) = s.as_mut() {
                if !*shown && start.elapsed() > SHOW_AFTER && !SUPPRESSED.load(Ordering::Relaxed) {
                    // stderr() draws nothing when stderr is not a terminal.
                    bar.set_draw_target(ProgressDrawTarget::stderr());
                    *shown = true;
                }
                bar.set_position(done);
            }
        }
    }

    fn end(&self) {
        if let Ok(mut s) = self.state.lock() {
            if let Some((bar, _, _)) = s.take() {
                bar.finish_and_clear();
            }
        }
    }
}
