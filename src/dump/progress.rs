//! Progress of long steps (indexing a multi-GB flattened dump, say), as a
//! facade like the `log` crate's: the library reports, the front end decides
//! whether and how to show it (a bar on a terminal, nothing otherwise).
//! Without a sink installed, reporting costs one atomic load.

use std::sync::OnceLock;

/// Receives progress of one step at a time.
pub trait ProgressSink: Sync {
    /// A step of `total` units (bytes) starts.
    fn begin(&self, what: &str, total: u64);
    /// `done` of `total` units are done.
    fn set(&self, done: u64);
    /// The step ended (finished or failed).
    fn end(&self);
}

static SINK: OnceLock<&'static dyn ProgressSink> = OnceLock::new();

/// Installs the process-wide sink (first call wins).
pub fn set_sink(sink: &'static dyn ProgressSink) {
    let _ = SINK.set(sink);
}

/// A step in progress; ends when dropped.
pub(crate) struct Step {
    sink: Option<&'static dyn ProgressSink>,
}

/// Starts reporting a step of `total` units.
pub(crate) fn step(what: &str, total: u64) -> Step {
    let sink = SINK.get().copied();
    if let Some(s) = sink {
        s.begin(what, total);
    }
    Step { sink }
}

impl Step {
    pub(crate) fn set(&self, done: u64) {
        if let Some(s) = self.sink {
            s.set(done);
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(s) = self.sink {
            s.end();
        }
    }
}
