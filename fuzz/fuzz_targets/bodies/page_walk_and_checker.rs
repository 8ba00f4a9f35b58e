//! Two halves, one input:
//! 1. the page-table walker over arbitrary physical memory: pages the input
//!    places anywhere (SparseMemory), a fuzzed root, 4- or 5-level, an SME
//!    mask, walked for fuzzed virtual addresses;
//! 2. the whole analysis (`analysis::run`: check, kernel log, crash
//!    attribution, replay)
//!    over a fixture's memory with fuzzed edits: bytes, u64s, zeroed or
//!    removed pages, and pointers (list_heads) aimed at themselves, at other
//!    pages or at unmapped memory.

use arbitrary::{Arbitrary, Unstructured};
use pgsync_dump::analysis;
use pgsync_dump::arch::x86_64::paging::{PagingMode, walk};
use pgsync_dump::arch::x86_64::{PhysAddr, VirtAddr};
use pgsync_dump::dump::notes::DumpNotes;
use pgsync_dump::dump::sparse::SparseMemory;
use pgsync_dump::dump::{CrashDump, DumpFormat, PhysicalMemory};
use pgsync_dump::kernel::Kernel;
use pgsync_dump::model::mask::SyncMask;

#[derive(Arbitrary, Debug)]
enum EditKind {
    Bytes(Vec<u8>),
    U64(u64),
    FlipBit(u8),
    ZeroPage,
    RemovePage,
    /// The direct-map address of (page, offset): a pointer the kernel
    /// could hold; `page == this page` and `offset == this offset` makes a
    /// list_head that points at itself.
    PointAt {
        page: u16,
        offset: u16,
    },
    /// A direct-map pointer past the end of the dump's memory.
    PointUnmapped(u32),
}

#[derive(Arbitrary, Debug)]
struct Edit {
    page: u16,
    offset: u16,
    kind: EditKind,
}

#[derive(Arbitrary, Debug)]
struct Input {
    five_level: bool,
    sme_bit: u8,
    root: u64,
    vas: Vec<u64>,
    raw_pages: Vec<(u64, Vec<u8>)>,
    fixture: u8,
    edits: Vec<Edit>,
    replay_mask: u8,
}

fn walker(inp: &Input) {
    let mut mem = SparseMemory::new();
    for (pa, bytes) in inp.raw_pages.iter().take(64) {
        mem.write(*pa & !0xfff, &bytes[..bytes.len().min(4096)]);
    }
    let mode = if inp.five_level {
        PagingMode::FiveLevel
    } else {
        PagingMode::FourLevel
    };
    let sme = match inp.sme_bit {
        0 => 0,
        b => 1u64 << (b % 52).max(12),
    };
    let _ = mem.ranges();
    let root = PhysAddr::new(inp.root);
    for &va in inp.vas.iter().take(16) {
        let va = VirtAddr::new(va);
        let w = walk(&mem, mode, sme, root, va);
        let _ = w.pa();
        // The same address in a fixture's own tables, from the fuzzed root.
        if let Some(f) = super::fixtures::fixtures().first() {
            let _ = walk(&f.pages, mode, sme, root, va);
        }
    }
}

fn checker(inp: &Input) {
    let all = super::fixtures::fixtures();
    if all.is_empty() {
        return;
    }
    let f = &all[usize::from(inp.fixture) % all.len()];
    let n = f.page_addrs.len();
    if n == 0 {
        return;
    }
    let mut mem = f.pages.clone();
    let pick =
        |page: u16, offset: u16| f.page_addrs[usize::from(page) % n] + u64::from(offset & 0xfff);
    for e in inp.edits.iter().take(256) {
        let at = pick(e.page, e.offset);
        match &e.kind {
            EditKind::Bytes(b) => mem.write(at, &b[..b.len().min(64)]),
            EditKind::U64(v) => mem.write_u64(at, *v),
            EditKind::FlipBit(bit) => {
                let page = mem.add_page(at);
                page[(at & 0xfff) as usize] ^= 1 << (bit % 8);
            }
            EditKind::ZeroPage => *mem.add_page(at) = [0; 4096],
            EditKind::RemovePage => mem.remove_page(at),
            EditKind::PointAt { page, offset } => {
                mem.write_u64(at, f.page_offset_base.wrapping_add(pick(*page, *offset)))
            }
            EditKind::PointUnmapped(x) => mem.write_u64(
                at,
                f.page_offset_base
                    .wrapping_add(f.page_addrs[n - 1] + 4096 + u64::from(*x) * 8),
            ),
        }
    }
    let mut notes = DumpNotes::default();
    notes.vmcoreinfo = f.dump.vmcoreinfo().cloned();
    notes.cpus = f.dump.cpus().to_vec();
    let d = CrashDump::new(f.name.into(), DumpFormat::Elf, None, Box::new(mem), notes);
    let Ok(k) = Kernel::open(&d, &f.vmlinux) else {
        return;
    };
    let replay = match inp.replay_mask % 4 {
        0 => SyncMask::KernelDefault,
        1 => SyncMask::Pgd,
        2 => SyncMask::P4d,
        _ => SyncMask::None,
    };
    let options = analysis::Options {
        pids: Vec::new(),
        replay: Some(replay),
        // The live re-check reads the same corrupted memory a second time.
        live: inp.replay_mask & 4 != 0,
    };
    if let Ok(outcome) = analysis::run(&k, &options) {
        let _ = outcome.analysis.verdict();
    }
}

pub fn run(data: &[u8]) {
    // As libfuzzer-sys decodes a typed input.
    let Ok(inp) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    walker(&inp);
    checker(&inp);
}
