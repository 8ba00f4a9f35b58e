//! Physical memory of one kdump-compressed file (or one part of a split
//! dump), over any [`ByteSource`].

use std::sync::Mutex;

use super::super::notes::DumpNotes;
use super::super::{DumpError, PhysAddr, PhysRange, ReadError};
use super::bitmap::Bitmap;
use super::cache::{PAGE_SIZE, PageCache};
use super::header::*;
use super::lzo;
use super::open::{
    descriptors_in_file, index_pages, locate_bitmaps, max_mapnr, pfn_range, read_main_header,
    read_sub_header, warn_if_incomplete,
};
use super::source::ByteSource;
use super::sub_header::read_sub_header_notes;

/// Largest zstd window accepted for a 4 KiB page: 1 MiB (log 20).
const ZSTD_MAX_WINDOW_LOG: u32 = 20;

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

impl State {
    fn new() -> State {
        // A page needs no window above 4 KiB; a bigger one is refused rather
        // than allocated (the context fails only when out of memory).
        let zstd = zstd::bulk::Decompressor::new().ok().and_then(|mut d| {
            d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(
                ZSTD_MAX_WINDOW_LOG,
            ))
            .ok()
            .map(|_| d)
        });
        State {
            cache: PageCache::default(),
            zlib: flate2::Decompress::new(true),
            zstd,
            snappy: snap::raw::Decoder::new(),
            input: vec![0u8; PAGE_SIZE],
            page: Box::new([0u8; PAGE_SIZE]),
        }
    }
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
        let header = read_main_header(&*src, &path)?;
        let sub = read_sub_header(&*src, &path, &header, notes)?;
        let max_mapnr = max_mapnr(&header, &sub);
        let bitmaps = locate_bitmaps(&*src, &path, &header, max_mapnr)?;
        let range = pfn_range(&path, &header, &sub, max_mapnr)?;
        let incomplete = warn_if_incomplete(&header, &path, notes);
        let index = index_pages(&*src, &path, &bitmaps, max_mapnr, &range)?;
        let desc_in_file = descriptors_in_file(&path, src.len(), &index, incomplete, notes)?;
        read_sub_header_notes(&*src, &sub, header.header_version, notes);
        Ok(KdumpReader {
            src,
            header,
            sub,
            max_mapnr,
            start_pfn: range.start_pfn,
            end_pfn: range.end_pfn,
            split: range.split,
            incomplete,
            present: index.present,
            dumpable: index.dumpable,
            desc_offset: index.desc_offset,
            rank_base: index.rank_base,
            num_desc: index.num_desc,
            desc_in_file,
            state: Mutex::new(State::new()),
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
    /// RAM (first bitmap) that this file does not hold (second bitmap):
    /// what makedumpfile's `-d` filter excluded. False on any bitmap error.
    pub fn filtered_out(&self, pfn: u64) -> bool {
        self.covers(pfn)
            && self.present.test(&*self.src, pfn).unwrap_or(false)
            && !self.dumpable.test(&*self.src, pfn).unwrap_or(true)
    }

    fn descriptor(&self, pfn: u64, paddr: u64) -> Result<(PageDesc, u64), ReadError> {
        let io = |e: super::source::OutOfRange| ReadError::Corrupt {
            paddr: PhysAddr::new(paddr),
            reason: format!(
                "pfn {pfn:#x}: bitmap or descriptor read at file offset {:#x} runs past the end of the file",
                e.offset
            ),
        };
        if !self.covers(pfn) || !self.dumpable.test(&*self.src, pfn).map_err(io)? {
            return Err(ReadError::NotInDump {
                paddr: PhysAddr::new(paddr),
            });
        }
        let index = self.dumpable.rank(&*self.src, pfn).map_err(io)? - self.rank_base;
        let at = self.desc_offset + index * PAGE_DESC_SIZE;
        if index >= self.desc_in_file {
            // Only possible in an incomplete dump (checked on open).
            return Err(ReadError::NotInDump {
                paddr: PhysAddr::new(paddr),
            });
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
                paddr: PhysAddr::new(paddr),
                reason: format!(
                    "a read of {} bytes at offset {page_offset} crosses the page end",
                    dst.len()
                ),
            });
        };
        let mut state = self.state.lock().map_err(|_| ReadError::Corrupt {
            paddr: PhysAddr::new(paddr),
            reason: "page cache lock poisoned by an earlier panic".into(),
        })?;
        if let Some(page) = state.cache.get(pfn) {
            dst.copy_from_slice(&page[in_page]);
            return Ok(());
        }
        let (pd, desc_at) = self.descriptor(pfn, paddr)?;
        let corrupt = |what: String| ReadError::Corrupt {
            paddr: PhysAddr::new(paddr),
            reason: format!("pfn {pfn:#x} (page descriptor at file offset {desc_at:#x}): {what}"),
        };
        if self.incomplete && pd.offset == 0 && pd.size == 0 {
            // Descriptor never written: makedumpfile stopped before it.
            return Err(ReadError::NotInDump {
                paddr: PhysAddr::new(paddr),
            });
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
        let cur = paddr.checked_add(done as u64).ok_or(ReadError::NotInDump {
            paddr: PhysAddr::new(u64::MAX),
        })?;
        let pfn = cur / PAGE_SIZE as u64;
        let in_page = (cur % PAGE_SIZE as u64) as usize;
        let n = (PAGE_SIZE - in_page).min(buf.len() - done);
        f(pfn, in_page, &mut buf[done..done + n]).map_err(|e| match e {
            // Report the address the failing page piece starts at.
            ReadError::NotInDump { .. } => ReadError::NotInDump {
                paddr: PhysAddr::new(cur),
            },
            other => other,
        })?;
        done += n;
    }
    Ok(())
}
