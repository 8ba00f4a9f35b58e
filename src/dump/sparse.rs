//! Physical memory made of individually added 4 KiB pages: the memory of
//! unit tests, property tests and fuzz targets (page tables built by hand),
//! with the same "not in dump" semantics as a real dump.

use std::collections::BTreeMap;

use super::{PhysAddr, PhysRange, PhysicalMemory, ReadError};

const PAGE: u64 = 4096;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SparseMemory {
    pages: BTreeMap<u64, Box<[u8; PAGE as usize]>>,
}

impl SparseMemory {
    pub fn new() -> SparseMemory {
        SparseMemory::default()
    }

    /// Makes the page holding `pa` present (zeroed if new).
    pub fn add_page(&mut self, pa: u64) -> &mut [u8; PAGE as usize] {
        self.pages
            .entry(pa & !(PAGE - 1))
            .or_insert_with(|| Box::new([0; PAGE as usize]))
    }

    /// Writes bytes, adding the pages they touch.
    pub fn write(&mut self, pa: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let a = pa.wrapping_add(i as u64);
            self.add_page(a)[(a & (PAGE - 1)) as usize] = b;
        }
    }

    pub fn write_u64(&mut self, pa: u64, v: u64) {
        self.write(pa, &v.to_le_bytes());
    }

    /// Removes a page: reads of it become "not in dump".
    pub fn remove_page(&mut self, pa: u64) {
        self.pages.remove(&(pa & !(PAGE - 1)));
    }
}

impl PhysicalMemory for SparseMemory {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let paddr = paddr.get();
        let mut done = 0usize;
        while done < buf.len() {
            let a = paddr.checked_add(done as u64).ok_or(ReadError::NotInDump {
                paddr: PhysAddr::new(u64::MAX),
            })?;
            let page = self
                .pages
                .get(&(a & !(PAGE - 1)))
                .ok_or(ReadError::NotInDump {
                    paddr: PhysAddr::new(a),
                })?;
            let off = (a & (PAGE - 1)) as usize;
            let n = (PAGE as usize - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }

    fn ranges(&self) -> Vec<PhysRange> {
        let mut out: Vec<PhysRange> = Vec::new();
        for &start in self.pages.keys() {
            // The last page of the address space ends at 2^64, which a u64
            // cannot hold: its range ends at u64::MAX (one byte short)
            // rather than overflowing. Found by fuzz/page_walk_and_checker.
            let end = start.saturating_add(PAGE);
            match out.last_mut() {
                Some(r) if r.end == start => r.end = end,
                _ => out.push(PhysRange { start, end }),
            }
        }
        out
    }
}
