//! QEMU's own kdump-zlib output (flattened, blank machine name in the header,
//! fixtures/formats/qemu/, written by harness/qemu_tiny_dump.py) read back
//! page for page against SHA-256 digests an independent script computed from
//! QEMU's ELF dump of the same paused machine (harness/elf_page_digests.py).

use sha2::{Digest, Sha256};

use pgsync_dump::dump::{self, PhysAddr, ReadError};

#[test]
fn qemu_kdump_zlib_matches_qemu_elf_page_for_page() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats/qemu");
    let digests: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("page-digests.json")).unwrap())
            .unwrap();
    let d = dump::open(&[dir.join("vmcore.kdump-zlib")]).unwrap();
    assert_eq!(d.format().as_str(), "kdump-flattened");
    assert_eq!(d.compression(), Some("zlib"));
    assert_eq!(d.cpus().len(), 1);
    let pages = digests["pages"].as_object().unwrap();
    assert_eq!(pages.len(), 576);
    let mut page = vec![0u8; 4096];
    let mut max_pfn = 0;
    for (pfn, want) in pages {
        let pfn: u64 = pfn.parse().unwrap();
        max_pfn = max_pfn.max(pfn);
        d.memory()
            .read(PhysAddr::new(pfn << 12), &mut page)
            .unwrap_or_else(|e| panic!("pfn {pfn:#x}: {e}"));
        let got = format!("{:x}", Sha256::digest(&page));
        assert_eq!(&got, want.as_str().unwrap(), "pfn {pfn:#x}");
    }
    let beyond = (max_pfn + 1) << 12;
    assert_eq!(
        d.memory().read(PhysAddr::new(beyond), &mut page),
        Err(ReadError::NotInDump {
            paddr: PhysAddr::new(beyond)
        })
    );
}
