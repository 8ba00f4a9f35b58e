//! Resolving the debug information of one dump, in the documented order
//! (docs/debuginfo.md): `--vmlinux`; a vmlinux next to the dump; the
//! standard debug and build-id paths; debuginfod; then the dump's own
//! kallsyms (or a System.map) and BTF. `--debuginfo dwarf|btf` keeps one
//! side only.

use anyhow::{Context, Result, bail};

use pgsync_dump::debuginfo::{
    DebugInfo, DumpDebugInfo, DumpSourceOptions, Vmlinux, finder::find_vmlinux,
};
use pgsync_dump::dump::CrashDump;

use super::{DebuginfoArgs, DebuginfoMode};

/// The debug information an analysis runs on, owned for as long as the
/// kernel view lives.
pub(super) enum Resolved {
    Vmlinux(Box<Vmlinux>),
    Dump(Box<DumpDebugInfo>),
}

impl Resolved {
    pub(super) fn handle(&self) -> DebugInfo<'_> {
        match self {
            Resolved::Vmlinux(v) => DebugInfo::Dwarf(v),
            Resolved::Dump(d) => DebugInfo::Dump(d),
        }
    }
}

/// The debug information for `d`, as `args` asks.
pub(super) fn resolve(d: &CrashDump, args: &DebuginfoArgs) -> Result<Resolved> {
    if args.debuginfo == DebuginfoMode::Btf && args.vmlinux.is_some() {
        bail!("--vmlinux and --debuginfo btf exclude each other: btf reads no vmlinux");
    }
    match args.debuginfo {
        DebuginfoMode::Dwarf => Ok(Resolved::Vmlinux(Box::new(open_vmlinux(d, args)?))),
        DebuginfoMode::Btf => Ok(Resolved::Dump(Box::new(from_dump(d, args)?))),
        DebuginfoMode::Auto => match open_vmlinux(d, args) {
            Ok(v) => Ok(Resolved::Vmlinux(Box::new(v))),
            // An explicit file that cannot be used is the user's error.
            Err(e) if args.vmlinux.is_some() => Err(e),
            Err(dwarf) => match from_dump(d, args) {
                Ok(dd) => Ok(Resolved::Dump(Box::new(dd))),
                Err(dump) => {
                    bail!("no debug information: {dwarf:#}; and from the dump itself: {dump:#}")
                }
            },
        },
    }
}

/// The dump's own kallsyms (or a System.map) and BTF (or a BTF file).
fn from_dump(d: &CrashDump, args: &DebuginfoArgs) -> Result<DumpDebugInfo> {
    let opts = DumpSourceOptions {
        system_map: args.system_map.clone(),
        btf: args.btf.clone(),
        symbols_hint: pgsync_dump::kernel::symbols::WANTED.to_vec(),
        ..DumpSourceOptions::default()
    };
    DumpDebugInfo::load(d, d.memory(), &opts).with_context(|| {
        format!(
            "{}: reading the kernel's symbols and BTF from the dump",
            d.path.display()
        )
    })
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
