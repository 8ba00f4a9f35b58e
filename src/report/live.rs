//! What a report of a running kernel (`/proc/kcore`) adds: that it is a
//! live snapshot, of which release, and which page tables changed under the
//! reader (listed as such, never as findings). Nothing here appears for a
//! dump.

use std::fmt::Write as _;

use serde::Serialize;

use crate::analysis::{Analysis, TableStatus};

use super::{DumpFacts, hex};

/// The JSON report's `live` object (absent for a dump).
#[derive(Serialize)]
pub struct LiveJson {
    /// Always true: the memory was read from a running kernel, table by table.
    pub snapshot: bool,
    pub kernel_release: Option<String>,
    /// Page tables whose slots or owner changed between the check and the
    /// re-check (also in `page_tables`, status `changed`).
    pub changed_while_reading: usize,
    /// Why the report has no crash section.
    pub crash: &'static str,
}

pub(crate) const NO_CRASH: &str = "not applicable: a running kernel has not crashed";

pub(crate) fn live_json(facts: &DumpFacts, a: &Analysis) -> Option<LiveJson> {
    facts.live.then(|| LiveJson {
        snapshot: true,
        kernel_release: facts.osrelease.clone(),
        changed_while_reading: a.changed_tables(),
        crash: NO_CRASH,
    })
}

/// The table report's live lines: what was read, and what changed under it.
pub(crate) fn render(out: &mut String, facts: &DumpFacts, a: &Analysis) {
    if !facts.live {
        return;
    }
    let _ = writeln!(
        out,
        "live snapshot of the running kernel {}: each difference was read again before being reported; crash: {NO_CRASH}",
        facts.osrelease.as_deref().unwrap_or("(unknown release)")
    );
    let changed: Vec<_> = a
        .tables
        .iter()
        .filter(|t| t.status == TableStatus::Changed)
        .collect();
    if changed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "changed while reading ({} page tables, not findings):",
        changed.len()
    );
    for t in changed {
        let pids: Vec<String> = t.tasks.iter().map(|r| r.pid.to_string()).collect();
        let _ = writeln!(
            out,
            "  page table {} (mm {}, pids {}): {}",
            hex(t.pgd_va),
            t.mm.map_or("?".into(), hex),
            if pids.is_empty() {
                "none".into()
            } else {
                pids.join(",")
            },
            t.reason.as_deref().unwrap_or("changed")
        );
    }
}
