//! Physical memory of the synthetic machine: sparse 4 KiB pages, a bump
//! allocator for RAM, and a page-table builder for 4- and 5-level paging.

use std::collections::{BTreeMap, BTreeSet};

use super::SynthError;
use super::rng::Rng;

pub const PAGE: u64 = 4096;
pub const MIB2: u64 = 2 << 20;
pub const GIB: u64 = 1 << 30;

/// Entry bits (arch/x86/include/asm/pgtable_types.h).
pub const P: u64 = 1;
pub const RW: u64 = 1 << 1;
pub const US: u64 = 1 << 2;
pub const ACCESSED: u64 = 1 << 5;
pub const DIRTY: u64 = 1 << 6;
pub const PSE: u64 = 1 << 7;
pub const GLOBAL: u64 = 1 << 8;
pub const NX: u64 = 1 << 63;
/// `_KERNPG_TABLE`.
pub const KERNPG_TABLE: u64 = P | RW | ACCESSED | DIRTY;
/// `_PAGE_TABLE` (with _PAGE_USER).
pub const PAGE_TABLE: u64 = KERNPG_TABLE | US;
/// `__PAGE_KERNEL_LARGE` / `__PAGE_KERNEL`.
pub const KERNEL_LARGE: u64 = P | RW | ACCESSED | DIRTY | PSE | GLOBAL | NX;
pub const KERNEL_4K: u64 = P | RW | ACCESSED | DIRTY | GLOBAL | NX;
pub const KERNEL_LARGE_EXEC: u64 = P | RW | ACCESSED | DIRTY | PSE | GLOBAL;
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Sparse physical memory: only pages that were written (or touched) exist
/// and are written to the dump.
#[derive(Debug, Default, Clone)]
pub struct PhysMem {
    pages: BTreeMap<u64, Box<[u8; 4096]>>,
    /// Pages to leave out of the dump although they were written.
    excluded: BTreeSet<u64>,
}

impl PhysMem {
    fn page_mut(&mut self, pfn: u64) -> &mut [u8; 4096] {
        self.pages.entry(pfn).or_insert_with(|| Box::new([0; 4096]))
    }

    /// Makes the page present (zeros if new).
    pub fn touch(&mut self, pa: u64) {
        self.page_mut(pa / PAGE);
    }

    pub fn write(&mut self, pa: u64, data: &[u8]) {
        let mut done = 0usize;
        while done < data.len() {
            let cur = pa + done as u64;
            let off = (cur % PAGE) as usize;
            let n = (PAGE as usize - off).min(data.len() - done);
            self.page_mut(cur / PAGE)[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
    }

    pub fn write_u64(&mut self, pa: u64, v: u64) {
        self.write(pa, &v.to_le_bytes());
    }
    pub fn write_u32(&mut self, pa: u64, v: u32) {
        self.write(pa, &v.to_le_bytes());
    }

    /// Reads back; absent pages read as zeros.
    pub fn read_u64(&self, pa: u64) -> u64 {
        let mut b = [0u8; 8];
        for (i, x) in b.iter_mut().enumerate() {
            let a = pa + i as u64;
            *x = self
                .pages
                .get(&(a / PAGE))
                .map_or(0, |p| p[(a % PAGE) as usize]);
        }
        u64::from_le_bytes(b)
    }

    pub fn exclude(&mut self, pa: u64, len: u64) {
        let mut a = pa & !(PAGE - 1);
        while a < pa + len {
            self.excluded.insert(a / PAGE);
            a += PAGE;
        }
    }

    /// The pages that go into the dump, in physical order.
    pub fn dumped_pages(&self) -> impl Iterator<Item = (u64, &[u8; 4096])> {
        self.pages
            .iter()
            .filter(|(pfn, _)| !self.excluded.contains(pfn))
            .map(|(pfn, p)| (*pfn, &**p))
    }
}

/// Bump allocator over a range of RAM, with random slab-like gaps.
#[derive(Debug, Clone)]
pub struct RamAlloc {
    next: u64,
    end: u64,
}

impl RamAlloc {
    pub fn new(start: u64, end: u64) -> RamAlloc {
        RamAlloc { next: start, end }
    }

    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, SynthError> {
        let a = self.next.div_ceil(align) * align;
        if a + size > self.end {
            return Err(SynthError::Plan(format!(
                "out of synthetic RAM allocating {size:#x} bytes"
            )));
        }
        self.next = a + size;
        Ok(a)
    }

    /// Allocates with a random gap before (objects scattered like slabs).
    pub fn alloc_scattered(
        &mut self,
        r: &mut Rng,
        size: u64,
        align: u64,
    ) -> Result<u64, SynthError> {
        self.next += align * r.range(0, 4);
        self.alloc(size, align)
    }
}

/// Page-table builder for one paging mode; tables are allocated from a
/// [`RamAlloc`] (4 KiB pages) or from caller-provided addresses.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub levels: u8,
}

impl Paging {
    /// Shifts from the top level down: 4-level 39,30,21,12; 5-level 48,39,...
    pub fn shifts(&self) -> &'static [u32] {
        if self.levels == 5 {
            &[48, 39, 30, 21, 12]
        } else {
            &[39, 30, 21, 12]
        }
    }

    /// Maps `[va, va + size)` to `pa` with one leaf of `size` (4 KiB, 2 MiB
    /// or 1 GiB), creating intermediate tables with `table_flags`.
    /// Returns the physical addresses of any tables it created.
    #[allow(clippy::too_many_arguments)]
    pub fn map(
        &self,
        mem: &mut PhysMem,
        alloc: &mut dyn FnMut() -> Result<u64, SynthError>,
        root: u64,
        va: u64,
        pa: u64,
        size: u64,
        leaf_flags: u64,
        table_flags: u64,
    ) -> Result<(), SynthError> {
        let leaf_shift = match size {
            PAGE => 12,
            MIB2 => 21,
            GIB => 30,
            _ => return Err(SynthError::Plan(format!("bad page size {size:#x}"))),
        };
        if va % size != 0 || pa % size != 0 {
            return Err(SynthError::Plan(format!(
                "unaligned mapping {va:#x} -> {pa:#x} size {size:#x}"
            )));
        }
        let mut table = root;
        for &shift in self.shifts() {
            let slot = table + ((va >> shift) & 511) * 8;
            if shift == leaf_shift {
                let old = mem.read_u64(slot);
                if old != 0 && old & ADDR_MASK != pa & ADDR_MASK {
                    return Err(SynthError::Plan(format!(
                        "{va:#x} already mapped to {old:#x}"
                    )));
                }
                mem.write_u64(slot, pa | leaf_flags);
                return Ok(());
            }
            let e = mem.read_u64(slot);
            if e & P != 0 {
                if e & PSE != 0 && shift != 39 && shift != 48 {
                    return Err(SynthError::Plan(format!(
                        "{va:#x}: a large page is in the way"
                    )));
                }
                table = e & ADDR_MASK;
            } else {
                let t = alloc()?;
                mem.touch(t);
                mem.write_u64(slot, t | table_flags);
                table = t;
            }
        }
        Err(SynthError::Plan("walk did not reach the leaf level".into()))
    }

    /// Software walk over the builder's own memory (absent pages read as zero).
    pub fn translate(&self, mem: &PhysMem, root: u64, va: u64) -> Option<u64> {
        let mut table = root;
        for &shift in self.shifts() {
            let e = mem.read_u64(table + ((va >> shift) & 511) * 8);
            if e & P == 0 {
                return None;
            }
            let leaf = shift == 12 || ((shift == 30 || shift == 21) && e & PSE != 0);
            if leaf {
                let size = 1u64 << shift;
                return Some((e & ADDR_MASK & !(size - 1)) | (va & (size - 1)));
            }
            table = e & ADDR_MASK;
        }
        None
    }
}
