//! A running kernel changes while it is read (`/proc/kcore`): processes
//! exit, page tables are freed and their pages reused. Each table was read
//! once by the check; before a difference is reported, [`recheck`] reads its
//! slots and its owner again through the kernel layer, and a table whose
//! slots or owner changed in between is marked [`TableStatus::Changed`] and
//! loses its findings: it was a moving target, not a finding.
//!
//! An unreadable table whose owner vanished is marked the same way (a task
//! that exited mid-read is not a hole in the check).
//!
//! `pgd_list` itself changes while it is walked: an entry freed under the
//! walker sends it into whatever the page's list links became (the page
//! allocator's free lists), and the walk then reports a loop or a link
//! outside the vmemmap, after reading pages that are no page tables. Such a
//! walk is no evidence: [`check`] walks again (the whole check, up to
//! [`WALKS`] times) until `pgd_list` is read to its head without a break,
//! and [`recheck`] accepts a table that only `pgd_list` names only when a
//! clean walk still holds it.

use crate::ErrorChain;
use std::collections::{BTreeMap, BTreeSet};

use crate::arch::x86_64::VirtAddr;
use crate::dump::{PhysAddr, PhysicalMemoryExt};
use crate::kernel::{Kernel, ProblemScope};

use super::{Analysis, AnalysisError, CheckedTable, Finding, Source, TableStatus};

/// How many times `pgd_list` is walked before a broken walk is reported.
pub const WALKS: usize = 5;

/// The check of a running kernel: [`super::check`], again while its walk of
/// `pgd_list` broke (at most [`WALKS`] walks), then [`recheck`].
pub fn check(k: &Kernel<'_>) -> Result<Analysis, AnalysisError> {
    let mut a = super::check(k)?;
    for _ in 1..WALKS {
        if !pgd_list_broke(&a) {
            break;
        }
        a = super::check(k)?;
    }
    recheck(k, &mut a);
    Ok(a)
}

fn pgd_list_broke(a: &Analysis) -> bool {
    a.problems.iter().any(|p| p.scope == ProblemScope::PgdList)
}

/// The pgds on `pgd_list`, from the first walk (of at most [`WALKS`]) that
/// reads it to its head without a break; `None` when none does.
fn clean_pgd_list(k: &Kernel<'_>) -> Option<BTreeSet<PhysAddr>> {
    (0..WALKS).find_map(|_| {
        k.pgd_list()
            .ok()
            .filter(|w| w.problems.is_empty())
            .map(|w| w.entries.iter().map(|e| e.pgd_pa).collect())
    })
}

/// Re-reads every diverged or unreadable table's slots and owner; marks the
/// tables that changed and drops their findings. Returns how many changed.
pub fn recheck(k: &Kernel<'_>, a: &mut Analysis) -> usize {
    let mut by_table: BTreeMap<PhysAddr, Vec<&Finding>> = BTreeMap::new();
    for f in &a.findings {
        by_table.entry(f.pgd_pa).or_default().push(f);
    }
    // Lazily: one walk of pgd_list, only when a table has no task to vouch for it.
    let mut listed: Option<Option<BTreeSet<PhysAddr>>> = None;
    let mut changed: BTreeMap<(PhysAddr, Option<VirtAddr>), String> = BTreeMap::new();
    for t in &a.tables {
        let findings = by_table.get(&t.pgd_pa).map(Vec::as_slice).unwrap_or(&[]);
        let candidate = (t.status == TableStatus::Diverged && !findings.is_empty())
            || t.status == TableStatus::Unreadable;
        if !candidate {
            continue;
        }
        let why = owner_changed(k, a, t, &mut listed).or_else(|| slots_changed(k, findings));
        if let Some(why) = why {
            changed.insert((t.pgd_pa, t.mm), why);
        }
    }
    let gone: BTreeSet<PhysAddr> = changed
        .keys()
        .filter(|(pa, _)| pa.get() != 0)
        .map(|(pa, _)| *pa)
        .collect();
    a.findings.retain(|f| !gone.contains(&f.pgd_pa));
    for t in &mut a.tables {
        if let Some(why) = changed.get(&(t.pgd_pa, t.mm)) {
            t.status = TableStatus::Changed;
            t.reason = Some(format!("changed while reading: {why}"));
            t.not_in_dump = false;
        }
    }
    changed.len()
}

/// Why the table's owner is no longer what the check saw, if it is not.
fn owner_changed(
    k: &Kernel<'_>,
    a: &Analysis,
    t: &CheckedTable,
    listed: &mut Option<Option<BTreeSet<PhysAddr>>>,
) -> Option<String> {
    if let Some(mm) = t.mm.map(VirtAddr::get) {
        match k.read_u64(mm.wrapping_add(k.offsets.mm_pgd)) {
            Ok(pgd) if t.pgd_va.get() != 0 && pgd != t.pgd_va.get() => {
                return Some(format!(
                    "mm {mm:#x} now has pgd {pgd:#x}, not {:#x}",
                    t.pgd_va
                ));
            }
            Ok(_) => {}
            // Unreadable the first time too: not a change.
            Err(_) if t.status == TableStatus::Unreadable => {}
            Err(e) => {
                return Some(format!(
                    "mm {mm:#x} can no longer be read: {}",
                    ErrorChain(&e)
                ));
            }
        }
        let users: Vec<_> = a.tasks.iter().filter(|task| task.mm == mm).collect();
        if !users.is_empty() {
            let alive = users.iter().any(|task| {
                k.read_task(task.addr)
                    .is_ok_and(|now| now.mm == mm && now.pid == task.pid)
            });
            if !alive {
                let pids: Vec<String> = users.iter().map(|t| t.pid.to_string()).collect();
                return Some(format!(
                    "no task uses mm {mm:#x} any more (pids {} exited or changed mm)",
                    pids.join(", ")
                ));
            }
            return None;
        }
    }
    if t.pgd_pa.get() == 0 {
        return None;
    }
    if !t.sources.contains(&Source::PgdList) {
        return None;
    }
    // No task vouches for the table: a clean walk of pgd_list must still hold it.
    match listed.get_or_insert_with(|| clean_pgd_list(k)) {
        Some(set) if set.contains(&t.pgd_pa) => None,
        Some(_) => Some(format!("pgd {:#x} is no longer on pgd_list", t.pgd_pa)),
        None => Some(format!(
            "pgd_list kept changing: {WALKS} walks broke, so pgd {:#x} cannot be confirmed",
            t.pgd_pa
        )),
    }
}

/// Why one of the table's differing slots (or init_mm's slot) no longer
/// holds what the check read, if one does not.
fn slots_changed(k: &Kernel<'_>, findings: &[&Finding]) -> Option<String> {
    let mem = k.memory();
    for f in findings {
        let now = |pa: PhysAddr| mem.read_u64(pa).ok();
        let (exp, act) = (now(f.expected_pa), now(f.actual_pa));
        if exp != Some(f.expected.0) {
            return Some(format!(
                "init_mm's slot {} was {:#x}, now {}",
                f.slot.0,
                f.expected.0,
                exp.map_or("unreadable".into(), |v| format!("{v:#x}"))
            ));
        }
        if act != Some(f.actual.0) {
            return Some(format!(
                "slot {} was {:#x}, now {}",
                f.slot.0,
                f.actual.0,
                act.map_or("unreadable".into(), |v| format!("{v:#x}"))
            ));
        }
    }
    None
}
