//! The report fitted to a terminal's width (issue 15): no line is wider than
//! the terminal and no hexadecimal number is split across lines, at 80 and
//! 120 columns; without a width the report is full rows.

use std::collections::BTreeSet;
use std::path::Path;

use pgsync_dump::analysis::{self, oops::LogLine};
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump;
use pgsync_dump::kernel::Kernel;
use pgsync_dump::model::mask::SyncMask;
use pgsync_dump::report::layout::{self, Column, Frame};
use pgsync_dump::report::{DumpFacts, table};

/// `analyze --replay` on fixtures/missing-4l, fitted to `width`.
fn report(width: Option<u16>) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/missing-4l");
    let d = dump::open(&[dir.join("vmcore")]).expect("fixture opens");
    let v = Vmlinux::open(&dir.join("vmlinux")).expect("fixture vmlinux opens");
    let k = Kernel::open(&d, &v).expect("kernel view");
    let a = analysis::check(&k).expect("check");
    let log: Vec<LogLine> = k
        .kernel_log()
        .expect("log")
        .records
        .iter()
        .map(LogLine::from)
        .collect();
    let crash = analysis::crash::attribute(&k, &a, &log);
    let replay =
        analysis::replay::replay(&k, &a, crash.as_ref(), SyncMask::KernelDefault).expect("replay");
    let facts = DumpFacts::from_kernel(&k);
    table::render_to_width(&facts, &a, crash.as_ref(), Some(&replay), width)
}

/// Every maximal run of `0x` and hex digits.
fn hex_numbers(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'0' && b[i + 1] == b'x' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.insert(text[i..j].to_string());
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "line wider than {width}: {line:?}"
        );
    }
}

#[test]
fn the_analyze_report_fits_80_and_120_columns_without_splitting_a_number() {
    let full = report(None);
    let all = hex_numbers(&full);
    // The numbers a reader copies, each of them whole in every layout.
    let key = [
        "0xffffea8000000000",
        "0xffffeaffffffffff",
        "0xffff888002ec8000",
        "0x2ec8ea8",
        "0x2ee8067",
        "0x800000000b0001e3",
        "0xffffea8000000034",
    ];
    for n in key {
        assert!(all.contains(n), "{n} not in the full report");
    }
    for width in [80u16, 120] {
        let fitted = report(Some(width));
        assert_fits(&fitted, usize::from(width));
        let shown = hex_numbers(&fitted);
        // A split number would show up as a prefix that is no number of the report.
        let foreign: Vec<_> = shown.difference(&all).collect();
        assert!(foreign.is_empty(), "at {width}: split numbers {foreign:?}");
        for n in key {
            assert!(shown.contains(n), "at {width}: {n} missing");
        }
    }
    // Full rows: the widest line is the evidence table's, wider than 120.
    assert!(full.lines().any(|l| l.chars().count() > 120));
    // 120 columns: every column, the task list and headers wrapped.
    let r120 = report(Some(120));
    assert!(r120.contains(
        "│ 469  ┆ missing ┆ vmemmap ┆ 0xffffea8000000000-0xffffeaffffffffff ┆ 4 of 7 ┆ 640 dbus-daemon, 641   ┆ 0x2ee8067 │"
    ));
    assert!(!r120.contains("not shown"));
    // 80 columns: the secondary columns go, the range and the evidence stay.
    let r80 = report(Some(80));
    assert!(r80.contains(
        "│ 469  ┆ missing ┆ 0xffffea8000000000-0xffffeaffffffffff ┆ 640 dbus-daemon,    │"
    ));
    assert!(r80.contains("(not shown in 80 columns: init_mm entry, regions, page tables;"));
    assert!(
        r80.contains(
            "│ 469  ┆ 0xffff888002ec8000 ┆ 0x2ec8000 ┆ 0x2ec8ea8     ┆ 0x0   ┆ 0x2ee8067 │"
        )
    );
}

/// The `tasks` table's columns (src/cli/commands.rs) with a kernel's widest
/// values: at 80 columns the secondary columns go, never a digit of a pgd.
#[test]
fn the_tasks_table_keeps_pids_and_pgds_whole() {
    let columns = [
        Column::whole("pid"),
        Column::whole("tgid").secondary(0),
        Column::whole("comm"),
        Column::whole("mm").secondary(1),
        Column::whole("pgd"),
        Column::whole("cpu").secondary(2),
        Column::whole("page table"),
    ];
    let rows: Vec<Vec<String>> = (0..3)
        .map(|i| {
            vec![
                format!("{}", 4_194_300 + i),
                "4194300".into(),
                "systemd-journal".into(),
                format!("0xffff8c174106{i}000"),
                format!("0xffff8c1741062{i}00"),
                "127".into(),
                "diverged".into(),
            ]
        })
        .collect();
    let t80 = layout::render(Frame::Boxed, &columns, &rows, Some(80));
    assert_fits(&t80, 80);
    assert!(t80.contains("│ 4194300 ┆ systemd-journal ┆ 0xffff8c1741062000 ┆ 127 ┆ diverged   │"));
    assert!(t80.ends_with("(not shown in 80 columns: tgid, mm; --format json has them)"));
    let t120 = layout::render(Frame::Boxed, &columns, &rows, Some(120));
    assert_fits(&t120, 120);
    assert!(t120.contains(
        "│ 4194302 ┆ 4194300 ┆ systemd-journal ┆ 0xffff8c1741062000 ┆ 0xffff8c1741062200 ┆ 127 ┆ diverged   │"
    ));
    assert!(!t120.contains("not shown"));
    // Piped: the same full rows as at 120, no note.
    assert_eq!(layout::render(Frame::Boxed, &columns, &rows, None), t120);
}

/// A table that cannot fit even without its secondary columns turns into
/// one block per row; a too-long prose word stays whole on its own line.
#[test]
fn a_table_too_wide_for_any_columns_becomes_vertical() {
    let columns = [
        Column::whole("address range"),
        Column::whole("init_mm entry"),
        Column::prose("tasks"),
    ];
    let rows = vec![vec![
        "0xffffea8000000000-0xffffeaffffffffff".to_string(),
        "0x800000000b0001e3".to_string(),
        "640 dbus-daemon, 641 gdbus".to_string(),
    ]];
    let t = layout::render(Frame::Boxed, &columns, &rows, Some(40));
    assert_eq!(
        t,
        "address range  0xffffea8000000000-0xffffeaffffffffff\n\
         init_mm entry  0x800000000b0001e3\n\
         tasks          640 dbus-daemon, 641\n               gdbus"
    );
}
