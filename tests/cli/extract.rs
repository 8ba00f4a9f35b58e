//! `extract` writes a reproduction on which `analyze` (with --replay) gives
//! exactly the report it gives on the original, for every fixture, and keeps
//! only the pages that were read.

use crate::common;

use common::*;
use serde_json::Value;

fn report(vmcore: &std::path::Path, vmlinux: Option<&std::path::Path>) -> (i32, Value) {
    let mut args = vec![
        "analyze",
        "--format",
        "json",
        "--replay",
        vmcore.to_str().unwrap(),
    ];
    if let Some(v) = vmlinux {
        args.extend(["--vmlinux", v.to_str().unwrap()]);
    }
    let r = run(&args);
    let mut v: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    let o = v.as_object_mut().unwrap();
    o.remove("dump");
    o.remove("warnings");
    // Where the debug information came from differs by design (the
    // original's vmlinux, the reproduction's own); what it says must not.
    o.remove("debuginfo");
    (r.code, v)
}

#[test]
fn extracted_reproductions_give_the_same_report() {
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out =
            std::env::temp_dir().join(format!("pgsync-extract-{name}-{}", std::process::id()));
        let r = run(&[
            "extract",
            dir.join("vmcore").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let vmlinux = dir.join("vmlinux");
        let original = report(&dir.join("vmcore"), vmlinux.exists().then_some(&*vmlinux));
        // The reproduction finds its own vmlinux next to its vmcore.
        let extracted = report(&out.join("vmcore"), None);
        assert_eq!(original, extracted, "{name}");
        let small = std::fs::metadata(out.join("vmcore")).unwrap().len();
        let full = std::fs::metadata(dir.join("vmcore")).unwrap().len();
        assert!(small <= full, "{name}: {small} > {full}");
        // Same build-id as the original vmlinux.
        let info = |p: &std::path::Path| -> Value {
            serde_json::from_str(&run(&["info", "--format", "json", p.to_str().unwrap()]).stdout)
                .unwrap()
        };
        assert_eq!(
            info(&out.join("vmcore"))["kernel"]["vmlinux_build_id"],
            info(&dir.join("vmcore"))["kernel"]["vmlinux_build_id"]
        );
        let _ = std::fs::remove_dir_all(&out);
    }
}

/// Without a vmlinux (`--debuginfo btf`), the reproduction keeps the pages
/// of the kallsyms tables (or needs the System.map beside the original) and
/// of the BTF, writes no vmlinux, and gives the same report by itself.
#[test]
fn extracted_reproductions_without_a_vmlinux_give_the_same_report() {
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out =
            std::env::temp_dir().join(format!("pgsync-extract-btf-{name}-{}", std::process::id()));
        let r = run(&[
            "extract",
            "--debuginfo",
            "btf",
            dir.join("vmcore").to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(
            !out.join("vmlinux").exists(),
            "{name}: no vmlinux in btf mode"
        );
        let map = dir.join("System.map");
        if map.exists() {
            // Kernels before 6.0: the symbols are in the System.map, not the dump.
            std::fs::copy(&map, out.join("System.map")).unwrap();
        }
        let vmlinux = dir.join("vmlinux");
        let original = report(&dir.join("vmcore"), vmlinux.exists().then_some(&*vmlinux));
        let extracted = report(&out.join("vmcore"), None);
        assert_eq!(original, extracted, "{name}");
        let _ = std::fs::remove_dir_all(&out);
    }
}
