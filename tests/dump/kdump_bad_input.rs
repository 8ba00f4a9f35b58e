//! Broken kdump files: header problems are one `DumpError` naming the file
//! and offset; per-page problems are `ReadError::Corrupt` for that page only,
//! naming its pfn and file offset. Never a panic.

use crate::kdump_support;
use kdump_support as common;

use std::io::Write;

use common::*;
use pgsync_dump::dump::kdump::header::{PageDesc, off};
use pgsync_dump::dump::{self, DumpError, ReadError};
use pgsync_dump::write::flatten::flatten;
use pgsync_dump::write::kdump::{Compression, KdumpLayout, KdumpSpec, write_kdump};
use pgsync_synth::formats::zstd_page;

fn lzo(page: &[u8]) -> Option<Vec<u8>> {
    lzokay_native::compress(page).ok()
}

fn sample(c: Compression) -> (Vec<u8>, KdumpLayout) {
    let s = KdumpSpec {
        compression: c,
        max_mapnr: 16,
        ram: vec![(0, 16)],
        notes: oracle_notes(),
        ..KdumpSpec::default()
    };
    write_kdump(&s, &|pfn| (pfn != 3).then(|| pattern_page(pfn)))
}

fn put32(b: &mut [u8], at: u64, v: u32) {
    b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
}

fn open_err(name: &str, bytes: &[u8]) -> DumpError {
    let dir = scratch(&format!("bad-{name}"));
    let p = write(&dir, "vmcore", bytes);
    match dump::open(&[p]) {
        Ok(_) => panic!("{name}: opened"),
        Err(e) => e,
    }
}

fn assert_malformed(name: &str, bytes: &[u8], offset: u64, words: &str) {
    match open_err(name, bytes) {
        DumpError::Malformed {
            path,
            offset: o,
            reason,
        } => {
            assert!(path.ends_with("vmcore"), "{name}");
            assert_eq!(o, offset, "{name}: {reason}");
            assert!(reason.contains(words), "{name}: {reason}");
        }
        e => panic!("{name}: {e}"),
    }
}

#[test]
fn bad_magic_and_version() {
    let (b, _) = sample(Compression::Zlib);
    let mut m = b.clone();
    m[..8].copy_from_slice(b"KDUMQ   ");
    assert!(matches!(
        open_err("magic", &m),
        DumpError::UnknownFormat { .. }
    ));
    let mut m = b.clone();
    m[..8].copy_from_slice(b"DISKDUMP");
    assert!(matches!(
        open_err("diskdump", &m),
        DumpError::Unsupported { .. }
    ));
    for v in [0u32, 7, 0xffff_ffff] {
        let mut m = b.clone();
        put32(&mut m, off::VERSION, v);
        assert_malformed("version", &m, off::VERSION, "header_version");
    }
    assert_malformed("short", &b[..100], 0, "truncated");
}

#[test]
fn bad_block_size() {
    let (b, _) = sample(Compression::Zlib);
    let mut m = b.clone();
    put32(&mut m, off::BLOCK_SIZE, 8192);
    match open_err("bs8192", &m) {
        DumpError::Unsupported { reason, .. } => {
            assert!(reason.contains("only 4096-byte pages"), "{reason}")
        }
        e => panic!("{e}"),
    }
    let mut m = b.clone();
    put32(&mut m, off::BLOCK_SIZE, 1000);
    assert_malformed("bs1000", &m, off::BLOCK_SIZE, "power of two");
    let mut m = b;
    // Negative (0 means "no sub-header": tests/dump/kdump_roundtrip.rs).
    put32(&mut m, off::SUB_HDR_SIZE, 0xffff_ffff);
    assert_malformed("subhdr-1", &m, off::SUB_HDR_SIZE, "sub_hdr_size");
}

#[test]
fn tables_past_the_end() {
    let (b, layout) = sample(Compression::Zlib);
    // Bitmaps claiming far more blocks than the file has.
    let mut m = b.clone();
    put32(&mut m, off::BITMAP_BLOCKS, 0x7fff_ffff);
    assert_malformed("bitmap", &m, layout.bitmap_offset, "bitmaps");
    // max_mapnr larger than the bitmap can describe (64-bit field).
    let mut m = b.clone();
    let at = 4096 + 96;
    m[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert_malformed("max_mapnr", &m, 4096 + 96, "max_mapnr");
    // The descriptor table cut short.
    let cut = layout.desc_offset as usize + 30;
    assert_malformed(
        "desc",
        &b[..cut],
        layout.desc_offset,
        "page descriptor table",
    );
    // The sub-header cut short.
    assert_malformed("sub", &b[..4096 + 20], 4096, "sub-header");
    // Split range outside max_mapnr.
    let mut m = b;
    put32(&mut m, 4096 + 12, 1);
    m[4096 + 80..4096 + 88].copy_from_slice(&5u64.to_le_bytes());
    m[4096 + 88..4096 + 96].copy_from_slice(&99u64.to_le_bytes());
    assert_malformed("split", &m, 4096 + 80, "split pfn range");
}

fn desc_at(b: &[u8], at: u64) -> PageDesc {
    let mut d = [0u8; 24];
    d.copy_from_slice(&b[at as usize..at as usize + 24]);
    PageDesc::parse(&d)
}

fn set_desc(b: &mut [u8], at: u64, d: PageDesc) {
    b[at as usize..at as usize + 24].copy_from_slice(&d.encode());
}

/// Opens `bytes`, expects page `bad` to be Corrupt (reason naming the pfn
/// and a file offset) and every other page to read.
fn assert_page_corrupt(name: &str, bytes: &[u8], bad: u64, words: &str) {
    let dir = scratch(&format!("badpage-{name}"));
    let d = dump::open(&[write(&dir, "vmcore", bytes)]).unwrap_or_else(|e| panic!("{name}: {e}"));
    for pfn in 0..16u64 {
        let r = page_of(d.memory(), pfn);
        if pfn == bad {
            match r {
                Err(ReadError::Corrupt { paddr, reason }) => {
                    assert_eq!(paddr.get(), pfn * 4096);
                    assert!(
                        reason.contains(&format!("pfn {pfn:#x}")),
                        "{name}: {reason}"
                    );
                    assert!(reason.contains("file offset"), "{name}: {reason}");
                    assert!(reason.contains(words), "{name}: {reason}");
                }
                other => panic!("{name}: pfn {pfn}: {other:?}"),
            }
        } else if pfn == 3 {
            assert!(matches!(r, Err(ReadError::NotInDump { .. })), "{name}");
        } else {
            assert_eq!(
                r.expect("other pages read"),
                pattern_page(pfn),
                "{name} pfn {pfn}"
            );
        }
    }
}

#[test]
fn bad_page_descriptors() {
    let (b, layout) = sample(Compression::Zlib);
    let (pfn, at) = layout.descs[5];
    let good = desc_at(&b, at);
    let len = b.len() as i64;

    let mut m = b.clone();
    set_desc(
        &mut m,
        at,
        PageDesc {
            offset: len + 100,
            ..good
        },
    );
    assert_page_corrupt("offset-past-eof", &m, pfn, "outside the file");
    let mut m = b.clone();
    set_desc(&mut m, at, PageDesc { offset: -5, ..good });
    assert_page_corrupt("offset-negative", &m, pfn, "outside the file");
    let mut m = b.clone();
    set_desc(
        &mut m,
        at,
        PageDesc {
            offset: len - 10,
            ..good
        },
    );
    assert_page_corrupt("size-past-eof", &m, pfn, "outside the file");
    let mut m = b.clone();
    set_desc(&mut m, at, PageDesc { size: 5000, ..good });
    assert_page_corrupt("size-too-big", &m, pfn, "must be 1..=4096");
    let mut m = b.clone();
    set_desc(&mut m, at, PageDesc { flags: 0, ..good });
    assert_page_corrupt("raw-wrong-size", &m, pfn, "not 4096");
    let mut m = b.clone();
    set_desc(
        &mut m,
        at,
        PageDesc {
            flags: 0x21,
            ..good
        },
    );
    assert_page_corrupt("two-codecs", &m, pfn, "more than one compression");
}

#[test]
fn decompressed_size_not_a_page() {
    for (c, short) in [
        (Compression::Zlib, {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&[7u8; 100]).expect("zlib");
            e.finish().expect("zlib")
        }),
        (
            Compression::Snappy,
            snap::raw::Encoder::new()
                .compress_vec(&[7u8; 100])
                .expect("snappy"),
        ),
        (
            Compression::Zstd(zstd_page),
            zstd_page(&[7u8; 100]).expect("zstd"),
        ),
        (Compression::Lzo(lzo), lzo(&[7u8; 100]).expect("lzo")),
    ] {
        let (mut b, layout) = sample(c);
        let (pfn, at) = layout.descs[2];
        let good = desc_at(&b, at);
        let offset = b.len() as i64;
        b.extend_from_slice(&short);
        set_desc(
            &mut b,
            at,
            PageDesc {
                offset,
                size: short.len() as u32,
                flags: c.flag(),
                ..good
            },
        );
        assert_page_corrupt(&format!("short-{:#x}", c.flag()), &b, pfn, "bytes");
        // And more than a page: 8 KiB of data.
        let big: Vec<u8> = match c {
            Compression::Zlib => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&[7u8; 8192]).expect("zlib");
                e.finish().expect("zlib")
            }
            Compression::Snappy => snap::raw::Encoder::new()
                .compress_vec(&[7u8; 8192])
                .expect("snappy"),
            Compression::Zstd(f) => f(&[7u8; 8192]).expect("zstd"),
            Compression::Lzo(f) => f(&[7u8; 8192]).expect("lzo"),
            // The loop above names only the four compressed formats.
            _ => unreachable!("not a compression the loop names"),
        };
        let offset = b.len() as i64;
        b.extend_from_slice(&big);
        set_desc(
            &mut b,
            at,
            PageDesc {
                offset,
                size: big.len() as u32,
                flags: c.flag(),
                ..good
            },
        );
        assert_page_corrupt(&format!("long-{:#x}", c.flag()), &b, pfn, "does not decode");
    }
}

#[test]
fn decompressor_errors_are_per_page() {
    for c in [
        Compression::Zlib,
        Compression::Lzo(lzo),
        Compression::Snappy,
        Compression::Zstd(zstd_page),
    ] {
        let (b, layout) = sample(c);
        let (pfn, at) = layout.descs[6];
        let d = desc_at(&b, at);
        assert_eq!(d.flags, c.flag());
        // Garbage in place of the compressed data.
        let mut m = b.clone();
        let s = d.offset as usize;
        for (i, x) in m[s..s + d.size as usize].iter_mut().enumerate() {
            *x = (i as u8).wrapping_mul(37) ^ 0x5a;
        }
        assert_page_corrupt(&format!("garbage-{:#x}", c.flag()), &m, pfn, "");
        // Every truncation of the stream: an error or (rarely) a short
        // page, never a panic.
        let dir = scratch(&format!("trunc-{:#x}", c.flag()));
        for n in 1..d.size {
            let mut m = b.clone();
            set_desc(&mut m, at, PageDesc { size: n, ..d });
            let dd = dump::open(&[write(&dir, "vmcore", &m)]).expect("open");
            assert!(
                matches!(page_of(dd.memory(), pfn), Err(ReadError::Corrupt { .. })),
                "{n}"
            );
        }
    }
}

#[test]
fn flattened_problems() {
    let (b, _) = sample(Compression::Zlib);
    let f = flatten(&b, 5000, false);
    let mut m = f.clone();
    m[16..24].copy_from_slice(&2i64.to_be_bytes());
    assert_malformed("flat-type", &m, 16, "type");
    let mut m = f.clone();
    m[24..32].copy_from_slice(&9i64.to_be_bytes());
    assert_malformed("flat-version", &m, 24, "version");
    let mut m = f.clone();
    m[4096 + 8..4096 + 16].copy_from_slice(&(-7i64).to_be_bytes());
    assert_malformed("flat-size", &m, 4096, "size -7");
    assert_malformed("flat-short", &f[..1000], 0, "truncated");
    // The stream describes something that is not a kdump file.
    let mut junk = b.clone();
    junk[..8].copy_from_slice(b"NOTKDUMP");
    assert_malformed(
        "flat-inner",
        &flatten(&junk, 5000, false),
        4096,
        "does not describe",
    );
    // Cut short: warnings, pages that made it read, later ones fail cleanly.
    let cut = &f[..f.len() - 1500];
    let dir = scratch("flat-cut");
    let d = dump::open(&[write(&dir, "vmcore", cut)]).expect("best effort");
    assert!(
        d.warnings().iter().any(|w| w.contains("truncated")),
        "{:?}",
        d.warnings()
    );
    assert_eq!(page_of(d.memory(), 0).expect("first page"), pattern_page(0));
    for pfn in 0..16 {
        let _ = page_of(d.memory(), pfn);
    }
}

/// Random byte flips anywhere in the headers, bitmaps and descriptors:
/// opening and reading every page must never panic.
#[test]
fn random_corruption_never_panics() {
    let (b, layout) = sample(Compression::Zlib);
    let dir = scratch("fuzz");
    let limit = layout.data_offset as usize + 200;
    let mut x: u64 = 99;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let interesting = [
        0usize,
        8,
        424,
        428,
        432,
        436,
        440,
        4096,
        4096 + 12,
        4096 + 96,
    ];
    for round in 0..300 {
        let mut m = b.clone();
        for _ in 0..1 + round % 4 {
            let at = if next() % 3 == 0 {
                interesting[next() as usize % interesting.len()] + next() as usize % 8
            } else {
                next() as usize % limit
            };
            m[at] = next() as u8;
        }
        let p = write(&dir, "vmcore", &m);
        if let Ok(d) = dump::open(&[p]) {
            for pfn in 0..20 {
                let _ = page_of(d.memory(), pfn);
            }
            let _ = d.memory().ranges();
        }
        let flat = write(&dir, "vmcore.flat", &flatten(&m, 777, round % 2 == 0));
        if let Ok(d) = dump::open(&[flat]) {
            for pfn in 0..20 {
                let _ = page_of(d.memory(), pfn);
            }
        }
    }
}
