//! Every committed fixture: `analyze --format json` must report exactly what
//! the builder planted (expected.json comes from the builder's plan).

mod common;

use common::*;

#[test]
fn every_fixture_matches_its_plan() {
    let dirs = fixture_dirs();
    assert!(
        dirs.len() >= 9,
        "expected at least 9 committed fixtures, found {}",
        dirs.len()
    );
    for dir in dirs {
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let (code, actual, stderr) = analyze_json(&dir, &[]);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            Some(i64::from(code)),
            expected["exit_code"].as_i64(),
            "{name}: exit code; stderr: {stderr}"
        );
        assert_eq!(actual["schema"], "pgsync-dump/analyze/v1");
        assert_report_matches(&name, &expected, &actual);
    }
}

#[test]
fn table_output_names_the_verdict_and_slots() {
    for dir in fixture_dirs() {
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let vmcore = dir.join("vmcore");
        let vmlinux = dir.join("vmlinux");
        let r = run(&[
            "analyze",
            vmcore.to_str().unwrap(),
            "--vmlinux",
            vmlinux.to_str().unwrap(),
        ]);
        let verdict = expected["summary"]["verdict"].as_str().unwrap();
        let first = r.stdout.lines().next().unwrap_or("");
        assert!(
            first.starts_with(verdict),
            "{}: first line {first:?} should start with {verdict}",
            dir.display()
        );
        for f in expected["findings"].as_array().unwrap() {
            let slot = f["pgd_index"].to_string();
            assert!(
                r.stdout.contains(&format!("slot {slot}")),
                "{}: verdict should name slot {slot}:\n{}",
                dir.display(),
                r.stdout
            );
        }
    }
}

#[test]
fn pid_filter_limits_the_report() {
    for dir in fixture_dirs() {
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let Some(f) = expected["findings"].as_array().and_then(|a| a.first()) else {
            continue;
        };
        let Some(pid) = f["pids"]
            .as_array()
            .and_then(|p| p.first())
            .and_then(|p| p.as_i64())
        else {
            continue;
        };
        let pid_arg = pid.to_string();
        let (code, actual, _) = analyze_json(&dir, &["--pid", &pid_arg]);
        assert_eq!(code, 1);
        let tables = actual["page_tables"].as_array().unwrap();
        assert!(!tables.is_empty());
        for t in tables {
            assert!(
                t["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["pid"].as_i64() == Some(pid)),
                "{}: --pid {pid_arg} kept a table without that task: {t}",
                dir.display()
            );
        }
        for g in actual["findings"].as_array().unwrap() {
            assert!(
                g["pids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x.as_i64() == Some(pid))
            );
        }
    }
}

/// What the fixed kernel's sync would leave, derived from the plan's expected
/// findings: missing slots are copied into every table on pgd_list; tables
/// off the list, mismatches and stale entries stay.
fn expected_after_sync(expected: &serde_json::Value) -> (usize, Vec<(u64, usize)>) {
    let tables = expected["page_tables"].as_array().unwrap();
    let on_list = |pgd: &serde_json::Value| {
        tables
            .iter()
            .find(|t| t["pgd_va"] == *pgd)
            .is_some_and(|t| {
                t["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == "pgd_list")
            })
    };
    let mut remaining = 0;
    let mut synced: std::collections::BTreeMap<u64, usize> = Default::default();
    for f in expected["findings"].as_array().unwrap() {
        let slot = f["pgd_index"].as_u64().unwrap();
        if f["kind"] == "missing" {
            let n = synced.entry(slot).or_default();
            if on_list(&f["pgd_va"]) {
                *n += 1;
            } else {
                remaining += 1;
            }
        } else {
            remaining += 1;
        }
    }
    (remaining, synced.into_iter().collect())
}

#[test]
fn replay_syncs_every_missing_slot_on_pgd_list() {
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let levels = expected["kernel"]["paging_levels"].as_u64().unwrap();
        let (remaining, synced) = expected_after_sync(&expected);
        let (_, v, stderr) = analyze_json(&dir, &["--replay"]);
        let r = &v["replay"];
        assert_eq!(
            r["sync_mask"],
            if levels == 5 { "pgd" } else { "p4d" },
            "{name}: {stderr}"
        );
        let calls = r["calls"].as_array().unwrap();
        let got: Vec<(u64, usize)> = calls
            .iter()
            .map(|c| {
                (
                    c["pgd_index"].as_u64().unwrap(),
                    c["synced"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        assert_eq!(got, synced, "{name}: populate calls (slot, tables synced)");
        let call = if levels == 5 {
            "pgd_populate_kernel"
        } else {
            "p4d_populate_kernel"
        };
        assert!(calls.iter().all(|c| c["call"] == call), "{name}: {calls:?}");
        assert_eq!(
            r["after"]["findings"].as_u64().unwrap() as usize,
            remaining,
            "{name}: findings after replay"
        );

        // The counterfactual: the other level's bit alone syncs nothing.
        let other = if levels == 5 { "p4d" } else { "pgd" };
        let (_, v, _) = analyze_json(&dir, &["--replay", "--sync-mask", other]);
        let r = &v["replay"];
        assert!(
            r["calls"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["synced"] == 0),
            "{name}: {r}"
        );
        assert_eq!(
            r["after"]["findings"], expected["summary"]["findings"],
            "{name}"
        );
        let (_, v, _) = analyze_json(&dir, &["--replay", "--sync-mask", "none"]);
        assert_eq!(
            v["replay"]["after"]["findings"], expected["summary"]["findings"],
            "{name}"
        );
    }
}

#[test]
fn replay_never_writes_the_dump() {
    let dir = fixtures_dir().join("missing-4l");
    let before = std::fs::read(dir.join("vmcore")).unwrap();
    let (code, _, _) = analyze_json(&dir, &["--replay"]);
    assert_eq!(code, 1, "the verdict is about the dump, not the replay");
    assert_eq!(std::fs::read(dir.join("vmcore")).unwrap(), before);
}
