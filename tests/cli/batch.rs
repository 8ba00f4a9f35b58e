//! `analyze` in archive mode (src/cli/batch): directories, several dumps,
//! `--format jsonl`; each line checked against the single-dump report.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

use common::*;
use pgsync_dump::write::kdump::{Compression, KdumpSpec, write_kdump};
use serde_json::Value;

/// A scratch directory of this test's own, empty.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgsync-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn link(target: &Path, at: &Path) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, at).unwrap();
}

/// A fixture's `vmcore` and `vmlinux`, linked into `dir/name/`.
fn link_fixture(dir: &Path, name: &str) -> PathBuf {
    let src = fixtures_dir().join(name);
    link(&src.join("vmcore"), &dir.join(name).join("vmcore"));
    link(&src.join("vmlinux"), &dir.join(name).join("vmlinux"));
    dir.join(name).join("vmcore")
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The line without what the archive mode adds: the single-dump report.
fn report_of(line: &Value) -> Value {
    let mut v = line.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("path");
    o.remove("parts");
    o.remove("exit");
    v
}

/// `analyze --format json` on these files alone, as a single run.
fn single(paths: &[&Path]) -> (i32, Value) {
    let mut args = vec!["analyze", "--format", "json"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let r = run(&args);
    let v = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{paths:?}: not JSON ({e}); stderr: {}", r.stderr));
    (r.code, v)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_directory_gives_one_line_per_dump_with_the_single_dump_report() {
    let dir = scratch("dir");
    let healthy = link_fixture(&dir, "healthy-4l");
    let incomplete = link_fixture(&dir, "incomplete");
    let mismatch = link_fixture(&dir, "mismatch");
    let missing = link_fixture(&dir, "missing-4l");
    // Beside the dumps: notes, a truncated dump, a loop back to the top.
    std::fs::write(dir.join("healthy-4l/notes.txt"), "not a dump\n").unwrap();
    // Starts with a dump format's signature word, but as text.
    std::fs::write(
        dir.join("mismatch/makedumpfile.log"),
        "makedumpfile 1.7.2: the dump is written\n",
    )
    .unwrap();
    let whole = std::fs::read(fixtures_dir().join("missing-4l/vmcore")).unwrap();
    std::fs::create_dir_all(dir.join("truncated")).unwrap();
    let truncated = dir.join("truncated/vmcore");
    std::fs::write(&truncated, &whole[..3000]).unwrap();
    link(&dir, &dir.join("truncated/loop"));

    let r = run(&["analyze", "--jobs", "2", s(&dir)]);
    let got = lines(&r.stdout);
    let paths: Vec<&str> = got.iter().map(|l| l["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [&healthy, &incomplete, &mismatch, &missing, &truncated].map(|p| s(p)),
        "stderr: {}",
        r.stderr
    );
    for (line, (dump, exit)) in got.iter().zip([
        (&healthy, 0),
        (&incomplete, 3),
        (&mismatch, 1),
        (&missing, 1),
    ]) {
        let (code, alone) = single(&[dump]);
        assert_eq!(code, exit, "{}", dump.display());
        assert_eq!(line["exit"], exit, "{}", dump.display());
        assert_eq!(report_of(line), alone, "{}", dump.display());
    }
    let bad = &got[4];
    assert_eq!(bad["exit"], 2);
    assert_eq!(bad.as_object().unwrap().len(), 3, "{bad}"); // path, exit, error
    let single_error = run(&["analyze", s(&truncated)]);
    assert_eq!(single_error.code, 2);
    assert_eq!(
        format!("pgsync-dump: error: {}\n", bad["error"].as_str().unwrap()),
        single_error.stderr
    );
    assert_eq!(r.code, 2, "an unanalyzable dump makes the run exit 2");
    // Four vmlinux files, the notes and the log are not dumps; the loop is
    // skipped.
    assert!(
        r.stderr.contains(
            "skipped: 6 file(s) that are not dumps, 1 file(s) or directories reached twice"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.starts_with("5 dump(s) analyzed or tried\n"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_exit_status_is_the_most_severe_class_present() {
    let dir = scratch("exit");
    let cases: [(&[&str], i32); 4] = [
        (&["healthy-4l"], 0),
        (&["healthy-4l", "incomplete"], 3),
        (&["healthy-4l", "incomplete", "missing-4l"], 1),
        (&["healthy-5l", "mismatch"], 1),
    ];
    for (i, (fixtures, want)) in cases.iter().enumerate() {
        let case = dir.join(i.to_string());
        for f in *fixtures {
            link_fixture(&case, f);
        }
        let r = run(&["analyze", "--quiet", s(&case)]);
        assert_eq!(r.code, *want, "{fixtures:?}: {}", r.stderr);
        assert_eq!(lines(&r.stdout).len(), fixtures.len());
        assert_eq!(r.stderr, "", "--quiet: no summary");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_and_two_jobs_give_the_same_output() {
    let dir = scratch("jobs");
    for f in [
        "healthy-4l",
        "healthy-5l",
        "missing-4l",
        "missing-5l",
        "mismatch",
    ] {
        link_fixture(&dir, f);
    }
    let one = run(&["analyze", "--format", "jsonl", "--jobs", "1", s(&dir)]);
    let two = run(&["analyze", "--format", "jsonl", "--jobs", "2", s(&dir)]);
    assert_eq!(lines(&one.stdout).len(), 5);
    assert_eq!(one.stdout, two.stdout);
    assert_eq!(one.stderr, two.stderr);
    assert_eq!((one.code, two.code), (1, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The missing-4l kernel written as a three-part split dump (zlib), with
/// its vmlinux, into `dir`: the part paths.
fn split_dump(dir: &Path) -> Vec<PathBuf> {
    let plan: pgsync_synth::Plan = serde_json::from_str(
        &std::fs::read_to_string(fixtures_dir().join("missing-4l/plan.json")).unwrap(),
    )
    .unwrap();
    let (built, m) = pgsync_synth::build_with_machine(&plan).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("vmlinux"), &built.vmlinux).unwrap();
    let pages: std::collections::BTreeMap<u64, &[u8; 4096]> = m.mem.dumped_pages().collect();
    let last = pages.keys().next_back().copied().unwrap();
    let max_mapnr = (last + 1).div_ceil(8 * 4096) * 8 * 4096;
    let cut = [0, last / 3, 2 * last / 3, max_mapnr];
    let page = |pfn: u64| pages.get(&pfn).map(|p| p.to_vec());
    (0..3)
        .map(|i| {
            let spec = KdumpSpec {
                compression: Compression::Zlib,
                max_mapnr,
                ram: vec![(0, max_mapnr)],
                notes: pgsync_synth::elf::notes(&plan, &m),
                release: plan.osrelease.clone(),
                split: Some((cut[i], cut[i + 1])),
                ..KdumpSpec::default()
            };
            let path = dir.join(format!("vmcore.split.{}", i + 1));
            std::fs::write(&path, write_kdump(&spec, &page).0).unwrap();
            path
        })
        .collect()
}

#[test]
fn split_dumps_are_grouped_and_a_missing_part_is_one_error_line() {
    let dir = scratch("split");
    let parts = split_dump(&dir.join("whole"));
    let (code, alone) = single(&parts.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(code, 1);
    assert_eq!(alone["dump"]["format"], "kdump-split");
    // Two parts of the same dump, the middle one missing.
    std::fs::create_dir_all(dir.join("partial")).unwrap();
    for i in [0, 2] {
        let name = parts[i].file_name().unwrap();
        std::fs::copy(&parts[i], dir.join("partial").join(name)).unwrap();
    }
    std::fs::copy(dir.join("whole/vmlinux"), dir.join("partial/vmlinux")).unwrap();

    let r = run(&["analyze", s(&dir)]);
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 2, "{}", r.stdout);
    let (partial, whole) = (&got[0], &got[1]);
    let part_names: Vec<String> = parts.iter().map(|p| s(p).to_string()).collect();
    assert_eq!(whole["path"], part_names[0]);
    assert_eq!(whole["parts"], serde_json::json!(part_names));
    assert_eq!(whole["exit"], 1);
    assert_eq!(report_of(whole), alone);
    assert_eq!(partial["exit"], 2);
    assert_eq!(partial["path"], s(&dir.join("partial/vmcore.split.1")));
    let split_pfns = |i: usize| -> (u64, u64) {
        let d = pgsync_dump::dump::probe::probe(&parts[i]).unwrap().unwrap();
        let p = d.split.unwrap();
        (p.start_pfn, p.end_pfn)
    };
    let ((_, end1), (start3, _)) = (split_pfns(0), split_pfns(2));
    let error = partial["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "a part is missing: no part holds pfns {end1:#x}..{start3:#x}; found 2 part(s)"
        )),
        "{error}"
    );
    assert_eq!(r.code, 2);

    // Flattened parts (`makedumpfile -F --split`) group the same way: the
    // probe reads their headers through the stream's first records.
    std::fs::remove_dir_all(dir.join("partial")).unwrap();
    let flat = dir.join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    let mut flat_parts = Vec::new();
    for p in parts.iter().rev() {
        let bytes = pgsync_dump::write::flatten::flatten(&std::fs::read(p).unwrap(), 4096, true);
        let at = flat.join(p.file_name().unwrap());
        std::fs::write(&at, bytes).unwrap();
        flat_parts.insert(0, at);
    }
    std::fs::copy(dir.join("whole/vmlinux"), flat.join("vmlinux")).unwrap();
    let r = run(&["analyze", "--format", "jsonl", s(&flat)]);
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 1, "{}", r.stdout);
    let flat_names: Vec<&str> = flat_parts.iter().map(|p| s(p)).collect();
    assert_eq!(got[0]["parts"], serde_json::json!(flat_names));
    assert_eq!(got[0]["summary"], alone["summary"]);
    assert_eq!(got[0]["findings"], alone["findings"]);

    // The parts of one dump named on the command line: the single-dump
    // mode, byte for byte what it always printed.
    let explicit = run(&[
        "analyze",
        "--format",
        "json",
        &part_names[0],
        &part_names[1],
        &part_names[2],
    ]);
    assert_eq!(
        serde_json::from_str::<Value>(&explicit.stdout).unwrap(),
        alone
    );
    assert!(
        explicit.stdout.starts_with("{\n"),
        "pretty-printed, not a line"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_input_that_blocks_is_bounded_by_the_timeout_and_the_run_goes_on() {
    let dir = scratch("fifo");
    let fifo = dir.join("stuck");
    let ok = Command::new("mkfifo").arg(&fifo).status();
    if !ok.is_ok_and(|s| s.success()) {
        outside_tool_missing("mkfifo");
        return;
    }
    let healthy = link_fixture(&dir, "healthy-4l");
    let start = Instant::now();
    // Named on the command line, the FIFO is opened, and the open blocks
    // (no writer); in a walked directory it is skipped unopened.
    let r = run(&[
        "analyze",
        "--timeout",
        "2",
        "--jobs",
        "1",
        s(&fifo),
        s(&healthy),
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 2, "{}", r.stdout);
    assert_eq!(got[0]["path"], s(&fifo));
    assert_eq!(got[0]["exit"], 2);
    assert_eq!(
        got[0]["error"],
        "no result after 2 s (--timeout): the analysis was abandoned"
    );
    assert_eq!(got[1]["exit"], 0);
    assert_eq!(got[1]["summary"]["verdict"], "consistent");
    assert_eq!(r.code, 2);

    let walked = run(&["analyze", "--timeout", "2", s(&dir)]);
    assert_eq!(lines(&walked.stdout).len(), 1);
    assert_eq!(walked.code, 0);
    assert!(
        walked.stderr.contains("1 FIFO(s), socket(s) or device(s)"),
        "{}",
        walked.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn format_json_over_an_archive_is_refused() {
    let r = run(&[
        "analyze",
        "--format",
        "json",
        s(&fixtures_dir().join("healthy-4l")),
    ]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "pgsync-dump: error: several dumps give one JSON object per line: use --format jsonl (docs/fleet.md); --format json is one report of one dump\n"
    );
    assert_eq!(r.stdout, "");
}

#[test]
fn jsonl_on_one_dump_is_one_line_with_the_single_report() {
    let dump = fixtures_dir().join("missing-4l/vmcore");
    // A budget no clock can reach is no budget (and no overflow).
    let r = run(&[
        "analyze",
        "--format",
        "jsonl",
        "--timeout",
        "18446744073709551615",
        s(&dump),
    ]);
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 1, "{}", r.stderr);
    assert_eq!(report_of(&got[0]), single(&[&dump]).1);
    assert_eq!(got[0]["exit"], 1);
    assert_eq!(r.code, 1);
}

#[test]
fn a_thousand_other_files_are_counted_not_printed() {
    let dir = scratch("many");
    let healthy = link_fixture(&dir, "healthy-4l");
    for i in 0..1000 {
        // Named like dumps, but their bytes say otherwise.
        std::fs::write(dir.join(format!("vmcore.{i}")), format!("log line {i}\n")).unwrap();
    }
    let r = run(&["analyze", s(&dir)]);
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["path"], s(&healthy));
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .ends_with("\nskipped: 1001 file(s) that are not dumps\n"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    use std::io::BufRead as _;
    let dir = scratch("head");
    for i in 0..12 {
        let d = dir.join(format!("d{i:02}"));
        link(&fixtures_dir().join("healthy-4l/vmcore"), &d.join("vmcore"));
        link(
            &fixtures_dir().join("healthy-4l/vmlinux"),
            &d.join("vmlinux"),
        );
    }
    let mut child = Command::new(bin())
        .args(["analyze", "--quiet", "--jobs", "1", s(&dir)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (like `| head -1`).
    let out = child.wait_with_output().unwrap();
    let line: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["path"], s(&dir.join("d00/vmcore")));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_entry_that_cannot_be_read_is_an_error_line_and_the_walk_goes_on() {
    let dir = scratch("unreadable");
    let healthy = link_fixture(&dir, "healthy-4l");
    let selfish = dir.join("self");
    link(&selfish, &selfish); // a link to itself: ELOOP on every open
    link(&dir.join("nowhere"), &dir.join("dangling"));
    let r = run(&["analyze", s(&dir)]);
    let got = lines(&r.stdout);
    assert_eq!(got.len(), 2, "{}", r.stdout);
    assert_eq!(got[0]["path"], s(&healthy));
    assert_eq!(got[0]["exit"], 0);
    assert_eq!(got[1]["path"], s(&selfish));
    assert_eq!(got[1]["exit"], 2);
    assert_eq!(
        got[1]["error"],
        format!(
            "{}: Too many levels of symbolic links (os error 40)",
            selfish.display()
        )
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .ends_with("skipped: 1 file(s) that are not dumps, 1 dangling symbolic link(s)\n"),
        "{}",
        r.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
