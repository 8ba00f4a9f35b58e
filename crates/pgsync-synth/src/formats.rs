//! The machine's memory as the other dump formats people have:
//! kdump-compressed (makedumpfile's diskdump format, as written by
//! `pgsync_dump::write::kdump`) with each page compression, a `-d 31`-style
//! filtered dump, and the flattened stream of `makedumpfile -F`.
//!
//! The bitmaps describe pfns `0..max_mapnr`, where `max_mapnr` is the
//! highest page the machine uses rounded up to 32768 pages (one 4 KiB
//! bitmap block), not all of RAM: like the ELF's PT_LOADs, pages above are
//! simply absent, and the fixtures stay small.

use serde::{Deserialize, Serialize};

use pgsync_dump::write::flatten::flatten;
use pgsync_dump::write::kdump::{Compression, KdumpSpec, write_kdump};

use super::kernel::Machine;
use super::memory::PAGE;
use super::plan::{NoteStyle, Plan};

/// One extra dump file of a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExtraFormat {
    /// kdump-compressed, zlib pages, nothing filtered (`makedumpfile -c -d 0`).
    Zlib,
    /// lzo pages (`-l`).
    Lzo,
    /// snappy pages (`-p`).
    Snappy,
    /// zstd pages (`-z`).
    Zstd,
    /// zlib, filtered like `-d 31`: zero pages and user pages left out.
    ZlibD31,
    /// The flattened stream of `makedumpfile -F -l -d 31` (what goes over
    /// ssh), its header records rewritten at the end.
    LzoD31Flat,
}

impl ExtraFormat {
    pub fn all() -> [ExtraFormat; 6] {
        use ExtraFormat::*;
        [Zlib, Lzo, Snappy, Zstd, ZlibD31, LzoD31Flat]
    }

    /// The file name in the fixture directory.
    pub fn file_name(self) -> &'static str {
        match self {
            ExtraFormat::Zlib => "vmcore.zlib",
            ExtraFormat::Lzo => "vmcore.lzo",
            ExtraFormat::Snappy => "vmcore.snappy",
            ExtraFormat::Zstd => "vmcore.zstd",
            ExtraFormat::ZlibD31 => "vmcore.zlib-d31",
            ExtraFormat::LzoD31Flat => "vmcore.lzo-d31.flat",
        }
    }

    /// What the JSON report's `dump` says about the file.
    pub fn report(self) -> (&'static str, &'static str) {
        match self {
            ExtraFormat::Zlib | ExtraFormat::ZlibD31 => ("kdump", "zlib"),
            ExtraFormat::Lzo => ("kdump", "lzo"),
            ExtraFormat::Snappy => ("kdump", "snappy"),
            ExtraFormat::Zstd => ("kdump", "zstd"),
            ExtraFormat::LzoD31Flat => ("kdump-flattened", "lzo"),
        }
    }

    fn filtered(self) -> bool {
        matches!(self, ExtraFormat::ZlibD31 | ExtraFormat::LzoD31Flat)
    }
}

fn lzo(page: &[u8]) -> Option<Vec<u8>> {
    Some(super::lzo::compress(page))
}

/// A page compressed as the fixtures' zstd pages are (ruzstd, fastest
/// level): the compressor `Compression::Zstd` takes. The shipped crate only
/// decodes zstd, so the encoder lives here.
pub fn zstd_page(page: &[u8]) -> Option<Vec<u8>> {
    Some(ruzstd::encoding::compress_to_vec(
        page,
        ruzstd::encoding::CompressionLevel::Fastest,
    ))
}

/// The pfns a `-d 31` dump leaves out: all-zero pages (`-d 1`) and user
/// pages (`-d 8`); the builder writes no page cache and no free pages.
pub fn filtered_out(m: &Machine) -> std::collections::BTreeSet<u64> {
    m.mem
        .dumped_pages()
        .filter(|(pfn, page)| m.user_pages.contains(pfn) || page.iter().all(|&b| b == 0))
        .map(|(pfn, _)| pfn)
        .collect()
}

/// The dump file of `format`.
pub fn write_format(plan: &Plan, m: &Machine, format: ExtraFormat) -> Vec<u8> {
    let pages: std::collections::BTreeMap<u64, &[u8; 4096]> = m.mem.dumped_pages().collect();
    let last = pages.keys().next_back().copied().unwrap_or(0);
    let max_mapnr = (last + 1).div_ceil(8 * PAGE) * 8 * PAGE;
    let out = if format.filtered() {
        filtered_out(m)
    } else {
        Default::default()
    };
    let spec = KdumpSpec {
        compression: match format {
            ExtraFormat::Zlib | ExtraFormat::ZlibD31 => Compression::Zlib,
            ExtraFormat::Lzo | ExtraFormat::LzoD31Flat => Compression::Lzo(lzo),
            ExtraFormat::Snappy => Compression::Snappy,
            ExtraFormat::Zstd => Compression::Zstd(zstd_page),
        },
        max_mapnr,
        ram: vec![(0, max_mapnr)],
        notes: super::elf::notes(plan, m),
        release: plan.osrelease.clone(),
        // QEMU's dump-guest-memory leaves the machine name blank.
        machine: if plan.notes == NoteStyle::Qemu {
            String::new()
        } else {
            "x86_64".into()
        },
        nodename: "synth".into(),
        timestamp: (1_700_000_000 + (plan.seed % 10_000_000) as i64, 0),
        phys_base: plan.phys_base,
        dump_level: if format.filtered() { 31 } else { 0 },
        nr_cpus: plan.cpus.len() as i32,
        split: None,
        incomplete: false,
        share_zero_page: false,
    };
    let page = |pfn: u64| -> Option<Vec<u8>> {
        if out.contains(&pfn) {
            return None;
        }
        pages.get(&pfn).map(|p| p.to_vec())
    };
    let (bytes, _) = write_kdump(&spec, &page);
    if format == ExtraFormat::LzoD31Flat {
        flatten(&bytes, 16 * 1024, true)
    } else {
        bytes
    }
}
