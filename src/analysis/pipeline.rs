//! The whole analysis in one call, as `analyze` runs it: the check, the
//! kernel log, the last oops and its attribution, then (on request) the
//! replay of the fixed kernel. The CLI, `extract`, the corruption campaign
//! and the fuzz bodies all go through [`run`], so that they exercise the
//! same chain in the same order.

use crate::ErrorChain;
use crate::kernel::Kernel;
use crate::model::mask::SyncMask;

use super::crash::{self, Crash};
use super::oops::LogLine;
use super::replay::{self, Replay, ReplayError};
use super::{Analysis, AnalysisError};

/// What to run besides the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Keep only the page tables of these tasks in the result (empty: all).
    /// The check, the attribution and the replay still see everything.
    pub pids: Vec<i32>,
    /// Replay the fixed kernel with this sync mask; `None`: no replay.
    pub replay: Option<SyncMask>,
    /// The dump is a running kernel (`/proc/kcore`): walk `pgd_list` again
    /// when it changed under the walk and re-check each difference before
    /// reporting it ([`super::live::check`]), and read no crash (a running
    /// kernel has not crashed).
    pub live: bool,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The check, narrowed to [`Options::pids`].
    pub analysis: Analysis,
    /// The last oops of the kernel log and what explains it; `None` without
    /// one (or without a readable log).
    pub crash: Option<Crash>,
    /// Present when [`Options::replay`] asked for it.
    pub replay: Option<Replay>,
    /// Why the kernel log was read only in part, or not at all, one line
    /// each for the report's warnings.
    pub log_warnings: Vec<String>,
    /// What the dump's page filter removed of what the check reads.
    pub filter_loss: Option<super::lost::FilterLoss>,
}

/// Why [`run`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The check could not run at all.
    #[error(transparent)]
    Check(#[from] AnalysisError),
    /// The replay failed (the check and the attribution had run).
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Runs check -> kernel log -> oops -> crash attribution -> replay.
///
/// A kernel log that cannot be read does not stop the check: the crash is
/// then `None` and the reason is in [`Outcome::log_warnings`].
pub fn run(k: &Kernel<'_>, options: &Options) -> Result<Outcome, RunError> {
    let mut analysis = if options.live {
        super::live::check(k)?
    } else {
        super::check(k)?
    };
    let mut log_warnings = Vec::new();
    let crash = if options.live {
        None
    } else {
        let log = kernel_log_lines(k, &mut log_warnings);
        crash::attribute(k, &analysis, &log)
    };
    let replay = match options.replay {
        Some(mask) => Some(replay::replay(k, &analysis, crash.as_ref(), mask)?),
        None => None,
    };
    analysis.retain_pids(&options.pids);
    let filter_loss = super::lost::filter_loss(&analysis, k.dump.dump_level, k.memory());
    Ok(Outcome {
        analysis,
        crash,
        replay,
        log_warnings,
        filter_loss,
    })
}

/// The kernel log as the oops parser reads it, and why it is partial.
fn kernel_log_lines(k: &Kernel<'_>, warnings: &mut Vec<String>) -> Vec<LogLine> {
    match k.kernel_log() {
        Ok(log) => {
            warnings.extend(log.warnings.iter().map(|w| format!("kernel log: {w}")));
            log.records.iter().map(LogLine::from).collect()
        }
        Err(e) => {
            warnings.push(format!("kernel log not read: {}", ErrorChain(&e)));
            Vec::new()
        }
    }
}
