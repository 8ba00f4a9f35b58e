//! The fixture builder: synthetic x86-64 machines whose dumps look to a
//! reader exactly like a real kernel's (everything reachable through
//! symbols, DWARF and VMCOREINFO; nothing at a hard-coded offset).
//!
//! A [`Plan`] (serializable, deterministic from its seeds) describes the
//! machine; [`build`] lays it out and returns the vmcore (ELF ET_CORE), the
//! vmlinux (ELF ET_EXEC with DWARF) and `expected.json` derived from the
//! plan. [`write_fixture`] writes a fixture directory; [`scenarios`] are the
//! committed fixtures and [`random_plan`] feeds property tests.
//!
//! Layers: `plan` (what) -> `layouts` (struct layouts, shared by DWARF and
//! bytes) -> `memory` (physical pages, page tables) -> `kernel` (objects,
//! symbols, VMCOREINFO) -> `elf`, `formats` (files, through pgsync-dump's
//! writers in `pgsync_dump::write`) and `expected` (the answer).
//!
//! A crate of its own (never published): pgsync-dump's tests, benchmarks and
//! examples use it as a dev-dependency, and `gen-fixtures` is its binary.

pub mod elf;
pub mod expected;
pub mod formats;
pub mod kcore;
pub mod kernel;
pub mod large;
pub mod layouts;
pub mod lzo;
pub mod memory;
pub mod plan;
pub mod printk;
pub mod rng;

use std::path::Path;

pub use kernel::Machine;
pub use large::large_plan;
pub use plan::{
    CpuPlan, CrashPlan, EditKind, KallsymsStyle, Loaded, LogFormat, LogPlan, MmPlan, MmRole,
    NoteStyle, PercpuScheme, PgdOwner, Plan, SlotEdit, TaskPlan, ThreadLists, VmemmapPages,
    random_plan, scenarios,
};

/// Why a plan could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid plan: {0}")]
    Plan(String),
    #[error("struct layout: {0}")]
    Layout(String),
    #[error(transparent)]
    Write(#[from] pgsync_dump::write::WriteError),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The files of one fixture.
#[derive(Debug, Clone)]
pub struct Built {
    pub vmcore: Vec<u8>,
    pub vmlinux: Vec<u8>,
    pub expected: serde_json::Value,
    /// The plan's extra dump formats: (file name, bytes).
    pub formats: Vec<(&'static str, Vec<u8>)>,
    /// For kernels without VMCOREINFO kallsyms: their System.map.
    pub system_map: Option<String>,
}

/// Builds the machine and its files.
pub fn build(plan: &Plan) -> Result<Built, SynthError> {
    let (built, _) = build_with_machine(plan)?;
    Ok(built)
}

/// Like [`build`], also returning the laid-out machine (addresses, symbols,
/// layouts) for tests and tools.
pub fn build_with_machine(plan: &Plan) -> Result<(Built, Machine), SynthError> {
    let m = kernel::build_machine(plan)?;
    let debug = pgsync_dump::write::dwarf::write_dwarf(&m.layouts, plan.dwarf_version)?;
    let vmlinux = elf::write_vmlinux(plan, &m, &debug)?;
    let vmcore = elf::write_vmcore(plan, &m)?;
    let expected = expected::expected(plan, &m)?;
    let formats = plan
        .formats
        .iter()
        .map(|&f| (f.file_name(), formats::write_format(plan, &m, f)))
        .collect();
    Ok((
        Built {
            vmcore,
            vmlinux,
            expected,
            formats,
            system_map: m.dump_debuginfo.system_map.clone(),
        },
        m,
    ))
}

/// Pretty JSON with a trailing newline (stable bytes).
pub fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>, SynthError> {
    let mut s = serde_json::to_vec_pretty(v)?;
    s.push(b'\n');
    Ok(s)
}

/// Writes `dir/vmcore`, `dir/vmlinux`, `dir/expected.json`, `dir/plan.json`
/// and the plan's extra formats (`dir/vmcore.zlib`, ...).
pub fn write_fixture(plan: &Plan, dir: &Path) -> Result<Built, SynthError> {
    let built = build(plan)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("vmcore", built.vmcore.clone()),
        ("expected.json", to_json(&built.expected)?),
        ("plan.json", to_json(plan)?),
    ];
    if plan.vmlinux_beside {
        files.push(("vmlinux", built.vmlinux.clone()));
    }
    for (name, data) in files {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(io(&p))?;
    }
    if let Some(map) = &built.system_map {
        let p = dir.join("System.map");
        std::fs::write(&p, map).map_err(io(&p))?;
    }
    for (name, data) in &built.formats {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(io(&p))?;
    }
    Ok(built)
}

#[cfg(test)]
mod tests;
