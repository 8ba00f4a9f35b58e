//! The archive mode's summary for people (stderr) and its exit status.
//! Only counters are kept per release and per slot: memory does not grow
//! with the number of dumps.

use std::collections::BTreeMap;

use comfy_table::{Table, presets};
use pgsync_dump::report::json::Report;

use super::inputs::Skipped;

/// Verdict columns, then the column of dumps that could not be analyzed.
const COLUMNS: [&str; 5] = [
    "consistent",
    "missing-sync",
    "inconsistent",
    "incomplete",
    "error",
];
const ERROR: usize = 4;

/// What the summary keeps of one dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSummary {
    /// Kernel release, when the dump was analyzed and names one.
    pub release: Option<String>,
    /// Index into [`COLUMNS`].
    column: usize,
    /// (pgd index, regions, kind) of each finding.
    findings: Vec<(u16, String, &'static str)>,
    pub exit: u8,
}

impl DumpSummary {
    pub fn analyzed(r: &Report, exit: u8) -> DumpSummary {
        let verdict = r.summary.verdict;
        DumpSummary {
            release: r.dump.osrelease.clone(),
            column: COLUMNS.iter().position(|&c| c == verdict).unwrap_or(ERROR),
            findings: r
                .findings
                .iter()
                .map(|f| (f.pgd_index, f.regions.join(","), f.kind))
                .collect(),
            exit,
        }
    }

    pub fn error() -> DumpSummary {
        DumpSummary {
            release: None,
            column: ERROR,
            findings: Vec::new(),
            exit: 2,
        }
    }
}

/// How bad an exit status is: 2 (not analyzed) > 1 (findings) > 3
/// (incomplete) > 0.
fn severity(exit: u8) -> u8 {
    match exit {
        0 => 0,
        3 => 1,
        1 => 2,
        _ => 3,
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    dumps: u64,
    by_release: BTreeMap<String, [u64; COLUMNS.len()]>,
    /// (slot, regions, kind) -> (findings, dumps).
    by_slot: BTreeMap<(u16, String, &'static str), (u64, u64)>,
    exit: u8,
}

impl Summary {
    pub fn add(&mut self, d: &DumpSummary) {
        self.dumps += 1;
        let release = d.release.clone().unwrap_or_else(|| "(unknown)".into());
        self.by_release.entry(release).or_default()[d.column] += 1;
        let mut slots: Vec<&(u16, String, &'static str)> = d.findings.iter().collect();
        slots.sort();
        let mut last = None;
        for key in slots {
            let e = self.by_slot.entry(key.clone()).or_default();
            e.0 += 1;
            if last != Some(key) {
                e.1 += 1;
            }
            last = Some(key);
        }
        if severity(d.exit) > severity(self.exit) {
            self.exit = d.exit;
        }
    }

    /// The most severe exit status of the dumps seen (0 when none).
    pub fn exit_status(&self) -> u8 {
        self.exit
    }

    /// The tables: verdicts by kernel release, findings by slot, and what
    /// walked directories held besides dumps.
    pub fn render(&self, skipped: &Skipped) -> String {
        let mut out = format!("{} dump(s) analyzed or tried\n", self.dumps);
        if !self.by_release.is_empty() {
            let mut t = table(["kernel release"].into_iter().chain(COLUMNS));
            for (release, counts) in &self.by_release {
                let mut row = vec![release.clone()];
                row.extend(counts.iter().map(u64::to_string));
                t.add_row(row);
            }
            out += &format!("{t}\n");
        }
        if !self.by_slot.is_empty() {
            let mut t = table(["slot", "regions", "kind", "findings", "dumps"]);
            for ((slot, regions, kind), (findings, dumps)) in &self.by_slot {
                t.add_row(vec![
                    slot.to_string(),
                    regions.clone(),
                    kind.to_string(),
                    findings.to_string(),
                    dumps.to_string(),
                ]);
            }
            out += &format!("{t}\n");
        }
        let s = skipped;
        let skips = [
            (s.not_dumps, "file(s) that are not dumps"),
            (s.not_regular, "FIFO(s), socket(s) or device(s)"),
            (
                s.seen_before,
                "file(s) or directories reached twice (links, loops)",
            ),
            (s.dangling_links, "dangling symbolic link(s)"),
        ];
        let skips: Vec<String> = skips
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if !skips.is_empty() {
            out += &format!("skipped: {}\n", skips.join(", "));
        }
        out
    }
}

fn table<'a>(header: impl IntoIterator<Item = &'a str>) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(header);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(column: usize, exit: u8, findings: &[(u16, &str, &'static str)]) -> DumpSummary {
        DumpSummary {
            release: Some("6.1.0".into()),
            column,
            findings: findings
                .iter()
                .map(|&(s, r, k)| (s, r.to_string(), k))
                .collect(),
            exit,
        }
    }

    #[test]
    fn exit_status_is_the_most_severe_in_the_order_2_1_3_0() {
        let cases: [(&[u8], u8); 6] = [
            (&[], 0),
            (&[0, 0], 0),
            (&[0, 3], 3),
            (&[3, 1, 0], 1),
            (&[1, 3, 2, 0], 2),
            (&[2, 1], 2),
        ];
        for (exits, want) in cases {
            let mut s = Summary::default();
            for &e in exits {
                s.add(&dump(0, e, &[]));
            }
            assert_eq!(s.exit_status(), want, "{exits:?}");
        }
    }

    #[test]
    fn findings_count_per_slot_and_dumps_once_per_slot() {
        let mut s = Summary::default();
        s.add(&dump(
            1,
            1,
            &[(495, "vmalloc", "missing"), (495, "vmalloc", "missing")],
        ));
        s.add(&dump(1, 1, &[(495, "vmalloc", "missing")]));
        s.add(&DumpSummary::error());
        assert_eq!(
            s.by_slot.get(&(495, "vmalloc".to_string(), "missing")),
            Some(&(3, 2))
        );
        assert_eq!(s.by_release.get("6.1.0"), Some(&[0, 2, 0, 0, 0]));
        assert_eq!(s.by_release.get("(unknown)"), Some(&[0, 0, 0, 0, 1]));
    }
}
