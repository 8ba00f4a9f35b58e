//! The kcore reader (`/proc/kcore` and files of its shape) on files shaped
//! by hand through the crate's ELF writer: physical reads through the
//! direct-map segments only, and bad input (unreadable, truncated headers,
//! overlapping PT_LOADs, no direct map).

use std::os::unix::fs::PermissionsExt;

use pgsync_dump::dump::{self, DumpError, DumpFormat, PhysAddr, ReadError};
use pgsync_dump::write::elf::{CoreLayout, CoreSegment, write_core_segments};
use pgsync_dump::write::notes::note;

const POB: u64 = 0xffff_8880_0000_0000;
const PAGE: usize = 4096;

fn fill(b: u8, pages: usize) -> Vec<u8> {
    vec![b; pages * PAGE]
}

/// A kcore: text (poisoned), vmalloc (no physical address), then `ram` as
/// (paddr, bytes) direct-map segments.
fn kcore(ram: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let poison = fill(0xee, 1);
    let mut segs = vec![
        CoreSegment {
            paddr: 0x100_0000,
            vaddr: 0xffff_ffff_8100_0000,
            data: &poison,
            memsz: PAGE as u64,
        },
        CoreSegment {
            paddr: u64::MAX,
            vaddr: 0xffff_c900_0000_0000,
            data: &poison,
            memsz: PAGE as u64,
        },
    ];
    for (pa, bytes) in ram {
        segs.push(CoreSegment {
            paddr: *pa,
            vaddr: POB + pa,
            data: bytes,
            memsz: bytes.len() as u64,
        });
    }
    let notes = note("VMCOREINFO", 0, b"OSRELEASE=6.1.0-test\n");
    write_core_segments(&notes, &segs, &CoreLayout::default()).expect("written")
}

fn write(tag: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("pgsync-kcore-{tag}-{}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn read(d: &dump::CrashDump, pa: u64, len: usize) -> Result<Vec<u8>, ReadError> {
    let mut b = vec![0u8; len];
    d.memory().read(PhysAddr::new(pa), &mut b).map(|()| b)
}

#[test]
fn physical_reads_go_through_the_direct_map_only() {
    // RAM at 0x100_0000 (where the text segment claims to be) holds 0x11.
    let f = kcore(&[(0x100_0000, fill(0x11, 2)), (0x800_0000, fill(0x22, 1))]);
    let p = write("direct", &f);
    for d in [
        dump::open_kcore(&p).unwrap(),
        dump::open(std::slice::from_ref(&p)).unwrap(),
    ] {
        assert_eq!(d.format(), DumpFormat::Kcore);
        assert_eq!(
            d.vmcoreinfo().unwrap().osrelease.as_deref(),
            Some("6.1.0-test")
        );
        assert_eq!(read(&d, 0x100_0000, 8).unwrap(), [0x11; 8]);
        assert_eq!(read(&d, 0x800_0ff8, 8).unwrap(), [0x22; 8]);
        assert_eq!(
            read(&d, 0x100_2000, 8),
            Err(ReadError::NotInDump {
                paddr: PhysAddr::new(0x100_2000)
            })
        );
        let ranges: Vec<(u64, u64)> = d
            .memory()
            .ranges()
            .iter()
            .map(|r| (r.start, r.end))
            .collect();
        assert_eq!(ranges, [(0x100_0000, 0x100_2000), (0x800_0000, 0x800_1000)]);
        assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    }
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn overlapping_direct_map_segments_follow_the_elf_rule_and_warn() {
    let f = kcore(&[(0x100_0000, fill(0x11, 2)), (0x100_1000, fill(0x33, 2))]);
    let p = write("overlap", &f);
    let d = dump::open_kcore(&p).unwrap();
    // The segment starting lower wins where both have bytes.
    assert_eq!(read(&d, 0x100_1000, 4).unwrap(), [0x11; 4]);
    assert_eq!(read(&d, 0x100_2000, 4).unwrap(), [0x33; 4]);
    assert_eq!(d.warnings().len(), 1, "{:?}", d.warnings());
    assert!(
        d.warnings()[0].ends_with(
            "PT_LOAD #3 and PT_LOAD #4 both have file bytes for physical 0x1001000..0x1002000 (0x1000 bytes) and 4096 of them differ: reading PT_LOAD #3's (it starts at the lower physical address); the other copy may be the right one"
        ),
        "{}",
        d.warnings()[0]
    );
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn truncated_headers_are_an_error_not_a_guess() {
    let f = kcore(&[(0x100_0000, fill(0x11, 1))]);
    for (cut, msg) in [
        (
            30,
            "at file offset 0x0: file too short for an ELF header: truncated",
        ),
        (
            100,
            "at file offset 0x40: program header table (4 entries at offset 0x40) runs past the end of the file: truncated",
        ),
    ] {
        let p = write(&format!("cut{cut}"), &f[..cut]);
        let e = dump::open_kcore(&p).err().expect("fails");
        assert!(matches!(e, DumpError::Malformed { .. }), "{e}");
        assert!(e.to_string().contains(msg), "{e}");
        std::fs::remove_file(&p).unwrap();
    }
}

#[test]
fn a_kcore_without_a_direct_map_is_refused() {
    // Only the text and vmalloc segments: no physical memory to read.
    let f = kcore(&[]);
    let p = write("nodirect", &f);
    let e = dump::open_kcore(&p).err().expect("fails");
    assert!(
        e.to_string()
            .contains("kcore without a direct-map PT_LOAD (p_vaddr = page_offset_base + p_paddr)"),
        "{e}"
    );
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn an_unreadable_kcore_is_a_clear_error() {
    let f = kcore(&[(0x100_0000, fill(0x11, 1))]);
    let p = write("mode000", &f);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a mode-000 file (CAP_DAC_OVERRIDE): then the reader must
    // open it like any other; otherwise the open is refused, and says why.
    let refused = std::fs::File::open(&p).is_err();
    let r = dump::open_kcore(&p);
    if refused {
        let e = r.err().expect("refused");
        assert!(matches!(e, DumpError::Denied { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{}: permission denied: reading the running kernel's memory needs root (CAP_SYS_RAWIO)",
                p.display()
            )
        );
    } else {
        assert_eq!(r.expect("root opens it").format(), DumpFormat::Kcore);
    }
    std::fs::remove_file(&p).unwrap();
}
