//! The BTF reader against the DWARF reader on real Debian kernels (ignored
//! by default: needs the harness cache's -dbg vmlinux files). Each
//! vmlinux's own `.BTF` section, read with `object`, must answer every
//! query the kernel layer makes exactly as the same file's DWARF does. Run
//! with
//!   cargo test --release --test debuginfo -- --ignored --nocapture btf_real
//! PGSYNC_HARNESS_CACHE overrides /work/.cache/pgsync-harness.

use std::path::{Path, PathBuf};
use std::time::Instant;

use object::{Object, ObjectSection};
use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::debuginfo::btf::Btf;

use super::btf::{QUERIES, full_differences, query_differences};

/// Every kernels/*/dbg/usr/lib/debug/boot/vmlinux-* of the harness cache.
fn real_vmlinuxes() -> Vec<PathBuf> {
    let cache = std::env::var_os("PGSYNC_HARNESS_CACHE").map_or_else(
        || PathBuf::from("/work/.cache/pgsync-harness"),
        PathBuf::from,
    );
    let mut found = Vec::new();
    for k in std::fs::read_dir(cache.join("kernels"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let boot = k.path().join("dbg/usr/lib/debug/boot");
        for f in std::fs::read_dir(boot).into_iter().flatten().flatten() {
            if f.file_name().to_string_lossy().starts_with("vmlinux-") {
                found.push(f.path());
            }
        }
    }
    found.sort();
    found
}

/// The `.BTF` section's bytes, read through `object` (not our ELF reader).
fn btf_section(path: &Path) -> Vec<u8> {
    let file = std::fs::File::open(path).expect("open vmlinux");
    let cache = object::ReadCache::new(file);
    let elf = object::File::parse(&cache).expect("parse vmlinux ELF");
    let section = elf.section_by_name(".BTF").expect("vmlinux has .BTF");
    section.data().expect(".BTF data").to_vec()
}

#[test]
#[ignore = "needs the harness cache's real vmlinux files"]
fn btf_real_kernels_answer_like_their_dwarf() {
    let kernels = real_vmlinuxes();
    if kernels.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no real vmlinux in the harness cache under CI"
        );
        println!("SKIPPED: no real vmlinux found");
        return;
    }
    let mut failures = Vec::new();
    for path in &kernels {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let bytes = btf_section(path);
        let len = bytes.len();
        let names: Vec<&str> = QUERIES.iter().map(|(n, _)| *n).collect();
        // The machine is shared: the best of 15 cold runs (a fresh Btf each,
        // its bytes copied before the clock starts).
        let (mut first, mut all) = (f64::MAX, f64::MAX);
        for _ in 0..15 {
            let copy = bytes.clone();
            let t0 = Instant::now();
            let btf = Btf::parse(copy, "timing").expect("parse .BTF");
            let _ = btf.struct_type("task_struct");
            first = first.min(t0.elapsed().as_secs_f64());
            btf.prefetch(&names);
            all = all.min(t0.elapsed().as_secs_f64());
        }
        let btf = Btf::parse(bytes, format!("{} .BTF", path.display())).expect("parse .BTF");
        let task = btf.struct_type("task_struct").expect("BTF task_struct");

        let v = Vmlinux::open(path).expect("open vmlinux");
        let dwarf = v.types().expect("DWARF");
        let mut query_diffs = Vec::new();
        let mut found = 0;
        for (n, paths) in QUERIES {
            query_diffs.extend(query_differences(&dwarf, &btf, n, paths));
            found += usize::from(btf.struct_type(n).is_ok());
        }
        // Beyond the queries: every member path of every found struct, for
        // the record (real BTF/DWARF differences are explained in
        // docs/debuginfo.md), not asserted.
        let mut other = Vec::new();
        for (n, _) in QUERIES {
            if let (Ok(d), Ok(b)) = (dwarf.struct_type(n), btf.struct_type(n)) {
                other.extend(full_differences(&d, &b));
            }
        }
        println!(
            "{name}: .BTF {len} bytes, {} types; task_struct {} bytes; first query {:.2} ms, all {} queries {:.2} ms; {found} structs found; {} query differences; {} differences among all {} member paths",
            btf.type_count(),
            task.size,
            first * 1e3,
            QUERIES.len(),
            all * 1e3,
            query_diffs.len(),
            other.len(),
            QUERIES
                .iter()
                .filter_map(|(n, _)| dwarf.struct_type(n).ok())
                .map(|s| s.member_paths().len())
                .sum::<usize>(),
        );
        for d in other.iter().take(20) {
            println!("    {d}");
        }
        failures.extend(query_diffs.into_iter().map(|d| format!("{name}: {d}")));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
