//! A physical-memory adapter that remembers which pages were read: what a
//! minimal reproduction (`extract`) must keep.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::{PhysAddr, PhysRange, PhysicalMemory, ReadError};

const PAGE_SHIFT: u32 = 12;

pub(crate) struct RecordingMemory<'m> {
    inner: &'m dyn PhysicalMemory,
    pfns: Mutex<BTreeSet<u64>>,
}

impl<'m> RecordingMemory<'m> {
    pub(crate) fn new(inner: &'m dyn PhysicalMemory) -> RecordingMemory<'m> {
        RecordingMemory {
            inner,
            pfns: Mutex::new(BTreeSet::new()),
        }
    }

    /// Page frame numbers of every page a successful read touched.
    pub(crate) fn pages_read(&self) -> BTreeSet<u64> {
        self.pfns.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl PhysicalMemory for RecordingMemory<'_> {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        self.inner.read(paddr, buf)?;
        let paddr = paddr.get();
        if let (Ok(mut pfns), false) = (self.pfns.lock(), buf.is_empty()) {
            let last = paddr.saturating_add(buf.len() as u64 - 1);
            for pfn in (paddr >> PAGE_SHIFT)..=(last >> PAGE_SHIFT) {
                pfns.insert(pfn);
            }
        }
        Ok(())
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.inner.ranges()
    }

    fn will_need(&self, paddr: PhysAddr, len: u64) {
        self.inner.will_need(paddr, len)
    }

    fn left_out_by_filter(&self, paddr: u64) -> bool {
        self.inner.left_out_by_filter(paddr)
    }
}
