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
        for key in ["kernel", "reference", "page_tables", "findings", "summary"] {
            assert_subset(&format!("{name}.{key}"), &expected[key], &actual[key]);
        }
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
