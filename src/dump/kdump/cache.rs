//! A small LRU cache of decompressed pages (page-table walks and structure
//! reads hit the same pages over and over), plus the reusable decoder state
//! the reader needs, kept together behind one lock.

use std::collections::HashMap;

pub const PAGE_SIZE: usize = 4096;
/// Decompressed pages kept: 128 x 4 KiB = 512 KiB per open dump file.
pub const CACHE_PAGES: usize = 128;

struct Slot {
    pfn: u64,
    used: u64,
    data: Box<[u8; PAGE_SIZE]>,
}

#[derive(Default)]
pub(crate) struct PageCache {
    slots: Vec<Slot>,
    index: HashMap<u64, usize>,
    tick: u64,
    pub hits: u64,
    pub misses: u64,
}

impl PageCache {
    /// The cached copy of `pfn`, marked as just used.
    pub(crate) fn get(&mut self, pfn: u64) -> Option<&[u8; PAGE_SIZE]> {
        let i = *self.index.get(&pfn)?;
        self.tick += 1;
        let slot = self.slots.get_mut(i)?;
        slot.used = self.tick;
        self.hits += 1;
        Some(&slot.data)
    }

    /// Stores `pfn`, evicting the least recently used page when full.
    pub(crate) fn put(&mut self, pfn: u64, data: &[u8; PAGE_SIZE]) {
        self.misses += 1;
        self.tick += 1;
        if let Some(&i) = self.index.get(&pfn) {
            if let Some(s) = self.slots.get_mut(i) {
                s.data.copy_from_slice(data);
                s.used = self.tick;
            }
            return;
        }
        if self.slots.len() < CACHE_PAGES {
            self.index.insert(pfn, self.slots.len());
            self.slots.push(Slot {
                pfn,
                used: self.tick,
                data: Box::new(*data),
            });
            return;
        }
        let victim = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| s.used)
            .map(|(i, _)| i);
        if let Some(i) = victim {
            let s = &mut self.slots[i];
            self.index.remove(&s.pfn);
            s.pfn = pfn;
            s.used = self.tick;
            s.data.copy_from_slice(data);
            self.index.insert(pfn, i);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut c = PageCache::default();
        let page = |v: u8| [v; PAGE_SIZE];
        for pfn in 0..CACHE_PAGES as u64 {
            c.put(pfn, &page(pfn as u8));
        }
        // Touch page 0 so that page 1 is the oldest.
        assert_eq!(c.get(0).map(|p| p[0]), Some(0));
        c.put(1000, &page(7));
        assert!(c.get(1).is_none());
        assert_eq!(c.get(0).map(|p| p[0]), Some(0));
        assert_eq!(c.get(1000).map(|p| p[5]), Some(7));
        assert_eq!(c.len(), CACHE_PAGES);
    }
}
