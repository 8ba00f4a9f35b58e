//! A copy-on-write view of a dump's physical memory.
//!
//! Reads fall through to the dump unless the page was written here; the
//! first write to a page copies it out of the dump, and only the copy changes.
//! Writing to a page the dump does not hold is an error: the model cannot
//! fabricate memory the crashed machine had. The only way to get memory the
//! dump lacks is [`Overlay::alloc_page`], which hands out zeroed pages above
//! everything the dump describes (what the model uses when the kernel would
//! have allocated a new page table).

use std::collections::{BTreeMap, BTreeSet};

use crate::arch::x86_64::paging::PAGE_SIZE;
use crate::dump::{PhysAddr, PhysRange, PhysicalMemory, ReadError};

const PAGE_BYTES: usize = PAGE_SIZE as usize;
const PAGE_SHIFT: u32 = 12;

/// A page frame number: a physical address divided by the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The physical address of the first byte of this page.
    pub(crate) fn paddr(self) -> PhysAddr {
        PhysAddr::new(self.0 << PAGE_SHIFT)
    }

    /// The page that holds a physical address.
    pub fn containing(paddr: PhysAddr) -> Pfn {
        Pfn(paddr.get() >> PAGE_SHIFT)
    }
}

/// Why a write to the overlay (or a page allocation) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverlayError {
    #[error(
        "cannot write physical address {paddr:#x}: the page is not in the dump and was not allocated by the model"
    )]
    NotInDump { paddr: u64 },
    #[error("cannot write physical address {paddr:#x}: reading the page from the dump failed")]
    Read {
        paddr: u64,
        #[source]
        source: ReadError,
    },
    #[error(
        "write of {len} bytes at physical address {paddr:#x} runs past the end of the physical address space"
    )]
    AddressOverflow { paddr: u64, len: usize },
    #[error("no physical page frame is left above the dump to allocate")]
    OutOfPageFrames,
}

type PageBytes = Box<[u8; PAGE_BYTES]>;

/// Copy-on-write physical memory over a borrowed dump.
pub struct Overlay<'m> {
    dump: &'m dyn PhysicalMemory,
    /// Pages that differ from the dump, or that the dump does not have.
    pages: BTreeMap<Pfn, PageBytes>,
    /// Pages created by [`Overlay::alloc_page`] (a subset of `pages`).
    allocated: BTreeSet<Pfn>,
    /// The next page frame `alloc_page` hands out.
    next_free: Pfn,
}

impl<'m> Overlay<'m> {
    /// An overlay with no changes: reads return exactly what the dump holds.
    pub fn new(dump: &'m dyn PhysicalMemory) -> Overlay<'m> {
        let end = dump.ranges().iter().map(|r| r.end).max().unwrap_or(0);
        let next_free = Pfn(end.div_ceil(PAGE_SIZE));
        Overlay {
            dump,
            pages: BTreeMap::new(),
            allocated: BTreeSet::new(),
            next_free,
        }
    }

    /// The memory underneath (the dump), unchanged.
    pub(crate) fn dump(&self) -> &'m dyn PhysicalMemory {
        self.dump
    }

    /// Writes `bytes` at `paddr`. Every page touched must be in the dump or
    /// allocated by [`Overlay::alloc_page`]; otherwise nothing is written.
    /// A write that leaves a page's bytes as they were does not copy it (the
    /// page stays clean).
    pub(crate) fn write(&mut self, paddr: PhysAddr, bytes: &[u8]) -> Result<(), OverlayError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let len = bytes.len();
        let last = paddr
            .checked_add(len as u64 - 1)
            .ok_or(OverlayError::AddressOverflow {
                paddr: paddr.get(),
                len,
            })?;
        // First check every page can be written (all or nothing), then write.
        let first_pfn = Pfn::containing(paddr);
        let last_pfn = Pfn::containing(last);
        let mut staged: Vec<(Pfn, PageBytes)> = Vec::new();
        for pfn in (first_pfn.0..=last_pfn.0).map(Pfn) {
            if !self.pages.contains_key(&pfn) {
                staged.push((pfn, self.read_dump_page(pfn, paddr)?));
            }
        }
        for (pfn, page) in staged {
            self.pages.insert(pfn, page);
        }
        let mut done = 0usize;
        for pfn in (first_pfn.0..=last_pfn.0).map(Pfn) {
            let chunk_start = paddr.wrapping_add(done as u64);
            let in_page = chunk_start.page_offset(PAGE_SIZE) as usize;
            let n = (PAGE_BYTES - in_page).min(len - done);
            if let Some(page) = self.pages.get_mut(&pfn) {
                page[in_page..in_page + n].copy_from_slice(&bytes[done..done + n]);
            }
            done += n;
        }
        self.drop_clean_copies(first_pfn, last_pfn);
        Ok(())
    }

    /// Writes one little-endian 64-bit value (a page-table entry).
    pub fn write_u64(&mut self, paddr: PhysAddr, value: u64) -> Result<(), OverlayError> {
        self.write(paddr, &value.to_le_bytes())
    }

    /// A fresh zeroed page above every range of the dump and every page
    /// allocated before.
    pub fn alloc_page(&mut self) -> Result<Pfn, OverlayError> {
        let pfn = self.next_free;
        if pfn.0 >= (u64::MAX >> PAGE_SHIFT) {
            return Err(OverlayError::OutOfPageFrames);
        }
        self.next_free = Pfn(pfn.0 + 1);
        self.pages.insert(pfn, Box::new([0u8; PAGE_BYTES]));
        self.allocated.insert(pfn);
        Ok(pfn)
    }

    /// Pages whose contents differ from the dump, and pages the model
    /// allocated, in ascending order.
    pub fn dirty_pages(&self) -> Vec<Pfn> {
        self.pages.keys().copied().collect()
    }

    /// The pages [`Overlay::alloc_page`] handed out, in ascending order
    /// (what the unit tests check; the replay reads only the dirty pages).
    #[cfg(test)]
    fn allocated_pages(&self) -> Vec<Pfn> {
        self.allocated.iter().copied().collect()
    }

    fn read_dump_page(&self, pfn: Pfn, write_paddr: PhysAddr) -> Result<PageBytes, OverlayError> {
        let mut page: PageBytes = Box::new([0u8; PAGE_BYTES]);
        match self.dump.read(pfn.paddr(), &mut page[..]) {
            Ok(()) => Ok(page),
            Err(ReadError::NotInDump { .. }) => Err(OverlayError::NotInDump {
                paddr: write_paddr.max(pfn.paddr()).get(),
            }),
            Err(source) => Err(OverlayError::Read {
                paddr: write_paddr.max(pfn.paddr()).get(),
                source,
            }),
        }
    }

    /// Forgets copied pages that are byte-identical to the dump again, so
    /// that `dirty_pages` names only pages that really changed.
    fn drop_clean_copies(&mut self, first: Pfn, last: Pfn) {
        for pfn in (first.0..=last.0).map(Pfn) {
            if self.allocated.contains(&pfn) {
                continue;
            }
            let clean = match self.pages.get(&pfn) {
                Some(copy) => {
                    let mut original = [0u8; PAGE_BYTES];
                    self.dump.read(pfn.paddr(), &mut original).is_ok() && original[..] == copy[..]
                }
                None => false,
            };
            if clean {
                self.pages.remove(&pfn);
            }
        }
    }
}

impl PhysicalMemory for Overlay<'_> {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let cur = paddr
                .checked_add(done as u64)
                .ok_or(ReadError::NotInDump { paddr })?;
            let in_page = cur.page_offset(PAGE_SIZE) as usize;
            let n = (PAGE_BYTES - in_page).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            match self.pages.get(&Pfn::containing(cur)) {
                Some(page) => out.copy_from_slice(&page[in_page..in_page + n]),
                None => self.dump.read(cur, out)?,
            }
            done += n;
        }
        Ok(())
    }

    fn ranges(&self) -> Vec<PhysRange> {
        let mut ranges = self.dump.ranges();
        ranges.extend(self.allocated.iter().map(|pfn| PhysRange {
            start: pfn.paddr().get(),
            end: pfn.paddr().get() + PAGE_SIZE,
        }));
        ranges.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<PhysRange> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(prev) if r.start <= prev.end => prev.end = prev.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two dump pages at 0x1000 and 0x2000; 0x3000 is a hole.
    struct TwoPages([[u8; PAGE_BYTES]; 2]);
    impl PhysicalMemory for TwoPages {
        fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
            for (i, b) in buf.iter_mut().enumerate() {
                let a = paddr.get() + i as u64;
                let page = match a >> 12 {
                    1 => &self.0[0],
                    2 => &self.0[1],
                    _ => {
                        return Err(ReadError::NotInDump {
                            paddr: PhysAddr::new(a),
                        });
                    }
                };
                *b = page[(a & 0xfff) as usize];
            }
            Ok(())
        }
        fn ranges(&self) -> Vec<PhysRange> {
            vec![PhysRange {
                start: 0x1000,
                end: 0x3000,
            }]
        }
    }

    fn dump() -> TwoPages {
        let mut p = [[0u8; PAGE_BYTES]; 2];
        p[0][0] = 0x11;
        p[1][0xff8] = 0x22;
        TwoPages(p)
    }

    #[test]
    fn copy_on_write_leaves_the_dump_alone() {
        let d = dump();
        let mut o = Overlay::new(&d);
        o.write_u64(PhysAddr::new(0x1008), 0xdead_beef).unwrap();
        let mut b = [0u8; 8];
        o.read(PhysAddr::new(0x1008), &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0xdead_beef);
        d.read(PhysAddr::new(0x1008), &mut b).unwrap();
        assert_eq!(u64::from_le_bytes(b), 0);
        assert_eq!(o.dirty_pages(), vec![Pfn(1)]);
        // Untouched bytes of the copied page still read as the dump's.
        let mut one = [0u8; 1];
        o.read(PhysAddr::new(0x1000), &mut one).unwrap();
        assert_eq!(one[0], 0x11);
    }

    #[test]
    fn write_across_pages_and_reads_across_pages() {
        let d = dump();
        let mut o = Overlay::new(&d);
        o.write(PhysAddr::new(0x1ffc), &[1, 2, 3, 4, 5, 6, 7, 8])
            .unwrap();
        let mut b = [0u8; 8];
        o.read(PhysAddr::new(0x1ffc), &mut b).unwrap();
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(o.dirty_pages(), vec![Pfn(1), Pfn(2)]);
    }

    #[test]
    fn cannot_fabricate_memory_and_failed_writes_change_nothing() {
        let d = dump();
        let mut o = Overlay::new(&d);
        assert_eq!(
            o.write_u64(PhysAddr::new(0x3000), 1),
            Err(OverlayError::NotInDump { paddr: 0x3000 })
        );
        // Spans the last dump page and the hole: all or nothing.
        assert!(o.write(PhysAddr::new(0x2ffc), &[9; 8]).is_err());
        assert!(o.dirty_pages().is_empty());
        assert!(matches!(
            o.write(PhysAddr::new(u64::MAX - 2), &[0; 8]),
            Err(OverlayError::AddressOverflow { .. })
        ));
    }

    #[test]
    fn same_bytes_write_keeps_page_clean() {
        let d = dump();
        let mut o = Overlay::new(&d);
        o.write(PhysAddr::new(0x1000), &[0x11]).unwrap();
        assert!(o.dirty_pages().is_empty());
        o.write(PhysAddr::new(0x1000), &[0x12]).unwrap();
        o.write(PhysAddr::new(0x1000), &[0x11]).unwrap();
        assert!(o.dirty_pages().is_empty());
    }

    #[test]
    fn alloc_page_is_above_the_dump_and_zeroed() {
        let d = dump();
        let mut o = Overlay::new(&d);
        let a = o.alloc_page().unwrap();
        let b = o.alloc_page().unwrap();
        assert_eq!(a, Pfn(3));
        assert_eq!(b, Pfn(4));
        let mut buf = [0xffu8; 16];
        o.read(a.paddr().wrapping_add(8), &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        o.write_u64(b.paddr(), 7).unwrap();
        assert_eq!(o.allocated_pages(), vec![a, b]);
        assert_eq!(
            o.ranges(),
            vec![PhysRange {
                start: 0x1000,
                end: 0x5000
            }]
        );
        // Still a hole in the dump itself.
        assert!(d.read(a.paddr(), &mut buf).is_err());
    }
}
