//! Real-kernel reproductions (fixtures/real/*: `pgsync-dump extract` of dumps
//! the harness took from Debian's 5.10, 6.1, 6.12 and 7.3 kernels in QEMU) checked
//! against what drgn found on the ORIGINAL multi-hundred-MB dumps
//! (expected.json, written by harness/referee_expected.py).

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::{Value, json};

fn real_dirs() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(fixtures_dir().join("real"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("expected.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn real_kernel_reproductions_match_drgn_on_the_originals() {
    let dirs = real_dirs();
    assert!(
        dirs.len() >= 3,
        "expected the 4-level bug, 5-level bug and healthy real fixtures"
    );
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        // The vmlinux next to the dump is found without --vmlinux.
        let r = run(&[
            "analyze",
            "--format",
            "json",
            dir.join("vmcore").to_str().unwrap(),
        ]);
        let v: Value =
            serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{name}: {e}: {}", r.stderr));
        assert_eq!(v["summary"]["verdict"], expected["verdict"], "{name}");
        assert_eq!(
            r.code,
            if expected["verdict"] == "consistent" {
                0
            } else {
                1
            },
            "{name}"
        );
        assert_eq!(
            v["kernel"]["paging_levels"], expected["paging_levels"],
            "{name}"
        );
        assert_eq!(v["dump"]["osrelease"], expected["osrelease"], "{name}");

        let mut diffs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for f in v["findings"].as_array().unwrap() {
            diffs
                .entry(f["pgd_va"].as_str().unwrap().to_string())
                .or_default()
                .push(json!([
                    f["pgd_index"],
                    f["kind"],
                    f["expected"],
                    f["actual"]
                ]));
        }
        let ours: Vec<Value> = v["page_tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["status"] != "skipped")
            .map(|t| {
                let mut pids: Vec<i64> = t["tasks"].as_array().unwrap().iter().map(|x| x["pid"].as_i64().unwrap()).collect();
                pids.sort();
                let mut d = diffs.remove(t["pgd_va"].as_str().unwrap()).unwrap_or_default();
                d.sort_by_key(|x| x.to_string());
                let mut sources: Vec<&str> = t["sources"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
                sources.sort();
                json!({"pgd_va": t["pgd_va"], "mm": t["mm"], "pids": pids, "sources": sources, "diffs": d})
            })
            .collect();
        let theirs = expected["page_tables"].as_array().unwrap();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: page tables\nours: {ours:#?}"
        );
        for (o, t) in ours.iter().zip(theirs) {
            assert_subset(&format!("{name}.{}", t["pgd_va"]), t, o);
        }
        if let Some(fa) = expected["fault_address"].as_str() {
            assert_eq!(v["crash"]["fault_address"], fa, "{name}");
            assert_eq!(v["crash"]["pid"], expected["crash_pid"], "{name}");
            assert_eq!(v["crash"]["cpu"], expected["crash_cpu"], "{name}");
            assert_eq!(v["crash"]["explained"], true, "{name}");
            assert_eq!(v["crash"]["explanation"], "missing-sync", "{name}");
        }
    }
}

#[test]
fn replay_on_real_reproductions_syncs_what_drgn_saw_missing() {
    for dir in real_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let r = run(&[
            "analyze",
            "--format",
            "json",
            "--replay",
            dir.join("vmcore").to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let missing_on_list = expected["page_tables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| {
                t["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == "pgd_list")
            })
            .flat_map(|t| {
                t["diffs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d[1] == "missing")
            })
            .count();
        let synced: u64 = v["replay"]["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["synced"].as_u64().unwrap())
            .sum();
        assert_eq!(synced as usize, missing_on_list, "{name}");
        if expected["fault_address"].is_string() {
            let f = &v["replay"]["fault"];
            assert!(f["before"]["pa"].is_null(), "{name}: {f}");
            assert!(
                f["after"]["pa"].is_string(),
                "{name}: the fault address maps after the sync: {f}"
            );
        }
    }
}

/// Whether each real kernel carries the 2025 sync fix, as its own symbol
/// table says (`readelf -s` of the Debian -dbg vmlinux: 5.10.223 has no
/// `arch_sync_kernel_mappings`, only `sync_global_pgds_l4`; 6.1.192 and
/// 7.3.4 have it, 6.1 through the 6.1.151+ stable backport), and the replay
/// says so.
#[test]
fn real_kernels_say_whether_they_have_the_sync_fix() {
    let known = [
        ("5.10-bug-4l", false),
        ("6.1-bug-4l", true),
        ("6.1-healthy-5l", true),
        ("6.12-bug-5l", true),
        ("6.12-mismatch-4l", true),
        ("7.3-bug-5l", true),
    ];
    let dirs = real_dirs();
    for (name, has_fix) in known {
        let dir = fixtures_dir().join("real").join(name);
        assert!(dirs.contains(&dir), "fixtures/real/{name} is missing");
        let r = run(&[
            "analyze",
            "--format",
            "json",
            "--replay",
            dir.join("vmcore").to_str().unwrap(),
        ]);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["kernel"]["has_sync_fix"], has_fix, "{name}");
        assert_eq!(v["replay"]["kernel_has_fix"], has_fix, "{name}");
        let table = run(&["analyze", "--replay", dir.join("vmcore").to_str().unwrap()]);
        assert_eq!(
            table.stdout.contains("this kernel already has the fix"),
            has_fix,
            "{name}"
        );
    }
}
