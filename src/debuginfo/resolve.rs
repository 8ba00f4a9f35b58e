//! Where the vmlinux comes from, in order (docs/debuginfo.md):
//! `--vmlinux`; next to the dump; the system debug paths; the debuginfod
//! cache; each debuginfod server of `DEBUGINFOD_URLS` (unless offline).
//!
//! The result says which step produced the file ([`Origin`]); when nothing
//! is found, [`ResolveError::NotFound`] holds every step tried and why it
//! failed, so that a caller can fall back to another source of debug
//! information (the dump's own BTF and kallsyms) and show the steps.

use std::fmt;
use std::path::Path;

use super::debuginfod::{CacheLookup, Debuginfod, DebuginfodConfig, DebuginfodError};
use super::finder::{self, Place, SearchRoots, normalized_build_id};
use super::{DebugInfoError, Vmlinux};
use crate::ErrorChain;

/// What is known about the dump, and where to look.
#[derive(Debug, Clone)]
pub struct VmlinuxQuery<'a> {
    /// `--vmlinux FILE`: the only step when given (a wrong file is an error).
    pub explicit: Option<&'a Path>,
    pub dump_path: &'a Path,
    /// VMCOREINFO `OSRELEASE=`.
    pub osrelease: Option<&'a str>,
    /// VMCOREINFO `BUILD-ID=`: checks every candidate, names the cache
    /// entry and the debuginfod request.
    pub build_id: Option<&'a str>,
    pub roots: SearchRoots,
    pub debuginfod: DebuginfodConfig,
    /// No network: the cache is still read, the servers are not asked.
    pub offline: bool,
}

impl<'a> VmlinuxQuery<'a> {
    /// The real file system and the process environment's debuginfod
    /// configuration, online.
    pub fn new(
        dump_path: &'a Path,
        osrelease: Option<&'a str>,
        build_id: Option<&'a str>,
    ) -> VmlinuxQuery<'a> {
        VmlinuxQuery {
            explicit: None,
            dump_path,
            osrelease,
            build_id,
            roots: SearchRoots::default(),
            debuginfod: DebuginfodConfig::from_env(),
            offline: false,
        }
    }
}

/// Which step produced the vmlinux.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// `--vmlinux FILE`.
    Explicit,
    /// `vmlinux` or `vmlinux-<OSRELEASE>` in the dump's directory.
    NextToDump,
    /// A system debug or build-id path (`/usr/lib/debug/...`, `/boot/...`).
    DebugPath,
    /// The debuginfod cache (an earlier download, ours or gdb's/drgn's).
    Cache,
    /// Downloaded now from this debuginfod server (a `DEBUGINFOD_URLS` entry).
    Debuginfod { url: String },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Explicit => f.write_str("--vmlinux"),
            Origin::NextToDump => f.write_str("next to the dump"),
            Origin::DebugPath => f.write_str("debug path"),
            Origin::Cache => f.write_str("debuginfod cache"),
            Origin::Debuginfod { url } => write!(f, "debuginfod {url}"),
        }
    }
}

/// A step of the search (without `--vmlinux`, which never fails over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    NextToDump,
    DebugPath,
    Cache,
    Debuginfod,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::NextToDump => "next to the dump",
            Step::DebugPath => "debug path",
            Step::Cache => "debuginfod cache",
            Step::Debuginfod => "debuginfod",
        })
    }
}

/// Why one step did not give the vmlinux.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    #[error("no such file")]
    Missing,
    #[error(transparent)]
    Unusable(DebugInfoError),
    #[error("build-id {found}, the dump's is {wanted}")]
    OtherBuildId { found: String, wanted: String },
    #[error(transparent)]
    Server(DebuginfodError),
    #[error("skipped: {0}")]
    Skipped(&'static str),
}

/// One step tried: where (a path or URL; empty for a skipped step) and why
/// it failed.
#[derive(Debug)]
pub struct Attempt {
    pub step: Step,
    pub location: String,
    pub failure: Failure,
}

impl Attempt {
    /// Worth telling the user as it happens (a server that failed, a cache
    /// entry that is bad), not a candidate path that simply is not there.
    pub fn is_warning(&self) -> bool {
        matches!(
            (self.step, &self.failure),
            (Step::Debuginfod, Failure::Server(_))
                | (
                    Step::Cache,
                    Failure::Unusable(_) | Failure::OtherBuildId { .. }
                )
        )
    }
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Server errors and file errors already name their URL or path.
        match &self.failure {
            Failure::Server(_) | Failure::Unusable(_) => {
                write!(f, "{}: {}", self.step, ErrorChain(&self.failure))
            }
            _ if self.location.is_empty() => write!(f, "{}: {}", self.step, self.failure),
            _ => write!(f, "{}: {}: {}", self.step, self.location, self.failure),
        }
    }
}

/// The vmlinux found, the step that found it, and the steps that failed
/// before it.
#[derive(Debug)]
pub struct Resolved {
    pub vmlinux: Vmlinux,
    pub origin: Origin,
    pub failed: Vec<Attempt>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// `--vmlinux FILE` cannot be used: never a reason to look elsewhere.
    #[error(transparent)]
    Explicit(DebugInfoError),
    /// No step gave a vmlinux: every attempt, in order.
    #[error("no vmlinux found (pass --vmlinux FILE); tried: {}", fmt_attempts(.attempts))]
    NotFound { attempts: Vec<Attempt> },
}

/// Missing files are listed together; every other attempt on its own.
fn fmt_attempts(attempts: &[Attempt]) -> String {
    let missing: Vec<&str> = attempts
        .iter()
        .filter(|a| matches!(a.failure, Failure::Missing))
        .map(|a| a.location.as_str())
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("{} (none exists)", missing.join(", ")));
    }
    parts.extend(
        attempts
            .iter()
            .filter(|a| !matches!(a.failure, Failure::Missing))
            .map(Attempt::to_string),
    );
    parts.join("; ")
}

/// Runs the search. `on_failure` sees each failed attempt as it happens
/// (a front end shows [`Attempt::is_warning`] ones at once: a download can
/// take minutes before the next server is tried).
pub fn resolve_vmlinux(
    q: &VmlinuxQuery<'_>,
    on_failure: &mut dyn FnMut(&Attempt),
) -> Result<Resolved, ResolveError> {
    if let Some(path) = q.explicit {
        let v = finder::find_vmlinux_in(&q.roots, Some(path), q.dump_path, None, q.build_id)
            .map_err(ResolveError::Explicit)?;
        return Ok(Resolved {
            vmlinux: v,
            origin: Origin::Explicit,
            failed: Vec::new(),
        });
    }
    let mut failed = Vec::new();
    let found = search(q, &mut |a: Attempt| {
        on_failure(&a);
        failed.push(a);
    });
    match found {
        Some((vmlinux, origin)) => Ok(Resolved {
            vmlinux,
            origin,
            failed,
        }),
        None => Err(ResolveError::NotFound { attempts: failed }),
    }
}

/// The steps after `--vmlinux`, in order, until one gives a vmlinux.
fn search(q: &VmlinuxQuery<'_>, fail: &mut dyn FnMut(Attempt)) -> Option<(Vmlinux, Origin)> {
    let wanted = q.build_id.and_then(normalized_build_id);
    for (path, place) in finder::candidates(&q.roots, q.dump_path, q.osrelease, q.build_id) {
        let (step, origin) = match place {
            Place::NextToDump => (Step::NextToDump, Origin::NextToDump),
            Place::DebugPath => (Step::DebugPath, Origin::DebugPath),
        };
        match try_local(&path, wanted.as_deref()) {
            Ok(vmlinux) => return Some((vmlinux, origin)),
            Err(failure) => fail(Attempt {
                step,
                location: path.display().to_string(),
                failure,
            }),
        }
    }
    remote(q, wanted.as_deref(), fail)
}

/// A local candidate: a regular file that opens as a vmlinux whose
/// build-id does not contradict the dump's (none on either side: taken).
fn try_local(path: &Path, wanted: Option<&str>) -> Result<Vmlinux, Failure> {
    if !path.is_file() {
        return Err(Failure::Missing);
    }
    let v = Vmlinux::open(path).map_err(Failure::Unusable)?;
    match (wanted, v.build_id()) {
        (Some(wanted), Some(found)) if found != wanted => Err(Failure::OtherBuildId {
            found,
            wanted: wanted.to_string(),
        }),
        _ => Ok(v),
    }
}

/// The debuginfod cache, then each server.
fn remote(
    q: &VmlinuxQuery<'_>,
    wanted: Option<&str>,
    fail: &mut dyn FnMut(Attempt),
) -> Option<(Vmlinux, Origin)> {
    let skipped = |step, why| Attempt {
        step,
        location: String::new(),
        failure: Failure::Skipped(why),
    };
    let Some(id) = wanted else {
        fail(skipped(
            Step::Debuginfod,
            "the dump has no VMCOREINFO BUILD-ID to ask for",
        ));
        return None;
    };
    let client = Debuginfod::new(q.debuginfod.clone());
    let Some(cache_file) = q.debuginfod.cache_file(id) else {
        fail(skipped(
            Step::Debuginfod,
            "no cache directory (set DEBUGINFOD_CACHE_PATH or HOME)",
        ));
        return None;
    };
    let cache_location = cache_file.display().to_string();
    let cache_failure = match client.cached(id) {
        CacheLookup::Hit(v) => return Some((*v, Origin::Cache)),
        CacheLookup::Miss => Failure::Missing,
        CacheLookup::Unusable(e) => Failure::Unusable(e),
        CacheLookup::OtherBuildId { found, .. } => Failure::OtherBuildId {
            found,
            wanted: id.to_string(),
        },
    };
    fail(Attempt {
        step: Step::Cache,
        location: cache_location,
        failure: cache_failure,
    });
    if q.offline {
        fail(skipped(Step::Debuginfod, "offline (--offline)"));
        return None;
    }
    if q.debuginfod.urls.is_empty() {
        fail(skipped(Step::Debuginfod, "DEBUGINFOD_URLS is not set"));
        return None;
    }
    servers(q, &client, id, fail)
}

/// Each `DEBUGINFOD_URLS` server in turn.
#[cfg(feature = "debuginfod")]
fn servers(
    q: &VmlinuxQuery<'_>,
    client: &Debuginfod,
    id: &str,
    fail: &mut dyn FnMut(Attempt),
) -> Option<(Vmlinux, Origin)> {
    for server in &q.debuginfod.urls {
        match client.fetch_from(server, id) {
            Ok(v) => {
                return Some((
                    v,
                    Origin::Debuginfod {
                        url: server.clone(),
                    },
                ));
            }
            Err(e) => fail(Attempt {
                step: Step::Debuginfod,
                location: DebuginfodConfig::request_url(server, id),
                failure: Failure::Server(e),
            }),
        }
    }
    None
}

/// A build without the HTTP client (the static capture-kernel binary).
#[cfg(not(feature = "debuginfod"))]
fn servers(
    _q: &VmlinuxQuery<'_>,
    _client: &Debuginfod,
    _id: &str,
    fail: &mut dyn FnMut(Attempt),
) -> Option<(Vmlinux, Origin)> {
    fail(Attempt {
        step: Step::Debuginfod,
        location: String::new(),
        failure: Failure::Skipped(
            "this build has no debuginfod client (cargo feature `debuginfod`)",
        ),
    });
    None
}
