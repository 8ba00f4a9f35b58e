//! The ELF vmcore reader on files shaped by hand through the crate's ELF
//! writer (independent of the fixture builder): segment lookup, reads across segments, zero tails,
//! gaps, truncation, overlaps and notes.

use pgsync_dump::dump::{self, DumpFormat, PhysAddr, ReadError};
use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::flatten::flatten;
use pgsync_dump::write::notes::note;

struct Load {
    paddr: u64,
    data: Vec<u8>,
    memsz: u64,
}

/// An ELF64 x86-64 ET_CORE through the crate's one core writer: program
/// headers at `phoff`, one PT_NOTE, then the PT_LOAD data packed with no
/// alignment (the reader must not assume any).
fn core(phoff: u64, notes: &[u8], loads: &[Load]) -> Vec<u8> {
    let segments: Vec<CoreSegment<'_>> = loads
        .iter()
        .map(|l| CoreSegment {
            paddr: l.paddr,
            vaddr: 0,
            data: &l.data,
            memsz: l.memsz,
        })
        .collect();
    let layout = CoreLayout {
        program_headers_at: Some(phoff),
        first_segment_align: 1,
        segment_align: 1,
        ..CoreLayout::default()
    };
    let f = write_core_segments(notes, &segments, &layout).expect("core written");
    // The tests below patch the header at fixed offsets.
    assert_eq!(u64::from_le_bytes(f[32..40].try_into().unwrap()), phoff);
    f
}

fn write(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("pgsync-elf-{tag}-{}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

#[test]
fn reads_across_segments_tails_and_gaps() {
    let mut prstatus = vec![0u8; 336];
    prstatus[32..36].copy_from_slice(&1234u32.to_le_bytes());
    let mut notes = note(
        "VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff82a0a000\n",
    );
    notes.extend(note("CORE", 1, &prstatus));
    let a = pattern(1, 0x2000);
    let b = pattern(2, 0x1000);
    // QEMU puts the program headers at 192, not right after the header.
    let f = core(
        192,
        &notes,
        &[
            Load {
                paddr: 0x10000,
                data: a.clone(),
                memsz: 0x2000,
            },
            // Adjacent segment with a zero tail: filesz 0x1000, memsz 0x3000.
            Load {
                paddr: 0x12000,
                data: b.clone(),
                memsz: 0x3000,
            },
            Load {
                paddr: 0x40000,
                data: pattern(3, 0x1000),
                memsz: 0x1000,
            },
        ],
    );
    let d = dump::open(&[write("ok", &f)]).unwrap();
    assert_eq!(d.format(), DumpFormat::Elf);
    let info = d.vmcoreinfo().unwrap();
    assert_eq!(info.osrelease.as_deref(), Some("6.1.0-test"));
    assert_eq!(info.symbol("init_top_pgt"), Some(0xffffffff82a0a000));
    assert_eq!(d.cpus().len(), 1);
    assert_eq!(d.cpus()[0].prstatus_pid, Some(1234));
    let m = d.memory();
    // Across the boundary of two segments.
    let mut buf = vec![0u8; 0x20];
    m.read(PhysAddr::new(0x11ff0), &mut buf).unwrap();
    assert_eq!(&buf[..0x10], &a[0x1ff0..]);
    assert_eq!(&buf[0x10..], &b[..0x10]);
    // Into the zero tail.
    let mut buf = vec![0xffu8; 0x20];
    m.read(PhysAddr::new(0x12ff0), &mut buf).unwrap();
    assert_eq!(&buf[..0x10], &b[0xff0..]);
    assert!(buf[0x10..].iter().all(|&x| x == 0));
    // A gap is "not in dump", never zeros, and names the first missing address.
    let mut buf = [0u8; 16];
    assert_eq!(
        m.read(PhysAddr::new(0x20000), &mut buf),
        Err(ReadError::NotInDump {
            paddr: PhysAddr::new(0x20000)
        })
    );
    assert_eq!(
        m.read(PhysAddr::new(0x14ff8), &mut buf),
        Err(ReadError::NotInDump {
            paddr: PhysAddr::new(0x15000)
        })
    );
    assert_eq!(m.ranges().len(), 3);
}

#[test]
fn truncated_segment_reads_as_truncated_not_zero() {
    let f = core(
        64,
        &[],
        &[Load {
            paddr: 0x1000,
            data: pattern(5, 0x2000),
            memsz: 0x2000,
        }],
    );
    let cut = f.len() - 0x1000;
    let p = write("trunc", &f[..cut]);
    let d = dump::open(&[p]).unwrap();
    assert!(
        d.warnings().iter().any(|w| w.contains("truncated")),
        "{:?}",
        d.warnings()
    );
    let mut buf = [0u8; 8];
    d.memory().read(PhysAddr::new(0x1000), &mut buf).unwrap();
    match d.memory().read(PhysAddr::new(0x2000), &mut buf) {
        Err(ReadError::Truncated { paddr, .. }) if paddr == PhysAddr::new(0x2000) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn overlapping_file_bytes_that_differ_warn_and_the_lower_start_wins() {
    let f = core(
        64,
        &[],
        &[
            Load {
                paddr: 0x1000,
                data: vec![0xaa; 0x2000],
                memsz: 0x2000,
            },
            Load {
                paddr: 0x2000,
                data: vec![0xbb; 0x2000],
                memsz: 0x2000,
            },
        ],
    );
    let path = write("overlap", &f);
    let d = dump::open(std::slice::from_ref(&path)).unwrap();
    let mut buf = [0u8; 2];
    d.memory().read(PhysAddr::new(0x2fff), &mut buf).unwrap();
    assert_eq!(buf, [0xaa, 0xbb]);
    assert_eq!(
        d.warnings(),
        vec![format!(
            "{}: PT_LOAD #1 and PT_LOAD #2 both have file bytes for physical 0x2000..0x3000 (0x1000 bytes) and 4096 of them differ: reading PT_LOAD #1's (it starts at the lower physical address); the other copy may be the right one",
            path.display()
        )]
    );
    let ranges: Vec<(u64, u64)> = d
        .memory()
        .ranges()
        .iter()
        .map(|r| (r.start, r.end))
        .collect();
    assert_eq!(ranges, vec![(0x1000, 0x3000), (0x3000, 0x4000)]);
}

#[test]
fn same_start_differing_bytes_first_in_the_table_wins() {
    let mut second = pattern(9, 0x1000);
    second[0x10] ^= 0xff;
    second[0x800] ^= 0x01;
    let f = core(
        64,
        &[],
        &[
            Load {
                paddr: 0x5000,
                data: pattern(9, 0x1000),
                memsz: 0x1000,
            },
            Load {
                paddr: 0x5000,
                data: second,
                memsz: 0x1000,
            },
        ],
    );
    let path = write("same-start", &f);
    let d = dump::open(std::slice::from_ref(&path)).unwrap();
    let mut buf = vec![0u8; 0x1000];
    d.memory().read(PhysAddr::new(0x5000), &mut buf).unwrap();
    assert_eq!(buf, pattern(9, 0x1000));
    assert_eq!(
        d.warnings(),
        vec![format!(
            "{}: PT_LOAD #1 and PT_LOAD #2 both have file bytes for physical 0x5000..0x6000 (0x1000 bytes) and 2 of them differ: reading PT_LOAD #1's (it comes first in the program header table); the other copy may be the right one",
            path.display()
        )]
    );
}

#[test]
fn overlapping_identical_file_bytes_are_silent() {
    let all = pattern(3, 0x3000);
    let f = core(
        64,
        &[],
        &[
            Load {
                paddr: 0x10000,
                data: all[..0x2000].to_vec(),
                memsz: 0x2000,
            },
            Load {
                paddr: 0x11000,
                data: all[0x1000..].to_vec(),
                memsz: 0x2000,
            },
        ],
    );
    let d = dump::open(&[write("same-bytes", &f)]).unwrap();
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let mut buf = vec![0u8; 0x3000];
    d.memory().read(PhysAddr::new(0x10000), &mut buf).unwrap();
    assert_eq!(buf, all);
}

/// The kernel's /proc/vmcore headers (and kexec-tools') list the kernel
/// image twice: a PT_LOAD at its text address (0xffffffff8...) and the
/// direct-map RAM segment holding the same physical pages. Both are read
/// from the same memory, so they are not compared at open (that would read
/// the kernel image twice); the same overlap with `p_vaddr` 0 (QEMU,
/// makedumpfile) is compared and warns. The bytes differ here only to show
/// which pair is compared.
#[test]
fn kexec_kernel_text_duplicate_is_not_compared() {
    let ram = vec![0xaa; 0x4000];
    let text = vec![0xbb; 0x1000];
    let shaped = |ram_vaddr: u64, text_vaddr: u64| {
        let segments = [
            CoreSegment {
                paddr: 0x2000,
                vaddr: text_vaddr,
                data: &text,
                memsz: 0x1000,
            },
            CoreSegment {
                paddr: 0x1000,
                vaddr: ram_vaddr,
                data: &ram,
                memsz: 0x4000,
            },
        ];
        write_core_segments(&[], &segments, &CoreLayout::default()).expect("core written")
    };
    let kexec = write(
        "kexec-text",
        &shaped(0xffff_8880_0000_1000, 0xffff_ffff_8100_0000),
    );
    let d = dump::open(std::slice::from_ref(&kexec)).unwrap();
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let mut buf = [0u8; 2];
    d.memory().read(PhysAddr::new(0x1fff), &mut buf).unwrap();
    assert_eq!(buf, [0xaa, 0xaa], "the lower start (RAM) wins");
    let physical = write("physical-text", &shaped(0, 0));
    let d = dump::open(std::slice::from_ref(&physical)).unwrap();
    assert_eq!(
        d.warnings(),
        vec![format!(
            "{}: PT_LOAD #2 and PT_LOAD #1 both have file bytes for physical 0x2000..0x3000 (0x1000 bytes) and 4096 of them differ: reading PT_LOAD #2's (it starts at the lower physical address); the other copy may be the right one",
            physical.display()
        )]
    );
    // A text-address segment over a segment that is not direct-mapped
    // (p_vaddr 0) is compared too.
    let mixed = write("mixed-text", &shaped(0, 0xffff_ffff_8100_0000));
    assert_eq!(
        dump::open(std::slice::from_ref(&mixed))
            .unwrap()
            .warnings()
            .len(),
        1
    );
    for p in [kexec, physical, mixed] {
        let _ = std::fs::remove_file(p);
    }
}

/// The case from issue 14: a segment with file data to 0xc000 and zero fill
/// to 0x12000 must not hide the next segment's real bytes at 0xc000..0x12000,
/// whichever order the program header table lists them in.
#[test]
fn file_bytes_win_over_another_segments_zero_fill() {
    let low = Load {
        paddr: 0,
        data: pattern(1, 0xc000),
        memsz: 0x14000,
    };
    let high = Load {
        paddr: 0xc000,
        data: pattern(2, 0x6000),
        memsz: 0x6000,
    };
    for (tag, loads) in [
        ("fill-low-first", [&low, &high]),
        ("fill-high-first", [&high, &low]),
    ] {
        let loads: Vec<Load> = loads
            .iter()
            .map(|l| Load {
                paddr: l.paddr,
                data: l.data.clone(),
                memsz: l.memsz,
            })
            .collect();
        let d = dump::open(&[write(tag, &core(64, &[], &loads))]).unwrap();
        assert!(d.warnings().is_empty(), "{tag}: {:?}", d.warnings());
        let mut buf = vec![0u8; 0x14000];
        d.memory().read(PhysAddr::new(0), &mut buf).unwrap();
        let mut want = pattern(1, 0xc000);
        want.extend(pattern(2, 0x6000));
        want.resize(0x14000, 0);
        assert!(buf == want, "{tag}: memory differs");
        let ranges: Vec<(u64, u64)> = d
            .memory()
            .ranges()
            .iter()
            .map(|r| (r.start, r.end))
            .collect();
        assert_eq!(ranges, vec![(0, 0x14000)], "{tag}");
    }
}

/// A flattened stream (`makedumpfile -E -F`) of an ELF core reads exactly
/// like the ELF, overlap handling included; its format is `elf-flattened`.
#[test]
fn flattened_elf_reads_like_the_elf() {
    let f = core(
        192,
        &note("CORE", 1, &[7u8; 336]),
        &[
            Load {
                paddr: 0,
                data: pattern(1, 0xc000),
                memsz: 0x14000,
            },
            Load {
                paddr: 0xc000,
                data: pattern(2, 0x6000),
                memsz: 0x6000,
            },
            Load {
                paddr: 0x100000,
                data: pattern(3, 0x3000),
                memsz: 0x3000,
            },
        ],
    );
    let elf = dump::open(&[write("flat-src", &f)]).unwrap();
    for (chunk, rewrite) in [(4096, false), (1000, true), (0x20000, false)] {
        let tag = format!("flat-{chunk}-{rewrite}");
        let flat = flatten(&f, chunk, rewrite);
        let d = dump::open(&[write(&tag, &flat)]).unwrap();
        assert_eq!(d.format(), DumpFormat::ElfFlattened, "{tag}");
        assert!(d.warnings().is_empty(), "{tag}: {:?}", d.warnings());
        assert_eq!(d.cpus().len(), 1, "{tag}");
        assert_eq!(d.memory().ranges(), elf.memory().ranges(), "{tag}");
        let (mut a, mut b) = (vec![0u8; 0x14000], vec![0u8; 0x14000]);
        elf.memory().read(PhysAddr::new(0), &mut a).unwrap();
        d.memory().read(PhysAddr::new(0), &mut b).unwrap();
        assert!(a == b, "{tag}: memory differs");
        let (mut a, mut b) = (vec![0u8; 0x3000], vec![0u8; 0x3000]);
        elf.memory().read(PhysAddr::new(0x100000), &mut a).unwrap();
        d.memory().read(PhysAddr::new(0x100000), &mut b).unwrap();
        assert!(a == b, "{tag}: memory differs at 0x100000");
        assert_eq!(
            d.memory().read(PhysAddr::new(0x14000), &mut [0u8; 1]),
            Err(ReadError::NotInDump {
                paddr: PhysAddr::new(0x14000)
            })
        );
    }
    // Cut short: a warning, and the segment past the cut reads as truncated.
    let flat = flatten(&f, 4096, false);
    let d = dump::open(&[write("flat-cut", &flat[..flat.len() - 0x2000])]).unwrap();
    assert!(
        d.warnings()
            .iter()
            .any(|w| w.contains("stream is truncated")),
        "{:?}",
        d.warnings()
    );
    assert!(matches!(
        d.memory().read(PhysAddr::new(0x102000), &mut [0u8; 8]),
        Err(ReadError::Truncated { .. })
    ));
}

#[test]
fn malformed_headers_are_errors_with_offsets() {
    let f = core(
        64,
        &[],
        &[Load {
            paddr: 0,
            data: vec![1; 16],
            memsz: 16,
        }],
    );
    let mut bad = f.clone();
    bad[56..58].copy_from_slice(&60000u16.to_le_bytes()); // e_phnum past EOF
    let e = dump::open(&[write("phnum", &bad)])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("past the end of the file") && e.contains("offset 0x40"),
        "{e}"
    );
    let mut bad = f.clone();
    bad[4] = 1; // ELFCLASS32
    let e = dump::open(&[write("class", &bad)])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("64-bit"), "{e}");
    // A note whose size runs past its segment: a warning, not a failure.
    let mut n = note("VMCOREINFO", 0, b"OSRELEASE=x\n");
    n[4..8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let d = dump::open(&[write("note", &core(64, &n, &[]))]).unwrap();
    assert!(d.vmcoreinfo().is_none());
    assert!(!d.warnings().is_empty());
}
