//! info, tasks and vtop on the committed fixtures, checked against the
//! builder's plan (plan.json, expected.json).

use crate::common;

use common::*;
use serde_json::Value;

fn load(dir: &std::path::Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

#[test]
fn info_reports_the_kernel_the_plan_describes() {
    for dir in fixture_dirs() {
        let expected = load(&dir, "expected.json");
        let plan = load(&dir, "plan.json");
        let r = run(&[
            "info",
            "--format",
            "json",
            dir.join("vmcore").to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}: {}", dir.display(), r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["format"], "elf");
        assert_eq!(v["osrelease"], plan["osrelease"], "{}", dir.display());
        let k = &v["kernel"];
        for key in [
            "paging_levels",
            "kaslr_offset",
            "page_offset_base",
            "vmalloc_base",
            "vmemmap_base",
            "has_sync_fix",
        ] {
            assert_eq!(k[key], expected["kernel"][key], "{}: {key}", dir.display());
        }
        assert_eq!(k["init_top_pgt"], expected["reference"]["pgd_va"]);
        // The build-id of what answered: the vmlinux's, or (no vmlinux)
        // the dump's own.
        assert_eq!(v["build_id"], k["debuginfo"]["build_id"]);
        if dir.join("vmlinux").exists() {
            assert_eq!(v["build_id"], k["vmlinux_build_id"]);
            assert_eq!(k["debuginfo"]["source"], "dwarf");
        } else {
            assert!(k["vmlinux_build_id"].is_null());
            assert_eq!(k["debuginfo"]["source"], "btf");
            assert_eq!(k["debuginfo"]["found_by"], "dump");
        }
    }
}

#[test]
fn tasks_lists_every_planned_task_with_its_page_table() {
    for dir in fixture_dirs() {
        let plan = load(&dir, "plan.json");
        let expected = load(&dir, "expected.json");
        let r = run(&[
            "tasks",
            "--format",
            "json",
            dir.join("vmcore").to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{}: {}", dir.display(), r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let rows = v.as_array().unwrap();
        let mut got: Vec<(i64, String)> = rows
            .iter()
            .map(|t| {
                (
                    t["pid"].as_i64().unwrap(),
                    t["comm"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(i64, String)> = plan["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["pid"].as_i64().unwrap(),
                    t["comm"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        want.push((0, "swapper/0".into()));
        want.sort();
        assert_eq!(got, want, "{}", dir.display());
        // Each task's pgd and status agree with the page-table list of the plan.
        for t in rows {
            let pid = t["pid"].as_i64().unwrap();
            let table = expected["page_tables"]
                .as_array()
                .unwrap()
                .iter()
                .find(|pt| {
                    pt["tasks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x["pid"].as_i64() == Some(pid))
                });
            match table {
                Some(pt) => {
                    assert_eq!(t["pgd"], pt["pgd_va"], "{}: pid {pid}", dir.display());
                    assert_eq!(
                        t["page_table"],
                        pt["status"],
                        "{}: pid {pid}",
                        dir.display()
                    );
                }
                None => assert!(
                    t["mm"].is_null(),
                    "{}: pid {pid} has an mm but no table: {t}",
                    dir.display()
                ),
            }
        }
    }
}

#[test]
fn vtop_walks_init_mm_and_a_task_that_lacks_the_slot() {
    let dir = fixtures_dir().join("missing-4l");
    let expected = load(&dir, "expected.json");
    let vmcore = dir.join("vmcore");
    let f = &expected["findings"][0];
    let va = f["va_start"].as_str().unwrap();
    // In init_mm the slot is present: the walk prints its entry, read at the reference's slot.
    let r = run(&["vtop", vmcore.to_str().unwrap(), va]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let slot = f["pgd_index"].as_u64().unwrap();
    let ref_pa = u64::from_str_radix(
        expected["reference"]["pgd_pa"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let first = r.stdout.lines().nth(1).unwrap();
    assert!(
        first.contains(&format!("{:#x}", ref_pa + slot * 8)),
        "{}",
        r.stdout
    );
    assert!(
        first.contains(f["expected"].as_str().unwrap()),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("region: vmemmap"), "{}", r.stdout);
    // In the task's table it is not present at the top level.
    let pid = f["pids"][0].to_string();
    let r = run(&["vtop", vmcore.to_str().unwrap(), va, "--pid", &pid]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("not present at the PGD level"),
        "{}",
        r.stdout
    );
    let pgd_pa = u64::from_str_radix(f["pgd_va"].as_str().unwrap().trim_start_matches("0x"), 16)
        .unwrap()
        - u64::from_str_radix(
            expected["kernel"]["page_offset_base"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
    assert!(
        r.stdout.contains(&format!("{:#x}", pgd_pa + slot * 8)),
        "{}",
        r.stdout
    );
    // The reference's own address translates to its physical address.
    let r = run(&[
        "vtop",
        vmcore.to_str().unwrap(),
        expected["reference"]["pgd_va"].as_str().unwrap(),
    ]);
    assert!(
        r.stdout.contains(&format!("-> physical {:#x}", ref_pa)),
        "{}",
        r.stdout
    );
    // Errors: a pid that does not exist, an address that is not hex.
    let r = run(&["vtop", vmcore.to_str().unwrap(), va, "--pid", "99999"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no task with pid 99999"), "{}", r.stderr);
    let r = run(&["vtop", vmcore.to_str().unwrap(), "zzz"]);
    assert_eq!(r.code, 2);
}

#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::{Command, Stdio};
    let vmcore = fixtures_dir().join("wrapped-log").join("vmcore");
    for args in [vec!["dmesg"], vec!["analyze"], vec!["tasks"]] {
        let mut child = Command::new(bin())
            .args(&args)
            .arg(&vmcore)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the pipe before the child writes, as `| head -0` does: its
        // first write fails with EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {:?}",
            out.status
        );
    }
}

/// `--version` names the release and the commit the binary was built from:
/// in this checkout, the commit `git rev-parse` gives for HEAD.
#[test]
fn version_names_the_release_and_the_git_commit() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let line = r.stdout.trim();
    let prefix = format!("pgsync-dump {} (git ", env!("CARGO_PKG_VERSION"));
    let commit = line
        .strip_prefix(&prefix)
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected --version line: {line}"));
    match head {
        // Built from this checkout: HEAD, possibly with uncommitted changes.
        Some(head) => assert_eq!(commit.trim_end_matches("-dirty"), head, "{line}"),
        None => common::outside_tool_missing("git (to check the commit --version names)"),
    }
}
