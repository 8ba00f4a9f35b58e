//! Outside oracle: dumps written by Debian's makedumpfile 1.7.2 from the
//! ELF vmcore that `common::oracle_elf()` builds (fixtures/formats/README.md
//! says how). Every format must read byte-identically to the ELF, and the
//! pages `-d 31` filtered must read as "not in dump".

use crate::kdump_support;
use kdump_support as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use pgsync_dump::dump::{self, DumpFormat, PhysAddr};

/// Pages `-d 31` removes from the oracle: anonymous (mapping & 1) and buddy
/// pages per its mem_map, plus the hole 24..32 (never in any dump).
fn excluded_by_d31(pfn: u64) -> bool {
    let anon = pfn % 5 == 2 && pfn > 5;
    let buddy = pfn % 13 == 6;
    anon || buddy || (24..32).contains(&pfn)
}

fn hole(pfn: u64) -> bool {
    (24..32).contains(&pfn)
}

/// (fixture files, expected format, compression, filtered by -d 31)
fn cases() -> Vec<(Vec<&'static str>, DumpFormat, &'static str, bool)> {
    vec![
        (vec!["vmcore.zlib"], DumpFormat::Kdump, "zlib", false),
        (vec!["vmcore.lzo"], DumpFormat::Kdump, "lzo", false),
        (vec!["vmcore.none"], DumpFormat::Kdump, "none", false),
        (vec!["vmcore.zlib-d31"], DumpFormat::Kdump, "zlib", true),
        (
            vec!["vmcore.lzo-d31.flat"],
            DumpFormat::KdumpFlattened,
            "lzo",
            true,
        ),
        (
            vec!["vmcore.zlib-d31.flat"],
            DumpFormat::KdumpFlattened,
            "zlib",
            true,
        ),
        (
            vec!["vmcore.split.1", "vmcore.split.2", "vmcore.split.3"],
            DumpFormat::KdumpSplit,
            "zlib",
            true,
        ),
    ]
}

fn check(
    reference: &Path,
    files: &[PathBuf],
    format: DumpFormat,
    compression: &str,
    filtered: bool,
) {
    let elf = dump::open(&[reference.to_path_buf()]).expect("open the source ELF");
    let d = dump::open(files).unwrap_or_else(|e| panic!("{files:?}: {e}"));
    assert_eq!(d.format(), format, "{files:?}");
    assert_eq!(d.compression(), Some(compression), "{files:?}");
    let vmci = d.vmcoreinfo().expect("VMCOREINFO from the sub-header");
    assert_eq!(vmci.osrelease.as_deref(), Some("5.10.0-pgsync"));
    assert_eq!(vmci.symbol("init_top_pgt"), Some(0xffffffff80001000));
    assert_eq!(d.cpus().len(), 1, "the NT_PRSTATUS note");
    let (same, missing) = compare_pages(&elf, &d, ORACLE_MAX_PFN + 16);
    let want_missing: Vec<u64> = (0..ORACLE_MAX_PFN + 16)
        .filter(|&p| {
            p >= ORACLE_MAX_PFN
                || if filtered {
                    excluded_by_d31(p)
                } else {
                    hole(p)
                }
        })
        .collect();
    assert_eq!(missing, want_missing, "{files:?}");
    assert_eq!(same + missing.len() as u64, ORACLE_MAX_PFN + 16);
    // RAM ranges come from the first bitmap: the PT_LOADs.
    let ranges: Vec<(u64, u64)> = d
        .memory()
        .ranges()
        .iter()
        .map(|r| (r.start, r.end))
        .collect();
    assert_eq!(
        ranges,
        vec![(0, 24 * 4096), (32 * 4096, 48 * 4096)],
        "{files:?}"
    );
    // Reads spanning pages and unaligned reads agree with the ELF too.
    for (paddr, len) in [
        (0x1ff8u64, 16usize),
        (0x4000 - 3, 4096 + 6),
        (0x20000 + 17, 3 * 4096),
    ] {
        let mut a = vec![0u8; len];
        let mut b = vec![0u8; len];
        let ra = elf.memory().read(PhysAddr::new(paddr), &mut a);
        let rb = d.memory().read(PhysAddr::new(paddr), &mut b);
        match rb {
            Ok(()) => {
                assert_eq!(ra, Ok(()));
                assert_eq!(a, b, "{files:?} at {paddr:#x}");
            }
            Err(dump::ReadError::NotInDump { .. }) => assert!(filtered),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn committed_fixtures_read_like_the_source_elf() {
    let dir = scratch("mdf-fixtures");
    let elf = write(&dir, "source.elf", &oracle_elf());
    for (names, format, compression, filtered) in cases() {
        let files: Vec<PathBuf> = names.iter().map(|n| fixtures().join(n)).collect();
        check(&elf, &files, format, compression, filtered);
    }
}

#[test]
fn split_parts_in_any_order_and_alone() {
    let dir = scratch("mdf-split");
    let elf = write(&dir, "source.elf", &oracle_elf());
    let parts: Vec<PathBuf> = ["vmcore.split.3", "vmcore.split.1", "vmcore.split.2"]
        .iter()
        .map(|n| fixtures().join(n))
        .collect();
    check(&elf, &parts, DumpFormat::KdumpSplit, "zlib", true);
    // One part alone opens with a warning; other parts' pages are missing.
    let one = dump::open(&parts[1..2]).expect("one part");
    assert_eq!(one.format(), DumpFormat::Kdump);
    assert!(
        one.warnings()
            .iter()
            .any(|w| w.contains("one part of a split dump")),
        "{:?}",
        one.warnings()
    );
    // A part given twice overlaps.
    let twice = vec![parts[0].clone(), parts[0].clone()];
    let err = dump::open(&twice)
        .err()
        .expect("overlap refused")
        .to_string();
    assert!(err.contains("overlap"), "{err}");
    // Missing a part: warning, best effort.
    let two = dump::open(&parts[..2]).expect("two of three parts");
    assert!(
        two.warnings().iter().any(|w| w.contains("no part covers")),
        "{:?}",
        two.warnings()
    );
    // An ELF among the parts.
    let err = dump::open(&[parts[0].clone(), elf])
        .err()
        .expect("ELF refused")
        .to_string();
    assert!(err.contains("not a kdump-compressed file"), "{err}");
}

/// True when makedumpfile runs. Missing, a test that needs it is skipped,
/// except under CI=true (.ci/run installs it), where it fails.
fn have_makedumpfile() -> bool {
    let found = Command::new("makedumpfile")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("makedumpfile is not installed but CI=true: `apt-get install -y makedumpfile`");
    }
    found
}

/// The flattened ELF makedumpfile writes with `-E -F -d 31`.
const FLAT_ELF: &str = "vmcore.elf-d31.flat";

/// What the flattened ELF holds: makedumpfile's `-E` keeps the source's
/// segments; a run of excluded pages shorter than its 256-page threshold
/// does not split a PT_LOAD and keeps its data, except at a segment's end,
/// where excluded pages become zero fill (p_filesz < p_memsz): pfn 47, the
/// last of the second segment. The hole 24..32 and everything past pfn 48
/// are in no segment.
fn check_flattened_elf(reference: &Path, flat: &Path) {
    let elf = dump::open(&[reference.to_path_buf()]).expect("open the source ELF");
    let d = dump::open(&[flat.to_path_buf()]).unwrap_or_else(|e| panic!("{flat:?}: {e}"));
    assert_eq!(d.format(), DumpFormat::ElfFlattened, "{flat:?}");
    assert_eq!(d.format().as_str(), "elf-flattened");
    assert_eq!(d.compression(), None);
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let vmci = d.vmcoreinfo().expect("VMCOREINFO note");
    assert_eq!(vmci.osrelease.as_deref(), Some("5.10.0-pgsync"));
    assert_eq!(d.cpus().len(), 1, "the NT_PRSTATUS note");
    let (mut same, mut zeroed, mut missing) = (0u64, Vec::new(), Vec::new());
    for pfn in 0..ORACLE_MAX_PFN + 16 {
        match page_of(d.memory(), pfn) {
            Ok(got) if got == page_of(elf.memory(), pfn).expect("in the source") => same += 1,
            Ok(got) => {
                assert_eq!(got, vec![0u8; PAGE], "pfn {pfn:#x} differs and is not zero");
                zeroed.push(pfn);
            }
            Err(dump::ReadError::NotInDump { .. }) => missing.push(pfn),
            Err(e) => panic!("pfn {pfn:#x}: {e}"),
        }
    }
    // Each segment's trailing excluded pages (that were not zero already).
    let mut want_zeroed = Vec::new();
    for (start, end) in ORACLE_RAM {
        let mut tail: Vec<u64> = (start..end)
            .rev()
            .take_while(|&p| excluded_by_d31(p))
            .filter(|&p| oracle_page(p) != vec![0u8; PAGE])
            .collect();
        tail.reverse();
        want_zeroed.extend(tail);
    }
    assert_eq!(want_zeroed, vec![47]);
    assert_eq!(zeroed, want_zeroed, "{flat:?}");
    let want_missing: Vec<u64> = (0..ORACLE_MAX_PFN + 16)
        .filter(|&p| hole(p) || p >= ORACLE_MAX_PFN)
        .collect();
    assert_eq!(missing, want_missing, "{flat:?}");
    assert_eq!(
        same,
        ORACLE_MAX_PFN + 16 - zeroed.len() as u64 - missing.len() as u64
    );
    let ranges: Vec<(u64, u64)> = d
        .memory()
        .ranges()
        .iter()
        .map(|r| (r.start, r.end))
        .collect();
    assert_eq!(ranges, vec![(0, 24 * 4096), (32 * 4096, 48 * 4096)]);
}

#[test]
fn committed_flattened_elf_reads_in_place() {
    let dir = scratch("mdf-flat-elf");
    let elf = write(&dir, "source.elf", &oracle_elf());
    check_flattened_elf(&elf, &fixtures().join(FLAT_ELF));
}

/// makedumpfile's own `-E -F` output, live: the flattened ELF reads
/// exactly like the plain ELF the same command writes without `-F`.
#[test]
fn live_flattened_elf_reads_like_the_plain_one() {
    if !have_makedumpfile() {
        eprintln!("makedumpfile not installed: live flattened ELF skipped");
        return;
    }
    let dir = scratch("mdf-live-flat-elf");
    let elf = write(&dir, "source.elf", &oracle_elf());
    run_makedumpfile_elf(&elf, &dir);
    check_flattened_elf(&elf, &dir.join(FLAT_ELF));
    let plain = dump::open(&[dir.join("vmcore.elf-d31")]).expect("plain -E output");
    assert_eq!(plain.format(), DumpFormat::Elf);
    let flat = dump::open(&[dir.join(FLAT_ELF)]).expect("flattened -E output");
    let (same, missing) = compare_pages(&plain, &flat, ORACLE_MAX_PFN + 16);
    assert_eq!(same + missing.len() as u64, ORACLE_MAX_PFN + 16);
    assert_eq!(missing.len(), 8 + 16, "the hole and the pfns past RAM");
}

/// `makedumpfile -E -F -d 31` (flattened ELF, to stdout) and `-E -d 31`.
fn run_makedumpfile_elf(src: &Path, dir: &Path) {
    for (args, stdout) in [
        (vec!["-E", "-F", "-d", "31"], Some(FLAT_ELF)),
        (vec!["-E", "-d", "31"], None),
    ] {
        let mut c = Command::new("makedumpfile");
        c.args(&args).arg(src).current_dir(dir);
        match stdout {
            Some(out) => {
                c.stdout(std::fs::File::create(dir.join(out)).expect("create"));
            }
            None => {
                let _ = std::fs::remove_file(dir.join("vmcore.elf-d31"));
                c.arg("vmcore.elf-d31");
            }
        }
        let o = c.output().expect("run makedumpfile");
        assert!(
            o.status.success(),
            "makedumpfile {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// Runs Debian's makedumpfile to write every case into `dir`.
fn run_makedumpfile(src: &Path, dir: &Path) {
    let run = |args: &[&str], stdout: Option<&str>| {
        let mut c = Command::new("makedumpfile");
        c.args(args).current_dir(dir);
        if let Some(out) = stdout {
            c.stdout(std::fs::File::create(dir.join(out)).expect("create"));
        }
        let o = c.output().expect("run makedumpfile");
        assert!(
            o.status.success(),
            "makedumpfile {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let src = src.to_str().expect("utf-8 path");
    for name in [
        "vmcore.zlib",
        "vmcore.lzo",
        "vmcore.none",
        "vmcore.zlib-d31",
        "vmcore.split.1",
        "vmcore.split.2",
        "vmcore.split.3",
    ] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    run(&["-c", "-d", "0", src, "vmcore.zlib"], None);
    run(&["-l", "-d", "0", src, "vmcore.lzo"], None);
    run(&["-d", "0", src, "vmcore.none"], None);
    run(&["-c", "-d", "31", src, "vmcore.zlib-d31"], None);
    run(&["-F", "-l", "-d", "31", src], Some("vmcore.lzo-d31.flat"));
    run(&["-F", "-c", "-d", "31", src], Some("vmcore.zlib-d31.flat"));
    run(
        &[
            "--split",
            "--splitblock-size",
            "16",
            "-c",
            "-d",
            "31",
            src,
            "vmcore.split.1",
            "vmcore.split.2",
            "vmcore.split.3",
        ],
        None,
    );
}

/// The same conversions run live, when makedumpfile is installed (Debian:
/// `apt-get install makedumpfile`); skipped otherwise, failed under CI=true.
#[test]
fn live_makedumpfile_output_reads_like_the_source_elf() {
    if !have_makedumpfile() {
        eprintln!(
            "makedumpfile not installed: live oracle skipped (committed fixtures still tested)"
        );
        return;
    }
    let dir = scratch("mdf-live");
    let elf = write(&dir, "source.elf", &oracle_elf());
    run_makedumpfile(&elf, &dir);
    for (names, format, compression, filtered) in cases() {
        let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
        check(&elf, &files, format, compression, filtered);
    }
}

/// Rewrites fixtures/formats/ (run by hand: `cargo test --test
/// kdump_makedumpfile -- --ignored regenerate`).
#[test]
#[ignore]
fn regenerate_fixtures() {
    assert!(have_makedumpfile(), "needs makedumpfile");
    let dir = fixtures();
    std::fs::create_dir_all(&dir).expect("mkdir");
    let scratch = scratch("mdf-regen");
    let elf = write(&scratch, "source.elf", &oracle_elf());
    run_makedumpfile(&elf, &dir);
    // Only the flattened ELF is kept (the plain one is what tests/ builds).
    let flat = scratch.join("flat");
    std::fs::create_dir_all(&flat).expect("mkdir");
    run_makedumpfile_elf(&elf, &flat);
    std::fs::copy(flat.join(FLAT_ELF), dir.join(FLAT_ELF)).expect("copy");
}
