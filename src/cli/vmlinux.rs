//! Finding the dump's vmlinux for a subcommand: the library's search order
//! (`debuginfo::resolve`), with each failed debuginfod server or bad cache
//! entry shown as it happens.

use std::path::Path;

use anyhow::{Result, bail};

use pgsync_dump::debuginfo::{Origin, Resolved, VmlinuxQuery, resolve_vmlinux};
use pgsync_dump::dump::CrashDump;

use super::note;

/// Every step of the search, in order; `Err(ResolveError::NotFound)` lists
/// them all (a caller may fall back to the dump's own debug information).
pub fn resolve(d: &CrashDump, explicit: Option<&Path>, offline: bool) -> Result<Resolved> {
    let info = d.vmcoreinfo();
    if info.is_none() && explicit.is_none() {
        bail!(
            "{}: the dump has no VMCOREINFO note, so neither its kernel release nor its build-id is known: pass --vmlinux",
            d.path().display()
        );
    }
    let mut query = VmlinuxQuery::new(
        d.path(),
        info.and_then(|i| i.osrelease.as_deref()),
        info.and_then(|i| i.build_id.as_deref()),
    );
    query.explicit = explicit;
    query.offline = offline;
    let resolved = resolve_vmlinux(&query, &mut |attempt| {
        if attempt.is_warning() {
            note(&format!("warning: {attempt}"));
        }
    })?;
    if let Origin::Debuginfod { url } = &resolved.origin {
        note(&format!(
            "note: vmlinux downloaded from {url} into {}",
            resolved.vmlinux.path().display()
        ));
    }
    Ok(resolved)
}
