//! kdump files written by our own writer (every compression, including the
//! snappy and zstd that Debian's makedumpfile cannot write), flattened and
//! split, read back against the ELF of the same machine.

use crate::kdump_support;
use kdump_support as common;

use common::*;
use pgsync_dump::dump::kdump::header::{self, PageDesc};
use pgsync_dump::dump::kdump::{KdumpReader, PAGE_SIZE};
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::{self, DumpFile, DumpFormat, PhysAddr, PhysicalMemory, ReadError};
use pgsync_dump::write::flatten::flatten;
use pgsync_dump::write::kdump::{Compression, KdumpLayout, KdumpSpec, write_kdump};
use pgsync_synth::formats::zstd_page;

fn lzo(page: &[u8]) -> Option<Vec<u8>> {
    lzokay_native::compress(page).ok()
}

fn all_compressions() -> Vec<(Compression, &'static str)> {
    vec![
        (Compression::None, "none"),
        (Compression::Zlib, "zlib"),
        (Compression::Lzo(lzo), "lzo"),
        (Compression::Snappy, "snappy"),
        (Compression::Zstd(zstd_page), "zstd"),
    ]
}

/// Pages this test's "dump level" leaves out.
fn excluded(pfn: u64) -> bool {
    pfn % 9 == 4
}

fn spec(compression: Compression) -> KdumpSpec {
    KdumpSpec {
        compression,
        max_mapnr: ORACLE_MAX_PFN,
        ram: ORACLE_RAM.to_vec(),
        notes: oracle_notes(),
        dump_level: 31,
        ..KdumpSpec::default()
    }
}

fn page_fn(pfn: u64) -> Option<Vec<u8>> {
    (!excluded(pfn)).then(|| oracle_page(pfn))
}

fn expected_missing(max: u64) -> Vec<u64> {
    (0..max)
        .filter(|&p| p >= ORACLE_MAX_PFN || (24..32).contains(&p) || excluded(p))
        .collect()
}

#[test]
fn every_compression_plain_and_flattened_reads_like_the_elf() {
    let dir = scratch("roundtrip");
    let elf_path = write(&dir, "source.elf", &oracle_elf());
    let elf = dump::open(&[elf_path]).expect("elf");
    for (c, name) in all_compressions() {
        for share_zero in [false, true] {
            let mut s = spec(c);
            s.share_zero_page = share_zero;
            let (bytes, layout) = write_kdump(&s, &page_fn);
            // Compressed pages really use the codec (not all stored raw).
            let flags: Vec<u32> = layout
                .descs
                .iter()
                .map(|&(_, at)| {
                    let mut b = [0u8; 24];
                    b.copy_from_slice(&bytes[at as usize..at as usize + 24]);
                    PageDesc::parse(&b).flags
                })
                .collect();
            if name != "none" {
                assert!(
                    flags.iter().any(|&f| f == c.flag()),
                    "{name}: no compressed page"
                );
                assert!(flags.contains(&0), "{name}: noise pages stay raw");
            }
            let plain = write(&dir, &format!("vmcore.{name}.{share_zero}"), &bytes);
            let flat = write(
                &dir,
                &format!("vmcore.{name}.{share_zero}.flat"),
                &flatten(&bytes, 3000, true),
            );
            for (path, format) in [
                (plain, DumpFormat::Kdump),
                (flat, DumpFormat::KdumpFlattened),
            ] {
                let d = dump::open(std::slice::from_ref(&path)).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(d.format(), format);
                assert_eq!(d.compression(), Some(name));
                assert!(d.warnings().is_empty(), "{:?}", d.warnings());
                assert_eq!(
                    d.vmcoreinfo().and_then(|v| v.osrelease.as_deref()),
                    Some("5.10.0-pgsync")
                );
                assert_eq!(d.cpus().len(), 1);
                let (_, missing) = compare_pages(&elf, &d, ORACLE_MAX_PFN + 3);
                assert_eq!(missing, expected_missing(ORACLE_MAX_PFN + 3), "{path:?}");
            }
        }
    }
}

#[test]
fn split_parts_with_different_codecs_are_mixed() {
    let dir = scratch("roundtrip-split");
    let elf = dump::open(&[write(&dir, "source.elf", &oracle_elf())]).expect("elf");
    let parts = [
        ((0, 10), Compression::Zstd(zstd_page)),
        ((10, 30), Compression::Snappy),
        ((30, 48), Compression::Lzo(lzo)),
    ];
    let mut paths = Vec::new();
    for (i, (range, c)) in parts.iter().enumerate() {
        let mut s = spec(*c);
        s.split = Some(*range);
        let (bytes, _) = write_kdump(&s, &page_fn);
        paths.push(write(&dir, &format!("part{i}"), &bytes));
    }
    let d = dump::open(&paths).expect("split");
    assert_eq!(d.format(), DumpFormat::KdumpSplit);
    assert_eq!(d.compression(), Some("mixed"));
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let (_, missing) = compare_pages(&elf, &d, ORACLE_MAX_PFN);
    assert_eq!(missing, expected_missing(ORACLE_MAX_PFN));
    // A read that crosses from one part into the next.
    let mut b = vec![0u8; 2 * PAGE_SIZE - 100];
    d.memory()
        .read(PhysAddr::new(9 * 4096 + 100), &mut b)
        .expect("cross-part read");
    let mut want = oracle_page(9)[100..].to_vec();
    want.extend_from_slice(&oracle_page(10));
    assert_eq!(b, want);

    // A part written by another run (one second later): a warning naming
    // both timestamps, and the parts read as one dump.
    let mut later = spec(Compression::Zlib);
    later.split = Some((10, 30));
    later.timestamp.0 += 1;
    let (bytes, _) = write_kdump(&later, &page_fn);
    let later = write(&dir, "later", &bytes);
    let d = dump::open(&[paths[0].clone(), later.clone(), paths[2].clone()])
        .expect("a timestamp difference is not a refusal");
    let (sec, usec) = spec(Compression::Zlib).timestamp;
    let want = format!(
        "{} and {}: header timestamps differ ({sec}.{usec:06} vs {}.{usec:06}): the parts were written at different times; they agree on utsname, block size and page count, so they are read together",
        paths[0].display(),
        later.display(),
        sec + 1
    );
    assert_eq!(d.warnings(), vec![want]);
    let (_, missing) = compare_pages(&elf, &d, ORACLE_MAX_PFN);
    assert_eq!(missing, expected_missing(ORACLE_MAX_PFN));
    // What must match still does: another machine, another page count.
    let mut other_machine = spec(Compression::Zlib);
    other_machine.split = Some((10, 30));
    other_machine.release = "6.1.0-other".into();
    let mut other_size = spec(Compression::Zlib);
    other_size.split = Some((10, 30));
    other_size.max_mapnr = ORACLE_MAX_PFN + 8;
    for (name, s, what) in [
        (
            "other-machine",
            other_machine,
            r#"utsname differs ("6.1.0-pgsync" vs "6.1.0-other")"#,
        ),
        ("other-size", other_size, "max_mapnr differs (0x30 vs 0x38)"),
    ] {
        let (bytes, _) = write_kdump(&s, &page_fn);
        let stranger = write(&dir, name, &bytes);
        let err = dump::open(&[paths[0].clone(), stranger.clone()])
            .err()
            .expect("refused")
            .to_string();
        assert_eq!(
            err,
            format!(
                "several dump files were given but {} and {} are not parts of the same dump: {what}",
                paths[0].display(),
                stranger.display()
            ),
            "{name}"
        );
    }
    // A whole (non-split) dump among parts is refused.
    let (bytes, _) = write_kdump(&spec(Compression::Zlib), &page_fn);
    let whole = write(&dir, "whole", &bytes);
    let err = dump::open(&[paths[0].clone(), whole])
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("is not part of a split dump"), "{err}");
}

#[test]
fn older_header_versions() {
    let dir = scratch("roundtrip-versions");
    let (bytes, _) = write_kdump(&spec(Compression::Zlib), &page_fn);
    for version in 1..=6i32 {
        let mut b = bytes.clone();
        b[8..12].copy_from_slice(&version.to_le_bytes());
        let d = dump::open(&[write(&dir, &format!("v{version}"), &b)]).expect("open");
        // v3 has VMCOREINFO but no notes; v4+ has the notes.
        assert_eq!(d.vmcoreinfo().is_some(), version >= 3, "v{version}");
        assert_eq!(d.cpus().len(), usize::from(version >= 4), "v{version}");
        assert_eq!(page_of(d.memory(), 8).expect("page"), oracle_page(8));
        assert!(matches!(
            page_of(d.memory(), 4),
            Err(ReadError::NotInDump { .. })
        ));
    }
}

/// The same dump with its sub-header block(s) cut out: `sub_hdr_size` 0,
/// bitmaps at block 1, every page descriptor's offset moved down.
fn without_sub_header(bytes: &[u8], layout: &KdumpLayout) -> Vec<u8> {
    let cut = layout.bitmap_offset as usize - PAGE_SIZE;
    let mut b = bytes[..PAGE_SIZE].to_vec();
    b.extend_from_slice(&bytes[layout.bitmap_offset as usize..]);
    b[header::off::SUB_HDR_SIZE as usize..][..4].copy_from_slice(&0i32.to_le_bytes());
    for &(_, at) in &layout.descs {
        let at = at as usize - cut;
        let mut d = [0u8; header::PAGE_DESC_SIZE as usize];
        let n = d.len();
        d.copy_from_slice(&b[at..at + n]);
        let mut desc = PageDesc::parse(&d);
        desc.offset -= cut as i64;
        b[at..at + n].copy_from_slice(&desc.encode());
    }
    b
}

#[test]
fn version_6_without_a_sub_header() {
    let dir = scratch("roundtrip-no-sub-header");
    let elf = dump::open(&[write(&dir, "source.elf", &oracle_elf())]).expect("elf");
    let (bytes, layout) = write_kdump(&spec(Compression::Zlib), &page_fn);
    assert_eq!(i32::from_le_bytes(bytes[8..12].try_into().unwrap()), 6);
    let path = write(&dir, "no-sub", &without_sub_header(&bytes, &layout));
    let d = dump::open(std::slice::from_ref(&path)).expect("no sub-header is not a refusal");
    assert_eq!(d.format(), DumpFormat::Kdump);
    assert_eq!(
        d.warnings(),
        vec![format!(
            "{}: the file has no sub-header (sub_hdr_size 0): no VMCOREINFO, CPU notes or phys_base from it",
            path.display()
        )]
    );
    assert!(d.vmcoreinfo().is_none());
    assert!(d.cpus().is_empty());
    let (same, missing) = compare_pages(&elf, &d, ORACLE_MAX_PFN + 3);
    assert_eq!(missing, expected_missing(ORACLE_MAX_PFN + 3));
    assert_eq!(same, ORACLE_MAX_PFN + 3 - missing.len() as u64);
    // Without a sub-header the page count must come from the header.
    let mut b = without_sub_header(&bytes, &layout);
    b[header::off::MAX_MAPNR as usize..][..4].copy_from_slice(&0u32.to_le_bytes());
    let path = write(&dir, "no-sub-no-mapnr", &b);
    let err = dump::open(std::slice::from_ref(&path))
        .err()
        .expect("refused")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: at file offset 0x1b0: sub_hdr_size 0 (no sub-header) but the header's max_mapnr is 0 with 2 bitmap blocks: the page count would be in the missing sub-header",
            path.display()
        )
    );
}

#[test]
fn incomplete_dump_is_best_effort() {
    let dir = scratch("roundtrip-incomplete");
    let mut s = spec(Compression::Zlib);
    s.incomplete = true;
    let (mut bytes, layout) = write_kdump(&s, &page_fn);
    // makedumpfile ran out of space: a descriptor never written (zero), and
    // the file ends inside the descriptor table.
    let zeroed = layout.descs[3];
    bytes[zeroed.1 as usize..zeroed.1 as usize + 24].fill(0);
    let cut = layout.descs[20].1 as usize + 5;
    bytes.truncate(cut);
    let d = dump::open(&[write(&dir, "vmcore", &bytes)]).expect("incomplete dump opens");
    assert!(
        d.warnings().iter().any(|w| w.contains("marked incomplete")),
        "{:?}",
        d.warnings()
    );
    assert!(
        d.warnings()
            .iter()
            .any(|w| w.contains("page descriptors are in the file")),
        "{:?}",
        d.warnings()
    );
    assert!(matches!(
        page_of(d.memory(), zeroed.0),
        Err(ReadError::NotInDump { .. })
    ));
    assert!(matches!(
        page_of(d.memory(), layout.descs[25].0),
        Err(ReadError::NotInDump { .. })
    ));
    // Pages whose descriptors survive but whose data was cut are corrupt.
    let r = page_of(d.memory(), layout.descs[0].0);
    assert!(matches!(r, Err(ReadError::Corrupt { .. })), "{r:?}");
}

#[test]
fn page_cache_serves_repeated_reads() {
    let dir = scratch("roundtrip-cache");
    let (bytes, _) = write_kdump(&spec(Compression::Zstd(zstd_page)), &page_fn);
    let path = write(&dir, "vmcore", &bytes);
    let mut notes = DumpNotes::default();
    let r = KdumpReader::open(Box::new(DumpFile::open(&path).expect("file")), &mut notes)
        .expect("open");
    let mut b = [0u8; 8];
    for i in 0..512u64 {
        r.read(PhysAddr::new(8 * 4096 + (i % 512) * 8), &mut b)
            .expect("read");
    }
    let (hits, misses) = r.cache_stats();
    assert_eq!((hits, misses), (511, 1));
    // More distinct pages than the cache holds still read correctly.
    for round in 0..3 {
        for pfn in (0..48).filter(|&p| !excluded(p) && !(24..32).contains(&p)) {
            assert_eq!(
                page_of(&r, pfn).expect("page"),
                oracle_page(pfn),
                "round {round} pfn {pfn}"
            );
        }
    }
    assert_eq!(
        r.dumpable_pages(),
        (0..48)
            .filter(|&p| !excluded(p) && !(24..32).contains(&p))
            .count() as u64
    );
    let _ = header::KDUMP_SIGNATURE;
}

#[test]
fn large_sparse_bitmap_ranks() {
    // Many blocks of the rank table: 1M page frames, pages scattered.
    let dir = scratch("roundtrip-sparse");
    let wanted = |pfn: u64| pfn % 4099 == 7 || (300_000..300_050).contains(&pfn);
    let s = KdumpSpec {
        compression: Compression::Zlib,
        max_mapnr: 1 << 20,
        ram: vec![(0, 1 << 20)],
        ..KdumpSpec::default()
    };
    let (bytes, _) = write_kdump(&s, &|pfn| wanted(pfn).then(|| pattern_page(pfn)));
    let d = dump::open(&[write(&dir, "vmcore", &bytes)]).expect("open");
    for pfn in [
        7u64,
        4106,
        300_000,
        300_049,
        1_048_575 - 1_048_575 % 4099 + 7,
        300_050,
        8,
    ] {
        let got = page_of(d.memory(), pfn);
        if wanted(pfn) && pfn < 1 << 20 {
            assert_eq!(got.expect("page"), pattern_page(pfn), "pfn {pfn}");
        } else {
            assert!(matches!(got, Err(ReadError::NotInDump { .. })), "pfn {pfn}");
        }
    }
}
