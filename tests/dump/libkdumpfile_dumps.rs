//! Outside oracle: dumps written by libkdumpfile's own test generators
//! (`mkelf`, `mkdiskdump`; fixtures/formats/libkdumpfile/README.md says how),
//! read through `pgsync_dump::dump` and compared with what their data files
//! put in them and, for the overlap case, with libkdumpfile's own expected
//! page maps.

use std::path::{Path, PathBuf};

use pgsync_dump::dump::{self, CrashDump, DumpFormat, PhysAddr, PhysRange, ReadError};

const PAGE: u64 = 4096;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats/libkdumpfile")
}

fn open(names: &[&str]) -> (CrashDump, Vec<PathBuf>) {
    let paths: Vec<PathBuf> = names.iter().map(|n| dir().join(n)).collect();
    let d = dump::open(&paths).unwrap_or_else(|e| panic!("{names:?}: {e}"));
    (d, paths)
}

/// `len` bytes at `paddr`, or the error.
fn read(d: &CrashDump, paddr: u64, len: u64) -> Result<Vec<u8>, ReadError> {
    let mut b = vec![0u8; len as usize];
    d.memory().read(PhysAddr::new(paddr), &mut b).map(|()| b)
}

/// Asserts the bytes of `[start, end)` all equal `byte`.
fn assert_filled(d: &CrashDump, start: u64, end: u64, byte: u8) {
    let got = read(d, start, end - start).unwrap_or_else(|e| panic!("{start:#x}: {e}"));
    if let Some(i) = got.iter().position(|&b| b != byte) {
        panic!(
            "{}: byte at {:#x} is {:#04x}, not {byte:#04x}",
            d.path().display(),
            start + i as u64,
            got[i]
        );
    }
}

fn assert_missing(d: &CrashDump, paddr: u64) {
    assert_eq!(
        read(d, paddr, 1),
        Err(ReadError::NotInDump {
            paddr: PhysAddr::new(paddr)
        }),
        "{}",
        d.path().display()
    );
}

/// Page bitmaps over pfns `0..n` as libkdumpfile's `checkattr` prints them
/// (bit `pfn % 8` of byte `pfn / 8`): pages that read, and pages that read
/// as something other than zeros (here: the pages with file bytes).
fn page_maps(d: &CrashDump, n: u64) -> (Vec<u8>, Vec<u8>) {
    let (mut memory, mut file) = (
        vec![0u8; n.div_ceil(8) as usize],
        vec![0u8; n.div_ceil(8) as usize],
    );
    for pfn in 0..n {
        if let Ok(page) = read(d, pfn * PAGE, PAGE) {
            memory[(pfn / 8) as usize] |= 1 << (pfn % 8);
            if page.iter().any(|&b| b != 0) {
                file[(pfn / 8) as usize] |= 1 << (pfn % 8);
            }
        }
    }
    (memory, file)
}

fn ranges(d: &CrashDump) -> Vec<(u64, u64)> {
    d.memory()
        .ranges()
        .iter()
        .map(|&PhysRange { start, end }| (start, end))
        .collect()
}

/// libkdumpfile's tests/elf-overlap: three pairs of overlapping PT_LOADs.
/// Its expected maps are `memory.pagemap = 0x7e 0xfc 0x03 0x3f` and
/// `file.pagemap = 0x02 0x3c 0x00 0x10`; the second pair is issue 14's
/// case (file bytes to 0xc000, zero fill to 0x12000 over the next
/// segment's bytes at 0xc000..0xe000).
#[test]
fn elf_overlap_plain_and_flattened() {
    for (name, format) in [
        ("elf-overlap.elf", DumpFormat::Elf),
        ("elf-overlap.flat", DumpFormat::ElfFlattened),
    ] {
        let (d, _) = open(&[name]);
        assert_eq!(d.format(), format, "{name}");
        assert!(d.warnings().is_empty(), "{name}: {:?}", d.warnings());
        assert_eq!(
            page_maps(&d, 32),
            (vec![0x7e, 0xfc, 0x03, 0x3f], vec![0x02, 0x3c, 0x00, 0x10]),
            "{name}"
        );
        assert_filled(&d, 0x1000, 0x2000, 0x55);
        assert_filled(&d, 0x2000, 0x7000, 0);
        assert_missing(&d, 0x7000);
        assert_filled(&d, 0xa000, 0xc000, 0x55);
        assert_filled(&d, 0xc000, 0xe000, 0xaa);
        assert_filled(&d, 0xe000, 0x12000, 0);
        assert_missing(&d, 0x12000);
        assert_filled(&d, 0x18000, 0x1c000, 0);
        assert_filled(&d, 0x1c000, 0x1d000, 0xaa);
        assert_filled(&d, 0x1d000, 0x1e000, 0);
        assert_missing(&d, 0x1e000);
        assert_eq!(
            ranges(&d),
            vec![
                (0x1000, 0x5000),
                (0x5000, 0x7000),
                (0xa000, 0x12000),
                (0x18000, 0x1c000),
                (0x1c000, 0x1e000)
            ],
            "{name}"
        );
    }
}

/// conflict.data: file bytes over zero fill, two differing copies of one
/// page at the same start (the first in the table wins, with a warning),
/// two identical copies (silent).
#[test]
fn elf_conflict_plain_and_flattened() {
    for (name, format) in [
        ("elf-conflict.elf", DumpFormat::Elf),
        ("elf-conflict.flat", DumpFormat::ElfFlattened),
    ] {
        let (d, paths) = open(&[name]);
        assert_eq!(d.format(), format, "{name}");
        assert_eq!(
            d.warnings(),
            vec![format!(
                "{}: PT_LOAD #2 and PT_LOAD #3 both have file bytes for physical 0x20000..0x21000 (0x1000 bytes) and 2048 of them differ: reading PT_LOAD #2's (it comes first in the program header table); the other copy may be the right one",
                paths[0].display()
            )],
            "{name}"
        );
        assert_filled(&d, 0, 0xc000, 0x11);
        assert_filled(&d, 0xc000, 0x12000, 0x22);
        assert_missing(&d, 0x12000);
        assert_filled(&d, 0x20000, 0x21000, 0x33);
        assert_filled(&d, 0x30000, 0x32000, 0x55);
        assert_missing(&d, 0x32000);
    }
}

/// The pages split.data describes: pfn 0 all 0xff, pfns 1..4 all 0x10,
/// 0x20, 0x30, 0x40, pfn 5 0xdead repeated; nothing else.
fn assert_split_data_page(d: &CrashDump, pfn: u64) {
    match pfn {
        0 => assert_filled(d, 0, PAGE, 0xff),
        1..=4 => assert_filled(d, pfn * PAGE, (pfn + 1) * PAGE, 0x10 * pfn as u8),
        // "dead*2048": the 16-bit value 0xdead, little-endian, 2048 times.
        5 => assert!(
            read(d, 5 * PAGE, PAGE) == Ok([0xad, 0xde].repeat(2048)),
            "{}: pfn 5",
            d.path().display()
        ),
        _ => assert_missing(d, pfn * PAGE),
    }
}

fn timestamp(path: &Path) -> String {
    let b = std::fs::read(path).expect("read part");
    let field = |o: usize| i64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    format!("{}.{:06}", field(408), field(416))
}

/// libkdumpfile's tests/diskdump-split, each part written by a separate
/// `mkdiskdump` run: pfns 1..2, 2..3 and 3..5 of 0x100, with header
/// timestamps microseconds apart.
#[test]
fn split_parts_from_separate_runs() {
    let names = ["split.1", "split.2", "split.3"];
    let stamps: Vec<String> = names.iter().map(|n| timestamp(&dir().join(n))).collect();
    assert!(
        stamps[0] != stamps[1] && stamps[1] != stamps[2],
        "{stamps:?}"
    );
    for order in [[0, 1, 2], [2, 0, 1]] {
        let given: Vec<&str> = order.iter().map(|&i| names[i]).collect();
        let (d, paths) = open(&given);
        assert_eq!(d.format(), DumpFormat::KdumpSplit);
        let first = &paths[0];
        let mut want: Vec<String> = paths[1..]
            .iter()
            .zip(&order[1..])
            .map(|(p, &i)| {
                format!(
                    "{} and {}: header timestamps differ ({} vs {}): the parts were written at different times; they agree on utsname, block size and page count, so they are read together",
                    first.display(),
                    p.display(),
                    stamps[order[0]],
                    stamps[i]
                )
            })
            .collect();
        want.push("no part covers pfns 0x0..0x1: a part of the split dump is missing; those pages read as not in the dump".into());
        want.push("no part covers pfns 0x5..0x100: a part of the split dump is missing; those pages read as not in the dump".into());
        assert_eq!(d.warnings(), want, "{given:?}");
        assert_missing(&d, 0);
        for pfn in 1..5 {
            assert_split_data_page(&d, pfn);
        }
        assert_missing(&d, 5 * PAGE);
        // A read across all three parts.
        let b = read(&d, PAGE - 1 + PAGE, PAGE + 2).expect("across parts");
        assert_eq!(
            (b[0], b[1], b[PAGE as usize], b[PAGE as usize + 1]),
            (0x10, 0x20, 0x20, 0x30)
        );
    }
}

/// `mkdiskdump` with `version = 6` and `sub_hdr_size = 0`: no sub-header,
/// bitmaps at block 1, all of split.data's pages.
#[test]
fn version_6_without_a_sub_header() {
    let (d, paths) = open(&["nosub-v6.kdump"]);
    assert_eq!(d.format(), DumpFormat::Kdump);
    assert_eq!(d.compression(), Some("none"));
    assert_eq!(
        d.warnings(),
        vec![format!(
            "{}: the file has no sub-header (sub_hdr_size 0): no VMCOREINFO, CPU notes or phys_base from it",
            paths[0].display()
        )]
    );
    assert!(d.vmcoreinfo().is_none());
    for pfn in 0..8 {
        assert_split_data_page(&d, pfn);
    }
}
