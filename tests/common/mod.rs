//! Shared helpers for the integration tests: run the binary, compare JSON.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgsync-dump")
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every committed fixture directory (one holding `expected.json`).
pub fn fixture_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("expected.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    // Hermetic: a DEBUGINFOD_URLS of the developer's environment would
    // send the fixtures' build-ids to real servers.
    let out = Command::new(bin())
        .args(args)
        .env_remove("DEBUGINFOD_URLS")
        .output()
        .expect("run pgsync-dump");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `analyze --format json` on a fixture directory's `vmcore`.
pub fn analyze_json(dir: &Path, extra: &[&str]) -> (i32, Value, String) {
    analyze_json_file(dir, "vmcore", extra)
}

/// The ways a fixture's debug information can be given: its vmlinux (when
/// it has one), and the dump's own kallsyms and BTF (always).
pub fn debuginfo_modes(dir: &Path) -> Vec<Vec<String>> {
    let mut modes = Vec::new();
    let vmlinux = dir.join("vmlinux");
    if vmlinux.exists() {
        modes.push(vec!["--vmlinux".into(), vmlinux.display().to_string()]);
    }
    modes.push(vec!["--debuginfo".into(), "btf".into()]);
    modes
}

/// `analyze --format json` on `file` of a fixture directory, with its vmlinux
/// (when the fixture has one; else the dump's own kallsyms and BTF).
pub fn analyze_json_file(dir: &Path, file: &str, extra: &[&str]) -> (i32, Value, String) {
    let vmcore = dir.join(file);
    let vmlinux = dir.join("vmlinux");
    let mut args = vec!["analyze", "--format", "json", vmcore.to_str().unwrap()];
    // `--debuginfo btf` reads no vmlinux (and refuses one).
    if vmlinux.exists() && !extra.contains(&"--debuginfo") {
        args.extend(["--vmlinux", vmlinux.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    let r = run(&args);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}); stderr: {}\nstdout: {}",
            vmcore.display(),
            r.stderr,
            r.stdout
        )
    });
    (r.code, v, r.stderr)
}

/// Asserts that every field of `expected` is in `actual` with the same
/// value; arrays must have the same length, compared element by element.
pub fn assert_subset(path: &str, expected: &Value, actual: &Value) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k}: missing in the report"));
                assert_subset(&format!("{path}.{k}"), ev, av);
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(
                e.len(),
                a.len(),
                "{path}: expected {} elements, got {}\nexpected: {expected:#}\nactual: {actual:#}",
                e.len(),
                a.len()
            );
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_subset(&format!("{path}[{i}]"), ev, av);
            }
        }
        _ => assert_eq!(expected, actual, "{path}"),
    }
}

/// Compares the report's sections with the plan's expectations: every field
/// the plan gives, exactly; the crash verdict by its planted prefix.
pub fn assert_report_matches(name: &str, expected: &Value, actual: &Value) {
    for key in [
        "kernel",
        "reference",
        "page_tables",
        "findings",
        "summary",
        "crash",
    ] {
        let mut e = expected[key].clone();
        if let Some(prefix) = e.as_object_mut().and_then(|o| o.remove("verdict_prefix")) {
            let verdict = actual[key]["verdict"].as_str().unwrap_or("");
            assert!(
                verdict.starts_with(prefix.as_str().unwrap_or("?")),
                "{name}.{key}.verdict: {verdict:?} should start with {prefix}"
            );
        }
        assert_subset(&format!("{name}.{key}"), &e, &actual[key]);
    }
}

/// An outside tool (gcc, objcopy, makedumpfile, ...) that a test needs is
/// missing. Locally the test is skipped with a line saying so; under CI
/// (`CI=true`, set by CI runners and .ci/run, which installs every such
/// tool) it fails, so that a test can never pass without checking anything.
pub fn outside_tool_missing(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{what}: required under CI (.ci/run installs it); the test would otherwise check nothing"
    );
    println!("SKIPPED: {what}");
}
