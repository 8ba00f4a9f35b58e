//! The kernel log, the crash section and the replay of every committed
//! fixture, against expected.json (derived from the builder's plan: the
//! records it stored, the oops it printed, the tables it planted).
//!
//! The tests that need the kernel log are ignored until the printk reader
//! (branch `printk`) is merged: `cargo test --test analysis -- --ignored crash_fixtures::`.

use crate::common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn expected(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap()
}

fn name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// `expected` with `verdict_prefix` checked as a prefix of `verdict`.
fn assert_crash(what: &str, expected: &Value, actual: &Value) {
    if expected.is_null() {
        assert!(
            actual.is_null(),
            "{what}: expected no crash, got {actual:#}"
        );
        return;
    }
    let mut e = expected.clone();
    let prefix = e
        .as_object_mut()
        .and_then(|o| o.remove("verdict_prefix"))
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("verdict_prefix");
    let verdict = actual["verdict"].as_str().unwrap_or_default();
    assert!(
        verdict.starts_with(&prefix),
        "{what}: verdict {verdict:?} should start with {prefix:?}"
    );
    assert_subset(what, &e, actual);
}

#[test]
fn dmesg_prints_the_planted_log_line_for_line() {
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let want: Vec<&str> = exp["dmesg"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for mode in debuginfo_modes(&dir) {
            let vmcore = dir.join("vmcore");
            let mut args = vec!["dmesg", vmcore.to_str().unwrap()];
            args.extend(mode.iter().map(String::as_str));
            let r = run(&args);
            assert_eq!(r.code, 0, "{} {mode:?}: {}", name(&dir), r.stderr);
            let got: Vec<&str> = r.stdout.lines().collect();
            assert_eq!(got.len(), want.len(), "{} {mode:?}: line count", name(&dir));
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, w, "{} {mode:?}: line {i}", name(&dir));
            }
        }
    }
}

#[test]
fn dmesg_reads_every_dump_format_alike() {
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let plan: pgsync_synth::Plan =
            serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
        let want: Vec<&str> = exp["dmesg"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        for f in plan.formats {
            for mode in debuginfo_modes(&dir) {
                let file = dir.join(f.file_name());
                let mut args = vec!["dmesg", file.to_str().unwrap()];
                args.extend(mode.iter().map(String::as_str));
                let r = run(&args);
                let what = format!("{}/{} {mode:?}", name(&dir), f.file_name());
                assert_eq!(r.code, 0, "{what}: {}", r.stderr);
                let got: Vec<&str> = r.stdout.lines().collect();
                assert_eq!(got, want, "{what}");
            }
        }
    }
}

#[test]
fn crash_section_matches_the_planted_oops() {
    let mut crashes = 0;
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let (_, actual, stderr) = analyze_json(&dir, &[]);
        let what = format!("{}.crash", name(&dir));
        assert_crash(&what, &exp["crash"], &actual["crash"]);
        if !exp["crash"].is_null() {
            crashes += 1;
        }
        let _ = stderr;
    }
    assert!(crashes >= 7, "fixtures with an oops: {crashes}");
}

/// The pieces of the crash the plan spells out, by scenario.
#[test]
fn crash_scenarios_say_what_they_plant() {
    let get = |n: &str| analyze_json(&fixtures_dir().join(n), &[]).1;
    let c = &get("missing-4l")["crash"];
    assert_eq!(c["explained"], true);
    assert_eq!(c["pgd_source"], "cpu_loaded_mm");
    assert_eq!(c["oops"]["walk_line"], "PGD 0 P4D 0");
    assert_eq!(c["walk"]["stopped"], "not present at pgd");
    let c = &get("missing-5l")["crash"];
    assert_eq!(c["explained"], true);
    assert_eq!(c["pgd_source"], "cr3");
    assert_eq!(c["oops"]["walk_line"], "PGD 0");
    let c = &get("crash-unexplained")["crash"];
    assert_eq!(c["explained"], false);
    assert_eq!(c["walk"]["stopped"], "not present at pmd");
    assert!(
        c["verdict"].as_str().unwrap().starts_with("not explained"),
        "{c:#}"
    );
    assert!(get("no-oops")["crash"].is_null());
    for n in [
        "legacy-log-buf",
        "wrapped-log",
        "kaslr-randomized",
        "unlisted-pgd",
    ] {
        assert_eq!(get(n)["crash"]["explained"], true, "{n}");
    }
}

/// Why each fixture's crash is or is not explained, as the plan built it
/// (src/synth/plan.rs): the bug fixtures fault in a late vmemmap slot their
/// crashing table lacks and init_mm has; crash-unexplained faults in the
/// vmalloc slot every table has, below a PMD that is not present.
const EXPLANATIONS: &[(&str, &str)] = &[
    ("crash-unexplained", "stops-below-top"),
    ("dump-only", "missing-sync"),
    ("kaslr-randomized", "missing-sync"),
    ("legacy-log-buf", "missing-sync"),
    ("missing-4l", "missing-sync"),
    ("missing-5l", "missing-sync"),
    ("unlisted-pgd", "missing-sync"),
    ("wrapped-log", "missing-sync"),
];

/// The crash's explanation code of every fixture with an oops (the other
/// dump formats agree with the ELF dump: tests/fixtures/formats.rs);
/// `explained` is true exactly for `missing-sync`. A fixture not in
/// [`EXPLANATIONS`] must have no crash, so that a new crash fixture needs a
/// row here.
#[test]
fn crash_explanation_codes_match_the_plan() {
    let mut seen = 0;
    for dir in fixture_dirs() {
        let n = name(&dir);
        let want = EXPLANATIONS.iter().find(|(f, _)| *f == n).map(|e| e.1);
        let (_, v, stderr) = analyze_json(&dir, &[]);
        let crash = &v["crash"];
        match want {
            None => assert!(crash.is_null(), "{n}: a crash without a row: {crash:#}"),
            Some(code) => {
                assert_eq!(crash["explanation"], code, "{n}; stderr: {stderr}");
                assert_eq!(crash["explained"], code == "missing-sync", "{n}");
                seen += 1;
            }
        }
    }
    let fixtures: Vec<String> = fixture_dirs().iter().map(|d| name(d)).collect();
    for (f, _) in EXPLANATIONS {
        assert!(fixtures.iter().any(|n| n == f), "{f}: no such fixture");
    }
    assert_eq!(seen, EXPLANATIONS.len(), "fixtures with a crash");
}

/// The replay of the default mask: the calls and the state after. These do
/// not depend on the log.
#[test]
fn replay_calls_and_after_match_the_plan() {
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let (_, actual, stderr) = analyze_json(&dir, &["--replay"]);
        let what = format!("{}.replay", name(&dir));
        let r = &actual["replay"];
        assert!(r.is_object(), "{what}: no replay section; stderr: {stderr}");
        for key in ["sync_mask", "calls", "after"] {
            assert_subset(&format!("{what}.{key}"), &exp["replay"][key], &r[key]);
        }
    }
}

/// The fault walked again after the replay: before, not present at the top;
/// after, the frame init_mm maps (or still missing when the table is not on
/// pgd_list).
#[test]
fn replay_fault_walks_match_the_plan() {
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let (_, actual, _) = analyze_json(&dir, &["--replay"]);
        let what = format!("{}.replay.fault", name(&dir));
        let (e, a) = (&exp["replay"]["fault"], &actual["replay"]["fault"]);
        if e.is_null() {
            assert!(a.is_null(), "{what}: {a:#}");
        } else {
            assert_subset(&what, e, a);
        }
    }
    let (_, a, _) = analyze_json(&fixtures_dir().join("unlisted-pgd"), &["--replay"]);
    let f = &a["replay"]["fault"];
    assert_eq!(f["after"]["stopped"], "not present at pgd", "{f:#}");
    assert_eq!(
        a["replay"]["calls"][0]["unreachable"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// Counterfactual masks: on 4-level a PGD-only mask never syncs (the
/// top-level slot is filled by p4d_populate_kernel), on 5-level a P4D-only
/// mask never syncs, and `none` never does: the findings stay.
#[test]
fn counterfactual_masks_leave_the_slots_missing() {
    for dir in fixture_dirs() {
        let exp = expected(&dir);
        let calls = exp["replay"]["calls"].as_array().unwrap();
        if calls.is_empty() {
            continue;
        }
        let other = if exp["kernel"]["paging_levels"] == 4 {
            "pgd"
        } else {
            "p4d"
        };
        for mask in [other, "none"] {
            let (_, a, stderr) = analyze_json(&dir, &["--replay", "--sync-mask", mask]);
            let what = format!("{} --sync-mask {mask}", name(&dir));
            let r = &a["replay"];
            assert_eq!(
                r["calls"].as_array().map(Vec::len),
                Some(calls.len()),
                "{what}: {stderr}"
            );
            for (c, e) in r["calls"].as_array().unwrap().iter().zip(calls) {
                assert_eq!(c["synced"], 0, "{what}");
                assert_eq!(c["call"], e["call"], "{what}");
                assert_eq!(c["pgd_index"], e["pgd_index"], "{what}");
            }
            assert_eq!(r["after"]["findings"], exp["summary"]["findings"], "{what}");
            assert_eq!(r["after"]["verdict"], exp["summary"]["verdict"], "{what}");
        }
    }
}

/// PRSTATUS follows the producer's convention: pr_pid is the pid running on
/// the CPU in kdump-style fixtures (0 for idle), the CPU index + 1 in
/// QEMU-style ones.
#[test]
fn prstatus_pids_follow_the_producer_convention() {
    use pgsync_synth::NoteStyle;
    for dir in fixture_dirs() {
        let plan: pgsync_synth::Plan =
            serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
        let d = pgsync_dump::dump::open(&[dir.join("vmcore")]).unwrap();
        assert_eq!(d.cpus().len(), plan.cpus.len(), "{}", plan.name);
        for (i, (c, note)) in plan.cpus.iter().zip(d.cpus()).enumerate() {
            let want = match plan.notes {
                NoteStyle::Kdump => c.current.unwrap_or(0),
                NoteStyle::Qemu => i as u32 + 1,
            };
            assert_eq!(note.prstatus_pid, Some(want), "{} CPU {i}", plan.name);
        }
        // The crashing CPU's note names the crashing pid (kdump style).
        if let (Some(crash), NoteStyle::Kdump) = (&plan.crash, plan.notes) {
            let cpu = crash.cpu as usize;
            assert_eq!(
                d.cpus()[cpu].prstatus_pid,
                plan.cpus[cpu].current,
                "{}",
                plan.name
            );
        }
    }
}
