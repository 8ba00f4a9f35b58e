//! A small kdump-compressed writer: tests, fixtures and benchmarks use it to
//! produce dumps in every compression (Debian's makedumpfile writes only
//! zlib, lzo and none), split parts and incomplete dumps. It lays files out
//! as makedumpfile 1.7 does (header_version 6, notes right after the
//! sub-header, block-aligned bitmaps, descriptors, then data).

use std::io::Write;

use crate::dump::kdump::PAGE_SIZE;
use crate::dump::kdump::header::*;
use crate::dump::kdump::source::le_u32;

/// An LZO1X compressor supplied by the caller (this crate only decodes LZO).
pub(crate) type LzoCompressor = fn(&[u8]) -> Option<Vec<u8>>;

/// A zstd compressor supplied by the caller: the crate decodes zstd with
/// libzstd, while fixtures pin their bytes to one encoder (the fixture
/// builder's, `pgsync_synth::zstd_page`), which the shipped crate does not carry.
pub type ZstdCompressor = fn(&[u8]) -> Option<Vec<u8>>;

#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Compression {
    None,
    Zlib,
    Lzo(LzoCompressor),
    Snappy,
    Zstd(ZstdCompressor),
}

impl Compression {
    pub fn flag(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Zlib => DUMP_DH_COMPRESSED_ZLIB,
            Compression::Lzo(_) => DUMP_DH_COMPRESSED_LZO,
            Compression::Snappy => DUMP_DH_COMPRESSED_SNAPPY,
            Compression::Zstd(_) => DUMP_DH_COMPRESSED_ZSTD,
        }
    }

    /// The compressed page, or `None` to store it raw (when compression
    /// fails or does not shrink it, as makedumpfile does).
    pub(crate) fn compress(self, page: &[u8]) -> Option<Vec<u8>> {
        let c = match self {
            Compression::None => return None,
            Compression::Zlib => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(page).ok()?;
                e.finish().ok()?
            }
            Compression::Lzo(f) => f(page)?,
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(page).ok()?,
            Compression::Zstd(f) => f(page)?,
        };
        (c.len() < page.len()).then_some(c)
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct KdumpSpec {
    pub compression: Compression,
    /// Page frames the bitmaps describe.
    pub max_mapnr: u64,
    /// RAM (first bitmap) as pfn ranges `[start, end)`.
    pub ram: Vec<(u64, u64)>,
    /// Raw ELF notes (PRSTATUS, VMCOREINFO, ...) for the sub-header area.
    pub notes: Vec<u8>,
    pub release: String,
    pub machine: String,
    pub nodename: String,
    pub timestamp: (i64, i64),
    pub phys_base: u64,
    pub dump_level: i32,
    pub nr_cpus: i32,
    /// This part's pfn range of a split dump.
    pub split: Option<(u64, u64)>,
    pub incomplete: bool,
    /// Zero pages share one stored zero page (makedumpfile `-d 1`).
    pub share_zero_page: bool,
}

impl Default for KdumpSpec {
    fn default() -> Self {
        KdumpSpec {
            compression: Compression::Zlib,
            max_mapnr: 0,
            ram: Vec::new(),
            notes: Vec::new(),
            release: "6.1.0-pgsync".into(),
            machine: "x86_64".into(),
            nodename: "synthetic".into(),
            timestamp: (1_700_000_000, 0),
            phys_base: 0,
            dump_level: 0,
            nr_cpus: 1,
            split: None,
            incomplete: false,
            share_zero_page: false,
        }
    }
}

/// Where the writer put things (tests corrupt them on purpose).
#[derive(Debug, Clone, Default)]
pub struct KdumpLayout {
    pub bitmap_offset: u64,
    pub bitmap_len: u64,
    pub desc_offset: u64,
    pub data_offset: u64,
    /// `(pfn, file offset of its page_desc)` for every page written.
    pub descs: Vec<(u64, u64)>,
}

/// Finds the VMCOREINFO descriptor in raw notes: (offset, size).
fn find_vmcoreinfo(notes: &[u8]) -> Option<(usize, usize)> {
    let mut pos = 0usize;
    while pos + 12 <= notes.len() {
        let u = |o: usize| le_u32(notes, o) as usize;
        let (namesz, descsz) = (u(pos), u(pos + 4));
        let name_at = pos + 12;
        let desc_at = name_at + namesz.next_multiple_of(4);
        let name = notes.get(name_at..name_at + namesz.saturating_sub(1))?;
        if name == b"VMCOREINFO" {
            return Some((desc_at, descsz));
        }
        pos = desc_at + descsz.next_multiple_of(4);
    }
    None
}

/// Writes a kdump-compressed file. `page(pfn)` returns the contents of a
/// dumpable page, `None` for an excluded one; it is asked only for pfns
/// inside `spec.ram`.
pub fn write_kdump(
    spec: &KdumpSpec,
    page: &dyn Fn(u64) -> Option<Vec<u8>>,
) -> (Vec<u8>, KdumpLayout) {
    let bs = PAGE_SIZE as u64;
    let max_mapnr = spec.max_mapnr;

    // Bitmaps over all pfns; pages gathered for this file's range.
    let half = max_mapnr.div_ceil(8).div_ceil(bs) * bs;
    let mut bm1 = vec![0u8; half as usize];
    let mut bm2 = vec![0u8; half as usize];
    let (lo, hi) = spec.split.unwrap_or((0, max_mapnr));
    let mut pages: Vec<(u64, Vec<u8>)> = Vec::new();
    for &(s, e) in &spec.ram {
        for pfn in s..e.min(max_mapnr) {
            bm1[(pfn / 8) as usize] |= 1 << (pfn % 8);
            if let Some(p) = page(pfn) {
                bm2[(pfn / 8) as usize] |= 1 << (pfn % 8);
                if (lo..hi).contains(&pfn) {
                    pages.push((pfn, p));
                }
            }
        }
    }
    pages.sort_by_key(|(pfn, _)| *pfn);

    let notes_len = spec.notes.len() as u64;
    let sub_hdr_blocks = (SUB_HEADER_SIZE as u64 + notes_len).div_ceil(bs);
    let bitmap_offset = (1 + sub_hdr_blocks) * bs;
    let bitmap_len = 2 * half;
    let desc_offset = bitmap_offset + bitmap_len;
    let data_offset = desc_offset + pages.len() as u64 * PAGE_DESC_SIZE;

    let mut h = DiskDumpHeader {
        header_version: 6,
        timestamp_sec: spec.timestamp.0,
        timestamp_usec: spec.timestamp.1,
        status: spec.compression.flag()
            | if spec.incomplete {
                DUMP_DH_COMPRESSED_INCOMPLETE
            } else {
                0
            },
        block_size: bs as i32,
        sub_hdr_size: sub_hdr_blocks as i32,
        bitmap_blocks: (bitmap_len / bs) as u32,
        max_mapnr: max_mapnr.min(u64::from(u32::MAX)) as u32,
        nr_cpus: spec.nr_cpus,
        ..DiskDumpHeader::default()
    };
    h.set_uts(0, "Linux");
    h.set_uts(1, &spec.nodename);
    h.set_uts(2, &spec.release);
    h.set_uts(3, "#1 SMP PREEMPT_DYNAMIC");
    h.set_uts(4, &spec.machine);
    h.set_uts(5, "(none)");
    let offset_note = bs + SUB_HEADER_SIZE as u64;
    let (offset_vmcoreinfo, size_vmcoreinfo) = match find_vmcoreinfo(&spec.notes) {
        Some((o, n)) => (offset_note + o as u64, n as u64),
        None => (0, 0),
    };
    let (split, start, end) = match spec.split {
        Some((s, e)) => (1, s, e),
        None => (0, 0, 0),
    };
    let sub = SubHeader {
        phys_base: spec.phys_base,
        dump_level: spec.dump_level,
        split,
        start_pfn: start.min(u64::from(u32::MAX)),
        end_pfn: end.min(u64::from(u32::MAX)),
        offset_vmcoreinfo: offset_vmcoreinfo as i64,
        size_vmcoreinfo,
        offset_note: if notes_len > 0 { offset_note as i64 } else { 0 },
        size_note: notes_len,
        offset_eraseinfo: 0,
        size_eraseinfo: 0,
        start_pfn_64: start,
        end_pfn_64: end,
        max_mapnr_64: max_mapnr,
    };

    let mut out = vec![0u8; data_offset as usize];
    out[..HEADER_SIZE].copy_from_slice(&h.encode());
    let s = bs as usize;
    out[s..s + SUB_HEADER_SIZE].copy_from_slice(&sub.encode());
    out[offset_note as usize..offset_note as usize + spec.notes.len()].copy_from_slice(&spec.notes);
    let b = bitmap_offset as usize;
    out[b..b + half as usize].copy_from_slice(&bm1);
    out[b + half as usize..b + 2 * half as usize].copy_from_slice(&bm2);

    let mut layout = KdumpLayout {
        bitmap_offset,
        bitmap_len,
        desc_offset,
        data_offset,
        descs: Vec::with_capacity(pages.len()),
    };
    let zero_desc = if spec.share_zero_page {
        let d = PageDesc {
            offset: out.len() as i64,
            size: bs as u32,
            flags: 0,
            page_flags: 0,
        };
        out.extend_from_slice(&vec![0u8; s]);
        Some(d)
    } else {
        None
    };
    for (i, (pfn, data)) in pages.iter().enumerate() {
        let mut data = data.clone();
        data.resize(s, 0);
        let desc = match zero_desc {
            Some(z) if data.iter().all(|&x| x == 0) => z,
            _ => {
                let (bytes, flags) = match spec.compression.compress(&data) {
                    Some(c) => (c, spec.compression.flag()),
                    None => (data, 0),
                };
                let d = PageDesc {
                    offset: out.len() as i64,
                    size: bytes.len() as u32,
                    flags,
                    page_flags: 0,
                };
                out.extend_from_slice(&bytes);
                d
            }
        };
        let at = desc_offset as usize + i * PAGE_DESC_SIZE as usize;
        out[at..at + PAGE_DESC_SIZE as usize].copy_from_slice(&desc.encode());
        layout.descs.push((*pfn, at as u64));
    }
    (out, layout)
}
