//! ELF vmcore open (program headers, PT_LOAD index, PT_NOTE notes,
//! VMCOREINFO) on arbitrary bytes, then physical reads over every range the
//! dump claims. Seeds: fixtures/*/vmcore.

use std::path::Path;

use pgsync_dump::dump::{self, PhysAddr, PhysicalMemoryExt};

/// Reads at most this many pages per input: enough to touch every segment
/// of a fixture, bounded so one input stays fast.
const MAX_PAGES: usize = 256;

pub fn run(data: &[u8]) {
    let Ok(d) = dump::open_bytes(Path::new("fuzz.vmcore"), data.to_vec()) else {
        return;
    };
    let _ = d
        .vmcoreinfo()
        .map(|i| (i.symbol("init_top_pgt"), i.number("phys_base")));
    let mem = d.memory();
    let mut page = [0u8; 4096];
    let mut budget = MAX_PAGES;
    for r in mem.ranges() {
        // First and last page of the range, a read across its end, and a
        // few pages in between.
        let probes = [
            r.start,
            r.end.saturating_sub(4096),
            r.end.saturating_sub(8),
            r.start.wrapping_add((r.end.wrapping_sub(r.start)) / 2),
        ];
        for pa in probes {
            if budget == 0 {
                return;
            }
            budget -= 1;
            let _ = mem.read(PhysAddr::new(pa), &mut page);
            let _ = mem.read_u64(PhysAddr::new(pa));
        }
    }
    let _ = mem.read(PhysAddr::new(u64::MAX - 3), &mut page[..8]);
}
