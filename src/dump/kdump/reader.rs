//! Physical memory of one kdump-compressed file (or one part of a split
//! dump), over any [`ByteSource`].

use std::sync::Mutex;

use super::super::notes::DumpNotes;
use super::super::{DumpError, PhysRange, ReadError};
use super::bitmap::Bitmap;
use super::cache::{PAGE_SIZE, PageCache};
use super::header::*;
use super::lzo;
use super::source::ByteSource;
use super::sub_header::{no_sub_header, read_sub_header_notes};

/// Largest zstd window accepted for a 4 KiB page: 1 MiB (log 20).
const ZSTD_MAX_WINDOW_LOG: u32 = 20;

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

/// Decoders reused across pages, and the cache, behind one lock.
struct State {
    cache: PageCache,
    zlib: flate2::Decompress,
    /// libzstd's decompression context, reused across pages.
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    snappy: snap::raw::Decoder,
    input: Vec<u8>,
    page: Box<[u8; PAGE_SIZE]>,
}

/// One kdump-compressed file, opened and indexed.
pub struct KdumpReader {
    src: Box<dyn ByteSource>,
    pub header: DiskDumpHeader,
    pub sub: SubHeader,
    /// Page frames the bitmaps describe.
    pub max_mapnr: u64,
    /// The pfn range this file holds pages for: all of them, or its part of
    /// a split dump.
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub split: bool,
    pub incomplete: bool,
    present: Bitmap,
    dumpable: Bitmap,
    desc_offset: u64,
    /// Rank of `start_pfn`: descriptors in this file start there.
    rank_base: u64,
    /// Descriptors this file holds.
    pub num_desc: u64,
    /// Descriptors that lie inside the file (fewer when an incomplete dump
    /// was cut short).
    desc_in_file: u64,
    state: Mutex<State>,
}

impl KdumpReader {
    /// Validates the headers, indexes the bitmap and collects the notes the
    /// sub-header points to. `warnings` receives non-fatal problems.
    pub fn open(src: Box<dyn ByteSource>, notes: &mut DumpNotes) -> Result<KdumpReader, DumpError> {
        let path = src.path().to_path_buf();
        let malformed = |offset: u64, reason: String| DumpError::Malformed {
            path: path.clone(),
            offset,
            reason,
        };
        let file_len = src.len();
        let mut hb = [0u8; HEADER_SIZE];
        src.read_at(0, &mut hb).map_err(|_| {
            malformed(
                0,
                format!(
                    "kdump header needs {HEADER_SIZE} bytes but the file has {file_len}: truncated"
                ),
            )
        })?;
        let header = DiskDumpHeader::parse(&hb);
        if &header.signature == DISKDUMP_SIGNATURE {
            return Err(DumpError::Unsupported {
                path,
                reason: "old diskdump (\"DISKDUMP\") dumps are not supported; only makedumpfile's \"KDUMP\" format".into(),
            });
        }
        if &header.signature != KDUMP_SIGNATURE {
            return Err(malformed(
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
                off::VERSION,
                format!("kdump header_version {version} is not one of 1..={MAX_HEADER_VERSION}"),
            ));
        }
        let bs = header.block_size;
        if bs <= 0 || (bs as u32).count_ones() != 1 {
            return Err(malformed(
                off::BLOCK_SIZE,
                format!("block_size {bs} is not a power of two"),
            ));
        }
        if bs as usize != PAGE_SIZE {
            return Err(DumpError::Unsupported {
                path,
                reason: format!(
                    "kdump block_size {bs} (the dumped machine's page size, at file offset {:#x}): only 4096-byte pages (x86-64) are supported",
                    off::BLOCK_SIZE
                ),
            });
        }
        let bs = bs as u64;
        let sub_blocks = header.sub_hdr_size;
        let sub = if sub_blocks == 0 {
            no_sub_header(&header, &path, notes)?
        } else {
            let need_sub = sub_header_len(version);
            if sub_blocks < 0 || (sub_blocks as u64) * bs < need_sub as u64 {
                return Err(malformed(
                    off::SUB_HDR_SIZE,
                    format!(
                        "sub_hdr_size {sub_blocks} blocks cannot hold the {need_sub}-byte version-{version} sub-header"
                    ),
                ));
            }
            let mut sb = [0u8; SUB_HEADER_SIZE];
            src.read_at(bs, &mut sb[..need_sub]).map_err(|_| {
                malformed(
                    bs,
                    format!("kdump sub-header ({need_sub} bytes at {bs:#x}) runs past the end of the file ({file_len:#x} bytes): truncated"),
                )
            })?;
            SubHeader::parse(&sb, version)
        };

        let max_mapnr = if version >= 6 && sub.max_mapnr_64 != 0 {
            sub.max_mapnr_64
        } else {
            u64::from(header.max_mapnr)
        };
        let bitmap_offset = (1 + sub_blocks as u64) * bs;
        let bitmap_len = u64::from(header.bitmap_blocks) * bs;
        if !src.contains(bitmap_offset, bitmap_len) {
            return Err(malformed(
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
        // would make the rank-table scan below read terabytes of holes (and
        // size its table for them).
        if bitmap_len > src.stored_len() {
            return Err(malformed(
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
                bs + if version >= 6 { 80 } else { 16 },
                format!(
                    "split pfn range {start_pfn:#x}..{end_pfn:#x} is not inside 0..{max_mapnr:#x}"
                ),
            ));
        }

        let incomplete = header.status & DUMP_DH_COMPRESSED_INCOMPLETE != 0;
        if incomplete {
            notes.warnings.push(format!(
                "{}: the dump is marked incomplete (makedumpfile ran out of space while writing it): pages it did not write read as not in the dump",
                path.display()
            ));
        }

        let bitmap_err = |e: super::source::OutOfRange| {
            malformed(
                e.offset,
                format!(
                    "bitmap read of {:#x} bytes runs past the end of the file",
                    e.len
                ),
            )
        };
        let present = Bitmap::build_unindexed(bitmap_offset, max_mapnr);
        let dumpable = Bitmap::build(&*src, bitmap_offset + half, max_mapnr).map_err(bitmap_err)?;
        let rank_base = dumpable.rank(&*src, start_pfn).map_err(bitmap_err)?;
        let num_desc = dumpable.rank(&*src, end_pfn).map_err(bitmap_err)? - rank_base;
        let desc_offset = bitmap_offset + bitmap_len;
        let table_end = num_desc
            .checked_mul(PAGE_DESC_SIZE)
            .and_then(|n| n.checked_add(desc_offset));
        let desc_in_file = match table_end {
            Some(end) if end <= file_len => num_desc,
            _ => {
                let fit = file_len.saturating_sub(desc_offset) / PAGE_DESC_SIZE;
                if !incomplete {
                    return Err(malformed(
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
                fit
            }
        };

        read_sub_header_notes(&*src, &sub, version, notes);

        // A page needs no window above 4 KiB; a bigger one is refused rather
        // than allocated (the context fails only when out of memory).
        let zstd = zstd::bulk::Decompressor::new().ok().and_then(|mut d| {
            d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(
                ZSTD_MAX_WINDOW_LOG,
            ))
            .ok()
            .map(|_| d)
        });
        Ok(KdumpReader {
            src,
            header,
            sub,
            max_mapnr,
            start_pfn,
            end_pfn,
            split,
            incomplete,
            present,
            dumpable,
            desc_offset,
            rank_base,
            num_desc,
            desc_in_file,
            state: Mutex::new(State {
                cache: PageCache::default(),
                zlib: flate2::Decompress::new(true),
                zstd,
                snappy: snap::raw::Decoder::new(),
                input: vec![0u8; PAGE_SIZE],
                page: Box::new([0u8; PAGE_SIZE]),
            }),
        })
    }

    pub(crate) fn source(&self) -> &dyn ByteSource {
        &*self.src
    }

    /// Compression named by the header's status.
    pub(crate) fn compression(&self) -> &'static str {
        compression_name(self.header.status)
    }

    /// Pages dumped in the whole dump (set bits of the second bitmap).
    pub fn dumpable_pages(&self) -> u64 {
        self.dumpable.count_ones()
    }

    /// (cache hits, cache misses) so far.
    pub fn cache_stats(&self) -> (u64, u64) {
        match self.state.lock() {
            Ok(s) => (s.cache.hits, s.cache.misses),
            Err(_) => (0, 0),
        }
    }

    /// Physical RAM ranges (the first bitmap's runs).
    pub(crate) fn ram_ranges(&self) -> Vec<PhysRange> {
        match self.present.runs(&*self.src) {
            Ok(runs) => runs
                .into_iter()
                .map(|(s, e)| PhysRange {
                    start: s.saturating_mul(PAGE_SIZE as u64),
                    end: e.saturating_mul(PAGE_SIZE as u64),
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether this file holds `pfn`'s range (a split part may not).
    pub(crate) fn covers(&self, pfn: u64) -> bool {
        (self.start_pfn..self.end_pfn).contains(&pfn)
    }

    /// The descriptor of a dumpable page, or why there is none.
    fn descriptor(&self, pfn: u64, paddr: u64) -> Result<(PageDesc, u64), ReadError> {
        let io = |e: super::source::OutOfRange| ReadError::Corrupt {
            paddr,
            reason: format!(
                "pfn {pfn:#x}: bitmap or descriptor read at file offset {:#x} runs past the end of the file",
                e.offset
            ),
        };
        if !self.covers(pfn) || !self.dumpable.test(&*self.src, pfn).map_err(io)? {
            return Err(ReadError::NotInDump { paddr });
        }
        let index = self.dumpable.rank(&*self.src, pfn).map_err(io)? - self.rank_base;
        let at = self.desc_offset + index * PAGE_DESC_SIZE;
        if index >= self.desc_in_file {
            // Only possible in an incomplete dump (checked on open).
            return Err(ReadError::NotInDump { paddr });
        }
        let mut b = [0u8; PAGE_DESC_SIZE as usize];
        self.src.read_at(at, &mut b).map_err(io)?;
        Ok((PageDesc::parse(&b), at))
    }

    /// Copies `dst.len()` bytes at `page_offset` of page `pfn`.
    pub(crate) fn read_in_page(
        &self,
        pfn: u64,
        page_offset: usize,
        dst: &mut [u8],
    ) -> Result<(), ReadError> {
        let paddr = pfn
            .saturating_mul(PAGE_SIZE as u64)
            .saturating_add(page_offset as u64);
        let Some(in_page) = page_offset
            .checked_add(dst.len())
            .filter(|&end| end <= PAGE_SIZE)
            .map(|end| page_offset..end)
        else {
            return Err(ReadError::Corrupt {
                paddr,
                reason: format!(
                    "a read of {} bytes at offset {page_offset} crosses the page end",
                    dst.len()
                ),
            });
        };
        let mut state = self.state.lock().map_err(|_| ReadError::Corrupt {
            paddr,
            reason: "page cache lock poisoned by an earlier panic".into(),
        })?;
        if let Some(page) = state.cache.get(pfn) {
            dst.copy_from_slice(&page[in_page]);
            return Ok(());
        }
        let (pd, desc_at) = self.descriptor(pfn, paddr)?;
        let corrupt = |what: String| ReadError::Corrupt {
            paddr,
            reason: format!("pfn {pfn:#x} (page descriptor at file offset {desc_at:#x}): {what}"),
        };
        if self.incomplete && pd.offset == 0 && pd.size == 0 {
            // Descriptor never written: makedumpfile stopped before it.
            return Err(ReadError::NotInDump { paddr });
        }
        let size = u64::from(pd.size);
        let kind = pd.flags & COMPRESSION_MASK;
        if kind == 0 && size != PAGE_SIZE as u64 {
            return Err(corrupt(format!(
                "uncompressed page data at file offset {:#x} is {size} bytes, not {PAGE_SIZE}",
                pd.offset
            )));
        }
        if kind != 0 && (size > PAGE_SIZE as u64 || size == 0) {
            return Err(corrupt(format!(
                "compressed page data at file offset {:#x} is {size} bytes (must be 1..={PAGE_SIZE})",
                pd.offset
            )));
        }
        if pd.offset < 0 || !self.src.contains(pd.offset as u64, size) {
            return Err(corrupt(format!(
                "page data ({size:#x} bytes at file offset {:#x}) lies outside the file ({:#x} bytes)",
                pd.offset,
                self.src.len()
            )));
        }
        let data_at = pd.offset as u64;
        if kind == 0 {
            return self
                .src
                .read_at(data_at + page_offset as u64, dst)
                .map_err(|e| corrupt(format!("read at file offset {:#x} failed", e.offset)));
        }
        let State {
            cache,
            zlib,
            zstd,
            snappy,
            input,
            page,
        } = &mut *state;
        let input = &mut input[..size as usize];
        self.src
            .read_at(data_at, input)
            .map_err(|e| corrupt(format!("read at file offset {:#x} failed", e.offset)))?;
        let out: &mut [u8] = &mut page[..];
        let decoded = match kind {
            DUMP_DH_COMPRESSED_ZLIB => {
                zlib.reset(true);
                match zlib.decompress(input, out, flate2::FlushDecompress::Finish) {
                    Ok(flate2::Status::StreamEnd) => Ok(zlib.total_out() as usize),
                    Ok(_) => Err(format!(
                        "zlib stream does not end within a page ({} bytes decoded from {} of {size})",
                        zlib.total_out(),
                        zlib.total_in()
                    )),
                    Err(e) => Err(format!("zlib: {e}")),
                }
            }
            DUMP_DH_COMPRESSED_LZO => lzo::decompress(input, out).map_err(|e| e.to_string()),
            DUMP_DH_COMPRESSED_SNAPPY => match snap::raw::decompress_len(input) {
                Ok(n) if n != PAGE_SIZE => Err(format!("snappy data says it decodes to {n} bytes")),
                Ok(_) => snappy
                    .decompress(input, out)
                    .map_err(|e| format!("snappy: {e}")),
                Err(e) => Err(format!("snappy: {e}")),
            },
            DUMP_DH_COMPRESSED_ZSTD => match zstd {
                Some(z) => z
                    .decompress_to_buffer(input, out)
                    .map_err(|e| format!("zstd: {e}")),
                None => Err("zstd: no decompression context".to_string()),
            },
            other => Err(format!(
                "page flags {other:#x} name more than one compression"
            )),
        };
        let what = match kind {
            DUMP_DH_COMPRESSED_ZLIB => "zlib",
            DUMP_DH_COMPRESSED_LZO => "lzo",
            DUMP_DH_COMPRESSED_SNAPPY => "snappy",
            DUMP_DH_COMPRESSED_ZSTD => "zstd",
            _ => "?",
        };
        match decoded {
            Ok(n) if n == PAGE_SIZE => {}
            Ok(n) => {
                return Err(corrupt(format!(
                    "{what} data at file offset {data_at:#x} ({size} bytes) decodes to {n} bytes, not {PAGE_SIZE}"
                )));
            }
            Err(e) => {
                return Err(corrupt(format!(
                    "{what} data at file offset {data_at:#x} ({size} bytes) does not decode: {e}"
                )));
            }
        }
        dst.copy_from_slice(&page[in_page]);
        cache.put(pfn, page);
        Ok(())
    }
}

/// Splits a physical read into per-page pieces: `f(pfn, offset in page,
/// destination)`. At most `buf.len() / 4096 + 2` calls.
pub(crate) fn for_each_page(
    paddr: u64,
    buf: &mut [u8],
    mut f: impl FnMut(u64, usize, &mut [u8]) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut done = 0usize;
    while done < buf.len() {
        let cur = paddr
            .checked_add(done as u64)
            .ok_or(ReadError::NotInDump { paddr: u64::MAX })?;
        let pfn = cur / PAGE_SIZE as u64;
        let in_page = (cur % PAGE_SIZE as u64) as usize;
        let n = (PAGE_SIZE - in_page).min(buf.len() - done);
        f(pfn, in_page, &mut buf[done..done + n]).map_err(|e| match e {
            // Report the address the failing page piece starts at.
            ReadError::NotInDump { .. } => ReadError::NotInDump { paddr: cur },
            other => other,
        })?;
        done += n;
    }
    Ok(())
}
