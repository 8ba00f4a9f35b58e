//! Resolving the debug information of one dump, in the documented order
//! (docs/debuginfo.md): `--vmlinux`; a vmlinux next to the dump; the
//! standard debug and build-id paths; the debuginfod cache and servers;
//! then the dump's own kallsyms (or a System.map) and BTF. `--debuginfo
//! dwarf|btf` keeps one side only.

use std::sync::Arc;

use anyhow::{Context, Result, bail};

use pgsync_dump::debuginfo::{DebugInfo, DumpDebugInfo, DumpSourceOptions, ResolveError, Vmlinux};
use pgsync_dump::dump::CrashDump;
use pgsync_dump::report::debuginfo::DebugInfoJson;

use super::vmlinux;
use super::{DebuginfoArgs, DebuginfoMode};

/// Where the symbols and types are, owned for as long as the kernel view
/// lives.
pub(crate) enum Source {
    /// Shared: the archive mode opens each vmlinux once for many dumps.
    Vmlinux(Arc<Vmlinux>),
    Dump(Box<DumpDebugInfo>),
}

/// The debug information of a dump, which step found it, and the steps
/// tried before it.
pub(crate) struct Resolution {
    pub(crate) source: Source,
    /// `--vmlinux`, `next to the dump`, `debug path`, `debuginfod cache`,
    /// `debuginfod URL`, or `dump`.
    pub(super) found_by: String,
    /// Steps that did not give a vmlinux, before the dump's own tables
    /// were used (one line each).
    pub(super) tried: Vec<String>,
}

impl Resolution {
    pub(crate) fn handle(&self) -> DebugInfo<'_> {
        match &self.source {
            Source::Vmlinux(v) => DebugInfo::Dwarf(v),
            Source::Dump(d) => DebugInfo::Dump(d),
        }
    }

    /// Adds which step found the debug information, and what was tried
    /// before, to a report's `debuginfo` object.
    /// The vmlinux file, in DWARF mode.
    pub(crate) fn vmlinux_path(&self) -> Option<&std::path::Path> {
        match &self.source {
            Source::Vmlinux(v) => Some(v.path()),
            Source::Dump(_) => None,
        }
    }

    pub(crate) fn annotate(&self, j: &mut DebugInfoJson) {
        j.found_by = Some(self.found_by.clone());
        j.tried = self.tried.clone();
    }
}

/// The debug information for `d`, as `args` asks.
pub(crate) fn resolve(d: &CrashDump, args: &DebuginfoArgs) -> Result<Resolution> {
    if args.debuginfo == DebuginfoMode::Btf && args.vmlinux.is_some() {
        bail!("--vmlinux and --debuginfo btf exclude each other: btf reads no vmlinux");
    }
    if args.debuginfo == DebuginfoMode::Btf {
        return from_dump(d, args, Vec::new());
    }
    match vmlinux::resolve(d, args.vmlinux.as_deref(), args.offline) {
        Ok(r) => Ok(Resolution {
            source: Source::Vmlinux(Arc::new(r.vmlinux)),
            found_by: r.origin.to_string(),
            tried: r.failed.iter().map(ToString::to_string).collect(),
        }),
        Err(e) if args.debuginfo == DebuginfoMode::Dwarf || args.vmlinux.is_some() => Err(e),
        Err(dwarf) => {
            let tried = match dwarf.downcast_ref::<ResolveError>() {
                Some(ResolveError::NotFound { attempts }) => {
                    attempts.iter().map(ToString::to_string).collect()
                }
                _ => vec![format!("{dwarf:#}")],
            };
            from_dump(d, args, tried).map_err(|dump| {
                anyhow::anyhow!(
                    "no debug information: {dwarf:#}; and from the dump itself: {dump:#}"
                )
            })
        }
    }
}

/// The dump's own kallsyms (or a System.map) and BTF (or a BTF file).
fn from_dump(d: &CrashDump, args: &DebuginfoArgs, tried: Vec<String>) -> Result<Resolution> {
    let opts = DumpSourceOptions {
        system_map: args.system_map.clone(),
        btf: args.btf.clone(),
        symbols_hint: pgsync_dump::kernel::symbols::WANTED.to_vec(),
        ..DumpSourceOptions::default()
    };
    let dd = DumpDebugInfo::load(d, d.memory(), &opts).with_context(|| {
        format!(
            "{}: reading the kernel's symbols and BTF from the dump",
            d.path().display()
        )
    })?;
    Ok(Resolution {
        source: Source::Dump(Box::new(dd)),
        found_by: "dump".into(),
        tried,
    })
}
