//! The JSON report, schema `pgsync-dump/analyze/v1` (docs/json-schema.md).
//! Addresses and entries are `"0x..."` strings. Fields may be added; none is
//! renamed without a new schema version.

use serde::Serialize;

use crate::analysis::crash::Crash;
use crate::analysis::replay::Replay;
use crate::analysis::{Analysis, CheckedTable, Finding};
use crate::arch::x86_64::paging::{Walk, WalkOutcome};

use super::{DumpFacts, hex};

pub(crate) const SCHEMA: &str = "pgsync-dump/analyze/v1";

#[derive(Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub dump: DumpJson,
    pub kernel: KernelJson,
    /// Where symbols and types came from (added in v1).
    pub debuginfo: super::debuginfo::DebugInfoJson,
    pub reference: ReferenceJson,
    pub page_tables: Vec<TableJson>,
    pub findings: Vec<FindingJson>,
    pub crash: Option<CrashJson>,
    pub replay: Option<ReplayJson>,
    pub problems: Vec<ProblemJson>,
    /// When the dump's page filter removed what the check reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_to_filter: Option<FilterLossJson>,
    /// Only for a running kernel (`/proc/kcore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<super::live::LiveJson>,
    pub warnings: Vec<String>,
    pub summary: SummaryJson,
}

#[derive(Serialize)]
pub struct FilterLossJson {
    pub dump_level: i32,
    pub excludes: Vec<&'static str>,
    pub objects: usize,
    pub advice: String,
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
    /// makedumpfile's `-d` from the kdump header; absent for ELF.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dump_level: Option<i32>,
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
    /// What the lost object was part of (`pgd_list`, `threads`, ...).
    pub scope: &'static str,
    /// `verdict` when losing it could hide a page table, else `attribution`.
    pub affects: &'static str,
    /// The dump does not hold the page the read needed.
    pub not_in_dump: bool,
}

#[derive(Serialize)]
pub struct SummaryJson {
    pub page_tables: usize,
    pub tasks: usize,
    pub diverged: usize,
    pub findings: usize,
    pub verdict: &'static str,
    /// Every page table was read but some tasks, threads, mms or CPU states
    /// were not: the verdict stands, the tasks named may be short.
    pub partial_attribution: bool,
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

pub fn report(
    facts: &DumpFacts,
    a: &Analysis,
    crash: Option<&Crash>,
    replay: Option<&Replay>,
) -> Report {
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
            dump_level: facts.dump_level,
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
        debuginfo: facts.debuginfo.clone(),
        reference: ReferenceJson {
            pgd_va: hex(a.reference.pgd_va),
            pgd_pa: hex(a.reference.pgd_pa),
            present_kernel_slots: a.reference.present_kernel_slots,
            first_compared_slot: a.reference.first_slot.0,
        },
        page_tables: a.tables.iter().map(table_json).collect(),
        findings: a.findings.iter().map(finding_json).collect(),
        crash: crash.map(crash_json),
        replay: replay.map(replay_json),
        problems: a
            .problems
            .iter()
            .map(|p| ProblemJson {
                what: p.what.clone(),
                detail: p.detail.clone(),
                scope: p.scope.as_str(),
                affects: if p.scope.can_change_verdict() {
                    "verdict"
                } else {
                    "attribution"
                },
                not_in_dump: p.not_in_dump,
            })
            .collect(),
        lost_to_filter: facts.filter_loss.as_ref().map(|f| FilterLossJson {
            dump_level: f.dump_level,
            excludes: f.excludes.clone(),
            objects: f.objects,
            advice: f.advice.clone(),
        }),
        live: super::live::live_json(facts, a),
        warnings: facts.warnings.clone(),
        summary: SummaryJson {
            page_tables: a.compared_tables(),
            tasks: a.tasks.len(),
            diverged: a.diverged_tables(),
            findings: a.findings.len(),
            verdict: a.verdict().as_str(),
            partial_attribution: a.partial_attribution(),
        },
    }
}

#[derive(Serialize)]
pub struct WalkStepJson {
    pub level: &'static str,
    pub entry_pa: String,
    pub entry: String,
}

#[derive(Serialize)]
pub struct WalkJson {
    pub walk: Vec<WalkStepJson>,
    /// The physical address, or null when the walk stopped.
    pub pa: Option<String>,
    /// Where and why it stopped ("not present at pgd"), or null when mapped.
    pub stopped: Option<String>,
}

pub(crate) fn walk_json(w: &Walk) -> WalkJson {
    WalkJson {
        walk: w
            .steps
            .iter()
            .map(|s| WalkStepJson {
                level: s.level.name(),
                entry_pa: hex(s.entry_pa),
                entry: hex(s.entry),
            })
            .collect(),
        pa: w.pa().map(hex),
        stopped: match &w.outcome {
            WalkOutcome::Mapped { .. } => None,
            WalkOutcome::NotPresent { level } => Some(format!("not present at {}", level.name())),
            WalkOutcome::Unreadable { level, error } => {
                Some(format!("{} table unreadable: {error}", level.name()))
            }
            WalkOutcome::NonCanonical => Some("non-canonical address".into()),
        },
    }
}

#[derive(Serialize)]
pub struct OopsJson {
    pub count: usize,
    pub first_seq: u64,
    pub timestamp_nsec: u64,
    pub walk_line: Option<String>,
    pub rip: Option<String>,
    pub panic: Option<String>,
}

#[derive(Serialize)]
pub struct CrashJson {
    pub fault_address: Option<String>,
    pub pgd_index: Option<u16>,
    pub regions: Vec<&'static str>,
    pub cpu: Option<u32>,
    pub pid: Option<i32>,
    pub comm: Option<String>,
    pub pgd_va: Option<String>,
    pub pgd_pa: Option<String>,
    pub pgd_source: Option<&'static str>,
    pub walk: Option<WalkJson>,
    pub init_mm_walk: Option<WalkJson>,
    pub explained: bool,
    /// Why the crash is or is not explained, as a stable code
    /// ([`crate::analysis::crash::Explanation::code`]).
    pub explanation: &'static str,
    pub verdict: String,
    pub oops: OopsJson,
    pub notes: Vec<String>,
}

fn crash_json(c: &Crash) -> CrashJson {
    let o = &c.oops;
    CrashJson {
        fault_address: c.fault_address.map(hex),
        pgd_index: c.slot.map(|s| s.0),
        regions: c.regions.iter().map(|r| r.name()).collect(),
        cpu: c.cpu,
        pid: c.pid,
        comm: c.comm.clone(),
        pgd_va: c.pgd_va.map(hex),
        pgd_pa: c.pgd_pa.map(hex),
        pgd_source: c.pgd_source.map(|s| s.as_str()),
        walk: c.walk.as_ref().map(walk_json),
        init_mm_walk: c.init_mm_walk.as_ref().map(walk_json),
        explained: c.explained(),
        explanation: c.explanation.code(),
        verdict: c.verdict.clone(),
        oops: OopsJson {
            count: o.oops_count,
            first_seq: o.start_seq,
            timestamp_nsec: o.start_ts_nsec,
            walk_line: o.walk.as_ref().map(|w| {
                w.entries
                    .iter()
                    .map(|e| format!("{} {:x}", e.level.name().to_uppercase(), e.value))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            rip: o.rip.as_ref().and_then(|r| r.symbol.clone()),
            panic: o.panic.clone(),
        },
        notes: c.notes.clone(),
    }
}

#[derive(Serialize)]
pub struct ReplayCallJson {
    pub call: &'static str,
    pub addr: String,
    pub pgd_index: u16,
    pub synced: usize,
    pub bug_on: Vec<String>,
    pub unreachable: Vec<String>,
}

#[derive(Serialize)]
pub struct ReplayAfterJson {
    pub verdict: &'static str,
    pub findings: usize,
    pub diverged: usize,
}

#[derive(Serialize)]
pub struct ReplayFaultJson {
    pub before: WalkJson,
    pub after: WalkJson,
}

#[derive(Serialize)]
pub struct ReplayJson {
    pub sync_mask: &'static str,
    pub calls: Vec<ReplayCallJson>,
    pub after: ReplayAfterJson,
    pub fault: Option<ReplayFaultJson>,
    /// The dump's kernel already has `p?d_populate_kernel()` and
    /// `arch_sync_kernel_mappings()`: a missing slot bypassed them.
    pub kernel_has_fix: bool,
}

fn replay_json(r: &Replay) -> ReplayJson {
    ReplayJson {
        sync_mask: r.mask_name,
        calls: r
            .calls
            .iter()
            .map(|c| ReplayCallJson {
                call: c.kind.name(),
                addr: hex(c.addr),
                pgd_index: c.pgd_index.0,
                synced: c.synced(),
                bug_on: c.bug_on().iter().map(|p| hex(p.va)).collect(),
                unreachable: c.unreachable().iter().map(|p| hex(p.va)).collect(),
            })
            .collect(),
        after: ReplayAfterJson {
            verdict: r.after.verdict().as_str(),
            findings: r.after.findings.len(),
            diverged: r.after.diverged_tables(),
        },
        fault: r.fault.as_ref().map(|(b, a)| ReplayFaultJson {
            before: walk_json(b),
            after: walk_json(a),
        }),
        kernel_has_fix: r.kernel_has_fix,
    }
}
