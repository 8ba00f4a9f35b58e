//! kdump-compressed files (header, sub-header, bitmaps and their rank
//! table, page descriptors, page decompression: zlib/lzo/snappy/zstd) and
//! the flattened format's record index, on arbitrary bytes; then page reads
//! over the dump's ranges. The first byte picks how the input is opened:
//! whole (even), or cut into two parts opened as a split dump (odd: then a
//! u32 cut point follows).
//! Seeds: fixtures/formats/*.

use pgsync_dump::dump::{self, DumpFile, PhysAddr};

const MAX_PAGES: usize = 256;

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let opened = if mode & 1 == 0 {
        DumpFile::from_bytes("fuzz.kdump", rest.to_vec()).and_then(dump::kdump::open)
    } else {
        // Two parts of a split dump: a little-endian u32 cut point, then
        // the bytes of both parts.
        let Some((cut, rest)) = rest.split_first_chunk::<4>() else {
            return;
        };
        let cut = (u32::from_le_bytes(*cut) as usize).min(rest.len());
        let (a, b) = rest.split_at(cut);
        match (
            DumpFile::from_bytes("fuzz.1", a.to_vec()),
            DumpFile::from_bytes("fuzz.2", b.to_vec()),
        ) {
            (Ok(a), Ok(b)) => dump::kdump::open_split(vec![a, b]),
            _ => return,
        }
    };
    let Ok(d) = opened else {
        return;
    };
    let mem = d.memory();
    let mut page = [0u8; 4096];
    let mut budget = MAX_PAGES;
    for r in mem.ranges() {
        let mut pa = r.start;
        // Every page of small ranges (the fixtures), a sample of big ones.
        while pa < r.end && budget > 0 {
            budget -= 1;
            let _ = mem.read(PhysAddr::new(pa), &mut page);
            // An unaligned read spanning two pages.
            let _ = mem.read(PhysAddr::new(pa.wrapping_add(4090)), &mut page[..12]);
            pa = pa.saturating_add(4096 * (1 + (r.end - r.start) / (4096 * 64)));
        }
    }
    // Reads outside the ranges: "not in dump", never a panic.
    let _ = mem.read(PhysAddr::new(0), &mut page);
    let _ = mem.read(PhysAddr::new(u64::MAX - 4095), &mut page);
}
