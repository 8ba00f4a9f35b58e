//! The human report: a verdict line, then one row per (slot, kind) group,
//! the raw evidence per finding, then anything that could not be read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::analysis::crash::Crash;
use crate::analysis::lost::describe_lost;
use crate::analysis::replay::Replay;
use crate::analysis::{Analysis, Finding, FindingKind, Verdict};
use crate::arch::x86_64::paging::{Walk, WalkOutcome};

use super::layout::{self, Column, Frame};
use super::{DumpFacts, hex};

/// Tasks shown per row before eliding with a count.
const TASKS_SHOWN: usize = 6;
/// Evidence rows shown before eliding (JSON always has all).
const EVIDENCE_SHOWN: usize = 24;

fn regions(f: &Finding) -> String {
    f.regions
        .iter()
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join("+")
}

/// One-line verdict, e.g. "missing-sync: kernel PGD slot 470 (vmemmap) present
/// in init_mm, missing in 4 of 9 page tables".
pub(crate) fn verdict_line(a: &Analysis) -> String {
    let v = a.verdict();
    let total = a.compared_tables();
    let mut groups: BTreeMap<(u16, FindingKind), Vec<&Finding>> = BTreeMap::new();
    for f in &a.findings {
        groups.entry((f.slot.0, f.kind)).or_default().push(f);
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|((slot, kind), fs)| {
            let what = match kind {
                FindingKind::Missing => "present in init_mm, missing in",
                FindingKind::Mismatch => "points to a different table than init_mm's in",
                FindingKind::Stale => "absent from init_mm, present in",
            };
            format!(
                "kernel PGD slot {slot} ({}) {what} {} of {total} page tables",
                regions(fs[0]),
                fs.len()
            )
        })
        .collect();
    match v {
        Verdict::Consistent => {
            format!("consistent: {total} page tables agree with init_mm on every kernel slot")
        }
        Verdict::Incomplete => {
            let unreadable = a
                .tables
                .iter()
                .filter(|t| t.status == crate::analysis::TableStatus::Unreadable)
                .count();
            format!(
                "incomplete: no difference found, but {unreadable} page table(s) and {} other structure(s) could not be read",
                a.problems.len()
            )
        }
        _ => format!("{}: {}", v.as_str(), parts.join("; ")),
    }
}

fn task_list(f: &[&Finding], a: &Analysis) -> String {
    let mut names: Vec<String> = Vec::new();
    for t in a
        .tables
        .iter()
        .filter(|t| f.iter().any(|x| x.pgd_pa == t.pgd_pa))
    {
        if t.tasks.is_empty() {
            names.push(format!("(no task: mm {})", t.mm.map_or("?".into(), hex)));
        }
        names.extend(t.tasks.iter().map(|r| format!("{} {}", r.pid, r.comm)));
    }
    let n = names.len();
    let mut s = names
        .into_iter()
        .take(TASKS_SHOWN)
        .collect::<Vec<_>>()
        .join(", ");
    if n > TASKS_SHOWN {
        let _ = write!(s, " (+{} more)", n - TASKS_SHOWN);
    }
    s
}

/// The report in full rows (output to a pipe or a file).
pub fn render(
    facts: &DumpFacts,
    a: &Analysis,
    crash: Option<&Crash>,
    replay: Option<&Replay>,
) -> String {
    render_to_width(facts, a, crash, replay, None)
}

/// Appends `text` and a newline; with a width, a longer line is wrapped at
/// spaces (never inside a word, so never inside a number), continuation
/// lines indented two more than the first.
fn push_line(out: &mut String, width: Option<u16>, text: &str) {
    let width = width.map(usize::from);
    for line in text.split('\n') {
        match width {
            Some(w) if line.chars().count() > w => {
                let indent = line.len() - line.trim_start_matches(' ').len();
                let lead = " ".repeat(indent);
                let more = " ".repeat(indent + 2);
                for (i, part) in layout::wrap(line, w.saturating_sub(indent + 2))
                    .iter()
                    .enumerate()
                {
                    let _ = writeln!(out, "{}{part}", if i == 0 { &lead } else { &more });
                }
            }
            _ => {
                let _ = writeln!(out, "{line}");
            }
        }
    }
}

/// The report fitted to `width` terminal columns (`None`: full rows, as
/// [`render`]): prose lines and prose columns wrap at spaces, tables leave
/// out secondary columns or turn vertical (see [`layout`]); no number is
/// ever split.
pub fn render_to_width(
    facts: &DumpFacts,
    a: &Analysis,
    crash: Option<&Crash>,
    replay: Option<&Replay>,
    width: Option<u16>,
) -> String {
    let mut out = String::new();
    render_header(&mut out, facts, a, width);
    super::live::render(&mut out, facts, a);
    if !a.findings.is_empty() {
        render_findings(&mut out, facts, a, width);
        render_evidence(&mut out, a, width);
    }
    if let Some(c) = crash {
        render_crash(&mut out, c, width);
    }
    if let Some(r) = replay {
        render_replay(&mut out, r, a, width);
    }
    render_losses(&mut out, facts, a, width);
    for w in &facts.warnings {
        push_line(&mut out, width, &format!("warning: {w}"));
    }
    out
}

/// The verdict, what the dump is, and what was compared.
fn render_header(out: &mut String, facts: &DumpFacts, a: &Analysis, width: Option<u16>) {
    push_line(out, width, &verdict_line(a));
    push_line(
        out,
        width,
        &format!(
            "dump {} ({}{}), {}, {}-level paging, KASLR offset {}, {} CPU(s); {}",
            facts.path,
            facts.format,
            facts
                .compression
                .map(|c| format!(", {c}"))
                .unwrap_or_default(),
            facts.osrelease.as_deref().unwrap_or("unknown release"),
            facts.paging_levels,
            hex(facts.kaslr_offset),
            facts.cpus,
            facts.debuginfo.summary()
        ),
    );
    push_line(
        out,
        width,
        &format!(
            "checked {} page tables of {} tasks against init_mm ({} at {}, {} kernel slots present, slots {}..511 compared); sync fix (arch_sync_kernel_mappings) {}",
            a.compared_tables(),
            a.tasks.len(),
            hex(a.reference.pgd_va),
            hex(a.reference.pgd_pa),
            a.reference.present_kernel_slots,
            a.reference.first_slot.0,
            if facts.has_sync_fix {
                "present"
            } else {
                "absent"
            }
        ),
    );
}

/// One row per (slot, kind): the regions, the range, how many tables, which tasks.
fn render_findings(out: &mut String, facts: &DumpFacts, a: &Analysis, width: Option<u16>) {
    let mut groups: BTreeMap<(u16, FindingKind), Vec<&Finding>> = BTreeMap::new();
    for f in &a.findings {
        groups.entry((f.slot.0, f.kind)).or_default().push(f);
    }
    let columns = [
        Column::whole("slot"),
        Column::whole("kind"),
        Column::whole("regions").secondary(1),
        Column::whole("address range"),
        Column::whole("page tables").secondary(2),
        Column::prose("tasks"),
        // Also in the evidence table below.
        Column::whole("init_mm entry").secondary(0),
    ];
    let mut rows = Vec::new();
    for ((slot, kind), fs) in &groups {
        let f0 = fs[0];
        let end = f0
            .va_start
            .wrapping_add((1u64 << (if facts.paging_levels == 5 { 48 } else { 39 })) - 1);
        rows.push(vec![
            slot.to_string(),
            kind.as_str().to_string(),
            regions(f0),
            format!("{}-{}", hex(f0.va_start), hex(end)),
            format!("{} of {}", fs.len(), a.compared_tables()),
            task_list(fs, a),
            hex(f0.expected.0),
        ]);
    }
    let t = layout::render(Frame::Boxed, &columns, &rows, width);
    let _ = writeln!(out, "\n{t}");
}

/// The raw entries behind the findings, as read from the dump.
fn render_evidence(out: &mut String, a: &Analysis, width: Option<u16>) {
    // What a reader checks first: which page table, where the entry is,
    // what it holds; init_mm's side is the same for every row of a slot.
    let columns = [
        Column::whole("slot"),
        Column::whole("pgd (va)"),
        Column::whole("pgd (pa)").secondary(2),
        Column::whole("entry at (pa)"),
        Column::whole("entry"),
        Column::whole("init_mm entry at (pa)").secondary(0),
        Column::whole("init_mm entry").secondary(1),
    ];
    let mut rows = Vec::new();
    for f in a.findings.iter().take(EVIDENCE_SHOWN) {
        rows.push(vec![
            f.slot.0.to_string(),
            hex(f.pgd_va),
            hex(f.pgd_pa),
            hex(f.actual_pa),
            hex(f.actual.0),
            hex(f.expected_pa),
            hex(f.expected.0),
        ]);
    }
    let e = layout::render(Frame::Boxed, &columns, &rows, width);
    let _ = writeln!(out, "evidence (raw entries as read from the dump):\n{e}");
    if a.findings.len() > EVIDENCE_SHOWN {
        let _ = writeln!(
            out,
            "... {} more findings; --format json lists all",
            a.findings.len() - EVIDENCE_SHOWN
        );
    }
}

/// What could not be read, and what the dump's filter removed.
fn render_losses(out: &mut String, facts: &DumpFacts, a: &Analysis, width: Option<u16>) {
    let unreadable: Vec<_> = a
        .tables
        .iter()
        .filter(|t| t.status == crate::analysis::TableStatus::Unreadable)
        .collect();
    if a.partial_attribution() {
        let _ = writeln!(
            out,
            "\npartial attribution: {} could not be read; every page table was found (pgd_list read to its head) and read, so the verdict stands, but the tasks named per page table may be short",
            describe_lost(a)
        );
    }
    if let Some(f) = &facts.filter_loss {
        let _ = writeln!(
            out,
            "{}lost to the dump's filter: {} of the objects below are in pages this dump does not hold, and its makedumpfile filter (dump_level {}: excludes {}) removed them; {}",
            if a.partial_attribution() { "" } else { "\n" },
            f.objects,
            f.dump_level,
            f.excludes.join(", "),
            f.advice
        );
    }
    if !unreadable.is_empty() || !a.problems.is_empty() {
        let _ = writeln!(out, "\ncould not read:");
        for t in unreadable {
            push_line(
                out,
                width,
                &format!(
                    "  page table {} (mm {}): {}",
                    hex(t.pgd_va),
                    t.mm.map_or("?".into(), hex),
                    t.reason.as_deref().unwrap_or("unreadable")
                ),
            );
        }
        for p in &a.problems {
            push_line(out, width, &format!("  {}: {}", p.what, p.detail));
        }
    }
}

/// "PGD 0x1f2e3067@0x11e10dc8 -> PUD ... -> pa 0x..." for one walk.
pub(crate) fn walk_line(w: &Walk) -> String {
    let mut parts: Vec<String> = w
        .steps
        .iter()
        .map(|s| {
            format!(
                "{} {}@{}",
                s.level.name().to_uppercase(),
                hex(s.entry),
                hex(s.entry_pa)
            )
        })
        .collect();
    parts.push(match &w.outcome {
        WalkOutcome::Mapped { pa, .. } => format!("pa {}", hex(*pa)),
        WalkOutcome::NotPresent { level } => {
            format!("not present at {}", level.name().to_uppercase())
        }
        WalkOutcome::Unreadable { level, error } => {
            format!("{} unreadable: {error}", level.name().to_uppercase())
        }
        WalkOutcome::NonCanonical => "non-canonical".into(),
    });
    parts.join(" -> ")
}

fn render_crash(out: &mut String, c: &Crash, width: Option<u16>) {
    push_line(out, width, &format!("\ncrash: {}", c.verdict));
    if let Some(fa) = c.fault_address {
        push_line(
            out,
            width,
            &format!(
                "  fault address {} (slot {}, {}); CPU {}, pid {} ({}); page table {} found by {}",
                hex(fa),
                c.slot.map_or("?".into(), |s| s.0.to_string()),
                c.regions
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join("+"),
                c.cpu.map_or("?".into(), |v| v.to_string()),
                c.pid.map_or("?".into(), |v| v.to_string()),
                c.comm.as_deref().unwrap_or("?"),
                c.pgd_va.map_or("?".into(), hex),
                c.pgd_source.map_or("nothing", |s| s.as_str())
            ),
        );
    }
    if let Some(w) = &c.walk {
        push_line(
            out,
            width,
            &format!("  in the crashing page table: {}", walk_line(w)),
        );
    }
    if let Some(w) = &c.init_mm_walk {
        push_line(
            out,
            width,
            &format!("  in init_mm:                 {}", walk_line(w)),
        );
    }
    if let Some(w) = &c.oops.walk {
        let line: Vec<String> = w
            .entries
            .iter()
            .map(|e| format!("{} {:x}", e.level.name().to_uppercase(), e.value))
            .collect();
        push_line(
            out,
            width,
            &format!("  the oops printed:           {}", line.join(" ")),
        );
    }
    for n in &c.notes {
        push_line(out, width, &format!("  note: {n}"));
    }
}

fn render_replay(out: &mut String, r: &Replay, before: &Analysis, width: Option<u16>) {
    push_line(
        out,
        width,
        &format!(
            "\nreplay with the fixed kernel's populate_kernel model (ARCH_PAGE_TABLE_SYNC_MASK: {}):",
            r.mask_name
        ),
    );
    if r.kernel_has_fix {
        let _ = writeln!(
            out,
            "  this kernel already has the fix (arch_sync_kernel_mappings, p?d_populate_kernel): it syncs every slot installed through p?d_populate_kernel(), so a slot missing in the dump was installed by a path that bypassed it"
        );
    }
    if r.calls.is_empty() {
        let _ = writeln!(
            out,
            "  no missing slot: nothing for p?d_populate_kernel() to sync"
        );
    }
    let columns = [
        Column::whole("call"),
        Column::whole("addr"),
        // The slot of addr.
        Column::whole("slot").secondary(0),
        Column::whole("page tables synced"),
        Column::prose("BUG_ON"),
        Column::prose("unreachable (not on pgd_list)"),
    ];
    let mut rows = Vec::new();
    for c in &r.calls {
        let list = |v: Vec<crate::model::sync::PgdRef>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter().map(|p| hex(p.va)).collect::<Vec<_>>().join(", ")
            }
        };
        rows.push(vec![
            c.kind.name().to_string(),
            hex(c.addr),
            c.pgd_index.0.to_string(),
            c.synced().to_string(),
            list(c.bug_on()),
            list(c.unreachable()),
        ]);
    }
    if !r.calls.is_empty() {
        let t = layout::render(Frame::Boxed, &columns, &rows, width);
        let _ = writeln!(out, "{t}");
    }
    let _ = writeln!(
        out,
        "  after: {} ({} findings, was {} {})",
        r.after.verdict().as_str(),
        r.after.findings.len(),
        before.verdict().as_str(),
        before.findings.len()
    );
    if let Some((b, a)) = &r.fault {
        push_line(
            out,
            width,
            &format!("  fault address before: {}", walk_line(b)),
        );
        push_line(
            out,
            width,
            &format!("  fault address after:  {}", walk_line(a)),
        );
    }
}
