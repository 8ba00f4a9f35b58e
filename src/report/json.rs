//! The JSON report, schema `pgsync-dump/analyze/v1` (docs/json-schema.md).
//! Addresses and entries are `"0x..."` strings. Fields may be added; none is
//! renamed without a new schema version.

use serde::Serialize;

use crate::analysis::{Analysis, CheckedTable, Finding};

use super::{DumpFacts, hex};

pub const SCHEMA: &str = "pgsync-dump/analyze/v1";

#[derive(Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub dump: DumpJson,
    pub kernel: KernelJson,
    pub reference: ReferenceJson,
    pub page_tables: Vec<TableJson>,
    pub findings: Vec<FindingJson>,
    pub crash: Option<serde_json::Value>,
    pub replay: Option<serde_json::Value>,
    pub problems: Vec<ProblemJson>,
    pub warnings: Vec<String>,
    pub summary: SummaryJson,
}

#[derive(Serialize)]
pub struct DumpJson {
    pub path: String,
    pub format: &'static str,
    pub compression: Option<&'static str>,
    pub osrelease: Option<String>,
    pub build_id: Option<String>,
    pub cpus: usize,
    pub vmlinux: String,
}

#[derive(Serialize)]
pub struct KernelJson {
    pub paging_levels: u8,
    pub kaslr_offset: String,
    pub phys_base: String,
    pub page_offset_base: String,
    pub vmalloc_base: String,
    pub vmemmap_base: String,
    pub has_sync_fix: bool,
}

#[derive(Serialize)]
pub struct ReferenceJson {
    pub pgd_va: String,
    pub pgd_pa: String,
    pub present_kernel_slots: usize,
    pub first_compared_slot: u16,
}

#[derive(Serialize)]
pub struct TaskJson {
    pub pid: i32,
    pub comm: String,
}

#[derive(Serialize)]
pub struct TableJson {
    pub pgd_va: String,
    pub pgd_pa: String,
    pub mm: Option<String>,
    pub tasks: Vec<TaskJson>,
    pub sources: Vec<&'static str>,
    pub cpus: Vec<u32>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct FindingJson {
    pub kind: &'static str,
    pub pgd_index: u16,
    pub va_start: String,
    pub regions: Vec<&'static str>,
    pub pgd_va: String,
    pub pgd_pa: String,
    pub mm: Option<String>,
    pub pids: Vec<i32>,
    pub expected: String,
    pub expected_entry_pa: String,
    pub actual: String,
    pub actual_entry_pa: String,
}

#[derive(Serialize)]
pub struct ProblemJson {
    pub what: String,
    pub detail: String,
}

#[derive(Serialize)]
pub struct SummaryJson {
    pub page_tables: usize,
    pub tasks: usize,
    pub diverged: usize,
    pub findings: usize,
    pub verdict: &'static str,
}

fn table_json(t: &CheckedTable) -> TableJson {
    TableJson {
        pgd_va: hex(t.pgd_va),
        pgd_pa: hex(t.pgd_pa),
        mm: t.mm.map(hex),
        tasks: t
            .tasks
            .iter()
            .map(|r| TaskJson {
                pid: r.pid,
                comm: r.comm.clone(),
            })
            .collect(),
        sources: t.sources.iter().map(|s| s.as_str()).collect(),
        cpus: t.cpus.iter().copied().collect(),
        status: t.status.as_str(),
        reason: t.reason.clone(),
    }
}

fn finding_json(f: &Finding) -> FindingJson {
    FindingJson {
        kind: f.kind.as_str(),
        pgd_index: f.slot.0,
        va_start: hex(f.va_start),
        regions: f.regions.iter().map(|r| r.name()).collect(),
        pgd_va: hex(f.pgd_va),
        pgd_pa: hex(f.pgd_pa),
        mm: f.mm.map(hex),
        pids: f.pids.clone(),
        expected: hex(f.expected.0),
        expected_entry_pa: hex(f.expected_pa),
        actual: hex(f.actual.0),
        actual_entry_pa: hex(f.actual_pa),
    }
}

pub fn report(facts: &DumpFacts, a: &Analysis) -> Report {
    Report {
        schema: SCHEMA,
        dump: DumpJson {
            path: facts.path.clone(),
            format: facts.format,
            compression: facts.compression,
            osrelease: facts.osrelease.clone(),
            build_id: facts.build_id.clone(),
            cpus: facts.cpus,
            vmlinux: facts.vmlinux.clone(),
        },
        kernel: KernelJson {
            paging_levels: facts.paging_levels,
            kaslr_offset: hex(facts.kaslr_offset),
            phys_base: hex(facts.phys_base),
            page_offset_base: hex(facts.page_offset_base),
            vmalloc_base: hex(facts.vmalloc_base),
            vmemmap_base: hex(facts.vmemmap_base),
            has_sync_fix: facts.has_sync_fix,
        },
        reference: ReferenceJson {
            pgd_va: hex(a.reference.pgd_va),
            pgd_pa: hex(a.reference.pgd_pa),
            present_kernel_slots: a.reference.present_kernel_slots,
            first_compared_slot: a.reference.first_slot.0,
        },
        page_tables: a.tables.iter().map(table_json).collect(),
        findings: a.findings.iter().map(finding_json).collect(),
        crash: None,
        replay: None,
        problems: a
            .problems
            .iter()
            .map(|p| ProblemJson {
                what: p.what.clone(),
                detail: p.detail.clone(),
            })
            .collect(),
        warnings: facts.warnings.clone(),
        summary: SummaryJson {
            page_tables: a.compared_tables(),
            tasks: a.tasks.len(),
            diverged: a.diverged_tables(),
            findings: a.findings.len(),
            verdict: a.verdict().as_str(),
        },
    }
}
