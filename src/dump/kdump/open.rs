//! The checks and indexing [`KdumpReader::open`](super::reader::KdumpReader::open)
//! does once per file, in order: the header, the sub-header, the bitmaps,
//! the pfn range of a split part, and the page descriptor table.

use std::path::Path;

use super::super::DumpError;
use super::super::notes::DumpNotes;
use super::bitmap::Bitmap;
use super::cache::PAGE_SIZE;
use super::header::*;
use super::source::{ByteSource, OutOfRange};
use super::sub_header::no_sub_header;

/// Sub-header bytes each header_version defines.
fn sub_header_len(version: i32) -> usize {
    match version {
        ..=1 => 12,
        2 => 32,
        3 => 48,
        4 => 64,
        5 => 80,
        _ => SUB_HEADER_SIZE,
    }
}

fn malformed(path: &Path, offset: u64, reason: String) -> DumpError {
    DumpError::Malformed {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Reads the main header and checks what every later step relies on: the
/// "KDUMP   " signature, a known header_version and 4 KiB blocks.
pub(super) fn read_main_header(
    src: &dyn ByteSource,
    path: &Path,
) -> Result<DiskDumpHeader, DumpError> {
    let file_len = src.len();
    let mut hb = [0u8; HEADER_SIZE];
    src.read_at(0, &mut hb).map_err(|_| {
        malformed(
            path,
            0,
            format!(
                "kdump header needs {HEADER_SIZE} bytes but the file has {file_len}: truncated"
            ),
        )
    })?;
    let header = DiskDumpHeader::parse(&hb);
    if &header.signature == DISKDUMP_SIGNATURE {
        return Err(DumpError::Unsupported {
            path: path.to_path_buf(),
            reason: "old diskdump (\"DISKDUMP\") dumps are not supported; only makedumpfile's \"KDUMP\" format".into(),
        });
    }
    if &header.signature != KDUMP_SIGNATURE {
        return Err(malformed(
            path,
            0,
            format!(
                "bad kdump signature {:02x?} (expected \"KDUMP   \")",
                header.signature
            ),
        ));
    }
    let version = header.header_version;
    if !(1..=MAX_HEADER_VERSION).contains(&version) {
        return Err(malformed(
            path,
            off::VERSION,
            format!("kdump header_version {version} is not one of 1..={MAX_HEADER_VERSION}"),
        ));
    }
    let bs = header.block_size;
    if bs <= 0 || (bs as u32).count_ones() != 1 {
        return Err(malformed(
            path,
            off::BLOCK_SIZE,
            format!("block_size {bs} is not a power of two"),
        ));
    }
    if bs as usize != PAGE_SIZE {
        return Err(DumpError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "kdump block_size {bs} (the dumped machine's page size, at file offset {:#x}): only 4096-byte pages (x86-64) are supported",
                off::BLOCK_SIZE
            ),
        });
    }
    Ok(header)
}

/// The sub-header in the blocks after the header, or what stands in for it
/// when `sub_hdr_size` is 0. `header` has passed [`read_main_header`].
pub(super) fn read_sub_header(
    src: &dyn ByteSource,
    path: &Path,
    header: &DiskDumpHeader,
    notes: &mut DumpNotes,
) -> Result<SubHeader, DumpError> {
    let version = header.header_version;
    let bs = header.block_size as u64;
    let sub_blocks = header.sub_hdr_size;
    if sub_blocks == 0 {
        return no_sub_header(header, path, notes);
    }
    let file_len = src.len();
    let need_sub = sub_header_len(version);
    if sub_blocks < 0 || (sub_blocks as u64) * bs < need_sub as u64 {
        return Err(malformed(
            path,
            off::SUB_HDR_SIZE,
            format!(
                "sub_hdr_size {sub_blocks} blocks cannot hold the {need_sub}-byte version-{version} sub-header"
            ),
        ));
    }
    let mut sb = [0u8; SUB_HEADER_SIZE];
    src.read_at(bs, &mut sb[..need_sub]).map_err(|_| {
        malformed(
            path,
            bs,
            format!("kdump sub-header ({need_sub} bytes at {bs:#x}) runs past the end of the file ({file_len:#x} bytes): truncated"),
        )
    })?;
    Ok(SubHeader::parse(&sb, version))
}

/// Page frames the bitmaps describe: the 64-bit count of version 6 when
/// set, else the header's 32-bit one.
pub(super) fn max_mapnr(header: &DiskDumpHeader, sub: &SubHeader) -> u64 {
    if header.header_version >= 6 && sub.max_mapnr_64 != 0 {
        sub.max_mapnr_64
    } else {
        u64::from(header.max_mapnr)
    }
}

/// Where the two bitmaps lie: `len` bytes at `offset`, the "present" one in
/// the first half and the "dumpable" one in the second.
pub(super) struct BitmapArea {
    pub(super) offset: u64,
    pub(super) len: u64,
    pub(super) half: u64,
}

/// Locates the bitmaps and checks that they are in the file and large
/// enough for `max_mapnr` frames.
pub(super) fn locate_bitmaps(
    src: &dyn ByteSource,
    path: &Path,
    header: &DiskDumpHeader,
    max_mapnr: u64,
) -> Result<BitmapArea, DumpError> {
    let version = header.header_version;
    let bs = header.block_size as u64;
    let sub_blocks = header.sub_hdr_size;
    let file_len = src.len();
    let bitmap_offset = (1 + sub_blocks as u64) * bs;
    let bitmap_len = u64::from(header.bitmap_blocks) * bs;
    if !src.contains(bitmap_offset, bitmap_len) {
        return Err(malformed(
            path,
            bitmap_offset,
            format!(
                "bitmaps ({} blocks at {bitmap_offset:#x}) run past the end of the file ({file_len:#x} bytes): truncated",
                header.bitmap_blocks
            ),
        ));
    }
    // A flattened stream can place its records far apart, so "inside
    // the logical file" does not bound the bitmaps: they must also fit in
    // the data the file really holds, or a few records at huge offsets
    // would make the rank-table scan read terabytes of holes (and size its
    // table for them).
    if bitmap_len > src.stored_len() {
        return Err(malformed(
            path,
            bitmap_offset,
            format!(
                "bitmaps ({bitmap_len:#x} bytes) are larger than all the data the file holds ({:#x} bytes): corrupt bitmap_blocks {}",
                src.stored_len(),
                header.bitmap_blocks
            ),
        ));
    }
    let half = bitmap_len / 2;
    if max_mapnr.div_ceil(8) > half {
        return Err(malformed(
            path,
            if version >= 6 && sub_blocks > 0 {
                bs + 96
            } else {
                off::MAX_MAPNR
            },
            format!(
                "max_mapnr {max_mapnr:#x} needs {:#x} bytes per bitmap but bitmap_blocks {} gives {half:#x}",
                max_mapnr.div_ceil(8),
                header.bitmap_blocks
            ),
        ));
    }
    Ok(BitmapArea {
        offset: bitmap_offset,
        len: bitmap_len,
        half,
    })
}

/// The pfn range a file holds pages for: all of `0..max_mapnr`, or its part
/// of a split dump.
pub(super) struct PfnRange {
    pub(super) start_pfn: u64,
    pub(super) end_pfn: u64,
    pub(super) split: bool,
}

/// Reads the split range from the sub-header and checks it lies inside the
/// bitmaps.
pub(super) fn pfn_range(
    path: &Path,
    header: &DiskDumpHeader,
    sub: &SubHeader,
    max_mapnr: u64,
) -> Result<PfnRange, DumpError> {
    let version = header.header_version;
    let bs = header.block_size as u64;
    let split = version >= 2 && sub.split != 0;
    let (start_pfn, end_pfn) = if split {
        if version >= 6 {
            (sub.start_pfn_64, sub.end_pfn_64)
        } else {
            (sub.start_pfn, sub.end_pfn)
        }
    } else {
        (0, max_mapnr)
    };
    if start_pfn > end_pfn || end_pfn > max_mapnr {
        return Err(malformed(
            path,
            bs + if version >= 6 { 80 } else { 16 },
            format!("split pfn range {start_pfn:#x}..{end_pfn:#x} is not inside 0..{max_mapnr:#x}"),
        ));
    }
    Ok(PfnRange {
        start_pfn,
        end_pfn,
        split,
    })
}

/// Whether makedumpfile marked the dump incomplete; says so in `notes`.
pub(super) fn warn_if_incomplete(
    header: &DiskDumpHeader,
    path: &Path,
    notes: &mut DumpNotes,
) -> bool {
    let incomplete = header.status & DUMP_DH_COMPRESSED_INCOMPLETE != 0;
    if incomplete {
        notes.warnings.push(format!(
            "{}: the dump is marked incomplete (makedumpfile ran out of space while writing it): pages it did not write read as not in the dump",
            path.display()
        ));
    }
    incomplete
}

/// The bitmaps, indexed, and the page descriptors of this file's pfn range.
pub(super) struct PageIndex {
    pub(super) present: Bitmap,
    pub(super) dumpable: Bitmap,
    /// Rank of `start_pfn`: descriptors in this file start there.
    pub(super) rank_base: u64,
    /// Descriptors this file holds.
    pub(super) num_desc: u64,
    pub(super) desc_offset: u64,
}

/// Indexes the bitmaps and counts the page descriptors of `range`, which
/// follow the bitmaps.
pub(super) fn index_pages(
    src: &dyn ByteSource,
    path: &Path,
    bitmaps: &BitmapArea,
    max_mapnr: u64,
    range: &PfnRange,
) -> Result<PageIndex, DumpError> {
    let bitmap_err = |e: OutOfRange| {
        malformed(
            path,
            e.offset,
            format!(
                "bitmap read of {:#x} bytes runs past the end of the file",
                e.len
            ),
        )
    };
    let present = Bitmap::build_unindexed(bitmaps.offset, max_mapnr);
    let dumpable =
        Bitmap::build(src, bitmaps.offset + bitmaps.half, max_mapnr).map_err(bitmap_err)?;
    let rank_base = dumpable.rank(src, range.start_pfn).map_err(bitmap_err)?;
    let num_desc = dumpable.rank(src, range.end_pfn).map_err(bitmap_err)? - rank_base;
    Ok(PageIndex {
        present,
        dumpable,
        rank_base,
        num_desc,
        desc_offset: bitmaps.offset + bitmaps.len,
    })
}

/// Descriptors of `index` that lie inside the file: all of them, or, in a
/// dump marked incomplete, those before the end of the file (others are an
/// error: the file was truncated).
pub(super) fn descriptors_in_file(
    path: &Path,
    file_len: u64,
    index: &PageIndex,
    incomplete: bool,
    notes: &mut DumpNotes,
) -> Result<u64, DumpError> {
    let (num_desc, desc_offset) = (index.num_desc, index.desc_offset);
    let table_end = num_desc
        .checked_mul(PAGE_DESC_SIZE)
        .and_then(|n| n.checked_add(desc_offset));
    match table_end {
        Some(end) if end <= file_len => Ok(num_desc),
        _ => {
            let fit = file_len.saturating_sub(desc_offset) / PAGE_DESC_SIZE;
            if !incomplete {
                return Err(malformed(
                    path,
                    desc_offset,
                    format!(
                        "page descriptor table ({num_desc} entries of {PAGE_DESC_SIZE} bytes at {desc_offset:#x}) runs past the end of the file ({file_len:#x} bytes): truncated"
                    ),
                ));
            }
            notes.warnings.push(format!(
                "{}: only {fit} of {num_desc} page descriptors are in the file",
                path.display()
            ));
            Ok(fit)
        }
    }
}
