//! expected.json: what a correct analyzer reports for a plan, derived from
//! the plan and the entries the builder wrote (never from running the
//! analyzer). Region names come from [`KernelLayout::regions_in_slot`].

use serde_json::{Value, json};

use crate::arch::x86_64::layout::{KernelLayout, LayoutInputs};
use crate::arch::x86_64::paging::{PagingMode, PgdIndex};

use super::SynthError;
use super::kernel::Machine;
use super::memory::{ACCESSED, DIRTY, P};
use super::plan::{Loaded, MmRole, NoteStyle, Plan};

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

pub fn mode(plan: &Plan) -> PagingMode {
    if plan.levels == 5 {
        PagingMode::FiveLevel
    } else {
        PagingMode::FourLevel
    }
}

/// The kernel memory map the analyzer should derive for this plan.
pub fn kernel_layout(plan: &Plan, m: &Machine) -> Result<KernelLayout, SynthError> {
    Ok(KernelLayout::new(LayoutInputs {
        mode: mode(plan),
        page_offset_base: plan.page_offset_base,
        vmalloc_base: plan.vmalloc_base,
        vmemmap_base: plan.vmemmap_base,
        phys_end: plan.ram_bytes,
        struct_page_size: m.layouts.size("page")?,
        has_kasan: plan.kasan,
    }))
}

/// One finding, before JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: &'static str,
    pub slot: u16,
    pub pgd_va: u64,
    pub mm: u64,
    pub pids: Vec<u32>,
    pub expected: u64,
    pub actual: u64,
}

/// Compares one table's kernel half with init_mm's (A/D ignored).
pub fn compare(boundary: usize, init: &[u64], table: &[u64]) -> Vec<(usize, &'static str)> {
    let mask = !(ACCESSED | DIRTY);
    (boundary..512)
        .filter_map(|s| {
            let (e, a) = (init[s], table[s]);
            match (e & P != 0, a & P != 0) {
                (true, false) if a == 0 => Some((s, "missing")),
                (true, true) if e & mask != a & mask => Some((s, "mismatch")),
                (false, true) if e == 0 => Some((s, "stale")),
                _ => None,
            }
        })
        .collect()
}

pub fn expected(plan: &Plan, m: &Machine) -> Result<Value, SynthError> {
    let layout = kernel_layout(plan, m)?;
    let boundary = plan.slot_of(plan.page_offset_base) as usize;
    let qemu = plan.notes == NoteStyle::Qemu;

    let mut tables = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut n_diverged = 0;
    let mut n_unreadable = 0;
    let mut n_listed = 0;
    // Users of each mm, grouped in one pass (large plans).
    let mut users_of: Vec<Vec<(u32, &str)>> = vec![Vec::new(); plan.mms.len()];
    for x in &plan.tasks {
        if let Some(u) = x.mm.and_then(|i| users_of.get_mut(i)) {
            u.push((x.pid, x.comm.as_str()));
        }
    }
    for t in &m.tables {
        let i = t.mm_index;
        let mm_plan = &plan.mms[i];
        let users: Vec<(u32, &str)> = {
            let mut v = std::mem::take(&mut users_of[i]);
            v.sort();
            v
        };
        let loaded = plan.cpus.iter().any(|c| c.loaded == Loaded::Mm(i));
        let mut sources = Vec::new();
        if !users.is_empty() {
            sources.push("task");
        }
        if mm_plan.on_pgd_list {
            sources.push("pgd_list");
        }
        if loaded {
            sources.push("cpu_loaded_mm");
        }
        if loaded && qemu {
            sources.push("cr3");
        }
        if sources.is_empty() {
            continue;
        }
        let status = if mm_plan.role == MmRole::Efi {
            "skipped"
        } else if !t.in_dump {
            n_unreadable += 1;
            "unreadable"
        } else {
            let diffs = compare(boundary, &m.init_entries, &t.entries);
            if diffs.is_empty() {
                "consistent"
            } else {
                n_diverged += 1;
                for (s, kind) in diffs {
                    findings.push(Finding {
                        kind,
                        slot: s as u16,
                        pgd_va: t.pgd_va,
                        mm: t.mm_va,
                        pids: users.iter().map(|u| u.0).collect(),
                        expected: m.init_entries[s],
                        actual: t.entries[s],
                    });
                }
                "diverged"
            }
        };
        if status != "skipped" {
            n_listed += 1;
        }
        tables.push((
            t.pgd_va,
            json!({
                "pgd_va": hex(t.pgd_va),
                "pgd_pa": hex(t.pgd_pa),
                "mm": hex(t.mm_va),
                "tasks": users.iter().map(|(pid, comm)| json!({"pid": pid, "comm": comm})).collect::<Vec<_>>(),
                "sources": sources,
                "status": status,
            }),
        ));
    }
    tables.sort_by_key(|t| t.0);
    findings.sort_by_key(|f| (f.slot, f.pgd_va));

    let verdict = if findings.iter().any(|f| f.kind != "missing") {
        "inconsistent"
    } else if !findings.is_empty() {
        "missing-sync"
    } else if n_unreadable > 0 {
        "incomplete"
    } else {
        "consistent"
    };
    let exit_code = if !findings.is_empty() {
        1
    } else if verdict == "incomplete" {
        3
    } else {
        0
    };
    let md = mode(plan);
    let present = (boundary..512)
        .filter(|&s| m.init_entries[s] & P != 0)
        .count();
    Ok(json!({
        "exit_code": exit_code,
        "kernel": {
            "paging_levels": plan.levels,
            "kaslr_offset": hex(plan.kaslr_offset),
            "phys_base": hex(plan.phys_base),
            "page_offset_base": hex(plan.page_offset_base),
            "vmalloc_base": hex(plan.vmalloc_base),
            "vmemmap_base": hex(plan.vmemmap_base),
            "has_sync_fix": plan.has_sync_fix,
        },
        "reference": {
            "pgd_va": hex(m.init_pgd_va),
            "pgd_pa": hex(m.init_pgd_pa),
            "present_kernel_slots": present,
        },
        "page_tables": tables.into_iter().map(|t| t.1).collect::<Vec<_>>(),
        "findings": findings.iter().map(|f| json!({
            "kind": f.kind,
            "pgd_index": f.slot,
            "va_start": hex(md.slot_start(PgdIndex(f.slot))),
            "regions": layout.regions_in_slot(PgdIndex(f.slot)).iter().map(|r| r.name()).collect::<Vec<_>>(),
            "pgd_va": hex(f.pgd_va),
            "mm": hex(f.mm),
            "pids": f.pids,
            "expected": hex(f.expected),
            "actual": hex(f.actual),
        })).collect::<Vec<_>>(),
        "summary": {
            "page_tables": n_listed,
            "tasks": 1 + plan.tasks.len(),
            "diverged": n_diverged,
            "findings": findings.len(),
            "verdict": verdict,
        },
    }))
}
