//! expected.json: what a correct analyzer reports for a plan, derived from
//! the plan and the entries the builder wrote (never from running the
//! analyzer). Region names come from [`KernelLayout::regions_in_slot`].

use serde_json::{Value, json};

use pgsync_dump::arch::x86_64::layout::{KernelLayout, LayoutInputs};
use pgsync_dump::arch::x86_64::paging::{PagingMode, PgdIndex};

use super::SynthError;
use super::kernel::Machine;
use super::memory::{ACCESSED, DIRTY, P};
use super::memory::{ADDR_MASK, PSE};
use super::plan::{Loaded, LogFormat, MmRole, NoteStyle, Plan};
use super::printk::dmesg_lines;

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
pub struct ExpectedFinding {
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
    let mut findings: Vec<ExpectedFinding> = Vec::new();
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
                    findings.push(ExpectedFinding {
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
    let crash = crash_json(plan, m, &layout)?;
    let replay = replay_json(plan, m, boundary)?;
    let (log, dmesg) = match &m.log {
        Some(l) => {
            let lines = dmesg_lines(&l.survivors);
            (
                json!({
                    "format": match l.format { LogFormat::Prb => "prb", LogFormat::LogBuf => "log_buf" },
                    "layout_source": if l.vmcoreinfo.is_empty() { "dwarf" } else { "vmcoreinfo" },
                    "records": l.survivors.len(),
                    "first_seq": l.survivors.first().map(|s| s.seq),
                    "last_seq": l.survivors.last().map(|s| s.seq),
                    "printed": l.printed,
                    "wrapped": l.wrapped,
                    "wrapping_block": l.wrapping_block,
                }),
                json!(lines),
            )
        }
        None => (Value::Null, Value::Null),
    };
    Ok(json!({
        "exit_code": exit_code,
        "crash": crash,
        "replay": replay,
        "log": log,
        "dmesg": dmesg,
        "kernel": {
            "paging_levels": plan.levels,
            "kaslr_offset": hex(plan.kaslr_offset),
            "phys_base": hex(plan.phys_base),
            "page_offset_base": hex(plan.page_offset_base),
            "vmalloc_base": hex(plan.vmalloc_base),
            "vmemmap_base": hex(plan.vmemmap_base),
            // The symbol is written when the plan says so; 5.8/5.9's is
            // not the 2025 fix (Kernel::has_sync_fix).
            "has_sync_fix": plan.has_sync_fix && !release_is_5_8_or_5_9(&plan.osrelease),
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

/// Level names of a walk, top first, as the analyzer names them (4-level
/// has no P4D step: it is folded into the PGD).
fn level_names(levels: u8) -> &'static [(&'static str, u32)] {
    if levels == 5 {
        &[
            ("pgd", 48),
            ("p4d", 39),
            ("pud", 30),
            ("pmd", 21),
            ("pte", 12),
        ]
    } else {
        &[("pgd", 39), ("pud", 30), ("pmd", 21), ("pte", 12)]
    }
}

/// A walk of `va` from `root`, entries read through `entry` (so that the
/// replayed state can override some), as JSON: `{walk, pa, stopped}`.
fn walk_value(levels: u8, root: u64, va: u64, entry: &dyn Fn(u64) -> u64) -> Value {
    let mut steps = Vec::new();
    let mut table = root;
    let defs = level_names(levels);
    for (i, &(name, shift)) in defs.iter().enumerate() {
        let at = table + ((va >> shift) & 511) * 8;
        let e = entry(at);
        steps.push(json!({"level": name, "entry_pa": hex(at), "entry": hex(e)}));
        if e & P == 0 {
            return json!({"walk": steps, "pa": null, "stopped": format!("not present at {name}")});
        }
        let leaf = i + 1 == defs.len() || ((shift == 30 || shift == 21) && e & PSE != 0);
        if leaf {
            let size = 1u64 << shift;
            let pa = (e & ADDR_MASK & !(size - 1)) | (va & (size - 1));
            return json!({"walk": steps, "pa": hex(pa), "stopped": null});
        }
        table = e & ADDR_MASK;
    }
    json!({"walk": steps, "pa": null, "stopped": "not present at pte"})
}

/// The table a CPU ran on: (pgd pa, pgd va, source).
fn cpu_table(plan: &Plan, m: &Machine, cpu: usize) -> (u64, u64, &'static str) {
    let c = &plan.cpus[cpu];
    let (pa, va) = match c.loaded {
        Loaded::InitMm => (m.init_pgd_pa, m.init_pgd_va),
        Loaded::Mm(i) => {
            let t = m.tables.iter().find(|t| t.mm_index == i);
            t.map_or((0, 0), |t| (t.pgd_pa, t.pgd_va))
        }
    };
    let source = if plan.notes == NoteStyle::Qemu {
        "cr3"
    } else {
        "cpu_loaded_mm"
    };
    (pa, va, source)
}

/// The `crash` section: null without an oops.
fn crash_json(plan: &Plan, m: &Machine, layout: &KernelLayout) -> Result<Value, SynthError> {
    let (Some(c), Some(log)) = (&plan.crash, &m.log) else {
        return Ok(Value::Null);
    };
    let cpu = c.cpu as usize;
    let pid = plan.cpus[cpu].current.unwrap_or(0);
    let comm = plan
        .tasks
        .iter()
        .find(|t| t.pid == pid)
        .map_or(String::new(), |t| t.comm.clone());
    let (pgd_pa, pgd_va, source) = cpu_table(plan, m, cpu);
    let slot = plan.slot_of(c.fault_va);
    let mem = |pa: u64| m.mem.read_u64(pa);
    let walk = walk_value(plan.levels, pgd_pa, c.fault_va, &mem);
    let init_walk = walk_value(plan.levels, m.init_pgd_pa, c.fault_va, &mem);
    let boundary = plan.slot_of(plan.page_offset_base);
    let table_entry = m.mem.read_u64(pgd_pa + 8 * u64::from(slot));
    let init_entry = m.init_entries[usize::from(slot)];
    let compared = m
        .tables
        .iter()
        .any(|t| t.pgd_pa == pgd_pa && t.role != MmRole::Efi);
    let explained = compared && slot >= boundary && table_entry == 0 && init_entry & P != 0;
    let bug = log
        .survivors
        .iter()
        .find(|s| s.rec.text.starts_with("BUG: unable to handle page fault"));
    let walk_line = log
        .survivors
        .iter()
        .find(|s| s.rec.text.starts_with("PGD "))
        .map(|s| s.rec.text.trim_end().to_string());
    Ok(json!({
        "fault_address": hex(c.fault_va),
        "pgd_index": slot,
        "regions": layout.regions_in_slot(PgdIndex(slot)).iter().map(|r| r.name()).collect::<Vec<_>>(),
        "cpu": c.cpu,
        "pid": pid,
        "comm": comm,
        "pgd_va": hex(pgd_va),
        "pgd_pa": hex(pgd_pa),
        "pgd_source": source,
        "walk": walk,
        "init_mm_walk": init_walk,
        "explained": explained,
        "verdict_prefix": if explained { "explained" } else { "not explained" },
        // The log, the per-CPU current task and PRSTATUS agree.
        "notes": [],
        "oops": {
            "count": 1,
            "first_seq": bug.map(|s| s.seq),
            "timestamp_nsec": bug.map(|s| s.rec.ts_nsec),
            "walk_line": walk_line,
            "rip": c.rip_function,
            "panic": "Fatal exception",
        },
    }))
}

/// The `replay` section for the kernel's default sync mask: one populate
/// call per slot with a `missing` finding; `synced` = tables on pgd_list
/// whose entry is none; `bug_on` = tables on pgd_list with a different
/// table there; `unreachable` = task-owned tables off pgd_list out of step;
/// then the comparison again, and the fault walked again.
fn replay_json(plan: &Plan, m: &Machine, boundary: usize) -> Result<Value, SynthError> {
    let l5 = plan.levels == 5;
    let none = |e: u64| {
        if l5 {
            e == 0
        } else {
            e & !(ACCESSED | DIRTY) == 0
        }
    };
    let owned = |i: usize| plan.tasks.iter().any(|t| t.mm == Some(i));
    // Compared tables with how they were found.
    struct T<'a> {
        t: &'a super::kernel::BuiltTable,
        listed: bool,
        owned: bool,
    }
    let tables: Vec<T> = m
        .tables
        .iter()
        .filter(|t| t.role != MmRole::Efi)
        .filter(|t| {
            let loaded = plan.cpus.iter().any(|c| c.loaded == Loaded::Mm(t.mm_index));
            owned(t.mm_index) || t.on_pgd_list || loaded
        })
        .map(|t| T {
            t,
            listed: t.on_pgd_list,
            owned: owned(t.mm_index),
        })
        .collect();
    let mut slots: Vec<usize> = Vec::new();
    for x in &tables {
        if !x.t.in_dump {
            continue;
        }
        for (s, kind) in compare(boundary, &m.init_entries, &x.t.entries) {
            if kind == "missing" && !slots.contains(&s) {
                slots.push(s);
            }
        }
    }
    slots.sort_unstable();
    let md = mode(plan);
    // Entries the replay writes: (table pa, slot) -> init_mm's entry.
    let mut written: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut calls = Vec::new();
    for &s in &slots {
        let init = m.init_entries[s];
        let (mut synced, mut bug_on, mut unreachable) = (0, Vec::new(), Vec::new());
        for x in &tables {
            if !x.t.in_dump {
                continue;
            }
            let e = x.t.entries[s];
            let differs = e & ADDR_MASK != init & ADDR_MASK;
            if x.listed {
                if none(e) {
                    written.insert(x.t.pgd_pa + 8 * s as u64, init);
                    synced += 1;
                } else if differs {
                    bug_on.push(hex(x.t.pgd_va));
                }
            } else if x.owned && (none(e) || differs) {
                unreachable.push(hex(x.t.pgd_va));
            }
        }
        calls.push(json!({
            "call": if l5 { "pgd_populate_kernel" } else { "p4d_populate_kernel" },
            "addr": hex(md.slot_start(PgdIndex(s as u16))),
            "pgd_index": s,
            "synced": synced,
            "bug_on": bug_on,
            "unreachable": unreachable,
        }));
    }
    // The comparison again on the replayed state.
    let (mut findings, mut diverged, mut other, mut unreadable) = (0, 0, false, 0);
    for x in &tables {
        if !x.t.in_dump {
            unreadable += 1;
            continue;
        }
        let after: Vec<u64> = (0..512)
            .map(|s| {
                *written
                    .get(&(x.t.pgd_pa + 8 * s as u64))
                    .unwrap_or(&x.t.entries[s])
            })
            .collect();
        let d = compare(boundary, &m.init_entries, &after);
        if !d.is_empty() {
            diverged += 1;
        }
        other |= d.iter().any(|(_, k)| *k != "missing");
        findings += d.len();
    }
    let verdict = if other {
        "inconsistent"
    } else if findings > 0 {
        "missing-sync"
    } else if unreadable > 0 {
        "incomplete"
    } else {
        "consistent"
    };
    let fault = match &plan.crash {
        Some(c) if m.log.is_some() => {
            let (root, _, _) = cpu_table(plan, m, c.cpu as usize);
            let before = |pa: u64| m.mem.read_u64(pa);
            let after = |pa: u64| *written.get(&pa).unwrap_or(&m.mem.read_u64(pa));
            json!({
                "before": walk_value(plan.levels, root, c.fault_va, &before),
                "after": walk_value(plan.levels, root, c.fault_va, &after),
            })
        }
        _ => Value::Null,
    };
    Ok(json!({
        "sync_mask": if l5 { "pgd" } else { "p4d" },
        "calls": calls,
        "after": {"verdict": verdict, "findings": findings, "diverged": diverged},
        "fault": fault,
    }))
}

/// The plan's own reading of the rule (kept apart from the reader's, so that a
/// mistake there is not copied here): x86-64's `arch_sync_kernel_mappings()`
/// of 5.8 and 5.9 predates the 2025 fix.
fn release_is_5_8_or_5_9(release: &str) -> bool {
    release.starts_with("5.8.")
        || release.starts_with("5.9.")
        || release == "5.8"
        || release == "5.9"
}
