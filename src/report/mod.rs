//! Reports: a table for people ([`table`]) and stable JSON for CI ([`json`],
//! schema `pgsync-dump/analyze/v1`, docs/json-schema.md); `info` and `tasks`
//! as typed reports ([`info`], [`tasks`]) in both forms.

pub mod debuginfo;
pub mod info;
pub mod json;
#[doc(hidden)] // public for tests/terminal_width.rs
pub mod layout;
pub mod live;
pub mod table;
pub mod tasks;

/// Facts about the dump and kernel shown in every report.
#[derive(Debug, Clone)]
pub struct DumpFacts {
    pub path: String,
    pub format: &'static str,
    pub compression: Option<&'static str>,
    pub osrelease: Option<String>,
    pub build_id: Option<String>,
    pub cpus: usize,
    pub paging_levels: u8,
    pub kaslr_offset: u64,
    pub phys_base: u64,
    pub page_offset_base: u64,
    pub vmalloc_base: u64,
    pub vmemmap_base: u64,
    pub has_sync_fix: bool,
    /// The vmlinux used (empty without one: see `debuginfo`).
    pub vmlinux: String,
    /// Where symbols and types came from.
    pub debuginfo: debuginfo::DebugInfoJson,
    pub warnings: Vec<String>,
    /// makedumpfile's `-d` from the kdump header (`None` for ELF).
    pub dump_level: Option<i32>,
    /// What that filter removed of what the check reads
    /// ([`crate::analysis::Outcome::filter_loss`]).
    pub filter_loss: Option<crate::analysis::lost::FilterLoss>,
    /// The dump is a running kernel's memory (`/proc/kcore`).
    pub live: bool,
}

impl DumpFacts {
    pub fn from_kernel(k: &crate::kernel::Kernel<'_>) -> DumpFacts {
        let d = k.dump;
        let info = d.vmcoreinfo.as_ref();
        let mut warnings = d.warnings.clone();
        warnings.extend(k.warnings.iter().cloned());
        DumpFacts {
            path: d.path.display().to_string(),
            format: d.format.as_str(),
            compression: d.compression,
            osrelease: info.and_then(|i| i.osrelease.clone()),
            build_id: info.and_then(|i| i.build_id.clone()),
            cpus: d.cpus.len(),
            paging_levels: k.layout.mode.levels(),
            kaslr_offset: k.kaslr_offset,
            phys_base: k.phys_base,
            page_offset_base: k.layout.page_offset_base,
            vmalloc_base: k.layout.vmalloc_base,
            vmemmap_base: k.layout.vmemmap_base,
            has_sync_fix: k.has_sync_fix(),
            vmlinux: k
                .debuginfo
                .vmlinux()
                .map(|v| v.path().display().to_string())
                .unwrap_or_default(),
            debuginfo: (&k.debuginfo.describe()).into(),
            warnings,
            dump_level: d.dump_level,
            filter_loss: None,
            live: d.format == crate::dump::DumpFormat::Kcore,
        }
    }
}

/// `0x`-prefixed lowercase hex: JSON numbers cannot hold a u64 exactly.
/// Takes a plain number or a typed address ([`crate::dump::PhysAddr`],
/// [`crate::arch::x86_64::VirtAddr`]): this is where addresses meet text.
pub fn hex(v: impl Into<u64>) -> String {
    let v: u64 = v.into();
    format!("{v:#x}")
}
