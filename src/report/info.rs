//! `info`: what the dump is and, when the vmlinux is found, what the kernel
//! in it is. One typed report serves both forms: JSON (serde) and a
//! two-column table of the same fields.
//!
//! Fields are declared in alphabetical order: the JSON has always printed
//! them so, and scripts that compare its text keep working.

use serde::Serialize;

use crate::dump::CrashDump;
use crate::kernel::Kernel;

use super::hex;
use super::layout::{self, Column, Frame};

/// `info --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InfoReport {
    pub build_id: Option<String>,
    pub compression: Option<&'static str>,
    /// CPUs whose state the dump holds.
    pub cpus: usize,
    /// makedumpfile's `-d` from the kdump header; absent for ELF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dump_level: Option<i32>,
    /// The page kinds `dump_level` leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dump_level_excludes: Option<Vec<&'static str>>,
    pub format: &'static str,
    /// The kernel view, when the vmlinux was found and the view set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelInfo>,
    /// Why there is no `kernel`: one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_error: Option<String>,
    pub osrelease: Option<String>,
    pub path: String,
    pub physical_ranges: usize,
    /// The dump has a VMCOREINFO note.
    pub vmcoreinfo: bool,
    pub warnings: Vec<String>,
}

/// The `kernel` object of [`InfoReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelInfo {
    /// Where symbols and types came from.
    pub debuginfo: super::debuginfo::DebugInfoJson,
    pub has_sync_fix: bool,
    pub init_top_pgt: String,
    pub kaslr_offset: String,
    pub memory_randomized: bool,
    pub page_offset_base: String,
    pub paging_levels: u8,
    /// Why the machine died, from the kernel log.
    pub panic: Option<String>,
    /// How pgd_list is linked (`page.lru/page.pt_mm`, ...).
    pub pgd_list_linkage: &'static str,
    pub phys_base: String,
    pub vmalloc_base: String,
    pub vmemmap_base: String,
    pub vmlinux: String,
    pub vmlinux_build_id: Option<String>,
}

impl InfoReport {
    /// The dump's facts, and the kernel's or why they are missing.
    pub fn new(d: &CrashDump, kernel: Result<KernelInfo, String>) -> InfoReport {
        let info = d.vmcoreinfo.as_ref();
        let (kernel, kernel_error) = match kernel {
            Ok(k) => (Some(k), None),
            Err(e) => (None, Some(e)),
        };
        InfoReport {
            build_id: info.and_then(|i| i.build_id.clone()),
            compression: d.compression,
            cpus: d.cpus.len(),
            dump_level: d.dump_level,
            dump_level_excludes: d.dump_level.map(crate::dump::kdump::dump_level_excludes),
            format: d.format.as_str(),
            kernel,
            kernel_error,
            osrelease: info.and_then(|i| i.osrelease.clone()),
            path: d.path.display().to_string(),
            physical_ranges: d.memory().ranges().len(),
            vmcoreinfo: info.is_some(),
            warnings: d.warnings.clone(),
        }
    }

    /// Two columns, one row per field (`kernel.paging_levels`,
    /// `warnings[0]`), in the JSON's order.
    /// Key/value lines; `width`: the terminal's columns (values wrap at
    /// spaces, numbers never split), or `None` for full rows.
    pub fn table(&self, width: Option<u16>) -> Result<String, serde_json::Error> {
        let mut rows = Vec::new();
        flatten("", &serde_json::to_value(self)?, &mut rows);
        let columns = [Column::whole("key"), Column::prose("value")];
        Ok(layout::render(Frame::Plain, &columns, &rows, width))
    }
}

impl KernelInfo {
    pub fn new(k: &Kernel<'_>) -> KernelInfo {
        let described = k.debuginfo.describe();
        KernelInfo {
            debuginfo: (&described).into(),
            has_sync_fix: k.has_sync_fix(),
            init_top_pgt: hex(k.init_pgd_va),
            kaslr_offset: hex(k.kaslr_offset),
            memory_randomized: k.layout.randomized,
            page_offset_base: hex(k.layout.page_offset_base),
            paging_levels: k.layout.mode.levels(),
            panic: panic_line(k),
            pgd_list_linkage: k.offsets.pgd_list.via.as_str(),
            phys_base: hex(k.phys_base),
            vmalloc_base: hex(k.layout.vmalloc_base),
            vmemmap_base: hex(k.layout.vmemmap_base),
            vmlinux: k
                .debuginfo
                .vmlinux()
                .map(|v| v.path().display().to_string())
                .unwrap_or_default(),
            vmlinux_build_id: k.debuginfo.vmlinux().and(described.build_id.clone()),
        }
    }
}

/// The last "Kernel panic - not syncing" line of the kernel log, else the
/// last "BUG:" line, so that `info` says why the machine died.
fn panic_line(k: &Kernel<'_>) -> Option<String> {
    let log = k.kernel_log().ok()?;
    let lines = || {
        log.records
            .iter()
            .rev()
            .flat_map(|r| r.lines().collect::<Vec<_>>().into_iter().rev())
    };
    lines()
        .find(|l| l.contains("Kernel panic - not syncing"))
        .or_else(|| lines().find(|l| l.starts_with("BUG:")))
        .map(|l| l.trim().to_string())
}

fn flatten(prefix: &str, v: &serde_json::Value, t: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, t);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, t);
            }
        }
        serde_json::Value::String(s) => {
            t.push(vec![prefix.to_string(), s.clone()]);
        }
        other => {
            t.push(vec![prefix.to_string(), other.to_string()]);
        }
    }
}
