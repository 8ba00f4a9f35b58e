//! Resolving the debug information of one dump, in the documented order
//! (docs/debuginfo.md): `--vmlinux`; a vmlinux next to the dump; the
//! standard debug and build-id paths; debuginfod; then the dump's own
//! kallsyms (or a System.map) and BTF. `--debuginfo dwarf|btf` keeps one
//! side only.

use anyhow::{Result, bail};

use pgsync_dump::debuginfo::{DebugInfo, Vmlinux, finder::find_vmlinux};
use pgsync_dump::dump::CrashDump;

use super::{DebuginfoArgs, DebuginfoMode};

/// The debug information an analysis runs on, owned for as long as the
/// kernel view lives.
pub(super) enum Resolved {
    Vmlinux(Vmlinux),
}

impl Resolved {
    pub(super) fn handle(&self) -> DebugInfo<'_> {
        match self {
            Resolved::Vmlinux(v) => DebugInfo::Dwarf(v),
        }
    }
}

/// The debug information for `d`, as `args` asks.
pub(super) fn resolve(d: &CrashDump, args: &DebuginfoArgs) -> Result<Resolved> {
    match args.debuginfo {
        DebuginfoMode::Dwarf | DebuginfoMode::Auto => Ok(Resolved::Vmlinux(open_vmlinux(d, args)?)),
        DebuginfoMode::Btf => bail!("--debuginfo btf: not built yet"),
    }
}

fn open_vmlinux(d: &CrashDump, args: &DebuginfoArgs) -> Result<Vmlinux> {
    let explicit = args.vmlinux.as_deref();
    let info = d.vmcoreinfo.as_ref();
    if info.is_none() && explicit.is_none() {
        bail!(
            "{}: the dump has no VMCOREINFO note, so neither its kernel release nor its build-id is known: pass --vmlinux",
            d.path.display()
        );
    }
    let v = find_vmlinux(
        explicit,
        &d.path,
        info.and_then(|i| i.osrelease.as_deref()),
        info.and_then(|i| i.build_id.as_deref()),
    )?;
    Ok(v)
}
