//! The committed fixtures, compiled into the fuzz targets that pair a dump
//! with its vmlinux, parsed once per process.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;

use pgsync_dump::debuginfo::Vmlinux;
use pgsync_dump::dump::{self, CrashDump, PhysAddr, sparse::SparseMemory};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!("../../../fixtures/", $name, "/vmcore")) as &[u8],
            include_bytes!(concat!("../../../fixtures/", $name, "/vmlinux")) as &[u8],
        )
    };
}

/// (name, vmcore, vmlinux) of every fixture with a kernel.
pub const FIXTURES: [(&str, &[u8], &[u8]); 9] = [
    fixture!("healthy-4l"),
    fixture!("healthy-5l"),
    fixture!("incomplete"),
    fixture!("kaslr-randomized"),
    fixture!("ldt-slot"),
    fixture!("mismatch"),
    fixture!("missing-4l"),
    fixture!("missing-5l"),
    fixture!("orphan-pgd-list"),
];

pub struct Fixture {
    pub name: &'static str,
    pub dump: CrashDump,
    pub vmlinux: Vmlinux,
    pub build_id: Option<String>,
    /// Every page the dump holds, as editable memory.
    pub pages: SparseMemory,
    /// Their addresses, sorted (fuzz inputs pick pages by index).
    pub page_addrs: Vec<u64>,
    /// Direct-map base, to turn a physical address into a kernel pointer.
    pub page_offset_base: u64,
}

fn load(name: &'static str, vmcore: &[u8], vmlinux: &[u8]) -> Option<Fixture> {
    let dump = dump::open_bytes(Path::new(name), vmcore.to_vec()).ok()?;
    let vmlinux = Vmlinux::from_bytes(format!("{name}/vmlinux"), vmlinux.to_vec()).ok()?;
    let build_id = vmlinux.build_id();
    let mut pages = SparseMemory::new();
    let mut page_addrs = Vec::new();
    let mut buf = [0u8; 4096];
    for r in dump.memory().ranges() {
        let mut pa = r.start & !0xfff;
        while pa < r.end {
            if dump.memory().read(PhysAddr::new(pa), &mut buf).is_ok() {
                pages.add_page(pa).copy_from_slice(&buf);
                page_addrs.push(pa);
            }
            pa += 4096;
        }
    }
    let page_offset_base = pgsync_dump::kernel::Kernel::open(&dump, &vmlinux)
        .map(|k| k.layout().page_offset_base)
        .unwrap_or(0xffff_8880_0000_0000);
    Some(Fixture {
        name,
        dump,
        vmlinux,
        build_id,
        pages,
        page_addrs,
        page_offset_base,
    })
}

pub fn fixtures() -> &'static [Fixture] {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        FIXTURES
            .iter()
            .filter_map(|(n, c, l)| load(n, c, l))
            .collect()
    })
}

/// The fixture whose vmlinux has the build-id the dump names, else the first.
pub fn vmlinux_for(d: &CrashDump) -> Option<&'static Vmlinux> {
    let all = fixtures();
    let id = d.vmcoreinfo().and_then(|i| i.build_id.as_deref());
    all.iter()
        .find(|f| id.is_some() && f.build_id.as_deref() == id)
        .or_else(|| all.first())
        .map(|f| &f.vmlinux)
}
