//! Shared helpers for the kdump tests: a small ET_CORE vmcore that Debian's
//! makedumpfile accepts (so it can serve as the source of outside-oracle
//! fixtures), and comparisons between dumps.
#![allow(dead_code)]

use std::path::PathBuf;

use pgsync_dump::dump::{CrashDump, PhysAddr, PhysicalMemory, ReadError};
use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::notes::note;

pub const PAGE: usize = 4096;
/// RAM of the oracle machine, as pfn ranges; pfns 24..32 are a hole.
pub const ORACLE_RAM: [(u64, u64); 2] = [(0, 24), (32, 48)];
pub const ORACLE_MAX_PFN: u64 = 48;

/// What makedumpfile needs to accept a vmcore: init_uts_ns reachable
/// through init_top_pgt (a 1 GiB kernel-text mapping of physical 0), and a
/// FLATMEM mem_map whose struct pages mark some pages anonymous (excluded
/// by -d 8) or buddy-free (excluded by -d 16).
pub const ORACLE_VMCOREINFO: &str = "OSRELEASE=5.10.0-pgsync
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffff80004000
OFFSET(uts_namespace.name)=0
SYMBOL(init_top_pgt)=ffffffff80001000
SYMBOL(mem_map)=ffffffff80004800
SIZE(page)=64
OFFSET(page.flags)=0
OFFSET(page._refcount)=52
OFFSET(page.mapping)=24
OFFSET(page.lru)=8
OFFSET(page.private)=40
OFFSET(page._mapcount)=48
NUMBER(PG_lru)=4
NUMBER(PG_private)=13
NUMBER(PG_swapcache)=10
NUMBER(PG_swapbacked)=19
NUMBER(PG_slab)=9
NUMBER(PG_head_mask)=65536
NUMBER(PG_hwpoison)=23
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129
NUMBER(phys_base)=0
";

/// Deterministic pseudo-random bytes (splitmix64).
pub fn noise(seed: u64, out: &mut [u8]) {
    let mut x = seed;
    for chunk in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^= z >> 31;
        let b = z.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

/// A recognisable page: text naming its pfn, some zero runs, some noise.
pub fn pattern_page(pfn: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE];
    let text = format!("pfn {pfn:06x} pgsync-dump oracle page ");
    for (i, b) in p.iter_mut().enumerate() {
        *b = text.as_bytes()[i % text.len()];
    }
    p[1000..1400].fill(0);
    noise(pfn, &mut p[2000..2100]);
    p
}

/// Contents of the oracle machine's page `pfn`.
pub fn oracle_page(pfn: u64) -> Vec<u8> {
    let mut p = vec![0u8; PAGE];
    let put = |p: &mut Vec<u8>, at: usize, v: u64| p[at..at + 8].copy_from_slice(&v.to_le_bytes());
    match pfn {
        // PGD: slot 511 -> the PUD at 0x2000.
        1 => put(&mut p, 511 * 8, 0x2000 | 0x63),
        // PUD: slot 510 (0xffffffff80000000) -> 1 GiB page at 0.
        2 => put(&mut p, 510 * 8, 0xe3),
        4 => {
            let fields = [
                "Linux",
                "pgsync",
                "5.10.0-pgsync",
                "#1 SMP",
                "x86_64",
                "(none)",
            ];
            for (i, f) in fields.iter().enumerate() {
                p[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
            }
            // mem_map: the struct page array at pfn 5.
            put(&mut p, 0x800, 0xffffffff80005000);
        }
        5 => {
            for q in 0..64u64 {
                let at = q as usize * 64;
                if q % 5 == 2 && q > 5 {
                    put(&mut p, at + 24, 1); // PAGE_MAPPING_ANON
                }
                let mapcount: u32 = if q % 13 == 6 {
                    0xffff_ff7f
                } else {
                    0xffff_ffff
                };
                p[at + 48..at + 52].copy_from_slice(&mapcount.to_le_bytes());
                p[at + 52..at + 56].copy_from_slice(&1u32.to_le_bytes());
            }
        }
        _ if pfn % 7 == 3 => {}                          // zero page
        _ if pfn % 11 == 5 => noise(pfn * 7919, &mut p), // incompressible
        _ => p = pattern_page(pfn),
    }
    p
}

/// The oracle's notes: one (empty) NT_PRSTATUS and VMCOREINFO.
pub fn oracle_notes() -> Vec<u8> {
    let mut n = note("CORE", 1, &[0u8; 336]);
    n.extend(note("VMCOREINFO", 0, ORACLE_VMCOREINFO.as_bytes()));
    n
}

/// An ELF vmcore: ET_CORE, one PT_NOTE, one PT_LOAD per RAM range, p_vaddr
/// in the direct map (makedumpfile derives PAGE_OFFSET from it), segments
/// page-aligned in the file as makedumpfile writes them.
pub fn elf_vmcore(ram: &[(u64, u64)], notes: &[u8], page: &dyn Fn(u64) -> Vec<u8>) -> Vec<u8> {
    let data: Vec<Vec<u8>> = ram
        .iter()
        .map(|&(s, e)| (s..e).flat_map(page).collect())
        .collect();
    let segments: Vec<CoreSegment<'_>> = ram
        .iter()
        .zip(&data)
        .map(|(&(s, _), bytes)| {
            let pa = s * PAGE as u64;
            CoreSegment {
                paddr: pa,
                vaddr: 0xffff_8880_0000_0000 + pa,
                data: bytes,
                memsz: bytes.len() as u64,
            }
        })
        .collect();
    let layout = CoreLayout {
        segment_align: PAGE as u64,
        note_p_align: 4,
        load_p_align: PAGE as u64,
        ..CoreLayout::default()
    };
    write_core_segments(notes, &segments, &layout).expect("ELF vmcore written")
}

pub fn oracle_elf() -> Vec<u8> {
    elf_vmcore(&ORACLE_RAM, &oracle_notes(), &oracle_page)
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("kdump-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

pub fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats")
}

/// Reads one page, mapping errors to a comparable value.
pub fn page_of(m: &dyn PhysicalMemory, pfn: u64) -> Result<Vec<u8>, ReadError> {
    let mut b = vec![0u8; PAGE];
    m.read(PhysAddr::new(pfn * PAGE as u64), &mut b).map(|()| b)
}

/// Every page `dump` holds equals the reference; returns (pages equal,
/// pages not in `dump`). Any other error fails.
pub fn compare_pages(reference: &CrashDump, dump: &CrashDump, max_pfn: u64) -> (u64, Vec<u64>) {
    let mut same = 0;
    let mut missing = Vec::new();
    for pfn in 0..max_pfn {
        let want = page_of(reference.memory(), pfn);
        match page_of(dump.memory(), pfn) {
            Ok(got) => {
                let want = want.unwrap_or_else(|e| {
                    panic!("pfn {pfn:#x} is in the kdump file but not the reference: {e}")
                });
                assert!(got == want, "pfn {pfn:#x} differs");
                same += 1;
            }
            Err(ReadError::NotInDump { paddr }) => {
                assert_eq!(paddr.get(), pfn * PAGE as u64);
                missing.push(pfn);
            }
            Err(e) => panic!("pfn {pfn:#x}: {e}"),
        }
    }
    (same, missing)
}
