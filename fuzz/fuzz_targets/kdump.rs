//! kdump-compressed files (header, sub-header, bitmaps and their rank
//! table, page descriptors, page decompression: zlib/lzo/snappy/zstd) and
//! the flattened format's record index, on arbitrary bytes; then page reads
//! over the dump's ranges. The first byte picks how the input is opened:
//! whole (even), or cut into two parts opened as a split dump (odd: then a
//! u32 cut point follows).
//! Seeds: fixtures/formats/*.
#![no_main]

#[path = "bodies/mod.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::kdump::run(data));
