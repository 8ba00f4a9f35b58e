//! `analyze` over a crash archive (docs/fleet.md): many dumps, directories
//! walked, split dumps grouped, dumps analyzed in parallel; one JSON line
//! per dump on stdout in input order, a summary for people on stderr.
//!
//! The rule: `analyze` is in archive mode when `--format jsonl` is given,
//! when an argument is a directory, or when several files are given that
//! are not all parts of one split dump (by their kdump headers). Otherwise
//! (one file, or the parts of one split dump) it is the single-dump mode,
//! unchanged.

mod debuginfo;
mod inputs;
mod pool;
mod summary;

use std::io::IsTerminal as _;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::cli::DebuginfoArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgsync_dump::analysis;
use pgsync_dump::dump;
use pgsync_dump::report;
use serde::Serialize;

use super::commands::{analyzed, emit, stdout_closed};
use super::{AnalyzeFormat, ArchiveArgs, DumpArgs, is_quiet, note};
use debuginfo::DebugInfoCache;
use inputs::Input;
use summary::{DumpSummary, Summary};

/// Whether `analyze` with these arguments is in archive mode (besides
/// `--format jsonl`, which always is).
pub fn archive_mode(args: &[PathBuf]) -> bool {
    if args.iter().any(|a| a.is_dir()) {
        return true;
    }
    args.len() > 1 && !inputs::one_split_dump(args)
}

/// One output line: the v1 report of a dump, or why there is none.
#[derive(Serialize)]
struct Line<'a> {
    path: String,
    /// All parts, for a split dump.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<Vec<String>>,
    exit: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    report: Option<&'a report::json::Report>,
}

impl<'a> Line<'a> {
    fn new(paths: &[PathBuf], exit: u8) -> Line<'a> {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        Line {
            path: names.first().cloned().unwrap_or_default(),
            parts: (names.len() > 1).then_some(names),
            exit,
            error: None,
            report: None,
        }
    }
}

/// A finished dump: its line and what the summary keeps.
struct Done {
    line: String,
    summary: DumpSummary,
}

fn error_done(paths: &[PathBuf], error: &str) -> Done {
    // One line: a message with a newline would break the stream.
    let error = error.replace(['\n', '\r'], " ");
    let line = Line {
        error: Some(&error),
        ..Line::new(paths, 2)
    };
    Done {
        line: serde_json::to_string(&line).unwrap_or_default(),
        summary: DumpSummary::error(),
    }
}

struct Context {
    debuginfo_args: DebuginfoArgs,
    options: analysis::Options,
    debuginfo: DebugInfoCache,
}

fn analyze_paths(paths: &[PathBuf], cx: &Context) -> Result<Done> {
    let d = dump::open(paths)?;
    let (debuginfo, own_vmlinux) = cx.debuginfo.resolve(&d, &cx.debuginfo_args)?;
    analyzed(&d, &debuginfo, &cx.options, |facts, outcome| {
        let a = &outcome.analysis;
        let mut r = report::json::report(facts, a, outcome.crash.as_ref(), outcome.replay.as_ref());
        // The file this dump's own search found, as a single run names it
        // (the shared copy may have been opened through another link).
        if let Some(p) = &own_vmlinux {
            r.dump.vmlinux = p.display().to_string();
        }
        let exit = a.verdict().exit_code() as u8;
        let line = Line {
            report: Some(&r),
            ..Line::new(paths, exit)
        };
        Ok(Done {
            line: serde_json::to_string(&line)?,
            summary: DumpSummary::analyzed(&r, exit),
        })
    })?
}

fn analyze_input(input: &Input, cx: &Context) -> Done {
    match input {
        Input::Error { paths, error } => error_done(paths, error),
        Input::Dump(paths) => {
            // A bug on one dump's bytes must not end the whole run.
            match std::panic::catch_unwind(AssertUnwindSafe(|| analyze_paths(paths, cx))) {
                Ok(Ok(done)) => done,
                Ok(Err(e)) => error_done(paths, &format!("{e:#}")),
                Err(_) => error_done(paths, "internal error: the analysis panicked (see stderr)"),
            }
        }
    }
}

fn progress_bar(total: usize) -> ProgressBar {
    if is_quiet() || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("dumps [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Archive mode: see the module documentation.
pub fn run(
    args: &DumpArgs,
    format: AnalyzeFormat,
    options: &analysis::Options,
    archive: &ArchiveArgs,
) -> Result<u8> {
    if format == AnalyzeFormat::Json {
        bail!(
            "several dumps give one JSON object per line: use --format jsonl (docs/fleet.md); --format json is one report of one dump"
        );
    }
    // The per-dump progress bar of long steps would interleave across
    // workers; the bar over dumps replaces it.
    super::progress::suppress();
    let jobs = match archive.jobs {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let budget = (archive.timeout > 0).then(|| Duration::from_secs(archive.timeout));
    let found = inputs::collect(&args.vmcore);
    let cx = Arc::new(Context {
        debuginfo_args: args.debuginfo.clone(),
        options: options.clone(),
        debuginfo: DebugInfoCache::default(),
    });
    let bar = progress_bar(found.items.len());
    let mut summary = Summary::default();
    let timeout = archive.timeout;
    pool::run_ordered(
        found.items,
        jobs,
        budget,
        move |input| analyze_input(input, &cx),
        |input| {
            error_done(
                input.paths(),
                &format!("no result after {timeout} s (--timeout): the analysis was abandoned"),
            )
        },
        |done| {
            emit(&(done.line + "\n"))?;
            if stdout_closed() {
                // `analyze DIR | head`: the reader is gone, so is the point.
                return Ok(ControlFlow::Break(()));
            }
            summary.add(&done.summary);
            bar.inc(1);
            Ok(ControlFlow::Continue(()))
        },
    )?;
    bar.finish_and_clear();
    for line in summary.render(&found.skipped).lines() {
        note(line);
    }
    Ok(summary.exit_status())
}
