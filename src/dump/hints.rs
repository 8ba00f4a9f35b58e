//! Read-ahead hints over physical memory: many scattered reads known in
//! advance, asked for together.

use super::{PhysAddr, PhysicalMemory};

/// Hints `mem` that the 4 KiB pages holding `addrs` will be read next, as
/// few ranges as possible (adjacent pages merged).
pub(crate) fn will_need_pages(mem: &dyn PhysicalMemory, addrs: impl Iterator<Item = u64>) {
    const PAGE: u64 = 4096;
    let mut pages: Vec<u64> = addrs.map(|a| a & !(PAGE - 1)).collect();
    pages.sort_unstable();
    pages.dedup();
    let mut run: Option<(u64, u64)> = None;
    for p in pages {
        run = match run {
            Some((start, end)) if end == p => Some((start, p.saturating_add(PAGE))),
            Some((start, end)) => {
                mem.will_need(PhysAddr::new(start), end - start);
                Some((p, p.saturating_add(PAGE)))
            }
            None => Some((p, p.saturating_add(PAGE))),
        };
    }
    if let Some((start, end)) = run {
        mem.will_need(PhysAddr::new(start), end - start);
    }
}
