//! Every committed fixture's other dump formats (kdump-compressed with each
//! compression, `-d 31` filtered, flattened; listed in its plan.json) give
//! exactly the analysis of its ELF vmcore, and say which format they are.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn analyze(dir: &Path, file: &str, extra: &[&str]) -> (i32, Value) {
    let vmcore = dir.join(file);
    let vmlinux = dir.join("vmlinux");
    let mut args = vec![
        "analyze",
        "--format",
        "json",
        vmcore.to_str().unwrap(),
        "--vmlinux",
        vmlinux.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}); stderr: {}", vmcore.display(), r.stderr));
    (r.code, v)
}

/// (file name, format, compression) of every extra format in plan.json.
fn formats(dir: &Path) -> Vec<(String, &'static str, &'static str)> {
    let plan: pgsync_synth::Plan =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    plan.formats
        .iter()
        .map(|f| {
            let (format, compression) = f.report();
            (f.file_name().to_string(), format, compression)
        })
        .collect()
}

#[test]
fn every_format_gives_the_elf_analysis() {
    let mut checked = 0;
    let mut seen = std::collections::BTreeSet::new();
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (code, elf) = analyze(&dir, "vmcore", &["--replay"]);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        assert_eq!(
            Some(i64::from(code)),
            expected["exit_code"].as_i64(),
            "{name}"
        );
        for (file, format, compression) in formats(&dir) {
            let (c, v) = analyze(&dir, &file, &["--replay"]);
            let what = format!("{name}/{file}");
            assert_eq!(c, code, "{what}: exit code");
            assert_eq!(v["dump"]["format"], format, "{what}: dump.format");
            assert_eq!(v["dump"]["compression"], compression, "{what}");
            for key in [
                "kernel",
                "reference",
                "page_tables",
                "findings",
                "crash",
                "replay",
                "problems",
                "summary",
            ] {
                assert_eq!(v[key], elf[key], "{what}: {key} differs from the ELF's");
            }
            // And the plan's answer, directly.
            for key in ["kernel", "reference", "page_tables", "findings", "summary"] {
                assert_subset(&format!("{what}.{key}"), &expected[key], &v[key]);
            }
            seen.insert(file);
            checked += 1;
        }
    }
    assert!(checked >= 70, "only {checked} extra dump files");
    assert_eq!(
        seen.len(),
        6,
        "every format appears in some fixture: {seen:?}"
    );
}

/// QEMU-style fixtures' kdump files have a blank machine name, as QEMU
/// writes them (drgn refuses those): they must still open.
#[test]
fn qemu_style_kdump_files_open_with_a_blank_machine_name() {
    for name in ["missing-5l", "wrapped-log"] {
        let dir = fixtures_dir().join(name);
        let data = std::fs::read(dir.join("vmcore.zlib")).unwrap();
        assert_eq!(&data[..8], b"KDUMP   ");
        // utsname.machine is the fifth 65-byte field after the 8-byte
        // signature and 4-byte header_version.
        let machine = &data[12 + 4 * 65..12 + 5 * 65];
        assert!(machine.iter().all(|&b| b == 0), "{name}: machine name");
        let r = run(&["info", dir.join("vmcore.zlib").to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: info: {}", r.stderr);
    }
}

/// The filtered files really leave pages out (the user pages and zero
/// pages of the machine) and still analyze the same.
#[test]
fn filtered_files_are_smaller_and_mark_dump_level_31() {
    for dir in fixture_dirs() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files = formats(&dir);
        if !files.iter().any(|f| f.0 == "vmcore.zlib-d31")
            || !files.iter().any(|f| f.0 == "vmcore.zlib")
        {
            continue;
        }
        let full = std::fs::read(dir.join("vmcore.zlib")).unwrap();
        let filtered = std::fs::read(dir.join("vmcore.zlib-d31")).unwrap();
        assert!(filtered.len() < full.len(), "{name}");
        // kdump_sub_header.dump_level at block 1, after phys_base.
        let level = i32::from_le_bytes(filtered[4096 + 8..4096 + 12].try_into().unwrap());
        assert_eq!(level, 31, "{name}");
    }
}
