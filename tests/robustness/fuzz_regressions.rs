//! Every input a fuzz campaign found to crash, hang or exhaust memory,
//! replayed through the very harness that found it (the bodies under
//! fuzz/fuzz_targets/bodies, shared with the libFuzzer binaries), with
//! overflow checks on as in the fuzz builds. Inputs live in
//! tests/fuzz-regressions/<target>/<what-it-broke>; docs/robustness.md lists
//! each with its fix.
//!
//! `cargo test --test robustness -- --ignored fuzz_regressions::` also replays the
//! committed (minimised) corpora under fuzz/corpus/.

use crate::bodies;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Body = fn(&[u8]);

const TARGETS: &[(&str, Body)] = &[
    ("elf_vmcore", bodies::elf_vmcore::run),
    ("kdump", bodies::kdump::run),
    ("vmcoreinfo_notes", bodies::vmcoreinfo_notes::run),
    ("dwarf_types", bodies::dwarf_types::run),
    ("btf", bodies::btf::run),
    ("page_walk_and_checker", bodies::page_walk_and_checker::run),
    ("task_walk", bodies::task_walk::run),
    ("oops_parser", bodies::oops_parser::run),
    ("kallsyms", bodies::kallsyms::run),
];

/// One input may take this long in a debug build (the fuzz campaigns ran
/// with a 10 s timeout on optimised builds; most inputs take microseconds).
const PER_INPUT: Duration = Duration::from_secs(20);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

/// Runs every input under `base/<target>/`; returns how many ran.
fn replay(base: &Path) -> usize {
    let mut failures = Vec::new();
    let mut n = 0;
    for (target, body) in TARGETS {
        for input in inputs(&base.join(target)) {
            let data = std::fs::read(&input).expect("read input");
            let t0 = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| body(&data)));
            let took = t0.elapsed();
            n += 1;
            if r.is_err() {
                failures.push(format!("{}: panicked", input.display()));
            } else if took > PER_INPUT {
                failures.push(format!("{}: took {took:?}", input.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn fuzz_found_inputs_no_longer_fail() {
    let n = replay(&root().join("tests/fuzz-regressions"));
    assert!(n > 0, "no regression inputs found");
}

#[test]
#[ignore = "replays the whole committed corpus (minutes in a debug build)"]
fn committed_corpora_replay_cleanly() {
    let n = replay(&root().join("fuzz/corpus"));
    assert!(n > 0, "no corpus found");
}

// ---- bounds found by the audit of loops and header-sized allocations -------

/// A flattened stream can put a record at a huge logical offset, making the
/// "file" terabytes long while it holds a few KiB: bitmaps that claim that
/// space must be refused, not scanned (before the fix: an 8 GiB rank table
/// and a scan over 512 GiB of holes).
#[test]
fn flattened_bitmaps_in_holes_are_refused() {
    use pgsync_dump::dump::kdump::header::{DiskDumpHeader, SubHeader};

    let header = DiskDumpHeader {
        bitmap_blocks: 1 << 28, // 1 TiB of bitmaps
        max_mapnr: 0,
        ..DiskDumpHeader::default()
    };
    let sub = SubHeader {
        max_mapnr_64: 1 << 42,
        ..SubHeader::default()
    };
    let mut kdump = header.encode().to_vec();
    kdump.resize(4096, 0);
    kdump.extend_from_slice(&sub.encode());
    let mut flat = vec![0u8; 4096];
    flat[..12].copy_from_slice(b"makedumpfile");
    flat[16..24].copy_from_slice(&1i64.to_be_bytes());
    flat[24..32].copy_from_slice(&1i64.to_be_bytes());
    let mut record = |offset: i64, data: &[u8]| {
        flat.extend_from_slice(&offset.to_be_bytes());
        flat.extend_from_slice(&(data.len() as i64).to_be_bytes());
        flat.extend_from_slice(data);
    };
    record(0, &kdump);
    record(1 << 41, &[0]);
    record(-1, &[]);
    // The end marker is offset = size = -1.
    let n = flat.len();
    flat[n - 8..].copy_from_slice(&(-1i64).to_be_bytes());

    let t0 = Instant::now();
    let r = pgsync_dump::dump::open_bytes(Path::new("holes.flat"), flat);
    let Err(e) = r else {
        panic!("a dump whose bitmaps lie in holes was accepted");
    };
    assert!(
        e.to_string()
            .contains("larger than all the data the file holds"),
        "{e}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1));
}

/// The kallsyms target's seeds (the encoder's tables for every layout)
/// decode through the target's input format; with PGSYNC_WRITE_SEEDS set
/// they are written to fuzz/corpus/kallsyms.
#[test]
fn kallsyms_seeds_decode() {
    let seeds = bodies::kallsyms::seeds();
    let counts: Vec<(usize, bool)> = seeds
        .iter()
        .map(|s| {
            let ks = bodies::kallsyms::decode(s).expect("seed decodes");
            (ks.num_syms(), ks.stext_verified())
        })
        .collect();
    assert_eq!(counts, vec![(7, true), (7, true), (8, true), (8, true)]);
    if std::env::var_os("PGSYNC_WRITE_SEEDS").is_some() {
        let dir = root().join("fuzz/corpus/kallsyms");
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
